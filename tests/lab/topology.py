"""The lab's two hosts and the witnesses of a working tunnel.

West and east are network namespaces joined by a veth (192.0.2.1 <-> 192.0.2.2);
each has its inside subnet on a dummy interface (198.51.100.1/24, 203.0.113.1/24),
as in the proven lab recipe. A tunnel works when a ping between the inside
addresses gets its answers *and* the ESP packet counters of ``ip -s xfrm state``
grow on both sides, in both directions.
"""

from __future__ import annotations

import math
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.kernel import ipxfrm
from tests.netns import (
    EAST_IN,
    EAST_IP,
    EAST_NET,
    WEST_IN,
    WEST_IP,
    WEST_NET,
    Pair,
    add_namespaces,
    join_pair,
    remove_namespaces,
    run,
    wait_for,
)

__all__ = ["EAST_IN", "EAST_IP", "EAST_NET", "NAT_PUBLIC", "ROAD_IP", "ROAD_NET", "WEST_IN", "WEST_IP", "WEST_NET",
           "LabPair", "NatLab", "PingResult", "fresh_pair", "make_nat_lab", "make_pair", "remove_nat_lab",
           "remove_pair", "wait_for"]

# The road warrior's lab: road (10.9.0.2) behind a NAT namespace whose nft masquerade
# rewrites its packets to 192.0.2.3 on their way to east, as a home router would.
ROAD_IP, ROAD_NET = "10.9.0.2", "10.9.0.0/24"
NAT_INSIDE, NAT_PUBLIC = "10.9.0.1", "192.0.2.3"
NFT_MASQUERADE = """\
table ip lab_nat {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "out0" masquerade
\t}
}
"""


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int
    output: str


_KEY_BITS = re.compile(r"^(\(\d+|bits\))$")
_PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


@dataclass(frozen=True)
class LabPair(Pair):
    west_ip: str = WEST_IP  # west's outer address (the road warrior's own, behind its NAT)

    def states(self, ns: str) -> list[dict[str, Any]]:
        """The SAs of ``ns`` with their byte and packet counters (``ip -s xfrm state``)."""
        states = ipxfrm.parse_states(run("ip", "-n", ns, "-s", "xfrm", "state").stdout)
        for sa in states:  # with -s, iproute2 adds "(N bits)" after each key: not an algorithm field
            for kind in ("aead", "enc", "auth", "auth-trunc"):
                if kind in sa:
                    sa[kind] = [t for t in sa[kind] if not _KEY_BITS.match(t)]
        return states

    def policies(self, ns: str) -> list[dict[str, Any]]:
        """The SPD of ``ns``. Per-socket policies (the IKE sockets' bypass, shown as
        ``socket in``/``socket out`` while a daemon runs) are not in it: left out."""
        shown = ipxfrm.parse_policies(run("ip", "-n", ns, "xfrm", "policy").stdout)
        return [p for p in shown if "socket" not in p]

    def esp_packets(self, ns: str) -> dict[str, int]:
        """ESP packets counted by the SAs of ``ns``: ``out`` (SAs towards the other
        host) and ``in`` (SAs towards this one)."""
        here = self.west_ip if ns == self.west else EAST_IP
        counts = {"in": 0, "out": 0}
        for sa in self.states(ns):
            if sa.get("proto") == "esp":
                counts["in" if sa["dst"] == here else "out"] += sa.get("packets", 0)
        return counts

    def ping(self, ns: str, src: str, dst: str, count: int = 3, interval: float = 0.2,
             deadline: float | None = None) -> PingResult:
        """busybox ping (this machine has no ping binary); ``deadline`` bounds the run."""
        wait = math.ceil(deadline if deadline is not None else count * interval + 10)  # -w takes whole seconds
        result = self.exec(ns, "busybox", "ping", "-c", str(count), "-i", f"{interval:g}", "-W", "3",
                           "-w", str(wait), "-I", src, dst, check=False, timeout=wait + 30)
        match = _PING_SUMMARY.search(result.stdout)
        sent, received = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        return PingResult(sent, received, result.stdout + result.stderr)

    def flush(self, ns: str) -> None:
        """Remove every SA and policy in ``ns`` (clean-up after a test, never a check)."""
        run("ip", "-n", ns, "xfrm", "state", "flush", check=False)
        run("ip", "-n", ns, "xfrm", "policy", "flush", check=False)


def make_pair() -> LabPair:
    tag = uuid.uuid4().hex[:6]
    pair = LabPair(f"lw-{tag}", f"le-{tag}")
    try:
        add_namespaces(pair.west, pair.east)
        join_pair(pair, "dummy")
    except BaseException:
        remove_pair(pair)
        raise
    return pair


def remove_pair(pair: LabPair) -> None:
    """Kill what still runs in the namespaces, then delete them."""
    remove_namespaces(pair.west, pair.east)


@contextmanager
def fresh_pair() -> Iterator[LabPair]:
    """A pair of its own (``make_pair``) for the body, removed afterwards."""
    pair = make_pair()
    try:
        yield pair
    finally:
        remove_pair(pair)


@dataclass(frozen=True)
class NatLab(LabPair):
    """``west`` is the road warrior's namespace; ``nat`` sits between it and east."""

    nat: str = ""


def make_nat_lab() -> NatLab:
    """road --veth-- nat (nft masquerade on out0) --veth-- east; east has its inside
    subnet on in0 and its default route through the NAT, like a server on the Internet."""
    tag = uuid.uuid4().hex[:6]
    lab = NatLab(f"lr-{tag}", f"lx-{tag}", ROAD_IP, f"ln-{tag}")
    try:
        add_namespaces(lab.west, lab.nat, lab.east)
        run("ip", "link", "add", "eth0", "netns", lab.west, "type", "veth", "peer", "name", "in0", "netns", lab.nat)
        run("ip", "link", "add", "out0", "netns", lab.nat, "type", "veth", "peer", "name", "ext0", "netns", lab.east)
        for ns, dev, addr in ((lab.west, "eth0", f"{ROAD_IP}/24"), (lab.nat, "in0", f"{NAT_INSIDE}/24"),
                              (lab.nat, "out0", f"{NAT_PUBLIC}/24"), (lab.east, "ext0", f"{EAST_IP}/24")):
            run("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", lab.east, "link", "add", "in0", "type", "dummy")
        run("ip", "-n", lab.east, "addr", "add", f"{EAST_IN}/24", "dev", "in0")
        run("ip", "-n", lab.east, "link", "set", "in0", "up")
        run("ip", "-n", lab.west, "route", "add", "default", "via", NAT_INSIDE)
        run("ip", "-n", lab.east, "route", "add", "default", "via", NAT_PUBLIC, "src", EAST_IP)
        run("ip", "netns", "exec", lab.nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        subprocess.run(["ip", "netns", "exec", lab.nat, "nft", "-f", "-"], input=NFT_MASQUERADE, text=True,
                       check=True, capture_output=True, timeout=60)
    except BaseException:
        remove_nat_lab(lab)
        raise
    return lab


def remove_nat_lab(lab: NatLab) -> None:
    remove_namespaces(lab.west, lab.east, lab.nat)
