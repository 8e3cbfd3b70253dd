"""Child SA rekey over CREATE_CHILD_SA (RFC 7296 1.3.3, PFS 1.3.1) and a new Child SA
asked for by the peer (1.3.1); the collision rule for simultaneous rekeys (2.8.1)."""

from __future__ import annotations

from typing import Any

from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import ExchangeType, NotifyType, ProtocolId, TransformType
from pluto_core.ikev2.payloads import (
    KeyExchange,
    Nonce,
    Notify,
    Payload,
    Proposal,
    SecurityAssociation,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
    Transform,
)
from pluto_core.ikev2.sa import ChildSa, ChildState, IkeSa, IkeState
from pluto_core.ikev2.sa_select import Chosen, select
from pluto_core.ikev2.tasks.child_create import child_failed, install
from pluto_core.ikev2.tasks.common import (
    NONCE_SIZE,
    CreateCtx,
    CreateKind,
    Reply,
    end_rekey,
    get,
    respond_dh,
    with_keypair,
)
from pluto_core.ikev2.tasks.delete import build_i_child, expire_child
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.ts_narrow import accept, from_payloads, respond

ESP = int(ProtocolId.ESP)


def esp_proposals(sa: IkeSa, spi: int, pfs_group: int | None) -> list[Proposal]:
    """Our ESP proposals with our SPI; with PFS each carries the KE group (RFC 7296 1.3.1)."""
    conn = sa.conn
    assert conn is not None
    out = []
    for p in conn.esp_proposals:
        transforms = [t for t in p.transforms if t.type != TransformType.KE]
        if pfs_group:
            transforms.append(Transform(TransformType.KE, pfs_group))
        out.append(Proposal(p.num, ESP, spi.to_bytes(4, "big"), transforms))
    return out


def acceptable_esp(sa: IkeSa) -> list[Proposal]:
    """What we accept as responder: with pfs=yes, any IKE group of ours for the KE."""
    conn = sa.conn
    assert conn is not None
    groups = [] if not conn.pfs else list(dict.fromkeys(
        t.id for p in conn.ike_proposals for t in p.transforms if t.type == TransformType.KE))
    out = []
    for p in conn.esp_proposals:
        transforms = [t for t in p.transforms if t.type != TransformType.KE]
        transforms += [Transform(TransformType.KE, g) for g in groups]
        out.append(Proposal(p.num, ESP, b"", transforms))
    return out


def rekey_child(engine: Services, sa: IkeSa, old: ChildSa) -> None:
    """Start rekeying ``old`` (soft lifetime reached)."""
    if sa.state != IkeState.ESTABLISHED or old.state != ChildState.INSTALLED or old not in sa.children:
        return
    conn = sa.conn
    assert conn is not None
    old.to(ChildState.REKEYING)
    child = ChildSa(engine.next_serial(), conn)
    try:
        child.spi_in = engine.kernel.allocate_spi(sa.remote[0], sa.local[0], ESP)
    except KernelError as exc:
        engine.log.log(f"\"{sa.name}\" #{old.serial}: cannot rekey: {exc}")
        end_rekey(old)
        return
    group = sa.ke_group if conn.pfs else 0
    ctx = CreateCtx(CreateKind.REKEY_CHILD, engine.random(NONCE_SIZE), group=group, child=child, old=old)
    ctx.proposals = esp_proposals(sa, child.spi_in, group or None)

    def send(pair: Any) -> None:
        if isinstance(pair, Exception) or sa.state != IkeState.ESTABLISHED:
            end_rekey(old)
            return
        ctx.dh = pair
        payloads: list[Payload] = [Notify(NotifyType.REKEY_SA, b"", ESP, old.spi_in.to_bytes(4, "big"))]
        if conn.mode == "transport":
            payloads.append(Notify(NotifyType.USE_TRANSPORT_MODE))
        payloads += [SecurityAssociation(ctx.proposals), Nonce(ctx.nonce)]
        if pair is not None:
            payloads.append(KeyExchange(group, pair.public_bytes))
        payloads += [TrafficSelectorsInitiator([s.to_payload() for s in old.local_ts]),
                     TrafficSelectorsResponder([s.to_payload() for s in old.remote_ts])]
        engine.send_request(sa, ExchangeType.CREATE_CHILD_SA, payloads, ctx=ctx)
        engine.log.log(f"\"{sa.name}\" #{child.serial}: initiating rekey of Child SA #{old.serial} using "
                       f"IKE SA #{sa.serial}")

    with_keypair(engine, group, send)


def on_kernel_expire(engine: Services, spi: int, hard: bool) -> None:
    """The kernel says the SA with ``spi`` reached a lifetime (RFC 7296 2.8): a soft one
    rekeys its Child SA, a hard one deletes it."""
    for sa in engine.ike_sas():
        for child in list(sa.children):
            if spi in (child.spi_in, child.spi_out):
                if hard:
                    expire_child(engine, sa, child, "Child SA expired (kernel hard lifetime)")
                    return
                if not child.rekeying:
                    engine.log.log(f"\"{sa.name}\" #{child.serial}: kernel reports the soft lifetime of "
                                   f"SPI 0x{spi:08x} reached; rekeying Child SA")
                rekey_child(engine, sa, child)
                return


def process_i(engine: Services, sa: IkeSa, ctx: CreateCtx, chosen: Chosen, payloads: list[Payload],
                  nr: bytes, g_ir: bytes | None) -> None:
    child, old = ctx.child, ctx.old
    assert child is not None
    tsi = get(payloads, TrafficSelectorsInitiator)
    tsr = get(payloads, TrafficSelectorsResponder)
    proposed_local = old.local_ts if old is not None else list(sa.conn.local_ts if sa.conn else ())
    proposed_remote = old.remote_ts if old is not None else list(sa.conn.remote_ts if sa.conn else ())
    local_ts = from_payloads(tsi.selectors) if tsi is not None else []
    remote_ts = from_payloads(tsr.selectors) if tsr is not None else []
    narrowing = sa.conn.narrowing if sa.conn is not None else False
    if not accept(local_ts, proposed_local, narrowing) or not accept(remote_ts, proposed_remote, narrowing) \
            or len(chosen.peer_spi) != 4:
        child_failed(engine, sa, child, "CREATE_CHILD_SA response traffic selectors or SPI are not acceptable",
                     delete=False)
        end_rekey(old)
        return
    child.local_ts, child.remote_ts = local_ts, remote_ts
    child.spi_out = int.from_bytes(chosen.peer_spi, "big")
    child.proposal = chosen.proposal
    child.made_by_us = True
    if not install(engine, sa, child, chosen, "initiator", (ctx.nonce, nr), g_ir, initiator=True):
        end_rekey(old)
        return
    if old is not None:
        old.replaced_by.append(child)
        settle(engine, sa, old)


def settle(engine: Services, sa: IkeSa, old: ChildSa) -> None:
    """Once rekeyed: delete the old SA if we started the rekey; with two new SAs
    (a simultaneous rekey), the one whose exchange holds the lowest nonce is
    deleted by whoever initiated that exchange (RFC 7296 2.8.1)."""
    ours = [c for c in old.replaced_by if c.made_by_us]
    if len(old.replaced_by) >= 2:
        redundant = min(old.replaced_by, key=lambda c: min(c.nonces))
        if redundant.made_by_us and redundant in sa.children:
            engine.log.log(f"\"{sa.name}\" #{redundant.serial}: simultaneous rekey of #{old.serial}: "
                           "deleting our redundant Child SA")
            build_i_child(engine, sa, [redundant.spi_in])
    if ours and old in sa.children:
        build_i_child(engine, sa, [old.spi_in])


def process_r(engine: Services, sa: IkeSa, payloads: list[Payload], theirs: list[Proposal], ni: bytes,
              ke: KeyExchange | None, reply: Reply) -> None:
    """A CREATE_CHILD_SA request for a Child SA (new, or a rekey with REKEY_SA); ``reply``
    answers it."""
    conn = sa.conn
    assert conn is not None
    rekey = next((p for p in payloads if isinstance(p, Notify) and p.type == NotifyType.REKEY_SA), None)
    old = None
    if rekey is not None:
        spi = int.from_bytes(rekey.spi, "big") if len(rekey.spi) == 4 else -1
        old = next((c for c in sa.children if c.spi_out == spi), None)
        if old is None:
            reply([Notify(NotifyType.CHILD_SA_NOT_FOUND, b"", ESP, rekey.spi)],
                  f"REKEY_SA names SPI 0x{rekey.spi.hex()}, not a Child SA of ours")
            return
    chosen = select(acceptable_esp(sa), theirs)
    if chosen is None or len(chosen.peer_spi) != 4:
        reply([Notify(NotifyType.NO_PROPOSAL_CHOSEN)], "no ESP proposal we accept")
        return
    group = chosen.id_of(TransformType.KE) or 0
    if group and (ke is None or ke.group != group):
        reply([Notify.for_invalid_ke(group)])
        return
    tsi, tsr = get(payloads, TrafficSelectorsInitiator), get(payloads, TrafficSelectorsResponder)
    narrow_remote = conn.narrowing or bool(conn.lease)  # a road warrior's TSi narrows to its lease (RFC 7296 2.9)
    remote_ts = respond(from_payloads(tsi.selectors), conn.remote_ts, narrow_remote) if tsi is not None else []
    local_ts = respond(from_payloads(tsr.selectors), conn.local_ts, conn.narrowing) if tsr is not None else []
    if not remote_ts or not local_ts:
        reply([Notify(NotifyType.TS_UNACCEPTABLE)], "traffic selectors outside the connection's")
        return
    child = ChildSa(engine.next_serial(), conn)
    try:
        child.spi_in = engine.kernel.allocate_spi(sa.remote[0], sa.local[0], ESP)
    except KernelError as exc:
        engine.log.log(f"\"{sa.name}\" #{child.serial}: cannot allocate an SPI: {exc}")
        reply([Notify(NotifyType.TEMPORARY_FAILURE)])
        return
    child.spi_out = int.from_bytes(chosen.peer_spi, "big")
    child.local_ts, child.remote_ts, child.proposal = local_ts, remote_ts, chosen.proposal
    child.made_by_us = False
    nr = engine.random(NONCE_SIZE)

    def answer_with(pair: Any, g_ir: bytes | None) -> None:
        answer: list[Payload] = []
        if conn.mode == "transport":
            answer.append(Notify(NotifyType.USE_TRANSPORT_MODE))
        answer += [SecurityAssociation([Proposal(chosen.proposal.num, ESP, child.spi_in.to_bytes(4, "big"),
                                                 chosen.proposal.transforms)]), Nonce(nr)]
        if pair is not None:
            answer.append(KeyExchange(group, pair.public_bytes))
        answer += [TrafficSelectorsInitiator([s.to_payload() for s in remote_ts]),
                   TrafficSelectorsResponder([s.to_payload() for s in local_ts])]
        reply(answer)
        if install(engine, sa, child, chosen, "responder", (ni, nr), g_ir, initiator=False) \
                and old is not None:
            old.replaced_by.append(child)
            settle(engine, sa, old)

    respond_dh(engine, group, ke.data if ke is not None else None, reply, answer_with)
