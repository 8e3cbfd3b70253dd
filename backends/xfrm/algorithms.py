"""IKEv2 transform IDs to the Linux crypto API names XFRM takes.

An AEAD transform (AES-GCM, AES-CCM, ChaCha20-Poly1305, AES-GMAC) travels
as XFRMA_ALG_AEAD with its ICV length; everything else as XFRMA_ALG_CRYPT
plus XFRMA_ALG_AUTH_TRUNC, whose truncation is the transform's own (96 bits
for the RFC 2404/3566/4494 MACs, half the hash for HMAC-SHA2 per RFC 4868
section 2.3). The key material is what RFC 7296 section 2.17 derives: for
the salted modes it ends with the salt, which the kernel's ``rfc*`` template
takes as part of the key.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.kernel.types import SaSpec


@dataclass(frozen=True, slots=True)
class EncrName:
    kernel: str
    aead: bool = False
    icv_bits: int = 0
    salt: int = 0  # octets of salt/nonce at the end of the key material


ENCR_NAMES: dict[int, EncrName] = {
    EncrId.NULL: EncrName("ecb(cipher_null)"),
    EncrId.AES_CBC: EncrName("cbc(aes)"),
    EncrId.AES_CTR: EncrName("rfc3686(ctr(aes))", salt=4),  # RFC 5930 section 2: 4-octet nonce
    EncrId.AES_CCM_8: EncrName("rfc4309(ccm(aes))", True, 64, 3),  # RFC 4309 section 7.1
    EncrId.AES_CCM_12: EncrName("rfc4309(ccm(aes))", True, 96, 3),
    EncrId.AES_CCM_16: EncrName("rfc4309(ccm(aes))", True, 128, 3),
    EncrId.AES_GCM_8: EncrName("rfc4106(gcm(aes))", True, 64, 4),  # RFC 4106 section 8.1
    EncrId.AES_GCM_12: EncrName("rfc4106(gcm(aes))", True, 96, 4),
    EncrId.AES_GCM_16: EncrName("rfc4106(gcm(aes))", True, 128, 4),
    EncrId.NULL_AUTH_AES_GMAC: EncrName("rfc4543(gcm(aes))", True, 128, 4),  # RFC 4543 section 3.2
    EncrId.CHACHA20_POLY1305: EncrName("rfc7539esp(chacha20,poly1305)", True, 128, 4),  # RFC 7634 sec. 2
}

ENCR_3DES = 3
ENCR_NAMES[ENCR_3DES] = EncrName("cbc(des3_ede)")

INTEG_NAMES: dict[int, tuple[str, int]] = {
    IntegId.HMAC_MD5_96: ("hmac(md5)", 96),
    IntegId.HMAC_SHA1_96: ("hmac(sha1)", 96),
    IntegId.AES_XCBC_96: ("xcbc(aes)", 96),
    IntegId.AES_CMAC_96: ("cmac(aes)", 96),
    IntegId.HMAC_SHA2_256_128: ("hmac(sha256)", 128),
    IntegId.HMAC_SHA2_384_192: ("hmac(sha384)", 192),
    IntegId.HMAC_SHA2_512_256: ("hmac(sha512)", 256),
}


@dataclass(frozen=True, slots=True)
class KernelAlgorithms:
    """What one SA carries: ``aead`` alone, or ``crypt`` and/or ``auth``.

    Each is (kernel name, key, ICV or truncation bits)."""

    aead: tuple[str, bytes, int] | None = None
    crypt: tuple[str, bytes] | None = None
    auth: tuple[str, bytes, int] | None = None


def kernel_algorithms(sa: SaSpec) -> KernelAlgorithms:
    """Map the SA's transforms, or raise KernelError (EINVAL) naming the one
    this backend cannot express."""
    if not sa.encr:  # AH: integrity only
        return KernelAlgorithms(auth=_auth(sa))
    encr = ENCR_NAMES.get(sa.encr)
    if encr is None:
        raise KernelError("add SA", errno.EINVAL, f"the XFRM backend has no kernel algorithm for ENCR transform "
                          f"{_name(EncrId, sa.encr)}")
    if len(sa.encr_key) < encr.salt:
        raise KernelError("add SA", errno.EINVAL, f"{encr.kernel} needs {encr.salt} octets of salt after the key")
    if encr.aead:
        if sa.integ:
            raise KernelError("add SA", errno.EINVAL, f"{encr.kernel} is an AEAD: no integrity transform "
                              f"may go with it (RFC 5282 section 8)")
        return KernelAlgorithms(aead=(encr.kernel, sa.encr_key, sa.icv_bits or encr.icv_bits))
    return KernelAlgorithms(crypt=(encr.kernel, sa.encr_key), auth=_auth(sa))


def _auth(sa: SaSpec) -> tuple[str, bytes, int] | None:
    if not sa.integ:
        return None
    integ = INTEG_NAMES.get(sa.integ)
    if integ is None:
        raise KernelError("add SA", errno.EINVAL, f"the XFRM backend has no kernel algorithm for INTEG "
                          f"transform {_name(IntegId, sa.integ)}")
    return (integ[0], sa.integ_key, sa.icv_bits or integ[1])


def _name(enum: type[EncrId] | type[IntegId], value: int) -> str:
    try:
        return f"{enum(value).name} ({value})"
    except ValueError:
        return str(value)
