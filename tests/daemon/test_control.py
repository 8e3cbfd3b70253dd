"""The control socket answers, survives bad clients, and the ipsec verbs report errors clearly."""

from __future__ import annotations

import json
import signal
import socket

from tests.daemon.conftest import Env


def _talk(path: str, data: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(path)
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered and hung up before reading it all (oversized request)
        return json.loads(sock.makefile("rb").readline())


def test_bad_clients_get_errors_and_daemon_keeps_serving(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile))
    ctl = str(env.ctl)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(ctl)  # connects and never writes: must not block the others
    try:
        assert _talk(ctl, b"{not json\n") == {"ok": False, "error": "malformed request: not a JSON object"}
        assert "unknown command" in _talk(ctl, b'{"command": "frobnicate"}\n')["error"]
        assert "version" in _talk(ctl, b'{"version": 99, "command": "hello"}\n')["error"]
        big = _talk(ctl, b'{"command": "hello", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}\n')
        assert big["ok"] is False and "longer than" in big["error"]
        hello = _talk(ctl, b'{"version": 1, "command": "hello"}\n')
        assert hello["ok"] is True and hello["result"]["pid"] == proc.pid
    finally:
        silent.close()
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_ipsec_stop_shuts_down_cleanly(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile))
    result = env.ipsec("stop", "--rundir", str(env.rundir))
    assert result.returncode == 0, result.stderr
    assert proc.wait(10) == 0
    assert not env.pidfile.exists() and not env.ctl.exists()


def test_globalstatus_json_reports_options(env: Env) -> None:
    proc = env.start_nofork("--logfile", str(env.logfile), "--nhelpers", "1", "--uniqueids")
    result = env.ipsec("globalstatus", "--ctlsocket", str(env.ctl), "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["options"]["nhelpers"] == 1 and status["helpers"] == 1
    assert status["options"]["rundir"] == str(env.rundir)
    text = env.ipsec("globalstatus", "--rundir", str(env.rundir)).stdout
    assert "000 using kernel interface: xfrm" in text
    assert "nhelpers=1, uniqueids=yes" in text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_no_daemon_is_one_clear_line(env: Env) -> None:
    result = env.ipsec("globalstatus", "--rundir", str(env.rundir))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"ipsec globalstatus: pluto is not running: no control socket {env.ctl} (start it with 'ipsec pluto')"]


def test_unknown_verb(env: Env) -> None:
    result = env.ipsec("frobnicate")
    assert result.returncode == 1
    assert "unknown command 'frobnicate'" in result.stderr
