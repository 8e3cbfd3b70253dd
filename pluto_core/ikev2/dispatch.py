"""Which task gets what arrives: the exchange requests and responses legal in each IKE
SA state (anything else is logged and dropped), and which task owns which timer. The
engine looks here; the tasks never do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pluto_core.ikev2 import timers
from pluto_core.ikev2.enums import ExchangeType
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import Payload
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.tasks import child_rekey, delete, ike_auth, ike_init, ike_rekey, liveness, mobike, redirect, rekey

Handler = Callable[[Any, IkeSa, Message, list[Payload]], None]


def _informational_r(engine: Any, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
    """An INFORMATIONAL request: an address update (RFC 4555 3.5) is mobike's, a REDIRECT
    (RFC 5685 5) redirect's, the rest delete's."""
    if mobike.wants(payloads):
        mobike.process_r(engine, sa, msg, payloads)
    elif not redirect.informational_r(engine, sa, msg, payloads):
        delete.process_r(engine, sa, msg, payloads)


# What may arrive in which state (anything else is logged and dropped): requests...
REQUESTS: dict[tuple[int, IkeState], Handler] = {
    (ExchangeType.IKE_AUTH, IkeState.INIT_DONE): ike_auth.process_r,
    (ExchangeType.INFORMATIONAL, IkeState.ESTABLISHED): _informational_r,
    (ExchangeType.CREATE_CHILD_SA, IkeState.ESTABLISHED): rekey.process_r,
}
# ... and responses to the requests we sent (IKE_SA_INIT's come unprotected: see _on_response)
RESPONSES: dict[tuple[int, IkeState | None], Handler] = {
    (ExchangeType.IKE_AUTH, IkeState.AUTH_SENT): ike_auth.process_i,
    (ExchangeType.INFORMATIONAL, None): delete.process_i,  # in any state
}


def _child_timer(engine: Any, sa: IkeSa, timer: timers.RekeyChild | timers.ExpireChild, now: float) -> None:
    child = next((c for c in sa.children if c.serial == timer.child), None)
    if child is not None and sa.state == IkeState.ESTABLISHED:
        if isinstance(timer, timers.RekeyChild):
            child_rekey.rekey_child(engine, sa, child)
        else:
            delete.expire_child(engine, sa, child)


# ... and which task owns which timer (each takes the engine, the IKE SA, the timer, now)
TIMERS: dict[type, Callable[[Any, IkeSa, Any, float], None]] = {
    timers.Retransmit: liveness.on_retransmit,
    timers.Liveness: lambda engine, sa, _t, now: liveness.on_liveness(engine, sa, now),
    timers.NatKeepalive: lambda engine, sa, _t, now: liveness.on_keepalive(engine, sa, now),
    timers.HalfOpen: lambda engine, sa, _t, now: ike_init.half_open_expired(engine, sa, now),
    timers.RekeyIke: lambda engine, sa, _t, _now: ike_rekey.rekey_ike(engine, sa),
    timers.ExpireIke: lambda engine, sa, _t, _now: delete.expire_ike(engine, sa),
    timers.RekeyChild: _child_timer,
    timers.ExpireChild: _child_timer,
}


