"""Regression tests for the config/secrets-file defects the garbage-file campaign found (issue #19).

Each is named after what was wrong. SIGALRM bounds every read: before the fix the FIFO cases
blocked forever. The full matrix (checkconfig and the daemon over every kind of garbage) is
tests/daemon/test_hostile_files.py.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pluto_core.config import checkconfig
from pluto_core.config.ipsec_conf import parse_config
from pluto_core.config.paths import MAX_FILE_BYTES
from pluto_core.config.secrets import load_secrets
from pluto_core.errors import ConfigError


@pytest.fixture(autouse=True)
def _bounded() -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("the read did not finish within 5 s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _config_error(path: Path) -> str:
    _conf, errors = parse_config(str(path))
    assert len(errors) == 1
    return str(errors[0])


def _secrets_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_secrets(str(path))
    return str(info.value)


READERS: dict[str, Callable[[Path], str]] = {"config": _config_error, "secrets": _secrets_error}


@pytest.mark.parametrize("reader", list(READERS))
def test_fifo_blocked_the_reader_forever(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "file"
    os.mkfifo(path)
    assert READERS[reader](path) == f"{path}: could not open '{path}': it is a FIFO, not a regular file"


@pytest.mark.parametrize("reader", list(READERS))
def test_symlink_to_dev_zero_was_read_until_memory_ran_out(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "file"
    os.symlink("/dev/zero", path)
    assert READERS[reader](path) == \
        f"{path}: could not open '{path}': it is a character device, not a regular file"


@pytest.mark.parametrize("reader", list(READERS))
def test_file_of_any_size_was_read_whole(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "file"
    with open(path, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: the size alone refuses it
    assert READERS[reader](path) == (f"{path}: could not open '{path}': it is larger than the 16 MiB limit "
                                     f"({MAX_FILE_BYTES + 1} bytes)")


def test_file_at_the_size_limit_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "ipsec.conf"
    body = b"config setup\n"
    path.write_bytes(body + b"#" * (MAX_FILE_BYTES - len(body) - 1) + b"\n")
    _conf, errors = parse_config(str(path))
    assert errors == []


def test_include_of_a_fifo_blocked_the_reader_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "f.conf"
    os.mkfifo(fifo)
    top = tmp_path / "ipsec.conf"
    top.write_text(f"include {fifo}\nconfig setup\n")
    conf, errors = parse_config(str(top))
    assert errors == []
    assert conf.warnings == [f"{top}:2: could not open include filename: '{fifo}' "
                             "(it is a FIFO, not a regular file)"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "could not open '{p}': No such file or directory (errno 2)"),
    (b"conns:\n  a:\n    left: \xff\n", "{p}:3: not UTF-8 text: byte 0xff: invalid start byte"),
    (b"conns:\n  a:\n    left: \"\0\"\n", "{p}:3: YAML error: unacceptable character #x0000: "
                                           "special characters are not allowed"),
], ids=["missing", "invalid-utf8", "nul"])
def test_unreadable_yaml_was_a_checkconfig_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     content: bytes | None, message: str) -> None:
    path = tmp_path / "ipsec.yaml"
    if content is not None:
        path.write_bytes(content)
    assert checkconfig.main(["--config", str(path)]) == 1
    assert message.format(p=path) in capsys.readouterr().out
