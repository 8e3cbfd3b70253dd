"""The ``pluto`` command line: every option of pluto(8), parsed into a frozen
:class:`Options`, merged with the ``config setup`` section of ``--config``.

The command line wins over the file. Errors are one line naming the option
and exit status 1, as the man page's EXIT STATUS asks (argparse would print
usage and exit 2).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from pluto_core import __version__
from pluto_core.debug_classes import DebugSettings, ignored_notice
from pluto_core.debug_classes import apply_debug as _apply_words
from pluto_core.errors import PlutoError
from pluto_core.impair import IMPAIR_HELP, ImpairError, Impairments, parse_impairment

DEFAULT_RUNDIR = "/run/pluto"
DEFAULT_CONFIG = "/etc/ipsec.conf"
DEFAULT_SECRETS = "/etc/ipsec.secrets"
DEFAULT_IPSECDIR = "/etc/ipsec.d"
DEFAULT_NSSDIR = "/var/lib/ipsec/nss"

class UsageError(PlutoError):
    """A bad command line: printed as one line, exit status 1."""


def default_kernel_backend() -> str:
    """XFRM on Linux, KAME PF_KEY on the BSDs (pluto(8), --use-xfrm/--use-bsdkame)."""
    return "xfrm" if sys.platform.startswith("linux") else "bsdkame"


@dataclass(frozen=True, slots=True)
class Options:
    """Everything the daemon was told, by the command line and ``config setup``."""

    nofork: bool = False
    rundir: str = DEFAULT_RUNDIR
    leak_detective: bool = False
    efence_protect: bool = False
    stderrlog: bool = False
    logfile: str | None = None
    logtime: bool = True
    logappend: bool = True
    logip: bool = True
    audit_log: bool = True
    config: str | None = None
    config_explicit: bool = False
    secretsfile: str = DEFAULT_SECRETS
    ipsecdir: str = DEFAULT_IPSECDIR
    nssdir: str = DEFAULT_NSSDIR
    coredir: str | None = None
    vendorid: str | None = None
    uniqueids: bool = True
    virtual_private: str | None = None
    keep_alive: int | None = None
    force_busy: bool = False
    ddos_mode: str = "auto"  # config setup ddos-mode= (auto, busy, unlimited); --force-busy means busy
    ddos_ike_threshold: int = 25000
    max_halfopen_ike: int = 50000
    # config setup global-redirect= (no, yes, auto: under DDoS load) and global-redirect-to=
    # (RFC 5685: IKE_SA_INIT requests are answered with a REDIRECT to these, in turn)
    global_redirect: str = "no"
    global_redirect_to: str | None = None
    # config setup auth-sources=: asked in this order
    auth_sources: tuple[str, ...] = ("secrets", "nss", "files", "x509")
    auth_timeout: int = 10  # config setup auth-timeout=: seconds a source may take to answer
    # X.509 revocation (config setup crl-*/ocsp-*, the same --options): read by the x509 auth
    # source into RevocationOptions (pluto_core/x509/revocation); times in seconds
    crl_strict: bool = False
    crlcheckinterval: int = 0
    crl_timeout: int = 5
    ocsp_enable: bool = False
    ocsp_strict: bool = False
    ocsp_timeout: int = 2
    ocsp_uri: str | None = None
    ocsp_trustname: str | None = None
    ocsp_cache_size: int = 1000
    ocsp_cache_min_age: int = 3600
    ocsp_cache_max_age: int = 86400
    ocsp_method: str = "get"
    listen: str | None = None
    nhelpers: int = -1
    seedbits: int = 0
    statsbin: str | None = None
    secctx_attr_type: int | None = None
    kernel_backend: str = field(default_factory=default_kernel_backend)
    debug: frozenset[str] = frozenset()
    debug_ignored: tuple[tuple[str, str], ...] = ()  # (class, where named): accepted, not implemented
    list_plugins: bool = False
    impair: tuple[str, ...] = ()  # --impair: test-only faults (pluto_core/kernel/faults.py), checked

    @property
    def impairments(self) -> Impairments:
        """The parsed ``--impair`` values."""
        have = Impairments()
        for text in self.impair:
            have = parse_impairment(text, have)
        return have

    @property
    def pidfile(self) -> str:
        return f"{self.rundir.rstrip('/') or '/'}/pluto.pid"

    @property
    def ctlsocket(self) -> str:
        return f"{self.rundir.rstrip('/') or '/'}/pluto.ctl"

    @property
    def effective_coredir(self) -> str:
        return self.coredir if self.coredir is not None else self.rundir


# --------------------------------------------------------------------------
# Value checkers: each returns the value or raises UsageError naming the option
# --------------------------------------------------------------------------


def _int_option(name: str, text: str, minimum: int | None = None) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise UsageError(f"option {name}: '{text}' is not a number") from None
    if minimum is not None and value < minimum:
        raise UsageError(f"option {name}: {value} is below the minimum {minimum}")
    return value


def check_ip_address(name: str, text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise UsageError(f"option {name}: '{text}' is not an IP address") from None


def check_auth_sources(name: str, text: str) -> tuple[str, ...]:
    """``secrets,nss`` or ``secrets nss``: source names, each once (installed or not is the daemon's check)."""
    names = tuple(part for part in text.replace(",", " ").split() if part)
    if not names:
        raise UsageError(f"option {name}: names no auth source")
    for part in names:
        if not part.replace("-", "").replace("_", "").isalnum():
            raise UsageError(f"option {name}: '{part}' is not an auth source name")
    if len(set(names)) != len(names):
        raise UsageError(f"option {name}: an auth source is named twice")
    return names


def check_virtual_private(name: str, text: str) -> str:
    """``%v4:10.0.0.0/8,%v6:fd00::/8,%v4:!10.1.0.0/16`` (ipsec.conf(5) virtual-private; the
    grammar is ``config/virtual_private.py``'s)."""
    # lazy: pluto_core.config imports this module (its DEFAULT_IPSECDIR), a cycle at import time
    from pluto_core.config.virtual_private import parse_virtual_private

    try:
        parse_virtual_private(text)
    except ValueError as exc:
        raise UsageError(f"option {name}: {exc}") from None
    return text


def check_impair(name: str, values: list[str]) -> tuple[str, ...]:
    """``--impair`` values, each parsed once here so that a typo is a usage error."""
    for text in values:
        try:
            parse_impairment(text)
        except ImpairError as exc:
            raise UsageError(f"option {name}: {exc}") from None
    return tuple(values)


def impair_help() -> str:
    return "\n".join(["--impair WHAT (TEST ONLY: faults for the test suites, never in production):",
                      *("  " + line for line in IMPAIR_HELP)])


def apply_debug(current: DebugSettings, spec: str, enable: bool, where: str) -> DebugSettings:
    """Apply one ``--debug``/``--no-debug``/``plutodebug=`` word list (:mod:`pluto_core.debug_classes`).

    An unknown word is a ``UsageError`` naming ``where``.
    """
    try:
        return _apply_words(current, spec, enable)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc} (--debug help lists them)") from None


# --------------------------------------------------------------------------
# The option table: drives the parser and --help
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option of ``--help``. ``not_acted`` marks an option accepted but not acted on:
    why, shown in ``--help`` and logged once at start-up when the option is given."""

    flag: str
    metavar: str | None
    help: str
    not_acted: str = ""


OPTION_TABLE: tuple[tuple[str, tuple[OptionSpec, ...]], ...] = (
    ("Help", (
        OptionSpec("--help", None, "show this usage message and exit"),
        OptionSpec("--version", None, "show the version and exit"),
        OptionSpec("--list-plugins", None, "list the kernel backends and plugins found, loaded or failed, "
                   "and exit (pluto extension)"),
    )),
    ("Starting pluto", (
        OptionSpec("--nofork", None, "do not fork; print 'Pluto initialized' once the lock file and "
                   "control socket exist"),
        OptionSpec("--rundir", "PATH", f"run directory holding pluto.pid and pluto.ctl (default {DEFAULT_RUNDIR})"),
        OptionSpec("--leak-detective", None, "trace memory with tracemalloc and log the largest live "
                   "allocations at shutdown"),
        OptionSpec("--efence-protect", None, "enable efence protection",
                   not_acted="no effect: Python manages its own memory"),
    )),
    ("Logging", (
        OptionSpec("--stderrlog", None, "log to standard error instead of syslog"),
        OptionSpec("--logfile", "FILENAME", "log to FILENAME instead of syslog (appends)"),
        OptionSpec("--log-no-time", None, "no timestamp prefix on log lines (logtime=no)"),
        OptionSpec("--log-no-append", None, "truncate the log file at start instead of appending "
                   "(logappend=no)"),
        OptionSpec("--log-no-ip", None, "mask IP addresses in log lines (logip=no)"),
        OptionSpec("--log-no-audit", None, "do not generate audit logs (audit-log=no)",
                   not_acted="no audit records are written yet, so it changes nothing"),
    )),
    ("Configuration files", (
        OptionSpec("--config", "FILENAME", f"read the 'config setup' section of FILENAME (default "
                   f"{DEFAULT_CONFIG} when it exists); command-line options win"),
        OptionSpec("--secretsfile", "GLOB", f"secrets file(s), a shell glob (default {DEFAULT_SECRETS})"),
        OptionSpec("--ipsecdir", "DIRNAME", f"directory of additional configuration (default {DEFAULT_IPSECDIR}); "
                   "must exist when given; config 'include /etc/ipsec.d/...' lines read from it"),
        OptionSpec("--nssdir", "DIRNAME", f"NSS database directory: host keys by CKAID for the nss auth "
                   f"source, certificates, CAs and CRLs for the x509 one (default {DEFAULT_NSSDIR})"),
        OptionSpec("--coredir", "DIRNAME", "working directory of the daemon, where a crash dump "
                   "(pluto-crash.txt, Python's faulthandler) is written (default: the rundir)"),
    )),
    ("Other options", (
        OptionSpec("--vendorid", "VID", "vendor ID string to send (in IKE_SA_INIT, by the vendorid plugin)"),
        OptionSpec("--uniqueids", None, "a new IKE SA for a peer ID replaces older ones (default yes)"),
        OptionSpec("--virtual-private", "NETWORK_LIST", "subnets allowed behind NAT, e.g. "
                   "%v4:10.0.0.0/8,%v4:!10.1.0.0/16",
                   not_acted="validated and recorded; Libreswan uses it only for vhost:/vnet: subnets, "
                   "which it allows in IKEv1 conns alone"),
        OptionSpec("--keep-alive", "DELAY_SEC", "NAT-T keep-alive interval in seconds (default 20)"),
        OptionSpec("--force-busy", None, "act as under a denial of service: demand IKEv2 cookies"),
        OptionSpec("--listen", "IPADDR", "listen for IKE only on this address"),
        OptionSpec("--nhelpers", "NUMBER", "crypto helper processes: -1 = CPUs minus one (default), "
                   "0 = do crypto in the main process, N = exactly N"),
        OptionSpec("--seedbits", "NUMBITS", "read NUMBITS bits from /dev/random at start (default 0); "
                   "the kernel RNG then serves all randomness"),
        OptionSpec("--statsbin", "FILENAME", "program run on SA state changes for statistics",
                   not_acted="recorded; no statistics program is run yet"),
        OptionSpec("--secctx-attr-type", "NUMBER", "IKEv1 labeled IPsec attribute number",
                   not_acted="recorded; IKEv1 and labeled IPsec are not implemented"),
    )),
    ("Certificate revocation (crl-*/ocsp-* of config setup; docs/revocation.md)", (
        OptionSpec("--crl-strict", None, "refuse a peer certificate no current CRL answered for (crl-strict=yes)"),
        OptionSpec("--crlcheckinterval", "SECONDS", "fetch the CRLs of the distribution points seen again every "
                   "SECONDS (default 0: only when a check finds none or an expired one)"),
        OptionSpec("--curl-timeout", "SECONDS", "time one CRL fetch may take, 1-1000 (crl-timeout=, default 5)"),
        OptionSpec("--ocsp-enable", None, "ask OCSP responders before CRLs (ocsp-enable=yes)"),
        OptionSpec("--ocsp-strict", None, "refuse a peer certificate OCSP gave no answer for (ocsp-strict=yes)"),
        OptionSpec("--ocsp-uri", "URI", "the OCSP responder for every certificate, instead of its own"),
        OptionSpec("--ocsp-timeout", "SECONDS", "time one OCSP exchange may take, 1-1000 (default 2)"),
        OptionSpec("--ocsp-trustname", "NAME", "the OCSP responder certificate trusted for any issuer: an NSS "
                   "nickname, or a file as leftcert= names one"),
        OptionSpec("--ocsp-cache-size", "NUMBER", "OCSP answers kept, 0-65535 (default 1000)"),
        OptionSpec("--ocsp-cache-min-age", "SECONDS", "an OCSP answer is kept at least this long (default 3600)"),
        OptionSpec("--ocsp-cache-max-age", "SECONDS", "and at most this long (default 86400)"),
        OptionSpec("--ocsp-method", "get|post", "how OCSP requests are sent (default get: POST when GET fails)"),
    )),
    ("Kernel interface", (
        OptionSpec("--use-xfrm", None, "Linux XFRM over netlink (default on Linux)"),
        OptionSpec("--use-bsdkame", None, "KAME PF_KEY v2 (default on BSD)"),
        OptionSpec("--kernel-backend", "NAME", "any installed backend of entry-point group pluto.kernel "
                   "(pluto extension; --use-xfrm is --kernel-backend xfrm); naming two backends is an error"),
    )),
    ("Debugging", (
        OptionSpec("--debug", "CLASS", "enable debug classes (a list); 'none', 'all', 'no-CLASS', 'help' (list); "
                   "Libreswan's other classes are accepted and ignored with a start-up notice"),
        OptionSpec("--no-debug", "CLASS", "disable a debug class"),
        OptionSpec("--impair", "WHAT", "TEST ONLY, never in production: inject a fault (repeatable; "
                   "docs/reliability.md); 'help' lists them"),
    )),
)


def usage_text(prog: str = "pluto") -> str:
    lines = [f"Usage: {prog} [options]", "", "pluto is an IKEv2 daemon in the mould of Libreswan's pluto "
             "(see pluto(8)).", ""]
    for section, specs in OPTION_TABLE:
        lines.append(f"{section}:")
        for spec in specs:
            flag = spec.flag + (f" {spec.metavar}" if spec.metavar else "")
            lines.append(f"  {flag:<28} {spec.help}")
            if spec.not_acted:
                lines.append(f"  {'':<28} [accepted, not acted on: {spec.not_acted}]")
        lines.append("")
    lines.append("Exit status: 0 all is well so far, 1 something was wrong, 10 the lock file already exists.")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors raised instead of printed."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


class _DebugAction(argparse.Action):
    """Keep --debug/--no-debug in command-line order, so that later words win."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        items = list(getattr(namespace, "debug_ops", None) or [])
        items.append((option_string == "--debug", str(values)))
        namespace.debug_ops = items


class _BackendAction(argparse.Action):
    """Record every kernel-backend choice with its flag, so that two different ones are an error."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        backend = str(values) if self.const is None else str(self.const)
        shown = option_string if self.const is not None else f"{option_string} {backend}"
        items = list(getattr(namespace, "backend_ops", None) or [])
        items.append((str(shown), backend))
        namespace.backend_ops = items


def _build_parser(prog: str) -> _Parser:
    p = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    flags = ("--help", "--version", "--list-plugins", "--nofork", "--leak-detective", "--efence-protect",
             "--stderrlog", "--log-no-time", "--log-no-append", "--log-no-ip", "--log-no-audit",
             "--uniqueids", "--force-busy", "--crl-strict", "--ocsp-enable", "--ocsp-strict")
    for flag in flags:
        p.add_argument(flag, action="store_true", default=None)
    for flag in ("--rundir", "--logfile", "--config", "--secretsfile", "--ipsecdir", "--nssdir", "--coredir",
                 "--vendorid", "--virtual-private", "--keep-alive", "--crlcheckinterval", "--listen",
                 "--nhelpers", "--seedbits", "--statsbin", "--secctx-attr-type", "--curl-timeout", "--ocsp-uri",
                 "--ocsp-timeout", "--ocsp-trustname", "--ocsp-cache-size", "--ocsp-cache-min-age",
                 "--ocsp-cache-max-age", "--ocsp-method"):
        p.add_argument(flag, default=None)
    p.add_argument("--kernel-backend", action=_BackendAction)
    p.add_argument("--use-xfrm", action=_BackendAction, nargs=0, const="xfrm")
    p.add_argument("--use-bsdkame", action=_BackendAction, nargs=0, const="bsdkame")
    p.add_argument("--impair", action="append")
    p.add_argument("--debug", action=_DebugAction)
    p.add_argument("--no-debug", action=_DebugAction)
    return p


@dataclass(frozen=True, slots=True)
class CommandLine:
    """The parsed command line: which options were given, before config merging."""

    given: dict[str, Any]
    debug_ops: tuple[tuple[bool, str], ...]
    action: str | None  # "help", "version", "debug-help" or None
    flags: tuple[str, ...] = ()  # the options given, as spelt in OPTION_TABLE


def parse_command_line(argv: Sequence[str], prog: str = "pluto") -> CommandLine:
    parser = _build_parser(prog)
    ns, extra = parser.parse_known_args(list(argv))
    if extra:
        word = extra[0]
        if word.startswith("-"):
            raise UsageError(f"unrecognized option '{word}'")
        raise UsageError(f"unexpected argument '{word}'")
    backend_ops: list[tuple[str, str]] = list(getattr(ns, "backend_ops", None) or [])
    raw = {k: v for k, v in vars(ns).items() if v is not None and k not in ("debug_ops", "backend_ops")}
    debug_ops = tuple(getattr(ns, "debug_ops", None) or ())
    for shown, backend in backend_ops:
        if backend != backend_ops[0][1]:
            raise UsageError(f"{backend_ops[0][0]} conflicts with {shown}: choose one kernel backend")
    if backend_ops:
        raw["kernel_backend"] = backend_ops[0][1]
    flags = tuple("--" + key.replace("_", "-") for key in raw)
    action = None
    if raw.pop("help", None):
        action = "help"
    elif raw.pop("version", None):
        action = "version"
    elif any(on and value.lower() == "help" for on, value in debug_ops):
        action = "debug-help"
    elif any(value.lower() == "help" for value in raw.get("impair", ())):
        action = "impair-help"
    if action == "impair-help":
        raw.pop("impair")
    given: dict[str, Any] = {}
    for key, value in raw.items():
        given.update(_convert(key, value))
    return CommandLine(given, debug_ops, action, flags)


_NEGATED = {"log_no_time": "logtime", "log_no_append": "logappend", "log_no_ip": "logip",
            "log_no_audit": "audit_log"}


# Revocation numbers: (minimum, maximum or None), Libreswan's bounds (plutomain.c)
_REVOCATION_BOUNDS: dict[str, tuple[int, int | None]] = {
    "crlcheckinterval": (0, None), "crl_timeout": (1, 1000), "ocsp_timeout": (1, 1000),
    "ocsp_cache_size": (0, 0xFFFF), "ocsp_cache_min_age": (1, None), "ocsp_cache_max_age": (0, None),
}


def _check_bounds(where: str, name: str, value: int) -> int:
    """``value`` when within ``name``'s bounds, else UsageError naming ``where``."""
    low, high = _REVOCATION_BOUNDS[name]
    if value < low:
        raise UsageError(f"{where}: {value} is below the minimum {low}")
    if high is not None and value > high:
        raise UsageError(f"{where}: {value} is above the maximum {high}")
    return value


def _check_method(where: str, value: str) -> str:
    method = value.strip().lower()
    if method not in ("get", "post"):
        raise UsageError(f"{where}: '{value}' is not get or post")
    return method


def _convert(key: str, value: Any) -> dict[str, Any]:
    """One argparse item to Options fields, checked."""
    flag = "--" + key.replace("_", "-")
    if key in _NEGATED:
        return {_NEGATED[key]: False}
    if key == "curl_timeout":  # Libreswan's spelling on the command line
        key = "crl_timeout"
    if key in _REVOCATION_BOUNDS:
        return {key: _check_bounds(f"option {flag}", key, _int_option(flag, value))}
    if key == "ocsp_method":
        return {key: _check_method(f"option {flag}", value)}
    if key in ("ocsp_uri", "ocsp_trustname") and value == "":
        raise UsageError(f"option {flag}: empty value")
    if key in ("keep_alive", "seedbits"):
        return {key: _int_option(flag, value, minimum=0)}
    if key == "nhelpers":
        return {key: _int_option(flag, value, minimum=-1)}
    if key == "secctx_attr_type":
        return {key: _int_option(flag, value, minimum=0)}
    if key == "listen":
        return {key: check_ip_address(flag, value)}
    if key == "virtual_private":
        return {key: check_virtual_private(flag, value)}
    if key == "config":
        return {"config": value, "config_explicit": True}
    if key == "impair":
        return {key: check_impair(flag, value)}
    if key in ("rundir", "logfile", "secretsfile", "ipsecdir", "nssdir", "coredir", "statsbin",
               "kernel_backend") and value == "":
        raise UsageError(f"option {flag}: empty value")
    return {key: value}


# Which `config setup` keywords feed which Options field, and how.
_SETUP_FIELDS: tuple[tuple[str, str], ...] = (
    ("logfile", "logfile"), ("logtime", "logtime"), ("logappend", "logappend"), ("logip", "logip"),
    ("audit_log", "audit_log"), ("nhelpers", "nhelpers"), ("uniqueids", "uniqueids"),
    ("virtual_private", "virtual_private"), ("keep_alive", "keep_alive"), ("listen", "listen"),
    ("seedbits", "seedbits"), ("ipsecdir", "ipsecdir"), ("nssdir", "nssdir"), ("dumpdir", "coredir"),
    ("secretsfile", "secretsfile"), ("statsbin", "statsbin"), ("crl_strict", "crl_strict"),
    ("crlcheckinterval", "crlcheckinterval"), ("secctx_attr_type", "secctx_attr_type"),
    ("rundir", "rundir"), ("myvendorid", "vendorid"), ("ddos_mode", "ddos_mode"),
    ("ddos_ike_threshold", "ddos_ike_threshold"), ("max_halfopen_ike", "max_halfopen_ike"),
    ("auth_sources", "auth_sources"), ("auth_timeout", "auth_timeout"), ("crl_timeout", "crl_timeout"),
    ("ocsp_enable", "ocsp_enable"), ("ocsp_strict", "ocsp_strict"), ("ocsp_timeout", "ocsp_timeout"),
    ("ocsp_uri", "ocsp_uri"), ("ocsp_trustname", "ocsp_trustname"), ("ocsp_cache_size", "ocsp_cache_size"),
    ("ocsp_cache_min_age", "ocsp_cache_min_age"), ("ocsp_cache_max_age", "ocsp_cache_max_age"),
    ("ocsp_method", "ocsp_method"), ("global_redirect", "global_redirect"),
    ("global_redirect_to", "global_redirect_to"),
)


def setup_values(setup: Any, where: str) -> dict[str, Any]:
    """The Options fields a ``config setup`` section sets (unset keywords are skipped)."""
    values: dict[str, Any] = {}
    for keyword, name in _SETUP_FIELDS:
        value = getattr(setup, keyword, None)
        if value is None:
            continue
        if name in _REVOCATION_BOUNDS:
            value = _check_bounds(f"{where}: {keyword.replace('_', '-')}", name,
                                  _coerce_int(value, keyword, where))
        elif name in ("keep_alive", "seedbits", "nhelpers", "secctx_attr_type",
                      "ddos_ike_threshold", "max_halfopen_ike", "auth_timeout"):
            value = _coerce_int(value, keyword, where)
        elif name == "auth_sources":
            value = check_auth_sources(f"{where}: auth-sources=", str(value))
        elif name == "ocsp_method":
            value = _check_method(f"{where}: ocsp-method", str(value))
        elif name in ("logtime", "logappend", "logip", "audit_log", "uniqueids", "crl_strict", "ocsp_enable",
                      "ocsp_strict"):
            value = _coerce_bool(value, keyword, where)
        elif name == "listen":
            value = check_ip_address(f"{where}: listen=", str(value))
        elif name == "virtual_private":
            value = check_virtual_private(f"{where}: virtual-private=", str(value))
        elif name == "global_redirect_to":
            value = _check_redirect_dests(f"{where}: global-redirect-to=", str(value))
        else:
            value = str(value)
        values[name] = value
    if values.get("global_redirect", "no") != "no" and not values.get("global_redirect_to"):
        raise UsageError(f"{where}: global-redirect={values['global_redirect']} needs global-redirect-to=")
    return values


def _check_redirect_dests(where: str, text: str) -> str:
    """global-redirect-to=: addresses or host names (RFC 5685 8.2), a list."""
    from pluto_core.ikev2.redirect_policy import gateway_identity, split_dests  # the engine's own rule

    for dest in split_dests(text):
        try:
            gateway_identity(dest)
        except ValueError as exc:
            raise UsageError(f"{where} {exc}") from None
    return text


def _coerce_int(value: Any, keyword: str, where: str) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{where}: {keyword}: expected a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):  # time values already in seconds
        return int(value)
    try:
        return int(str(value), 10)
    except ValueError:
        raise UsageError(f"{where}: {keyword}: '{value}' is not a number") from None


def _coerce_bool(value: Any, keyword: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("yes", "true", "1", "on"):
        return True
    if text in ("no", "false", "0", "off"):
        return False
    raise UsageError(f"{where}: {keyword}: '{value}' is not yes or no")


def build_options(cmd: CommandLine, setup: Any = None, where: str = "config setup") -> Options:
    """Merge: defaults < ``config setup`` < command line; then the debug words in order."""
    values: dict[str, Any] = {}
    if setup is not None:
        values.update(setup_values(setup, where))
    values.update(cmd.given)
    debug = DebugSettings()
    named: dict[str, str] = {}  # unimplemented class -> where it was (last) named
    plutodebug = getattr(setup, "plutodebug", None) if setup is not None else None
    steps: list[tuple[str, bool, str]] = []
    if plutodebug:
        words = plutodebug if isinstance(plutodebug, str) else " ".join(plutodebug)
        steps.append((words, True, "plutodebug="))
    steps += [(spec, on, "--debug" if on else "--no-debug") for on, spec in cmd.debug_ops]
    for words, on, source in steps:
        before = set(debug.ignored)
        debug = apply_debug(debug, words, on, f"{where}: plutodebug" if source == "plutodebug=" else source)
        named.update((name, source) for name in debug.ignored if name not in before)
    values["debug"] = debug.enabled
    values["debug_ignored"] = tuple((name, named[name]) for name in debug.ignored)
    # The daemon changes directory to the coredir: relative paths are taken
    # from where it was started, now.
    for name in _PATH_FIELDS:
        if isinstance(values.get(name), str):
            values[name] = os.path.abspath(values[name])
    known = {f.name for f in fields(Options)}
    return replace(Options(), **{k: v for k, v in values.items() if k in known})


_PATH_FIELDS = ("rundir", "logfile", "config", "secretsfile", "ipsecdir", "nssdir", "coredir", "statsbin")


def startup_notices(cmd: CommandLine, options: Options) -> list[str]:
    """One line for each option given but not acted on (the table's marks), and for each
    debug class asked for but not implemented."""
    specs = {spec.flag: spec for _, group in OPTION_TABLE for spec in group}
    notes = [f"{flag} is accepted but not acted on yet ({specs[flag].not_acted})"
             for flag in cmd.flags if flag in specs and specs[flag].not_acted]
    # plutodebug='s are reported by the config loader, with file:line (IpsecConf.notices)
    notes += [ignored_notice(name, where) for name, where in options.debug_ignored if where != "plutodebug="]
    return notes


def version_text() -> str:
    return f"Libreswan-compatible pluto (pluto-ike) {__version__}"
