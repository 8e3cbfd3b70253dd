"""Interop with strongSwan 5.9.8 (charon + swanctl, curve25519 from the extra
plugins): IKEv2 PSK, ESP in tunnel mode with AES-GCM-16-256 and
AES-CBC-256/HMAC-SHA2-256-128, ours as initiator and as responder; transport
mode with ours as responder; then liveness: charon killed with SIGKILL, our
daemon removes its SAs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import conns
from tests.lab.checks import ping_through, wait_for_esp_pairs, wait_no_esp
from tests.lab.interop import interop_round
from tests.lab.ours import Ours
from tests.lab.peers import StrongswanPeer, running_in_east
from tests.lab.topology import LabPair, wait_for

pytestmark = pytest.mark.lab

# seconds a daemon under qemu's software emulation may lag behind its timers (status
# polling, a control round trip and the kernel's own work included)
EMULATION_SLACK = 8.0


@pytest.fixture(scope="module")
def strongswan(lab_pair: LabPair, lab_root: Path) -> Iterator[StrongswanPeer]:
    with running_in_east(StrongswanPeer, lab_pair, lab_root / "strongswan") as peer:
        yield peer


@pytest.mark.parametrize("suite", [conns.GCM, conns.CBC], ids=lambda s: s.name)
@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "strongswan-initiates"])
def test_tunnel(lab_pair: LabPair, west: Ours, strongswan: StrongswanPeer, suite: conns.Suite,
                ours_initiates: bool) -> None:
    interop_round(lab_pair, west, strongswan, suite, ours_initiates)


# Needs the IKE sockets' bypass policy: without it our IKE_AUTH response, sent after
# the host-to-host SAs are installed, leaves ESP-protected and charon drops it.
def test_transport_mode_strongswan_initiates(lab_pair: LabPair, west: Ours, strongswan: StrongswanPeer) -> None:
    interop_round(lab_pair, west, strongswan, conns.TRANSPORT, ours_initiates=False)


def test_liveness_removes_sas_of_a_killed_peer(lab_pair: LabPair, west: Ours, strongswan: StrongswanPeer) -> None:
    """Last in this module: dpddelay=2s, dpdtimeout=10s. After SIGKILL to charon
    our probe goes unanswered; within dpddelay + dpdtimeout (12 s, plus a few
    seconds of emulation slack) the IKE SA is declared dead and our SAs and
    policies leave the kernel."""
    suite = conns.DPD
    strongswan.load(suite)
    west.add(suite.name)
    try:
        west.up(suite.name)
        wait_for_esp_pairs(lab_pair)
        ping_through(lab_pair, suite)
        strongswan.kill()
        killed = time.monotonic()
        wait_no_esp(lab_pair, lab_pair.west, timeout=60)
        noticed = time.monotonic() - killed
        wait_for(lambda: not lab_pair.policies(lab_pair.west), 30, "west to remove its policies")
        assert west.children(suite.name) == [] and west.ike_sas(suite.name) == []
        assert "10 second timeout exceeded" in west.log_text(), west.log_text()[-3000:]
        assert noticed <= 2 + 10 + EMULATION_SLACK, noticed
    finally:
        west.forget(suite.name)
        lab_pair.flush(lab_pair.west)
        lab_pair.flush(lab_pair.east)
