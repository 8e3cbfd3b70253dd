"""The kernel's ACQUIRE (auto=ondemand/route, ``ipsec route``): which conn's trap
policy the packet hit, as the kernel chose it (the lowest priority number)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import EngineConn


def trapped_conn(conns: Iterable[EngineConn], routed: Collection[str], sel_src: str,
                 sel_dst: str) -> EngineConn | None:
    """The routed conn whose trap policy covers ``sel_src`` to ``sel_dst``, if any."""
    try:
        src, dst = Selector.from_subnet(sel_src), Selector.from_subnet(sel_dst)
    except ValueError:
        return None
    candidates: list[tuple[int, int, EngineConn]] = []
    for order, conn in enumerate(conns):
        trapped = conn.name in routed or conn.options.get("auto") in ("ondemand", "route")
        if not trapped or conn.remote_addr is None:
            continue
        local = [t for t in conn.local_ts if src.within(t)]
        remote = [t for t in conn.remote_ts if dst.within(t)]
        if local and remote:
            candidates.append((trap_priority(conn, local[0], remote[0], src, dst), order, conn))
    if not candidates:
        return None
    # the conn whose trap policy the kernel matched: the lowest priority number
    _, _, conn = min(candidates, key=lambda c: c[:2])
    return conn


def trap_priority(conn: EngineConn, local: Selector, remote: Selector, src: Selector, dst: Selector) -> int:
    """The priority of the conn's trap policy that covers ``src`` to ``dst`` (as
    ``kernel_types.trap_policies`` computes it)."""
    # Imported here: kernel_types is the host's (the engine needs it only for an ACQUIRE).
    from pluto_core.kernel_types import policy_priority, selector_subnets

    if conn.priority:
        return conn.priority
    lnet = next(n for n in selector_subnets(local) if src.within(Selector.from_subnet(n)))
    rnet = next(n for n in selector_subnets(remote) if dst.within(Selector.from_subnet(n)))
    upper = local.proto or remote.proto
    return policy_priority(lnet, rnet, upper, local.start_port if local.start_port == local.end_port else 0,
                           remote.start_port if remote.start_port == remote.end_port else 0)
