"""IKE SA and Child SA state: small slotted dataclasses (thousands must stay cheap)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pluto_core.ikev2.conn import ChildInstall, EngineConn, IdSpec, TransportHint
from pluto_core.ikev2.crypto import IkeSaKeys, SkContext, Suite
from pluto_core.ikev2.payloads import Proposal
from pluto_core.ikev2.ts_narrow import Selector


class IkeState(Enum):
    INIT_SENT = "initiator: IKE_SA_INIT sent"
    INIT_DONE = "responder: IKE_SA_INIT answered"
    AUTH_SENT = "initiator: IKE_AUTH sent"
    ESTABLISHED = "established"
    DELETING = "deleting"
    DEAD = "dead"


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
    rekeying: bool = False
    nonces: tuple[bytes, bytes] = (b"", b"")  # (Ni, Nr) of the exchange that made it (RFC 7296 2.8.1)
    made_by_us: bool = True  # we initiated the exchange that created it
    replaced_by: list[ChildSa] = field(default_factory=list)  # new SAs from rekeys of this one


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
    queue: list[Any] = field(default_factory=list)  # requests waiting for the window (RFC 7296 2.3)
    rekeyed_by: int = 0  # serial of the IKE SA that replaced this one
    replacements: list[IkeSa] = field(default_factory=list)  # new IKE SAs from rekeys of this one
    made_by_us: bool = True  # we initiated the exchange that created it (2.8.1)
    children: list[ChildSa] = field(default_factory=list)
    established_at: float = 0.0
    last_contact: float = 0.0
    transport: TransportHint | None = None  # what extensions (NAT-T) said of how packets travel
    fragments_in: Any = None  # the fragments of the message being reassembled (RFC 7383 2.6)

    @property
    def our_spi(self) -> bytes:
        return self.spi_i if self.initiator else self.spi_r

    @property
    def name(self) -> str:
        return self.conn.name if self.conn is not None else "(unknown)"
