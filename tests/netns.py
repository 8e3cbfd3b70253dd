"""Network namespaces for the tests, in one place.

- The kernel tier's: ``fresh_netns`` moves the calling thread (and every process
  it starts, ``ip`` included) into a new, empty namespace with ``unshare(CLONE_NEWNET)``
  and comes back with ``setns``; the namespace dies with its last socket, so nothing a
  test does there can reach the host's own IPsec state. ``named_netns`` adds a second
  one (``ip netns add``), ``inside`` runs a body in it. Python 3.11 has no
  ``os.unshare``/``os.setns``, hence libc.
- Two hosts (west, east) over a veth pair: the host tier's ``netns_pair`` fixture, and
  the lab's topology (``tests/lab/topology.py``) built on the same helpers. Each test
  gets fresh namespaces with unique names; they are deleted afterwards with everything
  in them. Nothing outside them is touched.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import pytest

CLONE_NEWNET = 0x40000000

WEST_IP, EAST_IP = "192.0.2.1", "192.0.2.2"
WEST_NET, EAST_NET = "198.51.100.0/24", "203.0.113.0/24"
WEST_IN, EAST_IN = "198.51.100.1", "203.0.113.1"
# IPv6 (RFC 3849 documentation prefix), added by ``add_ipv6`` next to the IPv4 addresses
WEST_IP6, EAST_IP6 = "2001:db8:1:2::45", "2001:db8:1:2::23"
WEST_NET6, EAST_NET6 = "2001:db8:0:1::/64", "2001:db8:0:2::/64"
WEST_IN6, EAST_IN6 = "2001:db8:0:1::1", "2001:db8:0:2::1"


def run(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=timeout)


def ip(*args: str) -> str:
    return run("ip", *args, timeout=10).stdout


def sysctl(name: str, value: str) -> None:
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(value)


def poll(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.2) -> bool:
    """Whether ``predicate`` became true within ``timeout`` (for an ``assert`` with its own message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll until ``predicate`` returns something true, and return it; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


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


# --------------------------------------------------------------------------
# This thread's own namespace (the kernel tier)
# --------------------------------------------------------------------------


class NetnsUnavailable(Exception):
    """Not root, or the kernel refuses new network namespaces."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, what: str) -> None:
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), what)


def _unshare() -> None:
    if _libc().unshare(CLONE_NEWNET) != 0:
        raise NetnsUnavailable(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")


@contextmanager
def _away(enter: Callable[[], None]) -> Iterator[None]:
    """Run ``enter`` (which moves this thread into another namespace), then the body;
    come back to this thread's namespace afterwards."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        enter()
        try:
            yield
        finally:
            _setns(home, "setns back to the original namespace failed")
    finally:
        os.close(home)


@contextmanager
def fresh_netns() -> Iterator[None]:
    if os.geteuid() != 0:
        raise NetnsUnavailable("needs root")
    with _away(_unshare):
        ip("link", "set", "lo", "up")
        yield


def veth_route(local: str, prefix: int, remote_net: str) -> None:
    """A veth pair with ``local`` on one end and a route to ``remote_net``
    through it: loopback carries no IPsec (its NOXFRM/NOPOLICY are set)."""
    ip("link", "add", "pv0", "type", "veth", "peer", "name", "pv1")
    ip("link", "set", "pv0", "up")
    ip("link", "set", "pv1", "up")
    ip("addr", "add", f"{local}/{prefix}", "dev", "pv0")
    ip("route", "add", remote_net, "dev", "pv0", "src", local)


@contextmanager
def named_netns(name: str) -> Iterator[None]:
    """A second namespace (``ip netns add``), deleted afterwards."""
    run("ip", "netns", "del", name, check=False)
    add_namespaces(name)
    try:
        yield
    finally:
        run("ip", "netns", "del", name, check=False)


@contextmanager
def inside(name: str) -> Iterator[None]:
    """Run the body in the named namespace, then come back (sockets opened
    there stay there)."""
    there = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        with _away(lambda: _setns(there, f"setns into {name}")):
            yield
    finally:
        os.close(there)


# --------------------------------------------------------------------------
# Two hosts, west and east (the host tier and the lab)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    west: str
    east: str

    def exec(self, ns: str, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)


def add_namespaces(*names: str) -> None:
    """New namespaces, each with its loopback up."""
    for ns in names:
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")


def remove_namespaces(*names: str) -> None:
    """Kill what still runs in each namespace, then delete it."""
    for ns in names:
        for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", ns, check=False)


def join_pair(pair: Pair, inside: Literal["lo", "dummy"]) -> None:
    """West and east (namespaces that exist) over a veth ``ext0`` (WEST_IP <-> EAST_IP), each with
    its inside address and a route to the other's inside subnet through the other host.
    ``inside="lo"`` puts the inside address (/32) on lo, for a kernel without the dummy module
    (the host tier); ``"dummy"`` on a dummy ``in0`` (/24), as the lab recipe does."""
    run("ip", "link", "add", "ext0", "netns", pair.west, "type", "veth", "peer", "name", "ext0",
        "netns", pair.east)
    for ns, outer, inner, other_net, gw in ((pair.west, WEST_IP, WEST_IN, EAST_NET, EAST_IP),
                                            (pair.east, EAST_IP, EAST_IN, WEST_NET, WEST_IP)):
        run("ip", "-n", ns, "addr", "add", f"{outer}/24", "dev", "ext0")
        run("ip", "-n", ns, "link", "set", "ext0", "up")
        if inside == "lo":
            run("ip", "-n", ns, "addr", "add", f"{inner}/32", "dev", "lo")
        else:
            run("ip", "-n", ns, "link", "add", "in0", "type", "dummy")
            run("ip", "-n", ns, "addr", "add", f"{inner}/24", "dev", "in0")
            run("ip", "-n", ns, "link", "set", "in0", "up")
        # route to the other inside subnet (no updown script installs it)
        run("ip", "-n", ns, "route", "add", other_net, "via", gw, "src", inner)


def add_ipv6(pair: Pair, inside: Literal["lo", "dummy"]) -> None:
    """IPv6 on a joined pair: WEST_IP6/EAST_IP6 on ``ext0``, the inside addresses (on lo as /128 or
    on ``in0`` as /64) and a route to the other's inside /64. IPv6 is switched on first (a fresh
    namespace may inherit ``disable_ipv6=1``) and every address is added ``nodad``: a tentative
    address cannot be bound, and IKE would start before duplicate address detection ends."""
    for ns, outer, inner, other_net, gw in ((pair.west, WEST_IP6, WEST_IN6, EAST_NET6, EAST_IP6),
                                            (pair.east, EAST_IP6, EAST_IN6, WEST_NET6, WEST_IP6)):
        for dev in ("all", "default", "lo", "ext0", *(("in0",) if inside == "dummy" else ())):
            run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=0")
        run("ip", "-n", ns, "addr", "add", f"{outer}/64", "dev", "ext0", "nodad")
        dev, plen = ("lo", 128) if inside == "lo" else ("in0", 64)
        run("ip", "-n", ns, "addr", "add", f"{inner}/{plen}", "dev", dev, "nodad")
        run("ip", "-n", ns, "route", "add", other_net, "via", gw, "src", inner)


@pytest.fixture
def netns_pair() -> Iterator[Pair]:
    why = host_tier_available()
    if why is not None:
        pytest.skip(f"host tier: {why}")
    tag = uuid.uuid4().hex[:6]
    pair = Pair(f"pw-{tag}", f"pe-{tag}")
    try:
        add_namespaces(pair.west, pair.east)
        join_pair(pair, "lo")
        yield pair
    finally:
        remove_namespaces(pair.west, pair.east)


@pytest.fixture
def netns_pair6(netns_pair: Pair) -> Pair:
    """``netns_pair`` with IPv6 too (``add_ipv6``): both families on the same veth."""
    add_ipv6(netns_pair, "lo")
    return netns_pair
