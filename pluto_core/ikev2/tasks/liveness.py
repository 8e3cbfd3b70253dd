"""Liveness (RFC 7296 1.4, 2.4; Libreswan's dpddelay/dpdtimeout): an empty
INFORMATIONAL once nothing was heard for dpddelay; retransmitting our outstanding
request until the peer answers or is given up (2.1, 2.4); and NAT-T keepalives
from behind a NAT (RFC 3948 2.3)."""

from __future__ import annotations

from pluto_core.ikev2 import timers
from pluto_core.ikev2.enums import ExchangeType
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.tasks.delete import STAY_UP, delete_ike_sa
from pluto_core.ikev2.tasks.services import Services

PROBE = "liveness"  # the request context of a liveness probe: it times out after dpdtimeout


def on_liveness(engine: Services, sa: IkeSa, now: float) -> None:
    conn = sa.conn
    if sa.state != IkeState.ESTABLISHED or conn is None:
        return
    if sa.last_request:
        engine.schedule(sa, conn.dpddelay, timers.LIVENESS)  # an exchange is running; it checks liveness
        return
    quiet = now - sa.last_contact
    if quiet >= conn.dpddelay:
        engine.send_request(sa, ExchangeType.INFORMATIONAL, [], ctx=PROBE)
        engine.schedule(sa, conn.dpddelay, timers.LIVENESS)
    else:  # probe exactly dpddelay after the last message heard, so a dead peer is
        # noticed within dpddelay + dpdtimeout
        engine.schedule(sa, conn.dpddelay - quiet, timers.LIVENESS)


def on_keepalive(engine: Services, sa: IkeSa, now: float) -> None:
    """Keep the NAT's mapping for port 4500 alive while the IKE SA lives."""
    if sa.state == IkeState.ESTABLISHED:
        engine.send_keepalive(sa)
        engine.schedule(sa, engine.keepalive_interval, timers.NAT_KEEPALIVE)


def timeout(sa: IkeSa) -> float:
    """How long our outstanding request may go unanswered: a liveness probe gives up
    after dpdtimeout where one is set, anything else after retransmit-timeout."""
    conn = sa.conn
    assert conn is not None
    return conn.dpdtimeout if sa.request_ctx == PROBE and conn.dpdtimeout > 0 else conn.retransmit_timeout


def on_retransmit(engine: Services, sa: IkeSa, timer: timers.Retransmit, now: float) -> None:
    """Resend our outstanding request, doubling the interval, until the timeout (RFC 7296 2.4)."""
    conn = sa.conn
    if not sa.last_request or sa.last_request_id != timer.message_id or conn is None:
        return
    limit = timeout(sa)
    if now - sa.request_started >= limit:
        engine.log.log(f"{engine.prefix(sa)} {limit:g} second timeout exceeded after {sa.retransmits} "
                       "retransmits.  No response (or no acceptable response) to our request")
        engine.event("ike-failed", sa, "timeout: no response from peer")
        delete_ike_sa(engine, sa, notify_peer=False, quiet=True)
        if conn.options.get("auto") in STAY_UP:
            engine.revive_later(conn.name)
        return
    sa.retransmits += 1
    engine.transmit(sa, sa.last_request)
    delay = min(conn.retransmit_interval * (2 ** sa.retransmits), max(limit - (now - sa.request_started), 0.001))
    engine.log.debug(f"{engine.prefix(sa)} retransmit {sa.retransmits} of request {timer.message_id}")
    engine.schedule(sa, delay, timer)
