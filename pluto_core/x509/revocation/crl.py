"""Certificate Revocation Lists (RFC 5280 5, 6.3): a store of verified CRLs, newest per issuer.

CRLs come from files (``<ipsecdir>/crls/``, DER or PEM), from bytes (the NSS database), and
from the HTTP URIs in a certificate's CRL Distribution Points (RFC 5280 4.2.1.13), fetched
through an injected ``Fetcher``. A CRL is installed only once verified against its issuer CA
(``verify_crl``); one whose issuer is not known yet waits, unverified and unused, until a check
names that issuer. ``check(cert, issuer)`` answers a ``Status``.

An expired CRL (nextUpdate passed) is kept and still says *revoked* for what it lists
(``crl-strict=no`` lets certificates through as long as they are not on an expired CRL); for
anything else it answers *unknown*, marked ``stale``.

Not supported (refused when met): delta CRLs (5.2.4), indirect CRLs and CRLs limited to some
reasons (5.2.5). CRLs scoped by an Issuing Distribution Point name apply to the certificates
whose CRL Distribution Points name the same URI. Thread-safe: checks run on lookup threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from .fetch import Fetcher, FetchError, forbid_event_loop
from .status import Status, name_text, time_text

SKEW: Final = timedelta(minutes=5)  # a thisUpdate this far in our future is still accepted
RETRY: Final = timedelta(seconds=60)  # a distribution point that failed is not asked again sooner
MAX_PENDING: Final = 8  # unverified CRLs kept per issuer name
DEFAULT_TIMEOUT: Final = 5.0  # crl-timeout=


class CrlError(ValueError):
    """A CRL that cannot be read or used; the message names why."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def read_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """The CRLs in ``data``: one DER CRL, or any number of PEM ``X509 CRL`` blocks."""
    try:
        if b"-----BEGIN" in data:
            blocks = data.split(b"-----BEGIN X509 CRL-----")[1:]
            if not blocks:
                raise CrlError("no X509 CRL block in PEM data")
            return [x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + block) for block in blocks]
        return [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        if isinstance(exc, CrlError):
            raise
        raise CrlError(f"not a CRL: {exc}") from exc


def verify_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate, now: datetime) -> None:
    """Raise CrlError unless ``issuer`` issued ``crl`` and the CRL can be used at ``now``.

    RFC 5280 6.3.3: the CRL issuer is the certificate's issuer (b, f), the issuer may sign CRLs
    (keyUsage cRLSign when keyUsage is present, 4.2.1.3), the signature verifies with the
    issuer's key (g), and the CRL is complete (no delta, indirect or reason-limited scope).
    thisUpdate may not be in the future; a passed nextUpdate is not an error here (stale).
    """
    if crl.issuer != issuer.subject:
        raise CrlError(f"issued by '{name_text(crl.issuer)}', not by '{name_text(issuer.subject)}'")
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.crl_sign:
        raise CrlError(f"issuer '{name_text(issuer.subject)}' may not sign CRLs (keyUsage lacks cRLSign)")
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise CrlError(f"signature does not verify with the key of '{name_text(issuer.subject)}'")
    if crl.last_update_utc > now + SKEW:
        raise CrlError(f"thisUpdate {time_text(crl.last_update_utc)} is in the future")
    for ext in crl.extensions:
        if ext.oid == ExtensionOID.DELTA_CRL_INDICATOR:
            raise CrlError("delta CRLs are not supported")
        if isinstance(ext.value, x509.IssuingDistributionPoint):
            idp = ext.value
            if idp.indirect_crl or idp.only_some_reasons or idp.only_contains_attribute_certs:
                raise CrlError("indirect or partial CRLs are not supported")
        elif ext.critical and not isinstance(ext.value, x509.CRLNumber | x509.AuthorityKeyIdentifier):
            raise CrlError(f"unknown critical extension {ext.oid.dotted_string}")


def distribution_points(cert: x509.Certificate) -> list[str]:
    """The URIs of ``cert``'s CRL Distribution Points (full names only, any scheme)."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [general.value for point in points if point.full_name
            for general in point.full_name if isinstance(general, x509.UniformResourceIdentifier)]


def _scope(crl: x509.CertificateRevocationList) -> tuple[str, ...]:
    """The distribution point URIs a CRL is limited to (RFC 5280 5.2.5), () for the whole issuer."""
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(sorted(g.value for g in idp.full_name or () if isinstance(g, x509.UniformResourceIdentifier)))


def _applies(crl: x509.CertificateRevocationList, scope: tuple[str, ...], cert: x509.Certificate) -> bool:
    """Whether a CRL of this scope covers ``cert`` (its IDP names one of cert's distribution points)."""
    try:
        idp: x509.IssuingDistributionPoint | None = crl.extensions.get_extension_for_class(
            x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        idp = None
    if idp is not None and (idp.only_contains_ca_certs or idp.only_contains_user_certs):
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if (idp.only_contains_ca_certs and not is_ca) or (idp.only_contains_user_certs and is_ca):
            return False
    return not scope or bool(set(scope) & set(distribution_points(cert)))


def _newer(a: x509.CertificateRevocationList, b: x509.CertificateRevocationList) -> bool:
    """Whether ``a`` supersedes ``b``: a higher CRL number (RFC 5280 5.2.3), else a later thisUpdate."""
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None and na != nb:
        return na > nb
    return a.last_update_utc > b.last_update_utc


def _number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


@dataclass(slots=True)
class Installed:
    """A verified CRL and where it came from."""

    crl: x509.CertificateRevocationList
    source: str
    scope: tuple[str, ...]

    def expired(self, now: datetime) -> bool:
        next_update = self.crl.next_update_utc
        return next_update is None or next_update < now


@dataclass(slots=True)
class _Point:
    """A distribution point seen in a certificate, with the CA whose CRL it serves."""

    issuer: x509.Certificate
    last_attempt: datetime | None = None
    last_error: str | None = None


@dataclass(slots=True)
class _Pending:
    crl: x509.CertificateRevocationList
    source: str


@dataclass
class CrlStore:
    """Verified CRLs, the newest per (issuer, scope); fetches missing ones from distribution points.

    ``interval`` is ``crlcheckinterval=`` in seconds (0: no periodic refetch, ``refresh_due``
    answers nothing); ``timeout`` is ``crl-timeout=``; ``fetcher`` None means no network.
    ``report`` takes log lines (from any thread).
    """

    fetcher: Fetcher | None = None
    timeout: float = DEFAULT_TIMEOUT
    interval: float = 0
    report: Callable[[str], None] = lambda line: None
    clock: Callable[[], datetime] = utcnow
    _crls: dict[tuple[bytes, tuple[str, ...]], Installed] = field(default_factory=dict)
    _pending: dict[bytes, list[_Pending]] = field(default_factory=dict)
    _points: dict[str, _Point] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ loading

    def add(self, data: bytes, source: str, issuers: Iterable[x509.Certificate] = ()) -> list[str]:
        """Take the CRL(s) in ``data`` (DER or PEM) from ``source``; returns the problems met.

        A CRL whose issuer is among ``issuers`` is verified now and installed (or refused); one
        whose issuer is not is kept aside until a check names its issuer.
        """
        try:
            crls = read_crls(data)
        except CrlError as exc:
            return [f"{source}: {exc}"]
        by_name = {cert.subject.public_bytes(): cert for cert in issuers}
        problems = []
        for crl in crls:
            issuer = by_name.get(crl.issuer.public_bytes())
            if issuer is None:
                with self._lock:
                    waiting = self._pending.setdefault(crl.issuer.public_bytes(), [])
                    waiting.append(_Pending(crl, source))
                    del waiting[:-MAX_PENDING]
                continue
            problem = self._install(crl, issuer, source)
            if problem:
                problems.append(problem)
        return problems

    def load_dir(self, path: str | Path, issuers: Iterable[x509.Certificate] = ()) -> list[str]:
        """Add every file in ``path`` (``<ipsecdir>/crls/``); returns the problems met, per file."""
        folder = Path(path)
        if not folder.is_dir():
            return []
        known = list(issuers)
        problems: list[str] = []
        for file in sorted(folder.iterdir()):
            if not file.is_file():
                continue
            try:
                data = file.read_bytes()
            except OSError as exc:
                problems.append(f"{file}: {exc.strerror or exc}")
                continue
            problems.extend(self.add(data, str(file), known))
        return problems

    def _install(self, crl: x509.CertificateRevocationList, issuer: x509.Certificate, source: str) -> str | None:
        """Verify and keep ``crl`` if it is the newest of its issuer and scope; a problem, or None."""
        try:
            verify_crl(crl, issuer, self.clock())
        except CrlError as exc:
            return f"CRL from {source}: {exc}"
        scope = _scope(crl)
        key = (issuer.subject.public_bytes(), scope)
        with self._lock:
            held = self._crls.get(key)
            if held is None or _newer(crl, held.crl):
                self._crls[key] = Installed(crl, source, scope)
        return None

    def _promote(self, issuer: x509.Certificate) -> list[str]:
        """Verify the CRLs waiting for ``issuer``'s name; install the good ones, drop the rest."""
        with self._lock:
            waiting = self._pending.pop(issuer.subject.public_bytes(), [])
        problems = []
        for pending in waiting:
            problem = self._install(pending.crl, issuer, pending.source)
            if problem:
                problems.append(problem)
                self.report(problem)
        return problems

    # ------------------------------------------------------------------ checking

    def crl_for(self, cert: x509.Certificate, issuer: x509.Certificate) -> Installed | None:
        """The newest installed CRL of ``issuer`` that covers ``cert``, or None."""
        name = issuer.subject.public_bytes()
        with self._lock:
            candidates = [held for (key, _), held in self._crls.items()
                          if key == name and _applies(held.crl, held.scope, cert)]
        best = None
        for held in candidates:
            if best is None or _newer(held.crl, best.crl):
                best = held
        return best

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, fetch: bool = True) -> Status:
        """``cert``'s status on ``issuer``'s CRL; with ``fetch``, a missing or expired CRL is
        fetched from ``cert``'s distribution points first (blocking: a lookup thread only)."""
        problems = self._promote(issuer)
        now = self.clock()
        points = distribution_points(cert)
        self._remember(points, issuer)
        held = self.crl_for(cert, issuer)
        if fetch and self.fetcher is not None and (held is None or held.expired(now)):
            problems += self._fetch_points(points, issuer, now)
            held = self.crl_for(cert, issuer)
        if held is None:
            detail = f" ({'; '.join(problems)})" if problems else ""
            return Status.unknown(cert.serial_number, "CRL", f"no CRL for issuer '{name_text(issuer.subject)}'{detail}")
        return self._lookup(held, cert, issuer, now)

    @staticmethod
    def _lookup(held: Installed, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> Status:
        source = f"CRL from {held.source}"
        stale = held.expired(now)
        entry = held.crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            try:
                reason: x509.ReasonFlags | None = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            except x509.ExtensionNotFound:
                reason = None
            if reason is not x509.ReasonFlags.remove_from_crl:
                return Status("revoked", cert.serial_number, source, revoked_at=entry.revocation_date_utc,
                              reason=reason.value if reason is not None else None, stale=stale)
        if stale:
            next_update = held.crl.next_update_utc
            when = f"expired at {time_text(next_update)}" if next_update else "has no nextUpdate"
            return Status("unknown", cert.serial_number, source, stale=True,
                          why=f"CRL for issuer '{name_text(issuer.subject)}' {when}")
        return Status("good", cert.serial_number, source)

    # ------------------------------------------------------------------ fetching

    def _remember(self, points: Sequence[str], issuer: x509.Certificate) -> None:
        with self._lock:
            for url in points:
                if url not in self._points:
                    self._points[url] = _Point(issuer)

    def _fetch_points(self, points: Sequence[str], issuer: x509.Certificate, now: datetime) -> list[str]:
        """Fetch from the HTTP points until one gives a CRL; the problems met."""
        problems = []
        for url in points:
            if not url.lower().startswith(("http:", "file:")):
                problems.append(f"{url}: only http is fetched")
                continue
            with self._lock:
                point = self._points.get(url)
                recent = point is not None and point.last_attempt is not None and point.last_error is not None \
                    and now - point.last_attempt < RETRY
            if recent and point is not None:
                problems.append(f"fetching {url}: {point.last_error} (not retried before {RETRY.seconds}s)")
                continue
            problem = self.refresh(url, issuer)
            if problem is None:
                return []
            problems.append(problem)
        return problems

    def refresh(self, url: str, issuer: x509.Certificate | None = None) -> str | None:
        """Fetch the CRL at ``url`` now (blocking) and install it; the problem, or None.

        ``issuer`` defaults to the CA remembered for ``url`` (what ``refresh_due`` returned).
        """
        forbid_event_loop("a CRL fetch")
        now = self.clock()
        with self._lock:
            point = self._points.setdefault(url, _Point(issuer)) if issuer is not None else self._points.get(url)
        if point is None:
            return f"fetching {url}: no CA known for this distribution point"
        if self.fetcher is None:
            return f"fetching {url}: no fetcher"
        try:
            data = self.fetcher.fetch(url, self.timeout)
        except FetchError as exc:
            problem: str | None = f"fetching {url}: {exc.why}"
        else:
            problems = self.add(data, url, [issuer or point.issuer])
            problem = "; ".join(problems) or None
        with self._lock:
            point.last_attempt = now
            point.last_error = problem
        if problem:
            self.report(problem)
        return problem

    def refresh_due(self, now: datetime) -> list[str]:
        """The distribution points to fetch again at ``now`` (every ``interval``; none when 0).

        Sans-I/O: the daemon schedules this, and calls ``refresh(url)`` on a lookup thread for
        each URL returned.
        """
        if self.interval <= 0:
            return []
        every = timedelta(seconds=self.interval)
        with self._lock:
            return [url for url, point in self._points.items()
                    if url.lower().startswith(("http:", "file:"))
                    and (point.last_attempt is None or now - point.last_attempt >= every)]

    def known_points(self) -> list[str]:
        """Every fetchable distribution point seen (``ipsec fetchcrls`` fetches them all)."""
        with self._lock:
            return [url for url in self._points if url.lower().startswith(("http:", "file:"))]

    def next_refresh(self) -> datetime | None:
        """When ``refresh_due`` will next answer something (None: never, or nothing known)."""
        if self.interval <= 0:
            return None
        every = timedelta(seconds=self.interval)
        with self._lock:
            times = [point.last_attempt + every if point.last_attempt else datetime.min.replace(tzinfo=UTC)
                     for point in self._points.values()]
        return min(times, default=None)
