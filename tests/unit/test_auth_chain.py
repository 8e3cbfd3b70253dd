"""The auth-source chain over a real pluggy manager: the configured order, first
answer wins, every source may veto, a raising or hanging source is skipped with a
log line naming it, a source not named in auth-sources= is never asked."""

from __future__ import annotations

import threading
import time
from typing import Any

import pluggy

from pluto_core import hookspecs
from pluto_core.auth.chain import AuthChain
from pluto_core.config.secrets import parse_secrets_text
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.types import IdSpec
from pluto_plugins.auth_secrets import SecretsSource
from tests.engine.harness import conn_pair

WEST, EAST = IdSpec.parse("@west"), IdSpec.parse("@east")
CONN = conn_pair()[1]


class Source:
    def __init__(self, psk: bytes | None = None, veto: str | None = None, fail: bool = False,
                 hang: float = 0.0) -> None:
        self.psk, self.veto, self.fail, self.hang = psk, veto, fail, hang
        self.asked: list[str] = []

    @hookimpl
    def pluto_auth_psk(self, local_id: IdSpec, remote_id: IdSpec | None) -> bytes | None:
        self.asked.append(f"psk {local_id.text} {remote_id.text if remote_id else '%any'}")
        if self.hang:
            time.sleep(self.hang)
        if self.fail:
            raise RuntimeError("store unreachable")
        return self.psk

    @hookimpl
    def pluto_auth_authorize(self, peer_id: IdSpec, method: str) -> str | None:
        self.asked.append(f"authorize {peer_id.text} {method}")
        return self.veto


def chain(order: tuple[str, ...], timeout: float = 5.0, **sources: Any) -> tuple[AuthChain, list[str]]:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name, source in sources.items():
        manager.register(source, name=f"pluto.auth:{name}")
    manager.register(Source(psk=b"not an auth source"), name="pluto.plugins:other")
    lines: list[str] = []
    return AuthChain(manager.hook, order, lines.append, timeout=timeout), lines


def test_sources_are_asked_in_the_configured_order_and_the_first_answer_wins() -> None:
    a, b, c = Source(), Source(psk=b"from b"), Source(psk=b"from c")
    auth, lines = chain(("b", "a", "c"), a=a, b=b, c=c)
    assert auth.psk(WEST, EAST, CONN) == b"from b"
    assert b.asked == ["psk @west @east"] and a.asked == [] and c.asked == []
    auth, _ = chain(("a", "c"), a=a, b=b, c=c)
    assert auth.psk(WEST, None, CONN) == b"from c"
    assert a.asked == ["psk @west %any"] and b.asked == ["psk @west @east"]  # b is not named: never asked


def test_a_plugin_outside_the_auth_group_or_not_named_is_never_asked() -> None:
    auth, _ = chain(("x",), a=Source(psk=b"a"))
    assert auth.psk(WEST, EAST, CONN) is None


def test_a_source_that_raises_is_logged_by_name_and_skipped() -> None:
    auth, lines = chain(("broken", "good"), broken=Source(fail=True), good=Source(psk=b"good"))
    assert auth.psk(WEST, EAST, CONN) == b"good"
    assert lines == ["auth source broken: pluto_auth_psk failed: RuntimeError: store unreachable: skipped"]


def test_a_source_that_hangs_is_given_up_after_the_timeout() -> None:
    slow, good = Source(psk=b"late", hang=2.0), Source(psk=b"good")
    auth, lines = chain(("slow", "good"), timeout=0.2, slow=slow, good=good)
    started = time.monotonic()
    assert auth.psk(WEST, EAST, CONN) == b"good"
    assert time.monotonic() - started < 1.5
    assert lines == ["auth source slow: no answer to pluto_auth_psk within 0.2s: skipped"]
    auth.close()


def test_lookups_from_many_threads_do_not_wait_for_each_other() -> None:
    auth, _ = chain(("slow",), slow=Source(psk=b"k", hang=0.3))
    results: list[bytes | None] = []
    threads = [threading.Thread(target=lambda: results.append(auth.psk(WEST, EAST, CONN))) for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"k"] * 8 and time.monotonic() - started < 1.5  # not 8 x 0.3 s


def test_any_source_may_veto_and_the_veto_names_it() -> None:
    yes, no = Source(), Source(veto="peer not allowed on this conn")
    auth, _ = chain(("yes", "no"), yes=yes, no=no)
    assert auth.authorize(WEST, CONN, "secret") == "vetoed by plugin no: peer not allowed on this conn"
    assert yes.asked == ["authorize @west secret"]
    auth, _ = chain(("yes",), yes=yes, no=no)
    assert auth.authorize(WEST, CONN, "secret") is None


def test_a_psk_that_is_not_bytes_is_ignored_with_a_line() -> None:
    auth, lines = chain(("odd",), odd=Source(psk="text"))  # type: ignore[arg-type]
    assert auth.psk(WEST, EAST, CONN) is None
    assert lines == ['"west-east": an auth source answered a PSK that is not bytes: ignored']


def test_the_builtin_secrets_source_serves_the_loaded_secrets_file() -> None:
    source = SecretsSource()
    auth, _ = chain(("secrets",), secrets=source)
    assert auth.psk(WEST, EAST, CONN) is None  # nothing loaded yet
    auth.load(parse_secrets_text('@west @east : PSK "from the file"\n', "ipsec.secrets"), log=None)
    assert auth.psk(WEST, EAST, CONN) == b"from the file"
    assert auth.psk(WEST, IdSpec.parse("@other"), CONN) is None


class CertSource:
    """Answers the three certificate hooks."""

    def __init__(self, chain: list[Any] | None = None, anchors: list[Any] | None = None,
                 refuse: str | None = None, hang: float = 0.0, fail: bool = False) -> None:
        self.chain, self.anchors, self.refuse, self.hang, self.fail = chain, anchors, refuse, hang, fail
        self.checked = 0

    @hookimpl
    def pluto_auth_certificates(self, local_id: IdSpec) -> list[Any] | None:
        return self.chain

    @hookimpl
    def pluto_auth_trust_anchors(self) -> list[Any] | None:
        return self.anchors

    @hookimpl
    def pluto_auth_check_chain(self, chain: list[Any]) -> str | None:
        self.checked += 1
        if self.hang:
            time.sleep(self.hang)
        if self.fail:
            raise RuntimeError("responder cache corrupt")
        return self.refuse


def test_certificate_hooks_first_chain_wins_anchors_combine_and_every_source_checks_the_chain() -> None:
    from tests import x509_pki as pki

    ca1, ca2 = pki.root("CN=One"), pki.root("CN=Two", n=1)
    end = pki.issue("CN=end", pki.key("ecdsa", 2), ca1)
    a = CertSource(chain=None, anchors=[ca1.cert])
    b = CertSource(chain=[end.cert], anchors=[ca1.cert, ca2.cert])
    c = CertSource(chain=[ca2.cert], anchors=None, refuse="certificate revoked (serial 0x1)")
    auth, lines = chain(("a", "b", "c"), a=a, b=b, c=c)
    assert auth.certificates(WEST, CONN) == [end.cert]
    assert auth.trust_anchors(CONN) == [ca1.cert, ca2.cert]  # ca1 from two sources: once
    assert auth.check_chain([end.cert, ca1.cert], CONN) == "certificate revoked (serial 0x1) (auth source c)"
    assert (a.checked, b.checked, c.checked) == (1, 1, 1)
    auth, _ = chain(("a",), a=a)
    assert auth.certificates(WEST, CONN) == [] and auth.check_chain([end.cert], CONN) is None
    assert lines == []


def test_a_chain_check_that_hangs_or_raises_refuses_the_chain() -> None:
    """Not skipped as other hooks are: a revocation check cut short by auth-timeout= (still
    waiting on a responder) must not let a revoked peer in."""
    from tests import x509_pki as pki

    ca = pki.root("CN=One")
    end = pki.issue("CN=end", pki.key("ecdsa", 2), ca)
    fine, slow, broken = CertSource(), CertSource(hang=2.0), CertSource(fail=True)
    auth, lines = chain(("fine", "slow", "broken"), timeout=0.2, fine=fine, slow=slow, broken=broken)
    started = time.monotonic()
    assert auth.check_chain([end.cert, ca.cert], CONN) == \
        "no verdict from auth source slow (no answer to pluto_auth_check_chain within 0.2s)"
    assert time.monotonic() - started < 1.5
    assert (fine.checked, slow.checked, broken.checked) == (1, 1, 0)  # the first refusal ends it
    auth, lines = chain(("fine", "broken"), fine=fine, broken=broken)
    assert auth.check_chain([end.cert, ca.cert], CONN) == \
        "no verdict from auth source broken (pluto_auth_check_chain failed: RuntimeError: responder cache corrupt)"
    assert lines == []  # the refusal is the log line (the engine writes it with the conn)
    auth.close()
