"""NAT detection (RFC 7296 section 2.23): the NAT_DETECTION_SOURCE_IP and
NAT_DETECTION_DESTINATION_IP notifies, each SHA-1(SPIi | SPIr | IP | port) of the
addresses a packet was sent with, and what a received pair says. The NAT-T plugin
sends them in IKE_SA_INIT; MOBIKE (RFC 4555 3.5) sends them again with every
address update, so both live here, under the engine."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from pluto_core.ikev2.enums import NotifyType
from pluto_core.ikev2.payloads import Notify, Payload


def nat_hash(spi_i: bytes, spi_r: bytes, address: str, port: int) -> bytes:
    return hashlib.sha1(spi_i + spi_r + ipaddress.ip_address(address).packed + port.to_bytes(2, "big")).digest()


def detection_notifies(spi_i: bytes, spi_r: bytes, local: tuple[str, int], remote: tuple[str, int],
                       pretend_nat: bool = False) -> list[Payload]:
    """The two notifies for a packet from ``local`` to ``remote``. ``pretend_nat``
    (``encapsulation=yes``) hashes a port we do not use, so the peer sees a NAT."""
    source_port = local[1] ^ 0xFFFF if pretend_nat else local[1]
    return [Notify(NotifyType.NAT_DETECTION_SOURCE_IP, nat_hash(spi_i, spi_r, local[0], source_port)),
            Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, nat_hash(spi_i, spi_r, *remote))]


@dataclass(frozen=True, slots=True)
class NatFinding:
    local_behind: bool  # our address or port was changed on the way: we send keepalives
    remote_behind: bool  # the peer's was

    @property
    def any(self) -> bool:
        return self.local_behind or self.remote_behind


def evaluate(payloads: Iterable[Payload], spi_i: bytes, spi_r: bytes, local: tuple[str, int],
             remote: tuple[str, int]) -> NatFinding | None:
    """What the peer's notifies say of the packet that carried them (arrived from
    ``remote`` on ``local``); None when the peer sent none (it does not do NAT-T)."""
    sources: list[bytes] = []
    destinations: list[bytes] = []
    for p in payloads:
        if isinstance(p, Notify):
            if p.type == NotifyType.NAT_DETECTION_SOURCE_IP:
                sources.append(p.data)
            elif p.type == NotifyType.NAT_DETECTION_DESTINATION_IP:
                destinations.append(p.data)
    if not sources or not destinations:
        return None
    remote_behind = nat_hash(spi_i, spi_r, *remote) not in sources  # several SOURCE notifies may come
    local_behind = nat_hash(spi_i, spi_r, *local) not in destinations
    return NatFinding(local_behind, remote_behind)
