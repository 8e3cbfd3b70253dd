"""Interop with Libreswan 4.10 (unpacked in /opt/libreswan): IKEv2 PSK, ESP in
tunnel mode with AES-GCM-16-256 and AES-CBC-256/HMAC-SHA2-256-128, ours as
initiator and as responder; transport mode once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import conns
from tests.lab.interop import interop_round
from tests.lab.ours import Ours
from tests.lab.peers import LibreswanPeer, running_in_east
from tests.lab.topology import LabPair

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def libreswan(lab_pair: LabPair, lab_root: Path) -> Iterator[LibreswanPeer]:
    with running_in_east(LibreswanPeer, lab_pair, lab_root / "libreswan") as peer:
        yield peer


@pytest.mark.parametrize("suite", [conns.GCM, conns.CBC], ids=lambda s: s.name)
@pytest.mark.parametrize("ours_initiates", [True, False], ids=["ours-initiates", "libreswan-initiates"])
def test_tunnel(lab_pair: LabPair, west: Ours, libreswan: LibreswanPeer, suite: conns.Suite,
                ours_initiates: bool) -> None:
    interop_round(lab_pair, west, libreswan, suite, ours_initiates)


def test_transport_mode(lab_pair: LabPair, west: Ours, libreswan: LibreswanPeer) -> None:
    interop_round(lab_pair, west, libreswan, conns.TRANSPORT, ours_initiates=True)
