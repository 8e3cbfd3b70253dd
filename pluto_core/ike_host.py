"""Hosts the sans-I/O engine in the daemon: sockets in and out, the timer,
crypto jobs on the helper pool, credential lookups on threads (the auth-source
chain of ``pluto_core.auth``)."""

from __future__ import annotations

import asyncio
import datetime
import errno
import os
import time
from collections.abc import Callable
from typing import Any

from pluto_core.address_watch import AddressWatch
from pluto_core.addresses import HookAddresses
from pluto_core.auth.chain import AuthChain
from pluto_core.crypto_pool import CryptoPool
from pluto_core.errors import PlutoError
from pluto_core.ike_socket import IKE_PORT, NATT_PORT, IkeSocket, local_addresses
from pluto_core.ikev2.endpoint import endpoint
from pluto_core.ikev2.engine import Engine
from pluto_core.ikev2.events import CryptoJob, Event
from pluto_core.kernel.port import Kernel
from pluto_core.kernel.types import Acquire, Expire, Mapping, Mark, trap_policies
from pluto_core.leases import LeaseRoutes
from pluto_core.plugins import call_each
from pluto_core.shunts import ShuntManager
from pluto_core.vti import VtiDevices


class IkeHost:
    def __init__(self, options: Any, log: Any, kernel: Kernel, credentials: AuthChain, pool: CryptoPool | None,
                 on_event: Callable[[Event], None] | None = None, hook: Any = None) -> None:
        self.options = options
        self.log = log
        self.kernel = kernel  # the engine, traps, shunts and sockets all reach the kernel through it
        self.sockets: dict[tuple[str, int], IkeSocket] = {}
        self.addresses: list[str] = []  # every local address, found at start
        self._event_fd: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.credentials = credentials
        self.traps: dict[str, list[Any]] = {}  # conn name -> the trap policies installed for it
        self.shunts = ShuntManager(self)  # never-negotiate conns, negotiation and failure shunts
        # leftmodecfgclient=yes: the lease goes on lo, the routes use it (pluto_core/leases.py)
        self.leases = LeaseRoutes(lambda name: self.engine.conns.get(name), log)
        # vti-interface=: the device and its routes, as Libreswan's default updown (pluto_core/vti.py)
        self.vti = VtiDevices(lambda name: self.engine.conns.get(name), log)
        listeners: list[Callable[[Event], None]] = [self.shunts.on_event, self.leases.on_event, self.vti.on_event]
        self.listeners = listeners
        self.pool = pool if pool is not None and pool.size > 0 else None  # None: jobs run in the engine

        def event(ev: Event) -> None:  # the engine's events, drained by flush
            if on_event is not None:
                on_event(ev)
            for listener in list(listeners):
                listener(ev)
            if hook is not None:
                self._plugin_event(hook, ev)

        self.engine = Engine(kernel, self.credentials, time.monotonic, os.urandom, log,
                             offload_jobs=self.pool is not None, offload_lookups=True, host_revives=True,
                             force_busy=options.force_busy, ddos_mode=options.ddos_mode,
                             ddos_ike_threshold=options.ddos_ike_threshold,
                             max_halfopen_ike=options.max_halfopen_ike,
                             global_redirect=options.global_redirect,
                             global_redirect_to=options.global_redirect_to,
                             uniqueids=options.uniqueids,
                             keepalive_interval=float(options.keep_alive if options.keep_alive is not None else 20),
                             extensions=HookExtensions(hook, log) if hook is not None else None,
                             wall_clock=lambda: datetime.datetime.now(datetime.UTC),
                             addresses=HookAddresses(hook, log) if hook is not None else None)
        self._deliver = event
        self.address_watch = AddressWatch(self)  # new addresses, MOBIKE moves

    def _plugin_event(self, hook: Any, ev: Event) -> None:
        """``pluto_event`` to each plugin in turn; one that fails does not stop the others."""
        impls = hook.pluto_event.get_hookimpls()
        if not impls:
            return
        # the IKE SA's own conn where it is still known (an instance, a client's lease), else the named one
        conn = self.engine.conn_of(ev.serial) or self.engine.conns.get(ev.conn)
        for impl in impls:
            try:
                impl.function(event=ev, conn=conn)
            except Exception as exc:
                self.log.log(f"\"{ev.conn}\" #{ev.serial}: plugin {impl.plugin_name} failed on {ev.kind}: "
                             f"{exc.__class__.__name__}: {exc}")

    async def start(self) -> None:
        """Open port 500 and 4500 on every local address (or only ``--listen``'s)."""
        loop = asyncio.get_running_loop()
        try:
            # pyroute2's synchronous socket must not run inside the event loop.
            addresses = await loop.run_in_executor(None, local_addresses)
        except OSError as exc:
            self.log.error(f"cannot list local addresses: {exc}")
            addresses = []
        self.addresses = [a for _name, a in addresses]
        if self.options.listen:
            addresses = [(name, a) for name, a in addresses if a == self.options.listen] or \
                [("?", self.options.listen)]
        for name, address in addresses:
            await self.open_interface(name, address, prepare=False)

    async def open_interface(self, name: str, address: str, prepare: bool = True) -> None:
        """Ports 500 and 4500 on ``address`` (``prepare``: exempt them from IPsec policy and
        take ESP in UDP at once, as :meth:`watch_kernel` does for those opened at start)."""
        for port in (IKE_PORT, NATT_PORT):
            sock = IkeSocket(name, address, port, self.receive, self.log)
            try:
                await sock.open()
            except OSError as exc:
                self.log.error(f"cannot listen on {endpoint(address, port)}: {exc.strerror or exc}")
                continue
            self.sockets[(address, port)] = sock
            self.log.log(f"adding UDP interface {name} {endpoint(address, port)}")
            if prepare:
                self._prepare(address, port, sock)

    def close_interface(self, address: str) -> None:
        """The address is gone from the host: close its IKE sockets."""
        for port in (IKE_PORT, NATT_PORT):
            sock = self.sockets.pop((address, port), None)
            if sock is not None:
                sock.close()
                self.log.log(f"shutting down UDP interface {sock.interface} {endpoint(address, port)}")

    # -- the kernel's events (ACQUIRE, EXPIRE, MAPPING) -----------------------

    def watch_kernel(self) -> None:
        """Read the backend's event socket on the loop (events also reach every plugin);
        exempt the IKE sockets from IPsec policy and take ESP in UDP on port 4500, where
        the backend can."""
        fd = self.kernel.event_fd()
        if fd is not None:
            asyncio.get_running_loop().add_reader(fd, self._kernel_events)
            self._event_fd = fd
        for (address, port), sock in self.sockets.items():
            self._prepare(address, port, sock)

    def _prepare(self, address: str, port: int, sock: IkeSocket) -> None:
        if sock.transport is None:
            return
        try:
            self.kernel.bypass_socket(sock.transport.get_extra_info("socket"))
        except Exception as exc:
            self.log.log(f"cannot exempt {endpoint(address, port)} from IPsec policy: {exc}")
        if port == NATT_PORT:
            try:
                self.kernel.enable_udp_encap(sock.transport.get_extra_info("socket"))
            except Exception as exc:  # a kernel without ESP-in-UDP: IKE still works
                self.log.log(f"cannot enable ESP-in-UDP on {endpoint(address, port)}: {exc}")

    def watch_addresses(self) -> None:
        """Follow the host's address changes (pluto_core/address_watch.py)."""
        self.address_watch.start()

    def _kernel_events(self) -> None:
        try:
            events = self.kernel.read_events()
        except Exception as exc:
            self.log.error(f"reading kernel events failed: {exc}")
            return
        for ev in events:
            kind = ev.hook
            if isinstance(ev, Acquire):
                self.shunts.negotiating(self.engine.acquire(ev.sel_src, ev.sel_dst))
            elif isinstance(ev, Expire):
                self.log.debug(f"kernel: {'hard' if ev.hard else 'soft'} expire of SPI 0x{ev.sa.spi:08x}", "kernel")
                self.engine.expire(ev.sa.spi, ev.hard)
            elif isinstance(ev, Mapping):
                self.engine.mapping(ev.sa.spi, ev.new_src, ev.new_sport)
            def failed(plugin: str, exc: BaseException, kind: str = kind) -> None:
                self.log.error(f"plugin {plugin} failed in {kind}: {exc.__class__.__name__}: {exc}")

            self.kernel.dispatch(ev, failed)  # each plugin on its own
        self.flush()

    def install_traps(self, conn: Any) -> int:
        """``auto=ondemand``/``route`` or ``ipsec route``: outbound trap policies for the
        conn's subnets; the engine then answers the kernel's ACQUIRE for them."""
        if conn.remote_addr is None:
            return 0
        installed = self.traps.setdefault(conn.name, [])
        before = len(installed)
        for policy in trap_policies(conn.local_ts, conn.remote_ts, conn.local_addr, conn.remote_addr,
                                    conn.mode == "tunnel", conn.reqid or self.engine.reqid_base,
                                    conn.priority, conn.if_id, Mark.of(conn.mark_out)):
            try:
                self.kernel.add_policy(policy, update=True)
            except PlutoError:
                # all or nothing: the traps this call added go again (those of an earlier route stay)
                for added in installed[before:]:
                    self._drop_trap(conn.name, added)
                del installed[before:]
                if not installed:
                    self.traps.pop(conn.name, None)
                raise
            if policy not in installed:
                installed.append(policy)
        self.engine.route(conn.name)
        self.shunts.trap_installed(conn.name)
        return len(installed)

    def _drop_trap(self, name: str, policy: Any) -> None:
        try:
            self.kernel.del_policy(policy)
        except PlutoError as exc:
            if getattr(exc, "errno", None) not in (errno.ENOENT, errno.ESRCH):
                self.log.log(f"\"{name}\": cannot remove trap policy: {exc}")

    def remove_traps(self, name: str) -> int:
        """``ipsec unroute``/``delete``: take the conn's trap policies out of the kernel.
        A policy already gone is not an error; any other refusal is logged."""
        removed = 0
        for policy in self.traps.pop(name, []):
            try:
                self.kernel.del_policy(policy)
                removed += 1
            except Exception as exc:  # KernelError from the backend
                if getattr(exc, "errno", None) not in (errno.ENOENT, errno.ESRCH):
                    self.log.log(f"\"{name}\": cannot remove trap policy: {exc}")
        self.engine.unroute(name)
        self.shunts.trap_removed(name)
        return removed

    def receive(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        self.engine.receive(data, local, remote)
        self.flush()

    def flush(self) -> None:
        """Hand the engine's events to the listeners and plugins, send what it queued, and
        re-arm the timer for its next deadline."""
        while events := self.engine.pop_events():  # a listener may act on the engine again
            for ev in events:
                self._deliver(ev)
        for job in self.engine.pop_jobs():
            self._run_job(job)
        for d in self.engine.pop_datagrams():
            sock = self.sockets.get(d.local)
            if sock is None:
                self.log.log(f"no UDP interface {endpoint(*d.local)} to send to {d.remote[0]}: dropped")
                continue
            sock.send(d.data, d.remote, raw=d.raw)
        deadline = self.engine.next_deadline()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            loop = asyncio.get_running_loop()
            delay = max(deadline - time.monotonic(), 0.0)
            self._timer = loop.call_later(delay, self._tick)

    def _run_job(self, job: CryptoJob) -> None:
        """A crypto job on a ``--nhelpers`` process, a lookup on a thread; the result goes
        back to the engine when it is there."""
        if job.kind == "lookup":
            future: asyncio.Future[Any] = asyncio.get_running_loop().run_in_executor(None, job.fn, *job.args)
        else:
            assert self.pool is not None
            future = self.pool.submit(job.fn, *job.args)

        def finished(f: asyncio.Future[Any]) -> None:
            exc = f.exception()
            self.engine.job_done(job.id, exc if exc is not None else f.result())
            self.flush()

        future.add_done_callback(finished)

    def _tick(self) -> None:
        self._timer = None
        self.engine.tick()
        self.flush()

    def close(self) -> None:
        if self._event_fd is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._event_fd)
            except RuntimeError:
                pass
            self._event_fd = None
        if self._timer is not None:
            self._timer.cancel()
        self.address_watch.close()
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        self.leases.close()
        self.vti.close()


class HookExtensions:
    """The engine's :class:`Extensions` port over the ``pluto_ike_build``/``_read`` hooks. Each
    plugin is called on its own: one that raises is logged by name and the message still gets
    the others' payloads (NAT detection, fragmentation...) and hints."""

    def __init__(self, hook: Any, log: Any = None) -> None:
        self.hook = hook
        self.log = log

    def _failed(self, ctx: Any, hook_name: str) -> Callable[[str, BaseException], None]:
        def report(plugin: str, exc: BaseException) -> None:
            if self.log is not None:
                self.log.log(f"\"{ctx.conn}\" #{ctx.serial}: plugin {plugin} failed in {hook_name}: "
                             f"{exc.__class__.__name__}: {exc}")
        return report

    def build(self, ctx: Any) -> list[Any]:
        out: list[Any] = []
        for result in call_each(self.hook.pluto_ike_build, self._failed(ctx, "pluto_ike_build"), context=ctx):
            out.extend(result or [])
        return out

    def read(self, ctx: Any, payloads: list[Any]) -> list[Any]:
        hints: list[Any] = []
        for result in call_each(self.hook.pluto_ike_read, self._failed(ctx, "pluto_ike_read"), context=ctx,
                                payloads=payloads):
            hints.extend(result if isinstance(result, list) else [result])
        return hints
