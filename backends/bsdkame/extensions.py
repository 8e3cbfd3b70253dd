"""PF_KEY v2 extensions (RFC 2367 section 2.3, KAME's ``sadb_x_*``) as
frozen dataclasses.

Each class knows its body, the octets after the common 4-octet
``sadb_ext`` header (length in 64-bit words, type): ``pack`` writes it
unpadded, ``unpack`` reads it back and raises :class:`PfkeyFormatError` on
anything that does not fit. Framing, padding to 64 bits and the length
words are :mod:`pluto_bsdkame.messages`' job.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from pluto_bsdkame.constants import IPSEC_ULPROTO_ANY, ExtType, PolicyDir, PolicyType, SaState
from pluto_bsdkame.layout import Layout


class PfkeyFormatError(ValueError):
    """A PF_KEY message that cannot be what it claims (short, bad length,
    unknown or duplicated extension). ``offset`` is where in the message."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at octet {offset})")


@lru_cache(maxsize=128)
def _st(order: str, fmt: str) -> struct.Struct:
    return struct.Struct(order + fmt)


def _need(name: str, body: bytes, size: int) -> None:
    if len(body) < size:
        raise PfkeyFormatError(f"{name}: body of {len(body)} octets, needs at least {size}")


# --------------------------------------------------------------------------
# struct sockaddr, the part that differs most between kernels
# --------------------------------------------------------------------------

SOCKADDR_IN = 16
SOCKADDR_IN6 = 28


def pack_sockaddr(addr: str, port: int, layout: Layout) -> bytes:
    """``sockaddr_in``/``sockaddr_in6`` with the address and port in network
    order, family (and on the BSDs ``sa_len``) as the layout says."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        family, size, tail = layout.af_inet, SOCKADDR_IN, ip.packed + bytes(8)
    else:
        family, size, tail = layout.af_inet6, SOCKADDR_IN6, bytes(4) + ip.packed + bytes(4)
    head = struct.pack("BB", size, family) if layout.bsd_sockaddr else _st(layout.order, "H").pack(family)
    return head + struct.pack("!H", port) + tail


def unpack_sockaddr(data: bytes, layout: Layout) -> tuple[str, int, int]:
    """(address, port, octets used) of the sockaddr at the start of ``data``."""
    if len(data) < 4:
        raise PfkeyFormatError(f"sockaddr: {len(data)} octets, needs at least 4")
    family = data[1] if layout.bsd_sockaddr else _st(layout.order, "H").unpack_from(data)[0]
    if family == layout.af_inet:
        size = SOCKADDR_IN
    elif family == layout.af_inet6:
        size = SOCKADDR_IN6
    else:
        raise PfkeyFormatError(f"sockaddr: address family {family} is neither IPv4 nor IPv6")
    if len(data) < size:
        raise PfkeyFormatError(f"sockaddr: family {family} needs {size} octets, {len(data)} left")
    port = struct.unpack_from("!H", data, 2)[0]
    raw = data[4:8] if size == SOCKADDR_IN else data[8:24]
    return str(ipaddress.ip_address(raw)), port, size


# --------------------------------------------------------------------------
# The extensions
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaExt:
    """``sadb_sa`` (RFC 2367 section 2.3.1). The SPI is in network order,
    the rest in host order."""

    NAME: ClassVar[str] = "sadb_sa"
    spi: int
    replay: int = 0
    state: int = SaState.MATURE
    auth: int = 0
    encrypt: int = 0
    flags: int = 0
    ext_type: int = ExtType.SA

    def pack(self, layout: Layout) -> bytes:
        return struct.pack("!I", self.spi) + _st(layout.order, "BBBBI").pack(
            self.replay, self.state, self.auth, self.encrypt, self.flags
        )

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> SaExt:
        _need(cls.NAME, body, 12)
        replay, state, auth, encrypt, flags = _st(layout.order, "BBBBI").unpack_from(body, 4)
        return cls(struct.unpack_from("!I", body)[0], replay, state, auth, encrypt, flags, ext_type)


@dataclass(frozen=True, slots=True)
class LifetimeExt:
    """``sadb_lifetime`` (section 2.3.2): current, hard or soft. Linux reads
    ``allocations`` as packets; add/use times are seconds (current: since
    the epoch; limits: after add / first use)."""

    NAME: ClassVar[str] = "sadb_lifetime"
    ext_type: int
    allocations: int = 0
    octets: int = 0  # sadb_lifetime_bytes
    addtime: int = 0
    usetime: int = 0

    def pack(self, layout: Layout) -> bytes:
        return _st(layout.order, "IQQQ").pack(self.allocations, self.octets, self.addtime, self.usetime)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> LifetimeExt:
        _need(cls.NAME, body, 28)
        return cls(ext_type, *_st(layout.order, "IQQQ").unpack_from(body))


@dataclass(frozen=True, slots=True)
class AddressExt:
    """``sadb_address`` (section 2.3.3): source, destination, proxy, NAT-T
    original address. A selector uses ``prefixlen``, ``proto`` and ``port``;
    an SA end point the full prefix and any protocol."""

    NAME: ClassVar[str] = "sadb_address"
    ext_type: int
    addr: str
    prefixlen: int
    proto: int = IPSEC_ULPROTO_ANY
    port: int = 0

    def pack(self, layout: Layout) -> bytes:
        return _st(layout.order, "BBH").pack(self.proto, self.prefixlen, 0) + pack_sockaddr(
            self.addr, self.port, layout
        )

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> AddressExt:
        _need(cls.NAME, body, 4 + SOCKADDR_IN)
        proto, prefixlen, _ = _st(layout.order, "BBH").unpack_from(body)
        addr, port, _used = unpack_sockaddr(body[4:], layout)
        if prefixlen > (32 if ":" not in addr else 128):
            raise PfkeyFormatError(f"{cls.NAME}: prefix length {prefixlen} for {addr}")
        return cls(ext_type, addr, prefixlen, proto, port)


@dataclass(frozen=True, slots=True)
class KeyExt:
    """``sadb_key`` (section 2.3.4): ``bits`` of key material. Never shown."""

    NAME: ClassVar[str] = "sadb_key"
    ext_type: int
    key: bytes
    bits: int = -1  # -1: all of ``key``

    def __post_init__(self) -> None:
        if self.bits < 0:
            object.__setattr__(self, "bits", len(self.key) * 8)

    def __repr__(self) -> str:
        return f"KeyExt(ext_type={self.ext_type}, bits={self.bits}, key=<hidden>)"

    def pack(self, layout: Layout) -> bytes:
        return _st(layout.order, "HH").pack(self.bits, 0) + self.key

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> KeyExt:
        _need(cls.NAME, body, 4)
        bits = _st(layout.order, "H").unpack_from(body)[0]
        size = (bits + 7) // 8
        if 4 + size > len(body):
            raise PfkeyFormatError(f"{cls.NAME}: {bits} bits do not fit in {len(body) - 4} octets")
        return cls(ext_type, bytes(body[4 : 4 + size]), bits)


@dataclass(frozen=True, slots=True)
class IdentityExt:
    """``sadb_ident`` (section 2.3.5): type, numeric id, and a NUL-padded
    string (FQDN, user@FQDN, prefix)."""

    NAME: ClassVar[str] = "sadb_ident"
    ext_type: int
    id_type: int
    id: int = 0
    text: bytes = b""

    def pack(self, layout: Layout) -> bytes:
        # a C string: at least one NUL (RFC 2367 section 2.3.5)
        return _st(layout.order, "HHQ").pack(self.id_type, 0, self.id) + self.text + b"\0"

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> IdentityExt:
        _need(cls.NAME, body, 12)
        id_type, _, ident = _st(layout.order, "HHQ").unpack_from(body)
        return cls(ext_type, id_type, ident, bytes(body[12:]).split(b"\0", 1)[0])


@dataclass(frozen=True, slots=True)
class SensitivityExt:
    """``sadb_sens`` (section 2.3.6): levels and the two bitmaps, each a
    tuple of 64-bit words."""

    NAME: ClassVar[str] = "sadb_sens"
    dpd: int
    sens_level: int = 0
    integ_level: int = 0
    sens_bitmap: tuple[int, ...] = ()
    integ_bitmap: tuple[int, ...] = ()
    ext_type: int = ExtType.SENSITIVITY

    def pack(self, layout: Layout) -> bytes:
        words = self.sens_bitmap + self.integ_bitmap
        return _st(layout.order, "IBBBBI").pack(
            self.dpd, self.sens_level, len(self.sens_bitmap), self.integ_level, len(self.integ_bitmap), 0
        ) + _st(layout.order, f"{len(words)}Q").pack(*words)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> SensitivityExt:
        _need(cls.NAME, body, 12)
        dpd, sens_level, sens_len, integ_level, integ_len, _ = _st(layout.order, "IBBBBI").unpack_from(body)
        _need(cls.NAME, body, 12 + 8 * (sens_len + integ_len))
        words = _st(layout.order, f"{sens_len + integ_len}Q").unpack_from(body, 12)
        return cls(dpd, sens_level, integ_level, tuple(words[:sens_len]), tuple(words[sens_len:]), ext_type)


@dataclass(frozen=True, slots=True)
class Comb:
    """One ``sadb_comb`` of a proposal: an algorithm pair, key sizes and
    the lifetimes the kernel suggests."""

    auth: int
    encrypt: int
    flags: int = 0
    auth_minbits: int = 0
    auth_maxbits: int = 0
    encrypt_minbits: int = 0
    encrypt_maxbits: int = 0
    soft_allocations: int = 0
    hard_allocations: int = 0
    soft_bytes: int = 0
    hard_bytes: int = 0
    soft_addtime: int = 0
    hard_addtime: int = 0
    soft_usetime: int = 0
    hard_usetime: int = 0

    FORMAT: ClassVar[str] = "BBHHHHHIIIQQQQQQ"  # 72 octets
    SIZE: ClassVar[int] = 72

    def fields(self) -> tuple[int, ...]:
        return (
            self.auth,
            self.encrypt,
            self.flags,
            self.auth_minbits,
            self.auth_maxbits,
            self.encrypt_minbits,
            self.encrypt_maxbits,
            0,
            self.soft_allocations,
            self.hard_allocations,
            self.soft_bytes,
            self.hard_bytes,
            self.soft_addtime,
            self.hard_addtime,
            self.soft_usetime,
            self.hard_usetime,
        )


@dataclass(frozen=True, slots=True)
class ProposalExt:
    """``sadb_prop`` (section 2.3.7): what an ACQUIRE offers."""

    NAME: ClassVar[str] = "sadb_prop"
    replay: int
    combs: tuple[Comb, ...] = ()
    ext_type: int = ExtType.PROPOSAL

    def pack(self, layout: Layout) -> bytes:
        st = _st(layout.order, Comb.FORMAT)
        return struct.pack("B3x", self.replay) + b"".join(st.pack(*c.fields()) for c in self.combs)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> ProposalExt:
        _need(cls.NAME, body, 4)
        if (len(body) - 4) % Comb.SIZE:
            raise PfkeyFormatError(f"{cls.NAME}: {len(body) - 4} octets of sadb_comb is not a multiple of 72")
        st = _st(layout.order, Comb.FORMAT)
        combs = []
        for off in range(4, len(body), Comb.SIZE):
            v = st.unpack_from(body, off)
            combs.append(Comb(*v[:7], *v[8:]))
        return cls(body[0], tuple(combs), ext_type)


@dataclass(frozen=True, slots=True)
class Alg:
    """One ``sadb_alg`` of a SUPPORTED list (key sizes in bits)."""

    id: int
    ivlen: int = 0
    minbits: int = 0
    maxbits: int = 0


@dataclass(frozen=True, slots=True)
class SupportedExt:
    """``sadb_supported`` (section 2.3.8): the algorithms the kernel has,
    sent in the reply to SADB_REGISTER."""

    NAME: ClassVar[str] = "sadb_supported"
    ext_type: int
    algs: tuple[Alg, ...] = ()

    def pack(self, layout: Layout) -> bytes:
        st = _st(layout.order, "BBHHH")
        return bytes(4) + b"".join(st.pack(a.id, a.ivlen, a.minbits, a.maxbits, 0) for a in self.algs)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> SupportedExt:
        _need(cls.NAME, body, 4)
        if (len(body) - 4) % 8:
            raise PfkeyFormatError(f"{cls.NAME}: {len(body) - 4} octets of sadb_alg is not a multiple of 8")
        st = _st(layout.order, "BBHHH")
        return cls(ext_type, tuple(Alg(*st.unpack_from(body, off)[:4]) for off in range(4, len(body), 8)))


@dataclass(frozen=True, slots=True)
class SpiRangeExt:
    """``sadb_spirange`` (section 2.3.9), host order."""

    NAME: ClassVar[str] = "sadb_spirange"
    min: int
    max: int
    ext_type: int = ExtType.SPIRANGE

    def pack(self, layout: Layout) -> bytes:
        return _st(layout.order, "III").pack(self.min, self.max, 0)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> SpiRangeExt:
        _need(cls.NAME, body, 12)
        lo, hi, _ = _st(layout.order, "III").unpack_from(body)
        return cls(lo, hi, ext_type)


@dataclass(frozen=True, slots=True)
class IpsecRequest:
    """One ``sadb_x_ipsecrequest`` of an IPsec policy: protocol (IP number),
    mode, level and reqid; tunnel end points in tunnel mode."""

    proto: int
    mode: int
    level: int
    reqid: int = 0
    src: str | None = None
    dst: str | None = None

    def pack(self, layout: Layout) -> bytes:
        tail = b""
        if self.src is not None and self.dst is not None:
            tail = pack_sockaddr(self.src, 0, layout) + pack_sockaddr(self.dst, 0, layout)
        if layout.long_ipsecrequest:
            size = 16 + len(tail)
            head = _st(layout.order, "HHBBHII").pack(
                size, self.proto, self.mode, self.level, 0, self.reqid, 0
            )
        else:
            size = 8 + len(tail)
            size += -size % 8  # KAME: the request with its addresses is 64-bit aligned
            head = _st(layout.order, "HHBBH").pack(size, self.proto, self.mode, self.level, self.reqid)
        return (head + tail).ljust(size, b"\0")

    @classmethod
    def unpack_all(cls, data: bytes, layout: Layout) -> tuple[IpsecRequest, ...]:
        fixed = 16 if layout.long_ipsecrequest else 8
        out: list[IpsecRequest] = []
        off = 0
        while off < len(data):
            if len(data) - off < fixed:
                raise PfkeyFormatError(f"sadb_x_ipsecrequest: {len(data) - off} octets left, needs {fixed}")
            if layout.long_ipsecrequest:
                size, proto, mode, level, _, reqid, _ = _st(layout.order, "HHBBHII").unpack_from(data, off)
            else:
                size, proto, mode, level, reqid = _st(layout.order, "HHBBH").unpack_from(data, off)
            if size < fixed or off + size > len(data):
                raise PfkeyFormatError(f"sadb_x_ipsecrequest: length {size} octets, {len(data) - off} left")
            src = dst = None
            if size > fixed:
                tail = data[off + fixed : off + size]
                src, _, used = unpack_sockaddr(tail, layout)
                dst, _, _ = unpack_sockaddr(tail[used:], layout)
            out.append(cls(proto, mode, level, reqid, src, dst))
            off += size
        return tuple(out)


@dataclass(frozen=True, slots=True)
class PolicyExt:
    """``sadb_x_policy`` (KAME): type, direction, the kernel's policy id,
    priority (Linux, FreeBSD) and, for IPSEC, the requests. ``reserved``
    is FreeBSD's scope / NetBSD's flags octet."""

    NAME: ClassVar[str] = "sadb_x_policy"
    type: int
    dir: int
    id: int = 0
    priority: int = 0
    requests: tuple[IpsecRequest, ...] = ()
    reserved: int = 0
    ext_type: int = ExtType.X_POLICY

    def pack(self, layout: Layout) -> bytes:
        return _st(layout.order, "HBBII").pack(
            self.type, self.dir, self.reserved, self.id, self.priority
        ) + b"".join(r.pack(layout) for r in self.requests)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> PolicyExt:
        _need(cls.NAME, body, 12)
        ptype, pdir, reserved, pid, priority = _st(layout.order, "HBBII").unpack_from(body)
        requests = IpsecRequest.unpack_all(bytes(body[12:]), layout) if ptype == PolicyType.IPSEC else ()
        return cls(ptype, pdir, pid, priority, requests, reserved, ext_type)

    @property
    def direction(self) -> PolicyDir | int:
        try:
            return PolicyDir(self.dir)
        except ValueError:
            return self.dir


@dataclass(frozen=True, slots=True)
class Sa2Ext:
    """``sadb_x_sa2`` (KAME): mode and reqid of an SA."""

    NAME: ClassVar[str] = "sadb_x_sa2"
    mode: int
    reqid: int = 0
    sequence: int = 0
    ext_type: int = ExtType.X_SA2

    def pack(self, layout: Layout) -> bytes:
        return _st(layout.order, "BBHII").pack(self.mode, 0, 0, self.sequence, self.reqid)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> Sa2Ext:
        _need(cls.NAME, body, 12)
        mode, _, _, sequence, reqid = _st(layout.order, "BBHII").unpack_from(body)
        return cls(mode, reqid, sequence, ext_type)


@dataclass(frozen=True, slots=True)
class NatTTypeExt:
    """``sadb_x_nat_t_type``: the encapsulation (2: ESP in UDP, RFC 3948)."""

    NAME: ClassVar[str] = "sadb_x_nat_t_type"
    type: int
    ext_type: int = ExtType.X_NAT_T_TYPE

    def pack(self, layout: Layout) -> bytes:
        return struct.pack("B3x", self.type)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> NatTTypeExt:
        _need(cls.NAME, body, 4)
        return cls(body[0], ext_type)


@dataclass(frozen=True, slots=True)
class NatTPortExt:
    """``sadb_x_nat_t_port``: a UDP port in network order (SPORT or DPORT)."""

    NAME: ClassVar[str] = "sadb_x_nat_t_port"
    ext_type: int
    port: int

    def pack(self, layout: Layout) -> bytes:
        return struct.pack("!H", self.port) + bytes(2)

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> NatTPortExt:
        _need(cls.NAME, body, 4)
        return cls(ext_type, struct.unpack_from("!H", body)[0])


@dataclass(frozen=True, slots=True)
class RawExt:
    """An extension this daemon knows of but does not read (KM private data,
    security context, ...): kept as its body octets."""

    NAME: ClassVar[str] = "extension"
    ext_type: int
    body: bytes = b""

    def pack(self, layout: Layout) -> bytes:
        return self.body

    @classmethod
    def unpack(cls, ext_type: int, body: bytes, layout: Layout) -> RawExt:
        return cls(ext_type, bytes(body))


Ext = (
    SaExt
    | LifetimeExt
    | AddressExt
    | KeyExt
    | IdentityExt
    | SensitivityExt
    | ProposalExt
    | SupportedExt
    | SpiRangeExt
    | PolicyExt
    | Sa2Ext
    | NatTTypeExt
    | NatTPortExt
    | RawExt
)

_BY_TYPE: dict[int, type] = {
    ExtType.SA: SaExt,
    ExtType.LIFETIME_CURRENT: LifetimeExt,
    ExtType.LIFETIME_HARD: LifetimeExt,
    ExtType.LIFETIME_SOFT: LifetimeExt,
    ExtType.KEY_AUTH: KeyExt,
    ExtType.KEY_ENCRYPT: KeyExt,
    ExtType.IDENTITY_SRC: IdentityExt,
    ExtType.IDENTITY_DST: IdentityExt,
    ExtType.SENSITIVITY: SensitivityExt,
    ExtType.PROPOSAL: ProposalExt,
    ExtType.SUPPORTED_AUTH: SupportedExt,
    ExtType.SUPPORTED_ENCRYPT: SupportedExt,
    ExtType.SPIRANGE: SpiRangeExt,
    ExtType.X_POLICY: PolicyExt,
    ExtType.X_SA2: Sa2Ext,
    ExtType.X_NAT_T_TYPE: NatTTypeExt,
    ExtType.X_NAT_T_SPORT: NatTPortExt,
    ExtType.X_NAT_T_DPORT: NatTPortExt,
}


def ext_class(ext_type: int, layout: Layout) -> type | None:
    """The class that reads ``ext_type`` in this layout, None if unknown."""
    if ext_type in layout.addresses:
        return AddressExt
    if ext_type in layout.raw:
        return RawExt
    return _BY_TYPE.get(ext_type)
