"""The revocation policy (pluto_core.x509.revocation.checker): order, strictness, operator text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from pluto_core.config.setup_config import SetupConfig
from pluto_core.x509.revocation import FetchError, RevocationChecker, RevocationOptions, UrllibFetcher
from tests.revocation_pki import NOW, Ca, Responder, Server, make_ca, make_cert, make_crl

GOOD = ocsp.OCSPCertStatus.GOOD
REVOKED = ocsp.OCSPCertStatus.REVOKED
CA_NAME = "CN=Policy CA,O=pluto test"


@pytest.fixture(scope="module")
def ca() -> Ca:
    return make_ca("Policy CA")


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


class Unreachable:
    """A fetcher whose every fetch fails as a dead responder would; counts the calls."""

    def __init__(self, why: str = "timed out") -> None:
        self.why = why
        self.calls: list[str] = []

    def fetch(self, url: str, timeout: float, body: bytes | None = None, content_type: str | None = None) -> bytes:
        self.calls.append(url)
        raise FetchError(url, self.why)


def test_crl_revoked_text(ca: Ca) -> None:
    cert = make_cert(ca, "peer", serial=0x1234)
    checker = RevocationChecker(RevocationOptions(), Unreachable())
    when = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert checker.add_crl(make_crl(ca, {0x1234: (when, x509.ReasonFlags.key_compromise)}), "crls/ca.crl",
                           [ca.cert]) == []
    verdict = checker.check([cert.cert, ca.cert])
    assert not verdict.ok
    assert verdict.reason == "certificate revoked (serial 0x1234, 2026-12-01 10:00:00 UTC, keyCompromise)"


def test_no_crl_refused_only_under_crl_strict(ca: Ca) -> None:
    chain = [make_cert(ca, "peer").cert, ca.cert]
    lax = RevocationChecker(RevocationOptions(), Unreachable()).check(chain)
    assert lax.ok and lax.notes == ()  # no CRL expected (no distribution point): nothing to say
    strict = RevocationChecker(RevocationOptions(crl_strict=True), Unreachable()).check(chain)
    assert not strict.ok and strict.reason == f"no CRL for issuer '{CA_NAME}' (crl-strict)"


def test_expired_crl_refused_under_crl_strict_noted_otherwise(ca: Ca) -> None:
    chain = [make_cert(ca, "peer").cert, ca.cert]
    expired = make_crl(ca, this_update=NOW - timedelta(days=10), next_update=NOW - timedelta(days=3))
    verdicts = []
    for strict in (False, True):
        checker = RevocationChecker(RevocationOptions(crl_strict=strict), Unreachable())
        checker.add_crl(expired, "crls/old.crl", [ca.cert])
        verdicts.append(checker.check(chain))
    lax, strict_verdict = verdicts
    assert lax.ok and len(lax.notes) == 1 and "expired at" in lax.notes[0] and "(crl-strict=no)" in lax.notes[0]
    assert not strict_verdict.ok and strict_verdict.reason is not None
    assert strict_verdict.reason.startswith(f"CRL for issuer '{CA_NAME}' expired at ")
    assert strict_verdict.reason.endswith("(crl-strict)")


def test_crl_signed_by_the_wrong_ca_does_not_count(ca: Ca) -> None:
    cert = make_cert(ca, "peer")
    checker = RevocationChecker(RevocationOptions(crl_strict=True), Unreachable())
    problems = checker.add_crl(make_crl(make_ca("Policy CA"), {}), "crls/forged.crl", [ca.cert])
    assert problems
    assert checker.check([cert.cert, ca.cert]).reason == f"no CRL for issuer '{CA_NAME}' (crl-strict)"


def test_ocsp_unreachable_strict_and_not(ca: Ca) -> None:
    url = "http://127.0.0.1:9/ocsp"
    chain = [make_cert(ca, "peer", ocsp_url=url).cert, ca.cert]
    strict = RevocationChecker(RevocationOptions(ocsp_enable=True, ocsp_strict=True), Unreachable())
    verdict = strict.check(chain)
    assert not verdict.ok
    assert verdict.reason == f"OCSP responder {url} unreachable: timed out (ocsp-strict)"
    lax = RevocationChecker(RevocationOptions(ocsp_enable=True), Unreachable()).check(chain)
    assert lax.ok and lax.notes == (f"OCSP responder {url} unreachable: timed out: ignored (ocsp-strict=no)",)


def test_ocsp_disabled_asks_no_responder(ca: Ca) -> None:
    fetcher = Unreachable()
    chain = [make_cert(ca, "peer", ocsp_url="http://127.0.0.1:9/ocsp").cert, ca.cert]
    assert RevocationChecker(RevocationOptions(ocsp_strict=True), fetcher).check(chain).ok
    assert fetcher.calls == []


def test_ocsp_strict_without_a_responder_url_is_not_an_ocsp_failure(ca: Ca) -> None:
    chain = [make_cert(ca, "peer").cert, ca.cert]
    assert RevocationChecker(RevocationOptions(ocsp_enable=True, ocsp_strict=True), Unreachable()).check(chain).ok


def test_ocsp_first_good_skips_the_crl(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "peer", ocsp_url=server.url + "/ocsp", cdp=server.url + "/ca.crl")
    server.routes["/ocsp"] = Responder(ca, {cert.cert.serial_number: (GOOD, None, None)}).answer
    server.routes["/ca.crl"] = make_crl(ca)
    verdict = RevocationChecker(RevocationOptions(ocsp_enable=True, crl_strict=True)).check([cert.cert, ca.cert])
    assert verdict.ok and [s.state for s in verdict.statuses] == ["good"]
    assert [path for _, path in server.hits if path == "/ca.crl"] == []


def test_ocsp_revoked_refuses_even_when_not_strict(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "peer", ocsp_url=server.url + "/ocsp", serial=0xBEEF)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    server.routes["/ocsp"] = Responder(ca, {0xBEEF: (REVOKED, when, x509.ReasonFlags.superseded)}).answer
    verdict = RevocationChecker(RevocationOptions(ocsp_enable=True)).check([cert.cert, ca.cert])
    assert verdict.reason == "certificate revoked (serial 0xbeef, 2026-01-02 03:04:05 UTC, superseded)"


def test_ocsp_failure_falls_back_to_the_crl(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "peer", ocsp_url=server.url + "/no-responder", cdp=server.url + "/ca.crl", serial=0x77)
    server.routes["/ca.crl"] = make_crl(ca, {0x77: (NOW, None)})
    verdict = RevocationChecker(RevocationOptions(ocsp_enable=True)).check([cert.cert, ca.cert])
    assert [s.state for s in verdict.statuses] == ["unknown", "revoked"]
    assert verdict.reason == f"certificate revoked (serial 0x77, {NOW.strftime('%Y-%m-%d %H:%M:%S')} UTC)"


def test_ocsp_strict_refuses_even_with_a_good_crl(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "peer", ocsp_url=server.url + "/no-responder", cdp=server.url + "/ca.crl")
    server.routes["/ca.crl"] = make_crl(ca)
    verdict = RevocationChecker(RevocationOptions(ocsp_enable=True, ocsp_strict=True, ocsp_method="post")).check(
        [cert.cert, ca.cert])
    assert verdict.reason == f"OCSP responder {server.url}/no-responder unreachable: HTTP status 404 (ocsp-strict)"


def test_revoked_intermediate_is_named(ca: Ca) -> None:
    sub = make_ca("Sub CA", issuer=ca)
    peer = make_cert(sub, "peer")
    checker = RevocationChecker(RevocationOptions(), Unreachable())
    checker.add_crl(make_crl(ca, {sub.cert.serial_number: (NOW, x509.ReasonFlags.ca_compromise)}), "root.crl",
                    [ca.cert])
    checker.add_crl(make_crl(sub), "sub.crl", [sub.cert])
    verdict = checker.check([peer.cert, sub.cert, ca.cert])
    assert verdict.reason is not None
    assert verdict.reason.startswith("issuer certificate 'CN=Sub CA,O=pluto test' revoked (serial ")
    assert verdict.reason.endswith(", cACompromise)")
    assert [s.state for s in verdict.statuses] == ["good", "revoked"]


def test_check_refuses_to_run_on_the_event_loop(ca: Ca) -> None:
    checker = RevocationChecker(RevocationOptions(), Unreachable())

    async def on_loop() -> None:
        checker.check([make_cert(ca, "peer").cert, ca.cert])

    with pytest.raises(RuntimeError, match="not on the event loop"):
        asyncio.run(on_loop())


def test_options_from_config_setup() -> None:
    setup = SetupConfig(crl_strict=True, crlcheckinterval=28800, ocsp_enable=True, ocsp_uri="http://ocsp.example",
                        ocsp_trustname="responder", ocsp_timeout=5, ocsp_method="post", ocsp_cache_size=0)
    options = RevocationOptions.from_setup(setup)
    assert options == RevocationOptions(crl_strict=True, crlcheckinterval=28800, crl_timeout=5, ocsp_enable=True,
                                        ocsp_strict=False, ocsp_timeout=5, ocsp_uri="http://ocsp.example",
                                        ocsp_trustname="responder", ocsp_cache_size=0, ocsp_cache_min_age=3600,
                                        ocsp_cache_max_age=86400, ocsp_method="post")
    assert RevocationOptions.from_setup(SetupConfig()) == RevocationOptions()


def test_missing_trustname_certificate_is_reported() -> None:
    lines: list[str] = []
    RevocationChecker(RevocationOptions(ocsp_trustname="responder"), Unreachable(), report=lines.append)
    assert lines and lines[0].startswith("ocsp-trustname=responder: certificate not found")


def test_refresh_due_through_the_checker(ca: Ca, server: Server) -> None:
    url = server.url + "/ca.crl"
    server.routes["/ca.crl"] = make_crl(ca)
    checker = RevocationChecker(RevocationOptions(crlcheckinterval=60), UrllibFetcher())
    assert checker.check([make_cert(ca, "peer", cdp=url).cert, ca.cert]).ok
    due = checker.refresh_due(datetime.now(UTC) + timedelta(seconds=61))
    assert due == [url]
    assert checker.refresh(url) is None


class Slow:
    """A fetcher that takes all the time it is given, then times out; records each timeout."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def fetch(self, url: str, timeout: float, body: bytes | None = None, content_type: str | None = None) -> bytes:
        self.timeouts.append(timeout)
        time.sleep(timeout)
        raise FetchError(url, "timed out")


def test_a_budget_bounds_the_whole_check_and_what_it_leaves_unasked_is_unanswered(ca: Ca) -> None:
    # OCSP (timeout 2 s) then the CRL (5 s) per link: 7 s unbudgeted; a 0.6 s budget gives
    # the responder what is left and leaves the distribution point unasked
    url = "http://127.0.0.1:9/ocsp"
    chain = [make_cert(ca, "peer", ocsp_url=url, cdp="http://127.0.0.1:9/ca.crl").cert, ca.cert]
    slow = Slow()
    options = RevocationOptions(ocsp_enable=True, crl_strict=False)
    started = time.monotonic()
    verdict = RevocationChecker(options, slow).check(chain, budget=0.6)
    assert time.monotonic() - started < 1.5
    # the GET took the budget; neither the POST retry nor the CRL fetch was started
    assert len(slow.timeouts) == 1 and slow.timeouts[0] <= 0.6
    assert verdict.ok and verdict.notes == (
        f"OCSP responder {url} unreachable: not asked: the check's time (auth-timeout=) was spent: "
        "ignored (ocsp-strict=no)",
        f"no CRL for issuer '{CA_NAME}' (fetching http://127.0.0.1:9/ca.crl: not asked: the check's time "
        "(auth-timeout=) was spent): ignored (crl-strict=no)")
    strict = RevocationChecker(RevocationOptions(ocsp_enable=True, crl_strict=True), Slow()).check(chain, budget=0.6)
    assert not strict.ok and strict.reason is not None and strict.reason.endswith("was spent) (crl-strict)")
    # no budget: each fetch has its own timeout
    slow = Slow()
    RevocationChecker(RevocationOptions(ocsp_enable=True, ocsp_timeout=0.2, crl_timeout=0.3), slow).check(chain)
    assert slow.timeouts == [0.2, 0.3]
