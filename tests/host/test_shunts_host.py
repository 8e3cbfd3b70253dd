"""Host tier: shunts in a real kernel (XFRM policies work here; ESP does not, which
shunts do not need). Our daemon runs in a namespace; ``ip xfrm policy`` in that
namespace is the witness.

- ``type=passthrough|drop|reject`` with ``auto=route``: out/in/fwd policies with
  action allow/block, the selectors' priority and no template; ``ipsec unroute``
  and shutdown remove them.
- trap conns whose negotiation fails (no IKE daemon at the peer, 2 s
  retransmit-timeout): ``failureshunt=drop|passthrough`` replaces the trap,
  ``none`` keeps it; ``negotiationshunt=passthrough`` bypasses while negotiating.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.host.daemons import Pluto, west_east_conf, write_conf
from tests.kernel import ipxfrm
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair

pytestmark = pytest.mark.host

SHUNTS = f"""\
config setup
\tlogtime=no

conn %default
\tleft={WEST_IP}
\tright={EAST_IP}

conn pass-ssh
\tleftsubnet={WEST_NET}
\trightsubnet={EAST_NET}
\trightprotoport=tcp/22
\ttype=passthrough
\tauto=route

conn drop-net
\tleftsubnet={WEST_NET}
\trightsubnet=203.0.113.64/26
\ttype=drop
\tauto=route

conn reject-hosts
\ttype=reject
\tauto=route

conn pass-added
\tleftsubnet=198.51.100.128/25
\trightsubnet=203.0.113.128/25
\ttype=passthrough
\tauto=add

conn tunnel
\tleftid=@west
\tleftsubnet={WEST_NET}
\trightid=@east
\trightsubnet={EAST_NET}
\tauthby=secret
\tauto=route
"""


def policies(pair: Pair) -> list[dict[str, Any]]:
    return ipxfrm.parse_policies(pair.exec(pair.west, "ip", "xfrm", "policy").stdout)


def find(pair: Pair, src: str, dst: str, direction: str, proto: str | None = None) -> dict[str, Any] | None:
    """The one policy of that selector (``proto``: its upper protocol, None for any)."""
    found = [p for p in policies(pair)
             if (p["src"], p["dst"], p["dir"], p.get("proto")) == (src, dst, direction, proto)]
    assert len(found) <= 1, found
    return found[0] if found else None


def routing(west: Pluto) -> dict[str, str]:
    return {c["name"]: c.get("routing", "") for c in west.status()["conns"]}


@pytest.fixture
def west_only(netns_pair: Pair, tmp_path: Path) -> Iterator[tuple[Pair, Pluto, Path]]:
    west = Pluto(netns_pair.west, tmp_path / "west")
    try:
        yield netns_pair, west, tmp_path
    finally:
        west.stop()


def test_shunt_conns_install_allow_and_block_policies(west_only: tuple[Pair, Pluto, Path]) -> None:
    pair, west, tmp_path = west_only
    west.start(*write_conf(tmp_path, SHUNTS))
    log = west.log_text()
    assert '"pass-ssh": added passthrough connection' in log
    assert '"drop-net": added drop connection' in log
    assert 'warning: "reject-hosts": "type=reject" implemented as "drop"' in log
    assert '"pass-ssh": 3 passthrough policies installed (auto=route)' in log
    expected = {  # (local, remote, action, priority, protocol/port from our side)
        "pass-ssh": (WEST_NET, EAST_NET, "allow", 4096 - 8 * 48 - 4 - 1, ("tcp", "22")),
        "drop-net": (WEST_NET, "203.0.113.64/26", "block", 4096 - 8 * 50, None),
        "reject-hosts": (f"{WEST_IP}/32", f"{EAST_IP}/32", "block", 4096 - 8 * 64, None),
    }
    for name, (local, remote, action, priority, upper) in expected.items():
        for src, dst, direction in ((local, remote, "out"), (remote, local, "in"), (remote, local, "fwd")):
            policy = find(pair, src, dst, direction, upper[0] if upper else None)
            assert policy is not None, (name, direction, policies(pair))
            assert policy["action"] == action and int(policy["priority"]) == priority, policy
            assert policy["tmpl"] == [], policy  # a shunt never protects: no template
            if upper is not None:
                assert policy["proto"] == upper[0]
                assert policy["dport" if direction == "out" else "sport"] == upper[1]
    trap = find(pair, WEST_NET, EAST_NET, "out")  # the tunnel's trap: a template, and it loses to the shunt
    assert trap is not None and trap["tmpl"] and int(trap["priority"]) > expected["pass-ssh"][3]
    assert find(pair, "198.51.100.128/25", "203.0.113.128/25", "out") is None  # auto=add: not routed
    assert routing(west) == {"tunnel": "routed-ondemand", "pass-ssh": "routed-never-negotiate",
                             "drop-net": "routed-never-negotiate", "reject-hosts": "routed-never-negotiate",
                             "pass-added": "unrouted"}
    text = west.ipsec("status")
    assert f'"pass-ssh": {WEST_NET}==={WEST_IP}...{EAST_IP}==={EAST_NET}/6/22; routed-never-negotiate;' \
        in text.stdout, text.stdout
    up = west.ipsec("up", "drop-net")
    assert up.returncode == 1 and "cannot initiate a never-negotiate (type=drop) connection" in up.stderr

    unrouted = west.ipsec("unroute", "drop-net")
    assert unrouted.returncode == 0 and '"drop-net": 3 drop policies removed' in unrouted.stdout
    assert all(p["dst"] != "203.0.113.64/26" and p["src"] != "203.0.113.64/26" for p in policies(pair))
    assert find(pair, WEST_NET, EAST_NET, "out") is not None
    routed = west.ipsec("route", "pass-added")
    assert routed.returncode == 0 and '"pass-added": 3 passthrough policies installed' in routed.stdout
    assert find(pair, "203.0.113.128/25", "198.51.100.128/25", "fwd")["action"] == "allow"  # type: ignore[index]
    deleted = west.ipsec("delete", "pass-added")
    assert deleted.returncode == 0 and find(pair, "198.51.100.128/25", "203.0.113.128/25", "out") is None
    assert "pass-added" not in routing(west)

    assert west.stop() == 0
    assert policies(pair) == []  # shutdown removes every shunt it installed


FAILING = west_east_conf("%default", "retransmit-timeout=2s", "auto=route", rightsubnet=None) + """
conn fail-drop
\trightsubnet=203.0.113.10/32
\treqid=101
\tfailureshunt=drop

conn fail-pass
\trightsubnet=203.0.113.11/32
\treqid=102
\tfailureshunt=passthrough

conn fail-none
\trightsubnet=203.0.113.12/32
\treqid=103

conn nego-pass
\trightsubnet=203.0.113.13/32
\treqid=104
\tnegotiationshunt=passthrough
\tretransmit-timeout=4s
"""
# Each conn has its own reqid: the kernel sends one ACQUIRE per template while one is pending.


def wake(pair: Pair, *hosts: str) -> None:
    script = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              + "".join(f"try: s.sendto(b'x', ('{h}', 9))\nexcept OSError: pass\n" for h in hosts))
    pair.exec(pair.west, sys.executable, "-c", script, check=False)


def test_failure_and_negotiation_shunts(west_only: tuple[Pair, Pluto, Path]) -> None:
    pair, west, tmp_path = west_only
    west.start(*write_conf(tmp_path, FAILING))  # no daemon in east: every negotiation times out
    names = {"fail-drop": "203.0.113.10/32", "fail-pass": "203.0.113.11/32", "fail-none": "203.0.113.12/32",
             "nego-pass": "203.0.113.13/32"}
    for dst in names.values():
        trap = find(pair, WEST_NET, dst, "out")
        assert trap is not None and trap["action"] == "allow" and trap["tmpl"], trap
    wake(pair, "203.0.113.10", "203.0.113.11", "203.0.113.12", "203.0.113.13")
    for _ in range(50):
        if all(v == "routed-negotiation" for v in routing(west).values()):
            break
        time.sleep(0.05)
    assert set(routing(west).values()) == {"routed-negotiation"}, west.log_text()
    bypass = find(pair, WEST_NET, names["nego-pass"], "out")  # while negotiating: clear text
    assert bypass is not None and bypass["action"] == "allow" and bypass["tmpl"] == [], bypass
    held = find(pair, WEST_NET, names["fail-none"], "out")  # default negotiationshunt: the trap holds
    assert held is not None and held["tmpl"], held

    for _ in range(150):
        if routing(west)["nego-pass"] == "routed-ondemand" and routing(west)["fail-none"] == "routed-ondemand":
            break
        time.sleep(0.1)
    assert routing(west) == {"fail-drop": "routed-failure", "fail-pass": "routed-failure",
                             "fail-none": "routed-ondemand", "nego-pass": "routed-ondemand"}, west.log_text()
    log = west.log_text()
    assert '"fail-drop": negotiation failed (timeout: no response from peer); failureshunt=drop installed ' \
           "in place of the trap" in log
    priority = 4096 - 8 * (24 + 32)
    for name, action in (("fail-drop", "block"), ("fail-pass", "allow")):
        shunt = find(pair, WEST_NET, names[name], "out")
        assert shunt is not None and shunt["action"] == action and shunt["tmpl"] == [], shunt
        assert int(shunt["priority"]) == priority
    for name in ("fail-none", "nego-pass"):  # failureshunt=none: the trap is back
        trap = find(pair, WEST_NET, names[name], "out")
        assert trap is not None and trap["action"] == "allow" and trap["tmpl"], trap
        assert trap["tmpl"][0]["reqid"] == {"fail-none": "103", "nego-pass": "104"}[name]

    wake(pair, "203.0.113.10")  # the drop shunt takes it: no new negotiation
    time.sleep(0.3)
    assert west.log_text().count("initiating on demand for 198.51.100.1/32 to 203.0.113.10/32") == 1

    assert west.ipsec("route", "fail-pass").returncode == 0  # routing again puts the trap back
    trap = find(pair, WEST_NET, names["fail-pass"], "out")
    assert trap is not None and trap["tmpl"] and routing(west)["fail-pass"] == "routed-ondemand"
    assert west.ipsec("unroute", "fail-drop").returncode == 0  # unroute removes the failure shunt
    assert find(pair, WEST_NET, names["fail-drop"], "out") is None
    assert routing(west)["fail-drop"] == "unrouted"
    assert west.stop() == 0
    assert policies(pair) == []
