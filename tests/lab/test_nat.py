"""A road warrior behind a NAT (nft masquerade in a namespace of its own) keys a
tunnel with our daemon on east, whose conn accepts any peer address (``left=%any``).

East sees the road warrior at the NAT's public address: its IKE SA, its kernel
SAs and their counters all name 192.0.2.3, while the road warrior's name its
own private 10.9.0.2. This is the topology NAT traversal (RFC 7296 section 2.23,
RFC 3948) is tested on; here the masquerade carries IKE on port 500 and ESP
itself (the kernel's connection tracking translates protocol 50 for a single
client), which is what works without NAT-T.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import conns
from tests.lab.checks import esp_states, wait_for_esp_pairs, wait_no_esp
from tests.lab.ours import Ours
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


@pytest.fixture(scope="module")
def nat_lab() -> Iterator[NatLab]:
    lab = make_nat_lab()
    try:
        yield lab
    finally:
        remove_nat_lab(lab)


@pytest.fixture(scope="module")
def road_and_east(nat_lab: NatLab, lab_root: Path) -> Iterator[tuple[Ours, Ours]]:
    road = Ours(nat_lab.west, lab_root / "ours-road")
    east = Ours(nat_lab.east, lab_root / "ours-nat-east")
    road.launch_with(ROAD_CONF)
    east.launch_with(EAST_CONF)
    try:
        road.ensure_initialized()
        east.ensure_initialized()
        yield road, east
    finally:
        road.stop()
        east.stop()


def test_masquerade_fixture(nat_lab: NatLab) -> None:
    """The NAT works as a home router's: the road warrior reaches east, east only
    ever sees the NAT's address (its reply goes back through the masquerade)."""
    result = nat_lab.ping(nat_lab.west, ROAD_IP, EAST_IP, count=2)
    assert result.received == 2, result.output
    table = nat_lab.exec(nat_lab.nat, "nft", "list", "table", "ip", "lab_nat").stdout
    assert "masquerade" in table, table


def test_road_warrior_behind_nat(nat_lab: NatLab, road_and_east: tuple[Ours, Ours]) -> None:
    road, east = road_and_east
    road.add("road")
    east.add("road")
    try:
        road.up("road")
        wait_for_esp_pairs(nat_lab)
        # east's view: the peer is the NAT; the road warrior's: itself and east
        (ike,) = east.ike_sas("road")
        assert ike["remote"][0] == NAT_PUBLIC and ike["peer_id"] == "@road", ike
        assert {(s["src"], s["dst"]) for s in esp_states(nat_lab, nat_lab.east)} == \
            {(NAT_PUBLIC, EAST_IP), (EAST_IP, NAT_PUBLIC)}
        assert {(s["src"], s["dst"]) for s in esp_states(nat_lab, nat_lab.west)} == \
            {(ROAD_IP, EAST_IP), (EAST_IP, ROAD_IP)}
        (child,) = east.children("road")
        assert child["remote_ts"] == [f"{ROAD_IP}/32"], child  # narrowed to the road warrior's host
        before = {ns: nat_lab.esp_packets(ns) for ns in (nat_lab.west, nat_lab.east)}
        ping = nat_lab.ping(nat_lab.west, ROAD_IP, EAST_IN, count=3)
        assert ping.received == 3, ping.output
        for ns in before:
            after = nat_lab.esp_packets(ns)
            assert after["in"] - before[ns]["in"] >= 3 and after["out"] - before[ns]["out"] >= 3, (ns, after)
        road.down("road")
        wait_no_esp(nat_lab, nat_lab.west)
        wait_no_esp(nat_lab, nat_lab.east)
        wait_for(lambda: not east.ike_sas("road"), 30, "east to delete the IKE SA")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- road log ---\n{road.log_text()[-3000:]}"
                             f"\n--- east log ---\n{east.log_text()[-3000:]}") from None
    finally:
        road.forget("road")
        east.forget("road")
        nat_lab.flush(nat_lab.west)
        nat_lab.flush(nat_lab.east)
