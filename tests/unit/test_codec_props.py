"""Property tests for the IKEv2 codec (hypothesis).

parse(encode(m)) == m over generated messages; over random and mutated bytes the parser
raises nothing but ParseError, and whatever it accepts re-encodes to the same bytes.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluto_core.ikev2 import (
    Authentication,
    Certificate,
    CertificateRequest,
    ConfigAttribute,
    Configuration,
    Delete,
    Eap,
    EncryptedFragment,
    EncryptedPayload,
    IdentificationInitiator,
    IdentificationResponder,
    KeyExchange,
    Message,
    Nonce,
    Notify,
    ParseError,
    Payload,
    Proposal,
    RawPayload,
    RawTrafficSelector,
    SecurityAssociation,
    TrafficSelector,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
    Transform,
    TransformAttribute,
    VendorId,
    encode_payloads,
    parse_message,
    parse_payloads,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
small = st.binary(max_size=24)
flags = u8

attribute = st.one_of(
    st.builds(TransformAttribute, st.integers(0, 0x7FFF), u16),
    st.builds(TransformAttribute, st.integers(0, 0x7FFF), st.binary(max_size=6)),
)
transform = st.builds(Transform, u8, u16, st.lists(attribute, max_size=3), u16)
proposal = st.builds(Proposal, u8, u8, st.binary(max_size=8), st.lists(transform, max_size=4), u8)


def _ts_ip(v6: bool) -> st.SearchStrategy[TrafficSelector]:
    n = 16 if v6 else 4
    addr = st.binary(min_size=n, max_size=n)
    return st.builds(TrafficSelector, st.just(8 if v6 else 7), u8, u16, u16, addr, addr)


selector = st.one_of(
    _ts_ip(False), _ts_ip(True),
    st.builds(RawTrafficSelector, u8.filter(lambda t: t not in (7, 8)), u8, small),
)


@st.composite
def delete(draw: st.DrawFn) -> Delete:
    size = draw(st.integers(0, 8))
    spis = draw(st.lists(st.binary(min_size=size, max_size=size), max_size=4))
    d = Delete(draw(u8), spis, None, draw(flags))
    if d.implied_spi_size() != size:
        d.spi_size = size
    return d


@st.composite
def eap(draw: st.DrawFn) -> Eap:
    rest = draw(small)
    return Eap(bytes([draw(u8), draw(u8)]) + struct.pack(">H", 4 + len(rest)) + rest, draw(flags))


@st.composite
def fragment(draw: st.DrawFn) -> EncryptedFragment:
    total = draw(st.integers(1, 0xFFFF))
    return EncryptedFragment(draw(u8), draw(st.integers(1, total)), total, draw(small), draw(flags))


UNKNOWN_TYPES = [t for t in range(1, 256) if not 33 <= t <= 48 and t != 53]

plain_payload: st.SearchStrategy[Payload] = st.one_of(
    st.builds(SecurityAssociation, st.lists(proposal, max_size=3), flags),
    st.builds(KeyExchange, u16, small, u16, flags),
    st.builds(IdentificationInitiator, u8, small, u24, flags),
    st.builds(IdentificationResponder, u8, small, u24, flags),
    st.builds(Certificate, u8, small, flags),
    st.builds(CertificateRequest, u8, small, flags),
    st.builds(Authentication, u8, small, u24, flags),
    st.builds(Nonce, small, flags),
    st.builds(Notify, u16, small, u8, st.binary(max_size=8), flags),
    delete(),
    st.builds(VendorId, small, flags),
    st.builds(TrafficSelectorsInitiator, st.lists(selector, max_size=3), u24, flags),
    st.builds(TrafficSelectorsResponder, st.lists(selector, max_size=3), u24, flags),
    st.builds(Configuration, u8, st.lists(st.builds(ConfigAttribute, st.integers(0, 0x7FFF), small,
                                                    st.integers(0, 1)), max_size=3), u24, flags),
    eap(),
    st.builds(RawPayload, st.sampled_from(UNKNOWN_TYPES), small, st.integers(0, 0x7F)),
)
encrypted = st.one_of(st.builds(EncryptedPayload, u8, st.binary(max_size=64), flags), fragment())


@st.composite
def message(draw: st.DrawFn) -> Message:
    payloads: list[Payload] = draw(st.lists(plain_payload, max_size=6))
    if draw(st.booleans()):
        payloads.append(draw(encrypted))
    return Message(draw(st.binary(min_size=8, max_size=8)), draw(st.binary(min_size=8, max_size=8)), draw(u8),
                   draw(u8), draw(u32), payloads, draw(st.integers(0x20, 0x2F)))


def _parse_or_parse_error(data: bytes) -> None:
    """The parser's contract: ParseError, or a message that re-encodes to ``data``."""
    try:
        msg = parse_message(data)
    except ParseError as exc:
        assert exc.notify in (1, 5, 7)
        assert exc.notify != 1 or exc.payload_type is not None
        return
    assert msg.to_bytes() == data
    for p in msg.payloads:
        if isinstance(p, SecurityAssociation):
            p.proposals  # noqa: B018 - decode the lazy SA, then encode from objects
    assert msg.to_bytes() == data


@SETTINGS
@given(message())
def test_parse_encode_round_trip(msg: Message) -> None:
    data = msg.to_bytes()
    parsed = parse_message(data)
    assert parsed == msg
    assert parsed.to_bytes() == data


@SETTINGS
@given(st.lists(plain_payload, min_size=1, max_size=5))
def test_payload_chain_round_trip(payloads: list[Payload]) -> None:
    first, data = encode_payloads(payloads)
    assert parse_payloads(first, data) == payloads


@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_parse_error(data: bytes) -> None:
    _parse_or_parse_error(data)


@SETTINGS
@given(u8, st.binary(max_size=400))
def test_random_payload_chains_behind_a_valid_header(first: int, body: bytes) -> None:
    data = bytes(16) + bytes([first, 0x20, 34, 0x08]) + struct.pack(">II", 0, 28 + len(body)) + body
    _parse_or_parse_error(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(message()).to_bytes())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "length", "insert", "byte"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[i] = draw(u8)
        elif kind == "truncate":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif len(data) >= i + 2:
            # Overwrite what may be a 16-bit length field with a nearby or random value.
            old = int.from_bytes(data[i : i + 2], "big")
            new = draw(st.one_of(st.integers(max(0, old - 8), min(0xFFFF, old + 8)), u16))
            data[i : i + 2] = new.to_bytes(2, "big")
    return bytes(data)


@SETTINGS
@given(mutated())
def test_mutated_messages_raise_only_parse_error(data: bytes) -> None:
    _parse_or_parse_error(data)
