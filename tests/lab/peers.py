"""Libreswan 4.10 and strongSwan 5.9.8 in east, driven the same way by the
interop tests: load one conn, initiate it, unload it (the host tier's isolated
peers from tests/host/peers.py, configured from tests/lab/conns.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from tests.host.peers import Libreswan, Strongswan, libreswan_available, strongswan_available
from tests.lab import conns
from tests.lab.topology import LabPair


class Peer(Protocol):
    kind: str

    def load(self, suite: conns.Suite) -> None: ...
    def initiate(self, suite: conns.Suite) -> None: ...
    def terminate(self, suite: conns.Suite) -> None: ...
    def unload(self, suite: conns.Suite) -> None: ...
    def log(self) -> str: ...
    def stop(self) -> None: ...


class LibreswanPeer:
    kind = "libreswan"

    def __init__(self, ns: str, root: Path) -> None:
        self.daemon = Libreswan(ns, root)
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "ipsec.conf"
        self.config.write_text(conns.libreswan_conf(conns.ALL))
        self.secrets = root / "ipsec.secrets"  # an absolute path (lab pitfall 4)
        self.secrets.write_text(conns.SECRETS)
        self.secrets.chmod(0o600)

    def start(self) -> None:
        self.daemon.start(self.config, self.secrets)

    def load(self, suite: conns.Suite) -> None:
        self.daemon.add(suite.name)

    def initiate(self, suite: conns.Suite) -> None:
        result = self.daemon.whack("--name", suite.name, "--initiate", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr + self.log()[-3000:]

    def terminate(self, suite: conns.Suite) -> None:
        """Delete the SAs (the peer is told); no revival, unlike a peer's Delete."""
        result = self.daemon.whack("--name", suite.name, "--terminate", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def unload(self, suite: conns.Suite) -> None:
        self.daemon.whack("--delete", "--name", suite.name, timeout=60)

    def log(self) -> str:
        return self.daemon.log()

    def stop(self) -> None:
        self.daemon.stop()


class StrongswanPeer:
    kind = "strongswan"

    def __init__(self, ns: str, root: Path) -> None:
        self.daemon = Strongswan(ns, root)
        self.root = root

    def start(self) -> None:
        self.daemon.start(conns.swanctl_conf(conns.GCM))

    def load(self, suite: conns.Suite) -> None:
        # swanctl --load-all replaces the loaded connections by those of the file
        path = self.root / f"swanctl-{suite.name}.conf"
        path.write_text(conns.swanctl_conf(suite))
        result = self.daemon.swanctl("--load-all", "--file", str(path))
        assert result.returncode == 0, result.stdout + result.stderr

    def initiate(self, suite: conns.Suite) -> None:
        result = self.daemon.swanctl("--initiate", "--child", suite.name, "--timeout", "90", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr + self.log()[-3000:]

    def terminate(self, suite: conns.Suite) -> None:
        result = self.daemon.swanctl("--terminate", "--ike", suite.name, "--timeout", "60", timeout=90)
        assert result.returncode == 0, result.stdout + result.stderr

    def unload(self, suite: conns.Suite) -> None:
        self.daemon.swanctl("--terminate", "--ike", suite.name, "--timeout", "30", timeout=60)

    def log(self) -> str:
        return self.daemon.log()

    def stop(self) -> None:
        self.daemon.stop()

    def kill(self) -> None:
        """SIGKILL: charon vanishes without a word (its kernel state stays)."""
        self.daemon.proc.kill()
        self.daemon.proc.wait(10)


Started = TypeVar("Started", bound=LibreswanPeer | StrongswanPeer)


@contextmanager
def running(peer: Started, pair: LabPair) -> Iterator[Started]:
    """``peer`` running in east for the body; then stopped, and east's SAs and policies flushed
    so that the next peer starts from a clean kernel."""
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()
        pair.flush(pair.east)


def require_installed(kind: str) -> None:
    """Fail the test when ``kind`` (``"libreswan"``, ``"strongswan"``) is not installed:
    the lab VM always has both."""
    if kind == "libreswan" and not libreswan_available():
        pytest.fail("Libreswan is not installed in /opt/libreswan (scripts/lab.sh installs it)")
    if kind == "strongswan" and not strongswan_available():
        pytest.fail("strongSwan is not installed (scripts/lab.sh installs it)")


def running_in_east(peer_type: type[Started], pair: LabPair, root: Path) -> AbstractContextManager[Started]:
    """A ``peer_type`` in east with its files under ``root``, ``running`` for the body;
    fails the test when that implementation is not installed."""
    require_installed(peer_type.kind)
    return running(peer_type(pair.east, root), pair)
