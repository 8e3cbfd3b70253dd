"""Peer host names: ``left=``/``right=`` given as a DNS name, turned into an address.

Libreswan resolves such a name when the conn is added and again when it is
(re)started, so a peer on a dynamic address is found where it is now. The pure
part here (``resolve_ends``) takes the resolver as an argument, so that tests
inject one; the daemon's resolver is the system's (``getaddrinfo``: files, DNS,
and inside ``ip netns exec`` the namespace's ``/etc/netns/NAME/hosts``), run in
worker threads so that the event loop never waits on it for long
(``ThreadedResolver``). What the daemon does with the answer (pending conns,
retries, re-resolution before initiating) is ``pluto_core.peer_names``.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from pluto_core.config.connection import Connection, End
from pluto_core.errors import PlutoError

__all__ = ["Address", "Resolver", "ResolveError", "Unresolved", "system_resolver", "host_name",
           "has_host_names", "resolve_ends", "ThreadedResolver", "retry_delay"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (name, family 4/6 or None for either) -> the addresses, in the resolver's order; raises ResolveError
Resolver = Callable[[str, int | None], tuple[Address, ...]]

RETRY_FIRST = 5.0  # seconds before the first retry of a name that did not resolve
RETRY_MAX = 60.0  # the backoff stops growing here (Libreswan re-resolves once a minute)


class ResolveError(PlutoError):
    """A name that gave no usable address; the message is the resolver's reason."""


def system_resolver(name: str, family: int | None) -> tuple[Address, ...]:
    """``getaddrinfo``: honours nsswitch, ``/etc/hosts`` and the namespace's hosts file. Blocks."""
    af = {4: socket.AF_INET, 6: socket.AF_INET6}.get(family or 0, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(name, None, af, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ResolveError(exc.strerror or str(exc)) from None
    except (UnicodeError, ValueError) as exc:  # e.g. a label longer than 63 octets
        raise ResolveError(f"not a valid host name ({exc})") from None
    out: list[Address] = []
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if addr not in out:
            out.append(addr)
    if not out:
        raise ResolveError("no address")
    return tuple(out)


def host_name(end: End) -> str | None:
    """The DNS name of an end, or None (a literal address, unset, or a ``%`` value)."""
    host = end.host
    if host is None or host.startswith("%"):
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def has_host_names(conn: Connection) -> bool:
    return host_name(conn.left) is not None or host_name(conn.right) is not None


@dataclass(frozen=True, slots=True)
class Unresolved:
    """One end whose name gave no address: which end, the name, the resolver's reason."""

    side: str
    name: str
    reason: str

    def text(self, conn_name: str) -> str:
        return f"\"{conn_name}\": cannot resolve {self.side}={self.name}: {self.reason}"


def _family(conn: Connection, other: End) -> int | None:
    """``hostaddrfamily=``, else the other end's address family, else either."""
    if conn.hostaddrfamily is not None:
        return conn.hostaddrfamily
    if other.address is not None:
        return int(other.address.version)
    return None


def resolve_ends(conn: Connection, resolver: Resolver) -> tuple[Connection, tuple[Unresolved, ...]]:
    """Fill in ``End.address`` of each end given by name (the first address of the right family).

    An end whose name did not resolve keeps ``address=None`` and is reported; the other end is
    still resolved. The result is not re-oriented: that needs the host's addresses
    (``config.connection.orient``).
    """
    ends = {"left": conn.left, "right": conn.right}
    failures: list[Unresolved] = []
    # A literal end fixes the family of the named one; two names: the left one's answer decides.
    for side in ("left", "right"):
        end = ends[side]
        name = host_name(end)
        if name is None:
            continue
        other = ends["right" if side == "left" else "left"]
        family = _family(conn, other)
        try:
            found = [a for a in resolver(name, family) if family is None or a.version == family]
        except ResolveError as exc:
            failures.append(Unresolved(side, name, str(exc)))
            ends[side] = replace(end, address=None)
            continue
        if not found:
            failures.append(Unresolved(side, name, f"no IPv{family} address"))
            ends[side] = replace(end, address=None)
            continue
        ends[side] = replace(end, address=found[0])
    return replace(conn, left=ends["left"], right=ends["right"]), tuple(failures)


def retry_delay(attempt: int) -> float:
    """Seconds before retry number ``attempt`` (0, 1, ...): doubling from 5 s, at most 60 s."""
    return min(RETRY_FIRST * (2 ** min(attempt, 16)), RETRY_MAX)


class ThreadedResolver:
    """A blocking resolver run in worker threads, waited on for at most ``wait`` seconds.

    ``getaddrinfo`` cannot be interrupted; a lookup that outlives the wait keeps running, and
    the next lookup of the same name takes over its answer instead of starting another.
    """

    def __init__(self, resolver: Resolver = system_resolver, workers: int = 4) -> None:
        self.resolver = resolver
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="resolve")
        self._inflight: dict[tuple[str, int | None], concurrent.futures.Future[tuple[Address, ...]]] = {}
        self._lock = threading.Lock()

    def lookup(self, name: str, family: int | None, wait: float) -> tuple[Address, ...]:
        key = (name, family)
        with self._lock:
            future = self._inflight.get(key)
            if future is None:
                future = self._pool.submit(self.resolver, name, family)
                self._inflight[key] = future
        try:
            return future.result(timeout=wait)
        except concurrent.futures.TimeoutError:
            raise ResolveError(f"no answer within {wait:g}s") from None
        finally:
            if future.done():
                with self._lock:
                    if self._inflight.get(key) is future:
                        del self._inflight[key]

    def bounded(self, wait: float) -> Resolver:
        """This resolver as a plain ``Resolver`` that gives up after ``wait`` seconds."""
        return lambda name, family: self.lookup(name, family, wait)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
