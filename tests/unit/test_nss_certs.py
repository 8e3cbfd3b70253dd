"""Certificates in the NSS database: our reader, ``ipsec import`` and the listings against
Libreswan 4.10's own ``ipsec import`` and NSS's ``certutil -L``.

PKIs are made here with ``cryptography`` (tests/unit/nss_pki.py), exported as PKCS#12 and
imported by Libreswan's script (which runs pk12util) or by ours. Tests that need the tools
skip without them; the committed fixture tests/data/nss-certs (its README says how it was
made) holds what Libreswan 4.10's pluto printed for ``whack --listcerts`` etc.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from pluto_core.nss import NssDb, NssError, listing
from pluto_core.nss.certdb import NssTrust, render_letters, serial_der
from tests.unit.nss_pki import P12_PASSWORD, Pki, run_with_tty

LIBRESWAN = Path("/opt/libreswan")
IPSEC = LIBRESWAN / "usr/sbin/ipsec"
CERTUTIL = shutil.which("certutil")
PK12UTIL = shutil.which("pk12util")
CRLUTIL = shutil.which("crlutil")
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "nss-certs"
DB_PASSWORD = "db-Passw0rd"
MESSAGE = b"IKE_AUTH octets"
PKCS12_PROMPT = ("Enter password for PKCS12 file", P12_PASSWORD)
DB_PROMPT = ('Enter Password or Pin for "NSS Certificate DB"', DB_PASSWORD)


def need_tools() -> None:
    if not IPSEC.exists():
        pytest.skip(f"Libreswan tools not found at {LIBRESWAN}")
    if CERTUTIL is None or PK12UTIL is None:
        pytest.skip("certutil/pk12util (libnss3-tools) are not installed")


def new_db(path: Path, password: str | None = None) -> Path:
    assert CERTUTIL is not None
    path.mkdir()
    if password is None:
        subprocess.run([CERTUTIL, "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    else:
        pwfile = path.parent / f"{path.name}.pw"
        pwfile.write_text(password + "\n")
        subprocess.run([CERTUTIL, "-N", "-d", f"sql:{path}", "-f", str(pwfile)], check=True)
        (path / "nsspassword").write_text(f"NSS Certificate DB:{password}\n")
    return path


def theirs_import(*args: str, password: bool = False) -> tuple[int, str, str]:
    env = dict(os.environ, IPSEC_EXECDIR=str(LIBRESWAN / "usr/libexec/ipsec"),
               IPSEC_SBINDIR=str(LIBRESWAN / "usr/sbin"))
    return run_with_tty([str(IPSEC), "import", *args], [PKCS12_PROMPT] + ([DB_PROMPT] * 8 if password else []),
                        env)


def ours_import(*args: str, password: bool = False) -> tuple[int, str, str]:
    return run_with_tty([sys.executable, "-m", "pluto_core.cli.ipsec", "import", *args],
                        [PKCS12_PROMPT] + ([DB_PROMPT] * 8 if password else []), dict(os.environ))


def certutil_list(db: Path) -> list[tuple[str, str]]:
    """(nickname, trust) pairs as ``certutil -L`` prints them, in its order."""
    assert CERTUTIL is not None
    out = subprocess.run([CERTUTIL, "-L", "-d", f"sql:{db}"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines()[4:]:
        match = re.fullmatch(r"(.*\S)\s+(\S*,\S*,\S*)\s*", line)
        assert match, line
        rows.append((match.group(1), match.group(2)))
    return rows


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def signs_for(db: NssDb, nickname: str) -> None:
    """The key ``private_key_for`` gives signs what the certificate's public key verifies."""
    cert = db.cert_by_nickname(nickname)
    assert cert is not None
    key = db.private_key_for(cert)
    assert key is not None and key.ckaid == cert.ckaid
    public = cert.certificate.public_key()
    if isinstance(key.private_key, rsa.RSAPrivateKey):
        assert isinstance(public, rsa.RSAPublicKey)
        signature = key.private_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key.private_key, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey)
        signature = key.private_key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
        public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.make()


# -- the reader after Libreswan's import -----------------------------------------------------


def test_reader_after_libreswan_import(tmp_path: Path, pki: Pki) -> None:
    need_tools()
    db_dir = new_db(tmp_path / "db")
    for which in ("west", "east"):
        rc, out, err = theirs_import("--nssdir", str(db_dir), str(pki.p12(which, tmp_path / f"{which}.p12")))
        assert rc == 0 and "PKCS12 IMPORT SUCCESSFUL" in out, out + err
    db = NssDb(db_dir)
    certs = db.certificates()
    # the same certificates under the same nicknames, in certutil's order, with its trust flags
    assert [(c.nickname, c.trust_flags) for c in certs] == certutil_list(db_dir)
    by_der = {c.der: c for c in certs}
    assert set(by_der) == {der(pki.ca), der(pki.sub), der(pki.west), der(pki.east)}
    assert {c.nickname: c.has_private_key for c in certs} == {
        "west": True, "east": True, "Root CA - Pluto Test": False, "Sub CA - Pluto Test": False}
    assert by_der[der(pki.west)].nickname == "west" and by_der[der(pki.west)].trust_flags == "u,u,u"
    # Libreswan's import gave both CAs "CT,," (C and T for SSL): the trusted CAs
    assert {c.nickname for c in db.ca_certificates()} == {"Root CA - Pluto Test", "Sub CA - Pluto Test"}
    assert all(c.certificate == pki.ca for c in certs if c.nickname == "Root CA - Pluto Test")
    signs_for(db, "west")
    signs_for(db, "east")
    assert db.private_key_for(pki.west) is not None  # a bare x509.Certificate works too
    assert db.private_key_for(by_der[der(pki.ca)]) is None
    assert db.cert_by_nickname("nobody") is None


@pytest.mark.parametrize("trust", [",,", "C,,", "T,,", "CT,,", "c,c,c", "p,p,p", "P,,", "PC,,", "PT,,",
                                   "CT,C,C", ",C,", ",,P", "c,C,T", "Pw,,"])
def test_trust_flags_as_certutil(tmp_path: Path, pki: Pki, trust: str) -> None:
    """Every trust certutil can set reads back as certutil prints it (with "u" where a key is)."""
    need_tools()
    assert CERTUTIL is not None
    db_dir = new_db(tmp_path / "db")
    rc, out, err = theirs_import("--nssdir", str(db_dir), str(pki.p12("east", tmp_path / "east.p12")))
    assert rc == 0, out + err
    for nick in ("east", "Root CA - Pluto Test"):
        subprocess.run([CERTUTIL, "-M", "-d", f"sql:{db_dir}", "-n", nick, "-t", trust], check=True)
    assert [(c.nickname, c.trust_flags) for c in NssDb(db_dir).certificates()] == certutil_list(db_dir)


def test_trust_without_trust_object(tmp_path: Path, pki: Pki) -> None:
    """A certificate added with no trust has no trust object: ",," (NSS prints the same)."""
    need_tools()
    assert CERTUTIL is not None
    db_dir = new_db(tmp_path / "db")
    (tmp_path / "ca.pem").write_bytes(pki.ca.public_bytes(serialization.Encoding.PEM))
    subprocess.run([CERTUTIL, "-A", "-d", f"sql:{db_dir}", "-n", "bare", "-t", ",,", "-i", str(tmp_path / "ca.pem")],
                   check=True)
    [cert] = NssDb(db_dir).certificates()
    assert (cert.nickname, cert.trust_flags, cert.is_ca, cert.is_root) == ("bare", ",,", True, True)
    assert certutil_list(db_dir) == [("bare", ",,")]
    assert NssDb(db_dir).ca_certificates() == []  # listed as a CA, but not trusted for SSL


def test_crls(tmp_path: Path, pki: Pki) -> None:
    need_tools()
    if CRLUTIL is None:
        pytest.skip("crlutil is not installed")
    db_dir = new_db(tmp_path / "db")
    assert NssDb(db_dir).crls() == []
    now = pki.ca.not_valid_before_utc
    crl = (x509.CertificateRevocationListBuilder().issuer_name(pki.ca.subject).last_update(now)
           .next_update(pki.ca.not_valid_after_utc)
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(pki.west.serial_number)
                                    .revocation_date(now).build())
           .sign(pki.ca_key, hashes.SHA256()))
    (tmp_path / "crl.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    subprocess.run([CRLUTIL, "-I", "-d", f"sql:{db_dir}", "-i", str(tmp_path / "crl.der"), "-B"], check=True)
    assert NssDb(db_dir).crls() == [crl.public_bytes(serialization.Encoding.DER)]


# -- a database with a password ---------------------------------------------------------------


def test_password_database(tmp_path: Path, pki: Pki) -> None:
    need_tools()
    db_dir = new_db(tmp_path / "db", DB_PASSWORD)
    rc, out, err = theirs_import("--nssdir", str(db_dir), str(pki.p12("west", tmp_path / "west.p12")), password=True)
    assert rc == 0 and "PKCS12 IMPORT SUCCESSFUL" in out, out + err
    # certificates are clear: no password needed to list them, or to know which have keys
    locked = NssDb(db_dir, unlock=False)
    assert [(c.nickname, c.trust_flags) for c in locked.certificates()] == certutil_list(db_dir)
    west = locked.cert_by_nickname("west")
    assert west is not None and west.has_private_key
    with pytest.raises(NssError, match="without its password"):
        locked.private_key_for(west)
    with pytest.raises(NssError, match="wrong password"):
        NssDb(db_dir, password="not-it")
    signs_for(NssDb(db_dir), "west")  # the password from DIR/nsspassword


# -- our ipsec import ------------------------------------------------------------------------


def test_our_import_as_libreswans(tmp_path: Path, pki: Pki) -> None:
    """Same output, same database (certutil -L), also when the CAs are already there."""
    need_tools()
    theirs_db, ours_db = new_db(tmp_path / "theirs"), new_db(tmp_path / "ours")
    outputs = []
    for which in ("west", "east", "west"):
        p12 = str(pki.p12(which, tmp_path / f"{which}.p12"))
        theirs = theirs_import("--nssdir", str(theirs_db), p12)
        ours = ours_import("--nssdir", str(ours_db), p12)
        assert ours == theirs
        assert certutil_list(ours_db) == certutil_list(theirs_db)
        outputs.append(theirs[1])
    # the first import fixed both CAs' trust; later ones found nothing to fix
    assert outputs[0].count("correcting trust bits for") == 2
    assert "correcting" not in outputs[1] + outputs[2]
    mine = NssDb(ours_db).certificates()
    assert [(c.nickname, c.der, c.trust_flags) for c in mine] == \
        [(c.nickname, c.der, c.trust_flags) for c in NssDb(theirs_db).certificates()]


def test_our_import_password_database(tmp_path: Path, pki: Pki) -> None:
    need_tools()
    theirs_db, ours_db = new_db(tmp_path / "theirs", DB_PASSWORD), new_db(tmp_path / "ours", DB_PASSWORD)
    p12 = str(pki.p12("east", tmp_path / "east.p12"))
    theirs = theirs_import("--nssdir", str(theirs_db), p12, password=True)
    ours = ours_import("--nssdir", str(ours_db), p12, password=True)
    assert ours == theirs
    assert certutil_list(ours_db) == certutil_list(theirs_db)
    signs_for(NssDb(ours_db), "east")


@pytest.mark.parametrize("case", ["no-args", "no-file", "no-db", "no-dir", "configdir"])
def test_import_errors_as_libreswans(tmp_path: Path, pki: Pki, case: str) -> None:
    need_tools()
    p12 = str(pki.p12("east", tmp_path / "east.p12"))
    empty = tmp_path / "empty"
    empty.mkdir()
    args = {
        "no-args": [],
        "no-file": ["--nssdir", str(empty), str(tmp_path / "missing.p12")],
        "no-db": ["--nssdir", str(empty), p12],
        "no-dir": ["--nssdir", str(tmp_path / "missing"), p12],  # ignored: the default nssdir then
        "configdir": ["--configdir", str(empty), p12],
    }[case]
    if case == "no-dir" and Path("/var/lib/ipsec/nss/cert9.db").exists():
        pytest.skip("this host has a database in the default nssdir: the import would go there")
    env = dict(os.environ, IPSEC_EXECDIR=str(LIBRESWAN / "usr/libexec/ipsec"),
               IPSEC_SBINDIR=str(LIBRESWAN / "usr/sbin"))
    theirs = subprocess.run([str(IPSEC), "import", *args], capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "pluto_core.cli.ipsec", "import", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


# -- the listings: what Libreswan 4.10's pluto printed for the committed fixture ----------------


@pytest.mark.parametrize("verb", ["listcerts", "listcacerts", "listcrls"])
def test_listings_as_libreswan_pluto(verb: str) -> None:
    db = NssDb(FIXTURE, unlock=False)
    expected = (FIXTURE / f"{verb}.txt").read_text()
    if verb == "listcrls":
        text = listing.format_listcrls(db.crls())
    elif verb == "listcerts":
        text = listing.format_listcerts(db.certificates())
    else:
        text = listing.format_listcacerts(db.certificates())
    assert text + "\n" == expected


@pytest.mark.parametrize("verb", ["listcerts", "listcacerts", "listcrls"])
def test_listing_commands(verb: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pluto_core.cli.ipsec", verb, "--nssdir", str(FIXTURE)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, (FIXTURE / f"{verb}.txt").read_text(), "")


def test_fixture_trust_as_certutil_printed() -> None:
    recorded = (FIXTURE / "certutil-L.txt").read_text().splitlines()[4:]
    ours = [(c.nickname, c.trust_flags) for c in NssDb(FIXTURE, unlock=False).certificates()]
    assert [tuple(re.fullmatch(r"(.*\S)\s+(\S*,\S*,\S*)\s*", line).groups()) for line in recorded  # type: ignore[union-attr]
            ] == ours


def test_listing_missing_database(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pluto_core.cli.ipsec", "listcerts", "--nssdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "SEC_ERROR_BAD_DATABASE" in done.stderr


# -- pure parts -----------------------------------------------------------------------------


def test_dn_spelling() -> None:
    """Escapes and names as Libreswan 4.10 printed them (recorded in the fixture README)."""
    from cryptography.x509.oid import NameOID

    def dn(*pairs: tuple[x509.ObjectIdentifier, str]) -> str:
        return listing.format_dn(x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs]))

    assert dn((NameOID.COUNTRY_NAME, "CA"), (NameOID.COMMON_NAME, "a,b")) == "C=CA, CN=a\\,b"
    assert dn((NameOID.ORGANIZATIONAL_UNIT_NAME, " lead")) == "OU=\\ lead"
    assert dn((NameOID.ORGANIZATIONAL_UNIT_NAME, "#hash")) == "OU=#0C052368617368"
    assert dn((NameOID.ORGANIZATIONAL_UNIT_NAME, "\u00dc")) == "OU=\\C3\\9C"
    assert dn((NameOID.EMAIL_ADDRESS, "a@b"), (NameOID.SURNAME, "s")) == "E=a@b, S=s"
    assert dn((NameOID.POSTAL_CODE, "v")) == "2.5.4.17=#0C0176"
    long_name = dn(*[(NameOID.ORGANIZATIONAL_UNIT_NAME, "x" * 40)] * 20)
    assert len(long_name) == listing.DN_MAX and long_name.endswith("...")


def test_trust_rendering() -> None:
    assert render_letters("cCT") == "CT"
    assert render_letters("pP") == "P"
    assert render_letters("upc") == "cpu"
    assert str(NssTrust.from_row(None, user=True)) == "u,u,u"
    assert str(NssTrust()) == ",,"


def test_serial_der() -> None:
    assert serial_der(1) == b"\x02\x01\x01"
    assert serial_der(0xFF) == b"\x02\x02\x00\xff"
    assert serial_der(-128) == b"\x02\x01\x80"
