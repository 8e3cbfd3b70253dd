"""Libreswan's NSS database, read natively: private keys by CKAID (docs/nss.md).

``NssDb(path).keys()`` and ``NssDb(path).key_by_ckaid(hex)`` give ``NssKey`` objects holding
``cryptography`` private keys; ``NssKey.pubkey_text()`` is the ``leftrsasigkey=`` /
``leftecdsakey=`` text (:mod:`pluto_core.ikev2.crypto.pubkeys`), ``keyid`` the short id.
"""

from __future__ import annotations

from .keydb import NssDb, NssError, NssKey
from .pubkey import keyid

__all__ = [
    "NssDb",
    "NssError",
    "NssKey",
    "keyid",
]
