"""The daemon's conns whose ``left=``/``right=`` is a host name.

As Libreswan does, the name is resolved when the conn is added (so that a name of this host
orients the conn) and again before it is initiated (``ipsec up``, revival), so that a peer that
moved is found at its new address. A name that does not resolve does not refuse the conn: it is
added but kept out of the engine (so it never answers an arbitrary peer as a ``%any`` conn
would) and resolution is retried in the background, 5 s, 10 s, 20 s ... then every 60 s, one
log line per attempt, until it resolves (then ``auto=`` is acted on) or the conn is deleted.

Resolution runs in worker threads (``resolve.ThreadedResolver``): at add time the event loop
waits at most ``ADD_WAIT`` seconds per name (``/etc/hosts`` answers at once); retries and
re-resolution before initiating do not block it at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pluto_core.config.connection import Connection, End, orient
from pluto_core.errors import ConfigError, PlutoError
from pluto_core.ikev2.events import Event, RedirectDue, ReviveDue
from pluto_core.resolve import (
    ResolveError,
    Resolver,
    ThreadedResolver,
    Unresolved,
    has_host_names,
    host_name,
    resolve_ends,
    retry_delay,
    system_resolver,
)

ADD_WAIT = 2.0  # seconds the event loop may wait on one name while a conn is added
RESOLVE_TIMEOUT = 30.0  # seconds a background (re-)resolution may take before it counts as failed


@dataclass
class Pending:
    """A conn added with a name that did not resolve; ``attempt`` counts the retries so far."""

    conn: Connection  # as configured: names unresolved
    failures: tuple[Unresolved, ...]
    attempt: int = 0
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class PeerNames:
    """Resolution of the daemon's host-name conns. ``daemon`` provides ``log``, ``ike``,
    ``local_addresses()`` and ``add_conn(conn, resolve=False)``."""

    def __init__(self, daemon: Any, resolver: Resolver = system_resolver, add_wait: float = ADD_WAIT,
                 timeout: float = RESOLVE_TIMEOUT, backoff: Callable[[int], float] = retry_delay) -> None:
        self.daemon = daemon
        self.backoff = backoff  # seconds before retry N
        self.threads = ThreadedResolver(resolver)
        self.add_wait = add_wait
        self.timeout = timeout
        self.named: dict[str, Connection] = {}  # conn -> as configured, to resolve again
        self.current: dict[str, Connection] = {}  # conn -> resolved and oriented, as in the engine
        self.pending: dict[str, Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- adding ---------------------------------------------------------------

    def prepare(self, conn: Connection) -> Connection | None:
        """At add time: the conn with its names resolved and oriented, or None when a name
        did not resolve (the conn is then pending and retried). Raises ConfigError when the
        resolved conn cannot be oriented (both ends are this host)."""
        self.forget(conn.name)
        if not has_host_names(conn):
            return conn
        resolved, failures = resolve_ends(conn, self.threads.bounded(self.add_wait))
        if failures:
            pending = Pending(conn, failures)
            self.pending[conn.name] = pending
            self.named[conn.name] = conn
            self._failed(pending)
            return None
        oriented = orient(resolved, self.daemon.local_addresses())
        self.named[conn.name] = conn
        self.current[conn.name] = oriented
        self._log_resolved(oriented)
        return oriented

    def waiting_line(self, name: str) -> str:
        """What ``ipsec add`` says of a conn added while a name of it does not resolve."""
        pending = self.pending[name]
        what = " and ".join(f"{f.side}={f.name}" for f in pending.failures)
        return f"\"{name}\": added IKEv2 connection; not usable until {what} resolves"

    def forget(self, name: str) -> bool:
        """The conn is deleted or added again: stop retrying. True when it was pending."""
        pending = self.pending.pop(name, None)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            if pending.task is not None:
                pending.task.cancel()
        self.named.pop(name, None)
        self.current.pop(name, None)
        return pending is not None

    # -- resolving again --------------------------------------------------------

    async def refresh(self, name: str) -> None:
        """Before initiating: resolve the conn's names again and update the engine's conn
        when an address changed. A pending conn that still does not resolve raises
        ResolveError (and stays pending); a conn that resolved before keeps its last address."""
        pending = self.pending.get(name)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
                pending.timer = None
            resolved, failures = await self._resolve(pending.conn)
            if self.pending.get(name) is not pending:
                return  # deleted or added again meanwhile
            if failures:
                pending.failures = failures
                self._failed(pending)
                raise ResolveError(self._where(pending.conn) + "; ".join(f.text(name) for f in failures))
            self._install(name, resolved, initiate=False)  # the caller initiates
            return
        conn = self.named.get(name)
        if conn is None:
            return
        resolved, failures = await self._resolve(conn)
        if self.named.get(name) is not conn:
            return
        before = self.current.get(name)
        for f in failures:
            last = _address(before, f.side)
            self.daemon.log.log(f"{f.text(name)}; using the last address {last}")
        if failures or before is None:
            return
        try:
            oriented = orient(resolved, self.daemon.local_addresses())
        except ConfigError as exc:
            self.daemon.log.log(f"\"{name}\": keeping the last addresses: {exc}")
            return
        if (_address(oriented, "left"), _address(oriented, "right")) == \
                (_address(before, "left"), _address(before, "right")):
            return
        for side in ("left", "right"):
            old, new = _address(before, side), _address(oriented, side)
            if old != new:
                self.daemon.log.log(f"\"{name}\": {side}={getattr(conn, side).host} now resolves to {new} "
                                    f"(was {old})")
        self._replace(name, oriented)

    def on_event(self, ev: Event) -> None:
        """The engine (built with ``host_revives``) says a conn is due to be revived."""
        if isinstance(ev, ReviveDue):
            self.revive(ev.conn)
        elif isinstance(ev, RedirectDue):
            self.redirect(ev.conn, ev.detail)

    def redirect(self, name: str, gateway: str) -> None:
        """A gateway sent conn ``name`` to host ``gateway`` (RFC 5685): resolve it off the
        loop, in the family of the conn's addresses, then initiate to the first address."""
        ike = self.daemon.ike
        conn = ike.engine.conns.get(name)
        family = 6 if conn is not None and ":" in conn.local_addr else 4

        async def run() -> None:
            loop = asyncio.get_running_loop()
            try:
                addresses = await loop.run_in_executor(
                    None, self.threads.lookup, gateway, family, RESOLVE_TIMEOUT)
            except ResolveError as exc:
                self.daemon.log.log(f"\"{name}\": cannot resolve redirect gateway {gateway}: {exc}")
                return
            ike.engine.initiate_redirected(name, str(addresses[0]))
            ike.flush()

        self._spawn(run())

    def revive(self, name: str) -> None:
        """Initiate again, after resolving the conn's names anew."""
        ike = self.daemon.ike
        if name not in self.named:
            ike.engine.initiate(name)
            return

        async def run() -> None:
            try:
                await self.refresh(name)
            except PlutoError as exc:
                self.daemon.log.log(f"\"{name}\": not revived: {exc}")
                return
            engine = ike.engine
            if name in engine.conns and not any(sa.name == name for sa in engine.ike_sas()):
                engine.initiate(name)
                ike.flush()

        self._spawn(run())

    # -- status -------------------------------------------------------------------

    def hosts(self, name: str) -> dict[str, str | None]:
        """The names behind a conn's local and remote addresses (None where given as an address)."""
        conn = self.current.get(name)
        if conn is None or not conn.oriented:
            return {"local_host": None, "remote_host": None}
        return {"local_host": host_name(conn.local), "remote_host": host_name(conn.remote)}

    def status_rows(self) -> list[dict[str, Any]]:
        """``ipsec status`` rows of the pending conns: no address yet where the name did not resolve."""
        rows = []
        for name, pending in self.pending.items():
            conn = pending.conn
            local, remote = (conn.local, conn.remote) if conn.oriented else (conn.left, conn.right)
            rows.append({
                "name": name, "resolving": True,
                "local": str(local.address) if local.address is not None else "",
                "remote": str(remote.address) if remote.address is not None else "",
                "local_host": host_name(local), "remote_host": host_name(remote),
                "local_id": str(local.id) if local.id is not None else str(local.address or ""),
                "remote_id": str(remote.id) if remote.id is not None else str(remote.address or ""),
                "local_ts": [str(s) for s in local.subnets + local.extra_subnets],
                "remote_ts": [str(s) for s in remote.subnets + remote.extra_subnets],
                "mode": "transport" if conn.type == "transport" else "tunnel",
                "ikelifetime": float(conn.ikelifetime), "salifetime": float(conn.ipsec_lifetime),
                "rekeymargin": float(conn.rekeymargin), "dpddelay": float(conn.dpddelay),
                "retransmit_interval": conn.retransmit_interval / 1000.0,
                "retransmit_timeout": float(conn.retransmit_timeout),
                "unresolved": [f"{f.side}={f.name}" for f in pending.failures],
            })
        return rows

    def close(self) -> None:
        for name in list(self.pending):
            self.forget(name)
        for task in list(self._tasks):
            task.cancel()
        self.threads.close()

    # -- inside ------------------------------------------------------------------------

    async def _resolve(self, conn: Connection) -> tuple[Connection, tuple[Unresolved, ...]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, resolve_ends, conn, self.threads.bounded(self.timeout))

    def _where(self, conn: Connection) -> str:
        return str(ConfigError("", conn.file, conn.line))  # "FILE:LINE: " (or "" without a place)

    def _failed(self, pending: Pending) -> None:
        """Log each name that did not resolve, once per attempt, and schedule the next one."""
        delay = self.backoff(pending.attempt)
        for f in pending.failures:
            self.daemon.log.log(f"{self._where(pending.conn)}{f.text(pending.conn.name)}; "
                                f"retrying in {delay:g}s")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (a tool, not the daemon): nothing to retry with
        pending.timer = loop.call_later(delay, self._retry_now, pending)

    def _retry_now(self, pending: Pending) -> None:
        pending.timer = None
        pending.attempt += 1
        pending.task = self._spawn(self._retry(pending))

    async def _retry(self, pending: Pending) -> None:
        name = pending.conn.name
        resolved, failures = await self._resolve(pending.conn)
        if self.pending.get(name) is not pending:
            return
        if failures:
            pending.failures = failures
            self._failed(pending)
            return
        self._install(name, resolved)

    def _install(self, name: str, resolved: Connection, initiate: bool = True) -> None:
        """A pending conn resolved: orient it, add it to the engine, act on its ``auto=``
        (``initiate=False``: not ``auto=start``'s initiation, ``ipsec up`` is about to)."""
        pending = self.pending.pop(name)
        try:
            oriented = orient(resolved, self.daemon.local_addresses())
            self._log_resolved(oriented)
            line = self.daemon.add_conn(oriented, resolve=False)
        except ConfigError as exc:
            self.daemon.log.log(f"\"{name}\": failed to add connection: {exc}")
            self.named.pop(name, None)
            return
        self.current[name] = oriented
        self.daemon.log.log(line)
        ike = self.daemon.ike
        auto = pending.conn.auto
        if auto == "start" and not initiate and not ike.shunts.is_shunt(name):
            return
        try:
            self.daemon.act_on_auto(name, auto)
        except PlutoError as exc:
            self.daemon.log.log(f"\"{name}\": {exc}")
        ike.flush()

    def _replace(self, name: str, oriented: Connection) -> None:
        """An address changed: the engine's conn is rebuilt (its SAs keep theirs), traps moved."""
        ike = self.daemon.ike
        routed = name in ike.traps
        try:
            self.daemon.add_conn(oriented, resolve=False)
        except ConfigError as exc:
            self.daemon.log.log(f"\"{name}\": keeping the last addresses: {exc}")
            return
        self.current[name] = oriented
        if routed:
            ike.remove_traps(name)
            try:
                ike.install_traps(ike.engine.conns[name])
            except PlutoError as exc:
                self.daemon.log.log(f"\"{name}\": cannot install trap policies: {exc}")

    def _log_resolved(self, conn: Connection) -> None:
        for side in ("left", "right"):
            end: End = getattr(conn, side)
            name = host_name(end)
            if name is not None:
                self.daemon.log.log(f"\"{conn.name}\": {side}={name} resolves to {end.address}")

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _address(conn: Connection | None, side: str) -> str | None:
    if conn is None:
        return None
    address = getattr(conn, side).address
    return str(address) if address is not None else None
