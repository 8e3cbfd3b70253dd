"""UDP sockets for IKE: port 500 and the NAT-T port 4500 on each local address.

One socket per address and port (as Libreswan's "UDP interfaces"), so that
the address a packet arrived on is known without ancillary data. On port 4500
IKE messages carry a four-zero-octet non-ESP marker (RFC 3948 section 2.2);
anything else arriving there is ESP for the kernel and is ignored here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from pluto_core.ikev2.endpoint import endpoint

NON_ESP_MARKER = b"\x00\x00\x00\x00"
IKE_PORT = 500
NATT_PORT = 4500
MAX_DATAGRAM = 65535

Receiver = Callable[[bytes, tuple[str, int], tuple[str, int]], None]


def local_addresses() -> list[tuple[str, str]]:
    """(interface, address) of every usable local address, via netlink (pyroute2)."""
    from pyroute2 import IPRoute  # lazy: a quarter of a second to import, needed only here

    out: list[tuple[str, str]] = []
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        for msg in ipr.get_addr():
            addr = msg.get_attr("IFA_ADDRESS")
            if addr is None:
                continue
            ip = ipaddress.ip_address(addr)
            if ip.version == 6 and ip.is_link_local:
                continue  # needs a scope id; IKE peers use global addresses
            out.append((names.get(msg["index"], "?"), str(ip)))
    return out


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, sock: IkeSocket) -> None:
        self.owner = sock

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        self.owner.log.debug(f"{endpoint(self.owner.address, self.owner.port)}: {exc}")


class IkeSocket:
    def __init__(self, interface: str, address: str, port: int, receiver: Receiver, log: Any) -> None:
        self.interface = interface
        self.address = address
        self.port = port
        self.receiver = receiver
        self.log = log
        self.transport: asyncio.DatagramTransport | None = None

    async def open(self) -> None:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((self.address, self.port))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)

    @property
    def fileno(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("socket").fileno())

    def received(self, data: bytes, remote: tuple[str, int]) -> None:
        if self.port == NATT_PORT:
            if not data.startswith(NON_ESP_MARKER):
                return  # ESP-in-UDP (or a keepalive): the kernel's business
            data = data[4:]
        self.receiver(data, (self.address, self.port), remote)

    def send(self, data: bytes, remote: tuple[str, int], raw: bool = False) -> None:
        """Send one IKE message; ``raw`` (a NAT-T keepalive) goes without the marker."""
        if self.transport is None:
            return
        if self.port == NATT_PORT and not raw:
            data = NON_ESP_MARKER + data
        self.transport.sendto(data, remote)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
