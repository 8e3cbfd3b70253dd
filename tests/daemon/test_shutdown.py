"""Shutdown with crypto helpers (issue #14): SIGTERM to the whole process group, as
``systemctl stop`` (KillMode=control-group) and ``timeout(1)`` send it, and helpers
that die on their own while the daemon runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.daemon.conftest import IPSEC, Env, child_pids, pid_alive, wait_gone


@pytest.fixture
def group_procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started in their own session; whatever is left of their group is killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def _start_in_group(env: Env, procs: list[subprocess.Popen[str]], nhelpers: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(IPSEC + ["pluto", *env.base_args(), "--nofork", "--nhelpers", str(nhelpers),
                                     "--logfile", str(env.logfile)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    procs.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "Pluto initialized\n", (line, env.log_text())
    return proc


def _assert_stopped_cleanly(env: Env, helpers: list[int]) -> None:
    text = env.log_text()
    assert "shutting down on SIGTERM" in text
    assert "pluto stopped" in text, text
    assert not env.pidfile.exists() and not env.ctl.exists()
    for pid in helpers:
        assert wait_gone(pid, 2), f"helper {pid} outlived the daemon"


@pytest.mark.parametrize("nhelpers", [1, 2])
def test_sigterm_to_the_process_group_stops_promptly(env: Env, group_procs: list[subprocess.Popen[str]],
                                                     nhelpers: int) -> None:
    proc = _start_in_group(env, group_procs, nhelpers)
    helpers = child_pids(proc.pid)
    assert len(helpers) == nhelpers
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(8) == 0
    assert time.monotonic() - started < 5
    _assert_stopped_cleanly(env, helpers)


def test_timeout_command_stops_the_daemon(env: Env, group_procs: list[subprocess.Popen[str]]) -> None:
    """The issue's reproduction: ``timeout 3 ipsec pluto --nofork --nhelpers 1``."""
    proc = subprocess.Popen(["timeout", "3", *IPSEC, "pluto", *env.base_args(), "--nofork", "--nhelpers", "1",
                             "--logfile", str(env.logfile)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    group_procs.append(proc)
    started = time.monotonic()
    try:
        status = proc.wait(12)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pluto did not stop on timeout's SIGTERM; log:\n{env.log_text()}")
    assert status == 124  # timeout(1): the command ran out of time and then exited
    assert time.monotonic() - started < 8
    assert "starting 1 helper process" in env.log_text()
    _assert_stopped_cleanly(env, [])


def test_helper_killed_alone_is_noticed_and_the_daemon_goes_on(
        env: Env, group_procs: list[subprocess.Popen[str]]) -> None:
    proc = _start_in_group(env, group_procs, 2)
    first, second = child_pids(proc.pid)
    os.kill(first, signal.SIGKILL)
    env.wait_log(f"crypto helper process {first} was killed by SIGKILL; 1 helper process left")
    status = json.loads(env.ipsec("globalstatus", "--ctlsocket", str(env.ctl), "--json").stdout)
    assert status["helpers"] == 1
    os.kill(second, signal.SIGKILL)
    env.wait_log(f"crypto helper process {second} was killed by SIGKILL; "
                 "no helper process left: crypto jobs now run in the main process")
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(8) == 0
    _assert_stopped_cleanly(env, [first, second])


def test_sigterm_to_a_helper_alone_is_ignored(env: Env, group_procs: list[subprocess.Popen[str]]) -> None:
    proc = _start_in_group(env, group_procs, 1)
    (helper,) = child_pids(proc.pid)
    os.kill(helper, signal.SIGTERM)
    os.kill(helper, signal.SIGINT)
    time.sleep(0.5)
    assert pid_alive(helper) and child_pids(proc.pid) == [helper]
    assert "crypto helper process" not in env.log_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(8) == 0
    _assert_stopped_cleanly(env, [helper])
