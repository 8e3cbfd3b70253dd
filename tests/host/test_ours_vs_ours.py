"""Host tier: two of our daemons in two namespaces negotiate IKEv2 with a PSK.

This kernel has XFRM but no ESP, so the IKE SA comes up on both sides and the
Child SA install fails with the kernel's clear error (the lab tier proves the tunnel).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.host.daemons import Pluto, west_east_conf, write_conf
from tests.kernel import ipxfrm
from tests.netns import EAST_IN, EAST_NET, WEST_IN, WEST_NET, Pair

pytestmark = pytest.mark.host

CONF = west_east_conf("west-east", "auto=add")


@pytest.fixture
def plutos(netns_pair: Pair, tmp_path: Path) -> Iterator[tuple[Pluto, Pluto]]:
    config, secrets = write_conf(tmp_path, CONF)
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


def test_ondemand_trap_policy_and_acquire(netns_pair: Pair, tmp_path: Path) -> None:
    """auto=ondemand: a trap policy is installed; the first packet makes the kernel send
    ACQUIRE and the daemon negotiates."""
    config, secrets = write_conf(tmp_path, CONF.replace("\tauto=add\n", "\tauto=ondemand\n"))
    west = Pluto(netns_pair.west, tmp_path / "west")
    east = Pluto(netns_pair.east, tmp_path / "east")
    try:
        east.start(config, secrets)
        west.start(config, secrets)
        assert '"west-east": 1 trap policy installed (auto=ondemand)' in west.log_text()
        policies = netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout
        assert f"src {WEST_NET} dst {EAST_NET}" in policies and "dir out" in policies
        assert not any(sa["established"] for sa in west.status()["ike_sas"])
        netns_pair.exec(netns_pair.west, sys.executable, "-c",
                        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                        "s.sendto(b'wake up', ('203.0.113.1', 9))", check=False)
        import time

        for _ in range(100):
            if any(sa["established"] for sa in east.status()["ike_sas"]):
                break
            time.sleep(0.1)
        assert "initiating on demand for 198.51.100.1/32 to 203.0.113.1/32" in west.log_text(), west.log_text()
        assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@west'" \
            in east.log_text()
    finally:
        west.stop()
        east.stop()
    # After SIGTERM nothing of ours is left in the kernel.
    assert netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout.strip() == ""
    # Only the kernel's own larval ACQUIRE state (SPI 0) may remain: the kernel keeps it until
    # net.core.xfrm_acq_expires and offers no way to delete it by SPI; it is not an SA we installed.
    states = netns_pair.exec(netns_pair.west, "ip", "xfrm", "state").stdout
    spis = [line.split("spi ")[1].split()[0] for line in states.splitlines() if " spi " in line]
    assert all(spi == "0x00000000" for spi in spis), states


def test_crypto_in_helper_processes(netns_pair: Pair, tmp_path: Path) -> None:
    """--nhelpers 2: the DH jobs run in worker processes; the outcome is the same."""
    config, secrets = write_conf(tmp_path, CONF)
    west = Pluto(netns_pair.west, tmp_path / "west")
    east = Pluto(netns_pair.east, tmp_path / "east")
    try:
        east.start(config, secrets, "--nhelpers", "2")
        west.start(config, secrets, "--nhelpers", "2", "--vendorid", "pluto host test")
        assert "starting 2 helper processes" in west.log_text()
        up = west.ipsec("up", "west-east")
        assert "initiator established IKE SA" in up.stdout, up.stdout + up.stderr + west.log_text()
        assert [sa["established"] for sa in east.status()["ike_sas"]] == [True]
        # --vendorid: the vendorid plugin sends it through the pluto_ike_build hook.
        assert '"west-east" #1: received Vendor ID payload [pluto host test]' in east.log_text()
    finally:
        west.stop()
        east.stop()


def test_add_status_delete_through_the_cli(netns_pair: Pair, tmp_path: Path) -> None:
    config, secrets = write_conf(tmp_path, CONF.replace("\tauto=add\n", "\tauto=ignore\n"))
    west = Pluto(netns_pair.west, tmp_path / "west")
    try:
        west.start(config, secrets)
        assert west.status()["conns"] == []  # auto=ignore: not loaded at start
        added = west.ipsec("add", "west-east", "--config", str(config))
        assert added.returncode == 0, added.stderr
        assert added.stdout.strip() == '"west-east": added IKEv2 connection'
        text = west.ipsec("status").stdout
        assert f'"west-east": {WEST_NET}===192.0.2.1[@west]...192.0.2.2[@east]==={EAST_NET}; unrouted;' in text
        assert "Total IPsec connections: loaded 1, active 0" in text
        assert west.ipsec("trafficstatus").stdout == ""
        missing = west.ipsec("add", "nosuch", "--config", str(config))
        assert missing.returncode == 1 and f'no connection named "nosuch" in {config}' in missing.stderr
        deleted = west.ipsec("delete", "west-east")
        assert deleted.returncode == 0 and "deleting non-instance connection" in deleted.stdout
        assert west.status()["conns"] == []
        assert west.ipsec("shutdown").returncode == 0
        assert west.proc is not None and west.proc.wait(20) == 0
    finally:
        west.stop()


def _wake(pair: Pair) -> None:
    """One UDP datagram from west's inside address towards east's subnet."""
    pair.exec(pair.west, sys.executable, "-c",
              "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
              f"s.bind(('{WEST_IN}', 0)); s.sendto(b'wake up', ('{EAST_IN}', 9))",
              check=False)


def test_route_and_unroute_an_auto_add_conn(netns_pair: Pair, plutos: tuple[Pluto, Pluto]) -> None:
    """`ipsec route` on an auto=add conn puts its trap policy in the kernel and answers
    the ACQUIRE; `ipsec unroute` and `ipsec delete` take it out again."""
    west, east = plutos

    def out_policies() -> list[dict[str, Any]]:
        shown = ipxfrm.parse_policies(netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout)
        return [p for p in shown if p.get("dir") == "out" and p.get("tmpl")]

    assert out_policies() == []
    routed = west.ipsec("route", "west-east")
    assert routed.returncode == 0, routed.stderr
    assert '"west-east": 1 trap policy installed' in routed.stdout
    (trap,) = out_policies()
    assert (trap["src"], trap["dst"], trap["tmpl"][0]["mode"]) == (WEST_NET, EAST_NET, "tunnel"), trap
    unrouted = west.ipsec("unroute", "west-east")
    assert unrouted.returncode == 0 and '"west-east": 1 trap policy removed' in unrouted.stdout, unrouted
    assert out_policies() == []
    # routed again, traffic starts the negotiation though auto=add
    assert west.ipsec("route", "west-east").returncode == 0
    _wake(netns_pair)
    for _ in range(100):
        if any(sa["established"] for sa in east.status()["ike_sas"]):
            break
        time.sleep(0.1)
    assert "initiating on demand for 198.51.100.1/32 to 203.0.113.1/32" in west.log_text(), west.log_text()
    deleted = west.ipsec("delete", "west-east")
    assert deleted.returncode == 0, deleted.stderr
    assert out_policies() == []


def test_route_errors_name_the_conn(plutos: tuple[Pluto, Pluto]) -> None:
    west, _ = plutos
    missing = west.ipsec("route", "nosuch")
    assert missing.returncode == 1 and 'no connection named "nosuch"' in missing.stderr
    nothing = west.ipsec("unroute", "west-east")  # never routed: nothing to remove, not an error
    assert nothing.returncode == 0 and '"west-east": 0 trap policies removed' in nothing.stdout


def test_overlapping_traps_priorities_and_reqid_in_the_kernel(netns_pair: Pair, tmp_path: Path) -> None:
    """Two auto=ondemand conns overlap (EAST_NET and its lower half): the narrower
    trap gets the lower priority number (it wins in XFRM) and its fixed reqid=100;
    a packet to the lower half starts the narrow conn. priority=3333 is taken as is."""
    narrow = (CONF.replace("conn west-east", "conn narrow").replace("\tauto=add\n", "\tauto=ondemand\n\treqid=100\n")
              .replace(f"rightsubnet={EAST_NET}", "rightsubnet=203.0.113.0/25"))
    wide = CONF.replace("conn west-east", "conn wide").replace("\tauto=add\n", "\tauto=ondemand\n")
    fixed = (CONF.replace("conn west-east", "conn fixed").replace("\tauto=add\n", "\tauto=ondemand\n\tpriority=3333\n")
             .replace(f"rightsubnet={EAST_NET}", "rightsubnet=192.0.2.0/24"))
    config, secrets = write_conf(tmp_path, wide + "\n" + narrow.split("\n", 3)[3] + "\n" + fixed.split("\n", 3)[3])
    west = Pluto(netns_pair.west, tmp_path / "west")
    try:
        west.start(config, secrets)
        shown = ipxfrm.parse_policies(netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout)
        traps = {p["dst"]: (int(p["priority"]), int(p["tmpl"][0]["reqid"])) for p in shown if p.get("tmpl")}
        assert traps == {EAST_NET: (3712, 16384), "203.0.113.0/25": (3704, 100), "192.0.2.0/24": (3333, 16384)}, \
            shown
        _wake(netns_pair)  # to EAST_IN, 203.0.113.1: inside both
        for _ in range(50):
            if "initiating on demand" in west.log_text():
                break
            time.sleep(0.1)
        assert '"narrow": initiating on demand for 198.51.100.1/32 to 203.0.113.1/32' in west.log_text(), \
            west.log_text()
    finally:
        west.stop()
    assert netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout.strip() == ""


def test_older_spellings_auto_replace_and_whack(netns_pair: Pair, tmp_path: Path) -> None:
    """`ipsec auto --add/--route/--unroute/--status/--delete`, `ipsec replace` (an edited
    conn takes effect) and `ipsec whack --name NAME --route/--unroute/--delete`,
    `--status` behave as today's verbs."""
    config, secrets = write_conf(tmp_path, CONF.replace("\tauto=add\n", "\tauto=ignore\n"))
    west = Pluto(netns_pair.west, tmp_path / "west")

    def out_traps() -> list[dict[str, Any]]:
        shown = ipxfrm.parse_policies(netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout)
        return [p for p in shown if p.get("dir") == "out" and p.get("tmpl")]

    try:
        west.start(config, secrets)
        added = west.ipsec("auto", "--add", "west-east", "--config", str(config))
        assert added.returncode == 0 and added.stdout.strip() == '"west-east": added IKEv2 connection', added
        routed = west.ipsec("auto", "--route", "west-east")
        assert routed.returncode == 0 and '"west-east": 1 trap policy installed' in routed.stdout, routed
        assert len(out_traps()) == 1
        assert west.ipsec("whack", "--name", "west-east", "--unroute").returncode == 0
        assert out_traps() == []
        status = west.ipsec("auto", "--status")
        assert status.returncode == 0 and "Total IPsec connections: loaded 1, active 0" in status.stdout
        assert "State Information: DDoS cookies not required, Accepting new IKE connections" in status.stdout
        assert "Total IPsec connections: loaded 1" in west.ipsec("whack", "--status").stdout
        # an edited conn: `ipsec replace` deletes the loaded one and reads the new one
        config.write_text(config.read_text().replace(f"rightsubnet={EAST_NET}", "rightsubnet=203.0.113.0/25"))
        replaced = west.ipsec("replace", "west-east", "--config", str(config))
        assert replaced.returncode == 0 and '"west-east": added IKEv2 connection' in replaced.stdout, replaced
        (conn,) = west.status()["conns"]
        assert conn["remote_ts"] == ["203.0.113.0/25"], conn
        # replace also loads a conn that was not loaded yet
        assert west.ipsec("whack", "--name", "west-east", "--delete").returncode == 0
        assert west.status()["conns"] == []
        again = west.ipsec("replace", "west-east", "--config", str(config))
        assert again.returncode == 0 and len(west.status()["conns"]) == 1, again
        # mistakes are one clear line and exit 1
        bad = west.ipsec("auto", "--up")
        assert bad.returncode == 1 and bad.stderr.strip() == "ipsec auto: --up needs a connection name", bad
        both = west.ipsec("whack", "--initiate")
        assert both.returncode == 1 and both.stderr.strip() == "ipsec whack: --initiate needs --name NAME", both
        deleted = west.ipsec("auto", "--delete", "west-east")
        assert deleted.returncode == 0 and west.status()["conns"] == []
    finally:
        west.stop()
