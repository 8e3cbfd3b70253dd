"""The timers of an established SA: rekey at lifetime minus rekeymargin (plus up
to rekeyfuzz of it), expiry at the lifetime (RFC 7296 2.8); liveness and NAT-T
keepalives of an IKE SA."""

from __future__ import annotations

from pluto_core.ikev2 import timers
from pluto_core.ikev2.sa import ChildSa, IkeSa
from pluto_core.ikev2.tasks.services import Services


def fuzzed_margin(engine: Services, margin: float, fuzz: float) -> float:
    """rekeymargin plus a random part of up to rekeyfuzz of it (ipsec.conf(5))."""
    return margin * (1.0 + fuzz * int.from_bytes(engine.random(2), "big") / 65535.0)


def soft_volume(engine: Services, hard: int, we_initiated: bool) -> int:
    """The soft limit for ``ipsec-max-bytes``/``-packets``, as Libreswan documents it:
    25% of the hard limit where we initiated the exchange, 50% where we responded (so
    the initiator is the one that rekeys), less up to 12% of that as fuzz."""
    if hard <= 0:
        return 0
    share = hard // 4 if we_initiated else hard // 2
    fuzz = share * 12 // 100 * int.from_bytes(engine.random(2), "big") // 65535
    return max(share - fuzz, 1)


def schedule_child(engine: Services, sa: IkeSa, child: ChildSa) -> None:
    conn = child.conn
    engine.attach_child(sa, child)
    if conn.rekey:
        soft = max(conn.salifetime - fuzzed_margin(engine, conn.rekeymargin, conn.rekeyfuzz), 1.0)
        engine.schedule_serial(child.serial, soft, timers.RekeyChild(child.serial))
    engine.schedule_serial(child.serial, conn.salifetime, timers.ExpireChild(child.serial))


def schedule_ike(engine: Services, sa: IkeSa) -> None:
    """An IKE SA just established (or made by a rekey): liveness, keepalives, lifetime."""
    conn = sa.conn
    if conn is None:
        return
    if conn.dpddelay > 0:
        engine.schedule(sa, conn.dpddelay, timers.LIVENESS)
    if sa.transport is not None and sa.transport.keepalive and engine.keepalive_interval > 0:
        engine.schedule(sa, engine.keepalive_interval, timers.NAT_KEEPALIVE)
    if conn.rekey:
        soft = max(conn.ikelifetime - fuzzed_margin(engine, conn.rekeymargin, conn.rekeyfuzz), 1.0)
        engine.schedule(sa, soft, timers.REKEY_IKE)
    engine.schedule(sa, conn.ikelifetime, timers.EXPIRE_IKE)
