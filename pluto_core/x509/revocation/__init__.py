"""Certificate revocation checking (issue #17): CRLs (RFC 5280) and OCSP (RFC 6960).

``RevocationChecker(options).check(chain)`` is the entry point; see docs/revocation.md.
"""

from .checker import RevocationChecker, RevocationOptions, Verdict
from .crl import CrlError, CrlStore
from .fetch import Fetcher, FetchError, UrllibFetcher
from .ocsp import OcspCache, OcspClient, OcspError
from .refresh import CrlRefresher
from .status import Status

__all__ = ["CrlError", "CrlRefresher", "CrlStore", "FetchError", "Fetcher", "OcspCache", "OcspClient", "OcspError",
           "RevocationChecker", "RevocationOptions", "Status", "UrllibFetcher", "Verdict"]
