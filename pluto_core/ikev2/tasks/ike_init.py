"""IKE_SA_INIT (RFC 7296 1.2): proposal and group, nonces, cookies.

Initiator: ``build_i`` then ``process_i``, which goes on to IKE_AUTH. Responder:
``process_r``, which keeps no state until a demanded cookie checks out (2.6) and
answers INVALID_KE_PAYLOAD / NO_PROPOSAL_CHOSEN statelessly.
"""

from __future__ import annotations

from typing import Any

from pluto_core.errors import ProtocolError
from pluto_core.ikev2.crypto import UnsupportedTransform, compute_shared, sk_contexts
from pluto_core.ikev2.crypto import signatures as sig
from pluto_core.ikev2.endpoint import udp_endpoint
from pluto_core.ikev2.enums import ExchangeType, NotifyType, ProtocolId, TransformType, notify_name
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import KeyExchange, Nonce, Notify, Payload, Proposal, SecurityAssociation
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.sa_select import accept_reply, select
from pluto_core.ikev2.tasks import cert_auth, ike_auth, redirect
from pluto_core.ikev2.tasks.auth_methods import is_signature
from pluto_core.ikev2.tasks.common import NONCE_SIZE, dh_name, groups, keypair_job, new_spi, suite_of, suite_text
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.timers import HALF_OPEN
from pluto_core.ikev2.types import EngineConn

# ------------------------------------------------------------------ initiator


def build_i(engine: Services, conn: EngineConn, redirected_from: str = "") -> int:
    """A new IKE SA for ``conn``: its key pair (a crypto job), then the request. The serial.
    ``redirected_from``: the gateway that sent us to this one (RFC 5685 3)."""
    if conn.remote_addr is None:
        raise ValueError(f"\"{conn.name}\": cannot initiate to %any")
    sa = IkeSa(engine.next_serial(), conn, True, (conn.local_addr, conn.port), (conn.remote_addr, conn.port),
               new_spi(engine.random))
    sa.ike_proposals = conn.ike_proposals
    ours = groups(conn.ike_proposals)
    if not ours:
        raise ValueError(f"\"{conn.name}\": no key exchange group in the IKE proposals")
    sa.ke_group = ours[0]
    sa.nonce_i = engine.random(NONCE_SIZE)
    sa.redirected_from = redirected_from
    sa.first_initiator = True  # RFC 5685's client, RFC 4555's initiator: of this IKE SA and its rekeys
    engine.register(sa)
    engine.log.log(f"{engine.prefix(sa)} initiating IKEv2 connection to {conn.remote_addr} using UDP")
    _new_keypair_then_send(engine, sa)
    return sa.serial


def _new_keypair_then_send(engine: Services, sa: IkeSa) -> None:
    fn, args = keypair_job(engine.random, sa.ke_group)

    def done(result: Any) -> None:
        if sa.state == IkeState.DEAD:
            return
        if isinstance(result, Exception):
            fail(engine, sa, f"key exchange failed: {result}")
            return
        sa.dh_private = result
        _send_request(engine, sa)

    engine.submit_job(fn, args, done)


def _send_request(engine: Services, sa: IkeSa) -> None:
    payloads: list[Payload] = []
    if sa.cookie:
        payloads.append(Notify(NotifyType.COOKIE, sa.cookie))  # must come first (RFC 7296 2.6)
    payloads += [SecurityAssociation(list(sa.ike_proposals)),
                 KeyExchange(sa.ke_group, sa.dh_private.public_bytes), Nonce(sa.nonce_i)]
    assert sa.conn is not None
    if uses_signatures(sa.conn):
        payloads.append(hash_notify())
    announced = redirect.announce(sa)  # RFC 5685 3
    if announced is not None:
        payloads.append(announced)
    sa.next_request_id = 0
    engine.send_request(sa, ExchangeType.IKE_SA_INIT, payloads, plain=True)
    assert isinstance(sa.last_request, bytes)  # IKE_SA_INIT is never fragmented (RFC 7383 2.5)
    sa.init_request = sa.last_request
    engine.log.log(f"{engine.prefix(sa)} sent IKE_SA_INIT request to {engine.peer_text(sa)}")


def uses_signatures(conn: EngineConn) -> bool:
    return any(is_signature(method) for method in (conn.local_auth, conn.remote_auth))


def hash_notify() -> Notify:
    """SIGNATURE_HASH_ALGORITHMS with the hashes we take (RFC 7427 4, RFC 8420 for EdDSA)."""
    return Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, sig.encode_hash_algorithms(sig.announced_hashes()))


def peer_hashes(payloads: list[Payload]) -> tuple[int, ...] | None:
    """The hashes the peer announced; None without the notify (a bad one counts as empty)."""
    for p in payloads:
        if isinstance(p, Notify) and p.type == NotifyType.SIGNATURE_HASH_ALGORITHMS:
            try:
                return sig.decode_hash_algorithms(p.data)
            except sig.SignatureError:
                return ()
    return None


def fail(engine: Services, sa: IkeSa, why: str) -> None:
    """The IKE SA never got its keys: forget it (``ike-failed``)."""
    engine.log.log(f"{engine.prefix(sa)} {why}")
    engine.event("ike-failed", sa, why)
    engine.forget(sa)


def process_i(engine: Services, sa: IkeSa, msg: Message, data: bytes) -> None:
    payloads = msg.payloads
    notifies = {p.type: p for p in payloads if isinstance(p, Notify)}
    if NotifyType.REDIRECT in notifies:  # RFC 5685 3: go to another gateway
        redirect.init_response(engine, sa, notifies[NotifyType.REDIRECT])
        return
    if NotifyType.COOKIE in notifies:
        if len(notifies[NotifyType.COOKIE].data) > 64 or not notifies[NotifyType.COOKIE].data:
            engine.log.log(f"{engine.prefix(sa)} bad COOKIE notify from {engine.peer_text(sa)}: ignored")
            return
        if sa.cookie:
            if sa.cookie == notifies[NotifyType.COOKIE].data:
                return  # a retransmitted cookie answer
        sa.cookie = notifies[NotifyType.COOKIE].data
        engine.log.log(f"{engine.prefix(sa)} received anti-DDOS COOKIE response, resending IKE_SA_INIT "
                       "request with COOKIE")
        sa.last_request = b""
        _send_request(engine, sa)
        return
    if NotifyType.INVALID_KE_PAYLOAD in notifies:
        try:
            group = notifies[NotifyType.INVALID_KE_PAYLOAD].ke_group
        except ProtocolError:
            group = -1
        if group == sa.ke_group or group not in groups(sa.ike_proposals):
            fail(engine, sa, f"IKE_SA_INIT response asks for key exchange group {group}, "
                 "which we did not propose: giving up")
            return
        engine.log.log(f"{engine.prefix(sa)} received INVALID_KE_PAYLOAD response suggesting "
                       f"{dh_name(group)}; resending IKE_SA_INIT request with {dh_name(group)}")
        sa.ke_group = group
        sa.last_request = b""
        _new_keypair_then_send(engine, sa)
        return
    errors = [t for t in notifies if t < 16384]
    if errors:
        fail(engine, sa, f"IKE_SA_INIT request rejected by peer: {notify_name(errors[0])}")
        return
    sa_payload = msg.get(SecurityAssociation)
    ke = msg.get(KeyExchange)
    nonce = msg.get(Nonce)
    if sa_payload is None or ke is None or nonce is None or msg.spi_r == bytes(8):
        engine.log.log(f"{engine.prefix(sa)} IKE_SA_INIT response from {engine.peer_text(sa)} lacks "
                       "SA, KE or Nonce: dropped")
        return
    try:
        chosen = accept_reply(sa.ike_proposals, sa_payload.proposals)
    except ProtocolError as exc:
        engine.log.log(f"{engine.prefix(sa)} IKE_SA_INIT response: {exc}: dropped")
        return
    if chosen is None or chosen.id_of(TransformType.KE) != sa.ke_group or ke.group != sa.ke_group:
        fail(engine, sa, "IKE_SA_INIT response chose a proposal we did not offer: giving up")
        return
    if not 16 <= len(nonce.data) <= 256:
        fail(engine, sa, f"IKE_SA_INIT response has a {len(nonce.data)}-byte nonce: giving up")
        return
    try:
        sa.suite = suite_of(chosen)
    except UnsupportedTransform as exc:
        fail(engine, sa, f"IKE_SA_INIT response: {exc}")
        return
    sa.last_request = b""
    sa.peer_hashes = peer_hashes(payloads)
    sa.peer_certreq = cert_auth.received_certreq(payloads)
    sa.init_response = data  # RealMessage2: the responder's AUTH signs it (RFC 7296 2.15)
    sa.nonce_r = nonce.data
    sa.spi_r = msg.spi_r
    peer_public = ke.data

    def done(result: Any) -> None:
        if sa.state == IkeState.DEAD:
            return
        if isinstance(result, Exception):
            fail(engine, sa, f"key exchange with the responder's KE failed: {result}")
            return
        derive_keys(sa, result)
        engine.log.log(f"{engine.prefix(sa)} processed IKE_SA_INIT response from {engine.peer_text(sa)} "
                       f"{suite_text(sa)}, initiating IKE_AUTH")
        ike_auth.build_i(engine, sa)

    engine.submit_job(compute_shared, (sa.ke_group, sa.dh_private, peer_public), done)


def derive_keys(sa: IkeSa, g_ir: bytes) -> None:
    assert sa.suite is not None
    _seed, sa.keys = sa.suite.ike_sa_keys(sa.nonce_i, sa.nonce_r, g_ir, sa.spi_i, sa.spi_r)
    sa.sk_out, sa.sk_in = sk_contexts(sa.suite, sa.keys, sa.initiator)
    sa.dh_private = None  # forget the private value as soon as it served (RFC 7296 2.12)


# ------------------------------------------------------------------ responder


def process_r(engine: Services, msg: Message, data: bytes, local: tuple[str, int],
              remote: tuple[str, int]) -> None:
    peer = udp_endpoint(*remote)
    if msg.message_id != 0 or msg.spi_r != bytes(8) or msg.is_response or not msg.is_initiator:
        engine.log.log(f"IKE_SA_INIT request from {peer} has a bad header: dropped")
        return
    key = (msg.spi_i, remote[0], remote[1])
    known = engine.half_open.get(key)
    if known is not None:
        if known.init_request == data and known.init_response:
            engine.transmit(known, known.init_response)  # a retransmitted request
        return
    nonce = msg.get(Nonce)
    sa_payload = msg.get(SecurityAssociation)
    ke = msg.get(KeyExchange)
    if nonce is None or sa_payload is None or ke is None:
        engine.log.log(f"IKE_SA_INIT request from {peer} lacks SA, KE or Nonce: dropped")
        return
    if not 16 <= len(nonce.data) <= 256:
        engine.log.log(f"IKE_SA_INIT request from {peer} has a {len(nonce.data)}-byte nonce: dropped")
        return
    if redirect.init_request(engine, msg, local, remote, nonce.data):  # global-redirect= (RFC 5685 3)
        return
    ddos = engine.ddos
    if ddos.busy(len(engine.half_open)):
        expected = engine.cookie_for(msg.spi_i, nonce.data, remote)
        first = msg.payloads[0] if msg.payloads else None
        if not (isinstance(first, Notify) and first.type == NotifyType.COOKIE and first.data == expected):
            engine.log.debug(f"IKE_SA_INIT request from {peer}: demanding a COOKIE")
            engine.reply_stateless(msg, local, remote, Notify(NotifyType.COOKIE, expected))
            return
    if len(engine.half_open) >= ddos.max_halfopen:
        if not ddos.full:  # once, not per packet of a flood
            ddos.full = True
            engine.log.log(f"dropping IKE_SA_INIT request from {peer}: {len(engine.half_open)} half-open IKE SAs "
                           f"reach max-halfopen-ike={ddos.max_halfopen}; dropping new requests until "
                           "some complete or time out")
        return
    ddos.full = False
    conn = find_conn(engine, local, remote)
    if conn is None:
        engine.log.log(f"IKE_SA_INIT request from {peer}: no connection for {local[0]} and {remote[0]}: "
                       "NO_PROPOSAL_CHOSEN")
        engine.reply_stateless(msg, local, remote, Notify(NotifyType.NO_PROPOSAL_CHOSEN))
        return
    try:
        chosen = select(conn.ike_proposals, sa_payload.proposals)
    except ProtocolError as exc:
        engine.log.log(f"\"{conn.name}\": IKE_SA_INIT request from {peer}: {exc}: dropped")
        return
    if chosen is None:
        engine.log.log(f"\"{conn.name}\": IKE_SA_INIT request from {peer}: no proposal chosen: "
                       "NO_PROPOSAL_CHOSEN")
        engine.reply_stateless(msg, local, remote, Notify(NotifyType.NO_PROPOSAL_CHOSEN))
        return
    group = chosen.id_of(TransformType.KE) or 0
    if ke.group != group:
        # RFC 7296 1.2 / 3.10.1: tell the initiator which group we chose; keep no state.
        engine.log.log(f"\"{conn.name}\": IKE_SA_INIT request from {peer} has KE {dh_name(ke.group)}, "
                       f"we chose {dh_name(group)}: INVALID_KE_PAYLOAD")
        engine.reply_stateless(msg, local, remote, Notify.for_invalid_ke(group))
        return
    try:
        suite = suite_of(chosen)
    except UnsupportedTransform as exc:
        engine.log.log(f"\"{conn.name}\": IKE_SA_INIT request from {peer}: {exc}: NO_PROPOSAL_CHOSEN")
        engine.reply_stateless(msg, local, remote, Notify(NotifyType.NO_PROPOSAL_CHOSEN))
        return
    if conn.remote_addr is None:  # a template (right=%any): this peer gets an instance of its own
        conn = engine.instantiate(conn, remote[0])
    sa = IkeSa(engine.next_serial(), conn, False, local, remote, msg.spi_i, new_spi(engine.random),
               state=IkeState.INIT_DONE)
    sa.suite, sa.ke_group = suite, group
    sa.nonce_i, sa.nonce_r = nonce.data, engine.random(NONCE_SIZE)
    sa.init_request = data
    sa.expected_request_id = 0
    sa.last_contact = engine.clock()
    engine.register(sa)
    engine.half_open[key] = sa
    engine.schedule(sa, conn.retransmit_timeout, HALF_OPEN)
    engine.extensions_read(sa, msg, msg.payloads)
    sa.peer_hashes = peer_hashes(msg.payloads)
    sa.redirect_supported = redirect.supported(msg.payloads)
    redirect.log_redirected_from(engine, sa, msg.payloads, peer)
    chosen_proposal = Proposal(chosen.proposal.num, ProtocolId.IKE, b"", chosen.proposal.transforms)
    sa.ike_proposals = (chosen_proposal,)  # what was agreed: a conn switched to at IKE_AUTH must take it too
    fn, args = keypair_job(engine.random, group)
    peer_public = ke.data

    def have_keypair(pair: Any) -> None:
        if sa.state == IkeState.DEAD:
            return
        if isinstance(pair, Exception):
            fail(engine, sa, f"key exchange failed: {pair}")
            return

        def have_shared(g_ir: Any) -> None:
            if sa.state == IkeState.DEAD:
                return
            if isinstance(g_ir, Exception):
                engine.log.log(f"{engine.prefix(sa)} IKE_SA_INIT request from {peer}: {g_ir}: "
                               "INVALID_SYNTAX")
                engine.reply_stateless(msg, local, remote, Notify(NotifyType.INVALID_SYNTAX))
                engine.forget(sa)
                return
            derive_keys(sa, g_ir)
            payloads = [SecurityAssociation([chosen_proposal]), KeyExchange(group, pair.public_bytes),
                        Nonce(sa.nonce_r)]
            if sa.peer_hashes is not None:  # RFC 7427 4: answer the initiator's announcement
                payloads.append(hash_notify())
            if sa.conn is not None:
                request = cert_auth.certreq(engine.credentials, sa.conn)  # RFC 7296 3.7: the CAs we trust
                if request is not None:
                    payloads.append(request)
            response = engine.send_response(sa, ExchangeType.IKE_SA_INIT, 0, payloads, plain=True)
            assert isinstance(response, bytes)  # IKE_SA_INIT is never fragmented (RFC 7383 2.5)
            sa.init_response = response
            engine.log.log(f"{engine.prefix(sa)} responder sent IKE_SA_INIT response to {peer} "
                           f"{suite_text(sa)}")

        engine.submit_job(compute_shared, (group, pair, peer_public), have_shared)

    engine.submit_job(fn, args, have_keypair)


def half_open_expired(engine: Services, sa: IkeSa, now: float) -> None:
    """A responder's IKE SA that never saw IKE_AUTH within retransmit-timeout."""
    if sa.state == IkeState.INIT_DONE:
        engine.log.log(f"{engine.prefix(sa)} half-open IKE SA timed out: deleted")
        engine.forget(sa)


def find_conn(engine: Services, local: tuple[str, int], remote: tuple[str, int]) -> EngineConn | None:
    """The first conn for these addresses; a conn with a specific peer beats one for %any."""
    wildcard = None
    for conn in engine.conns.values():
        if conn.local_addr != local[0]:
            continue
        if conn.remote_addr == remote[0]:
            return conn
        if conn.remote_addr is None and wildcard is None:
            wildcard = conn
    return wildcard
