"""Lab: certificate-authenticated tunnels with traffic (issue #17). A root CA and an
intermediate (tests/host/certs.py); our certificate and CAs are files in our ipsecdir
(certs/, cacerts/, the key named in ipsec.secrets), ``leftid=%fromcert``. Libreswan 4.10
holds its certificate in its NSS database (its own ``ipsec import``), strongSwan 5.9.8 in
swanctl's x509/ with only the root in x509ca/ (it needs the intermediate we send). Ours
initiating and answering; the Child SA carries pings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host import certs
from tests.host.test_interop_certs import libreswan_import
from tests.lab import conns
from tests.lab.interop import interop_round
from tests.lab.ours import Ours
from tests.lab.peers import LibreswanPeer, StrongswanPeer, running_in_east
from tests.lab.topology import EAST_IP, EAST_NET, WEST_IP, WEST_NET, LabPair
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.lab

SUITE = conns.Suite("x509", conns.GCM.ike, conns.GCM.esp, conns.GCM.ike_swan, conns.GCM.esp_swan,
                    kernel=conns.GCM_KERNEL)
WEST_DN, EAST_DN = certs.dn("west"), certs.dn("east")


def ours_conf() -> str:
    return conns.ipsec_conf((SUITE,), {SUITE.name: {
        "authby": "rsasig", "leftcert": "west.pem", "leftid": "%fromcert", "rightid": f'"{EAST_DN}"'}})


@pytest.fixture
def ours_with_cert(west: Ours, monkeypatch: pytest.MonkeyPatch, lab_root: Path) -> Iterator[Ours]:
    """Our west daemon with west's RSA certificate, the CAs and the key (``: RSA file``, reread)."""
    pk = certs.host_pki()
    _dir, line = certs.our_ipsecdir(west.root / "ipsec.d", certs.end_cert("west", "rsa"), "west", [pk.root, pk.sub])
    secrets = west.root / "ipsec.secrets"
    before = secrets.read_text()
    secrets.write_text(before + line)
    west.call("rereadsecrets")  # the key, and cacerts/ again
    conf = lab_root / "x509-ours.conf"
    conf.write_text(ours_conf())
    monkeypatch.setattr(west, "config", conf)
    try:
        yield west
    finally:
        secrets.write_text(before)
        west.call("rereadsecrets")


class CertLibreswan(LibreswanPeer):
    """Libreswan with east's certificate, the intermediate and the root (CT,,) in its NSS database."""

    def __init__(self, ns: str, root: Path) -> None:
        super().__init__(ns, root)
        libreswan_import(self.daemon, certs.end_cert("east", "rsa"), root)
        text = conns.ipsec_conf((SUITE,), {SUITE.name: {
            "authby": "rsasig", "leftid": f'"{WEST_DN}"', "leftca": "%same", "rightcert": "east",
            "rightid": "%fromcert"}}, setup="\tdnssec-enable=no\n\tuniqueids=yes\n\tplutodebug=none\n")
        self.config.write_text(text.replace("\tauto=ignore", "\tauto=ignore\n\tleftupdown=%disabled\n"
                                            "\trightupdown=%disabled"))


class CertStrongswan(StrongswanPeer):
    """charon with east's certificate in x509/, only the root in x509ca/, its key in private/."""

    def load(self, suite: conns.Suite) -> None:
        east = certs.end_cert("east", "rsa")
        for sub in ("x509", "x509ca", "private"):
            (self.root / sub).mkdir(exist_ok=True)
        (self.root / "x509" / "east.pem").write_bytes(certs.pem(east.cert))
        (self.root / "x509ca" / "root.pem").write_bytes(certs.pem(certs.host_pki().root.cert))
        certs.write_private(self.root / "private" / "east.key", east.key, pkcs1=True)
        path = self.root / f"swanctl-{suite.name}.conf"
        path.write_text(swanctl_certs(suite))
        result = self.daemon.swanctl("--load-all", "--file", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


def swanctl_certs(suite: conns.Suite) -> str:
    return swanctl_conf(suite.name, local_addrs=EAST_IP, remote_addrs=WEST_IP, proposals=suite.ike_swan,
                        local={"auth": "pubkey", "certs": "east.pem", "id": EAST_DN},
                        remote={"auth": "pubkey", "id": WEST_DN}, local_ts=EAST_NET, remote_ts=WEST_NET,
                        esp=suite.esp_swan)


OUR_PROOF = f"authenticated peer certificate '{EAST_DN}' and 2048-bit"


@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "libreswan-initiates"])
def test_certificate_tunnel_with_libreswan(lab_pair: LabPair, lab_root: Path, ours_with_cert: Ours,
                                           ours_initiates: bool) -> None:
    with running_in_east(CertLibreswan, lab_pair, lab_root / f"libreswan-x509-{ours_initiates}") as peer:
        interop_round(lab_pair, ours_with_cert, peer, SUITE, ours_initiates, peer_id=EAST_DN)
        assert OUR_PROOF in ours_with_cert.log_text()
        assert f"using peer certificate '{WEST_DN}' issued by CA '{certs.SUB_DN}'" in peer.log(), peer.log()[-3000:]


@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "strongswan-initiates"])
def test_certificate_tunnel_with_strongswan(lab_pair: LabPair, lab_root: Path, ours_with_cert: Ours,
                                            ours_initiates: bool) -> None:
    with running_in_east(CertStrongswan, lab_pair, lab_root / f"strongswan-x509-{ours_initiates}") as peer:
        interop_round(lab_pair, ours_with_cert, peer, SUITE, ours_initiates, peer_id=EAST_DN)
        assert OUR_PROOF in ours_with_cert.log_text()
        assert f'received issuer cert "{certs.SUB_DN}"' in peer.log(), peer.log()[-3000:]
