"""The one exception the IKEv2 codec raises on bad input."""

from __future__ import annotations

from pluto_core.errors import ProtocolError

INVALID_SYNTAX = 7
UNSUPPORTED_CRITICAL_PAYLOAD = 1
INVALID_MAJOR_VERSION = 5


class ParseError(ProtocolError):
    """Bytes that are not a well-formed IKEv2 message (or payload chain).

    ``notify`` is the Notify type a responder answers with: INVALID_SYNTAX (7) by default,
    UNSUPPORTED_CRITICAL_PAYLOAD (1) with ``payload_type`` set for an unknown critical payload,
    INVALID_MAJOR_VERSION (5) when the major version is not 2. ``offset`` is the byte offset
    (from the start of the parsed buffer) of the field found wrong.
    """

    def __init__(
        self,
        message: str,
        offset: int | None = None,
        notify: int = INVALID_SYNTAX,
        payload_type: int | None = None,
    ) -> None:
        super().__init__(message, notify, offset)
        self.payload_type = payload_type

    def __str__(self) -> str:
        if self.offset is None:
            return self.message
        return f"{self.message} (at offset {self.offset})"
