"""Host tier interop, public keys (issue #16): our daemon authenticates with raw RSA, ECDSA and
EdDSA keys, with NULL authentication and with a PSK against a signature, with Libreswan 4.10 and
strongSwan 5.9.8, as initiator and as responder, in network namespaces on this kernel.

Each case is proven by what the peer says (its status or log) and by our log. As in
test_interop_ike.py, this kernel has XFRM but no ESP: the IKE SA comes up on both sides and
the Child SA install fails. Keys are made once per module: Libreswan's with its own
``ipsec newhostkey`` in its NSS database (the public key from its ``showhostkey``), ours in
PEM files named in our ipsec.secrets (the ``files`` source) or with our ``ipsec newhostkey``
in our own NSS database (the ``nss`` source), strongSwan's in PEM files in its swanctl
directory.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pluto_core.ikev2.crypto import pubkeys
from tests.host.daemons import IPSEC, REPO, Pluto, west_east_conf, write_conf
from tests.host.peers import PSK, Libreswan, Strongswan, libreswan_available, strongswan_available
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair, poll
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.host

IKE = "aes_gcm256-sha2_256-dh19"
ESP = "aes_gcm256"
KINDS = ("rsa", "ecdsa", "eddsa")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey



# -- keys, made once --------------------------------------------------------------------------


def _new_key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(65537, 3072)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _write_pem(path: Path, key: PrivateKey) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


@dataclass
class Keys:
    """Our private keys (PEM, PKCS#8) and strongSwan's, one of each kind, and a stranger's RSA key."""

    directory: Path
    ours: dict[str, PrivateKey]
    ours_pem: dict[str, Path]
    theirs: dict[str, PrivateKey]
    stranger: rsa.RSAPrivateKey

    def our_pubkey(self, kind: str) -> str:
        return pubkeys.encode_pubkey(self.ours[kind].public_key())

    def their_pubkey(self, kind: str) -> str:
        return pubkeys.encode_pubkey(self.theirs[kind].public_key())

    def their_pem_public(self, kind: str) -> bytes:
        return self.theirs[kind].public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("keys")
    ours = {kind: _new_key(kind) for kind in KINDS}
    theirs = {kind: _new_key(kind) for kind in KINDS}
    stranger = rsa.generate_private_key(65537, 3072)
    pems = {kind: _write_pem(directory / f"west-{kind}.pem", key) for kind, key in ours.items()}
    return Keys(directory, ours, pems, theirs, stranger)


@dataclass
class NssKey:
    """A host key in an NSS database: the directory, its CKAID and its ``leftrsasigkey=`` text."""

    nssdir: Path
    ckaid: str
    rsasigkey: str


@pytest.fixture(scope="module")
def libreswan_key(tmp_path_factory: pytest.TempPathFactory) -> NssKey:
    """east's RSA host key in Libreswan's NSS database, made by Libreswan's ``ipsec newhostkey``."""
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan("", tmp_path_factory.mktemp("libreswan-key"))
    ckaid = peer.newhostkey()
    shown = peer.showhostkey("--right", "--ckaid", ckaid)
    match = re.search(r"^\s*rightrsasigkey=(0s\S+)$", shown, re.M)
    assert match, shown
    return NssKey(peer.nss, ckaid, match.group(1))


def _our_ipsec(*args: str) -> str:
    """Our ``ipsec`` command: stdout and stderr (``newhostkey`` names the CKAID on stderr, as Libreswan's)."""
    done = subprocess.run([*IPSEC, *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, f"ipsec {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def our_nss_key(tmp_path_factory: pytest.TempPathFactory) -> NssKey:
    """west's RSA host key in our own NSS database, made by our ``ipsec initnss`` / ``newhostkey``."""
    nssdir = tmp_path_factory.mktemp("our-nss")
    _our_ipsec("initnss", "--nssdir", str(nssdir))
    out = _our_ipsec("newhostkey", "--nssdir", str(nssdir))
    match = re.search(r"CKAID ([0-9a-f]{40})", out)
    assert match, out
    shown = _our_ipsec("showhostkey", "--nssdir", str(nssdir), "--left", "--ckaid", match.group(1))
    key = re.search(r"^\s*leftrsasigkey=(0s\S+)$", shown, re.M)
    assert key, shown
    return NssKey(nssdir, match.group(1), key.group(1))


# -- our daemon -------------------------------------------------------------------------------


def _start_ours(netns_pair: Pair, tmp_path: Path, *keywords: str, authby: str | None, secrets: str = "",
                setup: tuple[str, ...] = (), leftid: str | None = "@west",
                rightid: str | None = "@east") -> Pluto:
    conf = west_east_conf("west-east", f"ike={IKE}", f"esp={ESP}", "auto=add", *keywords, authby=authby,
                          setup=setup, leftid=leftid, rightid=rightid)
    config, secrets_file = write_conf(tmp_path, conf, PSK, name="ours", extra_secrets=secrets)
    pluto = Pluto(netns_pair.west, tmp_path / "ours")
    try:
        pluto.start(config, secrets_file)
    except BaseException:
        pluto.stop()
        raise
    return pluto


def _our_ike_up(pluto: Pluto) -> bool:
    return any(sa["established"] for sa in pluto.status()["ike_sas"])


# -- Libreswan --------------------------------------------------------------------------------

LIBRESWAN_PUBKEY_CONF = """\
config setup
\tdnssec-enable=no
\tuniqueids=yes
\tplutodebug=none

conn west-east
\tikev2=yes
\ttype=tunnel
\tleft={west}
\tleftsubnet={west_net}
\tleftupdown=%disabled
\tright={east}
\trightsubnet={east_net}
\trightupdown=%disabled
\tike={ike}
\tesp={esp}
\tauto=ignore
"""


@dataclass
class WithLibreswan:
    """Our daemon (west) and Libreswan (east), both with conn west-east loaded."""

    ours: Pluto
    peer: Libreswan


def _libreswan_pair(netns_pair: Pair, tmp_path: Path, lsw_lines: list[str], ours: Callable[[], Pluto],
                    nssdir: Path | None = None) -> Iterator[WithLibreswan]:
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan(netns_pair.east, tmp_path / "libreswan", nssdir=nssdir)
    pluto = None
    try:
        conf = tmp_path / "lsw.conf"
        conf.write_text(LIBRESWAN_PUBKEY_CONF.format(west=WEST_IP, east=EAST_IP, west_net=WEST_NET, east_net=EAST_NET,
                                                     ike=IKE, esp=ESP) + "".join(f"\t{line}\n" for line in lsw_lines))
        secrets = tmp_path / "lsw.secrets"
        secrets.write_text("")
        peer.start(conf, secrets)
        peer.add("west-east")
        pluto = ours()
        yield WithLibreswan(pluto, peer)
    finally:
        if pluto is not None:
            pluto.stop()
        peer.stop()


@pytest.fixture
def lsw_rsa_pem(netns_pair: Pair, tmp_path: Path, keys: Keys, libreswan_key: NssKey) -> Iterator[WithLibreswan]:
    """Raw RSA: Libreswan's key in its NSS database, ours in a PEM file (files source)."""
    ours_key = pubkeys.encode_rsasigkey(keys.ours["rsa"].public_key())
    yield from _libreswan_pair(
        netns_pair, tmp_path,
        ["authby=rsasig", "leftid=@west", f"leftrsasigkey={ours_key}", "rightid=@east",
         f"rightrsasigkey={libreswan_key.rsasigkey}"],
        lambda: _start_ours(netns_pair, tmp_path, f"leftrsasigkey={ours_key}",
                            f"rightrsasigkey={libreswan_key.rsasigkey}", authby="rsasig",
                            secrets=f": RSA {keys.ours_pem['rsa']}\n"),
        nssdir=libreswan_key.nssdir)


@pytest.fixture
def lsw_rsa_nss(netns_pair: Pair, tmp_path: Path, our_nss_key: NssKey,
                libreswan_key: NssKey) -> Iterator[WithLibreswan]:
    """Raw RSA: both keys made by each side's ``ipsec newhostkey`` in its own NSS database."""
    yield from _libreswan_pair(
        netns_pair, tmp_path,
        ["authby=rsasig", "leftid=@west", f"leftrsasigkey={our_nss_key.rsasigkey}", "rightid=@east",
         f"rightrsasigkey={libreswan_key.rsasigkey}"],
        lambda: _start_ours(netns_pair, tmp_path, f"leftrsasigkey={our_nss_key.rsasigkey}",
                            f"rightrsasigkey={libreswan_key.rsasigkey}", authby="rsasig",
                            setup=(f"nssdir={our_nss_key.nssdir}",)),
        nssdir=libreswan_key.nssdir)


@pytest.fixture
def lsw_null(netns_pair: Pair, tmp_path: Path) -> Iterator[WithLibreswan]:
    yield from _libreswan_pair(
        netns_pair, tmp_path, ["authby=null", "leftid=%null", "rightid=%null"],
        lambda: _start_ours(netns_pair, tmp_path, authby="null", leftid="%null", rightid="%null"))


# Libreswan 4.10's words for the peer it authenticated, and ours (the same facts, ordered as
# in ike_auth.established). Its newhostkey (and ours) add random bits to 3072 (3104, 3824, ...).
LSW_RSA_PROOF = re.compile(r"established IKE SA; authenticated peer '\d+-bit RSASSA-PSS with SHA2_512' "
                           r"digital signature using preloaded certificate '@west'")
OUR_RSA_PROOF = re.compile(r"established IKE SA; authenticated peer using preloaded certificate '@east' and "
                           r"\d+-bit RSASSA-PSS with SHA2_512 digital signature")


def _ours_initiates_to_libreswan(pair: WithLibreswan, ours_proof: re.Pattern[str], lsw_proof: re.Pattern[str]) -> None:
    up = pair.ours.ipsec("up", "west-east")
    assert re.search(f"initiator {ours_proof.pattern}", up.stdout), up.stdout + up.stderr + pair.peer.log()
    status = pair.peer.whack("--status").stdout
    assert "established IKE SA" in status, status
    assert lsw_proof.search(pair.peer.log()), pair.peer.log()
    assert up.returncode == 1 and "Child SA" in up.stderr  # no ESP in this kernel


def _libreswan_initiates_to_ours(pair: WithLibreswan, ours_proof: re.Pattern[str], lsw_proof: re.Pattern[str]) -> None:
    pair.peer.whack("--name", "west-east", "--initiate", timeout=60)
    assert poll(lambda: _our_ike_up(pair.ours)), pair.ours.log_text() + pair.peer.log()
    assert re.search(f"responder {ours_proof.pattern}", pair.ours.log_text()), pair.ours.log_text()
    # as initiator Libreswan drops the IKE SA again when its Child SA install fails: its log is the witness
    assert poll(lambda: lsw_proof.search(pair.peer.log())), pair.peer.log()


def test_rsa_ours_initiates_to_libreswan(lsw_rsa_pem: WithLibreswan) -> None:
    """Our key from a PEM file (files source); Libreswan's from its NSS database."""
    _ours_initiates_to_libreswan(lsw_rsa_pem, OUR_RSA_PROOF, LSW_RSA_PROOF)
    assert "with digital-signature RSASSA-PSS with SHA2_512 and FQDN '@west'" in lsw_rsa_pem.ours.log_text()
    assert "loaded RSA private key from" in lsw_rsa_pem.ours.log_text()


def test_rsa_libreswan_initiates_to_ours(lsw_rsa_pem: WithLibreswan) -> None:
    _libreswan_initiates_to_ours(lsw_rsa_pem, OUR_RSA_PROOF, LSW_RSA_PROOF)


def test_rsa_nss_ours_initiates_to_libreswan(lsw_rsa_nss: WithLibreswan) -> None:
    """Our key from our own NSS database (nss source), made by our ``ipsec newhostkey``."""
    _ours_initiates_to_libreswan(lsw_rsa_nss, OUR_RSA_PROOF, LSW_RSA_PROOF)
    log = lsw_rsa_nss.ours.log_text()
    assert "loaded RSA private key" not in log and "auth source nss" not in log, log  # nss served it


def test_rsa_nss_libreswan_initiates_to_ours(lsw_rsa_nss: WithLibreswan) -> None:
    _libreswan_initiates_to_ours(lsw_rsa_nss, OUR_RSA_PROOF, LSW_RSA_PROOF)


LSW_NULL_PROOF = re.compile(r"established IKE SA; authenticated peer using authby=null and ID_NULL 'ID_NULL'")
OUR_NULL_PROOF = re.compile(r"established IKE SA; authenticated peer using authby=null and NULL 'ID_NULL'")


def test_null_ours_initiates_to_libreswan(lsw_null: WithLibreswan) -> None:
    _ours_initiates_to_libreswan(lsw_null, OUR_NULL_PROOF, LSW_NULL_PROOF)


def test_null_libreswan_initiates_to_ours(lsw_null: WithLibreswan) -> None:
    _libreswan_initiates_to_ours(lsw_null, OUR_NULL_PROOF, LSW_NULL_PROOF)


# -- strongSwan -------------------------------------------------------------------------------

AUTHBY = {"rsa": "rsasig", "ecdsa": "ecdsa", "eddsa": "eddsa"}
SECRETS_KIND = {"rsa": "RSA", "ecdsa": "ECDSA", "eddsa": "EDDSA"}


def _swanctl_conf(local: dict[str, str], remote: dict[str, str]) -> str:
    """east's charon: conn "lab", the same facts as ours; ``local``/``remote`` the auth rounds."""
    return swanctl_conf("lab", local_addrs=EAST_IP, remote_addrs=WEST_IP, proposals="aes256gcm16-prfsha256-ecp256",
                        local={**local, "id": "east"}, remote={**remote, "id": "west"}, local_ts=EAST_NET,
                        remote_ts=WEST_NET, esp="aes256gcm16", psk=("east", "west", PSK))


def _pubkey_round(name: str) -> dict[str, str]:
    return {"auth": "pubkey", "pubkeys": name}


@dataclass
class WithStrongswan:
    """Our daemon (west) and strongSwan's charon (east), both with their conn loaded."""

    ours: Pluto
    peer: Strongswan
    kind: str  # of strongSwan's key (and ours, when both sign)


def _strongswan_pair(netns_pair: Pair, tmp_path: Path, keys: Keys, swanctl_conf: str, ours: Callable[[], Pluto],
                     kind: str = "rsa") -> Iterator[WithStrongswan]:
    """charon with east's private key of ``kind`` in private/ and both public keys in pubkey/
    (east.pem, west.pem; ``stranger.pem`` too)."""
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Strongswan(netns_pair.east, tmp_path / "strongswan")
    _write_pem(peer.root / "private" / "east.pem", keys.theirs[kind])
    (peer.root / "pubkey").mkdir()
    (peer.root / "pubkey" / "east.pem").write_bytes(keys.their_pem_public(kind))
    (peer.root / "pubkey" / "west.pem").write_bytes(keys.ours[kind].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    pluto = None
    try:
        peer.start(swanctl_conf, charon_extra="\trsa_pss = yes\n")
        pluto = ours()
        yield WithStrongswan(pluto, peer, kind)
    finally:
        if pluto is not None:
            pluto.stop()
        peer.stop()


@pytest.fixture(params=KINDS)
def sws_pubkey(request: pytest.FixtureRequest, netns_pair: Pair, tmp_path: Path,
               keys: Keys) -> Iterator[WithStrongswan]:
    """Raw public keys of one kind on both sides: ours in a PEM file (files source), as SPKI in the conn."""
    kind = request.param
    yield from _strongswan_pair(
        netns_pair, tmp_path, keys, _swanctl_conf(_pubkey_round("east.pem"), _pubkey_round("west.pem")),
        lambda: _start_ours(netns_pair, tmp_path, f"leftpubkey={keys.our_pubkey(kind)}",
                            f"rightpubkey={keys.their_pubkey(kind)}", authby=AUTHBY[kind],
                            secrets=f": {SECRETS_KIND[kind]} {keys.ours_pem[kind]}\n"),
        kind)


# strongSwan's words for our signature (rsa_pss = yes; we sign with the strongest hash both take),
# and ours for its (it picks the hash by key strength: SHA-256 for RSA 3072 and P-256).
SWS_SCHEME = {"rsa": "RSA_EMSA_PSS_SHA2_512_SALT_64", "ecdsa": "ECDSA_WITH_SHA512_DER", "eddsa": "ED25519"}
OUR_SCHEME = {"rsa": "3072-bit RSASSA-PSS with SHA2_256", "ecdsa": "P-256 ECDSA with SHA2_256", "eddsa": "Ed25519"}
OUR_SIGNATURE = {"rsa": "RSASSA-PSS with SHA2_512", "ecdsa": "ECDSA with SHA2_512", "eddsa": "Ed25519"}
SWS_OWN = {"rsa": "RSA_EMSA_PSS_SHA2_256_SALT_32", "ecdsa": "ECDSA_WITH_SHA256_DER", "eddsa": "ED25519"}


def _pubkey_proof(kind: str) -> str:
    return f"established IKE SA; authenticated peer using preloaded certificate '@east' and {OUR_SCHEME[kind]}"


def _strongswan_established(pair: WithStrongswan) -> str:
    sas = pair.peer.swanctl("--list-sas").stdout
    return sas if "ESTABLISHED" in sas else ""


def test_pubkey_ours_initiates_to_strongswan(sws_pubkey: WithStrongswan) -> None:
    kind = sws_pubkey.kind
    up = sws_pubkey.ours.ipsec("up", "west-east")
    assert f"with digital-signature {OUR_SIGNATURE[kind]} and FQDN '@west'" in up.stdout, up.stdout
    proof = f"initiator {_pubkey_proof(kind)}"
    assert proof in up.stdout, up.stdout + up.stderr + sws_pubkey.peer.log()
    assert poll(lambda: _strongswan_established(sws_pubkey)), sws_pubkey.peer.log()
    assert f"authentication of 'west' with {SWS_SCHEME[kind]} successful" in sws_pubkey.peer.log(), \
        sws_pubkey.peer.log()


def test_pubkey_strongswan_initiates_to_ours(sws_pubkey: WithStrongswan) -> None:
    kind = sws_pubkey.kind
    sws_pubkey.peer.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
    assert poll(lambda: _our_ike_up(sws_pubkey.ours)), sws_pubkey.ours.log_text() + sws_pubkey.peer.log()
    proof = f"responder {_pubkey_proof(kind)}"
    assert proof in sws_pubkey.ours.log_text(), sws_pubkey.ours.log_text()
    assert f"authentication of 'west' with {SWS_SCHEME[kind]} successful" in sws_pubkey.peer.log(), \
        sws_pubkey.peer.log()
    assert "IKE_SA lab[1] established between 192.0.2.2[east]...192.0.2.1[west]" in sws_pubkey.peer.log()



def test_null_with_strongswan(netns_pair: Pair, tmp_path: Path) -> None:
    """RFC 7619 NULL authentication with strongSwan, if it has it: 5.9.8 does not (swanctl.conf(5)
    lists pubkey, psk, xauth and eap for ``auth``; charon refuses ``auth = null``)."""
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Strongswan(netns_pair.east, tmp_path / "strongswan")
    ours = None
    try:
        try:
            peer.start(swanctl_conf("lab", local_addrs=EAST_IP, remote_addrs=WEST_IP,
                                    proposals="aes256gcm16-prfsha256-ecp256", local={"auth": "null", "id": "%any"},
                                    remote={"auth": "null", "id": "%any"}, local_ts=EAST_NET, remote_ts=WEST_NET,
                                    esp="aes256gcm16"))
        except AssertionError as exc:
            if "loading connection 'lab' failed: invalid value for: auth" in str(exc):
                pytest.skip("strongSwan has no NULL authentication: swanctl --load-all says \"loading connection "
                            "'lab' failed: invalid value for: auth, config discarded\" for auth = null")
            raise
        ours = _start_ours(netns_pair, tmp_path, authby="null", leftid="%null", rightid="%null")
        up = ours.ipsec("up", "west-east")
        assert "initiator established IKE SA; authenticated peer using authby=null" in up.stdout, \
            up.stdout + up.stderr + peer.log()
        assert poll(lambda: "ESTABLISHED" in peer.swanctl("--list-sas").stdout), peer.log()
    finally:
        if ours is not None:
            ours.stop()
        peer.stop()


@pytest.fixture
def sws_asymmetric(netns_pair: Pair, tmp_path: Path, keys: Keys) -> Iterator[WithStrongswan]:
    """We prove ourselves with the PSK, strongSwan with its RSA key (``leftauth=secret rightauth=rsasig``)."""
    their_key = pubkeys.encode_rsasigkey(keys.theirs["rsa"].public_key())
    yield from _strongswan_pair(
        netns_pair, tmp_path, keys, _swanctl_conf(_pubkey_round("east.pem"), {"auth": "psk"}),
        lambda: _start_ours(netns_pair, tmp_path, "leftauth=secret", "rightauth=rsasig",
                            f"rightrsasigkey={their_key}", authby=None))


ASYMMETRIC_OURS = f"{_pubkey_proof('rsa')} digital signature"


def test_asymmetric_ours_initiates_to_strongswan(sws_asymmetric: WithStrongswan) -> None:
    up = sws_asymmetric.ours.ipsec("up", "west-east")
    assert "with shared-key-mac and FQDN '@west'" in up.stdout, up.stdout
    assert f"initiator {ASYMMETRIC_OURS}" in up.stdout, up.stdout + up.stderr + sws_asymmetric.peer.log()
    assert poll(lambda: _strongswan_established(sws_asymmetric)), sws_asymmetric.peer.log()
    assert "authentication of 'west' with pre-shared key successful" in sws_asymmetric.peer.log()
    assert f"authentication of 'east' (myself) with {SWS_OWN['rsa']} successful" in sws_asymmetric.peer.log()


def test_asymmetric_strongswan_initiates_to_ours(sws_asymmetric: WithStrongswan) -> None:
    sws_asymmetric.peer.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
    assert poll(lambda: _our_ike_up(sws_asymmetric.ours)), \
        sws_asymmetric.ours.log_text() + sws_asymmetric.peer.log()
    assert f"responder {ASYMMETRIC_OURS}" in sws_asymmetric.ours.log_text(), sws_asymmetric.ours.log_text()
    assert "authentication of 'west' with pre-shared key successful" in sws_asymmetric.peer.log()
    assert "IKE_SA lab[1] established between 192.0.2.2[east]...192.0.2.1[west]" in sws_asymmetric.peer.log()


@pytest.fixture
def sws_untrusted(netns_pair: Pair, tmp_path: Path, keys: Keys) -> Iterator[WithStrongswan]:
    """strongSwan signs with its RSA key; our conn trusts another (``rightpubkey=`` a stranger's)."""
    yield from _strongswan_pair(
        netns_pair, tmp_path, keys, _swanctl_conf(_pubkey_round("east.pem"), _pubkey_round("west.pem")),
        lambda: _start_ours(netns_pair, tmp_path, f"leftpubkey={keys.our_pubkey('rsa')}",
                            f"rightpubkey={pubkeys.encode_pubkey(keys.stranger.public_key())}", authby="rsasig",
                            secrets=f": RSA {keys.ours_pem['rsa']}\n"))


def test_untrusted_key_strongswan_initiates(sws_untrusted: WithStrongswan) -> None:
    """We answer AUTHENTICATION_FAILED; no IKE SA on either side."""
    sws_untrusted.peer.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
    assert poll(lambda: "AUTHENTICATION_FAILED" in sws_untrusted.peer.log()), \
        sws_untrusted.ours.log_text() + sws_untrusted.peer.log()
    log = sws_untrusted.ours.log_text()
    assert "authentication of peer FQDN '@east' using authby=rsasig failed: bad signature (1 trusted key): " \
        "sending AUTHENTICATION_FAILED" in log, log
    assert "received AUTHENTICATION_FAILED notify error" in sws_untrusted.peer.log(), sws_untrusted.peer.log()
    assert not _our_ike_up(sws_untrusted.ours) and "established" not in log
    assert "ESTABLISHED" not in sws_untrusted.peer.swanctl("--list-sas").stdout


def test_untrusted_key_ours_initiates(sws_untrusted: WithStrongswan) -> None:
    """strongSwan's IKE_AUTH response is signed with a key we do not trust: we delete the IKE SA."""
    up = sws_untrusted.ours.ipsec("up", "west-east")
    assert "authentication of peer FQDN '@east' using authby=rsasig failed: bad signature (1 trusted key): " \
        "AUTHENTICATION_FAILED" in up.stdout, up.stdout + up.stderr
    assert up.returncode != 0 and not _our_ike_up(sws_untrusted.ours)
    # strongSwan authenticated us, then our Delete takes its IKE SA away
    assert "authentication of 'west' with RSA_EMSA_PSS_SHA2_512_SALT_64 successful" in sws_untrusted.peer.log()
    assert poll(lambda: "ESTABLISHED" not in sws_untrusted.peer.swanctl("--list-sas").stdout), \
        sws_untrusted.peer.log()
    assert "received DELETE for IKE_SA lab[1]" in sws_untrusted.peer.log(), sws_untrusted.peer.log()
