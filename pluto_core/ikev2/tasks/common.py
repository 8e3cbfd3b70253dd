"""Helpers the tasks share: SPIs, nonces, key pairs as crypto jobs, suites and the
names log lines use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from pluto_core.ikev2.crypto import Suite, compute_shared, make_suite
from pluto_core.ikev2.crypto import dh as dh_module
from pluto_core.ikev2.enums import NotifyType, ProtocolId, TransformType
from pluto_core.ikev2.events import ChildInfo
from pluto_core.ikev2.payloads import Notify, Payload, Proposal
from pluto_core.ikev2.sa import ChildSa, ChildState, IkeSa
from pluto_core.ikev2.sa_select import Chosen
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.types import ChildInstall

NONCE_SIZE = 32
P = TypeVar("P", bound=Payload)


def new_spi(random: Callable[[int], bytes]) -> bytes:
    """An IKE SPI: eight random octets, never zero (RFC 7296 3.1)."""
    while True:
        spi = random(8)
        if spi != bytes(8):
            return spi


def keypair_job(random: Callable[[int], bytes], group: int) -> tuple[Any, tuple[Any, ...]]:
    """``dh.generate`` with our random private value: a picklable job for the helper pool."""
    return dh_module.generate, (group, random(dh_module.secret_size(group)))


def groups(proposals: Sequence[Proposal]) -> list[int]:
    """The KE groups of ``proposals``, first seen first."""
    out: list[int] = []
    for p in proposals:
        for t in p.transforms:
            if t.type == TransformType.KE and t.id not in out:
                out.append(t.id)
    return out


def suite_of(chosen: Chosen) -> Suite:
    encr = chosen.transform(TransformType.ENCR)
    assert encr is not None
    prf = chosen.id_of(TransformType.PRF)
    assert prf is not None
    return make_suite(encr.id, encr.key_length, prf, chosen.id_of(TransformType.INTEG) or None,
                      chosen.id_of(TransformType.KE))


def dh_name(group: int) -> str:
    modp = {5: 1536, 14: 2048, 15: 3072, 16: 4096, 17: 6144, 18: 8192}
    return {19: "DH19", 20: "DH20", 21: "DH21", 31: "DH31", 32: "DH32"}.get(group, f"MODP{modp.get(group, group)}")


def suite_text(sa: IkeSa) -> str:
    """``{cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_512 ke=DH19}`` as Libreswan logs it."""
    suite = sa.suite
    assert suite is not None
    integ = suite.integ.name if suite.integ is not None else "n/a"
    prf = suite.prf.name.removeprefix("PRF_")
    return f"{{cipher={suite.encr.name} integ={integ} prf={prf} ke={dh_name(sa.ke_group)}}}"


def get(payloads: Sequence[Payload], cls: type[P]) -> P | None:
    """The first payload of type ``cls``."""
    for p in payloads:
        if isinstance(p, cls):
            return p
    return None


def get_notify(payloads: Sequence[Payload], kind: int) -> Notify | None:
    """The first notify of type ``kind``."""
    for p in payloads:
        if isinstance(p, Notify) and p.type == kind:
            return p
    return None


def has_notify(payloads: Sequence[Payload], kind: int) -> bool:
    return any(isinstance(p, Notify) and p.type == kind for p in payloads)


def notify_types(payloads: Sequence[Payload]) -> list[int]:
    return [p.type for p in payloads if isinstance(p, Notify)]


def first_error(payloads: Sequence[Payload]) -> int | None:
    """The first error notify type (below 16384, RFC 7296 3.10.1), if any."""
    for p in payloads:
        if isinstance(p, Notify) and p.type < 16384:
            return p.type
    return None


def ts_text(local: Sequence[Any], remote: Sequence[Any]) -> str:
    left = "+".join(str(s) for s in local)
    right = "+".join(str(s) for s in remote)
    return f"[{left}==={right}]"


def child_prefix(sa: IkeSa, serial: int) -> str:
    return f"{sa.label} #{serial}:"


def with_spi(proposals: Sequence[Proposal], spi: int) -> list[Proposal]:
    """``proposals`` carrying our four-octet SPI (ESP)."""
    raw = spi.to_bytes(4, "big")
    return [Proposal(p.num, p.protocol_id, raw, list(p.transforms)) for p in proposals]


class CreateKind(Enum):
    """What an outstanding CREATE_CHILD_SA request of ours is for."""

    REKEY_CHILD = "rekey-child"
    REKEY_IKE = "rekey-ike"


@dataclass(slots=True)
class CreateCtx:
    """An outstanding CREATE_CHILD_SA request of ours."""

    kind: CreateKind
    nonce: bytes
    dh: Any = None
    group: int = 0
    child: ChildSa | None = None
    old: ChildSa | None = None
    new_spi: bytes = b""
    proposals: list[Proposal] = field(default_factory=list)


def release_larval(engine: Services, sa: IkeSa, child: ChildSa) -> None:
    """Give the kernel back the inbound SPI of a Child SA that will never be installed
    (its larval SA would otherwise linger until the kernel times it out)."""
    if child.spi_in and child.installed is None:
        engine.kernel.release_spi(sa.remote[0], sa.local[0], int(ProtocolId.ESP), child.spi_in)


def end_rekey(old: ChildSa | None) -> None:
    """A rekey of ``old`` that did not happen: it stays as it was (unless gone meanwhile)."""
    if old is not None and old.state == ChildState.REKEYING:
        old.to(ChildState.INSTALLED)


def with_keypair(engine: Services, group: int, then: Any) -> None:
    """``then(pair)`` with a new key pair for ``group`` (a crypto job), or ``then(None)`` without a group."""
    if not group:
        then(None)
        return
    fn, args = keypair_job(engine.random, group)
    engine.submit_job(fn, args, then)


def shared(engine: Services, group: int, pair: Any, peer: bytes | None, then: Any) -> None:
    """``then(g_ir)`` (a crypto job), or ``then(None)`` when no KE was exchanged."""
    if not group or pair is None or peer is None:
        then(None)
        return
    engine.submit_job(compute_shared, (group, pair, peer), then)


# answers a CREATE_CHILD_SA request: the payloads, and why when it is a refusal
Reply = Callable[..., None]


def respond_dh(engine: Services, group: int, peer_public: bytes | None, reply: Reply, then: Any) -> None:
    """Our key pair and g^ir for a CREATE_CHILD_SA answer (no group: no KE), then
    ``then(pair, g_ir)``; a failure answers with a notify instead."""

    def have_pair(pair: Any) -> None:
        if isinstance(pair, Exception):
            reply([Notify(NotifyType.NO_PROPOSAL_CHOSEN)], f"no key pair for DH{group}: {pair}")
            return

        def have_shared(g_ir: Any) -> None:
            if isinstance(g_ir, Exception):
                reply([Notify(NotifyType.INVALID_SYNTAX)], f"the peer's KE payload: {g_ir}")
                return
            then(pair, g_ir)

        shared(engine, group, pair, peer_public, have_shared)

    with_keypair(engine, group, have_pair)


def child_info(engine: Services, sa: IkeSa, install: ChildInstall, counts: tuple[int, int] | None = None) -> ChildInfo:
    """What the event hooks are told of a Child SA (never its keys)."""
    conn = engine.conns.get(sa.name)
    local_id = conn.local_id.text if conn is not None else install.local_addr
    remote_id = sa.peer_id.text if sa.peer_id is not None else install.remote_addr
    return ChildInfo(sa.serial, install.local_addr, install.remote_addr, local_id, remote_id, install.mode,
                     install.local_ts, install.remote_ts, install.inbound.spi, install.outbound.spi,
                     install.reqid, install.encap is not None,
                     counts[0] if counts is not None else None, counts[1] if counts is not None else None)
