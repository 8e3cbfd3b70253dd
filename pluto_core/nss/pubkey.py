"""The short key id ``ipsec showhostkey --list`` prints beside a CKAID. The public-key
texts (``leftrsasigkey=``, ``leftecdsakey=``) and CKAIDs themselves are
:mod:`pluto_core.ikev2.crypto.pubkeys`'s, one implementation for the daemon and the NSS
reader."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import rsa

from pluto_core.ikev2.crypto.pubkeys import SignaturePublicKey, ckaid, key_to_rfc3110

KEYID_CHARS = 9


def keyid(key: SignaturePublicKey) -> str:
    """The first characters of the base64 RFC 3110 key (RSA) or of the CKAID (others)."""
    raw = key_to_rfc3110(key) if isinstance(key, rsa.RSAPublicKey) else ckaid(key)
    return base64.b64encode(raw).decode("ascii")[:KEYID_CHARS]
