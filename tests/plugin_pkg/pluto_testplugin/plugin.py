"""Implements two hooks the way any third party would."""

from __future__ import annotations

from typing import Any

from pluto_core.hookspecs import hookimpl


class TestPlugin:
    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        log.log(f"testplugin: startup hook called (kernel backend {options.kernel_backend})")

    @hookimpl
    def pluto_shutdown(self) -> None:
        pass
