"""Netlink errors as sentences for an operator.

Every refusal of the kernel becomes a :class:`KernelError` carrying the
operation, the errno and what it means here. The kernel's own extended-ack
text (``Requested type not found``...) is kept at the end, for the record.
"""

from __future__ import annotations

import errno

from pluto_core.errors import KernelError
from pluto_core.kernel_types import IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP

PROTO_NAMES = {IPPROTO_ESP: "ESP", IPPROTO_AH: "AH", IPPROTO_COMP: "IPComp"}
PROTO_MODULES = {IPPROTO_ESP: "esp4/esp6 (CONFIG_INET_ESP, CONFIG_INET6_ESP)",
                 IPPROTO_AH: "ah4/ah6 (CONFIG_INET_AH, CONFIG_INET6_AH)",
                 IPPROTO_COMP: "ipcomp/ipcomp6 (CONFIG_INET_IPCOMP)"}


def lacks_protocol(operation: str, proto: int, code: int = errno.EPROTONOSUPPORT, extack: str = "") -> KernelError:
    name = PROTO_NAMES.get(proto, f"protocol {proto}")
    module = PROTO_MODULES.get(proto, "the matching xfrm module")
    return KernelError(operation, code, _with(f"the kernel lacks {name} support: load module {module} "
                                              f"or run a kernel built with it", extack))


def lacks_algorithm(operation: str, names: list[str], code: int, extack: str = "") -> KernelError:
    listed = ", ".join(f"'{n}'" for n in names) or "the requested algorithm"
    return KernelError(operation, code, _with(f"the kernel crypto API lacks {listed} (load its crypto module, "
                                              f"e.g. gcm, ccm, chacha20poly1305, sha256_generic; see /proc/crypto)",
                                              extack))


_GENERIC = {
    errno.EPERM: "pluto needs CAP_NET_ADMIN in its network namespace to change IPsec state (run it as root)",
    errno.EACCES: "pluto needs CAP_NET_ADMIN in its network namespace to change IPsec state (run it as root)",
    errno.ENOBUFS: "the kernel ran out of memory for netlink messages; retry, or raise net.core.rmem_max",
    errno.ENOMEM: "the kernel ran out of memory",
}

_BY_OPERATION = {
    ("add SA", errno.EEXIST): "an SA with this destination, SPI and protocol already exists",
    ("add SA", errno.EINVAL): "the kernel rejected the SA as malformed (key length, ICV length, replay "
                              "window or lifetime it does not accept)",
    ("update SA", errno.ESRCH): "no such SA to update",
    ("update SA", errno.ENOENT): "no such SA to update",
    ("delete SA", errno.ESRCH): "no such SA (already deleted, or expired)",
    ("delete SA", errno.ENOENT): "no such SA (already deleted, or expired)",
    ("query SA", errno.ESRCH): "no such SA (already deleted, or expired)",
    ("query SA", errno.ENOENT): "no such SA (already deleted, or expired)",
    ("allocate SPI", errno.ENOENT): "no free SPI in the requested range",
    ("allocate SPI", errno.EINVAL): "the SPI range or addresses were refused",
    ("add policy", errno.EEXIST): "a policy with this selector and direction already exists (installed by "
                                  "another IKE daemon or by 'ip xfrm policy')",
    ("add policy", errno.EINVAL): "the kernel rejected the policy as malformed (selector or template)",
    ("update policy", errno.EINVAL): "the kernel rejected the policy as malformed (selector or template)",
    ("delete policy", errno.ENOENT): "no such policy (already deleted)",
    ("delete policy", errno.ESRCH): "no such policy (already deleted)",
}


def explain(operation: str, code: int, extack: str = "") -> KernelError:
    """A KernelError for ``operation`` failing with ``code``."""
    sentence = _BY_OPERATION.get((operation, code)) or _GENERIC.get(code) or "the kernel refused the request"
    return KernelError(operation, code, _with(sentence, extack))


def _with(sentence: str, extack: str) -> str:
    return f"{sentence} (kernel: {extack})" if extack else sentence
