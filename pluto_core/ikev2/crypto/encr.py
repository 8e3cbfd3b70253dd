"""IKEv2 encryption algorithms (transform type 1) as keyed cipher objects.

Keying material for an algorithm is ``key || salt``: AES-CTR takes a 4-byte nonce
(RFC 5930 / RFC 3686), AES-GCM a 4-byte salt (RFC 5282 section 7.1 / RFC 4106) and
ChaCha20-Poly1305 a 4-byte salt (RFC 7634 section 2); the explicit IV on the wire is
8 bytes for all three. ``EncrAlgorithm.cipher(keymat)`` builds the object once per key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from . import transform_ids as T
from .errors import IntegrityError, UnsupportedTransform

_CTR_FIRST_COUNTER = b"\x00\x00\x00\x01"  # RFC 3686 section 4: the block counter starts at one


class PlainCipher:
    """A cipher without authentication (AES-CBC, AES-CTR): integrity comes from a separate MAC."""

    __slots__ = ()

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        raise NotImplementedError

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        raise NotImplementedError


class AeadCipher:
    """An AEAD cipher: ``seal`` returns ciphertext||ICV, ``open`` raises IntegrityError."""

    __slots__ = ()

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        raise NotImplementedError

    def open(self, iv: bytes, ciphertext_icv: bytes, aad: bytes) -> bytes:
        raise NotImplementedError


class _AesCbc(PlainCipher):
    __slots__ = ("_aes",)

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._aes = algorithms.AES(key)

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        enc = Cipher(self._aes, modes.CBC(iv)).encryptor()
        return enc.update(data) + enc.finalize()

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        dec = Cipher(self._aes, modes.CBC(iv)).decryptor()
        return dec.update(data) + dec.finalize()


class _AesCtr(PlainCipher):
    __slots__ = ("_aes", "_nonce")

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._aes = algorithms.AES(key)
        self._nonce = salt

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        enc = Cipher(self._aes, modes.CTR(self._nonce + iv + _CTR_FIRST_COUNTER)).encryptor()
        return enc.update(data) + enc.finalize()

    decrypt = encrypt


class _AesGcm(AeadCipher):
    __slots__ = ("_key", "_aead", "_salt", "_icv")

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._key = key
        self._aead = AESGCM(key)
        self._salt = salt
        self._icv = icv_size

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        out = self._aead.encrypt(self._salt + iv, plaintext, aad)
        if self._icv == 16:
            return out
        # A shorter GCM tag is the full tag truncated (NIST SP 800-38D section 5.2.1.2).
        return out[: len(plaintext) + self._icv]

    def open(self, iv: bytes, ciphertext_icv: bytes, aad: bytes) -> bytes:
        if len(ciphertext_icv) < self._icv:
            raise IntegrityError("AES-GCM: ciphertext shorter than its ICV")
        try:
            if self._icv == 16:
                return self._aead.decrypt(self._salt + iv, ciphertext_icv, aad)
            cut = len(ciphertext_icv) - self._icv
            dec = Cipher(
                algorithms.AES(self._key),
                modes.GCM(self._salt + iv, ciphertext_icv[cut:], min_tag_length=self._icv),
            ).decryptor()
            dec.authenticate_additional_data(aad)
            return dec.update(ciphertext_icv[:cut]) + dec.finalize()
        except InvalidTag:
            raise IntegrityError(f"AES-GCM-{self._icv * 8}: ICV does not verify") from None


class _ChaCha20Poly1305(AeadCipher):
    __slots__ = ("_aead", "_salt")

    def __init__(self, key: bytes, salt: bytes, icv_size: int) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._salt = salt

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._aead.encrypt(self._salt + iv, plaintext, aad)

    def open(self, iv: bytes, ciphertext_icv: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(self._salt + iv, ciphertext_icv, aad)
        except InvalidTag:
            raise IntegrityError("ChaCha20-Poly1305: ICV does not verify") from None


_Factory = Callable[[bytes, bytes, int], PlainCipher | AeadCipher]


@dataclass(slots=True, frozen=True)
class EncrAlgorithm:
    """One encryption transform at one key length."""

    transform_id: int
    name: str
    key_bits: int
    salt_size: int
    iv_size: int
    block_size: int
    """Alignment of IV-less plaintext+padding+pad-length (1 for CTR and the AEADs)."""
    icv_size: int
    """Non-zero only for AEADs, whose ICV replaces the integrity transform."""
    _factory: _Factory

    @property
    def key_size(self) -> int:
        return self.key_bits // 8

    @property
    def keymat_size(self) -> int:
        """Bytes of SK_e*/KEYMAT this transform consumes: key plus salt (RFC 5282 7.1)."""
        return self.key_bits // 8 + self.salt_size

    @property
    def aead(self) -> bool:
        return self.icv_size > 0

    def cipher(self, keymat: bytes) -> PlainCipher | AeadCipher:
        if len(keymat) != self.keymat_size:
            raise ValueError(
                f"{self.name}: keying material must be {self.keymat_size} bytes, got {len(keymat)}"
            )
        cut = self.key_bits // 8
        return self._factory(keymat[:cut], keymat[cut:], self.icv_size)


# transform id -> (name, allowed key bits, default key bits, salt, iv, block, icv, factory)
_TABLE: dict[int, tuple[str, tuple[int, ...], int | None, int, int, int, int, _Factory]] = {
    T.ENCR_AES_CBC: ("AES_CBC", (128, 192, 256), None, 0, 16, 16, 0, _AesCbc),
    T.ENCR_AES_CTR: ("AES_CTR", (128, 192, 256), None, 4, 8, 1, 0, _AesCtr),
    T.ENCR_AES_GCM_8: ("AES_GCM_8", (128, 192, 256), None, 4, 8, 1, 8, _AesGcm),
    T.ENCR_AES_GCM_12: ("AES_GCM_12", (128, 192, 256), None, 4, 8, 1, 12, _AesGcm),
    T.ENCR_AES_GCM_16: ("AES_GCM_16", (128, 192, 256), None, 4, 8, 1, 16, _AesGcm),
    # RFC 7634 section 2: fixed 256-bit key, no Key Length attribute.
    T.ENCR_CHACHA20_POLY1305: ("CHACHA20_POLY1305", (256,), 256, 4, 8, 1, 16, _ChaCha20Poly1305),
}

_CACHE: dict[tuple[int, int], EncrAlgorithm] = {}


def encr_algorithm(transform_id: int, key_bits: int | None) -> EncrAlgorithm:
    """The encryption transform for an ID and its Key Length attribute (None if absent)."""
    cached = _CACHE.get((transform_id, key_bits or 0))
    if cached is not None:
        return cached
    row = _TABLE.get(transform_id)
    if row is None:
        raise UnsupportedTransform(f"encryption transform {transform_id} is not supported")
    name, allowed, default, salt, iv, block, icv, factory = row
    bits = key_bits if key_bits is not None else default
    if bits is None:
        raise UnsupportedTransform(f"ENCR_{name} needs a Key Length attribute (RFC 7296 3.3.5)")
    if bits not in allowed:
        raise UnsupportedTransform(f"ENCR_{name} does not take a {bits}-bit key (allowed: {allowed})")
    alg = EncrAlgorithm(transform_id, f"{name}_{bits}", bits, salt, iv, block, icv, factory)
    _CACHE[(transform_id, key_bits or 0)] = alg
    return alg
