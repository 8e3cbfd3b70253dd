"""Vendor ID payloads (RFC 7296 3.12): send ``--vendorid`` in IKE_SA_INIT and log
the ones peers send. A plugin through the ``pluto_ike_build``/``pluto_ike_read``
hooks, not a branch in the engine."""

from __future__ import annotations

from typing import Any

from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.enums import ExchangeType
from pluto_core.ikev2.payloads import VendorId

_PRINTABLE = set(range(0x20, 0x7F))


def describe(data: bytes) -> str:
    """Printable text as is (``strongSwan``), anything else as hex."""
    if data and all(b in _PRINTABLE for b in data):
        return data.decode("ascii")
    return data.hex()


class VendorIdPlugin:
    def __init__(self) -> None:
        self.vendorid: bytes | None = None
        self.log: Any = None

    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        self.vendorid = options.vendorid.encode() if options.vendorid else None
        self.log = log

    @hookimpl
    def pluto_ike_build(self, context: Any) -> list[Any]:
        if self.vendorid and context.exchange == ExchangeType.IKE_SA_INIT:
            return [VendorId(self.vendorid)]
        return []

    @hookimpl
    def pluto_ike_read(self, context: Any, payloads: list[Any]) -> None:
        if self.log is None:
            return
        for p in payloads:
            if isinstance(p, VendorId):
                self.log.log(f"\"{context.conn}\" #{context.serial}: received Vendor ID payload [{describe(p.data)}]")


plugin = VendorIdPlugin()
