"""IKEv2 KDF with HMAC-SHA-256 against NIST ACVP sample values (SKEYSEED, prf+ DKM,
Child SA keys with and without PFS, rekeyed SKEYSEED): tests/vectors/ikev2_kdf_acvp_sha256.json."""

from __future__ import annotations

import json
from pathlib import Path

from pluto_core.ikev2.crypto.keys import child_keymat, prf_plus, rekey_skeyseed, skeyseed
from pluto_core.ikev2.crypto.registry import prf_algorithm

V = {k: bytes.fromhex(v) if k not in ("source", "hash") else v
     for k, v in json.loads((Path(__file__).parent.parent / "vectors" / "ikev2_kdf_acvp_sha256.json").read_text())
     .items()}
PRF = prf_algorithm(5)  # PRF_HMAC_SHA2_256


def test_skeyseed() -> None:
    assert skeyseed(PRF, V["ni"], V["nr"], V["gir"]) == V["skeyseed"]


def test_dkm_is_prf_plus_over_nonces_and_spis() -> None:
    seed = V["ni"] + V["nr"] + V["spi_i"] + V["spi_r"]
    assert prf_plus(PRF, V["skeyseed"], seed, len(V["dkm"])) == V["dkm"]


def test_child_sa_keys_without_and_with_pfs() -> None:
    sk_d = V["dkm"][:32]  # SK_d leads the DKM (RFC 7296 2.14)
    assert child_keymat(PRF, sk_d, V["ni"], V["nr"], len(V["dkm_child"])) == V["dkm_child"]
    assert child_keymat(PRF, sk_d, V["ni"], V["nr"], len(V["dkm_child_dh"]), V["gir_new"]) == V["dkm_child_dh"]


def test_rekeyed_skeyseed() -> None:
    assert rekey_skeyseed(PRF, V["dkm"][:32], V["gir_new"], V["ni"], V["nr"]) == V["skeyseed_rekey"]
