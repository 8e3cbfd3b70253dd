"""Road warriors behind one gateway of ours (issue #18): a strongSwan 5.9.8 client
(``vips = 0.0.0.0``), a Libreswan 4.10 client (``leftmodecfgclient=yes``) and our own
daemon as a client (``leftmodecfgclient=yes``), each in a namespace of its own on one LAN
with east, connect to our one ``right=%any`` conn ``rw`` at the same time; each is leased
an address of its own from ``rightaddresspool=`` (instances ``"rw"[1..3]``), and all three
ping east's inside address from their leases through real ESP at the same time. When they
hang up, the gateway releases the three leases.

The peers' daemons are told not to add the address (strongSwan
``install_virtual_ip = no``, Libreswan ``leftupdown=%disabled``): the test puts the lease
on the client's loopback, as their updown would, and pings from it. Our own daemon adds
the lease to lo and routes east's subnet with it as the source (pluto_core/leases.py), so
a plain ping from it goes through the tunnel; both go when its tunnel does.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pluto_core.cli.ipsec import format_status, format_traffic
from tests.host.peers import Libreswan, Strongswan
from tests.lab import conns
from tests.lab.checks import esp_states, wait_no_esp
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
    """east (br0 = 192.0.2.2/24, in0 = 203.0.113.1/24) and three clients on br0; east routes
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


def _lo(ns: str) -> str:
    return run("ip", "-n", ns, "addr", "show", "lo").stdout


def _routes(ns: str) -> str:
    return run("ip", "-n", ns, "route", "show", EAST_NET).stdout


def _gateway_packets(lab: RwLab) -> dict[tuple[str, str], int]:
    """The gateway's ESP packet counters by (src, dst) of their SAs."""
    counts: dict[tuple[str, str], int] = {}
    for sa in esp_states(lab.pair(lab.swan, SWAN_IP), lab.east):
        counts[(sa["src"], sa["dst"])] = counts.get((sa["src"], sa["dst"]), 0) + sa.get("packets", 0)
    return counts


def test_three_road_warriors_ping_through_their_leases_at_once(rw_lab: RwLab, lab_root: Path) -> None:
    require_installed("strongswan")
    require_installed("libreswan")
    gateway = Ours(rw_lab.east, lab_root / "rw-gateway")
    _launch(gateway, GATEWAY, SECRETS)
    road = Ours(rw_lab.ours, lab_root / "rw-ours")  # both start up side by side
    _launch(road, OURS_CLIENT, f'@ours @east : PSK "{conns.PSK}"\n')
    swan = Strongswan(rw_lab.swan, lab_root / "rw-strongswan")
    lsw = Libreswan(rw_lab.lsw, lab_root / "rw-libreswan")
    clients = {"@swan": (rw_lab.swan, SWAN_IP), "@lsw": (rw_lab.lsw, LSW_IP), "@ours": (rw_lab.ours, OURS_IP)}
    try:
        # the peers' daemons start while ours do: our two Python start-ups are the test's longest wait
        swan.start(SWAN_CLIENT)
        lsw.root.mkdir(parents=True, exist_ok=True)
        conf, secrets = lsw.root / "ipsec.conf", lsw.root / "ipsec.secrets"
        conf.write_text(LSW_CLIENT)
        secrets.write_text(f'@lsw @east : PSK "{conns.PSK}"\n')
        lsw.start(conf, secrets)
        lsw.add("road")
        with initialized(gateway), initialized(road):
            try:
                # the three initiate at once
                with ThreadPoolExecutor(3) as ex:
                    ups = [ex.submit(swan.swanctl, "--initiate", "--child", "road", "--timeout", "90", timeout=150),
                           ex.submit(lsw.whack, "--name", "road", "--initiate", timeout=150),
                           ex.submit(road.up, "road")]
                    said = [repr(up.exception() or up.result())[:400] for up in ups]
                wait_for(lambda: len(gateway.children("rw")) == 3, 120, f"three Child SAs on the gateway ({said})")
                status = gateway.call("status")
                leases = {c["peer_id"]: c["lease"] for c in status["children"]}
                assert set(leases) == set(clients), leases
                assert sorted(lease for (lease,) in leases.values()) == \
                    ["100.64.0.10/32", "100.64.0.11/32", "100.64.0.12/32"], leases  # a distinct one each
                # one instance per client: "rw"[1..3], each with its peer's ID and lease
                instances = {c["label"]: c for c in status["conns"] if c.get("instance")}
                assert sorted(instances) == ['"rw"[1]', '"rw"[2]', '"rw"[3]'], status["conns"]
                assert {c["remote_id"]: [f"{a}/32" for a in c["lease"]] for c in instances.values()} == leases, \
                    instances
                with ThreadPoolExecutor(2) as ex:  # the commands themselves, side by side (a Python start-up each)
                    text, traffic = (r.stdout for r in ex.map(gateway.ipsec, ("status", "trafficstatus")))
                for label, inst in instances.items():
                    peer_id, (address,) = inst["remote_id"], inst["lease"]
                    ip = clients[peer_id][1]
                    (line,) = [li for li in text.splitlines() if li.startswith(f"{label}: ")] or [text]
                    assert f"...{ip}[{peer_id}]===" in line and f"their_ip={address};" in line, text
                    assert re.search(rf'^#\d+: {re.escape(label)} {ip}, type=ESP, .*'
                                     rf"id='{peer_id}', lease={address}/32$", traffic, re.M), traffic
                # the peers' daemons leave the lease to their updown: put on lo here. Ours adds it to lo
                # itself and routes east's subnet with it as the source (pluto_core/leases.py).
                for peer_id in ("@swan", "@lsw"):
                    run("ip", "-n", clients[peer_id][0], "addr", "add", leases[peer_id][0], "dev", "lo")
                ours = leases["@ours"][0].split("/")[0]
                (child,) = road.children("road")
                assert child["lease"] == [leases["@ours"][0]], child
                assert child["local_ts"] == child["lease"] and child["remote_ts"] == [EAST_NET], child
                wait_for(lambda: f"inet {ours}/32" in _lo(rw_lab.ours), 30, "our lease on lo")
                # the routes follow the address in the same job of the lease worker: wait for them too
                wait_for(lambda: f"src {ours}" in _routes(rw_lab.ours), 30, "the route through our lease")
                road_traffic = format_traffic(road.children())  # what `ipsec trafficstatus` prints
                assert f"lease={leases['@ours'][0]}" in road_traffic and '"road"' in road_traffic, road_traffic
                # the gateway's ESP SAs: an inbound and an outbound one per client
                states = Counter((s["src"], s["dst"]) for s in esp_states(rw_lab.pair(rw_lab.swan, SWAN_IP),
                                                                           rw_lab.east))
                assert states == Counter({**{(ip, EAST_IP): 1 for _, ip in clients.values()},
                                          **{(EAST_IP, ip): 1 for _, ip in clients.values()}}), states

                def ping(peer_id: str) -> str:
                    ns, ip = clients[peer_id]
                    if peer_id == "@ours":  # no -I: the route's source is the lease
                        done = run("ip", "netns", "exec", ns, "busybox", "ping", "-c", "3", "-W", "3", EAST_IN,
                                   check=False, timeout=60)
                        return done.stdout + done.stderr
                    return rw_lab.pair(ns, ip).ping(ns, leases[peer_id][0].split("/")[0], EAST_IN, count=3).output

                before = {p: rw_lab.pair(ns, ip).esp_packets(ns) for p, (ns, ip) in clients.items()}
                gw_before = _gateway_packets(rw_lab)
                with ThreadPoolExecutor(3) as ex:  # all three ping at the same time
                    pings = dict(zip(clients, ex.map(ping, clients), strict=True))
                for peer_id, output in pings.items():
                    assert "3 packets transmitted, 3 packets received" in output, (peer_id, output)
                gw_after = _gateway_packets(rw_lab)
                for peer_id, (ns, ip) in clients.items():
                    after = rw_lab.pair(ns, ip).esp_packets(ns)
                    assert after["out"] - before[peer_id]["out"] >= 3 and after["in"] - before[peer_id]["in"] >= 3, \
                        (peer_id, before[peer_id], after)
                    for way in ((ip, EAST_IP), (EAST_IP, ip)):
                        assert gw_after[way] - gw_before.get(way, 0) >= 3, (peer_id, way, gw_before, gw_after)
                # each client hangs up: our own takes its lease off lo and its route; the gateway releases all three
                swan.swanctl("--terminate", "--ike", "road", "--timeout", "60", timeout=90)
                lsw.whack("--name", "road", "--terminate", timeout=90)
                road.down("road")
                wait_for(lambda: f"inet {ours}/" not in _lo(rw_lab.ours), 30, "our lease gone from lo")
                wait_for(lambda: f"src {ours}" not in _routes(rw_lab.ours), 30, "the route through our lease gone")
                wait_for(lambda: not gateway.call("status")["ike_sas"], 60, "the gateway's IKE SAs gone")
                status = gateway.call("status")
                assert not status["children"] and not [c for c in status["conns"] if c.get("instance")], status
                text = format_status(status)  # what `ipsec status` prints
                assert '"rw"[' not in text and "their_ip=100.64" not in text and "lease=" not in text, text
                assert format_traffic(status["children"]) == ""
                log = gateway.log_text()
                for peer_id, (lease,) in leases.items():
                    assert re.search(rf"released lease {re.escape(lease.split('/')[0])} of [^']*'{peer_id}'", log), log
                wait_no_esp(rw_lab.pair(rw_lab.swan, SWAN_IP), rw_lab.east)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- gateway ---\n{gateway.log_text()[-4000:]}\n--- ours ---\n"
                                     f"{road.log_text()[-3000:]}\n--- strongSwan ---\n{swan.log()[-3000:]}\n"
                                     f"--- Libreswan ---\n{lsw.log()[-3000:]}") from None
    finally:
        for peer in (swan, lsw, gateway, road):
            try:
                peer.stop()
            except Exception:  # noqa: BLE001 - clean-up must not hide the test's own failure
                pass
