"""Raw public keys as ipsec.conf writes them, and their CKAIDs.

- ``leftrsasigkey=``: RFC 3110 RSA key bytes (exponent length in 1 octet, or 0 then 2
  octets; exponent; modulus; no leading zero octets), as ``0s`` + base64 or ``0x`` + hex.
- ``leftecdsakey=``: ``0s`` + the RFC 8005 / RFC 6605 point ``X || Y`` (an SEC1 ``04``-prefixed
  point is accepted too). ``lefteddsakey=``: ``0s`` + the RFC 8080 / RFC 9373 raw key
  (32 octets Ed25519, 57 Ed448).
- ``leftpubkey=`` (Libreswan 5, any of the three): the raw form of the kind, or a DER
  SubjectPublicKeyInfo, base64 with or without ``0s`` (``ipsec showhostkey --pubkey``).

A ``%`` keyword (``%cert``, ``%dnsondemand``, ``%none``) is not a key: the config layer
resolves it before calling these. The CKAID is how Libreswan/NSS name a host key
(``leftckaid=``): SHA-1 of the RSA modulus or of the EC/EdDSA public value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

RawKind = Literal["rsa", "ecdsa", "eddsa"]
SignaturePublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey

# RFC 6605 / RFC 8005 raw ECDSA key sizes (X || Y) and the curve each implies.
_EC_RAW = {64: ec.SECP256R1(), 96: ec.SECP384R1(), 132: ec.SECP521R1()}


class PublicKeyFormatError(ValueError):
    """A public key text that cannot be read; the message says which part was wrong."""


def decode_key_text(text: str) -> bytes:
    """The octets of a ``0s`` (base64) or ``0x`` (hex, ``_`` allowed between digits) value;
    bare base64 is read too (``leftpubkey=`` as ``showhostkey --pubkey`` prints it)."""
    text = text.strip()
    if not text:
        raise PublicKeyFormatError("empty public key")
    if text.startswith("%"):
        raise PublicKeyFormatError(f"{text!r} is a keyword, not a public key")
    prefix = text[:2].lower()
    try:
        if prefix == "0x":
            return bytes.fromhex(text[2:].replace("_", ""))
        body = text[2:] if prefix == "0s" else text
        return base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error) as e:
        kind = "hex" if prefix == "0x" else "base64"
        raise PublicKeyFormatError(f"public key is not valid {kind}: {e}") from None


def rfc3110_to_key(data: bytes) -> rsa.RSAPublicKey:
    """RFC 3110 section 2 key bytes -> an RSA public key."""
    if len(data) < 3:
        raise PublicKeyFormatError(f"RFC 3110 RSA key of {len(data)} octets is too short")
    if data[0]:
        elen, pos = data[0], 1
    else:
        elen, pos = int.from_bytes(data[1:3], "big"), 3
        if elen < 256:
            raise PublicKeyFormatError(f"RFC 3110 RSA key: 3-octet exponent length {elen} should use the 1-octet form")
    exponent, modulus = data[pos : pos + elen], data[pos + elen :]
    if len(exponent) != elen or not modulus:
        raise PublicKeyFormatError(f"RFC 3110 RSA key: exponent length {elen} leaves no modulus "
                                   f"in {len(data)} octets")
    if exponent[0] == 0 or modulus[0] == 0:
        raise PublicKeyFormatError("RFC 3110 RSA key: leading zero octet in the exponent or modulus")
    try:
        return rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")).public_key()
    except ValueError as e:
        raise PublicKeyFormatError(f"RFC 3110 RSA key is not a usable RSA key: {e}") from None


def key_to_rfc3110(key: rsa.RSAPublicKey) -> bytes:
    """An RSA public key as RFC 3110 bytes (shortest exponent-length form)."""
    numbers = key.public_numbers()
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    head = bytes((len(e),)) if len(e) < 256 else b"\x00" + len(e).to_bytes(2, "big")
    return head + e + n


def _raw_ec(data: bytes) -> ec.EllipticCurvePublicKey:
    point = data[1:] if len(data) % 2 and data[:1] == b"\x04" else data
    if len(point) not in _EC_RAW:
        raise PublicKeyFormatError(f"raw ECDSA key of {len(data)} octets: expected X||Y of 64, 96 or 132 "
                                   "(P-256, P-384, P-521), optionally after 0x04")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_EC_RAW[len(point)], b"\x04" + point)
    except ValueError as e:
        raise PublicKeyFormatError(f"raw ECDSA key is not a point on {_EC_RAW[len(point)].name}: {e}") from None


def _raw_ed(data: bytes) -> ed25519.Ed25519PublicKey | ed448.Ed448PublicKey:
    try:
        if len(data) == 32:
            return ed25519.Ed25519PublicKey.from_public_bytes(data)
        if len(data) == 57:
            return ed448.Ed448PublicKey.from_public_bytes(data)
    except ValueError as e:
        raise PublicKeyFormatError(f"raw EdDSA key is unusable: {e}") from None
    raise PublicKeyFormatError(f"raw EdDSA key of {len(data)} octets: expected 32 (Ed25519) or 57 (Ed448)")


def _spki(data: bytes) -> SignaturePublicKey | None:
    """A DER SubjectPublicKeyInfo, or None when ``data`` is not one."""
    if data[:1] != b"\x30":
        return None
    try:
        key: PublicKeyTypes = serialization.load_der_public_key(data)
    except UnsupportedAlgorithm as e:
        raise PublicKeyFormatError(f"SubjectPublicKeyInfo of an unsupported algorithm: {e}") from None
    except (ValueError, TypeError):
        return None
    if not isinstance(key, SignaturePublicKey):
        raise PublicKeyFormatError(f"a {type(key).__name__} cannot authenticate IKEv2 (RSA, ECDSA or EdDSA only)")
    return key


def parse_pubkey(text: str, kind: RawKind | None = None) -> SignaturePublicKey:
    """``leftpubkey=`` and friends: a DER SubjectPublicKeyInfo, or the raw form of ``kind``
    (None: RSA's RFC 3110, the historic meaning of ``0s`` keys)."""
    data = decode_key_text(text)
    key = _spki(data)
    if key is not None:
        if kind is not None and _kind_of(key) != kind:
            raise PublicKeyFormatError(f"expected an {kind.upper()} key, got {_kind_of(key).upper()}")
        return key
    if kind == "ecdsa":
        return _raw_ec(data)
    if kind == "eddsa":
        return _raw_ed(data)
    return rfc3110_to_key(data)


def _kind_of(key: SignaturePublicKey) -> RawKind:
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    return "ecdsa" if isinstance(key, ec.EllipticCurvePublicKey) else "eddsa"


def parse_rsasigkey(text: str) -> rsa.RSAPublicKey:
    """``leftrsasigkey=0s...`` / ``0x...`` (RFC 3110), or a SubjectPublicKeyInfo holding RSA."""
    key = parse_pubkey(text, "rsa")
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def encode_rsasigkey(key: rsa.RSAPublicKey, form: Literal["0s", "0x"] = "0s") -> str:
    """The ``leftrsasigkey=`` text of ``key``: RFC 3110 bytes in base64 (Libreswan's output) or hex."""
    data = key_to_rfc3110(key)
    return "0x" + data.hex() if form == "0x" else "0s" + base64.b64encode(data).decode()


def encode_raw_pubkey(key: SignaturePublicKey) -> str:
    """The raw ``0s`` form of the key's kind: RFC 3110 (RSA), X||Y (ECDSA), the raw EdDSA key."""
    if isinstance(key, rsa.RSAPublicKey):
        return encode_rsasigkey(key)
    return "0s" + base64.b64encode(_public_value(key, sec1=False)).decode()


def encode_pubkey(key: SignaturePublicKey) -> str:
    """``leftpubkey=``: ``0s`` + base64 of the DER SubjectPublicKeyInfo."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "0s" + base64.b64encode(der).decode()


def _public_value(key: SignaturePublicKey, sec1: bool = True) -> bytes:
    """RSA: the modulus octets; EC: the uncompressed point (with ``04`` when ``sec1``); EdDSA: raw key."""
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers().n
        return n.to_bytes((n.bit_length() + 7) // 8, "big")
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return point if sec1 else point[1:]
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ckaid(key: SignaturePublicKey) -> bytes:
    """The NSS CKA_ID Libreswan names a key by: SHA-1 of the RSA modulus (checked against the
    corpus's rsasigkey/ckaid pairs), or of the EC point (``04||X||Y``) / raw EdDSA key."""
    return hashlib.sha1(_public_value(key)).digest()


def ckaid_hex(key: SignaturePublicKey) -> str:
    """``ckaid`` as ``leftckaid=`` writes it: 40 lower-case hex digits."""
    return ckaid(key).hex()
