"""The built-in ``x509`` auth source: certificates from files under the ipsecdir and from
the NSS database at ``--nssdir`` (read natively, no password: certificates are clear).

- our certificate: ``leftcert=`` a file (PEM, possibly with our intermediates after it, or
  DER; a relative name is under ``<ipsecdir>/certs/``) or, without ``/`` or a certificate
  suffix, an NSS nickname as in Libreswan. Intermediates from ``cacerts/`` and the CA
  certificates of the NSS database that issued it complete the chain we send. Its private key
  is not ours to serve: the conn's CKAID is the certificate's (``engine_conn``), so ``nss``
  or ``files`` find the key;
- trusted CAs: every certificate of every file in ``<ipsecdir>/cacerts/`` (a bad file is
  logged with its path and skipped) and the NSS certificates with C or T SSL trust;
- revocation: CRLs from ``<ipsecdir>/crls/`` and the NSS database (``crlutil -I``),
  distribution points and OCSP per ``config setup`` (``crl-strict=``, ``ocsp-*``), with
  :class:`RevocationChecker` (blocking: the chain calls it on a worker thread);
  ``ocsp-trustname=`` is looked up in the NSS database (a nickname) or read from a file, at
  start-up and again on each reread; with
  ``crlcheckinterval=`` the distribution points seen are fetched again by a
  :class:`CrlRefresher` thread of this source's own, stopped at shutdown.

CAs and CRLs are read at start-up, on ``ipsec rereadsecrets`` and ``ipsec rereadcerts``; our
certificate is read when first asked and again when its file (or cert9.db) changed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pluto_core.errors import ConfigError
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.types import EngineConn, IdSpec
from pluto_core.nss import NssCert, NssDb
from pluto_core.x509.dn import dn_text
from pluto_core.x509.files import CertFileError, cert_path, complete_chain, names_a_file, read_cert_dir, read_certs
from pluto_core.x509.revocation import CrlRefresher, Fetcher, RevocationChecker, RevocationOptions


class _OptionsSetup:
    """The daemon's Options as :meth:`RevocationOptions.from_setup` reads ``config setup``: the
    Options carry every crl-*/ocsp-* keyword, the file's value or the command line's
    (``--crl-strict``, ``--ocsp-uri``...), which wins, as for every other option."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def get(self, name: str) -> object:
        return getattr(self.options, name.replace("-", "_"), None)


def revocation_options(options: Any) -> RevocationOptions:
    """The revocation settings in force, from the daemon's Options (``pluto_core.options``
    merged ``config setup`` and the command line); an unset one has Libreswan's default."""
    return RevocationOptions.from_setup(_OptionsSetup(options))


class X509Source:
    def __init__(self, ipsecdir: str | None = None, checker: RevocationChecker | None = None,
                 nssdir: str | None = None, fetcher: Fetcher | None = None) -> None:
        """``checker`` and ``fetcher`` stand in for the ones start-up makes (tests)."""
        self.ipsecdir = ipsecdir  # from pluto_startup's options
        self.nssdir = nssdir
        self.checker = checker
        self.fetcher = fetcher  # None: the checker's own, UrllibFetcher
        self.refresher: CrlRefresher | None = None  # crlcheckinterval= and ipsec fetchcrls
        self.anchors: list[x509.Certificate] = []  # cacerts/ and NSS CT trust, replaced whole on each load
        self.intermediates: list[x509.Certificate] = []  # every CA certificate: they complete our chain
        self._nss: tuple[float, list[NssCert]] | None = None  # (cert9.db mtime, its certificates)
        self._own: dict[str, tuple[float, list[x509.Certificate]]] = {}  # path -> (mtime, our chain)
        self._lock = threading.Lock()  # lookups run on the chain's worker threads
        self._log: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the daemon's: log lines are written there
        self._loop_thread = 0
        self._said_by_last_load: set[str] = set()  # the lines of the last load (CAs, bad files, CRLs)
        # the revocation check ends this long after it starts, inside the auth chain's
        # auth-timeout= (half a second spare), so a slow responder is an unanswered one
        # (strict settings refuse, others accept) rather than a check the chain cuts off
        self.check_budget: float | None = None

    def __repr__(self) -> str:
        return f"X509Source({self.ipsecdir!r}, {len(self.anchors)} CA certificates)"

    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        self.ipsecdir = options.ipsecdir
        self.nssdir = getattr(options, "nssdir", None)
        self._log = log
        timeout = getattr(options, "auth_timeout", None)
        self.check_budget = max(0.5, float(timeout) - 0.5) if timeout else None
        try:
            self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        except RuntimeError:
            self._loop = None
        if self.checker is None:
            revocation = revocation_options(options)
            trust = self._ocsp_trust(revocation.ocsp_trustname)
            self.checker = RevocationChecker(revocation, fetcher=self.fetcher, ocsp_trust=trust, report=self._say)
            self._say_trusted(trust)
        self.load(log, resolve_trust=False)  # just resolved
        interval = self.checker.options.crlcheckinterval
        self.refresher = CrlRefresher(self.checker, interval, report=self._say)
        if interval > 0:
            self._say(f"crlcheckinterval={interval:g}: the CRLs of the distribution points seen are fetched "
                      f"again every {interval:g}s")
            self.refresher.start()

    @hookimpl
    def pluto_shutdown(self) -> None:
        """Stop the refresher thread; lines it would still write have no log to go to."""
        if self.refresher is not None:
            self.refresher.stop()
        self._log = None

    @hookimpl
    def pluto_auth_load(self, log: Any) -> None:
        if self.ipsecdir is not None:  # the first load waits for pluto_startup's ipsecdir
            self.load(log)

    def load(self, log: Any = None, resolve_trust: bool = True) -> None:
        """(Re)read ``cacerts/``, ``crls/`` and the NSS database's CAs and CRLs; forget our cached
        chains; with ``resolve_trust``, look ``ocsp-trustname=`` up again. Lines the previous
        load logged are not logged again (start-up reads twice: ``pluto_startup``, then the
        first ``pluto_auth_load``)."""
        assert self.ipsecdir is not None
        self._log = log or self._log
        said: set[str] = set()

        def say(line: str) -> None:  # a load repeats nothing the previous one said: a reread tells what changed
            said.add(line)
            if line not in self._said_by_last_load:
                self._say(line)

        cas, problems = read_cert_dir(os.path.join(self.ipsecdir, "cacerts"))
        for problem in problems:
            say(f"CA certificate {problem}: skipped")
        for ca in cas:
            say(f"loaded CA certificate '{dn_text(ca.subject.public_bytes())}'")
        nss_certs, nss_crls = self._read_nss()
        anchors, every_ca = _unique(cas), _unique(cas)
        for cert in nss_certs:
            if cert.trust.trusted_ssl_ca and _add(anchors, cert.certificate):
                say(f"loaded CA certificate '{dn_text(cert.certificate.subject.public_bytes())}' "
                    f"(NSS nickname '{cert.nickname}')")
            if cert.is_ca:
                _add(every_ca, cert.certificate)
        if self.checker is not None:
            for problem in self.checker.load_crls(os.path.join(self.ipsecdir, "crls"), issuers=every_ca):
                say(f"CRL {problem}")
            for blob in nss_crls:
                for problem in self.checker.add_crl(blob, f"the NSS database {self.nssdir}", issuers=every_ca):
                    say(f"CRL {problem}")
        self._said_by_last_load = said
        with self._lock:
            self.anchors = anchors
            self.intermediates = every_ca
            self._own = {}
        if resolve_trust:
            self._refresh_ocsp_trust()

    def _ocsp_trust(self, name: str | None) -> list[x509.Certificate]:
        """The certificate ``ocsp-trustname=NAME`` names, [] when none: the NSS database's of
        that nickname (Libreswan's meaning), else, when NAME is spelled as a file (a ``/`` or a
        certificate suffix, as ``leftcert=``), that file's first, a relative name under
        ``<ipsecdir>/certs/``. A file that cannot be read is logged naming it."""
        if not name:
            return []
        try:
            found = [c.certificate for c in self._nss_certificates() if c.nickname == name]
        except (ConfigError, OSError) as exc:  # NssError names the database
            self._say(f"ocsp-trustname={name}: {exc}")
            found = []
        if found or not names_a_file(name) or self.ipsecdir is None:
            return found[:1]
        try:
            return read_certs(cert_path(name, self.ipsecdir))[:1]
        except CertFileError as exc:
            self._say(f"ocsp-trustname={name}: {exc}")
            return []

    def _say_trusted(self, trust: list[x509.Certificate]) -> None:
        if trust and self.checker is not None:
            self._say(f"ocsp-trustname={self.checker.options.ocsp_trustname}: OCSP answers signed by "
                      f"'{dn_text(trust[0].subject.public_bytes())}' are trusted for every issuer")

    def _refresh_ocsp_trust(self) -> None:
        """On a reread: resolve ``ocsp-trustname=`` again (``ipsec import`` of the responder
        certificate while running); a change is logged, an unchanged name says nothing."""
        checker = self.checker
        if checker is None or not checker.options.ocsp_trustname:
            return
        trust = self._ocsp_trust(checker.options.ocsp_trustname)
        if [_der(c) for c in trust] != [_der(c) for c in checker.ocsp.trusted]:
            checker.set_ocsp_trust(trust)
            self._say_trusted(trust)

    def _read_nss(self) -> tuple[list[NssCert], list[bytes]]:
        """The NSS database's certificates and CRLs; none without a database (a file-only
        setup), a log line when it is there but cannot be read."""
        if not self.nssdir or not os.path.isfile(os.path.join(self.nssdir, "cert9.db")):
            with self._lock:
                self._nss = None
            return [], []
        try:
            db = NssDb(self.nssdir, unlock=False)
            mtime = os.stat(db.cert9).st_mtime
            certs, crls = db.certificates(), db.crls()
        except (ConfigError, OSError) as exc:  # NssError names the database
            self._say(f"{exc}: its certificates and CRLs are not loaded")
            return [], []
        with self._lock:
            self._nss = (mtime, certs)
        return certs, crls

    def _nss_certificates(self) -> list[NssCert]:
        """The NSS certificates, read again when cert9.db changed since (``ipsec import`` while running)."""
        if not self.nssdir:
            return []
        try:
            mtime = os.stat(os.path.join(self.nssdir, "cert9.db")).st_mtime
        except OSError:
            return []
        with self._lock:
            held = self._nss
        if held is not None and held[0] == mtime:
            return held[1]
        certs = NssDb(self.nssdir, unlock=False).certificates()  # NssError: the chain logs it
        with self._lock:
            self._nss = (mtime, certs)
        return certs

    def _say(self, text: str) -> None:
        """A log line; from a worker thread it is written on the daemon's loop (the logger is not
        thread-safe)."""
        if self._log is None:
            return
        if self._loop is not None and threading.get_ident() != self._loop_thread and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._log.log, text)
        else:
            self._log.log(text)

    # ------------------------------------------------------------------ hooks

    @hookimpl
    def pluto_auth_certificates(self, local_id: IdSpec, conn: EngineConn) -> list[x509.Certificate] | None:
        name = conn.local_cert
        if not name or self.ipsecdir is None:
            return None
        if not names_a_file(name):
            return self._nss_chain(name)
        path = cert_path(name, self.ipsecdir)
        mtime = os.stat(path).st_mtime  # a missing file raises: the chain logs it naming the path
        with self._lock:
            held = self._own.get(path)
            if held is not None and held[0] == mtime:
                return list(held[1])
            cas = list(self.intermediates)
        chain = complete_chain(read_certs(path), cas)
        with self._lock:
            self._own[path] = (mtime, chain)
        return list(chain)

    def _nss_chain(self, nickname: str) -> list[x509.Certificate]:
        """``leftcert=NICKNAME``: the NSS certificate, then the CAs (NSS's, ``cacerts/``) above it."""
        found = next((c for c in self._nss_certificates() if c.nickname == nickname), None)
        if found is None:
            raise CertFileError(f"no certificate with nickname '{nickname}' in the NSS database {self.nssdir}")
        with self._lock:
            cas = list(self.intermediates)
        nss_cas = [c.certificate for c in self._nss_certificates() if c.is_ca]
        return complete_chain([found.certificate], _unique(cas + nss_cas))

    @hookimpl
    def pluto_auth_trust_anchors(self, conn: EngineConn) -> list[x509.Certificate] | None:
        with self._lock:
            return list(self.anchors) or None

    @hookimpl
    def pluto_auth_purge_ocsp(self) -> int | None:
        """``ipsec purgeocsp``: the OCSP answers cached are forgotten; the next check asks again."""
        return None if self.checker is None else self.checker.purge_ocsp()

    @hookimpl
    def pluto_auth_fetch_crls(self) -> int | None:
        """``ipsec fetchcrls``: every distribution point seen is fetched again, on the refresher's
        thread (started now when ``crlcheckinterval=0`` left it unstarted)."""
        return None if self.refresher is None else self.refresher.fetch_now()

    @hookimpl
    def pluto_auth_check_chain(self, chain: list[x509.Certificate], conn: EngineConn) -> str | None:
        if self.checker is None:
            return None
        verdict = self.checker.check(chain, budget=self.check_budget)
        for note in verdict.notes:
            self._say(f"\"{conn.name}\": {note}")
        return None if verdict.ok else verdict.reason


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def _add(certs: list[x509.Certificate], cert: x509.Certificate) -> bool:
    """Append ``cert`` unless the same certificate is there; was it added?"""
    if any(_der(c) == _der(cert) for c in certs):
        return False
    certs.append(cert)
    return True


def _unique(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for cert in certs:
        _add(out, cert)
    return out
