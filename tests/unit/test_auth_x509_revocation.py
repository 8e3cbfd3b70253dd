"""The x509 source's revocation at run time, as the daemon runs it (an asyncio loop, checks on
worker threads): ``crlcheckinterval=`` fetches the distribution points seen again on a thread of
its own (the loop keeps running; each fetch bounded by ``crl-timeout=``; a failure logged; 0
means never), and a newly revoked serial is refused once the new CRL is in; ``ocsp-trustname=``
(an NSS nickname or a file) makes the answers of that responder count for every issuer;
``purgeocsp`` makes the next check ask the responder again, ``fetchcrls`` fetches every point
seen at once, through the auth chain's hooks."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp

from pluto_core import hookspecs
from pluto_core.auth.chain import AuthChain
from pluto_core.hookspecs import hookimpl
from pluto_core.x509.revocation import FetchError, Status
from pluto_plugins.auth_x509 import X509Source
from tests import revocation_pki as rpki
from tests.engine.harness import conn_pair

CDP = "http://crl.test/sub.crl"


class Log:
    """The daemon's logger as the source sees it; records the thread each line was written on."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.threads: set[str] = set()

    def log(self, text: str) -> None:
        self.lines.append(text)
        self.threads.add(threading.current_thread().name)


class FakeFetcher:
    """Answers from ``bodies`` by URL (a missing URL: connection refused), after ``delay`` seconds;
    records (url, timeout, thread name, a loop running on that thread) of every call."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.delay = 0.0
        self.calls: list[tuple[str, float, str, bool]] = []
        self.spans: list[tuple[float, float]] = []  # monotonic start and end of each call

    def fetch(self, url: str, timeout: float, body: bytes | None = None, content_type: str | None = None) -> bytes:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        self.calls.append((url, timeout, threading.current_thread().name, on_loop))
        start = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        self.spans.append((start, time.monotonic()))
        if url not in self.bodies:
            raise FetchError(url, "connection refused")
        return self.bodies[url]

    def count(self, url: str) -> int:
        return sum(1 for call in self.calls if call[0] == url)


@pytest.fixture
def pki(tmp_path: Path) -> SimpleNamespace:
    root = rpki.make_ca("Root CA")
    sub = rpki.make_ca("Sub CA", issuer=root)
    west = rpki.make_cert(sub, "west", cdp=CDP)
    (tmp_path / "cacerts").mkdir()
    for ca in (root, sub):
        (tmp_path / "cacerts" / f"{ca.cert.serial_number}.pem").write_bytes(ca.cert.public_bytes(Encoding.PEM))
    return SimpleNamespace(dir=tmp_path, root=root, sub=sub, west=west,
                           chain=[west.cert, sub.cert, root.cert])


def start(pki: SimpleNamespace, fetcher: FakeFetcher, **setup: object) -> tuple[X509Source, Log]:
    """The source as the daemon starts it: pluto_startup with the Options (here on the loop)."""
    log = Log()
    options = SimpleNamespace(**{"ipsecdir": str(pki.dir), "config": None, "nssdir": None, **setup})
    src = X509Source(fetcher=fetcher)
    src.pluto_startup(options, log)
    return src, log


async def check(src: X509Source, chain: list[x509.Certificate]) -> str | None:
    """A check as the auth chain runs it: on a worker thread."""
    return await asyncio.to_thread(src.pluto_auth_check_chain, chain, conn_pair()[0])


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def test_crlcheckinterval_refetches_off_the_loop_and_a_newly_revoked_serial_is_refused(
        pki: SimpleNamespace) -> None:
    fetcher = FakeFetcher()
    fetcher.bodies[CDP] = rpki.make_crl(pki.sub, number=1)
    revoked_at = rpki.NOW - timedelta(minutes=5)

    async def body() -> None:
        src, log = start(pki, fetcher, crlcheckinterval=1, crl_timeout=3)
        assert src.refresher is not None and src.refresher.running
        assert "crlcheckinterval=1: the CRLs of the distribution points seen are fetched again every 1s" in log.lines
        assert await check(src, pki.chain) is None  # no CRL held: fetched by the check itself
        assert fetcher.count(CDP) == 1
        # the CA revokes west: the next periodic fetch brings it in
        fetcher.bodies[CDP] = rpki.make_crl(pki.sub, {pki.west.cert.serial_number: (revoked_at, None)}, number=2)
        fetcher.delay = 0.3
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await until(lambda: len(fetcher.spans) == 2)  # the slow refetch came and went
        task.cancel()
        began, ended = fetcher.spans[1]
        assert sum(began < tick < ended for tick in ticks) >= 5  # the loop ran on while it waited on the network
        url, timeout, thread, on_loop = fetcher.calls[1]
        assert (url, timeout, thread, on_loop) == (CDP, 3.0, "crl-refresh", False)  # bounded by crl-timeout=
        reason = await check(src, pki.chain)
        assert reason == f"certificate revoked (serial {pki.west.cert.serial_number:#x}, " \
                         f"{revoked_at:%Y-%m-%d %H:%M:%S} UTC)"
        assert fetcher.count(CDP) == 2  # the check used the refetched CRL, it fetched nothing itself
        # the distribution point goes away: the failed refetch is logged, on the loop
        fetcher.delay = 0.0
        del fetcher.bodies[CDP]
        await until(lambda: f"fetching {CDP}: connection refused" in log.lines)
        assert log.threads == {"MainThread"}
        assert await check(src, pki.chain) is not None  # the revocation held stays in force
        src.pluto_shutdown()
        assert not src.refresher.running
        done = fetcher.count(CDP)
        await asyncio.sleep(1.5)
        assert fetcher.count(CDP) == done  # stopped: no more fetches

    run(body)


def test_crlcheckinterval_0_fetches_only_when_a_check_needs_a_crl(pki: SimpleNamespace) -> None:
    fetcher = FakeFetcher()
    fetcher.bodies[CDP] = rpki.make_crl(pki.sub)

    async def body() -> None:
        src, log = start(pki, fetcher, crlcheckinterval=0)
        assert src.refresher is not None and not src.refresher.running  # no thread at all
        assert await check(src, pki.chain) is None
        await asyncio.sleep(1.5)
        assert await check(src, pki.chain) is None
        assert fetcher.count(CDP) == 1  # the CRL is current: never asked again
        assert not any("crlcheckinterval" in line for line in log.lines)
        src.pluto_shutdown()

    run(body)


# ---------------------------------------------------------------------------------------------
# ocsp-trustname=: the responder certificate trusted for every issuer, from NSS or a file


@pytest.fixture
def ocsp(pki: SimpleNamespace) -> Iterator[SimpleNamespace]:
    """An OCSP responder on 127.0.0.1 answering "good" for west, signed by ``nic``: a certificate
    of an unrelated CA (not west's issuer) without id-kp-OCSPSigning (not delegated either)."""
    elsewhere = rpki.make_ca("Elsewhere CA")
    nic = rpki.make_cert(elsewhere, "nic")
    server = rpki.Server()
    west = rpki.make_cert(pki.sub, "west", ocsp_url=f"{server.url}/ocsp")
    good = (x509_ocsp.OCSPCertStatus.GOOD, None, None)
    server.routes["/ocsp"] = rpki.Responder(pki.sub, {west.cert.serial_number: good}, signer=nic).answer
    (pki.dir / "certs").mkdir()
    try:
        yield SimpleNamespace(server=server, nic=nic, chain=[west.cert, pki.sub.cert, pki.root.cert])
    finally:
        server.close()


NOT_SIGNED = "answer not signed by the issuer or a responder it authorized (ocsp-strict)"


def strict(pki: SimpleNamespace, **setup: object) -> tuple[X509Source, Log]:
    """The source with the real fetcher (urllib to the responder), OCSP enabled and strict."""
    log = Log()
    options = SimpleNamespace(**{"ipsecdir": str(pki.dir), "config": None, "nssdir": None, "ocsp_enable": True,
                                 "ocsp_strict": True, **setup})
    src = X509Source()
    src.pluto_startup(options, log)
    return src, log


def test_an_answer_of_the_trusted_responder_file_is_accepted_only_with_ocsp_trustname(
        pki: SimpleNamespace, ocsp: SimpleNamespace) -> None:
    conn = conn_pair()[0]
    plain, _ = strict(pki)
    reason = plain.pluto_auth_check_chain(ocsp.chain, conn)
    assert reason is not None and reason.endswith(NOT_SIGNED), reason
    (pki.dir / "certs" / "nic.pem").write_bytes(ocsp.nic.cert.public_bytes(Encoding.PEM))
    trusting, log = strict(pki, ocsp_trustname="nic.pem")  # a file, as leftcert= names one: under certs/
    assert trusting.pluto_auth_check_chain(ocsp.chain, conn) is None
    assert "ocsp-trustname=nic.pem: OCSP answers signed by 'O=pluto test, CN=nic' are trusted for every issuer" \
        in log.lines
    assert not any("not found" in line for line in log.lines)
    absolute, _ = strict(pki, ocsp_trustname=str(pki.dir / "certs" / "nic.pem"))
    assert absolute.pluto_auth_check_chain(ocsp.chain, conn) is None


def test_a_missing_trustname_is_logged_and_found_on_a_reread(pki: SimpleNamespace, ocsp: SimpleNamespace) -> None:
    conn = conn_pair()[0]
    src, log = strict(pki, ocsp_trustname="nic.pem", ocsp_cache_size=0)
    missing = f"ocsp-trustname=nic.pem: {pki.dir}/certs/nic.pem: cannot read: No such file or directory"
    not_found = "ocsp-trustname=nic.pem: certificate not found; only the issuer and its delegated responders " \
                "are trusted"
    assert log.lines.count(missing) == 1 and log.lines.count(not_found) == 1, log.lines
    assert src.pluto_auth_check_chain(ocsp.chain, conn).endswith(NOT_SIGNED)  # type: ignore[union-attr]
    (pki.dir / "certs" / "nic.pem").write_bytes(ocsp.nic.cert.public_bytes(Encoding.PEM))
    src.pluto_auth_load(log)  # ipsec rereadsecrets / rereadcerts
    assert log.lines[-1].startswith("ocsp-trustname=nic.pem: OCSP answers signed by 'O=pluto test, CN=nic'")
    assert src.pluto_auth_check_chain(ocsp.chain, conn) is None
    before = len(log.lines)
    src.pluto_auth_load(log)  # unchanged: nothing more said about it
    assert not any("ocsp-trustname" in line for line in log.lines[before:])


def test_ocsp_trustname_is_an_nss_nickname(pki: SimpleNamespace, ocsp: SimpleNamespace, tmp_path: Path) -> None:
    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.skip("certutil (libnss3-tools) is not installed")
    db = tmp_path / "nss"
    db.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    pem = tmp_path / "nic.pem"
    pem.write_bytes(ocsp.nic.cert.public_bytes(Encoding.PEM))
    subprocess.run([certutil, "-A", "-d", f"sql:{db}", "-n", "nic", "-t", ",,", "-a", "-i", str(pem)], check=True)
    src, log = strict(pki, ocsp_trustname="nic", nssdir=str(db))
    assert src.pluto_auth_check_chain(ocsp.chain, conn_pair()[0]) is None
    assert "ocsp-trustname=nic: OCSP answers signed by 'O=pluto test, CN=nic' are trusted for every issuer" \
        in log.lines
    other, log = strict(pki, ocsp_trustname="nobody", nssdir=str(db))
    assert other.pluto_auth_check_chain(ocsp.chain, conn_pair()[0]).endswith(NOT_SIGNED)  # type: ignore[union-attr]
    assert "ocsp-trustname=nobody: certificate not found; only the issuer and its delegated responders are " \
           "trusted" in log.lines


# ---------------------------------------------------------------------------------------------
# ipsec purgeocsp and ipsec fetchcrls, as the auth chain asks the source


def test_after_purgeocsp_a_cached_answer_is_asked_for_again(pki: SimpleNamespace) -> None:
    server = rpki.Server()
    try:
        west = rpki.make_cert(pki.sub, "west", ocsp_url=f"{server.url}/ocsp")
        good = (x509_ocsp.OCSPCertStatus.GOOD, None, None)
        server.routes["/ocsp"] = rpki.Responder(pki.sub, {west.cert.serial_number: good}).answer
        chain = [west.cert, pki.sub.cert, pki.root.cert]
        src, _ = strict(pki)
        auth, lines = source_chain(src)
        assert src.pluto_auth_check_chain(chain, conn_pair()[0]) is None
        assert src.pluto_auth_check_chain(chain, conn_pair()[0]) is None
        assert len(server.hits) == 1  # the second check was answered from the cache
        assert auth.purge_ocsp() == 1
        assert src.pluto_auth_check_chain(chain, conn_pair()[0]) is None
        assert len(server.hits) == 2  # asked again
        assert auth.purge_ocsp() == 1 and auth.purge_ocsp() == 0
        assert lines == []
    finally:
        server.close()


def test_fetchcrls_fetches_every_point_seen_now_even_with_crlcheckinterval_0(pki: SimpleNamespace) -> None:
    fetcher = FakeFetcher()
    fetcher.bodies[CDP] = rpki.make_crl(pki.sub)
    src, log = start(pki, fetcher, crlcheckinterval=0)
    auth, _ = source_chain(src)
    assert auth.fetch_crls() == 0  # nothing seen yet
    assert src.pluto_auth_check_chain(pki.chain, conn_pair()[0]) is None
    assert fetcher.count(CDP) == 1
    assert auth.fetch_crls() == 1
    deadline = time.monotonic() + 10
    while fetcher.count(CDP) < 2:
        assert time.monotonic() < deadline, fetcher.calls
        time.sleep(0.02)
    assert fetcher.calls[-1][2] == "crl-refresh"  # on the refresher's thread, not the caller's
    src.pluto_shutdown()


class Failing:
    @hookimpl
    def pluto_auth_purge_ocsp(self) -> int | None:
        raise RuntimeError("cache locked")


def test_the_chain_sums_the_sources_and_logs_one_that_fails(pki: SimpleNamespace) -> None:
    src, _ = start(pki, FakeFetcher())
    src.checker.ocsp.cache.put((b"n", b"k", 1), rpki_status(), None)  # type: ignore[union-attr]
    auth, lines = source_chain(src, broken=Failing())
    assert auth.purge_ocsp() == 1
    assert lines == ["auth source broken: pluto_auth_purge_ocsp failed: RuntimeError: cache locked"]


def source_chain(src: X509Source, **others: Any) -> tuple[AuthChain, list[str]]:
    """The daemon's auth chain over this source (auth-sources=x509 and ``others``)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(src, name="pluto.auth:x509")
    for name, other in others.items():
        manager.register(other, name=f"pluto.auth:{name}")
    lines: list[str] = []
    return AuthChain(manager.hook, ("x509", *others), lines.append), lines


def rpki_status() -> Status:
    return Status("good", 1, "OCSP responder http://ocsp.test")
