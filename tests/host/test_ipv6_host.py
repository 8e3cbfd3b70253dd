"""Host tier: IKEv2 over IPv6, between two of ours and with Libreswan 4.10 and strongSwan 5.9.8,
each side initiating; and the kernel policies of IPv6, 4-in-6 and 6-in-4 tunnels and of IPv6
transport mode (trap policies, auto=ondemand: the only kernel state this ESP-less kernel keeps).

West and east have both families on one veth (``netns_pair6``). This kernel has no ESP, so each
IKE SA comes up and its Child SA install fails with the kernel's error; the lab proves the tunnels.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.daemons import Pluto, write_conf
from tests.host.peers import (
    LIBRESWAN_CONF,
    PSK,
    Libreswan,
    Strongswan,
    libreswan_available,
    strongswan_available,
)
from tests.netns import (
    EAST_IP,
    EAST_IP6,
    EAST_NET,
    EAST_NET6,
    WEST_IP,
    WEST_IP6,
    WEST_NET,
    WEST_NET6,
    Pair,
    poll,
)
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.host


def conf6(*keywords: str, left: str = WEST_IP6, right: str = EAST_IP6, leftsubnet: str | None = WEST_NET6,
          rightsubnet: str | None = EAST_NET6, name: str = "v6") -> str:
    """Our ipsec.conf: conn NAME from west to east over ``left``/``right`` with a PSK, then ``keywords``."""
    lines = [f"left={left}", "leftid=@west", *([f"leftsubnet={leftsubnet}"] if leftsubnet else []),
             f"right={right}", "rightid=@east", *([f"rightsubnet={rightsubnet}"] if rightsubnet else []),
             "authby=secret", *keywords]
    return "config setup\n\tlogtime=no\n\nconn " + name + "\n" + "".join(f"\t{x}\n" for x in lines)


def _ike_up(pluto: Pluto) -> bool:
    return any(sa["established"] for sa in pluto.status()["ike_sas"])


@pytest.fixture
def two_ours(netns_pair6: Pair, tmp_path: Path) -> Iterator[tuple[Pluto, Pluto]]:
    config, secrets = write_conf(tmp_path, conf6("auto=add"), PSK)
    west, east = Pluto(netns_pair6.west, tmp_path / "west"), Pluto(netns_pair6.east, tmp_path / "east")
    try:
        east.start(config, secrets)
        west.start(config, secrets)
        yield west, east
    finally:
        west.stop()
        east.stop()


def test_ike_over_ipv6_ours_both_roles(two_ours: tuple[Pluto, Pluto]) -> None:
    """Both daemons listen on their IPv6 addresses and negotiate over them, each initiating once;
    log lines write the peer as Libreswan does, ``[2001:db8:1:2::23]:UDP/500``, and the Child SA
    carries the IPv6 subnets (TS_IPV6_ADDR_RANGE) until the kernel refuses ESP."""
    west, east = two_ours
    assert f"adding UDP interface ext0 [{WEST_IP6}]:500" in west.log_text(), west.log_text()
    up = west.ipsec("up", "v6")
    out = up.stdout
    assert f'"v6" #1: initiating IKEv2 connection to {EAST_IP6} using UDP' in out, out + up.stderr
    assert f'"v6" #1: sent IKE_SA_INIT request to [{EAST_IP6}]:UDP/500' in out, out
    assert f"[{WEST_NET6}==={EAST_NET6}]" in out, out
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in out, out
    assert up.returncode == 1 and "esp6" in up.stderr  # no ESP in this kernel, and it says which module
    assert f'"v6" #1: responder sent IKE_SA_INIT response to [{WEST_IP6}]:UDP/500' in east.log_text()
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@west'" \
        in east.log_text()
    [sa] = east.status()["ike_sas"]
    assert sa["established"]
    # east initiates the other way (after west's IKE SA is gone)
    assert west.ipsec("down", "v6").returncode == 0
    assert poll(lambda: not east.status()["ike_sas"]), east.log_text()
    up = east.ipsec("up", "v6")
    assert f"sent IKE_SA_INIT request to [{WEST_IP6}]:UDP/500" in up.stdout, up.stdout + up.stderr
    assert f"[{EAST_NET6}==={WEST_NET6}]" in up.stdout, up.stdout
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@west'" in up.stdout
    assert poll(lambda: _ike_up(west)), west.log_text()


def test_ipv6_status_lines(two_ours: tuple[Pluto, Pluto]) -> None:
    """``ipsec status`` writes a conn over IPv6 as Libreswan does (addresses bare, no brackets)."""
    west, _ = two_ours
    status = west.ipsec("status").stdout
    assert f'"v6": {WEST_NET6}==={WEST_IP6}[@west]...{EAST_IP6}[@east]==={EAST_NET6};' in status, status


def _policies(pair: Pair, ns: str) -> str:
    return pair.exec(ns, "ip", "xfrm", "policy").stdout


def _out_policy(policies: str, src: str, dst: str) -> str:
    """The ``ip xfrm policy`` entry (selector line and its indented lines) of the outbound policy."""
    for entry in re.split(r"\n(?=src )", policies):
        if entry.startswith(f"src {src} dst {dst} \n\tdir out "):
            return entry
    raise AssertionError(f"no outbound policy {src} -> {dst} in:\n{policies}")


def _ondemand(pair: Pair, tmp_path: Path, conf: str) -> tuple[Pluto, str]:
    config, secrets = write_conf(tmp_path, conf, PSK)
    west = Pluto(pair.west, tmp_path / "west")
    west.start(config, secrets)
    return west, _policies(pair, pair.west)


@pytest.mark.parametrize(("what", "left", "right", "nets", "outer"), [
    ("6in6", WEST_IP6, EAST_IP6, (WEST_NET6, EAST_NET6), (WEST_IP6, EAST_IP6)),
    ("4in6", WEST_IP6, EAST_IP6, (WEST_NET, EAST_NET), (WEST_IP6, EAST_IP6)),
    ("6in4", WEST_IP, EAST_IP, (WEST_NET6, EAST_NET6), (WEST_IP, EAST_IP)),
])
def test_tunnel_trap_policies_take_inner_selectors_and_outer_template(
        netns_pair6: Pair, tmp_path: Path, what: str, left: str, right: str, nets: tuple[str, str],
        outer: tuple[str, str]) -> None:
    """The kernel policy's selector is of the inner family, its ESP template of the outer one."""
    west, policies = _ondemand(netns_pair6, tmp_path, conf6("auto=ondemand", left=left, right=right,
                                                            leftsubnet=nets[0], rightsubnet=nets[1], name=what))
    try:
        assert f'"{what}": 1 trap policy installed (auto=ondemand)' in west.log_text(), west.log_text()
        entry = _out_policy(policies, *nets)
        assert re.search(rf"\ttmpl src {outer[0]} dst {outer[1]}\n\t\tproto esp reqid \d+ mode tunnel$", entry), \
            policies
    finally:
        west.stop()
    assert _policies(netns_pair6, netns_pair6.west).strip() == ""


def test_transport_mode_over_ipv6_trap_policy(netns_pair6: Pair, tmp_path: Path) -> None:
    west, policies = _ondemand(netns_pair6, tmp_path, conf6("type=transport", "auto=ondemand", leftsubnet=None,
                                                            rightsubnet=None))
    try:
        entry = _out_policy(policies, f"{WEST_IP6}/128", f"{EAST_IP6}/128")
        assert re.search(r"\ttmpl src :: dst ::\n\t\tproto esp reqid \d+ mode transport$", entry), policies
    finally:
        west.stop()


def test_4in6_negotiates_ipv4_selectors_over_ipv6(netns_pair6: Pair, tmp_path: Path) -> None:
    """IKE over IPv6 carrying IPv4 traffic selectors: both ends agree on the IPv4 subnets."""
    config, secrets = write_conf(tmp_path, conf6("auto=add", leftsubnet=WEST_NET, rightsubnet=EAST_NET), PSK)
    west, east = Pluto(netns_pair6.west, tmp_path / "west"), Pluto(netns_pair6.east, tmp_path / "east")
    try:
        east.start(config, secrets)
        west.start(config, secrets)
        up = west.ipsec("up", "v6")
        assert f"sent IKE_SA_INIT request to [{EAST_IP6}]:UDP/500" in up.stdout, up.stdout + up.stderr
        assert f"[{WEST_NET}==={EAST_NET}]" in up.stdout, up.stdout
        assert "initiator established IKE SA" in up.stdout
        assert poll(lambda: _ike_up(east)), east.log_text()
    finally:
        west.stop()
        east.stop()


# ---------------------------------------------------------------- with the other implementations


@pytest.fixture
def ours_west(netns_pair6: Pair, tmp_path: Path) -> Iterator[Pluto]:
    config, secrets = write_conf(tmp_path, conf6("ike=aes_gcm256-sha2_256-dh19", "esp=aes_gcm256", "auto=add",
                                                 name="west-east"), PSK, name="ours")
    pluto = Pluto(netns_pair6.west, tmp_path / "ours")
    try:
        pluto.start(config, secrets)
        yield pluto
    finally:
        pluto.stop()


@pytest.fixture
def libreswan_east(netns_pair6: Pair, tmp_path: Path) -> Iterator[Libreswan]:
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan(netns_pair6.east, tmp_path / "libreswan")
    conf = tmp_path / "lsw.conf"
    conf.write_text(LIBRESWAN_CONF.format(name="west-east", mode="tunnel", west=WEST_IP6, east=EAST_IP6,
                                          west_net=WEST_NET6, east_net=EAST_NET6, ike="aes_gcm256-sha2_256-dh19",
                                          esp="aes_gcm256"))
    secrets = tmp_path / "lsw.secrets"
    secrets.write_text(f'@west @east : PSK "{PSK}"\n')
    try:
        peer.start(conf, secrets)
        peer.add("west-east")
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def strongswan_east(netns_pair6: Pair, tmp_path: Path) -> Iterator[Strongswan]:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Strongswan(netns_pair6.east, tmp_path / "strongswan")
    try:
        peer.start(swanctl_conf("lab", local_addrs=EAST_IP6, remote_addrs=WEST_IP6,
                                proposals="aes256gcm16-prfsha256-ecp256", local={"auth": "psk", "id": "east"},
                                remote={"auth": "psk", "id": "west"}, local_ts=EAST_NET6, remote_ts=WEST_NET6,
                                esp="aes256gcm16", psk=("east", "west", PSK)))
        yield peer
    finally:
        peer.stop()


def test_ours_initiates_to_libreswan_over_ipv6(libreswan_east: Libreswan, ours_west: Pluto) -> None:
    up = ours_west.ipsec("up", "west-east")
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in up.stdout, \
        up.stdout + up.stderr + libreswan_east.log()
    assert f"[{WEST_NET6}==={EAST_NET6}]" in up.stdout
    status = libreswan_east.whack("--status").stdout
    assert "established IKE SA" in status, status
    assert '"west-east" #1: sent IKE_SA_INIT reply' in libreswan_east.log()
    assert "responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@west'" \
        in libreswan_east.log()


def test_libreswan_initiates_to_ours_over_ipv6(libreswan_east: Libreswan, ours_west: Pluto) -> None:
    libreswan_east.whack("--name", "west-east", "--initiate", timeout=60)
    assert poll(lambda: _ike_up(ours_west)), ours_west.log_text() + libreswan_east.log()
    assert f'"west-east" #1: responder sent IKE_SA_INIT response to [{EAST_IP6}]:UDP/500' in ours_west.log_text()
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@east'" \
        in ours_west.log_text()
    assert poll(lambda: "initiator established IKE SA; authenticated peer using authby=secret and ID_FQDN "
                        "'@west'" in libreswan_east.log()), libreswan_east.log()


def test_ours_initiates_to_strongswan_over_ipv6(strongswan_east: Strongswan, ours_west: Pluto) -> None:
    up = ours_west.ipsec("up", "west-east")
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in up.stdout, \
        up.stdout + up.stderr + strongswan_east.log()
    sas = strongswan_east.swanctl("--list-sas").stdout
    assert "ESTABLISHED" in sas and f"remote 'west' @ {WEST_IP6}[500]" in sas, sas


def test_strongswan_initiates_to_ours_over_ipv6(strongswan_east: Strongswan, ours_west: Pluto) -> None:
    strongswan_east.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
    assert poll(lambda: _ike_up(ours_west)), ours_west.log_text() + strongswan_east.log()
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@east'" \
        in ours_west.log_text()
    assert f"IKE_SA lab[1] established between {EAST_IP6}[east]...{WEST_IP6}[west]" in strongswan_east.log()
