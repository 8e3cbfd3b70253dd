"""IKE_AUTH (RFC 7296 1.2, 2.15): identities, authentication, INITIAL_CONTACT (2.4),
uniqueids; the Child SA it carries is ``child_create``'s.

Authentication is one step per message: the signed octets are computed here, and one
``lookup`` job (the daemon runs it off its loop: a source may be a network store) finds
our credential, checks the peer's AUTH and asks the port's ``authorize`` (:func:`find`);
a signature of ours is then a crypto job of its own (:func:`sign`: the ``--nhelpers``
pool, like DH). The methods are ``auth_methods.AUTH_METHODS``; another
plugs in there without touching the exchange."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pluto_core.errors import ProtocolError
from pluto_core.ikev2.crypto import psk_auth, signed_octets
from pluto_core.ikev2.crypto import signatures as sig
from pluto_core.ikev2.enums import AuthMethod, ExchangeType, NotifyType, notify_name
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import (
    Authentication,
    Certificate,
    CertificateRequest,
    IdentificationInitiator,
    IdentificationResponder,
    Notify,
    Payload,
)
from pluto_core.ikev2.ports import Credentials
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.sa_select import select
from pluto_core.ikev2.tasks import cert_auth, child_create, config_payload, lifetimes, mobike, redirect
from pluto_core.ikev2.tasks.auth_methods import AUTH_METHODS, AuthContext, AuthFailure, Made
from pluto_core.ikev2.tasks.common import first_error, get, has_notify, ts_text
from pluto_core.ikev2.tasks.delete import delete_ike_sa, fail_ike
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.types import EngineConn, IdSpec

PAYLOAD_NAMES = {35: "IDi", 36: "IDr", 39: "AUTH", 33: "SA", 44: "TSi", 45: "TSr", 41: "N", 37: "CERT",
                 38: "CERTREQ", 47: "CP", 43: "V", 42: "D"}


def signed_data(sa: IkeSa, signer_is_initiator: bool, id_spec: IdSpec) -> bytes:
    """The octets an AUTH covers (RFC 7296 2.15): the signer's IKE_SA_INIT message, the
    other's nonce and prf(SK_p, RestOfIDPayload)."""
    suite, keys = sa.suite, sa.keys
    assert suite is not None and keys is not None
    rest_of_id = bytes((id_spec.id_type, 0, 0, 0)) + id_spec.data  # ID type, three reserved octets, data
    if signer_is_initiator:
        return signed_octets(suite.prf, sa.init_request, sa.nonce_r, keys.sk_pi, rest_of_id)
    return signed_octets(suite.prf, sa.init_response, sa.nonce_i, keys.sk_pr, rest_of_id)


def auth_value(sa: IkeSa, psk: bytes, signer_is_initiator: bool, id_spec: IdSpec) -> bytes:
    """The shared-key MIC of RFC 7296 2.15 (what a PSK peer's AUTH carries)."""
    assert sa.suite is not None
    return psk_auth(sa.suite.prf, psk, signed_data(sa, signer_is_initiator, id_spec))


def context(engine: Services, sa: IkeSa, theirs: Theirs | None) -> AuthContext:
    suite, keys = sa.suite, sa.keys
    assert suite is not None and keys is not None
    ours, other = (keys.sk_pi, keys.sk_pr) if sa.initiator else (keys.sk_pr, keys.sk_pi)
    preloaded = sa.conn is not None and sa.conn.remote_cert is not None  # rightcert=
    checks_certs = theirs is not None and (bool(theirs.certs) or preloaded)
    our_cert = sa.conn is not None and sa.conn.local_cert is not None  # leftcert=: still valid?
    now = engine.wall_clock() if engine.wall_clock is not None and (checks_certs or our_cert) else None
    return AuthContext(suite.prf, ours, other, sa.peer_hashes, theirs.certs if theirs is not None else (), now)


@dataclass(frozen=True, slots=True)
class Found:
    """What one lookup job found for an IKE_AUTH message. Secrets never reach it."""

    ours: Made | None = None  # our AUTH (None: no credential, or ``why_not`` says what failed)
    why_not: str | None = None
    how: str | None = None  # how the peer proved its ID (None: it did not, ``failure`` says why)
    failure: str | None = None
    veto: str | None = None  # why the port will not let the peer in
    certs: tuple[Certificate, ...] = ()  # our CERT payloads (RFC 7296 3.6), per sendcert= and the peer's CERTREQ
    certreq: CertificateRequest | None = None  # ours, when we ask for the peer's certificate (3.7)


@dataclass(frozen=True, slots=True)
class Mine:
    """What to make our AUTH for: the peer it is for (PSK lookups) and the octets."""

    peer: IdSpec | None
    octets: bytes
    hashes: tuple[bytes, ...] | None = None  # the CA hashes the peer's CERTREQ named (None: it sent none)
    ask: bool = False  # make our CERTREQ too (the initiator's IKE_AUTH request)


@dataclass(frozen=True, slots=True)
class Theirs:
    """The peer's AUTH to check: its claimed ID, the payload, the octets it covers."""

    peer: IdSpec
    auth: Authentication
    octets: bytes
    certs: tuple[Certificate, ...] = ()  # the CERT payloads it sent


def find(credentials: Credentials, conn: EngineConn, mine: Mine | None, theirs: Theirs | None,
         ctx: AuthContext) -> Found:
    """The lookup job: our AUTH, the check of the peer's, and the port's verdict on it."""
    ours = why_not = how = failure = veto = certreq = None
    certs: list[Certificate] = []
    if mine is not None:
        try:
            ours = AUTH_METHODS[conn.local_auth].make(credentials, conn, mine.peer, mine.octets, ctx)
            if ours is not None:
                certs = cert_auth.our_certs(credentials, conn, mine.hashes, ctx.now)
        except sig.SignatureError as exc:
            why_not = str(exc)
        except LookupError as exc:
            ours, why_not = None, str(exc)
        if mine.ask:
            certreq = cert_auth.certreq(credentials, conn)
    if theirs is not None:
        try:
            how = AUTH_METHODS[conn.remote_auth].check(credentials, conn, theirs.peer, theirs.auth, theirs.octets,
                                                      ctx)
        except AuthFailure as exc:
            failure = str(exc)
        else:
            veto = credentials.authorize(theirs.peer, conn, conn.remote_auth)
    return Found(ours, why_not, how, failure, veto, tuple(certs), certreq)


def lookup(engine: Services, sa: IkeSa, conn: EngineConn, mine: Mine | None, theirs: Theirs | None,
           then: Any) -> None:
    """``then(found)`` once the job is done; not called when the IKE SA died meanwhile,
    and a job that raised fails the IKE SA."""

    def done(result: Any) -> None:
        if sa.state == IkeState.DEAD:
            return
        if isinstance(result, Exception):
            _job_failed(engine, sa, "credential lookup", result)
            return
        ours = result.ours
        if ours is not None and ours.to_sign is not None and result.failure is None and result.veto is None:
            sign(engine, sa, result, then)  # a peer that failed is refused unsigned: no RSA for forged AUTHs
            return
        then(result)

    engine.submit_job(find, (engine.credentials, conn, mine, theirs, context(engine, sa, theirs)), done,
                      kind="lookup")


def sign(engine: Services, sa: IkeSa, found: Found, then: Any) -> None:
    """Our signature, a job of its own: a built-in key signs as a crypto job (on a
    ``--nhelpers`` process, like DH), a third-party signer on a lookup thread (its key
    need not leave it); then ``then(found)`` with our AUTH payload in."""
    assert found.ours is not None and found.ours.to_sign is not None
    made, todo = found.ours, found.ours.to_sign

    def signed(result: Any) -> None:
        if sa.state == IkeState.DEAD:
            return
        if isinstance(result, Exception):
            _job_failed(engine, sa, f"signing with {made.text}", result)
            return
        then(replace(found, ours=Made(Authentication(todo.method, result), made.text)))

    key = sig.portable(todo.signer)
    if key is not None:
        engine.submit_job(sig.sign_portable, (key, todo.method, todo.octets, todo.scheme), signed)
    else:
        engine.submit_job(sig.make_auth, (todo.signer, todo.method, todo.octets, todo.scheme), signed, kind="lookup")


def _job_failed(engine: Services, sa: IkeSa, what: str, exc: Exception) -> None:
    """A lookup or signing job raised: the peer we answer gets AUTHENTICATION_FAILED, the IKE SA fails."""
    answering, sa.working_on = sa.working_on, -1
    why = f"{what} failed: {exc.__class__.__name__}: {exc}"
    if answering >= 0:
        engine.log.log(f"{engine.prefix(sa)} {why}: sending AUTHENTICATION_FAILED")
        engine.send_response(sa, ExchangeType.IKE_AUTH, answering, [Notify(NotifyType.AUTHENTICATION_FAILED)])
    fail_ike(engine, sa, why, delete=sa.initiator and sa.state == IkeState.AUTH_SENT)


def unexpected_method(conn: EngineConn, method: int) -> str | None:
    """Why the peer's AUTH method is not one the conn takes from it (None: it is)."""
    if AUTH_METHODS[conn.remote_auth].accepts(method):
        return None
    expected = " or ".join(m.name for m in AuthMethod if AUTH_METHODS[conn.remote_auth].accepts(m))
    return f"peer authenticated with AUTH method {method_name(method)}, but the conn expects {expected} " \
           f"({conn.remote_auth})"


def method_name(method: int) -> str:
    try:
        return AuthMethod(method).name
    except ValueError:
        return str(method)


def refusal(conn: EngineConn, found: Found) -> str | None:
    """Why the peer is not let in (None: it is)."""
    text = AUTH_METHODS[conn.remote_auth].text
    if found.failure is not None:
        return f"using {text} failed: {found.failure}"
    if found.veto is not None:
        return f"using {text} was vetoed: {found.veto}"
    return None


def no_credential(conn: EngineConn, found: Found) -> str:
    text = AUTH_METHODS[conn.local_auth].text
    return f"{text}: {found.why_not}" if found.why_not else f"{text}: we hold no credential"


# ------------------------------------------------------------------ initiator


def build_i(engine: Services, sa: IkeSa) -> None:
    """Our IKE_AUTH request, with the first Child SA, once our AUTH is made."""
    conn = sa.conn
    assert conn is not None
    mine = Mine(conn.remote_id, signed_data(sa, True, conn.local_id), sa.peer_certreq, ask=True)
    lookup(engine, sa, conn, mine, None, lambda found: _send(engine, sa, conn, found))


def _send(engine: Services, sa: IkeSa, conn: EngineConn, found: Found) -> None:
    if found.ours is None:
        fail_ike(engine, sa, f"cannot authenticate {conn.local_id.text} to "
                 f"{conn.remote_id.text if conn.remote_id else '%any'}: {no_credential(conn, found)}")
        return
    child_part = child_create.build_i(engine, sa)
    if isinstance(child_part, str):
        fail_ike(engine, sa, child_part)
        return
    child, child_payloads = child_part
    sa.pending_child = child
    payloads: list[Payload] = [IdentificationInitiator(conn.local_id.id_type, conn.local_id.data), *found.certs]
    if conn.options.get("initial-contact") and not others_with(engine, sa, conn.local_id, conn.remote_id):
        # RFC 7296 2.4: this IKE SA is the only one between us: the peer may drop older state
        payloads.append(Notify(NotifyType.INITIAL_CONTACT))
    if found.certreq is not None:
        payloads.append(found.certreq)
    payloads += mobike.announce(engine, conn)  # RFC 4555 3.3
    if conn.remote_id is not None and not conn.remote_id_wildcards:  # a pattern is no ID to ask for
        payloads.append(IdentificationResponder(conn.remote_id.id_type, conn.remote_id.data))
    assert found.ours.payload is not None  # signed by now (sign)
    payloads.append(found.ours.payload)
    if config_payload.asks(conn.options):  # RFC 7296 2.19: ask for an address (and DNS)
        payloads.append(config_payload.request(tuple(sorted({s.version for s in conn.local_ts})) or (4,)))
    payloads += child_payloads
    sa.to(IkeState.AUTH_SENT)
    engine.send_request(sa, ExchangeType.IKE_AUTH, payloads)
    engine.log.log(f"{engine.prefix(sa)} sent IKE_AUTH request to {engine.peer_text(sa)} with {found.ours.text} "
                   f"and {conn.local_id.kind_name} '{conn.local_id.text}'; Child SA #{child.serial} "
                   f"{{ESP <0x{child.spi_in:08x}}} {ts_text(child.local_ts, child.remote_ts)}")


def process_i(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    conn = sa.conn
    assert conn is not None
    names = ",".join(PAYLOAD_NAMES.get(p.payload_type, str(p.payload_type)) for p in payloads)
    engine.log.log(f"{engine.prefix(sa)} processing IKE_AUTH response from {engine.peer_text(sa)} "
                   f"containing SK{{{names}}}")
    idr = get(payloads, IdentificationResponder)
    auth = get(payloads, Authentication)
    if idr is None or auth is None:
        error = first_error(payloads)
        why = notify_name(error) if error is not None else "no IDr or AUTH payload"
        fail_ike(engine, sa, f"IKE SA authentication request rejected by peer: {why}")
        return
    peer = IdSpec.from_wire(idr.id_type, idr.data)
    if conn.remote_id is not None and not cert_auth.id_accepted(conn, peer):
        fail_ike(engine, sa, f"peer ID {peer.kind_name} '{peer.text}' is not the expected "
                 f"'{conn.remote_id.text}': authentication failed", delete=True)
        return
    wrong_method = unexpected_method(conn, auth.method)
    if wrong_method is not None:
        fail_ike(engine, sa, f"{wrong_method}: AUTHENTICATION_FAILED", delete=True)
        return
    theirs = Theirs(peer, auth, signed_data(sa, False, peer), _certs(payloads))
    lookup(engine, sa, conn, None, theirs, lambda found: _authenticated_i(engine, sa, conn, peer, payloads, found))


def _authenticated_i(engine: Services, sa: IkeSa, conn: EngineConn, peer: IdSpec, payloads: list[Payload],
                     found: Found) -> None:
    why = refusal(conn, found)
    if why is not None:
        fail_ike(engine, sa, f"authentication of peer {peer.kind_name} '{peer.text}' {why}: "
                 "AUTHENTICATION_FAILED", delete=True)
        return
    sa.peer_id = peer
    if redirect.auth_response(engine, sa, payloads):  # RFC 5685 6: on to another gateway
        return
    initial_contact(engine, sa, payloads)
    mobike.agreed(engine, sa, payloads)
    established(engine, sa, "initiator", found.how)
    child, sa.pending_child = sa.pending_child, None
    config_payload.process_i(engine, sa, child.serial if child is not None else sa.serial, payloads)
    if child is not None:
        child_create.process_i(engine, sa, child, payloads)


# ------------------------------------------------------------------ responder


def process_r(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    assert sa.conn is not None
    idi = get(payloads, IdentificationInitiator)
    auth = get(payloads, Authentication)
    if idi is None or auth is None:
        engine.log.log(f"{engine.prefix(sa)} IKE_AUTH request lacks IDi or AUTH: INVALID_SYNTAX")
        engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id, [Notify(NotifyType.INVALID_SYNTAX)])
        fail_ike(engine, sa, "IKE_AUTH request was malformed", delete=False)
        return
    peer = IdSpec.from_wire(idi.id_type, idi.data)
    better = refine(engine, sa, peer, auth.method)
    if better is not None:
        engine.log.log(f"{engine.prefix(sa)} switched from \"{sa.name}\" to \"{better.name}\" for "
                       f"{peer.kind_name} '{peer.text}'")
        engine.switch_conn(sa, engine.instantiate(better, sa.remote[0]) if better.remote_addr is None else better)
    conn = sa.conn
    wrong_method = unexpected_method(conn, auth.method)
    if wrong_method is not None:
        engine.log.log(f"{engine.prefix(sa)} {wrong_method}: sending AUTHENTICATION_FAILED")
        engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id,
                             [Notify(NotifyType.AUTHENTICATION_FAILED)])
        fail_ike(engine, sa, "IKE SA authentication failed", delete=False)
        return
    if conn.remote_id is not None and not cert_auth.id_accepted(conn, peer):
        _refuse_r(engine, sa, msg.message_id, peer, f"using {AUTH_METHODS[conn.remote_auth].text} failed: "
                  f"the conn expects {conn.remote_id.kind_name} '{conn.remote_id.text}'")
        return
    sa.working_on = msg.message_id  # answered once the lookup job is done
    mine = Mine(peer, signed_data(sa, False, conn.local_id), cert_auth.received_certreq(payloads))
    theirs = Theirs(peer, auth, signed_data(sa, True, peer), _certs(payloads))
    lookup(engine, sa, conn, mine, theirs,
           lambda found: _authenticated_r(engine, sa, conn, msg.message_id, peer, payloads, found))


def refine(engine: Services, sa: IkeSa, peer: IdSpec, method: int) -> EngineConn | None:
    """The conn that fits the peer's IDi best, when it is not the one IKE_SA_INIT picked by
    addresses (None: keep it). As Libreswan's switch at IKE_AUTH: among the conns for these
    addresses whose peer may use this AUTH method, one naming this exact ID beats a DN
    pattern, which beats any ID; a conn for this peer's address beats a %any one; ties keep
    the current conn, then the order conns were added."""
    current = sa.conn
    assert current is not None

    template = engine.conns.get(current.name, current) if current.instance else current

    def rank(conn: EngineConn) -> tuple[int, int, int] | None:
        if conn.local_addr != sa.local[0] or conn.remote_addr not in (None, sa.remote[0]):
            return None
        if not AUTH_METHODS[conn.remote_auth].accepts(method):
            return None
        if conn is not template and not _takes(conn, sa):
            return None
        if conn.remote_id is None:
            fit = 1
        elif cert_auth.id_accepted(conn, peer):
            fit = 2 if conn.remote_id_wildcards else 3
        else:
            return None
        return fit, conn.remote_addr is not None, conn.name == current.name

    best, best_rank = None, rank(template) or (0, 0, 0)
    for conn in engine.conns.values():
        ranked = rank(conn)
        if ranked is not None and ranked > best_rank:
            best, best_rank = conn, ranked
    if best is None or best.name == current.name:
        return None
    return best


def _takes(conn: EngineConn, sa: IkeSa) -> bool:
    """Would ``conn``'s ike= have chosen the IKE SA's proposal (agreed at IKE_SA_INIT)?"""
    try:
        return select(conn.ike_proposals, list(sa.ike_proposals)) is not None
    except ProtocolError:
        return False


def _certs(payloads: list[Payload]) -> tuple[Certificate, ...]:
    return tuple(p for p in payloads if isinstance(p, Certificate))


def _refuse_r(engine: Services, sa: IkeSa, message_id: int, peer: IdSpec, why: str) -> None:
    sa.working_on = -1
    engine.log.log(f"{engine.prefix(sa)} authentication of peer {peer.kind_name} '{peer.text}' {why}: "
                   "sending AUTHENTICATION_FAILED")
    engine.send_response(sa, ExchangeType.IKE_AUTH, message_id, [Notify(NotifyType.AUTHENTICATION_FAILED)])
    fail_ike(engine, sa, "IKE SA authentication failed", delete=False)


def _authenticated_r(engine: Services, sa: IkeSa, conn: EngineConn, message_id: int, peer: IdSpec,
                     payloads: list[Payload], found: Found) -> None:
    why = refusal(conn, found)
    if why is None and found.ours is None:
        why = f"could not be answered: {no_credential(conn, found)}"
    if why is not None:
        _refuse_r(engine, sa, message_id, peer, why)
        return
    assert found.ours is not None and found.ours.payload is not None
    sa.working_on = -1
    sa.peer_id = peer
    engine.half_open.pop((sa.spi_i, sa.remote[0], sa.remote[1]), None)
    initial_contact(engine, sa, payloads)
    reply: list[Payload] = [IdentificationResponder(conn.local_id.id_type, conn.local_id.data), *found.certs,
                            found.ours.payload]
    if mobike.agreed(engine, sa, payloads):  # RFC 4555 3.3: answered only to an initiator that offered it
        reply.append(Notify(NotifyType.MOBIKE_SUPPORTED))
    established(engine, sa, "responder", found.how)
    sent_on = redirect.auth_redirect(engine, sa)
    if sent_on is not None:  # RFC 5685 6: no Child SA here; the client deletes this IKE SA
        engine.send_response(sa, ExchangeType.IKE_AUTH, message_id, [*reply, sent_on])
        return
    cp_reply, no_address = config_payload.process_r(engine, sa, payloads)
    reply += cp_reply
    child, chosen = None, None
    if no_address is not None:
        # RFC 7296 3.10.1: the IKE SA stands, but no Child SA is made
        engine.log.log(f"{engine.prefix(sa)} {no_address}: sending INTERNAL_ADDRESS_FAILURE")
        engine.event("child-failed", sa, "INTERNAL_ADDRESS_FAILURE")
        reply.append(Notify(NotifyType.INTERNAL_ADDRESS_FAILURE))
    else:
        child, chosen, child_reply = child_create.process_r(engine, sa, payloads)
        reply += child_reply
    engine.send_response(sa, ExchangeType.IKE_AUTH, message_id, reply)
    if child is not None and chosen is not None:
        child_create.install(engine, sa, child, chosen, "responder")


# ------------------------------------------------------------------ both


def others_with(engine: Services, sa: IkeSa, local: IdSpec, peer: IdSpec | None) -> list[IkeSa]:
    """Our other established IKE SAs between ``local`` and ``peer`` (any peer when None)."""
    return [other for other in engine.ike_sas()
            if other is not sa and other.state == IkeState.ESTABLISHED and other.conn is not None
            and other.conn.local_id == local and (peer is None or other.peer_id == peer)]


def initial_contact(engine: Services, sa: IkeSa, payloads: list[Payload]) -> None:
    """An authenticated INITIAL_CONTACT (RFC 7296 2.4): the peer holds no other IKE SA
    with us, so ours between the same identities are stale (it restarted): remove
    them and their Child SAs without a Delete, which the peer could not read."""
    if not has_notify(payloads, NotifyType.INITIAL_CONTACT):
        return
    conn, peer = sa.conn, sa.peer_id
    assert conn is not None and peer is not None
    for other in others_with(engine, sa, conn.local_id, peer):
        engine.log.log(f"{engine.prefix(other)} deleting IKE SA: peer {peer.kind_name} '{peer.text}' sent "
                       f"INITIAL_CONTACT in #{sa.serial}")
        delete_ike_sa(engine, other, notify_peer=False)


def established(engine: Services, sa: IkeSa, role: str, how: str | None) -> None:
    sa.to(IkeState.ESTABLISHED)
    sa.established_at = engine.clock()
    peer = sa.peer_id
    assert peer is not None
    # as Libreswan words it: "authby=secret and FQDN '@east'", or for a raw key "preloaded
    # certificate '@east' and 3072-bit RSASSA-PSS with SHA2_512 digital signature"
    proof = f"{how} and {peer.kind_name} '{peer.text}'" if how and how.startswith("authby=") else how
    # a certificate reads as Libreswan's "authenticated peer certificate 'DN' and ... issued by 'CA'"
    using = "" if proof and proof.startswith("certificate ") else "using "
    sa.peer_auth = proof
    engine.log.log(f"{engine.prefix(sa)} {role} established IKE SA; authenticated peer {using}{proof}")
    engine.event("ike-up", sa, peer.text)
    lifetimes.schedule_ike(engine, sa)
    if engine.uniqueids:
        # uniqueids: a new IKE SA for the same peer ID replaces the older ones (pluto(8)).
        for other in engine.ike_sas():
            if other is not sa and other.state == IkeState.ESTABLISHED and other.peer_id == peer \
                    and other.name == sa.name:
                engine.log.log(f"{engine.prefix(other)} deleting IKE SA: replaced by #{sa.serial} (uniqueids)")
                delete_ike_sa(engine, other, notify_peer=True)
