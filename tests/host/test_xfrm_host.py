"""Host tier for the XFRM backend: this kernel, as root, a fresh network
namespace per test. Runs the shared conformance suite (whose ESP tests skip
here: this kernel has XFRM but no ESP) plus what only XFRM has."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluto_core.errors import KernelError
from pluto_core.ikev2.conn import ChildInstall, ChildKeys
from pluto_core.ikev2.enums import EncrId
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.types import Direction, Mode, PolicySpec, Template
from pluto_xfrm.plugin import XfrmBackend
from tests.kernel import ipxfrm
from tests.kernel.conformance import *  # noqa: F401,F403
from tests.kernel.conformance import Caps, KernelUnderTest, kernel_under_test
from tests.netns import fresh_netns

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kernel() -> Iterator[KernelUnderTest]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with kernel_under_test(XfrmBackend(), Caps("xfrm", marks=True)) as k:
        yield k


def _child(serial: int = 1) -> ChildInstall:
    return ChildInstall(
        conn="west-east", serial=serial, local_addr="192.0.2.1", remote_addr="192.0.2.2", mode="tunnel",
        protocol=3, encr_id=EncrId.AES_GCM_16, encr_key_bits=128, integ_id=None, esn=False,
        inbound=ChildKeys(0x2000 + serial, bytes(20), b""), outbound=ChildKeys(0x3000 + serial, bytes(20), b""),
        local_ts=(Selector.from_subnet("10.1.0.0/24"),), remote_ts=(Selector.from_subnet("10.2.0.0/24"),),
        replay_window=128, lifetime_soft=2700.0, lifetime_hard=3600.0, reqid=16384 + 4 * serial,
    )


def test_install_child_fails_cleanly_without_esp(kernel: KernelUnderTest) -> None:
    """The host-tier promise of DESIGN.md: the Child SA install fails with a
    clear sentence and leaves nothing behind."""
    spi = kernel.hook.pluto_kernel_allocate_spi(src="192.0.2.2", dst="192.0.2.1", protocol=3)
    child = _child()
    child = ChildInstall(**{**{f: getattr(child, f) for f in child.__dataclass_fields__},
                            "inbound": ChildKeys(spi, bytes(20), b"")})
    with pytest.raises(KernelError) as err:
        kernel.port.install_child(child)
    assert "kernel lacks ESP support" in str(err.value)
    assert ipxfrm.states() == [] and ipxfrm.policies() == []
    assert kernel.hook.pluto_kernel_flush_owned() == 0


def test_policies_shared_by_two_children_are_counted(kernel: KernelUnderTest) -> None:
    """A rekey installs the same selectors again; removing the old Child SA
    must leave the policies the new one still needs."""
    plan_policy = PolicySpec("10.1.0.0/24", "10.2.0.0/24", Direction.OUT,
                             templates=(Template(Mode.TUNNEL, "192.0.2.1", "192.0.2.2", 5),))
    kernel.port.hold_policy(plan_policy)
    kernel.port.hold_policy(plan_policy)  # a second holder
    assert len(ipxfrm.policies()) == 1
    kernel.port.release_policy(plan_policy)
    assert len(ipxfrm.policies()) == 1
    kernel.port.release_policy(plan_policy)
    assert ipxfrm.policies() == []


def test_open_outside_netns_touches_nothing() -> None:
    """Opening and closing the backend changes no state (no flush on open)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with fresh_netns():
        subprocess.run(["ip", "xfrm", "policy", "add", "src", "10.0.0.0/8", "dst", "10.0.0.0/8", "dir", "out"],
                       check=True)
        backend = XfrmBackend()
        backend.pluto_kernel_open(options=None, log=None)
        assert backend.pluto_kernel_flush_owned() == 0
        backend.pluto_kernel_close()
        assert len(ipxfrm.policies()) == 1


def test_daemon_sigterm_in_netns(tmp_path: Path) -> None:
    """The real daemon with --use-xfrm starts inside a namespace, reports the
    XFRM interface, and on SIGTERM logs how many entries it removed (none:
    the engine installed nothing) while a foreign policy survives."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n")
    log = tmp_path / "pluto.log"
    with fresh_netns():
        subprocess.run(["ip", "xfrm", "policy", "add", "src", "10.0.0.0/8", "dst", "10.0.0.0/8", "dir", "in"],
                       check=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "pluto_core.cli.ipsec", "pluto", "--nofork", "--rundir", str(tmp_path / "run"),
             "--config", str(conf), "--secretsfile", str(tmp_path / "none"), "--nhelpers", "0",
             "--logfile", str(log), "--use-xfrm"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line == "Pluto initialized\n", (line, _read(log), proc.stderr.read() if proc.poll() else "")
            assert "Using Linux XFRM/netlink IPsec kernel interface" in _read(log)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "removed 0 kernel SA and policy entries" in _read(log)
        assert len(ipxfrm.policies()) == 1


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_errors_are_kernel_errors_with_errno(kernel: KernelUnderTest) -> None:
    from pluto_core.kernel.types import SaId

    with pytest.raises(KernelError) as err:
        kernel.hook.pluto_kernel_del_sa(sa=SaId("192.0.2.9", 0x4242))
    assert err.value.errno in (errno.ENOENT, errno.ESRCH)
    assert err.value.operation == "delete SA" and "no such SA" in str(err.value)


def test_ike_socket_bypass_policy_is_accepted() -> None:
    """The per-socket ALLOW policy keeps IKE packets out of transport-mode SAs."""
    import socket as _socket

    from pluto_xfrm.plugin import XfrmBackend

    backend = XfrmBackend()
    for family, addr in ((_socket.AF_INET, "127.0.0.1"), (_socket.AF_INET6, "::1")):
        with _socket.socket(family, _socket.SOCK_DGRAM) as sock:
            sock.bind((addr, 0))
            backend.pluto_kernel_bypass_socket(sock=sock)  # raises KernelError when refused
