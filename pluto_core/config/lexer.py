"""Split one ipsec.conf file into items: section headers, ``include`` lines and ``key=value`` pairs.

The grammar is Libreswan's (ipsec.conf(5)): a section header (``config setup``, ``conn NAME``,
``version 2.0``, ``include PATTERN``) starts in the first column; the section body is indented;
``#`` starts a comment at the start of a line or after white space (so ``leftid=@#0a0b`` keeps its
``#``); a value is a run of non-blank characters or a double-quoted string, which may span lines.
Several ``key=value`` pairs may share a line. Pure: text in, items out; errors carry ``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pluto_core.errors import ConfigError

__all__ = ["Item", "strip_comment", "tokenize"]


@dataclass(frozen=True, slots=True)
class Item:
    """One lexical item. ``kind`` is ``setup``, ``conn``, ``version``, ``include``, ``kv`` or ``bare``.

    For ``kv``: ``key`` and ``value`` (``None`` when the key had no ``=`` at all); ``raw`` is the
    value as written after ``=`` (used to echo X- comments like Libreswan does).
    """

    kind: str
    line: int
    key: str = ""
    value: str | None = None
    raw: str = ""
    quoted: bool = False


# key, then optional blanks, '=', optional blanks, then a value (quoted or bare) or nothing.
_KEY = re.compile(r"[^\s=\"#]+")
_BARE = re.compile(r"[^\s\"]+")
_HEADER = re.compile(r"(\S+)(?:[ \t]+(.*))?$")


def strip_comment(text: str) -> str:
    """Drop a ``#`` comment that starts the text or follows a blank (outside quotes): the rule of
    ipsec.conf and ipsec.secrets alike."""
    if "#" not in text:
        return text
    in_quote = False
    prev_blank = True
    for i, ch in enumerate(text):
        if ch == '"':
            in_quote = not in_quote
        elif ch == "#" and not in_quote and prev_blank:
            return text[:i]
        prev_blank = ch in " \t"
    return text


def tokenize(text: str, file: str) -> list[Item]:
    """Return the items of one file; raise ``ConfigError(file, line)`` on a syntax error."""
    if "\x00" in text:
        nul_line = text.count("\n", 0, text.index("\x00")) + 1
        raise ConfigError("syntax error: file contains a NUL byte (binary file?)", file, nul_line)
    lines = text.split("\n")
    items: list[Item] = []
    n = len(lines)
    i = 0
    while i < n:
        line_no = i + 1
        line = lines[i]
        i += 1
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] not in " \t":
            body = strip_comment(line).rstrip()
            m = _HEADER.match(body)
            if m is None:  # pragma: no cover - body is non-blank here
                continue
            word, arg = m.group(1), (m.group(2) or "").strip()
            lw = word.lower()
            if lw == "conn":
                name = _unquote(arg)
                if not name or len(name.split()) != 1:
                    raise ConfigError(f"syntax error: bad conn name {arg!r}", file, line_no)
                items.append(Item("conn", line_no, key=name))
            elif lw == "config":
                if arg.lower() != "setup":
                    raise ConfigError(f"syntax error: unknown section 'config {arg}'", file, line_no)
                items.append(Item("setup", line_no))
            elif lw == "version":
                if not arg:
                    raise ConfigError("syntax error: version needs a number", file, line_no)
                items.append(Item("version", line_no, value=arg))
            elif lw == "include":
                if not arg:
                    raise ConfigError("syntax error: include needs a file name", file, line_no)
                items.append(Item("include", line_no, value=_unquote(arg)))
            else:
                raise ConfigError(f"syntax error, unexpected {_shorten(word)!r} in the first column",
                                  file, line_no)
            continue
        # An indented body line: one or more key=value pairs.
        pos = 0
        length = len(line)
        while True:
            pos = _skip_blank(line, pos)
            if pos >= length or line[pos] == "#":
                break
            km = _KEY.match(line, pos)
            if km is None:
                raise ConfigError(f"syntax error, unexpected {_shorten(line[pos:])!r}", file, line_no)
            key = km.group(0)
            pos = _skip_blank(line, km.end())
            if pos >= length or line[pos] != "=":
                items.append(Item("bare", line_no, key=key, raw=""))
                continue
            pos += 1
            raw_start = pos
            pos = _skip_blank(line, pos)
            if pos >= length or line[pos] == "#" and line[pos - 1] in " \t=":
                # Libreswan's parser needs the end-of-line token to see that the value is empty,
                # and its lexer has counted that newline by then: it reports the next line.
                items.append(Item("kv", line_no + 1, key=key, value="", raw=line[raw_start:]))
                break
            if line[pos] == '"':
                start = pos + 1
                end = _find_quote(line, start)
                buf = []
                while end < 0:  # the string continues on the next line
                    buf.append(line[start:])
                    if i >= n:
                        raise ConfigError("syntax error: unterminated quoted string", file, line_no)
                    line = lines[i].rstrip("\r")
                    i += 1
                    length = len(line)
                    start = 0
                    end = _find_quote(line, 0)
                buf.append(line[start:end])
                value = "\n".join(buf)
                pos = end + 1
                quoted = True
            else:
                if line[pos] == "{" and "}" in line[pos:]:
                    # leftsubnets={a, b}: a braced list is one value even with blanks inside
                    end = line.index("}", pos) + 1
                    vm = _BARE.match(line, end)
                    end = vm.end() if vm is not None else end
                    value = line[pos:end]
                    pos = end
                else:
                    vm = _BARE.match(line, pos)
                    if vm is None:  # pragma: no cover - line[pos] is not blank
                        raise ConfigError("syntax error", file, line_no)
                    value = vm.group(0)
                    pos = vm.end()
                quoted = False
            items.append(Item("kv", line_no, key=key, value=value, raw=line[raw_start:pos], quoted=quoted))
    return items


def _skip_blank(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t\f\v":
        pos += 1
    return pos


def _find_quote(line: str, start: int) -> int:
    while True:
        end = line.find('"', start)
        if end <= 0 or line[end - 1] != "\\":
            return end
        start = end + 1


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _shorten(text: str) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in text)
    return printable if len(printable) <= 40 else printable[:37] + "..."
