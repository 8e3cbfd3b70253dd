"""Host tier: route-based VPN state in this kernel (XFRM policies work here, ESP does not; this
kernel may also lack XFRM interfaces, CONFIG_XFRM_INTERFACE). Our daemon runs in a namespace;
``ip xfrm policy`` and ``ip link`` there are the witnesses.

- ``mark=``/``mark-out=`` and ``auto=route``: the trap policy carries the outbound mark;
  ``ipsec unroute`` removes it.
- ``ipsec-interface=``: on a kernel without XFRM interfaces the conn is refused when added,
  with file:line and the module to load; a device of that name of another kind is refused too.
- The Child SA's policies as the port installs them: out with mark-out, in/fwd with mark-in,
  all with the if_id.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluto_core.errors import KernelError
from pluto_core.kernel.types import plan_child
from pluto_xfrm.plugin import XfrmBackend
from tests.host.daemons import Pluto, write_conf
from tests.kernel import ipxfrm
from tests.kernel.conformance import Caps, KernelUnderTest, kernel_under_test
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair
from tests.unit.test_route_based import _child

pytestmark = pytest.mark.host


@pytest.fixture
def kernel() -> Iterator[KernelUnderTest]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with kernel_under_test(XfrmBackend(), Caps("xfrm", marks=True)) as k:
        yield k


def _kernel_has_xfrmi() -> bool:
    """Whether this kernel makes XFRM interfaces (in a throw-away namespace)."""
    ns = f"pluto-xfrmi-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        return subprocess.run(["ip", "-n", ns, "link", "add", "ipsec9", "type", "xfrm", "if_id", "9"],
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


def test_child_policies_carry_if_id_and_marks_by_direction(kernel: KernelUnderTest) -> None:
    plan = plan_child(_child(if_id=7, mark_in=(0x10, 0xFF), mark_out=(0x20, 0xFF)))
    for policy in plan.policies:
        kernel.port.hold_policy(policy)
    shown = {p["dir"]: p for p in ipxfrm.policies()}
    assert set(shown) == {"out", "in", "fwd"}
    assert shown["out"]["mark"] == "0x20/0xff"
    assert shown["in"]["mark"] == shown["fwd"]["mark"] == "0x10/0xff"
    assert {int(p["if_id"], 16) for p in shown.values()} == {7}
    for policy in plan.policies:
        kernel.port.release_policy(policy)
    assert ipxfrm.policies() == []


def test_interface_name_taken_by_another_device(kernel: KernelUnderTest) -> None:
    subprocess.run(["ip", "link", "add", "ipsec5", "type", "veth", "peer", "name", "v5"], check=True)
    with pytest.raises(KernelError) as err:
        kernel.port.hold_interface("c", 5)
    assert "ipsec5 exists and is a device of kind veth, not an XFRM interface with if_id 5" in str(err.value)
    assert kernel.port.flush_owned() == 0
    assert "ipsec5" in subprocess.run(["ip", "link", "show", "ipsec5"], capture_output=True, text=True).stdout


CONF = f"""\
config setup
\tlogtime=no

conn %default
\tleft={WEST_IP}
\tright={EAST_IP}
\tleftid=@west
\trightid=@east
\tauthby=secret
\tleftsubnet={WEST_NET}

conn marked
\trightsubnet={EAST_NET}
\tmark-in=0x10/0xff
\tmark-out=0x20
\tauto=route

conn routed
\trightsubnet=203.0.113.64/26
\tipsec-interface=3
\tauto=add
"""


@pytest.fixture
def west_only(netns_pair: Pair, tmp_path: Path) -> Iterator[tuple[Pair, Pluto, Path]]:
    west = Pluto(netns_pair.west, tmp_path / "west")
    try:
        yield netns_pair, west, tmp_path
    finally:
        west.stop()


def test_daemon_marks_trap_and_refuses_interface_without_kernel_support(
        west_only: tuple[Pair, Pluto, Path]) -> None:
    pair, west, tmp_path = west_only
    has_xfrmi = _kernel_has_xfrmi()
    config, secrets = write_conf(tmp_path, CONF)
    west.start(config, secrets)
    trap = [p for p in ipxfrm.parse_policies(pair.exec(pair.west, "ip", "xfrm", "policy").stdout)
            if (p["src"], p["dst"], p["dir"]) == (WEST_NET, EAST_NET, "out")]
    assert len(trap) == 1 and trap[0]["mark"] == "0x20/0xffffffff", trap
    log = west.log_text()
    if has_xfrmi:
        assert '"routed": created XFRM interface ipsec3 (if_id 3)' in log, log
        link = pair.exec(pair.west, "ip", "-d", "link", "show", "ipsec3").stdout
        assert "xfrm if_id 0x3" in link, link
    else:
        # refused where it is added, naming the conn's file:line and the module to load
        assert (f'"routed": failed to add connection: {config}:18: "routed": ipsec-interface=3: kernel add XFRM '
                f"interface failed ({errno.errorcode[errno.EOPNOTSUPP]}") in log, log
        assert "load module xfrm_interface (CONFIG_XFRM_INTERFACE" in log, log
    assert west.ipsec("unroute", "marked").returncode == 0
    assert ipxfrm.parse_policies(pair.exec(pair.west, "ip", "xfrm", "policy").stdout) == []
