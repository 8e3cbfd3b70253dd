"""IKEv2 transform IDs to PF_KEY algorithm numbers, with each kernel's limits.

PF_KEY names an algorithm by one octet (``sadb_sa_auth``/``sadb_sa_encrypt``)
and has no field for an ICV length, so what a kernel installs for a number is
fixed by that kernel:

* Linux ``af_key`` (``<linux/pfkeyv2.h>``, ``net/xfrm/xfrm_algo.c``) looks
  encryption numbers up in its cipher table only, so AEADs (AES-GCM, AES-CCM,
  AES-GMAC, ChaCha20-Poly1305) are refused with ENOSYS; and it installs
  ``SADB_X_AALG_SHA2_256HMAC`` with a 96-bit ICV, not RFC 4868's 128 bits, which
  no RFC 4868 peer accepts. Both are refused here, before the kernel is asked.
  SHA2-384/512 get their RFC 4868 192/256 bits.
* FreeBSD and NetBSD (``<net/pfkeyv2.h>``) number AES-GCM-16 20 and AES-GMAC
  23 and implement the 16-octet ICV only (FreeBSD ``xform_esp.c`` picks the
  GMAC hash from the key size); HMAC-SHA2 ICVs follow RFC 4868. ChaCha20-
  Poly1305 has no number in the headers this mapping was taken from.

Key material is what RFC 7296 section 2.17 derives: for AES-CTR (RFC 3686
section 5.1) and AES-GCM/GMAC (RFC 4106 section 8.1, RFC 4543 section 3.2)
it ends with a 4-octet nonce/salt, which every kernel takes as part of the
``sadb_key`` (Linux lists ``rfc3686(ctr(aes))`` as 160-288 bits).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pluto_bsdkame.extensions import Alg
from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.kernel.types import SaSpec


@dataclass(frozen=True, slots=True)
class SadbEncr:
    id: int
    salt_bits: int = 0  # key material after the cipher key (nonce/salt)
    aead: bool = False


_COMMON_ENCR: dict[int, SadbEncr] = {
    EncrId.TRIPLE_DES: SadbEncr(3),  # SADB_EALG_3DESCBC
    EncrId.CAST: SadbEncr(6),  # SADB_X_EALG_CASTCBC
    EncrId.BLOWFISH: SadbEncr(7),  # SADB_X_EALG_BLOWFISHCBC
    EncrId.NULL: SadbEncr(11),  # SADB_EALG_NULL
    EncrId.AES_CBC: SadbEncr(12),  # SADB_X_EALG_AESCBC
    EncrId.AES_CTR: SadbEncr(13, 32),  # SADB_X_EALG_AESCTR
    EncrId.CAMELLIA_CBC: SadbEncr(22),  # SADB_X_EALG_CAMELLIACBC
}
_KAME_ENCR: dict[int, SadbEncr] = {
    **_COMMON_ENCR,
    EncrId.AES_GCM_16: SadbEncr(20, 32, True),  # SADB_X_EALG_AESGCM16
    EncrId.NULL_AUTH_AES_GMAC: SadbEncr(23, 32, True),  # SADB_X_EALG_AESGMAC
}

_COMMON_INTEG: dict[int, int] = {
    IntegId.HMAC_MD5_96: 2,  # SADB_AALG_MD5HMAC
    IntegId.HMAC_SHA1_96: 3,  # SADB_AALG_SHA1HMAC
    IntegId.AES_XCBC_96: 9,  # SADB_X_AALG_AES_XCBC_MAC
    IntegId.HMAC_SHA2_384_192: 6,  # SADB_X_AALG_SHA2_384(HMAC)
    IntegId.HMAC_SHA2_512_256: 7,  # SADB_X_AALG_SHA2_512(HMAC)
}
_KAME_INTEG: dict[int, int] = {**_COMMON_INTEG, IntegId.HMAC_SHA2_256_128: 5}  # SADB_X_AALG_SHA2_256

_NO_AEAD_LINUX = (
    "Linux af_key (PF_KEY) has no AEAD: it cannot install {name}; use esp=aes-sha1 "
    "(AES-CBC with HMAC-SHA1-96) with --use-bsdkame, or --use-xfrm"
)
_SHA256_LINUX = (
    "Linux af_key (PF_KEY) installs HMAC-SHA2-256 with a 96-bit ICV, not the 128 bits of "
    "RFC 4868, so no peer would accept its packets; use HMAC-SHA1-96 or HMAC-SHA2-512, "
    "or --use-xfrm"
)
_KAME_GCM = "{platform} implements AES-GCM with the 16-octet ICV only ({name} refused); use aes_gcm16"

_LINUX_REFUSED_ENCR: dict[int, str] = {
    e: _NO_AEAD_LINUX
    for e in (
        EncrId.AES_GCM_8,
        EncrId.AES_GCM_12,
        EncrId.AES_GCM_16,
        EncrId.AES_CCM_8,
        EncrId.AES_CCM_12,
        EncrId.AES_CCM_16,
        EncrId.NULL_AUTH_AES_GMAC,
        EncrId.CHACHA20_POLY1305,
    )
}
_KAME_REFUSED_ENCR: dict[int, str] = {EncrId.AES_GCM_8: _KAME_GCM, EncrId.AES_GCM_12: _KAME_GCM}


@dataclass(frozen=True, slots=True)
class Platform:
    """The algorithm table of one kernel family."""

    name: str
    encr: dict[int, SadbEncr]
    integ: dict[int, int]
    refused_encr: dict[int, str]
    refused_integ: dict[int, str]


_LINUX_REFUSED_INTEG: dict[int, str] = {IntegId.HMAC_SHA2_256_128: _SHA256_LINUX}
LINUX = Platform("Linux", _COMMON_ENCR, _COMMON_INTEG, _LINUX_REFUSED_ENCR, _LINUX_REFUSED_INTEG)
FREEBSD = Platform("FreeBSD", _KAME_ENCR, _KAME_INTEG, _KAME_REFUSED_ENCR, {})
NETBSD = Platform("NetBSD", _KAME_ENCR, _KAME_INTEG, _KAME_REFUSED_ENCR, {})
PLATFORMS = {"linux": LINUX, "freebsd": FREEBSD, "netbsd": NETBSD}


@dataclass(frozen=True, slots=True)
class Supported:
    """What SADB_REGISTER answered: algorithm number -> key sizes."""

    auth: dict[int, Alg]
    encrypt: dict[int, Alg]


def _name(enum: type[EncrId] | type[IntegId], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"transform {value}"


def refusal(
    platform: Platform, encr_id: int, key_bits: int, integ_id: int | None, supported: Supported | None = None
) -> str | None:
    """None when this kernel can install an ESP SA with these transforms,
    else the sentence saying why not."""
    name = _name(EncrId, encr_id)
    reason = platform.refused_encr.get(encr_id)
    if reason is not None:
        return reason.format(name=name, platform=platform.name)
    encr = platform.encr.get(encr_id)
    if encr is None:
        return f"the PF_KEY backend has no {platform.name} algorithm number for ENCR {name} ({encr_id})"
    if encr.aead and integ_id:
        return f"{name} is an AEAD: no integrity transform may go with it (RFC 5282 section 8)"
    if supported is not None:
        alg = supported.encrypt.get(encr.id)
        if alg is None:
            return (
                f"this kernel's PF_KEY does not offer {name} (SADB_REGISTER lists no encryption "
                f"algorithm {encr.id}): load its crypto module"
            )
        bits = key_bits + encr.salt_bits if key_bits else 0
        if bits and encr_id != EncrId.NULL and not alg.minbits <= bits <= alg.maxbits:
            return (
                f"this kernel takes {name} keys of {alg.minbits - encr.salt_bits}-"
                f"{alg.maxbits - encr.salt_bits} bits, not {key_bits}"
            )
    if integ_id:
        reason = platform.refused_integ.get(integ_id)
        if reason is not None:
            return reason
        auth = platform.integ.get(integ_id)
        if auth is None:
            return (
                f"the PF_KEY backend has no {platform.name} algorithm number for INTEG "
                f"{_name(IntegId, integ_id)} ({integ_id})"
            )
        if supported is not None and auth not in supported.auth:
            return (
                f"this kernel's PF_KEY does not offer {_name(IntegId, integ_id)} (SADB_REGISTER lists no "
                f"authentication algorithm {auth}): load its crypto module"
            )
    return None


@dataclass(frozen=True, slots=True)
class SaAlgorithms:
    """What goes into ``sadb_sa`` and the two ``sadb_key`` extensions."""

    auth: int
    encrypt: int
    auth_key: bytes | None
    encrypt_key: bytes | None


def sa_algorithms(
    sa: SaSpec, platform: Platform, supported: Supported | None = None, operation: str = "add SA"
) -> SaAlgorithms:
    """Map one SA's transforms, or raise KernelError (EOPNOTSUPP) with the
    reason this kernel cannot carry them."""
    if not sa.encr:  # AH: integrity only
        if not sa.integ:
            raise KernelError(operation, errno.EINVAL, "an AH SA needs an integrity algorithm")
        reason = refusal(platform, EncrId.NULL, 0, sa.integ, supported)
        if reason is not None:
            raise KernelError(operation, errno.EOPNOTSUPP, reason)
        return SaAlgorithms(platform.integ[sa.integ], 0, sa.integ_key, None)
    encr = platform.encr.get(sa.encr)
    key_bits = (len(sa.encr_key) * 8 - encr.salt_bits) if encr is not None else 0
    reason = refusal(platform, sa.encr, key_bits, sa.integ or None, supported)
    if reason is not None:
        raise KernelError(operation, errno.EOPNOTSUPP, reason)
    assert encr is not None
    if sa.icv_bits and not encr.aead and sa.icv_bits != _natural_icv(sa.integ):
        raise KernelError(
            operation,
            errno.EOPNOTSUPP,
            f"PF_KEY has no field for an ICV length: {sa.icv_bits} bits cannot be asked for",
        )
    auth = platform.integ[sa.integ] if sa.integ else 0
    return SaAlgorithms(auth, encr.id, sa.integ_key if sa.integ else None, sa.encr_key)


_ICV: dict[int, int] = {
    IntegId.HMAC_MD5_96: 96,
    IntegId.HMAC_SHA1_96: 96,
    IntegId.AES_XCBC_96: 96,
    IntegId.HMAC_SHA2_256_128: 128,
    IntegId.HMAC_SHA2_384_192: 192,
    IntegId.HMAC_SHA2_512_256: 256,
}


def _natural_icv(integ: int) -> int:
    return _ICV.get(integ, 0)


def supported_from(auth: tuple[Alg, ...], encrypt: tuple[Alg, ...]) -> Supported:
    return Supported({a.id: a for a in auth}, {a.id: a for a in encrypt})
