"""Shunts in a kernel with ESP, with both backends (XFRM, and PF_KEY over Linux
``af_key``): what a ping between the inside subnets does is the witness.

- ``type=passthrough`` routed: the ping gets through in clear text (no ESP SA);
  ``type=drop`` routed: not one answer; unrouted: the ping passes again.
- a trap conn with ``failureshunt=passthrough`` towards a peer with no IKE
  daemon: the trap holds the ping while the negotiation runs; when it times out
  the failure shunt takes the trap's place and the ping passes in clear.

A pair of namespaces of its own, with nothing in east but the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.daemons import west_east_conf
from tests.lab.ours import Ours, initialized
from tests.lab.topology import (
    EAST_IN,
    EAST_NET,
    WEST_IN,
    LabPair,
    fresh_pair,
    wait_for,
)

pytestmark = pytest.mark.lab

CONF = west_east_conf("%default") + """
conn clear
\ttype=passthrough
\tauto=add

conn block
\ttype=drop
\tauto=add

conn failpass
\tesp=aes256-sha1
\tretransmit-timeout=6s
\tfailureshunt=passthrough
\tauto=add
"""


@pytest.fixture(scope="module")
def shunt_pair() -> Iterator[LabPair]:
    with fresh_pair() as pair:
        yield pair


@pytest.fixture(scope="module", params=["xfrm", "bsdkame"])
def west(request: pytest.FixtureRequest, shunt_pair: LabPair, lab_root: Path) -> Iterator[Ours]:
    daemon = Ours(shunt_pair.west, lab_root / f"shunts-{request.param}")
    daemon.launch_with(CONF, f"--use-{request.param}")
    with initialized(daemon, flush=shunt_pair):
        yield daemon


def policies_to_east(pair: LabPair) -> list[dict]:
    return [p for p in pair.policies(pair.west) if EAST_NET in (p["src"], p["dst"])]


def test_passthrough_and_drop_shunts_decide_the_ping(shunt_pair: LabPair, west: Ours) -> None:
    pair = shunt_pair
    assert pair.ping(pair.west, WEST_IN, EAST_IN).received == 3  # no policy yet: plain routing

    west.call("route", name="clear")
    shown = policies_to_east(pair)
    assert {p["dir"] for p in shown} == {"out", "in", "fwd"}, shown
    assert all(p["action"] == "allow" and not p["tmpl"] for p in shown), shown
    result = pair.ping(pair.west, WEST_IN, EAST_IN)
    assert result.received == 3, result.output
    assert [s for s in pair.states(pair.west) if s.get("proto") == "esp"] == []  # clear text, no SA

    west.call("unroute", name="clear")
    west.call("route", name="block")
    shown = policies_to_east(pair)
    assert {p["dir"] for p in shown} == {"out", "in", "fwd"}, shown
    assert all(p["action"] == "block" and not p["tmpl"] for p in shown), shown
    result = pair.ping(pair.west, WEST_IN, EAST_IN, count=3, deadline=4)
    assert result.received == 0, result.output

    west.call("unroute", name="block")
    assert policies_to_east(pair) == []
    assert pair.ping(pair.west, WEST_IN, EAST_IN).received == 3


def test_failureshunt_passthrough_replaces_the_trap(shunt_pair: LabPair, west: Ours) -> None:
    pair = shunt_pair
    west.call("route", name="failpass")
    trap = [p for p in policies_to_east(pair) if p["dir"] == "out"]
    assert len(trap) == 1 and trap[0]["tmpl"], trap
    # The ping wakes the trap (ACQUIRE); east runs no IKE daemon, so the trap holds it.
    held = pair.ping(pair.west, WEST_IN, EAST_IN, count=2, deadline=3)
    assert held.received == 0, held.output

    def shunted() -> bool:
        out = [p for p in policies_to_east(pair) if p["dir"] == "out"]
        return len(out) == 1 and not out[0]["tmpl"] and out[0]["action"] == "allow"

    wait_for(shunted, 90, "the failure shunt in place of the trap")
    result = pair.ping(pair.west, WEST_IN, EAST_IN)
    assert result.received == 3, result.output
    west.call("unroute", name="failpass")
    assert policies_to_east(pair) == []
