"""Shunts: kernel policies that let traffic through in clear text or discard it,
with no IKE behind them (Libreswan's "never-negotiate" conns and its
``failureshunt=`` / ``negotiationshunt=``).

- ``type=passthrough|pass|drop|reject`` conns never negotiate. Routed, they
  install out, in and fwd policies for their selectors with no template:
  passthrough is XFRM ``allow`` (PF_KEY ``IPSEC_POLICY_NONE``), drop and
  reject are ``block`` (``IPSEC_POLICY_DISCARD``; like Libreswan, reject is
  implemented as drop: no kernel sends the ICMP). They never reach the engine,
  so no IKE message can ever be sent or accepted for them.
- A trap conn (``auto=ondemand|route``, ``ipsec route``) keeps its trap while a
  negotiation started by an ACQUIRE (or ``ipsec up``) runs, unless
  ``negotiationshunt=passthrough`` puts a bypass policy there meanwhile; when
  that negotiation fails, ``failureshunt=passthrough|drop`` takes the trap's
  place (``none``, the default, puts the trap back).

The pure part (which policies) is separate from :class:`ShuntManager`, which
the IKE host owns and which does the kernel I/O through the host's
:class:`pluto_core.kernel.port.Kernel`; the engine only reports events.
"""

from __future__ import annotations

import dataclasses
import errno
from dataclasses import dataclass
from typing import Any

from pluto_core.config.connection import oriented_ends
from pluto_core.engine_conn import end_selectors
from pluto_core.errors import ConfigError, KernelError
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.types import Direction, PolicyAction, PolicySpec, shunt_policies

NEVER_NEGOTIATE: dict[str, PolicyAction] = {
    "passthrough": PolicyAction.PASS, "pass": PolicyAction.PASS,
    "drop": PolicyAction.DROP, "reject": PolicyAction.DROP,
}
FAILURE_SHUNTS: dict[str, PolicyAction | None] = {
    "none": None, "passthrough": PolicyAction.PASS, "pass": PolicyAction.PASS,
    "drop": PolicyAction.DROP, "hold": PolicyAction.DROP, "reject": PolicyAction.DROP,
}
# drop and hold both keep the trap: XFRM discards (or, with xfrm_larval_drop=0, queues)
# what matches a template with no SA yet, which is the hold/drop Libreswan describes.
NEGOTIATION_SHUNTS: dict[str, PolicyAction | None] = {
    "passthrough": PolicyAction.PASS, "pass": PolicyAction.PASS, "drop": None, "hold": None,
}
# Values Libreswan accepts but implements as another, with its warning.
_IMPLEMENTED_AS_DROP = {("type", "reject"), ("failureshunt", "hold"), ("failureshunt", "reject"),
                        ("negotiationshunt", "hold")}

# Libreswan's routing words, shown by `ipsec status`.
UNROUTED = "unrouted"
ROUTED_NEVER_NEGOTIATE = "routed-never-negotiate"
ROUTED_ONDEMAND = "routed-ondemand"
ROUTED_NEGOTIATION = "routed-negotiation"
ROUTED_FAILURE = "routed-failure"
ROUTED_TUNNEL = "routed-tunnel"


def shunt_word(action: PolicyAction) -> str:
    """The word Libreswan uses in ``added ... connection`` and in status."""
    return "passthrough" if action is PolicyAction.PASS else "drop"


def without_template(policies: list[PolicySpec], action: PolicyAction) -> list[PolicySpec]:
    """The same kernel objects (selector, direction) turned into shunts of ``action``."""
    return [dataclasses.replace(p, action=action, templates=()) for p in policies]


def implemented_as_drop(conn: Any) -> list[str]:
    """Libreswan's warnings for values it reads as drop (only where the conn sets them)."""
    out = []
    for key in ("type", "failureshunt", "negotiationshunt"):
        value = str(conn.get(key)) if key != "type" else str(conn.type)
        if (key, value) in _IMPLEMENTED_AS_DROP and (key == "type" or key in conn.options):
            out.append(f"warning: \"{conn.name}\": \"{key}={value}\" implemented as \"drop\"")
    return out


# --------------------------------------------------------------------------------------------
# From the config Connection


@dataclass(frozen=True, slots=True)
class ShuntConn:
    """A never-negotiate conn as the daemon keeps it."""

    name: str
    type: str  # as written: passthrough, pass, drop, reject
    action: PolicyAction
    local: str  # host address, or how it was written
    remote: str
    local_ts: tuple[Selector, ...]
    remote_ts: tuple[Selector, ...]
    priority: int = 0
    auto: str = "ignore"

    def policies(self) -> list[PolicySpec]:
        return shunt_policies(self.local_ts, self.remote_ts, self.action, self.priority)


def _end_selectors(conn: Any, end: Any, version: int | None) -> tuple[Selector, ...]:
    """An end's selectors as an IKE conn's (``engine_conn.end_selectors``); an end with no
    subnet and no usable address (``%any``, ``0.0.0.0``) stands for all of the family."""
    address = end.address
    usable = address is not None and not address.is_unspecified
    selectors = end_selectors(end, str(address) if usable else None)
    if selectors:
        return selectors
    if end.is_any or address is not None:
        pp = end.protoport
        proto, port = (pp.protocol, pp.port) if pp is not None else (0, 0)
        family = version or (address.version if address is not None else 4)
        return (Selector.from_subnet("0.0.0.0/0" if family == 4 else "::/0", proto, port or None),)
    raise ConfigError(f"\"{conn.name}\": {end.host} has no address and no subnet to build a "
                      f"type={conn.type} policy from", conn.file, conn.line)


def to_shunt_conn(conn: Any) -> ShuntConn:
    """A config ``Connection`` with a never-negotiate ``type=``. ConfigError (file:line)
    when this host is neither end or an end gives no selector."""
    if str(conn.type) not in NEVER_NEGOTIATE:
        raise ConfigError(f"\"{conn.name}\": authby=never with type={conn.type}: a never-negotiate conn needs "
                          "type=passthrough, drop or reject", conn.file, conn.line)
    local, remote = oriented_ends(conn)
    local_ts = _end_selectors(conn, local, None)
    remote_ts = _end_selectors(conn, remote, local_ts[0].version)
    if not any(lt.version == rt.version for lt in local_ts for rt in remote_ts):
        raise ConfigError(f"\"{conn.name}\": the two ends' subnets are of different address families",
                          conn.file, conn.line)
    return ShuntConn(
        name=conn.name, type=str(conn.type), action=NEVER_NEGOTIATE[str(conn.type)],
        local=str(local.address) if local.address is not None else str(local.host),
        remote=str(remote.address) if remote.address is not None else str(remote.host or "%any"),
        local_ts=local_ts, remote_ts=remote_ts, priority=int(conn.get("priority") or 0),
        auto=str(conn.auto))


@dataclass(frozen=True, slots=True)
class TrapShunts:
    """A trap conn's ``negotiationshunt=`` and ``failureshunt=`` as kernel actions
    (None: keep the trap)."""

    negotiation: PolicyAction | None = None
    failure: PolicyAction | None = None


def trap_shunts(conn: Any) -> TrapShunts:
    return TrapShunts(NEGOTIATION_SHUNTS.get(str(conn.get("negotiationshunt")), None),
                      FAILURE_SHUNTS.get(str(conn.get("failureshunt")), None))


# --------------------------------------------------------------------------------------------
# In the daemon


class ShuntManager:
    """The daemon's shunts: never-negotiate conns and the negotiation/failure shunts
    of trap conns. ``host`` is the :class:`~pluto_core.ike_host.IkeHost` (its
    kernel port, trap policies, engine and log); the engine's events arrive
    through :meth:`on_event`."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.conns: dict[str, ShuntConn] = {}  # never-negotiate conns
        self.routed: dict[str, list[PolicySpec]] = {}  # never-negotiate conn -> its policies in the kernel
        self.trap_config: dict[str, TrapShunts] = {}  # trap-capable conns of the engine
        self.pending: dict[str, int] = {}  # routed conn -> serial of the IKE SA negotiating for it
        self.failed: dict[str, PolicyAction] = {}  # routed conn -> the failure shunt in its trap's place

    # -- conns ----------------------------------------------------------------

    def add(self, conn: Any) -> str:
        """Load a never-negotiate conn; the ``added ... connection`` line."""
        if conn.name in self.host.engine.conns:
            raise ConfigError(f"\"{conn.name}\": a connection of that name is already loaded "
                              f"(ipsec delete {conn.name} first)", conn.file, conn.line)
        shunt = to_shunt_conn(conn)
        for warning in implemented_as_drop(conn):
            self.host.log.log(warning)
        if conn.name in self.routed:
            self.unroute(conn.name)
        self.conns[conn.name] = shunt
        return f"\"{conn.name}\": added {shunt_word(shunt.action)} connection"

    def configure_trap(self, conn: Any) -> None:
        """Before an IKE conn is added: note its shunts, log Libreswan's warnings."""
        if conn.name in self.conns:
            raise ConfigError(f"\"{conn.name}\": a type={self.conns[conn.name].type} connection of that name is "
                              f"already loaded (ipsec delete {conn.name} first)", conn.file, conn.line)
        for warning in implemented_as_drop(conn):
            self.host.log.log(warning)
        self.trap_config[conn.name] = trap_shunts(conn)

    def is_shunt(self, name: str) -> bool:
        return name in self.conns

    def forget(self, name: str) -> None:
        """``ipsec delete``: the conn's shunts leave the kernel and the record."""
        if name in self.conns:
            self.unroute(name)
            del self.conns[name]
        self.trap_config.pop(name, None)
        self.pending.pop(name, None)
        self.failed.pop(name, None)

    # -- never-negotiate conns ----------------------------------------------------

    def route(self, name: str) -> int:
        """Install the conn's shunt policies (update: routing twice is harmless).
        KernelError when the backend refuses one; those already in stay recorded."""
        shunt = self.conns[name]
        installed = self.routed.setdefault(name, [])
        fwd = self.host.kernel.features().fwd_policies
        for policy in shunt.policies():
            if policy.direction is Direction.FWD and not fwd:
                continue  # FreeBSD/NetBSD PF_KEY: no forward policies (out and in decide there)
            self.host.kernel.add_policy(policy, update=True)
            if policy not in installed:
                installed.append(policy)
        return len(installed)

    def unroute(self, name: str) -> int:
        removed = 0
        for policy in self.routed.pop(name, []):
            if self._delete(name, policy):
                removed += 1
        return removed

    def _delete(self, name: str, policy: PolicySpec) -> bool:
        try:
            self.host.kernel.del_policy(policy)
            return True
        except KernelError as exc:
            if exc.errno not in (errno.ENOENT, errno.ESRCH):
                self.host.log.log(f"\"{name}\": cannot remove {shunt_word(policy.action)} policy: {exc}")
            return False

    def route_at_start(self, name: str) -> None:
        """``auto=route|ondemand|start|up`` of a never-negotiate conn: it has nothing to
        negotiate, so being in effect means being routed."""
        shunt = self.conns[name]
        try:
            count = self.route(name)
        except KernelError as exc:
            self.host.log.log(f"\"{name}\": cannot install {shunt_word(shunt.action)} policies: {exc}")
            return
        self.host.log.log(f"\"{name}\": {count} {shunt_word(shunt.action)} polic{'y' if count == 1 else 'ies'} "
                          f"installed (auto={shunt.auto})")

    # -- trap conns: negotiation and failure shunts ----------------------------------

    def trap_installed(self, name: str) -> None:
        """The trap is (back) in the kernel: no failure shunt any more."""
        self.failed.pop(name, None)

    def trap_removed(self, name: str) -> None:
        self.pending.pop(name, None)
        self.failed.pop(name, None)

    def negotiating(self, serial: int | None) -> None:
        """A negotiation for a routed conn started (ACQUIRE or ``ipsec up``): remember it,
        and put ``negotiationshunt=passthrough``'s bypass policy in the trap's place."""
        if serial is None:
            return
        sa = next((s for s in self.host.engine.ike_sas() if s.serial == serial), None)
        if sa is None or sa.name not in self.host.engine.routed:
            return
        name = sa.name
        self.pending[name] = serial
        action = self.trap_config.get(name, TrapShunts()).negotiation
        if action is not None and self._replace_trap(name, action):
            self.host.log.log(f"\"{name}\" #{serial}: negotiationshunt={shunt_word(action)} installed "
                              "while negotiating")

    def on_event(self, ev: Any) -> None:
        """Engine events: the pending negotiation of a routed conn ends here."""
        serial = self.pending.get(ev.conn)
        if serial is None:
            return
        if ev.kind == "child-up":
            del self.pending[ev.conn]  # the Child SA's policies replaced the trap or the bypass
        elif ev.kind == "child-failed" or (ev.kind == "ike-failed" and ev.serial == serial):
            del self.pending[ev.conn]
            self._negotiation_failed(ev.conn, ev.detail)

    def _negotiation_failed(self, name: str, why: str) -> None:
        config = self.trap_config.get(name, TrapShunts())
        if config.failure is None:
            if config.negotiation is not None:
                self._restore_trap(name)
            return
        if self._replace_trap(name, config.failure):
            self.failed[name] = config.failure
            self.host.log.log(f"\"{name}\": negotiation failed ({why}); failureshunt={shunt_word(config.failure)} "
                              "installed in place of the trap")

    def _replace_trap(self, name: str, action: PolicyAction) -> bool:
        traps = self.host.traps.get(name, [])
        try:
            for policy in without_template(traps, action):
                self.host.kernel.add_policy(policy, update=True)
        except KernelError as exc:
            self.host.log.log(f"\"{name}\": cannot install {shunt_word(action)} shunt: {exc}")
            return False
        return bool(traps)

    def _restore_trap(self, name: str) -> None:
        try:
            for policy in self.host.traps.get(name, []):
                self.host.kernel.add_policy(policy, update=True)
        except KernelError as exc:
            self.host.log.log(f"\"{name}\": cannot put the trap policy back: {exc}")

    # -- status ----------------------------------------------------------------------

    def routing(self, name: str) -> str:
        """Libreswan's routing word for conn ``name``."""
        if name in self.conns:
            return ROUTED_NEVER_NEGOTIATE if name in self.routed else UNROUTED
        engine = self.host.engine
        if any(sa.name == name and sa.children for sa in engine.ike_sas()):
            return ROUTED_TUNNEL
        if name not in engine.routed:
            return UNROUTED
        if name in self.pending:
            return ROUTED_NEGOTIATION
        return ROUTED_FAILURE if name in self.failed else ROUTED_ONDEMAND

    def status(self) -> list[dict[str, Any]]:
        """The never-negotiate conns as ``status`` lists them."""
        out = []
        for shunt in self.conns.values():
            out.append({"name": shunt.name, "local": shunt.local, "remote": shunt.remote,
                        "local_ts": [str(t) for t in shunt.local_ts], "remote_ts": [str(t) for t in shunt.remote_ts],
                        "type": shunt.type, "shunt": shunt_word(shunt.action), "routing": self.routing(shunt.name),
                        "policies": len(self.routed.get(shunt.name, []))})
        return out

