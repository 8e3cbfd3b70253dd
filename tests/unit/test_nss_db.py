"""pluto_core.nss against Libreswan 4.10's own tools and NSS's certutil.

Databases are made by ``ipsec initnss`` / ``ipsec newhostkey`` (Libreswan, extracted at
/opt/libreswan) and ``certutil``; what we read is compared with what ``ipsec showhostkey``
prints. Tests that need the tools skip where they are absent; the committed fixture
(tests/data/nss, see its README) keeps the reader checked everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from pluto_core.errors import ConfigError
from pluto_core.ikev2.crypto import pubkeys
from pluto_core.nss import NssDb, NssError, NssKey, der, pbe, pubkey
from pluto_core.nss.password import candidate_passwords, parse_password_file

LIBRESWAN = Path("/opt/libreswan")
IPSEC = LIBRESWAN / "usr/sbin/ipsec"
CERTUTIL = shutil.which("certutil")
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "nss"
FIXTURE_PASSWORD = "pluto-fixture"
PASSWORD = "Sekr1t-pw"  # newhostkey's wrapper passes --password unquoted: no spaces
MESSAGE = b"IKE_AUTH octets to sign"


# -- the tools -------------------------------------------------------------------------------


def need_tools() -> None:
    if not IPSEC.exists():
        pytest.skip(f"Libreswan tools not found at {LIBRESWAN}")
    if CERTUTIL is None:
        pytest.skip("certutil (libnss3-tools) is not installed")


def ipsec(*args: str) -> str:
    """Run Libreswan's ``ipsec`` from /opt: its wrapper finds the helpers through these."""
    env = dict(os.environ, IPSEC_EXECDIR=str(LIBRESWAN / "usr/libexec/ipsec"),
               IPSEC_SBINDIR=str(LIBRESWAN / "usr/sbin"))
    done = subprocess.run([str(IPSEC), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ipsec {' '.join(args)}: {done.stderr}"
    return done.stdout


def certutil(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert CERTUTIL is not None
    return subprocess.run([CERTUTIL, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def new_db(path: Path, password: str | None = None) -> Path:
    """An empty database: ``ipsec initnss`` without a password, ``certutil -N`` with one."""
    path.mkdir()
    if password is None:
        ipsec("initnss", "--nssdir", str(path))
    else:
        pwfile = path.parent / f"{path.name}.pw"
        pwfile.write_text(password + "\n")
        done = certutil("-N", "-d", f"sql:{path}", "-f", str(pwfile))
        assert done.returncode == 0, done.stderr
    return path


def hostkey(path: Path, *args: str, password: str | None = None) -> None:
    extra = ["--password", password] if password else []
    ipsec("newhostkey", "--nssdir", str(path), *extra, *args)


# -- what showhostkey prints -------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    key_type: str
    keyid: str
    ckaid: str


def parse_list(text: str) -> list[Listed]:
    """``< 1> RSA keyid: AwEAAaCZi ckaid: 260d...`` lines."""
    found = re.findall(r"<\s*\d+>\s+(\w+)\s+keyid:\s+(\S+)\s+ckaid:\s+([0-9a-f]+)", text)
    return [Listed(*f) for f in found]


def parse_left(text: str) -> str:
    """The value of the ``leftrsasigkey=`` or ``leftecdsakey=`` line."""
    match = re.search(r"left(?:rsasig|ecdsa)key=(\S+)", text)
    assert match, text
    return match.group(1)


def parse_pems(text: str) -> list[str]:
    return re.findall(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", text, re.S)


def showhostkey(path: Path, *args: str, password: str | None = None) -> str:
    extra = ["--password", password] if password else []
    return ipsec("showhostkey", "--nssdir", str(path), *extra, *args)


def sign_and_verify(key: NssKey, public: object) -> None:
    """A signature by our decrypted private key verifies with the public key Libreswan shows."""
    private = key.private_key
    if isinstance(private, rsa.RSAPrivateKey):
        assert isinstance(public, rsa.RSAPublicKey)
        sig = private.sign(MESSAGE, rsa_padding.PKCS1v15(), hashes.SHA256())
        public.verify(sig, MESSAGE, rsa_padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey)
        sig = private.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
        public.verify(sig, MESSAGE, ec.ECDSA(hashes.SHA256()))


def check_against_showhostkey(db: NssDb, listing: str, left: dict[str, str], pems: dict[str, str]) -> None:
    """Every claim the tests make about one database and Libreswan's view of it."""
    listed = parse_list(listing)
    keys = db.keys()
    assert [k.ckaid for k in keys] == [entry.ckaid for entry in listed]
    assert db.ckaids() == [entry.ckaid for entry in listed]
    for key, entry in zip(keys, listed, strict=True):
        assert key.key_type == entry.key_type
        public = key.public_key
        assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        assert pubkey.keyid(public) == entry.keyid
        assert pubkeys.ckaid_hex(public) == key.ckaid
        assert key.pubkey_text() == left[key.ckaid]
        theirs = serialization.load_pem_public_key(pems[key.ckaid].encode())
        sign_and_verify(key, theirs)
        if isinstance(public, rsa.RSAPublicKey):
            theirs_raw = pubkeys.parse_rsasigkey(left[key.ckaid])
            assert theirs_raw.public_numbers() == public.public_numbers()
            assert pubkeys.ckaid_hex(theirs_raw) == key.ckaid
            sign_and_verify(key, theirs_raw)
        found = db.key_by_ckaid(key.ckaid.upper())
        assert found is not None and found.ckaid == key.ckaid


# -- databases made by the tools (module scope: key generation takes a second) -----------------


@pytest.fixture(scope="module")
def plain_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ipsec initnss`` (no password), an RSA key and ECDSA keys on three curves."""
    need_tools()
    path = new_db(tmp_path_factory.mktemp("nss") / "plain")
    hostkey(path)
    hostkey(path, "--keytype", "ecdsa")
    hostkey(path, "--keytype", "ecdsa", "--curve", "secp384r1")
    hostkey(path, "--keytype", "ecdsa", "--curve", "secp521r1")
    return path


@pytest.fixture(scope="module")
def password_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with a password: keys from Libreswan and from certutil, an nsspassword file."""
    need_tools()
    path = new_db(tmp_path_factory.mktemp("nss") / "locked", PASSWORD)
    hostkey(path, password=PASSWORD)
    hostkey(path, "--keytype", "ecdsa", password=PASSWORD)
    noise = path.parent / "noise"
    noise.write_bytes(os.urandom(64))
    pwfile = path.parent / "locked.pw"
    for kind in (["-k", "rsa", "-g", "2048"], ["-k", "ec", "-q", "nistp384"]):
        done = certutil("-G", "-d", f"sql:{path}", *kind, "-f", str(pwfile), "-z", str(noise))
        assert done.returncode == 0, done.stderr
    (path / "nsspassword").write_text(f"NSS Certificate DB:{PASSWORD}\n")
    return path


def libreswan_view(path: Path, password: str | None = None) -> tuple[str, dict[str, str], dict[str, str]]:
    listing = showhostkey(path, "--list", password=password)
    left, pems = {}, {}
    for entry in parse_list(listing):
        left[entry.ckaid] = parse_left(showhostkey(path, "--left", "--ckaid", entry.ckaid, password=password))
        pems[entry.ckaid] = parse_pems(showhostkey(path, "--pem", "--ckaid", entry.ckaid, password=password))[0]
    return listing, left, pems


def test_plain_db_matches_showhostkey(plain_db: Path) -> None:
    db = NssDb(plain_db)
    check_against_showhostkey(db, *libreswan_view(plain_db))
    assert [(k.key_type, k.bits) for k in db.keys()][1:] == [("ECDSA", 256), ("ECDSA", 384), ("ECDSA", 521)]
    assert db.keys()[0].bits >= 3072  # Libreswan's default RSA size (plus its random extra bits)
    assert db.key_by_ckaid("00" * 20) is None


def test_sql_prefix_is_accepted(plain_db: Path) -> None:
    assert NssDb(f"sql:{plain_db}").ckaids() == NssDb(plain_db).ckaids()


def test_password_db_opens_with_nsspassword_file(password_db: Path) -> None:
    db = NssDb(password_db)  # the nsspassword file in the directory
    listing, left, pems = libreswan_view(password_db, PASSWORD)
    check_against_showhostkey(db, listing, left, pems)
    assert [(k.key_type, k.bits) for k in db.keys()][2:] == [("RSA", 2048), ("ECDSA", 384)]
    done = certutil("-K", "-d", f"sql:{password_db}", "-f", str(password_db.parent / "locked.pw"))
    assert sorted(re.findall(r"\b[0-9a-f]{40}\b", done.stdout)) == sorted(db.ckaids())


def test_password_db_explicit_password_and_fips_token(password_db: Path, tmp_path: Path) -> None:
    assert NssDb(password_db, password=PASSWORD).ckaids() == NssDb(password_db).ckaids()
    fips = tmp_path / "nsspassword"
    fips.write_text(f"# FIPS mode names the token differently\nNSS FIPS 140-2 Certificate DB:{PASSWORD}\n")
    assert len(NssDb(password_db, password_file=fips).keys()) == 4


def test_wrong_password_is_a_clear_error(password_db: Path, tmp_path: Path) -> None:
    with pytest.raises(NssError) as caught:
        NssDb(password_db, password="not-it")
    assert str(caught.value) == f"NSS database {password_db}: wrong password"
    assert isinstance(caught.value, ConfigError)
    stale = tmp_path / "nsspassword"
    stale.write_text("NSS Certificate DB:stale-secret\n")
    with pytest.raises(NssError, match="wrong password") as caught:
        NssDb(password_db, password_file=stale)
    assert "stale-secret" not in str(caught.value)
    with pytest.raises(NssError, match="needs a password"):
        NssDb(password_db, password_file=tmp_path / "absent")


def test_legacy_3des_db_is_read_and_is_what_nss_reads(password_db: Path, tmp_path: Path) -> None:
    """Re-encrypted with pbeWithSHA1AndTripleDES-CBC, NSS itself still signs with the keys."""
    legacy = tmp_path / "legacy"
    shutil.copytree(password_db, legacy)
    to_legacy(legacy, PASSWORD.encode())
    before = {k.ckaid: k.private_key.private_numbers() for k in NssDb(password_db).keys()}
    after = {k.ckaid: k.private_key.private_numbers() for k in NssDb(legacy).keys()}
    assert after == before
    pwfile = password_db.parent / "locked.pw"
    noise = password_db.parent / "noise"
    for ckaid in before:  # certutil -R signs a request with the private key it decrypts
        done = certutil("-R", "-d", f"sql:{legacy}", "-k", ckaid, "-s", "CN=legacy", "-f", str(pwfile),
                        "-z", str(noise), "-a", "-o", str(tmp_path / f"{ckaid}.csr"))
        assert done.returncode == 0, done.stderr


# -- the committed fixture (runs everywhere) ---------------------------------------------------


def fixture_view() -> tuple[str, dict[str, str], dict[str, str]]:
    """What ``showhostkey`` printed for the fixture when it was made (showhostkey.txt)."""
    text = (FIXTURE / "showhostkey.txt").read_text()
    listed = parse_list(text)
    lefts = re.findall(r"left(?:rsasig|ecdsa)key=(\S+)", text)
    pems = parse_pems(text)
    return text, {e.ckaid: v for e, v in zip(listed, lefts, strict=True)}, \
        {e.ckaid: v for e, v in zip(listed, pems, strict=True)}


def fixture_copy(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    shutil.copytree(FIXTURE / "db", path)
    return path


def test_fixture_matches_recorded_showhostkey() -> None:
    db = NssDb(FIXTURE / "db")
    check_against_showhostkey(db, *fixture_view())
    assert [k.key_type for k in db.keys()] == ["RSA", "ECDSA"]
    ckaid = db.ckaids()[1]
    spaced = ":".join(ckaid[i:i + 2] for i in range(0, len(ckaid), 2))
    found = db.key_by_ckaid("0x" + spaced.upper())
    assert found is not None and found.ckaid == ckaid
    with pytest.raises(ValueError, match="hex"):
        db.key_by_ckaid("not-a-ckaid")


def test_fixture_wrong_password() -> None:
    with pytest.raises(NssError, match=r"^NSS database .*db: wrong password$"):
        NssDb(FIXTURE / "db", password="wrong")


def test_fixture_legacy_3des(tmp_path: Path) -> None:
    path = fixture_copy(tmp_path)
    to_legacy(path, FIXTURE_PASSWORD.encode())
    check_against_showhostkey(NssDb(path), *fixture_view())


def test_files_are_not_written(tmp_path: Path) -> None:
    path = fixture_copy(tmp_path)
    for f in path.iterdir():
        f.chmod(0o400)
    before = {f.name: f.read_bytes() for f in path.iterdir()}
    NssDb(path).keys()
    assert {f.name: f.read_bytes() for f in path.iterdir()} == before


def test_no_key_material_in_reprs_or_errors(tmp_path: Path) -> None:
    db = NssDb(FIXTURE / "db")
    assert FIXTURE_PASSWORD not in repr(db) and FIXTURE_PASSWORD not in str(vars(db))
    for key in db.keys():
        private = key.private_key
        secret = private.private_numbers()
        value = secret.d if isinstance(secret, rsa.RSAPrivateNumbers) else secret.private_value
        text = repr(key) + str(key)
        assert format(value, "x") not in text and str(value) not in text
        assert "private_key" not in text
    path = fixture_copy(tmp_path)
    with sqlite3.connect(path / "key4.db") as conn:  # damage the last block of one encrypted value
        object_id, value = conn.execute("SELECT id, a11 FROM nssPrivate WHERE a11 IS NOT NULL").fetchone()
        conn.execute("UPDATE nssPrivate SET a11 = ? WHERE id = ?", (value[:-16] + bytes(16), object_id))
    with pytest.raises(NssError, match="cannot decrypt CKA_VALUE") as caught:
        NssDb(path).keys()
    assert FIXTURE_PASSWORD not in str(caught.value)


def test_errors_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(NssError, match=f"NSS database {tmp_path / 'none'}: no such directory"):
        NssDb(tmp_path / "none")
    with pytest.raises(NssError, match="no key4.db"):
        NssDb(tmp_path)
    (tmp_path / "key3.db").write_bytes(b"")
    with pytest.raises(NssError, match="DBM"):
        NssDb(tmp_path)
    (tmp_path / "key4.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(NssError, match="cannot read key4.db"):
        NssDb(tmp_path)


# -- pure pieces --------------------------------------------------------------------------------


def test_password_file_format() -> None:
    text = "# comment\n\nNSS Certificate DB:a:b c\nNSS FIPS 140-2 Certificate DB:x\nNSS Certificate DB:later\n"
    parsed = parse_password_file(text)
    assert parsed == {"NSS Certificate DB": "a:b c", "NSS FIPS 140-2 Certificate DB": "x"}
    assert candidate_passwords(parsed) == [b"a:b c", b"x", b""]
    with pytest.raises(ConfigError) as caught:
        parse_password_file("NSS Certificate DB:ok\nsecret-without-token\n", "/etc/ipsec.d/nsspassword")
    assert str(caught.value) == "/etc/ipsec.d/nsspassword:2: expected token:password"


def test_der_reader_rejects_damage() -> None:
    good = bytes.fromhex("3006020101040100")
    assert [t.tag for t in der.read_single(good).children()] == [der.INTEGER, der.OCTET_STRING]
    for bad in ("3007020101040100", "30", "3080", "1f0100", "3006020101040100ff"):
        with pytest.raises(der.DerError):
            der.read_single(bytes.fromhex(bad))
    assert der.decode_oid(bytes.fromhex("2a864886f70d01050d")) == pbe.PBES2
    with pytest.raises(pbe.PbeError, match="not supported"):
        pbe.decrypt(tlv(0x30, tlv(0x30, tlv(0x06, bytes.fromhex("2a03")) + tlv(0x04, b"x")) + tlv(0x04, b"y")),
                    b"k")


# -- writing the legacy scheme (the reader never writes; only this test does) -------------------


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + der.encode_length(len(value)) + value


PKCS12_SHA1_3DES = bytes.fromhex("2a864886f70d010c050103")  # 1.2.840.113549.1.12.5.1.3


def legacy_encrypt(plain: bytes, key: bytes) -> bytes:
    """``plain`` under pbeWithSHA1AndTripleDES-CBC, one iteration, as NSS before PBES2 wrote it."""
    salt = os.urandom(20)
    des_key, iv = pbe.pfx_3des_key_iv(key, salt)
    padder = padding.PKCS7(64).padder()
    encryptor = Cipher(pbe.tripledes(des_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    algorithm = tlv(0x30, tlv(0x06, PKCS12_SHA1_3DES) + tlv(0x30, tlv(0x04, salt) + tlv(0x02, b"\x01")))
    return tlv(0x30, algorithm + tlv(0x04, ciphertext))


def to_legacy(path: Path, password: bytes) -> None:
    """Re-encrypt the password check and every secret attribute of key4.db with the old scheme."""
    with sqlite3.connect(path / "key4.db") as conn:
        salt, check = conn.execute("SELECT item1, item2 FROM metaData WHERE id = 'password'").fetchone()
        key = pbe.password_key(salt, password)
        conn.execute("UPDATE metaData SET item2 = ? WHERE id = 'password'",
                     (legacy_encrypt(pbe.decrypt(check, key), key),))
        for column in ("a11", "a123", "a124", "a125", "a126", "a127", "a128"):
            rows = conn.execute(f"SELECT id, {column} FROM nssPrivate WHERE {column} IS NOT NULL").fetchall()
            for object_id, value in rows:
                if value != b"\xa5\x00\x5a":
                    conn.execute(f"UPDATE nssPrivate SET {column} = ? WHERE id = ?",
                                 (legacy_encrypt(pbe.decrypt(value, key), key), object_id))
