"""The NETLINK_XFRM socket: requests with acknowledgement, and the
multicast socket kernel events arrive on.

Messages are pyroute2's (see :mod:`pluto_xfrm.messages`); the socket is a
plain ``AF_NETLINK`` one driven synchronously. pyroute2 0.9's own
``NetlinkSocket`` runs a private asyncio loop with ``run_until_complete``,
which raises inside the daemon's running loop, and XFRM requests complete
in microseconds, so a blocking request/ack exchange is both correct and
cheap. A socket belongs to the network namespace of the thread that created
it: the backend sees and touches only its own namespace.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, nlmsg

from pluto_xfrm.messages import NETLINK_XFRM, MarshalXfrm

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1
NLM_F_ACK_TLVS = 0x200
_HEADER = struct.Struct("=IHHII")
_RECV = 1 << 16


class NetlinkError(OSError):
    """The kernel refused a request: errno and its extended-ack sentence."""

    def __init__(self, code: int, extack: str = "") -> None:
        super().__init__(code, os.strerror(code))
        self.extack = extack


class XfrmSocket:
    """One NETLINK_XFRM socket. ``groups``: multicast groups to join (events).
    ``protocol``/``marshal``: another netlink family the same way (NETLINK_ROUTE for
    the XFRM interfaces, :mod:`pluto_xfrm.links`)."""

    def __init__(self, groups: Iterable[int] = (), protocol: int = NETLINK_XFRM,
                 marshal: Any = None) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
        try:
            self.sock.bind((0, 0))
            for option in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                try:
                    self.sock.setsockopt(SOL_NETLINK, option, 1)
                except OSError:
                    pass  # older kernels: plain errno, full echo
            for group in groups:
                self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
        except BaseException:
            self.sock.close()
            raise
        self.marshal = marshal if marshal is not None else MarshalXfrm()
        self.seq = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def request(self, msg: nlmsg, msg_type: int, flags: int = 0) -> list[nlmsg]:
        """Send one request and return the messages answering it (before the
        ack). Raises :class:`NetlinkError` when the kernel says no."""
        self.seq = (self.seq + 1) & 0xFFFFFFFF or 1
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = self.seq
        msg["header"]["pid"] = 0
        msg.encode()
        self.sock.send(bytes(msg.data))
        answers: list[nlmsg] = []
        while True:
            data = self.sock.recv(_RECV)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, mflags, seq, _pid = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    break
                chunk = data[offset:offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue  # a late answer to an earlier request
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", chunk, 16)[0]
                    if code:
                        raise NetlinkError(code, _extack(chunk, mflags))
                    return answers
                if kind == NLMSG_DONE:
                    return answers
                answers.append(self.decode(chunk))

    def decode(self, chunk: bytes) -> nlmsg:
        kind = _HEADER.unpack_from(chunk, 0)[1]
        msg = self.marshal.msg_map.get(kind, nlmsg)(chunk)
        msg.decode()
        return msg

    def read_pending(self) -> list[nlmsg]:
        """Every message queued on the socket now, without blocking."""
        out: list[nlmsg] = []
        while True:
            try:
                data = self.sock.recv(_RECV, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # events were lost; carry on with what comes next
                    continue
                raise
            offset = 0
            while offset + _HEADER.size <= len(data):
                length = _HEADER.unpack_from(data, offset)[0]
                if length < _HEADER.size:
                    break
                out.append(self.decode(data[offset:offset + length]))
                offset += (length + 3) & ~3


def _extack(chunk: bytes, flags: int) -> str:
    """NLMSGERR_ATTR_MSG of an error message, when the kernel sent one."""
    if not flags & NLM_F_ACK_TLVS:
        return ""
    # struct nlmsgerr: error, then the request's header (capped) or whole request
    offset = 20 + (_HEADER.size if flags & 0x100 else _HEADER.unpack_from(chunk, 20)[0])
    while offset + 4 <= len(chunk):
        length, kind = struct.unpack_from("=HH", chunk, offset)
        if length < 4:
            break
        if kind & 0x3FFF == NLMSGERR_ATTR_MSG:
            return bytes(chunk[offset + 4:offset + length]).split(b"\0", 1)[0].decode(errors="replace")
        offset += (length + 3) & ~3
    return ""

