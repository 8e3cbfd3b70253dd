"""The one debug-class parser (config loader, checkconfig, command line), the option table's
"not acted on" marks, and the kernel-backend conflict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pluto_core.config import load_config, parse_config
from pluto_core.config import values as V
from pluto_core.config.keywords import setup_keywords
from pluto_core.debug_classes import (
    IMPLEMENTED,
    NOT_IMPLEMENTED,
    DebugSettings,
    apply_debug,
    debug_help,
    parse_debug_words,
)
from pluto_core.logger import Logger, LogSettings
from pluto_core.options import (
    _SETUP_FIELDS,
    OPTION_TABLE,
    UsageError,
    build_options,
    parse_command_line,
    startup_notices,
    usage_text,
)

# Every class name of the list (Libreswan 3.x to 5.x), and the list forms.
LIBRESWAN_CLASSES = (
    "private routing refcnt updown add-prefix crypt emitting parsing control lifecycle kernel dns oppo "
    "controlmore pfkey nattraversal x509 dpd xauth retransmits oppoinfo whackwatch tmi cpu-usage helper "
    "details base natt klips netkey raw crypt-low proposal-parser helper-thread"
).split()


@pytest.mark.parametrize("name", LIBRESWAN_CLASSES)
def test_every_libreswan_class_is_accepted_by_both_parsers(name: str) -> None:
    for spec in (name, f"no-{name}", f"-{name}", f"all,{name}", f"none {name.upper()}"):
        V.parse_debug(spec)
        build_options(parse_command_line([f"--debug={spec}"]))


def test_all_private_is_all_we_log_and_private_is_only_named() -> None:
    result = apply_debug(DebugSettings(), "all,private")
    assert result.enabled == frozenset(IMPLEMENTED)
    assert result.ignored == ("private",)
    assert "private" not in result.enabled
    # whatever asks for it, a "private" debug line is never emitted
    lines: list[str] = []
    log = Logger(emit=lambda record: lines.append(record.text))
    log.configure(LogSettings(debug=build_options(parse_command_line(["--debug", "all,private"])).debug))
    log.debug("secret material", "private")
    log.debug("shown")
    assert lines == ["| shown"]


def test_words_apply_in_order() -> None:
    assert apply_debug(DebugSettings(), "crypt,base,no-crypt").ignored == ()
    assert apply_debug(DebugSettings(), "crypt none base") == DebugSettings(frozenset({"base"}), ())
    assert apply_debug(DebugSettings(), "all,no-all") == DebugSettings()
    assert apply_debug(DebugSettings(frozenset({"base"})), "routing", enable=False).enabled == {"base"}
    assert [w.enable for w in parse_debug_words("base -base no-base")] == [True, False, False]


@pytest.mark.parametrize("spec", ["bogus", "all,bogus", "no-none", "no-", "help", "aksdfjasd;fklj"])
def test_unknown_words_are_errors_in_both_parsers(spec: str) -> None:
    with pytest.raises(ValueError, match="unrecognized debug class"):
        V.parse_debug(spec)
    with pytest.raises(UsageError, match="unrecognized debug class"):
        build_options(parse_command_line(["--debug", spec]))


def test_every_corpus_plutodebug_value_is_accepted(corpus: Path) -> None:
    values: set[str] = set()
    for path in (corpus / "libreswan-conf").glob("*.conf"):
        text = path.read_text(errors="replace")
        values.update(m.group(1).strip().strip('"') for m in re.finditer(r"^\s*plutodebug\s*=\s*(.*)$", text, re.M))
    values.discard("aksdfjasd;fklj")  # addconn-45: deliberately broken
    assert len(values) > 5
    for value in sorted(values):
        V.parse_debug(value.split("#")[0])


def test_config_loader_names_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n\tplutodebug=all,crypt\n")
    loaded = load_config(conf)
    assert loaded.setup.plutodebug == "all,crypt"
    assert loaded.notices == [f"{conf}:2: warning: debug class 'crypt' (plutodebug=) is not implemented; ignored"]
    conf.write_text("config setup\n\tlogtime=no\n\tplutodebug=\"base nope\"\n")
    _conf, errors = parse_config(conf)
    assert [str(e) for e in errors] == [
        f"{conf}:3: plutodebug='base nope' invalid: unrecognized debug class 'nope'"]


def test_debug_help_lists_both_kinds() -> None:
    text = debug_help()
    for name in (*IMPLEMENTED, *NOT_IMPLEMENTED):
        assert f"  {name} " in text


def test_not_acted_marks_of_options_and_setup_keywords_agree() -> None:
    """A `config setup` keyword feeding an option is acted on exactly when the option is."""
    specs = {spec.flag: spec for _, group in OPTION_TABLE for spec in group}
    keywords = setup_keywords()
    checked = 0
    for keyword, name in _SETUP_FIELDS:
        spec = specs.get("--" + name.replace("_", "-"))
        kw = keywords.get(keyword.replace("_", "-"))
        if spec is None or kw is None:
            continue
        checked += 1
        assert kw.acted == (not spec.not_acted), keyword
    assert checked >= 10


def test_startup_notices_follow_the_table() -> None:
    not_acted = [spec for _, group in OPTION_TABLE for spec in group if spec.not_acted]
    assert {s.flag for s in not_acted} >= {"--virtual-private", "--statsbin"}
    args = {"--virtual-private": ["%v4:10.0.0.0/8"],
            "--statsbin": ["/s"], "--secctx-attr-type": ["32001"], "--efence-protect": [], "--log-no-audit": []}
    assert set(args) == {s.flag for s in not_acted}
    acted = ["--listen", "192.0.2.1", "--crl-strict", "--crlcheckinterval", "5", "--ocsp-trustname", "nic"]
    argv = [word for flag, rest in args.items() for word in (flag, *rest)] + acted
    cmd = parse_command_line(argv + ["--debug", "all,private"])
    notes = startup_notices(cmd, build_options(cmd))
    for spec in not_acted:
        assert notes.count(f"{spec.flag} is accepted but not acted on yet ({spec.not_acted})") == 1
        assert spec.not_acted in usage_text()
    assert not any(n.startswith(("--listen", "--crl-strict", "--crlcheckinterval", "--ocsp")) for n in notes)
    assert notes[-1].startswith("debug class 'private' (--debug) is accepted but ignored")
    assert len(notes) == len(not_acted) + 1


@pytest.mark.parametrize("argv", [["--use-xfrm", "--use-bsdkame"], ["--use-bsdkame", "--kernel-backend", "xfrm"]])
def test_conflicting_backends_are_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(UsageError, match=f"^{argv[0]}.* conflicts with .*{argv[-1]}"):
        parse_command_line(argv)


def test_consistent_backend_flags_are_fine() -> None:
    cmd = parse_command_line(["--use-bsdkame", "--kernel-backend", "bsdkame", "--use-bsdkame"])
    assert build_options(cmd).kernel_backend == "bsdkame"
