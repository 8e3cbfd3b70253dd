"""One PF_KEY v2 socket: send a message, wait for the reply that carries its
sequence number and our pid, read what the kernel broadcasts.

The kernel answers many requests by broadcasting the result to every PF_KEY
socket in the namespace (RFC 2367 section 1.2; Linux ``BROADCAST_ALL`` for
ADD/UPDATE/DELETE and the SPD changes), so a socket sees other daemons'
work too: a reply is recognised by (type, seq, pid), everything else is
skipped, or kept for :meth:`read_pending` on the event socket so that an
ACQUIRE arriving during a REGISTER is not lost. Replies are waited for with
``select`` and a deadline, so a blocked kernel cannot hang the daemon.
"""

from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import time

from pluto_bsdkame.constants import AF_KEY, PF_KEY_V2, MsgType
from pluto_bsdkame.extensions import PfkeyFormatError
from pluto_bsdkame.layout import Layout
from pluto_bsdkame.messages import Message, decode, decode_header, encode
from pluto_core.errors import KernelError

MAX_MESSAGE = 1 << 19  # sadb_msg_len is 16 bits of 64-bit words
_SEQ = itertools.count(1)


def next_seq() -> int:
    """Sequence numbers unique within the process (several backends may
    share a pid, each in its own namespace or not)."""
    return (next(_SEQ) % 0xFFFFFFFF) + 1


class PfkeyRefused(Exception):
    """The kernel answered with ``sadb_msg_errno`` set."""

    def __init__(self, code: int, reply: Message) -> None:
        super().__init__(code)
        self.code = code
        self.reply = reply


class PfkeySocket:
    def __init__(self, layout: Layout, keep_others: bool = False) -> None:
        self.layout = layout
        self.pid = os.getpid()
        self.keep_others = keep_others
        self.backlog: list[Message] = []
        self.malformed: list[str] = []
        self._buf = bytearray(MAX_MESSAGE)
        self.sock = socket.socket(AF_KEY, socket.SOCK_RAW, PF_KEY_V2)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def send(self, msg: Message) -> None:
        self.sock.send(encode(msg, self.layout))

    def _recv(self, deadline: float) -> bytes | None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return None
            try:
                n = self.sock.recv_into(self._buf)
            except BlockingIOError:
                continue
            return bytes(self._buf[:n])

    def request(
        self, operation: str, msg: Message, timeout: float = 15.0, reply_types: tuple[int, ...] = ()
    ) -> Message:
        """Send ``msg`` and return the kernel's reply; PfkeyRefused when it
        carries an errno, KernelError when none comes or it is malformed."""
        self.send(msg)
        wanted = reply_types or (msg.type,)
        deadline = time.monotonic() + timeout
        while True:
            data = self._recv(deadline)
            if data is None:
                raise KernelError(
                    operation, errno.ETIMEDOUT, f"no PF_KEY reply to {msg.name} within {timeout:.0f} s"
                )
            try:
                head = decode_header(data, self.layout)
                mine = head.seq == msg.seq and head.pid == self.pid and head.type in wanted
                if mine and head.errno:
                    raise PfkeyRefused(head.errno, head)
                if not mine:
                    self._other(data)
                    continue
                return decode(data, self.layout)
            except PfkeyFormatError as exc:
                raise KernelError(operation, errno.EBADMSG, f"malformed PF_KEY reply: {exc}") from None

    def dump(self, operation: str, msg: Message, timeout: float = 30.0) -> list[Message]:
        """All answers of SADB_DUMP / SADB_X_SPDDUMP: each carries our pid and
        a countdown in ``seq``, the last one 0; an empty table is ENOENT."""
        self.send(msg)
        deadline = time.monotonic() + timeout
        out: list[Message] = []
        while True:
            data = self._recv(deadline)
            if data is None:
                raise KernelError(
                    operation, errno.ETIMEDOUT, f"{msg.name} did not finish within {timeout:.0f} s"
                )
            try:
                head = decode_header(data, self.layout)
                if head.pid != self.pid or head.type != msg.type:
                    self._other(data)
                    continue
                if head.errno:
                    if head.errno == errno.ENOENT:
                        return out
                    raise PfkeyRefused(head.errno, head)
                out.append(decode(data, self.layout))
            except PfkeyFormatError as exc:
                raise KernelError(
                    operation, errno.EBADMSG, f"malformed PF_KEY {msg.name} answer: {exc}"
                ) from None
            if head.seq == 0:
                return out

    def _other(self, data: bytes) -> None:
        if not self.keep_others:
            return
        try:
            msg = decode(data, self.layout)
        except PfkeyFormatError as exc:
            self.malformed.append(str(exc))
            return
        if msg.type in _EVENTS:
            self.backlog.append(msg)

    def read_pending(self) -> list[Message]:
        """Every message waiting now, without blocking; malformed ones are
        noted in ``malformed`` and skipped."""
        out, self.backlog = self.backlog, []
        while True:
            try:
                n = self.sock.recv_into(self._buf)
            except (BlockingIOError, InterruptedError):
                return out
            try:
                out.append(decode(bytes(self._buf[:n]), self.layout))
            except PfkeyFormatError as exc:
                self.malformed.append(str(exc))


_EVENTS = (MsgType.ACQUIRE, MsgType.EXPIRE, MsgType.X_NAT_T_NEW_MAPPING)
