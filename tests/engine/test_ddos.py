"""Denial-of-service limits (RFC 7296 2.6; Libreswan's ddos-mode, ddos-ike-threshold,
max-halfopen-ike): when the responder demands a COOKIE and when it drops new
IKE_SA_INIT requests, counted in half-open IKE SAs."""

from __future__ import annotations

from typing import Any

from pluto_core.ikev2.enums import NotifyType
from pluto_core.ikev2.message import parse_message
from pluto_core.ikev2.payloads import Notify
from tests.engine.harness import PSK, Clock, Side, advance, conn_pair, make_side, pump


def _pair(**east_kw: Any) -> tuple[Clock, Side, Side]:
    clock = Clock()
    west_conn, east_conn = conn_pair()
    west = make_side("192.1.2.45", 1, clock, PSK, uniqueids=False)
    east = make_side("192.1.2.23", 2, clock, PSK, **east_kw)
    west.engine.add_conn(west_conn)
    east.engine.add_conn(east_conn)
    return clock, west, east


def _init_requests(west: Side, east: Side, n: int) -> list[list[Any]]:
    """n IKE_SA_INIT requests from west to east; east's answers, parsed, per request."""
    answers = []
    for _ in range(n):
        west.engine.initiate("west-east")
        (request,) = west.engine.pop_datagrams()
        east.engine.receive(request.data, request.remote, request.local)
        answers.append([parse_message(d.data) for d in east.engine.pop_datagrams()])
    return answers


def _is_cookie(answer: list[Any]) -> bool:
    return (len(answer) == 1 and isinstance(answer[0].payloads[0], Notify)
            and answer[0].payloads[0].type == NotifyType.COOKIE)


def test_auto_demands_cookies_from_the_threshold_on() -> None:
    _clock, west, east = _pair(ddos_ike_threshold=2)
    answers = _init_requests(west, east, 3)
    assert [_is_cookie(a) for a in answers] == [False, False, True]
    assert len(east.engine.half_open) == 2  # the cookie answer kept no state


def test_busy_always_and_unlimited_never() -> None:
    _clock, west, east = _pair(ddos_mode="busy")
    assert [_is_cookie(a) for a in _init_requests(west, east, 2)] == [True, True]
    _clock, west, east = _pair(ddos_mode="unlimited", ddos_ike_threshold=1)
    assert [_is_cookie(a) for a in _init_requests(west, east, 3)] == [False, False, False]
    assert len(east.engine.half_open) == 3


def test_switching_the_mode_at_run_time() -> None:
    _clock, west, east = _pair()
    assert not _is_cookie(_init_requests(west, east, 1)[0])
    east.engine.set_ddos_mode("busy")  # ipsec whack --ddos-busy
    assert _is_cookie(_init_requests(west, east, 1)[0])


def test_past_max_halfopen_new_requests_are_dropped_with_one_log_line() -> None:
    clock, west, east = _pair(ddos_mode="unlimited", max_halfopen_ike=2)
    answers = _init_requests(west, east, 5)
    assert [bool(a) for a in answers] == [True, True, False, False, False]
    assert len(east.engine.half_open) == 2
    text = east.log.text()
    assert text.count("reach max-halfopen-ike=2") == 1, text
    assert "dropping IKE_SA_INIT request from 192.1.2.45:UDP/500: 2 half-open IKE SAs" in text
    # Once the half-open SAs time out, requests are taken again (and a new flood is logged again).
    advance(clock, {"192.1.2.23": east}, 60)
    assert not east.engine.half_open
    west.engine.pop_datagrams()  # west's own retransmissions, not part of this
    assert all(_init_requests(west, east, 2))


def test_a_responder_over_the_threshold_still_establishes_with_the_cookie() -> None:
    clock, west, east = _pair(ddos_ike_threshold=1)
    _init_requests(west, east, 1)  # one half-open SA: from now on cookies
    west.engine.initiate("west-east")
    pump({"192.1.2.45": west, "192.1.2.23": east})
    assert "resending IKE_SA_INIT request with COOKIE" in west.log.text()
    assert any(e.kind == "child-up" for e in east.events)
