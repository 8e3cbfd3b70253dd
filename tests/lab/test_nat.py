"""A road warrior behind a NAT (nft masquerade in a namespace of its own): our
daemon on the road keys a tunnel with a server on east that accepts any peer
address, played by our daemon, Libreswan 4.10 and strongSwan 5.9.8 in turn.

NAT traversal (RFC 7296 section 2.23, RFC 3948): NAT detection in IKE_SA_INIT,
IKE_AUTH and the rest on UDP 4500, ESP in UDP on both sides. East sees the road
warrior at the NAT's public address (its IKE SA and kernel SAs name 192.0.2.3),
the road warrior its own private 10.9.0.2; pings cross with the ESP counters
moving on both sides, and `ipsec down` clears both kernels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.host.peers import Libreswan, Strongswan
from tests.lab import conns
from tests.lab.checks import esp_states, wait_for_esp_pairs, wait_no_esp
from tests.lab.ours import Ours, initialized
from tests.lab.peers import require_installed
from tests.lab.topology import (
    EAST_IN,
    EAST_IP,
    EAST_NET,
    NAT_PUBLIC,
    ROAD_IP,
    ROAD_NET,
    NatLab,
    make_nat_lab,
    remove_nat_lab,
    wait_for,
)

pytestmark = pytest.mark.lab

COMMON = f"""\
\tauthby=secret
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tleftid=@road
\tright={EAST_IP}
\trightid=@east
\trightsubnet={EAST_NET}
\tauto=ignore
"""
# The road warrior knows only its own address; its traffic selector is that host.
ROAD_CONF = f"config setup\n\tlogtime=no\n\nconn road\n\tleft={ROAD_IP}\n{COMMON}"
# East accepts the road warrior from any address, with the road's private subnet behind it.
EAST_CONF = f"config setup\n\tlogtime=no\n\nconn road\n\tleft=%any\n\tleftsubnet={ROAD_NET}\n{COMMON}"
LIBRESWAN_CONF = (f"config setup\n\tdnssec-enable=no\n\tuniqueids=yes\n\tplutodebug=none\n\n"
                  f"conn road\n\tleft=%any\n\tleftsubnet={ROAD_NET}\n\tnarrowing=yes\n"
                  f"\tleftupdown=%disabled\n\trightupdown=%disabled\n{COMMON}")
# strongSwan's server conn: the GCM suite renamed "road", any peer address, the road's subnet
SWANCTL_CONF = conns.swanctl_conf(dataclasses.replace(conns.GCM, name="road"), remote_addrs="%any",
                                  remote_ts=ROAD_NET, remote_id="road")


class Server(Protocol):
    kind: str

    def log(self) -> str: ...
    def stop(self) -> None: ...


@pytest.fixture(scope="module")
def nat_lab() -> Iterator[NatLab]:
    lab = make_nat_lab()
    try:
        yield lab
    finally:
        remove_nat_lab(lab)


@pytest.fixture(scope="module")
def road(nat_lab: NatLab, lab_root: Path) -> Iterator[Ours]:
    daemon = Ours(nat_lab.west, lab_root / "ours-road")
    daemon.launch_with(ROAD_CONF)
    with initialized(daemon):
        daemon.add("road")
        yield daemon


class OursServer:
    kind = "ours"

    def __init__(self, ns: str, root: Path) -> None:
        self.daemon = Ours(ns, root)
        self.daemon.launch_with(EAST_CONF)
        self.daemon.ensure_initialized()
        self.daemon.add("road")

    def log(self) -> str:
        return self.daemon.log_text()

    def stop(self) -> None:
        self.daemon.stop()


class LibreswanServer:
    kind = "libreswan"

    def __init__(self, ns: str, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "ipsec.conf").write_text(LIBRESWAN_CONF)
        (root / "ipsec.secrets").write_text(conns.SECRETS)
        (root / "ipsec.secrets").chmod(0o600)
        self.daemon = Libreswan(ns, root)
        self.daemon.start(root / "ipsec.conf", root / "ipsec.secrets")
        self.daemon.add("road")

    def log(self) -> str:
        return self.daemon.log()

    def stop(self) -> None:
        self.daemon.stop()


class StrongswanServer:
    kind = "strongswan"

    def __init__(self, ns: str, root: Path) -> None:
        self.daemon = Strongswan(ns, root)
        self.daemon.start(SWANCTL_CONF)

    def log(self) -> str:
        return self.daemon.log()

    def stop(self) -> None:
        self.daemon.stop()


@pytest.fixture(scope="module", params=["ours", "libreswan", "strongswan"])
def server(request: pytest.FixtureRequest, nat_lab: NatLab, lab_root: Path) -> Iterator[Server]:
    kind = request.param
    root = lab_root / f"nat-east-{kind}"
    started: Server
    if kind == "ours":
        started = OursServer(nat_lab.east, root)
    elif kind == "libreswan":
        require_installed(kind)
        started = LibreswanServer(nat_lab.east, root)
    else:
        require_installed(kind)
        started = StrongswanServer(nat_lab.east, root)
    try:
        yield started
    finally:
        started.stop()
        nat_lab.flush(nat_lab.east)


def test_masquerade_fixture(nat_lab: NatLab) -> None:
    """The NAT works as a home router's: the road warrior reaches east, whose
    answers find their way back through the masquerade."""
    result = nat_lab.ping(nat_lab.west, ROAD_IP, EAST_IP, count=2)
    assert result.received == 2, result.output
    table = nat_lab.exec(nat_lab.nat, "nft", "list", "table", "ip", "lab_nat").stdout
    assert "masquerade" in table, table


def test_road_warrior_behind_nat(nat_lab: NatLab, road: Ours, server: Server) -> None:
    try:
        road.up("road")
        wait_for_esp_pairs(nat_lab)
        (ike,) = road.ike_sas("road")
        assert ike["local"] == [ROAD_IP, 4500] and ike["remote"] == [EAST_IP, 4500], ike  # floated
        assert "NAT detected: we are behind a NAT" in road.log_text()
        # ESP in UDP both ways; east's SAs name the NAT, the road's name itself
        east_sas = esp_states(nat_lab, nat_lab.east)
        assert {(s["src"], s["dst"]) for s in east_sas} == {(NAT_PUBLIC, EAST_IP), (EAST_IP, NAT_PUBLIC)}
        road_sas = esp_states(nat_lab, nat_lab.west)
        assert {(s["src"], s["dst"]) for s in road_sas} == {(ROAD_IP, EAST_IP), (EAST_IP, ROAD_IP)}
        for sa in east_sas + road_sas:
            assert sa.get("encap", {}).get("type") == "espinudp", sa
        for sa in road_sas:
            assert (sa["encap"]["sport"], sa["encap"]["dport"]) == ("4500", "4500"), sa
        (child,) = road.children("road")
        assert child["local_ts"] == [f"{ROAD_IP}/32"] and child["remote_ts"] == [EAST_NET], child
        before = {ns: nat_lab.esp_packets(ns) for ns in (nat_lab.west, nat_lab.east)}
        ping = nat_lab.ping(nat_lab.west, ROAD_IP, EAST_IN, count=3)
        assert ping.received == 3, ping.output
        for ns in before:
            after = nat_lab.esp_packets(ns)
            assert after["in"] - before[ns]["in"] >= 3 and after["out"] - before[ns]["out"] >= 3, (ns, after)
        if server.kind == "ours":
            assert f"NAT detected: the peer is behind a NAT (peer seen at {NAT_PUBLIC}:" in server.log()
        road.down("road")
        wait_no_esp(nat_lab, nat_lab.west)
        wait_no_esp(nat_lab, nat_lab.east)
        wait_for(lambda: not road.ike_sas("road"), 30, "the road warrior to delete its IKE SA")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- road log ---\n{road.log_text()[-3000:]}"
                             f"\n--- {server.kind} log ---\n{server.log()[-4000:]}") from None
    finally:
        road.down("road")
        nat_lab.flush(nat_lab.west)
        nat_lab.flush(nat_lab.east)
