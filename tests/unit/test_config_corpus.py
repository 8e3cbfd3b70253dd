"""Whole-corpus tests: every Libreswan ipsec.conf of ../shared/corpus loads, and the addconn-*
transcripts' file:line errors and warnings are reproduced."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluto_core.config import parse_config

# Deliberately broken files of the corpus, with the error Libreswan gives for each.
EXPECTED_ERRORS = {
    "testing/pluto/addconn-01-left-is-right/implied-prefix.conf":
        'implied-prefix.conf:5: keyword "updown" requires "left" or "right" prefix',
    "testing/pluto/addconn-01-left-is-right/missing-prefix.conf":
        'missing-prefix.conf:6: keyword "subnet" requires "left" or "right" prefix',
    "testing/pluto/addconn-45-unknown-parameter/bad-config-setup-key.conf":
        "bad-config-setup-key.conf:7: unrecognized 'config setup' keyword 'unknown'",
    # Libreswan's transcript: "should fail but doesn't" (it warns and runs without the keyword);
    # pluto fails, as the test's author wanted, so that checkconfig and the daemon agree.
    "testing/pluto/addconn-45-unknown-parameter/bad-config-setup-value.conf":
        "bad-config-setup-value.conf:6: plutodebug='aksdfjasd;fklj' invalid: unrecognized debug class",
    "testing/pluto/addconn-45-unknown-parameter/bad-conn-key.conf":
        "bad-conn-key.conf:9: unrecognized 'conn' keyword 'unknown'",
    # "Just here to throw an error in case it is mistakenly used"
    "testing/pluto/addconn-04-config-path/west.conf": "west.conf:3: syntax error",
}


def _manifest(corpus: Path) -> Iterator[tuple[str, str, str, str]]:
    for line in (corpus / "libreswan-conf" / "MANIFEST.tsv").read_text().splitlines():
        if line.startswith(("#", "flat_name")):
            continue
        flat, orig, _sha, kind, userland, _size = line.split("\t")
        yield flat, orig, kind, userland


@pytest.fixture(scope="module")
def tree(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus laid out at its original paths (symlinks), so includes resolve."""
    root = tmp_path_factory.mktemp("tree")
    conf = corpus / "libreswan-conf"
    for flat, orig, _kind, _userland in _manifest(corpus):
        dst = root / orig
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(conf / flat)
    for ref in ("2025-02-pre-removal", "HEAD"):
        for f in (conf / "baseconfigs" / ref).iterdir():
            if f.name.startswith("testing__"):
                dst = root / f.name.replace("__", "/")
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.is_symlink():
                    dst.unlink()
                dst.symlink_to(f)
    return root


def _path_map(tree: Path) -> dict[str, str]:
    return {"/testing": str(tree / "testing"),
            "/etc/ipsec.d": str(tree / "testing/baseconfigs/all/etc/ipsec.d")}


def test_every_libreswan_conf_loads(corpus: Path, tree: Path) -> None:
    pm = _path_map(tree)
    seen = 0
    unexpected: list[str] = []
    for _flat, orig, kind, userland in _manifest(corpus):
        if kind != "conf" or userland != "libreswan":
            continue
        seen += 1
        _conf, errors = parse_config("/" + orig, path_map=pm)
        want = EXPECTED_ERRORS.get(orig)
        if want is None:
            unexpected.extend(str(e) for e in errors)
        else:
            assert errors, orig
            assert str(errors[0]).endswith(want) or want in str(errors[0]), (orig, str(errors[0]))
    assert seen > 2400
    assert unexpected == []


_LINE = re.compile(
    r"^(?:ipsec (?:add|addconn): |)(?:(?P<lvl1>warning|ERROR): )(?:ipsec pluto: )?"
    r"(?P<file>[^ :]+):(?P<line>\d+): (?P<msg>.*)$"
)


def _expected(console: Path) -> list[tuple[str, int, str]]:
    out = []
    for text in console.read_text().splitlines():
        m = _LINE.match(text)
        if m:
            out.append((m.group("file"), int(m.group("line")), m.group("msg")))
    return out


def _host_conf(test_dir: Path, host: str) -> Path | None:
    for name in (f"{host}.ipsec.conf", f"{host}.conf", "ipsec.conf"):
        if (test_dir / name).exists():
            return test_dir / name
    return None


def _addconn_cases(corpus: Path) -> list[Path]:
    return sorted((corpus / "libreswan-expect").glob("addconn-*/*.console.txt"))


def test_addconn_transcripts(corpus_data: Path, tmp_path: Path) -> None:
    checked = 0
    for console in _addconn_cases(corpus_data):
        expected = _expected(console)
        if not expected:
            continue
        test_dir = console.parent
        host = console.name.split(".")[0]
        by_file: dict[str, set[tuple[int, str]]] = {}
        for file, line, msg in expected:
            by_file.setdefault(file, set()).add((line, msg))
        for file, want in by_file.items():
            if file == "/etc/ipsec.conf":
                physical = _host_conf(test_dir, host)
                pm = {"/etc/ipsec.conf": str(physical), "/etc/ipsec.d": str(tmp_path / "none"),
                      "/etc": str(tmp_path / "etc"), "/tmp": str(tmp_path / "tmp")}
                logical = "/etc/ipsec.conf"
            else:
                physical = test_dir / file
                pm = {file: str(physical)}
                logical = file
            assert physical is not None and physical.exists(), (console, file)
            conf, errors = parse_config(logical, path_map=pm)
            got: set[tuple[int, str]] = set()
            for text in [*conf.warnings, *(str(e) for e in errors)]:
                m = re.match(re.escape(logical) + r":(\d+): (.*)$", text)
                if m:
                    got.add((int(m.group(1)), m.group(2)))
            if "X- style comment" in " ".join(msg for _l, msg in want):
                # Libreswan's lexer numbers X- comment lines erratically; compare the text only.
                assert {msg for _l, msg in got} == {msg for _l, msg in want}, console
            else:
                assert got == want, (console, file, sorted(got ^ want))
            checked += 1
    assert checked >= 8


def test_addconn_conn_failures(corpus_data: Path) -> None:
    """Where a transcript says '"NAME": failed to add connection: WHY' for a reason that needs no
    host state (no NSS, DNS or interfaces), our Connection build fails with the same words."""
    host_state = ("does not appear to be an interface", "NSS database", "has no data",
                  "inexactly overlaps", "Labeled IPsec", "conficts with", "is not within",
                  "does not match", "multiple IPv", "cannot specify leftinterface-ip")
    matched = 0
    for console in _addconn_cases(corpus_data):
        conf_path = _host_conf(console.parent, console.name.split(".")[0])
        if conf_path is None:
            continue
        conf, _errors = parse_config(str(conf_path))
        for text in console.read_text().splitlines():
            m = re.match(r'^"([^"]+)": failed to add connection: (.*)$', text)
            if not m or m.group(1) not in conf.raw or any(h in m.group(2) for h in host_state):
                continue
            failed = conf.failed.get(m.group(1))
            assert failed is not None, (console, text)
            assert failed.message == m.group(2), (console, text)
            matched += 1
        added = set(re.findall(r'^"([^"]+)": added', console.read_text(), re.M))
        assert added.isdisjoint(conf.failed), (console, added & set(conf.failed))
    assert matched >= 40
