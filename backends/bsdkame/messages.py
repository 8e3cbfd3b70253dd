"""``sadb_msg`` and its extensions, to and from octets (RFC 2367 section 2).

A message is the 16-octet base header followed by extensions, each an
``sadb_ext`` header (length in 64-bit words including itself, type) and a
body padded to 64 bits. ``sadb_msg_len`` counts the whole message in 64-bit
words. Decoding is strict: a reply that is short, whose lengths disagree,
that carries an extension twice or one this layout does not know, raises
:class:`PfkeyFormatError` naming what and where.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pluto_bsdkame.constants import ALIGN, MSG_NAMES, PF_KEY_V2, ExtType
from pluto_bsdkame.extensions import Ext, PfkeyFormatError, ext_class
from pluto_bsdkame.layout import Layout

HEADER = 16


@dataclass(frozen=True, slots=True)
class Message:
    """One PF_KEY message. ``exts`` keep their order (encoding writes them
    in that order, decoding keeps the kernel's)."""

    type: int
    satype: int = 0
    seq: int = 0
    pid: int = 0
    errno: int = 0
    exts: tuple[Ext, ...] = field(default=())
    reserved: int = 0  # Linux puts a reference count here in SPD dumps

    def get(self, ext_type: int) -> Ext | None:
        for ext in self.exts:
            if ext.ext_type == ext_type:
                return ext
        return None

    def has(self, ext_type: int) -> bool:
        return self.get(ext_type) is not None

    @property
    def name(self) -> str:
        return MSG_NAMES.get(self.type, f"type {self.type}")


def _ext_name(ext_type: int) -> str:
    try:
        return f"{ExtType(ext_type).name} ({ext_type})"
    except ValueError:
        return str(ext_type)


def encode(msg: Message, layout: Layout) -> bytes:
    parts: list[bytes] = []
    for ext in msg.exts:
        body = ext.pack(layout)
        size = 4 + len(body)
        size += -size % ALIGN
        if size // ALIGN > 0xFFFF:
            raise ValueError(f"extension {_ext_name(ext.ext_type)} too long for PF_KEY ({size} octets)")
        parts.append(
            struct.pack(layout.order + "HH", size // ALIGN, ext.ext_type) + body.ljust(size - 4, b"\0")
        )
    body = b"".join(parts)
    head = struct.pack(
        layout.order + "BBBBHHII",
        PF_KEY_V2,
        msg.type,
        msg.errno,
        msg.satype,
        (HEADER + len(body)) // ALIGN,
        msg.reserved,
        msg.seq,
        msg.pid,
    )
    return head + body


def decode_header(data: bytes, layout: Layout) -> Message:
    """The base header alone (enough to match a reply to its request)."""
    if len(data) < HEADER:
        raise PfkeyFormatError(f"PF_KEY message too short: {len(data)} octets, sadb_msg needs {HEADER}")
    version, mtype, err, satype, words, reserved, seq, pid = struct.unpack_from(
        layout.order + "BBBBHHII", data
    )
    if version != PF_KEY_V2:
        raise PfkeyFormatError(f"not a PF_KEY v2 message (sadb_msg_version {version})", 0)
    if words * ALIGN != len(data):
        raise PfkeyFormatError(f"sadb_msg_len says {words * ALIGN} octets but the message has {len(data)}", 4)
    return Message(mtype, satype, seq, pid, err, (), reserved)


def decode(data: bytes, layout: Layout) -> Message:
    head = decode_header(data, layout)
    exts: list[Ext] = []
    seen: set[int] = set()
    off = HEADER
    view = memoryview(data)
    while off < len(data):
        if len(data) - off < 4:
            raise PfkeyFormatError(f"truncated extension header: {len(data) - off} octets left", off)
        words, ext_type = struct.unpack_from(layout.order + "HH", data, off)
        if words == 0:
            raise PfkeyFormatError(f"extension {_ext_name(ext_type)} has length 0", off)
        size = words * ALIGN
        if off + size > len(data):
            raise PfkeyFormatError(
                f"extension {_ext_name(ext_type)} claims {size} octets, only {len(data) - off} left", off
            )
        cls = ext_class(ext_type, layout)
        if cls is None:
            raise PfkeyFormatError(
                f"unknown extension type {ext_type} for the {layout.name} PF_KEY layout", off
            )
        if ext_type in seen:
            raise PfkeyFormatError(f"extension {_ext_name(ext_type)} appears twice", off)
        seen.add(ext_type)
        try:
            exts.append(cls.unpack(ext_type, bytes(view[off + 4 : off + size]), layout))
        except PfkeyFormatError as exc:
            raise PfkeyFormatError(f"{head.name}: {exc.message}", off) from None
        off += size
    return Message(head.type, head.satype, head.seq, head.pid, head.errno, tuple(exts), head.reserved)
