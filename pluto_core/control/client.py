"""The client side of ``pluto.ctl`` for the ``ipsec`` verbs."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

from pluto_core.control import PROTOCOL_VERSION
from pluto_core.errors import PlutoError


class ControlError(PlutoError):
    """The daemon could not be reached, or it answered with an error."""


def request(ctlsocket: str, command: str, args: dict[str, Any] | None = None,
            timeout: float = 30.0, progress: Callable[[str], None] | None = None) -> Any:
    """Send one request and return its ``result``; raise ControlError with a clear sentence.

    ``progress`` receives the lines a long command (``up``) streams before its answer.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            _connect(sock, ctlsocket, timeout)
        except FileNotFoundError:
            raise ControlError(f"pluto is not running: no control socket {ctlsocket} "
                               "(start it with 'ipsec pluto')") from None
        except ConnectionRefusedError:
            raise ControlError(f"pluto is not running: {ctlsocket} refused the connection "
                               "(a stale socket? start it with 'ipsec pluto')") from None
        except PermissionError:
            raise ControlError(f"permission denied: cannot open {ctlsocket} (run as root)") from None
        message = {"version": PROTOCOL_VERSION, "command": command, "args": args or {}}
        try:
            sock.sendall(json.dumps(message).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may have answered (a refusal) and closed before reading: read it
        stream = sock.makefile("rb")
        while True:
            reply = stream.readline()
            if not reply:
                break
            try:
                answer = json.loads(reply)
            except ValueError:
                raise ControlError("pluto sent a malformed answer") from None
            if isinstance(answer, dict) and "progress" in answer and "ok" not in answer:
                if progress is not None:
                    progress(str(answer["progress"]))
                continue
            break
    except TimeoutError:
        raise ControlError(f"pluto did not answer within {timeout:g}s on {ctlsocket}") from None
    except OSError as exc:
        raise ControlError(f"talking to pluto on {ctlsocket}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    if not reply:
        raise ControlError("pluto closed the control connection without an answer")
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise ControlError(str(answer.get("error", "unknown error")))
    return answer.get("result")


def _connect(sock: socket.socket, path: str, timeout: float) -> None:
    """``connect``, retried while the daemon's listen queue is full (a unix socket with a timeout
    says EAGAIN then, where TCP would wait): a flood of other clients delays us, never fails us."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if time.monotonic() + delay > deadline:
                raise TimeoutError from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
