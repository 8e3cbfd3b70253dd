"""Host tier: kernel calls that fail (``--impair kernel-fail:...``, test only) between two of our
daemons in namespaces. The Child SA that meets the fault fails with a log line naming the
operation and errno; its IKE SA and the other conn go on; nothing of it stays in the kernel
(``ip xfrm policy``) or in the daemon's status.

This kernel has XFRM without ESP: both daemons run with ``--impair kernel-sas-in-memory`` so that
SAs are kept in memory and the Child SAs' policies reach the real kernel.
"""

from __future__ import annotations

import errno
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.host.daemons import Pluto, west_east_conf, write_conf
from tests.kernel import ipxfrm
from tests.netns import EAST_IN, WEST_IN, Pair

pytestmark = pytest.mark.host

A_NET = ("198.51.100.0/24", "203.0.113.0/24")
B_NET = ("10.10.1.0/24", "10.10.2.0/24")
# two conns with their own IDs, so that east tells them apart (and uniqueids keeps both)
CONF = (west_east_conf("a", "auto=add")
        + west_east_conf("b", "auto=add", leftid="@west-b", rightid="@east-b").split("\n", 3)[3]
        .replace("leftsubnet=198.51.100.0/24", f"leftsubnet={B_NET[0]}")
        .replace("rightsubnet=203.0.113.0/24", f"rightsubnet={B_NET[1]}"))
B_PSK = '@west-b @east-b : PSK "the second conn key, not secret"\n'
MEMORY = "kernel-sas-in-memory"
WORDS = {"allocate_spi": "allocate SPI", "add_sa": "add SA", "add_policy": "update policy",
         "del_policy": "delete policy"}


def policies(pair: Pair, ns: str) -> set[tuple[str, str, str]]:
    shown = ipxfrm.parse_policies(pair.exec(ns, "ip", "xfrm", "policy").stdout)
    return {(p["src"], p["dst"], p["dir"]) for p in shown if p.get("src")}


def child_policies(local: tuple[str, str]) -> set[tuple[str, str, str]]:
    mine, theirs = local
    return {(mine, theirs, "out"), (theirs, mine, "in"), (theirs, mine, "fwd")}


def wait_for(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


@pytest.fixture
def pair_of(netns_pair: Pair, tmp_path: Path) -> Iterator[Any]:
    started: list[Pluto] = []

    def start(*west_impair: str) -> tuple[Pluto, Pluto]:
        config, secrets = write_conf(tmp_path, CONF, extra_secrets=B_PSK)
        west = Pluto(netns_pair.west, tmp_path / "west")
        east = Pluto(netns_pair.east, tmp_path / "east")
        started.extend((west, east))
        east.start(config, secrets, "--nhelpers", "0", "--impair", MEMORY)
        args = [arg for what in west_impair for arg in ("--impair", what)]
        west.start(config, secrets, "--nhelpers", "0", "--impair", MEMORY, *args)
        return west, east

    yield start
    for pluto in started:
        assert pluto.stop() == 0, pluto.log_text()  # a clean exit, whatever the faults
    for ns in (netns_pair.west, netns_pair.east):
        assert policies(netns_pair, ns) == set(), "policies left after shutdown"


def established(pluto: Pluto) -> tuple[set[str], set[str]]:
    status = pluto.status()
    ike = {sa["conn"] for sa in status["ike_sas"] if sa["established"]}
    children = {child["conn"] for child in status["children"]}
    return ike, children


@pytest.mark.parametrize("code", ["ENOMEM", "EEXIST", "EINVAL"])
@pytest.mark.parametrize("op", ["allocate_spi", "add_sa", "add_policy"])
def test_install_fault_fails_one_child_and_the_rest_goes_on(pair_of: Any, netns_pair: Pair, op: str,
                                                              code: str) -> None:
    west, east = pair_of(f"kernel-fail:{op}:{code}:1")
    assert f"--impair kernel-fail:{op}:{code}:1: TEST ONLY" in west.log_text()
    first = west.ipsec("up", "a")
    assert first.returncode == 1, first.stdout + first.stderr
    line = f"kernel {WORDS[op]} failed ({code}: {__import__('os').strerror(getattr(errno, code))})"
    text = west.log_text()
    assert line in text and f"injected by --impair kernel-fail:{op}:{code}:1" in text, text
    second = west.ipsec("up", "b")
    assert second.returncode == 0, second.stdout + second.stderr + west.log_text()
    assert "established Child SA" in second.stdout
    # b's Child SA alone is in both kernels; a's left nothing behind
    assert wait_for(lambda: policies(netns_pair, netns_pair.west) == child_policies(B_NET)), \
        policies(netns_pair, netns_pair.west)
    assert wait_for(lambda: policies(netns_pair, netns_pair.east) == child_policies(B_NET[::-1])), \
        (policies(netns_pair, netns_pair.east), east.log_text())
    ike, children = established(west)
    assert children == {"b"}
    assert west.status()["kernel"] == {"held_policies": 3, "undeleted": 0}  # the daemon's record: b's only
    assert "b" in ike and (op == "allocate_spi" or "a" in ike), (ike, west.log_text())
    assert wait_for(lambda: established(east)[1] == {"b"}), east.log_text()
    # the fault hit one call only: a comes up now
    again = west.ipsec("up", "a")
    assert again.returncode == 0, again.stdout + again.stderr + west.log_text()
    assert policies(netns_pair, netns_pair.west) == child_policies(A_NET) | child_policies(B_NET)
    assert established(west)[1] == {"a", "b"}
    assert west.status()["kernel"] == {"held_policies": 6, "undeleted": 0}


@pytest.mark.parametrize("code", ["ENOMEM", "EEXIST", "EINVAL"])
def test_refused_policy_delete_is_logged_and_removed_later(pair_of: Any, netns_pair: Pair, code: str) -> None:
    """Regression (defect: a policy delete the kernel refused was swallowed silently and the
    policy stayed in the kernel until shutdown): logged with the conn, operation and errno,
    removed at the next change."""
    west, east = pair_of(f"kernel-fail:del_policy:{code}:1")
    for name in ("a", "b"):
        up = west.ipsec("up", name)
        assert up.returncode == 0, up.stdout + up.stderr + west.log_text()
    down = west.ipsec("down", "a")
    assert down.returncode == 0, down.stderr
    text = west.log_text()
    assert f"kernel delete policy failed ({code}:" in text and "removed at the next change or at shutdown" in text
    left = policies(netns_pair, netns_pair.west)
    assert child_policies(B_NET) <= left and len(left - child_policies(B_NET)) == 1, left
    assert west.status()["kernel"] == {"held_policies": 3, "undeleted": 1}
    assert established(west) == ({"b"}, {"b"})
    down = west.ipsec("down", "b")  # the next change removes a's leftover first
    assert down.returncode == 0, down.stderr
    assert "removed 1 kernel entry whose deletion had failed" in west.log_text()
    assert policies(netns_pair, netns_pair.west) == set()
    assert west.status()["kernel"] == {"held_policies": 0, "undeleted": 0}
    assert wait_for(lambda: policies(netns_pair, netns_pair.east) == set()), east.log_text()


def test_responder_install_fault_answers_the_peer_and_goes_on(netns_pair: Pair, tmp_path: Path) -> None:
    """The fault on the responder: its Child SA fails, the initiator is told, both go on."""
    config, secrets = write_conf(tmp_path, CONF, extra_secrets=B_PSK)
    west = Pluto(netns_pair.west, tmp_path / "west")
    east = Pluto(netns_pair.east, tmp_path / "east")
    try:
        east.start(config, secrets, "--nhelpers", "0", "--impair", MEMORY, "--impair", "kernel-fail:add_sa:ENOMEM:1")
        west.start(config, secrets, "--nhelpers", "0", "--impair", MEMORY)
        west.ipsec("up", "a")  # the response accepted the Child SA; east's kernel then refused it
        assert wait_for(lambda: "kernel add SA failed (ENOMEM" in east.log_text())
        # east deletes its failed Child SA with the peer (INFORMATIONAL Delete): west's goes too
        assert wait_for(lambda: established(west)[1] == set()), (west.log_text(), east.log_text())
        assert established(west)[0] == {"a"} and established(east)[0] == {"a"}
        second = west.ipsec("up", "b")
        assert second.returncode == 0, second.stdout + second.stderr + east.log_text()
        assert wait_for(lambda: policies(netns_pair, netns_pair.east) == child_policies(B_NET[::-1]))
        assert policies(netns_pair, netns_pair.west) == child_policies(B_NET)
    finally:
        assert west.stop() == 0 and east.stop() == 0
    assert policies(netns_pair, netns_pair.west) == set() == policies(netns_pair, netns_pair.east)


def test_plugin_hooks_that_raise_during_ike(netns_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin raising in every hook it has on both daemons (IKE message build and read, SA
    events, the kernel's ACQUIRE, an auth source asked first): each failure is logged with the
    plugin's name, the other plugins' work is done (the vendorid plugin's payload still reaches
    the peer), and the tunnels come up.

    Regression (defect: one plugin raising in pluto_ike_build or pluto_ike_read dropped every
    plugin's payloads and hints, NAT detection included, and the log did not name it; one raising
    in pluto_kernel_acquire kept the later plugins from seeing the event)."""
    from tests.daemon.conftest import TESTPLUGIN_DIR, _install_testplugin

    _install_testplugin()
    monkeypatch.setenv("PLUTO_TESTPLUGIN_RAISE", "pluto_ike_build,pluto_ike_read,pluto_event,pluto_kernel_acquire,"
                                                 "pluto_auth_psk")
    conf = CONF.replace("config setup\n", "config setup\n\tauth-sources=\"raising secrets\"\n", 1)
    config, secrets = write_conf(tmp_path, conf, extra_secrets=B_PSK)
    west = Pluto(netns_pair.west, tmp_path / "west", pythonpath=[TESTPLUGIN_DIR])
    east = Pluto(netns_pair.east, tmp_path / "east", pythonpath=[TESTPLUGIN_DIR])
    raiser = "plugin pluto.plugins:testplugin-raising failed"
    try:
        east.start(config, secrets, "--nhelpers", "0", "--impair", MEMORY)
        west.start(config, secrets, "--nhelpers", "0", "--impair", MEMORY, "--vendorid", "pluto faults test")
        routed = west.ipsec("route", "a")
        assert routed.returncode == 0, routed.stderr
        netns_pair.exec(netns_pair.west, sys.executable, "-c",
                        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                        f"s.bind(('{WEST_IN}', 0)); s.sendto(b'wake up', ('{EAST_IN}', 9))", check=False)
        assert wait_for(lambda: established(west)[1] == {"a"}), west.log_text()
        up = west.ipsec("up", "b")
        assert up.returncode == 0, up.stdout + up.stderr + west.log_text()
        text = west.log_text()
        for hook in ("pluto_ike_build", "pluto_ike_read", "pluto_kernel_acquire"):
            assert f"{raiser} in {hook}: Boom: testplugin-raising raises in {hook} on purpose" in text, hook
        assert "plugin pluto.plugins:testplugin-raising failed on ike-up: Boom" in text
        assert "auth source raising: pluto_auth_psk failed: Boom" in text
        assert "initiating on demand for 198.51.100.1/32 to 203.0.113.1/32" in text
        assert '"a" #1: received Vendor ID payload' in east.log_text() or \
            "received Vendor ID payload [pluto faults test]" in east.log_text(), east.log_text()
        assert f"{raiser} in pluto_ike_read" in east.log_text()
        assert established(east)[1] == {"a", "b"}
    finally:
        assert west.stop() == 0 and east.stop() == 0
    assert policies(netns_pair, netns_pair.west) == set() == policies(netns_pair, netns_pair.east)


@pytest.mark.parametrize("code", ["ENOMEM", "EEXIST", "EINVAL"])
def test_migrate_fault_leaves_the_child_and_the_ike_sa_moves(netns_pair: Pair, tmp_path: Path, code: str) -> None:
    """MOBIKE: our client moves; its kernel refuses to move the Child SA (injected): logged
    with the operation and errno, the Child SA's policies stay as they were, the IKE SA moves
    and goes on; the server's Child SA moves."""
    from tests.host.test_mobike_host import WEST_MOVED, _conf, _established, _move
    from tests.netns import EAST_IP, WEST_IP, poll

    for d in ("server", "client"):
        (tmp_path / d).mkdir()
    server_conf, server_secrets = write_conf(tmp_path / "server", _conf("mob", EAST_IP, "%any", "server"),
                                             name="mob")
    client_conf, client_secrets = write_conf(tmp_path / "client", _conf("mob", WEST_IP, EAST_IP, "client"),
                                             name="mob")
    server = Pluto(netns_pair.east, tmp_path / "server-run")
    client = Pluto(netns_pair.west, tmp_path / "client-run")
    try:
        server.start(server_conf, server_secrets, "--nhelpers", "0", "--impair", MEMORY)
        client.start(client_conf, client_secrets, "--nhelpers", "0", "--impair", MEMORY,
                     "--impair", f"kernel-fail:migrate:{code}")
        up = client.ipsec("up", "mob")
        assert up.returncode == 0, up.stdout + up.stderr + client.log_text()
        before = ipxfrm.parse_policies(netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout)
        _move(netns_pair.west, WEST_IP, WEST_MOVED)
        assert poll(lambda: f"MOBIKE: peer moved from {WEST_IP}:4500 to {WEST_MOVED}:4500" in server.log_text()), \
            server.log_text() + client.log_text()
        assert poll(lambda: "MOBIKE: cannot move the Child SA" in client.log_text()), client.log_text()
        assert f"kernel migrate SA failed ({code}:" in client.log_text()
        assert poll(lambda: "now reached from" in client.log_text() and "0 Child SAs moved" in client.log_text())
        assert "(no NAT); 1 Child SA moved" in server.log_text()  # the real XFRM_MSG_MIGRATE, unimpaired
        after = ipxfrm.parse_policies(netns_pair.exec(netns_pair.west, "ip", "xfrm", "policy").stdout)
        assert after == before  # left where it was, nothing half moved
        (sa,) = _established(server)
        assert WEST_MOVED in str(sa), sa
        assert established(client)[1] == {"mob"}
        down = client.ipsec("down", "mob")  # the IKE SA goes on over the new path
        assert down.returncode == 0, down.stderr
        assert poll(lambda: not _established(server)), server.log_text()
    finally:
        assert client.stop() == 0 and server.stop() == 0
    assert policies(netns_pair, netns_pair.west) == set() == policies(netns_pair, netns_pair.east)


def test_trap_install_fault_leaves_no_half_route(pair_of: Any, netns_pair: Pair, tmp_path: Path) -> None:
    """Regression (defect: `ipsec route` of a conn with two selector pairs whose second trap the
    kernel refused left the first trap policy in the kernel, the conn unrouted): all or nothing."""
    conf = CONF.replace("leftsubnet=198.51.100.0/24", "leftsubnet=198.51.100.0/25,198.51.100.128/25", 1)
    (tmp_path / "two").mkdir()
    config, secrets = write_conf(tmp_path / "two", conf, extra_secrets=B_PSK)
    west = Pluto(netns_pair.west, tmp_path / "west-two")
    try:
        west.start(config, secrets, "--nhelpers", "0", "--impair", MEMORY,
                   "--impair", "kernel-fail:add_policy:ENOMEM:2")
        routed = west.ipsec("route", "a")
        assert routed.returncode == 1
        assert '"a": cannot install trap policies: kernel update policy failed (ENOMEM' in routed.stderr
        assert policies(netns_pair, netns_pair.west) == set()
        again = west.ipsec("route", "a")
        assert again.returncode == 0 and '"a": 2 trap policies installed' in again.stdout, again
        assert len(policies(netns_pair, netns_pair.west)) == 2
    finally:
        assert west.stop() == 0
    assert policies(netns_pair, netns_pair.west) == set()
