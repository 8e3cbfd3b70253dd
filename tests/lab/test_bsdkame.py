"""Our daemon with ``--use-bsdkame`` (PF_KEY v2 over Linux ``af_key``) against
Libreswan 4.10 and strongSwan 5.9.8: ESP with AES-CBC and HMAC-SHA1-96 (what
``af_key`` can install), ours as initiator and as responder; an ``auto=ondemand``
conn started by the kernel's SADB_ACQUIRE; a rekey started by SADB_EXPIRE
(``ipsec-max-packets``: a limit only the kernel counts).

A pair of namespaces of its own: the session's west runs our daemon over XFRM.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pluto_core.control.client import ControlError
from tests.lab import conns
from tests.lab.checks import (
    assert_kernel_algorithms,
    esp_states,
    ping_through,
    pinging,
    wait_for_esp_pairs,
    wait_no_esp,
)
from tests.lab.interop import interop_round, loaded
from tests.lab.ours import Ours, initialized
from tests.lab.peers import LibreswanPeer, Peer, StrongswanPeer, running_in_east
from tests.lab.topology import EAST_IN, WEST_IN, LabPair, fresh_pair, wait_for

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def kame_pair() -> Iterator[LabPair]:
    with fresh_pair() as pair:
        yield pair


@pytest.fixture(scope="module")
def kame(kame_pair: LabPair, lab_root: Path) -> Iterator[Ours]:
    """Our daemon over PF_KEY in west; KAME_ONDEMAND is auto=ondemand, so its trap
    policy goes in with SADB_X_SPDADD at start-up."""
    daemon = Ours(kame_pair.west, lab_root / "ours-kame")
    daemon.launch_with(conns.ipsec_conf(conns.ALL, overrides={"kameondemand": {"auto": "ondemand"}}),
                       "--use-bsdkame")
    with initialized(daemon):
        # The start-up conn and its trap share addresses and selectors with every other
        # conn here (a responder would pick it for them): take both out
        # (test_startup_trap_and_refused_algorithms checks it); the ondemand test adds
        # and routes the conn again.
        daemon.call("unroute", name="kameondemand")
        daemon.call("delete", name="kameondemand")
        yield daemon


@pytest.fixture(scope="module", params=["libreswan", "strongswan"])
def peer(request: pytest.FixtureRequest, kame_pair: LabPair, lab_root: Path) -> Iterator[Peer]:
    """One peer at a time in east (pytest groups the tests by this parameter)."""
    kind = request.param
    peer_type = LibreswanPeer if kind == "libreswan" else StrongswanPeer
    with running_in_east(peer_type, kame_pair, lab_root / f"kame-{kind}") as started:
        yield started


def test_startup_trap_and_refused_algorithms(kame_pair: LabPair, kame: Ours) -> None:
    text = kame.log_text()
    assert kame_pair.policies(kame_pair.west) == []  # SADB_X_SPDDELETE2 took the trap out
    assert "Using KAME PF_KEY v2 IPsec kernel interface" in text, text[-2000:]
    assert '"kameondemand": 1 trap policy installed (auto=ondemand)' in text, text[-2000:]
    assert '"kameondemand": 1 trap policy removed' in text, text[-2000:]
    # af_key has no AEAD: a conn with only AES-GCM is refused at add time, saying why
    with pytest.raises(ControlError) as refused:
        kame.add("gcm")
    assert "cannot install any of its ESP algorithms" in str(refused.value), refused.value


@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "peer-initiates"])
def test_tunnel_aes_cbc_hmac_sha1(kame_pair: LabPair, kame: Ours, peer: Peer, ours_initiates: bool) -> None:
    """The kernel holds cbc(aes) with hmac(sha1) truncated to 96 bits on both sides,
    pings cross with the ESP counters moving, and Delete clears both kernels."""
    interop_round(kame_pair, kame, peer, conns.KAME, ours_initiates)


def test_acquire_starts_the_ondemand_conn(kame_pair: LabPair, kame: Ours, peer: Peer) -> None:
    """The trap policy (SADB_X_SPDADD, no SA) catches the first packet; af_key sends
    SADB_ACQUIRE and the daemon negotiates; later pings cross the tunnel."""
    suite = conns.KAME_ONDEMAND
    with loaded(kame_pair, kame, peer, suite):  # re-added for each peer: `route` puts the trap back
        routed = kame.call("route", name=suite.name)
        assert routed["policies"] == 1, routed
        traps = [p for p in kame_pair.policies(kame_pair.west) if p.get("dir") == "out" and p.get("tmpl")]
        assert traps and esp_states(kame_pair, kame_pair.west) == [], (traps, kame_pair.states(kame_pair.west))
        # the first packets wake the trap; the IKE exchanges take a few seconds under emulation
        first = kame_pair.ping(kame_pair.west, WEST_IN, EAST_IN, count=30, interval=0.5, deadline=40)
        assert first.received >= 10, first.output
        # af_key's ACQUIRE names the trap policy (by its id), so the whole subnets
        assert '"kameondemand": initiating on demand for 198.51.100.0/24 to 203.0.113.0/24' in kame.log_text(), \
            kame.log_text()[-3000:]
        wait_for_esp_pairs(kame_pair)
        assert_kernel_algorithms(kame_pair, suite)
        ping_through(kame_pair, suite)
        kame.down(suite.name)
        wait_no_esp(kame_pair, kame_pair.west)
        wait_no_esp(kame_pair, kame_pair.east)


def test_sadb_expire_rekeys(kame_pair: LabPair, kame: Ours, peer: Peer) -> None:
    """ipsec-max-packets=200: af_key raises a soft SADB_EXPIRE after 22-25% of it (the
    daemon's timers know nothing of packets), the daemon rekeys the Child SA while a
    5/s ping runs; at most one echo is lost and the new SAs carry the rest."""
    suite = conns.KAME_VOLUME
    with loaded(kame_pair, kame, peer, suite):
        kame.up(suite.name)
        wait_for_esp_pairs(kame_pair)
        old = {ns: {s["spi"] for s in esp_states(kame_pair, ns)} for ns in (kame_pair.west, kame_pair.east)}
        (first,) = kame.children(suite.name)
        with pinging(kame_pair, count=80, deadline=40) as outcome:
            wait_for(lambda: [c for c in kame.children(suite.name) if c["spi_in"] != first["spi_in"]], 40,
                     "the Child SA to be rekeyed", interval=1.0)
            wait_for(lambda: all({s["spi"] for s in esp_states(kame_pair, ns)}.isdisjoint(old[ns])
                                 and esp_states(kame_pair, ns) for ns in old), 30, "the old SAs to be deleted")
        (ping,) = outcome
        assert ping.sent >= 75 and ping.sent - ping.received <= 1, ping.output
        assert f"kernel reports the soft lifetime of SPI 0x{first['spi_out']}" in kame.log_text() \
            or f"kernel reports the soft lifetime of SPI 0x{first['spi_in']}" in kame.log_text(), \
            kame.log_text()[-3000:]
        for ns in old:
            states = esp_states(kame_pair, ns)
            assert len(states) == 2 and all(s["packets"] > 0 for s in states), (ns, states)
        assert_kernel_algorithms(kame_pair, suite)
