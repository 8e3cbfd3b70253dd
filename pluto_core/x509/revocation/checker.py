"""The revocation policy: ``RevocationChecker(options).check(chain) -> Verdict``.

For each certificate of a validated chain that has its issuer in the chain (the end
certificate, then each intermediate; the trust anchor is not checked):

1. OCSP, when ``ocsp-enable=yes`` and the certificate names a responder (or ``ocsp-uri=`` is
   set): *revoked* refuses; *good* accepts the certificate; anything else falls through.
2. The issuer's CRL (fetched from the certificate's distribution points when missing or
   expired): *revoked* refuses, even from an expired CRL; *good* from a current CRL accepts.
3. Otherwise ``ocsp-strict=yes`` refuses when OCSP was asked and gave no answer, and
   ``crl-strict=yes`` refuses when no current CRL answered; without them the certificate is
   accepted and the reason is noted for the log.

``check`` blocks (network fetches bounded by ``ocsp-timeout=`` and ``crl-timeout=``): call it on
the auth lookup thread, never on the event loop (it raises RuntimeError there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Protocol, cast

from cryptography import x509

from .crl import CrlStore, distribution_points, utcnow
from .fetch import BudgetedFetcher, Fetcher, UrllibFetcher, forbid_event_loop
from .ocsp import Method, OcspCache, OcspClient
from .status import Status, name_text


class SetupLike(Protocol):
    """What ``from_setup`` reads: ``config setup`` values by keyword, defaults for unset ones."""

    def get(self, name: str) -> object: ...


@dataclass(frozen=True, slots=True)
class RevocationOptions:
    """The ``config setup`` keywords of revocation checking, with Libreswan's defaults (seconds)."""

    crl_strict: bool = False
    crlcheckinterval: float = 0
    crl_timeout: float = 5.0
    ocsp_enable: bool = False
    ocsp_strict: bool = False
    ocsp_timeout: float = 2.0
    ocsp_uri: str | None = None
    ocsp_trustname: str | None = None
    ocsp_cache_size: int = 1000
    ocsp_cache_min_age: float = 3600
    ocsp_cache_max_age: float = 86400
    ocsp_method: Method = "get"

    @classmethod
    def from_setup(cls, setup: SetupLike) -> RevocationOptions:
        """From a ``SetupConfig`` (or anything with its ``get``): keyword values, defaults when unset."""
        defaults = {f.name: f.default for f in fields(cls)}  # the field defaults above, in one place

        def num(name: str) -> float:
            value = setup.get(name)
            return float(cast(float, defaults[name.replace("-", "_")])) if value is None else float(cast(float, value))

        method = setup.get("ocsp-method") or "get"
        if method not in ("get", "post"):
            raise ValueError(f"ocsp-method={method}: expecting get or post")
        uri, trustname = setup.get("ocsp-uri"), setup.get("ocsp-trustname")
        return cls(crl_strict=bool(setup.get("crl-strict")),
                   crlcheckinterval=num("crlcheckinterval"),
                   crl_timeout=num("crl-timeout"),
                   ocsp_enable=bool(setup.get("ocsp-enable")),
                   ocsp_strict=bool(setup.get("ocsp-strict")),
                   ocsp_timeout=num("ocsp-timeout"),
                   ocsp_uri=str(uri) if uri else None,
                   ocsp_trustname=str(trustname) if trustname else None,
                   ocsp_cache_size=int(num("ocsp-cache-size")),
                   ocsp_cache_min_age=num("ocsp-cache-min-age"),
                   ocsp_cache_max_age=num("ocsp-cache-max-age"),
                   ocsp_method=cast(Method, method))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for a chain: ``ok``, else ``reason`` (the refusal an operator reads).

    ``notes`` are the failures tolerated by non-strict settings (worth a log line each);
    ``statuses`` every answer the sources gave, in the order asked.
    """

    ok: bool
    reason: str | None = None
    notes: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()


def revoked_text(cert: x509.Certificate, position: int, status: Status) -> str:
    """``certificate revoked (serial 0x1234, 2026-12-01 10:00:00 UTC, keyCompromise)``; an
    issuer in the chain is named: ``issuer certificate 'CN=Sub CA' revoked (...)``."""
    what = "certificate" if position == 0 else f"issuer certificate '{name_text(cert.subject)}'"
    return f"{what} revoked ({status.revocation_text()})"


class RevocationChecker:
    """Revocation checks per ``options``; blocking, for the auth lookup thread.

    ``fetcher`` does all network I/O (default: ``UrllibFetcher``); ``ocsp_trust`` are the
    certificates ``ocsp-trustname=`` names (resolved from the NSS database by the caller);
    ``report`` takes log lines from any thread; ``clock`` gives the current UTC time.
    """

    def __init__(self, options: RevocationOptions, fetcher: Fetcher | None = None,
                 ocsp_trust: Sequence[x509.Certificate] = (), report: Callable[[str], None] = lambda line: None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.options = options
        self.fetcher = BudgetedFetcher(fetcher if fetcher is not None else UrllibFetcher())
        self.report = report
        self.crls = CrlStore(self.fetcher, options.crl_timeout, options.crlcheckinterval, report, clock)
        cache = OcspCache(options.ocsp_cache_size, options.ocsp_cache_min_age, options.ocsp_cache_max_age)
        self.ocsp = OcspClient(self.fetcher, options.ocsp_timeout, options.ocsp_uri, tuple(ocsp_trust),
                               options.ocsp_method, cache, max_age=options.ocsp_cache_max_age, clock=clock)
        self._say_if_untrusted()

    def set_ocsp_trust(self, certs: Sequence[x509.Certificate]) -> None:
        """Trust ``certs`` as the ``ocsp-trustname=`` responder from now on (the caller resolved
        the name again, on a reread); the line below when it found none."""
        self.ocsp.trusted = tuple(certs)
        self._say_if_untrusted()

    def _say_if_untrusted(self) -> None:
        if self.options.ocsp_trustname and not self.ocsp.trusted:
            self.report(f"ocsp-trustname={self.options.ocsp_trustname}: certificate not found; "
                        "only the issuer and its delegated responders are trusted")

    # ------------------------------------------------------------------ CRLs in

    def load_crls(self, path: str | Path, issuers: Sequence[x509.Certificate] = ()) -> list[str]:
        """Load ``<ipsecdir>/crls/``; the problems met (each worth a log line)."""
        return self.crls.load_dir(path, issuers)

    def add_crl(self, data: bytes, source: str, issuers: Sequence[x509.Certificate] = ()) -> list[str]:
        """Add a CRL from bytes (for example the NSS database); the problems met."""
        return self.crls.add(data, source, issuers)

    def refresh_due(self, now: datetime) -> list[str]:
        """Distribution points to fetch again (``crlcheckinterval=``); ``CrlRefresher`` asks."""
        return self.crls.refresh_due(now)

    def refresh(self, url: str) -> str | None:
        """Fetch one distribution point again (blocking); the problem, or None."""
        return self.crls.refresh(url)

    def next_refresh(self) -> datetime | None:
        """When ``refresh_due`` will next answer something (None: never, or nothing seen yet)."""
        return self.crls.next_refresh()

    def known_points(self) -> list[str]:
        """Every fetchable distribution point seen so far (``ipsec fetchcrls``)."""
        return self.crls.known_points()

    def purge_ocsp(self) -> int:
        """Forget every cached OCSP answer (``ipsec purgeocsp``); how many there were."""
        cache = self.ocsp.cache
        if cache is None:
            return 0
        count = len(cache)
        cache.clear()
        return count

    # ------------------------------------------------------------------ the check

    def check(self, chain: Sequence[x509.Certificate], budget: float | None = None) -> Verdict:
        """Check ``chain`` (end certificate first, then its issuers, as validated); network
        fetches all end within ``budget`` seconds (None: each has only its own timeout), those
        it leaves no time for count as unanswered."""
        forbid_event_loop("a revocation check")
        notes: list[str] = []
        statuses: list[Status] = []
        with self.fetcher.budget(budget):
            for position, (cert, issuer) in enumerate(zip(chain, chain[1:], strict=False)):
                refusal = self._link(cert, issuer, position, notes, statuses)
                if refusal is not None:
                    return Verdict(False, refusal, tuple(notes), tuple(statuses))
        return Verdict(True, None, tuple(notes), tuple(statuses))

    def _link(self, cert: x509.Certificate, issuer: x509.Certificate, position: int,
              notes: list[str], statuses: list[Status]) -> str | None:
        """One certificate against its issuer: the refusal, or None (notes and statuses added)."""
        opts = self.options
        ocsp_failed: Status | None = None
        if opts.ocsp_enable and self.ocsp.urls(cert):
            answer = self.ocsp.check(cert, issuer)
            statuses.append(answer)
            if answer.state == "revoked":
                return revoked_text(cert, position, answer)
            if answer.state == "good":
                return None
            ocsp_failed = answer
        crl = self.crls.check(cert, issuer)
        statuses.append(crl)
        if crl.state == "revoked":
            return revoked_text(cert, position, crl)
        if ocsp_failed is not None:
            if opts.ocsp_strict:
                return f"{ocsp_failed.why} (ocsp-strict)"
            notes.append(f"{ocsp_failed.why}: ignored (ocsp-strict=no)")
        if crl.state == "good":
            return None
        if opts.crl_strict:
            return f"{crl.why} (crl-strict)"
        if crl.stale or distribution_points(cert):  # a CRL was expected: worth a line
            notes.append(f"{crl.why}: ignored (crl-strict=no)")
        return None
