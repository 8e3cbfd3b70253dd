"""Host tier: west names its peer by host name (``right=east.pluto.test``), resolved by the
system resolver through the namespace's own hosts file (``ip netns exec`` puts
``/etc/netns/NS/hosts`` over ``/etc/hosts`` when it exists before the process starts).

As in ``test_ours_vs_ours``, this kernel has no ESP: the IKE SA comes up on both sides and
the Child SA install fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.daemons import Pluto, write_conf
from tests.host.test_ours_vs_ours import CONF
from tests.netns import EAST_IP, Pair

pytestmark = pytest.mark.host

NAME = "east.pluto.test"
WEST_CONF = CONF.replace(f"\tright={EAST_IP}\n", f"\tright={NAME}\n")
ESTABLISHED = "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'"


class HostsFile:
    """``/etc/netns/NS/hosts``; rewritten in place, so the bind mount keeps showing it."""

    def __init__(self, ns: str) -> None:
        self.dir = Path("/etc/netns") / ns
        self.path = self.dir / "hosts"

    def write(self, text: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w") as f:  # same inode: what the namespace's mount shows
            f.write("127.0.0.1 localhost\n" + text)


@pytest.fixture
def west_hosts(netns_pair: Pair) -> Iterator[HostsFile]:
    hosts = HostsFile(netns_pair.west)
    had_parent = hosts.dir.parent.exists()
    try:
        yield hosts
    finally:
        shutil.rmtree(hosts.dir, ignore_errors=True)
        if not had_parent:
            try:
                hosts.dir.parent.rmdir()  # only when empty: another user's entries stay
            except OSError:
                pass


def _start(pair: Pair, tmp_path: Path) -> tuple[Pluto, Pluto]:
    east_config, secrets = write_conf(tmp_path, CONF, name="east")
    west_config, _ = write_conf(tmp_path, WEST_CONF, name="west")
    east = Pluto(pair.east, tmp_path / "east")
    west = Pluto(pair.west, tmp_path / "west")
    east.start(east_config, secrets)
    west.start(west_config, secrets)
    return west, east


def _established_both_sides(west: Pluto, east: Pluto) -> None:
    up = west.ipsec("up", "west-east")
    assert f'"west-east" #1: initiating IKEv2 connection to {EAST_IP} using UDP' in up.stdout, \
        up.stdout + up.stderr + west.log_text()
    assert ESTABLISHED in up.stdout
    assert [sa["established"] for sa in east.status()["ike_sas"]] == [True]
    assert [sa["established"] for sa in west.status()["ike_sas"]] == [True]


def test_peer_by_host_name_is_resolved_and_shown(netns_pair: Pair, west_hosts: HostsFile,
                                                 tmp_path: Path) -> None:
    west_hosts.write(f"{EAST_IP} {NAME}\n")
    west, east = _start(netns_pair, tmp_path)
    try:
        assert f'"west-east": right={NAME} resolves to {EAST_IP}' in west.log_text()
        (conn,) = west.status()["conns"]
        assert (conn["remote"], conn["remote_host"]) == (EAST_IP, NAME)
        assert f"...{EAST_IP}<{NAME}>[@east]===" in west.ipsec("status").stdout
        _established_both_sides(west, east)
    finally:
        west.stop()
        east.stop()


def test_a_changed_address_is_picked_up_when_initiating(netns_pair: Pair, west_hosts: HostsFile,
                                                        tmp_path: Path) -> None:
    west_hosts.write(f"192.0.2.99 {NAME}\n")  # where the peer was
    west, east = _start(netns_pair, tmp_path)
    try:
        assert west.status()["conns"][0]["remote"] == "192.0.2.99"
        west_hosts.write(f"{EAST_IP} {NAME}\n")  # the peer moved
        _established_both_sides(west, east)
        assert f'"west-east": right={NAME} now resolves to {EAST_IP} (was 192.0.2.99)' in west.log_text()
    finally:
        west.stop()
        east.stop()


def test_unresolvable_name_is_added_retried_and_used_once_it_resolves(
        netns_pair: Pair, west_hosts: HostsFile, tmp_path: Path) -> None:
    west_hosts.write("192.0.2.99 other.pluto.test\n")
    west, east = _start(netns_pair, tmp_path)
    try:
        log = west.log_text()
        where = f"{tmp_path / 'west.conf'}:4: "
        assert f'{where}"west-east": cannot resolve right={NAME}: ' in log and "; retrying in 5s" in log, log
        assert f'"west-east": added IKEv2 connection; not usable until right={NAME} resolves' in log
        assert "Traceback" not in log
        text = west.ipsec("status").stdout
        assert f"...<{NAME}>[@east]===" in text and "; resolving;" in text, text
        refused = west.ipsec("up", "west-east")
        assert refused.returncode == 1
        assert f'{where}"west-east": cannot resolve right={NAME}: ' in refused.stderr, refused.stderr
        west_hosts.write(f"{EAST_IP} {NAME}\n")
        _established_both_sides(west, east)
        assert f'"west-east": right={NAME} resolves to {EAST_IP}' in west.log_text()
    finally:
        west.stop()
        east.stop()
