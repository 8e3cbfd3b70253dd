"""Build SA payload proposals from transform IDs (the config layer's ProposalSets end here)."""

from __future__ import annotations

from collections.abc import Iterable

from pluto_core.ikev2.enums import ProtocolId, TransformType
from pluto_core.ikev2.payloads import Proposal, Transform


def build_proposal(num: int, protocol: int, encrs: Iterable[tuple[int, int | None]], prfs: Iterable[int] = (),
                   integs: Iterable[int] = (), groups: Iterable[int] = (), esn: Iterable[int] = ()) -> Proposal:
    """One proposal; ``encrs`` are (transform id, key bits or None)."""
    transforms: list[Transform] = []
    for encr, bits in encrs:
        transforms.append(Transform.with_key_length(TransformType.ENCR, encr, bits) if bits
                          else Transform(TransformType.ENCR, encr))
    transforms += [Transform(TransformType.PRF, p) for p in prfs]
    transforms += [Transform(TransformType.INTEG, i) for i in integs]
    transforms += [Transform(TransformType.KE, g) for g in groups]
    transforms += [Transform(TransformType.ESN, e) for e in esn]
    return Proposal(num, protocol, b"", transforms)


def ike_proposal(num: int, encrs: Iterable[tuple[int, int | None]], prfs: Iterable[int],
                 integs: Iterable[int], groups: Iterable[int]) -> Proposal:
    return build_proposal(num, ProtocolId.IKE, encrs, prfs, integs, groups)


def esp_proposal(num: int, encrs: Iterable[tuple[int, int | None]], integs: Iterable[int] = (),
                 groups: Iterable[int] = (), esn: Iterable[int] = (0,)) -> Proposal:
    return build_proposal(num, ProtocolId.ESP, encrs, (), integs, groups, esn)
