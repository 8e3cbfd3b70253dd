"""The algorithms ``ike=``/``esp=``/``ah=`` may name: canonical name, IANA IKEv2 number, aliases.

The names, aliases, key lengths and where each algorithm may be used (IKEv1/IKEv2, IKE/ESP/AH,
FIPS) follow the algorithm list Libreswan's pluto logs at start-up (corpus:
``libreswan-expect/algparse-01/west.console.txt``). Numbers are the IANA "IKEv2 Parameters"
registry's Transform Type 1-5 values (RFC 7296 §3.3.2, RFC 9370 for ADDKE, RFC 9827 for type 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Alg", "Kind", "KINDS", "lookup", "by_id", "UNIMPLEMENTED", "KIND_TITLE"]

Kind = Literal["encr", "prf", "integ", "dh", "sn"]
KINDS: tuple[Kind, ...] = ("encr", "prf", "integ", "dh", "sn")

# How Libreswan names each transform type in its messages.
KIND_TITLE: dict[str, str] = {
    "encr": "Encryption Algorithm (cipher)",
    "prf": "Pseudorandom Function (KDF)",
    "integ": "Integrity Algorithm",
    "dh": "Key Exchange Method (DH)",
    "sn": "Sequence Number",
}


@dataclass(frozen=True, slots=True)
class Alg:
    """One algorithm. ``v1``/``v2``: the protocols (``ike``, ``esp``, ``ah``) it may be used in."""

    kind: Kind
    name: str  # canonical, as printed: AES_CBC, HMAC_SHA2_256_128, DH19
    id: int  # IANA IKEv2 transform ID
    v1: frozenset[str]
    v2: frozenset[str]
    fips: bool
    aliases: tuple[str, ...] = ()
    keys: tuple[int, ...] = ()  # valid key lengths (ascending); () = no key length attribute
    aead: bool = False  # encryption that brings its own integrity (integ must be NONE)

    def usable(self, version: int, protocol: str) -> bool:
        return protocol in (self.v1 if version == 1 else self.v2)


def _p(text: str) -> frozenset[str]:
    return frozenset(text.split())


_AES_KEYS = (128, 192, 256)
_TABLE: tuple[Alg, ...] = (
    # Transform type 1 (ENCR)
    Alg("encr", "AES_CCM_16", 16, _p("esp"), _p("esp"), True, ("aes_ccm", "aes_ccm_c"), _AES_KEYS, True),
    Alg("encr", "AES_CCM_12", 15, _p("esp"), _p("esp"), True, ("aes_ccm_b",), _AES_KEYS, True),
    Alg("encr", "AES_CCM_8", 14, _p("esp"), _p("esp"), True, ("aes_ccm_a",), _AES_KEYS, True),
    Alg("encr", "3DES_CBC", 3, _p("ike esp"), _p("ike esp"), True, ("3des",)),
    Alg("encr", "CAMELLIA_CTR", 24, _p("esp"), _p("esp"), False, (), _AES_KEYS),
    Alg("encr", "CAMELLIA_CBC", 23, _p("ike esp"), _p("ike esp"), False, ("camellia",), _AES_KEYS),
    Alg("encr", "AES_GCM_16", 20, _p("esp"), _p("ike esp"), True, ("aes_gcm", "aes_gcm_c"), _AES_KEYS, True),
    Alg("encr", "AES_GCM_12", 19, _p("esp"), _p("ike esp"), True, ("aes_gcm_b",), _AES_KEYS, True),
    Alg("encr", "AES_GCM_8", 18, _p("esp"), _p("ike esp"), True, ("aes_gcm_a",), _AES_KEYS, True),
    Alg("encr", "AES_CTR", 13, _p("ike esp"), _p("ike esp"), True, ("aesctr",), _AES_KEYS),
    Alg("encr", "AES_CBC", 12, _p("ike esp"), _p("ike esp"), True, ("aes",), _AES_KEYS),
    # RFC 4543: GMAC authenticates only; like an AEAD it takes no separate integrity transform
    Alg("encr", "NULL_AUTH_AES_GMAC", 21, _p("esp"), _p("esp"), True, ("aes_gmac",), _AES_KEYS, True),
    Alg("encr", "NULL", 11, _p("esp"), _p("esp"), False),
    Alg("encr", "CHACHA20_POLY1305", 28, _p(""), _p("ike esp"), False, ("chacha20poly1305",), (), True),
    # Transform type 2 (PRF)
    Alg("prf", "HMAC_MD5", 1, _p("ike"), _p("ike"), False, ("md5",)),
    Alg("prf", "HMAC_SHA1", 2, _p("ike"), _p("ike"), True, ("sha", "sha1")),
    Alg("prf", "HMAC_SHA2_256", 5, _p("ike"), _p("ike"), True, ("sha2", "sha256", "sha2_256")),
    Alg("prf", "HMAC_SHA2_384", 6, _p("ike"), _p("ike"), True, ("sha384", "sha2_384")),
    Alg("prf", "HMAC_SHA2_512", 7, _p("ike"), _p("ike"), True, ("sha512", "sha2_512")),
    Alg("prf", "AES_XCBC", 4, _p(""), _p("ike"), False, ("aes128_xcbc",)),
    # Transform type 3 (INTEG)
    Alg("integ", "HMAC_MD5_96", 1, _p("ike esp ah"), _p("ike esp ah"), False, ("md5", "hmac_md5")),
    Alg("integ", "HMAC_SHA1_96", 2, _p("ike esp ah"), _p("ike esp ah"), True,
        ("sha", "sha1", "sha1_96", "hmac_sha1")),
    Alg("integ", "HMAC_SHA2_512_256", 14, _p("ike esp ah"), _p("ike esp ah"), True,
        ("sha512", "sha2_512", "sha2_512_256", "hmac_sha2_512")),
    Alg("integ", "HMAC_SHA2_384_192", 13, _p("ike esp ah"), _p("ike esp ah"), True,
        ("sha384", "sha2_384", "sha2_384_192", "hmac_sha2_384")),
    Alg("integ", "HMAC_SHA2_256_128", 12, _p("ike esp ah"), _p("ike esp ah"), True,
        ("sha2", "sha256", "sha2_256", "sha2_256_128", "hmac_sha2_256")),
    Alg("integ", "AES_XCBC_96", 5, _p("esp ah"), _p("ike esp ah"), False,
        ("aes_xcbc", "aes128_xcbc", "aes128_xcbc_96")),
    Alg("integ", "AES_CMAC_96", 8, _p("esp ah"), _p("esp ah"), True, ("aes_cmac",)),
    Alg("integ", "NONE", 0, _p("esp"), _p("ike esp"), True, ("null",)),
    # Transform type 4 (KE)
    Alg("dh", "NONE", 0, _p(""), _p("ike esp ah"), True, ("null", "dh0")),
    Alg("dh", "MODP1536", 5, _p("ike esp ah"), _p("ike esp ah"), False, ("dh5",)),
    Alg("dh", "MODP2048", 14, _p("ike esp ah"), _p("ike esp ah"), True, ("dh14",)),
    Alg("dh", "MODP3072", 15, _p("ike esp ah"), _p("ike esp ah"), True, ("dh15",)),
    Alg("dh", "MODP4096", 16, _p("ike esp ah"), _p("ike esp ah"), True, ("dh16",)),
    Alg("dh", "MODP6144", 17, _p("ike esp ah"), _p("ike esp ah"), True, ("dh17",)),
    Alg("dh", "MODP8192", 18, _p("ike esp ah"), _p("ike esp ah"), True, ("dh18",)),
    Alg("dh", "DH19", 19, _p("ike esp ah"), _p("ike esp ah"), True, ("ecp_256", "ecp256")),
    Alg("dh", "DH20", 20, _p("ike esp ah"), _p("ike esp ah"), True, ("ecp_384", "ecp384")),
    Alg("dh", "DH21", 21, _p("ike esp ah"), _p("ike esp ah"), True, ("ecp_521", "ecp521")),
    Alg("dh", "DH31", 31, _p("ike esp ah"), _p("ike esp ah"), False, ("curve25519",)),
    # draft-ietf-ipsecme-ikev2-mlkem: ML-KEM-768 = 36, ML-KEM-1024 = 37
    Alg("dh", "ML_KEM_768", 36, _p(""), _p("ike esp ah"), False, ("mlkem768",)),
    Alg("dh", "ML_KEM_1024", 37, _p(""), _p("ike esp ah"), False, ("mlkem1024",)),
    # Transform type 5 (Sequence Numbers, formerly ESN)
    Alg("sn", "32_BIT_SEQUENTIAL", 0, _p(""), _p("esp ah"), True, ("no",)),
    Alg("sn", "PARTIAL_64_BIT_SEQUENTIAL", 1, _p(""), _p("esp ah"), True, ("yes",)),
)

# IANA-registered algorithms pluto knows by name but does not implement: "is not supported".
UNIMPLEMENTED: dict[str, frozenset[str]] = {
    "encr": frozenset("des des_iv64 des_iv32 rc5 idea cast blowfish 3idea rc4 mars serpent twofish "
                      "kame seed_cbc".split()),
    "dh": frozenset("modp768 modp1024 dh1 dh2 dh22 dh23 dh24 dh25 dh26 dh27 dh28 dh29 dh30 dh32 "
                    "curve448 ml_kem_512 mlkem512".split()),
    "prf": frozenset(),
    "integ": frozenset(),
    "sn": frozenset(),
}

_NAMES: dict[tuple[str, str], Alg] = {}
_IDS: dict[tuple[str, int], Alg] = {}
for _alg in _TABLE:
    for _n in (_alg.name.lower(), *_alg.aliases):
        _NAMES.setdefault((_alg.kind, _n), _alg)
    _IDS.setdefault((_alg.kind, _alg.id), _alg)


def lookup(kind: str, name: str) -> Alg | None:
    """The algorithm ``name`` (any case) stands for as a ``kind`` transform, or None."""
    return _NAMES.get((kind, name.lower()))


def by_id(kind: str, ident: int) -> Alg:
    """The algorithm with IANA number ``ident`` (``KeyError`` when pluto does not know it)."""
    return _IDS[(kind, ident)]
