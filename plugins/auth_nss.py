"""The built-in ``nss`` auth source: host keys in Libreswan's NSS database.

The database is the one at ``--nssdir`` (``nssdir=``, ``/var/lib/ipsec/nss``), read natively
(:mod:`pluto_core.nss`) and opened at the first lookup, with the password from
``<ipsecdir>/nsspassword`` as Libreswan reads it (none needed for a database without one).
A key is found by the conn's CKAID (``leftckaid=``, or the CKAID of ``leftrsasigkey=``); a
conn that names none, or a CKAID the database lacks, gets ``None``. No database at all (a
setup with keys in files only) answers ``None`` without a word; one that cannot be opened
(an old DBM one, a wrong password) is reported once, through the chain's log line
for a source that raised, and the source answers ``None`` until ``ipsec rereadsecrets``,
which reopens the database at the next lookup. Keys found are kept.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from pluto_core.auth.keyring import normalise_ckaid
from pluto_core.errors import ConfigError
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.crypto.signatures import KeySigner
from pluto_core.ikev2.types import EngineConn, IdSpec
from pluto_core.nss import NssDb
from pluto_core.options import DEFAULT_IPSECDIR, DEFAULT_NSSDIR


class NssSource:
    def __init__(self, nssdir: str = DEFAULT_NSSDIR, password_file: str | None = None) -> None:
        self.nssdir = nssdir
        self.password_file = password_file or os.path.join(DEFAULT_IPSECDIR, "nsspassword")
        self._lock = threading.Lock()  # lookups run on the chain's worker threads
        self._db: NssDb | None = None
        self._broken = False  # the database could not be opened (reported once)
        self._signers: dict[str, KeySigner] = {}

    def __repr__(self) -> str:
        return f"NssSource({self.nssdir!r}, {len(self._signers)} keys cached)"

    @hookimpl
    def pluto_startup(self, options: Any) -> None:
        with self._lock:
            self.nssdir = options.nssdir
            self.password_file = os.path.join(options.ipsecdir, "nsspassword")
            self._reset()

    @hookimpl
    def pluto_auth_load(self) -> None:
        """``ipsec rereadsecrets``: forget the database and its keys; the next lookup reopens it."""
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        self._db, self._broken, self._signers = None, False, {}

    @hookimpl
    def pluto_auth_signer(self, local_id: IdSpec, conn: EngineConn) -> KeySigner | None:
        if not conn.local_ckaid:
            return None
        ckaid = normalise_ckaid(conn.local_ckaid)
        with self._lock:
            signer = self._signers.get(ckaid)
            if signer is not None:
                return signer
            db = self._open()
            if db is None:
                return None
            key = db.key_by_ckaid(ckaid)
            if key is None:
                return None
            signer = self._signers[ckaid] = KeySigner(key.private_key)
            return signer

    def _open(self) -> NssDb | None:
        """The database, opened once; the first failure raises (the chain logs it), later ones are quiet."""
        if self._db is None and not self._broken:
            if not any(os.path.exists(os.path.join(self.nssdir, name)) for name in ("key4.db", "cert9.db", "key3.db")):
                self._broken = True  # no database at all: a file-only setup, nothing to find here
                return None
            try:
                self._db = NssDb(self.nssdir, password_file=self.password_file)
            except ConfigError:  # NssError, or an unreadable nsspassword file
                self._broken = True
                raise
        return self._db
