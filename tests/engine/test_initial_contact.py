"""INITIAL_CONTACT (RFC 7296 2.4; initial-contact=yes): sent only when we hold no
other IKE SA between the two identities; received, it removes the receiver's stale
IKE SAs with that peer (a restarted peer) without a Delete. uniqueids is off here
so that only INITIAL_CONTACT can remove anything."""

from __future__ import annotations

import dataclasses

from tests.engine.harness import PSK, Clock, Side, conn_pair, make_side, pump

WEST, EAST = "192.1.2.45", "192.1.2.23"


def _sides(initial_contact: bool) -> tuple[Clock, Side, Side, object]:
    clock = Clock()
    west_conn, east_conn = conn_pair()
    west_conn = dataclasses.replace(west_conn, options={"initial-contact": initial_contact})
    west = make_side(WEST, 1, clock, PSK, uniqueids=False)
    east = make_side(EAST, 2, clock, PSK, uniqueids=False)
    west.engine.add_conn(west_conn)
    east.engine.add_conn(east_conn)
    return clock, west, east, west_conn


def _restart_west(clock: Clock, west_conn: object, seed: int) -> Side:
    """west loses every state (a reboot) and comes back with the same conn."""
    west = make_side(WEST, seed, clock, PSK, uniqueids=False)
    west.engine.add_conn(west_conn)  # type: ignore[arg-type]
    return west


def test_a_restarted_peer_clears_its_stale_sas_here() -> None:
    clock, west, east, west_conn = _sides(initial_contact=True)
    west.engine.initiate("west-east")
    pump({WEST: west, EAST: east})
    (old,) = east.engine.ike_sas()
    old_children = set(east.kernel.installed)
    west = _restart_west(clock, west_conn, 3)
    west.engine.initiate("west-east")
    pump({WEST: west, EAST: east})
    (new,) = east.engine.ike_sas()
    assert new.serial != old.serial and new.children
    assert not old_children & set(east.kernel.installed)  # the stale Child SA left the kernel
    assert (f'"west-east" #{old.serial}: deleting IKE SA: peer FQDN \'@west\' sent INITIAL_CONTACT in '
            f"#{new.serial}") in east.log.text()
    # no Delete went to the restarted peer: it has only its new IKE SA and heard nothing else
    assert len(west.engine.ike_sas()) == 1 and "INVALID_IKE_SPI" not in west.log.text()


def test_without_initial_contact_the_stale_sas_stay() -> None:
    clock, west, east, west_conn = _sides(initial_contact=False)
    west.engine.initiate("west-east")
    pump({WEST: west, EAST: east})
    west = _restart_west(clock, west_conn, 3)
    west.engine.initiate("west-east")
    pump({WEST: west, EAST: east})
    assert len(east.engine.ike_sas()) == 2
    assert "INITIAL_CONTACT" not in east.log.text()


def test_not_sent_while_another_ike_sa_with_the_peer_is_up() -> None:
    _clock, west, east, _ = _sides(initial_contact=True)
    west.engine.initiate("west-east")
    pump({WEST: west, EAST: east})
    west.engine.initiate("west-east")  # a second IKE SA beside the first: no INITIAL_CONTACT
    pump({WEST: west, EAST: east})
    assert len(east.engine.ike_sas()) == 2 and len(west.engine.ike_sas()) == 2
    assert "INITIAL_CONTACT" not in east.log.text()
