"""Host tier: IKEv2 Redirect (RFC 5685) through our real daemon, with Libreswan 4.10 and
strongSwan 5.9.8 as the other end.

Three hosts on one LAN: gateway 1 (west, 192.0.2.1), the client (east, 192.0.2.2, whose
``br0`` bridges the LAN) and gateway 2 (a third namespace, 192.0.2.3). Both gateways are
``@west`` with the same PSK, as the members of one cluster would be. Each test has a client
sent from gateway 1 to gateway 2 and checks that the client's IKE SA came up with gateway 2,
from the client's own log or status and from gateway 2's status.

- our gateway with ``global-redirect=yes`` redirects a Libreswan client at IKE_SA_INIT;
- our conn ``send-redirect=yes`` redirects a Libreswan client in IKE_AUTH;
- ``ipsec whack --name X --redirect-to ADDR`` redirects an established strongSwan client
  (charon follows redirects by default, ``charon.follow_redirects``) and an established
  Libreswan client;
- a Libreswan gateway (``global-redirect=yes`` in ``config setup``, and ``ipsec whack
  --redirect-to`` of an established IKE SA) and a strongSwan gateway (``swanctl --redirect``
  of an established IKE SA) redirect our client (``accept-redirect=yes``);
- ``ipsec whack --redirect-to`` with a host name: the REDIRECT carries the name (an FQDN GW
  Identity) and our client resolves it from its namespace's ``/etc/netns/NS/hosts``.

strongSwan 5.9.8 as a gateway is tested only for the redirect of an established IKE SA:
at IKE_SA_INIT and in IKE_AUTH charon redirects only when a ``redirect_provider_t``
registered by a plugin asks it to, and none of the plugins it ships is one (no
configuration makes it send those two).

This kernel has XFRM but no ESP: every Child SA install fails. Libreswan 4.10 as initiator
then deletes its IKE SA, so where a client must stay established for an active-session
redirect the gateways refuse its Child SA (TS_UNACCEPTABLE), which every client survives
with its IKE SA up. The IKE SAs are what is checked here; the lab proves the tunnel through
the second gateway (tests/lab/test_redirect_lab.py).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.daemons import Pluto, write_conf
from tests.host.peers import PSK, Libreswan, Strongswan, libreswan_available, strongswan_available
from tests.host.test_peer_names_host import HostsFile
from tests.netns import EAST_IP, WEST_IP, Pair, add_namespaces, poll, remove_namespaces, run
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.host

GW2_IP = "192.0.2.3"
GW2_NAME = "gw2.pluto.test"
IKE, ESP = "aes_gcm256-sha2_256-dh19", "aes_gcm256"


@dataclass(frozen=True)
class Lan:
    gw1: str  # west: 192.0.2.1
    client: str  # east: 192.0.2.2 on br0
    gw2: str  # 192.0.2.3


@pytest.fixture
def lan(netns_pair: Pair) -> Iterator[Lan]:
    """netns_pair (west, east) plus a third namespace for gateway 2, all on east's bridge."""
    gw2 = f"pg-{uuid.uuid4().hex[:6]}"
    east = netns_pair.east
    try:
        add_namespaces(gw2)
        run("ip", "-n", east, "addr", "flush", "dev", "ext0")
        run("ip", "-n", east, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", east, "link", "set", "ext0", "master", "br0")
        run("ip", "link", "add", "ext0", "netns", gw2, "type", "veth", "peer", "name", "ext1", "netns", east)
        run("ip", "-n", east, "link", "set", "ext1", "master", "br0")
        run("ip", "-n", east, "link", "set", "ext1", "up")
        run("ip", "-n", east, "addr", "add", f"{EAST_IP}/24", "dev", "br0")
        run("ip", "-n", east, "link", "set", "br0", "up")
        run("ip", "-n", gw2, "addr", "add", f"{GW2_IP}/24", "dev", "ext0")
        run("ip", "-n", gw2, "link", "set", "ext0", "up")
        yield Lan(netns_pair.west, east, gw2)
    finally:
        remove_namespaces(gw2)


def _gateway_conf(me: str, setup: tuple[str, ...] = (), keywords: tuple[str, ...] = ()) -> str:
    """Our gateway ``@west`` at ``me`` for the client ``@east`` (PSK)."""
    head = "".join(f"\t{line}\n" for line in ("logtime=no", *setup))
    body = "".join(f"\t{line}\n" for line in (
        f"left={me}", "leftid=@west", "leftsubnet=198.51.100.0/24", "right=%any", "rightid=@east",
        "rightsubnet=203.0.113.0/24",
        "authby=secret", f"ike={IKE}", f"esp={ESP}", *keywords, "auto=add"))
    return f"config setup\n{head}\nconn gw\n{body}"


def _ours(ns: str, root: Path, conf: str, stop_all: list[Pluto]) -> Pluto:
    root.mkdir(parents=True, exist_ok=True)
    config, secrets = write_conf(root, conf, PSK, name="ours")
    pluto = Pluto(ns, root)
    stop_all.append(pluto)
    pluto.start(config, secrets)
    return pluto


LIBRESWAN_CLIENT = f"""config setup
\tdnssec-enable=no
\tplutodebug=none

conn road
\tauthby=secret
\tikev2=yes
\tleft={EAST_IP}
\tleftid=@east
\tleftsubnet=203.0.113.0/24
\tleftupdown=%disabled
\tright={WEST_IP}
\trightid=@west
\trightsubnet=198.51.100.0/24
\taccept-redirect=yes
\tike={IKE}
\tesp={ESP}
\tauto=ignore
"""


def _libreswan(ns: str, root: Path, conf: str, name: str) -> Libreswan:
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (bash scripts/lab.sh --setup-only)")
    peer = Libreswan(ns, root)
    config = root.parent / f"{root.name}.conf"
    config.write_text(conf)
    secrets = root.parent / f"{root.name}.secrets"
    secrets.write_text(f'@east @west : PSK "{PSK}"\n')
    peer.start(config, secrets)
    peer.add(name)
    return peer


@pytest.fixture
def peers() -> Iterator[list[Libreswan | Strongswan]]:
    running: list[Libreswan | Strongswan] = []
    yield running
    for peer in running:
        peer.stop()


def _established_with(pluto: Pluto, address: str) -> list[dict]:
    return [sa for sa in pluto.status()["ike_sas"] if sa["established"] and sa["remote"][0] == address]


def _diag(*daemons: Pluto | Libreswan | Strongswan) -> str:
    return "\n=====\n".join(d.log_text() if isinstance(d, Pluto) else d.log() for d in daemons)


def test_global_redirect_sends_libreswan_client_to_second_gateway(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], peers: list[Libreswan | Strongswan]) -> None:
    gw1 = _ours(lan.gw1, tmp_path / "gw1", _gateway_conf(WEST_IP, setup=("global-redirect=yes",
                                                                       f"global-redirect-to={GW2_IP}")), stop_all)
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _gateway_conf(GW2_IP), stop_all)
    client = _libreswan(lan.client, tmp_path / "lsw", LIBRESWAN_CLIENT, "road")
    peers.append(client)
    client.whack("--name", "road", "--initiate", "--asynchronous")
    # Libreswan's own account: gateway 1 answered with a REDIRECT, #2 went to gateway 2 and came up there
    assert poll(lambda: "initiator established IKE SA" in client.log()), _diag(client, gw1, gw2)
    log = client.log()
    assert f'"road" #1: sent IKE_SA_INIT request to {WEST_IP}:500' in log, log
    assert f'"road" #1: initiating IKE_SA_INIT redirect to new gateway (address: {GW2_IP})' in log, log
    assert f'"road" #2: sent IKE_SA_INIT request to {GW2_IP}:500' in log, log
    assert "\"road\" #2: initiator established IKE SA; authenticated peer using authby=secret and ID_FQDN '@west'" \
        in log, log
    # gateway 1 kept nothing; gateway 2 knows where the client came from, and has its IKE SA
    assert f"IKE_SA_INIT request from {EAST_IP}:UDP/500: redirecting to {GW2_IP} (global-redirect=yes)" \
        in gw1.log_text(), gw1.log_text()
    assert gw1.status()["ike_sas"] == [], gw1.status()
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert f"\"gw\"[1] {EAST_IP} #1: responder established IKE SA; authenticated peer using authby=secret and FQDN " \
        "'@east'" in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()


def test_send_redirect_in_ike_auth_sends_libreswan_client_to_second_gateway(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], peers: list[Libreswan | Strongswan]) -> None:
    gw1 = _ours(lan.gw1, tmp_path / "gw1", _gateway_conf(WEST_IP, keywords=("send-redirect=yes",
                                                                          f"redirect-to={GW2_IP}")), stop_all)
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _gateway_conf(GW2_IP), stop_all)
    client = _libreswan(lan.client, tmp_path / "lsw", LIBRESWAN_CLIENT, "road")
    peers.append(client)
    client.whack("--name", "road", "--initiate", "--asynchronous")
    assert poll(lambda: f"sent IKE_SA_INIT request to {GW2_IP}" in client.log()
                and "initiator established IKE SA" in client.log()), _diag(client, gw1, gw2)
    log = client.log()
    # the IKE SA with gateway 1 came up, carried the REDIRECT, and was deleted by the client
    assert "\"road\" #1: initiator established IKE SA; authenticated peer using authby=secret and ID_FQDN '@west'" \
        in log, log
    assert f'"road" #1: initiating IKE_AUTH redirect to new gateway (address: {GW2_IP})' in log, log
    assert f'"road" #3: sent IKE_SA_INIT request to {GW2_IP}:500' in log, log
    assert "\"road\" #3: initiator established IKE SA; authenticated peer using authby=secret and ID_FQDN '@west'" \
        in log, log
    assert f'"gw"[1] {EAST_IP} #1: redirecting {EAST_IP}:UDP/500 to {GW2_IP} in the IKE_AUTH response ' \
        "(send-redirect)" in gw1.log_text(), gw1.log_text()
    assert poll(lambda: f'"gw"[1] {EAST_IP} #1: received Delete SA payload: deleting IKE SA' in gw1.log_text()), \
        gw1.log_text()
    assert poll(lambda: gw1.status()["ike_sas"] == []), gw1.status()
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()


# Libreswan 4.10 as initiator deletes its IKE SA when its own Child SA install fails on this
# ESP-less kernel; when the responder refuses the Child SA (TS_UNACCEPTABLE: the gateway's
# implied rightsubnet= is the client's address) it keeps it. An established IKE SA is what
# an active-session redirect needs, so these gateways refuse the Child SA.
def _refusing_gateway_conf(me: str) -> str:
    return _gateway_conf(me).replace("\trightsubnet=203.0.113.0/24\n", "")


def test_whack_redirect_to_moves_established_libreswan_client(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], peers: list[Libreswan | Strongswan]) -> None:
    gw1 = _ours(lan.gw1, tmp_path / "gw1", _refusing_gateway_conf(WEST_IP), stop_all)
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _refusing_gateway_conf(GW2_IP), stop_all)
    client = _libreswan(lan.client, tmp_path / "lsw", LIBRESWAN_CLIENT, "road")
    peers.append(client)
    client.whack("--name", "road", "--initiate", "--asynchronous")
    assert poll(lambda: _established_with(gw1, EAST_IP)), _diag(client, gw1, gw2)
    assert poll(lambda: "IKE_AUTH response rejected Child SA with TS_UNACCEPTABLE" in client.log()), client.log()
    done = gw1.ipsec("whack", "--name", "gw", "--redirect-to", GW2_IP)
    assert done.returncode == 0 and 'redirections sent for 1 tunnels of connection "gw"' in done.stdout + done.stderr, \
        done.stdout + done.stderr
    assert f'"gw"[1] {EAST_IP} #1: redirecting to: {GW2_IP}' in gw1.log_text(), gw1.log_text()
    assert poll(lambda: "\"road\" #3: initiator established IKE SA" in client.log()), _diag(client, gw1, gw2)
    log = client.log()
    assert f'"road" #1: initiating active session redirect to new gateway (address: {GW2_IP})' in log, log
    assert f'"road" #3: sent IKE_SA_INIT request to {GW2_IP}:500' in log, log
    # Libreswan's status: one IKE SA, #3, with gateway 2 in place of gateway 1
    status = client.whack("--status").stdout
    assert f"...{GW2_IP}<{WEST_IP}>[@west]" in status, status
    assert '#3: "road":500 STATE_V2_ESTABLISHED_IKE_SA' in status and "#1: " not in status, status
    assert poll(lambda: gw1.status()["ike_sas"] == []), gw1.status()
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()


STRONGSWAN_CLIENT = swanctl_conf("road", local_addrs=EAST_IP, remote_addrs=WEST_IP,
                                 proposals="aes256gcm16-prfsha256-ecp256", local={"auth": "psk", "id": "east"},
                                 remote={"auth": "psk", "id": "west"}, local_ts="203.0.113.0/24",
                                 remote_ts="198.51.100.0/24", esp="aes256gcm16", psk=("east", "west", PSK))


def test_whack_redirect_to_moves_established_strongswan_client(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], peers: list[Libreswan | Strongswan]) -> None:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (bash scripts/lab.sh --setup-only)")
    gw1 = _ours(lan.gw1, tmp_path / "gw1", _refusing_gateway_conf(WEST_IP), stop_all)
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _refusing_gateway_conf(GW2_IP), stop_all)
    client = Strongswan(lan.client, tmp_path / "strongswan")
    peers.append(client)
    client.start(STRONGSWAN_CLIENT)
    client.swanctl("--initiate", "--child", "road", "--timeout", "30", timeout=60)
    assert poll(lambda: _established_with(gw1, EAST_IP)), _diag(client, gw1, gw2)
    done = gw1.ipsec("whack", "--name", "gw", "--redirect-to", GW2_IP)
    assert 'redirections sent for 1 tunnels of connection "gw"' in done.stdout + done.stderr, done.stdout + done.stderr
    # charon's own account: the REDIRECT followed, a new IKE SA with gateway 2 (announcing where it
    # came from), the old one deleted
    assert poll(lambda: f"IKE_SA road[2] established between {EAST_IP}[east]...{GW2_IP}[west]" in client.log()), \
        _diag(client, gw1, gw2)
    log = client.log()
    assert "parsed INFORMATIONAL request 0 [ N(REDIR) ]" in log and f"redirected to {GW2_IP}" in log, log
    assert "N(REDIR_FROM) ]" in log, log
    assert poll(lambda: "IKE_SA road[1] state change: DELETING => DESTROYING" in client.log()), client.log()
    sas = client.swanctl("--list-sas").stdout
    assert "ESTABLISHED" in sas and f"remote 'west' @ {GW2_IP}" in sas and WEST_IP not in sas, sas
    assert poll(lambda: gw1.status()["ike_sas"] == []), gw1.status()
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()


# ---------------------------------------------------------------- ours as the client

OUR_CLIENT = f"""config setup
\tlogtime=no

conn road
\tleft={EAST_IP}
\tleftid=@east
\tleftsubnet=203.0.113.0/24
\tright={WEST_IP}
\trightid=@west
\trightsubnet=198.51.100.0/24
\tauthby=secret
\taccept-redirect=yes
\tike={IKE}
\tesp={ESP}
\tauto=add
"""

LIBRESWAN_GATEWAY = f"""config setup
\tdnssec-enable=no
\tplutodebug=none
{{setup}}
conn gw
\tauthby=secret
\tikev2=yes
\tleft={WEST_IP}
\tleftid=@west
\tleftsubnet=198.51.100.0/24
\tleftupdown=%disabled
\tright={EAST_IP}
\trightid=@east
\trightupdown=%disabled
\tike={IKE}
\tesp={ESP}
\tauto=add
"""


def test_libreswan_global_redirect_sends_our_client_to_second_gateway(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], peers: list[Libreswan | Strongswan]) -> None:
    gw1 = _libreswan(lan.gw1, tmp_path / "lsw", LIBRESWAN_GATEWAY.format(
        setup=f"\tglobal-redirect=yes\n\tglobal-redirect-to={GW2_IP}\n"), "gw")
    peers.append(gw1)
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _gateway_conf(GW2_IP), stop_all)
    client = _ours(lan.client, tmp_path / "client", OUR_CLIENT, stop_all)
    up = client.ipsec("up", "road")
    # our client's account (the Child SA fails on this ESP-less kernel: exit status 1)
    assert "initiator established IKE SA" in up.stdout, up.stdout + up.stderr + _diag(client, gw1, gw2)
    log = client.log_text()
    assert f'"road" #1: sent IKE_SA_INIT request to {WEST_IP}:UDP/500' in log, log
    assert f'"road" #1: initiating IKE_SA_INIT redirect to new gateway (address: {GW2_IP})' in log, log
    assert f'"road" #2: sent IKE_SA_INIT request to {GW2_IP}:UDP/500' in log, log
    assert "\"road\" #2: initiator established IKE SA; authenticated peer using authby=secret and FQDN '@west'" \
        in log, log
    assert _established_with(client, GW2_IP) and not _established_with(client, WEST_IP), client.status()
    # Libreswan's account: it answered our IKE_SA_INIT with a REDIRECT and kept nothing
    assert f"packet from {EAST_IP}:500: responding to IKE_SA_INIT (34) message (Message ID 0) with unencrypted " \
        "notification REDIRECT" in gw1.log(), gw1.log()
    assert "established" not in gw1.whack("--status").stdout
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()


def test_libreswan_whack_redirect_to_moves_our_established_client(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], peers: list[Libreswan | Strongswan]) -> None:
    # no rightsubnet=: Libreswan refuses our Child SA (TS_UNACCEPTABLE) and both keep the IKE SA
    gw1 = _libreswan(lan.gw1, tmp_path / "lsw", LIBRESWAN_GATEWAY.format(setup=""), "gw")
    peers.append(gw1)
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _gateway_conf(GW2_IP), stop_all)
    client = _ours(lan.client, tmp_path / "client", OUR_CLIENT, stop_all)
    up = client.ipsec("up", "road")
    assert "initiator established IKE SA" in up.stdout, up.stdout + up.stderr + _diag(client, gw1, gw2)
    assert _established_with(client, WEST_IP), client.status()
    done = gw1.whack("--name", "gw", "--redirect-to", GW2_IP)
    assert done.returncode == 0, done.stdout + done.stderr
    assert poll(lambda: _established_with(client, GW2_IP)), _diag(client, gw1, gw2)
    # Libreswan's account of its side, then ours: the REDIRECT followed, the old IKE SA deleted
    assert '"gw" #1: redirecting to: 192.0.2.3' in gw1.log(), gw1.log()
    assert 'redirections sent for 1 tunnels of connection "gw"' in gw1.log(), gw1.log()
    log = client.log_text()
    assert '"road" #1: deleting IKE SA: redirected by the peer' in log, log
    assert f'"road" #1: initiating active session redirect to new gateway (address: {GW2_IP})' in log, log
    assert f'"road" #3: sent IKE_SA_INIT request to {GW2_IP}:UDP/500' in log, log
    assert not _established_with(client, WEST_IP), client.status()
    assert poll(lambda: "established" not in gw1.whack("--status").stdout), gw1.whack("--status").stdout
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()


def test_strongswan_gateway_redirects_our_client_with_swanctl(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], peers: list[Libreswan | Strongswan]) -> None:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (bash scripts/lab.sh --setup-only)")
    gw1 = Strongswan(lan.gw1, tmp_path / "strongswan")
    peers.append(gw1)
    gw1.start(swanctl_conf("gw", local_addrs=WEST_IP, remote_addrs=EAST_IP, proposals="aes256gcm16-prfsha256-ecp256",
                           local={"auth": "psk", "id": "west"}, remote={"auth": "psk", "id": "east"},
                           local_ts="198.51.100.0/24", remote_ts="203.0.113.0/24", esp="aes256gcm16",
                           psk=("west", "east", PSK)))
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _gateway_conf(GW2_IP), stop_all)
    client = _ours(lan.client, tmp_path / "client", OUR_CLIENT, stop_all)
    up = client.ipsec("up", "road")
    assert "initiator established IKE SA" in up.stdout, up.stdout + up.stderr + _diag(client, gw1, gw2)
    assert _established_with(client, WEST_IP), client.status()
    done = gw1.swanctl("--redirect", "--ike", "gw", "--gateway", GW2_IP)
    assert poll(lambda: _established_with(client, GW2_IP)), done.stdout + done.stderr + _diag(client, gw1, gw2)
    log = gw1.log()
    assert f"vici redirect IKE_SA 'gw' to '{GW2_IP}'" in log and "generating INFORMATIONAL request 0 [ N(REDIR) ]" \
        in log, log
    assert poll(lambda: "received DELETE for IKE_SA gw[1]" in gw1.log()), gw1.log()
    log = client.log_text()
    assert f'"road" #1: initiating active session redirect to new gateway (address: {GW2_IP})' in log, log
    assert not _established_with(client, WEST_IP), client.status()
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()


@pytest.fixture
def client_hosts(lan: Lan) -> Iterator[HostsFile]:
    """The client namespace's /etc/netns/NS/hosts (before its daemon starts), removed afterwards."""
    hosts = HostsFile(lan.client)
    had_parent = hosts.dir.parent.exists()
    hosts.write(f"{GW2_IP} {GW2_NAME}\n")
    try:
        yield hosts
    finally:
        shutil.rmtree(hosts.dir, ignore_errors=True)
        if not had_parent:
            try:
                hosts.dir.parent.rmdir()  # only when empty: another test's entries stay
            except OSError:
                pass


def test_whack_redirect_to_host_name_resolved_by_our_client(
        lan: Lan, tmp_path: Path, stop_all: list[Pluto], client_hosts: HostsFile) -> None:
    gw1 = _ours(lan.gw1, tmp_path / "gw1", _refusing_gateway_conf(WEST_IP), stop_all)
    gw2 = _ours(lan.gw2, tmp_path / "gw2", _gateway_conf(GW2_IP), stop_all)
    client = _ours(lan.client, tmp_path / "client", OUR_CLIENT, stop_all)
    up = client.ipsec("up", "road")
    assert "initiator established IKE SA" in up.stdout, up.stdout + up.stderr + _diag(client, gw1, gw2)
    done = gw1.ipsec("whack", "--name", "gw", "--redirect-to", GW2_NAME)
    assert 'redirections sent for 1 tunnels of connection "gw"' in done.stdout + done.stderr, done.stdout + done.stderr
    assert poll(lambda: _established_with(client, GW2_IP)), _diag(client, gw1, gw2)
    # the REDIRECT carried the name (GW Identity Type FQDN); our client resolved it in its namespace
    assert f'"gw"[1] {EAST_IP} #1: redirecting to: {GW2_NAME}' in gw1.log_text(), gw1.log_text()
    log = client.log_text()
    assert f'"road" #1: active session redirect to new gateway {GW2_NAME}: resolving its address' in log, log
    assert f'"road": initiating redirect to new gateway (address: {GW2_IP})' in log, log
    assert f'"road" #3: sent IKE_SA_INIT request to {GW2_IP}:UDP/500' in log, log
    assert not _established_with(client, WEST_IP), client.status()
    assert f'"gw"[1] {EAST_IP} #1: {EAST_IP}:UDP/500 was redirected from {WEST_IP}' in gw2.log_text(), gw2.log_text()
    assert _established_with(gw2, EAST_IP), gw2.status()
