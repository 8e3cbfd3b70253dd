"""The engine's ``Addresses`` port in the daemon: the ``pluto_address_lease`` plugins
first (a RADIUS or DHCP source, say), then the built-in ``addresspool=`` pools
(:class:`pluto_core.ikev2.pool.Pools`). A release goes back to whoever leased."""

from __future__ import annotations

from typing import Any

from pluto_core.ikev2.pool import Pools
from pluto_core.ikev2.types import EngineConn, IdSpec


class HookAddresses:
    """Ask each plugin implementing ``pluto_address_lease`` in turn; none answering, the pool."""

    def __init__(self, hook: Any, log: Any, pools: Pools | None = None) -> None:
        self.hook = hook
        self.log = log
        self.pools = pools if pools is not None else Pools()
        self._leased_by: dict[tuple[str, str, str], str] = {}  # (conn, ID, address) -> plugin name

    def _impls(self, name: str) -> list[Any]:
        caller = getattr(self.hook, name, None)
        return list(reversed(caller.get_hookimpls())) if caller is not None else []  # pluggy's call order

    def lease(self, conn: EngineConn, peer: IdSpec, version: int) -> str | None:
        for impl in self._impls("pluto_address_lease"):
            args = {"conn": conn, "peer": peer, "version": version}
            try:
                address = impl.function(**{k: v for k, v in args.items() if k in impl.argnames})
            except Exception as exc:
                self.log.log(f"\"{conn.name}\": address source {impl.plugin_name}: pluto_address_lease failed: "
                             f"{exc.__class__.__name__}: {exc}: skipped")
                continue
            if address is not None:
                self._leased_by[(conn.name, peer.text, str(address))] = impl.plugin_name
                return str(address)
        return self.pools.lease(conn, peer, version)

    def release(self, conn: EngineConn, peer: IdSpec, address: str) -> None:
        owner = self._leased_by.pop((conn.name, peer.text, address), None)
        if owner is None:
            self.pools.release(conn, peer, address)
            return
        for impl in self._impls("pluto_address_release"):
            if impl.plugin_name != owner:
                continue
            args = {"conn": conn, "peer": peer, "address": address}
            try:
                impl.function(**{k: v for k, v in args.items() if k in impl.argnames})
            except Exception as exc:
                self.log.log(f"\"{conn.name}\": address source {owner}: pluto_address_release failed: "
                             f"{exc.__class__.__name__}: {exc}")
