"""How log lines write an address and port, as Libreswan's ``str_endpoint`` does: an IPv6
address goes in brackets (``[2001:db8::1]:500``), since its own colons would otherwise run
into the port's; IPv4 stays bare (``192.0.2.1:500``)."""

from __future__ import annotations


def endpoint(address: str, port: int) -> str:
    """``192.0.2.1:500`` or ``[2001:db8::1]:500``."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def udp_endpoint(address: str, port: int) -> str:
    """``192.0.2.1:UDP/500`` or ``[2001:db8::1]:UDP/500`` (the peer in exchange log lines)."""
    return f"[{address}]:UDP/{port}" if ":" in address else f"{address}:UDP/{port}"
