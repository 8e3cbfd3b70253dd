"""Log sink: a log file (``--logfile``, ``logfile=``), appended unless ``--log-no-append``."""

from __future__ import annotations

from typing import TextIO

from pluto_core.hookspecs import hookimpl
from pluto_core.logger import LogRecord, LogSettings, format_line


class FileSink:
    def __init__(self) -> None:
        self.stream: TextIO | None = None
        self.path: str | None = None
        self.with_time = True

    @hookimpl
    def pluto_log_configure(self, settings: LogSettings) -> None:
        self.with_time = settings.time
        if settings.logfile == self.path and self.stream is not None:
            return
        self.pluto_log_close()
        if settings.logfile is None:
            return
        # Line buffered: an operator tailing the file sees each line at once.
        self.stream = open(settings.logfile, "a" if settings.append else "w", buffering=1,  # noqa: SIM115
                           encoding="utf-8", errors="replace")
        self.path = settings.logfile

    @hookimpl
    def pluto_log_record(self, record: LogRecord) -> None:
        if self.stream is not None:
            try:
                self.stream.write(format_line(record, self.with_time) + "\n")
            except OSError:
                pass  # a full disk must not stop the daemon

    @hookimpl
    def pluto_log_close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.stream = None
        self.path = None


plugin = FileSink()
