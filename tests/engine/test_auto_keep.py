"""auto=keep (Libreswan: add, then keep the conn up once the peer brought it up), in virtual time."""

from __future__ import annotations

import dataclasses

from tests.engine.harness import advance, conn_pair, pump, two_sides


def test_auto_keep_conn_waits_for_the_peer_then_stays_up() -> None:
    west_conn, east_conn = conn_pair()  # west's is auto=add
    clock, west, east, sides = two_sides(west_conn, dataclasses.replace(east_conn, options={"auto": "keep"}))
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
