"""Host tier: two of our daemons in two namespaces negotiate IKEv2 with a PSK.

This kernel has XFRM but no ESP, so the IKE SA comes up on both sides and the
Child SA install fails with the kernel's clear error (the lab tier proves the tunnel).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.daemons import Pluto
from tests.host.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair

pytestmark = pytest.mark.host

CONF = f"""\
config setup
\tlogtime=no

conn west-east
\tleft={WEST_IP}
\tleftid=@west
\tleftsubnet={WEST_NET}
\tright={EAST_IP}
\trightid=@east
\trightsubnet={EAST_NET}
\tauthby=secret
\tauto=add
"""


@pytest.fixture
def plutos(netns_pair: Pair, tmp_path: Path) -> Iterator[tuple[Pluto, Pluto]]:
    config = tmp_path / "ipsec.conf"
    config.write_text(CONF)
    secrets = tmp_path / "ipsec.secrets"
    secrets.write_text('@west @east : PSK "host tier test key, not secret"\n')
    secrets.chmod(0o600)
    west = Pluto(netns_pair.west, tmp_path / "west")
    east = Pluto(netns_pair.east, tmp_path / "east")
    try:
        east.start(config, secrets)
        west.start(config, secrets)
        yield west, east
    finally:
        west.stop()
        east.stop()


def test_ike_sa_established_both_ways_child_install_refused(plutos: tuple[Pluto, Pluto]) -> None:
    west, east = plutos
    assert '"west-east": added IKEv2 connection' in west.log_text()
    up = west.ipsec("up", "west-east")
    assert '"west-east" #1: initiating IKEv2 connection to 192.0.2.2 using UDP' in up.stdout
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in up.stdout
    # No ESP in this kernel: the Child SA fails, with the reason, and `ipsec up` says so.
    assert up.returncode == 1
    assert "Child SA" in up.stderr or "kernel" in up.stderr
    east_status = east.status()
    assert [sa["established"] for sa in east_status["ike_sas"]] == [True]
    assert east_status["ike_sas"][0]["peer_id"] == "@west"
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@west'" \
        in east.log_text()
    assert east_status["children"] == [] and west.status()["children"] == []


def test_down_deletes_the_ike_sa_on_both_sides(plutos: tuple[Pluto, Pluto]) -> None:
    west, east = plutos
    west.ipsec("up", "west-east")
    down = west.ipsec("down", "west-east")
    assert down.returncode == 0, down.stderr
    import time

    for _ in range(50):
        if not east.status()["ike_sas"]:
            break
        time.sleep(0.1)
    assert east.status()["ike_sas"] == [] and west.status()["ike_sas"] == []
    assert "received Delete SA payload: deleting IKE SA" in east.log_text()


def test_unknown_conn_and_wrong_psk(plutos: tuple[Pluto, Pluto], tmp_path: Path) -> None:
    west, east = plutos
    missing = west.ipsec("up", "nosuch")
    assert missing.returncode == 1 and "no connection named \"nosuch\"" in missing.stderr
    (tmp_path / "ipsec.secrets").write_text('@west @east : PSK "a different key"\n')
    assert east.ipsec("rereadsecrets").returncode == 0
    up = west.ipsec("up", "west-east")
    assert up.returncode == 1
    assert "AUTHENTICATION_FAILED" in up.stderr
    assert east.status()["ike_sas"] == []
