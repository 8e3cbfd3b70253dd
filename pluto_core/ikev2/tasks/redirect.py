"""IKEv2 Redirect (RFC 5685): a gateway sends its client to another gateway.

Client (``accept-redirect=yes``): REDIRECT_SUPPORTED in IKE_SA_INIT (RFC 5685 3),
or REDIRECTED_FROM naming the gateway that sent us on (RFC 5685 3, 8.3); a REDIRECT
is followed from the IKE_SA_INIT response, which must echo our Ni (RFC 5685 3),
from an authenticated IKE_AUTH response (RFC 5685 6) and from an INFORMATIONAL
request on an established IKE SA (RFC 5685 5); ``accept-redirect-to=`` limits
where to, and at most MAX_REDIRECTS are followed within
REDIRECT_LOOP_DETECT_PERIOD (RFC 5685 7's defaults, as Libreswan).

Gateway: ``global-redirect=yes`` (``auto``: only while new IKE_SA_INIT requests
must carry a cookie) answers an IKE_SA_INIT request that announced
REDIRECT_SUPPORTED with a REDIRECT carrying its Ni, statelessly;
``send-redirect=yes`` (``auto``: under the same load) answers an authenticated
IKE_AUTH request with a REDIRECT to ``redirect-to=`` instead of a Child SA; and
``Engine.redirect`` (``ipsec whack --redirect-to``) sends established peers an
INFORMATIONAL REDIRECT. A peer that did not announce support is never redirected.

A destination that is a host name reaches the host as a ``RedirectDue`` event
(sans-I/O: the engine does not resolve names); the host answers with
``Engine.initiate_redirected``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace

from pluto_core.ikev2.enums import ExchangeType, GatewayIdType, NotifyType
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.parse_error import ParseError
from pluto_core.ikev2.payloads import Notify, Payload
from pluto_core.ikev2.redirect_policy import (
    GLOBAL_MODES,
    MAX_REDIRECTS,
    REDIRECT_LOOP_DETECT_PERIOD,
    RedirectPolicy,
    gateway_identity,
    split_dests,
)
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.tasks.delete import delete_ike_sa
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.types import EngineConn

__all__ = ["GLOBAL_MODES", "MAX_REDIRECTS", "REDIRECT_LOOP_DETECT_PERIOD", "RedirectPolicy", "gateway_identity",
           "split_dests"]


class RedirectError(Exception):
    """A REDIRECT we do not follow; the text is the reason for the log."""


def redirect_notify(dest: str, nonce: bytes = b"") -> Notify:
    gw_type, identity = gateway_identity(dest)
    return Notify.for_gateway(NotifyType.REDIRECT, gw_type, identity, nonce)


def parse_gateway(notify: Notify, nonce: bytes | None) -> tuple[str, bool]:
    """(destination, is a host name) of a REDIRECT; ``nonce``: the Ni it must echo
    (IKE_SA_INIT, RFC 5685 3) or None (elsewhere nothing may follow the identity, 8.2).
    Raises RedirectError with Libreswan's wording."""
    try:
        gw_type, identity, rest = notify.gateway
    except ParseError as exc:
        raise RedirectError(f"received malformed REDIRECT payload ({exc})") from None
    if gw_type == GatewayIdType.FQDN:
        try:
            name = identity.decode("ascii")
        except UnicodeDecodeError:
            raise RedirectError("GW Identity is not an ASCII host name") from None
        if not name or any(c.isspace() or not c.isprintable() for c in name):
            raise RedirectError("GW Identity is not a host name")
        dest, is_name = name, True
    elif gw_type in (GatewayIdType.IPV4, GatewayIdType.IPV6):
        size = 4 if gw_type == GatewayIdType.IPV4 else 16
        if len(identity) != size:
            raise RedirectError("transferred GW Identity Length does not match an IP address")
        dest, is_name = str(ipaddress.ip_address(identity)), False
    else:
        raise RedirectError(f"bad GW Ident Type {gw_type}")
    if nonce is None:
        if rest:
            raise RedirectError("unexpected extra bytes in Notify data after GW data - nonce should have "
                                "been omitted")
    elif rest != nonce:
        raise RedirectError("received nonce does not match our expected nonce Ni (spoofed packet?)")
    return dest, is_name


def allowed(conn: EngineConn, dest: str) -> bool:
    """accept-redirect-to= (a list of addresses; unset or %any: anywhere)."""
    targets = split_dests(conn.accept_redirect_to)
    if not targets or "%any" in targets:
        return True
    try:
        addr = ipaddress.ip_address(dest)
    except ValueError:
        return True  # a host name: its address is checked once resolved (Engine.initiate_redirected)
    for target in targets:
        try:
            if ipaddress.ip_address(target) == addr:
                return True
        except ValueError:
            continue
    return False


def find(payloads: list[Payload], notify_type: int) -> Notify | None:
    return next((p for p in payloads if isinstance(p, Notify) and p.type == notify_type), None)


# ------------------------------------------------------------------ client


def announce(sa: IkeSa) -> Notify | None:
    """What our IKE_SA_INIT request says (RFC 5685 3): REDIRECTED_FROM with the gateway
    that sent us here (it replaces REDIRECT_SUPPORTED), else REDIRECT_SUPPORTED; nothing
    without accept-redirect=yes."""
    if sa.conn is None or not sa.conn.accept_redirect:
        return None
    if sa.redirected_from:
        gw_type, identity = gateway_identity(sa.redirected_from)
        return Notify.for_gateway(NotifyType.REDIRECTED_FROM, gw_type, identity)
    return Notify(NotifyType.REDIRECT_SUPPORTED)


def init_response(engine: Services, sa: IkeSa, notify: Notify) -> None:
    """A REDIRECT in the IKE_SA_INIT response (RFC 5685 3): followed when accepted and
    its nonce is our Ni; else logged and the response dropped (a genuine one may still
    come, or the request times out)."""
    conn = sa.conn
    assert conn is not None
    if not conn.accept_redirect:
        engine.log.log(f"{engine.prefix(sa)} ignoring v2N_REDIRECT, we don't accept being redirected")
        return
    try:
        dest, is_name = parse_gateway(notify, sa.nonce_i)
        if not allowed(conn, dest):
            raise RedirectError("received GW Identity is not listed in accept-redirect-to conn option")
    except RedirectError as exc:
        engine.log.log(f"{engine.prefix(sa)} warning: parsing of v2N_REDIRECT payload from "
                       f"{engine.peer_text(sa)} failed: {exc}")
        return
    sa.last_request = b""  # answered: no retransmission; the gateway kept no state
    old = sa.remote[0]
    engine.forget(sa)
    follow(engine, sa, conn, dest, is_name, old, "IKE_SA_INIT redirect")


def auth_response(engine: Services, sa: IkeSa, payloads: list[Payload]) -> bool:
    """A REDIRECT in the authenticated IKE_AUTH response (RFC 5685 6): delete this IKE
    SA and go to the new gateway. False: there is none, or we do not follow it (the
    exchange goes on as without it)."""
    notify = find(payloads, NotifyType.REDIRECT)
    conn = sa.conn
    if notify is None or conn is None:
        return False
    if not conn.accept_redirect:
        engine.log.log(f"{engine.prefix(sa)} ignoring v2N_REDIRECT in IKE_AUTH response, we don't accept "
                       "being redirected")
        return False
    found = _destination(engine, sa, conn, notify)
    if found is None:
        return False
    dest, is_name = found
    follow(engine, sa, conn, dest, is_name, sa.remote[0], "IKE_AUTH redirect",
           retire=lambda: _delete(engine, sa, "redirected by the peer in IKE_AUTH"))
    return True


def informational_r(engine: Services, sa: IkeSa, msg: Message, payloads: list[Payload]) -> bool:
    """An INFORMATIONAL request with a REDIRECT (RFC 5685 5): answered empty; an
    accepted one replaces this IKE SA by one with the new gateway. False: no REDIRECT
    in it (the caller handles the request)."""
    notify = find(payloads, NotifyType.REDIRECT)
    if notify is None:
        return False
    conn = sa.conn
    engine.send_response(sa, ExchangeType.INFORMATIONAL, msg.message_id, [])
    if conn is None or not sa.first_initiator or not conn.accept_redirect:
        engine.log.log(f"{engine.prefix(sa)} ignoring v2N_REDIRECT from {engine.peer_text(sa)}, we don't "
                       "accept being redirected")
        return True
    found = _destination(engine, sa, conn, notify)
    if found is None:
        return True
    dest, is_name = found
    # the SAs with the old gateway go before the new IKE SA starts: its Child SA installs the same policies
    follow(engine, sa, conn, dest, is_name, sa.remote[0], "active session redirect",
           retire=lambda: _delete(engine, sa, "redirected by the peer"))
    return True


def _destination(engine: Services, sa: IkeSa, conn: EngineConn, notify: Notify) -> tuple[str, bool] | None:
    """The new gateway of an authenticated REDIRECT (no nonce in it: RFC 5685 5, 6) and whether
    it is a name; None, with the log line, when it does not parse or accept-redirect-to= rules
    it out."""
    try:
        dest, is_name = parse_gateway(notify, None)
        if not allowed(conn, dest):
            raise RedirectError("received GW Identity is not listed in accept-redirect-to conn option")
    except RedirectError as exc:
        engine.log.log(f"{engine.prefix(sa)} warning: parsing of v2N_REDIRECT payload from "
                       f"{engine.peer_text(sa)} failed: {exc}")
        return None
    return dest, is_name


def _delete(engine: Services, sa: IkeSa, why: str) -> None:
    engine.log.log(f"{engine.prefix(sa)} deleting IKE SA: {why}")
    delete_ike_sa(engine, sa, notify_peer=True)


def follow(engine: Services, sa: IkeSa, conn: EngineConn, dest: str, is_name: bool, old: str, story: str,
           retire: Callable[[], None] | None = None) -> None:
    """Go to ``dest``, unless that makes more than MAX_REDIRECTS for this conn within
    REDIRECT_LOOP_DETECT_PERIOD (RFC 5685 7: a redirect loop). ``retire``: ends the
    authenticated IKE SA the REDIRECT came over, once the decision is logged (as Libreswan
    says ``initiating ... redirect`` before it deletes) and before the new one starts."""
    now = engine.clock()
    recent = [t for t in engine.redirects.followed.get(conn.name, []) if now - t < REDIRECT_LOOP_DETECT_PERIOD]
    if len(recent) >= MAX_REDIRECTS:
        why = f"{story} loop, stop initiating IKEv2 exchanges"
        engine.log.log(f"{engine.prefix(sa)} {why} ({len(recent)} redirects within "
                       f"{REDIRECT_LOOP_DETECT_PERIOD:g}s)")
        engine.redirects.followed[conn.name] = recent
        if retire is not None:
            retire()
        engine.event("ike-failed", sa, why)
        return
    engine.redirects.followed[conn.name] = [*recent, now]
    if is_name:
        engine.log.log(f"{engine.prefix(sa)} {story} to new gateway {dest}: resolving its address")
    else:
        engine.log.log(f"{engine.prefix(sa)} initiating {story} to new gateway (address: {dest})")
    if retire is not None:
        retire()
    if is_name:
        engine.redirects.waiting[conn.name] = old
        engine.event("redirect-due", sa, dest)
        return
    initiate(engine, conn, dest, old)


def initiate(engine: Services, conn: EngineConn, dest: str, old: str) -> int:
    """A new IKE SA for ``conn`` with the gateway at ``dest``, saying it came from ``old``."""
    return engine.initiate_conn(replace(conn, remote_addr=dest), redirected_from=old)


# ------------------------------------------------------------------ gateway


def supported(payloads: list[Payload]) -> bool:
    """The initiator announced it takes redirects (REDIRECT_SUPPORTED, or REDIRECTED_FROM:
    it was redirected here, RFC 5685 3)."""
    return find(payloads, NotifyType.REDIRECT_SUPPORTED) is not None or \
        find(payloads, NotifyType.REDIRECTED_FROM) is not None


def log_redirected_from(engine: Services, sa: IkeSa, payloads: list[Payload], peer: str) -> None:
    notify = find(payloads, NotifyType.REDIRECTED_FROM)
    if notify is None:
        return
    try:
        dest, _is_name = parse_gateway(notify, None)
    except RedirectError as exc:
        engine.log.log(f"{engine.prefix(sa)} malformed REDIRECTED_FROM from {peer}: {exc}: ignored")
        return
    engine.log.log(f"{engine.prefix(sa)} {peer} was redirected from {dest}")


def init_request(engine: Services, msg: Message, local: tuple[str, int], remote: tuple[str, int],
                 nonce: bytes) -> bool:
    """global-redirect=: answer the IKE_SA_INIT request with a REDIRECT carrying its Ni
    (RFC 5685 3), keeping no state. True: answered."""
    policy = engine.redirects
    if not policy.active(engine.ddos.busy(len(engine.half_open))) or not supported(msg.payloads):
        return False
    dest = policy.next_dest()
    try:
        notify = redirect_notify(dest, nonce)
    except ValueError as exc:
        engine.log.log(f"cannot redirect IKE_SA_INIT request from {remote[0]}:UDP/{remote[1]}: {exc}")
        return False
    engine.log.log(f"IKE_SA_INIT request from {remote[0]}:UDP/{remote[1]}: redirecting to {dest} "
                   f"(global-redirect={policy.mode})")
    engine.reply_stateless(msg, local, remote, notify)
    return True


def auth_redirect(engine: Services, sa: IkeSa) -> Notify | None:
    """send-redirect=: the REDIRECT for our IKE_AUTH response (RFC 5685 6), or None."""
    conn = sa.conn
    if conn is None or not sa.redirect_supported or conn.send_redirect == "no":
        return None
    if conn.send_redirect == "auto" and not engine.ddos.busy(len(engine.half_open)):
        return None
    if not conn.redirect_to:
        if conn.send_redirect == "yes":
            engine.log.log(f"{engine.prefix(sa)} redirect-to is not specified, can't redirect requests")
        return None
    try:
        notify = redirect_notify(conn.redirect_to)
    except ValueError as exc:
        engine.log.log(f"{engine.prefix(sa)} cannot redirect: {exc}")
        return None
    engine.log.log(f"{engine.prefix(sa)} redirecting {engine.peer_text(sa)} to {conn.redirect_to} in the "
                   "IKE_AUTH response (send-redirect)")
    return notify


def redirect_established(engine: Services, conn_name: str | None, dests: tuple[str, ...],
                         peer: str | None = None) -> int:
    """``ipsec whack --redirect-to``: an INFORMATIONAL REDIRECT (RFC 5685 5) to each
    established IKE SA we answered (of ``conn_name``, from ``peer``: None for all),
    destinations in turn; peers that did not announce support are skipped. How many."""
    count, turn = 0, 0
    for sa in engine.ike_sas():
        if sa.state != IkeState.ESTABLISHED or sa.first_initiator:
            continue  # we are its client (whoever initiated its latest rekey)
        if conn_name is not None and sa.name != conn_name:
            continue
        if peer is not None and sa.remote[0] != peer:
            continue
        if not sa.redirect_supported:
            engine.log.log(f"{engine.prefix(sa)} not redirecting {engine.peer_text(sa)}: it did not announce "
                           "REDIRECT_SUPPORTED")
            continue
        dest = dests[turn % len(dests)]
        turn += 1
        engine.log.log(f"{engine.prefix(sa)} redirecting to: {dest}")
        engine.send_request(sa, ExchangeType.INFORMATIONAL, [redirect_notify(dest)])
        count += 1
    return count
