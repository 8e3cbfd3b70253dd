"""The base of plugins that add to and read IKE messages (NAT-T, fragmentation,
vendor IDs...): they implement ``build``/``read``, which the engine can call
directly (tests, benchmarks), and inherit the two hooks the daemon calls."""

from __future__ import annotations

from typing import Any

from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.conn import MessageContext, TransportHint


class ExchangePlugin:
    @hookimpl
    def pluto_ike_build(self, context: MessageContext) -> list[Any]:
        return self.build(context)

    @hookimpl
    def pluto_ike_read(self, context: MessageContext, payloads: list[Any]) -> list[TransportHint]:
        return self.read(context, payloads)

    def build(self, ctx: MessageContext) -> list[Any]:
        """Payloads to append to the message ``ctx`` describes."""
        return []

    def read(self, ctx: MessageContext, payloads: list[Any]) -> list[TransportHint]:
        """Hints for the IKE SA from a received message's payloads."""
        return []
