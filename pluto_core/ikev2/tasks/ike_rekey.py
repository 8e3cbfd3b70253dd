"""IKE SA rekey over CREATE_CHILD_SA (RFC 7296 1.3.2; SKEYSEED per 2.18), the Child
SAs moving to the new IKE SA, and simultaneous IKE SA rekeys (2.8.1)."""

from __future__ import annotations

from typing import Any

from pluto_core.ikev2.crypto import UnsupportedTransform, sk_contexts
from pluto_core.ikev2.crypto.keys import derive_ike_sa_keys, rekey_skeyseed
from pluto_core.ikev2.enums import ExchangeType, NotifyType, ProtocolId, TransformType
from pluto_core.ikev2.payloads import (
    KeyExchange,
    Nonce,
    Notify,
    Proposal,
    SecurityAssociation,
)
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.sa_select import Chosen, select
from pluto_core.ikev2.tasks import lifetimes
from pluto_core.ikev2.tasks.common import (
    NONCE_SIZE,
    CreateCtx,
    CreateKind,
    Reply,
    new_spi,
    respond_dh,
    suite_of,
    with_keypair,
)
from pluto_core.ikev2.tasks.delete import delete_ike_sa
from pluto_core.ikev2.tasks.services import Services

IKE = int(ProtocolId.IKE)


def rekey_ike(engine: Services, sa: IkeSa) -> None:
    if sa.state != IkeState.ESTABLISHED or sa.rekeyed_by or sa.conn is None:
        return
    ctx = CreateCtx(CreateKind.REKEY_IKE, engine.random(NONCE_SIZE), group=sa.ke_group, new_spi=new_spi(engine.random))
    ctx.proposals = [Proposal(p.num, IKE, ctx.new_spi, list(p.transforms)) for p in sa.conn.ike_proposals]

    def send(pair: Any) -> None:
        if isinstance(pair, Exception) or sa.state != IkeState.ESTABLISHED:
            return
        ctx.dh = pair
        engine.send_request(sa, ExchangeType.CREATE_CHILD_SA,
                            [SecurityAssociation(ctx.proposals), Nonce(ctx.nonce),
                             KeyExchange(ctx.group, pair.public_bytes)], ctx=ctx)
        engine.log.log(f"{engine.prefix(sa)} initiating rekey of IKE SA")

    with_keypair(engine, ctx.group, send)


def finish(engine: Services, old: IkeSa, chosen: Chosen, ni: bytes, nr: bytes, g_ir: bytes,
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
    # RFC 5685 and RFC 4555 roles belong to the peers, not to this exchange: the client stays
    # the client, MOBIKE stays agreed
    new.redirected_from, new.redirect_supported = old.redirected_from, old.redirect_supported
    new.first_initiator, new.mobike = old.first_initiator, old.mobike
    new.made_by_us = initiator
    engine.register(new)
    role = "initiator" if initiator else "responder"
    engine.log.log(f"{engine.prefix(new)} {role} rekeyed IKE SA #{old.serial} "
                   f"{{cipher={suite.encr.name} prf={suite.prf.name.removeprefix('PRF_')}}}")
    engine.event("ike-rekeyed", new, f"#{old.serial}")
    lifetimes.schedule_ike(engine, new)
    old.replacements.append(new)
    old.rekeyed_by = new.serial
    move_children(engine, old, new)
    if len(old.replacements) >= 2:
        # Simultaneous rekey: the new SA whose exchange has the lowest nonce is
        # redundant; its creator deletes it (RFC 7296 2.8.1). Children go to the other.
        redundant = min(old.replacements, key=lambda x: min(x.nonce_i, x.nonce_r))
        survivor = next(x for x in old.replacements if x is not redundant)
        move_children(engine, redundant, survivor)
        old.rekeyed_by = survivor.serial
        if redundant.made_by_us:
            engine.log.log(f"{engine.prefix(redundant)} simultaneous rekey of IKE SA #{old.serial}: deleting "
                           "our redundant IKE SA")
            delete_ike_sa(engine, redundant, notify_peer=True, quiet=True)
    if initiator:
        delete_ike_sa(engine, old, notify_peer=True, quiet=True)
    return new


def move_children(engine: Services, source: IkeSa, target: IkeSa) -> None:
    target.children.extend(source.children)
    source.children = []
    for child in target.children:
        engine.attach_child(target, child)


def process_r(engine: Services, sa: IkeSa, theirs: list[Proposal], ni: bytes, ke: KeyExchange | None,
              reply: Reply) -> None:
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
        finish(engine, sa, chosen, ni, nr, g_ir, our_spi, chosen.peer_spi, initiator=False)

    respond_dh(engine, group, ke.data, reply, answer_with)
