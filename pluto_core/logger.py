"""The daemon's logger: filters debug classes, then hands records to the
log-sink plugins through the ``pluto_log_*`` hooks.

Lines read like Libreswan's; debug lines start with ``| ``. The debug-class
check happens before any formatting so that disabled debugging costs one
set lookup.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# For --log-no-ip: IPv4 dotted quads, full IPv6, and IPv6 with "::" (which
# keeps clock times such as 12:30:45 out).
_H = "[0-9A-Fa-f]{1,4}"
_IP_RE = re.compile(
    r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])"
    rf"|(?<![\w:])(?:(?:{_H}:){{7}}{_H}|(?:{_H}(?::{_H})*)?::(?:{_H}(?::{_H})*)?)(?![\w:])"
)
MASKED_ADDRESS = "<address>"


@dataclass(frozen=True, slots=True)
class LogSettings:
    """Where logging goes, as the options and ``config setup`` decided."""

    stderr: bool = False
    logfile: str | None = None
    syslog: bool = True
    time: bool = True
    append: bool = True
    ip: bool = True
    debug: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One line: ``text`` already has the ``| `` prefix when it is a debug line."""

    text: str
    when: float
    debug_class: str | None = None
    error: bool = False


def format_line(record: LogRecord, with_time: bool) -> str:
    """``Nov 28 01:50:41.123456: text`` or just ``text``."""
    if not with_time:
        return record.text
    stamp = time.localtime(record.when)
    micro = int((record.when % 1) * 1_000_000)
    return f"{time.strftime('%b %e %H:%M:%S', stamp)}.{micro:06d}: {record.text}"


def mask_addresses(text: str) -> str:
    return _IP_RE.sub(MASKED_ADDRESS, text)


@dataclass(slots=True)
class Logger:
    """Dispatches records to the sinks; ``emit`` is the hook caller."""

    emit: Callable[[LogRecord], Any]
    settings: LogSettings = field(default_factory=LogSettings)
    clock: Callable[[], float] = time.time

    def configure(self, settings: LogSettings) -> None:
        self.settings = settings

    def debugging(self, debug_class: str = "base") -> bool:
        return debug_class in self.settings.debug

    def _send(self, text: str, debug_class: str | None, error: bool) -> None:
        if not self.settings.ip:
            text = mask_addresses(text)
        self.emit(LogRecord(text, self.clock(), debug_class, error))

    def log(self, text: str) -> None:
        self._send(text, None, False)

    def error(self, text: str) -> None:
        self._send(text, None, True)

    def debug(self, text: str, debug_class: str = "base") -> None:
        if debug_class in self.settings.debug:
            self._send("| " + text, debug_class, False)
