"""Proposal selection (RFC 7296 sections 2.7 and 3.3.6).

The responder picks one proposal and, inside it, exactly one transform of
each type; the initiator checks that what came back is one of its own. Our
proposals are tried in our preference order (as Libreswan does), each against
the peer's proposals in the peer's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pluto_core.ikev2.enums import TransformType
from pluto_core.ikev2.payloads import Proposal, Transform

_ESN = int(TransformType.ESN)


@dataclass(frozen=True, slots=True)
class Chosen:
    """The outcome: one transform per type, the peer's proposal number and SPI."""

    proposal: Proposal  # as it goes back on the wire (the peer's number; SPI set by the caller)
    peer_spi: bytes

    def transform(self, ttype: int) -> Transform | None:
        for t in self.proposal.transforms:
            if t.type == ttype:
                return t
        return None

    def id_of(self, ttype: int) -> int | None:
        t = self.transform(ttype)
        return t.id if t is not None else None


def _key(t: Transform) -> tuple[int, int, int | None]:
    return (t.type, t.id, t.key_length)


def _by_type(transforms: Sequence[Transform]) -> dict[int, list[Transform]]:
    out: dict[int, list[Transform]] = {}
    for t in transforms:
        out.setdefault(t.type, []).append(t)
    return out


def match_proposal(ours: Proposal, theirs: Proposal) -> list[Transform] | None:
    """One transform per type, from our list in our order, that the peer also offered.

    Every type either side has must be agreed, except that a missing ESN type on
    our side accepts the peer's ESN=NO (a proposal without ESN means "no ESN").
    """
    if ours.protocol_id != theirs.protocol_id:
        return None
    mine = _by_type(ours.transforms)
    peer = _by_type(theirs.transforms)
    chosen: list[Transform] = []
    for ttype in sorted(set(mine) | set(peer)):
        if ttype not in mine:
            # A type we leave out means "none": the peer's NONE (id 0) for it matches, e.g.
            # integrity NONE with an AEAD cipher, or ESN=NO (RFC 7296 3.3.3, RFC 5282 8).
            if any(t.id == 0 for t in peer[ttype]):
                chosen.append(Transform(ttype, 0))
                continue
            return None
        if ttype not in peer:
            # RFC 7296 3.3.3: a type the peer left out means "none"; acceptable only
            # when we offered NONE (id 0) for it: integrity with an AEAD, DH without PFS.
            if any(t.id == 0 for t in mine[ttype]):
                continue
            return None
        offered = {_key(t) for t in peer[ttype]}
        pick = next((t for t in mine[ttype] if _key(t) in offered), None)
        if pick is None:
            return None
        chosen.append(pick)
    return chosen


def select(ours: Sequence[Proposal], theirs: Sequence[Proposal]) -> Chosen | None:
    """The responder's choice, or None (NO_PROPOSAL_CHOSEN)."""
    for mine in ours:
        for peer in theirs:
            transforms = match_proposal(mine, peer)
            if transforms is not None:
                return Chosen(Proposal(peer.num, peer.protocol_id, b"", transforms), peer.spi)
    return None


def accept_reply(ours: Sequence[Proposal], reply: Sequence[Proposal]) -> Chosen | None:
    """The initiator's check: the responder returned exactly one proposal, with one
    transform per type, that is a subset of one of ours (RFC 7296 2.7)."""
    if len(reply) != 1:
        return None
    answer = reply[0]
    types = [t.type for t in answer.transforms]
    if len(types) != len(set(types)):
        return None
    for mine in ours:
        if mine.num != answer.num or mine.protocol_id != answer.protocol_id:
            continue
        if match_proposal(mine, answer) is not None:
            offered = {_key(t) for t in mine.transforms}
            if all(_key(t) in offered or (t.type == _ESN and t.id == 0) for t in answer.transforms):
                return Chosen(answer, answer.spi)
    return None
