"""The values of the route-based VPN keywords: ``ipsec-interface=``, ``mark=``/``mark-in=``/
``mark-out=``, ``vti-interface=`` and ``leftvti=`` (Libreswan's ipsec.conf(5)). Pure;
admission refuses what does not parse, with the sentence of the ``ValueError`` raised here,
and ``engine_conn`` puts the values on the conn."""

from __future__ import annotations

import ipaddress

__all__ = ["IPSEC0_IF_ID", "interface_id", "mark", "marks", "vti_address", "vti_name"]

IPSEC0_IF_ID = 16384  # ipsec-interface=0: ipsec0, but if_id 0 means "none" to XFRM (ipsec.conf(5))
IF_ID_MAX = 0xFFFFFFFF


def interface_id(value: object) -> int:
    """``ipsec-interface=``: ``no`` (or unset) 0, ``yes`` 1, ``N`` N, ``0`` 16384 (the
    interface ``ipsec0``). ValueError for anything else."""
    if value is None or value == "":
        return 0
    text = str(value).strip().lower()
    if text == "no":
        return 0
    if text == "yes":
        return 1
    try:
        number = int(text, 10)
    except ValueError:
        raise ValueError("not yes, no or an interface number") from None
    if number < 0 or number > IF_ID_MAX:
        raise ValueError(f"an interface number is 0 to {IF_ID_MAX}")
    return number or IPSEC0_IF_ID


def mark(value: object) -> tuple[int, int] | None:
    """``mark=value[/mask]`` (decimal or 0x hex; mask 0xffffffff when left out) as (value,
    mask); None when unset. ``-1`` (a unique mark per instance) and values outside 32 bits
    are ValueErrors."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    head, _, tail = text.partition("/")
    if head.strip() == "-1":
        raise ValueError("a unique mark per connection instance (-1) is not supported yet")
    try:
        number = int(head.strip(), 0)
        mask = int(tail.strip(), 0) if tail else 0xFFFFFFFF
    except ValueError:
        raise ValueError("not a mark: VALUE or VALUE/MASK (decimal or 0x hexadecimal)") from None
    if not 0 <= number <= 0xFFFFFFFF or not 0 <= mask <= 0xFFFFFFFF:
        raise ValueError("a mark and its mask are 32-bit numbers")
    if number & ~mask:
        raise ValueError(f"the mark 0x{number:x} has bits outside its mask 0x{mask:x}")
    return number, mask


def marks(common: object, inbound: object, outbound: object) -> tuple[tuple[int, int] | None,
                                                                         tuple[int, int] | None]:
    """(in, out) from ``mark=``, ``mark-in=`` and ``mark-out=``: each of the last two overrides
    ``mark=`` for its direction (ipsec.conf(5))."""
    both = mark(common)
    mark_in = mark(inbound)
    mark_out = mark(outbound)
    return (mark_in if mark_in is not None else both, mark_out if mark_out is not None else both)


IFNAMSIZ = 16  # Linux: a device name and its NUL


def vti_name(value: object) -> str | None:
    """``vti-interface=``: a name Linux takes for a device (``dev_valid_name``: 1 to 15
    characters, no ``/``, ``:`` or blank, not ``.`` or ``..``), or None when unset.
    ValueError for anything else."""
    if value is None or str(value).strip() == "":
        return None
    name = str(value).strip()
    if len(name) >= IFNAMSIZ:
        raise ValueError(f"an interface name has at most {IFNAMSIZ - 1} characters")
    if name in (".", "..") or any(c in "/:" or c.isspace() or not c.isprintable() for c in name):
        raise ValueError("not an interface name (no '/', ':' or blanks, not '.' or '..')")
    return name


def vti_address(value: object) -> str | None:
    """``leftvti=ADDRESS/PREFIX`` (the address this end puts on the VTI device, its host bits
    kept: ``192.0.2.1/24``; a bare address is a /32 or /128), as ``ip addr add`` takes it;
    None when unset. ValueError for anything else."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise ValueError("not ADDRESS/PREFIX (the address to put on the VTI device)") from None
    if iface.ip.is_unspecified:
        raise ValueError("the address to put on the VTI device cannot be unspecified")
    return iface.with_prefixlen
