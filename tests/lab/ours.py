"""Our daemon in a lab namespace, driven through its control socket.

Under qemu's software emulation every ``ipsec`` command costs a Python
start-up (seconds), so the tests talk to ``pluto.ctl`` from the test process
with the same client the ``ipsec`` verbs use, and run the ``ipsec`` command
itself only where its output is what is being checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pluto_core.control.client import request
from tests.host.daemons import Pluto
from tests.lab.conns import SECRETS
from tests.lab.topology import LabPair


class Ours(Pluto):
    def launch_with(self, conf_text: str, *args: str) -> None:
        """Write this daemon's ipsec.conf and secrets, then start it (without waiting);
        ``args`` are more ``ipsec pluto`` options (e.g. ``--use-bsdkame``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = self.root / "ipsec.conf"
        self.config.write_text(conf_text)
        secrets = self.root / "ipsec.secrets"
        secrets.write_text(SECRETS)
        secrets.chmod(0o600)
        self.launch(self.config, secrets, *args, "--nhelpers", "0")

    def ensure_initialized(self, timeout: float = 240.0) -> None:
        """Wait for ``Pluto initialized`` unless that was seen already."""
        if not getattr(self, "_initialized", False):
            self.wait_initialized(timeout)
            self._initialized = True

    @property
    def ctl(self) -> Path:
        return self.rundir / "pluto.ctl"

    def call(self, command: str, timeout: float = 120.0, **args: Any) -> Any:
        return request(str(self.ctl), command, args, timeout=timeout)

    def add(self, name: str) -> None:
        self.call("add", name=name, config=str(self.config))

    def up(self, name: str) -> Any:
        return self.call("up", name=name)

    def down(self, name: str) -> Any:
        return self.call("down", name=name)

    def delete(self, name: str) -> Any:
        return self.call("delete", name=name)

    def children(self, name: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.call("status")["children"] if name is None or c["conn"] == name]

    def ike_sas(self, name: str | None = None) -> list[dict[str, Any]]:
        return [s for s in self.call("status")["ike_sas"] if name is None or s["conn"] == name]

    def forget(self, name: str) -> None:
        """Best-effort clean-up after a test: delete the conn, whatever its state."""
        try:
            self.delete(name)
        except Exception:  # noqa: BLE001 - clean-up must not hide the test's own failure
            pass


@contextmanager
def initialized(daemon: Ours, flush: LabPair | None = None) -> Iterator[Ours]:
    """``daemon`` (launched) once initialized, for the body; then stopped and, with ``flush``,
    the SAs and policies of its namespace in that pair removed."""
    try:
        daemon.ensure_initialized()
        yield daemon
    finally:
        daemon.stop()
        if flush is not None:
            flush.flush(daemon.ns)
