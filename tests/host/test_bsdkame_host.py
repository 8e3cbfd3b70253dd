"""Host tier for the PF_KEY backend. This kernel has no PF_KEY (``af_key`` is
neither built in nor loadable), so what runs here is the promise of
DESIGN.md: selecting the backend stops start-up with exit status 1 and a
sentence that says why and what to load. The conformance suite runs in the
lab VM (``tests/kernel/test_conformance_bsdkame.py``)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pluto_bsdkame.plugin import BsdKameBackend
from pluto_core.errors import KernelError

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]


def _pfkey_here() -> bool:
    try:
        socket.socket(15, socket.SOCK_RAW, 2).close()
    except OSError:
        return False
    return True


def test_open_without_pfkey_is_a_kernel_error_that_says_what_to_load() -> None:
    if _pfkey_here():
        pytest.skip("this kernel has PF_KEY (the lab tier covers it)")
    backend = BsdKameBackend()
    with pytest.raises(KernelError) as err:
        backend.pluto_kernel_open(options=None, log=None)
    exc = err.value
    assert exc.operation == "open PF_KEY v2 socket"
    assert exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EINVAL)
    text = str(exc)
    assert text.startswith("kernel open PF_KEY v2 socket failed (")
    assert "no PF_KEY v2 support" in text and "modprobe af_key" in text and "--use-xfrm" in text
    assert backend.sock is None and backend.events is None  # nothing left open
    assert backend.pluto_kernel_event_fd() is None and backend.pluto_kernel_flush_owned() == 0


def test_daemon_with_use_bsdkame_exits_1_and_says_so(tmp_path: Path) -> None:
    if _pfkey_here():
        pytest.skip("this kernel has PF_KEY (the lab tier covers it)")
    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pluto_core.cli.ipsec",
            "pluto",
            "--nofork",
            "--rundir",
            str(tmp_path / "run"),
            "--config",
            str(conf),
            "--secretsfile",
            str(tmp_path / "none"),
            "--nhelpers",
            "0",
            "--use-bsdkame",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Pluto initialized" not in result.stdout
    assert "kernel backend 'bsdkame'" in result.stderr
    assert "no PF_KEY v2 support" in result.stderr and "modprobe af_key" in result.stderr
    assert not (tmp_path / "run" / "pluto.ctl").exists()
