"""Plugins through entry points: a third-party plugin, a broken one, backend selection."""

from __future__ import annotations

import signal
import socket

import pytest

from tests.daemon.conftest import TESTPLUGIN_DIR, Env


def _testplugin_installed() -> None:
    # conftest installs tests/plugin_pkg into build/testplugins and puts it on PYTHONPATH.
    assert (TESTPLUGIN_DIR / "pluto_testplugin").is_dir()


def test_third_party_plugin_is_discovered_and_its_hook_called(env: Env) -> None:
    _testplugin_installed()
    listing = env.run("--list-plugins")
    assert listing.returncode == 0
    assert any(line.split()[:1] == ["testplugin"] and line.endswith("loaded")
               for line in listing.stdout.splitlines()), listing.stdout
    proc = env.start_nofork("--logfile", str(env.logfile))
    text = env.log_text()
    assert "testplugin: startup hook called (kernel backend xfrm)" in text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_broken_plugin_is_reported_by_name_and_daemon_runs(env: Env) -> None:
    _testplugin_installed()
    listing = env.run("--list-plugins")
    line = next(x for x in listing.stdout.splitlines() if x.split()[:1] == ["testplugin-broken"])
    assert "FAILED: ImportError: testplugin-broken is broken on purpose" in line
    proc = env.start_nofork("--logfile", str(env.logfile))
    assert "plugin 'testplugin-broken' (pluto.plugins, pluto_testplugin.broken:plugin) failed to load: " \
           "ImportError: testplugin-broken is broken on purpose" in env.log_text()
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_backend_not_installed_exits_1(env: Env) -> None:
    result = env.run("--kernel-backend", "nosuch", "--nofork")
    assert result.returncode == 1
    assert "kernel backend 'nosuch' is not installed" in result.stderr
    assert not env.pidfile.exists()


def test_backend_that_fails_to_import_exits_1(env: Env) -> None:
    _testplugin_installed()
    result = env.run("--kernel-backend", "broken-backend", "--nofork")
    assert result.returncode == 1
    assert "kernel backend 'broken-backend' failed to load: ImportError" in result.stderr


def test_use_bsdkame_without_pfkey_exits_1_with_reason(env: Env) -> None:
    try:
        socket.socket(15, socket.SOCK_RAW, 2).close()
        pytest.skip("this kernel has PF_KEY (af_key loaded)")
    except OSError:
        pass
    result = env.run("--use-bsdkame", "--nofork")
    assert result.returncode == 1
    assert "Pluto initialized" not in result.stdout
    assert "kernel backend 'bsdkame'" in result.stderr
    assert "no PF_KEY v2 support" in result.stderr and "af_key" in result.stderr
    assert not env.pidfile.exists() and not env.ctl.exists()


def test_use_xfrm_selects_xfrm(env: Env) -> None:
    proc = env.start_nofork("--use-xfrm", "--logfile", str(env.logfile))
    assert "Using Linux XFRM/netlink IPsec kernel interface" in env.log_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
