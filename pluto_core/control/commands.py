"""The control commands: hello, globalstatus, ddos and shutdown for the daemon itself; add, up,
down, route, unroute, delete, status, trafficstatus, listen and rereadsecrets for connections and
SAs; listcerts, listcacerts, listcrls, rereadcerts, rereadall, fetchcrls and purgeocsp for
certificates and their revocation. The ``ipsec`` verbs call
them. They use the daemon's public surface; the daemon never imports
them (``cli/pluto.py`` hands ``register`` to it), so the two have no import cycle."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pluto_core import __version__
from pluto_core.control.server import CommandError, Progress
from pluto_core.control.status import status_data
from pluto_core.errors import ConfigError, KernelError
from pluto_core.ikev2.events import Event
from pluto_core.nss import listing
from pluto_core.nss.certdb import NssCert
from pluto_core.resolve import ResolveError
from pluto_core.shunts import shunt_word
from pluto_core.x509.inventory import Inventory, read_inventory

if TYPE_CHECKING:
    from pluto_core.daemon import Daemon

UP_TIMEOUT_SLACK = 5.0


NAMES = ("add", "up", "down", "route", "unroute", "delete", "status", "trafficstatus", "listen",
         "rereadsecrets", "hello", "globalstatus", "shutdown", "ddos", "listcerts", "listcacerts", "listcrls",
         "rereadcerts", "redirect", "rereadall", "fetchcrls", "purgeocsp")


def register(daemon: Daemon) -> None:
    """Every command on the daemon's control server (called once its IKE host exists)."""
    commands = Commands(daemon)
    for name in NAMES:
        daemon.control.command(name, getattr(commands, name))


def _name(args: dict[str, Any]) -> str:
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise CommandError("a connection name is required")
    return name


class Commands:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    @property
    def engine(self) -> Any:
        host = self.daemon.ike
        if host is None:
            raise CommandError("the IKE engine is not running")
        return host.engine

    def _shunt(self, name: str) -> Any:
        """The never-negotiate conn ``name`` (type=passthrough|drop|reject), or None."""
        host = self.daemon.ike
        return host.shunts.conns.get(name) if host is not None else None

    def _shunt_route(self, name: str, progress: Progress, install: bool) -> dict[str, Any]:
        """``route``/``unroute`` of a never-negotiate conn: its policies without template."""
        host = self.daemon.ike
        assert host is not None
        word = shunt_word(self._shunt(name).action)
        try:
            count = host.shunts.route(name) if install else host.shunts.unroute(name)
        except KernelError as exc:
            raise CommandError(f"\"{name}\": cannot install {word} policies: {exc}") from None
        line = (f"\"{name}\": {count} {word} polic{'y' if count == 1 else 'ies'} "
                f"{'installed' if install else 'removed'}")
        self.daemon.log.log(line)
        progress(line)
        return {"name": name, "policies": count}

    def _conn(self, name: str) -> Any:
        conn = self.engine.conns.get(name)
        if conn is None:
            raise CommandError(f"no connection named \"{name}\"")
        return conn

    async def add(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        name = _name(args)
        path = args.get("config") or self.daemon.options.config
        if not path:
            raise CommandError("no configuration file: give --config FILE")
        try:
            line = self.daemon.add_conn_from_config(str(path), name)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        progress(line)
        return {"name": name}

    async def up(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Initiate and wait for the outcome, streaming the conn's log lines."""
        name = _name(args)
        shunt = self._shunt(name)
        if shunt is not None:
            raise CommandError(f"\"{name}\": cannot initiate a never-negotiate (type={shunt.type}) connection; "
                               f"'ipsec route {name}' installs its policies")
        try:  # a peer given by host name is resolved anew: it may have moved
            await self.daemon.names.refresh(name)
        except ResolveError as exc:
            raise CommandError(str(exc)) from None
        conn = self._conn(name)
        if conn.remote_addr is None:
            raise CommandError(f"\"{name}\": cannot initiate: the remote end is %any")
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[tuple[bool, str]] = loop.create_future()
        state: dict[str, int] = {}

        def on_event(ev: Event) -> None:
            if ev.conn != name or outcome.done():
                return
            if ev.kind == "ike-failed" and ev.serial == state.get("ike"):
                outcome.set_result((False, ev.detail))
            elif ev.kind == "child-failed" and state.get("ike") is not None:
                outcome.set_result((False, ev.detail))
            elif ev.kind == "child-up":
                outcome.set_result((True, "established"))

        prefix = f"\"{name}\" "
        tap: Callable[[str], None] = lambda text: progress(text) if text.startswith(prefix) else None  # noqa: E731
        host = self.daemon.ike
        assert host is not None
        host.listeners.append(on_event)
        self.daemon.log_taps.append(tap)
        try:
            state["ike"] = self.engine.initiate(name)
            host.shunts.negotiating(state["ike"])  # a routed conn: negotiation/failure shunts apply
            host.flush()
            ok, detail = await asyncio.wait_for(outcome, conn.retransmit_timeout + UP_TIMEOUT_SLACK)
        except TimeoutError:
            ok, detail = False, "timeout: no answer from the peer"
        finally:
            host.listeners.remove(on_event)
            self.daemon.log_taps.remove(tap)
        if not ok:
            raise CommandError(f"\"{name}\": {detail}")
        return {"name": name, "outcome": detail}

    async def down(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        name = _name(args)
        if self._shunt(name) is not None:
            return {"name": name, "deleted": 0}  # no IKE SA ever
        self._conn(name)
        prefix = f"\"{name}\" "
        tap: Callable[[str], None] = lambda text: progress(text) if text.startswith(prefix) else None  # noqa: E731
        self.daemon.log_taps.append(tap)
        try:
            count = self.engine.terminate(name)
            assert self.daemon.ike is not None
            self.daemon.ike.flush()
        finally:
            self.daemon.log_taps.remove(tap)
        return {"name": name, "deleted": count}

    async def route(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Install the conn's trap policies: its first packet starts the negotiation."""
        name = _name(args)
        if self._shunt(name) is not None:
            return self._shunt_route(name, progress, install=True)
        conn = self._conn(name)
        host = self.daemon.ike
        assert host is not None
        if conn.remote_addr is None:
            raise CommandError(f"\"{name}\": cannot route: the remote end is %any")
        try:
            count = host.install_traps(conn)
        except KernelError as exc:
            raise CommandError(f"\"{name}\": cannot install trap policies: {exc}") from None
        line = f"\"{name}\": {count} trap polic{'y' if count == 1 else 'ies'} installed"
        self.daemon.log.log(line)
        progress(line)
        return {"name": name, "policies": count}

    async def unroute(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Remove the trap policies. Refused while a Child SA of the conn is up: its
        outbound policy shares the trap's selector (``ipsec down`` it first)."""
        name = _name(args)
        if self._shunt(name) is not None:
            return self._shunt_route(name, progress, install=False)
        self._conn(name)
        host = self.daemon.ike
        assert host is not None
        if any(sa.conn is not None and sa.conn.name == name and sa.children for sa in self.engine.ike_sas()):
            raise CommandError(f"\"{name}\": cannot unroute: a Child SA is up (run 'ipsec down {name}' first)")
        count = host.remove_traps(name)
        line = f"\"{name}\": {count} trap polic{'y' if count == 1 else 'ies'} removed"
        self.daemon.log.log(line)
        progress(line)
        return {"name": name, "policies": count}

    async def delete(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        name = _name(args)
        if self._shunt(name) is not None:
            self._shunt_route(name, progress, install=False)
            assert self.daemon.ike is not None
            self.daemon.ike.shunts.forget(name)
            progress(f"\"{name}\": deleting non-instance connection")
            return {"name": name, "deleted": 0}
        if self.daemon.names.forget(name) and name not in self.engine.conns:  # its name never resolved
            progress(f"\"{name}\": deleting non-instance connection")
            return {"name": name, "deleted": 0}
        result = await self.down(args, progress)
        if self.daemon.ike is not None:
            self.daemon.ike.remove_traps(result["name"])
        self.daemon.forget_conn(result["name"])
        self.engine.remove_conn(result["name"])
        progress(f"\"{result['name']}\": deleting non-instance connection")
        return result

    async def status(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return status_data(self.daemon)

    async def trafficstatus(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return {"children": [c for c in status_data(self.daemon)["children"]
                             if not args.get("name") or c["conn"] == args.get("name")]}

    async def listen(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        self.daemon.reload_secrets()
        progress("listening for IKE messages")
        return {}

    async def rereadsecrets(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        self.daemon.reload_secrets()
        return {}

    async def rereadcerts(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Certificates, CAs and CRLs are read by the auth sources' load, with the secrets."""
        self.daemon.reload_secrets()
        return {}

    def _auth(self) -> Any:
        auth = self.daemon.auth
        if auth is None:
            raise CommandError("the auth sources are not running")
        return auth

    async def fetchcrls(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``whack --fetchcrls``: the CRLs of every distribution point seen are fetched again,
        by the auth sources on their own threads (the answer does not wait for them)."""
        count = self._auth().fetch_crls()
        self.daemon.log.log(f"fetching the CRLs of {count} distribution point{'' if count == 1 else 's'}")
        return {"points": count}

    async def rereadall(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``whack --rereadall``: rereadsecrets, rereadcerts and fetchcrls, as Libreswan."""
        self.daemon.reload_secrets()  # secrets, and with them certificates, CAs and CRLs
        return await self.fetchcrls(args, progress)

    async def purgeocsp(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``whack --purgeocsp``: the cached OCSP answers are forgotten; the next check asks again."""
        count = self._auth().purge_ocsp()
        self.daemon.log.log(f"OCSP cache purged: {count} answer{'' if count == 1 else 's'} forgotten")
        return {"purged": count}

    async def _inventory(self) -> Inventory:
        """What the daemon reads certificates from (NSS and files), off the loop."""
        opts = self.daemon.options
        found = await asyncio.to_thread(read_inventory, opts.nssdir, opts.ipsecdir)
        for problem in found.problems:
            self.daemon.log.log(f"listing certificates: {problem}")
        return found

    async def listcerts(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``whack --listcerts``: end certificates, NSS's then those of certs/ and cacerts/."""
        certs = (await self._inventory()).certs
        return {"text": listing.format_listcerts(certs), "certificates": [_cert_row(c) for c in certs if not c.is_ca]}

    async def listcacerts(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``whack --listcacerts``: every CA certificate."""
        certs = (await self._inventory()).certs
        return {"text": listing.format_listcacerts(certs), "certificates": [_cert_row(c) for c in certs if c.is_ca]}

    async def listcrls(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``whack --listcrls``: the CRLs of the NSS database and crls/."""
        crls = (await self._inventory()).crls
        return {"text": listing.format_listcrls(crls), "crls": len(crls)}

    async def hello(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return {"version": __version__, "pid": os.getpid(), "kernel": self.daemon.options.kernel_backend}

    async def globalstatus(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        daemon = self.daemon
        opts = asdict(daemon.options)
        opts["debug"] = sorted(daemon.options.debug)
        if daemon.ike is not None:  # what runs now (whack --ddos-* changes it)
            opts["ddos_mode"] = daemon.ike.engine.ddos_mode
        return {"options": opts, "pid": os.getpid(), "uptime": time.time() - daemon.started,
                "half_open_ike": len(daemon.ike.engine.half_open) if daemon.ike is not None else 0,
                "helpers": len(daemon.pool.worker_pids()) if daemon.pool else 0,
                "plugins": [n for n, _ in daemon.plugins.manager.list_name_plugin()]}

    async def ddos(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``ipsec whack --ddos-auto|--ddos-busy|--ddos-unlimited``: cookies by load, always, never."""
        mode = args.get("mode")
        if mode not in ("auto", "busy", "unlimited"):
            raise CommandError("mode must be auto, busy or unlimited")
        if self.daemon.ike is not None:
            self.daemon.ike.engine.set_ddos_mode(mode)
        self.daemon.log.log(f"pluto DDoS protection mode set to {mode}")
        return {"mode": mode}

    async def redirect(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """``ipsec whack [--name NAME] [--peer-ip ADDR] --redirect-to DESTS``: an INFORMATIONAL
        REDIRECT to established peers (RFC 5685 5); ``--global-redirect`` /
        ``--global-redirect-to``: what IKE_SA_INIT requests are answered with (RFC 5685 3)."""
        ike = self.daemon.ike
        if ike is None:
            raise CommandError("pluto is not ready")
        engine = ike.engine
        name, peer = args.get("name"), args.get("peer")
        if name is not None and name not in engine.conns:
            raise CommandError(f"no connection named \"{name}\"")
        result: dict[str, Any] = {}
        if args.get("global") is not None or args.get("global_to") is not None:
            mode = args.get("global") or engine.redirects.mode
            try:
                engine.set_global_redirect(mode, args.get("global_to"))
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if mode != "no" and not engine.redirects.dests:
                engine.set_global_redirect("no")
                raise CommandError("--global-redirect set to no as there are no active redirect targets")
            targets = " ".join(engine.redirects.dests) or "<unset>"
            self.daemon.log.log(f"set global redirect to {mode}, targets {targets}")
            result.update({"global": engine.redirects.mode, "global_to": list(engine.redirects.dests)})
        if args.get("to"):
            try:
                count = engine.redirect(str(args["to"]), name=name, peer=peer)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            ike.flush()
            which = f" of connection \"{name}\"" if name else ""
            line = f"redirections sent for {count} tunnels{which}" if count else \
                f"no active tunnels found{' for connection ' + chr(34) + name + chr(34) if name else ''}"
            progress(line)
            result["redirected"] = count
        return result

    async def shutdown(self, args: dict[str, Any], progress: Progress) -> dict[str, Any]:
        self.daemon.request_stop("shutdown requested through the control socket")
        return {}


def _cert_row(cert: NssCert) -> dict[str, Any]:
    """One certificate for ``--json``."""
    c = cert.certificate
    return {"nickname": cert.nickname, "subject": listing.format_dn(c.subject.public_bytes()),
            "issuer": listing.format_dn(c.issuer.public_bytes()), "serial": f"{c.serial_number:x}",
            "not_before": c.not_valid_before_utc.isoformat(), "not_after": c.not_valid_after_utc.isoformat(),
            "key": listing.key_text(c), "trust": cert.trust_flags, "has_private_key": cert.has_private_key,
            "ckaid": cert.ckaid}
