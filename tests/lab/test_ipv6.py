"""IPv6 tunnels with real ESP: west and east joined over IPv6 too (2001:db8:1:2::45 <-> ::23, inside
/64s on dummy interfaces), in a pair of namespaces of this module's own. Our daemon in west
negotiates a 6-in-6 tunnel (AES-GCM-16-256) with our daemon, Libreswan 4.10 and strongSwan 5.9.8
in east (each side initiating once against the other implementations); with our own, 4-in-6 and
6-in-4 too. Every tunnel: ESP SAs of the outer family in both kernels, selectors of the inner
one, pings between the inside addresses all answered, the ESP counters moving on both hosts in
both directions, and the initiator's Delete clearing both kernels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.host.peers import PSK, Libreswan, Strongswan
from tests.lab.checks import esp_states, wait_for_esp_pairs, wait_no_esp
from tests.lab.ours import Ours, initialized
from tests.lab.peers import require_installed
from tests.lab.topology import LabPair, make_pair, remove_pair, wait_for
from tests.netns import (
    EAST_IN,
    EAST_IN6,
    EAST_IP,
    EAST_IP6,
    EAST_NET,
    EAST_NET6,
    WEST_IN,
    WEST_IN6,
    WEST_IP,
    WEST_IP6,
    WEST_NET,
    WEST_NET6,
    add_ipv6,
)
from tests.swanctl import swanctl_conf

pytestmark = pytest.mark.lab

PINGS = 3
IKE, ESP = "aes_gcm256-sha2_256-dh19", "aes_gcm256"


@dataclass(frozen=True)
class Tunnel:
    name: str
    outer: tuple[str, str]  # west, east
    inner_nets: tuple[str, str]
    inner_hosts: tuple[str, str]


V6IN6 = Tunnel("v6in6", (WEST_IP6, EAST_IP6), (WEST_NET6, EAST_NET6), (WEST_IN6, EAST_IN6))
V4IN6 = Tunnel("v4in6", (WEST_IP6, EAST_IP6), (WEST_NET, EAST_NET), (WEST_IN, EAST_IN))
V6IN4 = Tunnel("v6in4", (WEST_IP, EAST_IP), (WEST_NET6, EAST_NET6), (WEST_IN6, EAST_IN6))
TUNNELS = (V6IN6, V4IN6, V6IN4)
TRANSPORT6 = "v6transport"


def ipsec_conf(setup: str = "\tlogtime=no\n", libreswan: bool = False) -> str:
    parts = [f"config setup\n{setup}"]
    for t in TUNNELS:
        lines = [f"conn {t.name}", "\tauthby=secret", "\tikev2=yes", f"\tleft={t.outer[0]}", "\tleftid=@west",
                 f"\tleftsubnet={t.inner_nets[0]}", f"\tright={t.outer[1]}", "\trightid=@east",
                 f"\trightsubnet={t.inner_nets[1]}", f"\tike={IKE}", f"\tesp={ESP}", "\tauto=ignore"]
        if libreswan:
            lines += ["\tleftupdown=%disabled", "\trightupdown=%disabled"]
        parts.append("\n".join(lines) + "\n")
    # transport mode between the outer IPv6 addresses (host to host)
    parts.append(f"conn {TRANSPORT6}\n\tauthby=secret\n\tikev2=yes\n\ttype=transport\n\tleft={WEST_IP6}\n"
                 f"\tleftid=@west\n\tright={EAST_IP6}\n\trightid=@east\n\tike={IKE}\n\tesp={ESP}\n\tauto=ignore\n")
    return "\n".join(parts)


def secrets(root: Path) -> Path:
    path = root / "ipsec.secrets"
    path.write_text(f'@west @east : PSK "{PSK}"\n')
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def pair6() -> Iterator[LabPair]:
    pair = make_pair()
    try:
        add_ipv6(pair, "dummy")
        yield pair
    finally:
        remove_pair(pair)


@pytest.fixture(scope="module")
def west6(pair6: LabPair, lab_root: Path) -> Iterator[Ours]:
    daemon = Ours(pair6.west, lab_root / "v6-west")
    daemon.root.mkdir(parents=True)
    config = daemon.root / "ipsec.conf"
    config.write_text(ipsec_conf())
    daemon.config = config
    daemon.launch(config, secrets(daemon.root), "--nhelpers", "0")
    with initialized(daemon, pair6) as up:
        yield up


def esp_counts(pair: LabPair, ns: str, here: str) -> dict[str, int]:
    counts = {"in": 0, "out": 0}
    for sa in esp_states(pair, ns):
        counts["in" if sa["dst"] == here else "out"] += sa.get("packets", 0)
    return counts


def check_tunnel(pair: LabPair, t: Tunnel) -> None:
    """Both kernels: ESP SAs between the outer addresses, tunnel mode, GCM; pings between the
    inside hosts all answered with the ESP counters of both hosts moving both ways."""
    wait_for_esp_pairs(pair)
    for ns in (pair.west, pair.east):
        states = esp_states(pair, ns)
        assert {(s["src"], s["dst"]) for s in states} == {t.outer, t.outer[::-1]}, (ns, states)
        for sa in states:
            assert sa["mode"] == "tunnel" and sa["aead"][0] == "rfc4106(gcm(aes))", (ns, sa)
        out_policy = [p for p in pair.policies(ns) if p.get("dir") == "out"]
        mine, theirs = t.inner_nets if ns == pair.west else t.inner_nets[::-1]
        assert any(p["src"] == mine and p["dst"] == theirs for p in out_policy), (ns, out_policy)
    here = {pair.west: t.outer[0], pair.east: t.outer[1]}
    before = {ns: esp_counts(pair, ns, here[ns]) for ns in here}
    result = pair.ping(pair.west, t.inner_hosts[0], t.inner_hosts[1], count=PINGS)
    after = {ns: esp_counts(pair, ns, here[ns]) for ns in here}
    assert result.received == PINGS, result.output
    for ns in here:
        for way in ("in", "out"):
            assert after[ns][way] - before[ns][way] >= PINGS, (ns, before, after, result.output)


def our_children(daemon: Ours, name: str) -> list[dict[str, Any]]:
    return daemon.children(name)


def round_trip(pair: LabPair, west: Ours, t: Tunnel, start: Any, stop: Any, peer_log: Any) -> None:
    """``start()`` brings the tunnel up, ``stop()`` has the initiator delete it."""
    west.add(t.name)
    try:
        start()
        wait_for(lambda: our_children(west, t.name), 90, "our Child SA", interval=1.0)
        check_tunnel(pair, t)
        stop()
        wait_no_esp(pair, pair.west, timeout=60)
        wait_no_esp(pair, pair.east, timeout=60)
        wait_for(lambda: not pair.policies(pair.west), 30, "west to remove its policies")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- peer log ---\n{peer_log()[-4000:]}\n--- our log ---\n"
                             f"{west.log_text()[-4000:]}") from None
    finally:
        west.forget(t.name)
        pair.flush(pair.west)
        pair.flush(pair.east)


def test_ours_both_families(pair6: LabPair, west6: Ours, lab_root: Path) -> None:
    """6-in-6 (west initiates), then 4-in-6 and 6-in-4 (east initiates), between two of ours."""
    east = Ours(pair6.east, lab_root / "v6-east")
    east.root.mkdir(parents=True)
    config = east.root / "ipsec.conf"
    config.write_text(ipsec_conf())
    east.config = config
    east.launch(config, secrets(east.root), "--nhelpers", "0")
    with initialized(east, pair6):
        for t, initiator, other in ((V6IN6, west6, east), (V4IN6, east, west6), (V6IN4, east, west6)):
            east.add(t.name)
            try:
                round_trip(pair6, west6, t, lambda i=initiator, n=t.name: i.up(n),
                           lambda i=initiator, n=t.name: i.down(n), east.log_text)
                assert not other.ike_sas(t.name)
            finally:
                east.forget(t.name)


def test_libreswan_6in6_both_roles(pair6: LabPair, west6: Ours, lab_root: Path) -> None:
    require_installed("libreswan")
    root = lab_root / "v6-libreswan"
    root.mkdir(parents=True)
    conf = root / "ipsec.conf"
    conf.write_text(ipsec_conf("\tdnssec-enable=no\n\tuniqueids=yes\n\tplutodebug=none\n", libreswan=True))
    peer = Libreswan(pair6.east, root)
    try:
        peer.start(conf, secrets(root))
        peer.add(V6IN6.name)
        round_trip(pair6, west6, V6IN6, lambda: west6.up(V6IN6.name), lambda: west6.down(V6IN6.name), peer.log)
        peer.add(V6IN6.name)  # our Delete made it forget nothing, but be sure it is loaded
        round_trip(pair6, west6, V6IN6,
                   lambda: peer.whack("--name", V6IN6.name, "--initiate", timeout=120),
                   lambda: peer.whack("--name", V6IN6.name, "--terminate", timeout=60), peer.log)
    finally:
        peer.stop()
        pair6.flush(pair6.east)


def test_strongswan_6in6_both_roles(pair6: LabPair, west6: Ours, lab_root: Path) -> None:
    require_installed("strongswan")
    peer = Strongswan(pair6.east, lab_root / "v6-strongswan")
    conf = swanctl_conf(V6IN6.name, local_addrs=EAST_IP6, remote_addrs=WEST_IP6,
                        proposals="aes256gcm16-prfsha256-ecp256",
                        local={"auth": "psk", "id": "east"}, remote={"auth": "psk", "id": "west"},
                        local_ts=EAST_NET6, remote_ts=WEST_NET6, esp="aes256gcm16", psk=("east", "west", PSK))
    try:
        peer.start(conf)
        round_trip(pair6, west6, V6IN6, lambda: west6.up(V6IN6.name), lambda: west6.down(V6IN6.name), peer.log)
        round_trip(pair6, west6, V6IN6,
                   lambda: peer.swanctl("--initiate", "--child", V6IN6.name, "--timeout", "90", timeout=120),
                   lambda: peer.swanctl("--terminate", "--ike", V6IN6.name, "--timeout", "60", timeout=90),
                   peer.log)
    finally:
        peer.stop()
        pair6.flush(pair6.east)


def test_strongswan_ipv6_transport_mode(pair6: LabPair, west6: Ours, lab_root: Path) -> None:
    """Host to host over IPv6 in transport mode, our daemon initiating: transport-mode ESP SAs
    between the two addresses in both kernels, and pings between them through ESP."""
    require_installed("strongswan")
    peer = Strongswan(pair6.east, lab_root / "v6-strongswan-transport")
    conf = swanctl_conf(TRANSPORT6, local_addrs=EAST_IP6, remote_addrs=WEST_IP6,
                        proposals="aes256gcm16-prfsha256-ecp256", mode="transport",
                        local={"auth": "psk", "id": "east"}, remote={"auth": "psk", "id": "west"},
                        local_ts="dynamic", remote_ts="dynamic", esp="aes256gcm16", psk=("east", "west", PSK))
    west6.add(TRANSPORT6)
    try:
        peer.start(conf)
        west6.up(TRANSPORT6)
        wait_for_esp_pairs(pair6)
        here = {pair6.west: WEST_IP6, pair6.east: EAST_IP6}
        for ns in here:
            states = esp_states(pair6, ns)
            assert {(sa["src"], sa["dst"]) for sa in states} == {(WEST_IP6, EAST_IP6), (EAST_IP6, WEST_IP6)}, states
            assert all(sa["mode"] == "transport" for sa in states), states
        before = {ns: esp_counts(pair6, ns, here[ns]) for ns in here}
        result = pair6.ping(pair6.west, WEST_IP6, EAST_IP6, count=PINGS)
        after = {ns: esp_counts(pair6, ns, here[ns]) for ns in here}
        assert result.received == PINGS, result.output
        for ns in here:
            for way in ("in", "out"):
                assert after[ns][way] - before[ns][way] >= PINGS, (ns, before, after)
        west6.down(TRANSPORT6)
        wait_no_esp(pair6, pair6.west, timeout=60)
        wait_no_esp(pair6, pair6.east, timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- strongSwan ---\n{peer.log()[-4000:]}\n--- ours ---\n"
                             f"{west6.log_text()[-4000:]}") from None
    finally:
        west6.forget(TRANSPORT6)
        peer.stop()
        pair6.flush(pair6.west)
        pair6.flush(pair6.east)
