"""Host tier: our daemon as a road-warrior server (``right=%any``, ``rightaddresspool=``)
against strongSwan 5.9.8 (``vips = 0.0.0.0``) and Libreswan 4.10 (``leftmodecfgclient=yes``)
clients: each gets a lease in the Configuration payload, says so in its own words, and our
``ipsec status``/``trafficstatus`` name the instance and the lease as Libreswan does.

This kernel has no ESP: the Child SA install fails on both ends after the IKE_AUTH exchange
that carried the lease (the lab proves the tunnel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.host.daemons import Pluto, write_conf
from tests.host.peers import PSK, Libreswan, Strongswan, libreswan_available, strongswan_available
from tests.netns import EAST_IP, WEST_IP, Pair, poll
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.host

SERVER = f"""config setup
\tlogtime=no

conn rw
\tleft={WEST_IP}
\tleftid=@west
\tleftsubnet=0.0.0.0/0
\tright=%any
\trightaddresspool=10.9.0.10-10.9.0.20
\tmodecfgdns=192.0.2.53
\tmodecfgdomains=example.org
\tauthby=secret
\tike=aes_gcm256-sha2_256-dh19
\tesp=aes_gcm256
\tauto=add
"""


def _server(netns_pair: Pair, tmp_path: Path) -> Pluto:
    config, secrets = write_conf(tmp_path, SERVER, PSK, name="rw")
    pluto = Pluto(netns_pair.west, tmp_path / "ours")
    pluto.start(config, secrets)
    return pluto


def _our_ike_up(pluto: Pluto) -> bool:
    return any(sa["established"] for sa in pluto.status()["ike_sas"])


def test_strongswan_client_with_vips_gets_a_lease_from_our_pool(netns_pair: Pair, tmp_path: Path) -> None:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    conf = swanctl_conf("rw", local_addrs=EAST_IP, remote_addrs=WEST_IP, proposals="aes256gcm16-prfsha256-ecp256",
                        local={"auth": "psk", "id": "east"}, remote={"auth": "psk", "id": "west"},
                        local_ts="dynamic", remote_ts="0.0.0.0/0", esp="aes256gcm16", psk=("east", "west", PSK))
    conf = conf.replace(f"\t\tremote_addrs = {WEST_IP}\n", f"\t\tremote_addrs = {WEST_IP}\n\t\tvips = 0.0.0.0\n")
    peer = Strongswan(netns_pair.east, tmp_path / "strongswan")
    ours = None
    try:
        peer.start(conf)
        ours = _server(netns_pair, tmp_path)
        peer.swanctl("--initiate", "--child", "rw", "--timeout", "30", timeout=60)
        assert poll(lambda: _our_ike_up(ours)), ours.log_text() + peer.log()
        log = ours.log_text()
        assert f'"rw"[1] {EAST_IP} #1: responder established IKE SA' in log, log
        assert f"\"rw\"[1] {EAST_IP} #1: leased 10.9.0.10 to FQDN '@east'" in log, log
        # charon took the address, and the DNS server, from our CFG_REPLY
        assert poll(lambda: "installing new virtual IP 10.9.0.10" in peer.log()
                    or "received virtual IP 10.9.0.10" in peer.log()
                    or "processing INTERNAL_IP4_ADDRESS attribute" in peer.log()), peer.log()
        sas = peer.swanctl("--list-sas").stdout
        assert "10.9.0.10" in sas, sas + peer.log()
        status = ours.ipsec("status").stdout
        assert f'"rw"[1]: 0.0.0.0/0==={WEST_IP}[@west]...{EAST_IP}[@east]===10.9.0.10/32;' in status, status
        assert f'#1: "rw"[1] {EAST_IP}:' in status, status
    finally:
        if ours is not None:
            ours.stop()
        peer.stop()


LIBRESWAN_CLIENT = f"""config setup
\tdnssec-enable=no
\tplutodebug=none

conn road
\tauthby=secret
\tikev2=yes
\tleft={EAST_IP}
\tleftid=@east
\tleftmodecfgclient=yes
\tleftupdown=%disabled
\tright={WEST_IP}
\trightid=@west
\trightsubnet=0.0.0.0/0
\trightmodecfgserver=yes
\tnarrowing=yes
\tike=aes_gcm256-sha2_256-dh19
\tesp=aes_gcm256
\tauto=ignore
"""


def test_libreswan_modecfg_client_gets_a_lease_from_our_pool(netns_pair: Pair, tmp_path: Path) -> None:
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan(netns_pair.east, tmp_path / "libreswan")
    ours = None
    try:
        conf = tmp_path / "road.conf"
        conf.write_text(LIBRESWAN_CLIENT)
        secrets = tmp_path / "road.secrets"
        secrets.write_text(f'@east @west : PSK "{PSK}"\n')
        peer.start(conf, secrets)
        peer.add("road")
        ours = _server(netns_pair, tmp_path)
        peer.whack("--name", "road", "--initiate", timeout=60)
        assert poll(lambda: _our_ike_up(ours) or "leased" in ours.log_text()), ours.log_text() + peer.log()
        log = ours.log_text()
        assert f"\"rw\"[1] {EAST_IP} #1: leased 10.9.0.10 to FQDN '@east'" in log, log + peer.log()
        # Libreswan's own words for the address it was given
        assert poll(lambda: "received INTERNAL_IP4_ADDRESS 10.9.0.10" in peer.log()), peer.log()
        # (4.10's words; later versions write "received INTERNAL_IP4_DNS server address 192.0.2.53")
        assert "received INTERNAL_IP4_DNS 192.0.2.53" in peer.log(), peer.log()
        assert "Received INTERNAL_DNS_DOMAIN: example.org" in peer.log(), peer.log()
        # its Child SA [its address===0.0.0.0/0] was answered with the lease (as Libreswan's server does)
        # (so the Child SA went as far as this kernel's missing ESP, not TS_UNACCEPTABLE)
        assert f'"rw"[1] {EAST_IP} #2: kernel refused the Child SA' in ours.log_text(), ours.log_text()
        assert "TS_UNACCEPTABLE" not in ours.log_text(), ours.log_text()
    finally:
        if ours is not None:
            ours.stop()
        peer.stop()


CLIENT = f"""config setup
\tlogtime=no

conn road
\tleft={EAST_IP}
\tleftid=@east
\tleftmodecfgclient=yes
\tright={WEST_IP}
\trightid=@west
\trightsubnet=0.0.0.0/0
\tauthby=secret
\tike=aes_gcm256-sha2_256-dh19
\tesp=aes_gcm256
\tauto=add
"""


def _client(netns_pair: Pair, tmp_path: Path) -> Pluto:
    config, secrets = write_conf(tmp_path, CLIENT, PSK, name="road")
    pluto = Pluto(netns_pair.east, tmp_path / "ours-road")
    pluto.start(config, secrets)
    return pluto


def test_ours_as_client_gets_a_lease_from_a_strongswan_pool(netns_pair: Pair, tmp_path: Path) -> None:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    conf = swanctl_conf("rw", local_addrs=WEST_IP, remote_addrs="%any", proposals="aes256gcm16-prfsha256-ecp256",
                        local={"auth": "psk", "id": "west"}, remote={"auth": "psk", "id": "east"},
                        local_ts="0.0.0.0/0", remote_ts="dynamic", esp="aes256gcm16", psk=("west", "east", PSK))
    conf = conf.replace("\t\tremote_addrs = %any\n", "\t\tremote_addrs = %any\n\t\tpools = rw_pool\n")
    conf += "pools {\n\trw_pool {\n\t\taddrs = 10.8.0.0/24\n\t\tdns = 192.0.2.53\n\t}\n}\n"
    peer = Strongswan(netns_pair.west, tmp_path / "strongswan")
    ours = None
    try:
        peer.start(conf)
        ours = _client(netns_pair, tmp_path)
        up = ours.ipsec("up", "road")
        log = ours.log_text()
        assert '"road" #2: received INTERNAL_IP4_ADDRESS 10.8.0.1' in log, log + up.stdout + peer.log()
        assert '"road" #2: received INTERNAL_IP4_DNS server address 192.0.2.53' in log, log
        assert "assigning virtual IP 10.8.0.1 to peer 'east'" in peer.log(), peer.log()
        # charon narrowed our TSi 0.0.0.0/0 to the lease (then this kernel refused its SAs: no ESP)
        assert "config: 10.8.0.1/32, received: 0.0.0.0/0 => match: 10.8.0.1/32" in peer.log(), peer.log()
        (sa,) = ours.status()["ike_sas"]
        assert sa["lease"] == ["10.8.0.1/32"], sa
    finally:
        if ours is not None:
            ours.stop()
        peer.stop()


LIBRESWAN_SERVER = f"""config setup
\tdnssec-enable=no
\tplutodebug=none

conn rw
\tauthby=secret
\tikev2=yes
\tleft={WEST_IP}
\tleftid=@west
\tleftsubnet=0.0.0.0/0
\tleftupdown=%disabled
\tright=%any
\trightid=@east
\trightaddresspool=10.7.0.100-10.7.0.110
\trightupdown=%disabled
\tmodecfgdns=192.0.2.54
\tnarrowing=yes
\tike=aes_gcm256-sha2_256-dh19
\tesp=aes_gcm256
\tauto=ignore
"""


def test_ours_as_client_asks_a_libreswan_addresspool(netns_pair: Pair, tmp_path: Path) -> None:
    """Libreswan 4.10 takes our CFG_REQUEST and leases from its pool; on this ESP-less kernel its
    own Child SA install then fails and it answers without the CP (it builds the CP with the
    Child SA), so the lease reaching us is the lab's to show."""
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan(netns_pair.west, tmp_path / "libreswan")
    ours = None
    try:
        conf = tmp_path / "gw.conf"
        conf.write_text(LIBRESWAN_SERVER)
        secrets = tmp_path / "gw.secrets"
        secrets.write_text(f'@west @east : PSK "{PSK}"\n')
        peer.start(conf, secrets)
        peer.add("rw")
        ours = _client(netns_pair, tmp_path)
        ours.ipsec("up", "road")
        assert poll(lambda: "processing decrypted IKE_AUTH request: SK{IDi,IDr,AUTH,CP,SA,TSi,TSr}" in peer.log()), \
            peer.log()
        assert "| pool 10.7.0.100-10.7.0.110: growing address pool from 0 to 1" in peer.log(), peer.log()
        assert "responder established IKE SA; authenticated peer using authby=secret and ID_FQDN '@east'" \
            in peer.log(), peer.log()
    finally:
        if ours is not None:
            ours.stop()
        peer.stop()
