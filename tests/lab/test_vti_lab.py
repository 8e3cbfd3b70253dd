"""``vti-interface=`` on a kernel with ESP and ``ip_vti``, against Libreswan 4.10 in east running
its own default updown (``ipsec _updown``: Libreswan's ``ipsec`` first on its PATH), which makes
east's VTI device as ours makes west's.

- ``vti-interface=vti1 mark=5/0xffffffff leftsubnet=0.0.0.0/0 rightsubnet=0.0.0.0/0`` with
  ``leftvti=10.99.0.1/30 rightvti=10.99.0.2/30`` (vti-routing=no, Libreswan's default): the
  Child SA's SAs carry mark 5; west's ``vti1`` exists (``ip -d link``: vti, remote east, ikey
  and okey 5, up, 10.99.0.1/30 on it), so does east's; a ping 10.99.0.1 -> 10.99.0.2 goes into
  the device by its connected route and crosses as ESP (the counters move on both hosts);
  after ``ipsec down`` west's device is gone (Libreswan 4.10's script leaves east's: deleted
  here).
- ``vti-routing=yes`` with the lab's subnets: west routes 203.0.113.0/24 into ``vti1`` (east's
  ``_updown`` does the same for 198.51.100.0/24), the ordinary inside-to-inside ping crosses as
  ESP, and ``ipsec down`` takes the route and the device away.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.peers import LSW, LSW_IPSEC
from tests.lab import conns
from tests.lab.checks import esp_states, ping_through, wait_for_esp_pairs, wait_no_esp
from tests.lab.ours import Ours
from tests.lab.peers import LibreswanPeer, running_in_east
from tests.lab.topology import EAST_IN, EAST_IP, EAST_NET, WEST_IN, WEST_IP, WEST_NET, LabPair, wait_for
from tests.netns import run

pytestmark = pytest.mark.lab

# mark=5/0xffffffff, not mark=5: Libreswan 4.10's addconn takes a bare number for no string ("Invalid
# mark value"; pluto takes both, mask 0xffffffff when left out, as ipsec.conf(5) says)
VTI = conns.Suite("vti", conns.GCM.ike, conns.GCM.esp, conns.GCM.ike_swan, conns.GCM.esp_swan,
                  kernel=conns.GCM_KERNEL,
                  extra={"leftsubnet": "0.0.0.0/0", "rightsubnet": "0.0.0.0/0", "mark": "5/0xffffffff",
                         "vti-interface": "vti1", "leftvti": "10.99.0.1/30", "rightvti": "10.99.0.2/30"})
VTI_ROUTED = conns.Suite("vtirouted", conns.GCM.ike, conns.GCM.esp, conns.GCM.ike_swan, conns.GCM.esp_swan,
                         kernel=conns.GCM_KERNEL,
                         extra={"mark": "7/0xffffffff", "vti-interface": "vti1", "vti-routing": "yes"})
SUITES = (VTI, VTI_ROUTED)
LIBRESWAN_SETUP = "\tdnssec-enable=no\n\tuniqueids=yes\n\tplutodebug=none\n"


class LibreswanWithUpdown(LibreswanPeer):
    """Libreswan 4.10 with the VTI conns and its default updown left on."""

    def __init__(self, ns: str, root: Path) -> None:
        super().__init__(ns, root)
        self.config.write_text(conns.ipsec_conf(SUITES, setup=LIBRESWAN_SETUP))

    def start(self) -> None:
        saved = dict(os.environ)
        # pluto runs "ipsec _updown": Libreswan's ipsec (not strongSwan's /usr/sbin/ipsec) finds _updown
        os.environ["PATH"] = f"{LSW_IPSEC.parent}:{saved.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        os.environ["IPSEC_EXECDIR"] = str(LSW)
        try:
            super().start()
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="module", autouse=True)
def ip_vti() -> None:
    """The VTI drivers (tests/lab/guest/prepare.sh loads them; here again, saying so when they fail)."""
    for module in ("ip_vti", "ip6_vti"):
        done = subprocess.run(["modprobe", module], capture_output=True, text=True, check=False)
        assert Path(f"/sys/module/{module}").exists(), f"modprobe {module}: {done.stderr}"


@pytest.fixture(scope="module")
def libreswan(lab_pair: LabPair, lab_root: Path) -> Iterator[LibreswanWithUpdown]:
    with running_in_east(LibreswanWithUpdown, lab_pair, lab_root / "libreswan-vti") as peer:
        yield peer


@pytest.fixture(scope="module")
def ours_conf(lab_root: Path) -> Path:
    path = lab_root / "ours-vti.conf"
    path.write_text(conns.ipsec_conf(SUITES))
    return path


def _link(pair: LabPair, ns: str, name: str) -> str:
    return run("ip", "-n", ns, "-d", "addr", "show", "dev", name, check=False).stdout


def _esp_counts(pair: LabPair) -> dict[str, dict[str, int]]:
    return {ns: pair.esp_packets(ns) for ns in (pair.west, pair.east)}


def _up(pair: LabPair, west: Ours, peer: LibreswanWithUpdown, suite: conns.Suite, conf: Path) -> None:
    peer.load(suite)
    west.call("add", name=suite.name, config=str(conf))
    west.up(suite.name)
    wait_for(lambda: west.children(suite.name), 60, "our Child SA", interval=1.0)
    wait_for_esp_pairs(pair)


def _cleanup(pair: LabPair, west: Ours, peer: LibreswanWithUpdown, suite: conns.Suite) -> None:
    west.forget(suite.name)
    peer.unload(suite)
    pair.flush(pair.west)
    pair.flush(pair.east)
    for ns in (pair.west, pair.east):  # Libreswan 4.10 never deletes its device; ours on a failure
        run("ip", "-n", ns, "link", "del", "vti1", check=False)


def _why(exc: Exception, west: Ours, peer: LibreswanWithUpdown) -> AssertionError:
    return AssertionError(f"{exc}\n--- libreswan log (tail) ---\n{peer.log()[-4000:]}"
                          f"\n--- our log (tail) ---\n{west.log_text()[-4000:]}")


def test_vti_device_carries_a_routed_ping(lab_pair: LabPair, west: Ours, libreswan: LibreswanWithUpdown,
                                          ours_conf: Path) -> None:
    pair = lab_pair
    try:
        _up(pair, west, libreswan, VTI, ours_conf)
        by_dst = {sa["dst"]: sa for sa in esp_states(pair, pair.west)}
        assert by_dst[EAST_IP]["mark"] == by_dst[WEST_IP]["mark"] == "0x5/0xffffffff", by_dst
        wait_for(lambda: "10.99.0.1/30" in _link(pair, pair.west, "vti1"), 30, "west's vti1 with its address")
        ours = _link(pair, pair.west, "vti1")
        assert "vti " in ours and f"remote {EAST_IP} " in ours and f"local {WEST_IP} " in ours, ours
        assert "ikey 0.0.0.5 " in ours and "okey 0.0.0.5 " in ours and ",UP" in ours, ours
        assert '"vti" #' in west.log_text() and "created VTI device vti1" in west.log_text()
        wait_for(lambda: "10.99.0.2/30" in _link(pair, pair.east, "vti1"), 30,
                 "east's vti1 (Libreswan's _updown) with its address")
        before = _esp_counts(pair)
        result = pair.ping(pair.west, "10.99.0.1", "10.99.0.2", count=3)
        after = _esp_counts(pair)
        assert result.received == 3, result.output
        for ns in before:
            moved = {k: after[ns][k] - before[ns][k] for k in ("in", "out")}
            assert moved["in"] >= 3 and moved["out"] >= 3, (ns, moved, result.output)
        west.down(VTI.name)
        wait_no_esp(pair, pair.west)
        wait_for(lambda: _link(pair, pair.west, "vti1") == "", 30, "west's vti1 to be deleted")
        assert "deleted VTI device vti1" in west.log_text()
    except Exception as exc:  # noqa: BLE001 - re-raised with both logs
        raise _why(exc, west, libreswan) from None
    finally:
        _cleanup(pair, west, libreswan, VTI)


def test_vti_routing_routes_the_peers_subnet_into_the_device(lab_pair: LabPair, west: Ours,
                                                             libreswan: LibreswanWithUpdown, ours_conf: Path) -> None:
    pair = lab_pair
    try:
        _up(pair, west, libreswan, VTI_ROUTED, ours_conf)
        wait_for(lambda: "dev vti1" in run("ip", "-n", pair.west, "route", "show", EAST_NET).stdout, 30,
                 f"west's route to {EAST_NET} into vti1")
        wait_for(lambda: "dev vti1" in run("ip", "-n", pair.east, "route", "show", WEST_NET).stdout, 30,
                 f"east's route to {WEST_NET} into vti1 (Libreswan's _updown)")
        ping_through(pair, VTI_ROUTED)
        west.down(VTI_ROUTED.name)
        wait_no_esp(pair, pair.west)
        wait_for(lambda: _link(pair, pair.west, "vti1") == "", 30, "west's vti1 to be deleted")
        assert "dev vti1" not in run("ip", "-n", pair.west, "route", "show", EAST_NET).stdout
    except Exception as exc:  # noqa: BLE001 - re-raised with both logs
        raise _why(exc, west, libreswan) from None
    finally:
        _cleanup(pair, west, libreswan, VTI_ROUTED)
        # the lab's static routes between the inside subnets, as tests/netns.py made them
        run("ip", "-n", pair.west, "route", "replace", EAST_NET, "via", EAST_IP, "src", WEST_IN)
        run("ip", "-n", pair.east, "route", "replace", WEST_NET, "via", WEST_IP, "src", EAST_IN)
