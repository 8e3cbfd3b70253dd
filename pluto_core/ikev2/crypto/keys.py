"""IKEv2 key derivation: prf+, SKEYSEED, the seven SK_* keys, Child SA KEYMAT, rekeying.

All formulas are RFC 7296: prf+ (2.13), SKEYSEED and SK_* (2.14), Child SA KEYMAT (2.17),
the rekeyed IKE SA's SKEYSEED (2.18).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .encr import EncrAlgorithm
from .integ import IntegAlgorithm
from .prf import PrfAlgorithm


def prf_plus(prf: PrfAlgorithm, key: bytes, seed: bytes, length: int) -> bytes:
    """prf+ (RFC 7296 2.13): T1 | T2 | ... with Tn = prf(K, Tn-1 | S | n), n up to 255."""
    out_size = prf.output_size
    blocks = -(-length // out_size)
    if blocks > 255:
        raise ValueError(f"prf+ cannot produce {length} bytes with {prf.name} (at most {255 * out_size})")
    compute = prf.compute
    out = bytearray()
    t = b""
    for n in range(1, blocks + 1):
        t = compute(key, t + seed + bytes((n,)))
        out += t
    return bytes(out[:length])


def _nonce_key(prf: PrfAlgorithm, ni: bytes, nr: bytes) -> bytes:
    # RFC 7296 2.14: a fixed-key PRF (AES-XCBC, AES-CMAC) whose key size Ni|Nr does not match
    # takes half its key from the start of Ni and half from the start of Nr.
    if prf.fixed_key and len(ni) + len(nr) != prf.key_size:
        half = prf.key_size // 2
        return ni[:half] + nr[:half]
    return ni + nr


def skeyseed(prf: PrfAlgorithm, ni: bytes, nr: bytes, g_ir: bytes) -> bytes:
    """SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 2.14)."""
    return prf.compute(_nonce_key(prf, ni, nr), g_ir)


def rekey_skeyseed(prf: PrfAlgorithm, old_sk_d: bytes, g_ir_new: bytes, ni: bytes, nr: bytes) -> bytes:
    """SKEYSEED of a rekeyed IKE SA = prf(SK_d (old), g^ir (new) | Ni | Nr) (RFC 7296 2.18)."""
    return prf.compute(old_sk_d, g_ir_new + ni + nr)


@dataclass(slots=True, frozen=True)
class IkeSaKeys:
    """SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr; SK_a* are empty for AEAD suites,
    SK_e* include the salt (RFC 5282 7.1, RFC 7634 2). Never in repr: keys stay out of logs."""

    sk_d: bytes = field(repr=False)
    sk_ai: bytes = field(repr=False)
    sk_ar: bytes = field(repr=False)
    sk_ei: bytes = field(repr=False)
    sk_er: bytes = field(repr=False)
    sk_pi: bytes = field(repr=False)
    sk_pr: bytes = field(repr=False)


def ike_keymat_length(prf: PrfAlgorithm, encr: EncrAlgorithm, integ: IntegAlgorithm | None) -> int:
    integ_size = integ.key_size if integ is not None else 0
    return 3 * prf.key_size + 2 * integ_size + 2 * encr.keymat_size


def split_ike_keys(
    keymat: bytes, prf: PrfAlgorithm, encr: EncrAlgorithm, integ: IntegAlgorithm | None
) -> IkeSaKeys:
    """Cut prf+ output into the seven keys, in the RFC 7296 2.14 order."""
    d = prf.key_size
    a = integ.key_size if integ is not None else 0
    e = encr.keymat_size
    if len(keymat) != 3 * d + 2 * a + 2 * e:
        raise ValueError(f"IKE SA keying material must be {3 * d + 2 * a + 2 * e} bytes, got {len(keymat)}")
    cuts = (d, a, a, e, e, d, d)
    parts = []
    pos = 0
    for size in cuts:
        parts.append(keymat[pos : pos + size])
        pos += size
    return IkeSaKeys(*parts)


def derive_ike_sa_keys(
    prf: PrfAlgorithm,
    encr: EncrAlgorithm,
    integ: IntegAlgorithm | None,
    seed_key: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeSaKeys:
    """{SK_d | SK_ai | ... | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (RFC 7296 2.14)."""
    length = ike_keymat_length(prf, encr, integ)
    return split_ike_keys(prf_plus(prf, seed_key, ni + nr + spi_i + spi_r, length), prf, encr, integ)


def child_keymat(
    prf: PrfAlgorithm, sk_d: bytes, ni: bytes, nr: bytes, length: int, g_ir_new: bytes | None = None
) -> bytes:
    """KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with PFS (RFC 7296 2.17)."""
    seed = (g_ir_new + ni + nr) if g_ir_new is not None else ni + nr
    return prf_plus(prf, sk_d, seed, length)


@dataclass(slots=True, frozen=True)
class ChildSaKeys:
    """ESP/AH keys for each direction; encryption keys include their salt."""

    encr_i: bytes = field(repr=False)
    integ_i: bytes = field(repr=False)
    encr_r: bytes = field(repr=False)
    integ_r: bytes = field(repr=False)


def child_keymat_length(encr: EncrAlgorithm | None, integ: IntegAlgorithm | None) -> int:
    e = encr.keymat_size if encr is not None else 0
    a = integ.key_size if integ is not None else 0
    return 2 * (e + a)


def split_child_keys(keymat: bytes, encr: EncrAlgorithm | None, integ: IntegAlgorithm | None) -> ChildSaKeys:
    """Initiator-to-responder keys first, encryption before integrity (RFC 7296 2.17)."""
    e = encr.keymat_size if encr is not None else 0
    a = integ.key_size if integ is not None else 0
    if len(keymat) != 2 * (e + a):
        raise ValueError(f"Child SA keying material must be {2 * (e + a)} bytes, got {len(keymat)}")
    return ChildSaKeys(
        keymat[:e], keymat[e : e + a], keymat[e + a : 2 * e + a], keymat[2 * e + a : 2 * (e + a)]
    )


def derive_child_sa_keys(
    prf: PrfAlgorithm,
    sk_d: bytes,
    encr: EncrAlgorithm | None,
    integ: IntegAlgorithm | None,
    ni: bytes,
    nr: bytes,
    g_ir_new: bytes | None = None,
) -> ChildSaKeys:
    length = child_keymat_length(encr, integ)
    return split_child_keys(child_keymat(prf, sk_d, ni, nr, length, g_ir_new), encr, integ)
