"""A fresh network namespace for the calling thread, for the length of a test.

``unshare(CLONE_NEWNET)`` moves this thread (and every process it starts,
``ip`` included) into a new, empty namespace; leaving restores the original
with ``setns``. The namespace dies with its last socket, so nothing a test
does there can reach the host's own IPsec state. Python 3.11 has no
``os.unshare``/``os.setns``, hence libc.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000


class NetnsUnavailable(Exception):
    """Not root, or the kernel refuses new network namespaces."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


@contextmanager
def fresh_netns() -> Iterator[None]:
    if os.geteuid() != 0:
        raise NetnsUnavailable("needs root")
    libc = _libc()
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise NetnsUnavailable(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
        try:
            ip("link", "set", "lo", "up")
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original namespace failed")
    finally:
        os.close(home)


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def sysctl(name: str, value: str) -> None:
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(value)


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
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        yield
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@contextmanager
def inside(name: str) -> Iterator[None]:
    """Run the body in the named namespace, then come back (sockets opened
    there stay there)."""
    libc = _libc()
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
        try:
            yield
        finally:
            if libc.setns(here, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(here)
        os.close(there)
