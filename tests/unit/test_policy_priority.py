"""Kernel policy priorities and reqids: the more specific policy wins unless the
conn sets ``priority=``; ``reqid=`` fixes the reqid of every Child SA and trap."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pluto_core.config import load_config
from pluto_core.engine_conn import to_engine_conn
from pluto_core.errors import ConfigError
from pluto_core.ikev2.conn import ChildInstall, ChildKeys
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.types import Direction, plan_child, policy_priority, trap_policies


def _child(**kw: object) -> ChildInstall:
    base = ChildInstall(
        conn="c", serial=2, local_addr="192.0.2.1", remote_addr="192.0.2.2", mode="tunnel", protocol=3,
        encr_id=20, encr_key_bits=256, integ_id=None, esn=False,
        inbound=ChildKeys(0x11, b"i" * 36, b""), outbound=ChildKeys(0x22, b"o" * 36, b""),
        local_ts=(Selector.from_subnet("10.1.0.0/24"),), remote_ts=(Selector.from_subnet("10.2.0.0/24"),),
        replay_window=64, lifetime_soft=2700.0, lifetime_hard=3600.0, reqid=16392)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_more_specific_selectors_get_lower_numbers() -> None:
    wide = policy_priority("0.0.0.0/0", "0.0.0.0/0")
    subnets = policy_priority("10.1.0.0/24", "10.2.0.0/24")
    narrower = policy_priority("10.1.0.0/24", "10.2.0.0/25")
    tcp = policy_priority("10.1.0.0/24", "10.2.0.0/24", 6)
    tcp_port = policy_priority("10.1.0.0/24", "10.2.0.0/24", 6, 0, 22)
    hosts = policy_priority("10.1.0.7/32", "10.2.0.9/32")
    assert (wide, subnets, narrower) == (4096, 3712, 3704)
    # a prefix bit outweighs protocol and ports together
    assert wide > subnets > tcp > tcp_port > narrower > hosts
    assert policy_priority("2001:db8::1/128", "2001:db8::2/128") == 2048  # the most specific there is
    assert hosts > 2048


def test_child_policies_get_the_computed_priority_or_the_conns() -> None:
    plan = plan_child(_child())
    assert {p.priority for p in plan.policies} == {3712}
    assert {p.direction for p in plan.policies} == {Direction.OUT, Direction.IN, Direction.FWD}
    fixed = plan_child(_child(priority=3333, reqid=100))
    assert {p.priority for p in fixed.policies} == {3333}
    assert {t.reqid for p in fixed.policies for t in p.templates} == {100}
    assert fixed.inbound.reqid == fixed.outbound.reqid == 100


def test_trap_policies_match_the_child_policies() -> None:
    local, remote = (Selector.from_subnet("10.1.0.0/24"),), (Selector.from_subnet("10.2.0.0/25"),)
    (trap,) = trap_policies(local, remote, "192.0.2.1", "192.0.2.2", True, 16384)
    out = next(p for p in plan_child(_child(local_ts=local, remote_ts=remote)).policies
               if p.direction is Direction.OUT)
    assert trap.priority == out.priority == 3704
    (fixed,) = trap_policies(local, remote, "192.0.2.1", "192.0.2.2", True, 100, 3333)
    assert fixed.priority == 3333 and fixed.templates[0].reqid == 100


CONF = """\
conn c
\tleft=192.0.2.1
\tright=192.0.2.2
\tleftsubnet=10.1.0.0/24
\trightsubnet=10.2.0.0/24
\tauthby=secret
\tauto=add
{extra}"""


def _conn(tmp_path: Path, extra: str) -> object:
    path = tmp_path / "ipsec.conf"
    path.write_text(CONF.format(extra=extra))
    config = load_config(str(path), local_addresses={"192.0.2.1"})
    if config.failed:
        raise next(iter(config.failed.values()))
    return to_engine_conn(config.conns["c"])


def test_reqid_and_priority_reach_the_engine(tmp_path: Path) -> None:
    conn = _conn(tmp_path, "\treqid=100\n\tpriority=3333\n")
    assert (conn.reqid, conn.priority) == (100, 3333)  # type: ignore[attr-defined]
    assert (_conn(tmp_path, "").reqid, _conn(tmp_path, "").priority) == (0, 0)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["0", "16380", "99999"])
def test_a_reqid_out_of_the_manual_range_names_the_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _conn(tmp_path, f"\treqid={value}\n")
    text = str(caught.value)
    assert f"{tmp_path / 'ipsec.conf'}:8:" in text and f"reqid={value} is out of range" in text, text
