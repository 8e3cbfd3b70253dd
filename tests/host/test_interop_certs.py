"""Host tier interop, X.509 certificates: our daemon (west) with its certificate, CAs and key
in files under its ipsecdir, against strongSwan 5.9.8 and Libreswan 4.10 (east), both roles,
RSA and ECDSA end certificates under an intermediate CA (root CA -> Sub CA -> end).

- strongSwan: its certificate in x509/, only the root in x509ca/ (the intermediate of our
  chain is the one we send in a CERT payload), its key in private/ (PKCS#8, or PKCS#1 "RSA
  PRIVATE KEY" for the pkcs1 plugin), ``auth = pubkey``, ``certs = east.pem``, DN ``id``s.
- Libreswan: its certificate and key imported from a PKCS#12 file with its own ``ipsec
  import`` into its NSS database, the CAs trusted with ``certutil -M -t CT,,``;
  ``leftcert=NICK``, ``rightca=`` our intermediate's DN.

Each case is proven by what the peer says (``swanctl --list-sas``, its log) and by our log.
No ESP in this kernel: the IKE SA comes up, the Child SA install fails."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests import x509_pki as pki
from tests.host import certs
from tests.host.daemons import Pluto
from tests.host.peers import LSW, LSW_IPSEC, Libreswan, Strongswan, libreswan_available, strongswan_available
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair, poll
from tests.swanctl import swanctl_conf
from tests.unit.nss_pki import run_with_tty

pytestmark = pytest.mark.host

IKE = "aes_gcm256-sha2_256-dh19"
ESP = "aes_gcm256"
WEST_DN, EAST_DN = certs.dn("west"), certs.dn("east")



# -- our daemon -------------------------------------------------------------------------------


def _start_ours(netns_pair: Pair, tmp_path: Path, kind: str, *extra: str, rightid: str | None = EAST_DN,
                mine: pki.Issued | None = None) -> Pluto:
    """west: certs/west.pem (its end certificate alone: ``mine``, else the ``kind`` one under the
    intermediate), cacerts/ the root and the intermediate, private/west.key named in
    ipsec.secrets; ``leftid=%fromcert``."""
    pk = certs.host_pki()
    ipsecdir, secrets_line = certs.our_ipsecdir(tmp_path / "ours-ipsec.d", mine or certs.end_cert("west", kind),
                                                "west", [pk.root, pk.sub])
    lines = [f"left={WEST_IP}", "leftid=%fromcert", "leftcert=west.pem", f"leftsubnet={WEST_NET}",
             f"right={EAST_IP}", f"rightsubnet={EAST_NET}", f"ike={IKE}", f"esp={ESP}", "auto=add",
             *([f'rightid="{rightid}"'] if rightid is not None else []), *extra]
    config = tmp_path / "ours.conf"
    config.write_text("config setup\n\tlogtime=no\n\nconn west-east\n" + "".join(f"\t{line}\n" for line in lines))
    secrets = tmp_path / "ours.secrets"
    secrets.write_text(secrets_line)
    secrets.chmod(0o600)
    pluto = Pluto(netns_pair.west, tmp_path / "ours")
    try:
        pluto.start(config, secrets, "--nhelpers", "0", "--ipsecdir", str(ipsecdir))
    except BaseException:
        pluto.stop()
        raise
    return pluto


def _our_ike_up(pluto: Pluto) -> bool:
    return any(sa["established"] for sa in pluto.status()["ike_sas"])


# how we name the peer's signature (strongSwan and Libreswan pick SHA-256 for these keys, we SHA-512)
THEIR_SIGNATURE = {"rsa": "2048-bit RSASSA-PSS with SHA2_256", "ecdsa": "P-256 ECDSA with SHA2_256"}
OUR_SIGNATURE = {"rsa": "RSASSA-PSS with SHA2_512", "ecdsa": "ECDSA with SHA2_512"}


def _our_proof(role: str, kind: str, signature: dict[str, str] = THEIR_SIGNATURE) -> str:
    return f"{role} established IKE SA; authenticated peer certificate '{EAST_DN}' and {signature[kind]} digital " \
           f"signature issued by '{certs.SUB_DN}'"


# -- strongSwan -------------------------------------------------------------------------------

def east_cert_swanctl() -> str:
    """east's charon: conn "lab" with its certificate x509/east.pem, DN IDs both ways."""
    return swanctl_conf("lab", local_addrs=EAST_IP, remote_addrs=WEST_IP, proposals="aes256gcm16-prfsha256-ecp256",
                        local={"auth": "pubkey", "certs": "east.pem", "id": EAST_DN},
                        remote={"auth": "pubkey", "id": WEST_DN}, local_ts=EAST_NET, remote_ts=WEST_NET,
                        esp="aes256gcm16")


@dataclass
class WithStrongswan:
    ours: Pluto
    peer: Strongswan
    kind: str


def _strongswan_pair(netns_pair: Pair, tmp_path: Path, kind: str, east: pki.Issued) -> Iterator[WithStrongswan]:
    """charon with east's certificate in x509/, the root alone in x509ca/, its key in private/
    (RSA as PKCS#1 for the pkcs1 plugin, ECDSA as PKCS#8); our daemon with a ``kind`` certificate."""
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Strongswan(netns_pair.east, tmp_path / "strongswan")
    for sub in ("x509", "x509ca"):
        (peer.root / sub).mkdir(parents=True)
    (peer.root / "x509" / "east.pem").write_bytes(certs.pem(east.cert))
    (peer.root / "x509ca" / "root.pem").write_bytes(certs.pem(certs.host_pki().root.cert))
    certs.write_private(peer.root / "private" / "east.key", east.key, pkcs1=kind == "rsa")
    pluto = None
    try:
        peer.start(east_cert_swanctl(), charon_extra="\trsa_pss = yes\n")
        pluto = _start_ours(netns_pair, tmp_path, kind)
        yield WithStrongswan(pluto, peer, kind)
    finally:
        if pluto is not None:
            pluto.stop()
        peer.stop()


@pytest.fixture(params=certs.KINDS)
def sws_certs(request: pytest.FixtureRequest, netns_pair: Pair, tmp_path: Path) -> Iterator[WithStrongswan]:
    yield from _strongswan_pair(netns_pair, tmp_path, request.param, certs.end_cert("east", request.param))


@pytest.fixture
def sws_expired(netns_pair: Pair, tmp_path: Path) -> Iterator[WithStrongswan]:
    """strongSwan's certificate expired two days ago."""
    yield from _strongswan_pair(netns_pair, tmp_path, "ecdsa", certs.end_cert("east", "ecdsa", expired=True))


SWS_SCHEME = {"rsa": "RSA_EMSA_PSS_SHA2_512_SALT_64", "ecdsa": "ECDSA_WITH_SHA512_DER"}


def _strongswan_saw_us(pair: WithStrongswan) -> None:
    """charon validated our chain through the intermediate we sent, to the root in its x509ca/."""
    log = pair.peer.log()
    assert f'received end entity cert "{WEST_DN}"' in log, log
    assert f'received issuer cert "{certs.SUB_DN}"' in log, log
    assert 'reached self-signed root ca with a path length of 1' in log, log
    assert f"authentication of '{WEST_DN}' with {SWS_SCHEME[pair.kind]} successful" in log, log
    assert f"IKE_SA lab[1] established between 192.0.2.2[{EAST_DN}]...192.0.2.1[{WEST_DN}]" in log, log


def _strongswan_established(pair: WithStrongswan) -> str:
    sas = pair.peer.swanctl("--list-sas").stdout
    return sas if "ESTABLISHED" in sas else ""


def test_certs_ours_initiates_to_strongswan(sws_certs: WithStrongswan) -> None:
    up = sws_certs.ours.ipsec("up", "west-east")
    out = up.stdout + up.stderr
    assert f"with digital-signature {OUR_SIGNATURE[sws_certs.kind]} and DER_ASN1_DN '{WEST_DN}'" in out, out
    assert _our_proof("initiator", sws_certs.kind) in out, out + sws_certs.ours.log_text() + sws_certs.peer.log()
    sas = _strongswan_established(sws_certs)
    assert f"remote '{WEST_DN}'" in sas, sas + sws_certs.peer.log()
    _strongswan_saw_us(sws_certs)


def test_certs_strongswan_initiates_to_ours(sws_certs: WithStrongswan) -> None:
    sws_certs.peer.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
    assert poll(lambda: _our_ike_up(sws_certs.ours)), sws_certs.ours.log_text() + sws_certs.peer.log()
    assert _our_proof("responder", sws_certs.kind) in sws_certs.ours.log_text(), sws_certs.ours.log_text()
    assert [sa["peer_id"] for sa in sws_certs.ours.status()["ike_sas"]] == [EAST_DN]
    _strongswan_saw_us(sws_certs)


def test_certs_strongswan_with_an_expired_certificate_is_refused(sws_expired: WithStrongswan) -> None:
    expiry = certs.end_cert("east", "ecdsa", expired=True).cert.not_valid_after_utc
    sws_expired.peer.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
    assert poll(lambda: "received AUTHENTICATION_FAILED notify error" in sws_expired.peer.log()), \
        sws_expired.ours.log_text() + sws_expired.peer.log()
    log = sws_expired.ours.log_text()
    assert f"authentication of peer DER_ASN1_DN '{EAST_DN}' using authby=rsasig,ecdsa failed: certificate expired " \
           f"on {expiry:%Y-%m-%d %H:%M:%S} UTC: sending AUTHENTICATION_FAILED" in log, log
    assert not _our_ike_up(sws_expired.ours) and "established" not in log
    assert "ESTABLISHED" not in sws_expired.peer.swanctl("--list-sas").stdout


# -- Libreswan --------------------------------------------------------------------------------

P12_PASSWORD = "host-tier-p12-not-secret"
LIBRESWAN_CERT_CONF = """\
config setup
\tdnssec-enable=no
\tuniqueids=yes
\tplutodebug=none

conn west-east
\tikev2=yes
\ttype=tunnel
\tleft={west}
\tleftid="{west_dn}"
\tleftca=%same
\tleftsubnet={west_net}
\tleftupdown=%disabled
\tright={east}
\trightid=%fromcert
\trightcert=east
\trightsubnet={east_net}
\trightupdown=%disabled
\tike={ike}
\tesp={esp}
\tauthby={authby}
\tauto=ignore
"""
# Libreswan 4.10 with an ECDSA certificate and its default authby=rsasig,ecdsa signs with RSASSA-PSS
# and fails ("NSS: RSA DSS sign function failed: SEC_ERROR_INVALID_KEY"), sending an empty AUTH:
# its conn must say ecdsa.
LSW_AUTHBY = {"rsa": "rsasig", "ecdsa": "ecdsa"}


def libreswan_import(peer: Libreswan, east: pki.Issued, directory: Path) -> str:
    """east's key and certificate, with the intermediate and the root, into Libreswan's NSS
    database with its own ``ipsec import`` (pk12util asks for the PKCS#12 password on the
    terminal); then the CAs trusted for signing certificates (``certutil -M -t CT,,``, as
    ``ipsec import`` does itself for CA certificates). ``certutil -L``'s listing."""
    pk = certs.host_pki()
    p12 = directory / "east.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"east", east.key, east.cert, [pk.sub.cert, pk.root.cert],
        serialization.BestAvailableEncryption(P12_PASSWORD.encode())))
    peer.init_nss()
    env = dict(os.environ, IPSEC_EXECDIR=str(LSW), IPSEC_SBINDIR=str(LSW_IPSEC.parent))
    rc, out, err = run_with_tty([str(LSW_IPSEC), "import", "--nssdir", str(peer.nss), str(p12)],
                                [("Enter password for PKCS12 file", P12_PASSWORD)], env=env)
    assert rc == 0 and "pk12util: PKCS12 IMPORT SUCCESSFUL" in out + err, out + err
    db = f"sql:{peer.nss}"
    listing = subprocess.run(["certutil", "-L", "-d", db], capture_output=True, text=True, check=True).stdout
    for ca in (certs.ROOT_DN, certs.SUB_DN):
        nick = next(line.rsplit(None, 1)[0] for line in listing.splitlines() if ca.rsplit("=", 1)[1] in line)
        subprocess.run(["certutil", "-M", "-d", db, "-n", nick, "-t", "CT,,"], check=True, capture_output=True)
    return subprocess.run(["certutil", "-L", "-d", db], capture_output=True, text=True, check=True).stdout


@dataclass
class WithLibreswan:
    ours: Pluto
    peer: Libreswan
    kind: str


def _libreswan_pair(netns_pair: Pair, tmp_path: Path, kind: str, mine: pki.Issued | None = None,
                    preloaded: bool = False) -> Iterator[WithLibreswan]:
    """With ``preloaded``: Libreswan sends no certificate (``rightsendcert=never``) and ours
    holds a copy of it (``rightcert=east.pem``, no ``rightid=``: the copy's subject)."""
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan(netns_pair.east, tmp_path / "libreswan")
    listing = libreswan_import(peer, certs.end_cert("east", kind), tmp_path)
    assert re.search(r"^east\s+u,u,u$", listing, re.M), listing  # its own, with the key
    assert re.search(r"^Host Root CA - Pluto Host\s+CT,,\s*$", listing, re.M), listing
    pluto = None
    try:
        conf = tmp_path / "lsw.conf"
        conf.write_text(LIBRESWAN_CERT_CONF.format(west=WEST_IP, east=EAST_IP, west_net=WEST_NET, east_net=EAST_NET,
                                                   west_dn=WEST_DN, ike=IKE, esp=ESP,
                                                   authby=LSW_AUTHBY[kind])
                        + ("\trightsendcert=never\n" if preloaded else ""))
        secrets = tmp_path / "lsw.secrets"
        secrets.write_text("")
        peer.start(conf, secrets)
        peer.add("west-east")
        if preloaded:
            (tmp_path / "ours-ipsec.d" / "certs").mkdir(parents=True, exist_ok=True)
            (tmp_path / "ours-ipsec.d" / "certs" / "east.pem").write_bytes(certs.pem(certs.end_cert("east", kind).cert))
            pluto = _start_ours(netns_pair, tmp_path, kind, "rightcert=east.pem", mine=mine, rightid=None)
        else:
            pluto = _start_ours(netns_pair, tmp_path, kind, mine=mine)
        yield WithLibreswan(pluto, peer, kind)
    finally:
        if pluto is not None:
            pluto.stop()
        peer.stop()


@pytest.fixture(params=certs.KINDS)
def lsw_certs(request: pytest.FixtureRequest, netns_pair: Pair, tmp_path: Path) -> Iterator[WithLibreswan]:
    yield from _libreswan_pair(netns_pair, tmp_path, request.param)


@pytest.fixture
def lsw_stranger(netns_pair: Pair, tmp_path: Path) -> Iterator[WithLibreswan]:
    """Our certificate is issued by a CA Libreswan does not have."""
    yield from _libreswan_pair(netns_pair, tmp_path, "rsa", certs.end_cert("west", "rsa", stranger=True))


# Libreswan 4.10's words for our chain; it signs with SHA2_512 as we do
LSW_SIGNATURE = {"rsa": "2048-bit RSASSA-PSS with SHA2_512", "ecdsa": "P-256 ECDSA with SHA2_512"}


def _libreswan_proof(role: str, kind: str) -> str:
    return f"{role} established IKE SA; authenticated peer '{LSW_SIGNATURE[kind]}' digital signature using peer " \
           f"certificate '{WEST_DN}' issued by CA '{certs.SUB_DN}'"


def test_certs_ours_initiates_to_libreswan(lsw_certs: WithLibreswan) -> None:
    up = lsw_certs.ours.ipsec("up", "west-east")
    out = up.stdout + up.stderr
    assert f"with digital-signature {OUR_SIGNATURE[lsw_certs.kind]} and DER_ASN1_DN '{WEST_DN}'" in out, out
    assert _our_proof("initiator", lsw_certs.kind, LSW_SIGNATURE) in out, \
        out + lsw_certs.ours.log_text() + lsw_certs.peer.log()
    assert _libreswan_proof("responder", lsw_certs.kind) in lsw_certs.peer.log(), lsw_certs.peer.log()
    status = lsw_certs.peer.whack("--status").stdout
    assert "established IKE SA" in status, status
    assert up.returncode == 1 and "Child SA" in up.stderr  # no ESP in this kernel


def test_certs_libreswan_initiates_to_ours(lsw_certs: WithLibreswan) -> None:
    lsw_certs.peer.whack("--name", "west-east", "--initiate", timeout=60)
    assert poll(lambda: _our_ike_up(lsw_certs.ours)), lsw_certs.ours.log_text() + lsw_certs.peer.log()
    assert _our_proof("responder", lsw_certs.kind, LSW_SIGNATURE) in lsw_certs.ours.log_text(), \
        lsw_certs.ours.log_text()
    assert [sa["peer_id"] for sa in lsw_certs.ours.status()["ike_sas"]] == [EAST_DN]
    # as initiator Libreswan drops the IKE SA again when its Child SA install fails: its log is the witness
    assert poll(lambda: _libreswan_proof("initiator", lsw_certs.kind) in lsw_certs.peer.log()), \
        lsw_certs.peer.log()


def test_certs_libreswan_refuses_our_certificate_from_a_ca_it_does_not_trust(lsw_stranger: WithLibreswan) -> None:
    up = lsw_stranger.ours.ipsec("up", "west-east")
    out = up.stdout + up.stderr
    assert up.returncode != 0 and "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED" in out, \
        out + lsw_stranger.peer.log()
    log = lsw_stranger.peer.log()
    assert "NSS: ERROR: IPsec certificate CN=west,O=Pluto Host,C=CA invalid: SEC_ERROR_UNKNOWN_ISSUER" in log, log
    assert "responding to IKE_AUTH message (ID 1) from 192.0.2.1:500 with encrypted notification " \
           "AUTHENTICATION_FAILED" in log, log
    assert not _our_ike_up(lsw_stranger.ours)
    assert "established IKE SA" not in lsw_stranger.peer.whack("--status").stdout


@pytest.fixture
def lsw_preloaded(netns_pair: Pair, tmp_path: Path) -> Iterator[WithLibreswan]:
    yield from _libreswan_pair(netns_pair, tmp_path, "rsa", preloaded=True)


def test_certs_a_preloaded_rightcert_stands_in_for_the_one_libreswan_does_not_send(
        lsw_preloaded: WithLibreswan) -> None:
    """Libreswan with ``rightsendcert=never``; ours with ``rightcert=east.pem`` and no ``rightid=``."""
    up = lsw_preloaded.ours.ipsec("up", "west-east")
    out = up.stdout + up.stderr
    assert "processing IKE_AUTH response from 192.0.2.2:UDP/500 containing SK{IDr,AUTH," in out, \
        out + lsw_preloaded.peer.log()  # no CERT from Libreswan
    assert _our_proof("initiator", "rsa", LSW_SIGNATURE) in out, out + lsw_preloaded.ours.log_text()
    assert _libreswan_proof("responder", "rsa") in lsw_preloaded.peer.log(), lsw_preloaded.peer.log()
