"""MOBIKE (RFC 4555) with real ESP: west's outer address changes in the middle of a
ping (a second address on its veth, then the first one removed, as a laptop changing
networks) and the ping goes on through the same Child SA, moved in place in both kernels
(same SPIs, new outer addresses). Our client against a strongSwan 5.9.8 gateway, and a
strongSwan client against our gateway."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.peers import Libreswan, Strongswan
from tests.lab import conns
from tests.lab.checks import esp_states
from tests.lab.ours import Ours, initialized
from tests.lab.peers import require_installed
from tests.lab.topology import EAST_IN, EAST_IP, EAST_NET, WEST_IN, WEST_IP, WEST_NET, LabPair, fresh_pair, wait_for
from tests.netns import run
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.lab

MOVED = "192.0.2.11"  # west's second address
COUNT, INTERVAL = 40, 0.2
OURS_CLIENT = f"""config setup
\tlogtime=no

conn mob
\tleft={WEST_IP}
\tleftid=@west
\tleftsubnet={WEST_NET}
\tright={EAST_IP}
\trightid=@east
\trightsubnet={EAST_NET}
\tauthby=secret
\tmobike=yes
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=add
"""


@pytest.fixture
def pair() -> Iterator[LabPair]:
    with fresh_pair() as p:
        yield p


def _move_west(pair: LabPair) -> None:
    """As a laptop changing networks: the new address comes, the old one goes."""
    for scope in ("all", "ext0"):
        run("ip", "netns", "exec", pair.west, "sysctl", "-qw", f"net.ipv4.conf.{scope}.promote_secondaries=1")
    run("ip", "-n", pair.west, "addr", "add", f"{MOVED}/24", "dev", "ext0")
    run("ip", "-n", pair.west, "addr", "del", f"{WEST_IP}/24", "dev", "ext0")


def _spis(pair: LabPair, ns: str) -> set[str]:
    return {str(s["spi"]) for s in esp_states(pair, ns)}


def _pings(pair: LabPair, count: int, outcome: list[str]) -> None:
    """One ping at a time from west's inside to east's, ``ok`` or ``lost`` each: busybox ping
    stops at its first send error, and while the address changes a send can fail."""
    loop = (f"for i in $(seq 1 {count}); do if busybox ping -c 1 -W 1 -I {WEST_IN} {EAST_IN} >/dev/null 2>&1; "
            f"then echo ok; else echo lost; fi; sleep {INTERVAL}; done")
    result = pair.exec(pair.west, "sh", "-c", loop, check=False, timeout=count * 5 + 60)
    outcome.extend(result.stdout.split())


def _ping_across_the_move(pair: LabPair, moved: object) -> None:
    """Ping west -> east through the tunnel, move west's address a few seconds in; the
    pings after the move are answered (a few around it may be lost). The route into the
    tunnel is a device route, as a roaming client's is (its network's gateway route goes with
    the old address)."""
    run("ip", "-n", pair.west, "route", "replace", EAST_NET, "dev", "ext0", "src", WEST_IN)
    outcome: list[str] = []
    pinger = threading.Thread(target=_pings, args=(pair, COUNT, outcome))
    pinger.start()
    try:
        wait_for(lambda: pair.esp_packets(pair.west)["in"] >= 3, 60, "the first pings through the tunnel")
        _move_west(pair)
        wait_for(moved, 90, "the Child SA moved to the new address")
    finally:
        pinger.join(COUNT * 5 + 90)
    assert len(outcome) == COUNT and outcome.count("ok") >= COUNT // 2, outcome
    assert outcome[-8:] == ["ok"] * 8, outcome  # the tunnel carries on after the move
    after = pair.ping(pair.west, WEST_IN, EAST_IN, count=5)
    assert after.received == 5, after.output


def test_our_client_moves_and_the_strongswan_gateway_follows(pair: LabPair, lab_root: Path) -> None:
    require_installed("strongswan")
    gateway = Strongswan(pair.east, lab_root / "mobike-strongswan")
    gateway.start(swanctl_conf("mob", local_addrs=EAST_IP, remote_addrs="%any", proposals=conns.GCM.ike_swan,
                               local={"auth": "psk", "id": "east"}, remote={"auth": "psk", "id": "west"},
                               local_ts=EAST_NET, remote_ts=WEST_NET, esp=conns.GCM.esp_swan,
                               psk=("east", "west", conns.PSK)))
    west = Ours(pair.west, lab_root / "mobike-ours-client")
    west.launch_with(OURS_CLIENT)
    try:
        with initialized(west, flush=pair):
            west.up("mob")
            wait_for(lambda: len(esp_states(pair, pair.east)) == 2, 60, "the Child SA on strongSwan's side")
            before = _spis(pair, pair.east)

            def moved() -> bool:
                states = esp_states(pair, pair.east)
                return {s["src"] for s in states} | {s["dst"] for s in states} >= {MOVED} and WEST_IP not in \
                    {s["src"] for s in states} | {s["dst"] for s in states}
            _ping_across_the_move(pair, moved)
            # the same SAs, moved in place on both ends
            assert _spis(pair, pair.east) == before == _spis(pair, pair.west)
            assert {s["src"] for s in esp_states(pair, pair.west)} == {MOVED, EAST_IP}
            log = west.log_text()
            assert f"to {MOVED}:4500: sending UPDATE_SA_ADDRESSES" in log and "1 Child SA moved" in log, log
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- ours ---\n{west.log_text()[-3000:]}\n--- strongSwan ---\n"
                             f"{gateway.log()[-3000:]}") from None
    finally:
        gateway.stop()


def test_strongswan_client_moves_and_our_gateway_follows(pair: LabPair, lab_root: Path) -> None:
    require_installed("strongswan")
    east = Ours(pair.east, lab_root / "mobike-ours-gateway")
    east.launch_with(f"""config setup
\tlogtime=no

conn mob
\tleft={EAST_IP}
\tleftid=@east
\tleftsubnet={EAST_NET}
\tright=%any
\trightid=@west
\trightsubnet={WEST_NET}
\tauthby=secret
\tmobike=yes
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=add
""")
    client = Strongswan(pair.west, lab_root / "mobike-strongswan-client")
    try:
        with initialized(east, flush=pair):
            # local_addrs=%any: charon may leave from whichever address it has
            client.start(swanctl_conf("mob", local_addrs="%any", remote_addrs=EAST_IP, proposals=conns.GCM.ike_swan,
                                      local={"auth": "psk", "id": "west"}, remote={"auth": "psk", "id": "east"},
                                      local_ts=WEST_NET, remote_ts=EAST_NET, esp=conns.GCM.esp_swan,
                                      psk=("west", "east", conns.PSK)))
            client.swanctl("--initiate", "--child", "mob", "--timeout", "60", timeout=120)
            wait_for(lambda: len(east.children("mob")) == 1, 60, "the Child SA on our gateway")
            before = _spis(pair, pair.east)

            def moved() -> bool:
                return f"MOBIKE: peer moved from {WEST_IP}:4500 to {MOVED}:4500" in east.log_text() and \
                    MOVED in {s["dst"] for s in esp_states(pair, pair.east)}
            _ping_across_the_move(pair, moved)
            assert _spis(pair, pair.east) == before
            assert "1 Child SA moved" in east.log_text(), east.log_text()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- ours ---\n{east.log_text()[-3000:]}\n--- strongSwan ---\n"
                             f"{client.log()[-3000:]}") from None
    finally:
        client.stop()


LIBRESWAN_GATEWAY = f"""config setup
\tdnssec-enable=no
\tplutodebug=none

conn mob
\tauthby=secret
\tikev2=yes
\tleft={EAST_IP}
\tleftid=@east
\tleftsubnet={EAST_NET}
\tleftupdown=%disabled
\tright=%any
\trightid=@west
\trightsubnet={WEST_NET}
\tmobike=yes
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=ignore
"""


def test_our_client_moves_and_the_libreswan_gateway_follows(pair: LabPair, lab_root: Path) -> None:
    """Libreswan 4.10 takes MOBIKE as a responder with right=%any (its road-warrior case)."""
    require_installed("libreswan")
    gateway = Libreswan(pair.east, lab_root / "mobike-libreswan")
    conf, secrets = lab_root / "mobike-lsw.conf", lab_root / "mobike-lsw.secrets"
    conf.write_text(LIBRESWAN_GATEWAY)
    secrets.write_text(f'@west @east : PSK "{conns.PSK}"\n')
    west = Ours(pair.west, lab_root / "mobike-ours-client-lsw")
    west.launch_with(OURS_CLIENT)
    try:
        gateway.start(conf, secrets)
        gateway.add("mob")
        with initialized(west, flush=pair):
            west.up("mob")
            wait_for(lambda: len(esp_states(pair, pair.east)) == 2, 60, "the Child SA on Libreswan's side")
            before = _spis(pair, pair.east)

            def moved() -> bool:
                addresses = {s["src"] for s in esp_states(pair, pair.east)} | \
                    {s["dst"] for s in esp_states(pair, pair.east)}
                return MOVED in addresses and WEST_IP not in addresses
            _ping_across_the_move(pair, moved)
            assert _spis(pair, pair.east) == before == _spis(pair, pair.west)
            assert "1 Child SA moved" in west.log_text(), west.log_text()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- ours ---\n{west.log_text()[-3000:]}\n--- Libreswan ---\n"
                             f"{gateway.log()[-3000:]}") from None
    finally:
        gateway.stop()
