"""Network namespaces for the host tier: two hosts (west, east) over a veth pair.

Each test gets fresh namespaces with unique names; they are deleted afterwards
with everything in them. Nothing outside them is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

WEST_IP, EAST_IP = "192.0.2.1", "192.0.2.2"
WEST_NET, EAST_NET = "198.51.100.0/24", "203.0.113.0/24"
WEST_IN, EAST_IN = "198.51.100.1", "203.0.113.1"


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=60)


def host_tier_available() -> str | None:
    """None when network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2"
    probe = f"pluto-probe-{uuid.uuid4().hex[:6]}"
    result = run("ip", "netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"ip netns add failed: {result.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


@dataclass
class Pair:
    west: str
    east: str

    def exec(self, ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", ns, *cmd, check=check)


@pytest.fixture
def netns_pair() -> Iterator[Pair]:
    why = host_tier_available()
    if why is not None:
        pytest.skip(f"host tier: {why}")
    tag = uuid.uuid4().hex[:6]
    pair = Pair(f"pw-{tag}", f"pe-{tag}")
    try:
        for ns in (pair.west, pair.east):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "link", "add", "ext0", "netns", pair.west, "type", "veth", "peer", "name", "ext0",
            "netns", pair.east)
        for ns, outer, inner, other_net, gw in ((pair.west, WEST_IP, WEST_IN, EAST_NET, EAST_IP),
                                                (pair.east, EAST_IP, EAST_IN, WEST_NET, WEST_IP)):
            run("ip", "-n", ns, "addr", "add", f"{outer}/24", "dev", "ext0")
            run("ip", "-n", ns, "link", "set", "ext0", "up")
            # The inner subnet lives on lo (no dummy module on every host kernel).
            run("ip", "-n", ns, "addr", "add", f"{inner}/32", "dev", "lo")
            run("ip", "-n", ns, "route", "add", other_net, "via", gw, "src", inner)
        yield pair
    finally:
        for ns in (pair.west, pair.east):
            run("ip", "netns", "pids", ns, check=False)
            pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", ns, check=False)
