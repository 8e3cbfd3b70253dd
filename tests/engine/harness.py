"""Two engines in one process: an in-memory kernel, a virtual clock, seeded randomness,
and a wire between them that can lose, duplicate and reorder datagrams."""

from __future__ import annotations

import random as _random
from dataclasses import dataclass, field
from typing import Any

from pluto_core.errors import KernelError
from pluto_core.ikev2.engine import Engine
from pluto_core.ikev2.events import Datagram, Event
from pluto_core.ikev2.proposal_build import esp_proposal, ike_proposal
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import ChildInstall, EngineConn, IdSpec

ENCR_AES_CBC, ENCR_AES_GCM_16, ENCR_CHACHA = 12, 20, 28
PRF_SHA256 = 5
INTEG_SHA1_96, INTEG_SHA256_128 = 2, 12


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class MemoryKernel:
    """Records SPIs, SAs and policies as a kernel would; can be told to refuse installs."""

    next_spi: int = 0xC0000001
    installed: dict[int, ChildInstall] = field(default_factory=dict)
    refuse: KernelError | None = None

    larval: set[int] = field(default_factory=set)  # SPIs allocated, neither installed nor released
    no_migrate: str | None = None  # why SAs cannot move (MOBIKE); None: they can
    migrations: list[tuple[ChildInstall, ChildInstall]] = field(default_factory=list)

    def allocate_spi(self, src: str, dst: str, protocol: int) -> int:
        self.next_spi += 0x101
        self.larval.add(self.next_spi)
        return self.next_spi

    def release_spi(self, src: str, dst: str, protocol: int, spi: int) -> None:
        self.larval.discard(spi)

    def install_child(self, child: ChildInstall) -> None:
        if self.refuse is not None:
            self.larval.discard(child.inbound.spi)  # as the real port: a failed install takes its SPI along
            raise self.refuse
        self.larval.discard(child.inbound.spi)
        self.installed[child.serial] = child

    def remove_child(self, child: ChildInstall) -> tuple[int, int] | None:
        self.installed.pop(child.serial, None)
        return None

    def migrate_refusal(self) -> str | None:
        return self.no_migrate

    def migrate_child(self, old: ChildInstall, new: ChildInstall) -> None:
        assert self.installed.get(old.serial) == old, "moving a Child SA that is not installed as given"
        self.installed[old.serial] = new
        self.migrations.append((old, new))


class Psks:
    """The credentials port in memory: PSKs by the pair of IDs; ``vetoes`` maps a peer ID
    to the reason ``authorize`` refuses it; ``asked`` records the lookups."""

    def __init__(self, table: dict[frozenset[str], bytes], vetoes: dict[str, str] | None = None,
                 signers: dict[str, Any] | None = None, keys: dict[str, list[Any]] | None = None,
                 certs: dict[str, list[Any]] | None = None, anchors: list[Any] | None = None,
                 chain_vetoes: dict[bytes, str] | None = None) -> None:
        self.table = table
        self.vetoes = vetoes if vetoes is not None else {}
        self.signers = signers if signers is not None else {}  # local ID -> Signer
        self.keys = keys if keys is not None else {}  # peer ID -> public keys
        self.certs = certs if certs is not None else {}  # local ID text -> our chain
        self.anchors = anchors if anchors is not None else []  # trusted CA certificates
        self.chain_vetoes = chain_vetoes if chain_vetoes is not None else {}  # end cert serial bytes -> reason
        self.asked: list[tuple[str, str, str | None]] = []

    def psk(self, local: IdSpec, remote: IdSpec | None, conn: EngineConn) -> bytes | None:
        self.asked.append(("psk", local.text, remote.text if remote is not None else None))
        if remote is None:
            return None
        return self.table.get(frozenset((local.text, remote.text)))

    def signer(self, local: IdSpec, conn: EngineConn) -> Any:
        self.asked.append(("signer", local.text, conn.local_ckaid))
        return self.signers.get(local.text)

    def public_keys(self, peer: IdSpec, conn: EngineConn) -> list[Any]:
        self.asked.append(("public_keys", peer.text, None))
        return list(self.keys.get(peer.text, ()))

    def authorize(self, peer: IdSpec, conn: EngineConn, method: str) -> str | None:
        self.asked.append(("authorize", peer.text, method))
        return self.vetoes.get(peer.text)

    def certificates(self, local: IdSpec, conn: EngineConn) -> list[Any]:
        self.asked.append(("certificates", local.text, conn.local_cert))
        return list(self.certs.get(local.text, ()))

    def trust_anchors(self, conn: EngineConn) -> list[Any]:
        self.asked.append(("trust_anchors", conn.name, None))
        return list(self.anchors)

    def check_chain(self, chain: list[Any], conn: EngineConn) -> str | None:
        self.asked.append(("check_chain", conn.name, None))
        return self.chain_vetoes.get(chain[0].serial_number.to_bytes(20, "big")) if chain else None


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)

    def debug(self, text: str, debug_class: str = "base") -> None:
        self.lines.append("| " + text)

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Side:
    engine: Engine
    kernel: MemoryKernel
    log: Recorder
    events: list[Event]
    addr: str


def make_side(addr: str, seed: int, clock: Clock, psks: Psks, **kw: Any) -> Side:
    rng = _random.Random(seed)
    kernel, log, events = MemoryKernel(next_spi=0xC0000001 + seed * 0x1000000), Recorder(), []
    engine = Engine(kernel, psks, clock, lambda n: rng.randbytes(n), log, on_event=events.append, **kw)
    return Side(engine, kernel, log, events, addr)


def conn_pair(ike: tuple[tuple[int, int | None], int | None, int] = ((ENCR_AES_GCM_16, 256), None, 19),
              esp: tuple[tuple[int, int | None], int | None] = ((ENCR_AES_GCM_16, 256), None),
              mode: str = "tunnel", west_ts: str = "192.0.1.0/24", east_ts: str = "192.0.2.0/24",
              east_allows: str | None = None, **kw: Any) -> tuple[EngineConn, EngineConn]:
    (encr, integ, group), (e_encr, e_integ) = ike, esp
    ikep = (ike_proposal(1, [encr], [PRF_SHA256], [integ] if integ else [], [group]),)
    espp = (esp_proposal(1, [e_encr], [e_integ] if e_integ else []),)
    west = EngineConn("west-east", "192.1.2.45", "192.1.2.23", IdSpec.parse("@west"), IdSpec.parse("@east"),
                      (Selector.from_subnet(west_ts),), (Selector.from_subnet(east_ts),), ikep, espp, mode=mode, **kw)
    east = EngineConn("west-east", "192.1.2.23", "192.1.2.45", IdSpec.parse("@east"), IdSpec.parse("@west"),
                      (Selector.from_subnet(east_allows or east_ts),), (Selector.from_subnet(west_ts),), ikep, espp,
                      mode=mode, **kw)
    return west, east


WEST_ADDR, EAST_ADDR = "192.1.2.45", "192.1.2.23"
PSK = Psks({frozenset(("@west", "@east")): b"a very secret pre-shared key"})


def two_sides(west_conn: EngineConn, east_conn: EngineConn, psks: Psks = PSK, east_psks: Psks | None = None,
              west_kw: dict[str, Any] | None = None, **east_kw: Any) -> tuple[Clock, Side, Side, dict[str, Side]]:
    """West (seed 1) and east (seed 2) on one virtual clock, each with its conn added;
    ``east_kw`` are more Engine options for east (e.g. ``force_busy=True``), ``west_kw`` west's.
    Returns the clock, both sides and the ``sides`` that ``pump`` and ``advance`` take."""
    clock = Clock()
    west = make_side(WEST_ADDR, 1, clock, psks, **(west_kw or {}))
    east = make_side(EAST_ADDR, 2, clock, east_psks or psks, **east_kw)
    west.engine.add_conn(west_conn)
    east.engine.add_conn(east_conn)
    return clock, west, east, {WEST_ADDR: west, EAST_ADDR: east}


def setup(psks: Psks = PSK, east_psks: Psks | None = None, **kw: Any) -> tuple[Clock, Side, Side, dict[str, Side]]:
    """``two_sides`` over ``conn_pair(**kw)``: the usual west-east conn."""
    return two_sides(*conn_pair(**kw), psks=psks, east_psks=east_psks)


def deliver(sides: dict[str, Side], datagrams: list[Datagram]) -> None:
    for d in datagrams:
        sides[d.remote[0]].engine.receive(d.data, d.remote, d.local)


def pump(sides: dict[str, Side], rounds: int = 20, wire: Any = None) -> None:
    """Move datagrams until the wire is quiet; ``wire(list) -> list`` may lose/duplicate/reorder."""
    for _ in range(rounds):
        moved = []
        for side in sides.values():
            moved += side.engine.pop_datagrams()
        if wire is not None:
            moved = wire(moved)
        if not moved:
            return
        deliver(sides, moved)


def advance(clock: Clock, sides: dict[str, Side], seconds: float, step: float = 0.25, wire: Any = None) -> None:
    end = clock.now + seconds
    while clock.now < end:
        clock.now = min(clock.now + step, end)
        for side in sides.values():
            side.engine.tick()
        pump(sides, wire=wire)
