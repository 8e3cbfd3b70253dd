"""``leftupdown=``: run the conn's command when its traffic starts and stops
flowing through IPsec, the interface Libreswan's pluto and strongSwan's updown
plugin share (``PLUTO_*`` environment variables, see ``docs/operations.md``).

The command is this end's ``updown`` keyword, run by ``/bin/sh -c`` with the
daemon's environment plus the ``PLUTO_*`` variables, once per pair of traffic
selectors:

- ``up-client`` (``up-host`` when our selector is just our own address; a
  ``-v6`` suffix for IPv6 gateways) when the first Child SA for the pair is
  installed;
- ``down-client`` / ``down-host`` when the last one is removed, with the bytes
  the kernel counted (``PLUTO_INBYTES``/``PLUTO_OUTBYTES``).

A Child SA rekey (new SA up, then the old one down) and an IKE SA rekey run
nothing, as with Libreswan and strongSwan. Commands run one after another in a
worker thread, in the order of the events, so the daemon's loop never waits; a
command that runs longer than :data:`TIMEOUT` seconds is killed. At shutdown the
daemon waits for the queued ``down`` commands (the same limit).

``leftupdown=%disabled`` (or no ``leftupdown=``) runs nothing: this daemon ships
no ``_updown`` of its own, and ``ipsec _updown`` is ignored for that reason.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import queue
import signal
import subprocess
import threading
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.conn import EngineConn
from pluto_core.ikev2.events import ChildInfo, Event
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.types import interface_name

TIMEOUT = 30.0  # seconds one command may run
OUTPUT_LINES = 20  # lines of a command's output that reach the log
DEFAULT_SCRIPT = "ipsec _updown"  # Libreswan's own script; this daemon has none


@dataclass(frozen=True, slots=True)
class Job:
    """One command to run: what the log calls it and its environment."""

    conn: str
    serial: int
    verb: str
    command: str
    env: dict[str, str]


def _client(sel: Selector) -> tuple[str, str, str]:
    """(``net/prefix``, ``net``, ``mask``) of a selector; a range that is not one
    subnet is shown as the first subnet it starts with."""
    net: ipaddress.IPv4Network | ipaddress.IPv6Network
    if sel.version == 4:
        net = next(ipaddress.summarize_address_range(ipaddress.IPv4Address(sel.start),
                                                     ipaddress.IPv4Address(sel.end)))
    else:
        net = next(ipaddress.summarize_address_range(ipaddress.IPv6Address(sel.start),
                                                     ipaddress.IPv6Address(sel.end)))
    return str(net), str(net.network_address), str(net.netmask)


def _port(sel: Selector) -> str:
    return str(sel.start_port) if sel.start_port == sel.end_port else "0"


def verb_suffix(info: ChildInfo, local: Selector) -> str:
    """``-host`` when our side of the tunnel is just this host, else ``-client``;
    ``-v6`` appended for IPv6 gateways."""
    host = ipaddress.ip_address(info.local_addr)
    is_host = local.start == local.end == int(host) and local.version == host.version
    return ("-host" if is_host else "-client") + ("-v6" if host.version == 6 else "")


def _inside(address: str, sel: Selector) -> bool:
    addr = ipaddress.ip_address(address)
    return addr.version == sel.version and sel.start <= int(addr) <= sel.end


def _mark(pair: tuple[int, int]) -> str:
    return f"{pair[0]}/{pair[1]:#08x}"  # Libreswan's "%u/%#08x"


def route_env(if_id: int, mark_in: tuple[int, int] | None, mark_out: tuple[int, int] | None,
              remote: Selector, peer: str, options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The route-based VPN variables Libreswan 4.10's ``_updown.xfrm`` reads: the ipsec
    interface (``PLUTO_VIRT_INTERFACE``, ``PLUTO_XFRMI_ROUTE=yes``: route the peer's client
    into it), ``PLUTO_XFRMI_FWMARK`` (the interface's if_id as fwmark when the peer's own
    address is inside its client, so that the updown's policy routing keeps ESP out of the
    interface), ``CONNMARK_IN``/``CONNMARK_OUT`` for ``mark=``, and the VTI ones from the conn's
    ``options`` (``VTI_IFACE`` empty without ``vti-interface=``; ``VTI_IP`` only with
    ``leftvti=``), as Libreswan 4.10's pluto sets them."""
    vti = options or {}
    env = {"PLUTO_VIRT_INTERFACE": interface_name(if_id) if if_id else "NULL",
           "PLUTO_XFRMI_ROUTE": "yes" if if_id else "",
           "VTI_IFACE": str(vti.get("vti-interface") or ""),
           "VTI_ROUTING": "yes" if vti.get("vti-routing") else "no",
           "VTI_SHARED": "yes" if vti.get("vti-shared") else "no"}
    if vti.get("vti"):
        env["VTI_IP"] = str(vti["vti"])
    if mark_in is not None:
        env["CONNMARK_IN"] = _mark(mark_in)
    if mark_out is not None and not if_id:
        env["CONNMARK_OUT"] = _mark(mark_out)
    if if_id:
        if mark_out is not None:
            env["PLUTO_XFRMI_FWMARK"] = _mark(mark_out)
        elif _inside(peer, remote):
            env["PLUTO_XFRMI_FWMARK"] = f"{if_id}/0xffffffff"
        else:
            env["PLUTO_XFRMI_FWMARK"] = ""
    return env


def updown_env(verb: str, conn: str, info: ChildInfo, local: Selector, remote: Selector,
               stack: str, next_hop: str | None = None, route: EngineConn | None = None) -> dict[str, str]:
    """The ``PLUTO_*`` variables of one command (pure: testable without a shell).
    ``next_hop``: this end's ``leftnexthop=`` when it is an address; else the peer (``%direct``).
    ``route``: the conn, for its ipsec-interface and marks (:func:`route_env`)."""
    my_client, my_net, my_mask = _client(local)
    peer_client, peer_net, peer_mask = _client(remote)
    family = "ipv6" if ipaddress.ip_address(info.local_addr).version == 6 else "ipv4"
    env = {
        "PLUTO_VERSION": "2.0",
        "PLUTO_VERB": verb,
        "PLUTO_CONNECTION": conn,
        "PLUTO_CONN_ADDRFAMILY": family,
        "PLUTO_STACK": stack,
        "PLUTO_NEXT_HOP": next_hop or info.remote_addr,
        "PLUTO_ME": info.local_addr,
        "PLUTO_MY_ID": info.local_id,
        "PLUTO_MY_CLIENT": my_client,
        "PLUTO_MY_CLIENT_NET": my_net,
        "PLUTO_MY_CLIENT_MASK": my_mask,
        "PLUTO_MY_PORT": _port(local),
        "PLUTO_MY_PROTOCOL": str(local.proto),
        "PLUTO_PEER": info.remote_addr,
        "PLUTO_PEER_ID": info.remote_id,
        "PLUTO_PEER_CLIENT": peer_client,
        "PLUTO_PEER_CLIENT_NET": peer_net,
        "PLUTO_PEER_CLIENT_MASK": peer_mask,
        "PLUTO_PEER_PORT": _port(remote),
        "PLUTO_PEER_PROTOCOL": str(remote.proto),
        "PLUTO_PEER_CA": "",
        "PLUTO_SA_REQID": str(info.reqid),
        "PLUTO_SA_TYPE": "ESP",
        "PLUTO_IS_PEER_CISCO": "0",
        "PLUTO_CFG_CLIENT": "0",
        "PLUTO_CFG_SERVER": "0",
        "PLUTO_NM_CONFIGURED": "0",
        "SPI_IN": f"0x{info.spi_in:08x}",
        "SPI_OUT": f"0x{info.spi_out:08x}",
    }
    source = route.options.get("sourceip") if route is not None else None
    if source:  # leftsourceip=: the source of the routes to the peer (Libreswan's updown adds it to lo)
        env["PLUTO_MY_SOURCEIP"] = str(source)
    if route is not None and route.options.get("modecfgclient") and route.lease:
        # a Configuration payload client (leftmodecfgclient=yes): the lease is the routes' source,
        # and the DNS servers and domains the server sent are for the updown to apply, as
        # Libreswan's _updown does (resolv.conf, unbound)
        env["PLUTO_CFG_CLIENT"] = "1"
        env["PLUTO_MY_SOURCEIP"] = " ".join(route.lease)
        env["PLUTO_PEER_DNS_INFO"] = " ".join(route.options.get("peer-dns", ()))
        env["PLUTO_PEER_DOMAIN_INFO"] = " ".join(route.options.get("peer-domains", ()))
    elif route is not None and route.lease:
        env["PLUTO_CFG_SERVER"] = "1"  # we leased the peer its address
    env.update(route_env(route.if_id, route.mark_in, route.mark_out, remote, info.remote_addr,
                         getattr(route, "options", None))
               if route is not None else route_env(0, None, None, remote, info.remote_addr))
    if info.in_bytes is not None and info.out_bytes is not None:
        env["PLUTO_INBYTES"] = str(info.in_bytes)
        env["PLUTO_OUTBYTES"] = str(info.out_bytes)
    return env


def runnable(command: str) -> bool:
    """Unset, ``%disabled`` and Libreswan's ``ipsec _updown`` run nothing."""
    return bool(command) and command != "%disabled" and not command.startswith(DEFAULT_SCRIPT)


class Updown:
    """Counts the Child SAs behind each selector pair and queues ``up``/``down`` jobs."""

    def __init__(self) -> None:
        self.log: Any = None
        self.stack = "xfrm"
        # (conn, local selector, remote selector) -> [installed Child SAs, command]
        self.routes: dict[tuple[str, Selector, Selector], list[Any]] = {}
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.worker: threading.Thread | None = None
        self.loop: AbstractEventLoop | None = None  # the daemon's: log lines go through it

    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        self.log = log
        self.stack = str(getattr(options, "kernel_backend", "xfrm"))

    @hookimpl
    def pluto_event(self, event: Event, conn: Any) -> None:
        info = event.child
        if info is None or event.kind not in ("child-up", "child-down"):
            return
        command = str((conn.options.get("updown") if conn is not None else None) or "").strip()
        next_hop = conn.options.get("nexthop") if conn is not None else None
        if event.kind == "child-up" and not runnable(command):
            return  # nothing to run for this conn: nothing to remember either
        for local in info.local_ts:
            for remote in info.remote_ts:
                key = (event.conn, local, remote)
                if event.kind == "child-up":
                    route = self.routes.setdefault(key, [0, command, next_hop, conn])
                    route[0] += 1
                    if route[0] == 1:
                        self._queue(event, "up", route[1], info, local, remote, route[2], route[3])
                elif key in self.routes:
                    route = self.routes[key]
                    route[0] -= 1
                    if route[0] <= 0:
                        del self.routes[key]
                        self._queue(event, "down", route[1], info, local, remote, route[2], route[3])

    @hookimpl
    def pluto_shutdown(self) -> None:
        """Let the queued commands (the ``down``s of the shutdown) finish."""
        if self.worker is not None:
            self.jobs.put(None)
            self.worker.join(TIMEOUT + 5)
            self.worker = None

    def _queue(self, event: Event, what: str, command: str, info: ChildInfo, local: Selector,
               remote: Selector, next_hop: str | None = None, conn: Any = None) -> None:
        verb = what + verb_suffix(info, local)
        route = conn if conn is not None and hasattr(conn, "if_id") else None
        self.jobs.put(Job(event.conn, event.serial, verb, command,
                          updown_env(verb, event.conn, info, local, remote, self.stack, next_hop, route)))
        try:
            self.loop = get_running_loop()
        except RuntimeError:
            self.loop = None
        if self.worker is None:
            self.worker = threading.Thread(target=self._work, name="updown", daemon=True)
            self.worker.start()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                self._run(job)
            except Exception as exc:  # never let the worker die: later jobs still run
                self._log(f"\"{job.conn}\" #{job.serial}: {job.verb} command failed: {exc}")

    def _run(self, job: Job) -> None:
        env = dict(os.environ)
        env.update(job.env)
        prefix = f"\"{job.conn}\" #{job.serial}:"
        try:
            # its own session: a timeout kills the whole group, not only the shell
            proc = subprocess.Popen(["/bin/sh", "-c", job.command], env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            self._log(f"{prefix} {job.verb} command could not run: {exc.strerror or exc}")
            return
        try:
            output, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            self._log(f"{prefix} {job.verb} command killed after {TIMEOUT:g} seconds: {job.command}")
            return
        lines = output.decode("utf-8", "replace").splitlines()
        for line in lines[:OUTPUT_LINES]:
            self._log(f"{prefix} {job.verb} output: {line}")
        if proc.returncode != 0:
            self._log(f"{prefix} {job.verb} command exited with status {proc.returncode}: {job.command}")

    def _log(self, text: str) -> None:
        """From the worker: through the daemon's loop while it runs (one thread
        writes the log), directly once it has stopped (shutdown waits for us)."""
        if self.log is None:
            return
        loop = self.loop
        if loop is not None and loop.is_running():
            try:
                loop.call_soon_threadsafe(self.log.log, text)
                return
            except RuntimeError:  # closed meanwhile
                pass
        self.log.log(text)


plugin = Updown()
