"""What the event hooks see of Child SAs: addresses, selectors, SPIs, IDs (never
keys), and the order a rekey shows in (new up, then old down)."""

from __future__ import annotations

from dataclasses import fields, replace

from pluto_core.ikev2.events import ChildInfo
from pluto_core.ikev2.ts_narrow import Selector
from tests.engine.harness import advance, conn_pair, pump, setup, two_sides


def _child_events(side):  # type: ignore[no-untyped-def]
    return [(e.kind, e.serial, e.child) for e in side.events if e.kind in ("child-up", "child-down")]


def test_child_up_and_down_carry_the_child_sa() -> None:
    clock, west, east, sides = setup()
    west.engine.initiate("west-east")
    pump(sides)
    ((kind, serial, info),) = _child_events(west)
    (installed,) = west.kernel.installed.values()
    assert kind == "child-up" and serial == installed.serial and info is not None
    assert (info.local_addr, info.remote_addr) == ("192.1.2.45", "192.1.2.23")
    assert (info.local_id, info.remote_id) == ("@west", "@east")
    assert info.local_ts == (Selector.from_subnet("192.0.1.0/24"),)
    assert info.remote_ts == (Selector.from_subnet("192.0.2.0/24"),)
    assert (info.spi_in, info.spi_out) == (installed.inbound.spi, installed.outbound.spi)
    assert info.reqid == installed.reqid and info.mode == "tunnel" and not info.encap
    assert info.in_bytes is None  # only the removal reports counters
    # The peer sees the same SA from its side.
    ((_, _, peer),) = _child_events(east)
    assert peer is not None and (peer.spi_in, peer.spi_out) == (info.spi_out, info.spi_in)
    assert (peer.local_id, peer.remote_id) == ("@east", "@west")
    west.engine.terminate("west-east")
    pump(sides)
    kinds = [(k, s) for k, s, _ in _child_events(west)]
    assert kinds == [("child-up", serial), ("child-down", serial)]
    down = _child_events(west)[-1][2]
    assert down is not None and down.spi_in == info.spi_in


def test_child_info_has_no_key_material() -> None:
    names = {f.name for f in fields(ChildInfo)}
    assert not {n for n in names if "key" in n or "nonce" in n}, names


def test_a_child_rekey_shows_the_new_sa_up_before_the_old_goes() -> None:
    west_conn, east_conn = conn_pair(salifetime=60.0, rekeymargin=20.0, rekeyfuzz=0.0)
    clock, west, east, sides = two_sides(west_conn, replace(east_conn, salifetime=600.0))  # west alone rekeys
    west.engine.initiate("west-east")
    pump(sides)
    advance(clock, sides, 45)
    for side in (west, east):
        events = _child_events(side)
        assert [k for k, _, _ in events] == ["child-up", "child-up", "child-down"], events
        (_, old, old_info), (_, new, new_info), (_, gone, _) = events
        assert gone == old != new
        assert old_info is not None and new_info is not None and old_info.spi_in != new_info.spi_in


def test_without_a_listener_events_wait_for_the_host() -> None:
    """The daemon's mode: nothing is called back from inside receive; the host drains
    the events (``pop_events``) once each call returned."""
    _clock, west, east, sides = setup()
    west.engine.on_event = east.engine.on_event = None
    west.engine.initiate("west-east")
    pump(sides)
    assert west.events == [] and east.events == []
    assert [e.kind for e in west.engine.pop_events()] == ["ike-up", "child-up"]
    assert [e.kind for e in east.engine.pop_events()] == ["ike-up", "child-up"]
    assert west.engine.pop_events() == []
