"""Read the ipsec.conf format the way Libreswan 4.x/5.x does: sections, ``include``, ``also=``,
``%default``.

Every ``key=`` is classified against the keyword table, ``conn %default`` applies to the conns
that follow it and ``also=`` expands (recursively, in order, cycles detected), then one frozen
``Connection`` is built per conn. Warnings use Libreswan's wording and ``file:line``. The YAML
form (``yaml_conf``) feeds its items through the same loader (``parse_items``); the entry points
that pick the form by file name are in ``ipsec_conf``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pluto_core.config import values as V
from pluto_core.config.admission import REFUSING, refusal
from pluto_core.config.connection import build_connection, orient
from pluto_core.config.keywords import CONN, SETUP, Kind, VType, lookup
from pluto_core.config.lexer import Item, tokenize
from pluto_core.config.paths import FileRefused, decode_text, longest_first, map_path, read_file
from pluto_core.config.setting import Setting, SettingKey
from pluto_core.config.setup_config import SetupConfig
from pluto_core.config.virtual_private import parse_virtual_private
from pluto_core.debug_classes import DebugSettings, apply_debug, ignored_notice
from pluto_core.errors import ConfigError

__all__ = ["IpsecConf", "LocalAddresses", "RawConn", "Loader", "orient_all", "parse_items", "MAX_INCLUDE_DEPTH"]

MAX_INCLUDE_DEPTH = 10
_GLOB_CHARS = frozenset("*?[")


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


def parse_items(
    top: str, items: Iterable[Item], *, local_addresses: LocalAddresses = None
) -> tuple[IpsecConf, list[ConfigError]]:
    """Load already-lexed items of one file (the YAML form builds them) with every ipsec.conf rule."""
    loader = Loader(ipsecdir=None, path_map=None)
    loader.files.append(top)
    for item in items:
        loader.item(item, top, 0)
    conf = loader.finish(top)
    orient_all(conf, local_addresses)
    return conf, loader.errors


def orient_all(conf: IpsecConf, local_addresses: LocalAddresses) -> None:
    """Orient every conn (``connection.orient``); one that cannot be moves to ``conf.failed``."""
    if local_addresses is not None:
        for name, conn in list(conf.conns.items()):
            try:
                conf.conns[name] = orient(conn, local_addresses)
            except ConfigError as exc:
                conf.failed[name] = exc
                del conf.conns[name]


class Loader:
    """One read of a top file and its includes: ``errors`` collects every fatal one."""

    def __init__(self, *, ipsecdir: str | None, path_map: Mapping[str, str] | None) -> None:
        self.map = longest_first(path_map)
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
        return map_path(logical, self.map)

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
            except OSError as exc:
                # Libreswan's words; ours add why when it is a refusal of our own (a FIFO, too large)
                why = f" ({exc.strerror})" if isinstance(exc, FileRefused) else ""
                self.warnings.append(f"{file}:{line}: could not open include filename: '{logical}'{why}")
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
            why = _NOT_ACTED_WHY.get(kw.canonical)
            self.notices.append(f"{file}:{item.line}: warning: {item.key}={item.value} is accepted but not "
                                f"acted on{f' ({why})' if why else ' yet'}")
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
            if s.keyword.canonical == "virtual-private":
                try:
                    parse_virtual_private(s.value)
                except ValueError as exc:  # Libreswan's pluto logs it and runs without the list
                    self.notices.append(f"{s.where()}: warning: {s.key}={s.value}: {exc}: virtual-private "
                                        "entry is not a proper subnet, none loaded")
                    del kwargs[s.keyword.field]
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


# why a keyword pluto accepts is not acted on, when that is for good rather than "yet"
_NOT_ACTED_WHY = {
    "virtual-private": "Libreswan uses it only for vhost:/vnet: subnets, which it allows in IKEv1 conns alone",
}


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
    return decode_text(read_file(path)[0])


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
