"""Log sink: standard error (``--stderrlog``)."""

from __future__ import annotations

import sys

from pluto_core.hookspecs import hookimpl
from pluto_core.logger import LogRecord, LogSettings, format_line


class StderrSink:
    def __init__(self) -> None:
        self.settings: LogSettings | None = None

    @hookimpl
    def pluto_log_configure(self, settings: LogSettings) -> None:
        self.settings = settings if settings.stderr else None

    @hookimpl
    def pluto_log_record(self, record: LogRecord) -> None:
        if self.settings is None:
            return
        try:
            sys.stderr.write(format_line(record, self.settings.time) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            self.settings = None  # stderr went away (closed terminal): stop, do not crash

    @hookimpl
    def pluto_log_close(self) -> None:
        self.settings = None


plugin = StderrSink()
