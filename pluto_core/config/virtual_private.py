"""``virtual-private=`` (``config setup``, and the daemon's ``--virtual-private``): the
networks a peer behind a NAT may use as its subnet, in Libreswan's syntax:
``%v4:10.0.0.0/8,%v4:!10.1.0.0/16,%v6:fd00::/8``.

Each entry is a subnet with its prefix length (a bare address is not one), optionally
preceded by ``%v4:`` or ``%v6:`` (which then fixes its family) and ``!`` (excluded instead
of allowed). Host bits must be zero. Libreswan uses the list only for ``vhost:`` and
``vnet:`` subnets, which it allows in IKEv1 conns alone (Libreswan 4.4 and later refuse
them in an IKEv2 conn: ``config/admission.py``): pluto checks the list and records it, and
``allowed`` says what Libreswan's check would answer, but no IKEv2 conn consults it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["VirtualPrivate", "parse_virtual_private"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class VirtualPrivate:
    """The allowed networks and the excluded (``!``) ones, in the order written."""

    include: tuple[Network, ...] = ()
    exclude: tuple[Network, ...] = ()

    def allowed(self, net: Network) -> bool:
        """Inside an allowed network and inside no excluded one."""
        def inside(n: Network, nets: tuple[Network, ...]) -> bool:
            return any(n.version == m.version and n.subnet_of(m) for m in nets)  # type: ignore[arg-type]
        return inside(net, self.include) and not inside(net, self.exclude)


def _entry(text: str) -> tuple[bool, Network]:
    rest, version = text, None
    for prefix, v in (("%v4:", 4), ("%v6:", 6)):
        if rest.startswith(prefix):
            rest, version = rest[len(prefix):], v
    excluded = rest.startswith("!")
    rest = rest.removeprefix("!")
    if "/" not in rest:
        raise ValueError(f"'{text}' is not a subnet (no / in subnet specification)")
    try:
        net = ipaddress.ip_network(rest, strict=True)
    except ValueError as exc:
        why = "host bits set" if "host bits" in str(exc) else "not a subnet"
        raise ValueError(f"'{text}' is not a proper subnet ({why})") from None
    if version is not None and net.version != version:
        raise ValueError(f"'{text}' is not an IPv{version} subnet")
    return excluded, net


def parse_virtual_private(text: str) -> VirtualPrivate:
    """The list, or ValueError naming the first entry that is not a proper subnet."""
    include: list[Network] = []
    exclude: list[Network] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError("an empty entry (two commas, or one at an end)")
        excluded, net = _entry(item)
        (exclude if excluded else include).append(net)
    return VirtualPrivate(tuple(include), tuple(exclude))
