"""Private keys an auth source holds, and which one signs for a conn.

A conn that names its key (``conn.local_ckaid``: ``leftckaid=``, or the CKAID of
``leftrsasigkey=``/``leftpubkey=``) gets that key or nothing. A conn that names none gets
the key whose ``ipsec.secrets`` entry best matches its IDs, by the same rules as a PSK
(:meth:`pluto_core.config.secrets.Secrets.best`), among the keys of the kind its
``leftauth=`` asks for. The built-in ``secrets`` and ``files`` sources use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from pluto_core.config.secrets import SecretEntry, Secrets
from pluto_core.errors import ConfigError
from pluto_core.ikev2.crypto import pubkeys
from pluto_core.ikev2.crypto.signatures import PINS, KeySigner
from pluto_core.ikev2.types import EngineConn, IdSpec

# leftauth= -> the ipsec.secrets kinds whose keys can make that AUTH
_KINDS = {"rsasig": ("RSA",), "ecdsa": ("ECDSA",), "eddsa": ("EDDSA",)}
ALL_KINDS = ("RSA", "ECDSA", "EDDSA")


def secret_kinds(auth: str) -> tuple[str, ...]:
    """The ipsec.secrets kinds whose keys can sign for ``leftauth=`` (``rsasig,ecdsa``,
    ``rsa-sha2_256``, ...): by the family of each word."""
    kinds: list[str] = []
    for word in auth.split(","):
        pin = PINS.get(word)
        kinds += [k for k in _KINDS.get(pin.family if pin else word, ALL_KINDS) if k not in kinds]
    return tuple(kinds)


def normalise_ckaid(text: str) -> str:
    """``leftckaid=`` text as lower-case hex digits (``0x``, ``:`` and spaces tolerated, as
    :func:`pluto_core.nss.keydb.normalise_ckaid` reads it)."""
    return text.strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A private key read from an ``ipsec.secrets`` entry (or a file it names)."""

    entry: SecretEntry = field(repr=False)
    signer: KeySigner = field(repr=False)
    ckaid: str  # of the public key, 40 hex digits

    @classmethod
    def of(cls, entry: SecretEntry, signer: KeySigner) -> HeldKey:
        return cls(entry, signer, pubkeys.ckaid_hex(signer.public_key()))  # type: ignore[arg-type]


class KeyRing:
    """An immutable set of held keys; a source replaces its ring whole on each load."""

    def __init__(self, keys: Iterable[HeldKey] = ()) -> None:
        self.keys = tuple(keys)
        self._by_ckaid: dict[str, HeldKey] = {}
        for key in self.keys:
            self._by_ckaid.setdefault(key.ckaid, key)  # the first entry of a key wins
        # the entries without their secrets, for the ID match; looked up back by identity
        self._index = [(dataclasses.replace(k.entry, secret=None, rsa_fields=()), k) for k in self.keys]

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"KeyRing(<{len(self.keys)} keys>)"

    def find(self, local_id: IdSpec, conn: EngineConn) -> KeySigner | None:
        """The key for ``conn``: by its CKAID when it names one, else by its IDs."""
        if conn.local_ckaid:
            held = self._by_ckaid.get(normalise_ckaid(conn.local_ckaid))
            return held.signer if held is not None else None
        kinds = secret_kinds(conn.local_auth)
        entries = [(e, k) for e, k in self._index if e.kind in kinds]
        if not entries:
            return None
        remote = conn.remote_id.text if conn.remote_id is not None else "%any"
        try:
            best = Secrets(entries=[e for e, _ in entries]).best(kinds, local_id.text, remote)
        except ConfigError:  # an ID ipsec.secrets cannot write matches no entry
            return None
        return next((k.signer for e, k in entries if e is best), None)
