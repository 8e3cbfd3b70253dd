"""IKEv2 Redirect (RFC 5685) between three engines: a client (west), gateway A
(east, 192.1.2.23) and gateway B (192.1.2.24), on one virtual clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pluto_core.ikev2.enums import GatewayIdType, NotifyType
from pluto_core.ikev2.events import ChildUp, IkeUp, RedirectDue
from pluto_core.ikev2.message import Message, parse_message
from pluto_core.ikev2.payloads import Nonce, Notify
from pluto_core.ikev2.redirect_policy import MAX_REDIRECTS
from pluto_core.ikev2.sa import IkeState
from tests.engine.harness import (
    EAST_ADDR,
    PSK,
    WEST_ADDR,
    Clock,
    Side,
    advance,
    conn_pair,
    make_side,
    pump,
)

B_ADDR = "192.1.2.24"


def three(client: dict[str, Any] | None = None, gw_a: dict[str, Any] | None = None,
          a_engine: dict[str, Any] | None = None) -> tuple[Clock, Side, Side, Side, dict[str, Side]]:
    """west (accept-redirect=yes unless told) -> A (east) ; B takes west too."""
    west_conn, east_conn = conn_pair()
    west_conn = replace(west_conn, **{"accept_redirect": True, **(client or {})})
    east_conn = replace(east_conn, **(gw_a or {}))
    # the gateways of one cluster share the ID and the PSK the client knows
    b_conn = replace(east_conn, local_addr=B_ADDR, send_redirect="no", redirect_to=None)
    clock = Clock()
    west = make_side(WEST_ADDR, 1, clock, PSK)
    a = make_side(EAST_ADDR, 2, clock, PSK, **(a_engine or {}))
    b = make_side(B_ADDR, 3, clock, PSK)
    west.engine.add_conn(west_conn)
    a.engine.add_conn(east_conn)
    b.engine.add_conn(b_conn)
    return clock, west, a, b, {WEST_ADDR: west, EAST_ADDR: a, B_ADDR: b}


def wire_log(sides: dict[str, Side]) -> tuple[list[Any], Any]:
    """A wire that records every datagram it moves (parsed, with its ends)."""
    seen: list[Any] = []

    def wire(datagrams: list[Any]) -> list[Any]:
        for d in datagrams:
            seen.append((d.local[0], d.remote[0], parse_message(d.data)))
        return datagrams
    return seen, wire


def notifies(msg: Message) -> dict[int, Notify]:
    return {p.type: p for p in msg.payloads if isinstance(p, Notify)}


def test_global_redirect_at_ike_sa_init_brings_the_client_up_with_gateway_b() -> None:
    clock, west, a, b, sides = three(a_engine={"global_redirect": "yes", "global_redirect_to": B_ADDR})
    seen, wire = wire_log(sides)
    west.engine.initiate("west-east")
    pump(sides, wire=wire)
    # on the wire: west announced support, A answered with a REDIRECT carrying west's Ni
    first_request = seen[0][2]
    assert NotifyType.REDIRECT_SUPPORTED in notifies(first_request)
    ni = first_request.get(Nonce).data
    answer = next(m for src, _dst, m in seen if src == EAST_ADDR)
    assert answer.is_response and answer.payloads == [answer.payloads[0]]
    assert notifies(answer)[NotifyType.REDIRECT].gateway == (GatewayIdType.IPV4, bytes([192, 1, 2, 24]), ni)
    assert not a.engine.ike_sas()  # A kept no state
    # west then went to B with REDIRECTED_FROM naming A
    to_b = next(m for _src, dst, m in seen if dst == B_ADDR)
    assert notifies(to_b)[NotifyType.REDIRECTED_FROM].gateway == (GatewayIdType.IPV4, bytes([192, 1, 2, 23]), b"")
    assert NotifyType.REDIRECT_SUPPORTED not in notifies(to_b)
    assert "initiating IKE_SA_INIT redirect to new gateway (address: 192.1.2.24)" in west.log.text()
    assert "192.1.2.45:UDP/500 was redirected from 192.1.2.23" in b.log.text()
    assert "redirecting to 192.1.2.24 (global-redirect=yes)" in a.log.text()
    ups = [e for e in west.events if isinstance(e, IkeUp)]
    assert [e.serial for e in ups] == [2]
    assert any(isinstance(e, ChildUp) for e in west.events) and any(isinstance(e, ChildUp) for e in b.events)
    (sa,) = west.engine.ike_sas()
    assert sa.remote[0] == B_ADDR and sa.state == IkeState.ESTABLISHED
    assert {c.remote_addr for c in west.kernel.installed.values()} == {B_ADDR}


def test_a_peer_that_did_not_announce_support_is_never_redirected() -> None:
    clock, west, a, b, sides = three(client={"accept_redirect": False},
                                     a_engine={"global_redirect": "yes", "global_redirect_to": B_ADDR})
    seen, wire = wire_log(sides)
    west.engine.initiate("west-east")
    pump(sides, wire=wire)
    assert NotifyType.REDIRECT_SUPPORTED not in notifies(seen[0][2])
    assert not any(NotifyType.REDIRECT in notifies(m) for _s, _d, m in seen)
    (sa,) = west.engine.ike_sas()
    assert sa.remote[0] == EAST_ADDR and sa.state == IkeState.ESTABLISHED


def test_global_redirect_auto_redirects_only_under_ddos_load() -> None:
    clock, west, a, b, sides = three(a_engine={"global_redirect": "auto", "global_redirect_to": B_ADDR})
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.ike_sas()[0].remote[0] == EAST_ADDR  # not busy: served by A
    clock2, west2, a2, b2, sides2 = three(a_engine={"global_redirect": "auto", "global_redirect_to": B_ADDR,
                                                    "force_busy": True})
    west2.engine.initiate("west-east")
    pump(sides2)
    assert west2.engine.ike_sas()[0].remote[0] == B_ADDR
    assert "(global-redirect=auto)" in a2.log.text()


def forged_redirect(sides: dict[str, Side], west: Side, nonce: bytes | None) -> None:
    """Gateway A's place taken by a forger: answer west's IKE_SA_INIT with a REDIRECT to
    B carrying ``nonce`` (None: west's own Ni)."""
    for d in west.engine.pop_datagrams():
        request = parse_message(d.data)
        ni = request.get(Nonce).data
        answer = Message(request.spi_i, bytes(8), request.exchange_type, 0x20, 0,
                         [Notify.for_gateway(NotifyType.REDIRECT, GatewayIdType.IPV4, bytes([192, 1, 2, 24]),
                                             ni if nonce is None else nonce)])
        west.engine.receive(answer.to_bytes(), d.local, d.remote)


def test_a_redirect_with_the_wrong_nonce_is_logged_and_ignored() -> None:
    clock, west, a, b, sides = three()
    west.engine.initiate("west-east")
    forged_redirect(sides, west, b"\x00" * 32)
    assert "received nonce does not match our expected nonce Ni (spoofed packet?)" in west.log.text()
    assert "192.1.2.23:UDP/500" in west.log.text().split("spoofed")[0].splitlines()[-1]
    assert not west.engine.pop_datagrams()  # nothing went to B
    advance(clock, sides, 2)  # the retransmitted request reaches the real A, which answers
    (sa,) = west.engine.ike_sas()
    assert sa.remote[0] == EAST_ADDR and sa.state == IkeState.ESTABLISHED
    assert not b.log.lines


def test_accept_redirect_no_ignores_a_redirect() -> None:
    clock, west, a, b, sides = three(client={"accept_redirect": False})
    west.engine.initiate("west-east")
    forged_redirect(sides, west, None)
    assert "ignoring v2N_REDIRECT, we don't accept being redirected" in west.log.text()
    assert not west.engine.pop_datagrams()
    advance(clock, sides, 2)
    assert west.engine.ike_sas()[0].remote[0] == EAST_ADDR
    assert not b.log.lines


def test_accept_redirect_to_limits_where_the_client_goes() -> None:
    clock, west, a, b, sides = three(client={"accept_redirect_to": "192.1.2.99, 192.1.2.98"})
    west.engine.initiate("west-east")
    forged_redirect(sides, west, None)
    assert "received GW Identity is not listed in accept-redirect-to conn option" in west.log.text()
    assert not west.engine.pop_datagrams()


def test_redirect_of_an_established_sa_by_informational() -> None:
    clock, west, a, b, sides = three()
    west.engine.initiate("west-east")
    pump(sides)
    (old,) = west.engine.ike_sas()
    assert old.remote[0] == EAST_ADDR
    seen, wire = wire_log(sides)
    assert a.engine.redirect(B_ADDR, name="west-east") == 1
    pump(sides, wire=wire)
    request = next(m for src, _d, m in seen if src == EAST_ADDR)
    assert request.exchange_type == 37 and not request.is_response  # INFORMATIONAL, protected
    text = west.log.text()
    assert "initiating active session redirect to new gateway (address: 192.1.2.24)" in text
    # in Libreswan's order: the decision, then the old IKE SA deleted, then the new one
    assert text.index("initiating active session redirect") < text.index("deleting IKE SA: redirected by the peer") \
        < text.index("initiating IKEv2 connection to 192.1.2.24")
    assert "redirecting to: 192.1.2.24" in a.log.text()
    (new,) = west.engine.ike_sas()
    assert new.remote[0] == B_ADDR and new.state == IkeState.ESTABLISHED
    assert not a.engine.ike_sas()  # the old IKE SA was deleted on both ends
    assert {c.remote_addr for c in west.kernel.installed.values()} == {B_ADDR}
    assert "was redirected from 192.1.2.23" in b.log.text()


def test_send_redirect_yes_redirects_in_ike_auth() -> None:
    clock, west, a, b, sides = three(gw_a={"send_redirect": "yes", "redirect_to": B_ADDR})
    west.engine.initiate("west-east")
    pump(sides)
    assert "redirecting 192.1.2.45:UDP/500 to 192.1.2.24 in the IKE_AUTH response" in a.log.text()
    text = west.log.text()
    assert "initiating IKE_AUTH redirect to new gateway (address: 192.1.2.24)" in text
    assert text.index("initiating IKE_AUTH redirect") < text.index("deleting IKE SA: redirected by the peer in "
                                                                   "IKE_AUTH") < text.index("to 192.1.2.24 using UDP")
    (sa,) = west.engine.ike_sas()
    assert sa.remote[0] == B_ADDR and sa.state == IkeState.ESTABLISHED
    assert not a.engine.ike_sas() and not a.kernel.installed  # no Child SA with A; its IKE SA deleted


def test_redirect_to_a_host_name_is_resolved_by_the_host() -> None:
    clock, west, a, b, sides = three(a_engine={"global_redirect": "yes", "global_redirect_to": "gw-b.example"})
    west.engine.initiate("west-east")
    pump(sides)
    due = [e for e in west.events if isinstance(e, RedirectDue)]
    assert [(e.conn, e.detail) for e in due] == [("west-east", "gw-b.example")]
    assert not west.engine.ike_sas()
    west.engine.initiate_redirected("west-east", B_ADDR)  # what the daemon does once resolved
    pump(sides)
    (sa,) = west.engine.ike_sas()
    assert sa.remote[0] == B_ADDR and sa.state == IkeState.ESTABLISHED
    assert "was redirected from 192.1.2.23" in b.log.text()


def test_a_redirect_loop_is_bounded() -> None:
    # A and B each send the client to the other one
    clock, west, a, b, sides = three(a_engine={"global_redirect": "yes", "global_redirect_to": B_ADDR})
    b.engine.set_global_redirect("yes", EAST_ADDR)
    west.engine.initiate("west-east")
    pump(sides, rounds=100)
    text = west.log.text()
    assert text.count("to new gateway (address:") == MAX_REDIRECTS
    assert "IKE_SA_INIT redirect loop, stop initiating IKEv2 exchanges" in text
    assert not west.engine.ike_sas()
    # after the loop-detection period the client follows redirects again
    advance(clock, sides, 301, step=50)
    b.engine.set_global_redirect("no")
    west.engine.initiate("west-east")
    pump(sides, rounds=100)
    assert west.engine.ike_sas()[0].remote[0] == B_ADDR


def _rekeyed_then_redirected(client: dict[str, Any], gw_a: dict[str, Any]) -> tuple[Side, Side, Side]:
    """west up with A, its IKE SA rekeyed (by whichever side's ikelifetime= is short), then
    ``ipsec whack --redirect-to`` on A."""
    clock, west, a, b, sides = three(client=client, gw_a=gw_a)
    west.engine.initiate("west-east")
    pump(sides)
    (first,) = west.engine.ike_sas()
    advance(clock, sides, 45)
    (rekeyed,) = west.engine.ike_sas()
    assert rekeyed.serial != first.serial and "rekeyed IKE SA #1" in west.log.text() + a.log.text()
    assert a.engine.redirect(B_ADDR, name="west-east") == 1, a.log.text()
    pump(sides)
    return west, a, b


SHORT_IKE = {"ikelifetime": 60.0, "rekeymargin": 20.0, "rekeyfuzz": 0.0}


def test_redirect_after_the_gateway_rekeyed_the_ike_sa() -> None:
    # the rekey's initiator is the gateway: it stays the gateway, and west stays the client
    west, a, b = _rekeyed_then_redirected({}, SHORT_IKE)
    assert "initiating active session redirect to new gateway (address: 192.1.2.24)" in west.log.text()
    (new,) = west.engine.ike_sas()
    assert new.remote[0] == B_ADDR and new.state == IkeState.ESTABLISHED
    assert not a.engine.ike_sas()


def test_redirect_after_the_client_rekeyed_the_ike_sa() -> None:
    # REDIRECT_SUPPORTED came in the first IKE_SA_INIT: the rekeyed IKE SA still has it
    west, a, b = _rekeyed_then_redirected(SHORT_IKE, {})
    assert "did not announce REDIRECT_SUPPORTED" not in a.log.text()
    (new,) = west.engine.ike_sas()
    assert new.remote[0] == B_ADDR and new.state == IkeState.ESTABLISHED
