"""Peer host names in left=/right=: resolved at add time and before initiating, with an
injected resolver; a name that does not resolve leaves the conn pending and retried."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pluto_core.config import load_config
from pluto_core.config.connection import Connection, orient
from pluto_core.daemon import Daemon
from pluto_core.engine_conn import to_engine_conn
from pluto_core.ikev2.engine import Engine
from pluto_core.peer_names import PeerNames
from pluto_core.resolve import (
    Address,
    ResolveError,
    ThreadedResolver,
    resolve_ends,
    retry_delay,
    system_resolver,
)
from tests.engine.harness import Clock, MemoryKernel, Psks

WEST, EAST = "192.0.2.1", "192.0.2.2"

CONF = """\
conn named
\tleft={left}
\tleftid=@west
\tright={right}
\trightid=@east
\tauthby=secret
\tauto={auto}
"""


class Names:
    """A resolver with a table the test changes; records what it was asked."""

    def __init__(self, table: dict[str, str | None]) -> None:
        self.table = table
        self.asked: list[tuple[str, int | None]] = []

    def __call__(self, name: str, family: int | None) -> tuple[Address, ...]:
        self.asked.append((name, family))
        answer = self.table.get(name)
        if answer is None:
            raise ResolveError("Name or service not known")
        return tuple(ipaddress.ip_address(a) for a in answer.split(","))


def _conn(tmp_path: Path, left: str = WEST, right: str = "east.example", auto: str = "add",
          extra: str = "") -> Connection:
    path = tmp_path / "ipsec.conf"
    path.write_text(CONF.format(left=left, right=right, auto=auto) + extra)
    config = load_config(str(path), local_addresses={WEST})
    assert not config.failed, config.failed
    return config.conns["named"]


# -- resolve_ends / orient ------------------------------------------------------------------


def test_a_name_gets_the_address_of_the_other_ends_family(tmp_path: Path) -> None:
    names = Names({"east.example": "2001:db8::2,192.0.2.2"})
    conn, failures = resolve_ends(_conn(tmp_path), names)
    assert failures == ()
    assert str(conn.right.address) == EAST and conn.right.host == "east.example"
    assert names.asked == [("east.example", 4)]  # the literal left= decides the family


def test_hostaddrfamily_picks_the_family(tmp_path: Path) -> None:
    names = Names({"east.example": "192.0.2.2,2001:db8::2", "west.example": "2001:db8::1"})
    conn = _conn(tmp_path, left="west.example", extra="\thostaddrfamily=ipv6\n")
    resolved, failures = resolve_ends(conn, names)
    assert failures == ()
    assert (str(resolved.left.address), str(resolved.right.address)) == ("2001:db8::1", "2001:db8::2")
    assert names.asked == [("west.example", 6), ("east.example", 6)]


def test_a_name_with_no_address_of_the_family_is_unresolved(tmp_path: Path) -> None:
    conn, failures = resolve_ends(_conn(tmp_path), Names({"east.example": "2001:db8::2"}))
    assert [f.text("named") for f in failures] == ['"named": cannot resolve right=east.example: no IPv4 address']
    assert conn.right.address is None


def test_a_name_of_this_host_orients_the_conn(tmp_path: Path) -> None:
    conn = _conn(tmp_path, left=EAST, right="west.example")
    assert not conn.oriented  # neither 192.0.2.2 nor an unresolved name is this host
    resolved, failures = resolve_ends(conn, Names({"west.example": WEST}))
    oriented = orient(resolved, {WEST})
    assert failures == () and oriented.local_is_left is False and str(oriented.local.address) == WEST


def test_system_resolver_reads_the_hosts_file_and_explains_failures() -> None:
    assert ipaddress.ip_address("127.0.0.1") in system_resolver("localhost", 4)
    with pytest.raises(ResolveError, match="not a valid host name"):
        system_resolver("x" * 64 + ".example", None)  # a label longer than 63 octets: no query made


def test_threaded_resolver_bounds_the_wait_and_keeps_the_late_answer() -> None:
    release = threading.Event()
    calls: list[str] = []

    def slow(name: str, family: int | None) -> tuple[Address, ...]:
        calls.append(name)
        release.wait(5)
        return (ipaddress.ip_address(EAST),)

    threads = ThreadedResolver(slow)
    try:
        with pytest.raises(ResolveError, match="no answer within 0.05s"):
            threads.lookup("east.example", 4, wait=0.05)
        release.set()
        assert threads.lookup("east.example", 4, wait=5) == (ipaddress.ip_address(EAST),)
        assert calls == ["east.example"]  # the second lookup took over the first one's answer
    finally:
        threads.close()


def test_retry_backoff_doubles_up_to_a_minute() -> None:
    assert [retry_delay(n) for n in range(7)] == [5, 10, 20, 40, 60, 60, 60]


# -- the daemon's side: PeerNames with the real Daemon.add_conn and a real engine ------------------


class FakeHost:
    """What PeerNames and Daemon.add_conn use of IkeHost: the engine, traps, flush."""

    def __init__(self) -> None:
        self.engine = Engine(MemoryKernel(), Psks({}), Clock(), os.urandom, SimpleNamespace(log=print))
        self.traps: dict[str, list[Any]] = {}
        self.flushed = 0
        self.routed_shunts: list[str] = []
        self.shunts = SimpleNamespace(is_shunt=lambda name: name.startswith("shunt"),
                                      route_at_start=self.routed_shunts.append)

    def flush(self) -> None:
        self.flushed += 1


def _daemon(names: Names, backoff: float = 0.01) -> Any:
    lines: list[str] = []
    fake = SimpleNamespace(log=SimpleNamespace(log=lines.append), ike=FakeHost(), lines=lines,
                           local_addresses=lambda: {WEST})

    def add(conn: Connection, resolve: bool = True) -> str:
        """Daemon.add_conn's part that concerns names (the daemon's own is run by the host tier)."""
        if resolve:
            resolved = fake.names.prepare(conn)
            if resolved is None:
                return str(fake.names.waiting_line(conn.name))
            conn = resolved
        if conn.never_negotiate:  # the daemon hands these to the shunt manager, never the engine
            return f'"{conn.name}": added passthrough connection'
        fake.ike.engine.add_conn(to_engine_conn(conn))
        return f'"{conn.name}": added IKEv2 connection'

    fake.add_conn = add
    fake.act_on_auto = lambda name, auto: Daemon.act_on_auto(fake, name, auto)  # the daemon's own
    fake.names = PeerNames(fake, names, backoff=lambda attempt: backoff * (attempt + 1))
    return fake


def test_resolved_at_add_time(tmp_path: Path) -> None:
    daemon = _daemon(Names({"east.example": EAST}))
    line = daemon.add_conn(_conn(tmp_path))
    assert line == '"named": added IKEv2 connection'
    conn = daemon.ike.engine.conns["named"]
    assert (conn.local_addr, conn.remote_addr) == (WEST, EAST)
    assert [str(t) for t in conn.remote_ts] == [f"{EAST}/32"]
    assert '"named": right=east.example resolves to 192.0.2.2' in daemon.lines
    assert daemon.names.hosts("named") == {"local_host": None, "remote_host": "east.example"}
    daemon.names.close()


def test_unresolvable_at_add_is_pending_retried_then_started(tmp_path: Path) -> None:
    names = Names({})
    daemon = _daemon(names)
    conn = _conn(tmp_path, auto="start")

    async def run() -> None:
        line = daemon.add_conn(conn)
        assert line == '"named": added IKEv2 connection; not usable until right=east.example resolves'
        assert "named" not in daemon.ike.engine.conns  # never a %any responder meanwhile
        (row,) = daemon.names.status_rows()
        assert row["remote"] == "" and row["remote_host"] == "east.example" and row["resolving"]
        for _ in range(200):  # two retries fail, each logged once
            if len(names.asked) >= 3:
                break
            await asyncio.sleep(0.005)
        names.table["east.example"] = EAST
        for _ in range(200):
            if "named" in daemon.ike.engine.conns:
                break
            await asyncio.sleep(0.005)
        assert daemon.ike.engine.conns["named"].remote_addr == EAST
        assert [sa.name for sa in daemon.ike.engine.ike_sas()] == ["named"]  # auto=start acted on
        assert daemon.names.pending == {}
        daemon.names.close()

    asyncio.run(run())
    failures = [line for line in daemon.lines if "cannot resolve" in line]
    where = f"{tmp_path / 'ipsec.conf'}:{conn.line}: "
    assert failures[0] == f'{where}"named": cannot resolve right=east.example: Name or service not known; ' \
        "retrying in 0.01s"
    assert failures[1].endswith("retrying in 0.02s") and len(failures) >= 3
    assert '"named": right=east.example resolves to 192.0.2.2' in daemon.lines


def test_a_changed_address_is_picked_up_before_initiating(tmp_path: Path) -> None:
    names = Names({"east.example": EAST})
    daemon = _daemon(names)
    daemon.add_conn(_conn(tmp_path))
    names.table["east.example"] = "192.0.2.3"

    async def run() -> None:
        await daemon.names.refresh("named")
        daemon.names.close()

    asyncio.run(run())
    conn = daemon.ike.engine.conns["named"]
    assert conn.remote_addr == "192.0.2.3" and [str(t) for t in conn.remote_ts] == ["192.0.2.3/32"]
    assert '"named": right=east.example now resolves to 192.0.2.3 (was 192.0.2.2)' in daemon.lines


def test_a_failure_before_initiating_keeps_the_last_address(tmp_path: Path) -> None:
    names = Names({"east.example": EAST})
    daemon = _daemon(names)
    daemon.add_conn(_conn(tmp_path))
    del names.table["east.example"]

    async def run() -> None:
        await daemon.names.refresh("named")
        daemon.names.close()

    asyncio.run(run())
    assert daemon.ike.engine.conns["named"].remote_addr == EAST
    assert '"named": cannot resolve right=east.example: Name or service not known; using the last address ' \
        '192.0.2.2' in daemon.lines


def test_up_on_a_pending_conn_names_file_line_and_name(tmp_path: Path) -> None:
    daemon = _daemon(Names({}), backoff=60)
    conn = _conn(tmp_path)

    async def run() -> None:
        daemon.add_conn(conn)
        with pytest.raises(ResolveError) as info:
            await daemon.names.refresh("named")
        assert str(info.value) == f'{tmp_path / "ipsec.conf"}:{conn.line}: "named": cannot resolve ' \
            "right=east.example: Name or service not known"
        assert daemon.names.forget("named") and daemon.names.pending == {}  # ipsec delete
        assert daemon.names.status_rows() == []
        daemon.names.close()

    asyncio.run(run())


def test_up_on_a_pending_conn_that_now_resolves_initiates_once(tmp_path: Path) -> None:
    """``ipsec up`` initiates itself: the conn's auto=start must not add a second IKE SA."""
    names = Names({})
    daemon = _daemon(names, backoff=60)

    async def run() -> None:
        daemon.add_conn(_conn(tmp_path, auto="start"))
        names.table["east.example"] = EAST
        await daemon.names.refresh("named")
        assert daemon.ike.engine.conns["named"].remote_addr == EAST and daemon.ike.engine.ike_sas() == []
        assert daemon.names.status_rows() == []
        daemon.names.close()

    asyncio.run(run())


def test_revival_resolves_again(tmp_path: Path) -> None:
    names = Names({"east.example": EAST})
    daemon = _daemon(names)
    daemon.add_conn(_conn(tmp_path, auto="start"))
    names.table["east.example"] = "192.0.2.3"

    async def run() -> None:
        daemon.names.revive("named")
        for _ in range(200):
            if daemon.ike.engine.ike_sas():
                break
            await asyncio.sleep(0.005)
        daemon.names.close()

    asyncio.run(run())
    (sa,) = daemon.ike.engine.ike_sas()
    assert sa.remote[0] == "192.0.2.3"


def test_a_shunt_whose_name_resolves_later_is_routed(tmp_path: Path) -> None:
    """A never-negotiate conn has no engine conn: once its name resolves, auto=route routes
    its shunt (nothing is initiated, no trap is looked up in the engine)."""
    names = Names({})
    daemon = _daemon(names)
    conn = replace(_conn(tmp_path, auto="route", extra="\ttype=passthrough\n"), name="shunt-named")

    async def run() -> None:
        daemon.add_conn(conn)
        assert daemon.names.pending and daemon.ike.routed_shunts == []
        names.table["east.example"] = EAST
        for _ in range(400):
            if daemon.ike.routed_shunts:
                break
            await asyncio.sleep(0.005)
        daemon.names.close()

    asyncio.run(run())
    assert daemon.ike.routed_shunts == ["shunt-named"]
    assert "shunt-named" not in daemon.ike.engine.conns and daemon.ike.engine.ike_sas() == []
