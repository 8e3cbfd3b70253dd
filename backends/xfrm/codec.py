"""Backend-neutral kernel objects (``pluto_core.kernel.types``) to XFRM
messages and back. Pure: builds and reads pyroute2 message objects, never
touches a socket, so every mapping is unit-tested byte for byte.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from pluto_core.kernel.types import (
    Acquire,
    Direction,
    Encap,
    Expire,
    KernelEvent,
    Mapping,
    Mark,
    Mode,
    PolicyAction,
    PolicySpec,
    SaCounters,
    SaId,
    SaSpec,
)
from pluto_xfrm import messages as m
from pluto_xfrm.algorithms import kernel_algorithms

_AF = {4: socket.AF_INET, 6: socket.AF_INET6}
_VERSION = {socket.AF_INET: 4, socket.AF_INET6: 6}
_MODE = {Mode.TRANSPORT: m.XFRM_MODE_TRANSPORT, Mode.TUNNEL: m.XFRM_MODE_TUNNEL}


def address(text: str | None) -> tuple[int, dict[str, bytes]]:
    """(family, xfrm_address_t value) of an address; None is the wildcard."""
    if text is None:
        return 0, {"addr": bytes(16)}
    addr = ipaddress.ip_address(text)
    return _AF[addr.version], {"addr": addr.packed.ljust(16, b"\0")}


def address_text(family: int, value: dict[str, bytes] | bytes) -> str:
    raw = value["addr"] if isinstance(value, dict) else value
    if family == socket.AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16]))
    return str(ipaddress.IPv4Address(raw[:4]))


def selector(src: str | None, dst: str | None, proto: int = 0, sport: int = 0, dport: int = 0) -> dict[str, Any]:
    """An ``xfrm_selector`` for two subnets (None: any of the other's family)."""
    nets = [ipaddress.ip_network(n, strict=False) if n else None for n in (src, dst)]
    version = next((n.version for n in nets if n is not None), 0)
    if not version:
        return m.xfrm_selector.zero()
    snet, dnet = (n or ipaddress.ip_network("::/0" if version == 6 else "0.0.0.0/0") for n in nets)
    if snet.version != dnet.version:
        raise ValueError(f"selector mixes address families: {src} and {dst}")
    return {
        "daddr": {"addr": dnet.network_address.packed.ljust(16, b"\0")},
        "saddr": {"addr": snet.network_address.packed.ljust(16, b"\0")},
        "dport": dport, "dport_mask": 0xFFFF if dport else 0,
        "sport": sport, "sport_mask": 0xFFFF if sport else 0,
        "family": _AF[version], "prefixlen_d": dnet.prefixlen, "prefixlen_s": snet.prefixlen,
        "proto": proto, "ifindex": 0, "user": 0,
    }


def _limit(value: int) -> int:
    return value if value else m.XFRM_INF


def _mark_attr(mark: Mark | None) -> list[tuple[str, Any]]:
    return [("XFRMA_MARK", {"v": mark.value, "m": mark.mask})] if mark is not None else []


def _if_id_attr(if_id: int) -> list[tuple[str, Any]]:
    return [("XFRMA_IF_ID", if_id)] if if_id else []


def _name(text: str) -> bytes:
    return text.encode()


# --------------------------------------------------------------------------
# SAs
# --------------------------------------------------------------------------


def encap_tmpl(encap: Encap) -> dict[str, Any]:
    """XFRMA_ENCAP: ESP in UDP (RFC 3948) with the SA's ports."""
    _, oa = address(encap.oa)
    return {"encap_type": m.UDP_ENCAP_ESPINUDP, "encap_sport": encap.sport, "encap_dport": encap.dport,
            "encap_oa": oa}


def sa_info(sa: SaSpec) -> m.xfrm_usersa_info:
    """NEWSA / UPDSA for one SA, keys and all."""
    family, dst = address(sa.dst)
    _, src = address(sa.src)
    life = sa.lifetime
    msg = m.xfrm_usersa_info()
    flags = m.XFRM_STATE_ESN if sa.esn else 0
    if sa.selector_src or sa.selector_dst:
        sel = selector(sa.selector_src, sa.selector_dst)
    else:
        sel = {"family": 0 if sa.mode is Mode.TUNNEL else family}
    if sa.mode is Mode.TUNNEL and sel["family"] != family:
        # A tunnel SA is of the outer family; what it carries may be of the other (4-in-6, 6-in-4).
        # The kernel (__xfrm_init_state) sets up an inner mode for both families only when the
        # selector is AF_UNSPEC: with one of the outer family it drops every decapsulated packet
        # of the other (xfrm_ip2inner_mode) and finds no SA for such traffic going out. So a tunnel
        # SA takes an AF_UNSPEC selector (as strongSwan's do); the policies confine the traffic.
        sel, flags = {"family": 0}, flags | m.XFRM_STATE_AF_UNSPEC
    msg["sel"] = sel
    msg["id"] = {"daddr": dst, "spi": sa.spi, "proto": sa.proto}
    msg["saddr"] = src
    msg["lft"] = {
        "soft_byte_limit": _limit(life.soft_bytes), "hard_byte_limit": _limit(life.hard_bytes),
        "soft_packet_limit": _limit(life.soft_packets), "hard_packet_limit": _limit(life.hard_packets),
        "soft_add_expires_seconds": life.soft_seconds, "hard_add_expires_seconds": life.hard_seconds,
    }
    msg["reqid"] = sa.reqid
    msg["family"] = family
    msg["mode"] = _MODE[sa.mode]
    # With XFRMA_REPLAY_ESN_VAL the window lives there and this byte must be 0.
    msg["replay_window"] = 0
    msg["flags"] = flags
    attrs: list[tuple[str, Any]] = []
    algs = kernel_algorithms(sa)
    if algs.aead is not None:
        name, key, icv = algs.aead
        attrs.append(("XFRMA_ALG_AEAD", {"alg_name": _name(name), "alg_key_len": len(key) * 8,
                                         "alg_icv_len": icv, "alg_key": key}))
    if algs.crypt is not None:
        name, key = algs.crypt
        attrs.append(("XFRMA_ALG_CRYPT", {"alg_name": _name(name), "alg_key_len": len(key) * 8, "alg_key": key}))
    if algs.auth is not None:
        name, key, trunc = algs.auth
        attrs.append(("XFRMA_ALG_AUTH_TRUNC", {"alg_name": _name(name), "alg_key_len": len(key) * 8,
                                               "alg_trunc_len": trunc, "alg_key": key}))
    if sa.esn or sa.replay_window:
        words = (sa.replay_window + 31) // 32
        attrs.append(("XFRMA_REPLAY_ESN_VAL", {"bmp_len": words, "replay_window": sa.replay_window,
                                               "bmp": bytes(4 * words)}))
    if sa.encap is not None:
        attrs.append(("XFRMA_ENCAP", encap_tmpl(sa.encap)))
    attrs += _mark_attr(sa.mark) + _if_id_attr(sa.if_id)
    msg["attrs"] = attrs
    return msg


def sa_id(sa: SaId) -> m.xfrm_usersa_id:
    """DELSA / GETSA."""
    family, dst = address(sa.dst)
    msg = m.xfrm_usersa_id()
    msg["daddr"] = dst
    msg["spi"] = sa.spi
    msg["family"] = family
    msg["proto"] = sa.proto
    attrs = _mark_attr(sa.mark)
    if sa.src is not None:
        attrs.append(("XFRMA_SRCADDR", address(sa.src)[1]))
    msg["attrs"] = attrs
    return msg


def userspi_info(src: str, dst: str, proto: int, reqid: int, spi_min: int, spi_max: int) -> m.xfrm_userspi_info:
    """ALLOCSPI: the kernel picks a free SPI in [spi_min, spi_max] and keeps a
    larval SA under it until NEWSA/UPDSA fills it in or it times out."""
    family, daddr = address(dst)
    msg = m.xfrm_userspi_info()
    msg["info"] = {"sel": {"family": family}, "id": {"daddr": daddr, "proto": proto}, "saddr": address(src)[1],
                   "reqid": reqid, "family": family, "mode": m.XFRM_MODE_TUNNEL}
    msg["min"] = spi_min
    msg["max"] = spi_max
    msg["attrs"] = []
    return msg


def sa_id_of(msg: Any) -> SaId:
    """The SaId of an ``xfrm_usersa_info`` (as a message or a nested dict)."""
    family = msg["family"]
    mark = _mark_of(msg)
    return SaId(address_text(family, msg["id"]["daddr"]), msg["id"]["spi"], msg["id"]["proto"], mark,
                address_text(family, msg["saddr"]))


def counters(msg: Any) -> SaCounters:
    """``trafficstatus`` from a GETSA answer: XFRMA_LASTUSED is the last use
    (``curlft.use_time`` is the first)."""
    cur = msg["curlft"]
    last = msg.get_attr("XFRMA_LASTUSED") if hasattr(msg, "get_attr") else None
    return SaCounters(cur["bytes"], cur["packets"], cur["add_time"], last or cur["use_time"])


def _mark_of(msg: Any) -> Mark | None:
    mark = msg.get_attr("XFRMA_MARK") if hasattr(msg, "get_attr") else None
    return Mark(mark["v"], mark["m"]) if mark else None


# --------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------


def _template(t: Any, family: int) -> dict[str, Any]:
    tfamily, daddr = address(t.dst)
    _, saddr = address(t.src)
    return {
        "id": {"daddr": daddr, "spi": 0, "proto": t.proto}, "family": tfamily or family, "saddr": saddr,
        "reqid": t.reqid, "mode": _MODE[t.mode], "share": 0, "optional": 0,
        "aalgos": 0xFFFFFFFF, "ealgos": 0xFFFFFFFF, "calgos": 0xFFFFFFFF,
    }


def policy_info(p: PolicySpec) -> m.xfrm_userpolicy_info:
    """NEWPOLICY / UPDPOLICY. An IPSEC policy whose templates have no SA yet
    is a trap: matching traffic is held and an ACQUIRE goes up."""
    msg = m.xfrm_userpolicy_info()
    sel = selector(p.src, p.dst, p.proto, p.sport, p.dport)
    msg["sel"] = sel
    msg["lft"] = {key: m.XFRM_INF for key in ("soft_byte_limit", "hard_byte_limit", "soft_packet_limit",
                                              "hard_packet_limit")}
    msg["priority"] = p.priority
    msg["dir"] = int(p.direction)
    msg["action"] = m.XFRM_POLICY_BLOCK if p.action is PolicyAction.DROP else m.XFRM_POLICY_ALLOW
    attrs: list[tuple[str, Any]] = []
    if p.action is PolicyAction.IPSEC and p.templates:
        attrs.append(("XFRMA_TMPL", [_template(t, sel["family"]) for t in p.templates]))
    attrs += _mark_attr(p.mark) + _if_id_attr(p.if_id)
    msg["attrs"] = attrs
    return msg


def policy_id(p: PolicySpec) -> m.xfrm_userpolicy_id:
    """DELPOLICY / GETPOLICY: selector and direction (the kernel also matches
    mark and if_id)."""
    msg = m.xfrm_userpolicy_id()
    msg["sel"] = selector(p.src, p.dst, p.proto, p.sport, p.dport)
    msg["index"] = 0
    msg["dir"] = int(p.direction)
    msg["attrs"] = _mark_attr(p.mark) + _if_id_attr(p.if_id)
    return msg


def migrate(old: PolicySpec, new: PolicySpec, encap: Encap | None) -> m.xfrm_userpolicy_id:
    """MIGRATE: policy ``old`` (selector, direction, mark, if_id) and the SAs its
    templates reach move to ``new``'s template addresses; ``encap`` the SAs' new
    ESP-in-UDP ports. Tunnel templates only (the kernel finds the SAs by address)."""
    msg = policy_id(old)
    entries = []
    for was, now in zip(old.templates, new.templates, strict=True):
        if was.src is None or was.dst is None or now.src is None or now.dst is None:
            raise ValueError("a transport-mode template has no end points to migrate")
        old_family, old_dst = address(was.dst)
        _, old_src = address(was.src)
        new_family, new_dst = address(now.dst)
        _, new_src = address(now.src)
        entries.append(m.XFRM_USER_MIGRATE.pack(old_dst["addr"], old_src["addr"], new_dst["addr"], new_src["addr"],
                                                was.proto, _MODE[was.mode], 0, was.reqid, old_family, new_family))
    attrs: list[tuple[str, Any]] = [("XFRMA_MIGRATE", b"".join(entries))]
    if encap is not None:
        attrs.append(("XFRMA_ENCAP", encap_tmpl(encap)))
    msg["attrs"] = attrs + list(msg["attrs"])
    return msg


def policy_key(p: PolicySpec) -> tuple[Any, ...]:
    """What makes two PolicySpecs the same kernel object."""
    sel = selector(p.src, p.dst, p.proto, p.sport, p.dport)
    return (m.xfrm_selector.pack(sel), p.direction, p.mark, p.if_id)


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def _subnet(family: int, raw: dict[str, bytes], prefixlen: int) -> str:
    if family not in _VERSION:
        return ""
    return str(ipaddress.ip_network(f"{address_text(family, raw)}/{prefixlen}", strict=False))


def event(msg: Any) -> KernelEvent | None:
    """The event an XFRM multicast message carries, or None for others."""
    kind = msg["header"]["type"]
    if kind == m.XFRM_MSG_ACQUIRE:
        sel = msg["sel"]
        family = sel["family"] or msg["policy"]["sel"]["family"]
        tfamily = family
        return Acquire(
            src=address_text(tfamily, msg["saddr"]), dst=address_text(tfamily, msg["id"]["daddr"]),
            reqid=_acquire_reqid(msg), sel_src=_subnet(family, sel["saddr"], sel["prefixlen_s"]),
            sel_dst=_subnet(family, sel["daddr"], sel["prefixlen_d"]), proto=sel["proto"],
            sport=sel["sport"], dport=sel["dport"], policy_direction=Direction(msg["policy"]["dir"] & 3),
            seq=msg["seq"],
        )
    if kind == m.XFRM_MSG_EXPIRE:
        state = msg["state"]
        sa = SaId(address_text(state["family"], state["id"]["daddr"]), state["id"]["spi"], state["id"]["proto"],
                  _mark_of(msg), address_text(state["family"], state["saddr"]))
        return Expire(sa, state["reqid"], bool(msg["hard"]))
    if kind == m.XFRM_MSG_MAPPING:
        ident = msg["id"]
        family = ident["family"]
        sa = SaId(address_text(family, ident["daddr"]), ident["spi"], ident["proto"], _mark_of(msg))
        return Mapping(sa, msg["reqid"], address_text(family, msg["old_saddr"]), msg["old_sport"],
                       address_text(family, msg["new_saddr"]), msg["new_sport"])
    return None


def _acquire_reqid(msg: Any) -> int:
    tmpls = msg.get_attr("XFRMA_TMPL") if hasattr(msg, "get_attr") else None
    return tmpls[0]["reqid"] if tmpls else 0
