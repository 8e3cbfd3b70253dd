"""``crlcheckinterval=``: the CRLs of the distribution points seen are fetched again while the
daemon runs, every interval, and all of them at once on ``ipsec fetchcrls`` (``rereadall``).

A fetch blocks for up to ``crl-timeout=``, so it runs on a thread of its own, never on the
event loop; ``CrlStore.refresh`` does the fetch and reports a failure (``fetching URL: why``)
through the checker's ``report``. The schedule is ``CrlStore``'s (``refresh_due`` and
``next_refresh``, sans-I/O); this module only waits and calls them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from .crl import utcnow

MIN_WAIT = 0.5  # seconds between two rounds at least: a point that stays due cannot spin the thread


class Refreshable(Protocol):
    """What the refresher needs of a ``RevocationChecker``."""

    def refresh_due(self, now: datetime) -> list[str]: ...

    def refresh(self, url: str) -> str | None: ...

    def next_refresh(self) -> datetime | None: ...

    def known_points(self) -> list[str]: ...


class CrlRefresher:
    """Fetch due distribution points again on a daemon thread named ``crl-refresh``.

    ``interval`` is ``crlcheckinterval=`` in seconds: with 0 nothing is fetched on a timer, only
    on ``fetch_now``. ``start`` is idempotent; ``fetch_now`` starts the thread when needed (so a
    daemon with ``crlcheckinterval=0`` has no thread until ``ipsec fetchcrls``); ``stop`` wakes
    it and waits at most ``join`` seconds (a fetch in flight is left to its own timeout: the
    thread is a daemon thread). ``report`` takes a line for an unexpected failure.
    """

    def __init__(self, checker: Refreshable, interval: float, report: Callable[[str], None] = lambda line: None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.checker = checker
        self.interval = interval
        self.report = report
        self.clock = clock
        self.rounds = 0  # wake-ups that fetched something: tests wait on it
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._queued: list[str] = []  # what fetch_now asked for: every point known then, due or not
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopping:
                return
            self._thread = threading.Thread(target=self._run, name="crl-refresh", daemon=True)
            self._thread.start()

    def fetch_now(self) -> int:
        """Fetch every distribution point known now, at once (``ipsec fetchcrls``), on the
        thread (started if need be); how many. None known: nothing to do, no thread."""
        urls = self.checker.known_points()
        if not urls:
            return 0
        with self._lock:
            self._queued += [url for url in urls if url not in self._queued]
        self.start()
        self._wake.set()
        return len(urls)

    def stop(self, join: float = 1.0) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(join)

    def run_once(self) -> list[str]:
        """One round: fetch what ``fetch_now`` queued and what is due; the URLs fetched."""
        with self._lock:
            urls, self._queued = self._queued, []
        urls += [url for url in self.checker.refresh_due(self.clock()) if url not in urls]
        for url in urls:
            if self._stopping:
                break
            try:
                self.checker.refresh(url)  # a failure is reported by the store, with its URL
            except Exception as exc:  # never let the thread die: the next round still runs
                self.report(f"CRL refetch of {url} failed: {exc.__class__.__name__}: {exc}")
        if urls:
            self.rounds += 1
        return urls

    def delay(self) -> float | None:
        """Seconds until the next point falls due; None: wait for ``fetch_now`` or ``stop``."""
        if self.interval <= 0:
            return None
        due = self.checker.next_refresh()
        if due is None:  # nothing seen yet: look again after an interval
            return self.interval
        return min(max((due - self.clock()).total_seconds(), MIN_WAIT), max(self.interval, MIN_WAIT))

    def _run(self) -> None:
        while True:
            self._wake.clear()
            if self._stopping:
                return
            self.run_once()
            if self._stopping:
                return
            self._wake.wait(self.delay())
