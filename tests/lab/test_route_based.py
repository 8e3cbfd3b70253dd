"""Route-based VPNs on a kernel with ESP and XFRM interfaces, against Libreswan 4.10 in east
(policy-based there: if_id and marks are local kernel state, nothing of them is on the wire).

- ``ipsec-interface=1``: adding the conn creates ``ipsec1`` (``ip -d link``: xfrm, if_id 0x1,
  up); the Child SA's SAs and policies carry ``if_id 0x1``; a ping that follows the ordinary
  route gets no answer (the if_id policies do not match it, east drops the clear packet);
  once 203.0.113.0/24 is routed into ``ipsec1`` the pings cross with the ESP counters moving
  on both hosts; ``ipsec delete`` removes ``ipsec1``.
- ``mark-in=``/``mark-out=``: the inbound SA and in/fwd policies carry mark-in, the outbound
  SA and out policy mark-out (``ip xfrm state/policy``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import conns
from tests.lab.checks import esp_states, ping_through, wait_for_esp_pairs, wait_no_esp
from tests.lab.interop import loaded
from tests.lab.ours import Ours
from tests.lab.peers import LibreswanPeer, running_in_east
from tests.lab.topology import EAST_IN, EAST_IP, EAST_NET, WEST_IN, LabPair, wait_for
from tests.netns import run

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def libreswan(lab_pair: LabPair, lab_root: Path) -> Iterator[LibreswanPeer]:
    with running_in_east(LibreswanPeer, lab_pair, lab_root / "libreswan-route") as peer:
        yield peer


def _link(pair: LabPair, name: str) -> str:
    return run("ip", "-n", pair.west, "-d", "link", "show", name, check=False).stdout


def test_ipsec_interface_carries_routed_ping(lab_pair: LabPair, west: Ours, libreswan: LibreswanPeer) -> None:
    suite = conns.XFRMI
    pair = lab_pair
    with loaded(pair, west, libreswan, suite):
        link = _link(pair, "ipsec1")
        assert "xfrm if_id 0x1" in link and ",UP" in link, (link, west.log_text()[-2000:])
        assert '"xfrmi": created XFRM interface ipsec1 (if_id 1)' in west.log_text()
        west.up(suite.name)
        wait_for(lambda: west.children(suite.name), 60, "our Child SA", interval=1.0)
        wait_for_esp_pairs(pair)
        ours = esp_states(pair, pair.west)
        assert len(ours) == 2 and all(sa.get("if_id") == "0x1" for sa in ours), ours
        theirs = esp_states(pair, pair.east)
        assert all("if_id" not in sa for sa in theirs), theirs  # Libreswan's side is policy-based
        mine = [p for p in pair.policies(pair.west) if p.get("tmpl")]
        assert {p["dir"] for p in mine} == {"out", "in", "fwd"}, mine
        assert all(p.get("if_id") == "0x1" for p in mine), mine
        # the ordinary route (via east's outer address) is not protected by if_id policies
        missed = pair.ping(pair.west, WEST_IN, EAST_IN, count=2, deadline=4)
        assert missed.received == 0, missed.output
        run("ip", "-n", pair.west, "route", "replace", EAST_NET, "dev", "ipsec1", "src", WEST_IN)
        try:
            ping_through(pair, suite)
        finally:
            run("ip", "-n", pair.west, "route", "replace", EAST_NET, "via", EAST_IP, "src", WEST_IN)
        west.down(suite.name)
        wait_no_esp(pair, pair.west)
        west.delete(suite.name)
        assert _link(pair, "ipsec1") == ""
        assert '"xfrmi": deleted XFRM interface ipsec1' in west.log_text()


def test_marks_on_sas_and_policies(lab_pair: LabPair, west: Ours, libreswan: LibreswanPeer) -> None:
    suite = conns.MARKED
    pair = lab_pair
    with loaded(pair, west, libreswan, suite):
        west.up(suite.name)
        wait_for(lambda: west.children(suite.name), 60, "our Child SA", interval=1.0)
        wait_for_esp_pairs(pair)
        by_dst = {sa["dst"]: sa for sa in esp_states(pair, pair.west)}
        assert by_dst[EAST_IP]["mark"] == "0x20/0xff", by_dst  # outbound
        assert by_dst[pair.west_ip]["mark"] == "0x10/0xff", by_dst  # inbound
        marks = {p["dir"]: p.get("mark") for p in pair.policies(pair.west) if p.get("tmpl")}
        assert marks == {"out": "0x20/0xff", "in": "0x10/0xff", "fwd": "0x10/0xff"}, marks
        west.down(suite.name)
        wait_no_esp(pair, pair.west)
