"""A tiny DER reader: just what the NSS key database needs.

key4.db keeps its PBE parameters and encrypted values as small DER structures (PKCS#5 /
PKCS#12 AlgorithmIdentifiers, OCTET STRINGs). ``cryptography`` has no public parser for
arbitrary ASN.1, and these few shapes do not justify a dependency, so this module reads
definite-length TLVs and nothing more. Every malformed input raises ``DerError``.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE = 0x30
OCTET_STRING = 0x04
INTEGER = 0x02
OID = 0x06
NULL = 0x05


class DerError(ValueError):
    """The bytes are not the DER shape the caller expected."""


@dataclass(frozen=True)
class Tlv:
    """One element: its tag byte and its content octets."""

    tag: int
    value: bytes

    def children(self) -> list[Tlv]:
        """The elements inside a constructed value (a SEQUENCE)."""
        if not self.tag & 0x20:
            raise DerError(f"tag 0x{self.tag:02x} is not constructed")
        return read_all(self.value)

    def expect(self, tag: int) -> Tlv:
        """This element, checked to carry ``tag``."""
        if self.tag != tag:
            raise DerError(f"expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self

    def as_oid(self) -> str:
        """The dotted form of an OBJECT IDENTIFIER."""
        return decode_oid(self.expect(OID).value)

    def as_int(self) -> int:
        """The value of an INTEGER (two's complement, big-endian)."""
        value = self.expect(INTEGER).value
        if not value:
            raise DerError("empty INTEGER")
        return int.from_bytes(value, "big", signed=True)

    def as_octets(self) -> bytes:
        """The content of an OCTET STRING."""
        return self.expect(OCTET_STRING).value


def read_one(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """The element at ``offset`` and the offset just past it."""
    if offset + 2 > len(data):
        raise DerError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used here")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DerError("indefinite or oversized length")
        if pos + count > len(data):
            raise DerError("truncated length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("element runs past the end of its container")
    return Tlv(tag, bytes(data[pos:end])), end


def read_all(data: bytes) -> list[Tlv]:
    """Every element of ``data``, in order; nothing may be left over."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tlv, pos = read_one(data, pos)
        out.append(tlv)
    return out


def read_single(data: bytes) -> Tlv:
    """Exactly one element covering all of ``data``."""
    tlv, end = read_one(data)
    if end != len(data):
        raise DerError(f"{len(data) - end} trailing bytes")
    return tlv


def decode_oid(value: bytes) -> str:
    """Dotted decimal from the content octets of an OBJECT IDENTIFIER."""
    if not value or value[-1] & 0x80:
        raise DerError("malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    acc = 0
    for byte in value:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(acc)
            acc = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def encode_length(length: int) -> bytes:
    """The DER length octets for ``length`` (used to rebuild NSS's odd AES IV)."""
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw
