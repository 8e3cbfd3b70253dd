"""Traffic selector negotiation and narrowing (RFC 7296 section 2.9).

A selector is a range of addresses, a protocol (0 = any) and a port range.
With ``narrowing=yes`` the responder answers with the intersection of what was
proposed and what its policy allows (an empty one is TS_UNACCEPTABLE) and the
initiator accepts an answer inside what it proposed. With ``narrowing=no``
(Libreswan's default) neither end narrows: the responder takes a proposal only
when it lies inside its policy, unchanged, and the initiator accepts only its
own proposal back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pluto_core.ikev2.payloads import RawTrafficSelector, TrafficSelector

_TYPE = {4: 7, 6: 8}  # TS_IPV4_ADDR_RANGE, TS_IPV6_ADDR_RANGE


@dataclass(frozen=True, slots=True)
class Selector:
    version: int
    start: int
    end: int
    proto: int = 0
    start_port: int = 0
    end_port: int = 65535

    @classmethod
    def from_subnet(cls, subnet: str, proto: int = 0, port: int | None = None) -> Selector:
        net = ipaddress.ip_network(subnet, strict=False)
        low, high = (0, 65535) if not port else (port, port)
        return cls(net.version, int(net.network_address), int(net.broadcast_address), proto, low, high)

    @classmethod
    def from_payload(cls, ts: TrafficSelector) -> Selector:
        version = 4 if len(ts.start_addr) == 4 else 6
        return cls(version, int.from_bytes(ts.start_addr, "big"), int.from_bytes(ts.end_addr, "big"),
                   ts.ip_proto, ts.start_port, ts.end_port)

    def to_payload(self) -> TrafficSelector:
        size = 4 if self.version == 4 else 16
        return TrafficSelector(_TYPE[self.version], self.proto, self.start_port, self.end_port,
                               self.start.to_bytes(size, "big"), self.end.to_bytes(size, "big"))

    def intersect(self, other: Selector) -> Selector | None:
        if self.version != other.version:
            return None
        if self.proto and other.proto and self.proto != other.proto:
            return None
        start, end = max(self.start, other.start), min(self.end, other.end)
        low, high = max(self.start_port, other.start_port), min(self.end_port, other.end_port)
        if start > end or low > high:
            return None
        return Selector(self.version, start, end, self.proto or other.proto, low, high)

    def within(self, other: Selector) -> bool:
        return self.intersect(other) == self

    def __str__(self) -> str:
        return _text(self)


@lru_cache(maxsize=4096)
def _text(self: Selector) -> str:
    """``192.0.1.0/24`` when the range is a subnet, else ``a-b``; ports as Libreswan shows them."""
    make = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
    a, b = make(self.start), make(self.end)
    nets = list(ipaddress.summarize_address_range(a, b))
    text = str(nets[0]) if len(nets) == 1 else f"{a}-{b}"
    if self.proto or (self.start_port, self.end_port) != (0, 65535):
        port = str(self.start_port) if self.start_port == self.end_port else \
            f"{self.start_port}-{self.end_port}"
        text += f"/{self.proto}/{port}" if (self.start_port, self.end_port) != (0, 65535) \
            else f"/{self.proto}"
    return text


def from_payloads(selectors: Sequence[TrafficSelector | RawTrafficSelector]) -> list[Selector]:
    """The address-range selectors of a TS payload (other types are not ours to narrow)."""
    return [Selector.from_payload(s) for s in selectors if isinstance(s, TrafficSelector)]


def narrow(proposed: Sequence[Selector], allowed: Sequence[Selector]) -> list[Selector]:
    """Responder side: every non-empty intersection, in the proposer's order, without repeats."""
    out: list[Selector] = []
    for p in proposed:
        for a in allowed:
            both = p.intersect(a)
            if both is not None and both not in out:
                out.append(both)
    return out


def respond(proposed: Sequence[Selector], allowed: Sequence[Selector], narrowing: bool) -> list[Selector]:
    """Responder side: ``narrow`` when narrowing is allowed; else the proposal as it is when
    each of its selectors lies inside an allowed one, and nothing (TS_UNACCEPTABLE) otherwise."""
    if narrowing:
        return narrow(proposed, allowed)
    unchanged = list(dict.fromkeys(proposed))
    if all(any(p.within(a) for a in allowed) for p in unchanged):
        return unchanged
    return []


def accept(answer: Sequence[Selector], proposed: Sequence[Selector], narrowing: bool = True) -> bool:
    """Initiator side: a non-empty answer each of whose selectors lies inside a proposed one;
    without narrowing, exactly what was proposed."""
    if not narrowing:
        return bool(answer) and set(answer) == set(proposed)
    return bool(answer) and all(any(s.within(p) for p in proposed) for s in answer)
