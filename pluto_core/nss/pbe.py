"""Password-based encryption as NSS's softoken uses it in key4.db.

Every secret in key4.db (the password check value, private-key attributes) is one DER
structure ``SEQUENCE { AlgorithmIdentifier, OCTET STRING ciphertext }``. The "password" fed
to these schemes is not the user's password but NSS's password key, ``SHA-1(global salt ||
password)`` (``password_key``), the global salt being stored beside the password check.

Schemes read:

* PBES2 (RFC 8018) with PBKDF2 over HMAC-SHA-1/224/256/384/512 and AES-CBC or 3DES-CBC:
  what current NSS writes (3.87 in Debian 12: AES-256-CBC, HMAC-SHA-256). NSS encodes the AES IV as a
  14-byte OCTET STRING whose own DER header (``04 0e``) supplies the first two bytes of the
  16-byte IV; ``iv_bytes`` rebuilds it.
* PKCS#12 ``pbeWithSHA1AndTripleDES-CBC`` (1.2.840.113549.1.12.5.1.3): what older NSS wrote.
  Its key derivation is the Netscape PFX one (SHA-1 and HMAC-SHA-1 over the entry salt), not
  the RFC 7292 appendix B one; see docs/nss.md.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from . import der

try:  # cryptography >= 43 keeps 3DES among the "decrepit" algorithms
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

PBES2 = "1.2.840.113549.1.5.13"
PBKDF2 = "1.2.840.113549.1.5.12"
PKCS12_SHA1_3DES = "1.2.840.113549.1.12.5.1.3"

HMAC_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.8": hashes.SHA224,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
}
# OID -> (key length, block cipher kind)
CIPHERS: dict[str, tuple[int, str]] = {
    "2.16.840.1.101.3.4.1.2": (16, "aes"),
    "2.16.840.1.101.3.4.1.22": (24, "aes"),
    "2.16.840.1.101.3.4.1.42": (32, "aes"),
    "1.2.840.113549.3.7": (24, "3des"),
}
# NSS refuses to use more than this; so do we, so a hostile file cannot make us spin.
MAX_ITERATIONS = 10_000_000


class PbeError(ValueError):
    """The structure is not one we can decrypt, or decryption failed (wrong key, damage)."""


class WrongKey(PbeError):
    """Decryption ran but the padding is wrong: a wrong password, or a damaged value."""


def password_key(global_salt: bytes, password: bytes) -> bytes:
    """NSS's key for all PBE operations of one database: SHA-1(global salt || password)."""
    return hashlib.sha1(global_salt + password).digest()


@dataclass(frozen=True)
class Pbkdf2Params:
    """PBKDF2-params (RFC 8018 A.2)."""

    salt: bytes
    iterations: int
    key_length: int | None
    prf: type[hashes.HashAlgorithm]

    def derive(self, secret: bytes, length: int) -> bytes:
        """The derived key of ``length`` bytes (the stated key length must agree)."""
        if self.key_length is not None and self.key_length != length:
            raise PbeError(f"PBKDF2 key length {self.key_length}, the cipher needs {length}")
        kdf = PBKDF2HMAC(algorithm=self.prf(), length=length, salt=self.salt, iterations=self.iterations)
        return kdf.derive(secret)


def parse_pbkdf2(alg: der.Tlv) -> Pbkdf2Params:
    """An AlgorithmIdentifier naming PBKDF2, with its parameters."""
    oid, params = split_algorithm(alg)
    if oid != PBKDF2:
        raise PbeError(f"key derivation {oid} is not PBKDF2")
    if params is None:
        raise PbeError("PBKDF2 without parameters")
    fields = params.expect(der.SEQUENCE).children()
    if len(fields) < 2:
        raise PbeError("PBKDF2 parameters too short")
    salt = fields[0].as_octets()
    iterations = fields[1].as_int()
    check_iterations(iterations)
    key_length: int | None = None
    prf: type[hashes.HashAlgorithm] = hashes.SHA1
    for field in fields[2:]:
        if field.tag == der.INTEGER:
            key_length = field.as_int()
        elif field.tag == der.SEQUENCE:
            prf_oid, _ = split_algorithm(field)
            if prf_oid not in HMAC_HASHES:
                raise PbeError(f"PBKDF2 PRF {prf_oid} is not supported")
            prf = HMAC_HASHES[prf_oid]
        else:
            raise PbeError(f"unexpected PBKDF2 field tag 0x{field.tag:02x}")
    return Pbkdf2Params(salt, iterations, key_length, prf)


def check_iterations(iterations: int) -> None:
    """Refuse counts NSS itself would refuse (and that would stall the daemon)."""
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise PbeError(f"iteration count {iterations} out of range")


def split_algorithm(alg: der.Tlv) -> tuple[str, der.Tlv | None]:
    """An AlgorithmIdentifier as (OID, parameters or None)."""
    fields = alg.expect(der.SEQUENCE).children()
    if not fields or len(fields) > 2:
        raise PbeError("malformed AlgorithmIdentifier")
    oid = fields[0].as_oid()
    params = fields[1] if len(fields) == 2 and fields[1].tag != der.NULL else None
    return oid, params


def split_envelope(blob: bytes) -> tuple[der.Tlv, bytes]:
    """``SEQUENCE { AlgorithmIdentifier, OCTET STRING }`` as (algorithm, octets)."""
    try:
        fields = der.read_single(blob).expect(der.SEQUENCE).children()
        if len(fields) != 2:
            raise PbeError("expected an algorithm and an OCTET STRING")
        return fields[0], fields[1].as_octets()
    except der.DerError as exc:
        raise PbeError(f"malformed encrypted value: {exc}") from exc


def iv_bytes(iv_field: der.Tlv, block: int) -> bytes:
    """The IV from the cipher parameters, rebuilding NSS's short AES IV (see module doc)."""
    iv = iv_field.as_octets()
    if len(iv) == block:
        return iv
    rebuilt = bytes([der.OCTET_STRING]) + der.encode_length(len(iv)) + iv
    if len(rebuilt) == block:
        return rebuilt
    raise PbeError(f"IV of {len(iv)} bytes for a {block}-byte block")


def cbc_decrypt(kind: str, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """CBC decryption and PKCS#7 unpadding; a bad pad means a wrong key (or damage)."""
    if kind == "aes":
        cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
        block_bits = 128
    else:
        # 3DES comes from the decrepit module in new cryptography, the old place before.
        cipher = Cipher(tripledes(key), modes.CBC(iv))
        block_bits = 64
    if not ciphertext or len(ciphertext) % (block_bits // 8):
        raise PbeError("ciphertext is not a whole number of blocks")
    decryptor = cipher.decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(block_bits).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise WrongKey("decryption failed (wrong password or damaged value)") from exc


def tripledes(key: bytes) -> algorithms.BlockCipherAlgorithm:
    """A TripleDES cipher object, wherever this version of ``cryptography`` keeps it."""
    return TripleDES(key)


def decrypt(blob: bytes, key: bytes) -> bytes:
    """Decrypt one NSS encrypted value with the database's password key."""
    alg, ciphertext = split_envelope(blob)
    try:
        oid, params = split_algorithm(alg)
        if params is None:
            raise PbeError(f"{oid} without parameters")
        if oid == PBES2:
            return decrypt_pbes2(params, key, ciphertext)
        if oid == PKCS12_SHA1_3DES:
            return decrypt_pfx_3des(params, key, ciphertext)
    except der.DerError as exc:
        raise PbeError(f"malformed PBE parameters: {exc}") from exc
    raise PbeError(f"encryption scheme {oid} is not supported")


def decrypt_pbes2(params: der.Tlv, key: bytes, ciphertext: bytes) -> bytes:
    """PBES2: PBKDF2 then a CBC cipher."""
    fields = params.expect(der.SEQUENCE).children()
    if len(fields) != 2:
        raise PbeError("malformed PBES2 parameters")
    kdf = parse_pbkdf2(fields[0])
    cipher_oid, cipher_params = split_algorithm(fields[1])
    if cipher_oid not in CIPHERS:
        raise PbeError(f"PBES2 cipher {cipher_oid} is not supported")
    if cipher_params is None:
        raise PbeError("PBES2 cipher without an IV")
    key_len, kind = CIPHERS[cipher_oid]
    iv = iv_bytes(cipher_params, 16 if kind == "aes" else 8)
    return cbc_decrypt(kind, kdf.derive(key, key_len), iv, ciphertext)


def pfx_3des_key_iv(key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """The Netscape PFX derivation for pbeWithSHA1AndTripleDES-CBC: 24-byte key, 8-byte IV.

    With the salt zero-padded to 20 bytes (``pes``) and ``chp = SHA-1(key || salt)``, the
    40 bytes ``HMAC(chp, pes || salt) || HMAC(chp, HMAC(chp, pes) || salt)`` give the 3DES
    key (first 24) and the IV (last 8).
    """
    pes = salt.ljust(20, b"\0")
    chp = hashlib.sha1(key + salt).digest()
    k1 = hmac.new(chp, pes + salt, hashlib.sha1).digest()
    tk = hmac.new(chp, pes, hashlib.sha1).digest()
    k2 = hmac.new(chp, tk + salt, hashlib.sha1).digest()
    material = k1 + k2
    return material[:24], material[-8:]


def decrypt_pfx_3des(params: der.Tlv, key: bytes, ciphertext: bytes) -> bytes:
    """PKCS#12 v1 pbeWithSHA1AndTripleDES-CBC, as old NSS wrote it (one iteration)."""
    fields = params.expect(der.SEQUENCE).children()
    if len(fields) != 2:
        raise PbeError("malformed pbeWithSHA1AndTripleDES-CBC parameters")
    salt = fields[0].as_octets()
    iterations = fields[1].as_int()
    if iterations != 1:
        raise PbeError(f"pbeWithSHA1AndTripleDES-CBC with {iterations} iterations is not supported")
    des_key, iv = pfx_3des_key_iv(key, salt)
    return cbc_decrypt("3des", des_key, iv, ciphertext)
