"""Answers that keep no state (RFC 7296 2.6, 2.21): COOKIE and other IKE_SA_INIT
refusals, the notify for a malformed IKE_SA_INIT request, INVALID_IKE_SPI; the
cookie itself, the rate limit that keeps us from being a reflector, and the
responder's half-open limits (Libreswan's ddos-mode)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pluto_core.ikev2.enums import ExchangeType, NotifyType
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.parse_error import ParseError
from pluto_core.ikev2.payloads import Notify

FLAG_INITIATOR = 0x08
FLAG_RESPONSE = 0x20
ZERO_SPI = bytes(8)
REPLIES_PER_SECOND = 10  # unprotected answers to unknown or malformed requests
DDOS_IKE_THRESHOLD = 25000  # half-open IKE SAs before cookies are demanded (ddos-ike-threshold)
MAX_HALFOPEN_IKE = 50000  # half-open IKE SAs before new requests are dropped (max-halfopen-ike)
DDOS_MODES = ("auto", "busy", "unlimited")


@dataclass(slots=True)
class DdosPolicy:
    """When a new IKE_SA_INIT request must carry our COOKIE first, and when new
    requests are dropped: "busy" always demands one, "unlimited" never, "auto" from
    ``threshold`` half-open IKE SAs on; past ``max_halfopen`` requests are dropped."""

    mode: str = "auto"
    threshold: int = DDOS_IKE_THRESHOLD
    max_halfopen: int = MAX_HALFOPEN_IKE
    full: bool = False  # said so in the log; quiet until a request is taken again

    def busy(self, half_open: int) -> bool:
        return self.mode == "busy" or (self.mode == "auto" and half_open >= self.threshold)


class RateLimit:
    """At most ``per_second`` answers; the rest are not sent."""

    __slots__ = ("interval", "last")

    def __init__(self, per_second: int = REPLIES_PER_SECOND) -> None:
        self.interval = 1.0 / per_second
        self.last = -1e9

    def allow(self, now: float) -> bool:
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


def cookie(secret: bytes, spi_i: bytes, nonce: bytes, remote: tuple[str, int]) -> bytes:
    """RFC 7296 2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)."""
    digest = hmac.new(secret, nonce + remote[0].encode() + spi_i, hashlib.sha256).digest()
    return b"\x00" + digest[:16]


def init_refusal(request: Message, notify: Notify) -> bytes:
    """An unprotected IKE_SA_INIT answer (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN)."""
    return Message(request.spi_i, ZERO_SPI, request.exchange_type, FLAG_RESPONSE, request.message_id,
                   [notify]).to_bytes()


def malformed_init_answer(data: bytes, exc: ParseError) -> bytes | None:
    """The notify RFC 7296 names for a malformed IKE_SA_INIT request
    (INVALID_MAJOR_VERSION 2.5, UNSUPPORTED_CRITICAL_PAYLOAD 2.5, INVALID_SYNTAX);
    None for anything else malformed, which is only dropped (2.21)."""
    if len(data) < 28 or data[18] != ExchangeType.IKE_SA_INIT or data[19] & FLAG_RESPONSE \
            or data[8:16] != ZERO_SPI or exc.notify is None:
        return None
    critical = getattr(exc, "payload_type", None)
    if exc.notify == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD and critical is not None:
        notify = Notify.for_unsupported_critical(critical)
    else:
        notify = Notify(exc.notify)
    return Message(data[0:8], ZERO_SPI, ExchangeType.IKE_SA_INIT, FLAG_RESPONSE,
                   int.from_bytes(data[20:24], "big"), [notify]).to_bytes()


def invalid_ike_spi(request: Message) -> bytes:
    """RFC 7296 2.21.4: the answer to a request for an IKE SA we do not know."""
    flags = FLAG_RESPONSE | (0 if request.is_initiator else FLAG_INITIATOR)
    return Message(request.spi_i, request.spi_r, request.exchange_type, flags, request.message_id,
                   [Notify(NotifyType.INVALID_IKE_SPI)]).to_bytes()
