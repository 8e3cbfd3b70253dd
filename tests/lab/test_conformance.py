"""The kernel-backend conformance suite against the XFRM backend on a kernel
with real ESP: the SA tests that skip on the host (no esp4 there) run here,
and so does the tunnel keyed through the hooks alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pluto_xfrm.plugin import XfrmBackend
from tests.kernel.conformance import *  # noqa: F401,F403
from tests.kernel.conformance import Caps, KernelUnderTest, kernel_under_test

pytestmark = pytest.mark.lab


@pytest.fixture
def kernel() -> Iterator[KernelUnderTest]:
    with kernel_under_test(XfrmBackend(), Caps("xfrm", marks=True)) as k:
        yield k
