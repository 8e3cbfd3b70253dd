"""The ``--nhelpers`` pool: worker processes for expensive crypto jobs.

Threads would not scale under the GIL, so jobs (DH, signatures) run in
forked worker processes; with zero helpers they run inline. The engine is
the same either way: it asks for a job and later receives its result.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.pool
import os
import signal
from collections.abc import Callable
from typing import Any


def helper_count(nhelpers: int) -> int:
    """pluto(8): -1 means CPUs minus one; 0 means inline; N means N."""
    if nhelpers >= 0:
        return nhelpers
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(cpus - 1, 0)


def _worker_init(close_fds: tuple[int, ...]) -> None:
    # Drop descriptors the daemon owns (start-up pipe, lock file) so that they
    # close when the daemon closes them.
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    # Workers obey the daemon, not the terminal: SIGINT/SIGHUP are for the daemon.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class CryptoPool:
    """Runs ``fn(*args)`` in a helper process (or inline) and resolves a future."""

    def __init__(self, size: int, close_fds: tuple[int, ...] = ()) -> None:
        self.size = size
        self._pool: multiprocessing.pool.Pool | None = None
        if size > 0:
            # fork: start before the event loop and any thread exist (daemon start-up order).
            self._pool = multiprocessing.get_context("fork").Pool(
                size, initializer=_worker_init, initargs=(close_fds,))

    def worker_pids(self) -> list[int]:
        if self._pool is None:
            return []
        return [p.pid for p in self._pool._pool if p.pid is not None]  # type: ignore[attr-defined]

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._pool is None:
            try:
                future.set_result(fn(*args))
            except Exception as exc:
                future.set_exception(exc)
            return future

        def done(result: Any) -> None:
            loop.call_soon_threadsafe(_settle, future, result, None)

        def failed(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, None, exc)

        self._pool.apply_async(fn, args, callback=done, error_callback=failed)
        return future

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
