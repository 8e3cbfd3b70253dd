"""Known-answer tests for the IKEv2 crypto suite; vector files name their sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pluto_core.ikev2.crypto import dh
from pluto_core.ikev2.crypto.integ import INTEGS
from pluto_core.ikev2.crypto.keys import child_keymat, prf_plus, rekey_skeyseed, skeyseed
from pluto_core.ikev2.crypto.prf import PRFS

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def _val(case: dict, key: str) -> bytes:
    if key in case:
        return bytes.fromhex(case[key])
    if key + "_ascii" in case:
        return case[key + "_ascii"].encode()
    hexbyte, count = case[key + "_repeat"]
    return bytes.fromhex(hexbyte) * count


KDF = _load("ikev2_kdf_cavp.json")["cases"]


@pytest.mark.parametrize("case", KDF, ids=[c["name"] for c in KDF])
def test_cavp_ikev2_kdf(case: dict) -> None:
    h = lambda k: bytes.fromhex(case[k])  # noqa: E731
    prf = PRFS[case["prf"]]
    seed = skeyseed(prf, h("ni"), h("nr"), h("gir"))
    assert seed == h("skeyseed")
    dkm = prf_plus(prf, seed, h("ni") + h("nr") + h("spi_i") + h("spi_r"), len(h("dkm")))
    assert dkm == h("dkm")
    sk_d = dkm[: prf.key_size]
    n = len(h("dkm_child"))
    assert child_keymat(prf, sk_d, h("ni"), h("nr"), n) == h("dkm_child")
    assert child_keymat(prf, sk_d, h("ni"), h("nr"), n, g_ir_new=h("gir_new")) == h("dkm_child_dh")
    assert rekey_skeyseed(prf, sk_d, h("gir_new"), h("ni"), h("nr")) == h("skeyseed_rekey")


PRF_INTEG = _load("prf_integ_vectors.json")


@pytest.mark.parametrize("case", PRF_INTEG["prf"], ids=lambda c: f"{c['prf']}-{c['ref']}")
def test_prf_vectors(case: dict) -> None:
    assert PRFS[case["prf"]](_val(case, "key"), _val(case, "data")).hex() == case["out"]


@pytest.mark.parametrize("case", PRF_INTEG["integ"], ids=lambda c: f"{c['integ']}-{c['ref']}")
def test_integ_vectors(case: dict) -> None:
    integ = INTEGS[case["integ"]]
    out = integ.compute(_val(case, "key"), _val(case, "data"))
    assert len(out) == integ.icv_size
    assert out.hex() == case["out"]


def test_prf_plus_is_prefix_stable_and_bounded() -> None:
    prf = PRFS[5]
    long = prf_plus(prf, b"k" * 32, b"seed", 200)
    assert prf_plus(prf, b"k" * 32, b"seed", 33) == long[:33]
    # T1 = prf(K, S | 0x01) (RFC 7296 2.13)
    assert long[:32] == prf(b"k" * 32, b"seed\x01")
    with pytest.raises(ValueError):
        prf_plus(prf, b"k", b"s", 255 * 32 + 1)


def test_skeyseed_fixed_key_prf_takes_half_of_each_nonce() -> None:
    # RFC 7296 2.14: AES-XCBC keys SKEYSEED with the first 64 bits of Ni and of Nr.
    prf = PRFS[4]
    ni, nr = bytes(range(32)), bytes(range(100, 132))
    assert skeyseed(prf, ni, nr, b"gir") == prf(ni[:8] + nr[:8], b"gir")


DH = _load("dh_vectors.json")


@pytest.mark.parametrize("case", DH["ecp"], ids=lambda c: c["ref"])
def test_rfc5903_ecdh(case: dict) -> None:
    h = lambda k: bytes.fromhex(case[k])  # noqa: E731
    g = case["group"]
    mine, theirs = dh.generate(g, h("i")), dh.generate(g, h("r"))
    assert mine.public_bytes == h("gix") + h("giy")
    assert theirs.public_bytes == h("grx") + h("gry")
    assert dh.compute_shared(g, mine, theirs.public_bytes) == h("girx")
    assert dh.compute_shared(g, theirs, mine.public_bytes) == h("girx")


@pytest.mark.parametrize("case", DH["xdh_scalar_mult"], ids=lambda c: c["ref"])
def test_rfc7748_scalar_mult(case: dict) -> None:
    h = lambda k: bytes.fromhex(case[k])  # noqa: E731
    assert dh.compute_shared(case["group"], h("scalar"), h("u")) == h("out")


@pytest.mark.parametrize("case", DH["xdh_exchange"], ids=lambda c: c["ref"])
def test_rfc7748_exchange(case: dict) -> None:
    h = lambda k: bytes.fromhex(case[k])  # noqa: E731
    g = case["group"]
    a, b = dh.generate(g, h("a_private")), dh.generate(g, h("b_private"))
    assert a.public_bytes == h("a_public")
    assert b.public_bytes == h("b_public")
    assert dh.compute_shared(g, a, b.public_bytes) == h("shared")
    assert dh.compute_shared(g, b.private, a.public_bytes) == h("shared")


def _pi_times_2_pow(bits: int) -> int:
    """floor(pi * 2^bits) by Machin's formula in integers (independent of dh.py's table)."""

    def arctan_inv(x: int, scale: int) -> int:
        total = term = (1 << scale) // x
        n, sign = 1, -1
        while term:
            term //= x * x
            total += sign * (term // (2 * n + 1))
            sign, n = -sign, n + 1
        return total

    guard = 64
    return (4 * (4 * arctan_inv(5, bits + guard) - arctan_inv(239, bits + guard))) >> guard


# RFC 3526 (RFC 2409 6.2 for 1536): p = 2^N - 2^(N-64) - 1 + 2^64 * ([2^(N-130) pi] + c)
RFC3526 = {5: (1536, 741804), 14: (2048, 124476), 15: (3072, 1690314), 16: (4096, 240904),
           17: (6144, 929484), 18: (8192, 4743158)}


@pytest.mark.parametrize("group", sorted(RFC3526))
def test_modp_primes_match_rfc3526_formula(group: int) -> None:
    n, c = RFC3526[group]
    expected = 2**n - 2 ** (n - 64) - 1 + 2**64 * (_pi_times_2_pow(n - 130) + c)
    assert dh.modp_prime(group) == expected
    assert dh.public_size(group) == n // 8


def test_modp2048_prime_edges_as_printed_in_rfc3526() -> None:
    text = format(dh.modp_prime(14), "X")
    assert text.startswith("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1")
    assert text.endswith("15728E5A8AACAA68FFFFFFFFFFFFFFFF")


def test_modp1536_shared_secret_matches_libreswan_capture(corpus_data: Path) -> None:
    keys = json.loads((corpus_data / "ike-packets/libreswan-libpluto-2016/keys.json").read_text())
    x = bytes.fromhex(keys["dh"]["x_initiator_private"])
    shared = dh.compute_shared(5, x, bytes.fromhex(keys["wire"]["ke_r"]))
    assert shared.hex() == keys["dh"]["g_ir"]
