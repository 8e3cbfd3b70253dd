"""The shared kernel conformance suite against the PF_KEY backend (Linux
``af_key``), checked against ``ip xfrm`` like the XFRM backend.

Lab tier: needs root and a kernel with PF_KEY (``modprobe af_key``) and ESP,
which the kernel-lab VM has and this project's host kernel has not; every
test skips elsewhere. Run it in the lab with ``-m lab``.

The suite runs unchanged for everything ``af_key`` can carry. Where its
fixed choices meet the documented limits of ``af_key`` (docs/kernel.md), the
test of the same name below replaces the shared one:

* algorithms ``af_key`` cannot install (AEAD; HMAC-SHA2-256, installed with a
  96-bit ICV) must be refused before the kernel is asked, with the reason
  ``pluto_kernel_check_child`` gives, and leave nothing behind; the query,
  expire and traffic tests use AES-CBC with HMAC-SHA1-96 instead of
  AES-GCM/HMAC-SHA2-256;
* an ACQUIRE from ``af_key`` carries the policy id, not the packet's
  selector, so the event names the trap policy's selector.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pluto_bsdkame.plugin import BsdKameBackend
from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.kernel.types import (
    Acquire,
    Direction,
    Encap,
    Expire,
    Lifetime,
    Mode,
    PolicySpec,
    SaId,
    SaSpec,
    Template,
)
from tests.kernel import conformance, ipxfrm
from tests.kernel.conformance import (  # noqa: F401  (the shared tests that run unchanged)
    INNER_A,
    INNER_B,
    LOCAL,
    PEER_NS,
    POLICY_KINDS,
    REMOTE,
    SA_CASES,
    SPI_AB,
    SPI_BA,
    Caps,
    KernelUnderTest,
    _esp_or_skip,
    _key,
    _open_peer,
    _sa,
    kernel_under_test,
    test_allocate_spi_in_range,
    test_flush_removes_ours_only,
    test_larval_sa_hard_expire_event,
    test_policy_add_twice_refused,
    test_policy_delete_missing_says_so,
    test_policy_kind_is_installed_exactly,
    test_policy_update_replaces,
    test_udp_encap_on_socket,
)
from tests.kernel.netns import inside, ip, named_netns, veth_route

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
    with kernel_under_test(BsdKameBackend(), Caps("bsdkame", marks=False, aead=False)) as k:
        yield k


def test_every_shared_test_runs_here() -> None:
    """A test added to the shared suite must run here too, unchanged or replaced."""
    missing = [name for name in conformance.__all__ if name.startswith("test_") and name not in globals()]
    assert missing == []


def _refused_reason(kernel: KernelUnderTest, sa: SaSpec) -> str | None:
    encr = next((e for e in (EncrId.AES_CTR,) if e == sa.encr), None)
    key_bits = len(sa.encr_key) * 8 - (32 if encr else 0)
    reason: str | None = kernel.hook.pluto_kernel_check_child(
        encr_id=sa.encr, key_bits=key_bits, integ_id=sa.integ or None
    )
    if reason is None and sa.esn:
        return "no extended sequence numbers"
    return reason


@pytest.mark.parametrize("name", sorted(SA_CASES))
def test_sa_algorithm_installed_exactly(kernel: KernelUnderTest, name: str) -> None:
    """What af_key can carry is installed exactly as asked (``ip xfrm state``);
    the rest is refused first, says why, and installs nothing."""
    _esp_or_skip(kernel)
    sa = _sa(name)
    reason = _refused_reason(kernel, sa)
    if reason is not None:
        with pytest.raises(KernelError) as err:
            kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
        assert err.value.errno == errno.EOPNOTSUPP and reason in str(err.value)
        assert ipxfrm.states() == []
        return
    kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
    (shown,) = ipxfrm.states()
    conformance.assert_sa_shown(sa, shown)
    kernel.hook.pluto_kernel_del_sa(sa=SaId(REMOTE, 0x1000))
    assert ipxfrm.states() == []


def test_sa_without_esp_names_the_module(kernel: KernelUnderTest) -> None:
    try:
        kernel.hook.pluto_kernel_add_sa(sa=_sa("aes128cbc-sha1_96"), update=False)
    except KernelError as exc:
        text = str(exc)
        assert "kernel lacks ESP support" in text and "esp4" in text, text
        assert exc.errno == errno.EPROTONOSUPPORT and exc.operation == "add SA"
    else:
        kernel.hook.pluto_kernel_del_sa(sa=SaId(REMOTE, 0x1000))
        pytest.skip("this kernel has ESP")
    assert ipxfrm.states() == []


def test_sa_query_and_delete(kernel: KernelUnderTest) -> None:
    _esp_or_skip(kernel)
    kernel.hook.pluto_kernel_add_sa(sa=_sa("aes128cbc-sha1_96"), update=False)
    counters = kernel.hook.pluto_kernel_query_sa(sa=SaId(REMOTE, 0x1000))
    assert (counters.bytes, counters.packets, counters.use_time) == (0, 0, 0)
    assert abs(counters.add_time - time.time()) < 60
    kernel.hook.pluto_kernel_del_sa(sa=SaId(REMOTE, 0x1000))
    with pytest.raises(KernelError) as err:
        kernel.hook.pluto_kernel_query_sa(sa=SaId(REMOTE, 0x1000))
    assert err.value.errno in (errno.ENOENT, errno.ESRCH)


def test_sa_soft_and_hard_expire(kernel: KernelUnderTest) -> None:
    _esp_or_skip(kernel)
    sa = SaSpec(
        LOCAL,
        REMOTE,
        0x1001,
        reqid=22,
        encr=EncrId.AES_CBC,
        encr_key=_key(16),
        integ=IntegId.HMAC_SHA1_96,
        integ_key=_key(20),
        lifetime=Lifetime(soft_seconds=1, hard_seconds=3),
    )
    kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
    seen = kernel.events(Expire, timeout=3.0)
    soft = [e for e in seen if isinstance(e, Expire)]
    assert soft and not soft[0].hard and soft[0].sa.spi == 0x1001 and soft[0].reqid == 22
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and not any(isinstance(e, Expire) and e.hard for e in seen):
        seen += kernel.events(Expire, timeout=1.0)
    assert any(isinstance(e, Expire) and e.hard and e.sa.spi == 0x1001 for e in seen)
    assert ipxfrm.states() == []


def test_acquire_for_trap_policy(kernel: KernelUnderTest) -> None:
    """af_key's ACQUIRE names the policy by id: the event carries that
    policy's selector and its template's reqid."""
    veth_route("10.1.0.1", 24, "10.3.0.0/16")
    trap = POLICY_KINDS["trap-ondemand"]
    kernel.hook.pluto_kernel_add_policy(policy=trap, update=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("10.1.0.1", 40001))
        try:
            sock.sendto(b"ondemand", ("10.3.4.5", 7))
        except OSError:
            pass
    seen = kernel.events(Acquire)
    acquires = [e for e in seen if isinstance(e, Acquire)]
    assert acquires, f"no ACQUIRE (saw {seen})"
    a = acquires[0]
    assert (a.src, a.dst, a.reqid) == (LOCAL, REMOTE, 11)
    assert (a.sel_src, a.sel_dst, a.proto, a.sport, a.dport) == ("10.1.0.0/16", "10.3.0.0/16", 0, 0, 0)
    assert a.policy_direction is Direction.OUT


def _key_side(
    hook: Any,
    here: str,
    there: str,
    inner_here: str,
    inner_there: str,
    spi_out: int,
    spi_in: int,
    encap: Encap | None,
) -> None:
    common: dict[str, Any] = dict(encr=EncrId.AES_CBC, integ=IntegId.HMAC_SHA1_96, reqid=31, encap=encap)
    for src, dst, spi in ((here, there, spi_out), (there, here, spi_in)):
        hook.pluto_kernel_add_sa(
            sa=SaSpec(src, dst, spi, encr_key=_key(16, spi & 0xFF), integ_key=_key(20, spi & 0x7F), **common),
            update=False,
        )
    hook.pluto_kernel_add_policy(
        policy=PolicySpec(
            f"{inner_here}/32",
            f"{inner_there}/32",
            Direction.OUT,
            templates=(Template(Mode.TUNNEL, here, there, 31),),
        ),
        update=False,
    )
    hook.pluto_kernel_add_policy(
        policy=PolicySpec(
            f"{inner_there}/32",
            f"{inner_here}/32",
            Direction.IN,
            templates=(Template(Mode.TUNNEL, there, here, 31),),
        ),
        update=False,
    )


@pytest.mark.parametrize("encap", [None, Encap(4500, 4500)], ids=["esp", "udp-encap-4500"])
def test_tunnel_traffic_and_counters(kernel: KernelUnderTest, encap: Encap | None) -> None:
    """The shared traffic test with AES-CBC + HMAC-SHA1-96 (what PF_KEY
    interop uses on Linux) instead of AES-GCM."""
    _esp_or_skip(kernel)
    with named_netns(PEER_NS):
        ip("link", "add", "pv0", "type", "veth", "peer", "name", "pv1")
        ip("link", "set", "pv1", "netns", PEER_NS)
        for ns, dev, outer, inner, other in (
            (None, "pv0", LOCAL, INNER_A, INNER_B),
            (PEER_NS, "pv1", REMOTE, INNER_B, INNER_A),
        ):
            pre = ["-n", ns] if ns else []
            ip(*pre, "link", "set", dev, "up")
            ip(*pre, "addr", "add", f"{outer}/24", "dev", dev)
            ip(*pre, "addr", "add", f"{inner}/32", "dev", dev)
            ip(*pre, "route", "add", f"{other}/32", "dev", dev, "src", inner)
        peer = _open_peer(kernel)
        sockets: list[socket.socket] = []
        try:
            if encap is not None:
                mine = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                mine.bind((LOCAL, 4500))
                kernel.hook.pluto_kernel_enable_udp_encap(sock=mine)
                with inside(PEER_NS):
                    theirs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    theirs.bind((REMOTE, 4500))
                peer.pluto_kernel_enable_udp_encap(sock=theirs)
                sockets += [mine, theirs]
            _key_side(kernel.hook, LOCAL, REMOTE, INNER_A, INNER_B, SPI_AB, SPI_BA, encap)
            with inside(PEER_NS):
                _key_side(peer, REMOTE, LOCAL, INNER_B, INNER_A, SPI_BA, SPI_AB, encap)
                sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sink.bind((INNER_B, 7777))
            sockets.append(sink)
            sink.settimeout(5)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source:
                source.bind((INNER_A, 0))
                for n in range(3):
                    source.sendto(b"through the tunnel %d" % n, (INNER_B, 7777))
                    assert sink.recv(100) == b"through the tunnel %d" % n
            counters = kernel.hook.pluto_kernel_query_sa(sa=SaId(REMOTE, SPI_AB))
            shown = next(s for s in ipxfrm.states(stats=True) if s["spi"] == SPI_AB)
            assert counters.packets == shown["packets"] == 3
            assert counters.bytes == shown["bytes"] > 0
            assert counters.use_time > 0
            if encap is not None:
                assert shown["encap"]["type"] == "espinudp"
        finally:
            for sock in sockets:
                sock.close()
            with inside(PEER_NS):
                peer.pluto_kernel_flush_owned()
                peer.pluto_kernel_close()


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
