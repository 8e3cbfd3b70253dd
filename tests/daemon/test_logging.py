"""Logging as pluto(8) describes it: file, stderr, timestamps, append, debug classes, masked IPs."""

from __future__ import annotations

import re
import signal
import subprocess

from tests.daemon.conftest import IPSEC, Env

STAMP = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.\d{6}: ")


def _run_and_stop(env: Env, *args: str) -> str:
    proc = env.start_nofork(*args)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    return env.log_text()


def test_logfile_gets_timestamped_lines_and_appends(env: Env) -> None:
    env.logfile.write_text("earlier line\n")
    text = _run_and_stop(env, "--logfile", str(env.logfile))
    lines = text.splitlines()
    assert lines[0] == "earlier line"
    assert any("Starting Pluto" in line for line in lines)
    assert all(STAMP.match(line) for line in lines[1:]), lines
    assert "pluto stopped" in lines[-1]


def test_log_no_append_truncates(env: Env) -> None:
    env.logfile.write_text("earlier line\n")
    text = _run_and_stop(env, "--logfile", str(env.logfile), "--log-no-append")
    assert "earlier line" not in text
    assert "Starting Pluto" in text


def test_log_no_time(env: Env) -> None:
    text = _run_and_stop(env, "--logfile", str(env.logfile), "--log-no-time")
    lines = text.splitlines()
    assert lines[0].startswith("Starting Pluto")
    assert not any(STAMP.match(line) for line in lines)


def test_stderrlog(env: Env) -> None:
    proc = env.start_nofork("--stderrlog")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Starting Pluto" in err and "pluto stopped" in err
    assert not env.logfile.exists()


def test_debug_lines_only_for_enabled_classes(env: Env) -> None:
    def run(*debug: str) -> str:
        env.logfile.unlink(missing_ok=True)
        proc = env.start_nofork("--logfile", str(env.logfile), "--log-no-time", *debug)
        result = env.ipsec("globalstatus", "--rundir", str(env.rundir))
        assert result.returncode == 0, result.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        return env.log_text()

    plain = run()
    assert not any(line.startswith("|") for line in plain.splitlines())
    control = run("--debug", "control")
    debug_lines = [line for line in control.splitlines() if line.startswith("|")]
    assert "| control: globalstatus" in debug_lines
    assert all(line.startswith("| control:") for line in debug_lines), debug_lines
    # Later words win: all, then no control.
    mixed = run("--debug", "all", "--no-debug", "control")
    assert "| control:" not in mixed
    assert "| plugins loaded:" in mixed
    none = run("--debug", "all", "--debug", "none")
    assert "| " not in none


def test_log_no_ip_masks_addresses(env: Env) -> None:
    text = _run_and_stop(env, "--logfile", str(env.logfile), "--listen", "192.0.2.7")
    assert "192.0.2.7" in text
    env.logfile.unlink()
    text = _run_and_stop(env, "--logfile", str(env.logfile), "--listen", "192.0.2.7", "--log-no-ip")
    assert "192.0.2.7" not in text
    assert "IKE listen address restricted to <address>" in text


def test_debug_help_lists_classes() -> None:
    result = subprocess.run(IPSEC + ["pluto", "--debug", "help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for name in ("base", "cpu-usage", "crypt", "control", "kernel"):
        assert f"  {name} " in result.stdout
