"""Authenticated but hostile messages: a peer holding the keys sends IKE_AUTH,
CREATE_CHILD_SA and INFORMATIONAL messages with any mix of payloads (missing,
duplicated, wrong kinds, absurd values). The engine must answer or drop each one
with a log line, never hit an internal error (its catch-all), and keep working.

The codec fuzzer (fuzz/fuzz_parser.py) covers malformed bytes; this covers what
parses but makes no sense, which only the exchange code can judge."""

from __future__ import annotations

import os
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluto_core.ikev2.crypto import generate
from pluto_core.ikev2.enums import ExchangeType, NotifyType
from pluto_core.ikev2.payloads import (
    Authentication,
    ConfigAttribute,
    Configuration,
    Delete,
    IdentificationInitiator,
    IdentificationResponder,
    KeyExchange,
    Nonce,
    Notify,
    Proposal,
    SecurityAssociation,
    TrafficSelector,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
    Transform,
    TransformAttribute,
    VendorId,
)
from tests.engine.harness import Side, pump, setup

WEST, EAST = "192.1.2.45", "192.1.2.23"
# PLUTO_HOSTILE_EXAMPLES=5000 for a longer hunt; the default keeps the fast tier fast
SETTINGS = settings(max_examples=int(os.environ.get("PLUTO_HOSTILE_EXAMPLES", "120")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

small = st.integers(min_value=0, max_value=255)
notify_types = st.one_of(st.sampled_from([int(t) for t in NotifyType]), st.integers(0, 65535))
spi = st.sampled_from([b"", b"\x00" * 4, b"\x12\x34\x56\x78", b"\x01" * 8])


def _ts(cls: Any) -> Any:
    sel = st.builds(
        lambda v, proto, p1, p2, a, b: TrafficSelector(7 if v == 4 else 8, proto, p1, p2, a, b),
        st.sampled_from([4, 6]), small, st.integers(0, 65535), st.integers(0, 65535),
        st.binary(min_size=4, max_size=4), st.binary(min_size=4, max_size=4)).filter(lambda s: s.ts_type == 7)
    sel6 = st.builds(lambda proto, a, b: TrafficSelector(8, proto, 0, 65535, a, b), small,
                     st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
    return st.builds(cls, st.lists(st.one_of(sel, sel6), max_size=3))


transform = st.builds(
    lambda t, i, kl: Transform(t, i, [TransformAttribute(14, kl)] if kl is not None else []),
    st.integers(1, 6), st.sampled_from([1, 2, 3, 5, 12, 14, 19, 20, 28, 31, 255, 1024]),
    st.sampled_from([None, 128, 256, 7]))
proposal = st.builds(lambda n, p, s, ts: Proposal(n, p, s, ts), st.integers(1, 3), st.sampled_from([1, 3, 2, 9]),
                     spi, st.lists(transform, max_size=5))

PAYLOAD = st.one_of(
    st.builds(Notify, notify_types, st.binary(max_size=40), st.sampled_from([0, 1, 3]), spi),
    st.builds(IdentificationInitiator, st.sampled_from([1, 2, 3, 5, 9, 11, 0, 200]), st.binary(max_size=24)),
    st.builds(IdentificationResponder, st.sampled_from([1, 2, 3, 5, 9, 11, 0, 200]), st.binary(max_size=24)),
    st.builds(Authentication, st.sampled_from([1, 2, 9, 14, 0, 201]), st.binary(max_size=48)),
    st.builds(SecurityAssociation, st.lists(proposal, max_size=3)),
    _ts(TrafficSelectorsInitiator), _ts(TrafficSelectorsResponder),
    st.builds(KeyExchange, st.sampled_from([14, 19, 31, 0, 999]), st.binary(max_size=64)),
    st.builds(Nonce, st.binary(max_size=300)),
    st.builds(Delete, st.sampled_from([1, 3]),
              st.one_of(st.lists(st.binary(min_size=4, max_size=4), max_size=3), st.just([]))),
    st.builds(Configuration, st.integers(1, 4), st.lists(st.builds(ConfigAttribute, st.integers(0, 30),
                                                                   st.binary(max_size=16)), max_size=3)),
    st.builds(VendorId, st.binary(max_size=20)),
)
PAYLOADS = st.lists(PAYLOAD, max_size=8)
# A CREATE_CHILD_SA request that gets past the first checks (an SA, a usable Nonce,
# selectors) with hostile extras and proposals, so the deeper code is reached too.
ESP_GCM = Proposal(1, 3, b"\x01\x02\x03\x04",
                   [Transform(1, 20, [TransformAttribute(14, 256)]), Transform(4, 19), Transform(5, 0)])
KE_19 = KeyExchange(19, generate(19, random.Random(5).randbytes).public_bytes)  # a real P-256 public key
CHILD_PAYLOADS = st.builds(
    lambda extra, ke, proposals, ts, order: ([SecurityAssociation(proposals), Nonce(b"n" * 32)] + ke + ts
                                             + extra)[::order],
    st.lists(PAYLOAD, max_size=4),
    st.sampled_from([[KE_19], [], [KeyExchange(19, bytes(64))], [KeyExchange(19, b"\x04" * 64), KE_19]]),
    st.one_of(st.just([ESP_GCM]), st.lists(proposal, min_size=1, max_size=2).map(lambda p: p + [ESP_GCM])),
    st.one_of(st.just([TrafficSelectorsInitiator([TrafficSelector(7, 0, 0, 65535, bytes([192, 0, 1, 0]),
                                                                  bytes([192, 0, 1, 255]))]),
                       TrafficSelectorsResponder([TrafficSelector(7, 0, 0, 65535, bytes([192, 0, 2, 0]),
                                                                  bytes([192, 0, 2, 255]))])]),
              st.lists(st.one_of(_ts(TrafficSelectorsInitiator), _ts(TrafficSelectorsResponder)), max_size=2)),
    st.sampled_from([1, -1]))


def _no_internal_error(side: Side) -> None:
    assert "internal error" not in side.log.text(), side.log.text()[-2000:]


def _deliver_from(sender: Side, receiver: Side) -> list[Any]:
    out = sender.engine.pop_datagrams()
    for d in out:
        receiver.engine.receive(d.data, d.remote, d.local)
    return out


@SETTINGS
@given(PAYLOADS)
def test_hostile_ike_auth_request(payloads: list[Any]) -> None:
    """IKE_AUTH request 1 under the keys of a real IKE_SA_INIT."""
    _clock, west, east, _ = setup()
    west.engine.initiate("west-east")
    _deliver_from(west, east)  # IKE_SA_INIT request
    _deliver_from(east, west)  # its response; west now sends IKE_AUTH: replace it
    west.engine.pop_datagrams()
    (w_sa,) = west.engine.ike_sas()
    east.engine.receive(west.engine.encode(w_sa, ExchangeType.IKE_AUTH, 1, payloads, response=False),
                        (EAST, 500), (WEST, 500))
    _no_internal_error(east)
    east.engine.pop_datagrams()
    east.engine.tick()
    _no_internal_error(east)


@SETTINGS
@given(st.one_of(st.tuples(st.sampled_from([ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL]), PAYLOADS),
                 st.tuples(st.just(ExchangeType.CREATE_CHILD_SA), CHILD_PAYLOADS)))
def test_hostile_requests_on_an_established_sa(request: tuple[int, list[Any]]) -> None:
    """Any payloads in a CREATE_CHILD_SA or INFORMATIONAL request; then the IKE SA
    (if still there) still answers a liveness check."""
    exchange, payloads = request
    _clock, west, east, sides = setup()
    west.engine.initiate("west-east")
    pump(sides)
    (w_sa,) = west.engine.ike_sas()
    east.engine.receive(west.engine.encode(w_sa, exchange, w_sa.next_request_id, payloads, response=False),
                        (EAST, 500), (WEST, 500))
    w_sa.next_request_id += 1
    _no_internal_error(east)
    answers = _deliver_from(east, west)
    _no_internal_error(west)
    if east.engine.ike_sas() and answers:
        west.engine.send_request(w_sa, ExchangeType.INFORMATIONAL, [])
        pump(sides)
        _no_internal_error(east)
        _no_internal_error(west)


@SETTINGS
@given(PAYLOADS)
def test_hostile_ike_auth_response(payloads: list[Any]) -> None:
    """The responder answers IKE_AUTH with any payloads: the initiator fails cleanly."""
    _clock, west, east, _ = setup()
    west.engine.initiate("west-east")
    _deliver_from(west, east)
    _deliver_from(east, west)
    _deliver_from(west, east)  # the real IKE_AUTH request; east's real answer is dropped
    east.engine.pop_datagrams()
    e_sa = next(sa for sa in east.engine.sas.values())
    west.engine.receive(east.engine.encode(e_sa, ExchangeType.IKE_AUTH, 1, payloads, response=True),
                        (WEST, 500), (EAST, 500))
    _no_internal_error(west)
    west.engine.tick()
    _no_internal_error(west)


def test_a_refused_create_child_sa_is_logged_with_the_reason() -> None:
    _clock, west, east, sides = setup()
    west.engine.initiate("west-east")
    pump(sides)
    (w_sa,) = west.engine.ike_sas()
    outside = [TrafficSelectorsInitiator([TrafficSelector(7, 0, 0, 65535, bytes([10, 0, 0, 0]),
                                                          bytes([10, 0, 0, 255]))]),
               TrafficSelectorsResponder([TrafficSelector(7, 0, 0, 65535, bytes([10, 0, 1, 0]),
                                                          bytes([10, 0, 1, 255]))])]
    request = [SecurityAssociation([ESP_GCM]), Nonce(b"n" * 32), KE_19] + outside
    east.engine.receive(west.engine.encode(w_sa, ExchangeType.CREATE_CHILD_SA, w_sa.next_request_id, request,
                                           response=False), (EAST, 500), (WEST, 500))
    assert ('"west-east" #1: CREATE_CHILD_SA request from 192.1.2.45:UDP/500 refused with TS_UNACCEPTABLE: '
            "traffic selectors outside the connection's") in east.log.text(), east.log.text()
    assert len(east.kernel.installed) == 1  # only the first Child SA
