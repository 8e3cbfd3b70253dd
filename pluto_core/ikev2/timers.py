"""The engine's timers as small typed values (no strings parsed back): each names
what is due, and the engine hands it to the task that owns it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Retransmit:
    """Resend our outstanding request ``message_id``, or give up (RFC 7296 2.1, 2.4)."""

    message_id: int


@dataclass(frozen=True, slots=True)
class HalfOpen:
    """A responder's IKE SA that never saw IKE_AUTH is forgotten."""


@dataclass(frozen=True, slots=True)
class Liveness:
    """dpddelay: probe the peer once nothing was heard for that long (RFC 7296 2.4)."""


@dataclass(frozen=True, slots=True)
class NatKeepalive:
    """Refresh the NAT's mapping from behind it (RFC 3948 2.3)."""


@dataclass(frozen=True, slots=True)
class RekeyIke:
    """The IKE SA's soft lifetime: rekey it (RFC 7296 2.8)."""


@dataclass(frozen=True, slots=True)
class ExpireIke:
    """The IKE SA's hard lifetime: delete it."""


@dataclass(frozen=True, slots=True)
class RekeyChild:
    """Child SA ``child`` (a serial) reached its soft lifetime."""

    child: int


@dataclass(frozen=True, slots=True)
class ExpireChild:
    """Child SA ``child`` (a serial) reached its hard lifetime."""

    child: int


@dataclass(frozen=True, slots=True)
class Revive:
    """Initiate conn ``conn`` again (auto=start lost its IKE SA)."""

    conn: str


Timer = Retransmit | HalfOpen | Liveness | NatKeepalive | RekeyIke | ExpireIke | RekeyChild | ExpireChild | Revive

# the timers without fields, made once: scheduling one allocates nothing
HALF_OPEN, LIVENESS, NAT_KEEPALIVE, REKEY_IKE, EXPIRE_IKE = HalfOpen(), Liveness(), NatKeepalive(), RekeyIke(), \
    ExpireIke()
