"""PF_KEY refusals as sentences for an operator.

Every errno a PF_KEY reply carries becomes a :class:`KernelError` with the
operation and what it means here. Linux ``af_key`` checks the algorithm
numbers before the protocol: ENOSYS names a missing algorithm (crypto
module), EPROTONOSUPPORT a missing ESP/AH module.
"""

from __future__ import annotations

import errno

from pluto_core.errors import KernelError
from pluto_core.kernel_types import IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP

PROTO_NAMES = {IPPROTO_ESP: "ESP", IPPROTO_AH: "AH", IPPROTO_COMP: "IPComp"}
PROTO_MODULES = {
    IPPROTO_ESP: "esp4/esp6 (CONFIG_INET_ESP, CONFIG_INET6_ESP)",
    IPPROTO_AH: "ah4/ah6 (CONFIG_INET_AH, CONFIG_INET6_AH)",
    IPPROTO_COMP: "ipcomp/ipcomp6 (CONFIG_INET_IPCOMP)",
}

NO_PFKEY = (
    "this kernel has no PF_KEY v2 support (on Linux: modprobe af_key, CONFIG_NET_KEY; or use --use-xfrm)"
)


def lacks_protocol(operation: str, proto: int, code: int = errno.EPROTONOSUPPORT) -> KernelError:
    name = PROTO_NAMES.get(proto, f"protocol {proto}")
    module = PROTO_MODULES.get(proto, "the matching IPsec module")
    return KernelError(
        operation,
        code,
        f"the kernel lacks {name} support: load module {module} or run a kernel built with it",
    )


def lacks_algorithm(operation: str, names: list[str], code: int = errno.ENOSYS) -> KernelError:
    listed = ", ".join(names) or "the requested algorithm"
    return KernelError(
        operation,
        code,
        f"the kernel cannot install {listed} through PF_KEY (load its crypto "
        f"module; SADB_REGISTER lists what it has)",
    )


_GENERIC = {
    errno.EPERM: "pluto needs CAP_NET_ADMIN in its network namespace to change IPsec state (run it as root)",
    errno.EACCES: "pluto needs CAP_NET_ADMIN in its network namespace to change IPsec state (run it as root)",
    errno.ENOBUFS: "the kernel ran out of buffer space for PF_KEY messages; retry",
    errno.ENOMEM: "the kernel ran out of memory",
    errno.EMSGSIZE: "the kernel found the PF_KEY message malformed (lengths)",
}

_BY_OPERATION = {
    ("add SA", errno.EEXIST): "an SA with this destination, SPI and protocol already exists",
    ("add SA", errno.EINVAL): "the kernel rejected the SA as malformed (key length, addresses or lifetimes "
    "it does not accept)",
    (
        "update SA",
        errno.EINVAL,
    ): "the kernel rejected the SA as malformed (key length, addresses or lifetimes it does not accept)",
    ("update SA", errno.ESRCH): "no such SA to update",
    ("update SA", errno.ENOENT): "no such SA to update",
    ("delete SA", errno.ESRCH): "no such SA (already deleted, or expired)",
    ("delete SA", errno.ENOENT): "no such SA (already deleted, or expired)",
    ("query SA", errno.ESRCH): "no such SA (already deleted, or expired)",
    ("query SA", errno.ENOENT): "no such SA (already deleted, or expired)",
    ("allocate SPI", errno.ENOENT): "no free SPI in the requested range",
    ("allocate SPI", errno.EINVAL): "the SPI range or addresses were refused",
    ("add policy", errno.EEXIST): "a policy with this selector and direction already exists (installed by "
    "another IKE daemon, setkey or 'ip xfrm policy')",
    (
        "add policy",
        errno.EINVAL,
    ): "the kernel rejected the policy as malformed (selector, direction or request)",
    (
        "update policy",
        errno.EINVAL,
    ): "the kernel rejected the policy as malformed (selector, direction or request)",
    ("delete policy", errno.ENOENT): "no such policy (already deleted)",
    ("delete policy", errno.ESRCH): "no such policy (already deleted)",
    ("register", errno.EEXIST): "this socket is already registered for the SA type",
}


def explain(operation: str, code: int) -> KernelError:
    """A KernelError for ``operation`` failing with ``code``."""
    sentence = _BY_OPERATION.get((operation, code)) or _GENERIC.get(code) or "the kernel refused the request"
    return KernelError(operation, code, sentence)
