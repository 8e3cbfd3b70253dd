"""The ownership record lives in :mod:`pluto_core.kernel_owned` (shared with
the PF_KEY backend); re-exported here for existing imports."""

from pluto_core.kernel_owned import OwnedRecord, sa_key

__all__ = ["OwnedRecord", "sa_key"]
