"""CREATE_CHILD_SA (RFC 7296 1.3): the checks every request and response passes, then
the task it is for: ``child_rekey`` (a Child SA, new or rekeyed) or ``ike_rekey``."""

from __future__ import annotations

from typing import Any

from pluto_core.errors import ProtocolError
from pluto_core.ikev2.enums import ExchangeType, NotifyType, ProtocolId, notify_name
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import (
    KeyExchange,
    Nonce,
    Notify,
    Payload,
    SecurityAssociation,
)
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.sa_select import accept_reply
from pluto_core.ikev2.tasks import child_rekey, ike_rekey
from pluto_core.ikev2.tasks.common import (
    CreateCtx,
    CreateKind,
    end_rekey,
    first_error,
    get,
    release_larval,
    shared,
)
from pluto_core.ikev2.tasks.services import Services

IKE = int(ProtocolId.IKE)


def process_i(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload], ctx: CreateCtx) -> None:
    error = first_error(payloads)
    if error is not None:
        end_rekey(ctx.old)
        engine.log.log(f"{engine.prefix(sa)} CREATE_CHILD_SA request rejected by peer: {notify_name(error)}")
        if ctx.child is not None:
            release_larval(engine, sa, ctx.child)  # its SPI goes back now, not at the kernel's timeout
            engine.event("child-failed", sa, notify_name(error), serial=ctx.child.serial)
        return
    sa_payload = get(payloads, SecurityAssociation)
    nonce = get(payloads, Nonce)
    ke = get(payloads, KeyExchange)
    if sa_payload is None or nonce is None or not 16 <= len(nonce.data) <= 256:
        engine.log.log(f"{engine.prefix(sa)} CREATE_CHILD_SA response lacks SA or Nonce: dropped")
        return
    try:
        chosen = accept_reply(ctx.proposals, sa_payload.proposals)
    except ProtocolError:
        chosen = None
    if chosen is None or (ctx.group and (ke is None or ke.group != ctx.group)):
        engine.log.log(f"{engine.prefix(sa)} CREATE_CHILD_SA response chose what we did not offer")
        end_rekey(ctx.old)
        return
    peer_public = ke.data if ke is not None else None

    def have_shared(g_ir: Any) -> None:
        if isinstance(g_ir, Exception):
            engine.log.log(f"{engine.prefix(sa)} CREATE_CHILD_SA key exchange failed: {g_ir}")
            return
        if ctx.kind == CreateKind.REKEY_IKE:
            ike_rekey.finish(engine, sa, chosen, ctx.nonce, nonce.data, g_ir, ctx.new_spi, chosen.peer_spi,
                             initiator=True)
            return
        child_rekey.process_i(engine, sa, ctx, chosen, payloads, nonce.data, g_ir)

    shared(engine, ctx.group, ctx.dh, peer_public, have_shared)


def process_r(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    def reply(answer: list[Payload], why: str = "") -> None:
        error = answer[0] if len(answer) == 1 and isinstance(answer[0], Notify) and answer[0].type < 16384 else None
        if error is not None:  # a refusal: say why, naming the peer (the answer carries only the notify)
            engine.log.log(f"{engine.prefix(sa)} CREATE_CHILD_SA request from {engine.peer_text(sa)} refused with "
                           f"{notify_name(error.type)}{': ' + why if why else ''}")
        if sa.state == IkeState.ESTABLISHED:
            engine.send_response(sa, ExchangeType.CREATE_CHILD_SA, msg.message_id, answer)

    sa_payload = get(payloads, SecurityAssociation)
    nonce = get(payloads, Nonce)
    ke = get(payloads, KeyExchange)
    if sa_payload is None or nonce is None or not 16 <= len(nonce.data) <= 256:
        reply([Notify(NotifyType.INVALID_SYNTAX)], "no SA payload, or no Nonce of 16 to 256 bytes")
        return
    try:
        theirs = sa_payload.proposals
    except ProtocolError as exc:
        reply([Notify(NotifyType.INVALID_SYNTAX)], str(exc))
        return
    if theirs and theirs[0].protocol_id == IKE:
        ike_rekey.process_r(engine, sa, theirs, nonce.data, ke, reply)
        return
    child_rekey.process_r(engine, sa, payloads, theirs, nonce.data, ke, reply)
