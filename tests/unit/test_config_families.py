"""Address families of a conn (docs/remote-access.md, ## IPv6): IKE runs over one family, and
selectors of either family may ride in it (4-in-6, 6-in-4), but a subnet facing the other end's
subnet, or its host when it has none, must share its family. Refused as Libreswan words it
(its addconn-12-family and addconn-07-defaultroute tests), with file:line, by ``ipsec checkconfig``
(the daemon's code path)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pluto_core.config.checkconfig import main as checkconfig

CORPUS = Path(__file__).resolve().parents[1] / "data/corpus/libreswan-expect/addconn-12-family"


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    conf = tmp_path / "ipsec.conf"
    conf.write_text(text)
    status = checkconfig(["--config", str(conf), "--quiet"])
    return status, capsys.readouterr().out.splitlines()


def test_libreswan_family_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every conn of addconn-12-family added (auto=add on each): exactly the ones Libreswan
    refuses fail, with its sentence."""
    text = re.sub(r"^(conn \S+)$", r"\1\n     auto=add", (CORPUS / "west.conf").read_text(), flags=re.M)
    status, lines = _check(tmp_path, text, capsys)
    expected = {}
    for line in (CORPUS / "west.console.txt").read_text().splitlines():
        m = re.match(r'^"([^"]+)": failed to add connection: (.*)$', line)
        if m:
            expected[m.group(1)] = m.group(2)
    got = {}
    for line in lines:
        m = re.match(r'^ERROR: "([^"]+)": \S+:\d+: (.*)$', line)
        assert m, line
        got[m.group(1)] = m.group(2)
    assert status == 1 and got == expected


@pytest.mark.parametrize("ends, message", [
    ("left=2001:db8:1:2::45\n\tright=192.1.2.23",
     "host address family IPv6 from left=2001:db8:1:2::45 conflicts with right=192.1.2.23"),
    ("left=%defaultroute6\n\tright=192.1.2.23",
     "host address family IPv6 from left=%defaultroute6 conflicts with right=192.1.2.23"),
    ("left=%defaultroute4\n\tright=2001:db8:1:2::23",
     "host address family IPv4 from left=%defaultroute4 conflicts with right=2001:db8:1:2::23"),
    ("left=2001:db8:1:2::45\n\tright=2001:db8:1:2::23\n\trightsubnet=192.0.2.0/24",
     "address family of rightsubnet=192.0.2.0/24 conflicts with left=2001:db8:1:2::45"),
])
def test_family_conflicts_refused_with_file_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], ends: str,
                                                 message: str) -> None:
    status, lines = _check(tmp_path, f"conn c\n\t{ends}\n\tauthby=secret\n\tauto=add\n", capsys)
    assert status == 1 and lines == [f'ERROR: "c": {tmp_path}/ipsec.conf:1: {message}']


@pytest.mark.parametrize("body", [
    "left=2001:db8:1:2::45\n\tright=2001:db8:1:2::23\n\tleftsubnet=::/0\n\trightsubnet=::/0",  # 6-in-6
    "left=2001:db8:1:2::45\n\tright=2001:db8:1:2::23\n\tleftsubnet=192.0.1.0/24\n\trightsubnet=192.0.2.0/24",
    "left=192.1.2.45\n\tright=192.1.2.23\n\tleftsubnet=2001:db8:0:1::/64\n\trightsubnet=2001:db8:0:2::/64",
    "left=2001:db8:1:2::45\n\tright=2001:db8:1:2::23\n\ttype=transport",
])
def test_admitted_families(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str) -> None:
    status, lines = _check(tmp_path, f"conn c\n\t{body}\n\tauthby=secret\n\tauto=add\n", capsys)
    assert (status, lines) == (0, [])
