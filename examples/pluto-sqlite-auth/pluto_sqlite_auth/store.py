"""The SQLite database: its schema, the read-only lookups the daemon makes, and the
writes the command line makes.

Every lookup opens the file read-only and closes it again: the daemon asks from
worker threads (an ``sqlite3`` connection must not be shared between them), it never
writes, and an edit made with the command line is seen by the next IKE SA without a
reload. IDs are stored as ipsec.conf writes them (``@east``, ``192.0.2.1``), which is
:attr:`pluto_core.ikev2.types.IdSpec.text`.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_public_key

ANY = "%any"  # psk.remote_id matching every peer (an exact row is preferred)

SCHEMA = """
CREATE TABLE IF NOT EXISTS psk (
    local_id TEXT NOT NULL,      -- this host's ID
    remote_id TEXT NOT NULL,     -- the peer's ID, or %any
    secret BLOB NOT NULL,
    PRIMARY KEY (local_id, remote_id)
);
CREATE TABLE IF NOT EXISTS pubkey (
    peer_id TEXT NOT NULL,
    key_pem TEXT NOT NULL,       -- a PEM SubjectPublicKeyInfo (BEGIN PUBLIC KEY)
    UNIQUE (peer_id, key_pem)
);
CREATE TABLE IF NOT EXISTS allowed (
    conn TEXT NOT NULL,          -- a conn with rows here admits only these peers
    peer_id TEXT NOT NULL,
    PRIMARY KEY (conn, peer_id)
);
"""


@contextmanager
def reading(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """A read-only connection for one lookup: a missing file is an error, never created."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as db:
        yield db


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """A connection for the command line's edits, committed when the block ends."""
    with closing(sqlite3.connect(os.fspath(path), timeout=5.0)) as db, db:
        yield db


def init(path: str | os.PathLike[str]) -> None:
    """Create the file (mode 0600: it holds secrets) and the tables; existing rows stay."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    with writing(path) as db:
        db.executescript(SCHEMA)


def _secret(value: Any) -> bytes:
    """A BLOB as bytes; a TEXT secret (inserted by hand with the sqlite3 shell) as UTF-8."""
    return value.encode() if isinstance(value, str) else bytes(value)


def psk(path: str | os.PathLike[str], local_id: str, remote_id: str | None) -> bytes | None:
    """The secret of ``local_id`` with ``remote_id``: the exact row, else the ``%any``
    row; ``remote_id=None`` (the peer's ID is not known yet) takes the ``%any`` row."""
    wanted = [remote_id, ANY] if remote_id is not None else [ANY]
    with reading(path) as db:
        rows = dict(db.execute(
            f"SELECT remote_id, secret FROM psk WHERE local_id = ? AND remote_id IN ({','.join('?' * len(wanted))})",
            [local_id, *wanted]).fetchall())
    for remote in wanted:
        if remote in rows:
            return _secret(rows[remote])
    return None


def allowed_peers(path: str | os.PathLike[str], conn: str) -> set[str]:
    """The peer IDs ``conn`` admits; an empty set means the conn has no rule."""
    with reading(path) as db:
        return {row[0] for row in db.execute("SELECT peer_id FROM allowed WHERE conn = ?", (conn,))}


def public_key_pems(path: str | os.PathLike[str], peer_id: str) -> list[str]:
    """The trusted public keys of ``peer_id`` as stored (PEM text), oldest first."""
    with reading(path) as db:
        return [row[0] for row in db.execute("SELECT key_pem FROM pubkey WHERE peer_id = ? ORDER BY rowid",
                                             (peer_id,))]


def trusted_public_keys(path: str | os.PathLike[str], peer_id: str) -> list[PublicKeyTypes]:
    """The trusted public keys of ``peer_id`` as ``cryptography`` public key objects
    (served through ``pluto_auth_public_keys``)."""
    keys = []
    for number, pem in enumerate(public_key_pems(path, peer_id), 1):
        try:
            keys.append(load_pem_public_key(pem.encode()))
        except ValueError as exc:  # a damaged trust anchor is an error to see, not to skip
            raise ValueError(f"public key {number} of {peer_id} does not parse: {exc}") from None
    return keys


# ---------------------------------------------------------------- the command line's edits


def add_psk(path: str | os.PathLike[str], local_id: str, remote_id: str, secret: bytes) -> None:
    """Set the secret of (local, remote), replacing one there was."""
    with writing(path) as db:
        db.execute("INSERT OR REPLACE INTO psk (local_id, remote_id, secret) VALUES (?, ?, ?)",
                   (local_id, remote_id, secret))


def allow(path: str | os.PathLike[str], conn: str, peer_id: str) -> None:
    with writing(path) as db:
        db.execute("INSERT OR IGNORE INTO allowed (conn, peer_id) VALUES (?, ?)", (conn, peer_id))


def add_pubkey(path: str | os.PathLike[str], peer_id: str, key_pem: str) -> None:
    """Trust ``key_pem`` for ``peer_id``; a key that does not parse is refused (ValueError)."""
    load_pem_public_key(key_pem.encode())
    with writing(path) as db:
        db.execute("INSERT OR IGNORE INTO pubkey (peer_id, key_pem) VALUES (?, ?)", (peer_id, key_pem))


DELETES = {
    "psk": "DELETE FROM psk WHERE local_id = ? AND remote_id = ?",
    "allowed": "DELETE FROM allowed WHERE conn = ? AND peer_id = ?",
    "pubkey": "DELETE FROM pubkey WHERE peer_id = ?",
}


def delete(path: str | os.PathLike[str], table: str, *key: str) -> int:
    """Remove the rows of ``table`` with ``key`` (see DELETES); how many went."""
    with writing(path) as db:
        return db.execute(DELETES[table], key).rowcount


def listing(path: str | os.PathLike[str]) -> list[str]:
    """One line a row, secrets shown by length only."""
    lines = []
    with reading(path) as db:
        for local, remote, size in db.execute(
                "SELECT local_id, remote_id, length(secret) FROM psk ORDER BY local_id, remote_id"):
            lines.append(f"psk {local} {remote} ({size} bytes)")
        for peer, pem in db.execute("SELECT peer_id, key_pem FROM pubkey ORDER BY peer_id, rowid"):
            lines.append(f"pubkey {peer} {_describe_key(pem)}")
        for conn, peer in db.execute("SELECT conn, peer_id FROM allowed ORDER BY conn, peer_id"):
            lines.append(f"allowed {conn} {peer}")
    return lines


def _describe_key(pem: str) -> str:
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        return "(does not parse)"
    size = getattr(key, "key_size", None)
    return key.__class__.__name__.lstrip("_").removesuffix("PublicKey") + (f" {size} bits" if size else "")
