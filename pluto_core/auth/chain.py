"""The auth-source chain: the engine's credentials port in the daemon.

It asks the sources named in ``auth-sources=`` in that order (see
:mod:`pluto_core.auth.hookspecs` for the rules a source author reads). Each call of a
source runs on a worker thread with a deadline, so a source that hangs costs its
caller ``timeout`` seconds once, and never the event loop or other IKE SAs: the
engine itself calls the chain from ``lookup`` jobs the host runs off its loop.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from pluto_core.ikev2.types import EngineConn, IdSpec

_DER = Encoding.DER

GROUP = "pluto.auth"  # the entry-point group of auth sources
DEFAULT_SOURCES = ("secrets", "nss", "files", "x509")
DEFAULT_TIMEOUT = 10.0


def _der(cert: Any) -> bytes:
    """A certificate's identity for de-duplication (its DER; the object itself if it has none)."""
    try:
        return bytes(cert.public_bytes(_DER))
    except Exception:
        return repr(id(cert)).encode()


class NoAnswer(Exception):
    """A source raised or did not answer in time; the message says which (for the log)."""


class AuthChain:
    """Ask the named sources in order; ``report`` takes log lines (thread-safe)."""

    def __init__(self, hook: Any, order: Sequence[str], report: Callable[[str], None],
                 timeout: float = DEFAULT_TIMEOUT, workers: int = 16) -> None:
        self.hook = hook
        self.order = tuple(order)
        self.report = report
        self.timeout = timeout
        # Calls into sources; a hung one keeps its thread, so the pool is wider than
        # the few lookups that run at once.
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="auth-source")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def sources(self, hook_name: str) -> list[tuple[str, Any]]:
        """(source name, hook implementation) of the named sources, in the configured order."""
        impls = {}
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            group, _, name = impl.plugin_name.partition(":")
            if group == GROUP:
                impls[name] = impl
        return [(name, impls[name]) for name in self.order if name in impls]

    def _ask(self, impl: Any, hook_name: str, kwargs: dict[str, Any]) -> Any:
        """One source's answer; ``NoAnswer`` when it raised or did not answer in time."""
        args = {key: kwargs[key] for key in impl.argnames if key in kwargs}
        future = self._pool.submit(impl.function, **args)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise NoAnswer(f"no answer to {hook_name} within {self.timeout:g}s") from None
        except Exception as exc:
            raise NoAnswer(f"{hook_name} failed: {exc.__class__.__name__}: {exc}") from None

    def _call(self, name: str, impl: Any, hook_name: str, kwargs: dict[str, Any]) -> Any:
        """One source's answer; None when it raised or did not answer in time (logged)."""
        try:
            return self._ask(impl, hook_name, kwargs)
        except NoAnswer as exc:
            self.report(f"auth source {name}: {exc}: skipped")
        return None

    def first(self, hook_name: str, **kwargs: Any) -> Any:
        for name, impl in self.sources(hook_name):
            answer = self._call(name, impl, hook_name, kwargs)
            if answer is not None:
                return answer
        return None

    # ------------------------------------------------------------------ the engine's port

    def psk(self, local: IdSpec, remote: IdSpec | None, conn: EngineConn) -> bytes | None:
        answer = self.first("pluto_auth_psk", local_id=local, remote_id=remote, conn=conn)
        if answer is not None and not isinstance(answer, bytes):
            self.report(f"\"{conn.name}\": an auth source answered a PSK that is not bytes: ignored")
            return None
        return answer

    def signer(self, local: IdSpec, conn: EngineConn) -> Any:
        return self.first("pluto_auth_signer", local_id=local, conn=conn)

    def public_keys(self, peer: IdSpec, conn: EngineConn) -> list[Any]:
        for name, impl in self.sources("pluto_auth_public_keys"):
            keys = self._call(name, impl, "pluto_auth_public_keys", {"peer_id": peer, "conn": conn})
            if keys:
                return list(keys)
        return []

    def authorize(self, peer: IdSpec, conn: EngineConn, method: str) -> str | None:
        for name, impl in self.sources("pluto_auth_authorize"):
            verdict = self._call(name, impl, "pluto_auth_authorize", {"peer_id": peer, "conn": conn,
                                                                       "method": method})
            if verdict:
                return f"vetoed by plugin {name}: {verdict}"
        return None

    def certificates(self, local: IdSpec, conn: EngineConn) -> list[Any]:
        """Our chain (end certificate first); empty when no source has one."""
        answer = self.first("pluto_auth_certificates", local_id=local, conn=conn)
        return list(answer) if answer else []

    def trust_anchors(self, conn: EngineConn) -> list[Any]:
        """Every source's CA certificates, combined; a certificate two sources hold counts once."""
        anchors: dict[bytes, Any] = {}
        for name, impl in self.sources("pluto_auth_trust_anchors"):
            for cert in self._call(name, impl, "pluto_auth_trust_anchors", {"conn": conn}) or ():
                anchors.setdefault(_der(cert), cert)
        return list(anchors.values())

    def check_chain(self, chain: list[Any], conn: EngineConn) -> str | None:
        """The first refusal of the peer's chain, or None. Unlike the other hooks, a source
        that raises or does not answer within the timeout refuses: a check that was not made
        is no pass (a revocation check still waiting on an OCSP responder or a distribution
        point when ``auth-timeout=`` runs out would otherwise let a revoked peer in)."""
        for name, impl in self.sources("pluto_auth_check_chain"):
            try:
                verdict = self._ask(impl, "pluto_auth_check_chain", {"chain": chain, "conn": conn})
            except NoAnswer as exc:
                return f"no verdict from auth source {name} ({exc})"
            if verdict:
                return f"{verdict} (auth source {name})"
        return None

    # ------------------------------------------------------------------ the daemon's

    def purge_ocsp(self) -> int:
        """``ipsec purgeocsp``: every source forgets its cached OCSP answers; how many in all."""
        return self._every("pluto_auth_purge_ocsp")

    def fetch_crls(self) -> int:
        """``ipsec fetchcrls``: every source fetches its known CRL distribution points again
        (on its own threads); how many in all."""
        return self._every("pluto_auth_fetch_crls")

    def _every(self, hook_name: str) -> int:
        """Ask every source, on the daemon's loop (the hook must not block); the sum of the
        counts answered. A source that raises is logged and counts nothing."""
        total = 0
        for name, impl in self.sources(hook_name):
            try:
                answer = impl.function()
            except Exception as exc:
                self.report(f"auth source {name}: {hook_name} failed: {exc.__class__.__name__}: {exc}")
                continue
            if isinstance(answer, int):
                total += answer
        return total

    def load(self, secrets: Any, log: Any) -> None:
        """Hand the (re)read ipsec.secrets to the sources (on the daemon's loop)."""
        for name, impl in self.sources("pluto_auth_load"):
            try:
                impl.function(**{key: {"secrets": secrets, "log": log}[key] for key in impl.argnames})
            except Exception as exc:
                self.report(f"auth source {name}: pluto_auth_load failed: {exc.__class__.__name__}: {exc}")
