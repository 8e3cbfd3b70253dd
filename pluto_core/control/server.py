"""The daemon side of ``pluto.ctl``: a unix stream socket, mode 0600, one JSON
object per line each way.

Only root and the daemon's own user may talk to it (SO_PEERCRED). A client
that sends garbage gets an error line; one that sends nothing, or too much,
is cut off after a timeout or a size limit; neither blocks other clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from pluto_core.control import MAX_REQUEST_BYTES, PROTOCOL_VERSION

# A handler gets the request's args and a ``progress(line)`` callback that
# streams ``{"progress": line}`` to the client before the final answer.
Progress = Callable[[str], None]
Handler = Callable[[dict[str, Any], Progress], Awaitable[Any]]
READ_TIMEOUT = 10.0


class CommandError(Exception):
    """A command's own failure (unknown conn, ...): its text goes to the client as the error."""


class ControlServer:
    def __init__(self, path: str, log: Any) -> None:
        self.path = path
        self.log = log
        self.handlers: dict[str, Handler] = {}
        self._server: asyncio.AbstractServer | None = None

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
        sock.listen(64)
        sock.setblocking(False)
        return sock

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_unix_server(self._client, sock=sock, limit=MAX_REQUEST_BYTES)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _allowed(self, writer: asyncio.StreamWriter) -> bool:
        sock = writer.get_extra_info("socket")
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except (OSError, AttributeError):
            return False
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid in (0, os.geteuid())

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not self._allowed(writer):
                await self._reply(writer, {"ok": False, "error": "permission denied: only root or the "
                                           "daemon's user may control pluto"})
                return
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
                except TimeoutError:
                    await self._reply(writer, {"ok": False, "error": "timeout: no request received"})
                    return
                except (ValueError, asyncio.LimitOverrunError):
                    await self._reply(writer, {"ok": False, "error":
                                               f"request longer than {MAX_REQUEST_BYTES} bytes"})
                    return
                if not line:
                    return
                def progress(text: str, writer: asyncio.StreamWriter = writer) -> None:
                    if not writer.is_closing():
                        writer.write(json.dumps({"progress": text}).encode() + b"\n")

                await self._reply(writer, await self._dispatch(line, progress))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _dispatch(self, line: bytes, progress: Progress) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return {"ok": False, "error": "malformed request: not a JSON object"}
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": "malformed request: no \"command\""}
        version = request.get("version", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            return {"ok": False, "error": f"unsupported protocol version {version!r}; "
                    f"this daemon speaks {PROTOCOL_VERSION}"}
        name = request["command"]
        handler = self.handlers.get(name)
        if handler is None:
            return {"ok": False, "error": f"unknown command '{name}'"}
        args = request.get("args") or {}
        if not isinstance(args, dict):
            return {"ok": False, "error": "malformed request: \"args\" is not an object"}
        self.log.debug(f"control: {name}", "control")
        try:
            result = await handler(args, progress)
        except CommandError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in one command must not kill the daemon
            self.log.error(f"control command '{name}' failed: {exc.__class__.__name__}: {exc}")
            return {"ok": False, "error": f"internal error in '{name}': {exc}"}
        return {"ok": True, "result": result}

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode() + b"\n")
        await writer.drain()
