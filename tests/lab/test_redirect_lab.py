"""IKEv2 Redirect (RFC 5685) with real ESP: a Libreswan 4.10 client (``accept-redirect=yes``)
has a tunnel through our gateway 1, pings through it, is sent to our gateway 2 by
``ipsec whack --name gw --redirect-to`` on gateway 1 (an INFORMATIONAL REDIRECT), and
pings through gateway 2: the kernel's ESP SAs are then with gateway 2 only.

Three namespaces on one LAN (the client's bridge): gateway 1 (192.0.2.1), the client
(192.0.2.2, inside 203.0.113.1 on a dummy) and gateway 2 (192.0.2.3). Both gateways are
``@west`` with the same PSK and the same inside address (198.51.100.1), as two members of
one cluster in front of the same network would be.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.peers import Libreswan
from tests.lab import conns
from tests.lab.checks import esp_states
from tests.lab.ours import Ours, initialized
from tests.lab.peers import require_installed
from tests.lab.topology import EAST_IN, EAST_IP, EAST_NET, WEST_IN, WEST_IP, WEST_NET, LabPair, wait_for
from tests.netns import add_namespaces, remove_namespaces, run

pytestmark = pytest.mark.lab

GW2_IP = "192.0.2.3"
SECRETS = f'@west @east : PSK "{conns.PSK}"\n'


def _gateway(me: str) -> str:
    return f"""config setup
\tlogtime=no

conn gw
\tleft={me}
\tleftid=@west
\tleftsubnet={WEST_NET}
\tright=%any
\trightid=@east
\trightsubnet={EAST_NET}
\tauthby=secret
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=add
"""


CLIENT = f"""config setup
\tdnssec-enable=no
\tplutodebug=none

conn road
\tauthby=secret
\tikev2=yes
\tleft={EAST_IP}
\tleftid=@east
\tleftsubnet={EAST_NET}
\tleftupdown=%disabled
\tright={WEST_IP}
\trightid=@west
\trightsubnet={WEST_NET}
\taccept-redirect=yes
\tike={conns.GCM.ike}
\tesp={conns.GCM.esp}
\tauto=ignore
"""


@dataclass(frozen=True)
class RedirectLab:
    gw1: str
    client: str
    gw2: str

    def pair(self, gateway: str) -> LabPair:
        """A gateway (as west, at its own address) and the client (as east): their ping and SA helpers."""
        return LabPair(gateway, self.client, WEST_IP if gateway == self.gw1 else GW2_IP)


@pytest.fixture(scope="module")
def redirect_lab() -> Iterator[RedirectLab]:
    tag = uuid.uuid4().hex[:6]
    lab = RedirectLab(f"rd1-{tag}", f"rdc-{tag}", f"rd2-{tag}")
    try:
        add_namespaces(lab.gw1, lab.client, lab.gw2)
        run("ip", "-n", lab.client, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", lab.client, "addr", "add", f"{EAST_IP}/24", "dev", "br0")
        run("ip", "-n", lab.client, "link", "set", "br0", "up")
        for ns, addr, port in ((lab.gw1, WEST_IP, "p-gw1"), (lab.gw2, GW2_IP, "p-gw2")):
            run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", lab.client)
            run("ip", "-n", lab.client, "link", "set", port, "master", "br0")
            run("ip", "-n", lab.client, "link", "set", port, "up")
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
        routes = ((lab.client, EAST_IN, WEST_NET, WEST_IP), (lab.gw1, WEST_IN, EAST_NET, EAST_IP),
                  (lab.gw2, WEST_IN, EAST_NET, EAST_IP))
        for ns, inside, other_net, via in routes:
            run("ip", "-n", ns, "link", "add", "in0", "type", "dummy")
            run("ip", "-n", ns, "addr", "add", f"{inside}/24", "dev", "in0")
            run("ip", "-n", ns, "link", "set", "in0", "up")
            run("ip", "-n", ns, "route", "add", other_net, "via", via, "src", inside)
        yield lab
    finally:
        remove_namespaces(lab.gw1, lab.client, lab.gw2)


def _launch(daemon: Ours, conf: str) -> None:
    daemon.root.mkdir(parents=True, exist_ok=True)
    daemon.config = daemon.root / "ipsec.conf"
    daemon.config.write_text(conf)
    (daemon.root / "ipsec.secrets").write_text(SECRETS)
    (daemon.root / "ipsec.secrets").chmod(0o600)
    daemon.launch(daemon.config, daemon.root / "ipsec.secrets", "--nhelpers", "0")


def _ping_through(lab: RedirectLab, gateway: str, what: str) -> None:
    """Three pings from the client's inside to the gateways' inside address, answered, with the
    client's ESP counters to and from ``gateway`` moving by at least three each way."""
    pair = lab.pair(gateway)
    here = pair.west_ip

    def counted() -> tuple[int, int]:
        states = esp_states(pair, lab.client)
        return (sum(s.get("packets", 0) for s in states if s["dst"] == here),
                sum(s.get("packets", 0) for s in states if s["src"] == here))

    out0, in0 = counted()
    ping = pair.ping(lab.client, EAST_IN, WEST_IN, count=3)
    assert ping.received == 3, (what, ping.output)
    out1, in1 = counted()
    assert out1 - out0 >= 3 and in1 - in0 >= 3, (what, out0, in0, out1, in1)


def test_libreswan_client_redirected_to_second_gateway_pings_through_it(
        redirect_lab: RedirectLab, lab_root: Path) -> None:
    require_installed("libreswan")
    lab = redirect_lab
    gw1, gw2 = Ours(lab.gw1, lab_root / "redirect-gw1"), Ours(lab.gw2, lab_root / "redirect-gw2")
    _launch(gw1, _gateway(WEST_IP))
    _launch(gw2, _gateway(GW2_IP))
    client = Libreswan(lab.client, lab_root / "redirect-libreswan")
    with initialized(gw1), initialized(gw2):
        try:
            client.root.mkdir(parents=True, exist_ok=True)
            conf, secrets = client.root / "ipsec.conf", client.root / "ipsec.secrets"
            conf.write_text(CLIENT)
            secrets.write_text(SECRETS)
            client.start(conf, secrets)
            client.add("road")
            client.whack("--name", "road", "--initiate", timeout=120)
            wait_for(lambda: len(gw1.children("gw")) == 1, 120, "the Child SA with gateway 1")
            _ping_through(lab, lab.gw1, "through gateway 1")

            done = gw1.ipsec("whack", "--name", "gw", "--redirect-to", GW2_IP)
            assert 'redirections sent for 1 tunnels of connection "gw"' in done.stdout + done.stderr, \
                done.stdout + done.stderr
            wait_for(lambda: len(gw2.children("gw")) == 1, 120, "the Child SA with gateway 2")
            wait_for(lambda: not gw1.ike_sas("gw") and not gw1.children("gw"), 60, "gateway 1 without SAs")
            log = client.log()
            assert f'"road" #1: initiating active session redirect to new gateway (address: {GW2_IP})' in log, log
            assert f'sent IKE_SA_INIT request to {GW2_IP}:500' in log, log
            assert f"{EAST_IP}:UDP/500 was redirected from {WEST_IP}" in gw2.log_text(), gw2.log_text()
            # the client's kernel: ESP SAs with gateway 2, none left with gateway 1
            wait_for(lambda: {(s["src"], s["dst"]) for s in esp_states(lab.pair(lab.gw2), lab.client)}
                     == {(EAST_IP, GW2_IP), (GW2_IP, EAST_IP)}, 60, "the client's ESP SAs with gateway 2 only")
            assert not esp_states(lab.pair(lab.gw1), lab.gw1), run("ip", "-n", lab.gw1, "xfrm", "state").stdout
            _ping_through(lab, lab.gw2, "through gateway 2")
            status = client.whack("--status").stdout
            assert f"...{GW2_IP}<{WEST_IP}>[@west]" in status, status
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- gateway 1 ---\n{gw1.log_text()[-4000:]}\n--- gateway 2 ---\n"
                                 f"{gw2.log_text()[-4000:]}\n--- Libreswan ---\n{client.log()[-5000:]}\n"
                                 f"--- client xfrm ---\n{run('ip', '-n', lab.client, 'xfrm', 'state').stdout}"
                                 ) from None
        finally:
            client.stop()
