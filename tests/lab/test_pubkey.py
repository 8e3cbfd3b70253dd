"""Lab: raw-key tunnels with traffic. RSA signatures with Libreswan 4.10 (its key in its
NSS database, made by its own ``ipsec newhostkey``) and with strongSwan 5.9.8 (raw
public keys, ``auth = pubkey``), ours initiating and answering; our private key is a
PEM file named in ipsec.secrets (the ``files`` auth source)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pluto_core.ikev2.crypto import pubkeys
from tests.lab import conns
from tests.lab.interop import interop_round
from tests.lab.ours import Ours
from tests.lab.peers import LibreswanPeer, StrongswanPeer, running_in_east
from tests.lab.topology import EAST_IP, EAST_NET, WEST_IP, WEST_NET, LabPair
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.lab

SUITE = conns.Suite("rawrsa", conns.GCM.ike, conns.GCM.esp, conns.GCM.ike_swan, conns.GCM.esp_swan,
                    kernel=conns.GCM_KERNEL)
WEST_KEY = rsa.generate_private_key(65537, 3072)
EAST_KEY = rsa.generate_private_key(65537, 3072)  # strongSwan's (Libreswan makes its own)


def pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#1 PEM ("RSA PRIVATE KEY"): what swanctl's pkcs1 plugin reads, and our files source too."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def rsasig_conf(east_pub: str, setup: str = "\tlogtime=no\n") -> str:
    """The conn on both sides (ours and Libreswan's ipsec.conf): RSA both ways, raw keys."""
    return conns.ipsec_conf((SUITE,), {SUITE.name: {
        "authby": "rsasig", "leftrsasigkey": pubkeys.encode_rsasigkey(WEST_KEY.public_key()),
        "rightrsasigkey": east_pub}}, setup=setup)


@pytest.fixture
def ours_with_key(west: Ours, lab_root: Path) -> Iterator[Ours]:
    """Our west daemon holding WEST_KEY (``: RSA file`` in its secrets, reread)."""
    key_file = lab_root / "west-rsa.pem"
    key_file.write_bytes(pem(WEST_KEY))
    key_file.chmod(0o600)
    secrets = west.root / "ipsec.secrets"
    before = secrets.read_text()
    secrets.write_text(before + f"@west : RSA {key_file}\n")
    west.call("rereadsecrets")
    try:
        yield west
    finally:
        secrets.write_text(before)
        west.call("rereadsecrets")


class RawKeyLibreswan(LibreswanPeer):
    """Libreswan with a host key of its own in its NSS database and the rsasig conn."""

    def __init__(self, ns: str, root: Path) -> None:
        super().__init__(ns, root)
        ckaid = self.daemon.newhostkey()
        right = self.daemon.showhostkey("--right", "--ckaid", ckaid)
        self.east_pub = next(line.split("=", 1)[1].strip() for line in right.splitlines()
                             if "rightrsasigkey=" in line)
        text = rsasig_conf(self.east_pub, setup="\tdnssec-enable=no\n\tuniqueids=yes\n\tplutodebug=none\n")
        self.config.write_text(text.replace("\tauto=ignore", "\tauto=ignore\n\tleftupdown=%disabled\n"
                                            "\trightupdown=%disabled"))


class RawKeyStrongswan(StrongswanPeer):
    """charon with EAST_KEY and west's public key as raw keys (``auth = pubkey``)."""

    def load(self, suite: conns.Suite) -> None:
        for sub in ("private", "pubkey"):
            (self.root / sub).mkdir(exist_ok=True)
        (self.root / "private" / "east.pem").write_bytes(pem(EAST_KEY))
        for name, key in (("east", EAST_KEY), ("west", WEST_KEY)):
            (self.root / "pubkey" / f"{name}.pem").write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        path = self.root / f"swanctl-{suite.name}.conf"
        path.write_text(swanctl_pubkey(suite))
        result = self.daemon.swanctl("--load-all", "--file", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


def swanctl_pubkey(suite: conns.Suite) -> str:
    return swanctl_conf(suite.name, local_addrs=EAST_IP, remote_addrs=WEST_IP, proposals=suite.ike_swan,
                        local={"auth": "pubkey", "id": "east", "pubkeys": "east.pem"},
                        remote={"auth": "pubkey", "id": "west", "pubkeys": "west.pem"},
                        local_ts=EAST_NET, remote_ts=WEST_NET, esp=suite.esp_swan)


@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "libreswan-initiates"])
def test_rsa_raw_keys_with_libreswan(lab_pair: LabPair, lab_root: Path, ours_with_key: Ours,
                                     monkeypatch: pytest.MonkeyPatch, ours_initiates: bool) -> None:
    with running_in_east(RawKeyLibreswan, lab_pair, lab_root / f"libreswan-rsa-{ours_initiates}") as peer:
        ours_conf = lab_root / "rsasig-libreswan.conf"
        ours_conf.write_text(rsasig_conf(peer.east_pub))
        monkeypatch.setattr(ours_with_key, "config", ours_conf)
        interop_round(lab_pair, ours_with_key, peer, SUITE, ours_initiates)
        assert "authenticated peer using preloaded certificate '@east' and" in ours_with_key.log_text()
        assert "RSASSA-PSS" in peer.log(), peer.log()[-3000:]


@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "strongswan-initiates"])
def test_rsa_raw_keys_with_strongswan(lab_pair: LabPair, lab_root: Path, ours_with_key: Ours,
                                      monkeypatch: pytest.MonkeyPatch, ours_initiates: bool) -> None:
    with running_in_east(RawKeyStrongswan, lab_pair, lab_root / f"strongswan-rsa-{ours_initiates}") as peer:
        ours_conf = lab_root / "rsasig-strongswan.conf"
        ours_conf.write_text(rsasig_conf(pubkeys.encode_rsasigkey(EAST_KEY.public_key())))
        monkeypatch.setattr(ours_with_key, "config", ours_conf)
        interop_round(lab_pair, ours_with_key, peer, SUITE, ours_initiates)
        assert "authenticated peer using preloaded certificate '@east' and 3072-bit" in ours_with_key.log_text()
