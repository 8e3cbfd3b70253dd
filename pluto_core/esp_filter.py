"""The ESP algorithms of a conn that the kernel backend can install: the rest are not offered.

A peer that picked an algorithm the kernel cannot install (AES-GCM over Linux ``af_key``, ESN
over PF_KEY v2) would get an IKE SA whose Child SA fails to install; filtering before the conn
reaches the engine turns that into a log line when the conn is added, or a refusal when nothing
is left. The backend answers through the kernel port: ``Kernel.check_child`` and the ESN refusal
it declares in its features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pluto_core.errors import ConfigError
from pluto_core.ikev2.conn import EngineConn
from pluto_core.ikev2.enums import TransformType
from pluto_core.ikev2.payloads import Proposal
from pluto_core.kernel.port import Kernel
from pluto_core.kernel.types import KernelFeatures

__all__ = ["kernel_filter", "route_refusal", "without_esn"]


def kernel_filter(conn: EngineConn, kernel: Kernel, backend: str, log: Callable[[str], None]) -> EngineConn:
    """``conn`` with only the ESP algorithms ``backend`` can install; each one left out is logged,
    and a conn left with none is refused (``ConfigError``)."""
    features = kernel.features()
    if not features.algorithm_check and features.esn_refusal is None:
        return conn
    check = kernel.check_child
    reasons: list[str] = []
    kept: list[Proposal] = []
    for proposal in conn.esp_proposals:
        integs: list[int | None] = [t.id for t in proposal.transforms if t.type == TransformType.INTEG] or [None]
        drop = []
        for t in proposal.transforms:
            if t.type == TransformType.ENCR:
                why = [check(encr_id=t.id, key_bits=t.key_length, integ_id=i) for i in integs]
                if all(why):
                    drop.append(t)
                    reasons += [w for w in why if w]
            elif t.type == TransformType.INTEG:
                encrs = [e for e in proposal.transforms if e.type == TransformType.ENCR]
                why = [check(encr_id=e.id, key_bits=e.key_length, integ_id=t.id) for e in encrs]
                if encrs and all(why):
                    drop.append(t)
                    reasons += [w for w in why if w]
        transforms = [t for t in proposal.transforms if t not in drop]
        if any(t.type == TransformType.ENCR for t in transforms):
            kept.append(Proposal(len(kept) + 1, proposal.protocol_id, proposal.spi, transforms))
    for reason in dict.fromkeys(reasons):
        log(f"\"{conn.name}\": ESP algorithm not offered: {reason}")
    if not kept:
        raise ConfigError(f"\"{conn.name}\": kernel backend '{backend}' cannot install "
                          f"any of its ESP algorithms")
    if features.esn_refusal is not None:
        kept = without_esn(conn.name, kept, features.esn_refusal, backend, log)
    return dataclasses.replace(conn, esp_proposals=tuple(kept))


def without_esn(name: str, proposals: list[Proposal], why_not: str, backend: str,
                log: Callable[[str], None]) -> list[Proposal]:
    """The kernel cannot do ESN: offer ESN=0 only (esn=either), refuse esn=yes."""
    out = []
    for proposal in proposals:
        esn = [t for t in proposal.transforms if t.type == TransformType.ESN]
        if esn and all(t.id == 1 for t in esn):
            raise ConfigError(f"\"{name}\": esn=yes, but kernel backend '{backend}' cannot: {why_not}")
        if any(t.id == 1 for t in esn):
            log(f"\"{name}\": ESN not offered: {why_not}")
        transforms = [t for t in proposal.transforms if not (t.type == TransformType.ESN and t.id == 1)]
        out.append(Proposal(proposal.num, proposal.protocol_id, proposal.spi, transforms))
    return out


def route_refusal(conn: EngineConn, features: KernelFeatures, backend: str) -> str | None:
    """Why ``backend`` cannot run ``conn``'s VTI device, marks or ipsec-interface (PF_KEY has
    neither; a VTI device hands its packets to the SAs by mark), or None."""
    asked = (("vti-interface=", features.mark_refusal, bool(conn.options.get("vti-interface"))),
             ("mark=", features.mark_refusal, conn.mark_in is not None or conn.mark_out is not None),
             ("ipsec-interface=", features.if_id_refusal, bool(conn.if_id)))
    for keyword, why, used in asked:
        if used and why is not None:
            return f"\"{conn.name}\": {keyword} is refused with kernel backend '{backend}': {why}"
    return None
