"""The daemon side of ``pluto.ctl``: a unix stream socket, mode 0600, one JSON
object per line each way.

Only root and the daemon's own user may talk to it (SO_PEERCRED). A client
that sends garbage gets an error line; one that sends nothing, or too much,
is cut off after a timeout or a size limit; neither blocks other clients.
At most ``MAX_CLIENTS`` connections are open at once: past that, the client
that has waited longest for its own request line is dropped for the newcomer
(a flood of silent connections cannot lock ``ipsec status`` out), and only
when every open connection is running a command is the newcomer refused.
Each refusal is logged once, naming the client (pid, uid) and what was wrong;
past ``LOG_BURST`` such lines in ``LOG_WINDOW`` seconds they are counted, not
written, and the count is logged when the window ends.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pluto_core.control import MAX_REQUEST_BYTES, PROTOCOL_VERSION

# A handler gets the request's args and a ``progress(line)`` callback that
# streams ``{"progress": line}`` to the client before the final answer.
Progress = Callable[[str], None]
Handler = Callable[[dict[str, Any], Progress], Awaitable[Any]]
READ_TIMEOUT = 10.0  # a request line must arrive whole within this (a client sending a byte a second is cut)
WRITE_TIMEOUT = 10.0  # a client must take its answer within this (one that never reads is cut)
MAX_CLIENTS = 256  # open control connections; `ipsec` verbs hold one each for milliseconds (`up`: minutes)
LOG_BURST = 20  # complaints about control clients logged per LOG_WINDOW; the rest are counted
LOG_WINDOW = 10.0
SCALARS = (str, int, float, bool, type(None))


def shown(value: Any, limit: int = 60) -> str:
    """``value`` for a log line or an error: control characters escaped (no forged log lines),
    at most ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + f"...({len(text)} chars)"


class _Conn:
    """One open control connection: who, since when, and whether it is waiting for a request."""

    __slots__ = ("writer", "who", "since", "idle")

    def __init__(self, writer: asyncio.StreamWriter, who: str) -> None:
        self.writer = writer
        self.who = who
        self.since = time.monotonic()
        self.idle = True


class CommandError(Exception):
    """A command's own failure (unknown conn, ...): its text goes to the client as the error."""


class ControlServer:
    def __init__(self, path: str, log: Any) -> None:
        self.path = path
        self.log = log
        self.handlers: dict[str, Handler] = {}
        self._server: asyncio.AbstractServer | None = None
        self.conns: dict[asyncio.StreamWriter, _Conn] = {}
        self._logged = 0
        self._suppressed = 0
        self._window: asyncio.TimerHandle | None = None

    def command(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    def bind(self) -> socket.socket:
        """Create the socket file with mode 0600 (umask during bind, chmod after)."""
        if os.path.lexists(self.path):
            os.unlink(self.path)  # left by a crashed daemon: we hold the lock file, so it is stale
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(MAX_CLIENTS)  # a burst of clients waits in the queue, not on EAGAIN
        sock.setblocking(False)
        return sock

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_unix_server(self._client, sock=sock, limit=MAX_REQUEST_BYTES)

    async def close(self) -> None:
        if self._window is not None:
            self._window.cancel()
            self._window_end()
        if self._server is not None:
            self._server.close()
            self._server = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    @staticmethod
    def _peer(writer: asyncio.StreamWriter) -> tuple[int, int] | None:
        """The client's (pid, uid) from SO_PEERCRED, None when it cannot be read."""
        sock = writer.get_extra_info("socket")
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except (OSError, AttributeError):
            return None
        pid, uid, _gid = struct.unpack("3i", creds)
        return pid, uid

    def complain(self, who: str, what: str) -> None:
        """Log ``control: WHO: WHAT``, at most LOG_BURST lines per LOG_WINDOW seconds."""
        if self._window is None:
            self._window = asyncio.get_running_loop().call_later(LOG_WINDOW, self._window_end)
        if self._logged < LOG_BURST:
            self._logged += 1
            self.log.log(f"control: {who}: {what}")
        else:
            self._suppressed += 1

    def _window_end(self) -> None:
        if self._suppressed:
            self.log.log(f"control: {self._suppressed} more complaints about control clients "
                         f"in the last {LOG_WINDOW:g}s not logged")
        self._window, self._logged, self._suppressed = None, 0, 0

    def _make_room(self, newcomer: _Conn) -> bool:
        """Over MAX_CLIENTS: drop the longest-waiting idle connection; False when none is idle."""
        if len(self.conns) <= MAX_CLIENTS:
            return True
        idle = [c for c in self.conns.values() if c.idle and c is not newcomer]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.since)
        waited = time.monotonic() - victim.since
        self.complain(victim.who, f"dropped after {waited:.1f}s without a request: {len(self.conns) - 1} "
                      f"control connections open (the limit is {MAX_CLIENTS})")
        self.conns.pop(victim.writer, None)
        if not victim.writer.is_closing():
            victim.writer.write(json.dumps({"ok": False, "error": "closed: too many control connections, "
                                            "and this one sent no request"}).encode() + b"\n")
            victim.writer.close()
        return True

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = self._peer(writer)
        who = f"client pid {peer[0]} uid {peer[1]}" if peer else "client (credentials unknown)"
        conn = _Conn(writer, who)
        self.conns[writer] = conn
        name = "-"
        try:
            if peer is None or peer[1] not in (0, os.geteuid()):
                self.complain(who, "refused: only root and the daemon's user may control pluto")
                await self._reply(writer, {"ok": False, "error": "permission denied: only root or the "
                                           "daemon's user may control pluto"})
                return
            if not self._make_room(conn):
                self.complain(who, f"refused: {MAX_CLIENTS} control connections are all running commands")
                await self._reply(writer, {"ok": False, "error": f"too many control connections "
                                           f"({MAX_CLIENTS} busy); try again"})
                return
            while True:
                conn.idle, conn.since = True, time.monotonic()
                try:
                    line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
                except TimeoutError:
                    self.complain(who, f"no complete request line within {READ_TIMEOUT:g}s; closed")
                    await self._reply(writer, {"ok": False, "error": "timeout: no request received"})
                    return
                except (ValueError, asyncio.LimitOverrunError):
                    self.complain(who, f"request line longer than {MAX_REQUEST_BYTES} bytes; closed")
                    await self._reply(writer, {"ok": False, "error":
                                               f"request longer than {MAX_REQUEST_BYTES} bytes"})
                    return
                if not line or self.conns.get(writer) is not conn:
                    return  # the client hung up, or was dropped for a newcomer
                conn.idle = False

                def progress(text: str, writer: asyncio.StreamWriter = writer) -> None:
                    if not writer.is_closing():
                        writer.write(json.dumps({"progress": text}).encode() + b"\n")

                name, answer, bad = await self._dispatch(line, progress)
                if bad:
                    self.complain(who, bad)
                await self._reply(writer, answer)
                name = "-"
        except TimeoutError:
            self.complain(who, f"did not read its answer within {WRITE_TIMEOUT:g}s; closed")
        except (ConnectionError, OSError) as exc:
            if name != "-":
                self.complain(who, f"went away before its answer to '{name}' was sent "
                              f"({exc.strerror or exc.__class__.__name__})")
        except Exception as exc:  # a bug here must not kill the server nor write a traceback
            self.log.error(f"control: {who}: internal error: {exc.__class__.__name__}: {shown(str(exc), 200)}")
        finally:
            if self.conns.get(writer) is conn:
                del self.conns[writer]
            writer.close()

    async def _dispatch(self, line: bytes, progress: Progress) -> tuple[str, dict[str, Any], str | None]:
        """(command name, the answer, what was wrong with the request for the log or None)."""
        def bad(error: str) -> tuple[str, dict[str, Any], str]:
            return "-", {"ok": False, "error": error}, error

        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return bad("malformed request: not a JSON object")
        except RecursionError:
            return bad("malformed request: JSON nested too deeply")
        if not isinstance(request, dict):
            return bad(f"malformed request: a JSON {type(request).__name__}, not an object")
        if not isinstance(request.get("command"), str):
            return bad("malformed request: no \"command\"")
        version = request.get("version", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            return bad(f"unsupported protocol version {shown(version, 20)}; this daemon speaks {PROTOCOL_VERSION}")
        name = request["command"]
        handler = self.handlers.get(name)
        if handler is None:
            return bad(f"unknown command '{shown(name, 40)}'")
        args = request.get("args") or {}
        if not isinstance(args, dict):
            return bad("malformed request: \"args\" is not an object")
        for key, value in args.items():
            if not isinstance(value, SCALARS):
                return bad(f"malformed request: \"args\".{shown(key, 20)} is a {type(value).__name__}, "
                           "not a string, number or boolean")
        self.log.debug(f"control: {name}", "control")
        try:
            result = await handler(args, progress)
        except CommandError as exc:
            return name, {"ok": False, "error": str(exc)}, None
        except Exception as exc:  # a bug in one command must not kill the daemon
            self.log.error(f"control command '{name}' failed: {exc.__class__.__name__}: {exc}")
            return name, {"ok": False, "error": f"internal error in '{name}': {exc}"}, None
        return name, {"ok": True, "result": result}, None

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode() + b"\n")
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
