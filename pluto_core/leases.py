"""The Configuration payload client's host side (``leftmodecfgclient=yes``): the address
the server leased us is put on ``lo`` and the routes to the peer's subnets use it as
their source, as Libreswan's updown does with PLUTO_MY_SOURCEIP; both go when the last
Child SA using the lease is gone. ``leftsourceip=ADDR`` is the same with a fixed address,
put on ``lo`` only when it is not an address of the host already (and then removed again).
The ``ip`` commands run one after another on a worker thread, so the daemon's loop never
waits for them."""

from __future__ import annotations

import ipaddress
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pluto_core.ikev2.events import Event
from pluto_core.ikev2.ts_narrow import Selector

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _ip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


def _host(sel: Selector) -> str | None:
    """The address of a one-address selector (a lease), else None."""
    return str(ipaddress.ip_address(sel.start)) if sel.start == sel.end else None


def _net(sel: Selector) -> str:
    first, last = ipaddress.ip_address(sel.start), ipaddress.ip_address(sel.end)
    return str(next(ipaddress.summarize_address_range(first, last)))


def route_commands(lease: str, peer: str, nets: Sequence[str], found: str) -> list[list[str]]:
    """``ip route replace`` for each of the peer's subnets, through the way ``ip route get
    PEER`` printed (``found``: ``... via GW dev DEV ...``), with the lease as source. A
    0.0.0.0/0 goes as two halves (0/1, 128/1), as Libreswan does, leaving the default route."""
    words = found.split()
    via = ["via", words[words.index("via") + 1]] if "via" in words else []
    dev = ["dev", words[words.index("dev") + 1]] if "dev" in words else []
    out = []
    for net in nets:
        halves = {"0.0.0.0/0": ["0.0.0.0/1", "128.0.0.0/1"], "::/0": ["::/1", "8000::/1"]}.get(net, [net])
        out += [["route", "replace", half, *via, *dev, "src", lease] for half in halves]
    return out


class LeaseRoutes:
    """Listens to the engine's events (``IkeHost.listeners``)."""

    def __init__(self, conns: Callable[[str], Any], log: Any, run: Runner = _ip) -> None:
        self.conns = conns  # conn name -> EngineConn (its options say modecfgclient)
        self.log = log
        self.run = run
        self.held: dict[tuple[str, str], list[Any]] = {}  # (conn, lease) -> [Child SAs, route commands]
        self.routes: dict[str, list[list[str]]] = {}  # lease -> route commands (the worker's alone)
        # lease or source -> "up" (a lease), "source" (leftsourceip= we put on lo), "local" (it was
        # an address of the host already); the worker's alone
        self.added: dict[str, str] = {}
        self.jobs: queue.Queue[tuple[str, list[list[str]]] | None] = queue.Queue()
        self.worker: threading.Thread | None = None

    def on_event(self, ev: Event) -> None:
        info = ev.child
        if info is None or ev.kind not in ("child-up", "child-down"):
            return
        conn = self.conns(ev.conn)
        if conn is None:
            return
        source = conn.options.get("sourceip")  # leftsourceip=: a fixed source, perhaps on the host already
        if not source and not conn.options.get("modecfgclient"):
            return
        for lease in [str(source)] if source else [_host(sel) for sel in info.local_ts]:
            if lease is None:
                continue
            key = (ev.conn, lease)
            if ev.kind == "child-up":
                entry = self.held.setdefault(key, [0, []])
                entry[0] += 1
                if entry[0] == 1:
                    nets = [_net(s) for s in info.remote_ts]
                    self._queue(f"\"{ev.conn}\" #{ev.serial}",
                                [["source" if source else "up", lease, info.remote_addr, *nets]])
            elif key in self.held:
                entry = self.held[key]
                entry[0] -= 1
                if entry[0] <= 0:
                    del self.held[key]
                    self._queue(f"\"{ev.conn}\" #{ev.serial}", [["down", lease]])

    def _queue(self, who: str, work: list[list[str]]) -> None:
        self.jobs.put((who, work))
        if self.worker is None:
            self.worker = threading.Thread(target=self._work, name="leases", daemon=True)
            self.worker.start()

    def close(self, timeout: float = 10.0) -> None:
        """Let the queued work finish (the ``down``s of a shutdown)."""
        if self.worker is not None:
            self.jobs.put(None)
            self.worker.join(timeout)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            self.do(*job)

    def do(self, who: str, work: list[list[str]]) -> None:
        """Run one job now (the worker's; tests call it directly)."""
        for what, lease, *rest in work:
            prefix = 32 if ipaddress.ip_address(lease).version == 4 else 128
            if what in ("up", "source"):
                peer, nets = rest[0], rest[1:]
                # leftsourceip=: put on lo only when not already an address of the host (Libreswan's
                # updown asks ``ip route get`` the same way); a lease always goes on lo
                local = what == "source" and self.run(["route", "get", lease]).stdout.lstrip().startswith("local")
                self.added[lease] = "local" if local else what
                if not local:
                    self._ip(who, ["addr", "replace", f"{lease}/{prefix}", "dev", "lo"])
                found = self.run(["route", "get", peer]).stdout
                for command in route_commands(lease, peer, nets, found):
                    self._ip(who, command)
                    self.routes.setdefault(lease, []).append(command)
                if what == "up":
                    self.log.log(f"{who} added lease {lease}/{prefix} to lo; routes to {', '.join(nets)} use it "
                                 "as source")
                else:
                    where = "already an address of this host" if local else "added to lo"
                    self.log.log(f"{who} routes to {', '.join(nets)} use leftsourceip {lease} ({where})")
            else:
                for command in self.routes.pop(lease, []):
                    self._ip(who, ["route", "del", *command[2:]])
                kind = self.added.pop(lease, "up")
                if kind != "local":
                    self._ip(who, ["addr", "del", f"{lease}/{prefix}", "dev", "lo"])
                    self.log.log(f"{who} removed {'lease ' if kind == 'up' else ''}{lease}/{prefix} from lo and "
                                 "its routes")
                else:
                    self.log.log(f"{who} removed the routes using {lease}")

    def _ip(self, who: str, args: list[str]) -> None:
        done = self.run(args)
        if done.returncode != 0:
            self.log.log(f"{who} ip {' '.join(args)} failed: {done.stderr.strip() or done.returncode}")
