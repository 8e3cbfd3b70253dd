"""IKE_AUTH with a pre-shared key (RFC 7296 sections 1.2 and 2.15) and the
Child SA it carries (sections 1.3, 2.9, 2.17; transport mode 1.3.1)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from pluto_core.errors import KernelError, ProtocolError
from pluto_core.ikev2.conn import ChildInstall, ChildKeys, EngineConn, IdSpec
from pluto_core.ikev2.crypto import UnsupportedTransform, derive_child_sa_keys, psk_auth, signed_octets
from pluto_core.ikev2.crypto.encr import encr_algorithm
from pluto_core.ikev2.crypto.registry import integ_algorithm
from pluto_core.ikev2.engine import first_error, notify_name
from pluto_core.ikev2.enums import AuthMethod, ExchangeType, NotifyType, ProtocolId, TransformType
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import (
    Authentication,
    IdentificationInitiator,
    IdentificationResponder,
    Notify,
    Payload,
    Proposal,
    SecurityAssociation,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
)
from pluto_core.ikev2.sa import ChildSa, IkeSa, IkeState
from pluto_core.ikev2.sa_select import Chosen, accept_reply, select
from pluto_core.ikev2.ts_narrow import accept, from_payloads, respond

if TYPE_CHECKING:
    from pluto_core.ikev2.engine import Engine

ESP = int(ProtocolId.ESP)
# leftauth=/rightauth= (EngineConn.local_auth/remote_auth) as AUTH payload methods (RFC 7296
# 3.8): the ones the engine can compute and check
AUTH_METHODS = {"secret": AuthMethod.SHARED_KEY_MIC}


def _method_name(method: int) -> str:
    try:
        return AuthMethod(method).name
    except ValueError:
        return str(method)


def _unexpected_method(conn: EngineConn, method: int) -> str | None:
    """Why the peer's AUTH method is not the one the conn expects of it (None: it is)."""
    expected = AUTH_METHODS[conn.remote_auth]
    if method == expected:
        return None
    return (f"peer authenticated with AUTH method {_method_name(method)}, but the conn expects "
            f"{expected.name} ({conn.remote_auth})")


def _get(payloads: list[Payload], cls: type) -> Payload | None:
    for p in payloads:
        if isinstance(p, cls):
            return p
    return None


def _id_body(id_type: int, data: bytes) -> bytes:
    """RestOfInitIDPayload / RestOfRespIDPayload: ID type, three reserved octets, data."""
    return bytes((id_type, 0, 0, 0)) + data


def _auth_value(sa: IkeSa, psk: bytes, signer_is_initiator: bool, id_spec: IdSpec) -> bytes:
    suite, keys = sa.suite, sa.keys
    assert suite is not None and keys is not None
    if signer_is_initiator:
        octets = signed_octets(suite.prf, sa.init_request, sa.nonce_r, keys.sk_pi,
                               _id_body(id_spec.id_type, id_spec.data))
    else:
        octets = signed_octets(suite.prf, sa.init_response, sa.nonce_i, keys.sk_pr,
                               _id_body(id_spec.id_type, id_spec.data))
    return psk_auth(suite.prf, psk, octets)


def _with_spi(proposals: tuple[Proposal, ...], spi: int) -> list[Proposal]:
    raw = spi.to_bytes(4, "big")
    return [Proposal(p.num, p.protocol_id, raw, list(p.transforms)) for p in proposals]


def _child_prefix(engine: Engine, sa: IkeSa, child: ChildSa) -> str:
    return f"\"{sa.name}\" #{child.serial}:"


# ------------------------------------------------------------------ initiator


def send_auth_request(engine: Engine, sa: IkeSa) -> None:
    conn = sa.conn
    assert conn is not None
    psk = engine.credentials.psk(conn.local_id, conn.remote_id)
    if psk is None:
        _fail_ike(engine, sa, f"no PSK found for {conn.local_id.text} and "
                  f"{conn.remote_id.text if conn.remote_id else '%any'}: cannot authenticate")
        return
    child = ChildSa(engine.next_serial(), conn)
    try:
        child.spi_in = engine.kernel.allocate_spi(sa.remote[0], sa.local[0], ESP)
    except KernelError as exc:
        _fail_ike(engine, sa, f"cannot allocate an SPI for the Child SA: {exc}")
        return
    child.local_ts, child.remote_ts = list(conn.local_ts), list(conn.remote_ts)
    sa.pending_child = child
    payloads: list[Payload] = [IdentificationInitiator(conn.local_id.id_type, conn.local_id.data)]
    if conn.options.get("initial-contact") and not _others_with(engine, sa, conn.local_id, conn.remote_id):
        # RFC 7296 2.4: this IKE SA is the only one between us: the peer may drop older state
        payloads.append(Notify(NotifyType.INITIAL_CONTACT))
    if conn.remote_id is not None:
        payloads.append(IdentificationResponder(conn.remote_id.id_type, conn.remote_id.data))
    payloads.append(Authentication(AUTH_METHODS[conn.local_auth], _auth_value(sa, psk, True, conn.local_id)))
    if conn.mode == "transport":
        payloads.append(Notify(NotifyType.USE_TRANSPORT_MODE))
    payloads += [SecurityAssociation(_with_spi(conn.esp_proposals, child.spi_in)),
                 TrafficSelectorsInitiator([s.to_payload() for s in conn.local_ts]),
                 TrafficSelectorsResponder([s.to_payload() for s in conn.remote_ts])]
    sa.state = IkeState.AUTH_SENT
    engine.send_request(sa, ExchangeType.IKE_AUTH, payloads)
    ts = ts_text(child.local_ts, child.remote_ts)
    engine.log.log(f"{engine.prefix(sa)} sent IKE_AUTH request to {engine.peer_text(sa)} with shared-key-mac "
                   f"and {conn.local_id.kind_name} '{conn.local_id.text}'; Child SA #{child.serial} "
                   f"{{ESP <0x{child.spi_in:08x}}} {ts}")


def on_auth_response(engine: Engine, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    conn = sa.conn
    assert conn is not None
    names = ",".join(_payload_name(p) for p in payloads)
    engine.log.log(f"{engine.prefix(sa)} processing IKE_AUTH response from {engine.peer_text(sa)} "
                   f"containing SK{{{names}}}")
    idr = _get(payloads, IdentificationResponder)
    auth = _get(payloads, Authentication)
    if idr is None or auth is None:
        error = first_error(payloads)
        why = notify_name(error) if error is not None else "no IDr or AUTH payload"
        _fail_ike(engine, sa, f"IKE SA authentication request rejected by peer: {why}")
        return
    assert isinstance(idr, IdentificationResponder) and isinstance(auth, Authentication)
    peer = IdSpec.from_wire(idr.id_type, idr.data)
    if conn.remote_id is not None and (peer.id_type, peer.data) != (conn.remote_id.id_type, conn.remote_id.data):
        _fail_ike(engine, sa, f"peer ID {peer.kind_name} '{peer.text}' is not the expected "
                  f"'{conn.remote_id.text}': authentication failed", delete=True)
        return
    wrong_method = _unexpected_method(conn, auth.method)
    if wrong_method is not None:
        _fail_ike(engine, sa, f"{wrong_method}: AUTHENTICATION_FAILED", delete=True)
        return
    psk = engine.credentials.psk(conn.local_id, peer)
    if psk is None or not hmac.compare_digest(
            auth.data, _auth_value(sa, psk, False, peer)):
        _fail_ike(engine, sa, f"authentication of peer {peer.kind_name} '{peer.text}' using authby=secret "
                  "failed: AUTHENTICATION_FAILED", delete=True)
        return
    sa.peer_id = peer
    _initial_contact(engine, sa, payloads)
    _established(engine, sa, "initiator")
    child = sa.pending_child
    sa.pending_child = None
    if child is None:
        return
    error = first_error(payloads)
    if error is not None:
        child_failed(engine, sa, child, f"IKE_AUTH response rejected the Child SA: {notify_name(error)}")
        return
    sa_payload = _get(payloads, SecurityAssociation)
    tsi = _get(payloads, TrafficSelectorsInitiator)
    tsr = _get(payloads, TrafficSelectorsResponder)
    if not isinstance(sa_payload, SecurityAssociation) or not isinstance(tsi, TrafficSelectorsInitiator) \
            or not isinstance(tsr, TrafficSelectorsResponder):
        child_failed(engine, sa, child, "IKE_AUTH response has no SA, TSi or TSr for the Child SA")
        return
    try:
        chosen = accept_reply(conn.esp_proposals, sa_payload.proposals)
    except ProtocolError as exc:
        chosen = None
        engine.log.log(f"{_child_prefix(engine, sa, child)} {exc}")
    if chosen is None or len(chosen.peer_spi) != 4:
        child_failed(engine, sa, child, "IKE_AUTH response chose an ESP proposal we did not offer", delete=True)
        return
    local_ts, remote_ts = from_payloads(tsi.selectors), from_payloads(tsr.selectors)
    if not accept(local_ts, conn.local_ts, conn.narrowing) or not accept(remote_ts, conn.remote_ts, conn.narrowing):
        why = "are outside ours" if conn.narrowing else "are not the ones we proposed (narrowing=no)"
        child_failed(engine, sa, child, f"IKE_AUTH response traffic selectors {why}", delete=True)
        return
    transport = any(isinstance(p, Notify) and p.type == NotifyType.USE_TRANSPORT_MODE for p in payloads)
    if conn.mode == "transport" and not transport:
        child_failed(engine, sa, child, "peer refused transport mode", delete=True)
        return
    child.local_ts, child.remote_ts = local_ts, remote_ts
    child.spi_out = int.from_bytes(chosen.peer_spi, "big")
    child.proposal = chosen.proposal
    install_child(engine, sa, child, chosen, "initiator")


# ------------------------------------------------------------------ responder


def on_auth_request(engine: Engine, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    conn = sa.conn
    assert conn is not None
    idi = _get(payloads, IdentificationInitiator)
    auth = _get(payloads, Authentication)
    if not isinstance(idi, IdentificationInitiator) or not isinstance(auth, Authentication):
        engine.log.log(f"{engine.prefix(sa)} IKE_AUTH request lacks IDi or AUTH: INVALID_SYNTAX")
        engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id, [Notify(NotifyType.INVALID_SYNTAX)])
        _fail_ike(engine, sa, "IKE_AUTH request was malformed", delete=False)
        return
    peer = IdSpec.from_wire(idi.id_type, idi.data)
    wrong_method = _unexpected_method(conn, auth.method)
    if wrong_method is not None:
        engine.log.log(f"{engine.prefix(sa)} {wrong_method}: sending AUTHENTICATION_FAILED")
        engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id,
                             [Notify(NotifyType.AUTHENTICATION_FAILED)])
        _fail_ike(engine, sa, "IKE SA authentication failed", delete=False)
        return
    psk = None
    if conn.remote_id is None or (peer.id_type, peer.data) == (conn.remote_id.id_type, conn.remote_id.data):
        psk = engine.credentials.psk(conn.local_id, peer)
    if psk is None or not hmac.compare_digest(
            auth.data, _auth_value(sa, psk, True, peer)):
        engine.log.log(f"{engine.prefix(sa)} authentication of peer {peer.kind_name} '{peer.text}' using "
                       "authby=secret failed: sending AUTHENTICATION_FAILED")
        engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id,
                             [Notify(NotifyType.AUTHENTICATION_FAILED)])
        _fail_ike(engine, sa, "IKE SA authentication failed", delete=False)
        return
    sa.peer_id = peer
    engine.half_open.pop((sa.spi_i, sa.remote[0], sa.remote[1]), None)
    _initial_contact(engine, sa, payloads)
    reply: list[Payload] = [IdentificationResponder(conn.local_id.id_type, conn.local_id.data),
                            Authentication(AUTH_METHODS[conn.local_auth], _auth_value(sa, psk, False, conn.local_id))]
    _established(engine, sa, "responder")
    child, chosen, child_reply = _responder_child(engine, sa, payloads)
    reply += child_reply
    engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id, reply)
    if child is not None and chosen is not None:
        install_child(engine, sa, child, chosen, "responder")


def _responder_child(engine: Engine, sa: IkeSa,
                     payloads: list[Payload]) -> tuple[ChildSa | None, Chosen | None, list[Payload]]:
    """Negotiate the Child SA of an IKE_AUTH request: (child, choice, payloads for the reply)."""
    conn = sa.conn
    assert conn is not None
    sa_payload = _get(payloads, SecurityAssociation)
    tsi = _get(payloads, TrafficSelectorsInitiator)
    tsr = _get(payloads, TrafficSelectorsResponder)
    if not isinstance(sa_payload, SecurityAssociation) or not isinstance(tsi, TrafficSelectorsInitiator) \
            or not isinstance(tsr, TrafficSelectorsResponder):
        return None, None, []  # an IKE SA without a Child SA (RFC 6023-style): nothing to add
    child = ChildSa(engine.next_serial(), conn)
    try:
        chosen = select(conn.esp_proposals, sa_payload.proposals)
    except ProtocolError:
        chosen = None
    if chosen is None or len(chosen.peer_spi) != 4:
        engine.log.log(f"{_child_prefix(engine, sa, child)} no ESP proposal chosen: NO_PROPOSAL_CHOSEN")
        engine.event("child-failed", sa, "NO_PROPOSAL_CHOSEN", serial=child.serial)
        return None, None, [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
    # Their TSi is the remote side for us, their TSr ours (RFC 7296 2.9).
    remote_ts = respond(from_payloads(tsi.selectors), conn.remote_ts, conn.narrowing)
    local_ts = respond(from_payloads(tsr.selectors), conn.local_ts, conn.narrowing)
    if not remote_ts or not local_ts:
        engine.log.log(f"{_child_prefix(engine, sa, child)} traffic selectors "
                       f"{ts_text(from_payloads(tsr.selectors), from_payloads(tsi.selectors))} do not match "
                       f"{ts_text(list(conn.local_ts), list(conn.remote_ts))}"
                       f"{'' if conn.narrowing else ' (narrowing=no)'}: TS_UNACCEPTABLE")
        engine.event("child-failed", sa, "TS_UNACCEPTABLE", serial=child.serial)
        return None, None, [Notify(NotifyType.TS_UNACCEPTABLE)]
    transport = any(isinstance(p, Notify) and p.type == NotifyType.USE_TRANSPORT_MODE for p in payloads)
    if conn.mode == "transport" and not transport:
        engine.log.log(f"{_child_prefix(engine, sa, child)} peer wants tunnel mode, we want transport: "
                       "NO_PROPOSAL_CHOSEN")
        engine.event("child-failed", sa, "NO_PROPOSAL_CHOSEN", serial=child.serial)
        return None, None, [Notify(NotifyType.NO_PROPOSAL_CHOSEN)]
    try:
        child.spi_in = engine.kernel.allocate_spi(sa.remote[0], sa.local[0], ESP)
    except KernelError as exc:
        engine.log.log(f"{_child_prefix(engine, sa, child)} cannot allocate an SPI: {exc}")
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


# ------------------------------------------------------------------ shared


def _others_with(engine: Engine, sa: IkeSa, local: IdSpec, peer: IdSpec | None) -> list[IkeSa]:
    """Our other established IKE SAs between ``local`` and ``peer`` (any peer when None)."""
    return [other for other in engine.ike_sas()
            if other is not sa and other.state == IkeState.ESTABLISHED and other.conn is not None
            and other.conn.local_id == local and (peer is None or other.peer_id == peer)]


def _initial_contact(engine: Engine, sa: IkeSa, payloads: list[Payload]) -> None:
    """An authenticated INITIAL_CONTACT (RFC 7296 2.4): the peer holds no other IKE SA
    with us, so ours between the same identities are stale (it restarted): remove
    them and their Child SAs without a Delete, which the peer could not read."""
    if not any(isinstance(p, Notify) and p.type == NotifyType.INITIAL_CONTACT for p in payloads):
        return
    conn, peer = sa.conn, sa.peer_id
    assert conn is not None and peer is not None
    from pluto_core.ikev2.exchange_info import delete_ike_sa

    for other in _others_with(engine, sa, conn.local_id, peer):
        engine.log.log(f"{engine.prefix(other)} deleting IKE SA: peer {peer.kind_name} '{peer.text}' sent "
                       f"INITIAL_CONTACT in #{sa.serial}")
        delete_ike_sa(engine, other, notify_peer=False)


def _established(engine: Engine, sa: IkeSa, role: str) -> None:
    sa.state = IkeState.ESTABLISHED
    sa.established_at = engine.clock()
    peer = sa.peer_id
    assert peer is not None
    engine.log.log(f"{engine.prefix(sa)} {role} established IKE SA; authenticated peer using authby=secret "
                   f"and {peer.kind_name} '{peer.text}'")
    engine.event("ike-up", sa, peer.text)
    from pluto_core.ikev2.exchange_info import delete_ike_sa, schedule_ike_timers

    schedule_ike_timers(engine, sa)
    if engine.uniqueids:
        # uniqueids: a new IKE SA for the same peer ID replaces the older ones (pluto(8)).
        for other in engine.ike_sas():
            if other is not sa and other.state == IkeState.ESTABLISHED and other.peer_id == peer \
                    and other.name == sa.name:
                engine.log.log(f"{engine.prefix(other)} deleting IKE SA: replaced by #{sa.serial} (uniqueids)")
                delete_ike_sa(engine, other, notify_peer=True)


def _encapsulate(sa: IkeSa) -> bool:
    """ESP in UDP (RFC 3948) once an extension (NAT-T) found a NAT."""
    return sa.transport is not None and sa.transport.encapsulate


def _soft_volume(engine: Engine, hard: int, we_initiated: bool) -> int:
    """The soft limit for ``ipsec-max-bytes``/``-packets``, as Libreswan documents it:
    25% of the hard limit where we initiated the exchange, 50% where we responded (so
    the initiator is the one that rekeys), less up to 12% of that as fuzz."""
    if hard <= 0:
        return 0
    share = hard // 4 if we_initiated else hard // 2
    fuzz = share * 12 // 100 * int.from_bytes(engine.random(2), "big") // 65535
    return max(share - fuzz, 1)


def install_child(engine: Engine, sa: IkeSa, child: ChildSa, chosen: Chosen, role: str,
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
    prefix = _child_prefix(engine, sa, child)
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
    install = ChildInstall(
        conn=conn.name, serial=child.serial, local_addr=sa.local[0], remote_addr=sa.remote[0],
        mode=conn.mode, protocol=ESP, encr_id=encr_t.id, encr_key_bits=encr_t.key_length, integ_id=integ_id,
        esn=esn, inbound=ChildKeys(child.spi_in, *inbound_keys), outbound=ChildKeys(child.spi_out, *outbound_keys),
        local_ts=tuple(child.local_ts), remote_ts=tuple(child.remote_ts), replay_window=conn.replay_window,
        lifetime_soft=max(conn.salifetime - conn.rekeymargin, 1.0), lifetime_hard=conn.salifetime,
        reqid=conn.reqid or engine.reqid_base + child.serial * 4, priority=conn.priority,
        soft_bytes=_soft_volume(engine, conn.ipsec_max_bytes, we_initiated), hard_bytes=conn.ipsec_max_bytes,
        soft_packets=_soft_volume(engine, conn.ipsec_max_packets, we_initiated),
        hard_packets=conn.ipsec_max_packets,
        encap=(sa.local[1], sa.remote[1]) if _encapsulate(sa) else None,
    )
    try:
        engine.kernel.install_child(install)
    except KernelError as exc:
        child_failed(engine, sa, child, f"kernel refused the Child SA: {exc}", delete=True)
        return False
    child.installed = install
    child.established_at = engine.clock()
    sa.children.append(child)
    esn_text = "/ESN" if esn else ""
    mode = "tunnel" if conn.mode == "tunnel" else "transport"
    engine.log.log(f"{prefix} {role} established Child SA using #{sa.serial}; IPsec {mode} "
                   f"{ts_text(child.local_ts, child.remote_ts)} {{ESP{esn_text}=>0x{child.spi_out:08x} "
                   f"<0x{child.spi_in:08x} xfrm={_xfrm_name(encr.name, integ.name if integ else None)} "
                   f"DPD={'active' if conn.dpddelay else 'passive'}}}")
    engine.event("child-up", sa, f"0x{child.spi_out:08x}", serial=child.serial,
                 child=engine.child_info(sa, install))
    from pluto_core.ikev2.exchange_create import schedule_child_timers

    schedule_child_timers(engine, sa, child)
    return True


def _xfrm_name(encr: str, integ: str | None) -> str:
    return encr if integ is None else f"{encr}-{integ}"


def child_failed(engine: Engine, sa: IkeSa, child: ChildSa, why: str, delete: bool = False) -> None:
    engine.log.log(f"{_child_prefix(engine, sa, child)} {why}")
    engine.event("child-failed", sa, why, serial=child.serial)
    if delete and child.spi_in:
        # Tell the peer that this Child SA is gone; the IKE SA stays (issue: clean failure).
        from pluto_core.ikev2.exchange_info import send_child_delete

        send_child_delete(engine, sa, [child.spi_in])


def _fail_ike(engine: Engine, sa: IkeSa, why: str, delete: bool = False) -> None:
    from pluto_core.ikev2.exchange_info import delete_ike_sa

    engine.log.log(f"{engine.prefix(sa)} {why}")
    engine.event("ike-failed", sa, why)
    delete_ike_sa(engine, sa, notify_peer=delete, quiet=True)


def ts_text(local: list | tuple, remote: list | tuple) -> str:
    left = "+".join(str(s) for s in local)
    right = "+".join(str(s) for s in remote)
    return f"[{left}==={right}]"


def _payload_name(p: Payload) -> str:
    names = {35: "IDi", 36: "IDr", 39: "AUTH", 33: "SA", 44: "TSi", 45: "TSr", 41: "N", 37: "CERT",
             38: "CERTREQ", 47: "CP", 43: "V", 42: "D"}
    return names.get(p.payload_type, str(p.payload_type))


__all__ = ["on_auth_request", "on_auth_response", "send_auth_request", "EngineConn"]
