"""The ``--nhelpers`` pool on real helper processes: results, failures, dead helpers, bounded close."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pluto_core.crypto_pool import CryptoPool, HelperDied
from pluto_core.ikev2.crypto import dh


def _pid() -> int:
    return os.getpid()


def _fail() -> None:
    raise ValueError("bad peer value")


def _unpicklable() -> object:
    return lambda: None


def _mark_and_sleep(path: str, seconds: float) -> int:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def _wait_for(path: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.01)
    raise AssertionError(f"{path} never written")


@pytest.fixture
def logged() -> list[str]:
    return []


@pytest.fixture
def make_pool(logged: list[str]) -> Iterator[Callable[[int], CryptoPool]]:
    pools: list[CryptoPool] = []

    def make(size: int) -> CryptoPool:
        pool = CryptoPool(size, log=logged.append)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close(timeout=0.5)


def test_jobs_run_in_helpers_and_return_results(make_pool: Callable[[int], CryptoPool]) -> None:
    pool = make_pool(2)

    async def main() -> None:
        pids = set(await asyncio.gather(*(pool.submit(_pid) for _ in range(8))))
        assert pids and pids <= set(pool.worker_pids()) and os.getpid() not in pids
        group = 14
        ours = await pool.submit(dh.generate, group, os.urandom(dh.secret_size(group)))
        theirs = dh.generate(group, os.urandom(dh.secret_size(group)))
        shared = await pool.submit(dh.compute_shared, group, ours, theirs.public_bytes)
        assert shared == dh.compute_shared(group, theirs, ours.public_bytes)
        with pytest.raises(ValueError, match="bad peer value"):
            await pool.submit(_fail)
        with pytest.raises(RuntimeError, match="not transferable"):
            await pool.submit(_unpicklable)
        assert len(pool.worker_pids()) == 2  # failures do not cost a helper

    asyncio.run(main())


def test_zero_helpers_run_inline(make_pool: Callable[[int], CryptoPool]) -> None:
    pool = make_pool(0)

    async def main() -> None:
        assert await pool.submit(_pid) == os.getpid()

    asyncio.run(main())


def test_helper_killed_during_a_job_fails_that_job_and_the_rest_go_on(
        make_pool: Callable[[int], CryptoPool], logged: list[str], tmp_path: Path) -> None:
    pool = make_pool(2)
    mark = tmp_path / "busy"

    async def main() -> None:
        pool.start()
        stuck = pool.submit(_mark_and_sleep, str(mark), 60)
        victim = await asyncio.to_thread(_wait_for, mark)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(HelperDied, match=f"{victim} was killed by SIGKILL during the job"):
            await asyncio.wait_for(stuck, 5)
        assert logged == [f"crypto helper process {victim} was killed by SIGKILL; 1 helper process left"]
        (survivor,) = pool.worker_pids()
        assert await asyncio.wait_for(pool.submit(_pid), 5) == survivor
        os.kill(survivor, signal.SIGKILL)
        for _ in range(500):  # an idle helper's death is noticed too
            if not pool.worker_pids():
                break
            await asyncio.sleep(0.01)
        assert logged[-1] == (f"crypto helper process {survivor} was killed by SIGKILL; "
                              "no helper process left: crypto jobs now run in the main process")
        assert await pool.submit(_pid) == os.getpid()

    asyncio.run(main())


def test_helpers_ignore_sigterm_and_sigint(make_pool: Callable[[int], CryptoPool]) -> None:
    pool = make_pool(1)
    (helper,) = pool.worker_pids()
    os.kill(helper, signal.SIGTERM)
    os.kill(helper, signal.SIGINT)

    async def main() -> None:
        assert await asyncio.wait_for(pool.submit(_pid), 5) == helper

    asyncio.run(main())


def test_close_is_bounded_when_a_helper_is_stuck(make_pool: Callable[[int], CryptoPool], logged: list[str],
                                                  tmp_path: Path) -> None:
    pool = make_pool(2)
    mark = tmp_path / "busy"

    async def main() -> int:
        pool.submit(_mark_and_sleep, str(mark), 60)
        return await asyncio.to_thread(_wait_for, mark)

    stuck = asyncio.run(main())
    idle = next(p for p in pool.worker_pids() if p != stuck)
    started = time.monotonic()
    pool.close(timeout=0.5)
    assert time.monotonic() - started < 3
    assert logged == [f"crypto helper process {stuck} did not stop within 0.5 s: killed"]
    for pid in (stuck, idle):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped, not a zombie


def test_close_copes_with_helpers_already_dead(make_pool: Callable[[int], CryptoPool], logged: list[str]) -> None:
    pool = make_pool(2)
    pids = pool.worker_pids()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    pool.close(timeout=0.5)
    assert time.monotonic() - started < 1
    assert pool.worker_pids() == [] and logged == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
