"""A plugin whose hooks raise, for the reliability tests (docs/reliability.md): which hooks is
read from ``PLUTO_TESTPLUGIN_RAISE`` (comma-separated hook names) in the daemon's environment;
unset, it does nothing. The daemon must log each failure with the plugin's name and go on."""

from __future__ import annotations

import os
from typing import Any

from pluto_core.hookspecs import hookimpl


class Boom(RuntimeError):
    pass


def _maybe(hook: str) -> None:
    if hook in os.environ.get("PLUTO_TESTPLUGIN_RAISE", "").split(","):
        raise Boom(f"testplugin-raising raises in {hook} on purpose")


class RaisingPlugin:
    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        _maybe("pluto_startup")

    @hookimpl
    def pluto_shutdown(self) -> None:
        _maybe("pluto_shutdown")

    @hookimpl
    def pluto_log_record(self, record: Any) -> None:
        _maybe("pluto_log_record")

    @hookimpl
    def pluto_event(self, event: Any, conn: Any) -> None:
        _maybe("pluto_event")

    @hookimpl
    def pluto_ike_build(self, context: Any) -> list[Any]:
        _maybe("pluto_ike_build")
        return []

    @hookimpl
    def pluto_ike_read(self, context: Any, payloads: Any) -> None:
        _maybe("pluto_ike_read")

    @hookimpl
    def pluto_kernel_acquire(self, event: Any) -> None:
        _maybe("pluto_kernel_acquire")

    @hookimpl
    def pluto_address_lease(self, conn: Any, peer: Any, version: int) -> str | None:
        _maybe("pluto_address_lease")
        return None


class RaisingSource:
    """An auth source (group pluto.auth, asked when auth-sources= names it ``raising``)."""

    @hookimpl
    def pluto_auth_psk(self, local_id: Any, remote_id: Any, conn: Any) -> bytes | None:
        _maybe("pluto_auth_psk")
        return None
