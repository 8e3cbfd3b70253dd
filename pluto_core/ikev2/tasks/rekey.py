"""CREATE_CHILD_SA (RFC 7296 1.3): a Child SA rekey (1.3.3, with PFS when
``pfs=yes``), an IKE SA rekey (1.3.2, SKEYSEED per 2.18), and the collision rule
for simultaneous rekeys (2.8.1). Initiator: ``rekey_child``/``rekey_ike`` then
``process_i``; responder: ``process_r``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pluto_core.errors import KernelError, ProtocolError
from pluto_core.ikev2.crypto import UnsupportedTransform, compute_shared, sk_contexts
from pluto_core.ikev2.crypto.keys import derive_ike_sa_keys, rekey_skeyseed
from pluto_core.ikev2.enums import ExchangeType, NotifyType, ProtocolId, TransformType, notify_name
from pluto_core.ikev2.message import Message
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
from pluto_core.ikev2.sa_select import Chosen, accept_reply, select
from pluto_core.ikev2.tasks import lifetimes
from pluto_core.ikev2.tasks.child_create import child_failed, install
from pluto_core.ikev2.tasks.common import NONCE_SIZE, first_error, get, keypair_job, new_spi, suite_of
from pluto_core.ikev2.tasks.delete import build_i_child, delete_ike_sa
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.ts_narrow import accept, from_payloads, respond

ESP = int(ProtocolId.ESP)
IKE = int(ProtocolId.IKE)


@dataclass(slots=True)
class CreateCtx:
    """An outstanding CREATE_CHILD_SA request of ours."""

    kind: str  # "child", "rekey-child" or "rekey-ike"
    nonce: bytes
    dh: Any = None
    group: int = 0
    child: ChildSa | None = None
    old: ChildSa | None = None
    new_spi: bytes = b""
    proposals: list[Proposal] = field(default_factory=list)


def end_rekey(old: ChildSa | None) -> None:
    """A rekey of ``old`` that did not happen: it stays as it was (unless gone meanwhile)."""
    if old is not None and old.state == ChildState.REKEYING:
        old.to(ChildState.INSTALLED)


def _esp_proposals(sa: IkeSa, spi: int, pfs_group: int | None) -> list[Proposal]:
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


def _acceptable_esp(sa: IkeSa) -> list[Proposal]:
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


def _with_keypair(engine: Services, group: int, then: Any) -> None:
    if not group:
        then(None)
        return
    fn, args = keypair_job(engine.random, group)
    engine.jobs.submit(fn, args, then)


def _shared(engine: Services, group: int, pair: Any, peer: bytes | None, then: Any) -> None:
    if not group or pair is None or peer is None:
        then(None)
        return
    engine.jobs.submit(compute_shared, (group, pair, peer), then)


# ------------------------------------------------------------------ initiator side


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
    ctx = CreateCtx("rekey-child", engine.random(NONCE_SIZE), group=group, child=child, old=old)
    ctx.proposals = _esp_proposals(sa, child.spi_in, group or None)

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

    _with_keypair(engine, group, send)


def rekey_ike(engine: Services, sa: IkeSa) -> None:
    if sa.state != IkeState.ESTABLISHED or sa.rekeyed_by or sa.conn is None:
        return
    ctx = CreateCtx("rekey-ike", engine.random(NONCE_SIZE), group=sa.ke_group, new_spi=new_spi(engine.random))
    ctx.proposals = [Proposal(p.num, IKE, ctx.new_spi, list(p.transforms)) for p in sa.conn.ike_proposals]

    def send(pair: Any) -> None:
        if isinstance(pair, Exception) or sa.state != IkeState.ESTABLISHED:
            return
        ctx.dh = pair
        engine.send_request(sa, ExchangeType.CREATE_CHILD_SA,
                            [SecurityAssociation(ctx.proposals), Nonce(ctx.nonce),
                             KeyExchange(ctx.group, pair.public_bytes)], ctx=ctx)
        engine.log.log(f"{engine.prefix(sa)} initiating rekey of IKE SA")

    _with_keypair(engine, ctx.group, send)


def process_i(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload], ctx: CreateCtx) -> None:
    error = first_error(payloads)
    if error is not None:
        end_rekey(ctx.old)
        engine.log.log(f"{engine.prefix(sa)} CREATE_CHILD_SA request rejected by peer: {notify_name(error)}")
        if ctx.child is not None:
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
        if ctx.kind == "rekey-ike":
            _finish_ike_rekey(engine, sa, chosen, ctx.nonce, nonce.data, g_ir, ctx.new_spi, chosen.peer_spi,
                              initiator=True)
            return
        _finish_child(engine, sa, ctx, chosen, payloads, nonce.data, g_ir)

    _shared(engine, ctx.group, ctx.dh, peer_public, have_shared)


def _finish_child(engine: Services, sa: IkeSa, ctx: CreateCtx, chosen: Chosen, payloads: list[Payload],
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
        _settle_rekey(engine, sa, old)


def _settle_rekey(engine: Services, sa: IkeSa, old: ChildSa) -> None:
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


def _finish_ike_rekey(engine: Services, old: IkeSa, chosen: Chosen, ni: bytes, nr: bytes, g_ir: bytes,
                      our_spi: bytes, peer_spi: bytes, initiator: bool) -> IkeSa | None:
    """Make the new IKE SA (2.18), move the Child SAs to it; the rekey's initiator deletes the old one."""
    assert old.keys is not None and old.suite is not None and old.conn is not None
    try:
        suite = suite_of(chosen)
    except UnsupportedTransform as exc:
        engine.log.log(f"{engine.prefix(old)} IKE SA rekey: {exc}")
        return None
    spi_i, spi_r = (our_spi, peer_spi) if initiator else (peer_spi, our_spi)
    new = IkeSa(engine.next_serial(), old.conn, initiator, old.local, old.remote, spi_i, spi_r,
                state=IkeState.ESTABLISHED)
    new.transport = old.transport  # the same peers over the same NAT, if any
    new.suite, new.ke_group = suite, chosen.id_of(TransformType.KE) or old.ke_group
    new.nonce_i, new.nonce_r = ni, nr
    # SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the old SA's PRF; then prf+ of the new one.
    seed = rekey_skeyseed(old.suite.prf, old.keys.sk_d, g_ir, ni, nr)
    new.keys = derive_ike_sa_keys(suite.prf, suite.encr, suite.integ, seed, ni, nr, spi_i, spi_r)
    new.sk_out, new.sk_in = sk_contexts(suite, new.keys, initiator)
    new.peer_id, new.established_at, new.last_contact = old.peer_id, engine.clock(), engine.clock()
    new.made_by_us = initiator
    engine.register(new)
    role = "initiator" if initiator else "responder"
    engine.log.log(f"{engine.prefix(new)} {role} rekeyed IKE SA #{old.serial} "
                   f"{{cipher={suite.encr.name} prf={suite.prf.name.removeprefix('PRF_')}}}")
    engine.event("ike-rekeyed", new, f"#{old.serial}")
    lifetimes.schedule_ike(engine, new)
    old.replacements.append(new)
    old.rekeyed_by = new.serial
    _move_children(engine, old, new)
    if len(old.replacements) >= 2:
        # Simultaneous rekey: the new SA whose exchange has the lowest nonce is
        # redundant; its creator deletes it (RFC 7296 2.8.1). Children go to the other.
        redundant = min(old.replacements, key=lambda x: min(x.nonce_i, x.nonce_r))
        survivor = next(x for x in old.replacements if x is not redundant)
        _move_children(engine, redundant, survivor)
        old.rekeyed_by = survivor.serial
        if redundant.made_by_us:
            engine.log.log(f"{engine.prefix(redundant)} simultaneous rekey of IKE SA #{old.serial}: deleting "
                           "our redundant IKE SA")
            delete_ike_sa(engine, redundant, notify_peer=True, quiet=True)
    if initiator:
        delete_ike_sa(engine, old, notify_peer=True, quiet=True)
    return new


def _move_children(engine: Services, source: IkeSa, target: IkeSa) -> None:
    target.children.extend(source.children)
    source.children = []
    for child in target.children:
        engine.attach_child(target, child)


# ------------------------------------------------------------------ responder side


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
    conn = sa.conn
    assert conn is not None
    if theirs and theirs[0].protocol_id == IKE:
        _respond_ike_rekey(engine, sa, theirs, nonce.data, ke, reply)
        return
    rekey = next((p for p in payloads if isinstance(p, Notify) and p.type == NotifyType.REKEY_SA), None)
    old = None
    if rekey is not None:
        spi = int.from_bytes(rekey.spi, "big") if len(rekey.spi) == 4 else -1
        old = next((c for c in sa.children if c.spi_out == spi), None)
        if old is None:
            reply([Notify(NotifyType.CHILD_SA_NOT_FOUND, b"", ESP, rekey.spi)],
                  f"REKEY_SA names SPI 0x{rekey.spi.hex()}, not a Child SA of ours")
            return
    chosen = select(_acceptable_esp(sa), theirs)
    if chosen is None or len(chosen.peer_spi) != 4:
        reply([Notify(NotifyType.NO_PROPOSAL_CHOSEN)], "no ESP proposal we accept")
        return
    group = chosen.id_of(TransformType.KE) or 0
    if group and (ke is None or ke.group != group):
        reply([Notify.for_invalid_ke(group)])
        return
    tsi, tsr = get(payloads, TrafficSelectorsInitiator), get(payloads, TrafficSelectorsResponder)
    remote_ts = respond(from_payloads(tsi.selectors), conn.remote_ts, conn.narrowing) if tsi is not None else []
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
        if install(engine, sa, child, chosen, "responder", (nonce.data, nr), g_ir, initiator=False) \
                and old is not None:
            old.replaced_by.append(child)
            _settle_rekey(engine, sa, old)

    _respond_dh(engine, group, ke.data if ke is not None else None, reply, answer_with)


def _respond_ike_rekey(engine: Services, sa: IkeSa, theirs: list[Proposal], ni: bytes, ke: Any, reply: Any) -> None:
    conn = sa.conn
    assert conn is not None
    chosen = select(conn.ike_proposals, theirs)
    if chosen is None or len(chosen.peer_spi) != 8:
        reply([Notify(NotifyType.NO_PROPOSAL_CHOSEN)], "no IKE proposal we accept for the rekey")
        return
    group = chosen.id_of(TransformType.KE) or 0
    if ke is None or ke.group != group:
        reply([Notify.for_invalid_ke(group)])
        return
    our_spi, nr = new_spi(engine.random), engine.random(NONCE_SIZE)

    def answer_with(pair: Any, g_ir: bytes | None) -> None:
        reply([SecurityAssociation([Proposal(chosen.proposal.num, IKE, our_spi, chosen.proposal.transforms)]),
               Nonce(nr), KeyExchange(group, pair.public_bytes)])
        assert g_ir is not None
        _finish_ike_rekey(engine, sa, chosen, ni, nr, g_ir, our_spi, chosen.peer_spi, initiator=False)

    _respond_dh(engine, group, ke.data, reply, answer_with)


def _respond_dh(engine: Services, group: int, peer_public: bytes | None, reply: Any, then: Any) -> None:
    """Our key pair and g^ir for a CREATE_CHILD_SA answer (no group: no KE), then
    ``then(pair, g_ir)``; a failure answers with a notify instead."""

    def have_pair(pair: Any) -> None:
        if isinstance(pair, Exception):
            reply([Notify(NotifyType.NO_PROPOSAL_CHOSEN)], f"no key pair for DH{group}: {pair}")
            return

        def have_shared(g_ir: Any) -> None:
            if isinstance(g_ir, Exception):
                reply([Notify(NotifyType.INVALID_SYNTAX)], f"the peer's KE payload: {g_ir}")
                return
            then(pair, g_ir)

        _shared(engine, group, pair, peer_public, have_shared)

    _with_keypair(engine, group, have_pair)
