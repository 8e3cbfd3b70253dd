"""The daemon: lock file, fork, logging, kernel backend, helpers, control
socket, signals and the asyncio loop. All of pluto's I/O lives at this edge.

Start-up order follows pluto(8): the lock file ``<rundir>/pluto.pid`` is
created exclusively (exit 10 when it exists), the daemon forks, and the
parent exits 0 only once the child reports that it is initialized (1 when it
failed). With ``--nofork`` the process prints ``Pluto initialized`` once the
lock file and the control socket exist.
"""

from __future__ import annotations

import asyncio
import faulthandler
import glob
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import IO, Any

from pluto_core import __version__
from pluto_core.auth.chain import DEFAULT_SOURCES, AuthChain
from pluto_core.cert_expiry import ExpiryWatch
from pluto_core.config import load_config
from pluto_core.config.secrets import Secrets, load_secrets
from pluto_core.control.server import ControlServer
from pluto_core.crypto_pool import CryptoPool, helper_count
from pluto_core.default_route import RouteTable, SystemRoutes, resolve_defaultroute, uses_defaultroute
from pluto_core.engine_conn import build_engine_conn, read_cert
from pluto_core.errors import ConfigError, KernelError, PlutoError
from pluto_core.esp_filter import kernel_filter, route_refusal
from pluto_core.ike_host import IkeHost
from pluto_core.ikev2.conn import EngineConn
from pluto_core.kernel.port import Kernel
from pluto_core.logger import Logger, LogRecord, LogSettings
from pluto_core.options import Options
from pluto_core.peer_names import PeerNames
from pluto_core.plugins import AUTH_GROUP, PluginSet, call_each

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_LOCKED = 10


class StartupError(PlutoError):
    """Initialization failed; the message is printed and the exit status is 1."""


def log_settings(options: Options) -> LogSettings:
    return LogSettings(
        stderr=options.stderrlog,
        logfile=options.logfile,
        syslog=not options.stderrlog and options.logfile is None,
        time=options.logtime,
        append=options.logappend,
        ip=options.logip,
        debug=options.debug,
    )


def create_lock(pidfile: str) -> int | None:
    """Create the lock file exclusively; None when it already exists."""
    try:
        return os.open(pidfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return None


class Daemon:
    """One running pluto. ``initialize`` may fail; ``serve`` runs until shutdown."""

    def __init__(self, options: Options, plugins: PluginSet, lock_fd: int,
                 warnings: list[str] | None = None, *, commands: Callable[[Daemon], None]) -> None:
        """``commands`` puts the control commands on ``self.control`` (``control.commands.register``):
        handed in, since they are built on the daemon and it must not import them back."""
        self.options = options
        self.plugins = plugins
        self.lock_fd = lock_fd
        self.register_commands = commands
        self.startup_warnings = warnings or []
        self.log = Logger(emit=self._emit)
        self.pool: CryptoPool | None = None
        self.control = ControlServer(options.ctlsocket, self.log)
        self.kernel = Kernel(plugins.hook, options.kernel_backend, self.log.log)  # the one route into the kernel
        self.kernel_open = False
        self.started = time.time()
        self._stop: asyncio.Event | None = None
        self._crash_file: IO[str] | None = None
        self._ctl_sock: Any = None
        self.secrets: Any = None
        self.ike: IkeHost | None = None
        self.auth: AuthChain | None = None  # the auth sources (engine's credentials), from initialize()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.log_taps: list[Callable[[str], None]] = []  # `ipsec up` streams a conn's lines
        self._failed_sinks: set[str] = set()  # log sinks that raised: reported once each
        self.inherited_fds: tuple[int, ...] = ()  # the start-up pipe: helpers must not hold it
        self.names = PeerNames(self)  # left=/right= host names: resolved at add and before initiating
        self.routes: RouteTable = SystemRoutes()  # left=%defaultroute: the host's table, read at add
        # the conns' certificates: near their end, logged at add and daily (docs/certificates.md "Expiry")
        self.expiry = ExpiryWatch(self.log, lambda name: read_cert(name, options.ipsecdir, options.nssdir),
                                  lambda name: self.ike is not None and name in self.ike.engine.conns)

    # -- logging --------------------------------------------------------

    def _emit(self, record: Any) -> None:
        """Hand a record to the log sinks, on the event loop while it runs: a line logged on a
        plugin's own thread (the x509 source's CRL refetches) is passed over to the loop, as the
        sinks are not thread-safe; the record keeps the time it was made."""
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread and loop.is_running():
            try:
                loop.call_soon_threadsafe(self._emit, record)
                return
            except RuntimeError:  # the loop closed meanwhile: write it here
                pass
        call_each(self.plugins.hook.pluto_log_record, self._sink_failed, record=record)
        if record.debug_class is None:
            for tap in list(self.log_taps):
                tap(record.text)

    def _sink_failed(self, plugin: str, exc: BaseException) -> None:
        """A log sink raised (its contract says it must not): the other sinks get the record all
        the same, and are told once per sink, by name; the daemon goes on."""
        if plugin in self._failed_sinks:
            return
        self._failed_sinks.add(plugin)
        text = (f"log sink {plugin} failed: {exc.__class__.__name__}: {exc} (not reported again; "
                "the other sinks go on)")
        record = LogRecord(text, time.time(), None, True)
        for impl in self.plugins.hook.pluto_log_record.get_hookimpls():
            if impl.plugin_name in self._failed_sinks:
                continue
            try:
                impl.function(record=record)
            except Exception:  # that one is reported when it fails on its own record
                pass

    # -- start-up ---------------------------------------------------------

    def initialize(self) -> None:
        """Everything before ``Pluto initialized``. Raises StartupError."""
        opts = self.options
        settings = log_settings(opts)
        try:
            self.plugins.hook.pluto_log_configure(settings=settings)
        except Exception as exc:
            raise StartupError(f"cannot set up logging: {exc}") from None
        self.log.configure(settings)
        self.log.log(f"Starting Pluto (pluto-ike {__version__}) pid:{os.getpid()}")
        for warning in self.startup_warnings:
            self.log.log(f"warning: {warning}")
        for info in self.plugins.failures():
            self.log.error(f"plugin '{info.name}' ({info.group}, {info.target}) failed to load: {info.error}")
        self.log.debug(f"plugins loaded: {', '.join(n for n, _ in self.plugins.manager.list_name_plugin())}",
                       "plugins")
        if opts.leak_detective:
            tracemalloc.start()
            self.log.log("leak-detective enabled")
        else:
            self.log.log("leak-detective disabled")
        self._enter_coredir()
        if opts.seedbits:
            self._seed(opts.seedbits)
        try:
            description = self.kernel.open(options=opts, log=self.log)
        except PlutoError as exc:
            raise StartupError(f"kernel backend '{opts.kernel_backend}': {exc}") from None
        except Exception as exc:
            raise StartupError(f"kernel backend '{opts.kernel_backend}' failed: "
                               f"{exc.__class__.__name__}: {exc}") from None
        self.kernel_open = True
        self.log.log(description or f"Using kernel backend {opts.kernel_backend}")
        self._start_helpers()
        if opts.listen:
            self.log.log(f"IKE listen address restricted to {opts.listen} (--listen)")
        self.auth = self._auth_chain()
        failed: list[str] = []  # before the secrets: a source learns its paths (ipsecdir, nssdir) here
        call_each(self.plugins.hook.pluto_startup,
                  lambda plugin, exc: failed.append(f"{plugin}: {exc.__class__.__name__}: {exc}"),
                  options=opts, log=self.log)
        if failed:  # as pluto_startup's spec says: start-up stops, naming the plugin
            raise StartupError(f"plugin {failed[0]} (in pluto_startup)")
        self._load_secrets()
        self.ike = IkeHost(opts, self.log, self.kernel, self.auth, self.pool, hook=self.plugins.hook)
        self.ike.listeners.append(self.names.on_event)  # revivals: the peer's host name resolved anew first
        self.register_commands(self)  # before bind: no request finds a command missing
        self._ctl_sock = self.control.bind()
        os.ftruncate(self.lock_fd, 0)
        os.pwrite(self.lock_fd, f"{os.getpid()}\n".encode(), 0)

    def _enter_coredir(self) -> None:
        coredir = self.options.effective_coredir
        try:
            os.chdir(coredir)
            self._crash_file = open(os.path.join(coredir, "pluto-crash.txt"), "a")  # noqa: SIM115
            faulthandler.enable(self._crash_file)
            self.log.log(f"core dump dir: {coredir}")
        except OSError as exc:
            self.log.log(f"warning: core dump dir {coredir} unusable: {exc.strerror}")

    def _seed(self, bits: int) -> None:
        nbytes = (bits + 7) // 8
        with open("/dev/random", "rb", buffering=0) as rng:
            got = 0
            while got < nbytes:
                got += len(rng.read(nbytes - got))
        self.log.log(f"seeded {nbytes} bytes into the RNG")

    def _start_helpers(self) -> None:
        count = helper_count(self.options.nhelpers)
        self.pool = CryptoPool(count, close_fds=self.inherited_fds, log=self.log.error)
        if count:
            self.log.log(f"starting {count} helper process{'es' if count != 1 else ''} for crypto jobs")
        else:
            self.log.log("no helper processes: crypto jobs run in the main process")

    def _auth_chain(self) -> AuthChain:
        """The auth sources ``auth-sources=`` names, each installed (else StartupError)."""
        opts = self.options
        installed = sorted(info.name for info in self.plugins.infos if info.group == AUTH_GROUP and info.loaded)
        order = opts.auth_sources
        if order == DEFAULT_SOURCES:
            # the default list: a built-in missing from an older install (x509 came later) is skipped
            for name in [n for n in order if n not in installed]:
                self.log.log(f"auth sources: default source '{name}' is not installed: skipped")
            order = tuple(n for n in order if n in installed)
        for name in order:
            if name not in installed:
                raise StartupError(f"auth-sources: no auth source '{name}' is installed "
                                   f"(installed: {', '.join(installed) or 'none'})")
        self.log.log(f"auth sources: {', '.join(order)}")
        return AuthChain(self.plugins.hook, order, self._report_from_thread, float(opts.auth_timeout))

    def _hand_secrets(self) -> None:
        if self.auth is not None:
            self.auth.load(self.secrets, self.log)

    def _report_from_thread(self, text: str) -> None:
        """A log line from an auth source's worker thread, written on the event loop."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self.log.log(text)
        else:
            loop.call_soon_threadsafe(self.log.log, text)

    def _load_secrets(self) -> None:
        """Read ``--secretsfile`` (a glob) and hand it to the auth sources. A bad file is
        logged, never fatal: the daemon runs on with what it could read, as Libreswan does."""
        pattern = self.options.secretsfile
        if not glob.glob(pattern):
            self.log.log(f"no secrets filename matched \"{pattern}\"")
            self.secrets = Secrets()
            self._hand_secrets()
            return
        try:
            self.secrets = load_secrets(pattern)
        except ConfigError as exc:
            self.log.error(f"secrets not loaded: {exc}")
            self.secrets = Secrets()
            self._hand_secrets()
            return
        for path in self.secrets.files:
            self.log.log(f"loading secrets from \"{path}\"")
        for warning in self.secrets.warnings:
            self.log.log(f"warning: {warning}")
        self.log.log(f"loaded {len(self.secrets.entries)} secret(s)")
        self._hand_secrets()

    # -- connections --------------------------------------------------------

    def local_addresses(self) -> set[str]:
        return set(self.ike.addresses) if self.ike is not None else set()

    def _read_config(self, path: str) -> Any:
        return load_config(path, ipsecdir=self.options.ipsecdir, local_addresses=self.local_addresses())

    def load_conns(self) -> None:
        """At start-up, as ``addconn --autoall``: every conn with auto=add/keep/start/up/ondemand/route."""
        path = self.options.config
        if not path or not os.path.exists(path) or self.ike is None:
            return
        try:
            config = self._read_config(path)
        except ConfigError as exc:
            self.log.error(f"cannot load connections: {exc}")
            return
        for notice in getattr(config, "notices", []):
            self.log.log(notice)
        for name, error in config.failed.items():
            if config.conns.get(name) is None:
                self.log.log(f"\"{name}\": failed to add connection: {error}")
        start = []
        for name, conn in config.conns.items():
            if conn.auto not in ("add", "keep", "start", "ondemand", "route"):
                if conn.auto != "ignore":
                    self.log.log(f"{conn.file}:{conn.line}: \"{name}\": auto={conn.auto} is not supported; "
                                 "connection not loaded")
                continue
            try:
                self.log.log(self.add_conn(conn))
            except ConfigError as exc:
                self.log.log(f"\"{name}\": failed to add connection: {exc}")
                continue
            if name in self.names.pending:
                continue  # a host name did not resolve: auto= is acted on once it does
            if conn.auto == "start" and not self.ike.shunts.is_shunt(name):
                start.append(name)  # once every conn is in: a responder may need another one
            else:
                self.act_on_auto(name, conn.auto)
        for name in start:
            self.ike.engine.initiate(name)
        self.ike.flush()

    def act_on_auto(self, name: str, auto: str) -> None:
        """What ``auto=`` asks of a conn just added (at start-up, or once its peer's host name
        resolved): a shunt is routed by start/ondemand/route, ``start`` initiates,
        ``ondemand``/``route`` install trap policies; ``add``/``keep`` wait."""
        assert self.ike is not None
        if self.ike.shunts.is_shunt(name):  # never negotiates: being in effect means being routed
            if auto in ("start", "ondemand", "route"):
                self.ike.shunts.route_at_start(name)
        elif auto == "start":
            self.ike.engine.initiate(name)
        elif auto in ("ondemand", "route"):
            try:
                n = self.ike.install_traps(self.ike.engine.conns[name])  # and marks it routed
                self.log.log(f"\"{name}\": {n} trap polic{'y' if n == 1 else 'ies'} installed (auto={auto})")
            except PlutoError as exc:
                self.log.log(f"\"{name}\": cannot install trap policies: {exc}")

    def add_conn(self, conn: Any, resolve: bool = True) -> str:
        assert self.ike is not None
        if conn.refusal is not None:  # what pluto cannot honour (config/admission.py), before any DNS
            raise conn.refusal
        if resolve:  # host names in left=/right= (resolve=False: the caller resolved them)
            resolved = self.names.prepare(conn)
            if resolved is None:
                return self.names.waiting_line(conn.name)
            conn = resolved
        if uses_defaultroute(conn):  # left=%defaultroute, leftnexthop=%defaultroute: the routing table's
            try:
                conn = resolve_defaultroute(conn, self.routes)
            except ConfigError:
                if not conn.never_negotiate:
                    raise  # a shunt with subnets needs no address of its own: as before
            for side in ("left", "right"):
                end = getattr(conn, side)
                if str(end.host or "").lower().startswith("%defaultroute"):
                    self.log.log(f"\"{conn.name}\": {side}={end.host} is {end.address}, nexthop "
                                 f"{end.nexthop or '%direct'}")
        if conn.never_negotiate:  # type=passthrough|drop|reject: kernel policies only, no IKE
            return self.ike.shunts.add(conn)
        built, certs = build_engine_conn(conn, self.options.ipsecdir, self.options.nssdir)
        # only the ESP algorithms the kernel can install
        engine_conn = kernel_filter(built, self.kernel, self.options.kernel_backend, self.log.log)
        self._route_based(conn, engine_conn)
        self.ike.shunts.configure_trap(conn)
        self.ike.engine.add_conn(engine_conn)
        self.expiry.track(conn.name, certs)
        return f"\"{conn.name}\": added IKEv2 connection"

    def _route_based(self, conn: Any, engine_conn: EngineConn) -> None:
        """Marks and ``ipsec-interface=`` need a backend that has them (PF_KEY has neither:
        refused with its reason); the conn's XFRM interface is created with the first conn
        that names it (``Kernel.hold_interface``), or the conn is refused with the kernel's
        reason. Refusals name the conn's file:line."""
        why = route_refusal(engine_conn, self.kernel.features(), self.options.kernel_backend)
        if why is not None:
            raise ConfigError(why, conn.file, conn.line)
        if not engine_conn.if_id:
            return
        try:
            line = self.kernel.hold_interface(conn.name, engine_conn.if_id)
        except KernelError as exc:
            raise ConfigError(f"\"{conn.name}\": ipsec-interface={conn.get('ipsec-interface')}: {exc}",
                              conn.file, conn.line) from None
        if line is not None:
            self.log.log(f"\"{conn.name}\": {line}")

    def forget_conn(self, name: str) -> None:
        """A conn deleted (``ipsec delete``): its XFRM interface goes with the last conn using
        it, when this daemon created it."""
        conn = self.ike.engine.conns.get(name) if self.ike is not None else None
        if conn is None or not conn.if_id:
            return
        try:
            line = self.kernel.release_interface(name, conn.if_id)
        except KernelError as exc:
            self.log.log(f"\"{name}\": cannot delete its XFRM interface: {exc}")
            return
        if line is not None:
            self.log.log(f"\"{name}\": {line}")

    def add_conn_from_config(self, path: str, name: str) -> str:
        config = self._read_config(path)
        conn = config.conns.get(name)
        error = config.failed.get(name) or config.refused.get(name)  # refused: config/admission.py
        if error is not None:
            raise ConfigError(f"\"{name}\": failed to add connection: {error}")
        if conn is None:
            raise ConfigError(f"no connection named \"{name}\" in {path}")
        line = self.add_conn(conn)
        self.log.log(line)
        return line

    def reload_secrets(self) -> None:
        self.log.log("forgetting secrets")
        self._load_secrets()

    # -- running ----------------------------------------------------------

    def request_stop(self, why: str) -> None:
        self.log.log(why)
        if self._stop is not None:
            self._stop.set()

    def _sighup(self) -> None:
        self.log.log('Pluto ignores SIGHUP -- perhaps you want "ipsec listen"')

    async def serve(self, ready: Any) -> None:
        """Run until SIGTERM or ``shutdown``; ``ready()`` is called once serving."""
        loop = asyncio.get_running_loop()
        self._loop, self._loop_thread = loop, threading.get_ident()
        self._stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "shutting down on SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "shutting down on SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._sighup)
        if self.pool is not None:
            self.pool.start()  # a helper that dies is noticed (and logged) even when idle
        await self.control.start(self._ctl_sock)
        if self.ike is not None:
            await self.ike.start()
            self.ike.watch_kernel()
            self.ike.watch_addresses()
            self.load_conns()
        ready()
        await self._stop.wait()
        self.expiry.close()
        await self.control.close()
        if self.ike is not None:
            for name in list(self.ike.engine.conns):
                self.ike.engine.terminate(name)  # tell peers (Delete), remove Child SAs
            self.ike.flush()
            self.ike.close()
        self.names.close()
        if self.auth is not None:
            self.auth.close()

    # -- shutdown ---------------------------------------------------------

    def cleanup(self) -> None:
        """Remove what we installed and created: kernel state, socket, lock file."""
        hook = self.plugins.hook
        if self.kernel_open:
            try:
                removed = self.kernel.flush_owned()
                self.log.log(f"removed {removed} kernel SA and policy entries this daemon installed")
            except Exception as exc:
                self.log.error(f"kernel backend could not remove its state: {exc}")
            try:
                self.kernel.close()
            except Exception as exc:
                self.log.error(f"kernel backend close failed: {exc}")
            self.kernel_open = False
        call_each(hook.pluto_shutdown,  # each on its own: one that fails does not stop the others
                  lambda plugin, exc: self.log.error(f"plugin {plugin} failed in pluto_shutdown: "
                                                     f"{exc.__class__.__name__}: {exc}"))
        if self.pool is not None:
            self.pool.close()
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot()
            for stat in snapshot.statistics("lineno")[:10]:
                self.log.log(f"leak-detective: {stat}")
            tracemalloc.stop()
        for path in (self.options.ctlsocket, self.options.pidfile):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        os.close(self.lock_fd)
        self.log.log("pluto stopped")
        hook.pluto_log_close()
        if self._crash_file is not None:
            faulthandler.disable()
            self._crash_file.close()
            try:
                if os.path.getsize(self._crash_file.name) == 0:
                    os.unlink(self._crash_file.name)
            except OSError:
                pass


def run_daemon(options: Options, plugins: PluginSet, lock_fd: int, warnings: list[str],
               commands: Callable[[Daemon], None]) -> int:
    """Initialize and serve, in this process (``--nofork``) or the forked child."""
    if options.nofork:
        return _run(Daemon(options, plugins, lock_fd, warnings, commands=commands), notify=None)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        os.close(lock_fd)
        return _parent_wait(read_fd)
    os.close(read_fd)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    status = EXIT_FAIL
    try:
        daemon = Daemon(options, plugins, lock_fd, warnings, commands=commands)
        daemon.inherited_fds = (write_fd, lock_fd)
        status = _run(daemon, notify=write_fd)
    finally:
        os._exit(status)


def _parent_wait(read_fd: int) -> int:
    """Wait for the child's verdict: one byte 0 for success, else one error line.

    Read a frame, not to EOF: the helper processes inherit the pipe.
    """
    with os.fdopen(read_fd, "rb") as pipe:
        first = pipe.read(1)
        if first == b"\0":
            return EXIT_OK
        data = first + pipe.readline()
    message = data.decode(errors="replace").strip() or "pluto: the daemon died during start-up"
    print(message, file=sys.stderr)
    return EXIT_FAIL


def _detach_output(daemon: Daemon) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    sys.stdout.flush()
    os.dup2(devnull, 1)
    if not daemon.options.stderrlog:
        sys.stderr.flush()
        os.dup2(devnull, 2)
    os.close(devnull)


def _run(daemon: Daemon, notify: int | None) -> int:
    def fail(message: str) -> int:
        text = f"pluto: {message}"
        daemon.log.error(text)
        if notify is not None:
            os.write(notify, text.replace("\n", " ").encode() + b"\n")
            os.close(notify)
        else:
            print(text, file=sys.stderr)
        daemon.cleanup()
        return EXIT_FAIL

    try:
        daemon.initialize()
    except StartupError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"start-up failed: {exc}")
    except Exception as exc:  # a bug must still leave no lock file behind
        return fail(f"start-up failed: {exc.__class__.__name__}: {exc}")

    def ready() -> None:
        if notify is None:
            print("Pluto initialized", flush=True)
        else:
            _detach_output(daemon)
            os.write(notify, b"\0")
            os.close(notify)

    try:
        asyncio.run(daemon.serve(ready))
    except Exception as exc:  # last resort: log, clean up, fail
        daemon.log.error(f"pluto: fatal error: {exc.__class__.__name__}: {exc}")
        daemon.cleanup()
        return EXIT_FAIL
    daemon.cleanup()
    return EXIT_OK
