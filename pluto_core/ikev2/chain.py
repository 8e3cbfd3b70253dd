"""Payload chains: walking and building the next-payload linked list (RFC 7296 3.2)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pluto_core.ikev2.parse_error import UNSUPPORTED_CRITICAL_PAYLOAD, ParseError
from pluto_core.ikev2.payloads import (
    MAX_BODY,
    PARSERS,
    EncryptedFragment,
    EncryptedPayload,
    Payload,
    RawPayload,
    parse_skf,
)

_GH = struct.Struct(">BBH")
_SK = 46
_SKF = 53


def parse_chain(data: bytes, next_type: int, pos: int, end: int) -> list[Payload]:
    """Parse the payloads of ``data[pos:end]``, the first being of type ``next_type``.

    The chain must end exactly at ``end``; an SK or SKF payload ends it (its next-payload octet
    names the first *inner* payload) and must be last (RFC 7296 3.14). Offsets in errors are
    indices into ``data``.
    """
    out: list[Payload] = []
    append = out.append
    parsers = PARSERS
    unpack = _GH.unpack_from
    if end != len(data):
        raise ValueError("parse_chain: end must be len(data)")
    while next_type:
        try:
            nxt, flags, plen = unpack(data, pos)
        except struct.error:
            raise ParseError(f"payload type {next_type} expected but only {end - pos} octets remain",
                             pos) from None
        pend = pos + plen
        if plen < 4 or pend > end:
            raise ParseError(f"payload length {plen} does not fit in {end - pos} octets", pos + 2)
        parser = parsers.get(next_type)
        if parser is not None:
            append(parser(data, pos + 4, pend, flags))
        elif next_type == _SK or next_type == _SKF:
            if pend != end:
                raise ParseError("SK/SKF payload is not the last payload", pend)
            if next_type == _SK:
                append(EncryptedPayload(nxt, data[pos + 4 : pend], flags))
            else:
                append(parse_skf(data, pos + 4, pend, flags, nxt))
            return out
        elif flags & 0x80:
            # RFC 7296 3.2: an unrecognized payload with the critical bit rejects the message.
            raise ParseError(f"unsupported critical payload type {next_type}", pos,
                             UNSUPPORTED_CRITICAL_PAYLOAD, next_type)
        else:
            append(RawPayload(next_type, data[pos + 4 : pend], flags))
        pos = pend
        next_type = nxt
    if pos != end:
        raise ParseError(f"{end - pos} octets after the last payload", pos)
    return out


def parse_payloads(first_type: int, data: bytes | bytearray | memoryview) -> list[Payload]:
    """Parse a whole chain of payloads, e.g. the plaintext of a decrypted SK payload.

    Raises :class:`ParseError` with offsets relative to ``data``.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    return parse_chain(data, first_type, 0, len(data))


def encode_chain(payloads: Sequence[Payload]) -> tuple[int, list[bytes]]:
    """The first payload type and the list of header/body parts of ``payloads``.

    Next-payload octets and lengths are computed; SK/SKF must be last, and the last payload's
    next-payload octet is its ``inner_type`` (SK/SKF) or 0. Fields out of range: ValueError.
    """
    n = len(payloads)
    if not n:
        return 0, []
    parts: list[bytes] = []
    pack = _GH.pack
    for i in range(n):
        p = payloads[i]
        try:
            body = p.body()
        except struct.error as exc:  # a field out of its range
            raise ValueError(f"cannot encode {p!r}: {exc}") from None
        if len(body) > MAX_BODY:
            raise ValueError(f"payload {p.payload_type} body of {len(body)} octets is too long")
        if i + 1 < n:
            if p.__class__ is EncryptedPayload or p.__class__ is EncryptedFragment:
                raise ValueError("SK/SKF must be the last payload")
            nxt = payloads[i + 1].payload_type
        elif isinstance(p, (EncryptedPayload, EncryptedFragment)):
            nxt = p.inner_type
        else:
            nxt = 0
        try:
            parts.append(pack(nxt, p.flags, len(body) + 4))
        except struct.error as exc:
            raise ValueError(f"cannot encode {p!r}: {exc}") from None
        parts.append(body)
    return payloads[0].payload_type, parts


def encode_payloads(payloads: Sequence[Payload]) -> tuple[int, bytes]:
    """``(first payload type, bytes)`` of a chain: the inverse of :func:`parse_payloads`."""
    first, parts = encode_chain(payloads)
    return first, b"".join(parts)


__all__ = ["parse_chain", "parse_payloads", "encode_chain", "encode_payloads", "RawPayload"]
