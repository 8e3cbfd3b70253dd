"""The built-in ``files`` auth source: private keys in PEM or DER files, strongSwan-style,
for sites without an NSS database.

``ipsec.secrets`` names them::

    @east : RSA /etc/ipsec.d/private/east.pem
    : ECDSA east-ec.der
    : EDDSA east-ed25519.pem "passphrase"

A bare name (``: RSA east``) is Libreswan's NSS nickname and not read here; a relative
path is taken from ``<ipsecdir>/private/`` (``/etc/ipsec.d/private/``, where
strongSwan keeps its private keys too). PEM (PKCS#8, PKCS#1, SEC1) or DER; an encrypted PEM
needs the password after the path. Files are read once per load; one that cannot be read,
decrypted or is not a key of the entry's kind is logged once with the entry's file:line and
skipped. A key signs for a conn whose CKAID (``leftckaid=``) is its public key's; a conn that
names no key gets the best match of the entries' IDs (:mod:`pluto_core.auth.keyring`).

The daemon hands the secrets (``pluto_auth_load``) before it tells plugins the options
(``pluto_startup``); the first load waits for the ipsecdir.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from pluto_core.auth.keyring import ALL_KINDS, HeldKey, KeyRing
from pluto_core.config.paths import read_file
from pluto_core.config.secrets import SecretEntry
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.crypto import signatures as sig
from pluto_core.ikev2.types import EngineConn, IdSpec

# the ipsec.secrets kind -> the signature families a key of it may be
_FAMILIES = {"RSA": ("rsa",), "ECDSA": ("ecdsa",), "EDDSA": ("ed25519", "ed448")}
_FAMILY_NAMES = {"rsa": "an RSA", "ecdsa": "an ECDSA", "ed25519": "an Ed25519", "ed448": "an Ed448"}


class KeyFileError(Exception):
    """A key file that gives no usable key; the message says why, never a password or key byte."""


def key_path(name: str, ipsecdir: str) -> str:
    """Where the file named in an entry is: an absolute path as is, else under ``<ipsecdir>/private``."""
    return name if os.path.isabs(name) else os.path.join(ipsecdir, "private", name)


KEY_FILE_SUFFIXES = (".pem", ".der", ".key", ".p8", ".pk8")


def names_a_file(name: str) -> bool:
    """``/etc/ipsec.d/private/east.pem``, ``keys/east.der``, ``east.pem``: a file; ``east``
    alone is what Libreswan's ``: RSA east`` means, an NSS nickname, left to the NSS store."""
    return "/" in name or name.lower().endswith(KEY_FILE_SUFFIXES)


def read_private_key(path: str, password: bytes | None) -> PrivateKeyTypes:
    """A private key from a PEM or DER file (encrypted PEM or PKCS#8 with ``password``)."""
    try:
        data = read_file(path)[0]  # regular files only: a FIFO must not block the daemon
    except OSError as exc:
        raise KeyFileError(f"cannot read: {exc.strerror or exc.__class__.__name__}") from None
    pem = b"-----BEGIN" in data
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        try:
            return load(data, password)
        except TypeError:
            if password is None:
                raise KeyFileError("encrypted, and the entry gives no password") from None
            return load(data, None)  # a password for a clear key: not needed
    except UnsupportedAlgorithm:
        raise KeyFileError("a key of an unsupported type") from None
    except ValueError:
        encrypted = b"ENCRYPTED" in data if pem else password is not None
        if encrypted and password is not None:
            raise KeyFileError("cannot decrypt it with the entry's password (or not a private key)") from None
        raise KeyFileError(f"not a {'PEM' if pem else 'DER'} private key") from None


def entry_key(entry: SecretEntry, ipsecdir: str) -> tuple[str, sig.KeySigner]:
    """(path, signer) of a ``: RSA|ECDSA|EDDSA path ["password"]`` entry; ``KeyFileError``."""
    path = key_path(entry.key_name or "", ipsecdir)
    key = read_private_key(path, entry.secret.reveal() if entry.secret is not None else None)
    try:
        family = sig.key_kind(key)
        signer = sig.KeySigner(key)
    except sig.KeyMismatch:
        raise KeyFileError(f"a {type(key).__name__.removeprefix('_')}, which cannot sign") from None
    if family not in _FAMILIES[entry.kind]:
        raise KeyFileError(f"{_FAMILY_NAMES[family]} key, not {entry.kind}")
    return path, signer


class FilesSource:
    def __init__(self, ipsecdir: str | None = None) -> None:
        self.ipsecdir = ipsecdir  # from pluto_startup's options
        self.keys = KeyRing()  # replaced whole on each load
        self._pending: tuple[Any, Any] | None = None  # secrets handed before the ipsecdir was known

    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        self.ipsecdir = options.ipsecdir
        pending, self._pending = self._pending, None
        if pending is not None:
            self._load(pending[0], pending[1] if pending[1] is not None else log)

    @hookimpl
    def pluto_auth_load(self, secrets: Any, log: Any) -> None:
        if self.ipsecdir is None:
            self._pending = (secrets, log)
            return
        self._load(secrets, log)

    def _load(self, secrets: Any, log: Any) -> None:
        assert self.ipsecdir is not None
        held = []
        for entry in secrets.entries:
            if entry.kind not in ALL_KINDS or entry.key_name is None or not names_a_file(entry.key_name):
                continue  # a bare name is Libreswan's NSS nickname, not ours to read
            where = f"{entry.file}:{entry.line}"
            try:
                path, signer = entry_key(entry, self.ipsecdir)
            except KeyFileError as exc:
                _say(log, f"{where}: {entry.kind} private key file "
                          f"'{key_path(entry.key_name, self.ipsecdir)}': {exc}: skipped")
                continue
            key = HeldKey.of(entry, signer)
            held.append(key)
            _say(log, f"{where}: loaded {entry.kind} private key from '{path}', ckaid {key.ckaid}")
        self.keys = KeyRing(held)

    @hookimpl
    def pluto_auth_signer(self, local_id: IdSpec, conn: EngineConn) -> sig.KeySigner | None:
        return self.keys.find(local_id, conn)


def _say(log: Any, text: str) -> None:
    if log is not None:
        log.log(text)
