"""Reqids the kernel accepts in a policy.

KAME and Linux ``af_key`` keep reqids above ``IPSEC_MANUAL_REQID_MAX``
(0x3fff) for themselves: an ``sadb_x_ipsecrequest`` asking for a larger one
gets a reqid the kernel makes up, which then no longer matches the SA's
(``sadb_x_sa2`` takes any 32-bit value), and traffic finds no SA. The daemon
numbers its reqids from 16384 like Libreswan, so each one above the limit is
given a stand-in counted down from 0x3fff, used for the SA and the policy
alike, and translated back in the kernel's events. Reqids at or below the
limit pass unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pluto_bsdkame.constants import IPSEC_MANUAL_REQID_MAX
from pluto_core.errors import KernelError


@dataclass(slots=True)
class ReqidMap:
    to_kernel: dict[int, int] = field(default_factory=dict)
    to_ours: dict[int, int] = field(default_factory=dict)
    _next: int = IPSEC_MANUAL_REQID_MAX

    def kernel(self, ours: int) -> int:
        if ours <= IPSEC_MANUAL_REQID_MAX:
            return ours
        known = self.to_kernel.get(ours)
        if known is not None:
            return known
        while self._next > 0 and self._next in self.to_ours:
            self._next -= 1
        if self._next == 0:
            raise KernelError(
                "map reqid",
                None,
                f"no PF_KEY reqid left for reqid {ours} (all "
                f"{IPSEC_MANUAL_REQID_MAX} below IPSEC_MANUAL_REQID_MAX are in use)",
            )
        stand_in = self._next
        self._next -= 1
        self.to_kernel[ours] = stand_in
        self.to_ours[stand_in] = ours
        return stand_in

    def ours(self, kernel: int) -> int:
        return self.to_ours.get(kernel, kernel)
