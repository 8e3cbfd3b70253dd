"""IKEv2 cryptography over the ``cryptography`` package: pure functions on bytes.

Modules: ``dh`` (key exchange), ``prf``, ``integ``, ``encr`` (cipher suites), ``keys``
(prf+, SKEYSEED, SK_*, Child SA KEYMAT, rekey), ``sk`` (SK/SKF protect/unprotect),
``auth`` (PSK AUTH, signed octets), ``registry`` (transform IDs -> ``Suite``).
See docs/crypto.md.
"""

from .auth import maced_id, psk_auth, signed_octets
from .dh import DhKeyPair, compute_shared, generate
from .errors import DhError, IntegrityError, SkFormatError, UnsupportedTransform
from .keys import (
    ChildSaKeys,
    IkeSaKeys,
    child_keymat,
    derive_child_sa_keys,
    derive_ike_sa_keys,
    prf_plus,
    rekey_skeyseed,
    skeyseed,
)
from .registry import Suite, make_suite
from .sk import SkContext, encrypted_length, protect, sk_context, sk_contexts, unprotect

__all__ = [
    "ChildSaKeys",
    "DhError",
    "DhKeyPair",
    "IkeSaKeys",
    "IntegrityError",
    "SkContext",
    "SkFormatError",
    "Suite",
    "UnsupportedTransform",
    "child_keymat",
    "compute_shared",
    "derive_child_sa_keys",
    "derive_ike_sa_keys",
    "encrypted_length",
    "generate",
    "maced_id",
    "make_suite",
    "prf_plus",
    "protect",
    "psk_auth",
    "rekey_skeyseed",
    "signed_octets",
    "sk_context",
    "sk_contexts",
    "skeyseed",
    "unprotect",
]
