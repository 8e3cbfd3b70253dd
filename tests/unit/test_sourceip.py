"""leftsourceip=ADDR / rightsourceip=ADDR as Libreswan 4.10: an end without a subnet gets
ADDR/32 as its subnet (``ipsec readwriteconf`` shows ``rightsubnet=10.3.0.1/32`` for
``rightsourceip=10.3.0.1``); our own end's source address is the source of the routes to
the peer's subnets, put on lo only when the host does not have it (Libreswan's updown
``addsource``), and updown's PLUTO_MY_SOURCEIP. ``leftsourceip=%config`` (strongSwan's word)
is a bad value in Libreswan and here, pointing at leftmodecfgclient=yes."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from pluto_core.config import load_config
from pluto_core.config.connection import orient
from pluto_core.engine_conn import to_engine_conn
from pluto_core.ikev2.events import ChildDown, ChildInfo, ChildUp
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.leases import LeaseRoutes
from pluto_plugins.updown import updown_env
from tests.engine.harness import Recorder

BASE = "conn c\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\tauto=add\n"


def _load(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "ipsec.conf"
    p.write_text(BASE + body)
    return p, load_config(p)


def test_our_sourceip_is_our_subnet_and_the_route_source(tmp_path: Path) -> None:
    _p, conf = _load(tmp_path, "\tleftsourceip=10.0.1.1\n\trightsubnet=10.0.2.0/24\n")
    assert "c" not in conf.refused and "c" not in conf.failed
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))
    assert engine.local_ts == (Selector.from_subnet("10.0.1.1/32"),)
    assert engine.remote_ts == (Selector.from_subnet("10.0.2.0/24"),)
    assert engine.options["sourceip"] == "10.0.1.1"


def test_a_written_subnet_stays_and_the_peers_sourceip_is_its_subnet(tmp_path: Path) -> None:
    _p, conf = _load(tmp_path, "\tleftsourceip=10.0.1.1\n\tleftsubnet=10.0.1.0/24\n\trightsourceip=10.3.0.1\n")
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))
    assert engine.local_ts == (Selector.from_subnet("10.0.1.0/24"),)
    assert engine.remote_ts == (Selector.from_subnet("10.3.0.1/32"),)  # Libreswan: rightsubnet=10.3.0.1/32
    # oriented the other way the peer's sourceip is ours: only our own end's is a route source
    other = to_engine_conn(orient(conf.conns["c"], {"192.0.2.2"}))
    assert other.options["sourceip"] == "10.3.0.1" and other.local_ts == (Selector.from_subnet("10.3.0.1/32"),)


def test_ipv6_sourceip_is_a_128(tmp_path: Path) -> None:
    p = tmp_path / "ipsec.conf"
    p.write_text("conn c\n\tleft=2001:db8::1\n\tright=2001:db8::2\n\tauthby=secret\n"
                 "\tleftsourceip=2001:db8:0:1::1\n\trightsubnet=2001:db8:0:2::/64\n")
    engine = to_engine_conn(orient(load_config(p).conns["c"], {"2001:db8::1"}))
    assert engine.local_ts == (Selector.from_subnet("2001:db8:0:1::1/128"),)


@pytest.mark.parametrize("value, conf_attr, message", [
    ("%config", "failed", "leftsourceip=%config invalid, %config is strongSwan's; for an address from the peer "
                          "write leftmodecfgclient=yes"),
    ("vpn.example.com", "failed", "leftsourceip=vpn.example.com invalid, 'vpn.example.com' does not appear to "
                                  "be an IPv4 or IPv6 address"),
    ("10.0.1.1,10.0.1.2", "refused", "leftsourceip=10.0.1.1,10.0.1.2: one address (Libreswan takes a single "
                                     "source address)"),
])
def test_what_is_not_one_address_names_file_and_line(tmp_path: Path, value: str, conf_attr: str,
                                                      message: str) -> None:
    p, conf = _load(tmp_path, f"\tleftsourceip={value}\n")
    error = getattr(conf, conf_attr)["c"]
    assert (error.file, error.line, error.message) == (str(p), 6, message)


class FakeIp:
    """``ip``: ``route get`` of the source says whether the host has it (``local ...``)."""

    def __init__(self, local: bool) -> None:
        self.local = local
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        out = ""
        if args[:3] == ["route", "get", "10.0.1.1"]:
            out = "local 10.0.1.1 dev lo table local src 10.0.1.1 uid 0\n" if self.local else \
                "10.0.1.1 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0\n"
        elif args[:2] == ["route", "get"]:
            out = "192.0.2.2 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0\n"
        return subprocess.CompletedProcess(list(args), 0, out, "")


def _info() -> ChildInfo:
    return ChildInfo(1, "192.0.2.1", "192.0.2.2", "@west", "@east", "tunnel",
                     (Selector.from_subnet("10.0.1.1/32"),), (Selector.from_subnet("10.0.2.0/24"),),
                     1, 2, 16388, False)


@pytest.mark.parametrize("local", [True, False])
def test_routes_use_the_source_and_it_goes_on_lo_only_when_the_host_lacks_it(local: bool) -> None:
    conn = SimpleNamespace(options={"sourceip": "10.0.1.1", "modecfgclient": False})
    fake, log = FakeIp(local), Recorder()
    routes = LeaseRoutes(lambda name: conn, log, run=fake)
    routes.on_event(ChildUp("c", 2, "", _info()))
    routes.on_event(ChildDown("c", 2, "", _info()))
    routes.close()
    on_lo = [["addr", "replace", "10.0.1.1/32", "dev", "lo"]] if not local else []
    off_lo = [["addr", "del", "10.0.1.1/32", "dev", "lo"]] if not local else []
    assert fake.calls == [
        ["route", "get", "10.0.1.1"], *on_lo,
        ["route", "get", "192.0.2.2"],
        ["route", "replace", "10.0.2.0/24", "via", "192.0.2.254", "dev", "eth0", "src", "10.0.1.1"],
        ["route", "del", "10.0.2.0/24", "via", "192.0.2.254", "dev", "eth0", "src", "10.0.1.1"], *off_lo,
    ]
    where = "already an address of this host" if local else "added to lo"
    assert f'"c" #2 routes to 10.0.2.0/24 use leftsourceip 10.0.1.1 ({where})' in log.text()


def test_updown_gets_pluto_my_sourceip_only_with_one() -> None:
    info = _info()
    local, remote = info.local_ts[0], info.remote_ts[0]
    conn = SimpleNamespace(options={"sourceip": "10.0.1.1"}, if_id=0, mark_in=None, mark_out=None, lease=())
    env = updown_env("up-client", "c", info, local, remote, "xfrm", route=conn)  # type: ignore[arg-type]
    assert env["PLUTO_MY_SOURCEIP"] == "10.0.1.1"
    conn.options = {"sourceip": None}
    assert "PLUTO_MY_SOURCEIP" not in updown_env("up-client", "c", info, local, remote, "xfrm",
                                                 route=conn)  # type: ignore[arg-type]
