"""What comes out of the engine: datagrams to send, crypto jobs to run (their
results go back in through ``Engine.job_done``), and one event class per thing
that happened to an SA, for ``ipsec up`` progress and the event hooks (log
sinks, ``updown`` scripts, metrics). Small frozen classes, as h11's events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pluto_core.ikev2.ts_narrow import Selector


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP payload to send (the host adds the non-ESP marker on port 4500)."""

    data: bytes
    local: tuple[str, int]
    remote: tuple[str, int]
    raw: bool = False  # a NAT-T keepalive: sent as is, without the non-ESP marker of port 4500


@dataclass(frozen=True, slots=True)
class CryptoJob:
    """Work the host runs where it likes and hands back with ``Engine.job_done(id,
    result)`` (an exception instance when it failed). ``kind`` says where:
    ``crypto`` (DH key pair, shared secret: a ``--nhelpers`` process; ``fn`` and
    ``args`` pickle) or ``lookup`` (asking the credentials port, which may wait on a
    slow store: a thread, off the host's event loop)."""

    id: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kind: str = "crypto"


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
    """What happened, for ``ipsec up`` progress and the event hooks. The engine emits
    the subclasses below, one per kind; ``kind`` names it as a string too (what plugins
    written against 0.1 compare), and ``child`` is set on child-up and child-down."""

    kind: str
    conn: str
    serial: int
    detail: str = ""
    child: ChildInfo | None = None


@dataclass(frozen=True, slots=True)
class IkeUp(Event):
    """An IKE SA was established; ``detail`` is the peer's authenticated ID."""

    kind: str = field(default="ike-up", init=False)


@dataclass(frozen=True, slots=True)
class IkeFailed(Event):
    """An IKE SA did not come up (or a liveness check failed); ``detail`` says why."""

    kind: str = field(default="ike-failed", init=False)


@dataclass(frozen=True, slots=True)
class IkeDown(Event):
    """An established IKE SA is gone (deleted by either end, expired, replaced)."""

    kind: str = field(default="ike-down", init=False)


@dataclass(frozen=True, slots=True)
class IkeRekeyed(Event):
    """An IKE SA was rekeyed: ``serial`` is the new one, ``detail`` ``#old``."""

    kind: str = field(default="ike-rekeyed", init=False)


@dataclass(frozen=True, slots=True)
class ChildUp(Event):
    """A Child SA is in the kernel (``child`` says what it carries)."""

    kind: str = field(default="child-up", init=False)


@dataclass(frozen=True, slots=True)
class ChildFailed(Event):
    """A Child SA was refused or could not be installed; ``detail`` says why."""

    kind: str = field(default="child-failed", init=False)


@dataclass(frozen=True, slots=True)
class ChildDown(Event):
    """A Child SA left the kernel (``child`` has the bytes it carried, where known)."""

    kind: str = field(default="child-down", init=False)


@dataclass(frozen=True, slots=True)
class ReviveDue(Event):
    """A conn that must stay up (auto=start) lost its IKE SA and its revival delay has
    passed. An engine built with ``host_revives=True`` leaves initiating it to the host
    (which may first resolve the peer's host name anew); otherwise it initiates itself."""

    kind: str = field(default="revive-due", init=False)


@dataclass(frozen=True, slots=True)
class RedirectDue(Event):
    """A gateway redirected conn ``conn`` to the host name in ``detail`` (RFC 5685): the
    host resolves it and hands the address to ``Engine.initiate_redirected``."""

    kind: str = field(default="redirect-due", init=False)


# the class of each kind, for the engine's ``event(kind, ...)``
EVENT_CLASSES: dict[str, Callable[[str, int, str, ChildInfo | None], Event]] = {
    "ike-up": IkeUp, "ike-failed": IkeFailed, "ike-down": IkeDown, "ike-rekeyed": IkeRekeyed,
    "child-up": ChildUp, "child-failed": ChildFailed, "child-down": ChildDown, "revive-due": ReviveDue,
    "redirect-due": RedirectDue,
}
