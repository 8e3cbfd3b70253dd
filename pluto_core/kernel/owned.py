"""The record of what this daemon installed, so that shutdown removes
exactly that and nothing another daemon, ``ip xfrm`` or ``setkey`` put there.

Keyed by the kernel-type objects (:mod:`pluto_core.kernel.types`), never by
a backend's own messages. Each backend keeps one (what is in its kernel, for
``pluto_kernel_flush_owned``); the port keeps one more whose policy counts
are the holders: a rekeyed Child SA installs the same policies (same
selectors) before the old one is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from pluto_core.kernel.types import PolicySpec, SaId


def sa_key(sa: SaId) -> tuple[object, ...]:
    """Destination, SPI, protocol and mark name an SA; the source does not."""
    return (sa.dst, sa.spi, sa.proto, sa.mark)


@dataclass(slots=True)
class _Held:
    policy: PolicySpec
    refs: int


@dataclass(slots=True)
class OwnedRecord:
    policy_key: Callable[[PolicySpec], Hashable]
    sas: dict[tuple[object, ...], SaId] = field(default_factory=dict)
    larval: set[tuple[object, ...]] = field(default_factory=set)
    policies: dict[Hashable, _Held] = field(default_factory=dict)

    def add_sa(self, sa: SaId, larval: bool = False) -> None:
        key = sa_key(sa)
        self.sas[key] = sa
        if larval:
            self.larval.add(key)
        else:
            self.larval.discard(key)

    def is_larval(self, sa: SaId) -> bool:
        return sa_key(sa) in self.larval

    def drop_sa(self, sa: SaId) -> bool:
        key = sa_key(sa)
        self.larval.discard(key)
        return self.sas.pop(key, None) is not None

    def add_policy(self, policy: PolicySpec) -> int:
        """Record one more holder of ``policy``; returns the new count."""
        held = self.policies.setdefault(self.policy_key(policy), _Held(policy, 0))
        held.policy = policy
        held.refs += 1
        return held.refs

    def retemplate(self, policy: PolicySpec) -> None:
        """A held policy moved to new templates in place (the same kernel object)."""
        held = self.policies.get(self.policy_key(policy))
        if held is not None:
            held.policy = policy

    def move_sa(self, old: SaId, new: SaId) -> None:
        """An SA moved to new end points in place (a migrate): still ours if it was."""
        if self.drop_sa(old):
            self.add_sa(new)

    def keep_policy(self, policy: PolicySpec) -> None:
        """Held at least once from now on (a replace keeps the count): what a plain
        add or update of a policy means, as opposed to one more Child SA holding it."""
        held = self.policies.get(self.policy_key(policy))
        if held is None:
            self.add_policy(policy)
        else:
            held.policy = policy

    def release_policy(self, policy: PolicySpec) -> int:
        """One holder fewer; returns how many remain (0: remove it from the kernel)."""
        key = self.policy_key(policy)
        held = self.policies.get(key)
        if held is None:
            return 0
        held.refs -= 1
        if held.refs <= 0:
            del self.policies[key]
            return 0
        return held.refs

    def drop_policy(self, policy: PolicySpec) -> bool:
        return self.policies.pop(self.policy_key(policy), None) is not None

    def all_policies(self) -> list[PolicySpec]:
        return [held.policy for held in self.policies.values()]

    def all_sas(self) -> list[SaId]:
        return list(self.sas.values())

    def __len__(self) -> int:
        return len(self.sas) + len(self.policies)
