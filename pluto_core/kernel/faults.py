"""Test-only kernel faults (``--impair``, in the spirit of Libreswan's ``--impair``).

:class:`FaultyBackend` is a plugin that wraps the selected kernel backend: the daemon
registers it in the backend's place when ``--impair kernel-fail:...`` or
``--impair kernel-sas-in-memory`` is given, and nothing else ever does. Every
``pluto_kernel_*`` hook goes to the wrapped backend, except that

* ``kernel-fail:OP:ERRNO[:WHICH]`` makes calls of ``OP`` fail with ``KernelError(ERRNO)``
  before the backend is asked. ``OP`` is one of :data:`OPERATIONS`; ``ERRNO`` a name
  (``ENOMEM``, ``EEXIST``, ``EINVAL``...) or a number; ``WHICH`` is ``N`` (only the N-th
  call, counted from 1 per ``OP``), ``N+`` (the N-th and every later one) or absent
  (every call). Repeat the option for more faults.
* ``kernel-sas-in-memory`` keeps SAs in this plugin's memory instead of the kernel
  (``add_sa``, ``del_sa``, ``query_sa``), so that on a kernel without ESP (the host
  tier) a Child SA's policies still reach the real kernel. SPIs are still allocated by the
  backend; the larval SA it leaves is deleted when the SA is "added".

Never for production: the help text and ``docs/reliability.md`` say so, and the daemon
logs a warning for each impairment at start-up.
"""

from __future__ import annotations

import errno as _errno
import time
from dataclasses import dataclass, field
from typing import Any

from pluto_core.errors import KernelError
from pluto_core.hookspecs import hookimpl
from pluto_core.impair import OPERATIONS, Impairments
from pluto_core.kernel.errors import sentence
from pluto_core.kernel.types import SaCounters, SaId, sa_id


@dataclass(slots=True)
class _MemorySa:
    spec: Any
    added: float = field(default_factory=time.time)


class FaultyBackend:
    """The selected backend behind injected faults. Registered in its place (same hooks),
    so the port, the engine and the daemon see one backend, as always."""

    def __init__(self, inner: Any, impairments: Impairments) -> None:
        self.inner = inner
        self.impairments = impairments
        self.calls: dict[str, int] = dict.fromkeys(OPERATIONS, 0)
        self.memory: dict[tuple[str, int, int], _MemorySa] = {}  # kernel-sas-in-memory

    def __getattr__(self, name: str) -> Any:  # the backend's own extras (dump_sas...), not hooks
        if name.startswith("pluto_"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _inner(self, hook: str, **kwargs: Any) -> Any:
        impl = getattr(self.inner, hook, None)
        return impl(**kwargs) if impl is not None else None

    def _check(self, op: str, operation: str | None = None) -> None:
        """Count one call of ``op``; raise the fault it is due, if any."""
        self.calls[op] += 1
        for fault in self.impairments.kernel_faults:
            if fault.op == op and fault.hits(self.calls[op]):
                words = operation or OPERATIONS[op]
                raise KernelError(words, fault.errno,
                                  f"{sentence(words, fault.errno, {}, {})} "
                                  f"[injected by --impair {fault.spelling}, call {self.calls[op]}]")

    # ------------------------------------------------------------------ passed through

    @hookimpl
    def pluto_kernel_open(self, options: Any, log: Any) -> Any:
        return self._inner("pluto_kernel_open", options=options, log=log)

    @hookimpl
    def pluto_kernel_features(self) -> Any:
        return self._inner("pluto_kernel_features")

    @hookimpl
    def pluto_kernel_check_child(self, encr_id: int, key_bits: int | None, integ_id: int | None) -> Any:
        return self._inner("pluto_kernel_check_child", encr_id=encr_id, key_bits=key_bits, integ_id=integ_id)

    @hookimpl
    def pluto_kernel_flush_owned(self) -> Any:
        removed = len(self.memory)
        self.memory.clear()
        return int(self._inner("pluto_kernel_flush_owned") or 0) + removed

    @hookimpl
    def pluto_kernel_close(self) -> Any:
        return self._inner("pluto_kernel_close")

    @hookimpl
    def pluto_kernel_add_interface(self, name: str, if_id: int) -> Any:
        return self._inner("pluto_kernel_add_interface", name=name, if_id=if_id)

    @hookimpl
    def pluto_kernel_del_interface(self, name: str) -> Any:
        return self._inner("pluto_kernel_del_interface", name=name)

    @hookimpl
    def pluto_kernel_bypass_socket(self, sock: Any) -> Any:
        return self._inner("pluto_kernel_bypass_socket", sock=sock)

    @hookimpl
    def pluto_kernel_enable_udp_encap(self, sock: Any) -> Any:
        return self._inner("pluto_kernel_enable_udp_encap", sock=sock)

    @hookimpl
    def pluto_kernel_event_fd(self) -> Any:
        return self._inner("pluto_kernel_event_fd")

    @hookimpl
    def pluto_kernel_read_events(self) -> Any:
        return self._inner("pluto_kernel_read_events")

    # ------------------------------------------------------------------ impaired

    @hookimpl
    def pluto_kernel_allocate_spi(self, src: str, dst: str, protocol: int) -> Any:
        self._check("allocate_spi")
        return self._inner("pluto_kernel_allocate_spi", src=src, dst=dst, protocol=protocol)

    @hookimpl
    def pluto_kernel_add_sa(self, sa: Any, update: bool) -> Any:
        self._check("add_sa", "update SA" if update else "add SA")
        if not self.impairments.sas_in_memory:
            return self._inner("pluto_kernel_add_sa", sa=sa, update=update)
        ident = sa_id(sa)
        key = (ident.dst, ident.spi, ident.proto)
        if key in self.memory and not update:
            raise KernelError("add SA", _errno.EEXIST, sentence("add SA", _errno.EEXIST, {}, {}))
        try:  # the larval SA allocate_spi left in the kernel, if any
            self._inner("pluto_kernel_del_sa", sa=SaId(ident.dst, ident.spi, ident.proto, None, ident.src))
        except KernelError:
            pass
        self.memory[key] = _MemorySa(sa)
        return None

    @hookimpl
    def pluto_kernel_del_sa(self, sa: SaId) -> Any:
        self._check("del_sa")
        if self.impairments.sas_in_memory and self.memory.pop((sa.dst, sa.spi, sa.proto), None) is not None:
            return None
        return self._inner("pluto_kernel_del_sa", sa=sa)

    @hookimpl
    def pluto_kernel_query_sa(self, sa: SaId) -> Any:
        held = self.memory.get((sa.dst, sa.spi, sa.proto)) if self.impairments.sas_in_memory else None
        if held is not None:
            return SaCounters(bytes=0, packets=0, add_time=int(held.added), use_time=0)
        if self.impairments.sas_in_memory:
            raise KernelError("query SA", _errno.ESRCH, sentence("query SA", _errno.ESRCH, {}, {}))
        return self._inner("pluto_kernel_query_sa", sa=sa)

    @hookimpl
    def pluto_kernel_add_policy(self, policy: Any, update: bool) -> Any:
        self._check("add_policy", "update policy" if update else "add policy")
        return self._inner("pluto_kernel_add_policy", policy=policy, update=update)

    @hookimpl
    def pluto_kernel_del_policy(self, policy: Any) -> Any:
        self._check("del_policy")
        return self._inner("pluto_kernel_del_policy", policy=policy)

    @hookimpl
    def pluto_kernel_migrate(self, old: Any, new: Any, moved: Any, encap: Any) -> Any:
        self._check("migrate")
        if self.impairments.sas_in_memory:
            for was, now in moved:
                held = self.memory.pop((was.dst, was.spi, was.proto), None)
                if held is not None:
                    self.memory[(now.dst, now.spi, now.proto)] = held
        return self._inner("pluto_kernel_migrate", old=old, new=new, moved=moved, encap=encap)


def wrap_backend(plugins: Any, impairments: Impairments) -> FaultyBackend | None:
    """Put a :class:`FaultyBackend` in the selected backend's place in ``plugins``
    (a :class:`pluto_core.plugins.PluginSet`); None when no kernel impairment is asked."""
    if not impairments.kernel or plugins.backend is None:
        return None
    manager = plugins.manager
    name = f"pluto.kernel:{plugins.backend.name}"
    inner = manager.get_plugin(name)
    if inner is None:
        return None
    manager.unregister(inner, name=name)
    wrapper = FaultyBackend(inner, impairments)
    manager.register(wrapper, name=f"{name}+impair")
    return wrapper
