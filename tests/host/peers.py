"""Libreswan's pluto and strongSwan's charon as peers inside a namespace, each isolated
(its own run directory, NSS database, pid file and control socket), following the
recipe in ../shared/lab/README.md (Debian packages; Libreswan unpacked in /opt/libreswan)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.netns import wait_for

LIBRESWAN_ROOT = Path(os.environ.get("LIBRESWAN_ROOT", "/opt/libreswan"))
LSW = LIBRESWAN_ROOT / "usr/libexec/ipsec"
LSW_IPSEC = LIBRESWAN_ROOT / "usr/sbin/ipsec"
CHARON = Path("/usr/lib/ipsec/charon")
PSK = "host-interop-psk-not-secret-0123456789"


def libreswan_available() -> bool:
    return (LSW / "pluto").exists() and shutil.which("certutil") is not None


def strongswan_available() -> bool:
    return CHARON.exists() and shutil.which("swanctl") is not None


LIBRESWAN_CONF = """\
config setup
\tdnssec-enable=no
\tuniqueids=yes
\tplutodebug=none

conn {name}
\tauthby=secret
\tikev2=yes
\ttype={mode}
\tleft={west}
\tleftid=@west
\tleftsubnet={west_net}
\tleftupdown=%disabled
\tright={east}
\trightid=@east
\trightsubnet={east_net}
\trightupdown=%disabled
\tike={ike}
\tesp={esp}
\tauto=ignore
"""


def libreswan_ipsec(*args: str) -> subprocess.CompletedProcess[str]:
    """Libreswan's own ``ipsec`` (``newhostkey``, ``showhostkey``, ...) from /opt: its wrapper finds
    the helpers through IPSEC_EXECDIR/IPSEC_SBINDIR. Fails on a non-zero exit."""
    env = dict(os.environ, IPSEC_EXECDIR=str(LSW), IPSEC_SBINDIR=str(LSW_IPSEC.parent))
    done = subprocess.run([str(LSW_IPSEC), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ipsec {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


@dataclass
class Libreswan:
    ns: str
    root: Path
    nssdir: Path | None = None  # default ROOT/nss; start() makes it unless it holds a database already

    @property
    def ctl(self) -> Path:
        return self.root / "run" / "pluto.ctl"

    @property
    def nss(self) -> Path:
        return self.nssdir or self.root / "nss"

    def init_nss(self) -> None:
        """An empty NSS database (no password) unless there is one: keys can go in before start()."""
        self.nss.mkdir(parents=True, exist_ok=True)
        if not (self.nss / "cert9.db").exists():
            subprocess.run(["certutil", "-N", "-d", f"sql:{self.nss}", "--empty-password"], check=True,
                           capture_output=True)

    def newhostkey(self, *args: str) -> str:
        """Libreswan's ``ipsec newhostkey`` in this peer's database (made first if need be): the CKAID."""
        self.init_nss()
        done = libreswan_ipsec("newhostkey", "--nssdir", str(self.nss), *args)
        match = re.search(r"CKAID ([0-9a-f]{40})", done.stdout + done.stderr)  # 4.10 says it on stderr
        assert match, done.stdout + done.stderr
        return match.group(1)

    def showhostkey(self, *args: str) -> str:
        return libreswan_ipsec("showhostkey", "--nssdir", str(self.nss), *args).stdout

    def whack(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(LSW / "whack"), "--ctlsocket", str(self.ctl), *args], capture_output=True,
                              text=True, timeout=timeout)

    def start(self, config: Path, secrets: Path) -> None:
        for sub in ("run", "ipsec.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.init_nss()
        self.config = config
        # pluto wants its compiled-in /usr/libexec/ipsec/addconn: bind Libreswan's libexec over
        # /usr/libexec in the private mount namespace `ip netns exec` makes (lab pitfall 2).
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "sh", "-c", 'mount --bind "$0" /usr/libexec && exec "$@"',
             str(LSW.parent), str(LSW / "pluto"), "--nofork", "--config", str(config), "--secretsfile",
             str(secrets), "--nssdir", str(self.nss), "--rundir", str(self.root / "run"),
             "--ipsecdir", str(self.root / "ipsec.d"), "--dumpdir", str(self.root / "run"),
             "--logfile", str(self.root / "pluto.log"), "--no-dnssec"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.ctl.exists() and self.whack("--status").returncode == 0, 60, "Libreswan pluto",
                 interval=0.1)
        self.whack("--listen")  # pluto listens and loads secrets only when told (lab pitfall 3)

    def add(self, name: str) -> None:
        result = subprocess.run(["ip", "netns", "exec", self.ns, str(LSW / "addconn"), "--config",
                                 str(self.config), "--ctlsocket", str(self.ctl), name],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def log(self) -> str:
        path = self.root / "pluto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.whack("--shutdown", timeout=30)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


STRONGSWAN_CONF = """\
charon {
\tload = random nonce openssl aes sha1 sha2 hmac gcm kdf pem pkcs1 x509 pubkey revocation constraints \
curve25519 kernel-netlink socket-default vici
\tinstall_routes = no
\tinstall_virtual_ip = no
\tretransmit_tries = 3
\tplugins {
\t\tvici {
\t\t\tsocket = unix:///run/charon.vici
\t\t}
\t}
\tfilelog {
\t\tstderr {
\t\t\tdefault = 1
\t\t\tike = 2
\t\t\tcfg = 2
\t\t\tflush_line = yes
\t\t}
\t}
}
swanctl {
\tload = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random
}
"""

# One connection and its PSK, for ``swanctl --load-all`` (the lab's conns.swanctl_conf fills it in too).
@dataclass
class Strongswan:
    """charon, and swanctl with ROOT as its swanctl directory. ``swanctl --load-all --file F``
    reads only the conns and secrets from F: it loads credentials from the subdirectories of
    $SWANCTL_DIR (compiled in: /etc/swanctl, the host's), so SWANCTL_DIR=ROOT: private keys in
    ROOT/private (any type; ROOT/rsa, ROOT/ecdsa, ROOT/pkcs8 too), ``pubkeys = x.pem`` from
    ROOT/pubkey. Directories that do not exist are reported on stdout and skipped."""

    ns: str
    root: Path

    def swanctl(self, command: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, STRONGSWAN_CONF=str(self.root / "strongswan.conf"), SWANCTL_DIR=str(self.root))
        return subprocess.run(["swanctl", command, "--uri", f"unix://{self.root / 'run' / 'charon.vici'}", *args],
                              capture_output=True, text=True, timeout=timeout, env=env)

    def start(self, swanctl_conf: str, charon_extra: str = "") -> None:
        """``charon_extra``: more ``charon {}`` settings (e.g. ``fragment_size = 300``)."""
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        conf = STRONGSWAN_CONF.replace("\tinstall_routes = no\n", f"\tinstall_routes = no\n{charon_extra}", 1)
        (self.root / "strongswan.conf").write_text(conf)
        (self.root / "swanctl.conf").write_text(swanctl_conf)
        env = dict(os.environ, STRONGSWAN_CONF=str(self.root / "strongswan.conf"))
        # charon's pid file is compiled in: give it a private /run (lab pitfall 5).
        self.logfile = open(self.root / "charon.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "sh", "-c", f'mount --bind "$1" /run && exec {CHARON}', "sh",
             str(self.root / "run")], stdout=self.logfile, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: (self.root / "run" / "charon.vici").exists() and self.swanctl("--stats").returncode == 0,
              60, "strongSwan charon", interval=0.1)
        result = self.swanctl("--load-all", "--file", str(self.root / "swanctl.conf"))
        assert result.returncode == 0, result.stdout + result.stderr

    def log(self) -> str:
        path = self.root / "charon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "logfile", None) is not None:
            self.logfile.close()
