"""The built-in auth sources ``secrets``, ``nss`` and ``files``, found through their entry
points and asked through a real AuthChain: each signer signs, the signature verifies with
the key's public half, a CKAID the source lacks gives None, a key that cannot be read is
logged once with the secrets entry's file:line, and no log line or repr shows key bytes."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pluto_core import hookspecs
from pluto_core.auth.chain import DEFAULT_SOURCES, AuthChain
from pluto_core.auth.keyring import HeldKey, KeyRing
from pluto_core.config.secrets import parse_secrets_text
from pluto_core.ikev2.crypto import pubkeys
from pluto_core.ikev2.crypto import signatures as sig
from pluto_core.ikev2.types import EngineConn, IdSpec
from pluto_core.nss import NssDb
from pluto_core.options import Options
from pluto_core.plugins import AUTH_GROUP, discover_only
from tests.engine.harness import conn_pair
from tests.unit.test_nss_db import FIXTURE, hostkey, need_tools, new_db

WEST = IdSpec.parse("@west")
CONN = conn_pair()[0]  # west's side: local @west, remote @east
OCTETS = b"the signed octets of an IKE_AUTH"
PEER_HASHES = (sig.HASH_SHA2_256, sig.HASH_SHA2_512, sig.HASH_IDENTITY)
FIXTURE_RSA = "dc8158d946c838c1ddee3e5677b30955ce23daab"  # tests/data/nss/showhostkey.txt
FIXTURE_ECDSA = "7ee032cae3be99e8905290a156ba37121b6126f0"
NO_SUCH_CKAID = "00" * 20


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    error = log


class Setup:
    """The three built-ins, instantiated from their entry points, behind one AuthChain."""

    def __init__(self, root: Path, order: tuple[str, ...] = DEFAULT_SOURCES, nssdir: Path | None = None,
                 startup: bool = True) -> None:
        self.ipsecdir = root / "ipsec.d"
        (self.ipsecdir / "private").mkdir(parents=True, exist_ok=True)
        self.nssdir = nssdir or root / "no-nss"
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.sources: dict[str, Any] = {}
        for info in discover_only().infos:
            if info.group == AUTH_GROUP and info.name in ("secrets", "nss", "files"):
                self.sources[info.name] = info.obj()
                self.manager.register(self.sources[info.name], name=f"{AUTH_GROUP}:{info.name}")
        self.reports: list[str] = []  # the chain's lines (a source that raised or hung)
        self.log = Log()  # the daemon's log, as load and startup get it
        self.chain = AuthChain(self.manager.hook, order, self.reports.append, timeout=30)
        if startup:
            self.startup()

    def startup(self) -> None:
        self.manager.hook.pluto_startup(options=Options(ipsecdir=str(self.ipsecdir), nssdir=str(self.nssdir)),
                                        log=self.log)

    def load(self, text: str) -> None:
        self.chain.load(parse_secrets_text(text, "/etc/ipsec.secrets"), self.log)

    def signer(self, ckaid: str | None = None, local: IdSpec = WEST, **kw: Any) -> Any:
        return self.chain.signer(local, conn(ckaid, **kw))

    def lines(self) -> list[str]:
        return self.log.lines + self.reports

    def close(self) -> None:
        self.chain.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.close()


def conn(ckaid: str | None = None, **kw: Any) -> EngineConn:
    return dataclasses.replace(CONN, local_ckaid=ckaid, local_auth=kw.pop("auth", "rsasig"), **kw)


def signs_for(signer: Any, public: Any) -> None:
    """The signer's AUTH verifies with ``public`` (the key as generated, not the signer's view)."""
    assert signer is not None
    method, scheme = sig.choose_auth(signer.public_key(), PEER_HASHES, available=signer.schemes())
    auth = sig.make_auth(signer, method, OCTETS, scheme)
    assert sig.verify(public, method, auth, OCTETS)
    assert not sig.verify(public, method, auth, OCTETS + b"!")


def secret_texts(key: Any) -> list[str]:
    """Hex and decimal forms of a private key's secret numbers, to look for in logs and reprs."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        values = [numbers.d, numbers.p, numbers.q]
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        values = [key.private_numbers().private_value]
    else:
        values = [int.from_bytes(key.private_bytes_raw(), "big")]
    return [form for v in values for form in (f"{v:x}", f"{v:X}", str(v))]


def assert_no_secrets(texts: list[str], key: Any, *extra: str) -> None:
    for text in texts:
        for secret in secret_texts(key) + list(extra):
            assert secret not in text, text


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def ckaid_of(key: Any) -> str:
    return pubkeys.ckaid_hex(key.public_key())


# -- entry points ----------------------------------------------------------------------------


def test_the_builtins_are_auth_entry_points_and_the_default_order() -> None:
    found = {i.name: i for i in discover_only().infos if i.group == AUTH_GROUP}
    assert {name: found[name].target for name in ("secrets", "nss", "files")} == {
        "secrets": "pluto_plugins.auth_secrets:SecretsSource",
        "nss": "pluto_plugins.auth_nss:NssSource",
        "files": "pluto_plugins.auth_files:FilesSource",
    }
    assert all(found[name].loaded for name in ("secrets", "nss", "files"))
    assert DEFAULT_SOURCES == Options().auth_sources == ("secrets", "nss", "files", "x509")


def test_the_x509_source_is_declared_as_an_auth_entry_point() -> None:
    """Declared in pyproject.toml (an install made before it was added does not list it yet)."""
    import importlib
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    target = project["entry-points"]["pluto.auth"]["x509"]
    module, _, attr = target.partition(":")
    assert target == "pluto_plugins.auth_x509:X509Source"
    assert getattr(importlib.import_module(module), attr).__name__ == "X509Source"


# -- secrets: RSA { } blocks -------------------------------------------------------------------


def rsa_block(key: rsa.RSAPrivateKey, ids: str = "@west", crt: bool = True) -> str:
    n = key.private_numbers()
    fields = [("Modulus", n.public_numbers.n), ("PublicExponent", n.public_numbers.e), ("PrivateExponent", n.d)]
    if crt:
        fields += [("Prime1", n.p), ("Prime2", n.q), ("Exponent1", n.dmp1), ("Exponent2", n.dmq1),
                   ("Coefficient", n.iqmp)]
    body = "".join(f"\t{name}: 0x{value:x}\n" for name, value in fields)
    return f"{ids + ' ' if ids else ''}: RSA {{\n\t# RSA 2048 bits   west   Thu Jan  1 00:00:00 1970\n{body}\t}}\n"


def test_secrets_rsa_block_signs_by_ckaid_and_by_id(setup: Setup, rsa_key: rsa.RSAPrivateKey) -> None:
    setup.load('@west @east : PSK "shared"\n' + rsa_block(rsa_key))
    ckaid = ckaid_of(rsa_key)
    signs_for(setup.signer(ckaid), rsa_key.public_key())
    signs_for(setup.signer(ckaid.upper()), rsa_key.public_key())
    assert setup.signer(NO_SUCH_CKAID) is None  # the conn names another key: no ID fallback
    signs_for(setup.signer(None), rsa_key.public_key())  # no CKAID: by the entry's ID
    assert setup.signer(None, local=IdSpec.parse("@north")) is None
    assert setup.signer(None, auth="ecdsa") is None  # an RSA key does not sign for authby=ecdsa
    assert setup.chain.psk(WEST, IdSpec.parse("@east"), CONN) == b"shared"
    assert setup.log.lines == [f"/etc/ipsec.secrets:2: loaded 2048-bit RSA private key, ckaid {ckaid}"]
    assert_no_secrets(setup.lines() + [repr(s) for s in setup.sources.values()] + [repr(setup.signer(ckaid))],
                      rsa_key)


def test_secrets_rsa_block_without_crt_values_and_without_ids(setup: Setup, rsa_key: rsa.RSAPrivateKey) -> None:
    setup.load(rsa_block(rsa_key, ids="", crt=False))
    signs_for(setup.signer(ckaid_of(rsa_key)), rsa_key.public_key())
    signs_for(setup.signer(None, local=IdSpec.parse("@anyone")), rsa_key.public_key())  # no index: any ID


def test_secrets_broken_rsa_block_is_logged_with_file_and_line(setup: Setup, rsa_key: rsa.RSAPrivateKey) -> None:
    good = rsa_block(rsa_key)
    n = rsa_key.private_numbers()
    broken = good.replace(f"0x{n.p:x}", f"0x{n.p + 2:x}").replace("@west", "@north")
    no_modulus = "\n".join(line for line in good.splitlines() if "Modulus" not in line).replace("@west", "@south")
    setup.load(broken + no_modulus + "\n" + good)
    assert setup.log.lines[:2] == [
        "/etc/ipsec.secrets:1: RSA { } private key: Prime1 * Prime2 is not the Modulus: skipped",
        "/etc/ipsec.secrets:12: RSA { } private key: no Modulus: skipped",
    ]
    assert setup.signer(None, local=IdSpec.parse("@north")) is None
    signs_for(setup.signer(ckaid_of(rsa_key)), rsa_key.public_key())  # the good one still loads
    assert_no_secrets(setup.lines(), rsa_key)


def test_secrets_keys_are_built_once_per_load(setup: Setup, rsa_key: rsa.RSAPrivateKey) -> None:
    setup.load(rsa_block(rsa_key))
    first = setup.signer(ckaid_of(rsa_key))
    assert setup.signer(ckaid_of(rsa_key)) is first
    setup.load("")  # ipsec rereadsecrets without the key
    assert setup.signer(ckaid_of(rsa_key)) is None


# -- files -------------------------------------------------------------------------------------


def write_key(path: Path, key: Any, encoding: str = "pem", password: bytes | None = None,
              fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> Path:
    algorithm = (serialization.BestAvailableEncryption(password) if password
                 else serialization.NoEncryption())
    enc = serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER
    path.write_bytes(key.private_bytes(enc, fmt, algorithm))
    path.chmod(0o600)
    return path


def test_files_pem_der_and_encrypted_pem(setup: Setup, rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP384R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pem = write_key(setup.ipsecdir.parent / "west-rsa.pem", rsa_key, fmt=serialization.PrivateFormat.TraditionalOpenSSL)
    write_key(setup.ipsecdir / "private" / "west-ec.der", ec_key, "der")
    write_key(setup.ipsecdir / "private" / "west-ed.pem", ed_key, password=b"open sesame")
    setup.load(f"@west : RSA {pem}\n"
               "@west : ECDSA west-ec.der\n"
               '@west : EDDSA "west-ed.pem" "open sesame"\n')
    assert setup.reports == []
    for key in (rsa_key, ec_key, ed_key):
        signs_for(setup.signer(ckaid_of(key)), key.public_key())
    assert setup.signer(NO_SUCH_CKAID) is None
    # no CKAID: the entry of the kind leftauth= asks for, by ID
    signs_for(setup.signer(None), rsa_key.public_key())
    signs_for(setup.signer(None, auth="ecdsa"), ec_key.public_key())
    signs_for(setup.signer(None, auth="eddsa"), ed_key.public_key())
    assert setup.signer(None, local=IdSpec.parse("@north")) is None
    private = setup.ipsecdir / "private"
    assert setup.log.lines == [
        f"/etc/ipsec.secrets:1: loaded RSA private key from '{pem}', ckaid {ckaid_of(rsa_key)}",
        f"/etc/ipsec.secrets:2: loaded ECDSA private key from '{private}/west-ec.der', ckaid {ckaid_of(ec_key)}",
        f"/etc/ipsec.secrets:3: loaded EDDSA private key from '{private}/west-ed.pem', ckaid {ckaid_of(ed_key)}",
    ]
    reprs = [repr(s) for s in setup.sources.values()] + [repr(setup.signer(ckaid_of(k))) for k in (rsa_key, ed_key)]
    for key in (rsa_key, ec_key, ed_key):
        assert_no_secrets(setup.lines() + reprs, key, "open sesame")


def test_files_that_give_no_key_are_logged_once_with_file_and_line(setup: Setup, rsa_key: rsa.RSAPrivateKey) -> None:
    private = setup.ipsecdir / "private"
    write_key(private / "locked.pem", rsa_key, password=b"right one")
    write_key(private / "rsa.pem", rsa_key)
    (private / "junk.der").write_bytes(b"\x30\x03\x02\x01\x00")
    setup.load("@west : RSA missing.pem\n"
               "@west : RSA locked.pem\n"
               '@west : RSA locked.pem "wrong one"\n'
               "@west : ECDSA rsa.pem\n"
               "@west : RSA junk.der\n")
    assert setup.log.lines == [
        f"/etc/ipsec.secrets:1: RSA private key file '{private}/missing.pem': cannot read: "
        "No such file or directory: skipped",
        f"/etc/ipsec.secrets:2: RSA private key file '{private}/locked.pem': encrypted, "
        "and the entry gives no password: skipped",
        f"/etc/ipsec.secrets:3: RSA private key file '{private}/locked.pem': cannot decrypt it with the "
        "entry's password (or not a private key): skipped",
        f"/etc/ipsec.secrets:4: ECDSA private key file '{private}/rsa.pem': an RSA key, not ECDSA: skipped",
        f"/etc/ipsec.secrets:5: RSA private key file '{private}/junk.der': not a DER private key: skipped",
    ]
    for _ in range(3):
        assert setup.signer(ckaid_of(rsa_key)) is None
        assert setup.signer(None) is None
    assert len(setup.log.lines) == 5  # lookups log nothing more; nss (no database here) nothing at all
    assert setup.reports == []
    assert_no_secrets(setup.lines(), rsa_key, "right one", "wrong one")


def test_files_loaded_before_startup_wait_for_the_ipsecdir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    made = Setup(tmp_path, order=("files",), startup=False)  # the daemon: secrets first, then pluto_startup
    try:
        write_key(made.ipsecdir / "private" / "west.pem", rsa_key)
        made.load("@west : RSA west.pem\n")
        assert made.signer(ckaid_of(rsa_key)) is None and made.log.lines == []
        made.startup()
        signs_for(made.signer(ckaid_of(rsa_key)), rsa_key.public_key())
        assert len(made.log.lines) == 1 and "loaded RSA private key" in made.log.lines[0]
    finally:
        made.close()


# -- nss ---------------------------------------------------------------------------------------


def fixture_nss(tmp_path: Path, password: bool = True) -> Setup:
    made = Setup(tmp_path, nssdir=FIXTURE / "db")
    if password:  # Libreswan reads it from the ipsecdir
        shutil.copy(FIXTURE / "db" / "nsspassword", made.ipsecdir / "nsspassword")
    made.startup()
    return made


def test_nss_fixture_keys_by_ckaid(tmp_path: Path) -> None:
    made = fixture_nss(tmp_path)
    try:
        made.load("")
        published = (FIXTURE / "showhostkey.txt").read_text()
        rsa_text = published.split("leftrsasigkey=")[1].split()[0]
        ec_text = published.split("leftecdsakey=")[1].split()[0]
        rsa_signer = made.signer(FIXTURE_RSA)
        signs_for(rsa_signer, pubkeys.parse_rsasigkey(rsa_text))
        signs_for(made.signer(FIXTURE_ECDSA.upper(), auth="ecdsa"), pubkeys.parse_pubkey(ec_text, "ecdsa"))
        assert made.signer(FIXTURE_RSA) is rsa_signer  # cached
        assert made.signer(NO_SUCH_CKAID) is None
        assert made.signer(None) is None  # nss finds keys by CKAID only
        assert made.reports == [] and made.log.lines == []
        keys = [k.private_key for k in NssDb(FIXTURE / "db", password="pluto-fixture").keys()]
        texts = made.lines() + [repr(made.sources["nss"]), repr(rsa_signer)]
        for key in keys:
            assert_no_secrets(texts, key, "pluto-fixture")
    finally:
        made.close()


def test_nss_without_a_database_answers_none_without_a_word(setup: Setup, rsa_key: rsa.RSAPrivateKey) -> None:
    """A setup with keys in files only (no NSS database at --nssdir) is normal, not a fault."""
    write_key(setup.ipsecdir / "private" / "west.pem", rsa_key)
    setup.load("@west : RSA west.pem\n")  # default order: secrets, nss, files
    for _ in range(3):
        signs_for(setup.signer(ckaid_of(rsa_key)), rsa_key.public_key())  # from files, after nss
    assert setup.reports == []
    alone = Setup(setup.ipsecdir.parent, order=("nss",))
    assert alone.signer(FIXTURE_RSA) is None and alone.reports == []
    alone.close()


def test_nss_database_that_cannot_be_opened_is_reported_once(setup: Setup) -> None:
    setup.nssdir.mkdir(parents=True, exist_ok=True)
    (setup.nssdir / "key4.db").write_bytes(b"not an SQLite database")
    alone = Setup(setup.ipsecdir.parent, order=("nss",))
    for _ in range(3):
        assert alone.signer(FIXTURE_RSA) is None
    assert len(alone.reports) == 1 and alone.reports[0].startswith(
        f"auth source nss: pluto_auth_signer failed: NssError: NSS database {setup.nssdir}"), alone.reports
    alone.close()


def test_nss_wrong_password_is_reported_once_and_reread_retries(tmp_path: Path) -> None:
    made = fixture_nss(tmp_path, password=False)
    try:
        made.load("")
        assert made.signer(FIXTURE_RSA) is None
        assert made.signer(FIXTURE_RSA) is None
        assert made.reports == [
            f"auth source nss: pluto_auth_signer failed: NssError: NSS database {FIXTURE / 'db'}: needs a password: "
            f"no 'NSS Certificate DB:' or 'NSS FIPS 140-2 Certificate DB:' line in {made.ipsecdir}/nsspassword: "
            "skipped"]
        (made.ipsecdir / "nsspassword").write_text("NSS Certificate DB:not-it\n")
        made.load("")  # ipsec rereadsecrets: the database is opened anew
        assert made.signer(FIXTURE_RSA) is None
        assert len(made.reports) == 2 and "wrong password" in made.reports[1]
        shutil.copy(FIXTURE / "db" / "nsspassword", made.ipsecdir / "nsspassword")
        made.load("")
        assert made.signer(FIXTURE_RSA) is not None
        assert_no_secrets(made.reports, rsa.generate_private_key(65537, 1024), "pluto-fixture", "not-it")
    finally:
        made.close()


def test_nss_database_made_by_libreswan(tmp_path: Path) -> None:
    need_tools()
    db = new_db(tmp_path / "nss")  # ipsec initnss: no password, no nsspassword file needed
    hostkey(db)
    hostkey(db, "--keytype", "ecdsa")
    made = Setup(tmp_path, order=("secrets", "nss"), nssdir=db)
    try:
        made.load("")
        keys = NssDb(db).keys()
        assert [k.key_type for k in keys] == ["RSA", "ECDSA"]
        for key in keys:
            signs_for(made.signer(key.ckaid), key.public_key)
        assert made.signer(NO_SUCH_CKAID) is None and made.reports == []
    finally:
        made.close()


def test_key_ring_repr_shows_no_key(rsa_key: rsa.RSAPrivateKey) -> None:
    setup_entry = parse_secrets_text(rsa_block(rsa_key), "s").entries[0]
    ring = KeyRing([HeldKey.of(setup_entry, sig.KeySigner(rsa_key))])
    assert repr(ring) == "KeyRing(<1 keys>)"
    assert_no_secrets([repr(ring.keys[0]), repr(ring), repr(setup_entry)], rsa_key)
