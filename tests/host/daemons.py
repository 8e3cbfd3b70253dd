"""Start our daemon inside a namespace, isolated: its own rundir, config, secrets and log."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET

REPO = Path(__file__).resolve().parents[2]
IPSEC = [sys.executable, "-m", "pluto_core.cli.ipsec"]


@dataclass
class Pluto:
    ns: str
    root: Path
    proc: subprocess.Popen[str] | None = None
    extra: list[str] = field(default_factory=list)
    pythonpath: list[Path] = field(default_factory=list)  # before the repo: e.g. a plugin installed with --target

    @property
    def rundir(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "pluto.log"

    def start(self, config: Path, secrets: Path, *args: str) -> None:
        self.launch(config, secrets, *args)
        self.wait_initialized()

    def launch(self, config: Path, secrets: Path, *args: str) -> None:
        """Start the process without waiting (the lab starts two daemons side by side)."""
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *IPSEC, "pluto", "--nofork", "--rundir", str(self.rundir),
             "--config", str(config), "--secretsfile", str(secrets), "--logfile", str(self.log),
             *(args or ("--nhelpers", "0"))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=self.env())

    def env(self) -> dict[str, str]:
        """The environment of this daemon and its ``ipsec`` commands: our code, and ``pythonpath`` first."""
        return dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, [*self.pythonpath, REPO])))

    def wait_initialized(self, timeout: float = 120.0) -> None:
        """Wait for the daemon's ``Pluto initialized`` line (``--nofork`` prints it once serving)."""
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else f"<nothing within {timeout:g}s>"
        assert line == "Pluto initialized\n", (line, self.log_text())

    def ipsec(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(IPSEC + [args[0], "--rundir", str(self.rundir), *args[1:]], capture_output=True,
                              text=True, timeout=timeout, env=self.env())

    def status(self) -> dict:
        result = self.ipsec("status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def west_east_conf(conn: str, *keywords: str, rightsubnet: str | None = EAST_NET, authby: str | None = "secret",
                   setup: tuple[str, ...] = (), leftid: str | None = "@west", rightid: str | None = "@east") -> str:
    """Our ``ipsec.conf``: ``config setup`` with ``logtime=no`` and ``setup`` (``"nssdir=..."``), then
    ``conn CONN`` from west (left) to east (right) with their IDs and inside subnets (``rightsubnet=None``
    leaves east's out) and ``authby=`` (a PSK by default; None, here and for the IDs: no such line), then ``keywords``
    (``"auto=add"``, ...), one a line."""
    lines = [f"left={WEST_IP}", *([f"leftid={leftid}"] if leftid is not None else []), f"leftsubnet={WEST_NET}",
             f"right={EAST_IP}", *([f"rightid={rightid}"] if rightid is not None else []),
             *([f"rightsubnet={rightsubnet}"] if rightsubnet is not None else []),
             *([f"authby={authby}"] if authby is not None else []), *keywords]
    head = "".join(f"\t{line}\n" for line in ("logtime=no", *setup))
    return f"config setup\n{head}\nconn {conn}\n" + "".join(f"\t{line}\n" for line in lines)


def write_conf(directory: Path, conf: str, psk: str = "host tier test key, not secret",
               name: str = "ipsec", extra_secrets: str = "") -> tuple[Path, Path]:
    """``NAME.conf`` and a 0600 ``NAME.secrets`` holding the @west/@east PSK, then ``extra_secrets``
    (``": RSA /path/key.pem\\n"``)."""
    config = directory / f"{name}.conf"
    config.write_text(conf)
    secrets = directory / f"{name}.secrets"
    secrets.write_text(f'@west @east : PSK "{psk}"\n{extra_secrets}')
    secrets.chmod(0o600)
    return config, secrets
