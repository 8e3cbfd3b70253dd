"""Host tier: MOBIKE (RFC 4555) with strongSwan 5.9.8, both roles. The client's address
changes under it (a second address on its veth, then the first one removed, as a laptop
moving between networks); the client's daemon notices and sends UPDATE_SA_ADDRESSES from
the new address, and the server follows. The IKE SA survives the move on both ends.

This kernel has no ESP: the Child SAs are not installed, so what moves here is the IKE SA
(the lab moves a tunnel with traffic in it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.host.daemons import Pluto, write_conf
from tests.host.peers import PSK, Strongswan, strongswan_available
from tests.netns import EAST_IP, WEST_IP, Pair, poll, run
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.host

WEST_MOVED, EAST_MOVED = "192.0.2.11", "192.0.2.12"


def _move(ns: str, old: str, new: str) -> None:
    """``new`` on ext0 next to ``old``, then ``old`` removed (promote_secondaries keeps ``new``
    and its connected route when the primary goes)."""
    for scope in ("all", "ext0"):
        run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv4.conf.{scope}.promote_secondaries=1")
    run("ip", "-n", ns, "addr", "add", f"{new}/24", "dev", "ext0")
    run("ip", "-n", ns, "addr", "del", f"{old}/24", "dev", "ext0")


def _conf(name: str, local: str, remote: str, role: str) -> str:
    """Our side's conn (``role``: the client is told ``ipsec up``, the server waits)."""
    return f"""config setup
\tlogtime=no

conn {name}
\tleft={local}
\tleftid=@{'west' if local == WEST_IP else 'east'}
\tright={remote}
\trightid=@{'east' if local == WEST_IP else 'west'}
\tleftsubnet={'198.51.100.0/24' if local == WEST_IP else '203.0.113.0/24'}
\trightsubnet={'203.0.113.0/24' if local == WEST_IP else '198.51.100.0/24'}
\tauthby=secret
\tmobike=yes
\tike=aes_gcm256-sha2_256-dh19
\tesp=aes_gcm256
\tauto=add
"""


def _strongswan(ns: str, root: Path, local: str, remote: str, local_id: str, remote_id: str,
                local_ts: str, remote_ts: str) -> Strongswan:
    conf = swanctl_conf("mob", local_addrs=local, remote_addrs=remote, proposals="aes256gcm16-prfsha256-ecp256",
                        local={"auth": "psk", "id": local_id}, remote={"auth": "psk", "id": remote_id},
                        local_ts=local_ts, remote_ts=remote_ts, esp="aes256gcm16", psk=(local_id, remote_id, PSK))
    peer = Strongswan(ns, root)
    peer.start(conf)
    return peer


def _established(pluto: Pluto) -> list[dict]:
    return [sa for sa in pluto.status()["ike_sas"] if sa["established"]]


def test_ours_as_client_moves_and_strongswan_follows(netns_pair: Pair, tmp_path: Path) -> None:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    # strongSwan's remote_addrs=%any: the server takes its client from wherever it comes
    peer = _strongswan(netns_pair.east, tmp_path / "strongswan", EAST_IP, "%any", "east", "west",
                       "203.0.113.0/24", "198.51.100.0/24")
    config, secrets = write_conf(tmp_path, _conf("mob", WEST_IP, EAST_IP, "client"), PSK, name="mob")
    ours = Pluto(netns_pair.west, tmp_path / "ours")
    try:
        ours.start(config, secrets)
        ours.ipsec("up", "mob")
        assert poll(lambda: _established(ours)), ours.log_text() + peer.log()
        log = ours.log_text()
        assert '"mob" #1: MOBIKE (RFC 4555) agreed with the peer' in log, log
        # RFC 4555 3.3: IKE_AUTH went to port 4500 already, NAT or not
        assert f"{EAST_IP}[4500]" in peer.log() or f"{EAST_IP}:4500" in log, peer.log()
        _move(netns_pair.west, WEST_IP, WEST_MOVED)
        assert poll(lambda: f"to {WEST_MOVED}:4500: sending UPDATE_SA_ADDRESSES" in ours.log_text()), \
            ours.log_text()
        assert poll(lambda: "now reached from" in ours.log_text()), ours.log_text() + peer.log()
        # strongSwan's own view: the IKE SA's peer is now the new address
        assert poll(lambda: f"{WEST_MOVED}[4500]" in peer.swanctl("--list-sas").stdout), \
            peer.swanctl("--list-sas").stdout + peer.log()
        assert "UPDATE_SA_ADDRESSES" in peer.log() or "N(UPD_SA_ADDR)" in peer.log(), peer.log()
        (sa,) = _established(ours)
        assert WEST_MOVED in str(sa), sa
        # and it is still alive: a liveness exchange over the new path is answered
        assert ours.ipsec("status").returncode == 0
    finally:
        ours.stop()
        peer.stop()


def test_strongswan_client_moves_and_our_server_follows(netns_pair: Pair, tmp_path: Path) -> None:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    config, secrets = write_conf(tmp_path, _conf("mob", WEST_IP, "%any", "server"), PSK, name="mob")
    ours = Pluto(netns_pair.west, tmp_path / "ours")
    # charon's local_addrs=%any: it may leave from any address it has (a fixed one would pin it)
    peer = _strongswan(netns_pair.east, tmp_path / "strongswan", "%any", WEST_IP, "east", "west",
                       "198.51.100.0/24", "203.0.113.0/24")
    try:
        ours.start(config, secrets)
        peer.swanctl("--initiate", "--ike", "mob", "--timeout", "30", timeout=60)
        assert poll(lambda: _established(ours)), ours.log_text() + peer.log()
        assert "MOBIKE (RFC 4555) agreed with the peer" in ours.log_text(), ours.log_text()
        _move(netns_pair.east, EAST_IP, EAST_MOVED)
        # charon sees its address go and roams (MOBIKE): our server follows it
        assert poll(lambda: f"MOBIKE: peer moved from {EAST_IP}:4500 to {EAST_MOVED}:4500" in ours.log_text(),
                    timeout=45), ours.log_text() + peer.log()
        (sa,) = _established(ours)
        assert EAST_MOVED in str(sa), sa
        assert poll(lambda: f"{WEST_IP}[4500]" in peer.swanctl("--list-sas").stdout
                    and f"{EAST_MOVED}[4500]" in peer.swanctl("--list-sas").stdout), \
            peer.swanctl("--list-sas").stdout
    finally:
        ours.stop()
        peer.stop()


def test_ours_both_ends_move_together(netns_pair: Pair, tmp_path: Path) -> None:
    """Our client moves; our server follows; the IKE SA then goes on over the new path."""
    for d in ("server", "client"):
        (tmp_path / d).mkdir()
    server_conf, server_secrets = write_conf(tmp_path / "server", _conf("mob", EAST_IP, "%any", "server"), PSK,
                                             name="mob")
    client_conf, client_secrets = write_conf(tmp_path / "client", _conf("mob", WEST_IP, EAST_IP, "client"), PSK,
                                             name="mob")
    server = Pluto(netns_pair.east, tmp_path / "server-run")
    client = Pluto(netns_pair.west, tmp_path / "client-run")
    try:
        server.start(server_conf, server_secrets)
        client.start(client_conf, client_secrets)
        client.ipsec("up", "mob")
        assert poll(lambda: _established(server)), server.log_text() + client.log_text()
        _move(netns_pair.west, WEST_IP, WEST_MOVED)
        assert poll(lambda: f"MOBIKE: peer moved from {WEST_IP}:4500 to {WEST_MOVED}:4500" in server.log_text()), \
            server.log_text() + client.log_text()
        assert poll(lambda: "now reached from" in client.log_text()), client.log_text()
        log = client.log_text()
        assert f"adding UDP interface ext0 {WEST_MOVED}:4500" in log, log
        assert f"shutting down UDP interface ext0 {WEST_IP}:500" in log, log
        (sa,) = _established(server)
        assert WEST_MOVED in str(sa), sa
        # the IKE SA goes on over the new path: the client's Delete reaches the server
        client.ipsec("down", "mob")
        assert poll(lambda: not _established(server)), server.log_text()
    finally:
        client.stop()
        server.stop()
