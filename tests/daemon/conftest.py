"""Run the real ``ipsec pluto`` as a subprocess in a temporary rundir (no root needed)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IPSEC = [sys.executable, "-m", "pluto_core.cli.ipsec"]
REPO = Path(__file__).resolve().parents[2]
# The third-party test plugin (tests/plugin_pkg) is installed here, not into the
# environment, so that it is seen by the daemons these tests start and by no
# other pluto (the README demo must not list a deliberately broken plugin).
TESTPLUGIN_DIR = REPO / "build" / "testplugins"


def _install_testplugin() -> None:
    """Install tests/plugin_pkg unless the installed copy is the same (every module and the
    entry points, which pyproject.toml declares)."""
    package = REPO / "tests" / "plugin_pkg"
    sources = sorted((package / "pluto_testplugin").glob("*.py")) + [package / "pyproject.toml"]
    stamp = "".join(f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in sources)
    marker = TESTPLUGIN_DIR / "pluto_testplugin" / "stamp.txt"
    if marker.exists() and marker.read_text() == stamp:
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade",
                    "--target", str(TESTPLUGIN_DIR), str(REPO / "tests" / "plugin_pkg")],
                   check=True, capture_output=True, timeout=600)
    marker.write_text(stamp)


@pytest.fixture(scope="session", autouse=True)
def _testplugin_on_path() -> Iterator[None]:
    """Subprocesses see the test plugin through PYTHONPATH."""
    _install_testplugin()
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTPLUGIN_DIR), str(REPO), old]))
    yield
    if old is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = old


@dataclass
class Env:
    """A private rundir, an empty config and a log file for one test."""

    root: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def rundir(self) -> Path:
        return self.root / "run"

    @property
    def pidfile(self) -> Path:
        return self.rundir / "pluto.pid"

    @property
    def ctl(self) -> Path:
        return self.rundir / "pluto.ctl"

    @property
    def logfile(self) -> Path:
        return self.root / "pluto.log"

    @property
    def config(self) -> Path:
        return self.root / "ipsec.conf"

    def base_args(self) -> list[str]:
        return ["--rundir", str(self.rundir), "--config", str(self.config),
                "--secretsfile", str(self.root / "ipsec.secrets"), "--nhelpers", "0"]

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """``ipsec pluto`` with this env's paths plus ``args``, to completion."""
        return subprocess.run(IPSEC + ["pluto", *self.base_args(), *args], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def ipsec(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(IPSEC + list(args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def start_nofork(self, *args: str) -> subprocess.Popen[str]:
        """Start with --nofork and wait for 'Pluto initialized'."""
        proc = subprocess.Popen(IPSEC + ["pluto", *self.base_args(), "--nofork", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "Pluto initialized\n", (line, proc.stderr.read() if proc.poll() is not None else "")
        return proc

    def daemon_pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def log_text(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def wait_log(self, needle: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if needle in text:
                return text
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged; log:\n{self.log_text()}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    e.config.write_text("config setup\n")
    yield e
    # Stop whatever the test left running, forked daemons included.
    for proc in e.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    if e.pidfile.exists():
        try:
            pid = e.daemon_pid()
            os.kill(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def child_pids(pid: int) -> list[int]:
    """The live (not zombie) children of ``pid``: the daemon's crypto helpers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found
