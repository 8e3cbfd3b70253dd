"""The YAML form of ipsec.conf, for generated configuration: same model, same validation.

Shape (docs/config.md)::

    setup:   {logfile: /var/log/pluto.log, plutodebug: "all"}
    default: {ikelifetime: 1h}                 # conn %default
    conns:
      west-east: {left: 192.1.2.45, right: 192.1.2.23, also: [base], authby: secret}

Each ``key: value`` becomes the ``key=value`` item the ipsec.conf lexer would have produced, with
the YAML line number, and goes through the one loader (``loader.parse_items``): keyword
table, value parsers, ``also=``, ``%default`` and the warnings are the ipsec.conf ones. The node
tree is composed (not ``safe_load``ed) so every value keeps its line and its text as written:
``yes`` stays ``yes``, ``010`` stays ``010``. A list value is joined with commas, except
``also`` (one ``also=`` per entry, in order).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import yaml

from pluto_core.config.lexer import Item
from pluto_core.config.loader import IpsecConf, LocalAddresses, parse_items
from pluto_core.config.paths import longest_first, map_path, read_file
from pluto_core.errors import ConfigError

__all__ = ["load_yaml_config", "parse_yaml_config", "SECTIONS"]

SECTIONS = ("setup", "default", "conns")


def load_yaml_config(
    path: str | os.PathLike[str],
    *,
    path_map: Mapping[str, str] | None = None,
    local_addresses: LocalAddresses = None,
) -> IpsecConf:
    """Load a YAML configuration; raise ``ConfigError(message, file, line)`` on the first error."""
    conf, errors = parse_yaml_config(path, path_map=path_map, local_addresses=local_addresses)
    if errors:
        raise errors[0]
    return conf


def parse_yaml_config(
    path: str | os.PathLike[str],
    *,
    path_map: Mapping[str, str] | None = None,
    local_addresses: LocalAddresses = None,
) -> tuple[IpsecConf, list[ConfigError]]:
    """Like ``load_yaml_config`` but return every fatal error (the YAML syntax error is the only one
    that stops the load early)."""
    logical = os.fspath(path)
    physical = map_path(logical, longest_first(path_map))
    try:
        data = read_file(physical)[0]
    except OSError as exc:
        errno_part = f" (errno {exc.errno})" if exc.errno else ""
        raise ConfigError(f"could not open '{logical}': {exc.strerror or exc}{errno_part}", logical) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"not UTF-8 text: byte 0x{data[exc.start]:02x}: {exc.reason}", logical, at) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML syntax error: {exc.problem or exc}", logical, line) from None
    except yaml.reader.ReaderError as exc:  # a control character (a NUL): no mark, a position
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        where = text.count("\n", 0, exc.position or 0) + 1
        raise ConfigError(f"YAML error: unacceptable character #x{char:04x}: {exc.reason}", logical, where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", logical) from None
    items = list(_items(root, logical))
    return parse_items(logical, items, local_addresses=local_addresses)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _pairs(node: yaml.Node, file: str, what: str) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{what} must be a mapping", file, _line(node))
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or not key.value:
            raise ConfigError(f"{what}: a key must be a non-empty string", file, _line(key))
        yield key.value, key, value


def _items(root: yaml.Node | None, file: str) -> Iterator[Item]:
    if root is None:
        return  # an empty file: no sections, like an empty ipsec.conf
    sections: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for name, key, value in _pairs(root, file, "the top level"):
        if name not in SECTIONS:
            raise ConfigError(f"unknown section '{name}' (expecting {', '.join(SECTIONS)})", file, _line(key))
        if name in sections:
            raise ConfigError(f"duplicate section '{name}'", file, _line(key))
        sections[name] = (key, value)
    if "setup" in sections:
        key, value = sections["setup"]
        yield Item("setup", _line(key))
        yield from _settings(value, file, "setup")
    # %default applies to the conns that follow it: put it first so it reaches every conn
    if "default" in sections:
        key, value = sections["default"]
        yield Item("conn", _line(key), key="%default")
        yield from _settings(value, file, "default")
    if "conns" in sections:
        _key, conns = sections["conns"]
        for name, ckey, body in _pairs(conns, file, "conns"):
            if name == "%default" or any(ch.isspace() for ch in name):
                raise ConfigError(f"bad conn name {name!r}", file, _line(ckey))
            yield Item("conn", _line(ckey), key=name)
            yield from _settings(body, file, f"conn {name}")


def _settings(node: yaml.Node, file: str, what: str) -> Iterator[Item]:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return  # "default:" with nothing under it
    for key, knode, value in _pairs(node, file, what):
        line = _line(knode)
        if isinstance(value, yaml.ScalarNode):
            text = "" if value.tag == "tag:yaml.org,2002:null" else value.value
            yield Item("kv", line, key=key, value=text, raw=text)
        elif isinstance(value, yaml.SequenceNode):
            entries = []
            for entry in value.value:
                if not isinstance(entry, yaml.ScalarNode):
                    raise ConfigError(f"{key}: list entries must be plain values", file, _line(entry))
                entries.append(entry)
            if key.lower() == "also":
                for entry in entries:
                    yield Item("kv", _line(entry), key=key, value=entry.value, raw=entry.value)
            else:
                text = ",".join(e.value for e in entries)
                yield Item("kv", line, key=key, value=text, raw=text)
        else:
            raise ConfigError(f"{key}: expecting a value or a list of values", file, _line(value))
