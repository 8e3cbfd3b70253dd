"""Public-key text and CKAIDs the way Libreswan shows them (pure functions).

* ``leftrsasigkey=0s...`` is RFC 3110's key format in base64: one byte of exponent length
  (or a zero byte and two length bytes when the exponent is longer than 255 bytes), the
  exponent, then the modulus, all big-endian without leading zeros.
* ``leftecdsakey=0s...`` (Libreswan 4.10) is base64 of the point's X and Y coordinates,
  without the ``04`` marker of the uncompressed form.
* The CKAID (NSS's ``CKA_ID``) is SHA-1 of the modulus for RSA and SHA-1 of the
  uncompressed point (``04 || X || Y``) for ECDSA; Libreswan prints it in lowercase hex.
* The short "keyid" of ``showhostkey --list`` is the first nine base64 characters of the
  RFC 3110 key for RSA, and of the CKAID bytes for ECDSA.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KEYID_CHARS = 9


def int_bytes(value: int) -> bytes:
    """Big-endian, unsigned, no leading zero bytes (zero is one zero byte)."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def rsa_pubkey_blob(e: int, n: int) -> bytes:
    """The RFC 3110 public key: exponent length, exponent, modulus."""
    exponent = int_bytes(e)
    if len(exponent) <= 255:
        prefix = bytes([len(exponent)])
    else:
        prefix = b"\0" + len(exponent).to_bytes(2, "big")
    return prefix + exponent + int_bytes(n)


def rsa_pubkey_text(e: int, n: int) -> str:
    """What Libreswan writes after ``leftrsasigkey=``: ``0s`` and the RFC 3110 key in base64."""
    return "0s" + base64.b64encode(rsa_pubkey_blob(e, n)).decode("ascii")


def parse_rsa_pubkey(text: str) -> tuple[int, int]:
    """``(e, n)`` from ``0s``-base64 or ``0x``-hex RFC 3110 text; ValueError when malformed."""
    text = text.strip()
    try:
        if text[:2] in ("0s", "0S"):
            blob = base64.b64decode(text[2:], validate=True)
        elif text[:2] in ("0x", "0X"):
            blob = bytes.fromhex(text[2:].replace("_", ""))
        else:
            raise ValueError("an RSA public key starts with 0s (base64) or 0x (hex)")
    except binascii.Error as exc:
        raise ValueError(f"bad base64 in RSA public key: {exc}") from exc
    if not blob:
        raise ValueError("empty RSA public key")
    if blob[0]:
        length, pos = blob[0], 1
    else:
        if len(blob) < 3:
            raise ValueError("truncated RSA public key")
        length, pos = int.from_bytes(blob[1:3], "big"), 3
    if len(blob) <= pos + length:
        raise ValueError("RSA public key has no modulus")
    e = int.from_bytes(blob[pos:pos + length], "big")
    n = int.from_bytes(blob[pos + length:], "big")
    return e, n


def rsa_ckaid(n: int) -> str:
    """Libreswan's/NSS's CKAID of an RSA key: SHA-1 of the modulus bytes, lowercase hex."""
    return hashlib.sha1(int_bytes(n)).hexdigest()


def ec_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point ``04 || X || Y``."""
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def ecdsa_pubkey_text(key: ec.EllipticCurvePublicKey) -> str:
    """What Libreswan 4.10 writes after ``leftecdsakey=``: ``0s`` and base64 of X || Y."""
    return "0s" + base64.b64encode(ec_point(key)[1:]).decode("ascii")


def ec_ckaid(key: ec.EllipticCurvePublicKey) -> str:
    """The CKAID of an EC key: SHA-1 of the uncompressed point, lowercase hex."""
    return hashlib.sha1(ec_point(key)).hexdigest()


def ckaid(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    """The CKAID of an RSA or EC public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return rsa_ckaid(key.public_numbers().n)
    return ec_ckaid(key)


def pubkey_text(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    """The ``left*key=`` value Libreswan shows for this key (RSA or ECDSA)."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return rsa_pubkey_text(numbers.e, numbers.n)
    return ecdsa_pubkey_text(key)


def keyid(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    """The short key id ``showhostkey --list`` prints beside the CKAID."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        raw = rsa_pubkey_blob(numbers.e, numbers.n)
    else:
        raw = bytes.fromhex(ec_ckaid(key))
    return base64.b64encode(raw).decode("ascii")[:KEYID_CHARS]
