"""The one route into the kernel: the engine (through its ``KernelPort``
protocol), the IKE host (traps, socket bypass, ESP in UDP, events), the
shunts and the control commands (SA counters) all go through :class:`Kernel`.

Backends implement primitives only (SPI, SA, policy, events) and declare what
they can do once (``pluto_kernel_features``). What is built from the
primitives lives here, once for every backend: a Child SA's SAs and policies
in order with rollback on failure, and policies shared between holders (the
Child SAs of a rekey, a trap) counted so that the last holder removes them.
This is strongSwan's split between ``kernel_ipsec_t`` and ``child_sa_t``.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

from pluto_core.errors import KernelError
from pluto_core.ikev2.conn import ChildInstall
from pluto_core.kernel.owned import OwnedRecord
from pluto_core.kernel.types import (
    IPPROTO_AH,
    IPPROTO_ESP,
    Direction,
    KernelEvent,
    KernelFeatures,
    PolicySpec,
    SaCounters,
    SaId,
    interface_name,
    plan_child,
    policy_identity,
    sa_id,
)

GONE = (errno.ENOENT, errno.ESRCH)


class Kernel:
    """The selected backend's hooks behind the operations pluto needs.

    ``hook`` is the plugin manager's hook relay (only the selected backend
    implements the ``pluto_kernel_*`` primitives); ``backend`` its name, for
    messages."""

    def __init__(self, hook: Any, backend: str, log: Callable[[str], None] | None = None) -> None:
        self.hook = hook
        self.backend = backend
        self.log = log  # for deletions the kernel refused (left behind, retried later)
        self.holders = OwnedRecord(policy_identity)
        # policies and SAs whose deletion the kernel refused (not ENOENT/ESRCH): retried before
        # the next change this port makes, removed at shutdown by flush_owned in any case
        self.undeleted: list[PolicySpec | SaId] = []
        self._features: KernelFeatures | None = None
        # XFRM interfaces: name -> the conns using it, and which of them this daemon created
        self.interface_users: dict[str, set[str]] = {}
        self.interfaces_created: set[str] = set()

    # ------------------------------------------------------------------ what the backend can do

    def features(self) -> KernelFeatures:
        """The backend's declaration, asked once. A backend that declares nothing
        implements none of the kernel hooks: every operation is refused."""
        if self._features is None:
            declared = self.hook.pluto_kernel_features()
            if declared is None:
                raise KernelError("ask kernel features", errno.ENOSYS,
                                  f"kernel backend '{self.backend}' implements no kernel hooks "
                                  "(no pluto_kernel_features)")
            self._features = declared
        return self._features

    def check_child(self, encr_id: int, key_bits: int | None, integ_id: int | None) -> str | None:
        """Why the kernel cannot install these ESP transforms, or None (also when
        the backend cannot tell before trying)."""
        if not self.features().algorithm_check:
            return None
        answer: str | None = self.hook.pluto_kernel_check_child(encr_id=encr_id, key_bits=key_bits,
                                                                 integ_id=integ_id)
        return answer

    # ------------------------------------------------------------------ life cycle

    def open(self, options: Any, log: Any) -> str | None:
        """Open the backend; its one-line description for the start-up log."""
        description: str | None = self.hook.pluto_kernel_open(options=options, log=log)
        return description

    def flush_owned(self) -> int:
        """Remove what this daemon installed (shutdown): SAs, policies, then the XFRM
        interfaces it created; how many entries went."""
        self.holders = OwnedRecord(policy_identity)
        self.undeleted.clear()  # still in the backend's record: flushed with the rest
        removed = int(self.hook.pluto_kernel_flush_owned() or 0)
        for name in sorted(self.interfaces_created):
            try:
                self.hook.pluto_kernel_del_interface(name=name)
                removed += 1
            except KernelError as exc:
                if exc.errno != errno.ENODEV:
                    raise
        self.interfaces_created.clear()
        self.interface_users.clear()
        return removed

    # ------------------------------------------------------------------ XFRM interfaces

    def hold_interface(self, user: str, if_id: int) -> str | None:
        """``user`` (a conn) needs the XFRM interface of ``if_id``: the first user makes it
        exist (Libreswan creates ``ipsecN`` with the first conn that names it). Returns the
        log line when this call created it, else None. A backend that cannot is refused with
        its reason (``KernelError``, EOPNOTSUPP)."""
        name = interface_name(if_id)
        why = self.features().if_id_refusal
        if why is not None:
            raise KernelError("add XFRM interface", errno.EOPNOTSUPP, why)
        users = self.interface_users.get(name)
        if users is None:
            created = bool(self.hook.pluto_kernel_add_interface(name=name, if_id=if_id))
            users = self.interface_users[name] = set()
            if created:
                self.interfaces_created.add(name)
            users.add(user)
            return (f"created XFRM interface {name} (if_id {if_id})" if created
                    else f"using existing XFRM interface {name} (if_id {if_id})")
        users.add(user)
        return None

    def release_interface(self, user: str, if_id: int) -> str | None:
        """``user`` no longer needs it: the last user deletes an interface this daemon created
        (one that existed before is left). The log line when deleted, else None."""
        name = interface_name(if_id)
        users = self.interface_users.get(name)
        if users is None or user not in users:
            return None
        users.discard(user)
        if users:
            return None
        del self.interface_users[name]
        if name not in self.interfaces_created:
            return None
        self.interfaces_created.discard(name)
        try:
            self.hook.pluto_kernel_del_interface(name=name)
        except KernelError as exc:
            if exc.errno != errno.ENODEV:
                raise
        return f"deleted XFRM interface {name}"

    def close(self) -> None:
        self.hook.pluto_kernel_close()

    # ------------------------------------------------------------------ the engine's KernelPort

    def allocate_spi(self, src: str, dst: str, protocol: int) -> int:
        self.features()
        return int(self.hook.pluto_kernel_allocate_spi(src=src, dst=dst, protocol=protocol))

    def _note(self, who: str, exc: KernelError, what: PolicySpec | SaId) -> None:
        """A deletion the kernel refused: left behind for now, retried later."""
        self.undeleted.append(what)
        if self.log is not None:
            self.log(f"{who}{exc}; left in the kernel for now, removed at the next change or at shutdown")

    def retry_undeleted(self) -> int:
        """Delete again what the kernel refused to delete before; how many went now. A
        policy held again meanwhile (a new Child SA on the same selectors) is not touched."""
        pending, self.undeleted = self.undeleted, []
        done = 0
        for what in pending:
            try:
                if isinstance(what, SaId):
                    self.hook.pluto_kernel_del_sa(sa=what)
                elif self.holders.policies.get(policy_identity(what)) is None:
                    self.hook.pluto_kernel_del_policy(policy=what)
                else:
                    continue
                done += 1
            except KernelError as exc:
                if exc.errno not in GONE:
                    self.undeleted.append(what)
        if done and self.log is not None:
            self.log(f"removed {done} kernel entr{'y' if done == 1 else 'ies'} whose deletion had failed")
        return done

    def release_spi(self, src: str, dst: str, protocol: int, spi: int) -> None:
        """Delete the larval SA ``allocate_spi`` left for an SPI no Child SA will use
        (``protocol`` as there: the IKEv2 Protocol ID, or the IP protocol number)."""
        proto = {2: IPPROTO_AH, 3: IPPROTO_ESP}.get(protocol, protocol)
        self._quiet_del_sa(SaId(dst=dst, spi=spi, proto=proto, src=src))

    def install_child(self, child: ChildInstall) -> None:
        """Both SAs, then the out/in/(fwd) policies of every selector pair (each held
        once more). All or nothing: on failure what this call installed is removed
        again, the larval SA of the inbound SPI too, and the KernelError propagates."""
        if self.undeleted:
            self.retry_undeleted()
        plan = plan_child(child)
        fwd = self.features().fwd_policies
        added = []
        held: list[PolicySpec] = []
        who = f"\"{child.conn}\" #{child.serial}: "
        try:
            for sa in (plan.inbound, plan.outbound):
                self.hook.pluto_kernel_add_sa(sa=sa, update=False)
                added.append(sa)
            for policy in plan.policies:
                if policy.direction is Direction.FWD and not fwd:
                    continue  # the BSDs check forwarded traffic against the in policy
                self.hold_policy(policy)
                held.append(policy)
        except KernelError:
            for policy in held:
                self.release_policy(policy, who)
            for sa in added:
                self._quiet_del_sa(sa_id(sa), who)
            if plan.inbound not in added:
                self._quiet_del_sa(sa_id(plan.inbound), who)  # the larval SA of its SPI
            raise

    def remove_child(self, child: ChildInstall) -> tuple[int, int] | None:
        """Read the SAs' byte counters (for the ``child-down`` event: ``updown``'s
        PLUTO_INBYTES / PLUTO_OUTBYTES), then undo :meth:`install_child`; what is
        already gone is not an error."""
        if self.undeleted:
            self.retry_undeleted()
        counts = self.child_bytes(child)
        plan = plan_child(child)
        who = f"\"{child.conn}\" #{child.serial}: "
        for policy in plan.policies:
            self.release_policy(policy, who)
        for sa in (plan.outbound, plan.inbound):
            self._quiet_del_sa(sa_id(sa), who)
        return counts

    def migrate_refusal(self) -> str | None:
        """Why this backend cannot move SAs in place (MOBIKE); None: it can."""
        return self.features().migrate_refusal

    def migrate_child(self, old: ChildInstall, new: ChildInstall) -> None:
        """Move an installed Child SA to ``new``'s end points (and ESP-in-UDP ports) in
        place, keys and sequence numbers kept (MOBIKE, RFC 4555 3.5): each of its
        policies with the SA its templates reach. ``KernelError`` when the backend cannot
        (``migrate_refusal``: ``EOPNOTSUPP``) or the kernel refuses."""
        refusal = self.features().migrate_refusal
        if refusal is not None:
            raise KernelError("migrate SA", errno.EOPNOTSUPP, refusal)
        if old.mode != "tunnel":
            raise KernelError("migrate SA", errno.EOPNOTSUPP, "a transport-mode Child SA has no tunnel "
                              "end points to move")
        before, after = plan_child(old), plan_child(new)
        fwd = self.features().fwd_policies
        for was, now in zip(before.policies, after.policies, strict=True):
            if was.direction is Direction.FWD and not fwd:
                continue
            if was.direction is Direction.OUT:
                moved, encap = ((sa_id(before.outbound), sa_id(after.outbound)),), after.outbound.encap
            else:
                moved, encap = ((sa_id(before.inbound), sa_id(after.inbound)),), after.inbound.encap
            self.hook.pluto_kernel_migrate(old=was, new=now, moved=moved, encap=encap)
            self.holders.retemplate(now)

    def _quiet_del_sa(self, sa: SaId, who: str = "") -> None:
        """Delete an SA; one already gone is fine, one the kernel refuses to delete is noted
        (logged, retried later): the caller is undoing and goes on."""
        try:
            self.hook.pluto_kernel_del_sa(sa=sa)
        except KernelError as exc:
            if exc.errno not in GONE:
                self._note(who, exc, sa)

    # ------------------------------------------------------------------ policies

    def hold_policy(self, policy: PolicySpec) -> None:
        """Install (or replace) ``policy`` for one more holder: a Child SA of a rekey
        installs the policies its predecessor still holds."""
        self.hook.pluto_kernel_add_policy(policy=policy, update=True)
        self.holders.add_policy(policy)

    def release_policy(self, policy: PolicySpec, who: str = "") -> None:
        """One holder fewer; the last one takes the policy out of the kernel (one the kernel
        refuses to delete is noted: logged, retried later)."""
        if self.holders.release_policy(policy) == 0:
            try:
                self.hook.pluto_kernel_del_policy(policy=policy)
            except KernelError as exc:
                if exc.errno not in GONE:
                    self._note(who, exc, policy)

    def add_policy(self, policy: PolicySpec, update: bool = True) -> None:
        """Install or replace a trap or shunt policy: held at least once from now on,
        so a Child SA on the same selectors does not take it out when it goes.
        ``KernelError`` when refused (``EOPNOTSUPP`` for what the backend cannot
        express)."""
        self.hook.pluto_kernel_add_policy(policy=policy, update=update)
        self.holders.keep_policy(policy)

    def del_policy(self, policy: PolicySpec) -> None:
        """Take a policy out of the kernel whoever holds it. ``KernelError`` with
        ``ENOENT``/``ESRCH`` when it is already gone."""
        self.holders.drop_policy(policy)
        self.hook.pluto_kernel_del_policy(policy=policy)

    # ------------------------------------------------------------------ counters

    def query_sa(self, sa: SaId) -> SaCounters | None:
        """The SA's counters; None when the backend cannot read them."""
        if not self.features().sa_counters:
            return None
        counters: SaCounters | None = self.hook.pluto_kernel_query_sa(sa=sa)
        return counters

    def sa_bytes(self, dst: str, src: str, spi: int) -> int | None:
        """Bytes through one ESP SA; None when the kernel cannot say (no counters,
        or the SA is gone)."""
        try:
            counters = self.query_sa(SaId(dst, spi, IPPROTO_ESP, src=src))
        except KernelError:
            return None
        return int(counters.bytes) if counters is not None else None

    def child_bytes(self, child: ChildInstall) -> tuple[int, int] | None:
        """Bytes through the Child SA (inbound, outbound); None unless both are known."""
        inbound = self.sa_bytes(child.local_addr, child.remote_addr, child.inbound.spi)
        outbound = self.sa_bytes(child.remote_addr, child.local_addr, child.outbound.spi)
        if inbound is None or outbound is None:
            return None
        return inbound, outbound

    # ------------------------------------------------------------------ sockets and events

    def bypass_socket(self, sock: socket.socket) -> bool:
        """Exempt an IKE socket from IPsec policy; False when the backend has no way to."""
        if not self.features().socket_bypass:
            return False
        self.hook.pluto_kernel_bypass_socket(sock=sock)
        return True

    def enable_udp_encap(self, sock: socket.socket | None) -> bool:
        """ESP in UDP on the NAT-T socket; False when the backend has no way to."""
        if not self.features().udp_encap:
            return False
        self.hook.pluto_kernel_enable_udp_encap(sock=sock)
        return True

    def event_fd(self) -> int | None:
        if not self.features().events:
            return None
        fd: int | None = self.hook.pluto_kernel_event_fd()
        return fd

    def read_events(self) -> list[KernelEvent]:
        if not self.features().events:
            return []
        return list(self.hook.pluto_kernel_read_events() or [])

    def dispatch(self, event: KernelEvent, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        """Hand a kernel event to every plugin (``pluto_kernel_acquire`` ...); with ``on_error``
        each plugin is called on its own and one that raises is reported by name there."""
        caller = getattr(self.hook, event.hook)
        if on_error is None:
            caller(event=event)
            return
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(**{"event": event} if "event" in impl.argnames else {})
            except Exception as exc:
                on_error(impl.plugin_name, exc)
