"""What a revocation check says about one certificate: ``Status`` (good, revoked, unknown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography import x509

State = Literal["good", "revoked", "unknown"]


def name_text(name: x509.Name) -> str:
    """A distinguished name as an operator reads it (RFC 4514 string)."""
    return name.rfc4514_string()


def time_text(when: datetime) -> str:
    """``2026-12-01 10:00:00 UTC`` (times in certificates, CRLs and OCSP are UTC)."""
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Status:
    """One certificate's revocation status as one source (a CRL, an OCSP responder) tells it.

    ``revoked_at``/``reason`` are set when revoked (``reason`` is the RFC 5280 5.3.1 CRLReason
    name, such as ``keyCompromise``, or None when the source gave none); ``why`` says why the
    status is unknown; ``stale`` marks an answer from an expired CRL (its nextUpdate passed).
    """

    state: State
    serial: int
    source: str
    revoked_at: datetime | None = None
    reason: str | None = None
    why: str = ""
    stale: bool = False

    @classmethod
    def unknown(cls, serial: int, source: str, why: str) -> Status:
        return cls("unknown", serial, source, why=why)

    def revocation_text(self) -> str:
        """``serial 0x1234, 2026-12-01 10:00:00 UTC, keyCompromise``: the revocation's details."""
        parts = [f"serial {self.serial:#x}"]
        if self.revoked_at is not None:
            parts.append(time_text(self.revoked_at))
        if self.reason is not None:
            parts.append(self.reason)
        return ", ".join(parts)
