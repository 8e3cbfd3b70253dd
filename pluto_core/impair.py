"""``--impair``: test-only faults, in the spirit of Libreswan's ``--impair`` (the syntax;
``pluto_core/kernel/faults.py`` injects the kernel ones). Never for production."""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass

from pluto_core.errors import PlutoError

# --impair OP -> the operation words the backends' KernelErrors use
OPERATIONS: dict[str, str] = {
    "allocate_spi": "allocate SPI",
    "add_sa": "add SA",
    "del_sa": "delete SA",
    "add_policy": "add policy",
    "del_policy": "delete policy",
    "migrate": "migrate SA",
}

IMPAIR_HELP = (
    "kernel-fail:OP:ERRNO[:N|N+]  calls of OP fail with ERRNO before the backend is asked: only the N-th, "
    f"the N-th and later (N+), or every call; OP is one of {', '.join(OPERATIONS)}",
    "kernel-sas-in-memory         keep SAs in memory, not in the kernel (a host without ESP); "
    "policies still go to the kernel",
)


class ImpairError(PlutoError):
    """A ``--impair`` value that does not parse."""


@dataclass(frozen=True, slots=True)
class KernelFault:
    op: str
    errno: int
    nth: int = 1
    onward: bool = True  # False: only the nth call

    def hits(self, count: int) -> bool:
        return count >= self.nth if self.onward else count == self.nth

    @property
    def spelling(self) -> str:
        which = f"{self.nth}+" if self.onward else str(self.nth)
        return f"kernel-fail:{self.op}:{_errno.errorcode.get(self.errno, str(self.errno))}:{which}"


@dataclass(frozen=True, slots=True)
class Impairments:
    kernel_faults: tuple[KernelFault, ...] = ()
    sas_in_memory: bool = False

    @property
    def kernel(self) -> bool:
        return bool(self.kernel_faults) or self.sas_in_memory

    def describe(self) -> list[str]:
        lines = [fault.spelling for fault in self.kernel_faults]
        if self.sas_in_memory:
            lines.append("kernel-sas-in-memory")
        return lines


def _errno_of(text: str) -> int:
    if text.isdigit():
        return int(text)
    code = getattr(_errno, text.upper(), None)
    if not isinstance(code, int):
        raise ImpairError(f"'{text}' is not an errno name (ENOMEM, EEXIST, EINVAL...)")
    return code


def parse_impairment(text: str, into: Impairments | None = None) -> Impairments:
    """One ``--impair`` value added to ``into``; ``ImpairError`` says what is wrong."""
    have = into if into is not None else Impairments()
    word, _, rest = text.strip().partition(":")
    word = word.replace("_", "-").lower()
    if word == "kernel-sas-in-memory" and not rest:
        return Impairments(have.kernel_faults, True)
    if word != "kernel-fail":
        raise ImpairError(f"unknown impairment '{text}' (known: kernel-fail:OP:ERRNO[:N|N+], "
                          "kernel-sas-in-memory)")
    parts = rest.split(":")
    if len(parts) not in (2, 3):
        raise ImpairError(f"'{text}': expected kernel-fail:OP:ERRNO[:N|N+]")
    op = parts[0].replace("-", "_").lower()
    if op not in OPERATIONS:
        raise ImpairError(f"'{text}': unknown operation '{parts[0]}' (one of {', '.join(OPERATIONS)})")
    code = _errno_of(parts[1])
    nth, onward = 1, True
    if len(parts) == 3:
        which = parts[2]
        onward = which.endswith("+")
        digits = which[:-1] if onward else which
        if not digits.isdigit() or int(digits) < 1:
            raise ImpairError(f"'{text}': '{which}' is not N or N+ (N from 1)")
        nth = int(digits)
    return Impairments((*have.kernel_faults, KernelFault(op, code, nth, onward)), have.sas_in_memory)
