"""Backend-neutral kernel objects: what the engine asks a kernel backend to
install, what it reads back, and the events a kernel sends up.

Both backends (XFRM over netlink, PF_KEY v2) take and return exactly these,
so the engine and the shared conformance suite never see a backend's own
structures. Addresses are text (``"192.0.2.1"``, ``"2001:db8::1"``); an SPI
is the plain 32-bit number (the value of its four octets in network order);
algorithms are IKEv2 transform IDs (RFC 7296 section 3.3.2, IANA "Transform
Type 1/3" registries) so that a backend maps them to its kernel's names.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, ClassVar

from pluto_core.ikev2.ts_narrow import Selector

if TYPE_CHECKING:
    from pluto_core.ikev2.conn import ChildInstall, ChildKeys, EngineConn

IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_COMP = 108


class Mode(Enum):
    TRANSPORT = "transport"
    TUNNEL = "tunnel"


class Direction(IntEnum):
    """Policy direction; the values are Linux's (XFRM_POLICY_IN/OUT/FWD)."""

    IN = 0
    OUT = 1
    FWD = 2


class PolicyAction(Enum):
    """``IPSEC``: protect through the templates (with none installed yet this is
    a trap: traffic raises an ACQUIRE); ``PASS``: let clear text through (XFRM
    ``allow`` without template, PF_KEY ``IPSEC_POLICY_NONE``); ``DROP``: discard
    (XFRM ``block``, PF_KEY ``IPSEC_POLICY_DISCARD``). ``PASS`` and ``DROP`` carry
    no template whatever ``templates`` holds: both backends leave it out."""

    IPSEC = "ipsec"
    PASS = "pass"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Lifetime:
    """Soft and hard limits; 0 means no limit. Soft limits raise a soft EXPIRE
    (rekey), hard ones delete the SA and raise a hard EXPIRE."""

    soft_bytes: int = 0
    hard_bytes: int = 0
    soft_packets: int = 0
    hard_packets: int = 0
    soft_seconds: int = 0
    hard_seconds: int = 0


NO_LIMIT = Lifetime()


@dataclass(frozen=True, slots=True)
class Encap:
    """ESP in UDP (RFC 3948): our port, the peer's port, and the original
    address (NAT-OA) where the peer told us one."""

    sport: int = 4500
    dport: int = 4500
    oa: str | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """An XFRM mark (``mark=value/mask``): the SA or policy matches packets whose
    skb mark, masked, equals ``value``."""

    value: int
    mask: int = 0xFFFFFFFF

    @classmethod
    def of(cls, pair: tuple[int, int] | None) -> Mark | None:
        """The engine's ``(value, mask)`` (None: no mark) as a kernel mark."""
        return cls(*pair) if pair is not None else None


# ipsec-interface=0 names ipsec0, but an XFRM if_id of 0 means "none": Libreswan maps it to
# 16384 (ipsec.conf(5)), so ipsec0 and ipsec16384 are one interface
IPSEC0_IF_ID = 16384


def interface_name(if_id: int) -> str:
    """The XFRM interface of ``ipsec-interface=``'s if_id: ``ipsecN`` (``ipsec0`` for 16384)."""
    return f"ipsec{0 if if_id == IPSEC0_IF_ID else if_id}"


@dataclass(frozen=True, slots=True)
class SaSpec:
    """One IPsec SA (one direction).

    ``encr`` is an ENCR transform ID (an AEAD one such as AES_GCM_16 or
    CHACHA20_POLY1305 carries its own integrity, then ``integ`` is 0);
    ``encr_key`` holds the key material as RFC 7296 section 2.17 derives it,
    salt included (AES-GCM/CCM, AES-CTR, ChaCha20-Poly1305). ``icv_bits`` 0
    means the transform's own length (RFC 4868 truncation for HMAC-SHA2).
    ``selector_src``/``selector_dst`` restrict what the SA carries (None:
    anything, as tunnel mode needs).
    """

    src: str
    dst: str
    spi: int
    encr: int
    encr_key: bytes
    integ: int = 0
    integ_key: bytes = b""
    icv_bits: int = 0
    proto: int = IPPROTO_ESP
    mode: Mode = Mode.TUNNEL
    reqid: int = 0
    esn: bool = False
    replay_window: int = 32
    lifetime: Lifetime = NO_LIMIT
    encap: Encap | None = None
    mark: Mark | None = None
    if_id: int = 0
    selector_src: str | None = None
    selector_dst: str | None = None

    def __repr__(self) -> str:  # keys never reach a log line
        return (f"SaSpec({self.src}->{self.dst} spi=0x{self.spi:08x} proto={self.proto} "
                f"mode={self.mode.value} reqid={self.reqid} encr={self.encr} integ={self.integ})")


@dataclass(frozen=True, slots=True)
class SaId:
    """What names an installed SA: destination, SPI, protocol (and mark)."""

    dst: str
    spi: int
    proto: int = IPPROTO_ESP
    mark: Mark | None = None
    src: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """How an ``IPSEC`` policy protects: through an SA of ``proto`` between
    ``src`` and ``dst`` (tunnel end points; None in transport mode)."""

    mode: Mode = Mode.TUNNEL
    src: str | None = None
    dst: str | None = None
    reqid: int = 0
    proto: int = IPPROTO_ESP


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """One security policy: traffic from ``src`` to ``dst`` (subnets), with
    an upper-layer protocol (0: any) and ports (0: any) in ``direction``.

    Two policies are the same kernel object when selector, direction, mark
    and ``if_id`` agree; priority, action and templates are what a replace
    changes.
    """

    src: str
    dst: str
    direction: Direction
    proto: int = 0
    sport: int = 0
    dport: int = 0
    priority: int = 0
    action: PolicyAction = PolicyAction.IPSEC
    templates: tuple[Template, ...] = ()
    mark: Mark | None = None
    if_id: int = 0

    @property
    def family(self) -> int:
        return ipaddress.ip_network(self.src, strict=False).version


def policy_identity(policy: PolicySpec) -> tuple[object, ...]:
    """What makes two policies the same kernel object: selector, direction,
    mark and ``if_id`` (not priority, action or templates)."""
    return (policy.src, policy.dst, policy.direction, policy.proto, policy.sport, policy.dport,
            policy.mark, policy.if_id)


def sa_id(sa: SaSpec) -> SaId:
    """The name of an SA once installed."""
    return SaId(sa.dst, sa.spi, sa.proto, sa.mark, sa.src)


@dataclass(frozen=True, slots=True)
class SaCounters:
    """What ``trafficstatus`` shows: bytes and packets through the SA, when it
    was added and last used (seconds since the epoch; 0 = never used)."""

    bytes: int
    packets: int
    add_time: int
    use_time: int


@dataclass(frozen=True, slots=True)
class KernelFeatures:
    """What the selected backend can do beyond the primitives every backend has,
    declared once (``pluto_kernel_features``) so that nobody probes which hooks
    exist. The defaults are what a full backend (XFRM) offers."""

    esn_refusal: str | None = None  # why ESN SAs cannot be installed; None: they can
    fwd_policies: bool = True  # Direction.FWD exists (the BSDs have none: in policies decide)
    algorithm_check: bool = False  # pluto_kernel_check_child tells before negotiation what cannot be installed
    sa_counters: bool = True  # pluto_kernel_query_sa reads bytes and packets
    events: bool = True  # pluto_kernel_event_fd / pluto_kernel_read_events deliver ACQUIRE, EXPIRE, MAPPING
    udp_encap: bool = True  # pluto_kernel_enable_udp_encap
    socket_bypass: bool = True  # pluto_kernel_bypass_socket
    # why SAs and policies cannot carry an XFRM interface id or a mark, and why the backend
    # cannot create XFRM interfaces (pluto_kernel_add_interface); None: it can
    if_id_refusal: str | None = None
    mark_refusal: str | None = None
    # why installed SAs and policies cannot move to new end points in place (pluto_kernel_migrate,
    # for MOBIKE: RFC 4555); None: they can
    migrate_refusal: str | None = None

    @property
    def esn(self) -> bool:
        return self.esn_refusal is None


# --------------------------------------------------------------------------
# Kernel events. Each names the hook the daemon dispatches it to, so that
# dispatch is ``getattr(hook, event.hook)(event=event)``.
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acquire:
    """Traffic matched a trap policy with no SA: negotiate for it.

    ``src``/``dst`` are the template's end points; ``sel_src``/``sel_dst`` the
    packet's addresses (as subnets), ``proto``/``sport``/``dport`` its upper
    layer; ``reqid`` links it to the policy the daemon installed."""

    hook: ClassVar[str] = "pluto_kernel_acquire"
    src: str
    dst: str
    reqid: int
    sel_src: str
    sel_dst: str
    proto: int = 0
    sport: int = 0
    dport: int = 0
    policy_direction: Direction = Direction.OUT
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Expire:
    """An SA reached a lifetime limit: ``hard`` False means rekey now, True
    that the kernel has deleted it."""

    hook: ClassVar[str] = "pluto_kernel_expire"
    sa: SaId
    reqid: int
    hard: bool


@dataclass(frozen=True, slots=True)
class Mapping:
    """The peer's NAT mapping changed (ESP in UDP arrived from a new address
    or port, RFC 3948 section 5.2): update the IKE SA's peer port."""

    hook: ClassVar[str] = "pluto_kernel_mapping"
    sa: SaId
    reqid: int
    old_src: str
    old_sport: int
    new_src: str
    new_sport: int


KernelEvent = Acquire | Expire | Mapping


# --------------------------------------------------------------------------
# From the engine's ChildInstall to kernel objects, shared by every backend.
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildPlan:
    """The kernel objects one Child SA needs, in the order to install them."""

    inbound: SaSpec
    outbound: SaSpec
    policies: tuple[PolicySpec, ...] = field(default=())


def _subnets(version: int, start: int, end: int) -> list[str]:
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [str(n) for n in ipaddress.summarize_address_range(make(start), make(end))]


def selector_subnets(sel: Selector) -> list[str]:
    """The subnets a selector's address range covers (kernels take prefixes)."""
    return _subnets(sel.version, sel.start, sel.end)


def _port(low: int, high: int) -> int:
    # A kernel selector holds one port or any; a wider range is widened to any.
    return low if low == high else 0


POLICY_PRIORITY_BASE = 4096


def policy_priority(src: str, dst: str, proto: int = 0, sport: int = 0, dport: int = 0) -> int:
    """The kernel priority of a policy when the conn sets none (``priority=0``):
    lower wins in XFRM and Linux PF_KEY, and the kernels do not prefer the more
    specific selector by themselves, so the more specific policy gets the lower
    number: 8 per prefix bit of either side, 4 for a protocol, 1 per port. A
    /24===/24 tunnel gets 3712, 0.0.0.0/0===0.0.0.0/0 gets 4096; so a narrower
    conn keeps its traffic when a wider one overlaps it."""
    bits = ipaddress.ip_network(src, strict=False).prefixlen + ipaddress.ip_network(dst, strict=False).prefixlen
    return POLICY_PRIORITY_BASE - 8 * bits - (4 if proto else 0) - (1 if sport else 0) - (1 if dport else 0)


@dataclass(frozen=True, slots=True)
class PolicySelector:
    """One (local prefix, remote prefix) pair the policies of a conn cover, seen
    from this end, with the priority every policy of the pair gets."""

    local: str
    remote: str
    proto: int  # upper-layer protocol, 0: any
    lport: int  # 0: any
    rport: int
    priority: int


def policy_selectors(local_ts: tuple[Selector, ...], remote_ts: tuple[Selector, ...],
                     priority: int = 0) -> list[PolicySelector]:
    """Every selector pair that policies for these traffic selectors need: same-family
    pairs only, ranges as covering prefixes (RFC 7296 section 3.13.1 allows ranges;
    kernels take prefixes), a port range other than one port widened to any. The one
    place a policy's priority is decided: ``priority`` when the conn sets one, else
    :func:`policy_priority` of the pair. Child SA, trap and shunt policies all come
    from here, and the engine picks the conn of an ACQUIRE with it
    (:func:`trap_priority`)."""
    out: list[PolicySelector] = []
    for lsel in local_ts:
        for rsel in remote_ts:
            if lsel.version != rsel.version:
                continue
            upper = lsel.proto or rsel.proto
            lport, rport = _port(lsel.start_port, lsel.end_port), _port(rsel.start_port, rsel.end_port)
            for lnet in _subnets(lsel.version, lsel.start, lsel.end):
                for rnet in _subnets(rsel.version, rsel.start, rsel.end):
                    out.append(PolicySelector(lnet, rnet, upper, lport, rport,
                                              priority or policy_priority(lnet, rnet, upper, lport, rport)))
    return out


def trap_priority(conn: EngineConn, local: Selector, remote: Selector, src: Selector, dst: Selector) -> int:
    """The priority of ``conn``'s trap policy (for its selectors ``local`` and
    ``remote``) that covers traffic from ``src`` to ``dst``: the number the kernel
    compared when it chose that trap and sent ACQUIRE."""
    for pair in policy_selectors((local,), (remote,), conn.priority):
        if src.within(Selector.from_subnet(pair.local)) and dst.within(Selector.from_subnet(pair.remote)):
            return pair.priority
    raise ValueError(f"{src}->{dst} is not within {local}->{remote}")


def plan_child(child: ChildInstall) -> ChildPlan:
    """Turn the engine's description of a Child SA into two SAs and the
    out/in/fwd policies for every pair of (local, remote) selectors."""
    mode = Mode.TUNNEL if child.mode == "tunnel" else Mode.TRANSPORT
    soft = int(child.lifetime_soft)
    hard = int(child.lifetime_hard)
    life = Lifetime(soft_seconds=soft, hard_seconds=max(hard, soft),
                    soft_bytes=child.soft_bytes, hard_bytes=child.hard_bytes,
                    soft_packets=child.soft_packets, hard_packets=child.hard_packets)

    proto = IPPROTO_AH if child.protocol == 2 else IPPROTO_ESP  # IKEv2 Protocol ID 2 = AH, 3 = ESP

    def sa(src: str, dst: str, keys: ChildKeys, encap: Encap | None, mark: Mark | None) -> SaSpec:
        return SaSpec(src=src, dst=dst, spi=keys.spi, encr=child.encr_id, encr_key=keys.encr_key,
                      integ=child.integ_id or 0, integ_key=keys.integ_key, proto=proto, mode=mode,
                      reqid=child.reqid, esn=child.esn, replay_window=child.replay_window, lifetime=life,
                      encap=encap, mark=mark, if_id=child.if_id)

    # mark-in= on the inbound SA and the in/fwd policies, mark-out= on the outbound ones;
    # ipsec-interface= puts its if_id on all of them (the interface's packets match them)
    mark_in, mark_out = Mark.of(child.mark_in), Mark.of(child.mark_out)

    # ESP in UDP: each SA's ports as its packets carry them (source, destination)
    ours, theirs = child.encap if child.encap is not None else (0, 0)
    inbound = sa(child.remote_addr, child.local_addr, child.inbound,
                 Encap(theirs, ours) if child.encap is not None else None, mark_in)
    outbound = sa(child.local_addr, child.remote_addr, child.outbound,
                  Encap(ours, theirs) if child.encap is not None else None, mark_out)
    if mode is Mode.TUNNEL:
        out_tmpl = (Template(mode, child.local_addr, child.remote_addr, child.reqid, proto),)
        in_tmpl = (Template(mode, child.remote_addr, child.local_addr, child.reqid, proto),)
    else:
        out_tmpl = in_tmpl = (Template(mode, reqid=child.reqid, proto=proto),)
    policies: list[PolicySpec] = []
    for pair in policy_selectors(child.local_ts, child.remote_ts, child.priority):
        lnet, rnet, upper, lport, rport, priority = (pair.local, pair.remote, pair.proto, pair.lport, pair.rport,
                                                     pair.priority)
        policies.append(PolicySpec(lnet, rnet, Direction.OUT, upper, lport, rport, priority, templates=out_tmpl,
                                   mark=mark_out, if_id=child.if_id))
        policies.append(PolicySpec(rnet, lnet, Direction.IN, upper, rport, lport, priority, templates=in_tmpl,
                                   mark=mark_in, if_id=child.if_id))
        if mode is Mode.TUNNEL:
            policies.append(PolicySpec(rnet, lnet, Direction.FWD, upper, rport, lport, priority,
                                       templates=in_tmpl, mark=mark_in, if_id=child.if_id))
    return ChildPlan(inbound, outbound, tuple(policies))


def trap_policies(local_ts: tuple[Selector, ...], remote_ts: tuple[Selector, ...], local: str, remote: str,
                  tunnel: bool, reqid: int, priority: int = 0, if_id: int = 0,
                  mark: Mark | None = None) -> list[PolicySpec]:
    """Outbound policies with a template and no SA (``auto=ondemand``/``route``): the first
    matching packet makes the kernel send ACQUIRE. Same selectors, priorities, ``if_id`` and
    mark as the Child SA's out policies they become (so that one replaces the other)."""
    mode = Mode.TUNNEL if tunnel else Mode.TRANSPORT
    template = (Template(mode, local, remote, reqid, IPPROTO_ESP) if tunnel
                else Template(mode, reqid=reqid, proto=IPPROTO_ESP),)
    return [PolicySpec(p.local, p.remote, Direction.OUT, p.proto, p.lport, p.rport, p.priority, templates=template,
                       mark=mark, if_id=if_id)
            for p in policy_selectors(local_ts, remote_ts, priority)]


def shunt_policies(local_ts: tuple[Selector, ...], remote_ts: tuple[Selector, ...], action: PolicyAction,
                   priority: int = 0) -> list[PolicySpec]:
    """Out, in and fwd policies without template for every selector pair (fwd so that
    the shunt also decides for traffic this host routes, as a tunnel's policies do).
    Priorities follow the selectors as for tunnels, so a narrower shunt wins over a
    wider tunnel; with identical selectors the two are one kernel object anyway."""
    out: list[PolicySpec] = []
    for p in policy_selectors(local_ts, remote_ts, priority):
        out.append(PolicySpec(p.local, p.remote, Direction.OUT, p.proto, p.lport, p.rport, p.priority, action))
        out.append(PolicySpec(p.remote, p.local, Direction.IN, p.proto, p.rport, p.lport, p.priority, action))
        out.append(PolicySpec(p.remote, p.local, Direction.FWD, p.proto, p.rport, p.lport, p.priority, action))
    return out
