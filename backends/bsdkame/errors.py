"""PF_KEY refusals as sentences for an operator.

Every errno a PF_KEY reply carries becomes a :class:`KernelError` with the
operation and what it means here. Linux ``af_key`` checks the algorithm
numbers before the protocol: ENOSYS names a missing algorithm (crypto
module), EPROTONOSUPPORT a missing ESP/AH module.
"""

from __future__ import annotations

import errno

from pluto_core.errors import KernelError
from pluto_core.kernel.errors import lacks_protocol_sentence, sentence

NO_PFKEY = (
    "this kernel has no PF_KEY v2 support (on Linux: modprobe af_key, CONFIG_NET_KEY; or use --use-xfrm)"
)


def lacks_protocol(operation: str, proto: int, code: int = errno.EPROTONOSUPPORT) -> KernelError:
    return KernelError(operation, code, lacks_protocol_sentence(proto, "the matching IPsec module"))


def lacks_algorithm(operation: str, names: list[str], code: int = errno.ENOSYS) -> KernelError:
    listed = ", ".join(names) or "the requested algorithm"
    return KernelError(
        operation,
        code,
        f"the kernel cannot install {listed} through PF_KEY (load its crypto "
        f"module; SADB_REGISTER lists what it has)",
    )


# Only PF_KEY's; the rest are pluto_core.kernel.errors'.
_GENERIC = {
    errno.ENOBUFS: "the kernel ran out of buffer space for PF_KEY messages; retry",
    errno.EMSGSIZE: "the kernel found the PF_KEY message malformed (lengths)",
}

_MALFORMED_SA = "the kernel rejected the SA as malformed (key length, addresses or lifetimes it does not accept)"
_MALFORMED_POLICY = "the kernel rejected the policy as malformed (selector, direction or request)"
_BY_OPERATION = {
    ("add SA", errno.EINVAL): _MALFORMED_SA,
    ("update SA", errno.EINVAL): _MALFORMED_SA,
    ("add policy", errno.EEXIST): "a policy with this selector and direction already exists (installed by "
    "another IKE daemon, setkey or 'ip xfrm policy')",
    ("add policy", errno.EINVAL): _MALFORMED_POLICY,
    ("update policy", errno.EINVAL): _MALFORMED_POLICY,
    ("register", errno.EEXIST): "this socket is already registered for the SA type",
}


def explain(operation: str, code: int) -> KernelError:
    """A KernelError for ``operation`` failing with ``code``."""
    return KernelError(operation, code, sentence(operation, code, _BY_OPERATION, _GENERIC))
