"""Host tier interop: our daemon negotiates IKEv2 (PSK) with Libreswan 4.10 and strongSwan 5.9.8,
as initiator and as responder, in network namespaces on this kernel.

This kernel has XFRM but no ESP: the IKE SA is established on both sides (their status
says so) and the Child SA install fails with the kernel's error on each side. The lab
tier proves the tunnel itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.daemons import Pluto, west_east_conf, write_conf
from tests.host.peers import (
    LIBRESWAN_CONF,
    PSK,
    Libreswan,
    Strongswan,
    libreswan_available,
    strongswan_available,
)
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair, poll
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.host

OURS = west_east_conf("west-east", "ike=aes_gcm256-sha2_256-dh19", "esp=aes_gcm256", "auto=add")
# east's charon: conn "lab" (GCM), the same facts as OURS
EAST_SWANCTL = swanctl_conf("lab", local_addrs=EAST_IP, remote_addrs=WEST_IP, proposals="aes256gcm16-prfsha256-ecp256",
                            local={"auth": "psk", "id": "east"}, remote={"auth": "psk", "id": "west"},
                            local_ts=EAST_NET, remote_ts=WEST_NET, esp="aes256gcm16", psk=("east", "west", PSK))



@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config, secrets = write_conf(tmp_path, OURS, PSK, name="ours")
    return config, secrets


@pytest.fixture
def libreswan_east(netns_pair: Pair, tmp_path: Path) -> Iterator[Libreswan]:
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan(netns_pair.east, tmp_path / "libreswan")
    try:
        _start_libreswan(peer, tmp_path)
        yield peer
    finally:
        peer.stop()


def _start_libreswan(peer: Libreswan, tmp_path: Path) -> None:
    """east's Libreswan pluto with conn west-east (GCM) loaded."""
    conf = tmp_path / "lsw.conf"
    conf.write_text(LIBRESWAN_CONF.format(name="west-east", mode="tunnel", west=WEST_IP, east=EAST_IP,
                                          west_net=WEST_NET, east_net=EAST_NET, ike="aes_gcm256-sha2_256-dh19",
                                          esp="aes_gcm256"))
    secrets = tmp_path / "lsw.secrets"
    secrets.write_text(f'@west @east : PSK "{PSK}"\n')
    peer.start(conf, secrets)
    peer.add("west-east")


@pytest.fixture
def strongswan_east(netns_pair: Pair, tmp_path: Path) -> Iterator[Strongswan]:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Strongswan(netns_pair.east, tmp_path / "strongswan")
    try:
        peer.start(EAST_SWANCTL)
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def ours_west(netns_pair: Pair, tmp_path: Path, files: tuple[Path, Path]) -> Iterator[Pluto]:
    pluto = Pluto(netns_pair.west, tmp_path / "ours")
    try:
        pluto.start(*files)
        yield pluto
    finally:
        pluto.stop()


def _our_ike_up(pluto: Pluto) -> bool:
    return any(sa["established"] for sa in pluto.status()["ike_sas"])


def test_ours_initiates_to_libreswan(libreswan_east: Libreswan, ours_west: Pluto) -> None:
    up = ours_west.ipsec("up", "west-east")
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in up.stdout, \
        up.stdout + up.stderr + libreswan_east.log()
    status = libreswan_east.whack("--status").stdout
    assert "established IKE SA" in status, status
    assert up.returncode == 1 and "Child SA" in up.stderr  # no ESP in this kernel


def test_libreswan_initiates_to_ours(libreswan_east: Libreswan, ours_west: Pluto) -> None:
    libreswan_east.whack("--name", "west-east", "--initiate", timeout=60)
    assert poll(lambda: _our_ike_up(ours_west)), ours_west.log_text() + libreswan_east.log()
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@east'" \
        in ours_west.log_text()
    # Libreswan logs its side; as initiator it drops the IKE SA again when its own Child SA
    # install fails on this ESP-less kernel, so its log, not its status, is the witness.
    # (Libreswan 4.10 writes ID_FQDN where 5.x writes FQDN.)
    assert poll(lambda: "initiator established IKE SA; authenticated peer using authby=secret and ID_FQDN "
                     "'@west'" in libreswan_east.log()), libreswan_east.log()


def test_ours_initiates_to_strongswan(strongswan_east: Strongswan, ours_west: Pluto) -> None:
    up = ours_west.ipsec("up", "west-east")
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in up.stdout, \
        up.stdout + up.stderr + strongswan_east.log()
    sas = strongswan_east.swanctl("--list-sas").stdout
    assert "ESTABLISHED" in sas, sas


def test_strongswan_initiates_to_ours(strongswan_east: Strongswan, ours_west: Pluto) -> None:
    strongswan_east.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
    assert poll(lambda: _our_ike_up(ours_west)), ours_west.log_text() + strongswan_east.log()
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@east'" \
        in ours_west.log_text()
    assert "IKE_SA lab[1] established between 192.0.2.2[east]...192.0.2.1[west]" in strongswan_east.log()


# Eleven ESP proposals: our IKE_AUTH request is about 800 octets, over the 548 that fit
# one unfragmented IPv4 datagram, so once both ends announced RFC 7383 support it goes
# out in fragments. The peers accept the first.
BIG_ESP = ("aes_gcm256,aes_gcm128,aes256-sha2_512,aes256-sha2_384,aes256-sha2_256,aes128-sha2_512,"
           "aes128-sha2_256,aes256-sha1,aes128-sha1,aes_ctr256-sha2_256,aes_ctr128-sha2_256")


def _fragmenting_ours(netns_pair: Pair, tmp_path: Path) -> Pluto:
    conf = OURS.replace("\tesp=aes_gcm256\n", f"\tesp={BIG_ESP}\n").replace("\tlogtime=no\n",
                                                                                "\tlogtime=no\n\tplutodebug=base\n")
    config, secrets = write_conf(tmp_path, conf, PSK, name="ours-frag")
    pluto = Pluto(netns_pair.west, tmp_path / "ours-frag")
    pluto.start(config, secrets)
    return pluto


def test_fragmented_ike_auth_with_strongswan_both_ways(netns_pair: Pair, tmp_path: Path) -> None:
    """RFC 7383 with strongSwan 5.9.8: our big IKE_AUTH request goes in fragments that
    charon reassembles; charon (fragment_size = 250) fragments its own IKE_AUTH
    request to us and we reassemble it. Both IKE SAs come up."""
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Strongswan(netns_pair.east, tmp_path / "strongswan")
    ours = None
    try:
        peer.start(EAST_SWANCTL,
                   charon_extra="\tfragment_size = 250\n")
        ours = _fragmenting_ours(netns_pair, tmp_path)
        up = ours.ipsec("up", "west-east")
        assert "initiator established IKE SA" in up.stdout, up.stdout + up.stderr + peer.log()
        assert poll(lambda: "reassembled fragmented IKE message" in peer.log()), peer.log()
        assert " sent in " in ours.log_text() and "IKE_AUTH message 1 of " in ours.log_text(), ours.log_text()
        ours.ipsec("delete", "west-east")
        ours.ipsec("add", "west-east", "--config", str(tmp_path / "ours-frag.conf"))
        peer.swanctl("--initiate", "--child", "lab", "--timeout", "30", timeout=60)
        assert poll(lambda: "IKE_AUTH reassembled from" in ours.log_text()), ours.log_text() + peer.log()
        assert poll(lambda: _our_ike_up(ours)), ours.log_text()
    finally:
        if ours is not None:
            ours.stop()
        peer.stop()


def test_fragmented_ike_auth_to_libreswan(netns_pair: Pair, tmp_path: Path) -> None:
    """RFC 7383 with Libreswan 4.10: our IKE_AUTH request in fragments, reassembled by pluto."""
    if not libreswan_available():
        pytest.skip("Libreswan is not installed (see ../shared/lab/setup-host.sh)")
    peer = Libreswan(netns_pair.east, tmp_path / "libreswan")
    ours = None
    try:
        _start_libreswan(peer, tmp_path)
        ours = _fragmenting_ours(netns_pair, tmp_path)
        up = ours.ipsec("up", "west-east")
        assert "initiator established IKE SA" in up.stdout, up.stdout + up.stderr + peer.log()
        assert " sent in " in ours.log_text(), ours.log_text()
        assert "established IKE SA" in peer.whack("--status").stdout
    finally:
        if ours is not None:
            ours.stop()
        peer.stop()
