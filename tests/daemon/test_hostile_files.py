"""Garbage config and secrets files (issue #19, "Hostile input"): a clear error, never a hang.

For each kind of garbage, ``ipsec checkconfig`` and the daemon name the file (and the line when
there is one), exit as documented (checkconfig: 1 when the file is unusable, 0 with warnings
otherwise; the daemon: a config it cannot read stops start-up with exit 1 and one line; a secrets
file it cannot read is logged and the daemon runs on, as Libreswan's), never print a traceback
and never hang: every run has a timeout. docs/reliability.md, "Hostile control clients and files".
"""

from __future__ import annotations

import os
import pwd
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pluto_core.config.paths import MAX_FILE_BYTES
from tests.daemon.conftest import IPSEC, Env

TIMEOUT = 20  # seconds for any one run: the FIFO and /dev/zero cases used to block forever

CONN = b"conn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\tauto=add\n"


def _junk(with_nul: bool) -> bytes:
    rng = random.Random(19)
    pool = range(256) if with_nul else range(1, 256)
    return bytes(rng.choice(pool) for _ in range(4096))


def _big(path: Path) -> None:
    line = b"# " + b"x" * 97 + b"\n"
    with open(path, "wb") as fh:
        for _ in range(100):
            fh.write(line * 10_000)  # 100 MB of comments in all


def _loop(path: Path) -> None:
    other = path.with_name("other.conf")
    os.symlink(other, path)
    os.symlink(path, other)


JUNK = _junk(True)
JUNK_NUL_LINE = JUNK.count(b"\n", 0, JUNK.index(0)) + 1

# name -> (make the file at PATH, checkconfig's exit status, what its output must say; {p} is the path)
CONFIG_CASES: dict[str, tuple[Callable[[Path], object], int, str]] = {
    "binary-junk": (lambda p: p.write_bytes(JUNK), 1,
                    f"ERROR: {{p}}:{JUNK_NUL_LINE}: syntax error: file contains a NUL byte"),
    "binary-without-nul": (lambda p: p.write_bytes(_junk(False)), 1, "ERROR: {p}:"),
    "nul-byte": (lambda p: p.write_bytes(b"config setup\n\tlogfile=/tmp/x\0\n" + CONN), 1,
                 "ERROR: {p}:2: syntax error: file contains a NUL byte (binary file?)"),
    "invalid-utf8": (lambda p: p.write_bytes(b"# caf\xe9 \xff\xfe\n" + CONN), 0, ""),  # read as Latin-1
    "100MB": (_big, 1, f"could not open '{{p}}': it is larger than the {MAX_FILE_BYTES >> 20} MiB limit"),
    "symlink-loop": (_loop, 1, "could not open '{p}': Too many levels of symbolic links"),
    "directory": (lambda p: p.mkdir(), 1, "could not open '{p}': Is a directory"),
    "include-self": (lambda p: p.write_bytes(b"include " + bytes(p) + b"\n" + CONN), 0,
                     "exceeds max inclusion depth of 10"),
    "include-mutual": (lambda p: (p.with_name("b.conf").write_bytes(b"include " + bytes(p) + b"\n"),
                                  p.write_bytes(b"include " + bytes(p.with_name("b.conf")) + b"\n" + CONN)),
                       0, "exceeds max inclusion depth of 10"),
    "fifo": (lambda p: os.mkfifo(p), 1, "could not open '{p}': it is a FIFO, not a regular file"),
    "include-fifo": (lambda p: (os.mkfifo(p.with_name("f.conf")),
                                p.write_bytes(b"include " + bytes(p.with_name("f.conf")) + b"\n" + CONN)),
                     0, "could not open include filename: '{d}/f.conf' (it is a FIFO, not a regular file)"),
    "dev-zero": (lambda p: os.symlink("/dev/zero", p), 1,
                 "could not open '{p}': it is a character device, not a regular file"),
    "yaml-invalid-utf8": (lambda p: p.write_bytes(b"conns:\n  a:\n    left: \xff\n"), 1,
                          "ERROR: {p}:3: not UTF-8 text: byte 0xff: invalid start byte"),
    "yaml-nul": (lambda p: p.write_bytes(b"conns:\n  a:\n    left: \"\0\"\n"), 1,
                 "ERROR: {p}:3: YAML error: unacceptable character #x0000"),
    "yaml-fifo": (lambda p: os.mkfifo(p), 1, "could not open '{p}': it is a FIFO, not a regular file"),
}


def _path(tmp_path: Path, case: str) -> Path:
    return tmp_path / ("ipsec.yaml" if case.startswith("yaml") else "ipsec.conf")


def _checkconfig(path: Path, preexec: Callable[[], None] | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                                               float]:
    start = time.monotonic()
    result = subprocess.run(IPSEC + ["checkconfig", "--config", str(path)], capture_output=True, text=True,
                            timeout=TIMEOUT, stdin=subprocess.DEVNULL, preexec_fn=preexec, cwd="/")
    return result, time.monotonic() - start


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_checkconfig_on_garbage(tmp_path: Path, case: str) -> None:
    make, status, needle = CONFIG_CASES[case]
    path = _path(tmp_path, case)
    make(path)
    result, took = _checkconfig(path)
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert result.returncode == status, out
    assert needle.format(p=path, d=tmp_path) in result.stdout, out
    assert took < 10, f"{case}: {took:.1f}s"


@pytest.mark.parametrize("case", [c for c, (_m, status, _n) in CONFIG_CASES.items()
                                  if status == 1 and not c.startswith("yaml")])
def test_daemon_refuses_a_garbage_config_with_one_line(env: Env, case: str) -> None:
    make, _status, needle = CONFIG_CASES[case]
    env.config.unlink()
    make(env.config)
    result = env.run(timeout=TIMEOUT)  # forks: exit 1 from the parent, before any daemon runs
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pluto: "), lines
    assert needle.replace("ERROR: ", "").format(p=env.config) in lines[0]
    assert not env.pidfile.exists()


# name -> (make the secrets file at PATH, the log line that must appear; {p} is the path)
SECRETS_CASES: dict[str, tuple[Callable[[Path], object], str]] = {
    "binary-junk": (lambda p: p.write_bytes(JUNK),
                    f"secrets not loaded: {{p}}:{JUNK_NUL_LINE}: syntax error: file contains a NUL byte"),
    "binary-without-nul": (lambda p: p.write_bytes(_junk(False)), "secrets not loaded: {p}:"),
    "invalid-utf8": (lambda p: p.write_bytes(b'@a @b : PSK "caf\xe9\xff"\n'), "loaded 1 secret(s)"),
    "100MB": (_big, f"it is larger than the {MAX_FILE_BYTES >> 20} MiB limit"),
    "symlink-loop": (_loop, "secrets not loaded: {p}: could not open '{p}': Too many levels of symbolic links"),
    "directory": (lambda p: p.mkdir(), "could not open '{p}': Is a directory"),
    "include-self": (lambda p: p.write_bytes(b"include " + bytes(p) + b"\n@a @b : PSK \"x\"\n"),
                     "exceeds max inclusion depth of 10"),
    "wrong-mode": (lambda p: (p.write_bytes(b'@a @b : PSK "x"\n'), p.chmod(0o644)),
                   "warning: {p}: secrets file is readable by other users (mode 0644); chmod 600 it"),
    "fifo": (lambda p: os.mkfifo(p), "could not open '{p}': it is a FIFO, not a regular file"),
    "dev-zero": (lambda p: os.symlink("/dev/zero", p),
                 "could not open '{p}': it is a character device, not a regular file"),
    "include-fifo": (lambda p: (os.mkfifo(p.with_name("f.secrets")),
                                p.write_bytes(b"include f.secrets\n@a @b : PSK \"x\"\n")),
                     "could not open include filename: '{d}/f.secrets' (it is a FIFO, not a regular file)"),
}


@pytest.mark.parametrize("case", list(SECRETS_CASES))
def test_daemon_logs_a_garbage_secrets_file_and_keeps_serving(env: Env, case: str) -> None:
    make, needle = SECRETS_CASES[case]
    path = env.root / "ipsec.secrets"
    make(path)
    start = time.monotonic()
    proc = env.start_nofork("--logfile", str(env.logfile))  # reads the secrets before it answers
    started = time.monotonic() - start
    expected = needle.format(p=path, d=env.root)
    env.wait_log(expected)
    status = env.ipsec("status", "--ctlsocket", str(env.ctl), timeout=TIMEOUT)
    assert status.returncode == 0, status.stderr
    reread = env.ipsec("rereadsecrets", "--ctlsocket", str(env.ctl), timeout=TIMEOUT)
    assert reread.returncode == 0, reread.stderr
    assert env.log_text().count(expected) == 2  # at start and at the reread
    proc.terminate()
    _out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert "Traceback" not in err and "Traceback" not in env.log_text()
    assert started < 15, f"{case}: start-up took {started:.1f}s"


def _as_nobody(func: Callable[[], str]) -> str:
    """``func()``'s string, computed in a forked child running as nobody."""
    nobody = pwd.getpwnam("nobody")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            try:
                outcome = func()
            except Exception as exc:
                outcome = f"{exc.__class__.__name__}: {exc}"
            os.write(write_fd, outcome.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    return outcome


@pytest.mark.skipif(os.geteuid() != 0, reason="root makes a file nobody may read")
def test_unreadable_files_say_permission_denied() -> None:
    root = Path(tempfile.mkdtemp(prefix="pluto-files-"))
    try:
        root.chmod(0o755)
        conf, secrets = root / "ipsec.conf", root / "ipsec.secrets"
        conf.write_bytes(CONN)
        secrets.write_bytes(b'@a @b : PSK "x"\n')
        conf.chmod(0o600)
        secrets.chmod(0o600)

        def drop() -> None:
            os.setgroups([])
            os.setgid(pwd.getpwnam("nobody").pw_gid)
            os.setuid(pwd.getpwnam("nobody").pw_uid)

        result, _took = _checkconfig(conf, preexec=drop)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"ERROR: {conf}: could not open '{conf}': Permission denied (errno 13)" in result.stdout

        def load() -> str:
            from pluto_core.config.secrets import load_secrets
            load_secrets(str(secrets))
            return "loaded"

        assert _as_nobody(load) == f"ConfigError: {secrets}: could not open '{secrets}': Permission denied"
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.mark.parametrize("case", ["fifo", "dev-zero", "100MB", "binary-junk"])
def test_ipsec_add_from_a_garbage_file_does_not_freeze_the_daemon(env: Env, case: str) -> None:
    """`ipsec add NAME --config FILE` reads FILE inside the daemon, on its event loop: a FIFO
    there used to block the loop itself, so no client and no peer was served any more."""
    make, _status, needle = CONFIG_CASES[case]
    proc = env.start_nofork("--logfile", str(env.logfile))
    path = env.root / "garbage.conf"
    make(path)
    result = env.ipsec("add", "a", "--config", str(path), "--ctlsocket", str(env.ctl), timeout=TIMEOUT)
    assert result.returncode == 1
    assert needle.replace("ERROR: ", "").format(p=path) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    status = env.ipsec("status", "--ctlsocket", str(env.ctl), timeout=TIMEOUT)
    assert status.returncode == 0, status.stderr
    proc.terminate()
    _out, err = proc.communicate(timeout=TIMEOUT)
    assert "Traceback" not in err and "Traceback" not in env.log_text()


def test_certificate_and_key_files_named_in_config_and_secrets_that_are_fifos(env: Env) -> None:
    """leftcert= and `: RSA FILE` name files the daemon reads on its event loop: a FIFO there
    used to block it (and checkconfig) for good."""
    fifo = env.root / "east.pem"
    os.mkfifo(fifo)
    conf = env.root / "cert.conf"
    conf.write_bytes(b"conn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftcert=" + bytes(fifo) + b"\n\tauto=add\n")
    result, took = _checkconfig(conf)
    assert result.returncode == 1 and took < 10
    assert f'ERROR: {conf}:1: "a": leftcert={fifo}: {fifo}: cannot read: it is a FIFO, not a regular file' \
        in result.stdout, result.stdout
    secrets = env.root / "ipsec.secrets"
    secrets.write_bytes(b": RSA " + bytes(fifo) + b"\n")
    secrets.chmod(0o600)
    proc = env.start_nofork("--logfile", str(env.logfile))
    env.wait_log(f"{secrets}:1: RSA private key file '{fifo}': cannot read: it is a FIFO, not a regular file: skipped")
    added = env.ipsec("add", "a", "--config", str(conf), "--ctlsocket", str(env.ctl), timeout=TIMEOUT)
    assert added.returncode == 1 and "it is a FIFO, not a regular file" in added.stderr, added.stderr
    assert env.ipsec("status", "--ctlsocket", str(env.ctl), timeout=TIMEOUT).returncode == 0
    proc.terminate()
    _out, err = proc.communicate(timeout=TIMEOUT)
    assert "Traceback" not in err and "Traceback" not in env.log_text()
