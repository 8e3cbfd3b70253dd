"""One interop round, the same for every peer: both sides load the conn, one
initiates, the Child SA's algorithms are in both kernels, pings cross with
the ESP counters moving on both sides, and the initiator's Delete removes the
SAs on both sides (ours obeyed by the peer, or the peer's obeyed by ours)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.lab import conns
from tests.lab.checks import assert_kernel_algorithms, ping_through, wait_for_esp_pairs, wait_no_esp
from tests.lab.ours import Ours
from tests.lab.peers import Peer
from tests.lab.topology import LabPair, wait_for


@contextmanager
def loaded(pair: LabPair, ours: Ours, peer: Peer, suite: conns.Suite) -> Iterator[None]:
    """The conn loaded on both sides (``ours`` in west) for the body; a failure carries both logs;
    afterwards nothing of it is left in either daemon or kernel."""
    peer.load(suite)
    ours.add(suite.name)
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- {peer.kind} log (tail) ---\n{peer.log()[-4000:]}"
                             f"\n--- our log (tail) ---\n{ours.log_text()[-4000:]}") from None
    finally:
        ours.forget(suite.name)
        peer.unload(suite)
        pair.flush(pair.west)
        pair.flush(pair.east)


def interop_round(pair: LabPair, west: Ours, peer: Peer, suite: conns.Suite, ours_initiates: bool,
                  peer_id: str = "@east") -> None:
    with loaded(pair, west, peer, suite):
        if ours_initiates:
            west.up(suite.name)
        else:
            peer.initiate(suite)
        wait_for(lambda: west.children(suite.name), 60, "our Child SA", interval=1.0)
        wait_for_esp_pairs(pair)
        assert_kernel_algorithms(pair, suite)
        (child,) = west.children(suite.name)
        assert child["mode"] == suite.mode and child["peer_id"] == peer_id, child
        ping_through(pair, suite)
        # The initiator ends it, so its Delete is what the other side obeys. (Libreswan
        # revives a conn it initiated when the peer deletes it: ours deleting there
        # would only see it come back.)
        if ours_initiates:
            west.down(suite.name)
        else:
            peer.terminate(suite)
        wait_no_esp(pair, pair.west)
        wait_no_esp(pair, pair.east)
        wait_for(lambda: not pair.policies(pair.west), 30, "west to remove its policies")
        assert west.ike_sas(suite.name) == [], west.ike_sas(suite.name)
