"""C structs nested inside pyroute2 netlink messages.

pyroute2's field codec (``nlmsg.fields``) takes, besides ``struct`` format
strings, any class with ``decode_from(data, offset)`` and
``encode_into(data, offset, value)``. XFRM messages nest the same structs
(``xfrm_selector``, ``xfrm_id``, lifetimes) in several messages, so they are
declared once here, in the same ``fields`` style, and used as field types.

Each field is packed on its own, with its own byte order (``=`` host order,
``>`` network order), and C padding is written out as ``('__padN', 'Nx')``
fields, exactly as pyroute2's own explicit-padding messages do; the unit
tests check every ``size`` against ``sizeof`` on x86_64.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

FieldSpec = tuple[str, "str | type[CStruct]"]


class CStruct:
    """Base of a nested struct: subclasses set ``fields``; values are dicts."""

    fields: ClassVar[tuple[FieldSpec, ...]] = ()
    size: ClassVar[int] = 0
    _codecs: ClassVar[tuple[tuple[str, Any], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        codecs: list[tuple[str, Any]] = []
        size = 0
        for name, fmt in cls.fields:
            if isinstance(fmt, str):
                codec: Any = struct.Struct(fmt)
                size += codec.size
            else:
                codec = fmt
                size += fmt.size
            codecs.append((name, codec))
        cls._codecs = tuple(codecs)
        cls.size = size

    @classmethod
    def zero(cls) -> dict[str, Any]:
        """A value with every field zero (what an omitted struct encodes as)."""
        value, _ = cls.decode_from(bytes(cls.size), 0)
        return value

    @classmethod
    def decode_from(cls, data: bytes | bytearray, offset: int) -> tuple[dict[str, Any], int]:
        value: dict[str, Any] = {}
        for name, codec in cls._codecs:
            if isinstance(codec, struct.Struct):
                items = codec.unpack_from(data, offset)
                offset += codec.size
                if not name.startswith("__"):
                    value[name] = items[0]
            else:
                value[name], offset = codec.decode_from(data, offset)
        return value, offset

    @classmethod
    def encode_into(cls, data: bytearray, offset: int, value: Any) -> int:
        """Append the struct at ``offset`` (the end of ``data``), as pyroute2 expects."""
        if not isinstance(value, dict):
            value = {}  # pyroute2 passes 0 for a field that was never set
        data.extend(bytes(cls.size))
        cls.pack_into(data, offset, value)
        return offset + cls.size

    @classmethod
    def pack_into(cls, data: bytearray, offset: int, value: dict[str, Any]) -> None:
        for name, codec in cls._codecs:
            if isinstance(codec, struct.Struct):
                if not name.startswith("__"):
                    codec.pack_into(data, offset, value.get(name, 0) or _zero_of(codec))
                offset += codec.size
            else:
                codec.pack_into(data, offset, value.get(name) or {})
                offset += codec.size

    @classmethod
    def pack(cls, value: dict[str, Any]) -> bytes:
        data = bytearray(cls.size)
        cls.pack_into(data, 0, value)
        return bytes(data)

    @classmethod
    def unpack(cls, data: bytes) -> dict[str, Any]:
        return cls.decode_from(data, 0)[0]


def _zero_of(codec: struct.Struct) -> Any:
    return b"" if codec.format.endswith("s") else 0
