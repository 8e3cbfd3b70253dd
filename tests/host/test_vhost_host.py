"""Host tier: an IKEv2 road-warrior gateway written with ``rightsubnet=vhost:%priv,%no`` and
``virtual-private=`` loads in neither Libreswan 4.10 nor pluto: Libreswan's own ``addconn``
refuses the conn with "The vnet: and vhost: keywords are only valid for IKEv1 connections",
and ``ipsec checkconfig`` refuses it with the same words at its file:line. The conn next to
it (``rightsubnet=10.0.0.0/8`` with ``narrowing=yes``, the IKEv2 way) loads in both."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.host.daemons import IPSEC, REPO
from tests.host.peers import LSW, libreswan_available

pytestmark = pytest.mark.host

CONF = """config setup
\tvirtual-private=%v4:10.0.0.0/8,%v4:!10.1.0.0/16

conn vhost
\tleft=192.0.2.1
\tleftid=@gw
\tleftsubnet=0.0.0.0/0
\tright=%any
\trightsubnet=vhost:%priv,%no
\tauthby=secret
\tauto=add

conn narrowed
\tleft=192.0.2.1
\tleftid=@gw
\tleftsubnet=0.0.0.0/0
\tright=%any
\trightsubnet=10.0.0.0/8
\tnarrowing=yes
\tauthby=secret
\tauto=add
"""

WORDS = "The vnet: and vhost: keywords are only valid for IKEv1 connections"


def test_libreswan_and_pluto_refuse_vhost_in_ikev2_alike(tmp_path: Path) -> None:
    if not libreswan_available():
        pytest.skip("Libreswan 4.10 is not unpacked in /opt/libreswan (bash scripts/lab.sh --setup-only)")
    conf = tmp_path / "ipsec.conf"
    conf.write_text(CONF)
    theirs = subprocess.run([str(LSW / "addconn"), "--checkconfig", "--config", str(conf)], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, IPSEC_EXECDIR=str(LSW)))
    said = theirs.stdout + theirs.stderr
    assert f"while loading 'vhost': {WORDS}" in said, said
    assert "'narrowed'" not in said, said
    ours = subprocess.run([*IPSEC, "checkconfig", "--config", str(conf)], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert ours.returncode == 1
    assert (f'ERROR: "vhost": {conf}:9: rightsubnet=vhost:%priv,%no: {WORDS} (Libreswan 4.x refuses them in '
            "IKEv2 too)") in ours.stdout, ours.stdout
    assert '"narrowed"' not in ours.stdout, ours.stdout
