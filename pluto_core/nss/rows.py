"""The object rows of NSS's SQL databases, shared by the key and certificate readers.

Both files are SQLite; every PKCS#11 object is one row (``nssPrivate`` in key4.db,
``nssPublic`` in cert9.db) whose columns are named ``a`` and the attribute type in hex
(``a102`` is ``CKA_ID``). Values are raw bytes; ``CK_ULONG``s are 4 bytes big-endian.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# PKCS#11 attribute types every object reader needs (the standard's numbers).
CKA_CLASS = 0x0
CKA_LABEL = 0x3
CKA_VALUE = 0x11
CKA_ID = 0x102

# What NSS stores for an attribute that is present but empty.
EXPLICIT_NULL = b"\xa5\x00\x5a"


@dataclass(frozen=True)
class Row:
    """One object row: attributes by type, values as stored (explicit NULL becomes b"")."""

    object_id: int
    attributes: dict[int, bytes]

    def get(self, kind: int) -> bytes | None:
        """The attribute's bytes, b"" when present but empty, None when absent."""
        return self.attributes.get(kind)

    def ulong(self, kind: int) -> int | None:
        """A ``CK_ULONG`` attribute (4 bytes, big-endian), None when absent or malformed."""
        value = self.attributes.get(kind)
        if value is None or len(value) != 4:
            return None
        return int.from_bytes(value, "big")


def sqlite_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection (a ``file:...?mode=ro`` URI: NSS's files are never written)."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    conn.text_factory = bytes  # a value stored as TEXT stays bytes (and never fails to decode)
    return conn


def read_rows(conn: sqlite3.Connection, table: str, where: str = "", args: tuple[Any, ...] = ()) -> Iterator[Row]:
    """The rows of an object table, attribute columns decoded from their ``a<hex>`` names."""
    cursor = conn.execute(f"SELECT * FROM {table} {where}", args)
    names = [d[0] for d in cursor.description]
    for values in cursor:
        object_id = 0
        attributes: dict[int, bytes] = {}
        for name, value in zip(names, values, strict=True):
            if name == "id":
                object_id = int(value)
            elif name.startswith("a") and value is not None:
                try:
                    kind = int(name[1:], 16)
                except ValueError:
                    continue
                raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                attributes[kind] = b"" if raw == EXPLICIT_NULL else raw
        yield Row(object_id, attributes)


