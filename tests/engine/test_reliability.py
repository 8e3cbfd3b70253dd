"""Loss, duplication and reordering; cookies; INVALID_KE; delete; liveness; under virtual time."""

from __future__ import annotations

import random

from pluto_core.ikev2.proposal_build import ike_proposal
from tests.engine.harness import (
    ENCR_AES_GCM_16,
    PRF_SHA256,
    advance,
    conn_pair,
    pump,
    setup,
    two_sides,
)


def _up(side) -> bool:  # type: ignore[no-untyped-def]
    return [e.kind for e in side.events][:2] == ["ike-up", "child-up"]


def test_lost_packets_are_retransmitted() -> None:
    clock, west, east, sides = setup()
    dropped = {"n": 0}

    def lose_first_two(batch):  # type: ignore[no-untyped-def]
        out = []
        for d in batch:
            if dropped["n"] < 2:
                dropped["n"] += 1
                continue
            out.append(d)
        return out

    west.engine.initiate("west-east")
    pump(sides, wire=lose_first_two)
    assert not _up(west)
    advance(clock, sides, 5, wire=lose_first_two)
    assert _up(west) and _up(east), west.log.text()
    assert dropped["n"] == 2
    assert "| \"west-east\" #1: retransmit 1 of request 0" in west.log.text()


def test_duplicates_get_the_cached_answer_and_reordering_is_survived() -> None:
    clock, west, east, sides = setup()
    rng = random.Random(7)

    def duplicate_and_shuffle(batch):  # type: ignore[no-untyped-def]
        out = batch + batch
        rng.shuffle(out)
        return out

    west.engine.initiate("west-east")
    pump(sides, wire=duplicate_and_shuffle)
    advance(clock, sides, 3, wire=duplicate_and_shuffle)
    assert _up(west) and _up(east)
    assert len(west.kernel.installed) == 1 and len(east.kernel.installed) == 1
    assert "retransmitted IKE_AUTH request 1: resending response" in east.log.text()


def test_silent_peer_times_out() -> None:
    clock, west, east, sides = setup(retransmit_timeout=10.0)
    west.engine.initiate("west-east")
    advance(clock, sides, 15, wire=lambda batch: [])
    assert "10 second timeout exceeded" in west.log.text()
    assert [e.kind for e in west.events] == ["ike-failed"]
    assert west.engine.ike_sas() == []


def test_cookie_round_trip_under_force_busy() -> None:
    _clock, west, east, sides = two_sides(*conn_pair(), force_busy=True)
    west.engine.initiate("west-east")
    first = west.engine.pop_datagrams()
    east.engine.receive(first[0].data, first[0].remote, first[0].local)
    assert east.engine.ike_sas() == [] and not east.engine.half_open  # no state before the cookie
    for d in east.engine.pop_datagrams():
        west.engine.receive(d.data, d.remote, d.local)
    pump(sides)
    assert "resending IKE_SA_INIT request with COOKIE" in west.log.text()
    assert _up(west) and _up(east)


def test_invalid_ke_retry() -> None:
    west_conn, east_conn = conn_pair()
    # West proposes DH31 first but also allows DH19; east only takes DH19.
    west_conn = west_conn.__class__(**{**{f: getattr(west_conn, f) for f in west_conn.__dataclass_fields__},
                                       "ike_proposals": (ike_proposal(1, [(ENCR_AES_GCM_16, 256)], [PRF_SHA256],
                                                                      [], [31, 19]),)})
    _clock, west, east, sides = two_sides(west_conn, east_conn)
    west.engine.initiate("west-east")
    pump(sides)
    assert "received INVALID_KE_PAYLOAD response suggesting DH19" in west.log.text()
    assert _up(west) and _up(east)


def test_delete_removes_both_sides() -> None:
    _clock, west, east, sides = setup()
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.terminate("west-east") == 1
    pump(sides)
    assert west.kernel.installed == {} and east.kernel.installed == {}
    assert west.engine.ike_sas() == [] and east.engine.ike_sas() == []
    assert "received Delete SA payload: deleting IKE SA" in east.log.text()
    assert [e.kind for e in east.events][-2:] == ["child-down", "ike-down"]


def test_liveness_failure_of_a_silent_peer() -> None:
    clock, west, east, sides = setup(dpddelay=10.0, retransmit_timeout=20.0)
    west.engine.initiate("west-east")
    pump(sides)
    assert _up(west)
    advance(clock, sides, 25)  # liveness checks answered: still up
    assert len(west.engine.ike_sas()) == 1
    advance(clock, sides, 60, wire=lambda batch: [])  # the peer goes silent
    assert west.engine.ike_sas() == [] and west.kernel.installed == {}
    assert "timeout exceeded" in west.log.text()


def test_liveness_gives_up_after_dpdtimeout() -> None:
    """dpddelay=10s, dpdtimeout=15s (retransmit-timeout 60s): a peer that goes silent
    is declared dead within dpddelay + dpdtimeout, not after the retransmit timeout."""
    clock, west, east, sides = setup(dpddelay=10.0, dpdtimeout=15.0, retransmit_timeout=60.0)
    west.engine.initiate("west-east")
    pump(sides)
    assert _up(west)
    advance(clock, sides, 7)  # the last message heard was 7 s ago when the peer goes silent
    silent = clock.now
    advance(clock, sides, 10 - 7 + 15 + 0.5, wire=lambda batch: [])
    assert west.engine.ike_sas() == [] and west.kernel.installed == {}, clock.now - silent
    assert "15 second timeout exceeded after" in west.log.text()


def test_uniqueids_new_ike_sa_replaces_old() -> None:
    _clock, west, east, sides = setup()
    west.engine.initiate("west-east")
    pump(sides)
    west.engine.initiate("west-east")
    pump(sides)
    assert len(east.engine.ike_sas()) == 1 and len(west.engine.ike_sas()) == 1
    assert east.engine.ike_sas()[0].serial == 3  # the second IKE SA (#1 and its Child SA #2 came first)
    assert "replaced by #" in east.log.text()
    assert len(east.kernel.installed) == 1 and len(west.kernel.installed) == 1


def test_request_for_unknown_ike_sa_gets_invalid_ike_spi() -> None:
    from pluto_core.ikev2.message import Message, parse_message
    from pluto_core.ikev2.payloads import EncryptedPayload, Notify

    _clock, west, east, sides = setup()
    bogus = Message(bytes(range(1, 9)), bytes(range(9, 17)), 37, 0x08, 5, [EncryptedPayload(0, bytes(40))])
    east.engine.receive(bogus.to_bytes(), ("192.1.2.23", 500), ("192.1.2.45", 500))
    (reply,) = east.engine.pop_datagrams()
    answer = parse_message(reply.data)
    assert answer.is_response and answer.message_id == 5 and answer.spi_i == bytes(range(1, 9))
    assert [p.type for p in answer.payloads if isinstance(p, Notify)] == [4]  # INVALID_IKE_SPI
    # A flood gets at most the rate limit's worth of answers.
    for _ in range(50):
        east.engine.receive(bogus.to_bytes(), ("192.1.2.23", 500), ("192.1.2.45", 500))
    assert east.engine.pop_datagrams() == []


def test_auto_start_conn_revives_after_liveness_failure() -> None:
    clock, west, east, sides = setup(dpddelay=10.0, retransmit_timeout=20.0, options={"auto": "start"})
    west.engine.initiate("west-east")
    pump(sides)
    advance(clock, sides, 60, wire=lambda batch: [])  # the peer goes silent: SAs deleted
    assert west.engine.ike_sas() == [] or west.engine.ike_sas()[0].state.name != "ESTABLISHED"
    assert "connection is supposed to remain up; reviving in 5s" in west.log.text()
    # East restarts from nothing (its old SA is gone too) and the wire works again.
    for sa in list(east.engine.sas.values()):
        east.engine.forget(sa)
    east.kernel.installed.clear()
    advance(clock, sides, 30)
    assert len(west.engine.ike_sas()) == 1 and west.engine.ike_sas()[0].state.name == "ESTABLISHED"
    assert len(west.kernel.installed) == 1


def test_malformed_ike_sa_init_requests_get_the_rfc_notify() -> None:
    from pluto_core.ikev2.message import parse_message
    from pluto_core.ikev2.payloads import Notify

    _clock, west, east, sides = setup()
    west.engine.initiate("west-east")
    (good,) = west.engine.pop_datagrams()
    data = bytearray(good.data)
    v1 = bytes(data[:17]) + b"\x10" + bytes(data[18:])  # major version 1
    east.engine.receive(v1, good.remote, good.local)
    (reply,) = east.engine.pop_datagrams()
    answer = parse_message(reply.data)
    assert answer.is_response and [p.type for p in answer.payloads if isinstance(p, Notify)] == [5]
    assert east.engine.ike_sas() == []
    truncated_len = bytes(data[:24]) + (len(data) + 9).to_bytes(4, "big") + bytes(data[28:])
    _clock.now += 1
    east.engine.receive(truncated_len, good.remote, good.local)
    (reply,) = east.engine.pop_datagrams()
    assert [p.type for p in parse_message(reply.data).payloads] == [7]  # INVALID_SYNTAX
    assert "dropped" in east.log.text()


def test_auto_start_conn_revives_after_the_peer_deletes_it() -> None:
    """As Libreswan: the peer's Delete of an auto=start conn's IKE SA brings it back
    after the revival delay; an auto=add conn stays down."""
    import dataclasses

    west_conn, east_conn = conn_pair()
    clock, west, east, sides = two_sides(dataclasses.replace(west_conn, options={"auto": "start"}), east_conn)
    west.engine.initiate("west-east")
    pump(sides)
    first = west.engine.ike_sas()[0].serial
    assert east.engine.terminate("west-east") == 1
    pump(sides)
    assert west.engine.ike_sas() == [] and west.kernel.installed == {}
    assert '"west-east": connection is supposed to remain up; reviving in 5s' in west.log.text()
    advance(clock, sides, 6)
    (again,) = west.engine.ike_sas()
    assert again.serial > first and again.state.name == "ESTABLISHED" and len(west.kernel.installed) == 1
    # east's conn is auto=add: when west deletes, east does not initiate
    west.engine.terminate("west-east")
    pump(sides)
    advance(clock, sides, 10)
    assert east.engine.ike_sas() == [] and "reviving" not in east.log.text()
