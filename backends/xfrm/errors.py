"""Netlink errors as sentences for an operator.

Every refusal of the kernel becomes a :class:`KernelError` carrying the
operation, the errno and what it means here. The kernel's own extended-ack
text (``Requested type not found``...) is kept at the end, for the record.
"""

from __future__ import annotations

import errno

from pluto_core.errors import KernelError
from pluto_core.kernel.errors import lacks_protocol_sentence, sentence


def lacks_protocol(operation: str, proto: int, code: int = errno.EPROTONOSUPPORT, extack: str = "") -> KernelError:
    return KernelError(operation, code, _with(lacks_protocol_sentence(proto, "the matching xfrm module"), extack))


def lacks_algorithm(operation: str, names: list[str], code: int, extack: str = "") -> KernelError:
    listed = ", ".join(f"'{n}'" for n in names) or "the requested algorithm"
    return KernelError(operation, code, _with(f"the kernel crypto API lacks {listed} (load its crypto module, "
                                              f"e.g. gcm, ccm, chacha20poly1305, sha256_generic; see /proc/crypto)",
                                              extack))


# Only netlink's; the rest are pluto_core.kernel.errors'.
_GENERIC = {
    errno.ENOBUFS: "the kernel ran out of memory for netlink messages; retry, or raise net.core.rmem_max",
}

_BY_OPERATION = {
    ("add SA", errno.EINVAL): "the kernel rejected the SA as malformed (key length, ICV length, replay "
                              "window or lifetime it does not accept)",
    ("add policy", errno.EEXIST): "a policy with this selector and direction already exists (installed by "
                                  "another IKE daemon or by 'ip xfrm policy')",
    ("add policy", errno.EINVAL): "the kernel rejected the policy as malformed (selector or template)",
    ("update policy", errno.EINVAL): "the kernel rejected the policy as malformed (selector or template)",
    ("delete XFRM interface", errno.ENODEV): "no such interface (already deleted)",
    ("add XFRM interface", errno.EEXIST): "a device of that name already exists",
    # xfrm_user.c answers MIGRATE with ENOPROTOOPT when built without CONFIG_XFRM_MIGRATE
    ("migrate SA", errno.ENOPROTOOPT): "this kernel cannot move SAs to new addresses (built without "
                                       "CONFIG_XFRM_MIGRATE): MOBIKE cannot work here",
    ("migrate SA", errno.ENOENT): "no such policy with the old end points (removed meanwhile?)",
}


def explain(operation: str, code: int, extack: str = "") -> KernelError:
    """A KernelError for ``operation`` failing with ``code``."""
    return KernelError(operation, code, _with(sentence(operation, code, _BY_OPERATION, _GENERIC), extack))


def _with(sentence: str, extack: str) -> str:
    return f"{sentence} (kernel: {extack})" if extack else sentence
