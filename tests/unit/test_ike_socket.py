"""Port 4500 framing (RFC 3948 section 2.2): IKE messages carry the four-zero-octet
non-ESP marker, NAT-T keepalives and ESP in UDP do not reach the engine."""

from __future__ import annotations

from typing import Any

from pluto_core.ike_socket import IkeSocket


class Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append((data, addr))


def _socket(port: int, received: list[Any]) -> tuple[IkeSocket, Transport]:
    sock = IkeSocket("eth0", "192.0.2.1", port, lambda data, here, peer: received.append((data, here, peer)), log=None)
    transport = Transport()
    sock.transport = transport  # type: ignore[assignment]
    return sock, transport


def test_marker_added_and_removed_on_4500_only() -> None:
    received: list[Any] = []
    natt, t4500 = _socket(4500, received)
    plain, t500 = _socket(500, received)
    natt.send(b"IKE", ("192.0.2.2", 4500))
    plain.send(b"IKE", ("192.0.2.2", 500))
    assert t4500.sent == [(b"\0\0\0\0IKE", ("192.0.2.2", 4500))] and t500.sent == [(b"IKE", ("192.0.2.2", 500))]
    natt.received(b"\0\0\0\0IKE", ("192.0.2.2", 1025))
    natt.received(b"\xff", ("192.0.2.2", 1025))  # a keepalive
    natt.received(b"\x12\x34\x56\x78esp", ("192.0.2.2", 1025))  # ESP in UDP (SPI first)
    assert received == [(b"IKE", ("192.0.2.1", 4500), ("192.0.2.2", 1025))]


def test_keepalive_goes_raw() -> None:
    natt, transport = _socket(4500, [])
    natt.send(b"\xff", ("192.0.2.2", 4500), raw=True)
    assert transport.sent == [(b"\xff", ("192.0.2.2", 4500))]
