"""RFC 5685 redirect settings and the gateway identity encoding, apart from the tasks:
the gateway's ``global-redirect=`` / ``global-redirect-to=``, the client's loop bound
(RFC 5685 7), and how a destination travels in REDIRECT / REDIRECTED_FROM (8.2, 8.3).
The config layer checks values with the same rules the engine sends them by."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from pluto_core.ikev2.enums import GatewayIdType

MAX_REDIRECTS = 5  # RFC 5685 7: redirects a client follows ...
REDIRECT_LOOP_DETECT_PERIOD = 300.0  # ... within this many seconds before it assumes a loop
GLOBAL_MODES = ("no", "yes", "auto")


@dataclass(slots=True)
class RedirectPolicy:
    """The gateway's ``global-redirect=`` / ``global-redirect-to=`` (the destinations
    are handed out in turn, spreading the load), and the client's bookkeeping: the
    redirects followed per conn (loop bound) and the old gateway of each conn waiting
    for the host to resolve its new gateway's name."""

    mode: str = "no"
    dests: tuple[str, ...] = ()
    turn: int = 0
    followed: dict[str, list[float]] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)  # conn -> old gateway (a name is being resolved)

    def active(self, busy: bool) -> bool:
        return bool(self.dests) and (self.mode == "yes" or (self.mode == "auto" and busy))

    def next_dest(self) -> str:
        dest = self.dests[self.turn % len(self.dests)]
        self.turn += 1
        return dest


def split_dests(text: str | None) -> tuple[str, ...]:
    """``a, b c`` -> ("a", "b", "c"): the list syntax of global-redirect-to= and --redirect-to."""
    return tuple(d for d in (text or "").replace(",", " ").split() if d)


def gateway_identity(dest: str) -> tuple[int, bytes]:
    """The GW Identity Type and value of a destination (RFC 5685 8.2): an address
    is sent as one, anything else as an FQDN (at most 255 octets). ValueError otherwise."""
    try:
        addr = ipaddress.ip_address(dest)
    except ValueError:
        addr = None
    if addr is not None:
        return (GatewayIdType.IPV4 if addr.version == 4 else GatewayIdType.IPV6), addr.packed
    try:
        data = dest.encode("idna")
    except UnicodeError:
        data = b""
    if not data or len(data) > 255:
        raise ValueError(f"redirect destination {dest!r} is not an address or a host name of 1-255 octets")
    return GatewayIdType.FQDN, data
