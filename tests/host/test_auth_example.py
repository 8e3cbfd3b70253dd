"""Host tier: the example auth source (examples/pluto-sqlite-auth), installed the way a
third party's package is, serves east's PSK from SQLite for a real IKE SA between two
of our daemons, and vetoes a peer its `allowed` table leaves out.

East names only ``sqlite-example`` in ``auth-sources=`` and its ipsec.secrets has no
@west/@east key, so the key can only come from the plugin. West has the key in its
ipsec.secrets and the plugin on its path but not named: installed is not enabled.
This kernel has XFRM but no ESP, so the Child SA is negotiated and its install is
refused with the kernel's error, as in test_ours_vs_ours (the lab tier proves tunnels).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.host.daemons import REPO, Pluto, west_east_conf, write_conf
from tests.kernel import ipxfrm
from tests.netns import Pair

pytestmark = pytest.mark.host

EXAMPLE = REPO / "examples" / "pluto-sqlite-auth"
# Installed here, not into the environment, so that only the daemons these tests
# start see it (as tests/daemon/conftest.py does for tests/plugin_pkg).
EXAMPLE_DIR = REPO / "build" / "exampleplugins"
PSK = "sqlite example host test key, not secret"
CONF = west_east_conf("west-east", "auto=add")
EAST_CONF = CONF.replace("\tlogtime=no\n", "\tlogtime=no\n\tauth-sources=sqlite-example\n", 1)


@pytest.fixture(scope="module")
def example_installed() -> Path:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade", "--target",
                    str(EXAMPLE_DIR), str(EXAMPLE)], check=True, capture_output=True, timeout=600)
    assert (EXAMPLE_DIR / "pluto_sqlite_auth" / "source.py").read_bytes() == \
        (EXAMPLE / "pluto_sqlite_auth" / "source.py").read_bytes()
    return EXAMPLE_DIR


def manage(db: Path, *args: str, stdin: str | None = None) -> str:
    """``python -m pluto_sqlite_auth DB ...`` from the installed copy, as an operator runs it."""
    result = subprocess.run([sys.executable, "-m", "pluto_sqlite_auth", str(db), *args], input=stdin,
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(EXAMPLE_DIR), str(REPO)])))
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class Setup:
    west: Pluto
    east: Pluto
    db: Path
    west_files: tuple[Path, Path]  # config, secrets
    east_files: tuple[Path, Path]
    ipsecdir: Path

    def start(self) -> None:
        self.east.start(*self.east_files, "--ipsecdir", str(self.ipsecdir), "--nhelpers", "0")
        self.west.start(*self.west_files)


@pytest.fixture
def setup(netns_pair: Pair, tmp_path: Path, example_installed: Path) -> Iterator[Setup]:
    """West with the PSK in ipsec.secrets; east with an empty database in its ipsecdir
    and an ipsec.secrets without that key; the test fills the database, then starts them."""
    west_conf, west_secrets = write_conf(tmp_path, CONF, psk=PSK, name="west")
    east_conf = tmp_path / "east.conf"
    east_conf.write_text(EAST_CONF)
    east_secrets = tmp_path / "east.secrets"
    east_secrets.write_text('@east @north : PSK "a key for someone else"\n')
    east_secrets.chmod(0o600)
    ipsecdir = tmp_path / "east-ipsec.d"
    ipsecdir.mkdir()
    db = ipsecdir / "pluto-auth.sqlite"
    manage(db, "init")
    west = Pluto(netns_pair.west, tmp_path / "west", pythonpath=[example_installed])
    east = Pluto(netns_pair.east, tmp_path / "east", pythonpath=[example_installed])
    try:
        yield Setup(west, east, db, (west_conf, west_secrets), (east_conf, east_secrets), ipsecdir)
    finally:
        west.stop()
        east.stop()


KEYED = re.compile(r"^\t(aead|enc|auth|auth-trunc) ", re.M)  # a key line of `ip xfrm state`


def installed(pair: Pair) -> dict[str, list[str]]:
    """Per namespace, the SAs (``SA SPI keyed|keyless``) and the IPsec policies (those with
    a template: the daemon's per-socket bypass policies for its IKE sockets are not counted)."""
    found: dict[str, list[str]] = {}
    for ns in (pair.west, pair.east):
        states = pair.exec(ns, "ip", "xfrm", "state").stdout
        policies = ipxfrm.parse_policies(pair.exec(ns, "ip", "xfrm", "policy").stdout)
        sas = re.findall(r"spi (0x[0-9a-f]+)(.*?)(?=^src |\Z)", states, re.M | re.S)
        found[ns] = [f"SA {spi} {'keyed' if KEYED.search(body) else 'keyless'}" for spi, body in sas] + \
            [f"policy {p['src']} {p['dst']} {p.get('dir')}" for p in policies if p.get("tmpl")]
    return found


def test_the_psk_comes_from_the_plugin_and_the_ike_sa_is_established(setup: Setup, netns_pair: Pair) -> None:
    manage(setup.db, "add-psk", "@east", "@west", "-", stdin=PSK + "\n")
    assert PSK not in manage(setup.db, "list")
    setup.start()
    west, east = setup.west, setup.east
    east_log = east.log_text()
    assert "auth sources: sqlite-example\n" in east_log
    assert f"auth source sqlite-example: database {setup.db}\n" in east_log
    assert "auth sources: secrets, nss, files, x509\n" in west.log_text() and "sqlite-example" not in west.log_text()

    up = west.ipsec("up", "west-east")
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in up.stdout, \
        up.stdout + up.stderr + east.log_text()
    east_status = east.status()
    assert [(sa["established"], sa["peer_id"]) for sa in east_status["ike_sas"]] == [(True, "@west")]
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@west'" \
        in east.log_text()
    # The Child SA was negotiated in the same exchange (east answered with its SA and TS);
    # with ESP in the kernel it is installed, without (this kernel) the install is refused.
    assert "containing SK{IDr,AUTH,SA,TSi,TSr}" in up.stdout, up.stdout
    if up.returncode == 0:
        assert east_status["children"] and west.status()["children"]
        assert all(sa.endswith(" keyed") for sa in installed(netns_pair)[netns_pair.east] if sa.startswith("SA "))
    else:
        assert '"west-east" #2: kernel refused the Child SA: ' in east.log_text()
        assert "kernel refused the Child SA" in up.stderr, up.stderr
        assert east_status["children"] == [] and west.status()["children"] == []
    assert "vetoed" not in east.log_text() and "pluto_auth_psk failed" not in east.log_text()
    for text in (east.log_text(), west.log_text(), up.stdout, up.stderr):
        assert PSK not in text


def test_a_peer_the_allowed_table_leaves_out_is_vetoed_and_nothing_is_installed(
        setup: Setup, netns_pair: Pair) -> None:
    manage(setup.db, "add-psk", "@east", "%any", "-", stdin=PSK + "\n")  # any peer's key...
    manage(setup.db, "allow", "west-east", "@north")  # ...but only @north on this conn
    setup.start()
    west, east = setup.west, setup.east

    up = west.ipsec("up", "west-east")
    assert up.returncode == 1 and "AUTHENTICATION_FAILED" in up.stderr, up.stdout + up.stderr
    veto = 'vetoed by plugin sqlite-example: peer @west is not allowed on conn "west-east"'
    for _ in range(50):
        if veto in east.log_text():
            break
        time.sleep(0.1)
    assert f"authentication of peer FQDN '@west' using authby=secret was vetoed: {veto}: " \
           "sending AUTHENTICATION_FAILED" in east.log_text(), east.log_text()
    assert east.status()["ike_sas"] == [] and east.status()["children"] == []
    assert not any(sa["established"] for sa in west.status()["ike_sas"])
    # Nothing installed on either side: no IPsec policy, no SA, not even the larval SA of the
    # inbound SPI west proposed for the Child SA (pluto gives it back when IKE_AUTH fails).
    proposed = re.search(r"Child SA #\d+ \{ESP <(0x[0-9a-f]+)\}", west.log_text())
    assert proposed is not None, west.log_text()
    assert installed(netns_pair) == {netns_pair.west: [], netns_pair.east: []}

    # An edit takes effect for the next IKE SA: no restart, no reread.
    manage(setup.db, "allow", "west-east", "@west")
    again = west.ipsec("up", "west-east")
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" \
        in again.stdout, again.stdout + again.stderr + east.log_text()
    assert [sa["peer_id"] for sa in east.status()["ike_sas"] if sa["established"]] == ["@west"]
    west.stop()
    east.stop()
    assert installed(netns_pair) == {netns_pair.west: [], netns_pair.east: []}
