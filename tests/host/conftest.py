from collections.abc import Iterator

import pytest

from tests.host.daemons import Pluto
from tests.netns import netns_pair, netns_pair6  # noqa: F401  (fixtures)


@pytest.fixture
def stop_all() -> Iterator[list[Pluto]]:
    """A list the test appends its daemons to; each is stopped when the test ends, pass or fail."""
    running: list[Pluto] = []
    yield running
    for pluto in running:
        pluto.stop()
