"""Benchmark signature AUTH: our make_auth/verify against cryptography's own sign/verify.

Run: ``python3 bench/bench_signatures.py [iterations]`` from the repository root.
Keys: RSA-3072 with RSASSA-PSS SHA2_512 (Libreswan's usual choice) and SHA2_256, ECDSA P-256
with SHA2_256 and with SHA2_512, Ed25519; all over ~600 octets of signed data (an IKE_SA_INIT
message, a nonce and the MACed ID). Same process, same keys, interleaved rounds; the
ratio is ours / cryptography's (1.00 = no overhead) from each side's best round (the
minimum is the estimate least disturbed by other load on a shared machine).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

from pluto_core.ikev2.crypto import signatures as sig  # noqa: E402

OCTETS = bytes(range(256)) * 2 + bytes(32) + bytes(range(48))


def per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


Fn = Callable[[], object]
Case = tuple[str, int, Fn, Fn, Fn, Fn]


def rsa_case(key: rsa.RSAPrivateKey, scheme: sig.Scheme, h: hashes.HashAlgorithm) -> Case:
    pad = padding.PSS(padding.MGF1(h), h.digest_size)
    auth = sig.make_auth(key, 14, OCTETS, scheme)
    raw = sig.parse_auth_data(auth)[1]
    public = key.public_key()
    return (f"RSA-{key.key_size} {scheme}", 1,
            lambda: sig.make_auth(key, 14, OCTETS, scheme), lambda: key.sign(OCTETS, pad, h),
            lambda: sig.verify(public, 14, auth, OCTETS), lambda: public.verify(raw, OCTETS, pad, h))


def ecdsa_case(key: ec.EllipticCurvePrivateKey, method: int, scheme: sig.Scheme, h: hashes.HashAlgorithm) -> Case:
    auth = sig.make_auth(key, method, OCTETS, scheme)
    if method == 14:
        der = sig.parse_auth_data(auth)[1]
    else:  # RFC 4754 r||s: cryptography checks the DER form of the same values
        size = len(auth) // 2
        der = encode_dss_signature(int.from_bytes(auth[:size], "big"), int.from_bytes(auth[size:], "big"))
    public = key.public_key()
    label = f"{key.curve.name} {scheme}" + ("" if method == 14 else f" (method {method}, r||s)")
    return (label, 10,
            lambda: sig.make_auth(key, method, OCTETS, scheme), lambda: key.sign(OCTETS, ec.ECDSA(h)),
            lambda: sig.verify(public, method, auth, OCTETS), lambda: public.verify(der, OCTETS, ec.ECDSA(h)))


def ed25519_case(key: ed25519.Ed25519PrivateKey) -> Case:
    auth = sig.make_auth(key, 14, OCTETS, sig.ED25519)
    raw = sig.parse_auth_data(auth)[1]
    public = key.public_key()
    return ("Ed25519", 20,
            lambda: sig.make_auth(key, 14, OCTETS, sig.ED25519), lambda: key.sign(OCTETS),
            lambda: sig.verify(public, 14, auth, OCTETS), lambda: public.verify(raw, OCTETS))


def cases() -> list[Case]:
    """(label, iterations weight, ours sign, theirs sign, ours verify, theirs verify)."""
    rsa_key = rsa.generate_private_key(65537, 3072)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return [
        rsa_case(rsa_key, sig.RSA_PSS_SHA512, hashes.SHA512()),
        rsa_case(rsa_key, sig.RSA_PSS_SHA256, hashes.SHA256()),
        ecdsa_case(ec_key, 14, sig.ECDSA_SHA256, hashes.SHA256()),
        ecdsa_case(ec_key, 14, sig.ECDSA_SHA512, hashes.SHA512()),
        ecdsa_case(ec_key, 9, sig.ECDSA_SHA256, hashes.SHA256()),
        ed25519_case(ed25519.Ed25519PrivateKey.generate()),
    ]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rounds = 15
    print(f"{'case':46} {'sign us':>9} {'crypto':>9} {'ratio':>6} {'verify us':>10} {'crypto':>9} {'ratio':>6}")
    for label, weight, ours_s, theirs_s, ours_v, theirs_v in cases():
        iters = max(1, n * weight // 30)
        timings: dict[str, list[float]] = {"os": [], "ts": [], "ov": [], "tv": []}
        for _ in range(rounds):  # interleaved, so drift hits both sides alike
            timings["os"].append(per_call_us(ours_s, iters))
            timings["ts"].append(per_call_us(theirs_s, iters))
            timings["ov"].append(per_call_us(ours_v, iters))
            timings["tv"].append(per_call_us(theirs_v, iters))
        m = {k: min(v) for k, v in timings.items()}  # best round: the least disturbed by other load
        print(f"{label:46} {m['os']:9.1f} {m['ts']:9.1f} {m['os'] / m['ts']:6.2f} "
              f"{m['ov']:10.1f} {m['tv']:9.1f} {m['ov'] / m['tv']:6.2f}")


if __name__ == "__main__":
    main()
