"""Kernel refusals as sentences for an operator, shared by the kernel backends.

An errno means the same to an operator whichever interface carried it (netlink
or PF_KEY): these are the sentences both backends give. Each backend adds the
few that only its interface has and builds its ``KernelError`` from them.
"""

from __future__ import annotations

import errno

from pluto_core.kernel.types import IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP

PROTO_NAMES = {IPPROTO_ESP: "ESP", IPPROTO_AH: "AH", IPPROTO_COMP: "IPComp"}
PROTO_MODULES = {IPPROTO_ESP: "esp4/esp6 (CONFIG_INET_ESP, CONFIG_INET6_ESP)",
                 IPPROTO_AH: "ah4/ah6 (CONFIG_INET_AH, CONFIG_INET6_AH)",
                 IPPROTO_COMP: "ipcomp/ipcomp6 (CONFIG_INET_IPCOMP)"}

_NO_CAP = "pluto needs CAP_NET_ADMIN in its network namespace to change IPsec state (run it as root)"
_NO_SA = "no such SA (already deleted, or expired)"
_NO_POLICY = "no such policy (already deleted)"

GENERIC: dict[int, str] = {
    errno.EPERM: _NO_CAP,
    errno.EACCES: _NO_CAP,
    errno.ENOMEM: "the kernel ran out of memory",
}

BY_OPERATION: dict[tuple[str, int], str] = {
    ("add SA", errno.EEXIST): "an SA with this destination, SPI and protocol already exists",
    ("update SA", errno.ESRCH): "no such SA to update",
    ("update SA", errno.ENOENT): "no such SA to update",
    ("delete SA", errno.ESRCH): _NO_SA,
    ("delete SA", errno.ENOENT): _NO_SA,
    ("query SA", errno.ESRCH): _NO_SA,
    ("query SA", errno.ENOENT): _NO_SA,
    ("allocate SPI", errno.ENOENT): "no free SPI in the requested range",
    ("allocate SPI", errno.EINVAL): "the SPI range or addresses were refused",
    ("delete policy", errno.ENOENT): _NO_POLICY,
    ("delete policy", errno.ESRCH): _NO_POLICY,
}


def sentence(operation: str, code: int, by_operation: dict[tuple[str, int], str],
             generic: dict[int, str]) -> str:
    """The backend's own sentence for (operation, errno) first, then the shared ones."""
    return (by_operation.get((operation, code)) or BY_OPERATION.get((operation, code))
            or generic.get(code) or GENERIC.get(code) or "the kernel refused the request")


def lacks_protocol_sentence(proto: int, fallback_module: str) -> str:
    name = PROTO_NAMES.get(proto, f"protocol {proto}")
    module = PROTO_MODULES.get(proto, fallback_module)
    return f"the kernel lacks {name} support: load module {module} or run a kernel built with it"
