"""OCSP client (pluto_core.x509.revocation.ocsp): requests, response checks, cache, HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from pluto_core.x509.revocation.fetch import UrllibFetcher
from pluto_core.x509.revocation.ocsp import (
    GET_LIMIT,
    OcspCache,
    OcspClient,
    OcspError,
    build_request,
    cert_id,
    get_url,
    verify_response,
)
from pluto_core.x509.revocation.status import Status
from tests.revocation_pki import NOW, Ca, Responder, Server, make_ca, make_cert

GOOD = ocsp.OCSPCertStatus.GOOD
REVOKED = ocsp.OCSPCertStatus.REVOKED


@pytest.fixture(scope="module")
def ca() -> Ca:
    return make_ca("OCSP CA")


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def client(server: Server, **kwargs: object) -> OcspClient:
    """A client over urllib (``server`` only ties its use to a running server)."""
    return OcspClient(UrllibFetcher(), **kwargs)  # type: ignore[arg-type]


def test_request_has_a_sha1_cert_id_and_the_nonce(ca: Ca) -> None:
    cert = make_cert(ca, "x")
    request = ocsp.load_der_ocsp_request(build_request(cert.cert, ca.cert, b"n" * 32))
    assert isinstance(request.hash_algorithm, hashes.SHA1)
    assert request.serial_number == cert.cert.serial_number
    assert (request.issuer_name_hash, request.issuer_key_hash, request.serial_number) == cert_id(cert.cert, ca.cert)
    digest = hashes.Hash(hashes.SHA1())
    digest.update(ca.cert.subject.public_bytes())
    assert request.issuer_name_hash == digest.finalize()  # RFC 6960 4.1.1: hash of the DER name
    assert request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 32


def test_get_url_is_url_encoded_base64_and_limited() -> None:
    der = bytes(range(256))[:120]
    url = get_url("http://ocsp.example/", der)
    assert url is not None and url.startswith("http://ocsp.example/")
    assert base64.b64decode(unquote(url.rsplit("/", 1)[1])) == der
    assert "+" not in url.rsplit("/", 1)[1] and "/" not in url.rsplit("/", 1)[1]
    assert get_url("http://ocsp.example", bytes(GET_LIMIT)) is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_good_revoked_and_unknown_over_http(ca: Ca, server: Server, method: str) -> None:
    good, bad, stranger = (make_cert(ca, n, ocsp_url=server.url + "/ocsp") for n in ("good", "bad", "stranger"))
    when = (NOW - timedelta(days=1))
    responder = Responder(ca, {good.cert.serial_number: (GOOD, None, None),
                               bad.cert.serial_number: (REVOKED, when, x509.ReasonFlags.key_compromise)})
    server.routes["/ocsp"] = responder.answer
    c = client(server, method=method)
    assert c.check(good.cert, ca.cert).state == "good"
    revoked = c.check(bad.cert, ca.cert)
    assert (revoked.state, revoked.revoked_at, revoked.reason) == ("revoked", when, "keyCompromise")
    unknown = c.check(stranger.cert, ca.cert)
    assert unknown.state == "unknown" and "does not know certificate serial" in unknown.why
    assert {m for m, _ in server.hits} == {method.upper()}


def test_post_sends_a_nonce_and_a_wrong_echo_is_refused(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url=server.url + "/ocsp")
    responder = Responder(ca, {cert.cert.serial_number: (GOOD, None, None)}, nonce=b"x" * 32)
    server.routes["/ocsp"] = responder.answer
    status = client(server, method="post", random=lambda n: b"r" * n).check(cert.cert, ca.cert)
    assert responder.requests[0].extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"r" * 32
    assert status.state == "unknown" and "nonce does not match" in status.why


def test_get_falls_back_to_post_when_get_fails(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url=server.url + "/ocsp")
    server.routes["/ocsp"] = Responder(ca, {cert.cert.serial_number: (GOOD, None, None)}).answer
    server.refuse.add("GET")
    assert client(server).check(cert.cert, ca.cert).state == "good"
    assert [m for m, _ in server.hits] == ["GET", "POST"]


def test_delegated_responder_needs_the_ocsp_signing_eku(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url=server.url + "/ocsp")
    statuses = {cert.cert.serial_number: (GOOD, None, None)}
    delegated = make_cert(ca, "responder", eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    server.routes["/ocsp"] = Responder(ca, statuses, signer=delegated, include_signer=True).answer
    assert client(server).check(cert.cert, ca.cert).state == "good"
    without_eku = make_cert(ca, "not a responder", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    server.routes["/ocsp"] = Responder(ca, statuses, signer=without_eku, include_signer=True).answer
    status = client(server).check(cert.cert, ca.cert)
    assert status.state == "unknown" and "not signed by the issuer" in status.why


def test_responder_of_another_ca_is_refused_unless_trusted(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url=server.url + "/ocsp")
    other = make_ca("Other CA")
    foreign = make_cert(other, "responder", eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    server.routes["/ocsp"] = Responder(ca, {cert.cert.serial_number: (GOOD, None, None)}, signer=foreign,
                                       include_signer=True).answer
    assert client(server).check(cert.cert, ca.cert).state == "unknown"
    # ocsp-trustname= names it: trusted for any issuer
    assert client(server, trusted=[foreign.cert]).check(cert.cert, ca.cert).state == "good"


def test_expired_and_future_answers_are_refused(ca: Ca) -> None:
    cert = make_cert(ca, "x")
    statuses = {cert.cert.serial_number: (GOOD, None, None)}
    expired = Responder(ca, statuses, this_update=NOW - timedelta(days=2), next_update=NOW - timedelta(days=1))
    der = expired.answer(build_request(cert.cert, ca.cert))
    with pytest.raises(OcspError, match="expired at"):
        verify_response(der, cert.cert, ca.cert, NOW)
    future = Responder(ca, statuses, this_update=NOW + timedelta(hours=1))
    with pytest.raises(OcspError, match="in the future"):
        verify_response(future.answer(build_request(cert.cert, ca.cert)), cert.cert, ca.cert, NOW)
    undated = Responder(ca, statuses, this_update=NOW - timedelta(days=3), next_update=None)
    with pytest.raises(OcspError, match="too old"):
        verify_response(undated.answer(build_request(cert.cert, ca.cert)), cert.cert, ca.cert, NOW, max_age=86400)


def test_answer_about_another_certificate_is_refused(ca: Ca) -> None:
    asked, other = make_cert(ca, "asked"), make_cert(ca, "other")
    der = Responder(ca, {other.cert.serial_number: (GOOD, None, None)}).answer(build_request(other.cert, ca.cert))
    with pytest.raises(OcspError, match="not about certificate"):
        verify_response(der, asked.cert, ca.cert, NOW)


def test_unsuccessful_response_status_is_named(ca: Ca) -> None:
    cert = make_cert(ca, "x")
    der = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
        serialization.Encoding.DER)
    with pytest.raises(OcspError, match="answered try later"):
        verify_response(der, cert.cert, ca.cert, NOW)


def test_cache_hit_makes_no_second_fetch(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url=server.url + "/ocsp")
    server.routes["/ocsp"] = Responder(ca, {cert.cert.serial_number: (GOOD, None, None)}).answer
    c = client(server, cache=OcspCache(10))
    assert c.check(cert.cert, ca.cert).state == "good"
    assert c.check(cert.cert, ca.cert).state == "good"
    assert len(server.hits) == 1
    uncached = client(server, cache=OcspCache(0))
    uncached.check(cert.cert, ca.cert)
    uncached.check(cert.cert, ca.cert)
    assert len(server.hits) == 3


def test_cache_ages_and_size() -> None:
    now = [0.0]
    cache = OcspCache(size=2, min_age=60, max_age=600, clock=lambda: now[0])
    a, b, c = ((b"n", b"k", i) for i in range(3))
    cache.put(a, Status("good", 0, "s"), fresh_for=10)  # nextUpdate sooner than min-age: kept 60s
    cache.put(b, Status("good", 1, "s"), fresh_for=10_000)  # later than max-age: kept 600s
    now[0] = 59
    assert cache.get(a) is not None
    now[0] = 60
    assert cache.get(a) is None
    assert cache.get(b) is not None
    cache.put(a, Status("good", 0, "s"), fresh_for=None)  # no nextUpdate: max-age
    cache.put(c, Status("good", 2, "s"), fresh_for=None)  # a third: the least recently used (b) goes
    assert len(cache) == 2 and cache.get(b) is None and cache.get(a) is not None
    now[0] = 60 + 600
    assert cache.get(a) is None


def test_failures_are_not_cached(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url=server.url + "/nothing")
    c = client(server, cache=OcspCache(10), method="post")
    assert c.check(cert.cert, ca.cert).state == "unknown"
    assert c.check(cert.cert, ca.cert).state == "unknown"
    assert len(server.hits) == 2


def test_unreachable_responder(ca: Ca) -> None:
    dead = Server()
    url = dead.url + "/ocsp"
    dead.close()
    cert = make_cert(ca, "x", ocsp_url=url)
    status = OcspClient(UrllibFetcher()).check(cert.cert, ca.cert)
    assert status.state == "unknown"
    assert status.why == f"OCSP responder {url} unreachable: connection refused"


def test_timeout_is_honoured(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url=server.url + "/ocsp")
    server.routes["/ocsp"] = Responder(ca, {cert.cert.serial_number: (GOOD, None, None)}).answer
    server.delay = 3.0
    start = time.monotonic()
    status = OcspClient(UrllibFetcher(), timeout=0.5).check(cert.cert, ca.cert)
    elapsed = time.monotonic() - start
    assert status.state == "unknown" and status.why.endswith("unreachable: timed out")
    assert elapsed < 1.5  # GET, then no time left for the POST fallback


def test_ocsp_uri_overrides_the_certificate(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", ocsp_url="http://192.0.2.1/never")
    server.routes["/override"] = Responder(ca, {cert.cert.serial_number: (GOOD, None, None)}).answer
    c = client(server, uri=server.url + "/override")
    assert c.urls(cert.cert) == [server.url + "/override"]
    assert c.check(cert.cert, ca.cert).state == "good"
    assert client(server).urls(make_cert(ca, "none").cert) == []
