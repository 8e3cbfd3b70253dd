"""The message layer of the engine: message IDs and the window of one (RFC 7296
2.3), sending requests and responses, retransmission timers and cached responses
(2.1), what extensions add and read, and the outbox. The engine builds on it and
routes what it admits to the tasks."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any

from pluto_core.ikev2 import protect, stateless, timers
from pluto_core.ikev2.endpoint import endpoint
from pluto_core.ikev2.enums import ExchangeType, exchange_name
from pluto_core.ikev2.events import Datagram
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import EncryptedFragment, Notify, Payload
from pluto_core.ikev2.ports import Extensions
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.types import MessageContext, TransportHint

NATT_KEEPALIVE = b"\xff"  # RFC 3948 section 2.3: one octet, 0xFF, no non-ESP marker


class Messages:
    """Datagrams out, timers, and the checks every protected message passes before a task sees it."""

    half_open: dict[tuple[bytes, str, int], IkeSa]  # the engine's: a peer that moved is no longer half-open

    def __init__(self, clock: Callable[[], float], random: Callable[[int], bytes], log: Any,
                 extensions: Extensions, cookie_secret: bytes) -> None:
        self.clock, self.random, self.log, self.extensions = clock, random, log, extensions
        self.outbox: list[Datagram] = []
        self._timers: list[tuple[float, int, int, timers.Timer]] = []  # (when, seq, serial, timer)
        self._timer_seq = 0
        self._cookie_secret = cookie_secret
        # the request being answered: (IKE SA, message ID, our end, the peer's end), so that
        # its response goes back where it came from (RFC 7296 2.11)
        self._reply_to: tuple[IkeSa, int, tuple[str, int], tuple[str, int]] | None = None

    def pop_datagrams(self) -> list[Datagram]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def schedule(self, sa: IkeSa, delay: float, timer: timers.Timer) -> None:
        self.schedule_serial(sa.serial, delay, timer)

    def schedule_serial(self, serial: int, delay: float, timer: timers.Timer) -> None:
        """A timer for an IKE SA or a Child SA serial (a Child SA's resolves to its current IKE SA)."""
        self._timer_seq += 1
        heapq.heappush(self._timers, (self.clock() + delay, self._timer_seq, serial, timer))

    def prefix(self, sa: IkeSa, serial: int | None = None) -> str:
        return f"{sa.label} #{sa.serial if serial is None else serial}:"

    def peer_text(self, sa: IkeSa) -> str:
        return sa.peer_text

    def send_request(self, sa: IkeSa, exchange: int, payloads: Sequence[Payload],
                     plain: bool = False, ctx: Any = None) -> None:
        """Send now, or queue until the outstanding request is answered (window of one)."""
        if sa.last_request and exchange != ExchangeType.IKE_SA_INIT:
            sa.queue.append((exchange, list(payloads), ctx))
            return
        sa.request_ctx = ctx
        payloads = list(payloads) + self._extend(sa, exchange, request=True)
        mid = sa.next_request_id
        data = protect.plain(sa, exchange, mid, payloads, False) if plain else \
            protect.encode(sa, exchange, mid, payloads, False, self.random, self.log)
        sa.next_request_id = mid + 1
        sa.last_request, sa.last_request_id = data, mid
        sa.retransmits = 0
        sa.request_started = self.clock()
        self.transmit(sa, data)
        if sa.conn is not None:
            self.schedule(sa, sa.conn.retransmit_interval, timers.Retransmit(mid))

    def encode(self, sa: IkeSa, exchange: int, message_id: int, payloads: Sequence[Payload],
               response: bool) -> bytes | tuple[bytes, ...]:
        """A protected message of ``sa`` (SK, or SKF fragments: :mod:`~pluto_core.ikev2.protect`)."""
        return protect.encode(sa, exchange, message_id, payloads, response, self.random, self.log)

    def send_once(self, sa: IkeSa, exchange: int, payloads: Sequence[Payload]) -> None:
        """A request outside the window, never retransmitted: the Delete of an IKE SA
        that is gone either way (RFC 7296 1.4.1)."""
        data = self.encode(sa, exchange, sa.next_request_id, payloads, False)
        sa.next_request_id += 1
        self.transmit(sa, data)

    def send_response(self, sa: IkeSa, exchange: int, message_id: int, payloads: Sequence[Payload],
                      plain: bool = False) -> bytes | tuple[bytes, ...]:
        payloads = list(payloads) + self._extend(sa, exchange, request=False)
        data = protect.plain(sa, exchange, message_id, payloads, True) if plain else \
            protect.encode(sa, exchange, message_id, payloads, True, self.random, self.log)
        sa.last_response, sa.last_response_id = data, message_id
        sa.expected_request_id = message_id + 1
        to = self._reply_to
        if to is not None and to[0] is sa and to[1] == message_id:
            self._send_to(data, to[2], to[3])
        else:
            self.transmit(sa, data)
        return data

    def answering(self, sa: IkeSa, message_id: int, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """The request ``message_id`` of ``sa`` came from ``remote`` to ``local``: its response
        goes back there (RFC 7296 2.11)."""
        self._reply_to = (sa, message_id, local, remote)

    @property
    def arrived(self) -> tuple[tuple[str, int], tuple[str, int]]:
        """(our end, the peer's end) of the request being answered: MOBIKE takes an update's
        addresses from its IP header (RFC 4555 3.5)."""
        to = self._reply_to
        return (to[2], to[3]) if to is not None else (("", 0), ("", 0))

    def _send_to(self, data: bytes | tuple[bytes, ...], local: tuple[str, int], remote: tuple[str, int]) -> None:
        for datagram in (data,) if isinstance(data, bytes) else data:
            self.outbox.append(Datagram(datagram, local, remote))

    def transmit(self, sa: IkeSa, data: bytes | tuple[bytes, ...]) -> None:
        self._send_to(data, sa.local, sa.remote)

    def send_keepalive(self, sa: IkeSa) -> None:
        self.outbox.append(Datagram(NATT_KEEPALIVE, sa.local, sa.remote, raw=True))

    def reply_stateless(self, request: Message, local: tuple[str, int], remote: tuple[str, int],
                        notify: Notify) -> None:
        """An unprotected IKE_SA_INIT answer that keeps no state (COOKIE, INVALID_KE, NO_PROPOSAL)."""
        self.outbox.append(Datagram(stateless.init_refusal(request, notify), local, remote))

    def cookie_for(self, spi_i: bytes, nonce: bytes, remote: tuple[str, int]) -> bytes:
        return stateless.cookie(self._cookie_secret, spi_i, nonce, remote)

    # ------------------------------------------------------------------ extensions (plugins)

    def context(self, sa: IkeSa, exchange: int, request: bool, outbound: bool,
                msg: Message | None = None) -> MessageContext:
        """What extensions are told of a message: ``msg``'s SPIs when one was received."""
        spi_i, spi_r = (msg.spi_i, msg.spi_r) if msg is not None else (sa.spi_i, sa.spi_r)
        return MessageContext(exchange, request, outbound, sa.name, sa.serial, sa.initiator, sa.local, sa.remote,
                              spi_i, spi_r, sa.conn.options if sa.conn is not None else {})

    def _extend(self, sa: IkeSa, exchange: int, request: bool) -> list[Payload]:
        try:
            return list(self.extensions.build(self.context(sa, exchange, request, True)))
        except Exception as exc:  # a plugin's failure must not stop the exchange
            self.log.log(f"{self.prefix(sa)} extension failed while building a message: {exc}")
            return []

    def extensions_read(self, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None:
        ctx = self.context(sa, msg.exchange_type, not msg.is_response, False, msg)
        try:
            hints = self.extensions.read(ctx, payloads) or []
        except Exception as exc:
            self.log.log(f"{self.prefix(sa)} extension failed while reading a message: {exc}")
            return
        for hint in hints:
            self._apply(sa, hint)

    def _apply(self, sa: IkeSa, hint: TransportHint) -> None:
        sa.transport = hint if sa.transport is None else sa.transport.merged(hint)
        if hint.port is not None and sa.initiator and sa.state == IkeState.INIT_SENT:
            # RFC 7296 2.23: the initiator moves to port 4500 once a NAT is detected
            sa.local, sa.remote = (sa.local[0], hint.port), (sa.remote[0], hint.port)

    def follow_peer(self, sa: IkeSa, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """With NAT-T, send where the latest authenticated message came from (RFC 7296
        section 2.23): the initiator's move to port 4500, or a NAT's new mapping."""
        if sa.transport is None or not sa.transport.follow_peer or (local == sa.local and remote == sa.remote):
            return
        if sa.mobike:
            return  # RFC 4555 3.5: only UPDATE_SA_ADDRESSES moves a MOBIKE IKE SA
        self.half_open.pop((sa.spi_i, sa.remote[0], sa.remote[1]), None)
        self.log.debug(f"{self.prefix(sa)} peer now at {endpoint(*remote)} (from {endpoint(*sa.remote)}), "
                       f"our end {endpoint(*local)}", "base")
        sa.local, sa.remote = local, remote
        self.peer_moved(sa)

    def peer_moved(self, sa: IkeSa) -> None:
        """``sa`` now talks to a new peer address or port (a NAT's new mapping): the engine
        moves its Child SAs along."""

    def admit_request(self, sa: IkeSa, msg: Message, data: bytes, local: tuple[str, int],
                      remote: tuple[str, int]) -> list[Payload] | None:
        """The inner payloads of the request the window expects, authenticated; None
        for a retransmission (answered from the cache), anything else (dropped)."""
        mid = msg.message_id
        sk = msg.sk_payload
        if mid == sa.last_response_id and sa.last_response and not (
                isinstance(sk, EncryptedFragment) and sk.fragment_number != 1):
            # RFC 7296 2.1: a retransmitted request gets the same response again (once per
            # fragmented retransmission, on its first fragment: RFC 7383 2.6.1).
            self.log.debug(f"{self.prefix(sa)} retransmitted {exchange_name(msg.exchange_type)} request {mid}: "
                           "resending response")
            self._send_to(sa.last_response, local, remote)  # RFC 7296 2.11: to where it came from
            return None
        if mid == sa.working_on:
            self.log.debug(f"{self.prefix(sa)} {exchange_name(msg.exchange_type)} request {mid} is being "
                           "answered: retransmission dropped")
            return None
        if mid != sa.expected_request_id:
            self.log.debug(f"{self.prefix(sa)} {exchange_name(msg.exchange_type)} request with message ID {mid}, "
                           f"expected {sa.expected_request_id}: dropped")
            return None
        payloads = protect.decrypt(sa, msg, data, self.log)
        if payloads is None:
            return None
        self.follow_peer(sa, local, remote)
        self.answering(sa, mid, local, remote)
        self.extensions_read(sa, msg, payloads)
        return payloads

    def admit_response(self, sa: IkeSa, msg: Message, data: bytes, local: tuple[str, int],
                       remote: tuple[str, int]) -> list[Payload] | None:
        """The inner payloads of the answer to our outstanding request (which then stops
        being retransmitted), authenticated; None when it does not verify."""
        payloads = protect.decrypt(sa, msg, data, self.log)
        if payloads is None:
            return None
        self.follow_peer(sa, local, remote)
        sa.last_request = b""  # answered: stop retransmitting
        self.extensions_read(sa, msg, payloads)
        return payloads
