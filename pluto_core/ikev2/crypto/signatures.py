"""Signature AUTH methods (RFC 7296 2.15, RFC 4754, RFC 7427, RFC 8420) and NULL auth (RFC 7619).

Pure functions over bytes and ``cryptography`` key objects; the IKE_AUTH task computes the
signed octets (``auth.signed_octets``) and calls these. What is here:

- ``Scheme``: one signature scheme (key kind, hash, padding) and its RFC 7427 ASN.1
  AlgorithmIdentifier; ``SCHEMES`` lists them all.
- ``encode_auth_data`` / ``parse_auth_data``: the AUTH data of method 14 (Digital Signature).
- ``Signer`` (a Protocol a PKCS#11/TPM/remote plugin can implement; the private key need not
  leave it) and ``KeySigner`` (a ``cryptography`` private key).
- ``make_auth`` / ``verify``: AUTH data for, and checking of, methods 1, 9, 10, 11 and 14.
- ``encode_hash_algorithms`` / ``decode_hash_algorithms``: the SIGNATURE_HASH_ALGORITHMS
  notify data (RFC 7427 4), and ``choose_auth``: method and scheme for our key given the
  peer's announced hashes, with Libreswan's defaults.
- ``null_auth``: the AUTH of method 13 (a PRF, not a signature; here because it is the
  other half of issue #16).

Randomness: RSASSA-PSS salts and ECDSA nonces come from OpenSSL inside ``cryptography``,
not from an injected ``random``; every other input and all verification is deterministic.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, cast, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .auth import psk_auth
from .prf import PrfAlgorithm

# IANA "IKEv2 Authentication Method" (RFC 7296 3.8, RFC 4754, RFC 7619, RFC 7427).
AUTH_RSA_SIG: Final = 1
AUTH_SHARED_KEY_MIC: Final = 2
AUTH_ECDSA_SHA256_P256: Final = 9
AUTH_ECDSA_SHA384_P384: Final = 10
AUTH_ECDSA_SHA512_P521: Final = 11
AUTH_NULL: Final = 13
AUTH_DIGITAL_SIGNATURE: Final = 14

# IANA "IKEv2 Hash Algorithms" (RFC 7427 4, RFC 8420 for Identity).
HASH_SHA1: Final = 1
HASH_SHA2_256: Final = 2
HASH_SHA2_384: Final = 3
HASH_SHA2_512: Final = 4
HASH_IDENTITY: Final = 5

HASH_NAMES: Final = {HASH_SHA1: "SHA1", HASH_SHA2_256: "SHA2_256", HASH_SHA2_384: "SHA2_384",
                     HASH_SHA2_512: "SHA2_512", HASH_IDENTITY: "IDENTITY"}

# Libreswan's v2-auth-hash-policy default (``ipsec connectionstatus`` prints
# "v2-auth-hash-policy: SHA2_256+SHA2_384+SHA2_512"), strongest first: it signs with the
# strongest of these the peer announced (corpus transcripts: "RSASSA-PSS with SHA2_512",
# "P-256 ECDSA with SHA2_512").
LIBRESWAN_SIGHASH_POLICY: Final = (HASH_SHA2_512, HASH_SHA2_384, HASH_SHA2_256)

KeyKind = Literal["rsa", "ecdsa", "ed25519", "ed448"]


class SignatureError(ValueError):
    """Base of this module's errors: the message names what was wrong."""


class AuthDataError(SignatureError):
    """AUTH data that cannot be read: too short, bad ASN.1, an unknown or refused AlgorithmIdentifier."""


class KeyMismatch(SignatureError):
    """A key (or signer) that cannot do the scheme or method asked of it."""


class UnsupportedAuthMethod(SignatureError):
    """An AUTH method that is not a signature this module checks."""


class NoCommonScheme(SignatureError):
    """``choose_auth`` found no method/scheme both our policy and the peer accept."""


class HashNotifyError(SignatureError):
    """SIGNATURE_HASH_ALGORITHMS data that is not a list of 2-octet numbers."""


# ------------------------------------------------------------------ ASN.1 (DER) building blocks

def _der(tag: int, value: bytes) -> bytes:
    """One DER TLV; AlgorithmIdentifiers are short, so a one-octet length always fits."""
    assert len(value) < 0x80
    return bytes((tag, len(value))) + value


_SEQ, _OID, _NULL, _INT = 0x30, 0x06, 0x05, 0x02
_NULL_DER = b"\x05\x00"

# OID contents (the octets after tag and length).
_PKCS1 = bytes.fromhex("2a864886f70d0101")  # 1.2.840.113549.1.1
OID_RSA_ENCRYPTION: Final = _PKCS1 + b"\x01"
OID_MGF1: Final = _PKCS1 + b"\x08"
OID_RSASSA_PSS: Final = _PKCS1 + b"\x0a"
OID_SHA1: Final = bytes.fromhex("2b0e03021a")
OID_SHA256: Final = bytes.fromhex("608648016503040201")
OID_SHA384: Final = bytes.fromhex("608648016503040202")
OID_SHA512: Final = bytes.fromhex("608648016503040203")
OID_ED25519: Final = bytes.fromhex("2b6570")  # 1.3.101.112, RFC 8410
OID_ED448: Final = bytes.fromhex("2b6571")  # 1.3.101.113


def _alg_id(oid: bytes, params: bytes | None) -> bytes:
    return _der(_SEQ, _der(_OID, oid) + (params if params is not None else b""))


def _pss_alg_id(hash_oid: bytes, salt: int) -> bytes:
    """RSASSA-PSS AlgorithmIdentifier as RFC 7427 A.4.3 shapes it (hash and MGF1 hash with NULL
    parameters, explicit saltLength; RFC 4055 3.1 params, explicit tags) but in DER: trailerField
    1 is its DEFAULT, so it is left out (X.690 11.5). Libreswan 4.10 compares these octets
    exactly and refuses A.4.3's explicit trailer ("no acceptable ECDSA/RSA-PSS ASN.1 signature
    hash proposal"); both forms are accepted from a peer (``_parse_pss``)."""
    hash_alg = _alg_id(hash_oid, _NULL_DER)
    params = (_der(0xA0, hash_alg)
              + _der(0xA1, _alg_id(OID_MGF1, hash_alg))
              + _der(0xA2, _der(_INT, bytes((salt,)))))
    return _alg_id(OID_RSASSA_PSS, _der(_SEQ, params))


# ------------------------------------------------------------------ schemes

@dataclass(frozen=True, slots=True)
class Scheme:
    """A signature scheme: which key, which hash (IANA number; IDENTITY for EdDSA), how padded.

    ``alg_id`` is the DER AlgorithmIdentifier sent in method 14's AUTH data.
    """

    name: str
    key: KeyKind
    hash_id: int
    alg_id: bytes = field(repr=False)
    pss: bool = False

    def hash_algorithm(self) -> hashes.HashAlgorithm | None:
        """The ``cryptography`` hash (None for EdDSA, which hashes internally)."""
        return _HASHES[self.hash_id]() if self.hash_id in _HASHES else None

    def __str__(self) -> str:
        return self.name


_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    HASH_SHA1: hashes.SHA1, HASH_SHA2_256: hashes.SHA256, HASH_SHA2_384: hashes.SHA384,
    HASH_SHA2_512: hashes.SHA512,
}
_DIGEST_SIZE = {HASH_SHA1: 20, HASH_SHA2_256: 32, HASH_SHA2_384: 48, HASH_SHA2_512: 64}
_HASH_OIDS = {HASH_SHA1: OID_SHA1, HASH_SHA2_256: OID_SHA256, HASH_SHA2_384: OID_SHA384,
              HASH_SHA2_512: OID_SHA512}

# RFC 7427 Appendix A.1: sha*WithRSAEncryption (PKCS#1 v1.5), NULL parameters.
RSA_PKCS1_SHA1: Final = Scheme("RSA PKCS#1 v1.5 with SHA1", "rsa", HASH_SHA1, _alg_id(_PKCS1 + b"\x05", _NULL_DER))
RSA_PKCS1_SHA256: Final = Scheme("RSA PKCS#1 v1.5 with SHA2_256", "rsa", HASH_SHA2_256,
                                 _alg_id(_PKCS1 + b"\x0b", _NULL_DER))
RSA_PKCS1_SHA384: Final = Scheme("RSA PKCS#1 v1.5 with SHA2_384", "rsa", HASH_SHA2_384,
                                 _alg_id(_PKCS1 + b"\x0c", _NULL_DER))
RSA_PKCS1_SHA512: Final = Scheme("RSA PKCS#1 v1.5 with SHA2_512", "rsa", HASH_SHA2_512,
                                 _alg_id(_PKCS1 + b"\x0d", _NULL_DER))
# RFC 7427 A.4.3 (SHA-256), and the same shape for SHA-384/512: MGF1 with the same hash,
# salt as long as the hash (RFC 8247 3.2), trailer 1 (left out: DER, as Libreswan sends it).
RSA_PSS_SHA256: Final = Scheme("RSASSA-PSS with SHA2_256", "rsa", HASH_SHA2_256, _pss_alg_id(OID_SHA256, 32), True)
RSA_PSS_SHA384: Final = Scheme("RSASSA-PSS with SHA2_384", "rsa", HASH_SHA2_384, _pss_alg_id(OID_SHA384, 48), True)
RSA_PSS_SHA512: Final = Scheme("RSASSA-PSS with SHA2_512", "rsa", HASH_SHA2_512, _pss_alg_id(OID_SHA512, 64), True)
# RFC 7427 A.3: ecdsa-with-SHA* (RFC 5758), parameters absent. Any curve; the signature is the
# DER Ecdsa-Sig-Value (RFC 3279 2.2.3), not RFC 4754's r||s.
_ECDSA = bytes.fromhex("2a8648ce3d0403")  # 1.2.840.10045.4.3
ECDSA_SHA256: Final = Scheme("ECDSA with SHA2_256", "ecdsa", HASH_SHA2_256, _alg_id(_ECDSA + b"\x02", None))
ECDSA_SHA384: Final = Scheme("ECDSA with SHA2_384", "ecdsa", HASH_SHA2_384, _alg_id(_ECDSA + b"\x03", None))
ECDSA_SHA512: Final = Scheme("ECDSA with SHA2_512", "ecdsa", HASH_SHA2_512, _alg_id(_ECDSA + b"\x04", None))
# RFC 8420 2: PureEdDSA over the whole signed octets, hash "Identity", id-Ed25519/id-Ed448
# with absent parameters (RFC 8410 3).
ED25519: Final = Scheme("Ed25519", "ed25519", HASH_IDENTITY, _alg_id(OID_ED25519, None))
ED448: Final = Scheme("Ed448", "ed448", HASH_IDENTITY, _alg_id(OID_ED448, None))

SCHEMES: Final = (RSA_PKCS1_SHA1, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512,
                  RSA_PSS_SHA256, RSA_PSS_SHA384, RSA_PSS_SHA512,
                  ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512, ED25519, ED448)
_BY_ALG_ID: Final = {s.alg_id: s for s in SCHEMES}
_PSS_BY_HASH: Final = {s.hash_id: s for s in SCHEMES if s.pss}
_RSA_PKCS1_BY_HASH: Final = {s.hash_id: s for s in SCHEMES if s.key == "rsa" and not s.pss}
_ECDSA_BY_HASH: Final = {s.hash_id: s for s in SCHEMES if s.key == "ecdsa"}


@dataclass(frozen=True, slots=True)
class Pin:
    """What one of Libreswan's hash-pinning ``authby=`` words allows (ipsec.conf(5)): the
    schemes we sign with and accept, and the AUTH methods taken from the peer."""

    family: str  # the conn's family word: rsasig, ecdsa
    schemes: frozenset[Scheme]
    methods: frozenset[int]


_RSA_PSS = (RSA_PSS_SHA256, RSA_PSS_SHA384, RSA_PSS_SHA512)
_ECDSA_SCHEMES = (ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512)
_SIG14: Final = frozenset({AUTH_DIGITAL_SIGNATURE})
# rsa-sha1 is RFC 7296's method 1 only (PKCS#1 v1.5, "old style"); the SHA-2 words are RFC 7427
# only: RSASSA-PSS for RSA (Libreswan's reading, RFC 8247 2.4), ECDSA with the named hash.
PINS: Final = {
    "rsa-sha1": Pin("rsasig", frozenset({RSA_PKCS1_SHA1}), frozenset({AUTH_RSA_SIG})),
    "rsa-sha2": Pin("rsasig", frozenset(_RSA_PSS), _SIG14),
    **{f"rsa-sha2_{bits}": Pin("rsasig", frozenset({s}), _SIG14)
       for bits, s in zip((256, 384, 512), _RSA_PSS, strict=True)},
    **{f"ecdsa-sha2_{bits}": Pin("ecdsa", frozenset({s}), _SIG14)
       for bits, s in zip((256, 384, 512), _ECDSA_SCHEMES, strict=True)},
}

# RFC 4754 7: methods 9-11 fix curve and hash; the signature is r||s, each as long as the
# curve's field (32, 48, 66 octets).
_RFC4754: Final = {
    AUTH_ECDSA_SHA256_P256: ("secp256r1", ECDSA_SHA256, 32),
    AUTH_ECDSA_SHA384_P384: ("secp384r1", ECDSA_SHA384, 48),
    AUTH_ECDSA_SHA512_P521: ("secp521r1", ECDSA_SHA512, 66),
}
_CURVE_METHOD: Final = {curve: method for method, (curve, _, _) in _RFC4754.items()}
_CURVE_HASH: Final = {"secp256r1": HASH_SHA2_256, "secp384r1": HASH_SHA2_384, "secp521r1": HASH_SHA2_512}


# ------------------------------------------------------------------ DER reading (hostile input)

def _read_tlv(data: bytes, pos: int, what: str) -> tuple[int, bytes, int]:
    """The DER TLV at ``pos``: (tag, contents, end). Strict DER: low-tag form, definite and
    minimal lengths; anything else is an ``AuthDataError`` naming ``what``."""
    if pos + 2 > len(data):
        raise AuthDataError(f"{what}: truncated ASN.1")
    tag, length = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise AuthDataError(f"{what}: multi-octet ASN.1 tag")
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 2:
            raise AuthDataError(f"{what}: ASN.1 length of {n} octets (indefinite or too long)")
        if pos + n > len(data):
            raise AuthDataError(f"{what}: truncated ASN.1 length")
        length = int.from_bytes(data[pos : pos + n], "big")
        if length < 0x80 or data[pos] == 0:
            raise AuthDataError(f"{what}: ASN.1 length not in minimal (DER) form")
        pos += n
    end = pos + length
    if end > len(data):
        raise AuthDataError(f"{what}: ASN.1 length {length} runs past the data")
    return tag, data[pos:end], end


def _items(contents: bytes, what: str) -> list[tuple[int, bytes]]:
    """The TLVs making up a SEQUENCE's contents, in order."""
    out, pos = [], 0
    while pos < len(contents):
        tag, value, pos = _read_tlv(contents, pos, what)
        out.append((tag, value))
    return out


def _oid_text(oid: bytes) -> str:
    """Dotted form of an OID's contents, for error messages (best effort on hostile bytes)."""
    if not oid:
        return "(empty OID)"
    arcs, value = [], 0
    for octet in oid:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return oid.hex()
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def _hash_of(contents: bytes, what: str) -> int:
    """The IANA hash number of a hash AlgorithmIdentifier given its SEQUENCE contents
    (SHA-1 or SHA-2; parameters NULL or absent)."""
    items = _items(contents, what)
    if not items or items[0][0] != _OID:
        raise AuthDataError(f"{what}: not an AlgorithmIdentifier")
    if items[1:] not in ([], [(_NULL, b"")]):
        raise AuthDataError(f"{what}: unexpected hash parameters")
    for hash_id, oid in _HASH_OIDS.items():
        if items[0][1] == oid:
            return hash_id
    raise AuthDataError(f"{what}: unknown hash {_oid_text(items[0][1])}")


def _parse_pss(params: list[tuple[int, bytes]]) -> Scheme:
    """RSASSA-PSS-params (RFC 4055 3.1) -> one of our PSS schemes: SHA-2 hash, MGF1 with the
    same hash, salt as long as the hash, trailer 1. Fields may be in any DER-valid encoding
    (hash parameters NULL or absent, trailer explicit or default); values may not differ."""
    if len(params) != 1 or params[0][0] != _SEQ:
        raise AuthDataError("RSASSA-PSS: parameters are not a SEQUENCE")
    fields = _items(params[0][1], "RSASSA-PSS parameters")
    tags = [t for t, _ in fields]
    if tags != sorted(set(tags)) or any(t not in (0xA0, 0xA1, 0xA2, 0xA3) for t in tags):
        raise AuthDataError("RSASSA-PSS: unexpected or repeated fields in the parameters")
    by_tag = dict(fields)
    if 0xA0 not in by_tag:
        raise AuthDataError("RSASSA-PSS: default parameters mean SHA-1, which is not accepted")
    hash_id = _hash_of(_read_whole(by_tag[0xA0], _SEQ, "RSASSA-PSS hashAlgorithm"), "RSASSA-PSS hashAlgorithm")
    if hash_id not in _PSS_BY_HASH:
        raise AuthDataError(f"RSASSA-PSS with {HASH_NAMES[hash_id]} is not accepted")
    if 0xA1 not in by_tag:
        raise AuthDataError("RSASSA-PSS: default mask generation (MGF1 with SHA-1) with a SHA-2 hash")
    mgf = _items(_read_whole(by_tag[0xA1], _SEQ, "RSASSA-PSS maskGenAlgorithm"), "RSASSA-PSS maskGenAlgorithm")
    if len(mgf) != 2 or mgf[0] != (_OID, OID_MGF1) or mgf[1][0] != _SEQ:
        raise AuthDataError("RSASSA-PSS: mask generation function is not MGF1")
    if _hash_of(mgf[1][1], "RSASSA-PSS MGF1 hash") != hash_id:
        raise AuthDataError("RSASSA-PSS: MGF1 hash differs from the signature hash")
    salt = _small_int(by_tag[0xA2], "RSASSA-PSS saltLength") if 0xA2 in by_tag else 20
    if salt != _DIGEST_SIZE[hash_id]:
        raise AuthDataError(f"RSASSA-PSS: salt length {salt}, expected {_DIGEST_SIZE[hash_id]} for "
                            f"{HASH_NAMES[hash_id]}")
    if 0xA3 in by_tag and _small_int(by_tag[0xA3], "RSASSA-PSS trailerField") != 1:
        raise AuthDataError("RSASSA-PSS: trailerField is not 1")
    return _PSS_BY_HASH[hash_id]


def _read_whole(data: bytes, tag: int, what: str) -> bytes:
    """Contents of ``data``, which must be exactly one TLV with ``tag``."""
    got, contents, end = _read_tlv(data, 0, what)
    if got != tag or end != len(data):
        raise AuthDataError(f"{what}: malformed")
    return contents


def _small_int(explicit: bytes, what: str) -> int:
    """A non-negative DER INTEGER inside an explicit tag, at most 2 octets long."""
    value = _read_whole(explicit, _INT, what)
    if not value or len(value) > 2 or value[0] & 0x80 or (len(value) > 1 and value[0] == 0 and not value[1] & 0x80):
        raise AuthDataError(f"{what}: not a small non-negative DER INTEGER")
    return int.from_bytes(value, "big")


def parse_algorithm_identifier(der: bytes) -> Scheme:
    """The scheme of an RFC 7427 AlgorithmIdentifier.

    Exact match against ``SCHEMES`` (Appendix A encodings), except RSASSA-PSS whose
    parameters are parsed (``_parse_pss``). Anything else: ``AuthDataError`` naming it.
    """
    if der in _BY_ALG_ID:
        return _BY_ALG_ID[der]
    contents = _read_whole(der, _SEQ, "AlgorithmIdentifier")
    items = _items(contents, "AlgorithmIdentifier")
    if not items or items[0][0] != _OID:
        raise AuthDataError("AlgorithmIdentifier: does not start with an OID")
    oid = items[0][1]
    if oid == OID_RSASSA_PSS:
        return _parse_pss(items[1:])
    known = {s.alg_id[4 : 4 + s.alg_id[3]] for s in SCHEMES if not s.pss}
    if oid in known:
        raise AuthDataError(f"AlgorithmIdentifier {_oid_text(oid)}: unexpected parameters")
    raise AuthDataError(f"AlgorithmIdentifier {_oid_text(oid)}: not a supported signature algorithm")


def encode_auth_data(scheme: Scheme, signature: bytes) -> bytes:
    """Method 14's Authentication Data (RFC 7427 3): ASN.1 length octet, AlgorithmIdentifier, signature."""
    return bytes((len(scheme.alg_id),)) + scheme.alg_id + signature


def parse_auth_data(data: bytes) -> tuple[Scheme, bytes]:
    """Method 14's Authentication Data -> (scheme, signature value); ``AuthDataError`` if unreadable."""
    if not data:
        raise AuthDataError("Digital Signature AUTH data is empty")
    n = data[0]
    if n == 0 or 1 + n > len(data):
        raise AuthDataError(f"Digital Signature AUTH data: ASN.1 length {n} does not fit {len(data) - 1} octets")
    scheme = parse_algorithm_identifier(bytes(data[1 : 1 + n]))
    signature = bytes(data[1 + n :])
    if not signature:
        raise AuthDataError(f"Digital Signature AUTH data: {scheme} with an empty signature")
    return scheme, signature


# ------------------------------------------------------------------ signers

@runtime_checkable
class Signer(Protocol):
    """Something that signs with a private key it may keep to itself (PKCS#11 token, TPM,
    remote signer). ``sign`` returns the signature in the form RFC 7427 carries: PKCS#1
    v1.5 or PSS octets for RSA, DER Ecdsa-Sig-Value for ECDSA (``encode_dss_signature``
    turns a token's r||s into it), the 64/114 octets of EdDSA."""

    def schemes(self) -> frozenset[Scheme]:
        """The schemes this signer can produce."""
        ...

    def public_key(self) -> PublicKeyTypes:
        """The public half (which scheme family, which curve; what the peer will check)."""
        ...

    def sign(self, scheme: Scheme, data: bytes) -> bytes:
        """Sign ``data`` (the whole signed octets; hashing is the signer's job)."""
        ...


def _classify(key: object) -> tuple[KeyKind | None, bool]:
    """(scheme family or None, is a private key), cached by the key's class: ``isinstance``
    against cryptography's ABCs costs microseconds per call, a dict look-up does not."""
    cls = type(key)
    found = _CLASSES.get(cls)
    if found is None:
        kind: KeyKind | None = None
        for family, types in _FAMILIES:
            if isinstance(key, types):
                kind = family
        found = _CLASSES[cls] = (kind, isinstance(key, _PRIVATE_KEYS))
    return found


_FAMILIES: Final[tuple[tuple[KeyKind, tuple[type, ...]], ...]] = (
    ("rsa", (rsa.RSAPrivateKey, rsa.RSAPublicKey)),
    ("ecdsa", (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)),
    ("ed25519", (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)),
    ("ed448", (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)),
)
_PRIVATE_KEYS: Final = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                        ed448.Ed448PrivateKey)
_CLASSES: dict[type, tuple[KeyKind | None, bool]] = {}


def key_kind(key: PrivateKeyTypes | PublicKeyTypes) -> KeyKind:
    """Which family of schemes a key belongs to; ``KeyMismatch`` for DSA, X25519 and the like."""
    kind = _classify(key)[0]
    if kind is None:
        raise KeyMismatch(f"{type(key).__name__} keys cannot make IKEv2 signatures")
    return kind


_SCHEMES_FOR: Final = {kind: frozenset(s for s in SCHEMES if s.key == kind)
                       for kind in ("rsa", "ecdsa", "ed25519", "ed448")}


def schemes_for(kind: KeyKind) -> frozenset[Scheme]:
    """Every scheme a key of this kind can do (RSA: PKCS#1 v1.5 and PSS; ECDSA: any SHA-2)."""
    return _SCHEMES_FOR[kind]


@dataclass(frozen=True, slots=True)
class KeySigner:
    """The built-in ``Signer``: a ``cryptography`` private key (never shown in ``repr``)."""

    key: PrivateKeyTypes = field(repr=False)
    kind: KeyKind = field(init=False)
    _portable: PortableKey | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind, private = _classify(self.key)
        if kind is None or not private:
            raise KeyMismatch(f"{type(self.key).__name__} cannot sign (an RSA, ECDSA or EdDSA private key can)")
        object.__setattr__(self, "kind", kind)

    def portable(self) -> PortableKey:
        """The key as it travels to a ``--nhelpers`` process (made once, then kept)."""
        if self._portable is None:
            der = self.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
            object.__setattr__(self, "_portable", PortableKey(der))
        assert self._portable is not None
        return self._portable

    def schemes(self) -> frozenset[Scheme]:
        return schemes_for(self.kind)

    def public_key(self) -> PublicKeyTypes:
        return self.key.public_key()

    def sign(self, scheme: Scheme, data: bytes) -> bytes:
        _check_kind(scheme, self.kind)
        h = scheme.hash_algorithm()
        if self.kind == "rsa":  # dispatch on the cached kind: isinstance on the ABCs is slow
            assert h is not None
            pad = (padding.PSS(padding.MGF1(h), _DIGEST_SIZE[scheme.hash_id]) if scheme.pss
                   else padding.PKCS1v15())
            return cast(rsa.RSAPrivateKey, self.key).sign(data, pad, h)
        if self.kind == "ecdsa":
            assert h is not None
            return cast(ec.EllipticCurvePrivateKey, self.key).sign(data, ec.ECDSA(h))
        return cast(ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey, self.key).sign(data)


@dataclass(frozen=True, slots=True)
class PortableKey:
    """A built-in signer's private key as PKCS#8 DER: what a signing job carries to a
    ``--nhelpers`` process (a pipe to our own forked helper; never shown in ``repr``).
    A third-party ``Signer`` has none: its key need not leave it, and it signs on a thread."""

    der: bytes = field(repr=False)


_HELPER_KEYS: dict[bytes, KeySigner] = {}  # per process: a helper parses each key once
_HELPER_KEYS_MAX: Final = 64


def sign_portable(key: PortableKey, method: int, octets: bytes, scheme: Scheme | None) -> bytes:
    """``make_auth`` with a ``PortableKey``: the signing job a ``--nhelpers`` process runs."""
    signer = _HELPER_KEYS.get(key.der)
    if signer is None:
        if len(_HELPER_KEYS) >= _HELPER_KEYS_MAX:
            _HELPER_KEYS.clear()
        # the key was checked when its source loaded it; RSA's check costs more than a signature
        loaded = serialization.load_der_private_key(key.der, None, unsafe_skip_rsa_key_validation=True)
        signer = _HELPER_KEYS[key.der] = KeySigner(loaded)
    return make_auth(signer, method, octets, scheme)


def portable(signer: Signer) -> PortableKey | None:
    """The key a signing job may carry to a helper process (None: sign where the signer is)."""
    return signer.portable() if isinstance(signer, KeySigner) else None


def _check_kind(scheme: Scheme, kind: str) -> None:
    if scheme.key != kind:
        raise KeyMismatch(f"{scheme} needs an {scheme.key.upper()} key, not {kind.upper()}")


def as_signer(key: Signer | PrivateKeyTypes) -> Signer:
    """A ``Signer`` as is; a ``cryptography`` private key wrapped in ``KeySigner``."""
    if _classify(key)[1] or not isinstance(key, Signer):  # the Protocol check is the slow one
        return KeySigner(key)  # type: ignore[arg-type]  # a private key, or KeySigner says what it is
    return key


def sign(key: Signer | PrivateKeyTypes, scheme: Scheme, octets: bytes) -> bytes:
    """The bare signature of ``octets`` with ``scheme`` (no AlgorithmIdentifier)."""
    signer = as_signer(key)
    if scheme not in signer.schemes():
        raise KeyMismatch(f"this signer cannot make {scheme} (it can: "
                          f"{', '.join(sorted(str(s) for s in signer.schemes())) or 'nothing'})")
    return signer.sign(scheme, octets)


def make_auth(key: Signer | PrivateKeyTypes, method: int, octets: bytes, scheme: Scheme | None = None) -> bytes:
    """The Authentication Data of AUTH ``method`` over ``octets`` (``auth.signed_octets``).

    Method 14 needs ``scheme`` and carries its AlgorithmIdentifier; method 1 is PKCS#1 v1.5
    with SHA-1 (RFC 7296 2.15, RFC 7427 1); methods 9-11 are ECDSA with the method's hash,
    sent as r||s (RFC 4754 7); there ``scheme`` may be omitted or must match.
    """
    if method == AUTH_DIGITAL_SIGNATURE:
        if scheme is None:
            raise SignatureError("the Digital Signature method needs a scheme (see choose_auth)")
        return encode_auth_data(scheme, sign(key, scheme, octets))
    fixed = _legacy_scheme(method)
    if scheme is not None and scheme != fixed:
        raise KeyMismatch(f"AUTH method {method} signs with {fixed}, not {scheme}")
    signature = sign(key, fixed, octets)
    if method == AUTH_RSA_SIG:
        return signature
    size = _RFC4754[method][2]
    r, s = decode_dss_signature(signature)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _legacy_scheme(method: int) -> Scheme:
    if method == AUTH_RSA_SIG:
        return RSA_PKCS1_SHA1
    if method in _RFC4754:
        return _RFC4754[method][1]
    if method in (AUTH_SHARED_KEY_MIC, AUTH_NULL):
        raise UnsupportedAuthMethod(f"AUTH method {method} is a PRF MIC, not a signature "
                                    "(auth.psk_auth / signatures.null_auth)")
    raise UnsupportedAuthMethod(f"AUTH method {method} is not a supported signature method")


# ------------------------------------------------------------------ verification

def verify(public_key: PublicKeyTypes, auth_method: int, auth_data: bytes, octets: bytes,
           accept: Collection[Scheme] | None = None) -> bool:
    """Check the peer's AUTH: True when ``auth_data`` is a good signature of ``octets``.

    False: the signature does not verify. Raises (a ``SignatureError``, message for the log;
    the responder answers AUTHENTICATION_FAILED either way) when the data cannot be read,
    its scheme is unknown or not in ``accept`` (default: any in ``SCHEMES``; methods 1 and
    9-11 count as RSA_PKCS1_SHA1 / ECDSA_SHA*), or the key cannot do it.
    """
    kind = key_kind(public_key)
    if _classify(public_key)[1]:
        raise KeyMismatch("verify takes the peer's public key, not a private key")
    if auth_method == AUTH_DIGITAL_SIGNATURE:
        scheme, signature = parse_auth_data(auth_data)
    else:
        scheme, signature = _legacy_scheme(auth_method), bytes(auth_data)
    if accept is not None and scheme not in accept:
        raise AuthDataError(f"{scheme} is not accepted by local policy")
    _check_kind(scheme, kind)
    if auth_method in _RFC4754:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        curve, _, size = _RFC4754[auth_method]
        if public_key.curve.name != curve:
            raise KeyMismatch(f"AUTH method {auth_method} needs a {curve} key, not {public_key.curve.name}")
        if len(signature) != 2 * size:
            raise AuthDataError(f"AUTH method {auth_method}: signature of {len(signature)} octets, "
                                f"expected {2 * size} (r||s)")
        signature = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                         int.from_bytes(signature[size:], "big"))
    return _verify_raw(public_key, kind, scheme, signature, octets)


def _verify_raw(key: PublicKeyTypes, kind: KeyKind, scheme: Scheme, signature: bytes, octets: bytes) -> bool:
    h = scheme.hash_algorithm()
    try:
        if kind == "rsa":
            assert h is not None
            pad = (padding.PSS(padding.MGF1(h), _DIGEST_SIZE[scheme.hash_id]) if scheme.pss
                   else padding.PKCS1v15())
            cast(rsa.RSAPublicKey, key).verify(signature, octets, pad, h)
        elif kind == "ecdsa":
            assert h is not None
            cast(ec.EllipticCurvePublicKey, key).verify(signature, octets, ec.ECDSA(h))
        else:
            cast(ed25519.Ed25519PublicKey | ed448.Ed448PublicKey, key).verify(signature, octets)
    except InvalidSignature:
        return False
    return True


# ------------------------------------------------------------------ SIGNATURE_HASH_ALGORITHMS

def encode_hash_algorithms(hash_ids: Iterable[int]) -> bytes:
    """Notify data of SIGNATURE_HASH_ALGORITHMS (RFC 7427 4): 2-octet hash numbers in order."""
    ids = list(hash_ids)
    if any(not 0 <= h <= 0xFFFF for h in ids):
        raise HashNotifyError(f"hash algorithm numbers must fit 16 bits: {ids}")
    return b"".join(h.to_bytes(2, "big") for h in ids)


def decode_hash_algorithms(data: bytes) -> tuple[int, ...]:
    """The hash numbers a peer announced; unknown ones are kept (and ignored when choosing)."""
    if len(data) % 2:
        raise HashNotifyError(f"SIGNATURE_HASH_ALGORITHMS data of odd length {len(data)}")
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def announced_hashes(policy: Iterable[int] = LIBRESWAN_SIGHASH_POLICY, eddsa: bool = True) -> tuple[int, ...]:
    """What we announce: the policy's hashes in ascending number order, plus IDENTITY when
    EdDSA is allowed (RFC 8420 2 requires it for EdDSA)."""
    ids = sorted(set(policy) - {HASH_IDENTITY})
    return (*ids, HASH_IDENTITY) if eddsa else tuple(ids)


def choose_auth(key: PublicKeyTypes | PrivateKeyTypes, peer_hashes: Collection[int] | None, *,
                policy: Iterable[int] = LIBRESWAN_SIGHASH_POLICY, rsa_pss: bool = True,
                rsa_v1_5: bool = True, ecdsa_by_curve: bool = False, ecdsa_rfc4754: bool = False,
                available: Collection[Scheme] | None = None) -> tuple[int, Scheme]:
    """Our AUTH method and scheme for ``key`` given the peer's SIGNATURE_HASH_ALGORITHMS
    (None or empty: it sent none). Defaults mirror Libreswan:

    - RSA: Digital Signature (14) with RSASSA-PSS and the strongest hash in ``policy``
      (SHA2_512, then 384, then 256) the peer announced; PKCS#1 v1.5 with that hash when
      ``rsa_pss`` is False (authby=rsa-sha1-style configs). A peer that announced nothing gets
      method 1 (PKCS#1 v1.5, SHA-1) if ``rsa_v1_5`` (Libreswan's RSASIG_v1_5, on by default).
    - ECDSA: method 14 with the strongest common hash on any curve (Libreswan signs with
      "P-256 ECDSA with SHA2_512"); ``ecdsa_by_curve`` picks the curve's own hash instead.
      Without the notify Libreswan fails; ``ecdsa_rfc4754`` falls back to methods 9-11.
    - EdDSA: method 14 when the peer announced IDENTITY (RFC 8420), else nothing.

    ``available``: the schemes our ``Signer`` can make (default: all for the key).
    ``NoCommonScheme`` when nothing fits, naming why.
    """
    kind = key_kind(key)
    can = set(available) if available is not None else set(schemes_for(kind))
    announced = set(peer_hashes or ())
    if kind in ("ed25519", "ed448"):
        scheme = ED25519 if kind == "ed25519" else ED448
        if HASH_IDENTITY not in announced:
            raise NoCommonScheme(f"{scheme} needs the peer to announce the IDENTITY hash (RFC 8420)")
        if scheme not in can:
            raise NoCommonScheme(f"the signer cannot make {scheme}")
        return AUTH_DIGITAL_SIGNATURE, scheme
    table = (_PSS_BY_HASH if rsa_pss else _RSA_PKCS1_BY_HASH) if kind == "rsa" else _ECDSA_BY_HASH
    order = [h for h in policy if h in table]
    curve = key.curve.name if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) else None
    if kind == "ecdsa" and ecdsa_by_curve:
        if curve not in _CURVE_HASH:
            raise NoCommonScheme(f"no hash is tied to curve {curve}")
        order = [h for h in order if h == _CURVE_HASH[curve]]
    if announced:
        for h in order:
            if h in announced and table[h] in can:
                return AUTH_DIGITAL_SIGNATURE, table[h]
        names = ", ".join(HASH_NAMES.get(h, str(h)) for h in sorted(announced))
        raise NoCommonScheme(f"no {kind.upper()} scheme for the peer's hashes ({names}) in local policy")
    if kind == "rsa" and rsa_v1_5 and RSA_PKCS1_SHA1 in can:
        return AUTH_RSA_SIG, RSA_PKCS1_SHA1
    if kind == "ecdsa" and ecdsa_rfc4754 and curve in _CURVE_METHOD:
        method = _CURVE_METHOD[curve]
        if _RFC4754[method][1] in can:
            return method, _RFC4754[method][1]
    raise NoCommonScheme(f"the peer sent no SIGNATURE_HASH_ALGORITHMS and local policy allows no "
                         f"{kind.upper()} method without it")


# ------------------------------------------------------------------ NULL authentication

def null_auth(prf: PrfAlgorithm, sk_p: bytes, octets: bytes) -> bytes:
    """AUTH data of method 13 (RFC 7619 2.1): the shared-key MIC of RFC 7296 2.15 with SK_pi
    (initiator) or SK_pr (responder) as the shared secret. It proves only that the peer holds
    this IKE SA's keys; the ID is ID_NULL (type 13) and the empty identity."""
    return psk_auth(prf, sk_p, octets)
