"""Host tier: ``left=%defaultroute`` taken from the namespace's routing table when the conn is
added, against another of our daemons. West reaches east's address (100.64.0.2, on east's lo,
not on the link) only through its default route via east's link address; without a default
route the conn is refused, naming the file and line, and ``ipsec add`` takes it once there is
one. ``ipsec checkconfig`` accepts the file either way (as Libreswan's ``addconn
--checkconfig``, it does not read the host's routes). The kernel here has no ESP: the IKE SA
comes up, the Child SA install fails (the lab tier proves tunnels)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.daemons import IPSEC, Pluto, write_conf
from tests.netns import EAST_IP, WEST_IP, Pair, run

pytestmark = pytest.mark.host

EAST_OFF_LINK = "100.64.0.2"

WEST_CONF = f"""config setup
\tlogtime=no

conn road
\tleft=%defaultroute
\tleftid=@west
\tright={EAST_OFF_LINK}
\trightid=@east
\tauthby=secret
\tauto=add
"""

EAST_CONF = f"""config setup
\tlogtime=no

conn road
\tleft={EAST_OFF_LINK}
\tleftid=@east
\tright={WEST_IP}
\trightid=@west
\tauthby=secret
\tauto=add
"""


@pytest.fixture
def pair(netns_pair: Pair, tmp_path: Path) -> Iterator[tuple[Pluto, Pluto, Path, Pair]]:
    run("ip", "-n", netns_pair.east, "addr", "add", f"{EAST_OFF_LINK}/32", "dev", "lo")
    (tmp_path / "w").mkdir()
    (tmp_path / "e").mkdir()
    west_conf, west_secrets = write_conf(tmp_path / "w", WEST_CONF)
    east_conf, east_secrets = write_conf(tmp_path / "e", EAST_CONF)
    west = Pluto(netns_pair.west, tmp_path / "west")
    east = Pluto(netns_pair.east, tmp_path / "east")
    try:
        east.start(east_conf, east_secrets)
        west.start(west_conf, west_secrets)
        yield west, east, west_conf, netns_pair
    finally:
        west.stop()
        east.stop()


def test_defaultroute_conn_comes_up_once_the_host_has_a_default_route(
        pair: tuple[Pluto, Pluto, Path, Pair]) -> None:
    west, east, west_conf, ns = pair
    # no default route in west yet: refused at add, with the file and the conn's line
    assert (f'"road": failed to add connection: {west_conf}:4: "road": left=%defaultroute: this host has no '
            "IPv4 default route in its main routing table") in west.log_text()
    check = subprocess.run([*IPSEC, "checkconfig", "--config", str(west_conf)], capture_output=True, text=True,
                           timeout=60, env=west.env())
    assert check.returncode == 0, check.stdout + check.stderr
    run("ip", "-n", ns.west, "route", "add", "default", "via", EAST_IP, "dev", "ext0")
    added = west.ipsec("add", "--config", str(west_conf), "road")
    assert added.returncode == 0, added.stdout + added.stderr
    assert f'"road": left=%defaultroute is {WEST_IP}, nexthop {EAST_IP}' in west.log_text()
    up = west.ipsec("up", "road")
    assert f'"road" #1: initiating IKEv2 connection to {EAST_OFF_LINK} using UDP' in up.stdout, up.stdout
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in up.stdout
    sas = east.status()["ike_sas"]
    assert [sa["established"] for sa in sas] == [True]
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@west'" \
        in east.log_text()
    west_sas = west.status()["ike_sas"]
    assert len(west_sas) == 1 and west_sas[0]["established"]
