"""Log sink: syslog(3), facility authpriv, ident ``pluto`` (the default destination)."""

from __future__ import annotations

import syslog as _syslog

from pluto_core.hookspecs import hookimpl
from pluto_core.logger import LogRecord, LogSettings


class SyslogSink:
    def __init__(self) -> None:
        self.active = False

    @hookimpl
    def pluto_log_configure(self, settings: LogSettings) -> None:
        if settings.syslog and not self.active:
            _syslog.openlog("pluto", _syslog.LOG_PID, _syslog.LOG_AUTHPRIV)
        elif not settings.syslog and self.active:
            _syslog.closelog()
        self.active = settings.syslog

    @hookimpl
    def pluto_log_record(self, record: LogRecord) -> None:
        if self.active:
            if record.debug_class is not None:
                priority = _syslog.LOG_DEBUG
            else:
                priority = _syslog.LOG_ERR if record.error else _syslog.LOG_WARNING
            _syslog.syslog(priority, record.text)

    @hookimpl
    def pluto_log_close(self) -> None:
        if self.active:
            _syslog.closelog()
        self.active = False


plugin = SyslogSink()
