"""IKEv2 fragmentation (RFC 7383) negotiated as an exchange plugin.

Both ends announce IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (the responder
only to an initiator that did, section 2.3); when both did, the plugin tells the
engine with ``TransportHint(fragments=True)``, and from then on the engine sends
any protected message too big for one unfragmented datagram (576 octets over
IPv4, 1280 over IPv6, section 2.5.1) as SKF fragments and reassembles the
peer's. Per connection: ``fragmentation=yes`` (default, as Libreswan's) or
``force`` announce it, ``no`` does not.
"""

from __future__ import annotations

from typing import Any

from pluto_core.exchange_plugin import ExchangePlugin
from pluto_core.ikev2.conn import MessageContext, TransportHint
from pluto_core.ikev2.enums import ExchangeType, NotifyType
from pluto_core.ikev2.payloads import Notify

_REMEMBERED = 4096  # responder: IKE SAs between reading the request and building the answer


def _wanted(ctx: MessageContext) -> bool:
    return ctx.exchange == ExchangeType.IKE_SA_INIT and str(ctx.options.get("fragmentation", "yes")) != "no"


class Fragmentation(ExchangePlugin):
    def __init__(self) -> None:
        self._peer_sent: dict[int, bool] = {}  # responder: serials whose IKE_SA_INIT request announced it

    def build(self, ctx: MessageContext) -> list[Any]:
        if not ctx.outbound or not _wanted(ctx):
            return []
        if not ctx.request and not self._peer_sent.pop(ctx.serial, False):
            return []
        return [Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)]

    def read(self, ctx: MessageContext, payloads: list[Any]) -> list[TransportHint]:
        if ctx.outbound or not _wanted(ctx):
            return []
        if not any(isinstance(p, Notify) and p.type == NotifyType.IKEV2_FRAGMENTATION_SUPPORTED for p in payloads):
            return []
        if ctx.request:
            if len(self._peer_sent) >= _REMEMBERED:
                self._peer_sent.pop(next(iter(self._peer_sent)))
            self._peer_sent[ctx.serial] = True
        return [TransportHint(fragments=True)]


plugin = Fragmentation()
