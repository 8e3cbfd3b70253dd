"""An example third-party auth source for pluto: pre-shared keys, trusted public keys
and per-conn peer rules kept in an SQLite database (see README.md)."""

from __future__ import annotations

from pluto_sqlite_auth.source import DB_NAME, NAME, SqliteAuthSource

__all__ = ["DB_NAME", "NAME", "SqliteAuthSource"]
