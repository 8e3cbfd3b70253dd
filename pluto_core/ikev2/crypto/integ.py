"""IKEv2 integrity algorithms (transform type 3): truncated MACs for SK payloads and ESP.

``IntegAlgorithm.keyed(key)`` returns a function that MACs bytes and truncates to the
ICV size; the key schedule is done once per key (HMAC inner/outer pads are precomputed
and copied per message).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from . import transform_ids as T
from .prf import aes_cmac, aes_xcbc_mac

Mac = Callable[[bytes], bytes]


@dataclass(slots=True, frozen=True)
class IntegAlgorithm:
    transform_id: int
    name: str
    key_size: int
    icv_size: int
    _factory: Callable[[bytes, int], Mac]

    def keyed(self, key: bytes) -> Mac:
        """A MAC function bound to ``key`` whose output is already ``icv_size`` bytes."""
        if len(key) != self.key_size:
            raise ValueError(f"{self.name} needs a {self.key_size}-byte key, got {len(key)}")
        return self._factory(key, self.icv_size)

    def compute(self, key: bytes, data: bytes) -> bytes:
        return self.keyed(key)(data)


def _hmac_factory(digest: str) -> Callable[[bytes, int], Mac]:
    ctor = getattr(hashlib, digest)

    def factory(key: bytes, icv: int) -> Mac:
        base = hmac.new(key, digestmod=ctor)

        def mac(data: bytes) -> bytes:
            h = base.copy()
            h.update(data)
            return h.digest()[:icv]

        return mac

    return factory


def _xcbc_factory(key: bytes, icv: int) -> Mac:
    return lambda data: aes_xcbc_mac(key, data)[:icv]


def _cmac_factory(key: bytes, icv: int) -> Mac:
    return lambda data: aes_cmac(key, data)[:icv]


INTEGS: dict[int, IntegAlgorithm] = {
    i.transform_id: i
    for i in (
        IntegAlgorithm(T.AUTH_HMAC_SHA1_96, "AUTH_HMAC_SHA1_96", 20, 12, _hmac_factory("sha1")),
        IntegAlgorithm(T.AUTH_HMAC_SHA2_256_128, "AUTH_HMAC_SHA2_256_128", 32, 16, _hmac_factory("sha256")),
        IntegAlgorithm(T.AUTH_HMAC_SHA2_384_192, "AUTH_HMAC_SHA2_384_192", 48, 24, _hmac_factory("sha384")),
        IntegAlgorithm(T.AUTH_HMAC_SHA2_512_256, "AUTH_HMAC_SHA2_512_256", 64, 32, _hmac_factory("sha512")),
        # RFC 3566 (AES-XCBC-MAC-96) and RFC 4494 (AES-CMAC-96): 128-bit key, 96-bit ICV.
        IntegAlgorithm(T.AUTH_AES_XCBC_96, "AUTH_AES_XCBC_96", 16, 12, _xcbc_factory),
        IntegAlgorithm(T.AUTH_AES_CMAC_96, "AUTH_AES_CMAC_96", 16, 12, _cmac_factory),
    )
}
