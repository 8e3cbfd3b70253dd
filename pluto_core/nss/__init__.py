"""Libreswan's NSS database, read natively: private keys by CKAID (docs/nss.md).

``NssDb(path).keys()`` and ``NssDb(path).key_by_ckaid(hex)`` give ``NssKey`` objects holding
``cryptography`` private keys; ``pubkey`` has the ``leftrsasigkey=`` text and CKAIDs.
"""

from __future__ import annotations

from .keydb import NssDb, NssError, NssKey
from .pubkey import ckaid, keyid, parse_rsa_pubkey, pubkey_text, rsa_ckaid, rsa_pubkey_text

__all__ = [
    "NssDb",
    "NssError",
    "NssKey",
    "ckaid",
    "keyid",
    "parse_rsa_pubkey",
    "pubkey_text",
    "rsa_ckaid",
    "rsa_pubkey_text",
]
