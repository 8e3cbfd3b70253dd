"""left=%defaultroute (and leftnexthop=%defaultroute) resolved from a routing table, as
Libreswan's addconn does: the default route's gateway is the next hop, the preferred source
of the route towards it (IPv4) or the peer (IPv6) the address; no route refuses the conn at
its file:line. ``SystemRoutes`` reads ``ip -j route`` output."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from pluto_core.config import load_config
from pluto_core.config.connection import orient
from pluto_core.default_route import DefaultRoute, SystemRoutes, resolve_defaultroute, uses_defaultroute
from pluto_core.engine_conn import to_engine_conn
from pluto_core.errors import ConfigError


class FakeTable:
    """A road warrior's table (Libreswan's addconn-07-defaultroute host): eth0 192.1.3.209/24,
    default via 192.1.3.254; IPv6 2001:db8:1:3::209/64, default via 2001:db8:1:3::254."""

    def __init__(self, v4: bool = True, v6: bool = True) -> None:
        self.routes = {4: DefaultRoute("192.1.3.254", "eth0") if v4 else None,
                       6: DefaultRoute("2001:db8:1:3::254", "eth0") if v6 else None}
        self.asked: list[tuple[str, str | None]] = []

    def default(self, family: int) -> DefaultRoute | None:
        return self.routes[family]

    def source(self, destination: str, device: str | None) -> str | None:
        self.asked.append((destination, device))
        return "192.1.3.209" if ipaddress.ip_address(destination).version == 4 else "2001:db8:1:3::209"


def _conn(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "ipsec.conf"
    p.write_text("conn road\n\tleftid=@road\n\trightid=@east\n\tauthby=secret\n\tauto=add\n" + body)
    conf = load_config(p)
    assert "road" not in conf.refused and "road" not in conf.failed, (conf.refused, conf.failed)
    return p, orient(conf.conns["road"], {"192.1.3.209"})


def test_ipv4_address_from_the_route_to_the_gateway_and_the_gateway_as_nexthop(tmp_path: Path) -> None:
    _p, conn = _conn(tmp_path, "\tleft=%defaultroute\n\tright=192.1.2.23\n")
    assert conn.local_is_left and uses_defaultroute(conn)
    table = FakeTable()
    resolved = resolve_defaultroute(conn, table)
    assert str(resolved.left.address) == "192.1.3.209" and resolved.left.nexthop == "192.1.3.254"
    assert resolved.left.host == "%defaultroute"  # as written, for status and logs
    assert table.asked == [("192.1.3.254", "eth0")]  # Libreswan: PREFSRC of the route to the gateway
    engine = to_engine_conn(resolved)
    assert engine.local_addr == "192.1.3.209" and engine.remote_addr == "192.1.2.23"
    assert engine.options["nexthop"] == "192.1.3.254"  # updown's PLUTO_NEXT_HOP


def test_ipv6_from_the_peers_family_asks_the_route_to_the_peer(tmp_path: Path) -> None:
    _p, conn = _conn(tmp_path, "\tleft=%defaultroute\n\tright=2001:db8:1:2::23\n")
    table = FakeTable()
    resolved = resolve_defaultroute(conn, table)
    assert str(resolved.left.address) == "2001:db8:1:3::209" and resolved.left.nexthop == "2001:db8:1:3::254"
    assert table.asked == [("2001:db8:1:2::23", "eth0")]


@pytest.mark.parametrize("body, family", [
    ("\tleft=%defaultroute6\n\tright=%any\n", 6),
    ("\tleft=%defaultroute\n\tright=%any\n\thostaddrfamily=ipv6\n", 6),
    ("\tleft=%defaultroute\n\tright=%any\n", 4),
])
def test_the_family_with_no_peer_address(tmp_path: Path, body: str, family: int) -> None:
    _p, conn = _conn(tmp_path, body)
    resolved = resolve_defaultroute(conn, FakeTable())
    assert resolved.left.address is not None and resolved.left.address.version == family


def test_a_nexthop_written_is_kept_and_nexthop_defaultroute_alone_is_the_gateway(tmp_path: Path) -> None:
    _p, conn = _conn(tmp_path, "\tleft=%defaultroute\n\tleftnexthop=192.1.3.1\n\tright=192.1.2.23\n")
    assert resolve_defaultroute(conn, FakeTable()).left.nexthop == "192.1.3.1"
    _p, conn = _conn(tmp_path, "\tleft=192.1.3.209\n\tleftnexthop=%defaultroute\n\tright=192.1.2.23\n")
    resolved = resolve_defaultroute(conn, FakeTable())
    assert (str(resolved.left.address), resolved.left.nexthop) == ("192.1.3.209", "192.1.3.254")


def test_no_default_route_refuses_the_conn_at_its_file_line(tmp_path: Path) -> None:
    p, conn = _conn(tmp_path, "\tleft=%defaultroute\n\tright=192.1.2.23\n")
    with pytest.raises(ConfigError) as raised:
        resolve_defaultroute(conn, FakeTable(v4=False))
    error = raised.value
    assert (error.file, error.line) == (str(p), 1)
    assert error.message == ('"road": left=%defaultroute: this host has no IPv4 default route in its main '
                             "routing table")


def test_unresolved_it_is_still_the_engine_conns_refusal(tmp_path: Path) -> None:
    """What the daemon would do without the table: the host check refuses it, at file:line."""
    p, conn = _conn(tmp_path, "\tleft=%defaultroute\n\tright=192.1.2.23\n")
    with pytest.raises(ConfigError) as raised:
        to_engine_conn(conn)
    assert (raised.value.file, raised.value.line) == (str(p), 1)


def _runner(answers: dict[tuple[str, ...], object]):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, ...]] = []

    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        calls.append(tuple(args))
        out = answers.get(tuple(args))
        return subprocess.CompletedProcess(list(args), 0 if out is not None else 2,
                                           json.dumps(out) if out is not None else "", "")
    return run, calls


def test_system_routes_reads_ip_json_lowest_metric_and_skips_ipsec_devices() -> None:
    run, calls = _runner({
        ("-j", "-4", "route", "show", "table", "main", "default"): [
            {"dst": "default", "gateway": "10.9.9.9", "dev": "ipsec1", "metric": 1},
            {"dst": "default", "gateway": "192.0.2.254", "dev": "eth1", "metric": 200},
            {"dst": "default", "gateway": "192.1.3.254", "dev": "eth0", "metric": 100}],
        ("-j", "route", "get", "192.1.3.254", "oif", "eth0"): [
            {"dst": "192.1.3.254", "dev": "eth0", "prefsrc": "192.1.3.209", "flags": [], "uid": 0}],
    })
    table = SystemRoutes(run)
    assert table.default(4) == DefaultRoute("192.1.3.254", "eth0")
    assert table.source("192.1.3.254", "eth0") == "192.1.3.209"
    assert table.default(6) is None  # ip failed or printed nothing
    assert table.source("192.0.2.1", None) is None
    assert calls[-1] == ("-j", "route", "get", "192.0.2.1")


def test_a_device_default_route_has_no_gateway_and_the_peer_is_asked(tmp_path: Path) -> None:
    _p, conn = _conn(tmp_path, "\tleft=%defaultroute\n\tright=192.1.2.23\n")
    table = FakeTable()
    table.routes[4] = DefaultRoute(None, "ppp0")
    resolved = resolve_defaultroute(conn, table)
    assert str(resolved.left.address) == "192.1.3.209" and resolved.left.nexthop is None
    assert table.asked == [("192.1.2.23", "ppp0")]
