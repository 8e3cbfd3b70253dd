"""``left=%defaultroute`` (``%defaultroute4``, ``%defaultroute6``) and ``leftnexthop=%defaultroute``:
the address and next hop an end takes from the host's routing table when the conn is added.

As Libreswan's ``addconn`` does it (its ``addconn-07-defaultroute`` test shows the steps): the
family is ``hostaddrfamily=``'s, else the keyword's (``%defaultroute6``), else the other end's
address family, else IPv4. The default route of that family in the main table (not one through
an ``ipsecN`` device) gives the gateway, which becomes the end's next hop unless
``leftnexthop=`` names one; the preferred source of the route towards the gateway (IPv4) or
towards the peer (IPv6, and IPv4 with no gateway; the gateway when the peer is ``%any``) gives
the end's address. A host with no such route refuses the conn, naming its file:line.

The pure part (``resolve_defaultroute``) reads the table through a ``RouteTable``; tests give it
a fake. ``SystemRoutes`` asks ``ip -j route`` (iproute2's JSON), which the daemon calls when a
conn is added, as it resolves host names then.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from pluto_core.config.connection import Connection, End
from pluto_core.errors import ConfigError

__all__ = ["DefaultRoute", "RouteTable", "SystemRoutes", "resolve_defaultroute", "uses_defaultroute"]

_FAMILY = {"%defaultroute": None, "%defaultroute4": 4, "%defaultroute6": 6}


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    gateway: str | None  # None: a device route (point-to-point)
    device: str


class RouteTable(Protocol):
    def default(self, family: int) -> DefaultRoute | None:
        """The main table's default route of ``family`` (4 or 6), not through an ipsecN device."""

    def source(self, destination: str, device: str | None) -> str | None:
        """The preferred source address of the route to ``destination`` (out of ``device``)."""


def _is_default(end: End) -> bool:
    return (end.host or "").lower() in _FAMILY


def _nexthop_default(end: End) -> bool:
    return (end.nexthop or "").lower() == "%defaultroute"


def uses_defaultroute(conn: Connection) -> bool:
    return any(_is_default(e) or _nexthop_default(e) for e in (conn.left, conn.right))


def resolve_defaultroute(conn: Connection, table: RouteTable) -> Connection:
    """``conn`` with each ``%defaultroute`` end's address (and next hop) filled in from ``table``;
    ConfigError (the conn's file:line) when the host has no route to take them from."""
    ends = {"left": conn.left, "right": conn.right}
    for side, end in ends.items():
        host_default, hop_default = _is_default(end), _nexthop_default(end)
        if not (host_default or hop_default):
            continue
        other = ends["right" if side == "left" else "left"]
        what = f"{side}={end.host}" if host_default else f"{side}nexthop={end.nexthop}"
        family = conn.hostaddrfamily or _FAMILY.get((end.host or "").lower()) or \
            (end.address.version if end.address is not None else None) or \
            (other.address.version if other.address is not None else None) or 4
        route = table.default(family)
        if route is None:
            raise ConfigError(f"\"{conn.name}\": {what}: this host has no IPv{family} default route in its main "
                              "routing table", conn.file, conn.line)
        address = end.address
        if host_default:
            peer = str(other.address) if other.address is not None else None
            towards = route.gateway if (family == 4 and route.gateway) or peer is None else peer
            source = None
            for destination in dict.fromkeys(d for d in (towards, route.gateway) if d is not None):
                source = table.source(destination, route.device)
                if source is not None:
                    break
            if source is None:
                raise ConfigError(f"\"{conn.name}\": {what}: no source address for the IPv{family} default route "
                                  f"(dev {route.device}{f' via {route.gateway}' if route.gateway else ''})",
                                  conn.file, conn.line)
            address = ipaddress.ip_address(source)
        nexthop = end.nexthop
        if hop_default or (host_default and nexthop is None):
            nexthop = route.gateway  # None: the peer is on the link (Libreswan's %direct)
        ends[side] = replace(end, address=address, nexthop=nexthop)
    return replace(conn, left=ends["left"], right=ends["right"])


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _ip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


class SystemRoutes:
    """The host's table through ``ip -j`` (a few milliseconds, at add time)."""

    def __init__(self, run: Runner = _ip) -> None:
        self.run = run

    def _json(self, args: list[str]) -> list[dict[str, object]]:
        done = self.run(["-j", *args])
        if done.returncode != 0 or not done.stdout.strip():
            return []
        try:
            rows = json.loads(done.stdout)
        except ValueError:
            return []
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

    def default(self, family: int) -> DefaultRoute | None:
        rows = self._json([f"-{family}", "route", "show", "table", "main", "default"])
        usable = [r for r in rows if not str(r.get("dev", "")).startswith("ipsec")]
        usable.sort(key=lambda r: int(str(r.get("metric", 0) or 0)))  # the kernel's choice: lowest metric
        for r in usable:
            gateway = r.get("gateway")
            return DefaultRoute(str(gateway) if gateway else None, str(r.get("dev", "")))
        return None

    def source(self, destination: str, device: str | None) -> str | None:
        args = ["route", "get", destination] + (["oif", device] if device else [])
        for r in self._json(args):
            if r.get("prefsrc"):
                return str(r["prefsrc"])
        return None
