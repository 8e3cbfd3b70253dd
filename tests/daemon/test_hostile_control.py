"""Hostile control clients (issue #19, "Hostile input"): the daemon keeps serving.

Each test starts a real daemon, abuses ``pluto.ctl`` one way, and checks what an operator
would notice: another client's ``status`` answers within ``STATUS_BOUND`` seconds meanwhile,
the bad client is named in one log line that says what was wrong, the daemon's file
descriptors are back to their count before the abuse once the clients are gone, and no
traceback reaches the log or stderr. docs/reliability.md ("Hostile control clients and
files") has the figures of the last run; ``-s`` prints them.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluto_core.control import MAX_REQUEST_BYTES
from pluto_core.control.client import _connect
from pluto_core.control.server import MAX_CLIENTS, READ_TIMEOUT, WRITE_TIMEOUT
from tests.daemon.conftest import Env

STATUS_BOUND = 2.0  # seconds: what a status request may take while the abuse goes on


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid: int) -> int:
    """The fd count once a just-closed client's fd is gone on the daemon's side too."""
    last = fd_count(pid)
    for _ in range(20):
        time.sleep(0.1)
        now = fd_count(pid)
        if now == last:
            return now
        last = now
    return last


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def ask(ctl: str, command: str = "status", timeout: float = 10) -> tuple[dict, float]:
    """One request on a fresh connection: (the answer, seconds it took)."""
    start = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        _connect(sock, ctl, timeout)  # as the `ipsec` verbs: waits while the listen queue is full
        sock.sendall(json.dumps({"version": 1, "command": command}).encode() + b"\n")
        answer = json.loads(sock.makefile("rb").readline())
    return answer, time.monotonic() - start


def send_raw(ctl: str, data: bytes, timeout: float = 20) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(ctl)
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # cut off before all was sent (the oversized line): the answer is waiting
        return json.loads(sock.makefile("rb").readline())


def wait_fds(pid: int, baseline: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = fd_count(pid)
        if count <= baseline:
            return count
        time.sleep(0.05)
    return fd_count(pid)


class Poller:
    """Asks ``status`` every 0.2 s on a thread; ``worst`` is the slowest answer seen."""

    def __init__(self, ctl: str) -> None:
        self.ctl = ctl
        self.worst = 0.0
        self.count = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer, took = ask(self.ctl, timeout=STATUS_BOUND * 5)
                if not answer.get("ok"):
                    self.failures.append(str(answer))
                self.worst = max(self.worst, took)
                self.count += 1
            except (OSError, ValueError) as exc:
                self.failures.append(f"{exc.__class__.__name__}: {exc}")
            self._stop.wait(0.2)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(STATUS_BOUND * 10)
        assert not self.failures, self.failures
        assert self.count > 0
        assert self.worst < STATUS_BOUND, f"status took {self.worst:.2f}s"


@pytest.fixture
def daemon(env: Env) -> Iterator[tuple[Env, subprocess.Popen[str]]]:
    proc = env.start_nofork("--logfile", str(env.logfile))
    ask(str(env.ctl))  # the first answer builds what later ones reuse: the baseline comes after it
    yield env, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
    assert "Traceback" not in env.log_text(), env.log_text()


def test_huge_line_without_newline_is_cut_at_the_limit(daemon: tuple[Env, subprocess.Popen[str]]) -> None:
    env, proc = daemon
    base = settled_fds(proc.pid)
    with Poller(str(env.ctl)) as poller:
        answer = send_raw(str(env.ctl), b"x" * (10 * 1024 * 1024))  # 10 MB, no newline
    assert answer == {"ok": False, "error": f"request longer than {MAX_REQUEST_BYTES} bytes"}
    env.wait_log(f"request line longer than {MAX_REQUEST_BYTES} bytes; closed")
    assert wait_fds(proc.pid, base) <= base
    print(f"\n10 MB line: status worst {poller.worst:.3f}s over {poller.count} asks; fds {base} -> "
          f"{fd_count(proc.pid)}; RSS {rss_kib(proc.pid)} KiB")


@pytest.mark.parametrize(("data", "error"), [
    (b"{not json\n", "malformed request: not a JSON object"),
    (b"\xff\xfe\x00garbage\n", "malformed request: not a JSON object"),
    (b"[1, 2]\n", "malformed request: a JSON list, not an object"),
    (b'"status"\n', "malformed request: a JSON str, not an object"),
    (b'{"command": 5}\n', 'malformed request: no "command"'),
    (b'{"command": "status", "args": [1]}\n', 'malformed request: "args" is not an object'),
    (b'{"command": "trafficstatus", "args": {"name": ["x"]}}\n',
     'malformed request: "args".name is a list, not a string, number or boolean'),
    (b'{"command": "redirect", "args": {"name": {"a": 1}}}\n',
     'malformed request: "args".name is a dict, not a string, number or boolean'),
    (b"[" * 60000 + b"\n", "malformed request: JSON nested too deeply"),
    (b'{"version": [1], "command": "status"}\n', "unsupported protocol version [1]; this daemon speaks 1"),
    (b'{"command": "x\\nMar  1 00:00:00.000000: forged"}\n',
     "unknown command 'x\\nMar  1 00:00:00.000000: forged'"),
], ids=["invalid-json", "binary", "list", "string", "command-not-string", "args-list", "arg-list",
        "arg-object", "nested", "version-list", "newline-in-command"])
def test_wrong_json_is_answered_and_logged(daemon: tuple[Env, subprocess.Popen[str]], data: bytes,
                                           error: str) -> None:
    env, proc = daemon
    base = settled_fds(proc.pid)
    assert send_raw(str(env.ctl), data) == {"ok": False, "error": error}
    log = env.wait_log(f"uid 0: {error}")
    assert "forged" not in log.replace(f"uid 0: {error}", "")  # no line of the client's making
    answer, took = ask(str(env.ctl))
    assert answer["ok"] is True and took < STATUS_BOUND
    assert wait_fds(proc.pid, base) <= base


def test_slow_and_silent_clients_are_cut_after_the_read_timeout(
        daemon: tuple[Env, subprocess.Popen[str]]) -> None:
    env, proc = daemon
    base = settled_fds(proc.pid)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(str(env.ctl))
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.connect(str(env.ctl))
    request = json.dumps({"version": 1, "command": "status"}).encode() + b"\n"
    cut_at: list[float] = []

    def dribble() -> None:  # one byte a second: the whole line would take ~40 s
        start = time.monotonic()
        try:
            for byte in request:
                slow.send(bytes([byte]))
                time.sleep(1)
        except OSError:
            pass
        cut_at.append(time.monotonic() - start)

    thread = threading.Thread(target=dribble, daemon=True)
    start = time.monotonic()
    with Poller(str(env.ctl)) as poller:
        thread.start()
        silent.settimeout(READ_TIMEOUT + 10)
        assert json.loads(silent.makefile("rb").readline()) == {"ok": False, "error": "timeout: no request received"}
        silent_cut = time.monotonic() - start
        thread.join(READ_TIMEOUT + 10)
    assert READ_TIMEOUT - 1 < silent_cut < READ_TIMEOUT + 3
    assert cut_at and cut_at[0] < READ_TIMEOUT + 5  # cut long before its line was complete
    log = env.log_text()
    assert log.count(f"no complete request line within {READ_TIMEOUT:g}s; closed") == 2, log
    silent.close()
    slow.close()
    assert wait_fds(proc.pid, base) <= base
    print(f"\nslow+silent: cut after {silent_cut:.1f}s; status worst {poller.worst:.3f}s")


def test_thousand_concurrent_connections(daemon: tuple[Env, subprocess.Popen[str]]) -> None:
    """1,000 silent connections at once: past MAX_CLIENTS the oldest idle ones are dropped, so
    `ipsec status` (the real verb) still answers; fds come back to the baseline."""
    env, proc = daemon
    base, rss_before = settled_fds(proc.pid), rss_kib(proc.pid)
    socks = []
    start = time.monotonic()
    for _ in range(1000):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(env.ctl))  # blocking: waits in the listen queue while the daemon accepts
        socks.append(sock)
    connected = time.monotonic() - start
    answer, took = ask(str(env.ctl))
    assert answer["ok"] is True and took < STATUS_BOUND
    verb_start = time.monotonic()
    result = env.ipsec("status", "--ctlsocket", str(env.ctl), timeout=30)
    verb = time.monotonic() - verb_start
    assert result.returncode == 0, result.stderr
    peak = fd_count(proc.pid)
    assert peak <= base + MAX_CLIENTS + 1  # bounded by the cap, not by the clients
    rss_peak = rss_kib(proc.pid)
    dropped = 0
    for sock in socks:  # the dropped ones got a sentence saying why
        sock.setblocking(False)
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            continue
        if data:
            assert json.loads(data.splitlines()[0])["error"].startswith("closed: too many control connections")
            dropped += 1
    assert dropped >= 1000 - MAX_CLIENTS - 2
    env.wait_log(f"control connections open (the limit is {MAX_CLIENTS})")
    for sock in socks:
        sock.close()
    after = wait_fds(proc.pid, base)
    assert after <= base
    log = env.wait_log("more complaints about control clients", timeout=15)  # the rest counted, not written
    assert log.count("dropped after") <= 20
    print(f"\n1,000 connections: connected in {connected:.2f}s; status {took:.3f}s, `ipsec status` "
          f"{verb:.2f}s; fds {base} -> {peak} -> {after}; RSS {rss_before} -> {rss_peak} KiB; "
          f"{dropped} dropped")


def test_client_that_disconnects_mid_reply(daemon: tuple[Env, subprocess.Popen[str]]) -> None:
    env, proc = daemon
    base = settled_fds(proc.pid)
    for _ in range(50):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(env.ctl))
        sock.sendall(b'{"version": 1, "command": "status"}\n' * 20)  # pipelined, then gone unread
        sock.close()
    answer, took = ask(str(env.ctl))
    assert answer["ok"] is True and took < STATUS_BOUND
    env.wait_log("went away before its answer to 'status' was sent")
    assert wait_fds(proc.pid, base) <= base
    assert proc.poll() is None


def test_client_that_never_reads_its_answers_is_cut_after_the_write_timeout(
        daemon: tuple[Env, subprocess.Popen[str]]) -> None:
    env, proc = daemon
    base = settled_fds(proc.pid)
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hog.connect(str(env.ctl))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(2)  # a send that blocks this long: the daemon has stopped reading
    request = json.dumps({"version": 1, "command": "globalstatus"}).encode() + b"\n"
    start = time.monotonic()
    with Poller(str(env.ctl)) as poller:
        try:  # requests until the daemon stops reading them (its answers fill the socket)
            while time.monotonic() - start < WRITE_TIMEOUT + 10:
                hog.sendall(request * 64)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        env.wait_log(f"did not read its answer within {WRITE_TIMEOUT:g}s; closed", timeout=WRITE_TIMEOUT + 10)
    hog.close()
    assert wait_fds(proc.pid, base) <= base
    print(f"\nnon-reader: cut after {time.monotonic() - start:.1f}s; status worst {poller.worst:.3f}s")


def _connect_as_nobody(ctl: str) -> str:
    """Connect (and ask ``status``) from a forked child running as nobody: what it got."""
    nobody = pwd.getpwnam("nobody")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            try:
                outcome = json.dumps(send_raw(ctl, b'{"version": 1, "command": "status"}\n', timeout=10))
            except OSError as exc:
                outcome = f"{exc.__class__.__name__}"
            os.write(write_fd, outcome.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    return outcome


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as nobody")
def test_non_root_client_is_stopped_by_the_mode_and_refused_by_the_daemon() -> None:
    """Libreswan makes pluto.ctl 0700 (umask) and checks no credentials; ours is 0600 and the
    daemon also checks SO_PEERCRED, so a socket made world-writable by mistake still obeys root only."""
    root = Path(tempfile.mkdtemp(prefix="pluto-abuse-"))
    root.chmod(0o755)  # nobody may reach the rundir: only the socket's own mode stands in the way
    env = Env(root)
    env.config.write_text("config setup\n")
    proc = env.start_nofork("--logfile", str(env.logfile))
    try:
        info = os.stat(env.ctl)
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
        assert _connect_as_nobody(str(env.ctl)) == "PermissionError"
        os.chmod(env.ctl, 0o666)  # an operator's mistake
        answer = json.loads(_connect_as_nobody(str(env.ctl)))
        assert answer == {"ok": False, "error": "permission denied: only root or the daemon's user may control pluto"}
        uid = pwd.getpwnam("nobody").pw_uid
        env.wait_log(f"uid {uid}: refused: only root and the daemon's user may control pluto")
        assert ask(str(env.ctl))[0]["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
        assert "Traceback" not in err and "Traceback" not in env.log_text()
        subprocess.run(["rm", "-rf", str(root)], check=False)
