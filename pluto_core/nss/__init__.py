"""Libreswan's NSS database, read natively: private keys by CKAID (docs/nss.md).

``NssDb(path).keys()`` and ``NssDb(path).key_by_ckaid(hex)`` give ``NssKey`` objects holding
``cryptography`` private keys; ``NssKey.pubkey_text()`` is the ``leftrsasigkey=`` /
``leftecdsakey=`` text (:mod:`pluto_core.ikev2.crypto.pubkeys`), ``keyid`` the short id.
``NssDb(path).certificates()`` gives ``NssCert`` objects (certificate, nickname, trust flags);
:mod:`.listing` prints them as ``whack --listcerts`` does.
"""

from __future__ import annotations

from .certdb import NssCert, NssTrust
from .keydb import NssDb, NssError, NssKey
from .pubkey import keyid

__all__ = [
    "NssCert",
    "NssDb",
    "NssError",
    "NssKey",
    "NssTrust",
    "keyid",
]
