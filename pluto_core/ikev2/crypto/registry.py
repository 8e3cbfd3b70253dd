"""Transform ID -> implementation maps, and the negotiated ``Suite``.

``make_suite`` turns the transform IDs of an accepted proposal into one frozen object
carrying every size the engine needs (SK_* lengths for slicing, IV/ICV/block sizes).
Suites are cached: there are only a handful of distinct ones in a running daemon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from . import transform_ids as T
from .dh import SUPPORTED_GROUPS, group_name, public_size
from .encr import EncrAlgorithm, encr_algorithm
from .errors import UnsupportedTransform
from .integ import INTEGS, IntegAlgorithm
from .keys import IkeSaKeys, derive_ike_sa_keys, ike_keymat_length, skeyseed
from .prf import PRFS, PrfAlgorithm


def prf_algorithm(transform_id: int) -> PrfAlgorithm:
    try:
        return PRFS[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"PRF transform {transform_id} is not supported") from None


def integ_algorithm(transform_id: int | None) -> IntegAlgorithm | None:
    """The integrity transform; None for AUTH_NONE (0) or an absent transform."""
    if transform_id is None or transform_id == T.AUTH_NONE:
        return None
    try:
        return INTEGS[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"integrity transform {transform_id} is not supported") from None


@dataclass(slots=True, frozen=True)
class Suite:
    """The IKE SA's negotiated algorithms and the sizes derived from them."""

    encr: EncrAlgorithm
    prf: PrfAlgorithm
    integ: IntegAlgorithm | None
    dh_group: int | None
    sk_d_size: int = field(init=False)
    sk_a_size: int = field(init=False)
    sk_e_size: int = field(init=False)
    sk_p_size: int = field(init=False)
    keymat_size: int = field(init=False)
    iv_size: int = field(init=False)
    block_size: int = field(init=False)
    icv_size: int = field(init=False)
    ke_size: int = field(init=False)

    def __post_init__(self) -> None:
        if self.encr.aead and self.integ is not None:
            raise UnsupportedTransform(
                f"{self.encr.name} is an AEAD: integrity must be NONE (RFC 5282 section 8)"
            )
        if not self.encr.aead and self.integ is None:
            raise UnsupportedTransform(f"{self.encr.name} needs an integrity transform")
        if self.dh_group is not None and self.dh_group not in SUPPORTED_GROUPS:
            raise UnsupportedTransform(f"key exchange group {self.dh_group} is not supported")
        setattr_ = object.__setattr__
        setattr_(self, "sk_d_size", self.prf.key_size)
        setattr_(self, "sk_a_size", self.integ.key_size if self.integ is not None else 0)
        setattr_(self, "sk_e_size", self.encr.keymat_size)
        setattr_(self, "sk_p_size", self.prf.key_size)
        setattr_(self, "keymat_size", ike_keymat_length(self.prf, self.encr, self.integ))
        setattr_(self, "iv_size", self.encr.iv_size)
        setattr_(self, "block_size", self.encr.block_size)
        icv = self.integ.icv_size if self.integ is not None else self.encr.icv_size
        setattr_(self, "icv_size", icv)
        setattr_(self, "ke_size", public_size(self.dh_group) if self.dh_group is not None else 0)

    @property
    def aead(self) -> bool:
        return self.encr.aead

    @property
    def name(self) -> str:
        parts = [self.encr.name, self.prf.name]
        if self.integ is not None:
            parts.append(self.integ.name)
        if self.dh_group is not None:
            parts.append(group_name(self.dh_group))
        return "-".join(parts)

    def ike_sa_keys(
        self, ni: bytes, nr: bytes, g_ir: bytes, spi_i: bytes, spi_r: bytes
    ) -> tuple[bytes, IkeSaKeys]:
        """SKEYSEED and the seven SK_* keys of a new IKE SA (RFC 7296 2.14)."""
        seed = skeyseed(self.prf, ni, nr, g_ir)
        return seed, derive_ike_sa_keys(self.prf, self.encr, self.integ, seed, ni, nr, spi_i, spi_r)


@lru_cache(maxsize=128)
def make_suite(
    encr_id: int, encr_key_bits: int | None, prf_id: int, integ_id: int | None, dh_group: int | None
) -> Suite:
    """The Suite for the transform IDs of an accepted IKE proposal (raises UnsupportedTransform)."""
    return Suite(
        encr_algorithm(encr_id, encr_key_bits), prf_algorithm(prf_id), integ_algorithm(integ_id), dh_group
    )
