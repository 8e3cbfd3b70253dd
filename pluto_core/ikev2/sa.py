"""IKE SA and Child SA state: small slotted dataclasses (thousands must stay cheap),
their states as enums and the legal changes between them as one table each (as
h11's ``_state.py``): any other change is a bug, raised as :class:`StateError`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pluto_core.ikev2.crypto import IkeSaKeys, SkContext, Suite
from pluto_core.ikev2.endpoint import udp_endpoint
from pluto_core.ikev2.payloads import Proposal
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import ChildInstall, EngineConn, IdSpec, TransportHint


class StateError(RuntimeError):
    """A state change the tables below do not allow: a bug in the engine, not the peer."""


class IkeState(Enum):
    INIT_SENT = "initiator: IKE_SA_INIT sent"
    INIT_DONE = "responder: IKE_SA_INIT answered"
    AUTH_SENT = "initiator: IKE_AUTH sent"
    ESTABLISHED = "established"
    DEAD = "dead"


# The IKE SA's life (RFC 7296 1.2): the initiator goes INIT_SENT -> AUTH_SENT ->
# ESTABLISHED, the responder INIT_DONE -> ESTABLISHED; an IKE SA made by a rekey
# (1.3.2) starts ESTABLISHED. Any state may end (DEAD): failure, Delete, timeout.
IKE_TRANSITIONS: dict[IkeState, frozenset[IkeState]] = {
    IkeState.INIT_SENT: frozenset({IkeState.AUTH_SENT, IkeState.DEAD}),
    IkeState.INIT_DONE: frozenset({IkeState.ESTABLISHED, IkeState.DEAD}),
    IkeState.AUTH_SENT: frozenset({IkeState.ESTABLISHED, IkeState.DEAD}),
    IkeState.ESTABLISHED: frozenset({IkeState.DEAD}),
    IkeState.DEAD: frozenset({IkeState.DEAD}),  # forgetting twice is harmless
}


class ChildState(Enum):
    LARVAL = "negotiating"  # SPI allocated, not installed
    INSTALLED = "installed"
    REKEYING = "rekeying"  # installed; a rekey of it is on its way (RFC 7296 2.8)
    GONE = "gone"  # removed from the kernel


# A rekey that fails goes back to INSTALLED; an installed SA is removed (GONE)
# by a Delete, an expiry or the end of its IKE SA.
CHILD_TRANSITIONS: dict[ChildState, frozenset[ChildState]] = {
    ChildState.LARVAL: frozenset({ChildState.INSTALLED, ChildState.GONE}),
    ChildState.INSTALLED: frozenset({ChildState.REKEYING, ChildState.GONE}),
    ChildState.REKEYING: frozenset({ChildState.INSTALLED, ChildState.GONE}),
    ChildState.GONE: frozenset({ChildState.GONE}),
}


@dataclass(slots=True)
class ChildSa:
    serial: int
    conn: EngineConn
    spi_in: int = 0
    spi_out: int = 0
    local_ts: list[Selector] = field(default_factory=list)
    remote_ts: list[Selector] = field(default_factory=list)
    proposal: Proposal | None = None
    installed: ChildInstall | None = None
    established_at: float = 0.0
    state: ChildState = ChildState.LARVAL
    nonces: tuple[bytes, bytes] = (b"", b"")  # (Ni, Nr) of the exchange that made it (RFC 7296 2.8.1)
    made_by_us: bool = True  # we initiated the exchange that created it
    replaced_by: list[ChildSa] = field(default_factory=list)  # new SAs from rekeys of this one

    def to(self, state: ChildState) -> None:
        """Change state as CHILD_TRANSITIONS allows."""
        if state not in CHILD_TRANSITIONS[self.state]:
            raise StateError(f"Child SA #{self.serial}: {self.state.value} -> {state.value} is not a transition")
        self.state = state

    @property
    def rekeying(self) -> bool:
        return self.state == ChildState.REKEYING


@dataclass(slots=True)
class IkeSa:
    """One IKE SA. ``initiator`` is the original-initiator role (RFC 7296 2.2)."""

    serial: int
    conn: EngineConn | None
    initiator: bool
    local: tuple[str, int]
    remote: tuple[str, int]
    spi_i: bytes
    spi_r: bytes = bytes(8)
    state: IkeState = IkeState.INIT_SENT
    # IKE_SA_INIT material
    ike_proposals: tuple[Proposal, ...] = ()
    ke_group: int = 0
    dh_private: Any = None
    nonce_i: bytes = b""
    nonce_r: bytes = b""
    cookie: bytes = b""
    init_request: bytes = b""  # RealMessage1 (RFC 7296 2.15)
    init_response: bytes = b""  # RealMessage2
    suite: Suite | None = None
    keys: IkeSaKeys | None = None
    sk_out: SkContext | None = None
    sk_in: SkContext | None = None
    peer_id: IdSpec | None = None
    peer_hashes: tuple[int, ...] | None = None  # its SIGNATURE_HASH_ALGORITHMS (RFC 7427 4); None: not sent
    peer_certreq: tuple[bytes, ...] | None = None  # CA hashes of its IKE_SA_INIT CERTREQ (RFC 7296 3.7); None: none
    peer_auth: str | None = None  # how the peer proved its ID, as logged when established (ipsec status)
    # message IDs (window of one, RFC 7296 2.3)
    next_request_id: int = 0
    expected_request_id: int = 0
    last_request: bytes | tuple[bytes, ...] = b""  # a tuple: the fragments of one message (RFC 7383)
    last_request_id: int = -1
    last_response: bytes | tuple[bytes, ...] = b""
    last_response_id: int = -1
    retransmits: int = 0
    retransmit_deadline: float = 0.0
    request_started: float = 0.0
    pending_child: ChildSa | None = None
    request_ctx: Any = None  # what the outstanding request is for (CREATE_CHILD_SA kinds)
    working_on: int = -1  # a request being answered after a job (its retransmissions are dropped)
    queue: list[Any] = field(default_factory=list)  # requests waiting for the window (RFC 7296 2.3)
    rekeyed_by: int = 0  # serial of the IKE SA that replaced this one
    replacements: list[IkeSa] = field(default_factory=list)  # new IKE SAs from rekeys of this one
    made_by_us: bool = True  # we initiated the exchange that created it (2.8.1)
    # we sent the IKE_SA_INIT this SA descends from (``initiator`` names the latest rekey's
    # initiator, which may be the peer): the client of RFC 5685 and the MOBIKE initiator of
    # RFC 4555 (its "initiator" is who started the first IKE SA of a rekeyed series); it
    # passes to the IKE SA that rekeys this one, as do redirected_from, redirect_supported, mobike
    first_initiator: bool = False
    # RFC 5685: the gateway that redirected us here (sent as REDIRECTED_FROM), and whether
    # the peer announced it takes redirects (REDIRECT_SUPPORTED or REDIRECTED_FROM)
    redirected_from: str = ""
    redirect_supported: bool = False
    mobike: bool = False  # both ends announced MOBIKE_SUPPORTED (RFC 4555 3.3)
    children: list[ChildSa] = field(default_factory=list)
    established_at: float = 0.0
    last_contact: float = 0.0
    transport: TransportHint | None = None  # what extensions (NAT-T) said of how packets travel
    fragments_in: Any = None  # the fragments of the message being reassembled (RFC 7383 2.6)

    def to(self, state: IkeState) -> None:
        """Change state as IKE_TRANSITIONS allows."""
        if state not in IKE_TRANSITIONS[self.state]:
            raise StateError(f"IKE SA #{self.serial}: {self.state.value} -> {state.value} is not a transition")
        self.state = state

    @property
    def prefix(self) -> str:
        """``"conn" #1:`` (``"conn"[2] 192.0.2.9 #1:`` for an instance), as log lines start."""
        return f"{self.label} #{self.serial}:"

    @property
    def peer_text(self) -> str:
        return udp_endpoint(*self.remote)

    @property
    def our_spi(self) -> bytes:
        return self.spi_i if self.initiator else self.spi_r

    @property
    def name(self) -> str:
        return self.conn.name if self.conn is not None else "(unknown)"

    @property
    def label(self) -> str:
        return self.conn.label if self.conn is not None else '"(unknown)"'
