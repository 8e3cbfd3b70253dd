"""Signature AUTH (RFC 7296 2.15, RFC 4754, RFC 7427, RFC 8420), NULL auth (RFC 7619) and
ipsec.conf public keys / CKAIDs (pluto_core/ikev2/crypto/signatures.py, pubkeys.py)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluto_core.ikev2.crypto import pubkeys as pk
from pluto_core.ikev2.crypto import signatures as sig
from pluto_core.ikev2.crypto.auth import psk_auth
from pluto_core.ikev2.crypto.prf import PRFS
from pluto_core.ikev2.crypto.transform_ids import PRF_HMAC_SHA2_256
from pluto_core.ikev2.enums import AuthMethod, HashAlgorithm

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OCTETS = b"RealMessage1" + bytes(range(32)) + b"MACedIDForI" * 3

# RFC 7427 Appendix A, transcribed (A.1 PKCS#1 v1.5, A.3 ECDSA); RFC 8420 / RFC 8410 3 for
# Ed25519/Ed448. A.4.3 (RSASSA-PSS) is below: we read it but send its DER form.
RFC7427_APPENDIX_A = {
    "sha1WithRSAEncryption": ("300d06092a864886f70d0101050500", sig.RSA_PKCS1_SHA1),
    "sha256WithRSAEncryption": ("300d06092a864886f70d01010b0500", sig.RSA_PKCS1_SHA256),
    "sha384WithRSAEncryption": ("300d06092a864886f70d01010c0500", sig.RSA_PKCS1_SHA384),
    "sha512WithRSAEncryption": ("300d06092a864886f70d01010d0500", sig.RSA_PKCS1_SHA512),
    "ecdsa-with-sha256": ("300a06082a8648ce3d040302", sig.ECDSA_SHA256),
    "ecdsa-with-sha384": ("300a06082a8648ce3d040303", sig.ECDSA_SHA384),
    "ecdsa-with-sha512": ("300a06082a8648ce3d040304", sig.ECDSA_SHA512),
    "id-Ed25519": ("300506032b6570", sig.ED25519),
    "id-Ed448": ("300506032b6571", sig.ED448),
}

# RFC 7427 A.4.3, RSASSA-PSS with SHA-256, with the trailerField 1 written out (not DER: it is
# the DEFAULT).
RFC7427_A43 = ("30 46 06 09 2a 86 48 86 f7 0d 01 01 0a 30 39 a0"
               "0f 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00"
               "a1 1c 30 1a 06 09 2a 86 48 86 f7 0d 01 01 08 30"
               "0d 06 09 60 86 48 01 65 03 04 02 01 05 00 a2 03"
               "02 01 20 a3 03 02 01 01")
# What Libreswan 4.10 sends and, byte for byte, the only thing it accepts (its pluto binary's
# RSA_PSS_SHA2_*_BLOB): A.4.3's shape in DER, the trailer left out.
LIBRESWAN_PSS = {
    "RSASSA-PSS with SHA2_256": ("304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a86"
                                 "4886f70d010108300d06096086480165030402010500a203020120", sig.RSA_PSS_SHA256),
    "RSASSA-PSS with SHA2_384": ("304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a86"
                                 "4886f70d010108300d06096086480165030402020500a203020130", sig.RSA_PSS_SHA384),
    "RSASSA-PSS with SHA2_512": ("304106092a864886f70d01010a3034a00f300d06096086480165030402030500a11c301a06092a86"
                                 "4886f70d010108300d06096086480165030402030500a203020140", sig.RSA_PSS_SHA512),
}

# Public test keys of libreswan's test suite (testing/baseconfigs, testing/pluto; GPL-2.0-or-later),
# with the CKAID pluto printed next to each: `#pubkey=` / `leftrsasigkey=` and `#ckaid=` / CKAIDNSS.
CORPUS_RSA_KEYS = {
    # west, RSA 2192 bits, e=3 (baseconfigs/v3.32 west ipsec.secrets; also leftrsasigkey= in many tests)
    "b49f1aac9e456e7929c881973a0c6ad37f0f0350":
        "0sAQOm9dY/449sAWr8e3xtV4tJOQ1396zihfGYHkttpT6zlprRmVq8EPKX3vIo+V+SCfDI1BLkYG6cYJgQAX0mt4+VYi2H3c3e9t"
        "OPNbBQ0Bj1mfgE8f9hW7x/H8AE2OSMrDStesHaPC2MMK7WPFmxOpTT1Spzkb1ZXz5yv0obncWyK03nDSQ+d/l/LdadKe9wfXpt"
        "orhhDEsJSgZxhHCFmo9SoYAG/cb8Pif6Fvoyg6nKgNsPSr/36VWOvSlNI6bcKrNdYqkhHr6D2Gk8AwpIjtM6EfKGWtEwZb3I9I"
        "OH/wSHMwVP4NiM/rMZTN2FQPNNbuhJFAYsH1lZBY8gsMpGP8kgfgQwfZqAbD8KiffTr9gVBDf5",
    # east, RSA 2192 bits, e=3
    "61559973d3acef7d3a370e3e82ad92c18a8225f1":
        "0sAQO9bJbr33iJs+13DaF/e+UWwsnkfZIKkJ1VQ7RiEwOFeuAme1QfygmTz/8lyQJMeMqU5T6s0fmo5bt/zCCE4CHJ8A3FRLrz"
        "SGRhWPYPYw3SZx5Zi+zzUDlx+znaEWS2Ys1f040uwVDtnG4iDDmnzmK1r4qADy5MBVyCx40pAi67I1/b8p61feIgcBpj845drE"
        "fwXCZOsdBCYFJKsHclzuCYK0P0x1kaZAGD6k7jGiqSuFWrY91LcEcp3Om0YL9DTViPZHOVcKw1ibLCnNRiwF9WX60b5d1Jk2r1"
        "I4Lt1OfV8VXyLaImpjZTL5T7mSJcR8xtgDCIljgM9fLtN9AJ1QePae+pmc5NGneeOcQ488VRUUjv",
}


# ------------------------------------------------------------------ keys

@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKeyTypes]:
    return {
        "rsa2048": rsa.generate_private_key(65537, 2048),
        "rsa3072": rsa.generate_private_key(65537, 3072),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "ed448": ed448.Ed448PrivateKey.generate(),
    }


def public(key: PrivateKeyTypes) -> Any:
    return key.public_key()


# ------------------------------------------------------------------ AlgorithmIdentifiers

@pytest.mark.parametrize("name", RFC7427_APPENDIX_A)
def test_rfc7427_appendix_a_bytes(name: str) -> None:
    hex_der, scheme = RFC7427_APPENDIX_A[name]
    der = bytes.fromhex(hex_der.replace(" ", ""))
    assert scheme.alg_id == der
    assert sig.parse_algorithm_identifier(der) is scheme
    auth = sig.encode_auth_data(scheme, b"\x01\x02")
    assert auth == bytes((len(der),)) + der + b"\x01\x02"
    assert sig.parse_auth_data(auth) == (scheme, b"\x01\x02")


@pytest.mark.parametrize("name", LIBRESWAN_PSS)
def test_pss_alg_ids_are_libreswans_der_bytes(name: str) -> None:
    """We send RSASSA-PSS as Libreswan does: A.4.3's shape in DER, without the default trailer
    (Libreswan 4.10 refused the explicit trailer: "no acceptable ECDSA/RSA-PSS ASN.1 signature
    hash proposal included for rsasig")."""
    hex_der, scheme = LIBRESWAN_PSS[name]
    assert scheme.name == name and scheme.alg_id.hex() == hex_der
    assert sig.parse_algorithm_identifier(scheme.alg_id) is scheme


def test_rfc7427_a43_explicit_trailer_is_still_read() -> None:
    der = bytes.fromhex(RFC7427_A43.replace(" ", ""))
    assert sig.parse_algorithm_identifier(der) is sig.RSA_PSS_SHA256
    assert sig.parse_auth_data(bytes((len(der),)) + der + b"\x01\x02") == (sig.RSA_PSS_SHA256, b"\x01\x02")


def _pss(hash_alg: bytes | None, mgf: bytes | None, salt: bytes | None, trailer: bytes | None) -> bytes:
    def tlv(tag: int, value: bytes) -> bytes:
        return bytes((tag, len(value))) + value

    body = b"".join(tlv(tag, v) for tag, v in ((0xA0, hash_alg), (0xA1, mgf), (0xA2, salt), (0xA3, trailer))
                    if v is not None)
    return tlv(0x30, bytes.fromhex("06092a864886f70d01010a") + tlv(0x30, body))


SHA256_NULL = bytes.fromhex("300d06096086480165030402010500")
SHA256_ABSENT = bytes.fromhex("300b0609608648016503040201")
SHA384_NULL = bytes.fromhex("300d06096086480165030402020500")
MGF1 = bytes.fromhex("06092a864886f70d010108")


def _mgf(hash_alg: bytes) -> bytes:
    return bytes((0x30, len(MGF1) + len(hash_alg))) + MGF1 + hash_alg


def test_pss_parameters_other_der_encodings_parse_to_the_same_scheme() -> None:
    """Hash parameters absent instead of NULL, and the trailer left at its DER default."""
    int_32, int_1 = bytes.fromhex("020120"), bytes.fromhex("020101")
    for der in (_pss(SHA256_ABSENT, _mgf(SHA256_ABSENT), int_32, int_1),
                _pss(SHA256_NULL, _mgf(SHA256_NULL), int_32, None),
                _pss(SHA256_ABSENT, _mgf(SHA256_NULL), int_32, None)):
        assert sig.parse_algorithm_identifier(der) is sig.RSA_PSS_SHA256


@pytest.mark.parametrize("der, message", [
    (_pss(None, None, None, None), "SHA-1"),
    (bytes.fromhex("300b06092a864886f70d01010a"), "not a SEQUENCE"),  # A.4.1 empty parameters
    (_pss(SHA256_NULL, _mgf(SHA384_NULL), bytes.fromhex("020120"), None), "MGF1 hash differs"),
    (_pss(SHA256_NULL, None, bytes.fromhex("020120"), None), "default mask generation"),
    (_pss(SHA256_NULL, _mgf(SHA256_NULL), bytes.fromhex("020114"), None), "salt length 20"),
    (_pss(SHA256_NULL, _mgf(SHA256_NULL), None, None), "salt length 20"),
    (_pss(SHA256_NULL, _mgf(SHA256_NULL), bytes.fromhex("020120"), bytes.fromhex("020102")), "trailerField"),
    (_pss(SHA256_NULL, _mgf(SHA256_NULL), bytes.fromhex("02020020"), None), "INTEGER"),
    (_pss(bytes.fromhex("300906052b0e03021a0500"), None, None, None), "SHA1 is not accepted"),
    (_pss(bytes.fromhex("300b0609608648016503040204"), None, None, None), "unknown hash 2.16.840.1.101.3.4.2.4"),
    (bytes.fromhex("300b06092a864886f70d01010b"), "unexpected parameters"),  # sha256WithRSA, NULL missing
    (bytes.fromhex("300c06082a8648ce3d0403020500"), "unexpected parameters"),  # ecdsa-with-SHA256 + NULL
    (bytes.fromhex("300b0609608648016503040302"), "2.16.840.1.101.3.4.3.2: not a supported"),  # dsa-with-sha256
    (bytes.fromhex("300506032b6570ff"), "malformed"),  # trailing octet
    (bytes.fromhex("3080"), "indefinite"),
    (bytes.fromhex("308105"), "minimal"),
    (bytes.fromhex("3005"), "runs past"),
])
def test_bad_algorithm_identifiers_are_refused_by_name(der: bytes, message: str) -> None:
    with pytest.raises(sig.AuthDataError, match=re.escape(message)):
        sig.parse_algorithm_identifier(der)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x00abc", "ASN.1 length 0"),
    (b"\x10" + bytes(5), "does not fit"),
    (sig.encode_auth_data(sig.ED25519, b""), "empty signature"),
])
def test_bad_auth_data_framing(data: bytes, message: str) -> None:
    with pytest.raises(sig.AuthDataError, match=message):
        sig.parse_auth_data(data)


def test_errors_are_value_errors() -> None:
    for cls in (sig.AuthDataError, sig.KeyMismatch, sig.NoCommonScheme, sig.HashNotifyError,
                sig.UnsupportedAuthMethod, pk.PublicKeyFormatError):
        assert issubclass(cls, ValueError)


def test_numbers_match_the_codec_enums() -> None:
    assert (sig.AUTH_RSA_SIG, sig.AUTH_ECDSA_SHA256_P256, sig.AUTH_ECDSA_SHA384_P384, sig.AUTH_ECDSA_SHA512_P521,
            sig.AUTH_NULL, sig.AUTH_DIGITAL_SIGNATURE) == (
        AuthMethod.RSA_SIG, AuthMethod.ECDSA_SHA256_P256, AuthMethod.ECDSA_SHA384_P384,
        AuthMethod.ECDSA_SHA512_P521, AuthMethod.NULL_AUTH, AuthMethod.DIGITAL_SIGNATURE)
    assert (sig.HASH_SHA1, sig.HASH_SHA2_256, sig.HASH_SHA2_384, sig.HASH_SHA2_512, sig.HASH_IDENTITY) == (
        HashAlgorithm.SHA1, HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512,
        HashAlgorithm.IDENTITY)


# ------------------------------------------------------------------ sign / verify

DIGSIG_CASES = [
    ("rsa2048", sig.RSA_PSS_SHA256), ("rsa2048", sig.RSA_PSS_SHA384), ("rsa2048", sig.RSA_PSS_SHA512),
    ("rsa2048", sig.RSA_PKCS1_SHA256), ("rsa2048", sig.RSA_PKCS1_SHA1),
    ("rsa3072", sig.RSA_PSS_SHA256), ("rsa3072", sig.RSA_PSS_SHA512), ("rsa3072", sig.RSA_PKCS1_SHA384),
    ("rsa3072", sig.RSA_PKCS1_SHA512),
    ("p256", sig.ECDSA_SHA256), ("p256", sig.ECDSA_SHA512), ("p384", sig.ECDSA_SHA384),
    ("p521", sig.ECDSA_SHA512), ("p521", sig.ECDSA_SHA256),
    ("ed25519", sig.ED25519), ("ed448", sig.ED448),
]


@pytest.mark.parametrize("name, scheme", DIGSIG_CASES, ids=[f"{k}-{s}" for k, s in DIGSIG_CASES])
def test_digital_signature_round_trip(keys: dict[str, PrivateKeyTypes], name: str, scheme: sig.Scheme) -> None:
    key = keys[name]
    auth = sig.make_auth(key, sig.AUTH_DIGITAL_SIGNATURE, OCTETS, scheme)
    assert auth[1 : 1 + auth[0]] == scheme.alg_id
    assert sig.verify(public(key), sig.AUTH_DIGITAL_SIGNATURE, auth, OCTETS)
    assert not sig.verify(public(key), sig.AUTH_DIGITAL_SIGNATURE, auth, OCTETS[:-1] + b"\x00")
    flipped = bytearray(auth)
    flipped[-1] ^= 1
    assert not sig.verify(public(key), sig.AUTH_DIGITAL_SIGNATURE, bytes(flipped), OCTETS)


def test_signatures_are_what_cryptography_checks(keys: dict[str, PrivateKeyTypes]) -> None:
    """Independent checks of the wire forms: PSS salt = hash length, ECDSA DER in method 14."""
    key = keys["rsa3072"]
    assert isinstance(key, rsa.RSAPrivateKey)
    _, signature = sig.parse_auth_data(sig.make_auth(key, 14, OCTETS, sig.RSA_PSS_SHA384))
    key.public_key().verify(signature, OCTETS, padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384())
    eck = keys["p384"]
    assert isinstance(eck, ec.EllipticCurvePrivateKey)
    _, der = sig.parse_auth_data(sig.make_auth(eck, 14, OCTETS, sig.ECDSA_SHA384))
    eck.public_key().verify(der, OCTETS, ec.ECDSA(hashes.SHA384()))


@pytest.mark.parametrize("name", ["rsa2048", "rsa3072"])
def test_rsa_method_1_is_pkcs1_sha1_without_alg_id(keys: dict[str, PrivateKeyTypes], name: str) -> None:
    key = keys[name]
    assert isinstance(key, rsa.RSAPrivateKey)
    auth = sig.make_auth(key, sig.AUTH_RSA_SIG, OCTETS)
    assert len(auth) == key.key_size // 8
    key.public_key().verify(auth, OCTETS, padding.PKCS1v15(), hashes.SHA1())
    assert sig.verify(key.public_key(), sig.AUTH_RSA_SIG, auth, OCTETS)
    assert not sig.verify(key.public_key(), sig.AUTH_RSA_SIG, auth, OCTETS + b"x")


@pytest.mark.parametrize("name, method, size", [("p256", 9, 32), ("p384", 10, 48), ("p521", 11, 66)])
def test_rfc4754_methods_send_r_and_s(keys: dict[str, PrivateKeyTypes], name: str, method: int, size: int) -> None:
    key = keys[name]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    auth = sig.make_auth(key, method, OCTETS)
    assert len(auth) == 2 * size
    assert sig.verify(key.public_key(), method, auth, OCTETS)
    assert not sig.verify(key.public_key(), method, auth, b"other octets")
    with pytest.raises(sig.AuthDataError, match=f"expected {2 * size}"):
        sig.verify(key.public_key(), method, auth[:-1], OCTETS)


def test_wrong_key_for_the_scheme_is_refused(keys: dict[str, PrivateKeyTypes]) -> None:
    with pytest.raises(sig.KeyMismatch, match="cannot make RSASSA-PSS with SHA2_256"):
        sig.make_auth(keys["p256"], 14, OCTETS, sig.RSA_PSS_SHA256)
    with pytest.raises(sig.KeyMismatch, match="cannot make"):
        sig.make_auth(keys["rsa2048"], 9, OCTETS)
    with pytest.raises(sig.KeyMismatch, match="needs an RSA key"):
        sig.KeySigner(keys["ed25519"]).sign(sig.RSA_PKCS1_SHA1, OCTETS)
    with pytest.raises(sig.KeyMismatch, match="needs a secp256r1 key, not secp384r1"):
        sig.verify(public(keys["p384"]), 9, sig.make_auth(keys["p256"], 9, OCTETS), OCTETS)
    ecdsa_auth = sig.make_auth(keys["p256"], 14, OCTETS, sig.ECDSA_SHA256)
    with pytest.raises(sig.KeyMismatch, match="ECDSA with SHA2_256 needs an ECDSA key, not RSA"):
        sig.verify(public(keys["rsa2048"]), 14, ecdsa_auth, OCTETS)
    with pytest.raises(sig.KeyMismatch, match="X25519PrivateKey cannot sign"):
        sig.KeySigner(x25519.X25519PrivateKey.generate())
    with pytest.raises(sig.KeyMismatch, match="method 10 signs with ECDSA with SHA2_384"):
        sig.make_auth(keys["p384"], 10, OCTETS, sig.ECDSA_SHA256)
    with pytest.raises(sig.SignatureError, match="needs a scheme"):
        sig.make_auth(keys["p256"], 14, OCTETS)
    with pytest.raises(sig.KeyMismatch, match="PublicKey cannot sign"):
        sig.make_auth(public(keys["p256"]), 14, OCTETS, sig.ECDSA_SHA256)
    with pytest.raises(sig.KeyMismatch, match="not a private key"):
        sig.verify(keys["p256"], 14, ecdsa_auth, OCTETS)


def test_prf_methods_and_unknown_methods_are_not_signatures(keys: dict[str, PrivateKeyTypes]) -> None:
    for method in (2, 13):
        with pytest.raises(sig.UnsupportedAuthMethod, match="PRF MIC"):
            sig.verify(public(keys["p256"]), method, b"x" * 32, OCTETS)
    with pytest.raises(sig.UnsupportedAuthMethod, match="method 3 is not"):
        sig.make_auth(keys["p256"], 3, OCTETS)


def test_local_policy_can_refuse_a_scheme(keys: dict[str, PrivateKeyTypes]) -> None:
    auth = sig.make_auth(keys["rsa2048"], 1, OCTETS)
    sha2_only = [s for s in sig.SCHEMES if s.hash_id != sig.HASH_SHA1]
    with pytest.raises(sig.AuthDataError, match="RSA PKCS#1 v1.5 with SHA1 is not accepted"):
        sig.verify(public(keys["rsa2048"]), 1, auth, OCTETS, accept=sha2_only)
    auth14 = sig.make_auth(keys["rsa2048"], 14, OCTETS, sig.RSA_PSS_SHA256)
    assert sig.verify(public(keys["rsa2048"]), 14, auth14, OCTETS, accept=sha2_only)


class RemoteSigner:
    """A plugin-style signer: only PSS-SHA256, the key hidden behind ``sign``."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._sign = lambda data: key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        self._public = key.public_key()
        self.calls = 0

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    def schemes(self) -> frozenset[sig.Scheme]:
        return frozenset({sig.RSA_PSS_SHA256})

    def sign(self, scheme: sig.Scheme, data: bytes) -> bytes:
        self.calls += 1
        return self._sign(data)


def test_an_external_signer_plugs_in(keys: dict[str, PrivateKeyTypes]) -> None:
    key = keys["rsa2048"]
    assert isinstance(key, rsa.RSAPrivateKey)
    remote = RemoteSigner(key)
    assert isinstance(remote, sig.Signer)
    assert sig.as_signer(remote) is remote
    auth = sig.make_auth(remote, 14, OCTETS, sig.RSA_PSS_SHA256)
    assert remote.calls == 1 and sig.verify(key.public_key(), 14, auth, OCTETS)
    with pytest.raises(sig.KeyMismatch, match="cannot make RSA PKCS#1 v1.5 with SHA1"):
        sig.make_auth(remote, 1, OCTETS)
    assert sig.choose_auth(key.public_key(), [2, 3, 4], available=remote.schemes()) == (14, sig.RSA_PSS_SHA256)


def test_key_signer_hides_the_key(keys: dict[str, PrivateKeyTypes]) -> None:
    signer = sig.KeySigner(keys["ed25519"])
    assert "key" not in repr(signer).replace("KeySigner", "") and signer.schemes() == {sig.ED25519}


# ------------------------------------------------------------------ hash notify and choice

def test_hash_algorithms_notify_data() -> None:
    assert sig.encode_hash_algorithms([2, 3, 4, 5]) == bytes.fromhex("0002000300040005")
    assert sig.decode_hash_algorithms(bytes.fromhex("000200030004000500ff")) == (2, 3, 4, 5, 255)
    assert sig.decode_hash_algorithms(b"") == ()
    with pytest.raises(sig.HashNotifyError, match="odd length 3"):
        sig.decode_hash_algorithms(b"\x00\x02\x00")
    with pytest.raises(sig.HashNotifyError):
        sig.encode_hash_algorithms([0x10000])
    assert sig.announced_hashes() == (2, 3, 4, 5)
    assert sig.announced_hashes(eddsa=False) == (2, 3, 4)


@pytest.mark.parametrize("name, peer, options, expected", [
    ("rsa2048", [1, 2, 3, 4, 5], {}, (14, sig.RSA_PSS_SHA512)),  # Libreswan: "RSASSA-PSS with SHA2_512"
    ("rsa2048", [2], {}, (14, sig.RSA_PSS_SHA256)),
    ("rsa2048", [2, 3], {"rsa_pss": False}, (14, sig.RSA_PKCS1_SHA384)),
    ("rsa2048", None, {}, (1, sig.RSA_PKCS1_SHA1)),
    ("rsa2048", [], {}, (1, sig.RSA_PKCS1_SHA1)),
    ("rsa2048", [2, 3, 4], {"policy": [2]}, (14, sig.RSA_PSS_SHA256)),
    ("p256", [2, 3, 4], {}, (14, sig.ECDSA_SHA512)),  # Libreswan: "P-256 ECDSA with SHA2_512"
    ("p256", [2, 3, 4], {"ecdsa_by_curve": True}, (14, sig.ECDSA_SHA256)),
    ("p384", [2, 3, 4], {"ecdsa_by_curve": True}, (14, sig.ECDSA_SHA384)),
    ("p521", None, {"ecdsa_rfc4754": True}, (11, sig.ECDSA_SHA512)),
    ("ed25519", [2, 5], {}, (14, sig.ED25519)),
    ("ed448", [5], {}, (14, sig.ED448)),
])
def test_choose_auth(keys: dict[str, PrivateKeyTypes], name: str, peer: list[int] | None,
                     options: dict[str, Any], expected: tuple[int, sig.Scheme]) -> None:
    assert sig.choose_auth(keys[name], peer, **options) == expected
    assert sig.choose_auth(public(keys[name]), peer, **options) == expected


@pytest.mark.parametrize("name, peer, options, message", [
    ("rsa2048", None, {"rsa_v1_5": False}, "sent no SIGNATURE_HASH_ALGORITHMS"),
    ("rsa2048", [1], {}, r"peer's hashes \(SHA1\)"),
    ("p256", None, {}, "sent no SIGNATURE_HASH_ALGORITHMS"),
    ("p256", [2], {"ecdsa_by_curve": True, "policy": [4, 3]}, "no ECDSA scheme"),
    ("ed25519", [2, 3, 4], {}, "IDENTITY"),
    ("ed25519", [5], {"available": frozenset()}, "cannot make Ed25519"),
])
def test_choose_auth_says_why_nothing_fits(keys: dict[str, PrivateKeyTypes], name: str, peer: list[int] | None,
                                           options: dict[str, Any], message: str) -> None:
    with pytest.raises(sig.NoCommonScheme, match=message):
        sig.choose_auth(keys[name], peer, **options)


def test_null_auth_is_the_psk_mic_keyed_with_sk_p() -> None:
    """RFC 7619 2.1: SK_pi / SK_pr take the place of the shared secret."""
    prf = PRFS[PRF_HMAC_SHA2_256]
    sk_pi, sk_pr = bytes(range(32)), bytes(range(32, 64))
    assert sig.null_auth(prf, sk_pi, OCTETS) == psk_auth(prf, sk_pi, OCTETS)
    assert sig.null_auth(prf, sk_pi, OCTETS) != sig.null_auth(prf, sk_pr, OCTETS)
    assert len(sig.null_auth(prf, sk_pi, OCTETS)) == 32


# ------------------------------------------------------------------ public keys, CKAIDs

@pytest.mark.parametrize("ckaid", CORPUS_RSA_KEYS)
def test_corpus_rsasigkey_round_trips_and_ckaid(ckaid: str) -> None:
    text = CORPUS_RSA_KEYS[ckaid]
    key = pk.parse_rsasigkey(text)
    assert key.key_size == 2192 and key.public_numbers().e == 3
    assert pk.encode_rsasigkey(key) == text
    assert pk.ckaid_hex(key) == ckaid
    hex_form = pk.encode_rsasigkey(key, "0x")
    assert hex_form == "0x" + base64.b64decode(text[2:]).hex()
    assert pk.parse_rsasigkey(hex_form).public_numbers() == key.public_numbers()
    assert pk.parse_rsasigkey("0x" + "_".join(re.findall("..", hex_form[2:]))).public_numbers() == key.public_numbers()


CKAID_PAIR = re.compile(r"#ckaid=([0-9a-f]{40})\s*\n\s*#pubkey=(0s\S+)"
                        r"|#pubkey=(0s\S+)[\s\S]*?CKAIDNSS: 0x([0-9a-f]{40})")


def test_every_corpus_rsa_key_parses_and_re_encodes(corpus: Path) -> None:
    """Every rsasigkey=/#pubkey= in the shared corpus: same text back; every ckaid pair matches."""
    texts: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for path in (corpus / "libreswan-conf").rglob("*"):
        if not path.is_file():
            continue
        content = path.read_text(errors="replace")
        texts.update(re.findall(r"(?:rsasigkey|pubkey)=(0[sx][A-Za-z0-9+/=]+)\s", content))
        for m in CKAID_PAIR.finditer(content):
            pairs.add((m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3)))
    deliberately_bad = {t for t in texts if set(t[2:]) == {"0"}}  # linux-audit-02: a key that must fail
    assert len(texts - deliberately_bad) >= 5 and len(pairs) >= 5
    for text in texts - deliberately_bad:
        assert pk.encode_rsasigkey(pk.parse_rsasigkey(text), "0x" if text.startswith("0x") else "0s") == text
    for text in deliberately_bad:
        with pytest.raises(pk.PublicKeyFormatError, match="not a usable RSA key"):
            pk.parse_rsasigkey(text)
    for ckaid, text in pairs:
        assert pk.ckaid_hex(pk.parse_rsasigkey(text)) == ckaid


def test_rfc3110_exponent_length_forms() -> None:
    n = rsa.generate_private_key(65537, 1024).public_key().public_numbers().n
    for e in (3, 65537):
        numbers = rsa.RSAPublicNumbers(e, n)
        raw = pk.key_to_rfc3110(numbers.public_key())
        elen = (e.bit_length() + 7) // 8
        assert raw[0] == elen and pk.rfc3110_to_key(raw).public_numbers() == numbers
    long_form = b"\x00\x00\x03" + (65537).to_bytes(3, "big") + n.to_bytes(128, "big")
    with pytest.raises(pk.PublicKeyFormatError, match="should use the 1-octet form"):
        pk.rfc3110_to_key(long_form)
    long_e = (1 << 2047) + 1  # 256 octets: the 3-octet length form, parsed and re-encoded
    modulus = (1 << 4095) + 2 * n + 1
    raw = b"\x00\x01\x00" + long_e.to_bytes(256, "big") + modulus.to_bytes(512, "big")
    key = pk.rfc3110_to_key(raw)
    assert key.public_numbers().e == long_e and pk.key_to_rfc3110(key) == raw


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("%cert", "keyword"),
    ("0s!!!!", "not valid base64"),
    ("0xABC", "not valid hex"),
    ("0sAQM=", "too short"),
    ("0s" + base64.b64encode(b"\x05\x01\x00\x01\x00\x01").decode(), "leaves no modulus"),
    ("0s" + base64.b64encode(b"\x01\x03\x00\xc5\x01").decode(), "leading zero"),
])
def test_bad_rsasigkeys_say_why(text: str, message: str) -> None:
    with pytest.raises(pk.PublicKeyFormatError, match=message):
        pk.parse_rsasigkey(text)


def test_pubkey_spki_round_trip_for_every_kind(keys: dict[str, PrivateKeyTypes]) -> None:
    for private in keys.values():
        key = public(private)
        text = pk.encode_pubkey(key)
        assert text.startswith("0s")
        assert pk.parse_pubkey(text).public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo) == \
            base64.b64decode(text[2:])
        assert pk.ckaid(pk.parse_pubkey(text[2:])) == pk.ckaid(key)  # bare base64 as showhostkey --pubkey


def test_pubkey_rsa_spki_without_null_parameters(keys: dict[str, PrivateKeyTypes]) -> None:
    """``ipsec showhostkey --pem`` omits rsaEncryption's NULL (whack-hostkey-01 description)."""
    key = public(keys["rsa2048"])
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert der[4:19] == bytes.fromhex("300d06092a864886f70d0101010500")
    body = bytes.fromhex("300b06092a864886f70d010101") + der[19:]
    libreswan = b"\x30\x82" + len(body).to_bytes(2, "big") + body
    parsed = pk.parse_pubkey("0s" + base64.b64encode(libreswan).decode())
    assert isinstance(parsed, rsa.RSAPublicKey) and parsed.public_numbers() == key.public_numbers()


@pytest.mark.parametrize("name, size", [("p256", 64), ("p384", 96), ("p521", 132)])
def test_raw_ecdsa_keys(keys: dict[str, PrivateKeyTypes], name: str, size: int) -> None:
    key = public(keys[name])
    text = pk.encode_raw_pubkey(key)
    raw = base64.b64decode(text[2:])
    assert len(raw) == size
    assert pk.encode_pubkey(pk.parse_pubkey(text, "ecdsa")) == pk.encode_pubkey(key)
    sec1 = "0s" + base64.b64encode(b"\x04" + raw).decode()
    assert pk.encode_pubkey(pk.parse_pubkey(sec1, "ecdsa")) == pk.encode_pubkey(key)
    assert pk.ckaid(key) == hashlib.sha1(b"\x04" + raw).digest()


def test_raw_eddsa_keys_and_kind_errors(keys: dict[str, PrivateKeyTypes]) -> None:
    for name, size in (("ed25519", 32), ("ed448", 57)):
        key = public(keys[name])
        text = pk.encode_raw_pubkey(key)
        assert len(base64.b64decode(text[2:])) == size
        assert pk.ckaid(pk.parse_pubkey(text, "eddsa")) == pk.ckaid(key)
    with pytest.raises(pk.PublicKeyFormatError, match="expected 32 .* or 57"):
        pk.parse_pubkey("0s" + base64.b64encode(bytes(31)).decode(), "eddsa")
    with pytest.raises(pk.PublicKeyFormatError, match="expected X\\|\\|Y of 64, 96 or 132"):
        pk.parse_pubkey("0s" + base64.b64encode(bytes(63)).decode(), "ecdsa")
    with pytest.raises(pk.PublicKeyFormatError, match="not a point on secp256r1"):
        pk.parse_pubkey("0s" + base64.b64encode(bytes(64)).decode(), "ecdsa")
    with pytest.raises(pk.PublicKeyFormatError, match="expected an ECDSA key, got RSA"):
        pk.parse_pubkey(pk.encode_pubkey(public(keys["rsa2048"])), "ecdsa")
    x = x25519.X25519PrivateKey.generate().public_key()
    x_spki = x.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(pk.PublicKeyFormatError, match="X25519PublicKey cannot authenticate"):
        pk.parse_pubkey("0s" + base64.b64encode(x_spki).decode())
    unknown = bytes.fromhex("300b" "300506032a0304" "03020000")  # algorithm 1.2.3.4
    with pytest.raises(pk.PublicKeyFormatError, match="unsupported algorithm.*1.2.3.4"):
        pk.parse_pubkey("0s" + base64.b64encode(unknown).decode())


# ------------------------------------------------------------------ hostile bytes

@SETTINGS
@given(st.binary(max_size=300))
def test_fuzz_auth_data_parser(data: bytes) -> None:
    try:
        scheme, signature = sig.parse_auth_data(data)
    except sig.AuthDataError:
        return
    assert scheme in sig.SCHEMES and signature


def _mutations() -> st.SearchStrategy[bytes]:
    seeds = [sig.encode_auth_data(s, b"\x30\x06\x02\x01\x01\x02\x01\x01") for s in sig.SCHEMES]

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
            pos = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "flip" and data:
                data[pos] ^= 1 << draw(st.integers(0, 7))
            elif op == "insert":
                data.insert(pos, draw(st.integers(0, 255)))
            elif op == "delete" and data:
                del data[pos]
            else:
                del data[pos:]
        return bytes(data)

    return mutate()


@SETTINGS
@given(_mutations())
def test_fuzz_mutated_auth_data(data: bytes) -> None:
    try:
        sig.parse_auth_data(data)
    except sig.AuthDataError:
        pass


ECDSA_P256 = ec.generate_private_key(ec.SECP256R1())
ED25519_KEY = ed25519.Ed25519PrivateKey.generate()


@SETTINGS
@given(st.sampled_from([1, 9, 10, 14]), _mutations() | st.binary(max_size=200))
def test_fuzz_verify_never_crashes(method: int, data: bytes) -> None:
    for key in (ECDSA_P256.public_key(), ED25519_KEY.public_key()):
        try:
            assert sig.verify(key, method, data, OCTETS) in (True, False)
        except sig.SignatureError:
            pass


SPKI_SEEDS = [public(k).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
              for k in (ECDSA_P256, ED25519_KEY)]


@st.composite
def _spki_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SPKI_SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@SETTINGS
@given(st.sampled_from(["0s", "0x", ""]), st.binary(max_size=300) | _spki_mutations(),
       st.sampled_from([None, "rsa", "ecdsa", "eddsa"]))
def test_fuzz_pubkey_parser(prefix: str, data: bytes, kind: Any) -> None:
    text = prefix + (data.hex() if prefix == "0x" else base64.b64encode(data).decode())
    try:
        pk.parse_pubkey(text, kind)
    except pk.PublicKeyFormatError:
        pass
