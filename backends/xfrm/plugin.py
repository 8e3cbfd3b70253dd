"""The ``xfrm`` entry point: opens NETLINK_XFRM and keeps the record of what
this daemon installed, so that shutdown removes exactly that.

SA and policy operations arrive with the XFRM backend issue; until then the
record is empty and shutdown has nothing to remove.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from pluto_core.errors import KernelError
from pluto_core.hookspecs import hookimpl

NETLINK_XFRM = 6  # <linux/netlink.h>


class XfrmBackend:
    name = "xfrm"

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.owned: list[Any] = []

    @hookimpl
    def pluto_kernel_open(self, options: Any, log: Any) -> str:
        family = getattr(socket, "AF_NETLINK", None)
        if family is None:
            raise KernelError("open NETLINK_XFRM socket", errno.EAFNOSUPPORT,
                              "this system has no netlink: XFRM is Linux only; try --use-bsdkame")
        try:
            sock = socket.socket(family, socket.SOCK_RAW, NETLINK_XFRM)
            sock.bind((0, 0))
        except OSError as exc:
            raise KernelError("open NETLINK_XFRM socket", exc.errno,
                              "this kernel has no XFRM netlink interface (CONFIG_XFRM_USER, "
                              "module xfrm_user)") from None
        self.sock = sock
        return "Using Linux XFRM/netlink IPsec kernel interface"

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
