"""Road warriors behind one gateway of ours (issue #18): a strongSwan 5.9.8 client
(``vips = 0.0.0.0``) and a Libreswan 4.10 client (``leftmodecfgclient=yes``), each in a
namespace of its own on one LAN with east, connect to our ``right=%any`` conn at the
same time, each is leased an address from ``rightaddresspool=``, and each pings east's
inside address from its lease through real ESP while the other's tunnel is up.

The peers' daemons are told not to add the address (strongSwan
``install_virtual_ip = no``, Libreswan ``leftupdown=%disabled``): the test puts the lease
on the client's loopback, as their updown would, and pings from it. Our own daemon as a
client is a test of its own: it adds the lease to lo and routes east's subnet with it
as the source (pluto_core/leases.py), so a plain ping from it goes through the tunnel.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.peers import Libreswan, Strongswan
from tests.lab import conns
from tests.lab.checks import esp_states
from tests.lab.ours import Ours, initialized
from tests.lab.peers import require_installed
from tests.lab.topology import EAST_IN, EAST_IP, EAST_NET, LabPair, wait_for
from tests.netns import add_namespaces, remove_namespaces, run
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.lab

SWAN_IP, LSW_IP, OURS_IP = "192.0.2.11", "192.0.2.12", "192.0.2.13"
POOL = "100.64.0.10-100.64.0.20"
GATEWAY = f"""config setup
\tlogtime=no

conn rw
\tleft={EAST_IP}
\tleftid=@east
\tleftsubnet={EAST_NET}
\tright=%any
\trightaddresspool={POOL}
\tmodecfgdns=192.0.2.53
\tauthby=secret
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=add
"""
LSW_CLIENT = f"""config setup
\tdnssec-enable=no
\tplutodebug=none

conn road
\tauthby=secret
\tleft={LSW_IP}
\tleftid=@lsw
\tleftmodecfgclient=yes
\tleftupdown=%disabled
\tright={EAST_IP}
\trightid=@east
\trightsubnet={EAST_NET}
\trightmodecfgserver=yes
\tnarrowing=yes
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=ignore
"""
SWAN_CLIENT = swanctl_conf("road", local_addrs=SWAN_IP, remote_addrs=EAST_IP, proposals=conns.GCM.ike_swan,
                           local={"auth": "psk", "id": "swan"}, remote={"auth": "psk", "id": "east"},
                           local_ts="dynamic", remote_ts=EAST_NET, esp=conns.GCM.esp_swan,
                           psk=("swan", "east", conns.PSK)).replace(
    f"\t\tremote_addrs = {EAST_IP}\n", f"\t\tremote_addrs = {EAST_IP}\n\t\tvips = 0.0.0.0\n")
SECRETS = f'@east %any : PSK "{conns.PSK}"\n'


@dataclass(frozen=True)
class RwLab:
    east: str
    swan: str
    lsw: str
    ours: str

    def pair(self, client: str, client_ip: str) -> LabPair:
        """The client and east as a LabPair (its ping and SA helpers)."""
        return LabPair(client, self.east, client_ip)


@pytest.fixture(scope="module")
def rw_lab() -> Iterator[RwLab]:
    """east (br0 = 192.0.2.2/24, in0 = 203.0.113.1/24) and two clients on br0; east routes
    the pool's addresses onto the LAN (the kernel's policies then take them into ESP)."""
    tag = uuid.uuid4().hex[:6]
    lab = RwLab(f"rwe-{tag}", f"rws-{tag}", f"rwl-{tag}", f"rwo-{tag}")
    try:
        add_namespaces(lab.east, lab.swan, lab.lsw, lab.ours)
        run("ip", "-n", lab.east, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", lab.east, "addr", "add", f"{EAST_IP}/24", "dev", "br0")
        run("ip", "-n", lab.east, "link", "set", "br0", "up")
        for ns, addr, port in ((lab.swan, SWAN_IP, "p-swan"), (lab.lsw, LSW_IP, "p-lsw"),
                               (lab.ours, OURS_IP, "p-ours")):
            run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", lab.east)
            run("ip", "-n", lab.east, "link", "set", port, "master", "br0")
            run("ip", "-n", lab.east, "link", "set", port, "up")
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "route", "add", EAST_NET, "via", EAST_IP)
        run("ip", "-n", lab.east, "link", "add", "in0", "type", "dummy")
        run("ip", "-n", lab.east, "addr", "add", f"{EAST_IN}/24", "dev", "in0")
        run("ip", "-n", lab.east, "link", "set", "in0", "up")
        run("ip", "-n", lab.east, "route", "add", "100.64.0.0/24", "dev", "br0", "src", EAST_IN)
        yield lab
    finally:
        remove_namespaces(lab.east, lab.swan, lab.lsw, lab.ours)


def test_two_road_warriors_ping_through_their_leases_at_once(rw_lab: RwLab, lab_root: Path) -> None:
    require_installed("strongswan")
    require_installed("libreswan")
    gateway = Ours(rw_lab.east, lab_root / "rw-gateway")
    gateway.root.mkdir(parents=True, exist_ok=True)
    gateway.config = gateway.root / "ipsec.conf"
    gateway.config.write_text(GATEWAY)
    (gateway.root / "ipsec.secrets").write_text(SECRETS)
    (gateway.root / "ipsec.secrets").chmod(0o600)
    gateway.launch(gateway.config, gateway.root / "ipsec.secrets", "--nhelpers", "0")
    swan = Strongswan(rw_lab.swan, lab_root / "rw-strongswan")
    lsw = Libreswan(rw_lab.lsw, lab_root / "rw-libreswan")
    with initialized(gateway):
        try:
            swan.start(SWAN_CLIENT)
            (lab_root / "rw-libreswan").mkdir(parents=True, exist_ok=True)
            conf, secrets = lab_root / "rw-libreswan" / "ipsec.conf", lab_root / "rw-libreswan" / "ipsec.secrets"
            conf.write_text(LSW_CLIENT)
            secrets.write_text(f'@lsw @east : PSK "{conns.PSK}"\n')
            lsw.start(conf, secrets)
            lsw.add("road")
            swan.swanctl("--initiate", "--child", "road", "--timeout", "60", timeout=120)
            lsw.whack("--name", "road", "--initiate", timeout=120)
            wait_for(lambda: len(gateway.children("rw")) == 2, 120, "two Child SAs on the gateway")
            leases = {c["peer_id"]: c["lease"] for c in gateway.children("rw")}
            assert leases == {"@swan": ["100.64.0.10/32"], "@lsw": ["100.64.0.11/32"]} or \
                leases == {"@swan": ["100.64.0.11/32"], "@lsw": ["100.64.0.10/32"]}, leases
            traffic = gateway.ipsec("trafficstatus").stdout
            for peer_id, (lease,) in leases.items():
                assert f"id='{peer_id}', lease={lease}" in traffic, traffic
            assert '"rw"[1] ' in traffic and '"rw"[2] ' in traffic, traffic
            # each client puts its lease on lo (its updown's job) and pings east's inside from it
            for ns, peer_id in ((rw_lab.swan, "@swan"), (rw_lab.lsw, "@lsw")):
                address = leases[peer_id][0].split("/")[0]
                run("ip", "-n", ns, "addr", "add", f"{address}/32", "dev", "lo")
            for ns, ip, peer_id in ((rw_lab.swan, SWAN_IP, "@swan"), (rw_lab.lsw, LSW_IP, "@lsw")):
                pair = rw_lab.pair(ns, ip)
                address = leases[peer_id][0].split("/")[0]
                before = pair.esp_packets(ns)
                ping = pair.ping(ns, address, EAST_IN, count=3)
                assert ping.received == 3, (peer_id, ping.output)
                after = pair.esp_packets(ns)
                assert after["out"] - before["out"] >= 3 and after["in"] - before["in"] >= 3, (peer_id, after)
            # the gateway's ESP SAs: one pair per client, to each client's own address
            peers = {s["dst"] for s in esp_states(rw_lab.pair(rw_lab.swan, SWAN_IP), rw_lab.east)}
            assert {SWAN_IP, LSW_IP} <= peers, peers
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- gateway ---\n{gateway.log_text()[-4000:]}\n--- strongSwan ---\n"
                                 f"{swan.log()[-3000:]}\n--- Libreswan ---\n{lsw.log()[-3000:]}") from None
        finally:
            for peer in (swan, lsw):
                try:
                    peer.stop()
                except Exception:  # noqa: BLE001 - clean-up must not hide the test's own failure
                    pass


OURS_CLIENT = f"""config setup
\tlogtime=no

conn road
\tleft={OURS_IP}
\tleftid=@ours
\tleftmodecfgclient=yes
\tright={EAST_IP}
\trightid=@east
\trightsubnet={EAST_NET}
\tauthby=secret
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=add
"""


def _launch(daemon: Ours, conf: str, secrets: str) -> None:
    daemon.root.mkdir(parents=True, exist_ok=True)
    daemon.config = daemon.root / "ipsec.conf"
    daemon.config.write_text(conf)
    (daemon.root / "ipsec.secrets").write_text(secrets)
    (daemon.root / "ipsec.secrets").chmod(0o600)
    daemon.launch(daemon.config, daemon.root / "ipsec.secrets", "--nhelpers", "0")


def test_ours_as_road_warrior_puts_its_lease_on_lo_and_routes_through_it(rw_lab: RwLab, lab_root: Path) -> None:
    gateway = Ours(rw_lab.east, lab_root / "rw-gateway-2")
    _launch(gateway, GATEWAY, SECRETS)
    road = Ours(rw_lab.ours, lab_root / "rw-ours")
    _launch(road, OURS_CLIENT, f'@ours @east : PSK "{conns.PSK}"\n')
    with initialized(gateway), initialized(road):
        try:
            road.up("road")
            wait_for(lambda: len(road.children("road")) == 1, 120, "our road warrior's Child SA")
            (child,) = road.children("road")
            (lease,) = child["lease"]
            address = lease.split("/")[0]
            assert child["local_ts"] == [lease] and child["remote_ts"] == [EAST_NET], child
            wait_for(lambda: f"inet {address}/32" in run("ip", "-n", rw_lab.ours, "addr", "show", "lo").stdout, 30,
                     "the lease on lo")
            # the routes follow the address in the same job of the lease worker: wait for them too
            routes = wait_for(lambda: (lambda out: out if f"src {address}" in out else "")(
                run("ip", "-n", rw_lab.ours, "route", "show", EAST_NET).stdout), 30, "the route through the lease")
            assert f"src {address}" in routes, routes
            traffic = road.ipsec("trafficstatus").stdout
            assert f"lease={lease}" in traffic and '"road"' in traffic, traffic
            pair = rw_lab.pair(rw_lab.ours, OURS_IP)
            before = pair.esp_packets(rw_lab.ours)
            # no -I: the route's source is the lease
            ping = run("ip", "netns", "exec", rw_lab.ours, "busybox", "ping", "-c", "3", "-W", "3", EAST_IN,
                       check=False, timeout=60)
            assert " 0% packet loss" in ping.stdout, ping.stdout + ping.stderr
            after = pair.esp_packets(rw_lab.ours)
            assert after["out"] - before["out"] >= 3 and after["in"] - before["in"] >= 3, after
            road.down("road")
            wait_for(lambda: f"inet {address}/" not in run("ip", "-n", rw_lab.ours, "addr", "show", "lo").stdout,
                     30, "the lease gone from lo")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- gateway ---\n{gateway.log_text()[-4000:]}\n--- road ---\n"
                                 f"{road.log_text()[-4000:]}") from None
