"""MOBIKE (RFC 4555) between two engines: west (the initiator) moves from one address to
another; east follows, and each end's Child SAs move in its kernel, keys kept."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pluto_core.ikev2.enums import ExchangeType, NotifyType
from pluto_core.ikev2.message import Message, parse_message
from pluto_core.ikev2.nat_detect import nat_hash
from pluto_core.ikev2.payloads import Notify
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.tasks import mobike
from pluto_plugins.natt import NatTraversal
from tests.engine.harness import EAST_ADDR, PSK, WEST_ADDR, Clock, Side, advance, conn_pair, make_side, pump

MOVED = "192.1.3.45"  # west's second address


def _sides(west: dict[str, Any] | None = None, east: dict[str, Any] | None = None,
           west_kernel: dict[str, Any] | None = None) -> tuple[Clock, Side, Side, dict[str, Side]]:
    west_conn, east_conn = conn_pair()
    west_conn = replace(west_conn, **{"mobike": True, **(west or {})})
    east_conn = replace(east_conn, **{"mobike": True, **(east or {})})
    clock = Clock()
    w = make_side(WEST_ADDR, 1, clock, PSK, extensions=NatTraversal())
    e = make_side(EAST_ADDR, 2, clock, PSK, extensions=NatTraversal())
    for key, value in (west_kernel or {}).items():
        setattr(w.kernel, key, value)
    w.engine.add_conn(west_conn)
    e.engine.add_conn(east_conn)
    return clock, w, e, {WEST_ADDR: w, MOVED: w, EAST_ADDR: e}


def _wire() -> tuple[list[tuple[tuple[str, int], tuple[str, int], Message]], Any]:
    seen: list[tuple[tuple[str, int], tuple[str, int], Message]] = []

    def wire(datagrams: list[Any]) -> list[Any]:
        for d in datagrams:
            seen.append((d.local, d.remote, parse_message(d.data)))
        return datagrams
    return seen, wire


def _up(sides: dict[str, Side], west: Side, wire: Any = None) -> tuple[IkeSa, IkeSa]:
    serial = west.engine.initiate("west-east")
    pump(sides, wire=wire)
    east = sides[EAST_ADDR]
    w, e = west.engine.ike_sas()[0], east.engine.ike_sas()[0]
    assert w.serial == serial and w.state == e.state == IkeState.ESTABLISHED
    return w, e


def test_mobike_is_agreed_in_ike_auth_and_ike_moves_to_port_4500() -> None:
    _clock, west, east, sides = _sides()
    seen, wire = _wire()
    w, e = _up(sides, west, wire)
    assert w.mobike and e.mobike
    auth = [(src, dst) for src, dst, msg in seen if msg.exchange_type == ExchangeType.IKE_AUTH]
    # RFC 4555 3.3: from IKE_AUTH on, UDP 4500 at both ends, though no NAT is in the way
    assert auth == [((WEST_ADDR, 4500), (EAST_ADDR, 4500)), ((EAST_ADDR, 4500), (WEST_ADDR, 4500))]
    assert w.local == (WEST_ADDR, 4500) and e.remote == (WEST_ADDR, 4500)
    assert "MOBIKE (RFC 4555) agreed with the peer" in west.log.text()
    assert "MOBIKE (RFC 4555) agreed with the peer" in east.log.text()
    # no NAT: the Child SAs carry plain ESP
    assert all(c.encap is None for c in west.kernel.installed.values())


def test_the_initiator_moves_and_both_kernels_follow_with_the_same_keys() -> None:
    clock, west, east, sides = _sides()
    w, e = _up(sides, west)
    (w_child,) = west.kernel.installed.values()
    (e_child,) = east.kernel.installed.values()
    seen, wire = _wire()
    assert west.engine.move(w.serial, MOVED)
    pump(sides, wire=wire)
    (request_src, request_dst, request), (_rs, response_dst, response) = seen
    assert (request_src, request_dst) == ((MOVED, 4500), (EAST_ADDR, 4500))
    assert request.exchange_type == ExchangeType.INFORMATIONAL and response_dst == (MOVED, 4500)
    assert w.local == (MOVED, 4500) and e.remote == (MOVED, 4500)
    # each kernel moved the one Child SA: new outer addresses, same SPIs and keys
    ((w_old, w_new),) = west.kernel.migrations
    ((e_old, e_new),) = east.kernel.migrations
    assert (w_old, e_old) == (w_child, e_child)
    assert (w_new.local_addr, w_new.remote_addr) == (MOVED, EAST_ADDR)
    assert (e_new.local_addr, e_new.remote_addr) == (EAST_ADDR, MOVED)
    assert w_new.inbound == w_child.inbound and w_new.outbound == w_child.outbound
    assert west.kernel.installed[w_child.serial] == w_new and east.kernel.installed[e_child.serial] == e_new
    assert f"MOBIKE: local address changed from {WEST_ADDR}:4500 to {MOVED}:4500: sending UPDATE_SA_ADDRESSES" \
        in west.log.text()
    assert f"MOBIKE: peer moved from {WEST_ADDR}:4500 to {MOVED}:4500 (no NAT); 1 Child SA moved" \
        in east.log.text()
    assert f"now reached from {MOVED}:4500 (no NAT); 1 Child SA moved" in west.log.text()
    # what follows uses the new path: a Child SA rekey installs its SAs there
    west.engine.expire(w_new.inbound.spi, hard=False)
    pump(sides)
    newest = max(west.kernel.installed.values(), key=lambda c: c.serial)
    assert newest.serial != w_child.serial and newest.local_addr == MOVED
    assert east.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    advance(clock, sides, 5)


def test_the_update_carries_nat_detection_and_a_cookie2_that_comes_back() -> None:
    _clock, west, east, sides = _sides()
    w, _e = _up(sides, west)
    captured: list[tuple[str, list[Any]]] = []
    original = mobike.process_r

    def spy(engine: Any, sa: IkeSa, msg: Message, payloads: list[Any]) -> None:
        captured.append(("request", payloads))
        original(engine, sa, msg, payloads)
    mobike_process_r, mobike.process_r = mobike.process_r, spy  # type: ignore[assignment]
    try:
        west.engine.move(w.serial, MOVED)
        pump(sides)
    finally:
        mobike.process_r = mobike_process_r  # type: ignore[assignment]
    ((_, payloads),) = captured
    notes = {p.type: p.data for p in payloads if isinstance(p, Notify)}
    assert notes[NotifyType.UPDATE_SA_ADDRESSES] == b""
    assert notes[NotifyType.NAT_DETECTION_SOURCE_IP] == nat_hash(w.spi_i, w.spi_r, MOVED, 4500)
    assert notes[NotifyType.NAT_DETECTION_DESTINATION_IP] == nat_hash(w.spi_i, w.spi_r, EAST_ADDR, 4500)
    assert len(notes[NotifyType.COOKIE2]) == mobike.COOKIE2_SIZE


def test_an_answer_without_our_cookie2_moves_nothing() -> None:
    _clock, west, east, sides = _sides()
    w, _e = _up(sides, west)
    ctx = mobike.UpdateCtx((WEST_ADDR, 4500), b"c" * 16)
    msg = Message(w.spi_i, w.spi_r, ExchangeType.INFORMATIONAL, 0x20, 9, [])  # type: ignore[call-arg]
    mobike.process_i(west.engine, w, msg, [Notify(NotifyType.COOKIE2, b"x" * 16)], ctx)
    assert west.kernel.migrations == []
    assert "does not return our COOKIE2: Child SAs not moved" in west.log.text()


def test_the_responder_never_moves_an_ike_sa_on_its_own() -> None:
    """A MOBIKE IKE SA moves only with UPDATE_SA_ADDRESSES: a liveness probe from a new
    address is answered where the SA is, and nothing moves (RFC 4555 3.5)."""
    clock, west, east, sides = _sides(west={"dpddelay": 10.0, "dpdtimeout": 60.0})
    w, e = _up(sides, west)
    w.local = (MOVED, 4500)  # as if west's packets took another way, unannounced
    advance(clock, sides, 15)
    assert e.remote == (WEST_ADDR, 4500)
    assert east.kernel.migrations == []


def test_only_the_initiator_may_move() -> None:
    _clock, west, east, sides = _sides()
    _w, e = _up(sides, west)
    assert not east.engine.move(e.serial, "192.1.2.99")
    assert east.kernel.migrations == west.kernel.migrations == []


def test_no_mobike_when_the_peer_does_not_want_it() -> None:
    _clock, west, east, sides = _sides(east={"mobike": False})
    seen, wire = _wire()
    w, e = _up(sides, west, wire)
    assert not w.mobike and not e.mobike
    auth_response = [msg for _s, _d, msg in seen if msg.exchange_type == ExchangeType.IKE_AUTH][1]
    assert auth_response.is_response
    assert not west.engine.move(w.serial, MOVED)
    assert "agreed" not in east.log.text()


def test_a_kernel_that_cannot_move_sas_means_no_mobike_supported() -> None:
    _clock, west, east, sides = _sides(west_kernel={"no_migrate": "not with this backend: PF_KEY"})
    w, e = _up(sides, west)
    assert not w.mobike and not e.mobike
    # checked when the conn is added, and said
    west2 = make_side(WEST_ADDR, 5, Clock(), PSK)
    west2.kernel.no_migrate = "not with this backend: PF_KEY"
    west2.engine.add_conn(replace(conn_pair()[0], mobike=True))
    assert '"west-east": mobike=yes, but MOBIKE_SUPPORTED is not sent: not with this backend: PF_KEY' \
        in west2.log.text()
    assert w.local == (WEST_ADDR, 500)  # and no move to 4500 for it


def test_no_nats_allowed_with_other_addresses_is_answered_unexpected_nat_detected() -> None:
    _clock, west, east, sides = _sides()
    _w, e = _up(sides, west)
    # what the IP header says
    east.engine.answering(e, e.expected_request_id, (EAST_ADDR, 4500), ("198.51.100.7", 4500))
    claimed = mobike.no_nats_data((MOVED, 4500), (EAST_ADDR, 4500))  # what the sender put in
    msg = Message(e.spi_i, e.spi_r, ExchangeType.INFORMATIONAL, 0x08, e.expected_request_id,  # type: ignore[call-arg]
                  [])
    mobike.process_r(east.engine, e, msg, [Notify(NotifyType.UPDATE_SA_ADDRESSES),
                                           Notify(NotifyType.NO_NATS_ALLOWED, claimed)])
    assert e.remote == (WEST_ADDR, 4500) and east.kernel.migrations == []
    assert "crossed a NAT but NO_NATS_ALLOWED: sending UNEXPECTED_NAT_DETECTED" in east.log.text()


def test_after_an_ike_sa_rekey_by_the_responder_the_client_still_moves() -> None:
    """RFC 4555's initiator is who started the first IKE SA: a rekey the gateway initiated
    changes neither that nor the agreement."""
    from pluto_core.ikev2.tasks import ike_rekey

    _clock, west, east, sides = _sides()
    _w, e = _up(sides, west)
    ike_rekey.rekey_ike(east.engine, e)
    pump(sides)
    (w2,), (e2,) = west.engine.ike_sas(), east.engine.ike_sas()
    assert w2.serial != _w.serial and not w2.initiator  # east initiated the rekey
    assert w2.mobike and e2.mobike and w2.first_initiator and not e2.first_initiator
    assert not east.engine.move(e2.serial, "192.1.2.99")
    assert west.engine.move(w2.serial, MOVED)
    pump(sides)
    assert e2.remote == (MOVED, 4500)
    assert [new.local_addr for _old, new in west.kernel.migrations] == [MOVED]
