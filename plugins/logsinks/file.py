"""Log sink: a log file (``--logfile``, ``logfile=``), appended unless ``--log-no-append``.

A file that cannot be written (a full disk, ``--logfile /dev/full``, an I/O error) does not
stop the daemon and is not retried on every line: the sink says so once on standard error,
sends the lines there instead (unless ``--stderrlog`` already does), and tries the file again
at most every :data:`RETRY_SECONDS`; when a write succeeds again it says so, in the file too
(docs/reliability.md).
"""

from __future__ import annotations

import errno
import os
import sys
import time
from typing import TextIO

from pluto_core.hookspecs import hookimpl
from pluto_core.logger import LogRecord, LogSettings, format_line

RETRY_SECONDS = 60.0


class FileSink:
    def __init__(self) -> None:
        self.stream: TextIO | None = None
        self.path: str | None = None
        self.with_time = True
        self.stderr_too = False  # --stderrlog: the stderr sink has the lines already
        self.failed_at: float | None = None  # monotonic time of the last failed write
        self.clock = time.monotonic

    @hookimpl
    def pluto_log_configure(self, settings: LogSettings) -> None:
        self.with_time = settings.time
        self.stderr_too = settings.stderr
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
        line = format_line(record, self.with_time) + "\n"
        if self.failed_at is not None:
            if self.clock() - self.failed_at < RETRY_SECONDS or not self._reopen():
                self._to_stderr(line)
                return
        if self.stream is None:
            return
        try:
            self.stream.write(line)
        except OSError as exc:
            self._failed(exc)
            self._to_stderr(line)

    def _failed(self, exc: OSError) -> None:
        """The first failure of a run of them: drop the stream (and what it buffered), say so once."""
        first = self.failed_at is None
        self.failed_at = self.clock()
        self._drop_stream()
        if first:
            name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            self._to_stderr(f"pluto: cannot write log file {self.path} ({name}: {exc.strerror}); log lines go "
                            f"to standard error until it can be written again (tried every {RETRY_SECONDS:g} s)\n",
                            always=True)

    def _reopen(self) -> bool:
        """Try the file again (append); True when a line could be written."""
        assert self.path is not None
        try:
            self.stream = open(self.path, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
            self.stream.write(f"pluto: log file writable again (pid {os.getpid()}); lines in between went to "
                              "standard error\n")
        except OSError:
            self._drop_stream()
            self.failed_at = self.clock()
            return False
        self.failed_at = None
        self._to_stderr(f"pluto: log file {self.path} writable again\n", always=True)
        return True

    def _drop_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is None:
            return
        try:
            stream.close()
        except OSError:  # its buffer cannot be flushed either: dropped with it
            pass

    def _to_stderr(self, text: str, always: bool = False) -> None:
        if self.stderr_too and not always:
            return
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    @hookimpl
    def pluto_log_close(self) -> None:
        self._drop_stream()
        self.path = None
        self.failed_at = None


plugin = FileSink()
