"""pluto(8) start-up, lock file, fork, signals and exit codes, on the real process."""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

from tests.daemon.conftest import Env, child_pids, pid_alive, wait_gone

# Every option of the man page's synopsis (and the debug forms).
MAN_PAGE_OPTIONS = [
    "--help", "--version", "--nofork", "--rundir", "--leak-detective", "--efence-protect", "--stderrlog",
    "--logfile", "--log-no-time", "--log-no-append", "--log-no-ip", "--log-no-audit", "--config",
    "--secretsfile", "--ipsecdir", "--nssdir", "--coredir", "--vendorid", "--uniqueids",
    "--virtual-private", "--keep-alive", "--force-busy", "--crl-strict", "--crlcheckinterval", "--listen",
    "--nhelpers", "--seedbits", "--statsbin", "--secctx-attr-type", "--use-xfrm", "--use-bsdkame",
    "--debug", "--no-debug",
]


def test_help_lists_every_option(env: Env) -> None:
    result = env.ipsec("pluto", "--help")
    assert result.returncode == 0
    for option in MAN_PAGE_OPTIONS:
        assert f"  {option}" in result.stdout, option
    # Options without meaning yet say so instead of being silently ignored.
    assert "no effect" in result.stdout  # --efence-protect
    assert "[accepted, not acted on: recorded; IKEv1 and labeled IPsec are not implemented]" in result.stdout
    assert "Libreswan uses it only for vhost:/vnet: subnets, which it allows in IKEv1 conns alone" in result.stdout


def test_version(env: Env) -> None:
    result = env.ipsec("pluto", "--version")
    assert result.returncode == 0
    assert "pluto" in result.stdout and any(ch.isdigit() for ch in result.stdout)


@pytest.mark.parametrize("args, needle", [
    (["--bogus"], "unrecognized option '--bogus'"),
    (["--nhelpers", "many"], "--nhelpers"),
    (["--nhelpers", "-2"], "--nhelpers"),
    (["--listen", "not-an-ip"], "--listen"),
    (["--keep-alive", "soon"], "--keep-alive"),
    (["--virtual-private", "%v4:10.0.0.0"], "--virtual-private"),  # no /: not a subnet
    (["--debug", "no-such-class"], "no-such-class"),
    (["stray"], "stray"),
])
def test_bad_command_line_exits_1_with_one_line(env: Env, args: list[str], needle: str) -> None:
    result = env.run(*args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not env.pidfile.exists()


def test_existing_lock_file_exits_10_and_is_untouched(env: Env) -> None:
    env.rundir.mkdir()
    env.pidfile.write_text("4242\n")
    os.utime(env.pidfile, (1_000_000, 1_000_000))
    result = env.run("--nofork")
    assert result.returncode == 10
    assert str(env.pidfile) in result.stderr
    assert env.pidfile.read_text() == "4242\n"
    assert env.pidfile.stat().st_mtime == 1_000_000
    assert not env.ctl.exists()


def test_nofork_prints_initialized_after_pid_and_ctl_exist(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile))
    # The line was printed only once both existed: they must be there now.
    assert env.pidfile.exists() and env.ctl.exists()
    assert env.daemon_pid() == proc.pid
    mode = env.ctl.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_fork_returns_0_and_daemon_runs_with_pid_in_file(env: Env) -> None:
    result = env.run("--logfile", str(env.logfile))
    assert result.returncode == 0, result.stderr
    pid = env.daemon_pid()
    assert pid_alive(pid)
    assert Path(f"/proc/{pid}").exists()
    assert env.ctl.exists()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(env.ctl))  # it answers
    os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid)
    assert not env.pidfile.exists() and not env.ctl.exists()


def test_sigterm_removes_pid_and_ctl_and_exits_0(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not env.pidfile.exists()
    assert not env.ctl.exists()
    text = env.log_text()
    assert "shutting down on SIGTERM" in text
    assert "kernel SA and policy entries this daemon installed" in text


def test_sighup_keeps_running_and_logs_hint(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile))
    proc.send_signal(signal.SIGHUP)
    env.wait_log('perhaps you want "ipsec listen"')
    time.sleep(0.2)
    assert proc.poll() is None
    assert env.pidfile.exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_fork_mode_startup_failure_exits_1_and_removes_lock(env: Env) -> None:
    # The kernel backend is opened in the child: its failure must reach the parent's exit status.
    if _pfkey_available():
        pytest.skip("this kernel has PF_KEY")
    result = env.run("--use-bsdkame", "--logfile", str(env.logfile))
    assert result.returncode == 1
    assert "PF_KEY" in result.stderr
    assert not env.pidfile.exists() and not env.ctl.exists()


def test_nhelpers_sizes_the_worker_pool(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile), "--nhelpers", "2")
    assert sorted(child_pids(proc.pid)) and len(child_pids(proc.pid)) == 2
    assert "starting 2 helper processes" in env.log_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_nhelpers_zero_runs_inline(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile), "--nhelpers", "0")
    assert child_pids(proc.pid) == []
    assert "crypto jobs run in the main process" in env.log_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_nhelpers_default_is_cpus_minus_one(env: Env) -> None:
    args = [a for a in env.base_args()]
    i = args.index("--nhelpers")
    del args[i:i + 2]
    import subprocess

    from tests.daemon.conftest import IPSEC

    proc = subprocess.Popen(IPSEC + ["pluto", *args, "--nofork", "--logfile", str(env.logfile)],
                            stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    env.procs.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == "Pluto initialized\n"
    expected = max(len(os.sched_getaffinity(0)) - 1, 0)
    assert len(child_pids(proc.pid)) == expected
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0




def _pfkey_available() -> bool:
    try:
        socket.socket(15, socket.SOCK_RAW, 2).close()
    except OSError:
        return False
    return True
