"""Regression tests for the control-socket defects the hostile-client campaign found (issue #19).

Each test is named after what was wrong; the server runs in this process on a temporary socket.
The daemon-tier proof (a real daemon, fds, 1,000 clients) is tests/daemon/test_hostile_control.py.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pluto_core.control import server as server_mod
from pluto_core.control.client import _connect, request
from pluto_core.control.server import ControlServer


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    def error(self, text: str) -> None:
        self.lines.append(f"ERROR {text}")

    def debug(self, text: str, debug_class: str = "base") -> None:
        pass


async def _start(tmp_path: Path, **handlers: Any) -> tuple[ControlServer, Log]:
    log = Log()
    srv = ControlServer(str(tmp_path / "pluto.ctl"), log)

    async def status(args: dict[str, Any], progress: Any) -> dict[str, Any]:
        return {"conns": []}

    srv.command("status", status)
    for name, handler in handlers.items():
        srv.command(name, handler)
    await srv.start(srv.bind())
    return srv, log


async def _exchange(path: str, data: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(data)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return line


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_deep_json_nesting_killed_the_client_task_with_a_traceback(tmp_path: Path) -> None:
    """Was: RecursionError escaped _dispatch, the client got no answer and asyncio printed
    'Task exception was never retrieved' with a traceback on stderr."""
    async def main() -> None:
        srv, log = await _start(tmp_path)
        try:
            line = await _exchange(srv.path, b"[" * 60000 + b"\n")
            assert json.loads(line) == {"ok": False, "error": "malformed request: JSON nested too deeply"}
            assert any("JSON nested too deeply" in x for x in log.lines)
        finally:
            await srv.close()
    _run(main())


def test_list_argument_was_an_internal_error(tmp_path: Path) -> None:
    """Was: {"args": {"name": ["x"]}} reached the handler: 'internal error in redirect:
    unhashable type: list', logged as a failure of pluto's own."""
    async def handler(args: dict[str, Any], progress: Any) -> None:
        raise AssertionError("the handler must not see a list")

    async def main() -> None:
        srv, log = await _start(tmp_path, redirect=handler)
        try:
            line = await _exchange(srv.path, b'{"command": "redirect", "args": {"name": ["x"]}}\n')
            assert json.loads(line)["error"] == \
                'malformed request: "args".name is a list, not a string, number or boolean'
            assert not any(x.startswith("ERROR") for x in log.lines)
        finally:
            await srv.close()
    _run(main())


def test_malformed_request_was_not_logged_and_a_newline_in_it_could_forge_a_line(tmp_path: Path) -> None:
    async def main() -> None:
        srv, log = await _start(tmp_path)
        try:
            await _exchange(srv.path, b'{"command": "x\\nDec  3 00:00:00.000000: forged"}\n')
            await _exchange(srv.path, b"{not json\n")
            assert len(log.lines) == 2, log.lines
            assert all("\n" not in x for x in log.lines)
            assert log.lines[0].startswith("control: client pid ")
            assert log.lines[0].endswith("unknown command 'x\\nDec  3 00:00:00.000000: forged'")
            assert log.lines[1].endswith(": malformed request: not a JSON object")
        finally:
            await srv.close()
    _run(main())


def test_complaints_past_the_burst_are_counted_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_mod, "LOG_WINDOW", 0.5)

    async def main() -> None:
        srv, log = await _start(tmp_path)
        try:
            for _ in range(server_mod.LOG_BURST + 30):
                await _exchange(srv.path, b"{not json\n")
            await asyncio.sleep(0.7)
            assert sum("not a JSON object" in x for x in log.lines) == server_mod.LOG_BURST
            assert "control: 30 more complaints about control clients in the last 0.5s not logged" in log.lines
        finally:
            await srv.close()
    _run(main())


def test_no_cap_on_control_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: every connection was kept until its own timeout, however many. Now past MAX_CLIENTS
    the longest-idle one is dropped for the newcomer; with none idle the newcomer is refused."""
    monkeypatch.setattr(server_mod, "MAX_CLIENTS", 2)
    release = asyncio.Event()

    async def slow(args: dict[str, Any], progress: Any) -> str:
        await release.wait()
        return "done"

    async def main() -> None:
        srv, log = await _start(tmp_path, slow=slow)
        try:
            r1, w1 = await asyncio.open_unix_connection(srv.path)  # idle: will be dropped
            await asyncio.sleep(0.05)
            r2, w2 = await asyncio.open_unix_connection(srv.path)
            w2.write(b'{"command": "slow"}\n')
            await asyncio.sleep(0.05)
            r3, w3 = await asyncio.open_unix_connection(srv.path)  # the third: r1 makes room
            w3.write(b'{"command": "slow"}\n')
            dropped = json.loads(await asyncio.wait_for(r1.readline(), 5))
            assert dropped["error"] == "closed: too many control connections, and this one sent no request"
            assert any("dropped after" in x and "(the limit is 2)" in x for x in log.lines), log.lines
            await asyncio.sleep(0.05)
            refused = await _exchange(srv.path, b'{"command": "status"}\n')  # both others are busy
            assert json.loads(refused)["error"] == "too many control connections (2 busy); try again"
            assert any("refused: 2 control connections are all running commands" in x for x in log.lines)
            release.set()
            assert json.loads(await r2.readline())["result"] == "done"
            assert json.loads(await r3.readline())["result"] == "done"
            for w in (w1, w2, w3):
                w.close()
            await asyncio.sleep(0.05)
            assert json.loads(await _exchange(srv.path, b'{"command": "status"}\n'))["ok"] is True
            for _ in range(50):
                if not srv.conns:
                    break
                await asyncio.sleep(0.02)
            assert len(srv.conns) == 0
        finally:
            await srv.close()
    _run(main())


def test_client_that_never_reads_held_its_connection_forever(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: drain() without a timeout: a client that stopped reading kept its handler waiting."""
    monkeypatch.setattr(server_mod, "WRITE_TIMEOUT", 0.5)

    async def big(args: dict[str, Any], progress: Any) -> str:
        return "x" * (8 * 1024 * 1024)  # more than any socket buffer

    async def main() -> None:
        srv, log = await _start(tmp_path, big=big)
        try:
            _r, w = await asyncio.open_unix_connection(srv.path)
            w.write(b'{"command": "big"}\n')
            for _ in range(60):
                await asyncio.sleep(0.1)
                if any("did not read its answer within 0.5s; closed" in x for x in log.lines):
                    break
            assert any("did not read its answer within 0.5s; closed" in x for x in log.lines), log.lines
            assert len(srv.conns) == 0
            w.close()
        finally:
            await srv.close()
    _run(main())


def test_full_listen_queue_failed_the_ipsec_verb_with_eagain(tmp_path: Path) -> None:
    """Was: a unix socket with a timeout answers connect() with EAGAIN when the listen queue is
    full, and `ipsec status` failed with 'Resource temporarily unavailable' during a flood."""
    path = str(tmp_path / "queue.ctl")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    fillers = []
    for _ in range(8):  # fill the queue: nothing is accepted yet
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            break
        fillers.append(s)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    with pytest.raises(BlockingIOError):
        probe.connect(path)  # what the client used to do
    probe.close()

    def accept_later() -> None:
        time.sleep(0.3)
        while True:
            conn, _ = listener.accept()
            data = conn.makefile("rb").readline()
            if data:
                conn.sendall(b'{"ok": true, "result": "served"}\n')
                conn.close()
                return
            conn.close()

    thread = threading.Thread(target=accept_later, daemon=True)
    thread.start()
    for s in fillers:
        s.close()  # accepted later, read as empty
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    _connect(sock, path, 5)  # waits instead of failing
    sock.close()
    assert request(path, "status", timeout=5) == "served"
    thread.join(5)
    listener.close()
