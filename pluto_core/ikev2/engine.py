"""The IKEv2 engine: datagrams, timer ticks, kernel notices and crypto-job results
in; datagrams, crypto jobs, kernel calls, log lines and events out. Sans-I/O: the
clock, randomness, the kernel and credentials are injected
(:mod:`pluto_core.ikev2.ports`); what comes out is :mod:`pluto_core.ikev2.events`.

This module holds the SA table, message IDs and the window of one (RFC 7296 2.3),
retransmission and cached responses (2.1), and routes what arrives to the task
that owns it (``ikev2/tasks``), by tables: which exchange may arrive in which
state, which task owns which timer.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pluto_core.errors import ConfigError
from pluto_core.ikev2 import acquire, stateless, timers
from pluto_core.ikev2.dispatch import REQUESTS, RESPONSES, TIMERS
from pluto_core.ikev2.endpoint import endpoint
from pluto_core.ikev2.enums import ExchangeType, exchange_name
from pluto_core.ikev2.events import EVENT_CLASSES, ChildInfo, CryptoJob, Datagram, Event, ReviveDue
from pluto_core.ikev2.message import Message, parse_message
from pluto_core.ikev2.messages import Messages
from pluto_core.ikev2.parse_error import ParseError
from pluto_core.ikev2.pool import Pools
from pluto_core.ikev2.ports import Addresses, Credentials, Extensions, KernelPort, NoExtensions
from pluto_core.ikev2.redirect_policy import GLOBAL_MODES, RedirectPolicy, gateway_identity, split_dests
from pluto_core.ikev2.sa import ChildSa, IkeSa, IkeState
from pluto_core.ikev2.tasks import child_rekey, delete, ike_auth, ike_init, mobike, redirect, rekey
from pluto_core.ikev2.tasks.common import CreateCtx
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import EngineConn

__all__ = ["ChildInfo", "CryptoJob", "Datagram", "Engine", "Event"]

REVIVE_DELAY = 5.0
class Engine(Messages):
    """All IKE SAs of one daemon."""

    def __init__(self, kernel: KernelPort, credentials: Credentials, clock: Callable[[], float],
                 random: Callable[[int], bytes], log: Any, offload_jobs: bool = False,
                 offload_lookups: bool = False, host_revives: bool = False,
                 on_event: Callable[[Event], None] | None = None, force_busy: bool = False, uniqueids: bool = True,
                 extensions: Extensions | None = None, keepalive_interval: float = 20.0, ddos_mode: str = "auto",
                 ddos_ike_threshold: int = stateless.DDOS_IKE_THRESHOLD,
                 max_halfopen_ike: int = stateless.MAX_HALFOPEN_IKE,
                 wall_clock: Callable[[], Any] | None = None, global_redirect: str = "no",
                 global_redirect_to: str | None = None, addresses: Addresses | None = None) -> None:
        super().__init__(clock, random, log, extensions or NoExtensions(), random(32))
        self.kernel, self.credentials = kernel, credentials
        # UTC ``datetime`` now, for certificate validity (the clock above is monotonic); None:
        # no peer certificate can be validated
        self.wall_clock = wall_clock
        # Offloaded jobs wait in pop_jobs() for the host (crypto: --nhelpers; lookups: a thread
        # off its loop), whose results come back through job_done(); others run at once, in here.
        self._offload = {kind for kind, yes in (("crypto", offload_jobs), ("lookup", offload_lookups)) if yes}
        self.host_revives = host_revives
        self._jobs: list[CryptoJob] = []
        self._waiting: dict[int, Callable[[Any], None]] = {}  # job id -> what goes on with its result
        self._job_seq = 0
        # Events wait in a queue the host drains (pop_events) once a call returns, so that no
        # plugin runs in the middle of an exchange; tests and the benchmark may take each at once.
        self.on_event = on_event
        self._events: list[Event] = []
        self.ddos = stateless.DdosPolicy("busy" if force_busy else ddos_mode, ddos_ike_threshold, max_halfopen_ike)
        self.redirects = RedirectPolicy()
        self.set_global_redirect(global_redirect, global_redirect_to)
        self.uniqueids = uniqueids
        self.keepalive_interval = keepalive_interval  # NAT-T keepalives from behind a NAT (RFC 3948 2.3)
        self.conns: dict[str, EngineConn] = {}
        self.sas: dict[bytes, IkeSa] = {}  # by our SPI
        self.half_open: dict[tuple[bytes, str, int], IkeSa] = {}  # responder: (SPIi, peer)
        self._serial = 0
        self._by_serial: dict[int, IkeSa] = {}  # IKE SA serials, and Child SA serials to their IKE SA
        self._reply_limit = stateless.RateLimit()
        self._revive: dict[str, float] = {}  # conn name -> when to initiate it again
        self.reqid_base = 16384
        self._routed: set[str] = set()  # conns whose trap policies are in the kernel (ipsec route)
        # road warriors (RFC 7296 3.15): where leases come from (default: the addresspool= ranges)
        self.addresses: Addresses = addresses if addresses is not None else Pools()
        # instances of %any templates: id(instance) -> [instance, IKE SAs using it]; numbers per template
        self._instances: dict[int, list[Any]] = {}
        self._instance_seq: dict[str, int] = {}

    # ------------------------------------------------------------------ conns

    def add_conn(self, conn: EngineConn) -> None:
        """Raises ConfigError for an auth method the engine cannot compute or check."""
        for which, method in (("local", conn.local_auth), ("remote", conn.remote_auth)):
            if method not in ike_auth.AUTH_METHODS:
                raise ConfigError(f"\"{conn.name}\": {which} auth method '{method}' is not implemented")
        if conn.mobike and (refusal := self.kernel.migrate_refusal()) is not None:
            self.log.log(f"\"{conn.name}\": mobike=yes, but MOBIKE_SUPPORTED is not sent: {refusal}")
        self.conns[conn.name] = conn

    def remove_conn(self, name: str) -> None:
        """Forget conn ``name`` (its SAs stay until deleted)."""
        self.conns.pop(name, None)

    def route(self, name: str) -> None:
        """The host installed conn ``name``'s trap policies: ACQUIREs may initiate it."""
        self._routed.add(name)

    def unroute(self, name: str) -> None:
        self._routed.discard(name)

    @property
    def routed(self) -> frozenset[str]:
        return frozenset(self._routed)

    @property
    def ddos_mode(self) -> str:
        return self.ddos.mode

    def set_ddos_mode(self, mode: str) -> None:
        """``ipsec whack --ddos-busy/--ddos-unlimited/--ddos-auto``."""
        if mode not in stateless.DDOS_MODES:
            raise ValueError(f"ddos mode {mode!r} is not one of {', '.join(stateless.DDOS_MODES)}")
        self.ddos.mode = mode

    @property
    def max_halfopen_ike(self) -> int:
        return self.ddos.max_halfopen

    def busy(self) -> bool:
        """Whether a new IKE_SA_INIT request must carry our COOKIE first."""
        return self.ddos.busy(len(self.half_open))

    def set_global_redirect(self, mode: str, dests: str | None = None) -> None:
        """config setup ``global-redirect=`` and ``global-redirect-to=`` (``ipsec whack
        --global-redirect``): answer IKE_SA_INIT requests with a REDIRECT (RFC 5685 3);
        ``dests`` (a list) replaces the destinations when given."""
        if mode not in GLOBAL_MODES:
            raise ValueError(f"global-redirect={mode!r} is not one of {', '.join(GLOBAL_MODES)}")
        if dests is not None:
            for dest in split_dests(dests):
                gateway_identity(dest)  # raises ValueError for one that cannot be sent
            self.redirects.dests = split_dests(dests)
        self.redirects.mode = mode

    def redirect(self, dests: str, name: str | None = None, peer: str | None = None) -> int:
        """``ipsec whack --redirect-to``: send the established peers of conn ``name`` (or
        the one at ``peer``, or all) to ``dests`` in turn (RFC 5685 5); how many."""
        targets = split_dests(dests)
        if not targets:
            raise ValueError("no redirect destination given")
        for dest in targets:
            gateway_identity(dest)
        return redirect.redirect_established(self, name, targets, peer)

    def initiate_redirected(self, name: str, address: str) -> int | None:
        """The host resolved the gateway a ``RedirectDue`` named: initiate conn ``name`` to it."""
        old = self.redirects.waiting.pop(name, None)
        conn = self.conns.get(name)
        if old is None or conn is None:
            return None
        if not redirect.allowed(conn, address):
            self.log.log(f"\"{name}\": redirect to {address} refused: not listed in accept-redirect-to")
            return None
        self.log.log(f"\"{name}\": initiating redirect to new gateway (address: {address})")
        return redirect.initiate(self, conn, address, old)

    # ------------------------------------------------------------------ what the host asks

    def initiate(self, name: str) -> int:
        """Start an IKE SA (and its first Child SA) for conn ``name``; returns the IKE SA serial."""
        return ike_init.build_i(self, self.conns[name])

    def initiate_conn(self, conn: EngineConn, redirected_from: str = "") -> int:
        """Start an IKE SA for ``conn`` as given (a redirect's copy with the new gateway)."""
        return ike_init.build_i(self, conn, redirected_from=redirected_from)

    def terminate(self, name: str) -> int:
        """Delete every IKE SA of conn ``name`` (and so their Child SAs); returns how many."""
        return delete.terminate(self, name)

    def acquire(self, sel_src: str, sel_dst: str) -> int | None:
        """The kernel saw traffic for a trap policy: initiate the ``auto=ondemand`` conn
        covering it, unless an IKE SA for it is already on its way. Returns the serial."""
        conn = acquire.trapped_conn(self.conns.values(), self._routed, sel_src, sel_dst)
        if conn is None:
            return None
        if any(sa.conn is conn or (sa.conn is not None and sa.conn.name == conn.name) for sa in self.ike_sas()):
            return None
        self.log.log(f"\"{conn.name}\": initiating on demand for {sel_src} to {sel_dst}")
        return self.initiate(conn.name)

    def move(self, serial: int, address: str) -> bool:
        """Our IKE SA ``serial`` (its original initiator) should now leave from local
        ``address``: MOBIKE's UPDATE_SA_ADDRESSES (RFC 4555 3.5). False when it does not
        use MOBIKE or is there already."""
        sa = self._by_serial.get(serial)
        return sa is not None and sa.serial == serial and mobike.move(self, sa, address)

    def mapping(self, spi: int, src: str, sport: int) -> bool:
        """The kernel authenticated ESP in UDP for our inbound SA ``spi`` arriving from a new
        address or port (the peer's NAT mapping changed: Linux reports it only after the
        packet's ICV checked, RFC 3948 5.2): the IKE SA and its Child SAs follow, as they
        would an authenticated IKE message (RFC 7296 2.23). Not for a MOBIKE IKE SA, whose
        addresses only UPDATE_SA_ADDRESSES changes. False: no Child SA of ours has ``spi``."""
        for sa in self.ike_sas():
            if sa.state != IkeState.ESTABLISHED or not any(c.spi_in == spi for c in sa.children):
                continue
            new, transport = (src, sport), sa.transport
            if new == sa.remote:
                return True
            if sa.mobike or transport is None or not transport.follow_peer or not transport.encapsulate:
                self.log.log(f"{self.prefix(sa)} ESP in UDP from {endpoint(*new)}, the peer is at "
                             f"{endpoint(*sa.remote)}: not followed ({'MOBIKE' if sa.mobike else 'no NAT'})")
                return True
            self.log.log(f"{self.prefix(sa)} NAT mapping of the peer changed: ESP in UDP now from "
                         f"{endpoint(*new)} (was {endpoint(*sa.remote)})")
            sa.remote = new
            self.peer_moved(sa)
            return True
        return False

    def peer_moved(self, sa: IkeSa) -> None:
        if sa.state != IkeState.ESTABLISHED or not sa.children:
            return
        moved = mobike.migrate_children(self, sa)
        if moved:
            self.log.log(f"{self.prefix(sa)} peer now at {endpoint(*sa.remote)}: {moved} Child SA(s) moved there")

    def expire(self, spi: int, hard: bool) -> None:
        """The kernel says an SA of ours reached a lifetime: soft rekeys, hard deletes."""
        child_rekey.on_kernel_expire(self, spi, hard)

    def ike_sas(self) -> list[IkeSa]:
        return sorted((sa for sa in self.sas.values() if sa.state != IkeState.DEAD), key=lambda s: s.serial)

    def revive_later(self, name: str, delay: float = REVIVE_DELAY) -> None:
        """A conn that should stay up (auto=start) lost its IKE SA: initiate it again later."""
        if name in self.conns and name not in self._revive:
            self.log.log(f"\"{name}\": connection is supposed to remain up; reviving in {delay:g}s")
            self._revive[name] = self.clock() + delay
            self._timer_seq += 1
            heapq.heappush(self._timers, (self._revive[name], self._timer_seq, 0, timers.Revive(name)))

    # ------------------------------------------------------------------ timers

    def tick(self) -> None:
        """Run every timer that is due at ``clock()``."""
        now = self.clock()
        for name, when in list(self._revive.items()):
            if when <= now:
                del self._revive[name]
                if name in self.conns and not any(sa.name == name for sa in self.ike_sas()):
                    self._emit(ReviveDue(name, 0))
                    if not self.host_revives:
                        self.initiate(name)
        while self._timers and self._timers[0][0] <= now:
            _when, _seq, serial, timer = heapq.heappop(self._timers)
            sa = self._by_serial.get(serial)
            if sa is not None and sa.state != IkeState.DEAD:
                self._on_timer(sa, timer, now)

    def _on_timer(self, sa: IkeSa, timer: timers.Timer, now: float) -> None:
        """Hand a due timer to the task that owns it (``TIMERS``)."""
        TIMERS[type(timer)](self, sa, timer, now)

    # ------------------------------------------------------------------ the SA table

    def next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def register(self, sa: IkeSa) -> None:
        self.sas[sa.our_spi] = sa
        self._by_serial[sa.serial] = sa
        self._hold(sa.conn)

    # ------------------------------------------------------------------ instances (road warriors)

    def instantiate(self, template: EngineConn, peer: str) -> EngineConn:
        """A new instance of ``template`` (``right=%any``) for the peer at ``peer``: its own
        number (``"rw"[3] 192.0.2.9``, never reused, as Libreswan's), the peer's address, and
        the peer's host as its selector unless the template names subnets."""
        number = self._instance_seq[template.name] = self._instance_seq.get(template.name, 0) + 1
        remote_ts = template.remote_ts
        if not remote_ts:
            host = ipaddress.ip_address(peer)
            remote_ts = (Selector.from_subnet(f"{host}/{host.max_prefixlen}"),)
        return replace(template, remote_addr=peer, remote_ts=remote_ts, instance=number)

    def with_lease(self, conn: EngineConn, lease: tuple[str, ...]) -> EngineConn:
        """``conn`` (an instance) with the peer's leased addresses as its selectors (RFC 7296 2.9:
        the responder narrows TSi to what it assigned)."""
        ts = tuple(Selector.from_subnet(f"{a}/{ipaddress.ip_address(a).max_prefixlen}") for a in lease)
        return replace(conn, lease=lease, remote_ts=ts)

    def switch_conn(self, sa: IkeSa, conn: EngineConn) -> None:
        """``sa`` now belongs to ``conn`` (an ID-based switch at IKE_AUTH, a lease)."""
        old, sa.conn = sa.conn, conn
        self._hold(conn)
        self._drop(sa, old)

    def conn_of(self, serial: int) -> EngineConn | None:
        """The conn the IKE SA of ``serial`` (an IKE or Child SA serial) runs on now: an
        instance, a lease; None once it is gone."""
        sa = self._by_serial.get(serial)
        return sa.conn if sa is not None and sa.state != IkeState.DEAD else None

    def instances(self) -> list[tuple[EngineConn, int]]:
        """The live instances and how many IKE SAs each has (``ipsec status``)."""
        return [(conn, refs) for conn, refs in self._instances.values()]

    def _hold(self, conn: EngineConn | None) -> None:
        if conn is not None and conn.instance:
            entry = self._instances.setdefault(id(conn), [conn, 0])
            entry[1] += 1

    def _drop(self, sa: IkeSa, conn: EngineConn | None) -> None:
        """One IKE SA less on ``conn``; the last one gone ends the instance and its leases."""
        if conn is None or not conn.instance:
            return
        entry = self._instances.get(id(conn))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del self._instances[id(conn)]
        if conn.lease and sa.peer_id is not None:
            for address in conn.lease:
                self.addresses.release(conn, sa.peer_id, address)
                self.log.log(f"{conn.label}: released lease {address} of {sa.peer_id.kind_name} "
                             f"'{sa.peer_id.text}'")

    def attach_child(self, sa: IkeSa, child: ChildSa) -> None:
        """``child``'s timers now belong to ``sa`` (a new Child SA, or one moved by an IKE SA rekey)."""
        self._by_serial[child.serial] = sa

    def forget(self, sa: IkeSa) -> None:
        if sa.state != IkeState.DEAD and self.sas.get(sa.our_spi) is sa:
            self._drop(sa, sa.conn)
        sa.to(IkeState.DEAD)
        self.sas.pop(sa.our_spi, None)
        self._by_serial.pop(sa.serial, None)
        self.half_open.pop((sa.spi_i, sa.remote[0], sa.remote[1]), None)
        for child in sa.children:
            self._by_serial.pop(child.serial, None)

    # ------------------------------------------------------------------ log lines and events

    def event(self, kind: str, sa: IkeSa, detail: str = "", serial: int | None = None,
              child: ChildInfo | None = None) -> None:
        self._emit(EVENT_CLASSES[kind](sa.name, sa.serial if serial is None else serial, detail, child))

    def _emit(self, ev: Event) -> None:
        if self.on_event is None:
            self._events.append(ev)
        else:
            self.on_event(ev)

    def pop_events(self) -> list[Event]:
        """What happened since the last call (with no ``on_event`` given)."""
        out, self._events = self._events, []
        return out

    # ------------------------------------------------------------------ crypto jobs

    def submit_job(self, fn: Callable[..., Any], args: tuple[Any, ...], then: Callable[[Any], None],
                   kind: str = "crypto") -> None:
        """Run ``fn(*args)`` now, or hand it to the host; ``then(result)`` goes on either way."""
        if kind not in self._offload:
            try:
                result = fn(*args)
            except Exception as exc:
                result = exc
            then(result)
            return
        self._job_seq += 1
        self._waiting[self._job_seq] = then
        self._jobs.append(CryptoJob(self._job_seq, fn, args, kind))

    def pop_jobs(self) -> list[CryptoJob]:
        """The crypto jobs the host is to run (with ``offload_jobs``)."""
        out, self._jobs = self._jobs, []
        return out

    def job_done(self, job_id: int, result: Any) -> None:
        """The result of a job from ``pop_jobs`` (an exception instance when it failed). Never raises."""
        then = self._waiting.pop(job_id, None)
        if then is None:
            self.log.log(f"crypto job {job_id}: result for no job of ours: dropped")
            return
        try:
            then(result)
        except Exception as exc:  # as receive(): log and go on
            self.log.log(f"crypto job {job_id}: internal error {exc.__class__.__name__}: {exc}")

    # ------------------------------------------------------------------ receiving

    def receive(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """One UDP payload (non-ESP marker already removed). Never raises."""
        try:
            self._receive(data, local, remote)
        except Exception as exc:  # the engine must survive any input; log and drop
            self.log.log(f"packet from {endpoint(*remote)}: dropped: internal error "
                         f"{exc.__class__.__name__}: {exc}")

    def _receive(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        try:
            msg = parse_message(data)
        except ParseError as exc:
            self.log.log(f"packet from {endpoint(*remote)}: dropped: {exc}")
            answer = stateless.malformed_init_answer(data, exc)
            if answer is not None and self._reply_limit.allow(self.clock()):
                self.outbox.append(Datagram(answer, local, remote))
            return
        if msg.exchange_type == ExchangeType.IKE_SA_INIT and not msg.is_response:
            ike_init.process_r(self, msg, data, local, remote)
            return
        our_spi = msg.spi_r if msg.is_initiator else msg.spi_i
        sa = self.sas.get(our_spi)
        if sa is None:
            self.log.debug(f"packet from {endpoint(*remote)}: no IKE SA for SPI {our_spi.hex()}: dropped")
            if not msg.is_response and self._reply_limit.allow(self.clock()):
                # RFC 7296 2.21.4, rate-limited so that we cannot be used as a reflector
                self.outbox.append(Datagram(stateless.invalid_ike_spi(msg), local, remote))
            return
        if msg.is_initiator == sa.initiator:
            self.log.log(f"{self.prefix(sa)} packet from {self.peer_text(sa)} has the wrong I flag: dropped")
            return
        sa.last_contact = self.clock()
        if msg.is_response:
            self._on_response(sa, msg, data, local, remote)
        else:
            self._on_request(sa, msg, data, local, remote)

    def _on_request(self, sa: IkeSa, msg: Message, data: bytes, local: tuple[str, int],
                    remote: tuple[str, int]) -> None:
        payloads = self.admit_request(sa, msg, data, local, remote)
        if payloads is None:
            return
        handler = REQUESTS.get((msg.exchange_type, sa.state))
        if handler is None and sa.state == IkeState.AUTH_SENT and not sa.last_request:
            # the peer is established and already asks something while we still check its
            # IKE_AUTH answer (a lookup job): it retransmits, and by then we can answer
            self.log.debug(f"{self.prefix(sa)} {exchange_name(msg.exchange_type)} request {msg.message_id} came "
                           "while the IKE_AUTH response is being checked: dropped for now")
            return
        if handler is None:
            self.log.log(f"{self.prefix(sa)} unexpected {exchange_name(msg.exchange_type)} request in state "
                         f"'{sa.state.value}': dropped")
            return
        handler(self, sa, msg, payloads)

    def _on_response(self, sa: IkeSa, msg: Message, data: bytes, local: tuple[str, int],
                     remote: tuple[str, int]) -> None:
        if msg.message_id != sa.last_request_id or not sa.last_request:
            self.log.debug(f"{self.prefix(sa)} {exchange_name(msg.exchange_type)} response {msg.message_id} "
                           "matches no outstanding request: dropped")
            return
        if msg.exchange_type == ExchangeType.IKE_SA_INIT:
            if sa.state == IkeState.INIT_SENT:
                self.extensions_read(sa, msg, msg.payloads)
                mobike.float_to_natt(self, sa)
                ike_init.process_i(self, sa, msg, data)
            return
        payloads = self.admit_response(sa, msg, data, local, remote)
        if payloads is None:
            return
        ctx, sa.request_ctx = sa.request_ctx, None
        if msg.exchange_type == ExchangeType.CREATE_CHILD_SA and isinstance(ctx, CreateCtx):
            rekey.process_i(self, sa, msg, payloads, ctx)
        elif msg.exchange_type == ExchangeType.INFORMATIONAL and isinstance(ctx, mobike.UpdateCtx):
            mobike.process_i(self, sa, msg, payloads, ctx)
        else:
            handler = RESPONSES.get((msg.exchange_type, sa.state)) or RESPONSES.get((msg.exchange_type, None))
            if handler is None:
                self.log.log(f"{self.prefix(sa)} unexpected {exchange_name(msg.exchange_type)} response: dropped")
            else:
                handler(self, sa, msg, payloads)
        if sa.queue and not sa.last_request and sa.state == IkeState.ESTABLISHED:
            exchange, queued, queued_ctx = sa.queue.pop(0)
            self.send_request(sa, exchange, queued, ctx=queued_ctx)
