"""IKEv2 pseudorandom functions (RFC 7296 3.3.2 transform type 2).

HMAC PRFs come from the standard library (one-shot OpenSSL HMAC). AES128-XCBC
(RFC 4434) and AES128-CMAC (RFC 4615) take any key length: a key that is not
16 bytes is first reduced to 16 bytes by the rule each RFC gives.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import transform_ids as T

_AES_BLOCK = 16
_ZERO_BLOCK = bytes(_AES_BLOCK)


@dataclass(slots=True, frozen=True)
class PrfAlgorithm:
    """A negotiated PRF: ``key_size`` is its preferred key length (SK_d, SK_pi, SK_pr size)."""

    transform_id: int
    name: str
    key_size: int
    output_size: int
    fixed_key: bool
    """True for the AES PRFs: SKEYSEED then keys it with half of each nonce (RFC 7296 2.14)."""
    compute: Callable[[bytes, bytes], bytes]

    def __call__(self, key: bytes, data: bytes) -> bytes:
        return self.compute(key, data)


def _hmac_prf(digest: str) -> Callable[[bytes, bytes], bytes]:
    def compute(key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, digest)

    return compute


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(_AES_BLOCK, "big")


def _aes_ecb_block(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_xcbc_mac(key: bytes, data: bytes) -> bytes:
    """AES-XCBC-MAC with a 16-byte key, full 16-byte output (RFC 3566 section 4)."""
    if len(key) != _AES_BLOCK:
        raise ValueError(f"AES-XCBC-MAC needs a 16-byte key, got {len(key)}")
    k1 = _aes_ecb_block(key, b"\x01" * _AES_BLOCK)
    k2 = _aes_ecb_block(key, b"\x02" * _AES_BLOCK)
    k3 = _aes_ecb_block(key, b"\x03" * _AES_BLOCK)
    # Every block but the last is plain CBC-MAC under K1; the last is masked with K2
    # (complete block) or padded with 0x80 00.. and masked with K3.
    if data and len(data) % _AES_BLOCK == 0:
        head, last, mask = data[:-_AES_BLOCK], data[-_AES_BLOCK:], k2
    else:
        cut = len(data) - len(data) % _AES_BLOCK
        head, last = data[:cut], data[cut:]
        last = last + b"\x80" + bytes(_AES_BLOCK - len(last) - 1)
        mask = k3
    chain = _ZERO_BLOCK
    if head:
        enc = Cipher(algorithms.AES(k1), modes.CBC(_ZERO_BLOCK)).encryptor()
        chain = (enc.update(head) + enc.finalize())[-_AES_BLOCK:]
    return _aes_ecb_block(k1, _xor(_xor(chain, last), mask))


def aes_xcbc_prf128(key: bytes, data: bytes) -> bytes:
    """AES-XCBC-PRF-128 (RFC 4434 section 2): short keys are zero-padded, long keys MACed."""
    if len(key) < _AES_BLOCK:
        key = key + bytes(_AES_BLOCK - len(key))
    elif len(key) > _AES_BLOCK:
        key = aes_xcbc_mac(_ZERO_BLOCK, key)
    return aes_xcbc_mac(key, data)


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (RFC 4493), full 16-byte output."""
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def aes_cmac_prf128(key: bytes, data: bytes) -> bytes:
    """AES-CMAC-PRF-128 (RFC 4615 section 3): any key not 16 bytes is first AES-CMAC(0^128, key)."""
    if len(key) != _AES_BLOCK:
        key = aes_cmac(_ZERO_BLOCK, key)
    return aes_cmac(key, data)


PRFS: dict[int, PrfAlgorithm] = {
    p.transform_id: p
    for p in (
        PrfAlgorithm(T.PRF_HMAC_SHA1, "PRF_HMAC_SHA1", 20, 20, False, _hmac_prf("sha1")),
        PrfAlgorithm(T.PRF_HMAC_SHA2_256, "PRF_HMAC_SHA2_256", 32, 32, False, _hmac_prf("sha256")),
        PrfAlgorithm(T.PRF_HMAC_SHA2_384, "PRF_HMAC_SHA2_384", 48, 48, False, _hmac_prf("sha384")),
        PrfAlgorithm(T.PRF_HMAC_SHA2_512, "PRF_HMAC_SHA2_512", 64, 64, False, _hmac_prf("sha512")),
        PrfAlgorithm(T.PRF_AES128_XCBC, "PRF_AES128_XCBC", 16, 16, True, aes_xcbc_prf128),
        PrfAlgorithm(T.PRF_AES128_CMAC, "PRF_AES128_CMAC", 16, 16, True, aes_cmac_prf128),
    )
}
