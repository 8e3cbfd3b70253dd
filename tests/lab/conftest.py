"""The lab tier runs only inside the kernel-lab VM (``bash scripts/lab.sh``),
which sets PLUTO_LAB=1: a kernel with real ESP, as root. Anywhere else every
test here is skipped, so a plain ``pytest`` on the host stays fast and green.

The session shares one pair of namespaces and one of our daemons in west:
under software emulation a daemon start costs seconds, a VM boot a minute.
East is taken in turn by our second daemon, Libreswan and strongSwan, each
for one test module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import conns
from tests.lab.ours import Ours
from tests.lab.topology import LabPair, fresh_pair

HERE = Path(__file__).resolve().parent
IN_LAB = os.environ.get("PLUTO_LAB") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="lab tier: runs inside the kernel-lab VM (bash scripts/lab.sh)")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.lab)
            if not IN_LAB:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def lab_pair() -> Iterator[LabPair]:
    with fresh_pair() as pair:
        yield pair


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session", autouse=True)
def west_launched(lab_pair: LabPair, lab_root: Path) -> Iterator[Ours]:
    """Our daemon in west, for the whole session, started as the session starts
    so that its slow start-up overlaps the first tests. Every conn of conns.ALL
    is known to it (auto=ignore); each test adds the one it uses."""
    daemon = Ours(lab_pair.west, lab_root / "ours-west")
    ipsecdir = daemon.root / "ipsec.d"  # certs/, cacerts/, crls/, private/: test_certs.py fills them
    ipsecdir.mkdir(parents=True)
    daemon.launch_with(conns.ipsec_conf(conns.ALL), "--ipsecdir", str(ipsecdir))
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def west(west_launched: Ours) -> Ours:
    west_launched.ensure_initialized()
    return west_launched
