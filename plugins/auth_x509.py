"""The built-in ``x509`` auth source: certificates from files under the ipsecdir.

- our certificate: ``leftcert=`` a file (PEM, possibly with our intermediates after it, or
  DER); a relative name is under ``<ipsecdir>/certs/``. Intermediates from ``cacerts/`` that
  issued it complete the chain we send. Its private key is not ours to serve: the conn's
  CKAID is the certificate's (``engine_conn``), so ``nss`` or ``files`` find the key;
- trusted CAs: every certificate of every file in ``<ipsecdir>/cacerts/``; a bad file is
  logged with its path and skipped;
- revocation: CRLs from ``<ipsecdir>/crls/``, distribution points and OCSP per ``config
  setup`` (``crl-strict=``, ``ocsp-*``), with :class:`RevocationChecker` (blocking: the
  chain calls it on a worker thread).

``leftcert=`` without ``/`` or a certificate suffix is an NSS nickname: not served here
(an NSS certificate source answers it; admission refuses it until one exists).
CAs and CRLs are read at start-up and on ``ipsec rereadsecrets``; our certificate file is
read when first asked and again when it changed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from cryptography import x509

from pluto_core.config.ipsec_conf import parse_config_in_force
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.types import EngineConn, IdSpec
from pluto_core.x509.dn import dn_text
from pluto_core.x509.files import cert_path, complete_chain, names_a_file, read_cert_dir, read_certs
from pluto_core.x509.revocation import RevocationChecker, RevocationOptions


class _OptionsSetup:
    """``config setup`` as :meth:`RevocationOptions.from_setup` reads it, from the daemon's
    Options (crl-strict=, crlcheckinterval=) when the file cannot be read again."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def get(self, name: str) -> object:
        return getattr(self.options, name.replace("-", "_"), None)


def revocation_options(options: Any) -> RevocationOptions:
    """The revocation settings of ``config setup`` in force: from ``--config``'s file (it
    has the ocsp-* keywords the Options do not carry), else from the Options."""
    config = getattr(options, "config", None)
    if config:
        try:
            conf, _ = parse_config_in_force(config, ipsecdir=getattr(options, "ipsecdir", None))
            return RevocationOptions.from_setup(conf.setup)
        except (OSError, ValueError):
            pass
    return RevocationOptions.from_setup(_OptionsSetup(options))


class X509Source:
    def __init__(self, ipsecdir: str | None = None, checker: RevocationChecker | None = None) -> None:
        self.ipsecdir = ipsecdir  # from pluto_startup's options
        self.checker = checker
        self.anchors: list[x509.Certificate] = []  # cacerts/, replaced whole on each load
        self._own: dict[str, tuple[float, list[x509.Certificate]]] = {}  # path -> (mtime, our chain)
        self._lock = threading.Lock()  # lookups run on the chain's worker threads
        self._log: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the daemon's: log lines are written there
        self._loop_thread = 0

    def __repr__(self) -> str:
        return f"X509Source({self.ipsecdir!r}, {len(self.anchors)} CA certificates)"

    @hookimpl
    def pluto_startup(self, options: Any, log: Any) -> None:
        self.ipsecdir = options.ipsecdir
        self._log = log
        try:
            self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        except RuntimeError:
            self._loop = None
        if self.checker is None:
            self.checker = RevocationChecker(revocation_options(options), report=self._say)
        self.load(log)

    @hookimpl
    def pluto_auth_load(self, log: Any) -> None:
        if self.ipsecdir is not None:  # the first load waits for pluto_startup's ipsecdir
            self.load(log)

    def load(self, log: Any = None) -> None:
        """(Re)read ``cacerts/`` and ``crls/``; forget our cached chains."""
        assert self.ipsecdir is not None
        self._log = log or self._log
        cas, problems = read_cert_dir(os.path.join(self.ipsecdir, "cacerts"))
        for problem in problems:
            self._say(f"CA certificate {problem}: skipped")
        for ca in cas:
            self._say(f"loaded CA certificate '{dn_text(ca.subject.public_bytes())}'")
        if self.checker is not None:
            for problem in self.checker.load_crls(os.path.join(self.ipsecdir, "crls"), issuers=cas):
                self._say(f"CRL {problem}")
        with self._lock:
            self.anchors = cas
            self._own = {}

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
        if not name or not names_a_file(name) or self.ipsecdir is None:
            return None  # an NSS nickname: another source's
        path = cert_path(name, self.ipsecdir)
        mtime = os.stat(path).st_mtime  # a missing file raises: the chain logs it naming the path
        with self._lock:
            held = self._own.get(path)
            if held is not None and held[0] == mtime:
                return list(held[1])
            anchors = list(self.anchors)
        chain = complete_chain(read_certs(path), anchors)
        with self._lock:
            self._own[path] = (mtime, chain)
        return list(chain)

    @hookimpl
    def pluto_auth_trust_anchors(self, conn: EngineConn) -> list[x509.Certificate] | None:
        with self._lock:
            return list(self.anchors) or None

    @hookimpl
    def pluto_auth_check_chain(self, chain: list[x509.Certificate], conn: EngineConn) -> str | None:
        if self.checker is None:
            return None
        verdict = self.checker.check(chain)
        for note in verdict.notes:
            self._say(f"\"{conn.name}\": {note}")
        return None if verdict.ok else verdict.reason
