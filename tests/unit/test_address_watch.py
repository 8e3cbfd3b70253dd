"""Which MOBIKE IKE SAs the address watcher moves, and where (the routing table's answer
is faked; the engine is a recorder)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from pluto_core import address_watch
from pluto_core.address_watch import AddressWatch
from pluto_core.ikev2.sa import IkeSa, IkeState
from tests.engine.harness import conn_pair


class Engine:
    def __init__(self, sas: list[IkeSa]) -> None:
        self.sas, self.moved = sas, []

    def ike_sas(self) -> list[IkeSa]:
        return self.sas

    def move(self, serial: int, address: str) -> bool:
        self.moved.append((serial, address))
        return True


def _sa(serial: int, local: str, remote: str, mobike: bool = True, initiator: bool = True,
        lease: tuple[str, ...] = ()) -> IkeSa:
    conn = replace(conn_pair()[0], lease=lease)
    sa = IkeSa(serial, conn, initiator, (local, 4500), (remote, 4500), bytes(8), state=IkeState.ESTABLISHED)
    sa.mobike, sa.first_initiator = mobike, initiator
    return sa


def _watch(sas: list[IkeSa], listening: list[str]) -> tuple[AddressWatch, Engine, list[str]]:
    engine, lines = Engine(sas), []
    host = SimpleNamespace(engine=engine, sockets={(a, p): object() for a in listening for p in (500, 4500)},
                           log=SimpleNamespace(log=lines.append))
    return AddressWatch(host), engine, lines


def test_only_our_mobike_ike_sas_move_to_the_routing_tables_source(monkeypatch: pytest.MonkeyPatch) -> None:
    routes: dict[str, Any] = {"192.0.2.2": "192.0.2.11", "192.0.2.3": "192.0.2.1", "192.0.2.4": None}
    monkeypatch.setattr(address_watch, "route_source", routes.get)
    sas = [_sa(1, "192.0.2.1", "192.0.2.2"),  # moves
           _sa(2, "192.0.2.1", "192.0.2.3"),  # already there
           _sa(3, "192.0.2.1", "192.0.2.4"),  # no route now: waits
           _sa(4, "192.0.2.1", "192.0.2.2", mobike=False),  # no MOBIKE: never
           _sa(5, "192.0.2.1", "192.0.2.2", initiator=False)]  # the peer decides (RFC 4555 3.5)
    watch, engine, _lines = _watch(sas, ["192.0.2.1", "192.0.2.11"])
    assert watch.move_ike_sas() == 1
    assert engine.moved == [(1, "192.0.2.11")]


def test_no_move_to_an_address_without_an_ike_socket_or_into_our_own_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(address_watch, "route_source", lambda peer: {"192.0.2.2": "192.0.2.99",
                                                                     "192.0.2.5": "10.9.0.7"}[peer])
    sas = [_sa(1, "192.0.2.1", "192.0.2.2"), _sa(2, "192.0.2.1", "192.0.2.5", lease=("10.9.0.7",))]
    watch, engine, lines = _watch(sas, ["192.0.2.1", "10.9.0.7"])
    assert watch.move_ike_sas() == 0 and engine.moved == []
    assert any("now leaves from 192.0.2.99, where no IKE socket listens: not moved" in line for line in lines)


def test_route_source_asks_the_routing_table() -> None:
    assert address_watch.route_source("127.0.0.1") == "127.0.0.1"
