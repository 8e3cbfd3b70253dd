"""The IKEv2 message: header (RFC 7296 3.1) plus a payload chain, and its wire form.

Length policy: the header's Length must equal the number of octets given (RFC 7296 3.1: it is
the total message length). Shorter data (truncated) or longer data (trailing octets) is
INVALID_SYNTAX; the datagram layer hands over exactly one UDP payload, non-ESP marker removed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from pluto_core.ikev2.chain import encode_chain, parse_chain
from pluto_core.ikev2.enums import ExchangeType, lookup
from pluto_core.ikev2.parse_error import INVALID_MAJOR_VERSION, ParseError
from pluto_core.ikev2.payloads import EncryptedFragment, EncryptedPayload, Payload

HEADER_LEN = 28
_HDR = struct.Struct(">8s8sBBBBII")
_GH = struct.Struct(">BBH")
P = TypeVar("P", bound=Payload)


@dataclass(slots=True)
class Message:
    """An IKEv2 message. ``flags`` and ``version`` are the raw header octets (reserved bits kept)."""

    spi_i: bytes
    spi_r: bytes
    exchange_type: int
    flags: int
    message_id: int
    payloads: list[Payload] = field(default_factory=list)
    version: int = 0x20

    @property
    def exchange(self) -> ExchangeType | int:
        return lookup(ExchangeType, self.exchange_type)

    @property
    def is_initiator(self) -> bool:
        """I flag: sent by the original initiator of the IKE SA."""
        return bool(self.flags & 0x08)

    @property
    def is_response(self) -> bool:
        """R flag."""
        return bool(self.flags & 0x20)

    @property
    def sk_payload(self) -> EncryptedPayload | EncryptedFragment | None:
        """The SK or SKF payload (always last), or None for a plaintext message."""
        if self.payloads:
            last = self.payloads[-1]
            if isinstance(last, (EncryptedPayload, EncryptedFragment)):
                return last
        return None

    def get(self, cls: type[P]) -> P | None:
        """The first payload of class ``cls``, or None."""
        for p in self.payloads:
            if isinstance(p, cls):
                return p
        return None

    def all(self, cls: type[P]) -> Iterator[P]:
        """Every payload of class ``cls``, in order."""
        return (p for p in self.payloads if isinstance(p, cls))

    def to_bytes(self) -> bytes:
        """The wire form; lengths and next-payload octets are computed."""
        first, parts = encode_chain(self.payloads)
        n = HEADER_LEN
        for part in parts:
            n += len(part)
        if len(self.spi_i) != 8 or len(self.spi_r) != 8:
            raise ValueError("IKE SPIs are 8 octets")
        try:
            head = _HDR.pack(self.spi_i, self.spi_r, first, self.version, self.exchange_type, self.flags,
                             self.message_id, n)
        except struct.error as exc:
            raise ValueError(f"cannot encode the IKE header: {exc}") from None
        return head + b"".join(parts)


def parse_message(data: bytes | bytearray | memoryview) -> Message:
    """Parse one IKEv2 message; raises :class:`ParseError` (and nothing else) on bad bytes."""
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    if n < HEADER_LEN:
        if n > 17 and data[17] >> 4 != 2:
            raise ParseError(f"major version {data[17] >> 4} is not 2", 17, INVALID_MAJOR_VERSION)
        raise ParseError(f"{n} octets are shorter than the {HEADER_LEN}-octet IKE header", 0)
    spi_i, spi_r, first, version, xchg, flags, mid, length = _HDR.unpack_from(data)
    if version >> 4 != 2:
        # RFC 7296 3.1 / 2.5: answer INVALID_MAJOR_VERSION; the minor version is ignored (kept).
        raise ParseError(f"major version {version >> 4} is not 2", 17, INVALID_MAJOR_VERSION)
    if length != n:
        raise ParseError(f"header length {length} but {n} octets received", 24)
    return Message(spi_i, spi_r, xchg, flags, mid, parse_chain(data, first, HEADER_LEN, n), version)


@dataclass(frozen=True, slots=True)
class EncryptedParts:
    """A protected message cut up for SK processing (RFC 7296 3.14, RFC 5282 5.1, RFC 7383 2.5).

    ``aad``: header through the end of the SK header (SKF: including its fragment fields): the
    AEAD associated data. ``encrypted``: IV | ciphertext (incl. padding, pad length).
    ``icv``: the last ``icv_len`` octets. ``integrity_input``: everything the ICV covers
    (message start through the end of the ciphertext). ``body_offset``: where the IV starts.
    """

    aad: bytes
    encrypted: bytes
    icv: bytes
    integrity_input: bytes
    sk_offset: int
    body_offset: int


def split_encrypted(data: bytes | bytearray | memoryview, icv_len: int) -> EncryptedParts:
    """Locate the SK/SKF payload of a raw message and split it for decryption/verification.

    For sending: build the message with an SK payload whose ``data`` is a placeholder of the
    final size (IV + ciphertext + ICV), call ``to_bytes()``, split it, then splice the real
    IV/ciphertext and ICV after ``aad``. Raises :class:`ParseError` when the message has no
    SK/SKF payload or is too short for ``icv_len``.
    """
    data = bytes(data)
    msg = parse_message(data)  # validates the whole structure first
    sk = msg.sk_payload
    if sk is None:
        raise ParseError("message has no SK/SKF payload")
    n = len(data)
    sk_len = len(sk.body()) + 4
    sk_offset = n - sk_len
    body_offset = sk_offset + 4 + (4 if isinstance(sk, EncryptedFragment) else 0)
    if n - body_offset < icv_len:
        raise ParseError(f"encrypted payload of {n - body_offset} octets holds no {icv_len}-octet ICV",
                         body_offset)
    cut = n - icv_len
    return EncryptedParts(bytes(data[:body_offset]), bytes(data[body_offset:cut]), bytes(data[cut:]),
                          bytes(data[:cut]), sk_offset, body_offset)
