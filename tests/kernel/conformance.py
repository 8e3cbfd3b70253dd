"""The kernel-backend conformance suite, written once for every backend.

A test module runs it by defining a ``kernel`` fixture that yields a
:class:`KernelUnderTest` (built with :func:`kernel_under_test`) and
importing the tests::

    @pytest.fixture
    def kernel():
        with kernel_under_test(XfrmBackend(), Caps("xfrm", marks=True)) as k:
            yield k

    from tests.kernel.conformance import *  # noqa: F401,F403

Every test talks to the backend only through the ``pluto_kernel_*`` hooks,
exactly as the daemon does, inside a fresh network namespace, and checks
the result against ``ip xfrm`` (an independent witness). Tests that need ESP
skip on kernels without it (this project's host kernel); the lab VM runs
them all.
"""

from __future__ import annotations

import dataclasses
import errno
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pluggy
import pytest

from pluto_core import hookspecs
from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.kernel.port import Kernel
from pluto_core.kernel.types import (
    Acquire,
    Direction,
    Encap,
    Expire,
    KernelEvent,
    Lifetime,
    Mark,
    Mode,
    PolicyAction,
    PolicySpec,
    SaId,
    SaSpec,
    Template,
)
from tests.kernel import ipxfrm
from tests.netns import NetnsUnavailable, fresh_netns, inside, ip, named_netns, sysctl, veth_route

__all__ = [
    "Caps", "KernelUnderTest", "kernel_under_test",
    "test_policy_kind_is_installed_exactly", "test_policy_update_replaces", "test_policy_add_twice_refused",
    "test_policy_delete_missing_says_so", "test_flush_removes_ours_only", "test_allocate_spi_in_range",
    "test_release_spi_deletes_the_larval_sa",
    "test_larval_sa_hard_expire_event", "test_acquire_for_trap_policy", "test_udp_encap_on_socket",
    "test_sa_without_esp_names_the_module", "test_sa_algorithm_installed_exactly", "test_sa_query_and_delete",
    "test_sa_soft_and_hard_expire", "test_tunnel_traffic_and_counters", "test_xfrm_interface_lifecycle",
    "test_migrate_moves_policy_and_sa_in_place",
]

LOCAL, REMOTE = "192.0.2.1", "192.0.2.2"


@dataclass(frozen=True)
class Caps:
    """What the suite must know of a backend beyond what it declares itself
    (``pluto_kernel_features`` and ``pluto_kernel_check_child``, which decide
    the algorithms and ESN each test uses or expects refused)."""

    name: str
    marks: bool = False  # XFRMA_MARK / XFRMA_IF_ID
    acquire_packet_selector: bool = True  # ACQUIRE names the packet; Linux af_key names the policy (by id)


@dataclass
class KernelUnderTest:
    hook: Any
    caps: Caps
    backend: Any
    port: Kernel  # what the daemon uses: Child SAs, shared policies, features

    def events(self, want: type, timeout: float = 5.0) -> list[KernelEvent]:
        """Wait on the backend's event descriptor, as the daemon's loop does."""
        fd = self.hook.pluto_kernel_event_fd()
        assert fd is not None, "backend offers no event descriptor"
        deadline = time.monotonic() + timeout
        seen: list[KernelEvent] = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                seen += self.hook.pluto_kernel_read_events()
                if any(isinstance(e, want) for e in seen):
                    return seen
        return seen


@contextmanager
def kernel_under_test(backend: Any, caps: Caps) -> Iterator[KernelUnderTest]:
    """Register ``backend`` alone with a pluggy manager, open it inside a fresh
    network namespace, and flush and close it afterwards."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(backend)
    try:
        netns = fresh_netns()
        netns.__enter__()
    except NetnsUnavailable as exc:
        pytest.skip(f"no network namespace: {exc}")
    try:
        manager.hook.pluto_kernel_open(options=None, log=None)
        try:
            yield KernelUnderTest(manager.hook, caps, backend, Kernel(manager.hook, caps.name))
        finally:
            manager.hook.pluto_kernel_flush_owned()
            manager.hook.pluto_kernel_close()
    finally:
        netns.__exit__(None, None, None)


# --------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------

_TUN_OUT = (Template(Mode.TUNNEL, LOCAL, REMOTE, 11),)
_TUN_IN = (Template(Mode.TUNNEL, REMOTE, LOCAL, 11),)
_TRANSPORT = (Template(Mode.TRANSPORT, reqid=12),)

POLICY_KINDS: dict[str, PolicySpec] = {
    "tunnel-out": PolicySpec("10.1.0.0/24", "10.2.0.0/24", Direction.OUT, templates=_TUN_OUT),
    "tunnel-in": PolicySpec("10.2.0.0/24", "10.1.0.0/24", Direction.IN, templates=_TUN_IN),
    "tunnel-fwd": PolicySpec("10.2.0.0/24", "10.1.0.0/24", Direction.FWD, templates=_TUN_IN),
    "transport-out-udp": PolicySpec(f"{LOCAL}/32", f"{REMOTE}/32", Direction.OUT, proto=17, sport=1701,
                                    dport=1701, templates=_TRANSPORT),
    "transport-in-tcp": PolicySpec(f"{REMOTE}/32", f"{LOCAL}/32", Direction.IN, proto=6, dport=80,
                                   templates=_TRANSPORT),
    "trap-ondemand": PolicySpec("10.1.0.0/16", "10.3.0.0/16", Direction.OUT, priority=2080, templates=_TUN_OUT),
    "priority": PolicySpec("10.4.0.0/24", "10.5.0.0/24", Direction.OUT, priority=1234, templates=_TUN_OUT),
    "pass": PolicySpec("10.6.0.0/24", "10.7.0.0/24", Direction.OUT, priority=100, action=PolicyAction.PASS),
    "drop": PolicySpec("10.6.0.0/24", "10.8.0.0/24", Direction.OUT, priority=100, action=PolicyAction.DROP),
    "ipv6-tunnel": PolicySpec("2001:db8:1::/64", "2001:db8:2::/64", Direction.OUT,
                              templates=(Template(Mode.TUNNEL, "2001:db8::1", "2001:db8::2", 13),)),
    "mark-if_id": PolicySpec("10.9.0.0/24", "10.10.0.0/24", Direction.OUT, templates=_TUN_OUT,
                             mark=Mark(0x5, 0xFF), if_id=9),
}


def _find_policy(p: PolicySpec) -> dict[str, Any] | None:
    for shown in ipxfrm.policies():
        if (shown.get("src"), shown.get("dst"), shown.get("dir")) == (p.src, p.dst, p.direction.name.lower()):
            return shown
    return None


def _assert_shown_as_intended(p: PolicySpec, shown: dict[str, Any] | None) -> None:
    assert shown is not None, f"{p} is not in ip xfrm policy"
    assert int(shown["priority"]) == p.priority
    assert shown.get("ptype", "main") == "main"
    assert shown["action"] == ("block" if p.action is PolicyAction.DROP else "allow")
    assert ipxfrm.proto_number(shown["proto"]) == p.proto if p.proto else "proto" not in shown
    assert int(shown.get("sport", 0)) == p.sport
    assert int(shown.get("dport", 0)) == p.dport
    if p.mark is not None:
        assert shown["mark"] == f"0x{p.mark.value:x}/0x{p.mark.mask:x}"
    else:
        assert "mark" not in shown
    assert int(shown.get("if_id", "0"), 16) == p.if_id
    want = p.templates if p.action is PolicyAction.IPSEC else ()
    assert len(shown["tmpl"]) == len(want)
    wildcard = "::" if ":" in p.src else "0.0.0.0"
    for t, s in zip(want, shown["tmpl"], strict=True):
        assert (s["src"], s["dst"]) == (t.src or wildcard, t.dst or wildcard)
        assert ipxfrm.proto_number(s["proto"]) == t.proto
        assert int(s["reqid"]) == t.reqid
        assert s["mode"] == t.mode.value


@pytest.mark.parametrize("kind", sorted(POLICY_KINDS))
def test_policy_kind_is_installed_exactly(kernel: KernelUnderTest, kind: str) -> None:
    p = POLICY_KINDS[kind]
    if (p.mark or p.if_id) and not kernel.caps.marks:
        pytest.skip(f"{kernel.caps.name} has no marks")
    kernel.hook.pluto_kernel_add_policy(policy=p, update=False)
    _assert_shown_as_intended(p, _find_policy(p))
    kernel.hook.pluto_kernel_del_policy(policy=p)
    assert _find_policy(p) is None
    assert ipxfrm.policies() == []


def test_policy_update_replaces(kernel: KernelUnderTest) -> None:
    p = POLICY_KINDS["tunnel-out"]
    kernel.hook.pluto_kernel_add_policy(policy=p, update=False)
    q = PolicySpec(p.src, p.dst, p.direction, priority=77, templates=(Template(Mode.TUNNEL, LOCAL, REMOTE, 99),))
    kernel.hook.pluto_kernel_add_policy(policy=q, update=True)
    _assert_shown_as_intended(q, _find_policy(q))
    assert len(ipxfrm.policies()) == 1


def test_policy_add_twice_refused(kernel: KernelUnderTest) -> None:
    p = POLICY_KINDS["tunnel-in"]
    kernel.hook.pluto_kernel_add_policy(policy=p, update=False)
    with pytest.raises(KernelError) as err:
        kernel.hook.pluto_kernel_add_policy(policy=p, update=False)
    assert err.value.errno == errno.EEXIST
    assert "already exists" in str(err.value) and "add policy" in str(err.value)


def test_policy_delete_missing_says_so(kernel: KernelUnderTest) -> None:
    with pytest.raises(KernelError) as err:
        kernel.hook.pluto_kernel_del_policy(policy=POLICY_KINDS["tunnel-fwd"])
    assert err.value.errno in (errno.ENOENT, errno.ESRCH)
    assert "no such policy" in str(err.value)


def test_flush_removes_ours_only(kernel: KernelUnderTest) -> None:
    """What SIGTERM does: ours go, a policy someone else added stays."""
    ip("xfrm", "policy", "add", "src", "172.16.0.0/24", "dst", "172.16.1.0/24", "dir", "in")
    for kind in ("tunnel-out", "tunnel-in", "tunnel-fwd", "pass", "drop"):
        kernel.hook.pluto_kernel_add_policy(policy=POLICY_KINDS[kind], update=False)
    spi = kernel.hook.pluto_kernel_allocate_spi(src=REMOTE, dst=LOCAL, protocol=3)
    assert len(ipxfrm.policies()) == 6
    assert [s["spi"] for s in ipxfrm.states()] == [spi]
    assert kernel.hook.pluto_kernel_flush_owned() == 6
    left = ipxfrm.policies()
    assert [(p["src"], p["dst"], p["dir"]) for p in left] == [("172.16.0.0/24", "172.16.1.0/24", "in")]
    assert ipxfrm.states() == []
    assert kernel.hook.pluto_kernel_flush_owned() == 0


# --------------------------------------------------------------------------
# SPIs, events, NAT-T
# --------------------------------------------------------------------------


def test_allocate_spi_in_range(kernel: KernelUnderTest) -> None:
    spis = {kernel.hook.pluto_kernel_allocate_spi(src=REMOTE, dst=LOCAL, protocol=3) for _ in range(8)}
    assert len(spis) == 8 and all(0x100 <= s <= 0xFFFFFFFF for s in spis)
    shown = {s["spi"]: s for s in ipxfrm.states()}
    assert set(shown) == spis
    assert all((s["src"], s["dst"], s["proto"]) == (REMOTE, LOCAL, "esp") for s in shown.values())


def test_release_spi_deletes_the_larval_sa(kernel: KernelUnderTest) -> None:
    """What the engine does with the SPI of a Child SA that will not be installed (an
    IKE_AUTH refused): the larval SA goes at once, and releasing it again is quiet."""
    keep = kernel.port.allocate_spi(REMOTE, LOCAL, 3)
    spi = kernel.port.allocate_spi(REMOTE, LOCAL, 3)
    kernel.port.release_spi(REMOTE, LOCAL, 3, spi)
    assert [s["spi"] for s in ipxfrm.states()] == [keep]
    kernel.port.release_spi(REMOTE, LOCAL, 3, spi)
    assert kernel.hook.pluto_kernel_flush_owned() == 1  # only `keep`: the record forgot the released one
    assert ipxfrm.states() == []


def test_larval_sa_hard_expire_event(kernel: KernelUnderTest) -> None:
    """An SPI never completed by add_sa dies after net.core.xfrm_acq_expires
    seconds with a hard EXPIRE, which also drops it from the record."""
    sysctl("net.core.xfrm_acq_expires", "1")
    spi = kernel.hook.pluto_kernel_allocate_spi(src=REMOTE, dst=LOCAL, protocol=3)
    seen = kernel.events(Expire, timeout=6.0)
    expires = [e for e in seen if isinstance(e, Expire)]
    assert expires, f"no EXPIRE within 6 s (saw {seen})"
    assert expires[0].hard and expires[0].sa.spi == spi and expires[0].sa.dst == LOCAL
    assert ipxfrm.states() == []
    assert kernel.hook.pluto_kernel_flush_owned() == 0


def test_acquire_for_trap_policy(kernel: KernelUnderTest) -> None:
    veth_route("10.1.0.1", 24, "10.3.0.0/16")
    trap = POLICY_KINDS["trap-ondemand"]
    kernel.hook.pluto_kernel_add_policy(policy=trap, update=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("10.1.0.1", 40001))
        try:
            sock.sendto(b"ondemand", ("10.3.4.5", 7))
        except OSError:
            pass  # with xfrm_larval_drop the packet itself may be refused
    seen = kernel.events(Acquire)
    acquires = [e for e in seen if isinstance(e, Acquire)]
    assert acquires, f"no ACQUIRE (saw {seen})"
    a = acquires[0]
    assert (a.src, a.dst, a.reqid) == (LOCAL, REMOTE, 11)
    if kernel.caps.acquire_packet_selector:
        assert (a.sel_src, a.sel_dst, a.proto, a.sport, a.dport) == ("10.1.0.1/32", "10.3.4.5/32", 17, 40001, 7)
    else:  # the selector of the trap policy the kernel named by id
        assert (a.sel_src, a.sel_dst, a.proto, a.sport, a.dport) == ("10.1.0.0/16", "10.3.0.0/16", 0, 0, 0)
    assert a.policy_direction is Direction.OUT


def test_udp_encap_on_socket(kernel: KernelUnderTest) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 4500))
        kernel.hook.pluto_kernel_enable_udp_encap(sock=sock)
        assert sock.getsockopt(socket.IPPROTO_UDP, 100) == 2  # UDP_ENCAP == UDP_ENCAP_ESPINUDP


# --------------------------------------------------------------------------
# SAs (ESP)
# --------------------------------------------------------------------------


def _key(n: int, seed: int = 1) -> bytes:
    return bytes((seed * 37 + i * 11) & 0xFF for i in range(n))


# name -> (SaSpec fields, expected ip lines: {line kind: (kernel name, bits)})
SA_CASES: dict[str, dict[str, Any]] = {
    "aes128gcm16-tunnel": dict(encr=EncrId.AES_GCM_16, encr_key=_key(20)),
    "aes256gcm16-transport-esn": dict(encr=EncrId.AES_GCM_16, encr_key=_key(36), mode=Mode.TRANSPORT, esn=True,
                                      replay_window=128),
    "aes128gcm8": dict(encr=EncrId.AES_GCM_8, encr_key=_key(20)),
    "chacha20poly1305": dict(encr=EncrId.CHACHA20_POLY1305, encr_key=_key(36)),
    "aes128cbc-sha1_96": dict(encr=EncrId.AES_CBC, encr_key=_key(16), integ=IntegId.HMAC_SHA1_96,
                              integ_key=_key(20, 2)),
    "aes256cbc-sha2_256_128": dict(encr=EncrId.AES_CBC, encr_key=_key(32), integ=IntegId.HMAC_SHA2_256_128,
                                   integ_key=_key(32, 2)),
    "aes192cbc-sha2_384_192": dict(encr=EncrId.AES_CBC, encr_key=_key(24), integ=IntegId.HMAC_SHA2_384_192,
                                   integ_key=_key(48, 2)),
    "aes128cbc-sha2_512_256": dict(encr=EncrId.AES_CBC, encr_key=_key(16), integ=IntegId.HMAC_SHA2_512_256,
                                   integ_key=_key(64, 2)),
    "aes128ctr-sha2_256_128": dict(encr=EncrId.AES_CTR, encr_key=_key(20), integ=IntegId.HMAC_SHA2_256_128,
                                   integ_key=_key(32, 2)),
    "nat-t-encap": dict(encr=EncrId.AES_GCM_16, encr_key=_key(20), encap=Encap(4500, 4501)),
    "lifetimes": dict(encr=EncrId.AES_CBC, encr_key=_key(16), integ=IntegId.HMAC_SHA2_256_128,
                      integ_key=_key(32, 2), lifetime=Lifetime(1000000, 2000000, 1000, 2000, 3000, 3600)),
}

# What `ip xfrm state` names each transform, one table per transform type: the ENCR
# and INTEG ID spaces overlap (AES_CBC and HMAC_SHA2_256_128 are both 12).
ENCR_LINES: dict[int, tuple[str, str, int | None]] = {
    EncrId.AES_GCM_16: ("aead", "rfc4106(gcm(aes))", 128), EncrId.AES_GCM_8: ("aead", "rfc4106(gcm(aes))", 64),
    EncrId.CHACHA20_POLY1305: ("aead", "rfc7539esp(chacha20,poly1305)", 128),
    EncrId.AES_CBC: ("enc", "cbc(aes)", None), EncrId.AES_CTR: ("enc", "rfc3686(ctr(aes))", None),
}
INTEG_LINES: dict[int, tuple[str, str, int]] = {
    IntegId.HMAC_SHA1_96: ("auth-trunc", "hmac(sha1)", 96),
    IntegId.HMAC_SHA2_256_128: ("auth-trunc", "hmac(sha256)", 128),
    IntegId.HMAC_SHA2_384_192: ("auth-trunc", "hmac(sha384)", 192),
    IntegId.HMAC_SHA2_512_256: ("auth-trunc", "hmac(sha512)", 256),
}


def assert_sa_shown(sa: SaSpec, shown: dict[str, Any]) -> None:
    """``shown`` (one ``ip xfrm state`` entry) holds exactly the algorithms and keys of ``sa``."""
    assert (shown["src"], shown["dst"], shown["proto"], shown["spi"]) == (sa.src, sa.dst, "esp", sa.spi), shown
    assert (shown["mode"], shown["reqid"]) == (sa.mode.value, sa.reqid), shown
    kind, kname, bits = ENCR_LINES[sa.encr]
    assert shown[kind][:2] == [kname, "0x" + sa.encr_key.hex()], shown
    if bits is not None:
        assert int(shown[kind][2]) == bits, shown
    if sa.integ:
        kind, kname, ibits = INTEG_LINES[sa.integ]
        assert shown[kind] == [kname, "0x" + sa.integ_key.hex(), str(ibits)], shown
    else:
        assert "auth-trunc" not in shown and "enc" not in shown, shown
    if sa.esn:
        assert "esn" in shown.get("flags", []), shown
    if sa.encap is not None:
        assert (shown["encap"]["type"], shown["encap"]["sport"], shown["encap"]["dport"]) == \
            ("espinudp", str(sa.encap.sport), str(sa.encap.dport)), shown



def _sa(name: str, spi: int = 0x1000) -> SaSpec:
    return SaSpec(LOCAL, REMOTE, spi, reqid=21, **SA_CASES[name])


def refusal(kernel: KernelUnderTest, sa: SaSpec) -> str | None:
    """Why the backend refuses ``sa`` before asking the kernel, from what it declares
    (its algorithm check, then ESN), or None when it is to be installed."""
    key_bits = len(sa.encr_key) * 8 - (32 if sa.encr == EncrId.AES_CTR else 0)  # AES-CTR: key + 4-octet nonce
    reason = kernel.port.check_child(encr_id=sa.encr, key_bits=key_bits, integ_id=sa.integ or None)
    if reason is None and sa.esn:
        return kernel.port.features().esn_refusal
    return reason


def installable(kernel: KernelUnderTest, *names: str) -> str:
    """The first of these SA cases the backend can carry (Linux af_key: no AEAD, no
    HMAC-SHA2-256-128; so PF_KEY runs on AES-CBC with HMAC-SHA1-96)."""
    return next(name for name in names if refusal(kernel, _sa(name)) is None)


def _esp_or_skip(kernel: KernelUnderTest) -> None:
    probe = SaSpec(LOCAL, REMOTE, 0x999, encr=EncrId.AES_CBC, encr_key=_key(16), integ=IntegId.HMAC_SHA1_96,
                   integ_key=_key(20))
    try:
        kernel.hook.pluto_kernel_add_sa(sa=probe, update=False)
    except KernelError as exc:
        if "lacks ESP" in str(exc):
            pytest.skip("this kernel has no ESP (the lab tier runs this)")
        raise
    kernel.hook.pluto_kernel_del_sa(sa=SaId(REMOTE, 0x999))


def test_sa_without_esp_names_the_module(kernel: KernelUnderTest) -> None:
    """On a kernel without ESP, every ESP SA the backend can carry, AEAD or not,
    says so plainly."""
    names = [n for n in ("aes128gcm16-tunnel", "aes256cbc-sha2_256_128") if refusal(kernel, _sa(n)) is None]
    for name in names or ["aes128cbc-sha1_96"]:
        try:
            kernel.hook.pluto_kernel_add_sa(sa=_sa(name), update=False)
        except KernelError as exc:
            text = str(exc)
            assert "kernel lacks ESP support" in text and "esp4" in text, text
            assert exc.errno in (errno.EPROTONOSUPPORT, errno.ENOSYS)
            assert exc.operation == "add SA"
        else:
            kernel.hook.pluto_kernel_del_sa(sa=SaId(REMOTE, 0x1000))
            pytest.skip("this kernel has ESP")
    assert ipxfrm.states() == []


@pytest.mark.parametrize("name", sorted(SA_CASES))
def test_sa_algorithm_installed_exactly(kernel: KernelUnderTest, name: str) -> None:
    """What the backend can carry is installed exactly as asked (``ip xfrm state``);
    what it declares it cannot is refused first, says why, and installs nothing."""
    _esp_or_skip(kernel)
    sa = _sa(name)
    reason = refusal(kernel, sa)
    if reason is not None:
        with pytest.raises(KernelError) as err:
            kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
        assert err.value.errno == errno.EOPNOTSUPP and reason in str(err.value)
        assert ipxfrm.states() == []
        return
    kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
    (shown,) = ipxfrm.states()
    assert_sa_shown(sa, shown)
    kernel.hook.pluto_kernel_del_sa(sa=SaId(REMOTE, 0x1000))
    assert ipxfrm.states() == []


def test_sa_query_and_delete(kernel: KernelUnderTest) -> None:
    _esp_or_skip(kernel)
    kernel.hook.pluto_kernel_add_sa(sa=_sa(installable(kernel, "aes256cbc-sha2_256_128", "aes128cbc-sha1_96")),
                                    update=False)
    counters = kernel.hook.pluto_kernel_query_sa(sa=SaId(REMOTE, 0x1000))
    assert (counters.bytes, counters.packets, counters.use_time) == (0, 0, 0)
    assert abs(counters.add_time - time.time()) < 60
    kernel.hook.pluto_kernel_del_sa(sa=SaId(REMOTE, 0x1000))
    with pytest.raises(KernelError) as err:
        kernel.hook.pluto_kernel_query_sa(sa=SaId(REMOTE, 0x1000))
    assert err.value.errno in (errno.ENOENT, errno.ESRCH)


def test_sa_soft_and_hard_expire(kernel: KernelUnderTest) -> None:
    _esp_or_skip(kernel)
    name = installable(kernel, "aes256cbc-sha2_256_128", "aes128cbc-sha1_96")
    sa = dataclasses.replace(_sa(name, 0x1001), reqid=22, lifetime=Lifetime(soft_seconds=1, hard_seconds=3))
    kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
    seen = kernel.events(Expire, timeout=3.0)
    soft = [e for e in seen if isinstance(e, Expire)]
    assert soft and not soft[0].hard and soft[0].sa.spi == 0x1001 and soft[0].reqid == 22
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and not any(isinstance(e, Expire) and e.hard for e in seen):
        seen += kernel.events(Expire, timeout=1.0)
    assert any(isinstance(e, Expire) and e.hard and e.sa.spi == 0x1001 for e in seen)
    assert ipxfrm.states() == []


# --------------------------------------------------------------------------
# Traffic between two namespaces keyed through the backend alone (no IKE)
# --------------------------------------------------------------------------

PEER_NS = "pluto-conformance-peer"
INNER_A, INNER_B = "10.1.0.1", "10.2.0.1"
SPI_AB, SPI_BA = 0x1A01, 0x1B01


def _open_peer(kernel: KernelUnderTest) -> Any:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(type(kernel.backend)())
    with inside(PEER_NS):
        manager.hook.pluto_kernel_open(options=None, log=None)
    return manager.hook


def _key_side(hook: Any, here: str, there: str, inner_here: str, inner_there: str, spi_out: int, spi_in: int,
              encap: Encap | None, case: str) -> None:
    for src, dst, spi in ((here, there, spi_out), (there, here, spi_in)):
        hook.pluto_kernel_add_sa(sa=dataclasses.replace(_sa(case, spi), src=src, dst=dst, reqid=31, encap=encap),
                                 update=False)
    out = (Template(Mode.TUNNEL, here, there, 31),)
    back = (Template(Mode.TUNNEL, there, here, 31),)
    hook.pluto_kernel_add_policy(policy=PolicySpec(f"{inner_here}/32", f"{inner_there}/32", Direction.OUT,
                                                   templates=out), update=False)
    hook.pluto_kernel_add_policy(policy=PolicySpec(f"{inner_there}/32", f"{inner_here}/32", Direction.IN,
                                                   templates=back), update=False)


@pytest.mark.parametrize("encap", [None, Encap(4500, 4500)], ids=["esp", "udp-encap-4500"])
def test_tunnel_traffic_and_counters(kernel: KernelUnderTest, encap: Encap | None) -> None:
    """Fixed keys on both ends through the hooks only (AES-GCM, or AES-CBC with
    HMAC-SHA1-96 where the backend has no AEAD); datagrams cross the tunnel, and
    the counters read back equal those of ``ip -s xfrm state``."""
    _esp_or_skip(kernel)
    case = installable(kernel, "aes128gcm16-tunnel", "aes128cbc-sha1_96")
    with named_netns(PEER_NS):
        ip("link", "add", "pv0", "type", "veth", "peer", "name", "pv1")
        ip("link", "set", "pv1", "netns", PEER_NS)
        for ns, dev, outer, inner, other in ((None, "pv0", LOCAL, INNER_A, INNER_B),
                                             (PEER_NS, "pv1", REMOTE, INNER_B, INNER_A)):
            pre = ["-n", ns] if ns else []
            ip(*pre, "link", "set", dev, "up")
            ip(*pre, "addr", "add", f"{outer}/24", "dev", dev)
            ip(*pre, "addr", "add", f"{inner}/32", "dev", dev)
            ip(*pre, "route", "add", f"{other}/32", "dev", dev, "src", inner)
        peer = _open_peer(kernel)
        sockets: list[socket.socket] = []
        try:
            if encap is not None:  # the IKE daemons' port-4500 sockets take ESP in UDP
                mine = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                mine.bind((LOCAL, 4500))
                kernel.hook.pluto_kernel_enable_udp_encap(sock=mine)
                with inside(PEER_NS):
                    theirs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    theirs.bind((REMOTE, 4500))
                peer.pluto_kernel_enable_udp_encap(sock=theirs)
                sockets += [mine, theirs]
            _key_side(kernel.hook, LOCAL, REMOTE, INNER_A, INNER_B, SPI_AB, SPI_BA, encap, case)
            with inside(PEER_NS):
                _key_side(peer, REMOTE, LOCAL, INNER_B, INNER_A, SPI_BA, SPI_AB, encap, case)
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
# XFRM interfaces (ipsec-interface=)
# --------------------------------------------------------------------------


def _link(name: str) -> str:
    import subprocess

    return subprocess.run(["ip", "-d", "link", "show", name], capture_output=True, text=True).stdout


def test_xfrm_interface_lifecycle(kernel: KernelUnderTest) -> None:
    """The first conn creates ipsecN (kind xfrm, its if_id, up), a second shares it, the last
    one's release deletes it; a backend without interfaces refuses before asking the kernel."""
    why = kernel.port.features().if_id_refusal
    if why is not None:
        with pytest.raises(KernelError) as err:
            kernel.port.hold_interface("a", 7)
        assert err.value.errno == errno.EOPNOTSUPP and why in str(err.value)
        assert _link("ipsec7") == ""
        return
    try:
        created = kernel.port.hold_interface("a", 7)
    except KernelError as exc:
        assert exc.errno == errno.EOPNOTSUPP and "load module xfrm_interface" in str(exc)
        pytest.skip(f"this kernel has no XFRM interfaces: {exc}")
    assert created == "created XFRM interface ipsec7 (if_id 7)"
    shown = _link("ipsec7")
    assert "xfrm if_id 0x7" in shown and ",UP" in shown, shown
    assert kernel.port.hold_interface("b", 7) is None
    assert kernel.port.release_interface("a", 7) is None and "ipsec7" in _link("ipsec7")
    assert kernel.port.release_interface("b", 7) == "deleted XFRM interface ipsec7"
    assert _link("ipsec7") == ""
    # one the operator made is used and left alone, even at shutdown
    ip("link", "add", "ipsec8", "type", "xfrm", "if_id", "8")
    assert kernel.port.hold_interface("c", 8) == "using existing XFRM interface ipsec8 (if_id 8)"
    assert kernel.port.flush_owned() == 0 and "ipsec8" in _link("ipsec8")


# --------------------------------------------------------------------------
# MOBIKE: moving a Child SA to new end points in place
# --------------------------------------------------------------------------

MOVED = "192.0.2.11"


def test_migrate_moves_policy_and_sa_in_place(kernel: KernelUnderTest) -> None:
    """The policy's template and the SA it reaches get the new source address; the SA
    keeps its SPI (and keys, sequence numbers). A backend that cannot says so, and the
    port refuses before asking it."""
    refusal_text = kernel.port.migrate_refusal()
    old = POLICY_KINDS["tunnel-out"]
    new = dataclasses.replace(old, templates=(Template(Mode.TUNNEL, MOVED, REMOTE, 11),))
    if refusal_text is not None:
        assert "not with this backend" in refusal_text
        return
    kernel.hook.pluto_kernel_add_policy(policy=old, update=False)
    with_sa = True
    try:
        _esp_or_skip(kernel)
    except pytest.skip.Exception:
        with_sa = False  # this kernel has no ESP: the policy alone moves
    sa = dataclasses.replace(_sa(installable(kernel, "aes128gcm16-tunnel", "aes128cbc-sha1_96"), 0x2345), reqid=11)
    moved = ((SaId(REMOTE, 0x2345, src=LOCAL), SaId(REMOTE, 0x2345, src=MOVED)),)
    if with_sa:
        kernel.hook.pluto_kernel_add_sa(sa=sa, update=False)
    kernel.hook.pluto_kernel_migrate(old=old, new=new, moved=moved, encap=None)
    _assert_shown_as_intended(new, _find_policy(new))
    if with_sa:
        (state,) = [s for s in ipxfrm.states() if s["spi"] == 0x2345]
        assert (state["src"], state["dst"]) == (MOVED, REMOTE)
    # what the backend owns moved with it: the flush takes the moved SA and the policy
    assert kernel.hook.pluto_kernel_flush_owned() == (2 if with_sa else 1)
    assert ipxfrm.policies() == [] and [s for s in ipxfrm.states() if s["spi"] == 0x2345] == []
