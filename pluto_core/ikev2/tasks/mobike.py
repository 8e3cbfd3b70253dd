"""MOBIKE (RFC 4555): an IKE SA and its Child SAs that follow the client to a new address.

Both ends announce MOBIKE_SUPPORTED in IKE_AUTH (3.3) when their conn says ``mobike=yes``
and the kernel backend can move SAs in place; an initiator that will use it moves to UDP
4500 right after IKE_SA_INIT, NAT or not, so that a NAT met later needs no port change.

Only the original initiator decides which addresses are used (3.5): when the daemon sees
that the address its IKE SA leaves from is gone (or no longer the way to the peer), it
calls :func:`move`, which switches the IKE SA to the new address at once (an outstanding
request goes on being retransmitted from there) and sends an INFORMATIONAL request with
UPDATE_SA_ADDRESSES, fresh NAT_DETECTION_* notifies and a COOKIE2 (the return routability
check of 3.8, which the answer must echo). The responder takes the new addresses from the
IP header of that authenticated request, never of any other message (3.5: with MOBIKE,
NAT-T's "follow the latest packet" does not apply), unless NO_NATS_ALLOWED (3.9) names
other addresses than the packet carries (answered UNEXPECTED_NAT_DETECTED, nothing moved).
Each end then moves its installed Child SAs in the kernel (``KernelPort.migrate_child``:
keys and sequence numbers kept, so the traffic goes on where it was).

Not implemented: additional addresses (ADDITIONAL_IP4/6_ADDRESS, 3.4) and path probing
(3.10): the daemon moves to the address the routing table picks for the peer.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from pluto_core.errors import KernelError
from pluto_core.ikev2.endpoint import endpoint
from pluto_core.ikev2.enums import ExchangeType, NotifyType, notify_name
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.nat_detect import detection_notifies, evaluate
from pluto_core.ikev2.payloads import Notify, Payload
from pluto_core.ikev2.sa import ChildState, IkeSa, IkeState
from pluto_core.ikev2.tasks.common import first_error, get_notify, has_notify
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.timers import NAT_KEEPALIVE
from pluto_core.ikev2.types import EngineConn, TransportHint

IKE_PORT, NATT_PORT = 500, 4500
COOKIE2_SIZE = 16  # RFC 4555 4.2: 8 to 64 octets


@dataclass(frozen=True, slots=True)
class UpdateCtx:
    """Our outstanding UPDATE_SA_ADDRESSES request: where we were, and its COOKIE2."""

    old_local: tuple[str, int]
    cookie2: bytes


def usable(engine: Services, conn: EngineConn) -> bool:
    """``mobike=yes`` and a kernel that can move SAs in place."""
    return conn.mobike and engine.kernel.migrate_refusal() is None


def announce(engine: Services, conn: EngineConn) -> list[Payload]:
    """MOBIKE_SUPPORTED for our IKE_AUTH message (RFC 4555 3.3), when we can do it."""
    return [Notify(NotifyType.MOBIKE_SUPPORTED)] if usable(engine, conn) else []


def agreed(engine: Services, sa: IkeSa, payloads: list[Payload]) -> bool:
    """The peer's IKE_AUTH message announced MOBIKE and we do it too: the IKE SA uses it."""
    sa.mobike = sa.conn is not None and usable(engine, sa.conn) and \
        has_notify(payloads, NotifyType.MOBIKE_SUPPORTED)
    if sa.mobike:
        engine.log.log(f"{engine.prefix(sa)} MOBIKE (RFC 4555) agreed with the peer")
    return sa.mobike


def float_to_natt(engine: Services, sa: IkeSa) -> None:
    """After IKE_SA_INIT: an initiator that will do MOBIKE moves to UDP 4500 when the peer
    does NAT-T (it sent NAT_DETECTION_*), with or without a NAT (RFC 4555 3.3, RFC 7296 2.23)."""
    conn = sa.conn
    if conn is None or not sa.first_initiator or not usable(engine, conn) or sa.transport is None:
        return
    if sa.local[1] == IKE_PORT and sa.remote[1] == IKE_PORT:
        sa.local, sa.remote = (sa.local[0], NATT_PORT), (sa.remote[0], NATT_PORT)


def move(engine: Services, sa: IkeSa, address: str) -> bool:
    """The daemon found that our IKE SA should now leave from ``address``: switch to it and
    tell the peer (RFC 4555 3.5). False when this IKE SA does not do MOBIKE, is not ours to
    move (the original initiator decides) or is already there."""
    if not sa.mobike or not sa.first_initiator or sa.state != IkeState.ESTABLISHED:
        return False
    new = (address, sa.local[1])
    if new == sa.local or ipaddress.ip_address(address).version != ipaddress.ip_address(sa.remote[0]).version:
        return False
    old, sa.local = sa.local, new
    cookie2 = engine.random(COOKIE2_SIZE)
    payloads: list[Payload] = [Notify(NotifyType.UPDATE_SA_ADDRESSES),
                               *detection_notifies(sa.spi_i, sa.spi_r, sa.local, sa.remote),
                               Notify(NotifyType.COOKIE2, cookie2)]
    engine.log.log(f"{engine.prefix(sa)} MOBIKE: local address changed from {endpoint(*old)} to "
                   f"{endpoint(*sa.local)}: sending UPDATE_SA_ADDRESSES to {engine.peer_text(sa)}")
    engine.send_request(sa, ExchangeType.INFORMATIONAL, payloads, ctx=UpdateCtx(old, cookie2))
    return True


def process_i(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload], ctx: UpdateCtx) -> None:
    """The answer to our UPDATE_SA_ADDRESSES: the peer moved its end; now move ours."""
    echoed = get_notify(payloads, NotifyType.COOKIE2)
    if echoed is None or echoed.data != ctx.cookie2:
        # RFC 4555 3.8: an answer without our COOKIE2 is no proof the peer saw the new path
        engine.log.log(f"{engine.prefix(sa)} MOBIKE: the answer to UPDATE_SA_ADDRESSES does not return our "
                       "COOKIE2: Child SAs not moved")
        return
    error = first_error(payloads)
    if error is not None:
        engine.log.log(f"{engine.prefix(sa)} MOBIKE: peer refused the address update: {notify_name(error)}")
        return
    nat = _nat(engine, sa, payloads)
    moved = migrate_children(engine, sa)
    engine.log.log(f"{engine.prefix(sa)} MOBIKE: peer {engine.peer_text(sa)} now reached from "
                   f"{endpoint(*sa.local)} ({nat}); {_count(moved)} moved")


def process_r(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    """An INFORMATIONAL request with UPDATE_SA_ADDRESSES (RFC 4555 3.5): take the IKE SA
    to the addresses this request came from and to, then the Child SAs."""
    local, remote = engine.arrived
    reply: list[Payload] = []
    cookie2 = get_notify(payloads, NotifyType.COOKIE2)
    if cookie2 is not None:  # RFC 4555 3.8: returned as it came
        reply.append(Notify(NotifyType.COOKIE2, cookie2.data))
    why_not = None
    if not sa.mobike:
        why_not = "MOBIKE was not agreed for this IKE SA"
    elif sa.first_initiator:
        why_not = "only the initiator of the IKE SA may change its addresses (RFC 4555 3.5)"
    if why_not is not None:
        engine.log.log(f"{engine.prefix(sa)} UPDATE_SA_ADDRESSES from {endpoint(*remote)} ignored: {why_not}")
        engine.send_response(sa, ExchangeType.INFORMATIONAL, msg.message_id, reply)
        return
    no_nats = get_notify(payloads, NotifyType.NO_NATS_ALLOWED)
    if no_nats is not None and no_nats.data != no_nats_data(remote, local):
        # RFC 4555 3.9: the addresses were changed on the way: no NAT is allowed here
        engine.log.log(f"{engine.prefix(sa)} MOBIKE: UPDATE_SA_ADDRESSES from {endpoint(*remote)} crossed a NAT "
                       "but NO_NATS_ALLOWED: sending UNEXPECTED_NAT_DETECTED, nothing moved")
        engine.send_response(sa, ExchangeType.INFORMATIONAL, msg.message_id,
                             [Notify(NotifyType.UNEXPECTED_NAT_DETECTED), *reply])
        return
    old_remote = sa.remote
    sa.local, sa.remote = local, remote
    engine.half_open.pop((sa.spi_i, old_remote[0], old_remote[1]), None)
    nat = _nat(engine, sa, payloads)
    reply += detection_notifies(sa.spi_i, sa.spi_r, sa.local, sa.remote)
    engine.send_response(sa, ExchangeType.INFORMATIONAL, msg.message_id, reply)
    moved = migrate_children(engine, sa)
    engine.log.log(f"{engine.prefix(sa)} MOBIKE: peer moved from {endpoint(*old_remote)} to {endpoint(*remote)} "
                   f"({nat}); {_count(moved)} moved")


def no_nats_data(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """NO_NATS_ALLOWED's data (RFC 4555 3.9): the addresses and ports the packet was sent
    from and to."""
    return (ipaddress.ip_address(source[0]).packed + ipaddress.ip_address(destination[0]).packed
            + source[1].to_bytes(2, "big") + destination[1].to_bytes(2, "big"))


def migrate_children(engine: Services, sa: IkeSa) -> int:
    """Move every installed Child SA of ``sa`` to the IKE SA's addresses (and ESP-in-UDP
    ports when a NAT is in the way); one the kernel cannot move is logged and left."""
    moved = 0
    encap = (sa.local[1], sa.remote[1]) if sa.transport is not None and sa.transport.encapsulate else None
    for child in sa.children:
        old = child.installed
        if old is None or child.state == ChildState.GONE:
            continue
        new = replace(old, local_addr=sa.local[0], remote_addr=sa.remote[0], encap=encap)
        if new == old:
            continue
        try:
            engine.kernel.migrate_child(old, new)
        except KernelError as exc:
            engine.log.log(f"{engine.prefix(sa, child.serial)} MOBIKE: cannot move the Child SA to "
                           f"{new.local_addr} - {new.remote_addr}: {exc}")
            continue
        child.installed = new
        moved += 1
    return moved


def _nat(engine: Services, sa: IkeSa, payloads: list[Payload]) -> str:
    """Apply what the NAT_DETECTION_* notifies of the update say; the words for the log."""
    finding = evaluate(payloads, sa.spi_i, sa.spi_r, sa.local, sa.remote)
    if finding is None:
        return "no NAT detection"
    before = sa.transport or TransportHint()
    # a Child SA that used ESP in UDP keeps it: the kernel moves it with its encapsulation
    now = replace(before, encapsulate=before.encapsulate or finding.any,
                  keepalive=before.keepalive or finding.local_behind)
    sa.transport = now
    if now.keepalive and not before.keepalive and engine.keepalive_interval > 0:
        engine.schedule(sa, engine.keepalive_interval, NAT_KEEPALIVE)
    if not finding.any:
        return "no NAT"
    return "NAT: we are behind it" if finding.local_behind else "NAT: the peer is behind it"


def _count(n: int) -> str:
    return f"{n} Child SA" if n == 1 else f"{n} Child SAs"


def wants(payloads: list[Payload]) -> bool:
    """Whether an INFORMATIONAL request is an address update (this task's)."""
    return has_notify(payloads, NotifyType.UPDATE_SA_ADDRESSES)
