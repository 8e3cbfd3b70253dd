"""The IKEv2 engine: datagrams and timer ticks in; datagrams, kernel calls,
log lines and events out. Sans-I/O: the clock, randomness, the kernel,
credentials and crypto jobs are injected (see :mod:`pluto_core.ikev2.conn`).

This module holds the message plumbing (SA lookup, message IDs, SK
protection, retransmission, stateless replies). The exchanges themselves live
in ``exchange_init`` (IKE_SA_INIT), ``exchange_auth`` (IKE_AUTH with a PSK and
the first Child SA) and ``exchange_info`` (INFORMATIONAL: delete, liveness).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pluto_core.errors import ConfigError, ProtocolError
from pluto_core.ikev2.chain import encode_payloads, parse_payloads
from pluto_core.ikev2.conn import (
    ChildInstall,
    Credentials,
    CryptoJobs,
    EngineConn,
    Extensions,
    InlineJobs,
    KernelPort,
    MessageContext,
    NoExtensions,
    TransportHint,
)
from pluto_core.ikev2.crypto import IntegrityError, encrypted_length, protect, unprotect
from pluto_core.ikev2.enums import ExchangeType, NotifyType
from pluto_core.ikev2.message import Message, parse_message
from pluto_core.ikev2.parse_error import ParseError
from pluto_core.ikev2.payloads import EncryptedFragment, EncryptedPayload, Notify, Payload
from pluto_core.ikev2.sa import IkeSa, IkeState
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.types import trap_priority

FLAG_INITIATOR = 0x08
FLAG_RESPONSE = 0x20
DDOS_IKE_THRESHOLD = 25000  # half-open IKE SAs before cookies are demanded (ddos-ike-threshold)
MAX_HALFOPEN_IKE = 50000  # half-open IKE SAs before new requests are dropped (max-halfopen-ike)
FRAGMENT_DATAGRAM_IPV4 = 576 - 20 - 8  # RFC 7383 2.5.1: an IKE message in one unfragmented datagram
FRAGMENT_DATAGRAM_IPV6 = 1280 - 40 - 8
MAX_FRAGMENTS = 64  # of one message we reassemble (memory bound per IKE SA)
ZERO_SPI = bytes(8)
INVALID_SPI_REPLIES_PER_SECOND = 10
REVIVE_DELAY = 5.0
NATT_KEEPALIVE = b"\xff"  # RFC 3948 section 2.3: one octet, 0xFF, no non-ESP marker


@dataclass(frozen=True, slots=True)
class Datagram:
    data: bytes
    local: tuple[str, int]
    remote: tuple[str, int]
    raw: bool = False  # a NAT-T keepalive: sent as is, without the non-ESP marker of port 4500


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """A Child SA as the event hooks see it (``updown`` scripts, metrics): where it
    runs, what it carries, its SPIs and the IDs. Never its keys."""

    ike_serial: int
    local_addr: str
    remote_addr: str
    local_id: str
    remote_id: str
    mode: str  # tunnel / transport
    local_ts: tuple[Selector, ...]
    remote_ts: tuple[Selector, ...]
    spi_in: int
    spi_out: int
    reqid: int
    encap: bool  # ESP in UDP (NAT-T)
    in_bytes: int | None = None  # on child-down: what went through, where the kernel said
    out_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """What happened, for ``ipsec up`` progress and the event hooks.

    kind: ``ike-up``, ``child-up``, ``ike-failed``, ``child-failed``, ``ike-down``,
    ``child-down``, ``ike-rekeyed``. ``child`` is set on ``child-up`` and ``child-down``.
    """

    kind: str
    conn: str
    serial: int
    detail: str = ""
    child: ChildInfo | None = None


class Engine:
    """All IKE SAs of one daemon."""

    def __init__(
        self,
        kernel: KernelPort,
        credentials: Credentials,
        clock: Callable[[], float],
        random: Callable[[int], bytes],
        log: Any,
        jobs: CryptoJobs | None = None,
        on_event: Callable[[Event], None] | None = None,
        force_busy: bool = False,
        uniqueids: bool = True,
        extensions: Extensions | None = None,
        keepalive_interval: float = 20.0,
        ddos_mode: str = "auto",
        ddos_ike_threshold: int = DDOS_IKE_THRESHOLD,
        max_halfopen_ike: int = MAX_HALFOPEN_IKE,
    ) -> None:
        self.kernel = kernel
        self.credentials = credentials
        self.clock = clock
        self.random = random
        self.log = log
        self.jobs: CryptoJobs = jobs or InlineJobs()
        self.on_event = on_event or (lambda event: None)
        # Denial of service (RFC 7296 2.6; Libreswan's ddos-mode): "busy" always
        # demands a COOKIE, "unlimited" never, "auto" from ddos_ike_threshold half-open
        # IKE SAs on; past max_halfopen_ike new IKE_SA_INIT requests are dropped.
        self.ddos_mode = "busy" if force_busy else ddos_mode
        self.ddos_ike_threshold = ddos_ike_threshold
        self.max_halfopen_ike = max_halfopen_ike
        self.halfopen_full = False  # said so in the log; quiet until a request is taken again
        self.uniqueids = uniqueids
        self.extensions: Extensions = extensions or NoExtensions()
        self.keepalive_interval = keepalive_interval  # NAT-T keepalives from behind a NAT (RFC 3948 2.3)
        self.conns: dict[str, EngineConn] = {}
        self.sas: dict[bytes, IkeSa] = {}  # by our SPI
        self.half_open: dict[tuple[bytes, str, int], IkeSa] = {}  # responder: (SPIi, peer)
        self.outbox: list[Datagram] = []
        self._serial = 0
        self._timers: list[tuple[float, int, int, str]] = []  # (when, seq, serial, kind)
        self._timer_seq = 0
        self._by_serial: dict[int, IkeSa] = {}
        self._cookie_secret = random(32)
        self._last_invalid_spi = -1e9
        self._revive: dict[str, float] = {}  # conn name -> when to initiate it again
        # The host may resolve a peer's host name anew before a revival (I/O stays out of
        # here); it then initiates itself. None: initiate at once.
        self.reviver: Callable[[str], None] | None = None
        self.reqid_base = 16384
        self.routed: set[str] = set()  # conns whose trap policies are in the kernel (ipsec route)

    # ------------------------------------------------------------------ API

    def add_conn(self, conn: EngineConn) -> None:
        """Raises ConfigError for an auth method the engine cannot compute or check."""
        from pluto_core.ikev2.exchange_auth import AUTH_METHODS

        for which, method in (("local", conn.local_auth), ("remote", conn.remote_auth)):
            if method not in AUTH_METHODS:
                raise ConfigError(f"\"{conn.name}\": {which} auth method '{method}' is not implemented")
        self.conns[conn.name] = conn

    def initiate(self, name: str) -> int:
        """Start an IKE SA (and its first Child SA) for conn ``name``; returns the IKE SA serial."""
        from pluto_core.ikev2.exchange_init import start_initiator

        conn = self.conns[name]
        return start_initiator(self, conn)

    def terminate(self, name: str) -> int:
        """Delete every IKE SA of conn ``name`` (and so their Child SAs); returns how many."""
        from pluto_core.ikev2.exchange_info import delete_ike_sa

        count = 0
        for sa in list(self.sas.values()):
            if sa.conn is not None and sa.conn.name == name and sa.state != IkeState.DEAD:
                delete_ike_sa(self, sa, notify_peer=sa.state == IkeState.ESTABLISHED)
                count += 1
        return count

    def acquire(self, sel_src: str, sel_dst: str) -> int | None:
        """The kernel saw traffic for a trap policy: initiate the ``auto=ondemand`` conn
        covering it, unless an IKE SA for it is already on its way. Returns the serial."""

        try:
            src, dst = Selector.from_subnet(sel_src), Selector.from_subnet(sel_dst)
        except ValueError:
            return None
        candidates: list[tuple[int, int, EngineConn]] = []
        for order, conn in enumerate(self.conns.values()):
            routed = conn.name in self.routed or conn.options.get("auto") in ("ondemand", "route")
            if not routed or conn.remote_addr is None:
                continue
            local = [t for t in conn.local_ts if src.within(t)]
            remote = [t for t in conn.remote_ts if dst.within(t)]
            if local and remote:
                candidates.append((trap_priority(conn, local[0], remote[0], src, dst), order, conn))
        if not candidates:
            return None
        # the conn whose trap policy the kernel matched: the lowest priority number
        _, _, conn = min(candidates, key=lambda c: c[:2])
        if any(sa.conn is conn or (sa.conn is not None and sa.conn.name == conn.name) for sa in self.ike_sas()):
            return None
        self.log.log(f"\"{conn.name}\": initiating on demand for {sel_src} to {sel_dst}")
        return self.initiate(conn.name)

    def expire(self, spi: int, hard: bool) -> None:
        """The kernel says an SA of ours reached a lifetime: soft rekeys, hard deletes."""
        from pluto_core.ikev2.exchange_create import rekey_child
        from pluto_core.ikev2.exchange_info import send_child_delete

        for sa in self.ike_sas():
            for child in list(sa.children):
                if spi in (child.spi_in, child.spi_out):
                    if not hard:
                        if not child.rekeying:
                            self.log.log(f"\"{sa.name}\" #{child.serial}: kernel reports the soft lifetime of "
                                         f"SPI 0x{spi:08x} reached; rekeying Child SA")
                        rekey_child(self, sa, child)
                    else:
                        from pluto_core.ikev2.exchange_info import _remove_child

                        send_child_delete(self, sa, [child.spi_in])
                        _remove_child(self, sa, child, "Child SA expired (kernel hard lifetime)")
                    return

    def pop_datagrams(self) -> list[Datagram]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def ike_sas(self) -> list[IkeSa]:
        return sorted((sa for sa in self.sas.values() if sa.state != IkeState.DEAD), key=lambda s: s.serial)

    def receive(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """One UDP payload (non-ESP marker already removed). Never raises."""
        try:
            self._receive(data, local, remote)
        except Exception as exc:  # the engine must survive any input; log and drop
            self.log.log(f"packet from {remote[0]}:{remote[1]}: dropped: internal error "
                         f"{exc.__class__.__name__}: {exc}")

    def revive_later(self, name: str, delay: float = REVIVE_DELAY) -> None:
        """A conn that should stay up (auto=start) lost its IKE SA: initiate it again later."""
        if name in self.conns and name not in self._revive:
            self.log.log(f"\"{name}\": connection is supposed to remain up; reviving in {delay:g}s")
            self._revive[name] = self.clock() + delay
            self._timer_seq += 1
            heapq.heappush(self._timers, (self._revive[name], self._timer_seq, 0, "revive"))

    def tick(self) -> None:
        """Run every timer that is due at ``clock()``."""
        now = self.clock()
        from pluto_core.ikev2.exchange_info import on_timer

        for name, when in list(self._revive.items()):
            if when <= now:
                del self._revive[name]
                if name in self.conns and not any(sa.name == name for sa in self.ike_sas()):
                    if self.reviver is not None:
                        self.reviver(name)
                    else:
                        self.initiate(name)

        while self._timers and self._timers[0][0] <= now:
            _when, _seq, serial, kind = heapq.heappop(self._timers)
            sa = self._by_serial.get(serial)
            if sa is None or sa.state == IkeState.DEAD:
                continue
            on_timer(self, sa, kind, now)

    # ------------------------------------------------------------ plumbing

    def next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def register(self, sa: IkeSa) -> None:
        self.sas[sa.our_spi] = sa
        self._by_serial[sa.serial] = sa

    def forget(self, sa: IkeSa) -> None:
        sa.state = IkeState.DEAD
        self.sas.pop(sa.our_spi, None)
        self._by_serial.pop(sa.serial, None)
        self.half_open.pop((sa.spi_i, sa.remote[0], sa.remote[1]), None)
        for child in sa.children:
            self._by_serial.pop(child.serial, None)

    def busy(self) -> bool:
        """Whether a new IKE_SA_INIT request must carry our COOKIE first."""
        if self.ddos_mode == "busy":
            return True
        return self.ddos_mode == "auto" and len(self.half_open) >= self.ddos_ike_threshold

    def schedule(self, sa: IkeSa, delay: float, kind: str) -> None:
        self.schedule_serial(sa.serial, delay, kind)

    def schedule_serial(self, serial: int, delay: float, kind: str) -> None:
        """A timer for an IKE SA or a Child SA serial (a Child SA's resolves to its current IKE SA)."""
        self._timer_seq += 1
        heapq.heappush(self._timers, (self.clock() + delay, self._timer_seq, serial, kind))

    def prefix(self, sa: IkeSa, serial: int | None = None) -> str:
        return f"\"{sa.name}\" #{sa.serial if serial is None else serial}:"

    def event(self, kind: str, sa: IkeSa, detail: str = "", serial: int | None = None,
              child: ChildInfo | None = None) -> None:
        self.on_event(Event(kind, sa.name, sa.serial if serial is None else serial, detail, child))

    def child_info(self, sa: IkeSa, install: ChildInstall, counts: tuple[int, int] | None = None) -> ChildInfo:
        conn = self.conns.get(sa.name)
        local_id = conn.local_id.text if conn is not None else install.local_addr
        remote_id = sa.peer_id.text if sa.peer_id is not None else install.remote_addr
        return ChildInfo(sa.serial, install.local_addr, install.remote_addr, local_id, remote_id, install.mode,
                         install.local_ts, install.remote_ts, install.inbound.spi, install.outbound.spi,
                         install.reqid, install.encap is not None,
                         counts[0] if counts is not None else None, counts[1] if counts is not None else None)

    def peer_text(self, sa: IkeSa) -> str:
        return f"{sa.remote[0]}:UDP/{sa.remote[1]}"

    # -- sending -------------------------------------------------------

    def _flags(self, sa: IkeSa, response: bool) -> int:
        return (FLAG_INITIATOR if sa.initiator else 0) | (FLAG_RESPONSE if response else 0)

    def encode(self, sa: IkeSa, exchange: int, message_id: int, payloads: Sequence[Payload],
               response: bool) -> bytes | tuple[bytes, ...]:
        """A protected message: the inner payloads go inside SK (RFC 7296 3.14); where
        both ends take fragments and it would not fit, the SKF fragments (RFC 7383)."""
        ctx = sa.sk_out
        assert ctx is not None
        first, plain = encode_payloads(payloads)
        size = encrypted_length(ctx, len(plain))
        msg = Message(sa.spi_i, sa.spi_r, exchange, self._flags(sa, response), message_id,
                      [EncryptedPayload(first, bytes(size))])
        raw = msg.to_bytes()
        limit = self._fragment_limit(sa)
        if limit and len(raw) > limit and exchange != ExchangeType.IKE_SA_INIT:
            fragments = self._fragments(sa, exchange, message_id, response, first, plain, limit)
            if fragments:
                return fragments
        head = raw[: len(raw) - size]
        return head + protect(ctx, head, plain, self.random(ctx.iv_size))

    def _fragment_limit(self, sa: IkeSa) -> int:
        """The largest IKE message in one datagram once fragmentation is agreed: RFC 7383
        2.5.1's 576 (IPv4) or 1280 (IPv6) octets less the IP and UDP headers and, on
        port 4500, the non-ESP marker. 0: do not fragment."""
        if sa.transport is None or not sa.transport.fragments:
            return 0
        limit = FRAGMENT_DATAGRAM_IPV6 if ":" in sa.remote[0] else FRAGMENT_DATAGRAM_IPV4
        return limit - (4 if sa.remote[1] == 4500 else 0)

    def _fragments(self, sa: IkeSa, exchange: int, message_id: int, response: bool, first: int,
                   plain: bytes, limit: int) -> tuple[bytes, ...]:
        """The message as SKF fragments, each encrypted and authenticated on its own;
        the first carries the first inner payload's type, the others 0 (RFC 7383 2.5)."""
        ctx = sa.sk_out
        assert ctx is not None
        # IKE header, SKF header, IV, ICV, and the worst padding with its length octet
        room = limit - 28 - 8 - ctx.iv_size - ctx.icv_size - ctx.block_size
        if room < 16:
            return ()
        chunks = [plain[i:i + room] for i in range(0, len(plain), room)] or [b""]
        if len(chunks) > MAX_FRAGMENTS:
            return ()
        out = []
        for number, chunk in enumerate(chunks, 1):
            size = encrypted_length(ctx, len(chunk))
            msg = Message(sa.spi_i, sa.spi_r, exchange, self._flags(sa, response), message_id,
                          [EncryptedFragment(first if number == 1 else 0, number, len(chunks), bytes(size))])
            raw = msg.to_bytes()
            head = raw[: len(raw) - size]
            out.append(head + protect(ctx, head, chunk, self.random(ctx.iv_size)))
        self.log.debug(f"{self.prefix(sa)} {_xname(Message(sa.spi_i, sa.spi_r, exchange, 0, message_id, []))} "
                       f"message {message_id} of {len(plain)} octets sent in {len(out)} fragments")
        return tuple(out)

    def send_request(self, sa: IkeSa, exchange: int, payloads: Sequence[Payload],
                     plain: bool = False, ctx: Any = None) -> None:
        """Send now, or queue until the outstanding request is answered (window of one)."""
        if sa.last_request and exchange != ExchangeType.IKE_SA_INIT:
            sa.queue.append((exchange, list(payloads), ctx))
            return
        sa.request_ctx = ctx
        payloads = list(payloads) + self._extend(sa, exchange, request=True)
        mid = sa.next_request_id
        data: bytes | tuple[bytes, ...]
        if plain:
            data = Message(sa.spi_i, sa.spi_r, exchange, self._flags(sa, False), mid, list(payloads)).to_bytes()
        else:
            data = self.encode(sa, exchange, mid, payloads, response=False)
        sa.next_request_id = mid + 1
        sa.last_request, sa.last_request_id = data, mid
        sa.retransmits = 0
        sa.request_started = self.clock()
        self.transmit(sa, data)
        if sa.conn is not None:
            self.schedule(sa, sa.conn.retransmit_interval, f"retransmit:{mid}")

    def send_response(self, sa: IkeSa, exchange: int, message_id: int, payloads: Sequence[Payload],
                      plain: bool = False) -> bytes | tuple[bytes, ...]:
        payloads = list(payloads) + self._extend(sa, exchange, request=False)
        data: bytes | tuple[bytes, ...]
        if plain:
            data = Message(sa.spi_i, sa.spi_r, exchange, self._flags(sa, True), message_id,
                           list(payloads)).to_bytes()
        else:
            data = self.encode(sa, exchange, message_id, payloads, response=True)
        sa.last_response, sa.last_response_id = data, message_id
        sa.expected_request_id = message_id + 1
        self.transmit(sa, data)
        return data

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

    def transmit(self, sa: IkeSa, data: bytes | tuple[bytes, ...]) -> None:
        for datagram in (data,) if isinstance(data, bytes) else data:
            self.outbox.append(Datagram(datagram, sa.local, sa.remote))

    def send_keepalive(self, sa: IkeSa) -> None:
        self.outbox.append(Datagram(NATT_KEEPALIVE, sa.local, sa.remote, raw=True))

    def reply_stateless(self, request: Message, local: tuple[str, int], remote: tuple[str, int],
                        notify: Notify) -> None:
        """An unprotected IKE_SA_INIT answer that keeps no state (COOKIE, INVALID_KE, NO_PROPOSAL)."""
        msg = Message(request.spi_i, ZERO_SPI, request.exchange_type, FLAG_RESPONSE, request.message_id,
                      [notify])
        self.outbox.append(Datagram(msg.to_bytes(), local, remote))

    def _answer_malformed_init(self, data: bytes, exc: ParseError, local: tuple[str, int],
                               remote: tuple[str, int]) -> None:
        """A malformed IKE_SA_INIT request gets the notify the RFC names, unprotected and
        stateless (INVALID_MAJOR_VERSION 2.5, UNSUPPORTED_CRITICAL_PAYLOAD 2.5,
        INVALID_SYNTAX); anything else malformed is only dropped (2.21). Rate-limited."""
        if len(data) < 28 or data[18] != ExchangeType.IKE_SA_INIT or data[19] & FLAG_RESPONSE \
                or data[8:16] != ZERO_SPI or exc.notify is None:
            return
        now = self.clock()
        if now - self._last_invalid_spi < 1.0 / INVALID_SPI_REPLIES_PER_SECOND:
            return
        self._last_invalid_spi = now
        critical = getattr(exc, "payload_type", None)
        if exc.notify == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD and critical is not None:
            notify = Notify.for_unsupported_critical(critical)
        else:
            notify = Notify(exc.notify)
        msg = Message(data[0:8], ZERO_SPI, ExchangeType.IKE_SA_INIT, FLAG_RESPONSE,
                      int.from_bytes(data[20:24], "big"), [notify])
        self.outbox.append(Datagram(msg.to_bytes(), local, remote))

    def _invalid_ike_spi(self, request: Message, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """RFC 7296 2.21.4: answer a request for an unknown IKE SA with an unprotected
        INVALID_IKE_SPI, rate-limited so that we cannot be used as a reflector."""
        now = self.clock()
        if now - self._last_invalid_spi < 1.0 / INVALID_SPI_REPLIES_PER_SECOND:
            return
        self._last_invalid_spi = now
        flags = FLAG_RESPONSE | (0 if request.is_initiator else FLAG_INITIATOR)
        msg = Message(request.spi_i, request.spi_r, request.exchange_type, flags, request.message_id,
                      [Notify(NotifyType.INVALID_IKE_SPI)])
        self.outbox.append(Datagram(msg.to_bytes(), local, remote))

    def cookie_for(self, spi_i: bytes, nonce: bytes, remote: tuple[str, int]) -> bytes:
        """RFC 7296 2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)."""
        digest = hmac.new(self._cookie_secret, nonce + remote[0].encode() + spi_i, hashlib.sha256).digest()
        return b"\x00" + digest[:16]

    # -- receiving -----------------------------------------------------

    def _receive(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        try:
            msg = parse_message(data)
        except ParseError as exc:
            self.log.log(f"packet from {remote[0]}:{remote[1]}: dropped: {exc}")
            self._answer_malformed_init(data, exc, local, remote)
            return
        if msg.exchange_type == ExchangeType.IKE_SA_INIT and not msg.is_response:
            from pluto_core.ikev2.exchange_init import on_init_request

            on_init_request(self, msg, data, local, remote)
            return
        our_spi = msg.spi_r if msg.is_initiator else msg.spi_i
        sa = self.sas.get(our_spi)
        if sa is None:
            self.log.debug(f"packet from {remote[0]}:{remote[1]}: no IKE SA for SPI {our_spi.hex()}: dropped")
            if not msg.is_response:
                self._invalid_ike_spi(msg, local, remote)
            return
        if msg.is_initiator == sa.initiator:
            self.log.log(f"{self.prefix(sa)} packet from {self.peer_text(sa)} has the wrong I flag: dropped")
            return
        sa.last_contact = self.clock()
        if msg.is_response:
            self._on_response(sa, msg, data, local, remote)
        else:
            self._on_request(sa, msg, data, local, remote)

    def decrypt(self, sa: IkeSa, msg: Message, data: bytes) -> list[Payload] | None:
        """The inner payloads of a protected message, or None (logged) when it does not verify."""
        sk = msg.sk_payload
        if sa.sk_in is not None and isinstance(sk, EncryptedFragment):
            return self._reassemble(sa, msg, data, sk)
        if sa.sk_in is None or sk is None:
            self.log.log(f"{self.prefix(sa)} {_xname(msg)} from {self.peer_text(sa)} is not encrypted: dropped")
            return None
        assert isinstance(sk, EncryptedPayload)
        offset = len(data) - 4 - len(sk.data)
        try:
            plain = unprotect(sa.sk_in, data, offset)
            return parse_payloads(sk.inner_type, plain)
        except IntegrityError:
            # An unauthenticated bad message changes no state (RFC 7296 2.21).
            self.log.log(f"{self.prefix(sa)} {_xname(msg)} from {self.peer_text(sa)}: integrity check "
                         "failed: dropped")
        except (ProtocolError, ValueError) as exc:
            self.log.log(f"{self.prefix(sa)} {_xname(msg)} from {self.peer_text(sa)}: {exc}: dropped")
        return None

    def _reassemble(self, sa: IkeSa, msg: Message, data: bytes, sk: EncryptedFragment) -> list[Payload] | None:
        """Collect the SKF fragments of one message (RFC 7383 2.6): each is checked on
        its own; the inner payloads are parsed once all have come. None meanwhile."""
        where = f"{self.prefix(sa)} {_xname(msg)} fragment {sk.fragment_number}/{sk.total_fragments} from " \
                f"{self.peer_text(sa)}"
        if sa.transport is None or not sa.transport.fragments:
            self.log.log(f"{where}: fragmentation was not negotiated: dropped")
            return None
        if not 1 <= sk.fragment_number <= sk.total_fragments or sk.total_fragments > MAX_FRAGMENTS:
            self.log.log(f"{where}: impossible numbering (at most {MAX_FRAGMENTS} fragments): dropped")
            return None
        try:
            plain = unprotect(sa.sk_in, data, len(data) - 8 - len(sk.data), fragment=True)  # type: ignore[arg-type]
        except IntegrityError:
            self.log.log(f"{where}: integrity check failed: dropped")
            return None
        except (ProtocolError, ValueError) as exc:
            self.log.log(f"{where}: {exc}: dropped")
            return None
        key = (msg.message_id, msg.is_response, sk.total_fragments)
        buf = sa.fragments_in
        if buf is None or buf[0] != key:  # a new message, or a new set for it: start again
            buf = sa.fragments_in = (key, {})
        parts: dict[int, tuple[int, bytes]] = buf[1]
        parts[sk.fragment_number] = (sk.inner_type, plain)
        if len(parts) < sk.total_fragments:
            return None
        sa.fragments_in = None
        first = parts[1][0]
        joined = b"".join(parts[n][1] for n in range(1, sk.total_fragments + 1))
        self.log.debug(f"{self.prefix(sa)} {_xname(msg)} reassembled from {sk.total_fragments} fragments")
        try:
            return parse_payloads(first, joined)
        except (ProtocolError, ValueError) as exc:
            self.log.log(f"{self.prefix(sa)} {_xname(msg)} from {self.peer_text(sa)} (reassembled): {exc}: "
                         "dropped")
            return None

    def follow_peer(self, sa: IkeSa, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """With NAT-T, send where the latest authenticated message came from (RFC 7296
        section 2.23): the initiator's move to port 4500, or a NAT's new mapping."""
        if sa.transport is None or not sa.transport.follow_peer or (local == sa.local and remote == sa.remote):
            return
        self.half_open.pop((sa.spi_i, sa.remote[0], sa.remote[1]), None)
        self.log.debug(f"{self.prefix(sa)} peer now at {remote[0]}:{remote[1]} (from {sa.remote[0]}:"
                       f"{sa.remote[1]}), our end {local[0]}:{local[1]}", "base")
        sa.local, sa.remote = local, remote

    def _on_request(self, sa: IkeSa, msg: Message, data: bytes, local: tuple[str, int],
                    remote: tuple[str, int]) -> None:
        mid = msg.message_id
        sk = msg.sk_payload
        if mid == sa.last_response_id and sa.last_response and not (
                isinstance(sk, EncryptedFragment) and sk.fragment_number != 1):
            # RFC 7296 2.1: a retransmitted request gets the same response again (once per
            # fragmented retransmission, on its first fragment: RFC 7383 2.6.1).
            self.log.debug(f"{self.prefix(sa)} retransmitted {_xname(msg)} request {mid}: resending response")
            self.transmit(sa, sa.last_response)
            return
        if mid != sa.expected_request_id:
            self.log.debug(f"{self.prefix(sa)} {_xname(msg)} request with message ID {mid}, expected "
                           f"{sa.expected_request_id}: dropped")
            return
        payloads = self.decrypt(sa, msg, data)
        if payloads is None:
            return
        self.follow_peer(sa, local, remote)
        self.extensions_read(sa, msg, payloads)
        if msg.exchange_type == ExchangeType.IKE_AUTH and not sa.initiator and sa.state == IkeState.INIT_DONE:
            from pluto_core.ikev2.exchange_auth import on_auth_request

            on_auth_request(self, sa, msg, payloads)
        elif msg.exchange_type == ExchangeType.INFORMATIONAL and sa.state == IkeState.ESTABLISHED:
            from pluto_core.ikev2.exchange_info import on_informational_request

            on_informational_request(self, sa, msg, payloads)
        elif msg.exchange_type == ExchangeType.CREATE_CHILD_SA and sa.state == IkeState.ESTABLISHED:
            from pluto_core.ikev2.exchange_create import on_create_request

            on_create_request(self, sa, msg, payloads)
        else:
            self.log.log(f"{self.prefix(sa)} unexpected {_xname(msg)} request in state "
                         f"'{sa.state.value}': dropped")

    def _on_response(self, sa: IkeSa, msg: Message, data: bytes, local: tuple[str, int],
                     remote: tuple[str, int]) -> None:
        if msg.message_id != sa.last_request_id or not sa.last_request:
            self.log.debug(f"{self.prefix(sa)} {_xname(msg)} response {msg.message_id} matches no "
                           "outstanding request: dropped")
            return
        if msg.exchange_type == ExchangeType.IKE_SA_INIT:
            if sa.state == IkeState.INIT_SENT:
                from pluto_core.ikev2.exchange_init import on_init_response

                self.extensions_read(sa, msg, msg.payloads)
                on_init_response(self, sa, msg, data)
            return
        payloads = self.decrypt(sa, msg, data)
        if payloads is None:
            return
        self.follow_peer(sa, local, remote)
        sa.last_request = b""  # answered: stop retransmitting
        self.extensions_read(sa, msg, payloads)
        ctx, sa.request_ctx = sa.request_ctx, None
        self._dispatch_response(sa, msg, payloads, ctx)
        if sa.queue and not sa.last_request and sa.state == IkeState.ESTABLISHED:
            exchange, queued, queued_ctx = sa.queue.pop(0)
            self.send_request(sa, exchange, queued, ctx=queued_ctx)

    def _dispatch_response(self, sa: IkeSa, msg: Message, payloads: list[Payload], ctx: Any) -> None:
        if msg.exchange_type == ExchangeType.CREATE_CHILD_SA and ctx is not None:
            from pluto_core.ikev2.exchange_create import on_create_response

            on_create_response(self, sa, msg, payloads, ctx)
        elif msg.exchange_type == ExchangeType.IKE_AUTH and sa.state == IkeState.AUTH_SENT:
            from pluto_core.ikev2.exchange_auth import on_auth_response

            on_auth_response(self, sa, msg, payloads)
        elif msg.exchange_type == ExchangeType.INFORMATIONAL:
            from pluto_core.ikev2.exchange_info import on_informational_response

            on_informational_response(self, sa, msg, payloads)
        else:
            self.log.log(f"{self.prefix(sa)} unexpected {_xname(msg)} response: dropped")


def _xname(msg: Message) -> str:
    try:
        return ExchangeType(msg.exchange_type).name
    except ValueError:
        return f"exchange {msg.exchange_type}"


def notify_types(payloads: Sequence[Payload]) -> list[int]:
    return [p.type for p in payloads if isinstance(p, Notify)]


def first_error(payloads: Sequence[Payload]) -> int | None:
    """The first error notify type (below 16384, RFC 7296 3.10.1), if any."""
    for p in payloads:
        if isinstance(p, Notify) and p.type < 16384:
            return p.type
    return None


def notify_name(code: int) -> str:
    try:
        return NotifyType(code).name
    except ValueError:
        return f"NOTIFY {code}"
