"""Certificate expiry (docs/certificates.md "Expiry"): the words and units of ``x509.expiry``;
a conn whose ``leftcert=`` or ``rightcert=`` is expired or not yet valid refused by
``to_engine_conn`` and ``check_certs`` alike with its file:line and the date, one near its end
a checkconfig warning; and the daemon's ``ExpiryWatch``: a line when the conn is added, again
each time the daily timer fires (a short injected day, a fake wall clock), the certificate read
again each time, nothing for one far from its end."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from pluto_core.cert_expiry import ExpiryWatch, expiry_line
from pluto_core.config import load_config
from pluto_core.config.connection import orient
from pluto_core.engine_conn import LoadedCert, build_engine_conn, check_certs, read_cert, to_engine_conn
from pluto_core.errors import ConfigError
from pluto_core.x509.expiry import WARNING_WINDOW, notice, time_left, unusable
from tests import x509_pki as pki

NOW = pki.NOW  # 2025-06-01 12:00:00 UTC: every time here is injected
DAY, HOUR = pki.DAY, dt.timedelta(hours=1)
CA = pki.root("C=CA, O=Expiry, CN=Root", not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY)


def cert(cn: str, *, not_before: dt.datetime = NOW - 30 * DAY, not_after: dt.datetime = NOW + 365 * DAY) -> Any:
    return pki.issue(f"C=CA, O=Expiry, CN={cn}", pki.key("ecdsa", 30), CA, not_before=not_before,
                     not_after=not_after).cert


# -- x509.expiry: the facts, in Libreswan's units --------------------------------------------------


@pytest.mark.parametrize(("left", "text"), [
    (13 * DAY + 23 * HOUR, "13 days"),
    (2 * DAY + HOUR, "2 days"),
    (2 * DAY, "48 hours"),  # two days is not above two days: hours, as checkpubkeys counts
    (3 * HOUR, "3 hours"),
    (2 * HOUR, "120 minutes"),
    (dt.timedelta(minutes=3), "3 minutes"),
    (dt.timedelta(minutes=2), "120 seconds"),
    (dt.timedelta(seconds=1), "1 second"),
])
def test_time_left_counts_whole_units(left: dt.timedelta, text: str) -> None:
    assert time_left(left) == text


def test_the_window_is_two_weeks_and_the_bounds_are_inclusive() -> None:
    assert WARNING_WINDOW == 14 * DAY  # Libreswan's PUBKEY_WARNING_INTERVAL
    c = cert("soon", not_after=NOW + 14 * DAY)
    assert notice(c, NOW) == "expires in 14 days, on 2025-06-15 12:00:00 UTC"
    assert notice(c, NOW - dt.timedelta(seconds=1)) is None  # a second outside the window
    assert unusable(c, c.not_valid_after_utc) is None and unusable(c, c.not_valid_before_utc) is None
    assert notice(c, c.not_valid_after_utc + dt.timedelta(seconds=1)) == "expired on 2025-06-15 12:00:00 UTC"
    assert notice(c, c.not_valid_before_utc - DAY) == "is not valid before 2025-05-02 12:00:00 UTC"


# -- at add time: to_engine_conn (the daemon) and check_certs (checkconfig) ------------------------

CONF = """\
conn c
\tleft=192.0.2.1
\tright=192.0.2.2
\tauthby=rsasig
\tleftcert=west.pem
\trightid=@east
{extra}\tauto=add
"""


def _conn(tmp_path: Path, certs: dict[str, Any], extra: str = "") -> tuple[Any, Path]:
    """conn c (at line 1) with ``<ipsecdir>/certs/NAME.pem`` for each of ``certs``."""
    ipsecdir = tmp_path / "ipsec.d"
    (ipsecdir / "certs").mkdir(parents=True, exist_ok=True)
    for name, c in certs.items():
        (ipsecdir / "certs" / f"{name}.pem").write_bytes(c.public_bytes(Encoding.PEM))
    path = tmp_path / "ipsec.conf"
    path.write_text(CONF.format(extra=extra))
    config = load_config(str(path), local_addresses={"192.0.2.1"})
    assert not config.failed and not config.refused, (config.failed, config.refused)
    return orient(config.conns["c"], {"192.0.2.1"}), ipsecdir


@pytest.mark.parametrize(("west", "peer", "why"), [
    (cert("west", not_after=NOW - DAY), None,
     "leftcert=west.pem (C=CA, O=Expiry, CN=west) expired on 2025-05-31 12:00:00 UTC"),
    (cert("west", not_before=NOW + 2 * DAY), None,
     "leftcert=west.pem (C=CA, O=Expiry, CN=west) is not valid before 2025-06-03 12:00:00 UTC"),
    (cert("west"), cert("east", not_after=NOW - HOUR),  # the peer's preloaded copy: refused too, as Libreswan
     "rightcert=east.pem (C=CA, O=Expiry, CN=east) expired on 2025-06-01 11:00:00 UTC"),
])
def test_a_certificate_out_of_its_dates_refuses_the_conn_with_file_line_and_date(
        tmp_path: Path, west: Any, peer: Any, why: str) -> None:
    files = {"west": west} | ({"east": peer} if peer is not None else {})
    conn, ipsecdir = _conn(tmp_path, files, "\trightcert=east.pem\n" if peer is not None else "")
    with pytest.raises(ConfigError) as raised:
        to_engine_conn(conn, str(ipsecdir), None, NOW)
    assert (raised.value.file, raised.value.line) == (str(tmp_path / "ipsec.conf"), 1)
    assert raised.value.message == f'"c": {why}'
    errors, warnings = check_certs(conn, str(ipsecdir), None, NOW)  # checkconfig: the same words
    assert [str(e) for e in errors] == [str(raised.value)] and warnings == []


def test_a_certificate_near_its_end_is_added_and_checkconfig_warns(tmp_path: Path) -> None:
    soon = cert("west", not_after=NOW + 5 * DAY + HOUR)
    conn, ipsecdir = _conn(tmp_path, {"west": soon, "east": cert("east")}, "\trightcert=east.pem\n")
    engine_conn, loaded = build_engine_conn(conn, str(ipsecdir), None, NOW)
    assert engine_conn.local_cert == "west.pem"
    assert [(c.conn, c.keyword, c.name, c.ours) for c in loaded] == [
        ("c", "leftcert", "west.pem", True), ("c", "rightcert", "east.pem", False)]
    assert loaded[0].cert == soon
    errors, warnings = check_certs(conn, str(ipsecdir), None, NOW)
    assert errors == []
    assert warnings == [f'{tmp_path / "ipsec.conf"}:1: "c": leftcert=west.pem (C=CA, O=Expiry, CN=west) '
                        "expires in 5 days, on 2025-06-06 13:00:00 UTC"]
    # far from its end: nothing to say
    conn, ipsecdir = _conn(tmp_path, {"west": cert("west")})
    assert check_certs(conn, str(ipsecdir), None, NOW) == ([], [])


# -- the daemon's watch ------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _watch(ipsecdir: Path, clock: Clock, lines: list[str], loaded: Callable[[str], bool] = lambda _: True,
           interval: float = 3600.0) -> ExpiryWatch:
    from types import SimpleNamespace

    return ExpiryWatch(SimpleNamespace(log=lines.append), lambda name: read_cert(name, str(ipsecdir), None),
                       loaded, wall_clock=clock, interval=interval)


def _write(ipsecdir: Path, name: str, c: Any) -> LoadedCert:
    (ipsecdir / "certs").mkdir(parents=True, exist_ok=True)
    (ipsecdir / "certs" / name).write_bytes(c.public_bytes(Encoding.PEM))
    return LoadedCert(name.split(".")[0], "leftcert", name, c, True)


async def _until(lines: list[str], count: int, timeout: float = 5.0) -> list[str]:
    """Wait for ``count`` lines about conn "soon" (a loaded machine may add "skipped" lines)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(soon := [line for line in lines if line.startswith('"soon"')]) < count:
        assert asyncio.get_running_loop().time() < deadline, lines
        await asyncio.sleep(0.005)
    return soon


def test_a_certificate_near_its_end_is_logged_at_add_and_each_time_the_daily_timer_fires(tmp_path: Path) -> None:
    clock, lines = Clock(NOW), []
    soon = _write(tmp_path, "soon.pem", cert("soon", not_after=NOW + 5 * DAY + HOUR))
    far = _write(tmp_path, "far.pem", cert("far"))

    async def scenario() -> None:
        watch = _watch(tmp_path, clock, lines, interval=0.02)  # "a day" of 20 ms
        watch.track("far", [far])
        watch.track("soon", [soon])
        assert lines == ['"soon": leftcert=soon.pem (C=CA, O=Expiry, CN=soon) expires in 5 days, '
                         "on 2025-06-06 13:00:00 UTC"]
        clock.now = NOW + DAY  # a day later, by the wall clock
        soon_lines = await _until(lines, 2)
        assert soon_lines[1] == ('"soon": leftcert=soon.pem (C=CA, O=Expiry, CN=soon) expires in 4 days, '
                                 "on 2025-06-06 13:00:00 UTC")
        seen = len(soon_lines)
        clock.now = NOW + 6 * DAY  # it ended while the daemon ran
        soon_lines = await _until(lines, seen + 2)  # the timer keeps firing
        assert soon_lines[-1] == ('"soon": leftcert=soon.pem (C=CA, O=Expiry, CN=soon) expired on 2025-06-06 '
                                  "13:00:00 UTC: no new IKE SA can authenticate with it")
        watch.close()
        count = len(lines)
        await asyncio.sleep(0.1)
        assert len(lines) == count  # closed: the timer no longer fires

    asyncio.run(scenario())
    assert not any("far" in line for line in lines)


def test_the_daily_check_reads_each_certificate_again(tmp_path: Path) -> None:
    """Renewed in place: the new certificate is the one judged; gone: said so; a conn deleted
    since: dropped; a peer's expired copy: named, without our "no new IKE SA" consequence."""
    clock, lines = Clock(NOW + 6 * DAY), []
    old = cert("west", not_after=NOW + 5 * DAY)
    item = _write(tmp_path, "west.pem", old)
    peer = LoadedCert("west", "rightcert", "east.pem", cert("east", not_after=NOW), False)
    _write(tmp_path, "east.pem", peer.cert)
    gone = _write(tmp_path, "gone.pem", cert("gone"))
    deleted = _write(tmp_path, "deleted.pem", cert("deleted", not_after=NOW + DAY))
    alive = {"west", "gone"}
    watch = _watch(tmp_path, clock, lines, loaded=alive.__contains__)
    for conn, certs in (("west", [item, peer]), ("gone", [gone]), ("deleted", [deleted])):
        watch.certs[conn] = tuple(certs)  # as track() leaves them, without its lines
    (tmp_path / "certs" / "gone.pem").unlink()
    asyncio.run(watch.check())
    assert lines == [
        '"west": leftcert=west.pem (C=CA, O=Expiry, CN=west) expired on 2025-06-06 12:00:00 UTC: '
        "no new IKE SA can authenticate with it",
        '"west": rightcert=east.pem (C=CA, O=Expiry, CN=east) expired on 2025-06-01 12:00:00 UTC',
        f'"gone": leftcert=gone.pem: cannot check its expiry: {tmp_path}/certs/gone.pem: cannot read: '
        "No such file or directory",
    ]
    assert set(watch.certs) == {"west", "gone"}
    lines.clear()
    _write(tmp_path, "west.pem", cert("west", not_after=NOW + 400 * DAY))  # renewed in place
    watch.certs.pop("gone")
    asyncio.run(watch.check())
    assert lines == ['"west": rightcert=east.pem (C=CA, O=Expiry, CN=east) expired on 2025-06-01 12:00:00 UTC']


def test_a_conn_added_again_without_a_certificate_is_no_longer_watched(tmp_path: Path) -> None:
    clock, lines = Clock(NOW), []
    watch = _watch(tmp_path, clock, lines)
    watch.track("west", [_write(tmp_path, "west.pem", cert("west", not_after=NOW + DAY))])
    assert len(lines) == 1 and "expires in 24 hours" in lines[0]
    watch.track("west", [])  # e.g. re-added with authby=secret
    assert watch.certs == {}
    assert expiry_line(LoadedCert("x", "leftcert", "x.pem", cert("x"), True), cert("x"), NOW) is None
