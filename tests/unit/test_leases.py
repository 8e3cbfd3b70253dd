"""The CP client's host side (pluto_core/leases.py): the lease on lo, routes to the peer's
subnets through the way to the peer with the lease as source, all removed with the last
Child SA; the exact ``ip`` commands are what the kernel gets."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from types import SimpleNamespace

from pluto_core.ikev2.events import ChildDown, ChildInfo, ChildUp
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.leases import LeaseRoutes, route_commands
from tests.engine.harness import Recorder

LEASE = Selector.from_subnet("10.9.0.10/32")
EAST_NET = Selector.from_subnet("203.0.113.0/24")


def _info(local: Selector = LEASE) -> ChildInfo:
    return ChildInfo(1, "192.0.2.11", "192.0.2.2", "@road", "@east", "tunnel", (local,), (EAST_NET,),
                     1, 2, 16388, False)


class FakeIp:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        out = "192.0.2.2 via 192.0.2.254 dev eth0 src 192.0.2.11 uid 0\n" if args[:2] == ["route", "get"] else ""
        return subprocess.CompletedProcess(list(args), 0, out, "")


def _routes(modecfgclient: bool = True) -> tuple[LeaseRoutes, FakeIp, Recorder]:
    conn = SimpleNamespace(options={"modecfgclient": modecfgclient})
    fake, log = FakeIp(), Recorder()
    return LeaseRoutes(lambda name: conn, log, run=fake), fake, log


def test_route_commands_split_the_default_route_as_libreswan() -> None:
    found = "192.0.2.2 dev eth0 src 192.0.2.11"
    assert route_commands("10.9.0.10", "192.0.2.2", ["0.0.0.0/0"], found) == [
        ["route", "replace", "0.0.0.0/1", "dev", "eth0", "src", "10.9.0.10"],
        ["route", "replace", "128.0.0.0/1", "dev", "eth0", "src", "10.9.0.10"]]


def test_up_adds_the_lease_and_routes_and_the_last_down_removes_them() -> None:
    routes, fake, log = _routes()
    routes.on_event(ChildUp("road", 2, "", _info()))
    routes.on_event(ChildUp("road", 4, "", _info()))  # a rekey: the new SA first...
    routes.on_event(ChildDown("road", 2, "", _info()))  # ...then the old one goes: nothing to do
    routes.on_event(ChildDown("road", 4, "", _info()))
    routes.close()
    assert fake.calls == [
        ["addr", "replace", "10.9.0.10/32", "dev", "lo"],
        ["route", "get", "192.0.2.2"],
        ["route", "replace", "203.0.113.0/24", "via", "192.0.2.254", "dev", "eth0", "src", "10.9.0.10"],
        ["route", "del", "203.0.113.0/24", "via", "192.0.2.254", "dev", "eth0", "src", "10.9.0.10"],
        ["addr", "del", "10.9.0.10/32", "dev", "lo"],
    ]
    assert '"road" #2 added lease 10.9.0.10/32 to lo; routes to 203.0.113.0/24 use it as source' in log.text()
    assert '"road" #4 removed lease 10.9.0.10/32 from lo and its routes' in log.text()


def test_conns_that_are_no_cp_clients_and_subnets_are_left_alone() -> None:
    routes, fake, _ = _routes(modecfgclient=False)
    routes.on_event(ChildUp("road", 2, "", _info()))
    routes2, fake2, _ = _routes()
    routes2.on_event(ChildUp("road", 2, "", _info(Selector.from_subnet("198.51.100.0/24"))))
    routes.close()
    routes2.close()
    assert fake.calls == [] and fake2.calls == []
