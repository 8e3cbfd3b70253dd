"""IKE_AUTH (RFC 7296 1.2, 2.15): identities, authentication, INITIAL_CONTACT (2.4),
uniqueids; the Child SA it carries is ``child_create``'s.

Authentication is one step, :class:`Authenticator`: it says which credentials it
needs, the engine fetches them from the credentials port in one ``lookup`` job per
message (the daemon runs it off its loop: a source may be a network store), and
then ``sign`` makes our AUTH payload and ``verify`` checks the peer's. The port's
``authorize`` has the last word on a peer that verified. PSK (``authby=secret``) is
the method there is; another plugs in through ``AUTH_METHODS`` without touching
the exchange."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, Protocol

from pluto_core.ikev2.crypto import psk_auth, signed_octets
from pluto_core.ikev2.enums import AuthMethod, ExchangeType, NotifyType, notify_name
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import (
    Authentication,
    IdentificationInitiator,
    IdentificationResponder,
    Notify,
    Payload,
)
from pluto_core.ikev2.ports import Credentials
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.tasks import child_create, lifetimes
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
    """The shared-key MIC of RFC 7296 2.15."""
    assert sa.suite is not None
    return psk_auth(sa.suite.prf, psk, signed_data(sa, signer_is_initiator, id_spec))


class Authenticator(Protocol):
    method: AuthMethod
    text: str  # as the log lines name it ("authby=secret")

    def signing_credential(self, credentials: Credentials, conn: EngineConn, peer: IdSpec | None) -> Any:
        """What ``sign`` needs, from the port (in a lookup job); None: we hold none."""
        ...

    def verifying_credential(self, credentials: Credentials, conn: EngineConn, peer: IdSpec) -> Any:
        """What ``verify`` needs to check ``peer`` (in a lookup job); None: none is known."""
        ...

    def sign(self, sa: IkeSa, conn: EngineConn, credential: Any) -> Authentication:
        ...

    def verify(self, sa: IkeSa, peer: IdSpec, auth: Authentication, credential: Any) -> bool:
        ...


class PskAuth:
    """authby=secret: the PSK for the two IDs (RFC 7296 2.15)."""

    method = AuthMethod.SHARED_KEY_MIC
    text = "authby=secret"

    def signing_credential(self, credentials: Credentials, conn: EngineConn, peer: IdSpec | None) -> Any:
        return credentials.psk(conn.local_id, peer, conn)

    def verifying_credential(self, credentials: Credentials, conn: EngineConn, peer: IdSpec) -> Any:
        return credentials.psk(conn.local_id, peer, conn)

    def sign(self, sa: IkeSa, conn: EngineConn, credential: Any) -> Authentication:
        return Authentication(self.method, auth_value(sa, credential, sa.initiator, conn.local_id))

    def verify(self, sa: IkeSa, peer: IdSpec, auth: Authentication, credential: Any) -> bool:
        return hmac.compare_digest(auth.data, auth_value(sa, credential, not sa.initiator, peer))


# leftauth=/rightauth= (EngineConn.local_auth/remote_auth): the methods the engine can
# compute and check (RFC 7296 3.8)
AUTH_METHODS: dict[str, Authenticator] = {"secret": PskAuth()}


@dataclass(frozen=True, slots=True)
class Found:
    """What one lookup job found for an IKE_AUTH message. Secrets stay out of reprs."""

    ours: Any = field(default=None, repr=False)  # for our AUTH (None: no credential)
    theirs: Any = field(default=None, repr=False)  # to check the peer's AUTH
    veto: str | None = None  # why the port will not let the peer in


def find(credentials: Credentials, conn: EngineConn, sign_for: IdSpec | None, sign: bool,
         peer: IdSpec | None) -> Found:
    """The lookup job: our signing credential (when ``sign``: ``sign_for`` is the peer
    it is made for), and for a claimed ``peer`` the credential to check it and the
    authorization verdict. Runs wherever the host runs lookups."""
    ours = AUTH_METHODS[conn.local_auth].signing_credential(credentials, conn, sign_for) if sign else None
    if peer is None:
        return Found(ours)
    theirs = AUTH_METHODS[conn.remote_auth].verifying_credential(credentials, conn, peer)
    veto = credentials.authorize(peer, conn, conn.remote_auth) if theirs is not None else None
    return Found(ours, theirs, veto)


def lookup(engine: Services, sa: IkeSa, conn: EngineConn, sign_for: IdSpec | None, sign: bool,
           peer: IdSpec | None, then: Any) -> None:
    """``then(found)`` once the credentials port answered; ``then`` is not called when
    the IKE SA died meanwhile, and a failed lookup fails the IKE SA."""

    def done(result: Any) -> None:
        if sa.state == IkeState.DEAD:
            return
        if isinstance(result, Exception):
            sa.working_on = -1
            why = f"credential lookup failed: {result.__class__.__name__}: {result}"
            if not sa.initiator and sa.state == IkeState.INIT_DONE:
                engine.log.log(f"{engine.prefix(sa)} {why}: sending AUTHENTICATION_FAILED")
                engine.send_response(sa, ExchangeType.IKE_AUTH, engine_expected(sa),
                                     [Notify(NotifyType.AUTHENTICATION_FAILED)])
            fail_ike(engine, sa, why, delete=sa.initiator and sa.state == IkeState.AUTH_SENT)
            return
        then(result)

    engine.submit_job(find, (engine.credentials, conn, sign_for, sign, peer), done, kind="lookup")


def engine_expected(sa: IkeSa) -> int:
    """The message ID of the request being answered."""
    return sa.working_on if sa.working_on >= 0 else sa.expected_request_id


def unexpected_method(conn: EngineConn, method: int) -> str | None:
    """Why the peer's AUTH method is not the one the conn expects of it (None: it is)."""
    expected = AUTH_METHODS[conn.remote_auth].method
    if method == expected:
        return None
    try:
        name = AuthMethod(method).name
    except ValueError:
        name = str(method)
    return f"peer authenticated with AUTH method {name}, but the conn expects {expected.name} ({conn.remote_auth})"


# ------------------------------------------------------------------ initiator


def build_i(engine: Services, sa: IkeSa) -> None:
    """Our IKE_AUTH request, with the first Child SA, once our credential is found."""
    conn = sa.conn
    assert conn is not None
    lookup(engine, sa, conn, conn.remote_id, True, None, lambda found: _send(engine, sa, conn, found))


def _send(engine: Services, sa: IkeSa, conn: EngineConn, found: Found) -> None:
    if found.ours is None:
        fail_ike(engine, sa, f"no PSK found for {conn.local_id.text} and "
                 f"{conn.remote_id.text if conn.remote_id else '%any'}: cannot authenticate")
        return
    auth = AUTH_METHODS[conn.local_auth].sign(sa, conn, found.ours)
    child_part = child_create.build_i(engine, sa)
    if isinstance(child_part, str):
        fail_ike(engine, sa, child_part)
        return
    child, child_payloads = child_part
    sa.pending_child = child
    payloads: list[Payload] = [IdentificationInitiator(conn.local_id.id_type, conn.local_id.data)]
    if conn.options.get("initial-contact") and not others_with(engine, sa, conn.local_id, conn.remote_id):
        # RFC 7296 2.4: this IKE SA is the only one between us: the peer may drop older state
        payloads.append(Notify(NotifyType.INITIAL_CONTACT))
    if conn.remote_id is not None:
        payloads.append(IdentificationResponder(conn.remote_id.id_type, conn.remote_id.data))
    payloads.append(auth)
    payloads += child_payloads
    sa.to(IkeState.AUTH_SENT)
    engine.send_request(sa, ExchangeType.IKE_AUTH, payloads)
    engine.log.log(f"{engine.prefix(sa)} sent IKE_AUTH request to {engine.peer_text(sa)} with shared-key-mac "
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
    if conn.remote_id is not None and (peer.id_type, peer.data) != (conn.remote_id.id_type, conn.remote_id.data):
        fail_ike(engine, sa, f"peer ID {peer.kind_name} '{peer.text}' is not the expected "
                 f"'{conn.remote_id.text}': authentication failed", delete=True)
        return
    wrong_method = unexpected_method(conn, auth.method)
    if wrong_method is not None:
        fail_ike(engine, sa, f"{wrong_method}: AUTHENTICATION_FAILED", delete=True)
        return
    lookup(engine, sa, conn, None, False, peer,
           lambda found: _authenticated_i(engine, sa, conn, peer, auth, payloads, found))


def _authenticated_i(engine: Services, sa: IkeSa, conn: EngineConn, peer: IdSpec, auth: Authentication,
                     payloads: list[Payload], found: Found) -> None:
    why = refusal(sa, conn, peer, auth, found)
    if why is not None:
        fail_ike(engine, sa, f"authentication of peer {peer.kind_name} '{peer.text}' {why}: "
                 "AUTHENTICATION_FAILED", delete=True)
        return
    sa.peer_id = peer
    initial_contact(engine, sa, payloads)
    established(engine, sa, "initiator")
    child, sa.pending_child = sa.pending_child, None
    if child is not None:
        child_create.process_i(engine, sa, child, payloads)


def refusal(sa: IkeSa, conn: EngineConn, peer: IdSpec, auth: Authentication, found: Found) -> str | None:
    """Why the peer's AUTH does not let it in (None: it does)."""
    method = AUTH_METHODS[conn.remote_auth]
    if found.theirs is None or not method.verify(sa, peer, auth, found.theirs):
        return f"using {method.text} failed"
    if found.veto is not None:
        return f"using {method.text} was vetoed: {found.veto}"
    return None


# ------------------------------------------------------------------ responder


def process_r(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    conn = sa.conn
    assert conn is not None
    idi = get(payloads, IdentificationInitiator)
    auth = get(payloads, Authentication)
    if idi is None or auth is None:
        engine.log.log(f"{engine.prefix(sa)} IKE_AUTH request lacks IDi or AUTH: INVALID_SYNTAX")
        engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id, [Notify(NotifyType.INVALID_SYNTAX)])
        fail_ike(engine, sa, "IKE_AUTH request was malformed", delete=False)
        return
    peer = IdSpec.from_wire(idi.id_type, idi.data)
    wrong_method = unexpected_method(conn, auth.method)
    if wrong_method is not None:
        engine.log.log(f"{engine.prefix(sa)} {wrong_method}: sending AUTHENTICATION_FAILED")
        engine.send_response(sa, ExchangeType.IKE_AUTH, msg.message_id,
                             [Notify(NotifyType.AUTHENTICATION_FAILED)])
        fail_ike(engine, sa, "IKE SA authentication failed", delete=False)
        return
    if conn.remote_id is not None and (peer.id_type, peer.data) != (conn.remote_id.id_type, conn.remote_id.data):
        _refuse_r(engine, sa, msg.message_id, peer, f"using {AUTH_METHODS[conn.remote_auth].text} failed")
        return
    sa.working_on = msg.message_id  # answered once the credentials are in
    lookup(engine, sa, conn, peer, True, peer,
           lambda found: _authenticated_r(engine, sa, conn, msg.message_id, peer, auth, payloads, found))


def _refuse_r(engine: Services, sa: IkeSa, message_id: int, peer: IdSpec, why: str) -> None:
    sa.working_on = -1
    engine.log.log(f"{engine.prefix(sa)} authentication of peer {peer.kind_name} '{peer.text}' {why}: "
                   "sending AUTHENTICATION_FAILED")
    engine.send_response(sa, ExchangeType.IKE_AUTH, message_id, [Notify(NotifyType.AUTHENTICATION_FAILED)])
    fail_ike(engine, sa, "IKE SA authentication failed", delete=False)


def _authenticated_r(engine: Services, sa: IkeSa, conn: EngineConn, message_id: int, peer: IdSpec,
                     auth: Authentication, payloads: list[Payload], found: Found) -> None:
    why = "using " + AUTH_METHODS[conn.local_auth].text + " failed: we hold no credential" \
        if found.ours is None else refusal(sa, conn, peer, auth, found)
    if why is not None:
        _refuse_r(engine, sa, message_id, peer, why)
        return
    sa.working_on = -1
    sa.peer_id = peer  # our AUTH is made for the peer the credentials were looked up for
    ours = AUTH_METHODS[conn.local_auth].sign(sa, conn, found.ours)
    engine.half_open.pop((sa.spi_i, sa.remote[0], sa.remote[1]), None)
    initial_contact(engine, sa, payloads)
    reply: list[Payload] = [IdentificationResponder(conn.local_id.id_type, conn.local_id.data), ours]
    established(engine, sa, "responder")
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


def established(engine: Services, sa: IkeSa, role: str) -> None:
    sa.to(IkeState.ESTABLISHED)
    sa.established_at = engine.clock()
    peer = sa.peer_id
    assert peer is not None
    engine.log.log(f"{engine.prefix(sa)} {role} established IKE SA; authenticated peer using authby=secret "
                   f"and {peer.kind_name} '{peer.text}'")
    engine.event("ike-up", sa, peer.text)
    lifetimes.schedule_ike(engine, sa)
    if engine.uniqueids:
        # uniqueids: a new IKE SA for the same peer ID replaces the older ones (pluto(8)).
        for other in engine.ike_sas():
            if other is not sa and other.state == IkeState.ESTABLISHED and other.peer_id == peer \
                    and other.name == sa.name:
                engine.log.log(f"{engine.prefix(other)} deleting IKE SA: replaced by #{sa.serial} (uniqueids)")
                delete_ike_sa(engine, other, notify_peer=True)
