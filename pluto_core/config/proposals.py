"""ike=/esp=/ah=/phase2alg= proposal strings.

NOT DONE YET: the strings are kept verbatim (``ProposalSet.text``) and ``proposals`` is empty;
parsing, validation and default expansion as ``ipsec algparse`` does them (algparse-01) is the
next step. The types are the ones the engine will receive.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Proposal", "ProposalSet", "parse_proposals"]


@dataclass(frozen=True, slots=True)
class Proposal:
    encrypt: tuple[str, ...] = ()
    integ: tuple[str, ...] = ()
    prf: tuple[str, ...] = ()
    dh: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProposalSet:
    protocol: str
    text: str | None
    proposals: tuple[Proposal, ...] = ()


def parse_proposals(protocol: str, text: str | None, **_: object) -> ProposalSet:
    return ProposalSet(protocol, text)
