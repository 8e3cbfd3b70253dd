"""What every lab test checks once a Child SA is up: the kernel holds the
negotiated algorithms on both sides, and pings cross the tunnel with the ESP
counters of both sides moving in both directions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.lab.conns import Suite
from tests.lab.topology import EAST_IN, EAST_IP, WEST_IN, WEST_IP, LabPair, PingResult, wait_for

PINGS = 3


def esp_states(pair: LabPair, ns: str) -> list[dict[str, Any]]:
    # SPI 0 is the kernel's own larval ACQUIRE state, not an SA anybody installed
    return [s for s in pair.states(ns) if s.get("proto") == "esp" and s.get("spi")]


def wait_for_esp_pairs(pair: LabPair, timeout: float = 60) -> None:
    """Both hosts hold an inbound and an outbound ESP SA."""
    def ready() -> bool:
        return all(len({s["dst"] for s in esp_states(pair, ns)}) == 2 for ns in (pair.west, pair.east))
    wait_for(ready, timeout, "an ESP SA in each direction on both hosts")


def assert_kernel_algorithms(pair: LabPair, suite: Suite) -> None:
    for ns in (pair.west, pair.east):
        states = esp_states(pair, ns)
        assert states, f"{ns}: no ESP SA"
        for sa in states:
            assert sa["mode"] == suite.mode, (ns, sa)
            for kind, (name, bits) in suite.kernel.items():
                assert kind in sa, (ns, kind, sa)
                assert sa[kind][0] == name, (ns, sa[kind])
                if bits:
                    assert sa[kind][2] == bits, (ns, sa[kind])
            if "aead" in sa:  # AES-256 key + 4-octet salt (RFC 4106 section 8.1)
                assert len(sa["aead"][1]) == 2 + 2 * 36, sa["aead"]
            if "enc" in sa:
                assert len(sa["enc"][1]) == 2 + 2 * 32, sa["enc"]


def ping_through(pair: LabPair, suite: Suite, count: int = PINGS) -> dict[str, dict[str, int]]:
    """Ping west -> east through the tunnel; assert every answer came back and
    each host's inbound and outbound ESP SAs counted at least ``count`` packets.
    Returns the counter deltas (``{ns: {"in": n, "out": n}}``)."""
    src, dst = (WEST_IN, EAST_IN) if suite.mode == "tunnel" else (WEST_IP, EAST_IP)
    before = {ns: pair.esp_packets(ns) for ns in (pair.west, pair.east)}
    result = pair.ping(pair.west, src, dst, count=count)
    after = {ns: pair.esp_packets(ns) for ns in (pair.west, pair.east)}
    delta = {ns: {k: after[ns][k] - before[ns][k] for k in ("in", "out")} for ns in before}
    assert result.received == count, result.output
    for ns, moved in delta.items():
        assert moved["in"] >= count and moved["out"] >= count, (ns, delta, result.output)
    return delta


def wait_no_esp(pair: LabPair, ns: str, timeout: float = 30) -> None:
    wait_for(lambda: not esp_states(pair, ns), timeout, f"{ns} to hold no ESP SA")


@contextmanager
def pinging(pair: LabPair, count: int, deadline: float, interval: float = 0.2) -> Iterator[list[PingResult]]:
    """West's inside address pings east's in the background while the body waits (for
    a rekey, say); after the block the list holds the ping's result."""
    outcome: list[PingResult] = []
    pinger = threading.Thread(target=lambda: outcome.append(
        pair.ping(pair.west, WEST_IN, EAST_IN, count=count, interval=interval, deadline=deadline)))
    pinger.start()
    try:
        yield outcome
    finally:
        pinger.join(deadline + 30)
