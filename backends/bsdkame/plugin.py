"""The ``bsdkame`` entry point: opens a PF_KEY v2 socket (RFC 2367).

On Linux that needs the ``af_key`` module; a kernel without it stops
start-up with a sentence saying so. SA and policy operations arrive with the
PF_KEY backend issue.
"""

from __future__ import annotations

import socket
from typing import Any

from pluto_core.errors import KernelError
from pluto_core.hookspecs import hookimpl

AF_KEY = getattr(socket, "AF_KEY", 15)  # 15 on Linux and the BSDs
PF_KEY_V2 = 2  # RFC 2367 section 2: the protocol argument of socket(2)


class BsdKameBackend:
    name = "bsdkame"

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.owned: list[Any] = []

    @hookimpl
    def pluto_kernel_open(self, options: Any, log: Any) -> str:
        try:
            self.sock = socket.socket(AF_KEY, socket.SOCK_RAW, PF_KEY_V2)
        except OSError as exc:
            raise KernelError("open PF_KEY v2 socket", exc.errno,
                              "this kernel has no PF_KEY v2 support (on Linux: modprobe af_key; "
                              "or use --use-xfrm)") from None
        return "Using KAME PF_KEY v2 IPsec kernel interface"

    @hookimpl
    def pluto_kernel_flush_owned(self) -> int:
        removed = len(self.owned)
        self.owned.clear()
        return removed

    @hookimpl
    def pluto_kernel_close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
