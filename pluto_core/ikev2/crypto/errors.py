"""Errors raised by the IKEv2 crypto suite.

All are ``ProtocolError``s so the engine handles them with the rest of the protocol
failures; ``notify`` says what a responder may answer with (None: drop silently).
"""

from __future__ import annotations

from pluto_core.errors import ProtocolError

# IANA "IKEv2 Notify Message Error Types" (RFC 7296 section 3.10.1).
INVALID_SYNTAX = 7
NO_PROPOSAL_CHOSEN = 14


class DhError(ProtocolError):
    """A peer's key exchange value is unusable (wrong length, out of range, off the curve)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, notify=INVALID_SYNTAX)


class IntegrityError(ProtocolError):
    """An SK/SKF payload failed its ICV or AEAD tag: RFC 7296 2.21.2 says drop it silently."""

    def __init__(self, message: str) -> None:
        super().__init__(message, notify=None)


class SkFormatError(ProtocolError):
    """An SK/SKF payload whose framing (lengths, padding) is impossible."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message, notify=INVALID_SYNTAX, offset=offset)


class UnsupportedTransform(ProtocolError):
    """A transform ID (or combination) this suite does not implement."""

    def __init__(self, message: str) -> None:
        super().__init__(message, notify=NO_PROPOSAL_CHOSEN)
