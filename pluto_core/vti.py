"""``vti-interface=``'s host side: what Libreswan 4.10's default ``_updown.xfrm`` does for a
VTI, done by the daemon (it ships no default updown). When the first Child SA of a conn
naming the device comes up, the device is made unless it exists (``ip tunnel add NAME mode
vti local ME remote PEER okey MARK_OUT ikey MARK_IN``, ``remote 0.0.0.0`` with
``vti-shared=yes`` or for the instances of a ``right=%any`` conn; ``disable_policy=1``,
``rp_filter=0``, ``forwarding=1``; ``leftvti=`` on it; up); with ``vti-routing=yes`` the
peer's subnets are routed into it. When the last Child SA using them goes, the routes go, and
the device too when this daemon made it, ``vti-shared=no`` and the conn is not a template
(ipsec.conf(5); Libreswan 4.10's script leaves every device, its delete being commented out
for want of reference counting, which the daemon has).

Only conns whose updown is Libreswan's default (unset or ``ipsec _updown``) get this, as in
Libreswan: a custom ``leftupdown=`` replaces the default script, VTI part included, and gets
``VTI_IFACE``/``VTI_ROUTING``/``VTI_SHARED``/``VTI_IP`` (plugins/updown.py); ``%disabled``
runs nothing. The commands run one after another on a worker thread (as pluto_core/leases.py
does), so the daemon's loop never waits for them."""

from __future__ import annotations

import ipaddress
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pluto_core.ikev2.events import Event
from pluto_core.ikev2.ts_narrow import Selector

__all__ = ["VtiDevices", "Device", "create_commands", "default_updown"]

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
DEFAULT_UPDOWN = "ipsec _updown"  # Libreswan's script (plugins/updown.py runs nothing for it)


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``ip ...`` as a process; ``sysctl -w KEY=VALUE`` written to /proc/sys directly (a
    device name may hold a dot, which sysctl's key syntax cannot say)."""
    if args[0] == "sysctl":
        key, _, value = args[2].partition("=")
        family, rest = key.split(".", 2)[1], key.split(".", 3)[3]  # net.ipv4.conf.NAME.knob
        name, _, knob = rest.rpartition(".")
        try:
            with open(f"/proc/sys/net/{family}/conf/{name}/{knob}", "w") as f:
                f.write(value)
        except OSError as exc:
            return subprocess.CompletedProcess(list(args), 1, "", str(exc))
        return subprocess.CompletedProcess(list(args), 0, "", "")
    return subprocess.run(list(args), capture_output=True, text=True, timeout=10, check=False)


def default_updown(command: object) -> bool:
    """Is this conn's updown Libreswan's default script (unset or ``ipsec _updown ...``)?"""
    text = str(command or "").strip()
    return not text or text.startswith(DEFAULT_UPDOWN)


def _net(sel: Selector) -> str:
    first, last = ipaddress.ip_address(sel.start), ipaddress.ip_address(sel.end)
    return str(next(ipaddress.summarize_address_range(first, last)))


def _holds(sel: Selector, address: str) -> bool:
    addr = ipaddress.ip_address(address)
    return addr.version == sel.version and sel.start <= int(addr) <= sel.end


@dataclass(frozen=True, slots=True)
class Device:
    """One VTI device as the first Child SA using it asks for it."""

    name: str
    local: str
    remote: str  # the peer, or the unspecified address (shared, instances)
    ikey: int  # mark-in's value (the mask is the policies' business)
    okey: int
    address: str | None  # leftvti=
    keep: bool  # vti-shared=yes or a template's instances: never deleted


def create_commands(dev: Device) -> list[list[str]]:
    """The commands that make ``dev``, as Libreswan 4.10's ``addvtiiface`` runs them (with
    ``mode vti6`` and ``net.ipv6`` for an IPv6 tunnel, which its IPv4-only script has not)."""
    v6 = ipaddress.ip_address(dev.local).version == 6
    family, mode = ("ipv6", "vti6") if v6 else ("ipv4", "vti")
    tunnel = ["ip", "-6", "tunnel"] if v6 else ["ip", "tunnel"]
    out = [[*tunnel, "add", dev.name, "mode", mode, "local", dev.local, "remote", dev.remote,
            "okey", str(dev.okey), "ikey", str(dev.ikey)],
           ["sysctl", "-w", f"net.{family}.conf.{dev.name}.disable_policy=1"]]
    if not v6:
        out.append(["sysctl", "-w", f"net.{family}.conf.{dev.name}.rp_filter=0"])
    out.append(["sysctl", "-w", f"net.{family}.conf.{dev.name}.forwarding=1"])
    if dev.address is not None:
        out.append(["ip", "addr", "add", dev.address, "dev", dev.name])
    out.append(["ip", "link", "set", dev.name, "up"])
    return out


class VtiDevices:
    """Listens to the engine's events (``IkeHost.listeners``)."""

    def __init__(self, conns: Callable[[str], Any], log: Any, run: Runner = _run) -> None:
        self.conns = conns  # conn name -> EngineConn (its options carry vti-interface=...)
        self.log = log
        self.run = run
        self.users: dict[str, list[Any]] = {}  # device -> [Child SAs using it, keep]
        self.routes: dict[tuple[str, str], int] = {}  # (device, peer subnet) -> Child SAs routed there
        self.known: dict[str, Any] = {}  # conn name -> the conn as its Child SAs came up
        self.told: set[str] = set()  # conns whose custom updown was said to own the device
        self.created: set[str] = set()  # devices this daemon made (the worker's alone)
        self.jobs: queue.Queue[tuple[str, list[Any]] | None] = queue.Queue()
        self.worker: threading.Thread | None = None

    def on_event(self, ev: Event) -> None:
        info = ev.child
        if info is None or ev.kind not in ("child-up", "child-down"):
            return
        conn = self.conns(ev.conn)
        if ev.kind == "child-up" and conn is not None:
            self.known[ev.conn] = conn
        elif conn is None:
            conn = self.known.get(ev.conn)  # its Child SAs go after the conn (ipsec delete)
        options = getattr(conn, "options", None) or {}
        name = options.get("vti-interface")
        if not name:
            return
        who = f"\"{ev.conn}\" #{ev.serial}"
        if not default_updown(options.get("updown")):
            if ev.kind == "child-up" and ev.conn not in self.told:
                self.told.add(ev.conn)
                self.log.log(f"\"{ev.conn}\": vti-interface={name}: leftupdown= is not Libreswan's _updown, so it "
                             "makes the device and routes (VTI_IFACE, VTI_ROUTING, VTI_SHARED, VTI_IP), as in "
                             "Libreswan")
            return
        work: list[Any] = []
        nets = [_net(s) for s in info.remote_ts if not _holds(s, info.remote_addr)]
        skipped = [_net(s) for s in info.remote_ts if _holds(s, info.remote_addr)]
        if ev.kind == "child-up":
            entry = self.users.setdefault(name, [0, False])
            entry[0] += 1
            instance = conn.remote_addr is None or bool(getattr(conn, "instance", 0))
            keep = bool(options.get("vti-shared")) or instance
            entry[1] = entry[1] or keep
            if entry[0] == 1:
                unspecified = "::" if ipaddress.ip_address(info.local_addr).version == 6 else "0.0.0.0"
                mark_in, mark_out = conn.mark_in, conn.mark_out
                work.append(("create", Device(name, info.local_addr, unspecified if keep else info.remote_addr,
                                              mark_in[0] if mark_in else 0, mark_out[0] if mark_out else 0,
                                              options.get("vti"), keep)))
            if options.get("vti-routing"):
                for net in nets:
                    self.routes[(name, net)] = self.routes.get((name, net), 0) + 1
                    if self.routes[(name, net)] == 1:
                        work.append(("route", name, net))
                if skipped:
                    self.log.log(f"{who} vti-routing=yes: not routing {', '.join(skipped)} into {name}: it holds "
                                 f"the peer {info.remote_addr}, whose ESP would go into the device too "
                                 "(ipsec.conf(5): vti-routing=no and routes of your own)")
        else:
            if name not in self.users:
                return
            if options.get("vti-routing"):
                for net in nets:
                    count = self.routes.get((name, net), 0) - 1
                    if count <= 0:
                        self.routes.pop((name, net), None)
                        work.append(("unroute", name, net))
                    else:
                        self.routes[(name, net)] = count
            entry = self.users[name]
            entry[0] -= 1
            if entry[0] <= 0:
                del self.users[name]
                work.append(("delete", name, entry[1]))
        if work:
            self._queue(who, work)

    def _queue(self, who: str, work: list[Any]) -> None:
        self.jobs.put((who, work))
        if self.worker is None:
            self.worker = threading.Thread(target=self._work, name="vti", daemon=True)
            self.worker.start()

    def close(self, timeout: float = 10.0) -> None:
        """Let the queued work finish (the ``delete``s of a shutdown)."""
        if self.worker is not None:
            self.jobs.put(None)
            self.worker.join(timeout)
            self.worker = None

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            self.do(*job)

    def do(self, who: str, work: list[Any]) -> None:
        """Run one job now (the worker's; tests call it directly)."""
        for what, *args in work:
            if what == "create":
                self._create(who, args[0])
            elif what == "route":
                self._cmd(who, ["ip", "route", "replace", args[1], "dev", args[0]])
                self.log.log(f"{who} routed {args[1]} into VTI device {args[0]}")
            elif what == "unroute":
                self._cmd(who, ["ip", "route", "del", args[1], "dev", args[0]])
            elif what == "delete":
                name, keep = args
                if name not in self.created:
                    continue  # not ours: left as found
                if keep:
                    self.log.log(f"{who} VTI device {name} left in place (vti-shared=yes or a template's instances)")
                    continue
                self.created.discard(name)
                if self._cmd(who, ["ip", "link", "del", name]):
                    self.log.log(f"{who} deleted VTI device {name}")

    def _create(self, who: str, dev: Device) -> None:
        if self.run(["ip", "link", "show", dev.name]).returncode == 0:
            if dev.name in self.created:
                return  # ours, kept from before (vti-shared=yes)
            self.log.log(f"{who} using existing device {dev.name} as the VTI device (left as it is: no address "
                         "or settings added, never deleted)")
            return
        commands = create_commands(dev)
        if not self._cmd(who, commands[0]):
            self.log.log(f"{who} no VTI device {dev.name}: the kernel needs the ip_vti/ip6_vti module "
                         "(CONFIG_NET_IPVTI, CONFIG_IPV6_VTI) to make one")
            return
        self.created.add(dev.name)
        for command in commands[1:]:
            self._cmd(who, command)
        self.log.log(f"{who} created VTI device {dev.name} (local {dev.local} remote {dev.remote} ikey {dev.ikey} "
                     f"okey {dev.okey}{', address ' + dev.address if dev.address else ''})")

    def _cmd(self, who: str, args: list[str]) -> bool:
        done = self.run(args)
        if done.returncode != 0:
            self.log.log(f"{who} {' '.join(args)} failed: {done.stderr.strip() or done.returncode}")
        return done.returncode == 0
