"""The engine's :class:`KernelPort` over the selected backend's hooks."""

from __future__ import annotations

import errno
from typing import Any

from pluto_core.errors import KernelError
from pluto_core.ikev2.conn import ChildInstall
from pluto_core.kernel.types import IPPROTO_ESP, SaId


class HookKernel:
    """Calls ``pluto_kernel_allocate_spi`` / ``_install_child`` / ``_remove_child``."""

    def __init__(self, hook: Any, backend: str) -> None:
        self.hook = hook
        self.backend = backend

    def _call(self, name: str, operation: str, **kwargs: Any) -> Any:
        caller = getattr(self.hook, name, None)
        if caller is None or not caller.get_hookimpls():
            raise KernelError(operation, errno.ENOSYS,
                              f"kernel backend '{self.backend}' does not implement {operation} yet")
        return caller(**kwargs)

    def allocate_spi(self, src: str, dst: str, protocol: int) -> int:
        return int(self._call("pluto_kernel_allocate_spi", "allocate SPI", src=src, dst=dst, protocol=protocol))

    def install_child(self, child: ChildInstall) -> None:
        self._call("pluto_kernel_install_child", "install Child SA", child=child)

    def remove_child(self, child: ChildInstall) -> tuple[int, int] | None:
        """Read the SAs' byte counters (for the ``child-down`` event: ``updown``'s
        PLUTO_INBYTES / PLUTO_OUTBYTES), then remove them."""
        counts = self._final_bytes(child)
        self._call("pluto_kernel_remove_child", "remove Child SA", child=child)
        return counts

    def _final_bytes(self, child: ChildInstall) -> tuple[int, int] | None:
        query = getattr(self.hook, "pluto_kernel_query_sa", None)
        if query is None or not query.get_hookimpls():
            return None
        counts = []
        for dst, src, spi in ((child.local_addr, child.remote_addr, child.inbound.spi),
                              (child.remote_addr, child.local_addr, child.outbound.spi)):
            try:
                counters = query(sa=SaId(dst, spi, IPPROTO_ESP, src=src))
            except KernelError:
                return None
            if counters is None:
                return None
            counts.append(int(counters.bytes))
        return counts[0], counts[1]
