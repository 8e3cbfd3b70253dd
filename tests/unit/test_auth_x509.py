"""The built-in ``x509`` auth source: CA certificates from ``cacerts/`` (bad files logged and
skipped), our chain from ``leftcert=`` (relative to ``certs/``, completed with intermediates
from ``cacerts/``), CRLs from ``crls/`` refusing a revoked chain, reload on rereadsecrets."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pluto_core.ikev2.types import IdSpec
from pluto_core.x509.files import CertFileError, names_a_file
from pluto_plugins.auth_x509 import X509Source, revocation_options
from tests import revocation_pki as rpki
from tests.engine.harness import conn_pair

WEST = IdSpec.parse("@west")


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


@pytest.fixture
def pki(tmp_path: Path) -> SimpleNamespace:
    root = rpki.make_ca("Root CA")
    sub = rpki.make_ca("Sub CA", issuer=root)
    west = rpki.make_cert(sub, "west")
    for d in ("cacerts", "certs", "crls"):
        (tmp_path / d).mkdir()
    (tmp_path / "cacerts" / "root.pem").write_bytes(pem(root.cert))
    (tmp_path / "cacerts" / "sub.der").write_bytes(sub.cert.public_bytes(Encoding.DER))
    (tmp_path / "cacerts" / "junk.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n")
    (tmp_path / "certs" / "west.crt").write_bytes(pem(west.cert))
    return SimpleNamespace(dir=tmp_path, root=root, sub=sub, west=west)


def source(pki: SimpleNamespace, **setup: object) -> tuple[X509Source, Log]:
    log = Log()
    options = SimpleNamespace(**{"ipsecdir": str(pki.dir), "config": None, "crl_strict": False,
                                 "crlcheckinterval": 0, **setup})
    src = X509Source()
    src.pluto_startup(options, log)
    return src, log


def test_cacerts_pem_and_der_are_trusted_and_a_bad_file_is_logged_with_its_path(pki: SimpleNamespace) -> None:
    src, log = source(pki)
    conn = conn_pair()[0]
    assert src.pluto_auth_trust_anchors(conn) == [pki.root.cert, pki.sub.cert]
    bad = [line for line in log.lines if "junk.pem" in line]
    assert len(bad) == 1 and bad[0].startswith(f"CA certificate {pki.dir}/cacerts/junk.pem: not a PEM or DER")
    assert bad[0].endswith(": skipped")
    assert "loaded CA certificate 'O=pluto test, CN=Root CA'" in log.lines


def test_our_chain_is_the_file_then_the_intermediates_from_cacerts_never_the_root(pki: SimpleNamespace) -> None:
    src, _ = source(pki)
    conn = dataclasses.replace(conn_pair()[0], local_cert="west.crt")
    assert src.pluto_auth_certificates(WEST, conn) == [pki.west.cert, pki.sub.cert]
    absolute = dataclasses.replace(conn, local_cert=str(pki.dir / "certs" / "west.crt"))
    assert src.pluto_auth_certificates(WEST, absolute) == [pki.west.cert, pki.sub.cert]


def test_no_leftcert_is_not_answered_and_a_missing_file_or_nickname_raises_naming_it(
        pki: SimpleNamespace) -> None:
    src, _ = source(pki, nssdir=str(pki.dir / "no-nss"))
    conn = conn_pair()[0]
    assert src.pluto_auth_certificates(WEST, conn) is None
    with pytest.raises(CertFileError, match=f"no certificate with nickname 'westcert' in the NSS database {pki.dir}"):
        src.pluto_auth_certificates(WEST, dataclasses.replace(conn, local_cert="westcert"))
    assert not names_a_file("westcert") and names_a_file("west.der") and names_a_file("sub/west")
    with pytest.raises(FileNotFoundError, match="certs/gone.pem"):
        src.pluto_auth_certificates(WEST, dataclasses.replace(conn, local_cert="gone.pem"))
    (pki.dir / "certs" / "bad.pem").write_bytes(b"nonsense")
    with pytest.raises(CertFileError, match="bad.pem: not a PEM or DER"):
        src.pluto_auth_certificates(WEST, dataclasses.replace(conn, local_cert="bad.pem"))


def test_a_crl_in_crls_refuses_a_revoked_chain_and_rereadsecrets_loads_new_ones(pki: SimpleNamespace) -> None:
    src, _ = source(pki)
    conn = conn_pair()[0]
    chain = [pki.west.cert, pki.sub.cert, pki.root.cert]
    assert src.pluto_auth_check_chain(chain, conn) is None
    when = rpki.NOW - dt.timedelta(hours=2)
    (pki.dir / "crls" / "sub.crl").write_bytes(rpki.make_crl(pki.sub, {pki.west.cert.serial_number: (when, None)}))
    assert src.pluto_auth_check_chain(chain, conn) is None  # not read until a reload
    log = Log()
    src.pluto_auth_load(log)
    reason = src.pluto_auth_check_chain(chain, conn)
    assert reason is not None and reason.startswith("certificate revoked (serial ")


def test_crl_strict_refuses_a_chain_without_a_current_crl(pki: SimpleNamespace) -> None:
    src, _ = source(pki, crl_strict=True)
    reason = src.pluto_auth_check_chain([pki.west.cert, pki.sub.cert, pki.root.cert], conn_pair()[0])
    assert reason is not None and "CRL" in reason


def test_revocation_options_come_from_the_daemons_options() -> None:
    """The Options carry the file's crl-*/ocsp-* values (or the command line's): no second read."""
    opts = revocation_options(SimpleNamespace(config=None, ocsp_enable=True, ocsp_strict=True, crl_strict=True,
                                              ocsp_uri="http://ocsp.example", ocsp_method="post"))
    assert (opts.ocsp_enable, opts.ocsp_strict, opts.crl_strict) == (True, True, True)
    assert (opts.ocsp_uri, opts.ocsp_method, opts.ocsp_timeout) == ("http://ocsp.example", "post", 2.0)
    fallback = revocation_options(SimpleNamespace(config=None, crl_strict=True, crlcheckinterval=0))
    assert (fallback.ocsp_enable, fallback.crl_strict) == (False, True)
