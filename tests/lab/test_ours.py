"""Two of our daemons (west, east) bring up ESP tunnels on a kernel with ESP:
traffic crosses, ``ipsec trafficstatus`` counts it, ``ipsec down`` and SIGTERM
leave nothing behind, and a Child SA or IKE SA rekey under traffic loses at most one packet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import conns
from tests.lab.checks import (
    assert_kernel_algorithms,
    esp_states,
    ping_through,
    pinging,
    wait_for_esp_pairs,
    wait_no_esp,
)
from tests.lab.ours import Ours
from tests.lab.topology import EAST_IP, EAST_NET, WEST_IP, WEST_NET, LabPair, wait_for

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def east(lab_pair: LabPair, lab_root: Path, request: pytest.FixtureRequest) -> Iterator[Ours]:
    daemon = Ours(lab_pair.east, lab_root / "ours-east")
    # east keeps its rekey SAs longer than west, so that west alone rekeys
    daemon.launch_with(conns.ipsec_conf(conns.ALL, overrides={"rekey": {"salifetime": "120s"},
                                                                     "rekeyike": {"ikelifetime": "120s"}}))
    try:
        request.getfixturevalue("west")  # west finishes its start-up while east starts
        daemon.ensure_initialized()
        yield daemon
    finally:
        daemon.stop()
        lab_pair.flush(lab_pair.east)


@pytest.fixture
def loaded(west: Ours, east: Ours, lab_pair: LabPair, request: pytest.FixtureRequest) -> Iterator[conns.Suite]:
    suite: conns.Suite = request.param
    west.add(suite.name)
    east.add(suite.name)
    try:
        yield suite
    finally:
        west.forget(suite.name)
        east.forget(suite.name)
        for ns in (lab_pair.west, lab_pair.east):
            lab_pair.flush(ns)


def _traffic_status(daemon: Ours) -> dict[str, int]:
    """`ipsec trafficstatus` as an operator runs it (the real command line)."""
    result = daemon.ipsec("trafficstatus", timeout=180)
    assert result.returncode == 0, result.stderr
    match = re.search(r'"gcm", type=ESP, add_time=\d+, inBytes=(\d+), outBytes=(\d+)', result.stdout)
    assert match, result.stdout
    return {"in": int(match.group(1)), "out": int(match.group(2))}


@pytest.mark.parametrize("loaded", [conns.GCM], indirect=True, ids=["gcm"])
def test_tunnel_traffic_trafficstatus_and_down(west: Ours, east: Ours, lab_pair: LabPair,
                                               loaded: conns.Suite) -> None:
    west.up(loaded.name)
    wait_for_esp_pairs(lab_pair)
    assert_kernel_algorithms(lab_pair, loaded)
    ping_through(lab_pair, loaded)
    # The kernel's byte counters, as the daemons report them.
    for daemon, ns in ((west, lab_pair.west), (east, lab_pair.east)):
        shown = _traffic_status(daemon)
        here = "192.0.2.1" if daemon is west else "192.0.2.2"
        kernel_in = sum(s["bytes"] for s in esp_states(lab_pair, ns) if s["dst"] == here)
        kernel_out = sum(s["bytes"] for s in esp_states(lab_pair, ns) if s["dst"] != here)
        assert shown["in"] > 0 and shown["out"] > 0, shown
        assert (shown["in"], shown["out"]) == (kernel_in, kernel_out), (ns, shown, kernel_in, kernel_out)
    # our policies are in both kernels while the tunnel is up ...
    for ns in (lab_pair.west, lab_pair.east):
        assert {p["dir"] for p in lab_pair.policies(ns)} >= {"out", "in", "fwd"}, lab_pair.policies(ns)
    # ... and `ipsec down` on one side removes the SAs and policies on both.
    down = west.ipsec("down", loaded.name, timeout=180)
    assert down.returncode == 0, down.stderr
    for ns in (lab_pair.west, lab_pair.east):
        wait_no_esp(lab_pair, ns)
    wait_for(lambda: not lab_pair.policies(lab_pair.west) and not lab_pair.policies(lab_pair.east), 30,
             "both hosts to hold no policy")
    assert west.children() == [] and east.children() == []


@pytest.mark.parametrize("loaded", [conns.CBC], indirect=True, ids=["cbc"])
def test_east_initiates_cbc(west: Ours, east: Ours, lab_pair: LabPair, loaded: conns.Suite) -> None:
    east.up(loaded.name)
    wait_for_esp_pairs(lab_pair)
    assert_kernel_algorithms(lab_pair, loaded)
    ping_through(lab_pair, loaded)
    east.down(loaded.name)
    for ns in (lab_pair.west, lab_pair.east):
        wait_no_esp(lab_pair, ns)


@pytest.mark.parametrize("loaded", [conns.REKEY], indirect=True, ids=["rekey"])
def test_child_rekey_under_traffic(west: Ours, east: Ours, lab_pair: LabPair, loaded: conns.Suite) -> None:
    """salifetime=50s, rekeymargin=25s on west: the Child SA is rekeyed about 25 s
    after it came up while a 5/s ping runs through it for 35 s; at most one echo
    is lost, the new SAs carry the traffic and the old ones are gone on both sides.
    Both daemons' updown commands run for up and down only."""
    for me in (WEST_IP, EAST_IP):
        Path(f"{conns.UPDOWN_LOG}.{me}").unlink(missing_ok=True)
    west.up(loaded.name)
    wait_for_esp_pairs(lab_pair)
    old = {ns: {s["spi"] for s in esp_states(lab_pair, ns)} for ns in (lab_pair.west, lab_pair.east)}
    old_children = {c["spi_in"] for c in west.children(loaded.name)}
    with pinging(lab_pair, count=175, deadline=60) as outcome:
        wait_for(lambda: {c["spi_in"] for c in west.children(loaded.name)} - old_children, 60,
                 "west to rekey the Child SA", interval=1.0)
        # once the old SAs are deleted, only new SPIs remain on both sides
        wait_for(lambda: all({s["spi"] for s in esp_states(lab_pair, ns)}.isdisjoint(old[ns])
                             and esp_states(lab_pair, ns) for ns in old), 30, "the old SAs to be deleted")
    (ping,) = outcome
    assert ping.sent >= 150 and ping.sent - ping.received <= 1, ping.output
    for ns in old:
        states = esp_states(lab_pair, ns)
        assert len(states) == 2, states
        assert all(s["packets"] > 0 for s in states), (ns, states)  # the new SAs carried traffic
    # leftupdown=/rightupdown=: each daemon ran its command once for up, not again
    # for the rekey, and once for down with the bytes of the SA that went last.
    west.down(loaded.name)
    for ns in (lab_pair.west, lab_pair.east):
        wait_no_esp(lab_pair, ns)
    for me, mine, theirs, peer_id in ((WEST_IP, WEST_NET, EAST_NET, "@east"), (EAST_IP, EAST_NET, WEST_NET, "@west")):
        log = Path(f"{conns.UPDOWN_LOG}.{me}")
        wait_for(lambda: len(_lines(log)) >= 2, 30, f"the down command on {me}")  # noqa: B023
        up, down = _lines(log)
        assert up.split() == ["up-client", "rekey", mine, theirs, peer_id], up
        verb, name, my_client, peer_client, peer, in_bytes, out_bytes = down.split()
        assert [verb, name, my_client, peer_client, peer] == ["down-client", "rekey", mine, theirs, peer_id], down
        assert int(in_bytes) > 0 and int(out_bytes) > 0, down


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("loaded", [conns.REKEY_IKE], indirect=True, ids=["rekey-ike"])
def test_ike_rekey_under_traffic(west: Ours, east: Ours, lab_pair: LabPair, loaded: conns.Suite) -> None:
    """ikelifetime=50s, rekeymargin=25s on west: the IKE SA is rekeyed (CREATE_CHILD_SA,
    RFC 7296 section 2.18) while a 5/s ping runs; the Child SA moves to the new IKE SA
    and keeps carrying the traffic (at most one echo lost), and the old IKE SA is gone
    on both sides."""
    west.up(loaded.name)
    wait_for_esp_pairs(lab_pair)
    (old_ike,) = west.ike_sas(loaded.name)
    esp_before = {ns: {s["spi"] for s in esp_states(lab_pair, ns)} for ns in (lab_pair.west, lab_pair.east)}
    def rekeyed() -> list[dict[str, object]]:
        sas = west.ike_sas(loaded.name)
        return sas if len(sas) == 1 and sas[0]["serial"] != old_ike["serial"] and sas[0]["established"] else []

    with pinging(lab_pair, count=175, deadline=60) as outcome:
        (new_ike,) = wait_for(rekeyed, 60, "west to rekey the IKE SA and delete the old one", interval=1.0)
        wait_for(lambda: [(s["spi_i"], s["spi_r"]) for s in east.ike_sas(loaded.name)]
                 == [(new_ike["spi_i"], new_ike["spi_r"])], 30, "east to hold only the new IKE SA")
    (ping,) = outcome
    assert ping.sent >= 150 and ping.sent - ping.received <= 1, ping.output
    assert (new_ike["spi_i"], new_ike["spi_r"]) != (old_ike["spi_i"], old_ike["spi_r"])
    assert f"initiator rekeyed IKE SA #{old_ike['serial']}" in west.log_text(), west.log_text()[-2000:]
    for daemon, ns in ((west, lab_pair.west), (east, lab_pair.east)):
        (child,) = daemon.children(loaded.name)
        assert child["ike_serial"] == daemon.ike_sas(loaded.name)[0]["serial"], child
        states = esp_states(lab_pair, ns)
        assert {s["spi"] for s in states} == esp_before[ns], (ns, states)  # the same ESP SAs
        assert all(s["packets"] >= 150 for s in states), (ns, states)


@pytest.mark.parametrize("loaded", [conns.GCM], indirect=True, ids=["gcm"])
def test_sigterm_leaves_no_sa_or_policy(west: Ours, east: Ours, lab_pair: LabPair, loaded: conns.Suite) -> None:
    """Runs last in this module: SIGTERM to east while the tunnel is up. East
    tells west (Delete) and removes all it installed; west follows."""
    west.up(loaded.name)
    wait_for_esp_pairs(lab_pair)
    ping_through(lab_pair, loaded)
    assert east.stop() == 0, east.log_text()[-2000:]
    assert lab_pair.states(lab_pair.east) == [], lab_pair.states(lab_pair.east)
    assert lab_pair.policies(lab_pair.east) == [], lab_pair.policies(lab_pair.east)
    assert re.search(r"removed \d+ kernel SA and policy entries", east.log_text()), east.log_text()[-2000:]
    wait_no_esp(lab_pair, lab_pair.west)
    wait_for(lambda: not lab_pair.policies(lab_pair.west), 30, "west to remove its policies")
    assert west.children() == []

