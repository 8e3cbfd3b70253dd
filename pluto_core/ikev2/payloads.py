"""IKEv2 payload objects (RFC 7296 section 3, RFC 7383 SKF) and their wire bodies.

Each payload class knows its ``payload_type`` and encodes its *body* (the bytes after the
4-octet generic payload header); the chain (next-payload octets, lengths) is built by
:mod:`pluto_core.ikev2.chain`. ``flags`` is the raw second octet of the generic header
(critical bit 0x80 plus seven reserved bits) and every reserved field is kept, so that a
parsed payload re-encodes byte for byte. Numeric fields hold raw ints: unassigned values
round-trip; the ``*_name``-style properties give the IntEnum member when one exists.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from pluto_core.ikev2.enums import (
    CertEncoding,
    IdType,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformAttributeType,
    TsType,
    lookup,
)
from pluto_core.ikev2.parse_error import ParseError

_HH = struct.Struct(">HH")
_B3 = struct.Struct(">B3s")
_BBH = struct.Struct(">BBH")
_HHI = struct.Struct(">HHI")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_PROP = struct.Struct(">BBHBBBB")
_TRANS = struct.Struct(">BBHBBH")
_TS = struct.Struct(">BBHHH")
_SKF = struct.Struct(">HH")
_PROP_CHECK = struct.Struct(">BxHxxBB")
_TRANS_CHECK = struct.Struct(">BxH")

MAX_BODY = 0xFFFF - 4

BodyParser = Callable[[bytes, int, int, int], "Payload"]
"""``parse(data, body_start, body_end, generic_header_flags) -> Payload``."""


def _r24(value: int) -> bytes:
    return value.to_bytes(3, "big")


class Payload:
    """Base of every payload object: ``payload_type`` and the raw generic-header ``flags``."""

    __slots__ = ()
    payload_type: ClassVar[int]
    flags: int

    @property
    def critical(self) -> bool:
        """The critical bit of the generic payload header (RFC 7296 3.2)."""
        return bool(self.flags & 0x80)

    def body(self) -> bytes:
        """The payload body: everything after the generic payload header."""
        raise NotImplementedError


# ---------------------------------------------------------------- SA (RFC 7296 3.3)


@dataclass(slots=True)
class TransformAttribute:
    """A transform attribute: an int ``value`` is the TV form (AF=1), bytes the TLV form."""

    type: int
    value: int | bytes

    def to_bytes(self) -> bytes:
        value = self.value
        if isinstance(value, int):
            return _HH.pack(0x8000 | self.type, value)
        return _HH.pack(self.type, len(value)) + value


@dataclass(slots=True)
class Transform:
    """A Transform Substructure; ``reserved`` keeps octets 1 and 5 as ``(r1 << 8) | r5``."""

    type: int
    id: int
    attributes: list[TransformAttribute] = field(default_factory=list)
    reserved: int = 0

    @classmethod
    def with_key_length(cls, type: int, id: int, key_length: int) -> Transform:
        """A transform carrying the Key Length attribute (RFC 7296 3.3.5), TV form."""
        return cls(type, id, [TransformAttribute(TransformAttributeType.KEY_LENGTH, key_length)])

    @property
    def key_length(self) -> int | None:
        """The Key Length attribute in bits, or None when absent."""
        for attr in self.attributes:
            if attr.type == 14 and isinstance(attr.value, int):
                return attr.value
        return None

    def to_bytes(self, last: bool) -> bytes:
        attrs = b"".join([a.to_bytes() for a in self.attributes]) if self.attributes else b""
        r = self.reserved
        return _TRANS.pack(0 if last else 3, r >> 8, 8 + len(attrs), self.type, r & 0xFF, self.id) + attrs


@dataclass(slots=True)
class Proposal:
    """A Proposal Substructure (RFC 7296 3.3.1); ``reserved`` is octet 1."""

    num: int
    protocol_id: int
    spi: bytes = b""
    transforms: list[Transform] = field(default_factory=list)
    reserved: int = 0

    @property
    def protocol(self) -> ProtocolId | int:
        return lookup(ProtocolId, self.protocol_id)

    def to_bytes(self, last: bool) -> bytes:
        ts = self.transforms
        n = len(ts)
        body = b"".join([t.to_bytes(i == n - 1) for i, t in enumerate(ts)])
        spi = self.spi
        head = _PROP.pack(0 if last else 2, self.reserved, 8 + len(spi) + len(body), self.num,
                          self.protocol_id, len(spi), n)
        return head + spi + body


class SecurityAssociation(Payload):
    """SA payload: a list of proposals.

    Parsing validates the whole SA but builds the Proposal/Transform objects only when
    ``proposals`` is first read (a received SA is often just relayed or re-encoded); until
    then the body is re-encoded from the received octets.
    """

    __slots__ = ("_raw", "_proposals", "flags")
    payload_type: ClassVar[int] = PayloadType.SA

    def __init__(self, proposals: list[Proposal] | None = None, flags: int = 0) -> None:
        self._raw: bytes | None = None
        self._proposals: list[Proposal] | None = [] if proposals is None else proposals
        self.flags = flags

    @classmethod
    def _lazy(cls, raw: bytes, flags: int) -> SecurityAssociation:
        sa = cls.__new__(cls)
        sa._raw = raw
        sa._proposals = None
        sa.flags = flags
        return sa

    @property
    def proposals(self) -> list[Proposal]:
        ps = self._proposals
        if ps is None:
            raw = self._raw
            assert raw is not None
            ps = self._proposals = _decode_proposals(raw, 0, len(raw))
        return ps

    @proposals.setter
    def proposals(self, value: list[Proposal]) -> None:
        self._proposals = value

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, SecurityAssociation)
        return self.flags == other.flags and self.proposals == other.proposals

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SecurityAssociation(proposals={self.proposals!r}, flags={self.flags!r})"

    def body(self) -> bytes:
        ps = self._proposals
        if ps is None:
            assert self._raw is not None
            return self._raw
        n = len(ps)
        return b"".join([p.to_bytes(i == n - 1) for i, p in enumerate(ps)])


def _check_sa(data: bytes, pos: int, end: int) -> None:
    """Validate an SA body (RFC 7296 3.3) without building objects; raise ParseError."""
    prop = _PROP_CHECK.unpack_from
    trans = _TRANS_CHECK.unpack_from
    hh = _HH.unpack_from
    while pos < end:
        if end - pos < 8:
            raise ParseError("truncated proposal substructure", pos)
        last, plen, spi_size, ntrans = prop(data, pos)
        pend = pos + plen
        if plen < 8 + spi_size or pend > end:
            raise ParseError(f"proposal length {plen} does not fit", pos + 2)
        if last != (0 if pend == end else 2):
            raise ParseError(f"proposal last-substructure {last} inconsistent", pos)
        p = pos + 8 + spi_size
        count = 0
        while p < pend:
            if pend - p < 8:
                raise ParseError("truncated transform substructure", p)
            tlast, tlen = trans(data, p)
            tend = p + tlen
            if tlen < 8 or tend > pend:
                raise ParseError(f"transform length {tlen} does not fit", p + 2)
            if tlast != (0 if tend == pend else 3):
                raise ParseError(f"transform last-substructure {tlast} inconsistent", p)
            a = p + 8
            while a < tend:
                if tend - a < 4:
                    raise ParseError("truncated transform attribute", a)
                atype, aval = hh(data, a)
                if atype & 0x8000:
                    a += 4
                else:
                    a += 4 + aval
                    if a > tend:
                        raise ParseError(f"transform attribute length {aval} does not fit", a - aval - 2)
            count += 1
            p = tend
        if count != ntrans:
            raise ParseError(f"proposal says {ntrans} transforms, has {count}", pos + 7)
        pos = pend


def _decode_proposals(data: bytes, pos: int, end: int) -> list[Proposal]:
    """Build the proposals of an SA body already validated by :func:`_check_sa`."""
    proposals: list[Proposal] = []
    while pos < end:
        _, reserved, plen, num, proto, spi_size, _ = _PROP.unpack_from(data, pos)
        pend = pos + plen
        p = pos + 8 + spi_size
        spi = data[pos + 8 : p]
        transforms: list[Transform] = []
        while p < pend:
            _, r1, tlen, ttype, r2, tid = _TRANS.unpack_from(data, p)
            tend = p + tlen
            attrs: list[TransformAttribute] = []
            a = p + 8
            while a < tend:
                atype, aval = _HH.unpack_from(data, a)
                if atype & 0x8000:
                    attrs.append(TransformAttribute(atype & 0x7FFF, aval))
                    a += 4
                else:
                    attrs.append(TransformAttribute(atype, data[a + 4 : a + 4 + aval]))
                    a += 4 + aval
            transforms.append(Transform(ttype, tid, attrs, (r1 << 8) | r2))
            p = tend
        proposals.append(Proposal(num, proto, spi, transforms, reserved))
        pos = pend
    return proposals


def _parse_sa(data: bytes, pos: int, end: int, flags: int) -> SecurityAssociation:
    _check_sa(data, pos, end)
    return SecurityAssociation._lazy(data[pos:end], flags)


# ---------------------------------------------------------------- KE (3.4)


@dataclass(slots=True)
class KeyExchange(Payload):
    """KE payload: the KE method (DH group) number and the public value."""

    payload_type: ClassVar[int] = PayloadType.KE
    group: int
    data: bytes
    reserved: int = 0
    flags: int = 0

    def body(self) -> bytes:
        return _HH.pack(self.group, self.reserved) + self.data


def _parse_ke(data: bytes, pos: int, end: int, flags: int) -> KeyExchange:
    if end - pos < 4:
        raise ParseError("KE payload shorter than 4 octets", pos)
    group, reserved = _HH.unpack_from(data, pos)
    return KeyExchange(group, data[pos + 4 : end], reserved, flags)


# ---------------------------------------------------------------- ID (3.5)


@dataclass(slots=True)
class Identification(Payload):
    """Body shared by IDi and IDr: ID type, three reserved octets, identification data."""

    payload_type: ClassVar[int] = PayloadType.IDi
    id_type: int
    data: bytes
    reserved: int = 0
    flags: int = 0

    def body(self) -> bytes:
        return _B3.pack(self.id_type, _r24(self.reserved)) + self.data

    @property
    def kind(self) -> IdType | int:
        return lookup(IdType, self.id_type)

    @property
    def value(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | str | bytes:
        """The identity decoded by type (RFC 7296 3.5): an address for ID_IPV4_ADDR /
        ID_IPV6_ADDR, text for ID_FQDN / ID_RFC822_ADDR, else the raw octets (DER DN/GN, key ID)."""
        if self.id_type in (1, 5):
            return self.address
        if self.id_type in (2, 3):
            try:
                return self.data.decode("ascii")
            except UnicodeDecodeError:
                raise ParseError(f"ID type {self.id_type} is not ASCII text") from None
        return self.data

    @property
    def address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address of an ID_IPV4_ADDR / ID_IPV6_ADDR identity."""
        want = {1: 4, 5: 16}.get(self.id_type)
        if want is None or len(self.data) != want:
            raise ParseError(f"ID type {self.id_type} with {len(self.data)} octets is not an address")
        return ipaddress.ip_address(self.data)


class IdentificationInitiator(Identification):
    """IDi payload."""

    __slots__ = ()
    payload_type = PayloadType.IDi


class IdentificationResponder(Identification):
    """IDr payload."""

    __slots__ = ()
    payload_type = PayloadType.IDr


IDi = IdentificationInitiator
IDr = IdentificationResponder


def _parse_id(cls: type[Identification]) -> BodyParser:
    def parse(data: bytes, pos: int, end: int, flags: int) -> Identification:
        if end - pos < 4:
            raise ParseError("ID payload shorter than 4 octets", pos)
        return cls(data[pos], data[pos + 4 : end], int.from_bytes(data[pos + 1 : pos + 4], "big"), flags)

    return parse


# ---------------------------------------------------------------- CERT, CERTREQ (3.6, 3.7)


@dataclass(slots=True)
class Certificate(Payload):
    """CERT payload: encoding and certificate data."""

    payload_type: ClassVar[int] = PayloadType.CERT
    encoding: int
    data: bytes
    flags: int = 0

    @property
    def kind(self) -> CertEncoding | int:
        return lookup(CertEncoding, self.encoding)

    def body(self) -> bytes:
        return bytes((self.encoding,)) + self.data


@dataclass(slots=True)
class CertificateRequest(Payload):
    """CERTREQ payload: encoding and certification authority data."""

    payload_type: ClassVar[int] = PayloadType.CERTREQ
    encoding: int
    data: bytes
    flags: int = 0

    @property
    def ca_hashes(self) -> list[bytes]:
        """The SHA-1 hashes of CA public keys (X.509 encodings, RFC 7296 3.7)."""
        d = self.data
        if len(d) % 20:
            raise ParseError(f"CERTREQ data of {len(d)} octets is not a list of SHA-1 hashes")
        return [d[i : i + 20] for i in range(0, len(d), 20)]

    def body(self) -> bytes:
        return bytes((self.encoding,)) + self.data


def _parse_cert(cls: type[Certificate] | type[CertificateRequest]) -> BodyParser:
    def parse(data: bytes, pos: int, end: int, flags: int) -> Certificate | CertificateRequest:
        if end - pos < 1:
            raise ParseError("CERT/CERTREQ payload without encoding octet", pos)
        return cls(data[pos], data[pos + 1 : end], flags)

    return parse


# ---------------------------------------------------------------- AUTH (3.8), Nonce (3.9)


@dataclass(slots=True)
class Authentication(Payload):
    """AUTH payload: method, three reserved octets, authentication data."""

    payload_type: ClassVar[int] = PayloadType.AUTH
    method: int
    data: bytes
    reserved: int = 0
    flags: int = 0

    def body(self) -> bytes:
        return _B3.pack(self.method, _r24(self.reserved)) + self.data


def _parse_auth(data: bytes, pos: int, end: int, flags: int) -> Authentication:
    if end - pos < 4:
        raise ParseError("AUTH payload shorter than 4 octets", pos)
    reserved = int.from_bytes(data[pos + 1 : pos + 4], "big")
    return Authentication(data[pos], data[pos + 4 : end], reserved, flags)


@dataclass(slots=True)
class Nonce(Payload):
    """Ni/Nr payload: the nonce (RFC 7296 asks 16..256 octets; the engine checks that)."""

    payload_type: ClassVar[int] = PayloadType.NONCE
    data: bytes
    flags: int = 0

    def body(self) -> bytes:
        return self.data


def _parse_nonce(data: bytes, pos: int, end: int, flags: int) -> Nonce:
    return Nonce(data[pos:end], flags)


@dataclass(slots=True)
class VendorId(Payload):
    """V payload: an opaque vendor identifier."""

    payload_type: ClassVar[int] = PayloadType.VENDOR_ID
    data: bytes
    flags: int = 0

    def body(self) -> bytes:
        return self.data


def _parse_vid(data: bytes, pos: int, end: int, flags: int) -> VendorId:
    return VendorId(data[pos:end], flags)


# ---------------------------------------------------------------- Notify (3.10)


@dataclass(slots=True)
class Notify(Payload):
    """N payload: protocol ID, SPI, notify type and notification data.

    Typed accessors (``ke_group``, ``hash_algorithms``...) decode ``data`` for the types that
    define it and raise :class:`ParseError` (INVALID_SYNTAX) when it is malformed.
    """

    payload_type: ClassVar[int] = PayloadType.NOTIFY
    type: int
    data: bytes = b""
    protocol_id: int = 0
    spi: bytes = b""
    flags: int = 0

    def body(self) -> bytes:
        spi = self.spi
        return _BBH.pack(self.protocol_id, len(spi), self.type) + spi + self.data

    @property
    def notify_type(self) -> NotifyType | int:
        return lookup(NotifyType, self.type)

    @property
    def is_error(self) -> bool:
        return self.type < 16384

    def _need(self, n: int) -> bytes:
        if len(self.data) != n:
            raise ParseError(f"notify {self.type} data is {len(self.data)} octets, expected {n}")
        return self.data

    # --- typed accessors ---
    @property
    def cookie(self) -> bytes:
        """COOKIE / COOKIE2 data (RFC 7296 2.6: 1..64 octets)."""
        if not 1 <= len(self.data) <= 64:
            raise ParseError(f"cookie of {len(self.data)} octets")
        return self.data

    @property
    def nat_hash(self) -> bytes:
        """NAT_DETECTION_{SOURCE,DESTINATION}_IP: SHA-1(SPIi|SPIr|IP|port) (RFC 7296 2.23)."""
        return self._need(20)

    @property
    def ke_group(self) -> int:
        """INVALID_KE_PAYLOAD: the accepted KE method number (RFC 7296 1.3)."""
        return int(_U16.unpack(self._need(2))[0])

    @property
    def rekey_spi(self) -> bytes:
        """REKEY_SA: the SPI of the Child SA being rekeyed (in the SPI field)."""
        return self.spi

    @property
    def hash_algorithms(self) -> list[int]:
        """SIGNATURE_HASH_ALGORITHMS: the list of 16-bit hash algorithm numbers (RFC 7427 4)."""
        d = self.data
        if len(d) % 2:
            raise ParseError(f"SIGNATURE_HASH_ALGORITHMS data of odd length {len(d)}")
        return list(struct.unpack(f">{len(d) // 2}H", d))

    @property
    def window_size(self) -> int:
        """SET_WINDOW_SIZE: the window size (RFC 7296 2.3)."""
        return int(_U32.unpack(self._need(4))[0])

    @property
    def unsupported_payload_type(self) -> int:
        """UNSUPPORTED_CRITICAL_PAYLOAD: the one-octet payload type (RFC 7296 3.10.1)."""
        return self._need(1)[0]

    @property
    def invalid_message_id(self) -> int:
        """INVALID_MESSAGE_ID / INVALID_SYNTAX (when present): the 4-octet message ID."""
        return int(_U32.unpack(self._need(4))[0])

    @property
    def lifetime(self) -> int:
        """AUTH_LIFETIME: seconds until reauthentication (RFC 4478)."""
        return int(_U32.unpack(self._need(4))[0])

    @property
    def additional_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """ADDITIONAL_IP4_ADDRESS / ADDITIONAL_IP6_ADDRESS (RFC 4555 3.6)."""
        if self.type == NotifyType.ADDITIONAL_IP4_ADDRESS:
            return ipaddress.IPv4Address(self._need(4))
        return ipaddress.IPv6Address(self._need(16))

    @property
    def gateway(self) -> tuple[int, bytes, bytes]:
        """REDIRECT / REDIRECTED_FROM: (gateway identity type, identity, nonce) (RFC 5685 8)."""
        d = self.data
        if len(d) < 2 or len(d) < 2 + d[1]:
            raise ParseError("truncated gateway identity")
        return d[0], d[2 : 2 + d[1]], d[2 + d[1] :]

    @property
    def message_id_sync(self) -> tuple[int, int, int]:
        """IKEV2_MESSAGE_ID_SYNC: (nonce, expected send M-ID, expected recv M-ID) (RFC 6311)."""
        a, b, c = struct.unpack(">III", self._need(12))
        return a, b, c

    @property
    def replay_counter_sync(self) -> tuple[int, int]:
        """IPSEC_REPLAY_COUNTER_SYNC: (nonce, outgoing ESP counter) (RFC 6311 5.2)."""
        a, b = struct.unpack(">IQ", self._need(12))
        return a, b

    @property
    def ticket_lifetime(self) -> tuple[int, bytes]:
        """TICKET_LT_OPAQUE: (lifetime seconds, opaque ticket) (RFC 5723 4.3.1)."""
        if len(self.data) < 4:
            raise ParseError("TICKET_LT_OPAQUE shorter than 4 octets")
        return int(_U32.unpack_from(self.data)[0]), self.data[4:]

    # --- builders ---
    @classmethod
    def for_invalid_ke(cls, group: int) -> Notify:
        return cls(NotifyType.INVALID_KE_PAYLOAD, _U16.pack(group))

    @classmethod
    def for_signature_hash_algorithms(cls, algorithms: list[int]) -> Notify:
        return cls(NotifyType.SIGNATURE_HASH_ALGORITHMS, struct.pack(f">{len(algorithms)}H", *algorithms))

    @classmethod
    def for_window_size(cls, size: int) -> Notify:
        return cls(NotifyType.SET_WINDOW_SIZE, _U32.pack(size))

    @classmethod
    def for_rekey_sa(cls, protocol_id: int, spi: bytes) -> Notify:
        return cls(NotifyType.REKEY_SA, b"", protocol_id, spi)

    @classmethod
    def for_unsupported_critical(cls, payload_type: int) -> Notify:
        return cls(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, bytes((payload_type,)))

    @classmethod
    def for_gateway(cls, notify_type: int, gw_type: int, identity: bytes, nonce: bytes = b"") -> Notify:
        return cls(notify_type, bytes((gw_type, len(identity))) + identity + nonce)


def _parse_notify(data: bytes, pos: int, end: int, flags: int) -> Notify:
    if end - pos < 4:
        raise ParseError("Notify payload shorter than 4 octets", pos)
    proto, spi_size, ntype = _BBH.unpack_from(data, pos)
    if not spi_size:
        return Notify(ntype, data[pos + 4 : end], proto, b"", flags)
    s = pos + 4 + spi_size
    if s > end:
        raise ParseError(f"Notify SPI size {spi_size} does not fit", pos + 1)
    return Notify(ntype, data[s:end], proto, data[pos + 4 : s], flags)


# ---------------------------------------------------------------- Delete (3.11)


@dataclass(slots=True)
class Delete(Payload):
    """D payload. ``spi_size`` is None when implied (size of the SPIs, else 0 for IKE, 4)."""

    payload_type: ClassVar[int] = PayloadType.DELETE
    protocol_id: int
    spis: list[bytes] = field(default_factory=list)
    spi_size: int | None = None
    flags: int = 0

    def implied_spi_size(self) -> int:
        if self.spis:
            return len(self.spis[0])
        return 0 if self.protocol_id == ProtocolId.IKE else 4

    def body(self) -> bytes:
        size = self.implied_spi_size() if self.spi_size is None else self.spi_size
        spis = self.spis
        if any(len(s) != size for s in spis):
            raise ValueError("Delete payload SPIs must all be spi_size octets")
        return _BBH.pack(self.protocol_id, size, len(spis)) + b"".join(spis)


def _parse_delete(data: bytes, pos: int, end: int, flags: int) -> Delete:
    if end - pos < 4:
        raise ParseError("Delete payload shorter than 4 octets", pos)
    proto, size, num = _BBH.unpack_from(data, pos)
    if size * num != end - pos - 4:
        raise ParseError(f"Delete payload: {num} SPIs of {size} octets in {end - pos - 4} octets", pos + 2)
    p = pos + 4
    spis = [data[p + i * size : p + (i + 1) * size] for i in range(num)]
    d = Delete(proto, spis, None, flags)
    if d.implied_spi_size() != size:
        d.spi_size = size
    return d


# ---------------------------------------------------------------- TS (3.13)


@dataclass(slots=True)
class TrafficSelector:
    """TS_IPV4_ADDR_RANGE / TS_IPV6_ADDR_RANGE; addresses are raw 4- or 16-octet strings."""

    ts_type: int
    ip_proto: int
    start_port: int
    end_port: int
    start_addr: bytes
    end_addr: bytes

    @classmethod
    def from_range(cls, start: str, end: str, ip_proto: int = 0, start_port: int = 0,
                   end_port: int = 65535) -> TrafficSelector:
        a, b = ipaddress.ip_address(start), ipaddress.ip_address(end)
        ts_type = TsType.TS_IPV4_ADDR_RANGE if a.version == 4 else TsType.TS_IPV6_ADDR_RANGE
        return cls(ts_type, ip_proto, start_port, end_port, a.packed, b.packed)

    @classmethod
    def from_network(cls, net: str, ip_proto: int = 0, start_port: int = 0,
                     end_port: int = 65535) -> TrafficSelector:
        n = ipaddress.ip_network(net, strict=False)
        return cls.from_range(str(n[0]), str(n[-1]), ip_proto, start_port, end_port)

    @property
    def start(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.start_addr)

    @property
    def end(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.end_addr)

    def to_bytes(self) -> bytes:
        n = 8 + len(self.start_addr) + len(self.end_addr)
        return (_TS.pack(self.ts_type, self.ip_proto, n, self.start_port, self.end_port)
                + self.start_addr + self.end_addr)


@dataclass(slots=True)
class RawTrafficSelector:
    """A selector of another type (TS_FC_ADDR_RANGE, TS_SECLABEL...): octet 1 and the rest raw."""

    ts_type: int
    octet1: int
    data: bytes

    def to_bytes(self) -> bytes:
        return _BBH.pack(self.ts_type, self.octet1, 4 + len(self.data)) + self.data


@dataclass(slots=True)
class TrafficSelectors(Payload):
    """Body shared by TSi and TSr: count, three reserved octets, selectors."""

    payload_type: ClassVar[int] = PayloadType.TSi
    selectors: list[TrafficSelector | RawTrafficSelector] = field(default_factory=list)
    reserved: int = 0
    flags: int = 0

    def body(self) -> bytes:
        sel = self.selectors
        return _B3.pack(len(sel), _r24(self.reserved)) + b"".join([s.to_bytes() for s in sel])


class TrafficSelectorsInitiator(TrafficSelectors):
    """TSi payload."""

    __slots__ = ()
    payload_type = PayloadType.TSi


class TrafficSelectorsResponder(TrafficSelectors):
    """TSr payload."""

    __slots__ = ()
    payload_type = PayloadType.TSr


TSi = TrafficSelectorsInitiator
TSr = TrafficSelectorsResponder

_TS_ADDR_LEN = {7: 4, 8: 16}


def _parse_ts(cls: type[TrafficSelectors]) -> BodyParser:
    def parse(data: bytes, pos: int, end: int, flags: int) -> TrafficSelectors:
        if end - pos < 4:
            raise ParseError("TS payload shorter than 4 octets", pos)
        count = data[pos]
        reserved = int.from_bytes(data[pos + 1 : pos + 4], "big")
        sels: list[TrafficSelector | RawTrafficSelector] = []
        p = pos + 4
        while p < end:
            if end - p < 4:
                raise ParseError("truncated traffic selector", p)
            ts_type, octet1, slen = _BBH.unpack_from(data, p)
            send = p + slen
            if slen < 4 or send > end:
                raise ParseError(f"traffic selector length {slen} does not fit", p + 2)
            alen = _TS_ADDR_LEN.get(ts_type)
            if alen is None:
                sels.append(RawTrafficSelector(ts_type, octet1, data[p + 4 : send]))
            else:
                if slen != 8 + 2 * alen:
                    raise ParseError(f"traffic selector type {ts_type} length {slen}", p + 2)
                sp, ep = _HH.unpack_from(data, p + 4)
                sels.append(TrafficSelector(ts_type, octet1, sp, ep, data[p + 8 : p + 8 + alen],
                                            data[p + 8 + alen : send]))
            p = send
        if len(sels) != count:
            raise ParseError(f"TS payload says {count} selectors, has {len(sels)}", pos)
        return cls(sels, reserved, flags)

    return parse


# ---------------------------------------------------------------- SK (3.14), SKF (RFC 7383 2.5)


@dataclass(slots=True)
class EncryptedPayload(Payload):
    """SK payload kept opaque: ``data`` is IV | ciphertext | ICV.

    ``inner_type`` is the generic header's next-payload octet: the type of the first payload
    inside (RFC 7296 3.14). SK is always the last payload of a message.
    """

    payload_type: ClassVar[int] = PayloadType.SK
    inner_type: int
    data: bytes
    flags: int = 0

    def body(self) -> bytes:
        return self.data


@dataclass(slots=True)
class EncryptedFragment(Payload):
    """SKF payload (RFC 7383 2.5): fragment number, total fragments, IV | ciphertext | ICV.

    ``inner_type`` is the first inner payload type in fragment 1 and 0 in the others.
    """

    payload_type: ClassVar[int] = PayloadType.SKF
    inner_type: int
    fragment_number: int
    total_fragments: int
    data: bytes
    flags: int = 0

    def body(self) -> bytes:
        return _SKF.pack(self.fragment_number, self.total_fragments) + self.data


def parse_skf(data: bytes, pos: int, end: int, flags: int, inner: int) -> EncryptedFragment:
    if end - pos < 4:
        raise ParseError("SKF payload shorter than 4 octets", pos)
    num, total = _SKF.unpack_from(data, pos)
    # RFC 7383 2.5: numbers start at 1 and never exceed Total Fragments.
    if num == 0 or num > total:
        raise ParseError(f"fragment {num} of {total}", pos)
    return EncryptedFragment(inner, num, total, data[pos + 4 : end], flags)


# ---------------------------------------------------------------- CP (3.15)


@dataclass(slots=True)
class ConfigAttribute:
    """A configuration attribute: 15-bit ``type``, its reserved top bit, value octets."""

    type: int
    value: bytes = b""
    reserved: int = 0

    def to_bytes(self) -> bytes:
        return _HH.pack((self.reserved << 15) | self.type, len(self.value)) + self.value


@dataclass(slots=True)
class Configuration(Payload):
    """CP payload: CFG type, three reserved octets, attributes."""

    payload_type: ClassVar[int] = PayloadType.CP
    cfg_type: int
    attributes: list[ConfigAttribute] = field(default_factory=list)
    reserved: int = 0
    flags: int = 0

    def body(self) -> bytes:
        attrs = b"".join([a.to_bytes() for a in self.attributes])
        return _B3.pack(self.cfg_type, _r24(self.reserved)) + attrs


def _parse_cp(data: bytes, pos: int, end: int, flags: int) -> Configuration:
    if end - pos < 4:
        raise ParseError("CP payload shorter than 4 octets", pos)
    attrs: list[ConfigAttribute] = []
    p = pos + 4
    while p < end:
        if end - p < 4:
            raise ParseError("truncated configuration attribute", p)
        t, n = _HH.unpack_from(data, p)
        if p + 4 + n > end:
            raise ParseError(f"configuration attribute length {n} does not fit", p + 2)
        attrs.append(ConfigAttribute(t & 0x7FFF, data[p + 4 : p + 4 + n], t >> 15))
        p += 4 + n
    return Configuration(data[pos], attrs, int.from_bytes(data[pos + 1 : pos + 4], "big"), flags)


# ---------------------------------------------------------------- EAP (3.16)


@dataclass(slots=True)
class Eap(Payload):
    """EAP payload: one EAP message (RFC 3748 4); its own length field must match."""

    payload_type: ClassVar[int] = PayloadType.EAP
    data: bytes
    flags: int = 0

    @property
    def code(self) -> int:
        return self.data[0]

    @property
    def identifier(self) -> int:
        return self.data[1]

    @property
    def eap_type(self) -> int | None:
        """The EAP method type of a Request/Response, else None."""
        return self.data[4] if self.data[0] in (1, 2) and len(self.data) > 4 else None

    def body(self) -> bytes:
        return self.data


def _parse_eap(data: bytes, pos: int, end: int, flags: int) -> Eap:
    if end - pos < 4:
        raise ParseError("EAP message shorter than 4 octets", pos)
    n = _U16.unpack_from(data, pos + 2)[0]
    if n != end - pos:
        raise ParseError(f"EAP length {n} but payload holds {end - pos} octets", pos + 2)
    return Eap(data[pos:end], flags)


# ---------------------------------------------------------------- unknown


@dataclass(slots=True)
class RawPayload(Payload):
    """A payload of a type this codec does not decode (non-critical): kept verbatim."""

    payload_type: int  # type: ignore[misc]
    data: bytes
    flags: int = 0

    def body(self) -> bytes:
        return self.data


_BY_ENUM: dict[PayloadType, BodyParser] = {
    PayloadType.SA: _parse_sa,
    PayloadType.KE: _parse_ke,
    PayloadType.IDi: _parse_id(IdentificationInitiator),
    PayloadType.IDr: _parse_id(IdentificationResponder),
    PayloadType.CERT: _parse_cert(Certificate),
    PayloadType.CERTREQ: _parse_cert(CertificateRequest),
    PayloadType.AUTH: _parse_auth,
    PayloadType.NONCE: _parse_nonce,
    PayloadType.NOTIFY: _parse_notify,
    PayloadType.DELETE: _parse_delete,
    PayloadType.VENDOR_ID: _parse_vid,
    PayloadType.TSi: _parse_ts(TrafficSelectorsInitiator),
    PayloadType.TSr: _parse_ts(TrafficSelectorsResponder),
    PayloadType.CP: _parse_cp,
    PayloadType.EAP: _parse_eap,
}
PARSERS: dict[int, BodyParser] = {int(k): v for k, v in _BY_ENUM.items()}
"""Body parsers by payload type (SK and SKF apart: they end the chain)."""
