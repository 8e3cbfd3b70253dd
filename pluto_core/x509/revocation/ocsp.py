"""OCSP (RFC 6960): ask a responder about one certificate, verify its answer, cache it.

- ``build_request``: an OCSPRequest for one certificate, CertID over SHA-1 (RFC 6960 4.1.1),
  with an optional nonce (4.4.1).
- ``get_url``: the GET form of a request (RFC 6960 A.1: base64, then URL-encoded), or None when
  it would exceed 255 bytes (RFC 5019 5 sends longer ones by POST).
- ``verify_response``: the checks of RFC 6960 3.2: the answer is about our certificate, signed
  by the issuer, by a delegated responder (issued by the issuer, extendedKeyUsage
  id-kp-OCSPSigning, 4.2.2.2), or by the locally trusted responder (``ocsp-trustname=``); its
  thisUpdate is not in the future and nextUpdate not passed (4.2.2.1); our nonce, if it echoes one.
- ``OcspCache``: verified answers by CertID, LRU of ``ocsp-cache-size=`` entries, each kept
  until nextUpdate but at least ``ocsp-cache-min-age=`` and at most ``ocsp-cache-max-age=``.
- ``OcspClient.check(cert, issuer) -> Status``: all of it through a ``Fetcher`` (blocking).

Failures (unreachable, bad answer) are a Status ``unknown`` whose ``why`` names the responder;
``unreachable`` tells a failure to reach the responder from an answer that did not do.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from urllib.parse import quote

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, SignatureAlgorithmOID

from .crl import SKEW, utcnow
from .fetch import Fetcher, FetchError, forbid_event_loop
from .status import Status, time_text

GET_LIMIT: Final = 255  # RFC 5019 5: longer GET requests go by POST
NONCE_SIZE: Final = 32  # RFC 8954 2.1: 1 to 32 octets
REQUEST_TYPE: Final = "application/ocsp-request"  # RFC 6960 A.1

Method = Literal["get", "post"]
CertIdKey = tuple[bytes, bytes, int]  # SHA-1 issuerNameHash, issuerKeyHash, serialNumber


class OcspError(ValueError):
    """An OCSP answer that cannot be used; the message names why."""


def _hashes(cert: x509.Certificate, issuer: x509.Certificate,
            algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of ``cert``'s CertID under ``algorithm`` (RFC 6960 4.1.1)."""
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()
    return request.issuer_name_hash, request.issuer_key_hash


def cert_id(cert: x509.Certificate, issuer: x509.Certificate) -> CertIdKey:
    """The SHA-1 CertID of ``cert``: the cache key."""
    name_hash, key_hash = _hashes(cert, issuer, hashes.SHA1())
    return name_hash, key_hash, cert.serial_number


def build_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None) -> bytes:
    """A DER OCSPRequest for ``cert`` (SHA-1 CertID), with ``nonce`` as a non-critical extension."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def get_url(base: str, request: bytes) -> str | None:
    """``base``/url-encoded base64 of ``request`` (RFC 6960 A.1), or None beyond 255 bytes."""
    encoded = quote(base64.b64encode(request).decode("ascii"), safe="")
    url = base.rstrip("/") + "/" + encoded
    return url if len(encoded) <= GET_LIMIT else None


def responder_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responder URIs in ``cert``'s Authority Information Access (RFC 5280 4.2.2.1)."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [desc.access_location.value for desc in access
            if desc.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(desc.access_location, x509.UniformResourceIdentifier)]


def _verify_signature(key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None,
                      oid: x509.ObjectIdentifier) -> None:
    """Raise InvalidSignature (or OcspError for a key we cannot use) unless ``signature`` verifies."""
    if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
        pad: padding.AsymmetricPadding = (padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO)
                                          if oid == SignatureAlgorithmOID.RSASSA_PSS else padding.PKCS1v15())
        key.verify(signature, data, pad, algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    else:
        raise OcspError(f"cannot verify a {oid.dotted_string} signature with a {type(key).__name__}")


def _signed_by(response: ocsp.OCSPResponse, key: object) -> bool:
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    try:
        _verify_signature(key, response.signature, response.tbs_response_bytes, algorithm,
                          response.signature_algorithm_oid)
    except (InvalidSignature, OcspError):
        return False
    return True


def _names(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    """Whether the ResponderID (RFC 6960 4.2.1, byName or byKey) names ``cert``."""
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    digest = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    return response.responder_key_hash == digest


def _delegated(candidate: x509.Certificate, issuer: x509.Certificate, now: datetime) -> bool:
    """Whether ``candidate`` is a responder ``issuer`` delegated to (RFC 6960 4.2.2.2)."""
    try:
        candidate.verify_directly_issued_by(issuer)
        usage = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return (ExtendedKeyUsageOID.OCSP_SIGNING in usage
            and candidate.not_valid_before_utc - SKEW <= now <= candidate.not_valid_after_utc + SKEW)


def verify_response(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, now: datetime,
                    nonce: bytes | None = None, trusted: Sequence[x509.Certificate] = (),
                    max_age: float = 86400) -> ocsp.OCSPSingleResponse:
    """Parse ``der`` and check it answers for ``cert`` (RFC 6960 3.2); OcspError when it does not.

    Returns the SingleResponse about ``cert`` (``certificate_status``, ``next_update_utc`` ...).
    ``trusted`` are responders trusted locally; ``max_age`` bounds how old a thisUpdate may be
    when the answer has no nextUpdate.
    """
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise OcspError(f"not an OCSP response: {exc}") from exc
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspError(f"answered {response.response_status.name.lower().replace('_', ' ')}")
    single = _single(response, cert, issuer)
    signer = _signer(response, issuer, trusted, now)
    if signer is None:
        raise OcspError("answer not signed by the issuer or a responder it authorized")
    this_update = single.this_update_utc
    next_update = single.next_update_utc
    if this_update > now + SKEW:
        raise OcspError(f"thisUpdate {time_text(this_update)} is in the future")
    if next_update is not None and next_update < now - SKEW:
        raise OcspError(f"answer expired at {time_text(next_update)}")
    if next_update is None and this_update < now - timedelta(seconds=max_age):
        raise OcspError(f"answer of {time_text(this_update)} is too old")
    if nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None  # many responders precompute answers (RFC 5019): a missing nonce is allowed
        if echoed is not None and echoed != nonce:
            raise OcspError("nonce does not match the request's")
    return single


def _single(response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPSingleResponse:
    """The SingleResponse about ``cert`` (whatever hash its CertID uses), or OcspError."""
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        try:
            name_hash, key_hash = _hashes(cert, issuer, single.hash_algorithm)
        except (ValueError, UnsupportedAlgorithm):
            continue
        if (single.issuer_name_hash, single.issuer_key_hash) == (name_hash, key_hash):
            return single
    raise OcspError(f"answer is not about certificate serial {cert.serial_number:#x}")


def _signer(response: ocsp.OCSPResponse, issuer: x509.Certificate, trusted: Sequence[x509.Certificate],
            now: datetime) -> x509.Certificate | None:
    """The certificate that signed ``response``, when it may speak for ``issuer``'s certificates."""
    for candidate in (issuer, *trusted):
        if _names(response, candidate) and _signed_by(response, candidate.public_key()):
            return candidate
    for candidate in response.certificates:
        if _names(response, candidate) and _delegated(candidate, issuer, now) \
                and _signed_by(response, candidate.public_key()):
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class _Entry:
    status: Status
    until: float  # monotonic-clock deadline


class OcspCache:
    """Verified OCSP answers by CertID: at most ``size`` (0: no cache), least recently used out.

    An answer is kept until its nextUpdate, but at least ``min_age`` and at most ``max_age``
    seconds (``ocsp-cache-min-age=``, ``ocsp-cache-max-age=``). ``clock`` is monotonic seconds.
    """

    def __init__(self, size: int = 1000, min_age: float = 3600, max_age: float = 86400,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.min_age = min_age
        self.max_age = max(min_age, max_age)
        self.clock = clock
        self._entries: OrderedDict[CertIdKey, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CertIdKey) -> Status | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() >= entry.until:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.status

    def put(self, key: CertIdKey, status: Status, fresh_for: float | None) -> None:
        """Keep ``status``; ``fresh_for`` is the seconds until its nextUpdate (None: none given)."""
        if self.size <= 0:
            return
        age = self.max_age if fresh_for is None else min(max(fresh_for, self.min_age), self.max_age)
        with self._lock:
            self._entries[key] = _Entry(status, self.clock() + age)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class OcspClient:
    """Ask OCSP responders about certificates (blocking: lookup threads only).

    ``uri`` is ``ocsp-uri=`` (replaces the certificates' own responder), ``trusted`` the
    certificate ``ocsp-trustname=`` names (its answers are accepted for any issuer),
    ``method`` is ``ocsp-method=`` (``get``: GET when short enough, POST if that fails),
    ``timeout`` is ``ocsp-timeout=`` for the whole exchange. A nonce goes with POST requests
    (a GET request stays cacheable, RFC 5019) when ``nonce`` is on.
    """

    fetcher: Fetcher
    timeout: float = 2.0
    uri: str | None = None
    trusted: Sequence[x509.Certificate] = ()
    method: Method = "get"
    cache: OcspCache | None = None
    nonce: bool = True
    max_age: float = 86400
    clock: Callable[[], datetime] = utcnow
    random: Callable[[int], bytes] = os.urandom

    def urls(self, cert: x509.Certificate) -> list[str]:
        """Where to ask about ``cert``: ``ocsp-uri=``, else its own responders (http only)."""
        if self.uri:
            return [self.uri]
        return [url for url in responder_urls(cert) if url.lower().startswith("http:")]

    def check(self, cert: x509.Certificate, issuer: x509.Certificate) -> Status:
        """``cert``'s status from the cache or its responder; unknown (with why) on any failure."""
        forbid_event_loop("an OCSP check")
        key = cert_id(cert, issuer)
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        urls = self.urls(cert)
        if not urls:
            return Status.unknown(cert.serial_number, "OCSP", "certificate names no OCSP responder")
        url = urls[0]
        source = f"OCSP responder {url}"
        nonce = self.random(NONCE_SIZE) if self.nonce else None
        try:
            der, sent_nonce = self._exchange(url, cert, issuer, nonce)
        except FetchError as exc:
            return Status.unknown(cert.serial_number, source, f"{source} unreachable: {exc.why}")
        now = self.clock()
        try:
            single = verify_response(der, cert, issuer, now, sent_nonce, self.trusted, self.max_age)
        except OcspError as exc:
            return Status.unknown(cert.serial_number, source, f"{source}: {exc}")
        status = _status(single, cert, source)
        if self.cache is not None:
            next_update = single.next_update_utc
            self.cache.put(key, status, None if next_update is None else (next_update - now).total_seconds())
        return status

    def _exchange(self, url: str, cert: x509.Certificate, issuer: x509.Certificate,
                  nonce: bytes | None) -> tuple[bytes, bytes | None]:
        """(response DER, the nonce sent) by GET (then POST on failure) or POST; FetchError."""
        deadline = time.monotonic() + self.timeout
        if self.method == "get":
            target = get_url(url, build_request(cert, issuer))
            if target is not None:
                try:
                    return self.fetcher.fetch(target, self.timeout), None
                except FetchError:
                    if deadline - time.monotonic() <= 0.05:
                        raise
        left = max(deadline - time.monotonic(), 0.05)
        body = build_request(cert, issuer, nonce)
        return self.fetcher.fetch(url, left, body, REQUEST_TYPE), nonce


def _status(single: ocsp.OCSPSingleResponse, cert: x509.Certificate, source: str) -> Status:
    state = single.certificate_status
    if state is ocsp.OCSPCertStatus.GOOD:
        return Status("good", cert.serial_number, source)
    if state is ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason
        return Status("revoked", cert.serial_number, source, revoked_at=single.revocation_time_utc,
                      reason=reason.value if reason is not None else None)
    return Status.unknown(cert.serial_number, source,
                          f"{source} does not know certificate serial {cert.serial_number:#x}")
