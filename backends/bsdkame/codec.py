"""Kernel types (:mod:`pluto_core.kernel.types`) to PF_KEY messages and back.

Pure: every function takes the sequence number and pid to stamp and the
:class:`Layout`, and returns a :class:`Message`; nothing here opens a socket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from pluto_bsdkame.algorithms import SaAlgorithms, Supported, supported_from
from pluto_bsdkame.constants import (
    IPSEC_ULPROTO_ANY,
    UDP_ENCAP_ESPINUDP,
    ExtType,
    IpsecLevel,
    IpsecMode,
    MsgType,
    PolicyDir,
    PolicyType,
    SaState,
    SaType,
)
from pluto_bsdkame.extensions import (
    AddressExt,
    Ext,
    IpsecRequest,
    KeyExt,
    LifetimeExt,
    NatTPortExt,
    NatTTypeExt,
    PolicyExt,
    Sa2Ext,
    SaExt,
    SpiRangeExt,
    SupportedExt,
)
from pluto_bsdkame.layout import Layout
from pluto_bsdkame.messages import Message
from pluto_core.kernel.types import (
    IPPROTO_AH,
    IPPROTO_COMP,
    IPPROTO_ESP,
    Acquire,
    Direction,
    Expire,
    KernelEvent,
    Mapping,
    Mode,
    PolicyAction,
    PolicySpec,
    SaCounters,
    SaId,
    SaSpec,
)

SPI_MIN = 0x100  # RFC 4303 section 2.1
SPI_MAX = 0xFFFFFFFF

SATYPE_OF_PROTO = {IPPROTO_ESP: SaType.ESP, IPPROTO_AH: SaType.AH, IPPROTO_COMP: SaType.X_IPCOMP}
PROTO_OF_SATYPE = {v: k for k, v in SATYPE_OF_PROTO.items()}
DIR_OF = {Direction.IN: PolicyDir.INBOUND, Direction.OUT: PolicyDir.OUTBOUND, Direction.FWD: PolicyDir.FWD}
DIRECTION_OF = {v: k for k, v in DIR_OF.items()}
MODE_OF = {Mode.TRANSPORT: IpsecMode.TRANSPORT, Mode.TUNNEL: IpsecMode.TUNNEL}
ReqidMap = Callable[[int], int]


def _identity(reqid: int) -> int:
    return reqid


def satype(proto: int) -> SaType:
    try:
        return SATYPE_OF_PROTO[proto]
    except KeyError:
        raise ValueError(f"no PF_KEY SA type for IP protocol {proto}") from None


def _host(addr: str, ext_type: int, port: int = 0) -> AddressExt:
    return AddressExt(ext_type, addr, 128 if ":" in addr else 32, IPSEC_ULPROTO_ANY, port)


def _wildcard_like(addr: str) -> str:
    return "::" if ":" in addr else "0.0.0.0"


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------


def register(sa_type: int, seq: int, pid: int) -> Message:
    """SADB_REGISTER: receive ACQUIRE/EXPIRE for ``sa_type``; the reply lists
    the algorithms (RFC 2367 section 3.1.7)."""
    return Message(MsgType.REGISTER, sa_type, seq, pid)


def getspi(
    src: str, dst: str, proto: int, seq: int, pid: int, lo: int = SPI_MIN, hi: int = SPI_MAX
) -> Message:
    """SADB_GETSPI for an inbound SA ``src`` -> ``dst``: the kernel keeps a
    larval SA under the SPI it picks (section 3.1.1)."""
    return Message(
        MsgType.GETSPI,
        satype(proto),
        seq,
        pid,
        exts=(_host(src, ExtType.ADDRESS_SRC), _host(dst, ExtType.ADDRESS_DST), SpiRangeExt(lo, hi)),
    )


def replay_field(window: int, layout: Layout) -> int:
    """``sadb_sa_replay``: packets on Linux (the kernel caps it at 32),
    octets of bitmap on KAME; one octet either way."""
    value = (window + 7) // 8 if layout.replay_in_octets else window
    return min(value, 0xFF)


def add_sa(
    sa: SaSpec,
    update: bool,
    algs: SaAlgorithms,
    seq: int,
    pid: int,
    layout: Layout,
    kernel_reqid: ReqidMap = _identity,
) -> Message:
    """SADB_UPDATE (completes a larval SA from GETSPI, or replaces) or
    SADB_ADD (section 3.1.2/3.1.3) of one SA with its keys, mode and reqid
    (``sadb_x_sa2``), lifetimes and NAT-T encapsulation."""
    exts: list[Ext] = [
        SaExt(sa.spi, replay_field(sa.replay_window, layout), SaState.MATURE, algs.auth, algs.encrypt),
        Sa2Ext(MODE_OF[sa.mode], kernel_reqid(sa.reqid)),
    ]
    life = sa.lifetime
    if any(
        (
            life.hard_packets,
            life.hard_bytes,
            life.hard_seconds,
            life.soft_packets,
            life.soft_bytes,
            life.soft_seconds,
        )
    ):
        # Linux wants both or neither (af_key: EINVAL otherwise)
        exts.append(LifetimeExt(ExtType.LIFETIME_HARD, life.hard_packets, life.hard_bytes, life.hard_seconds))
        exts.append(LifetimeExt(ExtType.LIFETIME_SOFT, life.soft_packets, life.soft_bytes, life.soft_seconds))
    exts += [_host(sa.src, ExtType.ADDRESS_SRC), _host(sa.dst, ExtType.ADDRESS_DST)]
    if algs.auth_key is not None:
        exts.append(KeyExt(ExtType.KEY_AUTH, algs.auth_key))
    if algs.encrypt_key is not None:
        exts.append(KeyExt(ExtType.KEY_ENCRYPT, algs.encrypt_key))  # NULL: zero bits, still present
    if sa.encap is not None:
        exts += [
            NatTTypeExt(UDP_ENCAP_ESPINUDP),
            NatTPortExt(ExtType.X_NAT_T_SPORT, sa.encap.sport),
            NatTPortExt(ExtType.X_NAT_T_DPORT, sa.encap.dport),
        ]
        if sa.encap.oa:
            exts.append(_host(sa.encap.oa, ExtType.X_NAT_T_OA))
    return Message(MsgType.UPDATE if update else MsgType.ADD, satype(sa.proto), seq, pid, exts=tuple(exts))


def sa_request(mtype: MsgType, sa: SaId, seq: int, pid: int, src: str | None = None) -> Message:
    """SADB_DELETE or SADB_GET (section 3.1.4/3.1.5): destination, SPI and
    type name the SA; a source of the same family must be present too
    (the wildcard when unknown)."""
    source = src or sa.src or _wildcard_like(sa.dst)
    return Message(
        mtype,
        satype(sa.proto),
        seq,
        pid,
        exts=(SaExt(sa.spi), _host(source, ExtType.ADDRESS_SRC), _host(sa.dst, ExtType.ADDRESS_DST)),
    )


def _selector(policy: PolicySpec) -> tuple[AddressExt, AddressExt]:
    src = ipaddress.ip_network(policy.src, strict=False)
    dst = ipaddress.ip_network(policy.dst, strict=False)
    proto = policy.proto or IPSEC_ULPROTO_ANY
    return (
        AddressExt(ExtType.ADDRESS_SRC, str(src.network_address), src.prefixlen, proto, policy.sport),
        AddressExt(ExtType.ADDRESS_DST, str(dst.network_address), dst.prefixlen, proto, policy.dport),
    )


def _direction(policy: PolicySpec, layout: Layout) -> PolicyDir:
    if policy.direction is Direction.FWD and not layout.has_fwd:
        raise ValueError(f"the {layout.name} PF_KEY has no forward policies")
    return DIR_OF[policy.direction]


def policy_ext(
    policy: PolicySpec, layout: Layout, kernel_reqid: ReqidMap = _identity, policy_id: int = 0
) -> PolicyExt:
    if policy.action is PolicyAction.DROP:
        return PolicyExt(PolicyType.DISCARD, _direction(policy, layout), policy_id, policy.priority)
    if policy.action is PolicyAction.PASS:
        return PolicyExt(PolicyType.NONE, _direction(policy, layout), policy_id, policy.priority)
    requests = []
    for t in policy.templates:
        reqid = kernel_reqid(t.reqid)
        level = IpsecLevel.UNIQUE if reqid else IpsecLevel.REQUIRE
        if t.mode is Mode.TUNNEL:
            requests.append(IpsecRequest(t.proto, IpsecMode.TUNNEL, level, reqid, t.src, t.dst))
        else:
            requests.append(IpsecRequest(t.proto, IpsecMode.TRANSPORT, level, reqid))
    return PolicyExt(
        PolicyType.IPSEC, _direction(policy, layout), policy_id, policy.priority, tuple(requests)
    )


def add_policy(
    policy: PolicySpec, update: bool, seq: int, pid: int, layout: Layout, kernel_reqid: ReqidMap = _identity
) -> Message:
    """SADB_X_SPDUPDATE / SADB_X_SPDADD: selector as two addresses with
    prefix, upper protocol and ports; ``sadb_x_policy`` with the requests."""
    src, dst = _selector(policy)
    return Message(
        MsgType.X_SPDUPDATE if update else MsgType.X_SPDADD,
        SaType.UNSPEC,
        seq,
        pid,
        exts=(src, dst, policy_ext(policy, layout, kernel_reqid)),
    )


def delete_policy(policy: PolicySpec, seq: int, pid: int, layout: Layout) -> Message:
    """SADB_X_SPDDELETE: by selector and direction."""
    src, dst = _selector(policy)
    return Message(
        MsgType.X_SPDDELETE,
        SaType.UNSPEC,
        seq,
        pid,
        exts=(src, dst, PolicyExt(PolicyType.IPSEC, _direction(policy, layout))),
    )


def delete_policy_by_id(policy_id: int, direction: Direction, seq: int, pid: int) -> Message:
    """SADB_X_SPDDELETE2: by the id the kernel gave the policy."""
    return Message(
        MsgType.X_SPDDELETE2,
        SaType.UNSPEC,
        seq,
        pid,
        exts=(PolicyExt(PolicyType.IPSEC, DIR_OF[direction], policy_id),),
    )


def dump(sa_type: int, seq: int, pid: int) -> Message:
    return Message(MsgType.DUMP, sa_type, seq, pid)


def spd_dump(seq: int, pid: int) -> Message:
    return Message(MsgType.X_SPDDUMP, SaType.UNSPEC, seq, pid)


def flush(sa_type: int, seq: int, pid: int) -> Message:
    """SADB_FLUSH: every SA of a type, whoever installed it (the backend
    never sends it: see ``flush_owned``)."""
    return Message(MsgType.FLUSH, sa_type, seq, pid)


def spd_flush(seq: int, pid: int) -> Message:
    return Message(MsgType.X_SPDFLUSH, SaType.UNSPEC, seq, pid)


# --------------------------------------------------------------------------
# Replies and events
# --------------------------------------------------------------------------


def spi_of(reply: Message) -> int:
    sa = reply.get(ExtType.SA)
    if not isinstance(sa, SaExt):
        raise ValueError(f"{reply.name} reply without an SA extension")
    return sa.spi


def policy_id_of(reply: Message) -> int:
    pol = reply.get(ExtType.X_POLICY)
    return pol.id if isinstance(pol, PolicyExt) else 0


def supported_of(reply: Message) -> Supported:
    auth = reply.get(ExtType.SUPPORTED_AUTH)
    enc = reply.get(ExtType.SUPPORTED_ENCRYPT)
    return supported_from(
        auth.algs if isinstance(auth, SupportedExt) else (), enc.algs if isinstance(enc, SupportedExt) else ()
    )


def counters(reply: Message) -> SaCounters:
    """``trafficstatus`` numbers from the current lifetime of a GET reply
    (Linux puts packets in ``allocations``)."""
    cur = reply.get(ExtType.LIFETIME_CURRENT)
    if not isinstance(cur, LifetimeExt):
        raise ValueError(f"{reply.name} reply without a current lifetime")
    return SaCounters(bytes=cur.octets, packets=cur.allocations, add_time=cur.addtime, use_time=cur.usetime)


def _addr(msg: Message, ext_type: int) -> AddressExt | None:
    ext = msg.get(ext_type)
    return ext if isinstance(ext, AddressExt) else None


def event(
    msg: Message,
    *,
    policy_by_id: Callable[[int], PolicySpec | None] = lambda _i: None,
    sa_by_spi: Callable[[int], SaId | None] = lambda _s: None,
    our_reqid: ReqidMap = _identity,
) -> KernelEvent | None:
    """The kernel event a message carries, None for anything else (replies
    and other daemons' changes broadcast to every PF_KEY socket)."""
    if msg.type == MsgType.ACQUIRE:
        return _acquire(msg, policy_by_id, our_reqid)
    if msg.type == MsgType.EXPIRE:
        return _expire(msg, our_reqid)
    if msg.type == MsgType.X_NAT_T_NEW_MAPPING:
        return _mapping(msg, sa_by_spi)
    return None


def _acquire(
    msg: Message, policy_by_id: Callable[[int], PolicySpec | None], our_reqid: ReqidMap
) -> Acquire | None:
    """RFC 2367 section 3.1.6. Linux sends the template's end points and the
    policy id, not the packet's selector, so the selector and reqid come
    from the policy this daemon installed under that id."""
    src, dst = _addr(msg, ExtType.ADDRESS_SRC), _addr(msg, ExtType.ADDRESS_DST)
    pol = msg.get(ExtType.X_POLICY)
    if src is None or dst is None:
        return None
    pid = pol.id if isinstance(pol, PolicyExt) else 0
    direction = DIRECTION_OF.get(pol.dir, Direction.OUT) if isinstance(pol, PolicyExt) else Direction.OUT
    ours = policy_by_id(pid) if pid else None
    if ours is not None:
        reqid = next((t.reqid for t in ours.templates if t.reqid), 0)
        return Acquire(
            src.addr,
            dst.addr,
            reqid,
            ours.src,
            ours.dst,
            ours.proto,
            ours.sport,
            ours.dport,
            ours.direction,
            msg.seq,
        )
    reqid = 0
    if isinstance(pol, PolicyExt) and pol.requests:
        reqid = our_reqid(pol.requests[0].reqid)
    return Acquire(
        src.addr,
        dst.addr,
        reqid,
        f"{src.addr}/{src.prefixlen}",
        f"{dst.addr}/{dst.prefixlen}",
        policy_direction=direction,
        seq=msg.seq,
    )


def _expire(msg: Message, our_reqid: ReqidMap) -> Expire | None:
    """Section 3.1.8: a soft EXPIRE carries the soft lifetime, a hard one the
    hard lifetime (and the kernel has deleted the SA)."""
    sa, dst, src = msg.get(ExtType.SA), _addr(msg, ExtType.ADDRESS_DST), _addr(msg, ExtType.ADDRESS_SRC)
    if not isinstance(sa, SaExt) or dst is None:
        return None
    sa2 = msg.get(ExtType.X_SA2)
    reqid = our_reqid(sa2.reqid) if isinstance(sa2, Sa2Ext) else 0
    proto = PROTO_OF_SATYPE.get(msg.satype, IPPROTO_ESP)
    ident = SaId(dst.addr, sa.spi, proto, None, src.addr if src is not None else None)
    return Expire(ident, reqid, msg.has(ExtType.LIFETIME_HARD))


def _mapping(msg: Message, sa_by_spi: Callable[[int], SaId | None]) -> Mapping | None:
    """Linux ``pfkey_send_new_mapping``: SA (SPI), ADDRESS_SRC + NAT_T_SPORT
    the old peer address and port, ADDRESS_DST + NAT_T_DPORT the new ones."""
    sa = msg.get(ExtType.SA)
    old, new = _addr(msg, ExtType.ADDRESS_SRC), _addr(msg, ExtType.ADDRESS_DST)
    sport, dport = msg.get(ExtType.X_NAT_T_SPORT), msg.get(ExtType.X_NAT_T_DPORT)
    if not isinstance(sa, SaExt) or old is None or new is None:
        return None
    known = sa_by_spi(sa.spi)
    ident = known or SaId(old.addr, sa.spi, PROTO_OF_SATYPE.get(msg.satype, IPPROTO_ESP))
    return Mapping(
        ident,
        0,
        old.addr,
        sport.port if isinstance(sport, NatTPortExt) else old.port,
        new.addr,
        dport.port if isinstance(dport, NatTPortExt) else new.port,
    )
