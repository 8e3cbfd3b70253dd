"""Load an ipsec.conf the way Libreswan 4.x/5.x does: sections, ``include``, ``also=``, ``%default``.

``load_config()`` is the one entry point the daemon uses. It reads the file (and its includes),
classifies every ``key=`` against the keyword table, applies ``conn %default`` to the conns that
follow it and expands ``also=`` (recursively, in order, cycles detected), then builds one frozen
``Connection`` per conn. Warnings use Libreswan's wording and ``file:line``; the first fatal error
raises ``ConfigError``. ``parse_config()`` does the same but collects every error (checkconfig).

A conn whose values are wrong (``rekeymargin=0xA``) does not stop the load: Libreswan rejects
that conn when it is added, so it lands in ``IpsecConf.failed`` with its error.

A conn pluto cannot run exactly as written (``admission.refusal``: IKEv1, public-key
authentication, a keyword whose value changes the wire or the kernel in a way pluto does not
implement) lands in ``IpsecConf.refused`` with the reason at the keyword's file:line, and
carries it as ``Connection.refusal``: ``to_engine_conn`` raises it, so no path can run it.

A keyword pluto accepts but does not act on yet, and that is harmless to ignore, gets one
notice per file in ``IpsecConf.notices`` (kept apart from ``warnings``, which are Libreswan's own words). A path
ending in ``.yaml``/``.yml`` is read by ``yaml_conf`` into the same model.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pluto_core.config import values as V
from pluto_core.config.admission import REFUSING, refusal
from pluto_core.config.keywords import CONN, SETUP, Keyword, Kind, VType, lookup
from pluto_core.config.lexer import Item, tokenize
from pluto_core.config.setup_config import SetupConfig
from pluto_core.debug_classes import DebugSettings, apply_debug, ignored_notice
from pluto_core.errors import ConfigError
from pluto_core.options import DEFAULT_IPSECDIR

__all__ = ["IpsecConf", "Setting", "RawConn", "load_config", "parse_config", "parse_items", "MAX_INCLUDE_DEPTH"]

MAX_INCLUDE_DEPTH = 10
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``key=value`` as written: where, and which keyword (``side`` for left/right ones)."""

    key: str
    value: str
    file: str
    line: int
    keyword: Keyword
    side: str | None = None

    @property
    def name(self) -> str:
        """Canonical name, with its side: ``leftsubnet``, ``ike``."""
        return (self.side or "") + self.keyword.canonical

    def where(self) -> str:
        return f"{self.file}:{self.line}"


SettingKey = tuple[str | None, str]  # (side, canonical keyword)


@dataclass(slots=True)
class RawConn:
    """A ``conn`` section before ``also=``/``%default`` expansion."""

    name: str
    file: str
    line: int
    own: dict[SettingKey, Setting] = field(default_factory=dict)
    also: list[Setting] = field(default_factory=list)
    defaults: dict[SettingKey, Setting] = field(default_factory=dict)


@dataclass(slots=True)
class IpsecConf:
    """The result of loading an ipsec.conf."""

    path: str
    setup: SetupConfig
    conns: dict[str, Any]  # name -> Connection (pluto_core.config.connection)
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # "FILE:LINE: warning: KEY=V is accepted but..."
    failed: dict[str, ConfigError] = field(default_factory=dict)
    # conns Libreswan would add but pluto cannot run exactly as written (config/admission.py);
    # they stay in ``conns`` (the parsed model) with ``Connection.refusal`` set
    refused: dict[str, ConfigError] = field(default_factory=dict)
    raw: dict[str, RawConn] = field(default_factory=dict)
    resolved: dict[str, dict[SettingKey, Setting]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    version: str | None = None


LocalAddresses = Callable[[str], bool] | Iterable[str] | None


def load_config(
    path: str | os.PathLike[str],
    *,
    ipsecdir: str | None = None,
    path_map: Mapping[str, str] | None = None,
    local_addresses: LocalAddresses = None,
) -> IpsecConf:
    """Load ``path``; raise ``ConfigError(message, file, line)`` on the first fatal error.

    ``ipsecdir`` stands in for ``/etc/ipsec.d`` in absolute include paths; ``path_map`` maps
    other absolute prefixes (tests map ``/testing`` onto the corpus). ``local_addresses`` (a
    set of address strings or a predicate) orients every conn: see ``connection.orient``.
    """
    conf, errors = parse_config(path, ipsecdir=ipsecdir, path_map=path_map, local_addresses=local_addresses)
    if errors:
        raise errors[0]
    return conf


def parse_config(
    path: str | os.PathLike[str],
    *,
    ipsecdir: str | None = None,
    path_map: Mapping[str, str] | None = None,
    local_addresses: LocalAddresses = None,
) -> tuple[IpsecConf, list[ConfigError]]:
    """Like ``load_config`` but return every fatal error instead of raising the first."""
    top = os.fspath(path)
    if top.lower().endswith((".yaml", ".yml")):
        from pluto_core.config.yaml_conf import parse_yaml_config

        return parse_yaml_config(top, path_map=path_map, local_addresses=local_addresses)
    loader = _Loader(ipsecdir=ipsecdir, path_map=path_map)
    loader.read_top(top)
    conf = loader.finish(top)
    _orient_all(conf, local_addresses)
    return conf, loader.errors


def parse_config_in_force(
    path: str | os.PathLike[str], *, ipsecdir: str | None = None
) -> tuple[IpsecConf, list[ConfigError]]:
    """``parse_config`` with ``/etc/ipsec.d`` includes read from the ipsecdir in force: the
    given one (``--ipsecdir``), else the file's own ``config setup ipsecdir=`` (a second read).
    The daemon's start-up and ``ipsec checkconfig`` both read the file this way."""
    conf, errors = parse_config(path, ipsecdir=os.path.abspath(ipsecdir) if ipsecdir else None)
    from_file = getattr(conf.setup, "ipsecdir", None)
    if ipsecdir is None and from_file and os.path.abspath(from_file) != DEFAULT_IPSECDIR:
        conf, errors = parse_config(path, ipsecdir=os.path.abspath(from_file))
    return conf, errors


def parse_items(
    top: str, items: Iterable[Item], *, local_addresses: LocalAddresses = None
) -> tuple[IpsecConf, list[ConfigError]]:
    """Load already-lexed items of one file (the YAML form builds them) with every ipsec.conf rule."""
    loader = _Loader(ipsecdir=None, path_map=None)
    loader.files.append(top)
    for item in items:
        loader.item(item, top, 0)
    conf = loader.finish(top)
    _orient_all(conf, local_addresses)
    return conf, loader.errors


def _orient_all(conf: IpsecConf, local_addresses: LocalAddresses) -> None:
    if local_addresses is not None:
        from pluto_core.config.connection import orient

        for name, conn in list(conf.conns.items()):
            try:
                conf.conns[name] = orient(conn, local_addresses)
            except ConfigError as exc:
                conf.failed[name] = exc
                del conf.conns[name]


class _Loader:
    def __init__(self, *, ipsecdir: str | None, path_map: Mapping[str, str] | None) -> None:
        self.map: list[tuple[str, str]] = []
        if path_map:
            self.map.extend(sorted(path_map.items(), key=lambda kv: -len(kv[0])))
        if ipsecdir is not None:
            self.map.append(("/etc/ipsec.d", ipsecdir))
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []
        self.notices: list[str] = []
        self.noticed: set[tuple[str, str]] = set()
        self.files: list[str] = []
        self.version: str | None = None
        self.setup: dict[str, Setting] = {}
        self.conns: dict[str, RawConn] = {}
        self.conn_order: list[str] = []
        self.defaults: dict[SettingKey, Setting] = {}
        # current section: None, "setup", "default" or a RawConn
        self.section: RawConn | str | None = None

    # -- files ---------------------------------------------------------------------------------
    def physical(self, logical: str) -> str:
        for prefix, target in self.map:
            if logical == prefix or logical.startswith(prefix.rstrip("/") + "/"):
                return target + logical[len(prefix):]
        return logical

    def read_top(self, logical: str) -> None:
        try:
            text = _read(self.physical(logical))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            errno_part = f" (errno {exc.errno})" if exc.errno else ""
            self.errors.append(ConfigError(f"could not open '{logical}': {reason}{errno_part}", logical))
            return
        self.read_text(text, logical, depth=0)

    def read_text(self, text: str, logical: str, depth: int) -> None:
        self.files.append(logical)
        try:
            items = tokenize(text, logical)
        except ConfigError as exc:
            self.errors.append(exc)
            return
        for item in items:
            self.item(item, logical, depth)

    def include(self, item: Item, file: str, depth: int) -> None:
        pattern = item.value or ""
        # Libreswan reports include problems with the line after the directive (its lexer has
        # consumed the newline by then); keep that so messages match its transcripts.
        line = item.line + 1
        if not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(file), pattern)
        if depth + 1 > MAX_INCLUDE_DEPTH:
            self.warnings.append(
                f"{file}:{line}: including '{pattern}' exceeds max inclusion depth of {MAX_INCLUDE_DEPTH}"
            )
            return
        physical = self.physical(pattern)
        if _GLOB_CHARS.isdisjoint(pattern):
            matches = [pattern]
        else:
            found = sorted(glob.glob(physical))
            if not found:
                return  # an empty glob is silent
            # map the physical matches back to logical names for messages
            matches = [_unmap(f, physical, pattern) for f in found]
        for logical in matches:
            try:
                text = _read(self.physical(logical))
            except OSError:
                self.warnings.append(f"{file}:{line}: could not open include filename: '{logical}'")
                continue
            saved = self.section
            self.read_text(text, logical, depth + 1)
            self.section = saved

    # -- items ---------------------------------------------------------------------------------
    def item(self, item: Item, file: str, depth: int) -> None:
        kind = item.kind
        if kind == "kv" or kind == "bare":
            self.setting(item, file)
        elif kind == "conn":
            name = item.key
            if name == "%default":
                self.section = "default"
            else:
                existing = self.conns.get(name)
                if existing is not None:
                    if (existing.file, existing.line) != (file, item.line):
                        self.warnings.append(
                            f"{file}:{item.line}: duplicate conn '{name}' (first at "
                            f"{existing.file}:{existing.line}) ignored"
                        )
                    self.section = RawConn(name, file, item.line)  # parsed, then dropped
                else:
                    raw = RawConn(name, file, item.line, defaults=dict(self.defaults))
                    self.conns[name] = raw
                    self.conn_order.append(name)
                    self.section = raw
        elif kind == "setup":
            self.section = "setup"
        elif kind == "version":
            self.version = item.value
            self.section = None
        elif kind == "include":
            self.include(item, file, depth)

    def setting(self, item: Item, file: str) -> None:
        section = self.section
        if section is None:
            self.errors.append(
                ConfigError(f"syntax error: '{item.key}' outside of a section", file, item.line))
            return
        which = SETUP if section == "setup" else CONN
        label = "config setup" if which == SETUP else "conn"
        found = lookup(which, item.key)
        status = found.status
        if status == "xcomment":
            shown = item.key if item.value is None else f"{item.key}={item.raw}"
            self.warnings.append(f"{file}:{item.line}: X- style comment ignored: {shown}")
            return
        if item.kind == "bare" or item.value is None:
            self.errors.append(
                ConfigError(f"syntax error: '{item.key}' is not followed by '='", file, item.line))
            return
        if status == "unknown":
            self.errors.append(ConfigError(f"unrecognized '{label}' keyword '{item.key}'", file, item.line))
            return
        if status == "needs-side":
            assert found.keyword is not None
            self.errors.append(ConfigError(
                f'keyword "{found.keyword.name}" requires "left" or "right" prefix', file, item.line))
            return
        kw = found.keyword
        assert kw is not None
        if kw.kind is Kind.OBSOLETE:
            self.warnings.append(f"{file}:{item.line}: obsolete keyword ignored: {item.key}={item.value}")
            return
        if kw.optarg_only:
            self.errors.append(ConfigError(
                f"'{label}' keyword '{item.key}' is only valid as a command line option", file, item.line))
            return
        if kw.kind is Kind.LEGACY:
            self.warnings.append(
                f"{file}:{item.line}: legacy keyword '{item.key}' read as "
                f"'{(found.side or '') + kw.canonical}'"
            )
        setting = Setting(item.key, item.value, file, item.line, kw, found.side)
        skey: SettingKey = (found.side, kw.canonical)
        if not kw.acted and kw.canonical not in REFUSING and (file, kw.canonical) not in self.noticed:
            self.noticed.add((file, kw.canonical))
            self.notices.append(
                f"{file}:{item.line}: warning: {item.key}={item.value} is accepted but not acted on yet")
        if which == SETUP:
            if kw.canonical in self.setup:
                self.warnings.append(
                    f"{file}:{item.line}: overriding earlier 'config setup' keyword with new value: "
                    f"{item.key}={item.value}"
                )
            self.setup[kw.canonical] = setting
            return
        if kw.vtype is VType.ALSO:
            if section == "default":
                return  # also= is not followed inside conn %default
            assert isinstance(section, RawConn)
            section.also.append(setting)
            return
        target = self.defaults if section == "default" else section.own  # type: ignore[union-attr]
        if skey in target and section != "default":
            self.warnings.append(
                f"{file}:{item.line}: ignoring duplicate conn keyword: {item.key}={item.value}")
            return
        target[skey] = setting

    # -- results -------------------------------------------------------------------------------
    def finish(self, top: str) -> IpsecConf:
        setup = self.build_setup()
        conf = IpsecConf(path=top, setup=setup, conns={}, warnings=self.warnings, notices=self.notices,
                         raw=self.conns, files=self.files, version=self.version)
        from pluto_core.config.connection import build_connection

        for name in self.conn_order:
            try:
                resolved = self.resolve(name)
            except ConfigError as exc:
                conf.failed[name] = exc
                continue
            conf.resolved[name] = resolved
            try:
                raw = self.conns[name]
                conn = build_connection(name, resolved, warnings=conf.warnings, file=raw.file, line=raw.line)
            except ConfigError as exc:
                conf.failed[name] = exc
                continue
            refused = refusal(conn, resolved)
            if refused is not None:
                conf.refused[name] = refused
                conn = replace(conn, refusal=refused)
            conf.conns[name] = conn
        return conf

    def build_setup(self) -> SetupConfig:
        kwargs: dict[str, object] = {}
        for s in self.setup.values():
            try:
                kwargs[s.keyword.field] = _setup_value(s)
            except ValueError as exc:
                if s.keyword.canonical == "plutodebug":  # the daemon could not start with it: an error
                    self.errors.append(ConfigError(f"{s.key}='{s.value}' invalid: {exc}", s.file, s.line))
                    continue
                self.warnings.append(f"{s.where()}: {s.key}='{s.value}' invalid, keyword ignored")
                continue
            if s.keyword.canonical == "plutodebug":  # classes pluto does not log: one notice each
                for name in apply_debug(DebugSettings(), s.value).ignored:
                    self.notices.append(f"{s.where()}: warning: {ignored_notice(name, 'plutodebug=')}")
        return SetupConfig(**kwargs)  # type: ignore[arg-type]

    def resolve(self, name: str) -> dict[SettingKey, Setting]:
        """Own settings, then ``also=`` targets depth-first in order, then ``%default``."""
        raw = self.conns[name]
        out: dict[SettingKey, Setting] = {}
        self._merge(raw, out, [name])
        for k, v in raw.defaults.items():
            out.setdefault(k, v)
        return out

    def _merge(self, raw: RawConn, out: dict[SettingKey, Setting], stack: list[str]) -> None:
        for k, v in raw.own.items():
            out.setdefault(k, v)
        for also in raw.also:
            target = also.value
            if target in stack:
                chain = " -> ".join([*stack, target])
                raise ConfigError(f"conn '{stack[0]}': also={target} loops ({chain})", also.file, also.line)
            sub = self.conns.get(target)
            if sub is None:
                raise ConfigError(f"conn '{raw.name}': also={target} names no conn", also.file, also.line)
            self._merge(sub, out, [*stack, target])


def _unmap(found: str, physical_pattern: str, logical_pattern: str) -> str:
    """Turn a glob match on disk back into the logical (unmapped) path."""
    if physical_pattern == logical_pattern:
        return found
    p_dir = os.path.dirname(physical_pattern)
    l_dir = os.path.dirname(logical_pattern)
    if found.startswith(p_dir):
        return l_dir + found[len(p_dir):]
    return found


def _read(path: str) -> str:
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _setup_value(s: Setting) -> object:
    vt = s.keyword.vtype
    value = s.value
    if vt is VType.BOOL:
        return V.parse_bool(value)
    if vt is VType.UINT:
        return V.parse_uint(value)
    if vt is VType.TIME:
        return V.parse_duration(value) // 1000
    if vt is VType.ENUM:
        low = value.strip().lower()
        if low not in s.keyword.values:
            raise ValueError("unknown value")
        return low
    if s.keyword.canonical == "plutodebug":
        V.parse_debug(value)
    return value


def replace_setup(setup: SetupConfig, **changes: object) -> SetupConfig:
    """A copy of ``setup`` with command-line overrides applied (``ikeport=4500``...)."""
    return replace(setup, **changes)  # type: ignore[arg-type]
