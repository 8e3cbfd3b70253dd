"""Logger and sinks in-process: syslog facility, debug filtering, masking, option merging."""

from __future__ import annotations

import syslog
from typing import Any

import pytest

from pluto_core.daemon import log_settings
from pluto_core.debug_classes import DebugSettings
from pluto_core.logger import Logger, LogRecord, LogSettings, format_line, mask_addresses
from pluto_core.options import Options, UsageError, apply_debug, build_options, parse_command_line
from pluto_plugins.logsinks.syslog import SyslogSink


def test_syslog_is_the_default_with_facility_authpriv(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = log_settings(Options())
    assert settings.syslog and not settings.stderr and settings.logfile is None
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(syslog, "openlog", lambda *a: calls.append(("open", *a)))
    monkeypatch.setattr(syslog, "syslog", lambda *a: calls.append(("log", *a)))
    monkeypatch.setattr(syslog, "closelog", lambda: calls.append(("close",)))
    sink = SyslogSink()
    sink.pluto_log_configure(settings)
    sink.pluto_log_record(LogRecord("hello", 0.0))
    sink.pluto_log_record(LogRecord("| dbg", 0.0, "base"))
    sink.pluto_log_close()
    assert calls[0] == ("open", "pluto", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
    assert calls[1] == ("log", syslog.LOG_WARNING, "hello")
    assert calls[2] == ("log", syslog.LOG_DEBUG, "| dbg")
    assert calls[3] == ("close",)


def test_stderr_or_logfile_turn_syslog_off() -> None:
    assert not log_settings(Options(stderrlog=True)).syslog
    assert not log_settings(Options(logfile="/tmp/x")).syslog


def test_debug_filter_and_prefix() -> None:
    seen: list[LogRecord] = []
    log = Logger(emit=seen.append, clock=lambda: 0.0)
    log.configure(LogSettings(debug=frozenset({"crypt"})))
    log.debug("not shown")
    log.debug("shown", "crypt")
    log.log("plain")
    assert [r.text for r in seen] == ["| shown", "plain"]


def test_mask_addresses() -> None:
    assert mask_addresses("peer 192.0.2.1:500 and 2001:db8::1 ok") == "peer <address>:500 and <address> ok"
    assert mask_addresses("#12 version 1.2.3 at 12:30:45") == "#12 version 1.2.3 at 12:30:45"


def test_format_line() -> None:
    record = LogRecord("text", 1_700_000_000.25)
    assert format_line(record, False) == "text"
    assert format_line(record, True).endswith(".250000: text")


def test_apply_debug_words_in_order() -> None:
    def enabled(start: set[str], spec: str, on: bool = True) -> frozenset[str]:
        return apply_debug(DebugSettings(frozenset(start)), spec, on, "x").enabled

    assert enabled(set(), "all") == {"base", "control", "kernel", "plugins"}
    assert enabled({"base"}, "none") == frozenset()
    assert enabled({"base", "control"}, "no-control") == frozenset({"base"})
    assert enabled({"base", "control"}, "-control") == frozenset({"base"})
    assert enabled({"base"}, "base", False) == frozenset()
    with pytest.raises(UsageError, match="x: unrecognized debug class 'bogus'"):
        apply_debug(DebugSettings(), "base bogus", True, "x")


def test_command_line_wins_over_setup() -> None:
    class Setup:
        logfile = "/from/file"
        nhelpers = 4
        logtime = False
        plutodebug = "base control"

    cmd = parse_command_line(["--logfile", "/from/cli", "--no-debug", "control"])
    opts = build_options(cmd, Setup())
    assert opts.logfile == "/from/cli"
    assert opts.nhelpers == 4 and opts.logtime is False
    assert opts.debug == frozenset({"base"})
