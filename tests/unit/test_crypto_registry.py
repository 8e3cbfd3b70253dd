"""Suite sizes, key slicing, Child SA KEYMAT layout, and the PSK AUTH computation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pluto_core.ikev2.crypto import transform_ids as T
from pluto_core.ikev2.crypto.auth import KEY_PAD, maced_id, psk_auth, signed_octets
from pluto_core.ikev2.crypto.encr import encr_algorithm
from pluto_core.ikev2.crypto.errors import UnsupportedTransform
from pluto_core.ikev2.crypto.integ import INTEGS
from pluto_core.ikev2.crypto.keys import (
    child_keymat,
    derive_child_sa_keys,
    prf_plus,
    skeyseed,
)
from pluto_core.ikev2.crypto.prf import PRFS, aes_xcbc_prf128
from pluto_core.ikev2.crypto.registry import make_suite
from pluto_core.ikev2.crypto.sk import sk_contexts, unprotect


@pytest.mark.parametrize(
    "spec,sizes",
    [
        # (d, a, e, p, iv, icv, block, total)
        ((T.ENCR_AES_CBC, 128, T.PRF_HMAC_SHA1, T.AUTH_HMAC_SHA1_96), (20, 20, 16, 20, 16, 12, 16, 132)),
        (
            (T.ENCR_AES_CBC, 256, T.PRF_HMAC_SHA2_256, T.AUTH_HMAC_SHA2_256_128),
            (32, 32, 32, 32, 16, 16, 16, 224),
        ),
        (
            (T.ENCR_AES_CTR, 192, T.PRF_HMAC_SHA2_384, T.AUTH_HMAC_SHA2_384_192),
            (48, 48, 28, 48, 8, 24, 1, 296),
        ),
        ((T.ENCR_AES_GCM_16, 256, T.PRF_HMAC_SHA2_512, None), (64, 0, 36, 64, 8, 16, 1, 264)),
        ((T.ENCR_AES_GCM_8, 128, T.PRF_AES128_XCBC, None), (16, 0, 20, 16, 8, 8, 1, 88)),
        ((T.ENCR_CHACHA20_POLY1305, None, T.PRF_AES128_CMAC, None), (16, 0, 36, 16, 8, 16, 1, 120)),
    ],
)
def test_suite_sizes(spec: tuple, sizes: tuple) -> None:
    s = make_suite(*spec, T.CURVE25519)
    assert (s.sk_d_size, s.sk_a_size, s.sk_e_size, s.sk_p_size, s.iv_size, s.icv_size, s.block_size,
            s.keymat_size) == sizes
    assert s.ke_size == 32
    assert make_suite(*spec, T.CURVE25519) is s  # cached


def test_unsupported_transforms() -> None:
    with pytest.raises(UnsupportedTransform, match="Key Length"):
        encr_algorithm(T.ENCR_AES_CBC, None)
    with pytest.raises(UnsupportedTransform):
        encr_algorithm(T.ENCR_AES_CBC, 100)
    with pytest.raises(UnsupportedTransform):
        encr_algorithm(T.ENCR_CHACHA20_POLY1305, 128)
    with pytest.raises(UnsupportedTransform):
        make_suite(3, 192, T.PRF_HMAC_SHA1, T.AUTH_HMAC_SHA1_96, None)
    with pytest.raises(UnsupportedTransform):
        make_suite(T.ENCR_AES_CBC, 128, 1, T.AUTH_HMAC_SHA1_96, None)
    with pytest.raises(UnsupportedTransform):
        make_suite(T.ENCR_AES_CBC, 128, T.PRF_HMAC_SHA1, T.AUTH_HMAC_SHA1_96, 22)


def test_ike_sa_keys_are_prf_plus_slices_in_rfc_order() -> None:
    s = make_suite(T.ENCR_AES_GCM_16, 128, T.PRF_HMAC_SHA2_256, None, T.ECP_256)
    ni, nr, gir, spi_i, spi_r = b"N" * 32, b"R" * 32, b"G" * 32, b"I" * 8, b"S" * 8
    seed, keys = s.ike_sa_keys(ni, nr, gir, spi_i, spi_r)
    assert seed == hmac.digest(ni + nr, gir, "sha256")
    stream = prf_plus(s.prf, seed, ni + nr + spi_i + spi_r, s.keymat_size)
    assert keys.sk_d == stream[:32]
    assert keys.sk_ai == keys.sk_ar == b""
    assert keys.sk_ei == stream[32:52] and keys.sk_er == stream[52:72]  # 16-byte key + 4-byte salt
    assert keys.sk_pi == stream[72:104] and keys.sk_pr == stream[104:136]
    assert stream[:32].hex() not in repr(keys)  # keys never reach a log line


def test_sk_contexts_pair_directions() -> None:
    s = make_suite(T.ENCR_AES_CBC, 128, T.PRF_HMAC_SHA1, T.AUTH_HMAC_SHA1_96, None)
    _, keys = s.ike_sa_keys(b"n" * 16, b"r" * 16, b"g" * 64, b"i" * 8, b"s" * 8)
    i_out, i_in = sk_contexts(s, keys, initiator=True)
    r_out, r_in = sk_contexts(s, keys, initiator=False)
    from tests.unit.test_crypto_sk import _message

    msg = _message(i_out, b"hello", False)
    assert unprotect(r_in, msg, 28) == b"hello"
    reply = _message(r_out, b"world", False)
    assert unprotect(i_in, reply, 28) == b"world"


def test_child_keymat_layout_with_and_without_pfs() -> None:
    prf = PRFS[T.PRF_HMAC_SHA2_256]
    encr = encr_algorithm(T.ENCR_AES_GCM_16, 256)
    sk_d, ni, nr, g = b"D" * 32, b"i" * 32, b"r" * 32, b"g" * 256
    keys = derive_child_sa_keys(prf, sk_d, encr, None, ni, nr)
    stream = child_keymat(prf, sk_d, ni, nr, 72)
    assert stream == prf_plus(prf, sk_d, ni + nr, 72)
    assert (keys.encr_i, keys.integ_i, keys.encr_r, keys.integ_r) == (stream[:36], b"", stream[36:], b"")
    pfs = derive_child_sa_keys(prf, sk_d, encr, None, ni, nr, g_ir_new=g)
    assert pfs.encr_i == prf_plus(prf, sk_d, g + ni + nr, 36)
    cbc = encr_algorithm(T.ENCR_AES_CBC, 128)
    integ = INTEGS[T.AUTH_HMAC_SHA1_96]
    k = derive_child_sa_keys(prf, sk_d, cbc, integ, ni, nr)
    s = prf_plus(prf, sk_d, ni + nr, 72)
    # RFC 7296 2.17: encr then integ for initiator->responder, then the same for the other way.
    assert (k.encr_i, k.integ_i, k.encr_r, k.integ_r) == (s[:16], s[16:36], s[36:52], s[52:72])


def test_psk_auth_follows_rfc7296_2_15() -> None:
    prf = PRFS[T.PRF_HMAC_SHA2_256]
    message1, nonce_r, sk_pi = b"IKE_SA_INIT bytes", b"\x11" * 32, b"\x22" * 32
    id_body = bytes([2, 0, 0, 0]) + b"west"
    octets = signed_octets(prf, message1, nonce_r, sk_pi, id_body)
    assert octets == message1 + nonce_r + hmac.digest(sk_pi, id_body, "sha256")
    assert maced_id(prf, sk_pi, id_body) == octets[-32:]
    inner = hmac.digest(b"secret", b"Key Pad for IKEv2", "sha256")
    assert KEY_PAD == b"Key Pad for IKEv2"
    assert psk_auth(prf, b"secret", octets) == hmac.digest(inner, octets, hashlib.sha256)


def test_psk_auth_with_xcbc_uses_the_variable_key_rule() -> None:
    prf = PRFS[T.PRF_AES128_XCBC]
    long_psk = b"a pre-shared key longer than sixteen bytes"
    octets = b"signed octets"
    auth = psk_auth(prf, long_psk, octets)
    assert auth == aes_xcbc_prf128(aes_xcbc_prf128(long_psk, b"Key Pad for IKEv2"), octets)
    assert auth != psk_auth(prf, long_psk[:16], octets)
    assert skeyseed(prf, b"n" * 16, b"r" * 16, b"g") == aes_xcbc_prf128(b"n" * 8 + b"r" * 8, b"g")
