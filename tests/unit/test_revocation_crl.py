"""CRL store (pluto_core.x509.revocation.crl): verification, lookup, fetching, refresh."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from pluto_core.x509.revocation.crl import CrlStore, read_crls
from pluto_core.x509.revocation.fetch import FetchError, UrllibFetcher
from tests.revocation_pki import NOW, Ca, Server, make_ca, make_cert, make_crl

KEY_COMPROMISE = x509.ReasonFlags.key_compromise


@pytest.fixture(scope="module")
def ca() -> Ca:
    return make_ca("Test CA")


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def test_good_and_revoked_from_a_crl_file(tmp_path: Path, ca: Ca) -> None:
    good, bad = make_cert(ca, "good"), make_cert(ca, "bad")
    when = NOW - timedelta(days=2)
    (tmp_path / "ca.crl").write_bytes(make_crl(ca, {bad.cert.serial_number: (when, KEY_COMPROMISE)}))
    store = CrlStore()
    assert store.load_dir(tmp_path, [ca.cert]) == []
    assert store.check(good.cert, ca.cert).state == "good"
    status = store.check(bad.cert, ca.cert)
    assert (status.state, status.serial, status.revoked_at, status.reason) == (
        "revoked", bad.cert.serial_number, when, "keyCompromise")
    assert status.revocation_text() == (f"serial {bad.cert.serial_number:#x}, "
                                        f"{when.strftime('%Y-%m-%d %H:%M:%S')} UTC, keyCompromise")
    assert str(tmp_path / "ca.crl") in status.source


def test_no_crl_is_unknown_naming_the_issuer(ca: Ca) -> None:
    status = CrlStore().check(make_cert(ca, "x").cert, ca.cert)
    assert status.state == "unknown"
    assert status.why == "no CRL for issuer 'CN=Test CA,O=pluto test'"


def test_expired_crl_is_unknown_but_still_revokes(ca: Ca) -> None:
    good, bad = make_cert(ca, "good"), make_cert(ca, "bad")
    expired = make_crl(ca, {bad.cert.serial_number: (NOW - timedelta(days=9), None)},
                       this_update=NOW - timedelta(days=10), next_update=NOW - timedelta(days=3))
    store = CrlStore()
    assert store.add(expired, "old.crl", [ca.cert]) == []
    status = store.check(good.cert, ca.cert, fetch=False)
    assert (status.state, status.stale) == ("unknown", True)
    assert "expired at" in status.why
    revoked = store.check(bad.cert, ca.cert, fetch=False)
    assert (revoked.state, revoked.stale, revoked.reason) == ("revoked", True, None)


def test_crl_signed_by_another_key_with_the_same_name_is_refused(ca: Ca) -> None:
    impostor = make_ca("Test CA")  # same name, other key
    bad = make_cert(ca, "bad")
    store = CrlStore()
    problems = store.add(make_crl(impostor, {}), "forged.crl", [ca.cert])
    assert len(problems) == 1 and "signature does not verify" in problems[0]
    assert store.check(bad.cert, ca.cert).state == "unknown"


def test_crl_of_another_issuer_waits_and_is_not_used(ca: Ca) -> None:
    other = make_ca("Other CA")
    cert = make_cert(ca, "x")
    store = CrlStore()
    assert store.add(make_crl(other, {cert.cert.serial_number: (NOW, None)}), "other.crl", [ca.cert]) == []
    assert store.check(cert.cert, ca.cert).state == "unknown"
    # the waiting CRL is verified once its issuer is named
    assert store.check(make_cert(other, "y").cert, other.cert).state == "good"


def test_pending_crl_forged_under_the_issuer_name_is_dropped_with_a_reason(ca: Ca) -> None:
    impostor = make_ca("Test CA")
    lines: list[str] = []
    store = CrlStore(report=lines.append)
    store.add(make_crl(impostor, {}), "nss:forged", [])  # issuer not given: verified later
    status = store.check(make_cert(ca, "x").cert, ca.cert)
    assert status.state == "unknown"
    assert "CRL from nss:forged: signature does not verify" in status.why
    assert lines and "nss:forged" in lines[0]


def test_issuer_without_crl_sign_may_not_sign_crls() -> None:
    ca = make_ca("No CRL CA", crl_sign=False)
    problems = CrlStore().add(make_crl(ca), "x.crl", [ca.cert])
    assert problems and "cRLSign" in problems[0]


def test_crl_from_the_future_is_refused(ca: Ca) -> None:
    problems = CrlStore().add(make_crl(ca, this_update=NOW + timedelta(days=1)), "x.crl", [ca.cert])
    assert problems and "in the future" in problems[0]


def test_newest_crl_is_kept_whatever_the_order(ca: Ca) -> None:
    cert = make_cert(ca, "x")
    old = make_crl(ca, {}, number=1)
    new = make_crl(ca, {cert.cert.serial_number: (NOW, None)}, number=2)
    for order in ((old, new), (new, old)):
        store = CrlStore()
        for data in order:
            store.add(data, "crl", [ca.cert])
        assert store.check(cert.cert, ca.cert).state == "revoked"


def test_pem_with_several_crls_and_garbage(ca: Ca) -> None:
    other = make_ca("Other CA")
    data = make_crl(ca, pem=True) + make_crl(other, pem=True)
    assert [crl.issuer for crl in read_crls(data)] == [ca.cert.subject, other.cert.subject]
    problems = CrlStore().add(b"not a crl", "junk", [ca.cert])
    assert problems and problems[0].startswith("junk: not a CRL")


def test_fetch_from_distribution_point_over_http(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", cdp=server.url + "/ca.crl")
    server.routes["/ca.crl"] = make_crl(ca, {cert.cert.serial_number: (NOW, KEY_COMPROMISE)})
    store = CrlStore(UrllibFetcher())
    assert store.check(cert.cert, ca.cert).state == "revoked"
    assert store.check(cert.cert, ca.cert).state == "revoked"
    assert server.hits == [("GET", "/ca.crl")]  # the second check used the stored CRL


def test_failed_fetch_is_reported_and_not_retried_at_once(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", cdp=server.url + "/missing.crl")
    store = CrlStore(UrllibFetcher())
    status = store.check(cert.cert, ca.cert)
    assert status.state == "unknown"
    assert f"fetching {server.url}/missing.crl: HTTP status 404" in status.why
    store.check(cert.cert, ca.cert)
    assert len(server.hits) == 1


def test_fetched_crl_of_the_wrong_ca_is_refused(ca: Ca, server: Server) -> None:
    cert = make_cert(ca, "x", cdp=server.url + "/ca.crl")
    server.routes["/ca.crl"] = make_crl(make_ca("Test CA"), {})
    status = CrlStore(UrllibFetcher()).check(cert.cert, ca.cert)
    assert status.state == "unknown" and "signature does not verify" in status.why


def test_refresh_due_follows_crlcheckinterval(ca: Ca, server: Server) -> None:
    url = server.url + "/ca.crl"
    cert = make_cert(ca, "x", cdp=url)
    server.routes["/ca.crl"] = make_crl(ca)
    clock = [NOW]
    store = CrlStore(UrllibFetcher(), interval=3600, clock=lambda: clock[0])
    assert store.refresh_due(NOW) == []  # no distribution point seen yet
    store.check(cert.cert, ca.cert)
    assert store.refresh_due(NOW + timedelta(minutes=59)) == []
    assert store.refresh_due(NOW + timedelta(hours=1)) == [url]
    assert store.next_refresh() == NOW + timedelta(hours=1)
    clock[0] = NOW + timedelta(hours=1)
    assert store.refresh(url) is None
    assert len(server.hits) == 2
    assert store.refresh_due(NOW + timedelta(hours=1, minutes=1)) == []
    disabled = CrlStore(UrllibFetcher(), interval=0)
    disabled.check(cert.cert, ca.cert)
    assert disabled.refresh_due(NOW + timedelta(days=30)) == []


def test_ldap_distribution_point_is_not_fetched(ca: Ca) -> None:
    cert = make_cert(ca, "x", cdp="ldap://ldap.example/cn=CA?certificateRevocationList")
    status = CrlStore(UrllibFetcher()).check(cert.cert, ca.cert)
    assert "only http is fetched" in status.why


def test_urllib_fetcher_refuses_other_schemes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    with pytest.raises(FetchError, match="scheme file: not supported"):
        UrllibFetcher().fetch((tmp_path / "f").as_uri(), 1.0)
    assert UrllibFetcher(allow_file=True).fetch((tmp_path / "f").as_uri(), 1.0) == b"data"


def test_fetch_deadline_covers_a_trickled_answer(server: Server) -> None:
    server.routes["/slow"] = bytes(100)
    server.trickle = 0.05  # 5 s in all, each byte well within a socket timeout
    start = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        UrllibFetcher().fetch(server.url + "/slow", 0.6)
    assert time.monotonic() - start < 1.2
