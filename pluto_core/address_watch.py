"""The host's addresses as they come and go (rtnetlink address and route events):
IKE sockets opened on a new address and closed on one that went (Libreswan's "adding
UDP interface" / "shutting down interface"), and each MOBIKE IKE SA we initiated moved
to the address the routing table now picks for its peer (RFC 4555 3.5: the initiator
decides; the engine sends UPDATE_SA_ADDRESSES).

Events come in bursts (an address, its routes, a link): they are collected for
``SETTLE`` seconds and then handled once, from a fresh listing of the addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from typing import Any

from pluto_core.ike_socket import local_addresses
from pluto_core.ikev2.sa import IkeState

# <linux/rtnetlink.h> multicast groups (the bits of the legacy bind mask)
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
GROUPS = RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
SETTLE = 0.5  # seconds: one rescan for a burst of events
PROBE_PORT = 500


def route_source(peer: str) -> str | None:
    """The local address the kernel would send from to ``peer`` (a connected UDP socket
    asks the routing table and sends nothing); None when there is no route."""
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((peer, PROBE_PORT))
        except OSError:
            return None
        return str(probe.getsockname()[0])


class AddressWatch:
    """Watches rtnetlink for the ``host`` (an :class:`pluto_core.ike_host.IkeHost`)."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.sock: socket.socket | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
            sock.bind((0, GROUPS))
        except OSError as exc:
            self.host.log.log(f"cannot watch address changes (no new UDP interfaces, no MOBIKE moves): {exc}")
            return
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._task is not None:
            self._task.cancel()
        if self.sock is not None:
            with contextlib.suppress(RuntimeError, ValueError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def _readable(self) -> None:
        assert self.sock is not None
        while True:  # the content does not matter: a fresh listing follows
            try:
                if not self.sock.recv(65536):
                    break
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:  # overrun: events were lost, the rescan catches up
                    self.host.log.log(f"reading address events failed: {exc}")
                break
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(SETTLE, self._settled)

    def _settled(self) -> None:
        self._pending = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.rescan())
        else:  # still rescanning: look again afterwards
            self._pending = asyncio.get_running_loop().call_later(SETTLE, self._settled)

    async def rescan(self) -> None:
        """Open and close IKE sockets to match the host's addresses, then move MOBIKE IKE SAs."""
        host = self.host
        try:
            listed = await asyncio.get_running_loop().run_in_executor(None, local_addresses)
        except OSError as exc:
            host.log.log(f"cannot list local addresses: {exc}")
            return
        now = {address: name for name, address in listed}
        if not host.options.listen:
            for address, name in now.items():
                if (address, 500) not in host.sockets:
                    await host.open_interface(name, address)
            for address in {a for a, _port in host.sockets} - set(now):
                host.close_interface(address)
        host.addresses = list(now)
        self.move_ike_sas()
        host.flush()

    def move_ike_sas(self) -> int:
        """Each established MOBIKE IKE SA we initiated whose peer is now reached from another
        address of ours (one we listen on) moves there. Returns how many were moved."""
        host = self.host
        moved = 0
        for sa in host.engine.ike_sas():
            if not sa.mobike or not sa.first_initiator or sa.state != IkeState.ESTABLISHED:
                continue
            source = route_source(sa.remote[0])
            if source is None or source == sa.local[0]:
                continue
            if sa.conn is not None and source in sa.conn.lease:
                # a full tunnel's routes (0/1, 128/1) take the peer too, with our lease as their
                # source: the IKE SA never moves inside its own tunnel
                continue
            if (source, sa.local[1]) not in host.sockets:
                host.log.log(f"{sa.prefix} MOBIKE: the way to {sa.peer_text} now leaves from {source}, where "
                             "no IKE socket listens: not moved")
                continue
            if host.engine.move(sa.serial, source):
                moved += 1
        return moved
