"""The shared kernel conformance suite against the PF_KEY backend (Linux
``af_key``), checked against ``ip xfrm`` like the XFRM backend.

Lab tier: needs root and a kernel with PF_KEY (``modprobe af_key``) and ESP,
which the kernel-lab VM has and this project's host kernel has not; every
test skips elsewhere. Run it in the lab with ``-m lab``.

The suite is the one every backend runs (``tests/kernel/conformance.py``):
where ``af_key`` meets its documented limits (docs/kernel.md) the suite follows
what the backend declares. Algorithms ``af_key`` cannot install (AEAD;
HMAC-SHA2-256, installed with a 96-bit ICV) must be refused before the kernel
is asked, with the reason ``pluto_kernel_check_child`` gives, and the query,
expire and traffic tests use AES-CBC with HMAC-SHA1-96; an ACQUIRE from
``af_key`` carries the policy id, not the packet's selector
(``Caps.acquire_packet_selector``). Below: what only PF_KEY has.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from pluto_bsdkame.plugin import BsdKameBackend
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.kernel.types import (
    Direction,
    Expire,
    Lifetime,
    Mode,
    PolicySpec,
    SaSpec,
    Template,
)
from tests.kernel import ipxfrm
from tests.kernel.conformance import *  # noqa: F401,F403
from tests.kernel.conformance import (
    LOCAL,
    POLICY_KINDS,
    REMOTE,
    Caps,
    KernelUnderTest,
    _esp_or_skip,
    _key,
    kernel_under_test,
)

pytestmark = pytest.mark.lab


def _pfkey_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        socket.socket(15, socket.SOCK_RAW, 2).close()
    except OSError as exc:
        pytest.skip(f"no PF_KEY on this kernel ({exc.strerror}): the lab VM runs this (modprobe af_key)")


@pytest.fixture
def kernel() -> Iterator[KernelUnderTest]:
    _pfkey_or_skip()
    with kernel_under_test(BsdKameBackend(), Caps("bsdkame", marks=False, acquire_packet_selector=False)) as k:
        yield k


# --------------------------------------------------------------------------
# What only the PF_KEY backend has
# --------------------------------------------------------------------------


def test_register_reply_feeds_check_child(kernel: KernelUnderTest) -> None:
    backend: BsdKameBackend = kernel.backend
    assert 12 in backend.supported[3].encrypt and 3 in backend.supported[3].auth  # aes-cbc, hmac-sha1
    assert (
        kernel.hook.pluto_kernel_check_child(
            encr_id=EncrId.AES_CBC, key_bits=256, integ_id=IntegId.HMAC_SHA1_96
        )
        is None
    )
    assert "no AEAD" in kernel.hook.pluto_kernel_check_child(
        encr_id=EncrId.AES_GCM_16, key_bits=128, integ_id=None
    )


def test_large_reqids_get_stand_ins_in_sa_policy_and_events(kernel: KernelUnderTest) -> None:
    """The daemon's reqids (16384 + 4n) exceed af_key's manual range: SA and
    policy share one stand-in, and the EXPIRE names the daemon's reqid."""
    _esp_or_skip(kernel)
    policy = PolicySpec(
        "10.1.0.0/24", "10.2.0.0/24", Direction.OUT, templates=(Template(Mode.TUNNEL, LOCAL, REMOTE, 16388),)
    )
    kernel.hook.pluto_kernel_add_policy(policy=policy, update=False)
    sa = SaSpec(
        LOCAL,
        REMOTE,
        0x1002,
        encr=EncrId.AES_CBC,
        encr_key=_key(16),
        integ=IntegId.HMAC_SHA1_96,
        integ_key=_key(20),
        reqid=16388,
        lifetime=Lifetime(soft_seconds=1, hard_seconds=30),
    )
    kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
    (shown,) = ipxfrm.states()
    (pol,) = ipxfrm.policies()
    assert int(shown["reqid"]) == int(pol["tmpl"][0]["reqid"]) == 0x3FFF
    seen = kernel.events(Expire, timeout=4.0)
    assert any(isinstance(e, Expire) and e.reqid == 16388 and not e.hard for e in seen), seen


def test_dumps_list_what_was_installed(kernel: KernelUnderTest) -> None:
    backend: BsdKameBackend = kernel.backend
    assert backend.dump_sas() == [] and backend.dump_policies() == []
    kernel.hook.pluto_kernel_add_policy(policy=POLICY_KINDS["tunnel-out"], update=False)
    spi = kernel.hook.pluto_kernel_allocate_spi(src=REMOTE, dst=LOCAL, protocol=3)
    assert [getattr(m.get(1), "spi", None) for m in backend.dump_sas()] == [spi]
    assert len(backend.dump_policies()) == 1
