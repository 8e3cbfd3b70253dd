"""The kernel's ACQUIRE (auto=ondemand/route, ``ipsec route``): which conn's trap
policy the packet hit, as the kernel chose it (the lowest priority number)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import EngineConn
from pluto_core.kernel.types import trap_priority  # the one computation the kernel's policies use too


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
