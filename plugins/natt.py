"""NAT traversal (RFC 7296 section 2.23, RFC 3948) as an exchange plugin.

Each side of IKE_SA_INIT sends NAT_DETECTION_SOURCE_IP and
NAT_DETECTION_DESTINATION_IP notifies, each SHA-1(SPIi | SPIr | IP | port) of
the addresses it put on the packet (SPIr is zero in the request); the
responder sends them only to an initiator that did. The receiver hashes the
addresses the packet really arrived with: a source that matches none of the
SOURCE hashes means the sender is behind a NAT; a destination that does not
match means we are. This plugin adds and reads the notifies through the
``pluto_ike_build``/``pluto_ike_read`` hooks and tells the engine what follows
with a :class:`TransportHint`: the initiator moves to UDP 4500, Child SAs use
ESP in UDP, the side behind the NAT sends keepalives, both follow the peer's
latest authenticated address.

Per connection: ``encapsulation=auto`` (default; on a NAT), ``yes`` (fake the
source hash, so that both sides encapsulate), ``no`` (no notifies at all);
``nat-keepalive=no`` stops the keepalives.
"""

from __future__ import annotations

from typing import Any

from pluto_core.exchange_plugin import ExchangePlugin
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.conn import MessageContext, TransportHint
from pluto_core.ikev2.endpoint import endpoint
from pluto_core.ikev2.enums import ExchangeType
from pluto_core.ikev2.nat_detect import NatFinding, detection_notifies, evaluate, nat_hash

__all__ = ["NatFinding", "NatTraversal", "detection_notifies", "evaluate", "nat_hash", "plugin"]

NATT_PORT = 4500
ZERO_SPI = bytes(8)
_REMEMBERED = 4096  # responder: IKE SAs between reading the request and building the answer


class NatTraversal(ExchangePlugin):
    """The engine's extension (``build``/``read``) and the plugin's hooks in one."""

    def __init__(self, log: Any = None) -> None:
        self.log = log
        self._peer_sent: dict[int, bool] = {}  # responder: serials whose IKE_SA_INIT request had them

    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        self.log = log

    def build(self, ctx: MessageContext) -> list[Any]:
        if ctx.exchange != ExchangeType.IKE_SA_INIT or not ctx.outbound:
            return []
        setting = ctx.options.get("encapsulation", "auto")
        if setting == "no":
            return []
        if not ctx.request and not self._peer_sent.pop(ctx.serial, False):
            return []  # only to an initiator that sent them (RFC 7296 2.23)
        return detection_notifies(ctx.spi_i, ctx.spi_r, ctx.local, ctx.remote, pretend_nat=setting == "yes")

    def read(self, ctx: MessageContext, payloads: list[Any]) -> list[TransportHint]:
        if ctx.exchange != ExchangeType.IKE_SA_INIT or ctx.outbound:
            return []
        setting = ctx.options.get("encapsulation", "auto")
        if setting == "no":
            return []
        finding = evaluate(payloads, ctx.spi_i, ctx.spi_r, ctx.local, ctx.remote)
        if finding is None:
            return []
        if ctx.request:
            self._remember(ctx.serial)
        if not (finding.any or setting == "yes"):
            return [TransportHint(follow_peer=True)]  # the peer may still move to 4500
        if finding.any and self.log is not None:
            where = {(True, True): "both ends are", (True, False): "we are", (False, True): "the peer is"}[
                (finding.local_behind, finding.remote_behind)]
            self.log.log(f"\"{ctx.conn}\" #{ctx.serial}: NAT detected: {where} behind a NAT (peer seen at "
                         f"{endpoint(*ctx.remote)}); using UDP/{NATT_PORT} and ESP in UDP")
        keepalive = finding.local_behind and bool(ctx.options.get("nat-keepalive", True))
        return [TransportHint(port=None if ctx.request else NATT_PORT, encapsulate=True, keepalive=keepalive,
                              follow_peer=True)]

    def _remember(self, serial: int) -> None:
        if len(self._peer_sent) >= _REMEMBERED:
            self._peer_sent.pop(next(iter(self._peer_sent)))
        self._peer_sent[serial] = True


plugin = NatTraversal()
