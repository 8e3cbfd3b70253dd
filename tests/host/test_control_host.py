"""Control socket under load and access control, with a daemon in a namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.host.daemons import IPSEC, REPO, Pluto, write_conf
from tests.host.test_ours_vs_ours import CONF
from tests.netns import Pair

pytestmark = pytest.mark.host


def test_twenty_status_calls_in_parallel_while_an_exchange_runs(netns_pair: Pair, tmp_path: Path) -> None:
    conf = CONF.replace("\tauthby=secret\n", "\tauthby=secret\n\tretransmit-timeout=20s\n")
    config, secrets = write_conf(tmp_path, conf, "x")
    west = Pluto(netns_pair.west, tmp_path / "west")
    try:
        west.start(config, secrets)
        # Nobody answers on east: the exchange keeps retransmitting while we ask.
        up = subprocess.Popen(IPSEC + ["up", "--rundir", str(west.rundir), "west-east"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        import time

        for _ in range(100):
            if west.status()["ike_sas"]:
                break
            time.sleep(0.05)
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda _: west.ipsec("status", "--json", timeout=60), range(20)))
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
        states = [json.loads(r.stdout)["ike_sas"] for r in results]
        assert all(s and s[0]["state"] == "sent IKE_SA_INIT request" for s in states)
        up.terminate()
        up.wait(10)
    finally:
        west.stop()


def test_unprivileged_client_is_refused(netns_pair: Pair, tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    config, secrets = write_conf(tmp_path, CONF, "x")
    import tempfile

    # The run directory must be reachable by the unprivileged user (pytest's tmp is 0700).
    root = Path(tempfile.mkdtemp(prefix="pluto-ctl-"))
    root.chmod(0o755)
    west = Pluto(netns_pair.west, root / "west")
    try:
        west.start(config, secrets)
        for path in (root / "west", west.rundir):
            path.chmod(0o755)
        nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        denied = subprocess.run(nobody + IPSEC + ["status", "--rundir", str(west.rundir)], capture_output=True,
                                text=True, timeout=60, env=env)
        assert denied.returncode == 1
        assert "permission denied" in denied.stderr
        # Even with the socket opened up, the daemon checks the peer's credentials (SO_PEERCRED).
        (west.rundir / "pluto.ctl").chmod(0o666)
        refused = subprocess.run(nobody + IPSEC + ["status", "--rundir", str(west.rundir)], capture_output=True,
                                 text=True, timeout=60, env=env)
        assert refused.returncode == 1
        assert "only root or the daemon's user may control pluto" in refused.stderr
        assert west.ipsec("status").returncode == 0  # root still may
    finally:
        west.stop()
        shutil.rmtree(root, ignore_errors=True)
