"""The daemon's watch on the certificates its conns loaded (``leftcert=``, and a preloaded
``rightcert=`` the conn validates the peer with): a line when one ends within
``expiry.WARNING_WINDOW`` (14 days, Libreswan's ``ipsec checkpubkeys`` window), when the conn
is added and then once a day, and a line when one has expired while the daemon runs.

Why daily and not only at add: a daemon runs for months, and a certificate that was fine when
its conn was added ends unseen; the operator's log should say so ahead of time, every day,
until it is renewed. The daily check reads each certificate again (the file, or the NSS
database), as the ``x509`` auth source does when it signs, so a certificate renewed in place
is seen renewed. The reads run on a worker thread: an NSS database or a slow disk never
holds the event loop; the lines are written on the loop.

A certificate that expired while running is only logged here; the engine refuses to
authenticate with it (``cert_auth.our_certs``), so no IKE SA starts with it silently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509

from pluto_core.engine_conn import LoadedCert
from pluto_core.x509.expiry import WARNING_WINDOW, describe, notice, unusable

DAY = 86400.0  # seconds between two checks


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def expiry_line(item: LoadedCert, cert: x509.Certificate, now: dt.datetime,
                window: dt.timedelta = WARNING_WINDOW) -> str | None:
    """The log line for one certificate at ``now``, None when it is far from its end. Ours
    that can no longer be used says what that means for the conn."""
    text = notice(cert, now, window)
    if text is None:
        return None
    line = f"\"{item.conn}\": {describe(item.keyword, item.name, cert)} {text}"
    if item.ours and unusable(cert, now) is not None:
        line += ": no new IKE SA can authenticate with it"
    return line


class ExpiryWatch:
    """Which certificate each conn loaded, and the daily timer that checks them all.

    ``read(name)`` reads a ``leftcert=`` value again (``engine_conn.read_cert``), on a worker
    thread; ``loaded(conn)``: is that conn still there (a deleted conn is dropped at the next
    check). ``wall_clock`` and ``interval`` are for tests: a fake clock, a short day."""

    def __init__(self, log: Any, read: Callable[[str], x509.Certificate], loaded: Callable[[str], bool],
                 wall_clock: Callable[[], dt.datetime] = utc_now, interval: float = DAY,
                 window: dt.timedelta = WARNING_WINDOW) -> None:
        self.log = log
        self.read = read
        self.loaded = loaded
        self.wall_clock = wall_clock
        self.interval = interval
        self.window = window
        self.certs: dict[str, tuple[LoadedCert, ...]] = {}  # conn name -> its certificates
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def track(self, conn: str, certs: Sequence[LoadedCert]) -> None:
        """The conn was (re)added with ``certs``, just read: log those near their end now. The
        first certificate arms the daily timer (on the running loop; a daemon whose conns
        have none runs no check)."""
        if certs:
            self.certs[conn] = tuple(certs)
        else:
            self.certs.pop(conn, None)
        now = self.wall_clock()
        for item in certs:
            line = expiry_line(item, item.cert, now, self.window)
            if line is not None:
                self.log.log(line)
        if self.certs and self._timer is None:
            self._arm()

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a conn built outside the daemon): nothing to schedule on
            return
        self._timer = loop.call_later(self.interval, self._due)

    def _due(self) -> None:
        self._arm()  # the cadence does not drift with the time a check takes
        if self._task is not None and not self._task.done():
            self.log.log("certificate expiry check: the previous one has not finished; skipped")
            return
        self._task = asyncio.get_running_loop().create_task(self.check())

    async def check(self) -> None:
        """Read every watched certificate again (off the loop) and log what is near its end."""
        for conn in [c for c in self.certs if not self.loaded(c)]:
            del self.certs[conn]
        items = [item for certs in self.certs.values() for item in certs]
        if not items:
            return
        results = await asyncio.get_running_loop().run_in_executor(None, self._read_all, items)
        now = self.wall_clock()
        for item, result in zip(items, results, strict=True):
            if isinstance(result, str):
                self.log.log(f"\"{item.conn}\": {item.keyword}={item.name}: cannot check its expiry: {result}")
                continue
            line = expiry_line(item, result, now, self.window)
            if line is not None:
                self.log.log(line)

    def _read_all(self, items: list[LoadedCert]) -> list[x509.Certificate | str]:
        """On a worker thread: each certificate, or why it could not be read."""
        out: list[x509.Certificate | str] = []
        for item in items:
            try:
                out.append(self.read(item.name))
            except Exception as exc:  # a file gone, a database locked: say so, check the others
                out.append(str(exc) or exc.__class__.__name__)
        return out

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
