"""INFORMATIONAL (RFC 7296 1.4): Delete for IKE and Child SAs, liveness;
and the timers of an IKE SA (retransmission 2.1, half-open expiry, DPD)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import ExchangeType, ProtocolId
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import Delete, Payload
from pluto_core.ikev2.sa import ChildSa, IkeSa, IkeState

if TYPE_CHECKING:
    from pluto_core.ikev2.engine import Engine

ESP = int(ProtocolId.ESP)
LIVENESS = "liveness"  # request_ctx of an empty INFORMATIONAL sent as a liveness probe
# auto= values whose conn is supposed to stay up: revived after the peer deletes it or stops
# answering (auto=up reaches the engine as start; keep only once the peer brought it up)
STAY_UP = frozenset({"start", "keep"})


def schedule_ike_timers(engine: Engine, sa: IkeSa) -> None:
    from pluto_core.ikev2.exchange_create import schedule_ike_lifetime

    conn = sa.conn
    if conn is not None and conn.dpddelay > 0:
        engine.schedule(sa, conn.dpddelay, "liveness")
    if sa.transport is not None and sa.transport.keepalive and engine.keepalive_interval > 0:
        engine.schedule(sa, engine.keepalive_interval, "nat-keepalive")
    schedule_ike_lifetime(engine, sa)


def _remove_child(engine: Engine, sa: IkeSa, child: ChildSa, why: str) -> None:
    info = None
    if child.installed is not None:
        counts = None
        try:
            counts = engine.kernel.remove_child(child.installed)
        except KernelError as exc:
            engine.log.log(f"\"{sa.name}\" #{child.serial}: {exc}")
        info = engine.child_info(sa, child.installed, counts)
        child.installed = None
    if child in sa.children:
        sa.children.remove(child)
    engine.log.log(f"\"{sa.name}\" #{child.serial}: {why}")
    engine.event("child-down", sa, why, serial=child.serial, child=info)


def delete_ike_sa(engine: Engine, sa: IkeSa, notify_peer: bool, quiet: bool = False) -> None:
    """Remove an IKE SA and its Child SAs; with ``notify_peer`` send a Delete first
    (sent once, not retransmitted: the SA is gone either way, RFC 7296 1.4.1)."""
    if sa.state == IkeState.DEAD:
        return
    if notify_peer and sa.sk_out is not None:
        data = engine.encode(sa, ExchangeType.INFORMATIONAL, sa.next_request_id, [Delete(ProtocolId.IKE)],
                             response=False)
        sa.next_request_id += 1
        engine.transmit(sa, data)
        engine.log.log(f"{engine.prefix(sa)} sent INFORMATIONAL request to delete IKE SA")
    for child in list(sa.children):
        _remove_child(engine, sa, child, "ESP/ESN SA deleted" if not quiet else "Child SA removed")
    was_up = sa.state == IkeState.ESTABLISHED
    engine.forget(sa)
    if was_up:
        engine.log.log(f"{engine.prefix(sa)} deleting IKE SA")
        engine.event("ike-down", sa)


def send_child_delete(engine: Engine, sa: IkeSa, spis: list[int]) -> None:
    if sa.state != IkeState.ESTABLISHED:
        return
    engine.send_request(sa, ExchangeType.INFORMATIONAL,
                        [Delete(ProtocolId.ESP, [s.to_bytes(4, "big") for s in spis])])


def on_informational_request(engine: Engine, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    reply: list[Payload] = []
    for d in payloads:
        if not isinstance(d, Delete):
            continue
        if d.protocol_id == ProtocolId.IKE:
            engine.log.log(f"{engine.prefix(sa)} received Delete SA payload: deleting IKE SA")
            engine.send_response(sa, ExchangeType.INFORMATIONAL, msg.message_id, [])
            delete_ike_sa(engine, sa, notify_peer=False)
            if sa.conn is not None and sa.conn.options.get("auto") in STAY_UP:
                # as Libreswan: an auto=start (or keep) conn is supposed to stay up (revival skips
                # a conn that has another IKE SA by then, e.g. after a uniqueids replacement)
                engine.revive_later(sa.conn.name)
            return
        if d.protocol_id == ProtocolId.ESP:
            ours: list[bytes] = []
            for spi in d.spis:
                value = int.from_bytes(spi, "big")
                child = next((c for c in sa.children if c.spi_out == value), None)
                if child is not None:
                    ours.append(child.spi_in.to_bytes(4, "big"))
                    _remove_child(engine, sa, child, "ESP SA deleted by peer")
            if ours:
                reply.append(Delete(ProtocolId.ESP, ours))
    # An empty INFORMATIONAL is a liveness check: the empty answer is the proof (RFC 7296 1.4).
    engine.send_response(sa, ExchangeType.INFORMATIONAL, msg.message_id, reply)


def on_informational_response(engine: Engine, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    for d in payloads:
        if isinstance(d, Delete) and d.protocol_id == ESP:
            for spi in d.spis:
                value = int.from_bytes(spi, "big")
                child = next((c for c in sa.children if c.spi_out == value), None)
                if child is not None:
                    _remove_child(engine, sa, child, "ESP SA deleted")


def on_timer(engine: Engine, sa: IkeSa, kind: str, now: float) -> None:
    from pluto_core.ikev2 import exchange_create

    conn = sa.conn
    if kind.startswith(("rekey-child:", "expire-child:")):
        serial = int(kind.split(":", 1)[1])
        child = next((c for c in sa.children if c.serial == serial), None)
        if child is None or sa.state != IkeState.ESTABLISHED:
            return
        if kind.startswith("rekey-child:"):
            exchange_create.rekey_child(engine, sa, child)
        else:
            # Hard expiry: without a rekey the Child SA is deleted (RFC 7296 2.8).
            send_child_delete(engine, sa, [child.spi_in])
            _remove_child(engine, sa, child, "Child SA expired")
        return
    if kind == "rekey-ike":
        exchange_create.rekey_ike(engine, sa)
        return
    if kind == "expire-ike":
        engine.log.log(f"{engine.prefix(sa)} IKE SA expired")
        delete_ike_sa(engine, sa, notify_peer=True)
        return
    if kind.startswith("retransmit:"):
        mid = int(kind.split(":", 1)[1])
        if not sa.last_request or sa.last_request_id != mid or conn is None:
            return
        # A liveness probe gives up after dpdtimeout where one is set, else as any request.
        timeout = conn.dpdtimeout if sa.request_ctx == LIVENESS and conn.dpdtimeout > 0 else conn.retransmit_timeout
        if now - sa.request_started >= timeout:
            engine.log.log(f"{engine.prefix(sa)} {timeout:g} second timeout exceeded after "
                           f"{sa.retransmits} retransmits.  No response (or no acceptable response) to our "
                           "request")
            engine.event("ike-failed", sa, "timeout: no response from peer")
            delete_ike_sa(engine, sa, notify_peer=False, quiet=True)
            if conn.options.get("auto") in STAY_UP:
                engine.revive_later(conn.name)
            return
        sa.retransmits += 1
        engine.transmit(sa, sa.last_request)
        delay = min(conn.retransmit_interval * (2 ** sa.retransmits),
                    max(timeout - (now - sa.request_started), 0.001))
        engine.log.debug(f"{engine.prefix(sa)} retransmit {sa.retransmits} of request {mid}")
        engine.schedule(sa, delay, kind)
    elif kind == "half-open":
        if sa.state == IkeState.INIT_DONE:
            engine.log.log(f"{engine.prefix(sa)} half-open IKE SA timed out: deleted")
            engine.forget(sa)
    elif kind == "nat-keepalive":
        # Keep the NAT's mapping for port 4500 alive while the IKE SA lives (RFC 3948 2.3).
        if sa.state == IkeState.ESTABLISHED:
            engine.send_keepalive(sa)
            engine.schedule(sa, engine.keepalive_interval, kind)
    elif kind == "liveness":
        if sa.state != IkeState.ESTABLISHED or conn is None:
            return
        if sa.last_request:
            engine.schedule(sa, conn.dpddelay, "liveness")  # an exchange is running; it checks liveness
            return
        quiet = now - sa.last_contact
        if quiet >= conn.dpddelay:
            engine.send_request(sa, ExchangeType.INFORMATIONAL, [], ctx=LIVENESS)
            engine.schedule(sa, conn.dpddelay, "liveness")
        else:  # probe exactly dpddelay after the last message heard, so a dead peer is
            # noticed within dpddelay + dpdtimeout
            engine.schedule(sa, conn.dpddelay - quiet, "liveness")
