"""Faults the daemon must live through (docs/reliability.md, "Faults in the kernel, plugins and
disk"): a plugin hook that raises, a log file on a full disk, a control client that hangs up in
the middle of a reply. Each time the daemon logs what happened, by name, and keeps serving."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.daemon.conftest import Env

RAISE = "PLUTO_TESTPLUGIN_RAISE"
RAISER = "pluto.plugins:testplugin-raising"


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def ask(ctl: Path, command: str, **args: object) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(str(ctl))
        sock.sendall(json.dumps({"version": 1, "command": command, **args}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.splitlines()[-1])


# ---------------------------------------------------------------- plugin hooks that raise


def test_startup_hook_failure_names_the_plugin(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (defect: a plugin raising in pluto_startup stopped start-up with "a plugin
    failed at start-up" and no name, though the hook's spec promises it): exit 1, named."""
    monkeypatch.setenv(RAISE, "pluto_startup")
    result = env.run("--nofork", "--logfile", str(env.logfile))
    assert result.returncode == 1
    assert f"plugin {RAISER}: Boom: testplugin-raising raises in pluto_startup on purpose" in result.stderr
    assert not env.pidfile.exists() and not env.ctl.exists()


def test_shutdown_hook_failure_is_logged_and_the_others_run(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (defect: one plugin raising in pluto_shutdown kept the later ones from
    running, and was not named)."""
    monkeypatch.setenv(RAISE, "pluto_shutdown")
    proc = env.start_nofork("--logfile", str(env.logfile))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    text = env.log_text()
    assert f"plugin {RAISER} failed in pluto_shutdown: Boom: " in text
    assert text.rstrip().endswith("pluto stopped")


def test_log_sink_that_raises_is_reported_once_and_logging_goes_on(env: Env,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (defect: a log sink raising in pluto_log_record propagated into whatever was
    logging, so any log line could abort the work that logged it)."""
    monkeypatch.setenv(RAISE, "pluto_log_record")
    proc = env.start_nofork("--logfile", str(env.logfile))
    assert ask(env.ctl, "hello")["ok"]
    env.config.write_text("config setup\n\nconn v1\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=secret\n")
    added = env.ipsec("add", "v1", "--config", str(env.config), "--rundir", str(env.rundir))
    assert added.returncode == 0, added.stderr
    text = env.wait_log('"v1": added IKEv2 connection')
    assert text.count(f"log sink {RAISER} failed: Boom: testplugin-raising raises in pluto_log_record") == 1
    assert "Starting Pluto" in text  # the file sink still has every line
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


# ---------------------------------------------------------------- the log file on a full disk


def test_logfile_on_a_full_disk(env: Env) -> None:
    """``--logfile /dev/full``: the daemon starts, serves and stops; one warning on standard
    error, then the log lines there; no busy loop."""
    proc = env.start_nofork("--logfile", "/dev/full")
    for _ in range(20):
        assert ask(env.ctl, "status")["ok"]
    ticks = cpu_ticks(proc.pid)
    time.sleep(2.0)
    assert cpu_ticks(proc.pid) - ticks < 20, "the daemon is busy while idle"  # 20 ticks: 0.2 s of 2 s
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    warning = "pluto: cannot write log file /dev/full (ENOSPC: No space left on device); log lines go to " \
              "standard error until it can be written again (tried every 60 s)"
    assert err.count(warning) == 1, err
    assert "Starting Pluto" in err and "pluto stopped" in err


def test_file_sink_tries_again_and_says_when_it_can_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from pluto_core.logger import LogRecord, LogSettings
    from pluto_plugins.logsinks.file import RETRY_SECONDS, FileSink

    now = [1000.0]
    sink = FileSink()
    sink.clock = lambda: now[0]
    sink.pluto_log_configure(settings=LogSettings(logfile="/dev/full", time=False))
    sink.pluto_log_record(record=LogRecord("one", 0.0))
    sink.pluto_log_record(record=LogRecord("two", 0.0))
    err = capsys.readouterr().err
    assert err.count("cannot write log file /dev/full") == 1 and "one\ntwo\n" in err
    good = tmp_path / "pluto.log"
    sink.path = str(good)  # the disk has room again (same sink, a file that can be written)
    sink.pluto_log_record(record=LogRecord("three", 0.0))
    assert not good.exists()  # not retried before RETRY_SECONDS
    now[0] += RETRY_SECONDS
    sink.pluto_log_record(record=LogRecord("four", 0.0))
    assert good.read_text().endswith("lines in between went to standard error\nfour\n")
    assert "writable again" in capsys.readouterr().err
    sink.pluto_log_close()


# ---------------------------------------------------------------- control clients that hang up


def test_control_client_hanging_up_mid_reply(env: Env) -> None:
    """Clients that ask for a large status and hang up after a few octets (the daemon's write
    then fails): the daemon goes on, answers others, and keeps no descriptor of theirs."""
    conns = "".join(f"conn c{n}\n\tleft=127.0.0.1\n\tright=127.0.{n // 250}.{n % 250 + 2}\n\tauthby=secret\n"
                    "\tauto=add\n\n" for n in range(300))
    env.config.write_text("config setup\n\n" + conns)
    proc = env.start_nofork("--logfile", str(env.logfile))
    assert len(ask(env.ctl, "status")["result"]["conns"]) == 300
    fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
    request = json.dumps({"version": 1, "command": "status"}).encode() + b"\n"
    for _ in range(30):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect(str(env.ctl))
            sock.sendall(request)
            assert sock.recv(64)  # the reply has begun
        # closed with the rest unread
    deadline = time.monotonic() + 10
    while len(os.listdir(f"/proc/{proc.pid}/fd")) > fds and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(os.listdir(f"/proc/{proc.pid}/fd")) <= fds
    assert len(ask(env.ctl, "status")["result"]["conns"]) == 300
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert "Traceback" not in env.log_text()


def test_control_client_hanging_up_during_up(env: Env) -> None:
    """`ipsec up` streams the conn's lines while it waits; its client hangs up after the first:
    the negotiation runs its course, the daemon answers others meanwhile and afterwards."""
    env.config.write_text("config setup\n\nconn v1\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=secret\n"
                          "\tretransmit-timeout=3s\n\tauto=add\n")
    proc = env.start_nofork("--logfile", str(env.logfile))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(env.ctl))
        sock.sendall(json.dumps({"version": 1, "command": "up", "args": {"name": "v1"}}).encode() + b"\n")
        assert b"progress" in sock.recv(256)
    assert ask(env.ctl, "status")["ok"]
    env.wait_log('"v1" #1: ', timeout=10)
    time.sleep(4)  # past retransmit-timeout: the command ends and writes to a closed client
    assert ask(env.ctl, "status")["ok"] and proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    text = env.log_text()
    assert '"v1" #1: 3 second timeout exceeded' in text  # the negotiation ran its course
    assert "Traceback" not in text and "control command" not in text


def test_impair_is_selectable_and_announced(env: Env) -> None:
    """``--impair`` (test only) starts a daemon whose backend is wrapped, with one warning each;
    a malformed one is a usage error."""
    bad = env.run("--nofork", "--impair", "kernel-fail:add_sa:ENOMEM:0")
    assert bad.returncode == 1 and "option --impair: 'kernel-fail:add_sa:ENOMEM:0': '0' is not N or N+" in bad.stderr
    proc = env.start_nofork("--logfile", str(env.logfile), "--impair", "kernel-fail:add_sa:ENOMEM:2",
                            "--impair", "kernel-sas-in-memory")
    text = env.log_text()
    assert "warning: --impair kernel-fail:add_sa:ENOMEM:2: TEST ONLY, kernel faults injected" in text
    assert "warning: --impair kernel-sas-in-memory: TEST ONLY, kernel faults injected" in text
    assert "Using Linux XFRM/netlink IPsec kernel interface" in text  # the wrapped backend, opened as always
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
