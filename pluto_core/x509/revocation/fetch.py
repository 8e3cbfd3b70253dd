"""The one door to the network for revocation checks: ``Fetcher`` and its urllib default.

A fetch blocks for up to its ``timeout``: it is meant for the auth lookup threads the daemon
runs off its event loop, never for the loop itself (``forbid_event_loop`` says so loudly).
Tests and callers inject their own ``Fetcher`` (failures, counters, canned answers).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

MAX_BODY: Final = 16 * 1024 * 1024  # a CRL bigger than this is refused, not read


class FetchError(Exception):
    """A fetch that failed; ``why`` is the short cause an operator reads (``timed out``)."""

    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"{url}: {why}")
        self.url = url
        self.why = why


@runtime_checkable
class Fetcher(Protocol):
    """Fetch ``url`` within ``timeout`` seconds: a GET, or a POST of ``body`` as ``content_type``.

    Returns the response body; raises ``FetchError`` for anything else (unreachable, timed out,
    an HTTP status other than 200, a scheme it does not serve). Blocking: never call it on the
    event loop.
    """

    def fetch(self, url: str, timeout: float, body: bytes | None = None,
              content_type: str | None = None) -> bytes: ...


def forbid_event_loop(what: str) -> None:
    """Raise RuntimeError when called on a thread that runs an asyncio event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{what} blocks; run it on a lookup thread, not on the event loop")


class UrllibFetcher:
    """``Fetcher`` over urllib: ``http://`` (and ``file://`` when ``allow_file``, for tests).

    ``timeout`` bounds the whole fetch, not each socket operation: a server that trickles its
    answer is cut off at the deadline. (Name resolution is not bounded by it: the system
    resolver has its own.)
    """

    def __init__(self, allow_file: bool = False, max_body: int = MAX_BODY) -> None:
        self.schemes = ("http", "file") if allow_file else ("http",)
        self.max_body = max_body

    def fetch(self, url: str, timeout: float, body: bytes | None = None,
              content_type: str | None = None) -> bytes:
        forbid_event_loop("a revocation fetch")
        scheme = urlsplit(url).scheme.lower()
        if scheme not in self.schemes:
            raise FetchError(url, f"scheme {scheme or '(none)'}: not supported")
        headers = {"Content-Type": content_type} if content_type else {}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
        deadline = time.monotonic() + timeout
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = getattr(response, "status", 200)
                if scheme == "http" and status != 200:
                    raise FetchError(url, f"HTTP status {status}")
                return self._read(url, response, deadline)
        except FetchError:
            raise
        except urllib.error.HTTPError as exc:
            raise FetchError(url, f"HTTP status {exc.code}") from exc
        except urllib.error.URLError as exc:
            raise FetchError(url, _why(exc.reason)) from exc
        except (OSError, ValueError) as exc:
            raise FetchError(url, _why(exc)) from exc

    def _read(self, url: str, response: object, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError(url, "timed out")
            sock = _socket_of(response)
            if sock is not None:
                sock.settimeout(left)
            read = getattr(response, "read1", None) or getattr(response, "read")  # noqa: B009
            chunk = read(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body:
                raise FetchError(url, f"answer larger than {self.max_body} bytes")
            chunks.append(chunk)


def _socket_of(response: object) -> socket.socket | None:
    """The socket under an http.client response, to shorten its timeout as the deadline nears."""
    fp = getattr(response, "fp", None)
    raw = getattr(fp, "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _why(reason: object) -> str:
    """A short cause: ``timed out``, ``connection refused``, or the error's own text."""
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower() if reason.strerror[:1].isupper() else reason.strerror
    return str(reason) or reason.__class__.__name__


class BudgetedFetcher:
    """A ``Fetcher`` that also respects a per-thread deadline set with ``budget``: each fetch
    gets the smaller of its own timeout and what is left of the budget, and none starts once
    the budget is spent. A revocation check of a whole chain (OCSP, then a CRL, per link)
    then ends within the time the auth chain gives it (``auth-timeout=``), and what it could
    not ask counts as "no answer" for ``crl-strict=``/``ocsp-strict=`` to judge, instead of
    the whole check being cut off and refused."""

    def __init__(self, inner: Fetcher) -> None:
        self.inner = inner
        self._local = threading.local()

    @contextmanager
    def budget(self, seconds: float | None) -> Iterator[None]:
        """Fetches made by this thread inside the block end within ``seconds`` (None: no budget)."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = None if seconds is None else time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.deadline = previous

    def fetch(self, url: str, timeout: float, body: bytes | None = None,
              content_type: str | None = None) -> bytes:
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0.05:
                raise FetchError(url, "not asked: the check's time (auth-timeout=) was spent")
            timeout = min(timeout, left)
        return self.inner.fetch(url, timeout, body, content_type)
