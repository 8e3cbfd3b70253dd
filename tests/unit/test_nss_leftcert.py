"""``leftcert=NICKNAME``: our certificate, trust anchors, intermediates and CRLs from the NSS
database, read natively. Databases are made by NSS's own tools (certutil, pk12util, crlutil)
from PKCS#12 files, as ``ipsec import`` leaves them; the tests skip without the tools.

- admission and ``to_engine_conn``: the nickname's certificate gives the CKAID and the
  ``%fromcert`` / default ID; a nickname the database lacks is refused with file:line, by the
  daemon's path and by ``ipsec checkconfig`` alike;
- the ``x509`` source: our chain completed from NSS, C/T CAs as anchors, CRLs in NSS refusing
  a revoked chain, reread on ``rereadsecrets``; the ``nss`` source signs with the key by CKAID;
- two engines whose conns come from an ipsec.conf with nicknames, each behind a real
  AuthChain over the built-in sources and its own NSS database, establish.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from pluto_core import hookspecs
from pluto_core.auth.chain import DEFAULT_SOURCES, AuthChain
from pluto_core.cli.ipsec import format_status
from pluto_core.config import load_config
from pluto_core.config.checkconfig import main as checkconfig
from pluto_core.config.connection import orient
from pluto_core.config.secrets import Secrets
from pluto_core.control.status import peer_cert
from pluto_core.engine_conn import to_engine_conn
from pluto_core.errors import ConfigError
from pluto_core.ikev2.crypto import pubkeys
from pluto_core.ikev2.sa import IkeState
from pluto_core.options import Options
from pluto_core.plugins import AUTH_GROUP, discover_only
from tests.engine.harness import EAST_ADDR, WEST_ADDR, pump, two_sides
from tests.unit.nss_pki import Pki, nss_db

WEST_DN, EAST_DN = "C=CA, O=Pluto Test, CN=west.example", "C=CA, O=Pluto Test, CN=east.example"
CONF = f"""config setup
\tnssdir={{nssdir}}

conn west-east
\tleft={WEST_ADDR}
\tright={EAST_ADDR}
\tleftsubnet=192.0.1.0/24
\trightsubnet=192.0.2.0/24
\tauthby=rsasig,ecdsa
\tleftcert={{leftcert}}
\tleftid=%fromcert
\trightid="{EAST_DN}"
\tleftca=%any
\trightca=%any
\tauto=add
"""


@pytest.fixture(scope="module")
def pki() -> Pki:
    if shutil.which("certutil") is None or shutil.which("pk12util") is None:
        pytest.skip("certutil/pk12util (libnss3-tools) are not installed")
    return Pki.make()


def write_conf(tmp_path: Path, nssdir: Path, leftcert: str = "west", **more: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "ipsec.conf"
    text = CONF.format(nssdir=nssdir, leftcert=leftcert)
    path.write_text(text + "".join(f"\t{k}={v}\n" for k, v in more.items()))
    return path


def west_conn(path: Path, nssdir: Path | None = None, ipsecdir: Path | None = None) -> Any:
    conf = load_config(path)
    assert conf.refused == {} and conf.failed == {}
    return to_engine_conn(orient(conf.conns["west-east"], {WEST_ADDR}), str(ipsecdir) if ipsecdir else None,
                          str(nssdir) if nssdir else None)


# -- admission, to_engine_conn and checkconfig ------------------------------------------------


def test_a_nickname_conn_reaches_the_engine_with_the_certificates_ckaid_and_id(tmp_path: Path, pki: Pki) -> None:
    db = nss_db(tmp_path / "nss", pki, "west")
    conn = west_conn(write_conf(tmp_path, db), db)
    assert conn.local_cert == "west"
    assert conn.local_ckaid == pubkeys.ckaid_hex(pki.west.public_key())
    assert conn.local_id.data == pki.west.subject.public_bytes()  # %fromcert: the subject's own octets
    assert conn.remote_certs and conn.remote_ca == "%any"
    # no leftid=: the certificate's subject too, as Libreswan
    (tmp_path / "ipsec.conf").write_text((tmp_path / "ipsec.conf").read_text().replace("\tleftid=%fromcert\n", ""))
    assert west_conn(tmp_path / "ipsec.conf", db).local_id.data == pki.west.subject.public_bytes()


def test_a_nickname_missing_from_the_database_is_refused_with_file_line(tmp_path: Path, pki: Pki,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    db = nss_db(tmp_path / "nss", pki, "west")
    conf = write_conf(tmp_path, db, leftcert="nobody")
    expected = f"{conf}:4: \"west-east\": leftcert=nobody: no certificate with nickname 'nobody' in the NSS " \
               f"database {db}"
    with pytest.raises(ConfigError) as raised:
        west_conn(conf, db)
    assert (raised.value.file, raised.value.line) == (str(conf), 4) and str(raised.value) == expected
    # ipsec checkconfig reads it the same way (nssdir= from config setup, or --nssdir)
    assert checkconfig(["--config", str(conf)]) == 1
    assert f"ERROR: {expected}\n" in capsys.readouterr().out
    assert checkconfig(["--config", str(write_conf(tmp_path, tmp_path / "elsewhere")), "--nssdir", str(db)]) == 0
    assert "ERROR" not in capsys.readouterr().out
    assert checkconfig(["--config", str(write_conf(tmp_path, tmp_path / "elsewhere"))]) == 1
    assert f"leftcert=west: NSS database {tmp_path / 'elsewhere'}: no such directory" in capsys.readouterr().out


def test_a_bare_name_is_a_nickname_even_with_a_file_of_that_name_under_certs(tmp_path: Path, pki: Pki) -> None:
    db = nss_db(tmp_path / "nss", pki, "west")
    ipsecdir = tmp_path / "ipsec.d"
    (ipsecdir / "certs").mkdir(parents=True)
    (ipsecdir / "certs" / "mine").write_bytes(pki.east.public_bytes(Encoding.PEM))
    with pytest.raises(ConfigError, match=r"leftcert=mine: no certificate with nickname 'mine' in the NSS database "
                                          rf".* \(for the file {ipsecdir}/certs/mine write leftcert=\./mine\)"):
        west_conn(write_conf(tmp_path, db, leftcert="mine"), db, ipsecdir)
    conn = west_conn(write_conf(tmp_path, db, leftcert="./mine"), db, ipsecdir)
    assert conn.local_ckaid == pubkeys.ckaid_hex(pki.east.public_key())


# -- the sources ------------------------------------------------------------------------------


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    error = log


class Sources:
    """The built-in sources from their entry points behind one AuthChain, started on ``nssdir``."""

    def __init__(self, root: Path, nssdir: Path) -> None:
        self.ipsecdir = root / "ipsec.d"
        self.ipsecdir.mkdir(parents=True, exist_ok=True)
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.sources: dict[str, Any] = {}
        for info in discover_only().infos:
            if info.group == AUTH_GROUP and info.name in DEFAULT_SOURCES:
                self.sources[info.name] = info.obj()
                self.manager.register(self.sources[info.name], name=f"{AUTH_GROUP}:{info.name}")
        self.reports: list[str] = []
        self.log = Log()
        self.chain = AuthChain(self.manager.hook, DEFAULT_SOURCES, self.reports.append, timeout=30)
        options = Options(ipsecdir=str(self.ipsecdir), nssdir=str(nssdir), secretsfile=str(root / "none"))
        self.manager.hook.pluto_startup(options=options, log=self.log)
        self.chain.load(Secrets(), self.log)

    def reload(self) -> None:
        self.chain.load(Secrets(), self.log)


@pytest.fixture
def closing() -> Iterator[list[Sources]]:
    made: list[Sources] = []
    yield made
    for s in made:
        s.chain.close()


def test_our_chain_anchors_and_key_come_from_nss(tmp_path: Path, pki: Pki, closing: list[Sources]) -> None:
    db = nss_db(tmp_path / "nss", pki, "west")
    src = Sources(tmp_path, db)
    closing.append(src)
    conn = west_conn(write_conf(tmp_path, db), db)
    assert src.chain.certificates(conn.local_id, conn) == [pki.west, pki.sub]  # the intermediate from NSS
    assert sorted(c.subject.rfc4514_string() for c in src.chain.trust_anchors(conn)) == [
        "CN=Root CA,O=Pluto Test,C=CA", "CN=Sub CA,O=Pluto Test,C=CA"]  # both CT,, after the import
    assert "loaded CA certificate 'C=CA, O=Pluto Test, CN=Root CA' (NSS nickname 'Root CA - Pluto Test')" \
        in src.log.lines
    signer = src.chain.signer(conn.local_id, conn)  # the nss source, by the certificate's CKAID
    assert signer is not None and signer.public_key().public_numbers() == pki.west.public_key().public_numbers()
    assert src.reports == []


def test_cas_without_ct_trust_complete_our_chain_but_are_no_anchors(tmp_path: Path, pki: Pki,
                                                                      closing: list[Sources]) -> None:
    db = nss_db(tmp_path / "nss", pki, "west", ca_trust=",,")
    src = Sources(tmp_path, db)
    closing.append(src)
    conn = west_conn(write_conf(tmp_path, db), db)
    assert src.chain.certificates(conn.local_id, conn) == [pki.west, pki.sub]
    assert src.chain.trust_anchors(conn) == []


def test_a_crl_in_nss_refuses_a_revoked_chain_after_rereadsecrets(tmp_path: Path, pki: Pki,
                                                                  closing: list[Sources]) -> None:
    crlutil = shutil.which("crlutil")
    if crlutil is None:
        pytest.skip("crlutil is not installed")
    db = nss_db(tmp_path / "nss", pki, "west")
    src = Sources(tmp_path, db)
    closing.append(src)
    conn = west_conn(write_conf(tmp_path, db), db)
    chain = [pki.west, pki.sub, pki.ca]
    assert src.chain.check_chain(chain, conn) is None
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(pki.sub.subject)
           .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=1))
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(pki.west.serial_number)
                                    .revocation_date(now - dt.timedelta(hours=1)).build())
           .sign(pki.sub_key, hashes.SHA256()))
    (tmp_path / "sub.crl").write_bytes(crl.public_bytes(Encoding.DER))
    subprocess.run([crlutil, "-I", "-d", f"sql:{db}", "-i", str(tmp_path / "sub.crl"), "-B"], check=True)
    assert src.chain.check_chain(chain, conn) is None  # read on a reload, as crls/
    src.reload()
    reason = src.chain.check_chain(chain, conn)
    assert reason is not None and reason.startswith("certificate revoked"), reason


def test_two_engines_authenticate_with_nss_nicknames(tmp_path: Path, pki: Pki, closing: list[Sources]) -> None:
    """West signs with RSA (leftcert=west, under the intermediate), east with ECDSA
    (rightcert=east, under the root); each end's config names its own certificate only."""
    west_db = nss_db(tmp_path / "west" / "nss", pki, "west")
    east_db = nss_db(tmp_path / "east" / "nss", pki, "east")
    west_conf = write_conf(tmp_path / "west", west_db)
    east_conf = tmp_path / "east" / "ipsec.conf"
    east_conf.write_text(west_conf.read_text().replace("\tleftcert=west\n\tleftid=%fromcert\n", "")
                         .replace(f"\trightid=\"{EAST_DN}\"\n", f"\trightcert=east\n\tleftid=\"{WEST_DN}\"\n"))
    west = west_conn(west_conf, west_db)
    conf = load_config(east_conf)
    east = to_engine_conn(orient(conf.conns["west-east"], {EAST_ADDR}), None, str(east_db))
    assert (east.local_cert, east.local_ckaid) == ("east", pubkeys.ckaid_hex(pki.east.public_key()))
    west_src, east_src = Sources(tmp_path / "west", west_db), Sources(tmp_path / "east", east_db)
    closing += [west_src, east_src]
    now = dt.datetime.now(dt.UTC)
    _clock, ws, es, sides = two_sides(west, east, psks=west_src.chain, east_psks=east_src.chain,  # type: ignore[arg-type]
                                      west_kw={"wall_clock": lambda: now}, wall_clock=lambda: now)
    ws.engine.initiate("west-east")
    pump(sides)
    assert [sa.state for sa in ws.engine.ike_sas() + es.engine.ike_sas()] == [IkeState.ESTABLISHED] * 2, \
        ws.log.text() + "\n" + es.log.text() + "\n" + "\n".join(west_src.reports + east_src.reports)
    assert f"authenticated peer certificate '{EAST_DN}'" in ws.log.text()
    assert f"authenticated peer certificate '{WEST_DN}'" in es.log.text()
    assert "issued by 'C=CA, O=Pluto Test, CN=Sub CA'" in es.log.text()  # west sent the intermediate from NSS
    assert west_src.reports == east_src.reports == []
    # ipsec status: the certificate each IKE SA authenticated its peer with
    assert peer_cert(ws.engine.ike_sas()[0].peer_auth)["peer_cert"] == EAST_DN
    shown = peer_cert(es.engine.ike_sas()[0].peer_auth)
    assert (shown["peer_cert"], shown["peer_cert_issuer"]) == (WEST_DN, "C=CA, O=Pluto Test, CN=Sub CA")


def test_status_shows_the_peer_certificate_of_an_ike_sa() -> None:
    sa = {"serial": 1, "conn": "c", "remote": ["192.0.2.2", 500], "state": "established IKE SA", "established": True}
    by_cert = dict(sa, **peer_cert("certificate 'CN=east' and P-256 ECDSA with SHA2_512 digital signature issued "
                                   "by 'CN=Sub CA'"))
    by_psk = dict(sa, serial=3, **peer_cert("authby=secret"))
    text = format_status({"conns": [], "ike_sas": [by_cert, by_psk], "children": []}, brief=True)
    assert "#1: \"c\":500 peer certificate 'CN=east' issued by 'CN=Sub CA';" in text.splitlines()
    assert "#3: \"c\":500 established IKE SA; newest; idle;" in text and "#3: \"c\":500 peer" not in text
    assert by_psk["peer_auth"] == "authby=secret" and by_psk["peer_cert"] is None
