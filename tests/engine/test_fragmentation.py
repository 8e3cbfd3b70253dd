"""IKEv2 fragmentation (RFC 7383) between two engines with the fragmentation plugin:
negotiation in IKE_SA_INIT, big messages sent as SKF fragments that each fit one
unfragmented datagram, reassembly under loss, reordering and tampering."""

from __future__ import annotations

import dataclasses
import random

from pluto_core.ikev2.events import Datagram
from pluto_core.ikev2.message import parse_message
from pluto_core.ikev2.payloads import EncryptedFragment
from pluto_core.ikev2.protect import FRAGMENT_DATAGRAM_IPV4, fragments
from pluto_core.ikev2.ts_narrow import Selector
from pluto_plugins.fragmentation import Fragmentation
from tests.engine.harness import PSK, Clock, Side, advance, conn_pair, make_side, pump

WEST, EAST = "192.1.2.45", "192.1.2.23"
# 40 host selectors each way: an IKE_AUTH of about 1.5 KB, three fragments over IPv4
WEST_TS = tuple(Selector.from_subnet(f"192.0.1.{i}/32") for i in range(1, 41))
EAST_TS = tuple(Selector.from_subnet(f"192.0.2.{i}/32") for i in range(1, 41))


def _pair(west_frag: str = "yes", east_frag: str = "yes", east_plugin: bool = True,
          big: bool = True) -> tuple[Clock, Side, Side, dict[str, Side]]:
    clock = Clock()
    west_conn, east_conn = conn_pair()
    if big:
        west_conn = dataclasses.replace(west_conn, local_ts=WEST_TS, remote_ts=EAST_TS)
        east_conn = dataclasses.replace(east_conn, local_ts=EAST_TS, remote_ts=WEST_TS)
    west = make_side(WEST, 1, clock, PSK, extensions=Fragmentation())
    east = make_side(EAST, 2, clock, PSK, extensions=Fragmentation() if east_plugin else None)
    west.engine.add_conn(dataclasses.replace(west_conn, options={"fragmentation": west_frag}))
    east.engine.add_conn(dataclasses.replace(east_conn, options={"fragmentation": east_frag}))
    return clock, west, east, {WEST: west, EAST: east}


def _fragments(batch: list[Datagram]) -> list[EncryptedFragment]:
    out = []
    for d in batch:
        sk = parse_message(d.data).sk_payload
        if isinstance(sk, EncryptedFragment):
            out.append(sk)
    return out


def _up(side: Side) -> bool:
    return [e.kind for e in side.events][:2] == ["ike-up", "child-up"]


def test_both_announce_and_big_messages_travel_in_fragments() -> None:
    _clock, west, east, sides = _pair()
    seen: list[Datagram] = []

    def watch(batch: list[Datagram]) -> list[Datagram]:
        seen.extend(batch)
        return batch

    west.engine.initiate("west-east")
    pump(sides, wire=watch)
    assert _up(west) and _up(east), (west.log.text(), east.log.text())
    w_sa, e_sa = west.engine.ike_sas()[0], east.engine.ike_sas()[0]
    assert w_sa.transport is not None and w_sa.transport.fragments
    assert e_sa.transport is not None and e_sa.transport.fragments
    frags = _fragments(seen)
    assert len(frags) >= 4  # the IKE_AUTH request and response, at least two fragments each
    assert all(len(d.data) <= FRAGMENT_DATAGRAM_IPV4 for d in seen)  # each fits one unfragmented datagram
    first = [f for f in frags if f.fragment_number == 1]
    assert all(f.inner_type != 0 for f in first) and all(f.inner_type == 0 for f in frags if f.fragment_number > 1)
    (child,) = west.kernel.installed.values()
    assert len(child.local_ts) == 40 and len(child.remote_ts) == 40


def test_no_fragments_when_one_side_does_not_announce() -> None:
    for kw in ({"east_plugin": False}, {"east_frag": "no"}, {"west_frag": "no"}):
        _clock, west, east, sides = _pair(**kw)  # type: ignore[arg-type]
        seen: list[Datagram] = []

        def watch(batch: list[Datagram], seen: list[Datagram] = seen) -> list[Datagram]:
            seen.extend(batch)
            return batch

        west.engine.initiate("west-east")
        pump(sides, wire=watch)
        assert _up(west) and _up(east), kw
        assert _fragments(seen) == [] and any(len(d.data) > FRAGMENT_DATAGRAM_IPV4 for d in seen), kw


def test_a_lost_fragment_is_recovered_by_retransmission_and_order_does_not_matter() -> None:
    clock, west, east, sides = _pair()
    rng = random.Random(3)
    state = {"dropped": 0}

    def lossy(batch: list[Datagram]) -> list[Datagram]:
        out = []
        for d in batch:
            sk = parse_message(d.data).sk_payload
            if isinstance(sk, EncryptedFragment) and sk.fragment_number == 2 and state["dropped"] < 1:
                state["dropped"] += 1
                continue
            out.append(d)
        rng.shuffle(out)
        return out

    west.engine.initiate("west-east")
    pump(sides, wire=lossy)
    advance(clock, sides, 5, wire=lossy)
    assert state["dropped"] == 1
    assert _up(west) and _up(east), (west.log.text(), east.log.text())


def test_a_tampered_fragment_is_dropped_and_the_exchange_recovers() -> None:
    clock, west, east, sides = _pair()
    state = {"done": False}

    def tamper(batch: list[Datagram]) -> list[Datagram]:
        out = []
        for d in batch:
            sk = parse_message(d.data).sk_payload
            if isinstance(sk, EncryptedFragment) and sk.fragment_number == 1 and not state["done"]:
                state["done"] = True
                d = Datagram(d.data[:-1] + bytes([d.data[-1] ^ 1]), d.local, d.remote)
            out.append(d)
        return out

    west.engine.initiate("west-east")
    pump(sides, wire=tamper)
    assert "fragment 1/" in east.log.text() and "integrity check failed: dropped" in east.log.text()
    advance(clock, sides, 5)
    assert _up(west) and _up(east)


def test_fragments_without_negotiation_are_dropped() -> None:
    """east does not announce; fragments sent to it anyway are dropped, saying why."""
    from pluto_core.ikev2.chain import encode_payloads
    from pluto_core.ikev2.payloads import Notify

    _clock, west, east, sides = _pair(east_plugin=False, big=False)
    west.engine.initiate("west-east")
    pump(sides)
    assert _up(east)
    (w_sa,) = west.engine.ike_sas()
    first, plain = encode_payloads([Notify(16384 + 999, bytes(300))])
    parts = fragments(w_sa, 37, w_sa.next_request_id, False, first, plain, 200, west.engine.random, west.log)
    assert len(parts) > 1
    for data in parts:
        east.engine.receive(data, (EAST, 500), (WEST, 500))
    assert "fragment 1/" in east.log.text() and "fragmentation was not negotiated: dropped" in east.log.text()
    assert east.engine.pop_datagrams() == [] and "internal error" not in east.log.text()
