"""SK/SKF payload protect/unprotect over every suite, and the ways unprotect must fail."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluto_core.ikev2.crypto import transform_ids as T
from pluto_core.ikev2.crypto.errors import IntegrityError, SkFormatError, UnsupportedTransform
from pluto_core.ikev2.crypto.registry import make_suite
from pluto_core.ikev2.crypto.sk import (
    SK_HEADER_SIZE,
    SKF_HEADER_SIZE,
    encrypted_length,
    padding_length,
    protect,
    sk_context,
    unprotect,
)

SUITES = [
    (T.ENCR_AES_CBC, 128, T.PRF_HMAC_SHA1, T.AUTH_HMAC_SHA1_96),
    (T.ENCR_AES_CBC, 192, T.PRF_HMAC_SHA2_384, T.AUTH_HMAC_SHA2_384_192),
    (T.ENCR_AES_CBC, 256, T.PRF_HMAC_SHA2_256, T.AUTH_HMAC_SHA2_256_128),
    (T.ENCR_AES_CBC, 256, T.PRF_HMAC_SHA2_512, T.AUTH_HMAC_SHA2_512_256),
    (T.ENCR_AES_CBC, 128, T.PRF_AES128_XCBC, T.AUTH_AES_XCBC_96),
    (T.ENCR_AES_CBC, 128, T.PRF_AES128_CMAC, T.AUTH_AES_CMAC_96),
    (T.ENCR_AES_CTR, 128, T.PRF_HMAC_SHA2_256, T.AUTH_HMAC_SHA2_256_128),
    (T.ENCR_AES_CTR, 256, T.PRF_HMAC_SHA2_256, T.AUTH_HMAC_SHA2_256_128),
    (T.ENCR_AES_GCM_8, 128, T.PRF_HMAC_SHA2_256, None),
    (T.ENCR_AES_GCM_12, 192, T.PRF_HMAC_SHA2_256, None),
    (T.ENCR_AES_GCM_16, 256, T.PRF_HMAC_SHA2_512, None),
    (T.ENCR_CHACHA20_POLY1305, None, T.PRF_HMAC_SHA2_256, None),
]


def _key(label: bytes, n: int) -> bytes:
    return hashlib.shake_256(label).digest(n)


def _ctx(spec: tuple):
    suite = make_suite(*spec, T.ECP_256)
    return sk_context(suite, _key(b"e", suite.sk_e_size), _key(b"a", suite.sk_a_size))


def _message(ctx, inner: bytes, fragment: bool, iv_label: bytes = b"iv") -> bytes:
    """A complete message: 28-byte IKE header, SK or SKF header with final lengths, body."""
    header_size = SKF_HEADER_SIZE if fragment else SK_HEADER_SIZE
    body_len = encrypted_length(ctx, len(inner))
    total = 28 + header_size + body_len
    ike = bytes(range(16)) + bytes([T.PAYLOAD_SKF if fragment else T.PAYLOAD_SK, 0x20, 35, 0x08])
    ike += (1).to_bytes(4, "big") + total.to_bytes(4, "big")
    sk = bytes([41, 0]) + (header_size + body_len).to_bytes(2, "big")
    if fragment:
        sk += (2).to_bytes(2, "big") + (3).to_bytes(2, "big")
    prefix = ike + sk
    out = prefix + protect(ctx, prefix, inner, _key(iv_label, ctx.iv_size))
    assert len(out) == total
    return out


INNER = bytes.fromhex("290000100000400100000000000a0b0c") + b"inner payloads"


@pytest.mark.parametrize("fragment", [False, True], ids=["SK", "SKF"])
@pytest.mark.parametrize("spec", SUITES, ids=lambda s: make_suite(*s, None).name)
def test_round_trip_and_tamper(spec: tuple, fragment: bool) -> None:
    ctx = _ctx(spec)
    msg = _message(ctx, INNER, fragment)
    assert unprotect(ctx, msg, 28, fragment=fragment) == INNER
    assert INNER not in msg
    # One flipped bit anywhere (IKE header, SK/SKF header incl. fragment numbers, IV,
    # ciphertext, ICV) must fail the integrity check.
    header_end = 28 + (SKF_HEADER_SIZE if fragment else SK_HEADER_SIZE)
    for pos in (0, 17, 28, 29, header_end - 1, header_end, header_end + ctx.iv_size, len(msg) - 1):
        bad = bytearray(msg)
        bad[pos] ^= 0x01
        if 24 <= pos < 28 or 30 <= pos < 32:
            continue  # length fields: framing errors, tested separately
        with pytest.raises(IntegrityError):
            unprotect(ctx, bytes(bad), 28, fragment=fragment)


@pytest.mark.parametrize("spec", SUITES, ids=lambda s: make_suite(*s, None).name)
def test_other_direction_key_fails(spec: tuple) -> None:
    ctx = _ctx(spec)
    suite = make_suite(*spec, None)
    other = sk_context(suite, _key(b"E", suite.sk_e_size), _key(b"A", suite.sk_a_size))
    with pytest.raises(IntegrityError):
        unprotect(other, _message(ctx, INNER, False), 28)


def test_cbc_padding_is_block_aligned_and_explicit_pad_accepted() -> None:
    ctx = _ctx(SUITES[0])
    for n in range(0, 40):
        assert (n + padding_length(ctx, n) + 1) % 16 == 0
    prefix = bytes(32)
    body = protect(ctx, prefix, b"x" * 15, bytes(16), pad_len=16)
    assert len(body) == 16 + 32 + 12
    with pytest.raises(ValueError):
        protect(ctx, prefix, b"x" * 15, bytes(16), pad_len=3)
    with pytest.raises(ValueError):
        protect(ctx, prefix, b"x", bytes(8))


def _forged(ctx, padded: bytes) -> bytes:
    """A message whose ICV is valid but whose decrypted Pad Length is what ``padded`` says."""
    iv = bytes(ctx.iv_size)
    total = 28 + 4 + ctx.iv_size + len(padded) + ctx.icv_size
    prefix = bytes(24) + total.to_bytes(4, "big") + bytes([0, 0]) + (total - 28).to_bytes(2, "big")
    if ctx.encr.aead:
        return prefix + iv + ctx.cipher.seal(iv, padded, prefix)
    body = iv + ctx.cipher.encrypt(iv, padded)
    return prefix + body + ctx.mac(prefix + body)


@pytest.mark.parametrize("spec", [SUITES[0], SUITES[10]], ids=["cbc", "gcm"])
def test_pad_length_beyond_plaintext_is_a_format_error(spec: tuple) -> None:
    ctx = _ctx(spec)
    padded = bytes(15) + bytes([200])
    with pytest.raises(SkFormatError, match="Pad Length 200"):
        unprotect(ctx, _forged(ctx, padded), 28)
    # 15 is the largest pad that fits: empty inner payloads.
    assert unprotect(ctx, _forged(ctx, bytes(15) + bytes([15])), 28) == b""


def test_framing_errors() -> None:
    ctx = _ctx(SUITES[0])
    msg = _message(ctx, INNER, False)
    with pytest.raises(SkFormatError, match="does not end"):
        unprotect(ctx, msg + b"\0", 28)
    with pytest.raises(SkFormatError, match="runs past"):
        unprotect(ctx, msg[:30], 28)
    short = bytearray(msg[: 28 + 4 + 16 + 12])
    short[30:32] = (4 + 16 + 12).to_bytes(2, "big")
    with pytest.raises(SkFormatError, match="do not fit"):
        unprotect(ctx, bytes(short), 28)
    unaligned = bytearray(msg[:-1])
    unaligned[30:32] = (len(unaligned) - 28).to_bytes(2, "big")
    with pytest.raises(SkFormatError, match="do not fit"):
        unprotect(ctx, bytes(unaligned), 28)


def test_aead_suite_rejects_integrity_transform() -> None:
    with pytest.raises(UnsupportedTransform, match="AEAD"):
        make_suite(T.ENCR_AES_GCM_16, 128, T.PRF_HMAC_SHA2_256, T.AUTH_HMAC_SHA2_256_128, None)
    with pytest.raises(UnsupportedTransform, match="integrity"):
        make_suite(T.ENCR_AES_CBC, 128, T.PRF_HMAC_SHA2_256, None, None)


@settings(max_examples=200, deadline=None)
@given(
    spec=st.sampled_from(SUITES),
    inner=st.binary(max_size=300),
    iv_label=st.binary(min_size=1, max_size=8),
    fragment=st.booleans(),
)
def test_round_trip_property(spec: tuple, inner: bytes, iv_label: bytes, fragment: bool) -> None:
    ctx = _ctx(spec)
    msg = _message(ctx, inner, fragment, iv_label)
    assert unprotect(ctx, msg, 28, fragment=fragment) == inner
