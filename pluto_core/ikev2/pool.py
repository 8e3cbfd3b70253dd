"""The built-in address source: ``addresspool=`` ranges, leased per peer ID (RFC 7296
3.15; Libreswan's ``addresspool.c`` behaviour, not its code).

A pool is a range (``192.0.2.0/24`` or ``192.0.2.10-192.0.2.99``, IPv4 or IPv6) shared by
every conn that names the same range. An ID keeps its address while any IKE SA of it
holds the lease; once released the address lingers, still bound to the ID, so that a
reconnect of the same ID gets it back; a new ID takes a never-used address first, then
the one that has lingered longest. Nothing is allocated up front: a /64 costs what a /24
does, and a lease is a dict lookup.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable

from pluto_core.ikev2.types import EngineConn, IdSpec

# Libreswan limits a pool to 3Gi addresses ("limiting the address pool 2001:db8:1::/64 to 3Gi
# addresses"); an ID-keyed table never gets near that, so the cap only bounds the arithmetic.
MAX_POOL = 3 << 30


def parse_range(text: str) -> tuple[int, int, int]:
    """``(version, first, count)`` of ``a.b.c.d/nn`` or ``a.b.c.d-e.f.g.h``; ValueError otherwise."""
    text = text.strip()
    if "-" in text:
        low_text, high_text = text.split("-", 1)
        low, high = ipaddress.ip_address(low_text.strip()), ipaddress.ip_address(high_text.strip())
        if low.version != high.version:
            raise ValueError(f"{text}: the two ends are of different IP versions")
        if int(high) < int(low):
            raise ValueError(f"{text}: the range ends before it starts")
        first, count = int(low), int(high) - int(low) + 1
        version = low.version
    else:
        net = ipaddress.ip_network(text, strict=False)
        first, count, version = int(net.network_address), net.num_addresses, net.version
    return version, first, min(count, MAX_POOL)


class Pool:
    """One range; leases keyed by the peer ID's text."""

    __slots__ = ("text", "version", "first", "size", "_next", "_by_id", "_refs", "_lingering", "_owner")

    def __init__(self, text: str) -> None:
        self.text = text
        self.version, self.first, self.size = parse_range(text)
        self._next = 0  # offsets below this were handed out at least once
        self._by_id: dict[str, int] = {}  # ID -> offset (held or lingering)
        self._owner: dict[int, str] = {}  # offset -> ID
        self._refs: dict[str, int] = {}  # ID -> IKE SAs holding it (only while > 0)
        self._lingering: OrderedDict[str, None] = OrderedDict()  # released IDs, oldest first

    def _address(self, offset: int) -> str:
        return str(ipaddress.ip_address(self.first + offset))

    def lease(self, who: str) -> str | None:
        offset = self._by_id.get(who)
        if offset is None:
            if self._next < self.size:
                offset, self._next = self._next, self._next + 1
            elif self._lingering:
                old, _ = self._lingering.popitem(last=False)  # the longest released goes to the newcomer
                offset = self._by_id.pop(old)
            else:
                return None
            self._by_id[who], self._owner[offset] = offset, who
        self._lingering.pop(who, None)
        self._refs[who] = self._refs.get(who, 0) + 1
        return self._address(offset)

    def release(self, who: str, address: str) -> bool:
        """False when ``address`` is not ``who``'s lease here."""
        offset = self._by_id.get(who)
        if offset is None or self._address(offset) != address or who not in self._refs:
            return False
        self._refs[who] -= 1
        if self._refs[who] <= 0:
            del self._refs[who]
            self._lingering[who] = None
        return True

    @property
    def in_use(self) -> int:
        """Addresses held by an IKE SA now."""
        return len(self._refs)

    def holder(self, address: str) -> str | None:
        """The ID holding ``address`` now (None: free or lingering)."""
        who = self._owner.get(int(ipaddress.ip_address(address)) - self.first)
        return who if who is not None and who in self._refs else None


class Pools:
    """Every pool the conns name (``conn.options["addresspool"]``: a tuple of ranges), one
    object per distinct range, made on first use."""

    def __init__(self) -> None:
        self.pools: dict[str, Pool] = {}

    def _of(self, ranges: Iterable[str], version: int) -> Pool | None:
        for text in ranges:
            pool = self.pools.get(text)
            if pool is None:
                pool = self.pools[text] = Pool(text)
            if pool.version == version:
                return pool
        return None

    def lease(self, conn: EngineConn, peer: IdSpec, version: int) -> str | None:
        pool = self._of(conn.options.get("addresspool", ()), version)
        return pool.lease(peer.text) if pool is not None else None

    def release(self, conn: EngineConn, peer: IdSpec, address: str) -> None:
        version = ipaddress.ip_address(address).version
        pool = self._of(conn.options.get("addresspool", ()), version)
        if pool is not None:
            pool.release(peer.text, address)
