"""The auth source pluto registers as ``pluto.auth:sqlite-example``.

It learns where its database is from ``pluto_startup`` (``<ipsecdir>/pluto-auth.sqlite``)
and opens it read-only for every lookup (:mod:`pluto_sqlite_auth.store`), so it holds no
connection a worker thread could share and keeps no state but the path. It never
logs a secret: the only line it writes names the database file.
"""

from __future__ import annotations

import os
from typing import Any

from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.types import EngineConn, IdSpec
from pluto_sqlite_auth import store

NAME = "sqlite-example"  # the entry-point name auth-sources= uses
DB_NAME = "pluto-auth.sqlite"


class SqliteAuthSource:
    """PSKs and per-conn peer rules from ``<ipsecdir>/pluto-auth.sqlite``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        # pluto instantiates the entry point without arguments; tests pass a path.
        self.path: str | None = os.fspath(path) if path is not None else None

    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        """Take the database's path from ``--ipsecdir`` / ``ipsecdir=``; say which file
        is used when auth-sources= names this source (installed is not enabled)."""
        if self.path is None:
            self.path = os.path.join(options.ipsecdir, DB_NAME)
        if NAME in options.auth_sources:
            state = "" if os.path.exists(self.path) else " (missing: no keys, every peer vetoed until it exists)"
            log.log(f"auth source {NAME}: database {self.path}{state}")

    @hookimpl
    def pluto_auth_psk(self, local_id: IdSpec, remote_id: IdSpec | None) -> bytes | None:
        """The exact (local, remote) row, else the (local, %any) row. An unreadable
        database raises: pluto logs it naming this source and asks the next one."""
        if self.path is None:
            return None
        return store.psk(self.path, local_id.text, remote_id.text if remote_id is not None else None)

    @hookimpl
    def pluto_auth_public_keys(self, peer_id: IdSpec) -> list[Any] | None:
        """The trusted public keys of ``peer_id`` (the ``pubkey`` table); its signature
        must verify with one of them (``authby=rsasig``/``ecdsa``/``eddsa`` conns)."""
        if self.path is None:
            return None
        return store.trusted_public_keys(self.path, peer_id.text) or None

    @hookimpl
    def pluto_auth_authorize(self, peer_id: IdSpec, conn: EngineConn) -> str | None:
        """A conn with ``allowed`` rows admits only those peers. This fails closed: a
        database that cannot be read vetoes (pluto skips a source that raises, which
        here would let everyone in)."""
        if self.path is None:
            return "its database path is not known yet"
        try:
            peers = store.allowed_peers(self.path, conn.name)
        except Exception as exc:
            return f"cannot read {self.path}: {exc.__class__.__name__}: {exc}"
        if peers and peer_id.text not in peers:
            return f'peer {peer_id.text} is not allowed on conn "{conn.name}"'
        return None
