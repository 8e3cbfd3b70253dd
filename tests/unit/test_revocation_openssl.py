"""Interop: our OCSP client against a real responder, ``openssl ocsp -index ... -port ...``."""

from __future__ import annotations

import re
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pluto_core.x509.revocation import RevocationChecker, RevocationOptions
from pluto_core.x509.revocation.fetch import UrllibFetcher
from pluto_core.x509.revocation.ocsp import OcspClient
from tests.revocation_pki import NOW, Ca, make_ca, make_cert

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

REVOKED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def openssl_time(when: datetime) -> str:
    return when.strftime("%y%m%d%H%M%SZ")


def openssl_serial(serial: int) -> str:
    text = f"{serial:X}"
    return "0" * (len(text) % 2) + text


def openssl_dn(cert: x509.Certificate) -> str:
    return "".join(f"/{attr.rfc4514_attribute_name}={attr.value}" for attr in cert.subject)


class OpensslResponder:
    """``openssl ocsp`` serving ``index.txt`` for ``ca`` on a port of its choosing (our process)."""

    def __init__(self, folder: Path, ca: Ca, good: x509.Certificate, revoked: x509.Certificate) -> None:
        (folder / "ca.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
        (folder / "ca.key").write_bytes(ca.key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        expiry = openssl_time(NOW + timedelta(days=30))
        (folder / "index.txt").write_text(
            f"V\t{expiry}\t\t{openssl_serial(good.serial_number)}\tunknown\t{openssl_dn(good)}\n"
            f"R\t{expiry}\t{openssl_time(REVOKED_AT)},keyCompromise\t{openssl_serial(revoked.serial_number)}"
            f"\tunknown\t{openssl_dn(revoked)}\n")
        self.process = subprocess.Popen(
            ["openssl", "ocsp", "-index", "index.txt", "-port", "0", "-CA", "ca.pem", "-rsigner", "ca.pem",
             "-rkey", "ca.key", "-ndays", "1"],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        port = None
        for _ in range(5):
            if not selector.select(timeout=5):
                break
            match = re.search(r"ACCEPT .*:(\d+)", self.process.stdout.readline())
            if match:
                port = int(match.group(1))
                break
        if port is None:
            self.close()
            pytest.skip("openssl ocsp did not report its port")
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def pki() -> tuple[Ca, Ca, Ca]:
    ca = make_ca("Interop CA")
    return ca, make_cert(ca, "good peer"), make_cert(ca, "revoked peer")


@pytest.fixture
def responder(tmp_path: Path, pki: tuple[Ca, Ca, Ca]) -> Iterator[OpensslResponder]:
    ca, good, revoked = pki
    r = OpensslResponder(tmp_path, ca, good.cert, revoked.cert)
    yield r
    r.close()


@pytest.mark.parametrize("method", ["get", "post"])
def test_good_revoked_and_unknown_from_openssl(responder: OpensslResponder, pki: tuple[Ca, Ca, Ca],
                                               method: str) -> None:
    ca, good, revoked = pki
    client = OcspClient(UrllibFetcher(), timeout=5, uri=responder.url, method=method)  # type: ignore[arg-type]
    assert client.check(good.cert, ca.cert).state == "good"
    status = client.check(revoked.cert, ca.cert)
    assert (status.state, status.revoked_at, status.reason) == ("revoked", REVOKED_AT, "keyCompromise")
    stranger = client.check(make_cert(ca, "stranger").cert, ca.cert)
    assert stranger.state == "unknown" and "does not know" in stranger.why


def test_checker_refuses_the_revoked_peer_via_openssl(responder: OpensslResponder, pki: tuple[Ca, Ca, Ca]) -> None:
    ca, good, revoked = pki
    checker = RevocationChecker(RevocationOptions(ocsp_enable=True, ocsp_strict=True, ocsp_uri=responder.url,
                                                  ocsp_timeout=5))
    assert checker.check([good.cert, ca.cert]).ok
    verdict = checker.check([revoked.cert, ca.cert])
    assert verdict.reason == (f"certificate revoked (serial {revoked.cert.serial_number:#x}, "
                              "2026-03-04 05:06:07 UTC, keyCompromise)")
