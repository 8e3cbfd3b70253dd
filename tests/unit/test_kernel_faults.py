"""The test-only fault backend (``--impair kernel-fail:...``, pluto_core/kernel/faults.py) and
what the port does when the kernel refuses: nothing installed is left behind, a deletion the
kernel refused is logged, kept and retried."""

from __future__ import annotations

import errno
from dataclasses import replace
from typing import Any

import pluggy
import pytest

from pluto_core import hookspecs
from pluto_core.errors import KernelError
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import ChildInstall, ChildKeys
from pluto_core.impair import ImpairError, Impairments, KernelFault, parse_impairment
from pluto_core.kernel.faults import FaultyBackend
from pluto_core.kernel.port import Kernel
from pluto_core.kernel.types import KernelFeatures, PolicySpec, SaId, SaSpec, policy_identity, sa_id
from pluto_core.options import UsageError, build_options, parse_command_line, usage_text

FEATURES = KernelFeatures(esn_refusal=None, fwd_policies=True, algorithm_check=False, sa_counters=True,
                          events=False, udp_encap=False, socket_bypass=False)


class MemoryBackend:
    """A kernel in memory, through the backend hooks (as tests/engine/harness.py's MemoryKernel,
    one level lower): SPIs, SAs and policies, with larval SAs."""

    def __init__(self) -> None:
        self.next_spi = 0x1000
        self.sas: dict[tuple[str, int], Any] = {}
        self.policies: dict[Any, PolicySpec] = {}

    @hookspecs.hookimpl
    def pluto_kernel_features(self) -> KernelFeatures:
        return FEATURES

    @hookspecs.hookimpl
    def pluto_kernel_allocate_spi(self, src: str, dst: str, protocol: int) -> int:
        self.next_spi += 1
        self.sas[(dst, self.next_spi)] = "larval"
        return self.next_spi

    @hookspecs.hookimpl
    def pluto_kernel_add_sa(self, sa: SaSpec, update: bool) -> None:
        self.sas[(sa.dst, sa.spi)] = sa

    @hookspecs.hookimpl
    def pluto_kernel_del_sa(self, sa: SaId) -> None:
        if self.sas.pop((sa.dst, sa.spi), None) is None:
            raise KernelError("delete SA", errno.ESRCH)

    @hookspecs.hookimpl
    def pluto_kernel_add_policy(self, policy: PolicySpec, update: bool) -> None:
        self.policies[policy_identity(policy)] = policy

    @hookspecs.hookimpl
    def pluto_kernel_del_policy(self, policy: PolicySpec) -> None:
        if self.policies.pop(policy_identity(policy), None) is None:
            raise KernelError("delete policy", errno.ENOENT)

    @hookspecs.hookimpl
    def pluto_kernel_flush_owned(self) -> int:
        n = len(self.sas) + len(self.policies)
        self.sas.clear()
        self.policies.clear()
        return n


def port_with(*specs: str) -> tuple[Kernel, MemoryBackend, FaultyBackend, list[str]]:
    impairments = Impairments()
    for text in specs:
        impairments = parse_impairment(text, impairments)
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    memory = MemoryBackend()
    faulty = FaultyBackend(memory, impairments)
    manager.register(faulty, name="pluto.kernel:memory+impair")
    lines: list[str] = []
    return Kernel(manager.hook, "memory", lines.append), memory, faulty, lines


def child(port: Kernel, serial: int, subnet: str = "10.2.0.0/24") -> ChildInstall:
    spi = port.allocate_spi("192.0.2.2", "192.0.2.1", 3)
    return ChildInstall(
        conn=f"conn{serial}", serial=serial, local_addr="192.0.2.1", remote_addr="192.0.2.2", mode="tunnel",
        protocol=3, encr_id=20, encr_key_bits=128, integ_id=None, esn=False,
        inbound=ChildKeys(spi, bytes(20), b""), outbound=ChildKeys(0x3000 + serial, bytes(20), b""),
        local_ts=(Selector.from_subnet("10.1.0.0/24"),), remote_ts=(Selector.from_subnet(subnet),),
        replay_window=128, lifetime_soft=2700.0, lifetime_hard=3600.0, reqid=16384 + 4 * serial)


# ---------------------------------------------------------------- the syntax


def test_impair_syntax() -> None:
    have = parse_impairment("kernel-fail:add_sa:ENOMEM:2")
    assert have.kernel_faults == (KernelFault("add_sa", errno.ENOMEM, 2, False),)
    have = parse_impairment("kernel_fail:del-policy:EEXIST:3+", have)
    assert have.kernel_faults[1] == KernelFault("del_policy", errno.EEXIST, 3, True)
    assert parse_impairment("kernel-fail:migrate:22").kernel_faults == (KernelFault("migrate", 22, 1, True),)
    assert parse_impairment("kernel-sas-in-memory").sas_in_memory
    assert have.describe() == ["kernel-fail:add_sa:ENOMEM:2", "kernel-fail:del_policy:EEXIST:3+"]
    for bad in ("kernel-fail:add_sa", "kernel-fail:frob:ENOMEM", "kernel-fail:add_sa:ENOPE",
                "kernel-fail:add_sa:ENOMEM:0", "kernel-fail:add_sa:ENOMEM:x", "drop-everything"):
        with pytest.raises(ImpairError):
            parse_impairment(bad)


def test_impair_option_is_test_only_in_help_and_checked() -> None:
    assert "--impair WHAT" in usage_text() and "TEST ONLY" in usage_text()
    options = build_options(parse_command_line(["--impair", "kernel-fail:add_sa:ENOMEM:2",
                                                "--impair", "kernel-sas-in-memory"]))
    assert options.impair == ("kernel-fail:add_sa:ENOMEM:2", "kernel-sas-in-memory")
    assert options.impairments.sas_in_memory and len(options.impairments.kernel_faults) == 1
    with pytest.raises(UsageError, match="option --impair: unknown impairment"):
        parse_command_line(["--impair", "nonsense"])
    assert parse_command_line(["--impair", "help"]).action == "impair-help"
    assert build_options(parse_command_line([])).impairments.kernel is False


# ---------------------------------------------------------------- faults through the port


@pytest.mark.parametrize("code", [errno.ENOMEM, errno.EEXIST, errno.EINVAL])
@pytest.mark.parametrize("op, nth", [("allocate_spi", 2), ("add_sa", 3), ("add_policy", 4)])
def test_the_nth_call_fails_and_nothing_is_left(op: str, nth: int, code: int) -> None:
    """The second Child SA fails at the injected call: the error names the operation and
    errno, and neither the kernel nor the port's record keeps anything of it."""
    port, memory, _, _ = port_with(f"kernel-fail:{op}:{errno.errorcode[code]}:{nth}")
    first = child(port, 1)
    port.install_child(first)
    before_sas, before_policies = dict(memory.sas), dict(memory.policies)
    with pytest.raises(KernelError) as err:
        second = child(port, 2, "10.3.0.0/24")
        port.install_child(second)
    words = {"allocate_spi": "allocate SPI", "add_sa": "add SA", "add_policy": "update policy"}[op]
    assert f"kernel {words} failed ({errno.errorcode[code]}: " in str(err.value)
    assert f"injected by --impair kernel-fail:{op}:{errno.errorcode[code]}:{nth}" in str(err.value)
    assert memory.sas == before_sas and memory.policies == before_policies
    assert sorted(map(str, port.holders.policies)) == sorted(map(str, before_policies))
    port.install_child(child(port, 3, "10.4.0.0/24"))  # the next one works: only the nth failed
    port.remove_child(first)
    assert len(memory.policies) == 3 and port.undeleted == []


def test_faults_from_n_onward() -> None:
    port, memory, faulty, _ = port_with("kernel-fail:add_sa:EINVAL:3+")
    port.install_child(child(port, 1))
    for serial in (2, 3):
        with pytest.raises(KernelError, match=r"add SA failed \(EINVAL"):
            port.install_child(child(port, serial, f"10.{serial}.0.0/24"))
    assert faulty.calls["add_sa"] == 4  # 1, 2 for the first; 3 and 4 refused at once
    assert len(memory.sas) == 2 and len(memory.policies) == 3


@pytest.mark.parametrize("code", [errno.ENOMEM, errno.EEXIST, errno.EINVAL])
def test_a_refused_policy_delete_is_logged_and_retried(code: int) -> None:
    """Regression (defect: a failed policy delete was swallowed silently and the policy stayed
    in the kernel until shutdown): logged with the conn, operation and errno, retried before
    the next change."""
    port, memory, _, lines = port_with(f"kernel-fail:del_policy:{errno.errorcode[code]}:1")
    first, second = child(port, 1), child(port, 2, "10.3.0.0/24")
    port.install_child(first)
    port.install_child(second)
    port.remove_child(first)
    assert any(line.startswith('"conn1" #1: kernel delete policy failed (' + errno.errorcode[code])
               and "removed at the next change or at shutdown" in line for line in lines), lines
    assert len(port.undeleted) == 1 and len(memory.policies) == 4
    port.remove_child(second)  # the next change retries first
    assert port.undeleted == [] and memory.policies == {} and memory.sas == {}
    assert "removed 1 kernel entry whose deletion had failed" in lines


def test_a_refused_sa_delete_is_kept_until_flush() -> None:
    port, memory, _, lines = port_with("kernel-fail:del_sa:ENOMEM")
    first = child(port, 1)
    port.install_child(first)
    port.remove_child(first)
    assert memory.policies == {} and len(memory.sas) == 2 and len(port.undeleted) == 2
    assert sum("kernel delete SA failed (ENOMEM" in line for line in lines) == 2
    assert port.flush_owned() == 2 and port.undeleted == []  # the backend's own flush, not impaired


def test_a_policy_held_again_is_not_deleted_by_the_retry() -> None:
    port, memory, _, _ = port_with("kernel-fail:del_policy:ENOMEM:1")
    first = child(port, 1)
    port.install_child(first)
    port.remove_child(first)  # one policy refused
    again = child(port, 2)  # the same selectors: the policies are held again
    port.install_child(again)
    assert port.undeleted == [] and len(memory.policies) == 3


def test_migrate_fault_leaves_the_child_as_it_was() -> None:
    port, memory, _, _ = port_with("kernel-fail:migrate:ENOMEM:1", "kernel-sas-in-memory")
    memory.pluto_kernel_migrate = lambda **kw: None  # type: ignore[attr-defined]
    first = child(port, 1)
    port.install_child(first)
    moved = replace(first, local_addr="192.0.2.9")
    with pytest.raises(KernelError, match=r"kernel migrate SA failed \(ENOMEM"):
        port.migrate_child(first, moved)
    port.migrate_child(first, moved)  # the second call goes through


def test_sas_in_memory_keep_sas_out_of_the_backend() -> None:
    port, memory, faulty, _ = port_with("kernel-sas-in-memory")
    first = child(port, 1)
    assert (first.local_addr, first.inbound.spi) in memory.sas  # the backend's larval SA
    port.install_child(first)
    assert memory.sas == {} and len(faulty.memory) == 2 and len(memory.policies) == 3
    inbound = sa_id(SaSpec(first.remote_addr, first.local_addr, first.inbound.spi, 20, bytes(20)))
    assert port.query_sa(inbound) is not None
    port.remove_child(first)
    assert faulty.memory == {} and memory.policies == {} and port.undeleted == []
