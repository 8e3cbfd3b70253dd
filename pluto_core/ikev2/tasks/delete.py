"""Deleting SAs (RFC 7296 1.4.1): the INFORMATIONAL Delete both ways, removing a
Child SA from the kernel, ending an IKE SA with its Child SAs, and expiry."""

from __future__ import annotations

from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import ExchangeType, ProtocolId
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import Delete, Payload
from pluto_core.ikev2.sa import ChildSa, ChildState, IkeSa, IkeState
from pluto_core.ikev2.tasks.common import child_info, release_larval
from pluto_core.ikev2.tasks.services import Services

ESP = int(ProtocolId.ESP)
# auto= values whose conn is supposed to stay up: revived after the peer deletes it or stops
# answering (auto=up reaches the engine as start; keep only once the peer brought it up)
STAY_UP = frozenset({"start", "keep"})


def remove_child(engine: Services, sa: IkeSa, child: ChildSa, why: str) -> None:
    """Take a Child SA out of the kernel and of its IKE SA; ``child-down`` with the counts."""
    info = None
    if child.installed is not None:
        counts = None
        try:
            counts = engine.kernel.remove_child(child.installed)
        except KernelError as exc:
            engine.log.log(f"\"{sa.name}\" #{child.serial}: {exc}")
        info = child_info(engine, sa, child.installed, counts)
        child.installed = None
    child.to(ChildState.GONE)
    if child in sa.children:
        sa.children.remove(child)
    engine.log.log(f"\"{sa.name}\" #{child.serial}: {why}")
    engine.event("child-down", sa, why, serial=child.serial, child=info)


def delete_ike_sa(engine: Services, sa: IkeSa, notify_peer: bool, quiet: bool = False) -> None:
    """Remove an IKE SA and its Child SAs; with ``notify_peer`` send a Delete first
    (sent once, not retransmitted: the SA is gone either way, RFC 7296 1.4.1)."""
    if sa.state == IkeState.DEAD:
        return
    if notify_peer and sa.sk_out is not None:
        engine.send_once(sa, ExchangeType.INFORMATIONAL, [Delete(ProtocolId.IKE)])
        engine.log.log(f"{engine.prefix(sa)} sent INFORMATIONAL request to delete IKE SA")
    for child in list(sa.children):
        remove_child(engine, sa, child, "ESP/ESN SA deleted" if not quiet else "Child SA removed")
    if sa.pending_child is not None:  # IKE_AUTH never finished: its Child SA's SPI goes back
        release_larval(engine, sa, sa.pending_child)
        sa.pending_child = None
    was_up = sa.state == IkeState.ESTABLISHED
    engine.forget(sa)
    if was_up:
        engine.log.log(f"{engine.prefix(sa)} deleting IKE SA")
        engine.event("ike-down", sa)


def fail_ike(engine: Services, sa: IkeSa, why: str, delete: bool = False) -> None:
    """The IKE SA failed (``ike-failed``): remove it, telling the peer when ``delete``."""
    engine.log.log(f"{engine.prefix(sa)} {why}")
    engine.event("ike-failed", sa, why)
    delete_ike_sa(engine, sa, notify_peer=delete, quiet=True)


def build_i_child(engine: Services, sa: IkeSa, spis: list[int]) -> None:
    """Ask the peer to delete our Child SAs with these inbound SPIs."""
    if sa.state != IkeState.ESTABLISHED:
        return
    engine.send_request(sa, ExchangeType.INFORMATIONAL,
                        [Delete(ProtocolId.ESP, [s.to_bytes(4, "big") for s in spis])])


def process_r(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    """An INFORMATIONAL request: Deletes are acted on and answered; an empty one is a
    liveness check, and the empty answer is the proof (RFC 7296 1.4)."""
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
                    remove_child(engine, sa, child, "ESP SA deleted by peer")
            if ours:
                reply.append(Delete(ProtocolId.ESP, ours))
    engine.send_response(sa, ExchangeType.INFORMATIONAL, msg.message_id, reply)


def process_i(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    """The answer to our INFORMATIONAL request: the peer's half of deleted Child SAs."""
    for d in payloads:
        if isinstance(d, Delete) and d.protocol_id == ESP:
            for spi in d.spis:
                value = int.from_bytes(spi, "big")
                child = next((c for c in sa.children if c.spi_out == value), None)
                if child is not None:
                    remove_child(engine, sa, child, "ESP SA deleted")


def expire_ike(engine: Services, sa: IkeSa) -> None:
    """The IKE SA's hard lifetime."""
    engine.log.log(f"{engine.prefix(sa)} IKE SA expired")
    delete_ike_sa(engine, sa, notify_peer=True)


def expire_child(engine: Services, sa: IkeSa, child: ChildSa, why: str = "Child SA expired") -> None:
    """Hard expiry: without a rekey the Child SA is deleted (RFC 7296 2.8)."""
    build_i_child(engine, sa, [child.spi_in])
    remove_child(engine, sa, child, why)


def terminate(engine: Services, name: str) -> int:
    """``ipsec down``: delete every IKE SA of conn ``name`` (and so its Child SAs), telling
    the peer where the IKE SA is up; how many."""
    doomed = [sa for sa in engine.ike_sas() if sa.conn is not None and sa.conn.name == name]
    for sa in doomed:
        delete_ike_sa(engine, sa, notify_peer=sa.state == IkeState.ESTABLISHED)
    return len(doomed)
