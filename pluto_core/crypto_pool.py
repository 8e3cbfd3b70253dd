"""The ``--nhelpers`` pool: worker processes for expensive crypto jobs.

Threads would not scale under the GIL, so jobs (DH, signatures) run in
forked worker processes; with zero helpers they run inline. The engine is
the same either way: it asks for a job and later receives its result.

Each helper has its own socket pair and runs one job at a time; the event
loop reads the results, so no thread and no lock is shared with a helper.
``multiprocessing.Pool`` shared one queue lock among its workers: a worker
killed while it waited for a job (SIGTERM to the process group, as
``systemctl stop`` and ``timeout(1)`` send) kept that lock forever and
``Pool.terminate`` hung on it. Here helpers ignore SIGINT/SIGTERM/SIGHUP (the
daemon stops them), a helper that dies anyway is noticed at once (end of
file on its socket), its job fails with ``HelperDied``, and stopping the
pool is bounded: end of file to each helper, a grace period, then SIGKILL.
A dead helper is not replaced: forking from the running daemon, which has
threads by then, is unsafe. When none is left, jobs run inline.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from multiprocessing.reduction import ForkingPickler
from typing import Any

STOP_TIMEOUT = 2.0  # seconds a helper gets to finish its job and exit at shutdown
_IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def helper_count(nhelpers: int) -> int:
    """pluto(8): -1 means CPUs minus one; 0 means inline; N means N."""
    if nhelpers >= 0:
        return nhelpers
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(cpus - 1, 0)


class HelperDied(Exception):
    """The helper running a job ended before it answered: the job fails, the daemon goes on."""


@dataclass(eq=False)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


@dataclass(eq=False)
class _Helper:
    pid: int
    conn: Connection
    job: _Job | None = None
    watched: bool = field(default=False)


def _helper_main(conn: Connection, close_fds: tuple[int, ...]) -> None:
    """A helper's life: run jobs until the daemon closes the socket (or dies)."""
    # Drop descriptors the daemon owns (start-up pipe, lock file, the other
    # helpers' sockets) so that they close when the daemon closes them.
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    # Signals to the process group are for the daemon, which stops its helpers;
    # a helper that died of them would lose its job. They were blocked across
    # the fork so that none arrives before it is ignored.
    for signum in _IGNORED:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _IGNORED)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        reply: tuple[bool, Any]
        try:
            fn, args = ForkingPickler.loads(message)
            reply = (True, fn(*args))
        except Exception as exc:
            reply = (False, exc)
        try:
            conn.send(reply)
        except OSError:
            return
        except Exception as exc:  # the result or the exception does not pickle
            conn.send((False, RuntimeError(f"crypto job result not transferable: {exc.__class__.__name__}: {exc}")))


def _describe(status: int | None) -> str:
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        return f"was killed by {name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _reap(pid: int, deadline: float) -> int | None:
    """The wait status of ``pid`` once it exited, or None at the deadline."""
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere
            return 0
        if done:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


class CryptoPool:
    """Runs ``fn(*args)`` in a helper process (or inline) and resolves a future."""

    def __init__(self, size: int, close_fds: tuple[int, ...] = (),
                 log: Callable[[str], None] | None = None) -> None:
        self.size = size
        self._log = log or (lambda _text: None)
        self._helpers: list[_Helper] = []
        self._queue: collections.deque[_Job] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        # fork: start before the event loop and any thread exist (daemon start-up order).
        for _ in range(size):
            ours, theirs = Pipe(duplex=True)
            inherited = (*close_fds, ours.fileno(), *(h.conn.fileno() for h in self._helpers))
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _IGNORED)
            try:
                pid = os.fork()
                if pid == 0:
                    status = 1
                    try:
                        _helper_main(theirs, inherited)
                        status = 0
                    finally:
                        os._exit(status)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            theirs.close()
            self._helpers.append(_Helper(pid, ours))

    def worker_pids(self) -> list[int]:
        return [h.pid for h in self._helpers]

    def start(self) -> None:
        """Watch the helpers from the running loop, so that a death is noticed even when idle."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            for helper in self._helpers:
                self._unwatch(helper)
            self._loop = loop
        for helper in self._helpers:
            if not helper.watched:
                loop.add_reader(helper.conn.fileno(), self._readable, helper)
                helper.watched = True

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._helpers and self._loop is not loop:
            self.start()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Job(fn, args, future))
        self._dispatch()
        return future

    def _dispatch(self) -> None:
        """Hand queued jobs to idle helpers; with no helper left, run them inline."""
        while self._queue:
            if not self._helpers:
                _run_inline(self._queue.popleft())
                continue
            idle = next((h for h in self._helpers if h.job is None), None)
            if idle is None:
                return
            job = self._queue.popleft()
            try:
                message = ForkingPickler.dumps((job.fn, job.args))
            except Exception as exc:
                _settle(job.future, None, exc)
                continue
            try:
                idle.conn.send_bytes(message)
            except OSError:
                self._queue.appendleft(job)
                self._lost(idle)
                continue
            idle.job = job

    def _readable(self, helper: _Helper) -> None:
        try:
            data = helper.conn.recv_bytes()
        except (EOFError, OSError):
            self._lost(helper)
            self._dispatch()
            return
        job, helper.job = helper.job, None
        try:
            ok, value = ForkingPickler.loads(data)
        except Exception as exc:
            ok, value = False, exc
        if job is not None:
            _settle(job.future, value if ok else None, None if ok else value)
        self._dispatch()

    def _lost(self, helper: _Helper) -> None:
        """A helper ended on its own: log it, fail its job, go on with the others (or inline)."""
        self._unwatch(helper)
        helper.conn.close()
        self._helpers.remove(helper)
        how = _describe(_reap(helper.pid, time.monotonic() + 0.5))
        left = len(self._helpers)
        rest = (f"{left} helper process{'es' if left != 1 else ''} left" if left
                else "no helper process left: crypto jobs now run in the main process")
        self._log(f"crypto helper process {helper.pid} {how}; {rest}")
        if helper.job is not None:
            _settle(helper.job.future, None,
                    HelperDied(f"crypto helper process {helper.pid} {how} during the job"))

    def _unwatch(self, helper: _Helper) -> None:
        if helper.watched and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(helper.conn.fileno())
        helper.watched = False

    def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the helpers: end of file tells each to exit; after ``timeout``, SIGKILL.

        Bounded whatever state the helpers are in (busy, stuck, already dead).
        """
        helpers, self._helpers = self._helpers, []
        for helper in helpers:
            self._unwatch(helper)
            helper.conn.close()
        deadline = time.monotonic() + timeout
        for helper in helpers:
            if _reap(helper.pid, deadline) is None:
                self._log(f"crypto helper process {helper.pid} did not stop within {timeout:g} s: killed")
                try:
                    os.kill(helper.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _reap(helper.pid, time.monotonic() + timeout)
        stopped = [h.job for h in helpers if h.job is not None] + list(self._queue)
        self._queue.clear()
        for job in stopped:
            if not job.future.get_loop().is_closed():
                _settle(job.future, None, HelperDied("crypto helpers stopped"))


def _run_inline(job: _Job) -> None:
    try:
        result = job.fn(*job.args)
    except Exception as exc:
        _settle(job.future, None, exc)
    else:
        _settle(job.future, result, None)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
