"""What comes out of the engine besides datagrams: one event per thing that
happened to an SA, for ``ipsec up`` progress and the event hooks (log sinks,
``updown`` scripts, metrics). Small frozen classes, as h11's events."""

from __future__ import annotations

from dataclasses import dataclass

from pluto_core.ikev2.ts_narrow import Selector


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP payload to send (the host adds the non-ESP marker on port 4500)."""

    data: bytes
    local: tuple[str, int]
    remote: tuple[str, int]
    raw: bool = False  # a NAT-T keepalive: sent as is, without the non-ESP marker of port 4500


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """A Child SA as the event hooks see it (``updown`` scripts, metrics): where it
    runs, what it carries, its SPIs and the IDs. Never its keys."""

    ike_serial: int
    local_addr: str
    remote_addr: str
    local_id: str
    remote_id: str
    mode: str  # tunnel / transport
    local_ts: tuple[Selector, ...]
    remote_ts: tuple[Selector, ...]
    spi_in: int
    spi_out: int
    reqid: int
    encap: bool  # ESP in UDP (NAT-T)
    in_bytes: int | None = None  # on child-down: what went through, where the kernel said
    out_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """What happened, for ``ipsec up`` progress and the event hooks.

    kind: ``ike-up``, ``child-up``, ``ike-failed``, ``child-failed``, ``ike-down``,
    ``child-down``, ``ike-rekeyed``. ``child`` is set on ``child-up`` and ``child-down``.
    """

    kind: str
    conn: str
    serial: int
    detail: str = ""
    child: ChildInfo | None = None
