"""NAT traversal (RFC 7296 section 2.23, RFC 3948) between two engines, each with the
NAT-T plugin as its extension, and a NAT on the wire that rewrites the initiator's
address and ports as a home router does."""

from __future__ import annotations

from typing import Any

import pytest

from pluto_core.ikev2.enums import NotifyType
from pluto_core.ikev2.events import Datagram
from pluto_core.ikev2.message import parse_message
from pluto_core.ikev2.payloads import Notify
from pluto_core.ikev2.proposal_build import esp_proposal, ike_proposal
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import EngineConn, IdSpec, TransportHint
from pluto_plugins.natt import NatFinding, NatTraversal, detection_notifies, evaluate, nat_hash
from tests.engine.harness import ENCR_AES_GCM_16, PRF_SHA256, PSK, Clock, Side, advance, make_side, pump

ROAD, PUBLIC, EAST = "10.9.0.2", "192.1.2.99", "192.1.2.23"
NAT_PORTS = {500: 1024, 4500: 1025}  # what the NAT maps the road warrior's ports to


def _conns(**road_kw: Any) -> tuple[EngineConn, EngineConn]:
    ikep = (ike_proposal(1, [(ENCR_AES_GCM_16, 256)], [PRF_SHA256], [], [19]),)
    espp = (esp_proposal(1, [(ENCR_AES_GCM_16, 256)]),)
    east_kw = {k: v for k, v in road_kw.items() if k == "encapsulation"}
    road = EngineConn("road", ROAD, EAST, IdSpec.parse("@west"), IdSpec.parse("@east"),
                      (Selector.from_subnet(f"{ROAD}/32"),), (Selector.from_subnet("192.0.2.0/24"),), ikep, espp,
                      options=road_kw)
    east = EngineConn("road", EAST, None, IdSpec.parse("@east"), IdSpec.parse("@west"),
                      (Selector.from_subnet("192.0.2.0/24"),), (Selector.from_subnet("10.9.0.0/24"),), ikep, espp,
                      options=east_kw)
    return road, east


class Nat:
    """Masquerade: the road warrior's packets leave from PUBLIC with other ports;
    answers to those are sent back in. Keepalives (raw) are counted, not delivered:
    the kernel's ESP-in-UDP socket takes them, never the IKE engine."""

    def __init__(self, active: bool = True) -> None:
        self.active = active
        self.keepalives: list[Datagram] = []
        self.seen: list[Datagram] = []

    def __call__(self, datagrams: list[Datagram]) -> list[Datagram]:
        out = []
        for d in datagrams:
            self.seen.append(d)
            if d.raw:
                self.keepalives.append(d)
                continue
            if self.active and d.local[0] == ROAD:
                d = Datagram(d.data, (PUBLIC, NAT_PORTS[d.local[1]]), d.remote)
            elif self.active and d.remote[0] == PUBLIC:
                inside = {v: k for k, v in NAT_PORTS.items()}[d.remote[1]]
                d = Datagram(d.data, d.local, (ROAD, inside))
            out.append(d)
        return out


def _setup(nat: Nat, **road_kw: Any) -> tuple[Clock, Side, Side, dict[str, Side]]:
    clock = Clock()
    road_conn, east_conn = _conns(**road_kw)
    road = make_side(ROAD, 1, clock, PSK, extensions=NatTraversal())
    east = make_side(EAST, 2, clock, PSK, extensions=NatTraversal())
    road.engine.extensions.log = road.log  # type: ignore[attr-defined]
    east.engine.extensions.log = east.log  # type: ignore[attr-defined]
    road.engine.add_conn(road_conn)
    east.engine.add_conn(east_conn)
    return clock, road, east, {ROAD: road, EAST: east, PUBLIC: road}


def test_hashes_and_evaluation() -> None:
    spi_i, spi_r = bytes(range(8)), bytes(8)
    notifies = detection_notifies(spi_i, spi_r, (ROAD, 500), (EAST, 500))
    assert [n.type for n in notifies] == [NotifyType.NAT_DETECTION_SOURCE_IP,  # type: ignore[attr-defined]
                                          NotifyType.NAT_DETECTION_DESTINATION_IP]
    assert notifies[0].data == nat_hash(spi_i, spi_r, ROAD, 500)  # type: ignore[attr-defined]
    assert len(notifies[0].data) == 20  # type: ignore[attr-defined]
    # east reads them off a packet that really came from ROAD:500, or through the NAT
    assert evaluate(notifies, spi_i, spi_r, (EAST, 500), (ROAD, 500)) == NatFinding(False, False)
    assert evaluate(notifies, spi_i, spi_r, (EAST, 500), (PUBLIC, 1024)) == NatFinding(False, True)
    assert evaluate(notifies, spi_i, spi_r, ("192.1.2.24", 500), (ROAD, 500)) == NatFinding(True, False)
    assert evaluate(notifies[:1], spi_i, spi_r, (EAST, 500), (ROAD, 500)) is None
    # encapsulation=yes: the source hash is made to mismatch, so the peer sees a NAT
    forced = detection_notifies(spi_i, spi_r, (ROAD, 500), (EAST, 500), pretend_nat=True)
    assert evaluate(forced, spi_i, spi_r, (EAST, 500), (ROAD, 500)) == NatFinding(False, True)


def test_road_warrior_behind_nat_floats_to_4500_and_encapsulates() -> None:
    nat = Nat()
    clock, road, east, sides = _setup(nat)
    road.engine.initiate("road")
    pump(sides, wire=nat)
    (rsa,), (esa,) = road.engine.ike_sas(), east.engine.ike_sas()
    assert rsa.transport == TransportHint(port=4500, encapsulate=True, keepalive=True, follow_peer=True)
    assert esa.transport == TransportHint(encapsulate=True, follow_peer=True)
    # IKE_SA_INIT on 500; from IKE_AUTH on, both sides on 4500 (the NAT's mapping of it)
    ports = [(d.local[1], d.remote[1]) for d in nat.seen]
    assert ports[:2] == [(500, 500), (500, 1024)] and set(ports[2:]) == {(4500, 4500), (4500, 1025)}, ports
    assert (rsa.local, rsa.remote) == ((ROAD, 4500), (EAST, 4500))
    assert (esa.local, esa.remote) == ((EAST, 4500), (PUBLIC, 1025))
    (rchild,), (echild,) = road.kernel.installed.values(), east.kernel.installed.values()
    assert (rchild.remote_addr, rchild.encap) == (EAST, (4500, 4500))
    assert (echild.remote_addr, echild.encap) == (PUBLIC, (4500, 1025))
    assert "NAT detected: we are behind a NAT" in road.log.text()
    assert f"NAT detected: the peer is behind a NAT (peer seen at {PUBLIC}:1024)" in east.log.text()
    # the road warrior (only) keeps the mapping open: one 0xFF every 20 s from 4500
    advance(clock, sides, 45, wire=nat)
    assert [(d.data, d.local, d.remote) for d in nat.keepalives] == [(b"\xff", (ROAD, 4500), (EAST, 4500))] * 2
    # a Child SA rekey through the NAT keeps the encapsulation; then a Delete
    road.engine.expire(rchild.outbound.spi, hard=False)
    pump(sides, wire=nat)
    (rnew,), (enew,) = road.kernel.installed.values(), east.kernel.installed.values()
    assert rnew.inbound.spi != rchild.inbound.spi and (rnew.encap, enew.encap) == ((4500, 4500), (4500, 1025))
    road.engine.terminate("road")
    pump(sides, wire=nat)
    assert east.engine.ike_sas() == [] and east.kernel.installed == {}


def test_no_nat_stays_on_500_without_encapsulation() -> None:
    nat = Nat(active=False)
    _clock, road, east, sides = _setup(nat)
    road.engine.initiate("road")
    pump(sides, wire=nat)
    (rsa,), (esa,) = road.engine.ike_sas(), east.engine.ike_sas()
    assert rsa.transport == esa.transport == TransportHint(follow_peer=True)
    assert {(d.local[1], d.remote[1]) for d in nat.seen} == {(500, 500)}
    assert [c.encap for c in road.kernel.installed.values()] == [None]
    # both sent the notifies in IKE_SA_INIT
    for d in nat.seen[:2]:
        types = [p.type for p in parse_message(d.data).payloads if isinstance(p, Notify)]
        assert NotifyType.NAT_DETECTION_SOURCE_IP in types and NotifyType.NAT_DETECTION_DESTINATION_IP in types


@pytest.mark.parametrize("setting", ["no"])
def test_encapsulation_no_sends_no_detection_and_never_floats(setting: str) -> None:
    nat = Nat(active=False)
    _clock, road, east, sides = _setup(nat, encapsulation=setting)
    road.engine.initiate("road")
    pump(sides, wire=nat)
    types = [p.type for p in parse_message(nat.seen[0].data).payloads if isinstance(p, Notify)]
    assert NotifyType.NAT_DETECTION_SOURCE_IP not in types
    assert road.engine.ike_sas()[0].transport is None and east.engine.ike_sas()[0].transport is None


def test_encapsulation_yes_forces_esp_in_udp_without_a_nat() -> None:
    nat = Nat(active=False)
    _clock, road, east, sides = _setup(nat, encapsulation="yes")
    road.engine.initiate("road")
    pump(sides, wire=nat)
    (rsa,), (esa,) = road.engine.ike_sas(), east.engine.ike_sas()
    assert esa.transport is not None and esa.transport.encapsulate  # the faked source hash
    assert rsa.local[1] == rsa.remote[1] == 4500
    assert [c.encap for c in road.kernel.installed.values()] == [(4500, 4500)]
    assert [c.encap for c in east.kernel.installed.values()] == [(4500, 4500)]


def test_nat_keepalive_no_sends_none() -> None:
    nat = Nat()
    clock, road, _east, sides = _setup(nat, **{"nat-keepalive": False})
    road.engine.initiate("road")
    pump(sides, wire=nat)
    advance(clock, sides, 45, wire=nat)
    assert road.engine.ike_sas()[0].remote == (EAST, 4500) and nat.keepalives == []


def test_peer_without_nat_t_keeps_port_500_behind_a_nat() -> None:
    """A responder that sends no NAT_DETECTION notify: nothing floats, nothing is
    encapsulated (the masquerade alone must carry ESP)."""
    nat = Nat()
    clock = Clock()
    road_conn, east_conn = _conns()
    road = make_side(ROAD, 1, clock, PSK, extensions=NatTraversal())
    east = make_side(EAST, 2, clock, PSK)  # no NAT-T extension
    road.engine.add_conn(road_conn)
    east.engine.add_conn(east_conn)
    sides = {ROAD: road, EAST: east, PUBLIC: road}
    road.engine.initiate("road")
    pump(sides, wire=nat)
    assert road.engine.ike_sas()[0].transport is None
    assert {(d.local[1], d.remote[1]) for d in nat.seen} == {(500, 500), (500, 1024)}
    assert [c.encap for c in road.kernel.installed.values()] == [None]


def test_a_new_nat_mapping_moves_the_ike_sa_and_its_child_sas() -> None:
    """The NAT gives the road warrior's port 4500 a new public port (1026); east's kernel
    reports authenticated ESP from it (XFRM_MSG_MAPPING): the IKE SA and its Child SA move
    there (ESP in UDP to the new port, keys kept), and IKE goes on over the new mapping."""
    nat = Nat()
    clock, road, east, sides = _setup(nat)
    road.engine.initiate("road")
    pump(sides, wire=nat)
    (esa,) = east.engine.ike_sas()
    (echild,) = east.kernel.installed.values()
    NAT_PORTS[4500] = 1026
    try:
        assert east.engine.mapping(echild.inbound.spi, PUBLIC, 1026)
        pump(sides, wire=nat)
        assert esa.remote == (PUBLIC, 1026)
        ((old, new),) = east.kernel.migrations
        east.engine.expire(echild.inbound.spi, hard=False)
        pump(sides, wire=nat)
        assert len(road.kernel.installed) == 1 and next(iter(road.kernel.installed.values())).serial != echild.serial
    finally:
        NAT_PORTS[4500] = 1025
    assert old == echild and (new.remote_addr, new.encap) == (PUBLIC, (4500, 1026))
    assert new.inbound == echild.inbound and new.outbound == echild.outbound
    log = east.log.text()
    assert f"NAT mapping of the peer changed: ESP in UDP now from {PUBLIC}:1026 (was {PUBLIC}:1025)" in log, log
    assert f"peer now at {PUBLIC}:1026: 1 Child SA(s) moved there" in log, log
    # an SPI of no Child SA of ours: nothing to do
    assert not east.engine.mapping(0x1234, PUBLIC, 1027)
    advance(clock, sides, 1, wire=nat)
