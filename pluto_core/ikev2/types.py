"""The data the engine takes in: connections, identities, what a Child SA install
carries, what extensions are told and what they hint back.

The engine never reads ipsec.conf: the daemon turns a config ``Connection``
into an :class:`EngineConn` (see ``pluto_core.engine_conn``). The calls the
engine makes out (kernel, credentials, crypto jobs, extensions) are
:mod:`pluto_core.ikev2.ports`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pluto_core.ikev2.enums import IdType
from pluto_core.ikev2.payloads import Proposal
from pluto_core.ikev2.ts_narrow import Selector


@dataclass(frozen=True, slots=True)
class IdSpec:
    """An IKE identity as it travels in IDi/IDr: type and data, plus its text form."""

    id_type: int
    data: bytes
    text: str

    @classmethod
    def parse(cls, text: str) -> IdSpec:
        """``@fqdn``, ``@#hex`` (KEY_ID), ``user@domain``, an IP address, ``%null`` (ID_NULL,
        RFC 7619); else an FQDN."""
        if text == "%null":
            return cls(IdType.ID_NULL, b"", "ID_NULL")
        if text.startswith("@#"):
            return cls(IdType.ID_KEY_ID, bytes.fromhex(text[2:]), text)
        if text.startswith("@"):
            return cls(IdType.ID_FQDN, text[1:].encode(), text)
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            pass
        else:
            kind = IdType.ID_IPV4_ADDR if addr.version == 4 else IdType.ID_IPV6_ADDR
            return cls(kind, addr.packed, str(addr))
        if "@" in text:
            return cls(IdType.ID_RFC822_ADDR, text.encode(), text)
        return cls(IdType.ID_FQDN, text.encode(), "@" + text)

    @classmethod
    def from_wire(cls, id_type: int, data: bytes) -> IdSpec:
        if id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR) and len(data) in (4, 16):
            text = str(ipaddress.ip_address(data))
        elif id_type == IdType.ID_FQDN:
            text = "@" + data.decode("utf-8", "replace")
        elif id_type == IdType.ID_RFC822_ADDR:
            text = data.decode("utf-8", "replace")
        elif id_type == IdType.ID_KEY_ID:
            text = "@#" + data.hex()
        elif id_type == IdType.ID_NULL:
            text = "ID_NULL"
        elif id_type == IdType.ID_DER_ASN1_DN:
            from pluto_core.x509.dn import dn_text  # lazily: pluto_core.x509 imports this module

            text = dn_text(data)  # Libreswan's text; DER that is not a Name prints as 0x and hex
        else:
            text = f"{id_type}:{data.hex()}"
        return cls(id_type, data, text)

    @property
    def kind_name(self) -> str:
        """As Libreswan logs it: ``FQDN``, ``IPV4_ADDR``, ``USER_FQDN``, ``KEY_ID``."""
        names = {IdType.ID_FQDN: "FQDN", IdType.ID_IPV4_ADDR: "IPV4_ADDR", IdType.ID_IPV6_ADDR: "IPV6_ADDR",
                 IdType.ID_RFC822_ADDR: "USER_FQDN", IdType.ID_KEY_ID: "KEY_ID",
                 IdType.ID_DER_ASN1_DN: "DER_ASN1_DN", IdType.ID_NULL: "NULL"}
        return names.get(self.id_type, str(self.id_type))  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class EngineConn:
    """One connection as the engine uses it (already oriented: local/remote)."""

    name: str
    local_addr: str
    remote_addr: str | None  # None: %any (responder only)
    local_id: IdSpec
    remote_id: IdSpec | None  # None: accept any ID the PSK lookup finds
    local_ts: tuple[Selector, ...]
    remote_ts: tuple[Selector, ...]
    ike_proposals: tuple[Proposal, ...]
    esp_proposals: tuple[Proposal, ...]
    mode: str = "tunnel"  # or "transport"
    pfs: bool = True
    ikelifetime: float = 28800.0
    salifetime: float = 28800.0
    rekey: bool = True
    rekeymargin: float = 540.0
    rekeyfuzz: float = 1.0  # fraction (100% = 1.0)
    retransmit_interval: float = 0.5  # seconds
    retransmit_timeout: float = 60.0
    dpddelay: float = 0.0  # 0: no liveness checks
    dpdtimeout: float = 0.0
    replay_window: int = 128
    ipsec_max_bytes: int = 0  # kernel-enforced volume limits of each Child SA; 0: none
    ipsec_max_packets: int = 0
    reqid: int = 0  # reqid= (1-16379); 0: one assigned per Child SA from 16384 on
    priority: int = 0  # priority= of the kernel policies; 0: from the selectors
    # narrowing= (RFC 7296 2.9): False (Libreswan's default) neither narrows a peer's selectors
    # as responder nor accepts narrowed ones as initiator; True does both
    narrowing: bool = False
    # leftauth=/rightauth= (or authby=): how we prove who we are, and how the peer must
    # ("secret" = shared-key MIC, the only method the engine implements yet)
    local_auth: str = "secret"
    remote_auth: str = "secret"
    # public-key auth: the CKAID of our private key (leftckaid=, or from leftrsasigkey=/leftpubkey=)
    # that the auth sources look up, and the peer's raw public keys (rightrsasigkey=/rightpubkey=:
    # cryptography key objects)
    local_ckaid: str | None = None
    remote_keys: tuple[Any, ...] = field(default=(), compare=False)
    # X.509 (RFC 7296 3.6, 3.7): our certificate as leftcert= names it (the auth sources read
    # it), when to send it (sendcert=: always, ifasked, never), whether the peer proves its ID
    # with a certificate (we send CERTREQ and validate its chain), rightca= (a DN, %same,
    # %any; None: unset, i.e. %same) and whether remote_id is a DN pattern with * wildcards
    local_cert: str | None = None
    send_cert: str = "always"
    # sendca=: which of our CA certificates go with it: "all" intermediates (never a root),
    # "issuer" (the one that issued ours), "none"; leftca=: the CA rightca=%same stands for
    # (None: the issuer of our certificate); require-id-on-certificate=no accepts a peer
    # whose ID is not on its certificate (RFC 4945 3.1 wants it there)
    send_ca: str = "all"
    local_ca: str | None = None
    require_id_on_cert: bool = True
    remote_certs: bool = False
    # rightcert=: a preloaded copy of the peer's certificate (used when the peer sends none;
    # validated like a sent one)
    remote_cert: Any = field(default=None, compare=False)
    remote_ca: str | None = None
    remote_id_wildcards: bool = False
    port: int = 500
    # Redirect (RFC 5685): accept-redirect= and accept-redirect-to= (client), send-redirect=
    # (yes, no, auto: only under DDoS load) and redirect-to= (gateway, in IKE_AUTH)
    accept_redirect: bool = False
    accept_redirect_to: str | None = None
    send_redirect: str = "no"
    redirect_to: str | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    # route-based VPNs: ipsec-interface= (the XFRM if_id of its ipsecN; 0: none) and
    # mark-in=/mark-out= (or mark=) as (value, mask), on the SAs and policies
    if_id: int = 0
    mark_in: tuple[int, int] | None = None
    mark_out: tuple[int, int] | None = None
    # An instance of a template (right=%any) made for one peer (Libreswan's ``"rw"[3] 192.0.2.9``):
    # its number (0: not an instance) and the addresses leased to the peer (RFC 7296 3.15)
    instance: int = 0
    lease: tuple[str, ...] = ()
    mobike: bool = False  # mobike=yes (RFC 4555)

    @property
    def label(self) -> str:
        """As log lines and status name it: ``"rw"`` or, for an instance, ``"rw"[3] 192.0.2.9``."""
        if self.instance:
            return f'"{self.name}"[{self.instance}] {self.remote_addr}'
        return f'"{self.name}"'


@dataclass(frozen=True, slots=True)
class ChildKeys:
    """One direction of a Child SA: SPI (in network order as an int), keys."""

    spi: int
    encr_key: bytes
    integ_key: bytes


@dataclass(frozen=True, slots=True)
class ChildInstall:
    """Everything the kernel needs for one Child SA (both directions and policies)."""

    conn: str
    serial: int
    local_addr: str
    remote_addr: str
    mode: str
    protocol: int  # 3 = ESP
    encr_id: int
    encr_key_bits: int | None
    integ_id: int | None
    esn: bool
    inbound: ChildKeys
    outbound: ChildKeys
    local_ts: tuple[Selector, ...]
    remote_ts: tuple[Selector, ...]
    replay_window: int
    lifetime_soft: float
    lifetime_hard: float
    reqid: int
    # Volume limits the kernel enforces (0: none); the soft ones raise an EXPIRE that rekeys.
    soft_bytes: int = 0
    hard_bytes: int = 0
    soft_packets: int = 0
    hard_packets: int = 0
    # ESP in UDP (RFC 3948) when a NAT sits between the peers: (our port, the peer's), else None
    encap: tuple[int, int] | None = None
    priority: int = 0  # the policies' (conn priority=); 0: from the selectors, most specific first
    if_id: int = 0  # ipsec-interface=: the XFRM interface id on SAs and policies (0: none)
    mark_in: tuple[int, int] | None = None  # (value, mask) on the inbound SA and in/fwd policies
    mark_out: tuple[int, int] | None = None  # on the outbound SA and out policies


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Which message an extension is asked about (see :class:`Extensions`)."""

    exchange: int  # ExchangeType
    request: bool  # a request (else a response)
    outbound: bool  # we send it (else we received it)
    conn: str
    serial: int  # the IKE SA's serial
    initiator: bool  # our role as original initiator of the IKE SA
    local: tuple[str, int]
    remote: tuple[str, int]
    spi_i: bytes = b""  # the message's SPIs (SPIr is zero in an IKE_SA_INIT request)
    spi_r: bytes = b""
    options: Mapping[str, Any] = field(default_factory=dict)  # the conn's keywords for extensions


@dataclass(frozen=True, slots=True)
class TransportHint:
    """What an extension learned that changes how this IKE SA's packets travel
    (NAT traversal, RFC 7296 section 2.23 and RFC 3948); the engine applies it."""

    port: int | None = None  # the initiator moves both ends of the IKE SA to this UDP port
    encapsulate: bool = False  # Child SAs use ESP in UDP at the IKE SA's ports
    keepalive: bool = False  # send one-octet keepalives from our end (we are behind a NAT)
    follow_peer: bool = False  # send to where the latest authenticated message came from
    fragments: bool = False  # both ends take IKE fragments (RFC 7383): split what is too big

    def merged(self, other: TransportHint) -> TransportHint:
        return TransportHint(other.port or self.port, self.encapsulate or other.encapsulate,
                             self.keepalive or other.keepalive, self.follow_peer or other.follow_peer,
                             self.fragments or other.fragments)
