"""Shunts (pluto_core/shunts.py): never-negotiate conns and the negotiation/failure
shunts of trap conns, as kernel policies; the manager against a recording kernel."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pluto_core.config import load_config
from pluto_core.errors import ConfigError, KernelError
from pluto_core.ikev2.events import Event
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.port import Kernel
from pluto_core.kernel.types import (
    Direction,
    KernelFeatures,
    Mode,
    PolicyAction,
    PolicySpec,
    Template,
    shunt_policies,
    trap_policies,
)
from pluto_core.shunts import (
    ROUTED_FAILURE,
    ROUTED_NEGOTIATION,
    ROUTED_NEVER_NEGOTIATE,
    ROUTED_ONDEMAND,
    UNROUTED,
    ShuntManager,
    implemented_as_drop,
    to_shunt_conn,
    trap_shunts,
)

WEST, EAST = "192.0.2.1", "192.0.2.2"


def conns(tmp_path: Path, body: str) -> dict[str, Any]:
    path = tmp_path / "ipsec.conf"
    path.write_text("config setup\n\nconn %default\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\n" + body)
    return load_config(str(path), local_addresses={WEST}).conns


def test_passthrough_policies_out_in_fwd_without_template() -> None:
    sel = (Selector.from_subnet("198.51.100.0/24"),), (Selector.from_subnet("203.0.113.0/24"),)
    out = shunt_policies(*sel, PolicyAction.PASS)
    assert out == [
        PolicySpec("198.51.100.0/24", "203.0.113.0/24", Direction.OUT, priority=3712, action=PolicyAction.PASS),
        PolicySpec("203.0.113.0/24", "198.51.100.0/24", Direction.IN, priority=3712, action=PolicyAction.PASS),
        PolicySpec("203.0.113.0/24", "198.51.100.0/24", Direction.FWD, priority=3712, action=PolicyAction.PASS),
    ]
    assert all(p.templates == () for p in out)


def test_given_priority_wins_and_ports_swap_for_inbound() -> None:
    local = (Selector.from_subnet("198.51.100.1/32", 6, 22),)
    remote = (Selector.from_subnet("203.0.113.0/24", 6),)
    out, inbound, _fwd = shunt_policies(local, remote, PolicyAction.DROP, priority=77)
    assert (out.proto, out.sport, out.dport, out.priority, out.action) == (6, 22, 0, 77, PolicyAction.DROP)
    assert (inbound.src, inbound.sport, inbound.dport) == ("203.0.113.0/24", 0, 22)


def test_narrower_shunt_beats_the_wider_tunnel_trap() -> None:
    tunnel = trap_policies((Selector.from_subnet("198.51.100.0/24"),), (Selector.from_subnet("203.0.113.0/24"),),
                           WEST, EAST, True, 16384)
    shunt = shunt_policies((Selector.from_subnet("198.51.100.0/24"),), (Selector.from_subnet("203.0.113.0/24", 6, 22),),
                           PolicyAction.PASS)
    assert shunt[0].priority < tunnel[0].priority  # lower wins in XFRM and PF_KEY


def test_conn_types_and_selectors(tmp_path: Path) -> None:
    found = conns(tmp_path, (
        "conn pass-ssh\n\ttype=passthrough\n\tleftprotoport=tcp/22\n\tright=%any\n\tauto=route\n\n"
        "conn block\n\ttype=reject\n\tleftsubnet=198.51.100.0/24\n\trightsubnet=203.0.113.0/24\n\n"
        "conn drop-host\n\ttype=drop\n\n"
        "conn tunnel\n\tauthby=secret\n\tfailureshunt=reject\n\tnegotiationshunt=passthrough\n"))
    ssh = to_shunt_conn(found["pass-ssh"])
    assert ssh.action is PolicyAction.PASS
    assert [str(s) for s in ssh.local_ts] == ["192.0.2.1/32/6/22"]
    assert [str(s) for s in ssh.remote_ts] == ["0.0.0.0/0"]  # %any: all of the family
    out = ssh.policies()[0]
    assert (out.src, out.dst, out.proto, out.sport, out.dport) == ("192.0.2.1/32", "0.0.0.0/0", 6, 22, 0)
    assert ssh.remote == "%any" and ssh.auto == "route"
    block = to_shunt_conn(found["block"])
    assert block.action is PolicyAction.DROP
    assert [p.src for p in block.policies()] == ["198.51.100.0/24", "203.0.113.0/24", "203.0.113.0/24"]
    assert implemented_as_drop(found["block"]) == ['warning: "block": "type=reject" implemented as "drop"']
    host = to_shunt_conn(found["drop-host"])
    assert [str(s) for s in host.remote_ts] == ["192.0.2.2/32"] and implemented_as_drop(found["drop-host"]) == []
    assert not found["tunnel"].never_negotiate and found["block"].never_negotiate
    shunts = trap_shunts(found["tunnel"])
    assert (shunts.negotiation, shunts.failure) == (PolicyAction.PASS, PolicyAction.DROP)
    assert implemented_as_drop(found["tunnel"]) == ['warning: "tunnel": "failureshunt=reject" implemented as "drop"']


def test_defaults_keep_the_trap(tmp_path: Path) -> None:
    found = conns(tmp_path, "conn tunnel\n\tauthby=secret\n")
    assert trap_shunts(found["tunnel"]) == trap_shunts(found["tunnel"]).__class__(None, None)
    assert implemented_as_drop(found["tunnel"]) == []


def test_unoriented_shunt_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ipsec.conf"
    path.write_text("conn far\n\tleft=10.9.9.9\n\tright=10.8.8.8\n\ttype=passthrough\n")
    conn = load_config(str(path), local_addresses={WEST}).conns["far"]
    with pytest.raises(ConfigError, match=r"ipsec.conf:1: \"far\": neither left=10.9.9.9"):
        to_shunt_conn(conn)


# --------------------------------------------------------------------------------------------
# The manager: kernel calls through the hooks, state from the engine's events


class Backend:
    """The backend hooks the manager's kernel port uses, recording what the kernel would hold."""

    def __init__(self) -> None:
        self.held: dict[tuple[Any, ...], PolicySpec] = {}
        self.refuse = False
        self.fwd = True

    def pluto_kernel_features(self) -> KernelFeatures:
        return KernelFeatures(fwd_policies=self.fwd)

    @staticmethod
    def key(p: PolicySpec) -> tuple[Any, ...]:
        return (p.src, p.dst, p.direction, p.proto, p.sport, p.dport)

    def pluto_kernel_add_policy(self, policy: PolicySpec, update: bool) -> None:
        if self.refuse:
            raise KernelError("add policy", 1, "refused")
        self.held[self.key(policy)] = policy

    def pluto_kernel_del_policy(self, policy: PolicySpec) -> None:
        if self.held.pop(self.key(policy), None) is None:
            raise KernelError("delete policy", 2, "gone")


def make_host(tmp_path: Path, body: str) -> tuple[SimpleNamespace, dict[str, Any]]:
    lines: list[str] = []
    engine = SimpleNamespace(conns={}, routed=set(), sas=[])
    engine.ike_sas = lambda: engine.sas
    backend = Backend()
    host = SimpleNamespace(hook=backend, kernel=Kernel(backend, "fake"), traps={}, engine=engine,
                           log=SimpleNamespace(log=lines.append),
                           lines=lines)
    host.shunts = ShuntManager(host)
    return host, conns(tmp_path, body)


def route_trap(host: SimpleNamespace, name: str) -> list[PolicySpec]:
    traps = trap_policies((Selector.from_subnet("198.51.100.0/24"),), (Selector.from_subnet("203.0.113.0/24"),),
                          WEST, EAST, True, 16384)
    for p in traps:
        host.hook.pluto_kernel_add_policy(policy=p, update=True)
    host.traps[name] = traps
    host.engine.routed.add(name)
    host.engine.conns[name] = object()
    return traps


def test_route_and_unroute_a_shunt_conn(tmp_path: Path) -> None:
    host, found = make_host(tmp_path, "conn p\n\ttype=passthrough\n\tleftsubnet=198.51.100.0/24\n"
                                      "\trightsubnet=203.0.113.0/24\n\tauto=route\n")
    assert host.shunts.add(found["p"]) == '"p": added passthrough connection'
    assert host.shunts.routing("p") == UNROUTED
    host.shunts.route_at_start("p")
    assert host.lines == ['"p": 3 passthrough policies installed (auto=route)']
    assert {(p.direction, p.action, p.templates) for p in host.hook.held.values()} == {
        (d, PolicyAction.PASS, ()) for d in (Direction.OUT, Direction.IN, Direction.FWD)}
    assert host.shunts.routing("p") == ROUTED_NEVER_NEGOTIATE
    assert host.shunts.status()[0]["routing"] == ROUTED_NEVER_NEGOTIATE
    assert host.shunts.unroute("p") == 3 and host.hook.held == {}
    host.shunts.route("p")
    host.shunts.forget("p")  # ipsec delete
    assert host.hook.held == {} and not host.shunts.is_shunt("p")


def test_shunt_and_ike_conn_cannot_share_a_name(tmp_path: Path) -> None:
    host, found = make_host(tmp_path, "conn p\n\ttype=drop\n\nconn t\n\tauthby=secret\n")
    host.engine.conns["p"] = object()
    with pytest.raises(ConfigError, match="already loaded"):
        host.shunts.add(found["p"])


def test_kernel_refusal_is_logged_not_raised_at_start(tmp_path: Path) -> None:
    host, found = make_host(tmp_path, "conn d\n\ttype=drop\n\tauto=route\n")
    host.shunts.add(found["d"])
    host.hook.refuse = True
    host.shunts.route_at_start("d")
    assert host.lines[-1].startswith('"d": cannot install drop policies: kernel add policy failed')


def negotiate(host: SimpleNamespace, name: str, serial: int) -> None:
    host.engine.sas = [SimpleNamespace(serial=serial, name=name, children=[])]
    host.shunts.negotiating(serial)


@pytest.mark.parametrize(("failureshunt", "action"), [("drop", PolicyAction.DROP), ("passthrough", PolicyAction.PASS),
                                                       ("reject", PolicyAction.DROP)])
def test_failure_shunt_replaces_the_trap(tmp_path: Path, failureshunt: str, action: PolicyAction) -> None:
    host, found = make_host(tmp_path, f"conn t\n\tauthby=secret\n\tfailureshunt={failureshunt}\n")
    host.shunts.configure_trap(found["t"])
    traps = route_trap(host, "t")
    negotiate(host, "t", 3)
    assert host.shunts.routing("t") == ROUTED_NEGOTIATION
    assert host.hook.held[Backend.key(traps[0])] == traps[0]  # negotiationshunt=drop (default): trap kept
    host.shunts.on_event(Event("ike-failed", "t", 3, "timeout: no response from peer"))
    held = host.hook.held[Backend.key(traps[0])]
    assert (held.action, held.templates, held.priority) == (action, (), traps[0].priority)
    assert host.shunts.routing("t") == ROUTED_FAILURE
    word = "passthrough" if action is PolicyAction.PASS else "drop"
    assert host.lines[-1] == (f'"t": negotiation failed (timeout: no response from peer); failureshunt={word} '
                              "installed in place of the trap")
    host.shunts.trap_installed("t")  # ipsec route again: the trap is back
    assert host.shunts.routing("t") == ROUTED_ONDEMAND


def test_failureshunt_none_keeps_the_trap_and_other_serials_are_ignored(tmp_path: Path) -> None:
    host, found = make_host(tmp_path, "conn t\n\tauthby=secret\n")
    host.shunts.configure_trap(found["t"])
    traps = route_trap(host, "t")
    negotiate(host, "t", 5)
    host.shunts.on_event(Event("ike-failed", "t", 4, "an older IKE SA"))
    assert host.shunts.routing("t") == ROUTED_NEGOTIATION
    host.shunts.on_event(Event("child-failed", "t", 6, "TS_UNACCEPTABLE"))
    assert host.hook.held[Backend.key(traps[0])] == traps[0]
    assert host.shunts.routing("t") == ROUTED_ONDEMAND


def test_negotiation_passthrough_then_back_to_the_trap(tmp_path: Path) -> None:
    host, found = make_host(tmp_path, "conn t\n\tauthby=secret\n\tnegotiationshunt=passthrough\n")
    host.shunts.configure_trap(found["t"])
    traps = route_trap(host, "t")
    negotiate(host, "t", 1)
    held = host.hook.held[Backend.key(traps[0])]
    assert (held.action, held.templates) == (PolicyAction.PASS, ())
    host.shunts.on_event(Event("ike-failed", "t", 1, "AUTHENTICATION_FAILED"))
    assert host.hook.held[Backend.key(traps[0])] == traps[0]  # failureshunt=none: the trap again
    assert traps[0].templates == (Template(Mode.TUNNEL, WEST, EAST, 16384),)


def test_success_ends_the_negotiation_and_unrouted_conns_are_not_tracked(tmp_path: Path) -> None:
    host, found = make_host(tmp_path, "conn t\n\tauthby=secret\n\tfailureshunt=drop\n\nconn u\n\tauthby=secret\n")
    for name in ("t", "u"):
        host.shunts.configure_trap(found[name])
    route_trap(host, "t")
    negotiate(host, "t", 1)
    host.shunts.on_event(Event("child-up", "t", 2))
    host.shunts.on_event(Event("ike-failed", "t", 1, "later: liveness"))
    assert host.shunts.routing("t") == ROUTED_ONDEMAND  # no failure shunt after success
    negotiate(host, "u", 7)  # not routed: nothing to replace
    assert "u" not in host.shunts.pending


def test_kernel_without_forward_policies_routes_out_and_in(tmp_path: Path) -> None:
    """FreeBSD/NetBSD PF_KEY have no FWD (declared; a FWD policy is refused with
    EOPNOTSUPP): the shunt is routed without it."""
    import errno

    host, found = make_host(tmp_path, "conn d\n\ttype=drop\n")
    host.shunts.add(found["d"])
    add = host.hook.pluto_kernel_add_policy

    def no_fwd(policy: PolicySpec, update: bool) -> None:
        if policy.direction is Direction.FWD:
            raise KernelError("add policy", errno.EOPNOTSUPP, "the freebsd kernel has no forward policies")
        add(policy=policy, update=update)

    host.hook.pluto_kernel_add_policy = no_fwd
    host.hook.fwd = False
    assert host.shunts.route("d") == 2
    assert {p.direction for p in host.hook.held.values()} == {Direction.OUT, Direction.IN}
