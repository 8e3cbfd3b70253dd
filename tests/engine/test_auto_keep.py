"""auto=keep (Libreswan: add, then keep the conn up once the peer brought it up), in virtual time."""

from __future__ import annotations

import dataclasses

from tests.engine.harness import Clock, advance, conn_pair, make_side, pump
from tests.engine.test_establish import PSK


def test_auto_keep_conn_waits_for_the_peer_then_stays_up() -> None:
    clock = Clock()
    west_conn, east_conn = conn_pair()
    west = make_side("192.1.2.45", 1, clock, PSK)
    east = make_side("192.1.2.23", 2, clock, PSK)
    west.engine.add_conn(west_conn)  # auto=add
    east.engine.add_conn(dataclasses.replace(east_conn, options={"auto": "keep"}))
    sides = {"192.1.2.45": west, "192.1.2.23": east}
    advance(clock, sides, 30)
    assert east.engine.ike_sas() == [] and west.engine.ike_sas() == []  # keep does not initiate
    west.engine.initiate("west-east")  # the peer brings it up
    pump(sides)
    (first,) = east.engine.ike_sas()
    assert first.state.name == "ESTABLISHED"
    assert west.engine.terminate("west-east") == 1  # and takes it down
    pump(sides)
    assert '"west-east": connection is supposed to remain up; reviving in 5s' in east.log.text()
    advance(clock, sides, 6)
    (again,) = east.engine.ike_sas()  # east brought it back
    assert again.serial > first.serial and again.state.name == "ESTABLISHED"
    assert "reviving" not in west.log.text()  # auto=add stays down
