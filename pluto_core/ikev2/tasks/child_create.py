"""The Child SA an IKE_AUTH carries (RFC 7296 1.2, 1.3; selectors 2.9, transport
mode 1.3.1) and the install every Child SA ends with: KEYMAT (2.17), the kernel."""

from __future__ import annotations

from pluto_core.errors import KernelError, ProtocolError
from pluto_core.ikev2.crypto import UnsupportedTransform, derive_child_sa_keys
from pluto_core.ikev2.crypto.encr import encr_algorithm
from pluto_core.ikev2.crypto.registry import integ_algorithm
from pluto_core.ikev2.enums import NotifyType, ProtocolId, TransformType, notify_name
from pluto_core.ikev2.payloads import (
    Notify,
    Payload,
    Proposal,
    SecurityAssociation,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
)
from pluto_core.ikev2.sa import ChildSa, ChildState, IkeSa
from pluto_core.ikev2.sa_select import Chosen, accept_reply, select
from pluto_core.ikev2.tasks import lifetimes
from pluto_core.ikev2.tasks.common import (
    child_info,
    child_prefix,
    first_error,
    get,
    has_notify,
    release_larval,
    ts_text,
    with_spi,
)
from pluto_core.ikev2.tasks.delete import build_i_child
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.ts_narrow import accept, from_payloads, respond
from pluto_core.ikev2.types import ChildInstall, ChildKeys

ESP = int(ProtocolId.ESP)


def build_i(engine: Services, sa: IkeSa) -> tuple[ChildSa, list[Payload]] | str:
    """The Child SA of our IKE_AUTH request and its payloads; a sentence when no SPI."""
    conn = sa.conn
    assert conn is not None
    child = ChildSa(engine.next_serial(), conn)
    try:
        child.spi_in = engine.kernel.allocate_spi(sa.remote[0], sa.local[0], ESP)
    except KernelError as exc:
        return f"cannot allocate an SPI for the Child SA: {exc}"
    child.local_ts, child.remote_ts = list(conn.local_ts), list(conn.remote_ts)
    payloads: list[Payload] = [Notify(NotifyType.USE_TRANSPORT_MODE)] if conn.mode == "transport" else []
    payloads += [SecurityAssociation(with_spi(conn.esp_proposals, child.spi_in)),
                 TrafficSelectorsInitiator([s.to_payload() for s in conn.local_ts]),
                 TrafficSelectorsResponder([s.to_payload() for s in conn.remote_ts])]
    return child, payloads


def process_r(engine: Services, sa: IkeSa,
              payloads: list[Payload]) -> tuple[ChildSa | None, Chosen | None, list[Payload]]:
    """Negotiate the Child SA of an IKE_AUTH request: (child, choice, payloads for the reply)."""
    conn = sa.conn
    assert conn is not None
    sa_payload = get(payloads, SecurityAssociation)
    tsi = get(payloads, TrafficSelectorsInitiator)
    tsr = get(payloads, TrafficSelectorsResponder)
    if sa_payload is None or tsi is None or tsr is None:
        return None, None, []  # an IKE SA without a Child SA (RFC 6023-style): nothing to add
    child = ChildSa(engine.next_serial(), conn)
    prefix = child_prefix(sa, child.serial)
    try:
        chosen = select(conn.esp_proposals, sa_payload.proposals)
    except ProtocolError:
        chosen = None
    if chosen is None or len(chosen.peer_spi) != 4:
        engine.log.log(f"{prefix} no ESP proposal chosen: NO_PROPOSAL_CHOSEN")
        engine.event("child-failed", sa, "NO_PROPOSAL_CHOSEN", serial=child.serial)
        return None, None, [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
    # Their TSi is the remote side for us, their TSr ours (RFC 7296 2.9); a road warrior's
    # TSi (0.0.0.0/0 from strongSwan's vips=) narrows to the address it was leased.
    remote_ts = respond(from_payloads(tsi.selectors), conn.remote_ts, conn.narrowing or bool(conn.lease))
    if conn.lease and not remote_ts:
        # A Libreswan client proposes its own host address as TSi, not knowing its lease yet;
        # Libreswan's server answers with the lease all the same (ikev2-48-nat-cp), and so do we.
        remote_ts = list(conn.remote_ts)
    local_ts = respond(from_payloads(tsr.selectors), conn.local_ts, conn.narrowing)
    if not remote_ts or not local_ts:
        engine.log.log(f"{prefix} traffic selectors "
                       f"{ts_text(from_payloads(tsr.selectors), from_payloads(tsi.selectors))} do not match "
                       f"{ts_text(list(conn.local_ts), list(conn.remote_ts))}"
                       f"{'' if conn.narrowing else ' (narrowing=no)'}: TS_UNACCEPTABLE")
        engine.event("child-failed", sa, "TS_UNACCEPTABLE", serial=child.serial)
        return None, None, [Notify(NotifyType.TS_UNACCEPTABLE)]
    if conn.mode == "transport" and not has_notify(payloads, NotifyType.USE_TRANSPORT_MODE):
        engine.log.log(f"{prefix} peer wants tunnel mode, we want transport: NO_PROPOSAL_CHOSEN")
        engine.event("child-failed", sa, "NO_PROPOSAL_CHOSEN", serial=child.serial)
        return None, None, [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
    try:
        child.spi_in = engine.kernel.allocate_spi(sa.remote[0], sa.local[0], ESP)
    except KernelError as exc:
        engine.log.log(f"{prefix} cannot allocate an SPI: {exc}")
        engine.event("child-failed", sa, str(exc), serial=child.serial)
        return None, None, [Notify(NotifyType.TEMPORARY_FAILURE)]
    child.spi_out = int.from_bytes(chosen.peer_spi, "big")
    child.local_ts, child.remote_ts = local_ts, remote_ts
    child.proposal = chosen.proposal
    reply: list[Payload] = []
    if conn.mode == "transport":
        reply.append(Notify(NotifyType.USE_TRANSPORT_MODE))
    answer = Proposal(chosen.proposal.num, ESP, child.spi_in.to_bytes(4, "big"), chosen.proposal.transforms)
    reply += [SecurityAssociation([answer]),
              TrafficSelectorsInitiator([s.to_payload() for s in remote_ts]),
              TrafficSelectorsResponder([s.to_payload() for s in local_ts])]
    return child, chosen, reply


def process_i(engine: Services, sa: IkeSa, child: ChildSa, payloads: list[Payload]) -> None:
    """The Child SA part of the IKE_AUTH response (the IKE SA is up by now)."""
    conn = sa.conn
    assert conn is not None
    error = first_error(payloads)
    if error is not None:
        child_failed(engine, sa, child, f"IKE_AUTH response rejected the Child SA: {notify_name(error)}")
        return
    sa_payload = get(payloads, SecurityAssociation)
    tsi = get(payloads, TrafficSelectorsInitiator)
    tsr = get(payloads, TrafficSelectorsResponder)
    if sa_payload is None or tsi is None or tsr is None:
        child_failed(engine, sa, child, "IKE_AUTH response has no SA, TSi or TSr for the Child SA")
        return
    try:
        chosen = accept_reply(conn.esp_proposals, sa_payload.proposals)
    except ProtocolError as exc:
        chosen = None
        engine.log.log(f"{child_prefix(sa, child.serial)} {exc}")
    if chosen is None or len(chosen.peer_spi) != 4:
        child_failed(engine, sa, child, "IKE_AUTH response chose an ESP proposal we did not offer", delete=True)
        return
    local_ts, remote_ts = from_payloads(tsi.selectors), from_payloads(tsr.selectors)
    if not accept(local_ts, conn.local_ts, conn.narrowing) or not accept(remote_ts, conn.remote_ts, conn.narrowing):
        why = "are outside ours" if conn.narrowing else "are not the ones we proposed (narrowing=no)"
        child_failed(engine, sa, child, f"IKE_AUTH response traffic selectors {why}", delete=True)
        return
    if conn.mode == "transport" and not has_notify(payloads, NotifyType.USE_TRANSPORT_MODE):
        child_failed(engine, sa, child, "peer refused transport mode", delete=True)
        return
    child.local_ts, child.remote_ts = local_ts, remote_ts
    child.spi_out = int.from_bytes(chosen.peer_spi, "big")
    child.proposal = chosen.proposal
    install(engine, sa, child, chosen, "initiator")


def install(engine: Services, sa: IkeSa, child: ChildSa, chosen: Chosen, role: str,
            nonces: tuple[bytes, bytes] | None = None, g_ir: bytes | None = None,
            initiator: bool | None = None) -> bool:
    """Derive KEYMAT (RFC 7296 2.17) and install the Child SA; False (logged, peer told) on failure.

    ``nonces`` (Ni, Nr) and ``g_ir`` are those of a CREATE_CHILD_SA exchange; ``initiator``
    says who initiated that exchange (by default the IKE SA's original initiator).
    """
    conn = sa.conn
    assert conn is not None and sa.suite is not None and sa.keys is not None
    encr_t = chosen.transform(TransformType.ENCR)
    integ_id = chosen.id_of(TransformType.INTEG) or None
    esn = chosen.id_of(TransformType.ESN) == 1
    try:
        assert encr_t is not None
        encr = encr_algorithm(encr_t.id, encr_t.key_length)
        integ = integ_algorithm(integ_id)
        ni, nr = nonces if nonces is not None else (sa.nonce_i, sa.nonce_r)
        keys = derive_child_sa_keys(sa.suite.prf, sa.keys.sk_d, encr, integ, ni, nr, g_ir)
    except (UnsupportedTransform, AssertionError) as exc:
        child_failed(engine, sa, child, f"cannot key the Child SA: {exc}", delete=True)
        return False
    # Keys from the exchange's initiator to its responder come first (RFC 7296 2.17).
    i_to_r = (keys.encr_i, keys.integ_i)
    r_to_i = (keys.encr_r, keys.integ_r)
    we_initiated = sa.initiator if initiator is None else initiator
    inbound_keys, outbound_keys = (r_to_i, i_to_r) if we_initiated else (i_to_r, r_to_i)
    child.nonces = (ni, nr)
    spec = ChildInstall(
        conn=conn.name, serial=child.serial, local_addr=sa.local[0], remote_addr=sa.remote[0],
        mode=conn.mode, protocol=ESP, encr_id=encr_t.id, encr_key_bits=encr_t.key_length, integ_id=integ_id,
        esn=esn, inbound=ChildKeys(child.spi_in, *inbound_keys), outbound=ChildKeys(child.spi_out, *outbound_keys),
        local_ts=tuple(child.local_ts), remote_ts=tuple(child.remote_ts), replay_window=conn.replay_window,
        lifetime_soft=max(conn.salifetime - conn.rekeymargin, 1.0), lifetime_hard=conn.salifetime,
        reqid=conn.reqid or engine.reqid_base + child.serial * 4, priority=conn.priority,
        soft_bytes=lifetimes.soft_volume(engine, conn.ipsec_max_bytes, we_initiated),
        hard_bytes=conn.ipsec_max_bytes,
        soft_packets=lifetimes.soft_volume(engine, conn.ipsec_max_packets, we_initiated),
        hard_packets=conn.ipsec_max_packets,
        # ESP in UDP (RFC 3948) once an extension (NAT-T) found a NAT
        encap=(sa.local[1], sa.remote[1]) if sa.transport is not None and sa.transport.encapsulate else None,
        if_id=conn.if_id, mark_in=conn.mark_in, mark_out=conn.mark_out,
    )
    try:
        engine.kernel.install_child(spec)
    except KernelError as exc:
        child_failed(engine, sa, child, f"kernel refused the Child SA: {exc}", delete=True)
        return False
    child.installed = spec
    child.to(ChildState.INSTALLED)
    child.established_at = engine.clock()
    sa.children.append(child)
    esn_text = "/ESN" if esn else ""
    mode = "tunnel" if conn.mode == "tunnel" else "transport"
    xfrm = encr.name if integ is None else f"{encr.name}-{integ.name}"
    engine.log.log(f"{child_prefix(sa, child.serial)} {role} established Child SA using #{sa.serial}; IPsec "
                   f"{mode} {ts_text(child.local_ts, child.remote_ts)} {{ESP{esn_text}=>0x{child.spi_out:08x} "
                   f"<0x{child.spi_in:08x} xfrm={xfrm} DPD={'active' if conn.dpddelay else 'passive'}}}")
    engine.event("child-up", sa, f"0x{child.spi_out:08x}", serial=child.serial,
                 child=child_info(engine, sa, spec))
    lifetimes.schedule_child(engine, sa, child)
    return True


def child_failed(engine: Services, sa: IkeSa, child: ChildSa, why: str, delete: bool = False) -> None:
    engine.log.log(f"{child_prefix(sa, child.serial)} {why}")
    engine.event("child-failed", sa, why, serial=child.serial)
    release_larval(engine, sa, child)
    if delete and child.spi_in:
        # Tell the peer that this Child SA is gone; the IKE SA stays (issue: clean failure).
        build_i_child(engine, sa, [child.spi_in])
