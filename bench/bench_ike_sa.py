"""Establish N IKE SA + Child SA pairs in one process (PSK, X25519, AES-GCM) and print
the initiator's and the responder's CPU time per IKE SA and the memory held per
established IKE SA (responder side), with the bare crypto cost as the baseline.

    python3 bench/bench_ike_sa.py [N]

Goal (issue 6): responder at most 1.0 ms CPU and 8 KB per IKE SA. Both engines run the
NAT-T plugin (``pluto_plugins.natt``) as the daemon does.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pluto_core.ikev2.conn import EngineConn, IdSpec  # noqa: E402
from pluto_core.ikev2.crypto import compute_shared, generate  # noqa: E402
from pluto_core.ikev2.engine import Engine  # noqa: E402
from pluto_core.ikev2.proposal_build import esp_proposal, ike_proposal  # noqa: E402
from pluto_core.ikev2.ts_narrow import Selector  # noqa: E402
from pluto_plugins.natt import NatTraversal  # noqa: E402


class Kernel:
    def __init__(self) -> None:
        self.spi = 0x1000

    def allocate_spi(self, src: str, dst: str, protocol: int) -> int:
        self.spi += 1
        return self.spi

    def release_spi(self, src: str, dst: str, protocol: int, spi: int) -> None:
        pass

    def install_child(self, child: object) -> None:
        pass

    def remove_child(self, child: object) -> None:
        pass

    def migrate_refusal(self) -> str | None:
        return "not in the benchmark"

    def migrate_child(self, old: object, new: object) -> None:
        pass


class Creds:
    def psk(self, local: IdSpec, remote: IdSpec | None, conn: EngineConn) -> bytes | None:
        return b"benchmark pre-shared key"

    def authorize(self, peer: IdSpec, conn: EngineConn, method: str) -> str | None:
        return None

    def signer(self, local: IdSpec, conn: EngineConn) -> None:
        return None

    def public_keys(self, peer: IdSpec, conn: EngineConn) -> list[object]:
        return []


class Quiet:
    def log(self, text: str) -> None:
        pass

    def debug(self, text: str, debug_class: str = "base") -> None:
        pass


def conns(n_addr: str, e_addr: str) -> tuple[EngineConn, EngineConn]:
    ike = (ike_proposal(1, [(20, 256)], [5], [], [31]),)
    esp = (esp_proposal(1, [(20, 256)]),)
    w_ts, e_ts = (Selector.from_subnet("10.1.0.0/16"),), (Selector.from_subnet("10.2.0.0/16"),)
    west = EngineConn("bench", n_addr, e_addr, IdSpec.parse("@west"), IdSpec.parse("@east"), w_ts, e_ts, ike, esp)
    east = EngineConn("bench", e_addr, n_addr, IdSpec.parse("@east"), IdSpec.parse("@west"), e_ts, w_ts, ike, esp)
    return west, east


def run(n: int) -> None:
    west_cpu, east_cpu, _, _ = establish(n, trace=False)  # CPU without tracemalloc's overhead
    _, _, mem, established = establish(n, trace=True)
    # Baseline in the same process: the crypto alone (two X25519 key pairs and agreements per SA).
    t = time.process_time()
    for _ in range(n):
        a, b = generate(31, os.urandom), generate(31, os.urandom)
        compute_shared(31, a, b.public_bytes)
        compute_shared(31, b, a.public_bytes)
    crypto = (time.process_time() - t) / n / 2
    print(f"IKE SAs established: {established} of {n}")
    print(f"initiator CPU per IKE SA: {west_cpu / n * 1000:.3f} ms")
    print(f"responder CPU per IKE SA: {east_cpu / n * 1000:.3f} ms")
    print(f"responder memory per established IKE SA (incl. its Child SA): {mem / max(established, 1) / 1024:.2f} KB")
    print(f"baseline: X25519 keygen+agreement per side: {crypto * 1000:.3f} ms; "
          f"responder/baseline = {east_cpu / n / crypto:.1f}x")
    if established != n:  # the numbers above are per IKE SA only when all of them came up
        sys.exit(f"error: only {established} of {n} IKE SAs were established")


def establish(n: int, trace: bool) -> tuple[float, float, int, int]:
    clock = time.monotonic
    # Both with the NAT-T plugin, as the daemon runs: its notifies and hashes are in the cost.
    # uniqueids off on both: every IKE SA here has the same IDs, and each must stay up
    west = Engine(Kernel(), Creds(), clock, os.urandom, Quiet(), extensions=NatTraversal(), uniqueids=False)
    east = Engine(Kernel(), Creds(), clock, os.urandom, Quiet(), extensions=NatTraversal(), uniqueids=False)
    w_conn, e_conn = conns("192.0.2.1", "192.0.2.2")
    west.add_conn(w_conn)
    east.add_conn(e_conn)
    west_cpu = east_cpu = 0.0
    gc.collect()
    if trace:
        tracemalloc.start()
    base_mem = tracemalloc.get_traced_memory()[0] if trace else 0
    for _ in range(n):
        t = time.process_time()
        west.initiate("bench")
        west_cpu += time.process_time() - t
        while True:
            moved = False
            for src, dst, is_east in ((west, east, True), (east, west, False)):
                for d in src.pop_datagrams():
                    moved = True
                    t = time.process_time()
                    dst.receive(d.data, d.remote, d.local)
                    spent = time.process_time() - t
                    if is_east:
                        east_cpu += spent
                    else:
                        west_cpu += spent
            if not moved:
                break
        west.pop_events()  # as the daemon's host drains them after each call
        east.pop_events()
    gc.collect()
    # Responder-side memory: measure east's SAs only by dropping west's.
    west.sas.clear()
    west._by_serial.clear()
    west._timers.clear()
    gc.collect()
    mem = 0
    if trace:
        mem = tracemalloc.get_traced_memory()[0] - base_mem
        tracemalloc.stop()
    established = sum(1 for sa in east.ike_sas() if sa.children)
    return west_cpu, east_cpu, mem, established


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
