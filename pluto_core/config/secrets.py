"""ipsec.secrets: PSK, PPKS, XAUTH, RSA, ECDSA and EDDSA entries, and the best-match PSK lookup.

Grammar (ipsec.secrets(5)): an entry starts in the first column and continues on indented
lines; it is a list of indices (IDs: ``@fqdn``, an address, ``%any``, a quoted DN or IPv6
address), a ``:`` followed by blank, then ``PSK "..."`` / ``PSK 0x..`` / ``PSK 0s..`` /
``PPKS "id" "..."`` / ``XAUTH "..."`` / ``RSA { ... }`` / ``RSA name ["password"]`` /
``ECDSA name`` / ``EDDSA name`` (a name: an NSS nickname, or a key file for the ``files``
auth source). ``include`` takes a glob relative to the including file.

Secrets are ``Secret`` objects whose ``repr``/``str`` never show the bytes: no error, warning
or log line can leak one by formatting it.
"""

from __future__ import annotations

import base64
import binascii
import glob
import hmac
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from pluto_core.config.identity import Identity, IdType, parse_id
from pluto_core.config.lexer import strip_comment
from pluto_core.config.paths import FileRefused, decode_text, longest_first, map_path, read_file
from pluto_core.errors import ConfigError

__all__ = ["Secret", "SecretEntry", "Secrets", "load_secrets", "parse_secrets_text", "decode_secret"]

MAX_INCLUDE_DEPTH = 10


class Secret:
    """Key material. ``reveal()`` returns the bytes; ``repr``/``str`` are redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret objects are not pickled")


@dataclass(frozen=True, slots=True)
class SecretEntry:
    """One entry. ``kind`` is PSK, PPKS, XAUTH, EAP, RSA, ECDSA or EDDSA."""

    ids: tuple[Identity, ...]
    kind: str
    secret: Secret | None = None
    ppk_id: str | None = None  # PPKS
    key_name: str | None = None  # RSA/ECDSA/EDDSA by NSS nickname or file
    rsa_fields: tuple[tuple[str, Secret], ...] = ()  # RSA { Modulus: ... } blocks
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class Secrets:
    """All entries of a secrets file (and its includes), with lookups."""

    entries: list[SecretEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def lookup_psk(self, local: Identity | str, remote: Identity | str) -> Secret | None:
        """The PSK for (local ID, remote ID), choosing the best match as Libreswan does."""
        entry = self.best(("PSK",), local, remote)
        return entry.secret if entry is not None else None

    def lookup_xauth(self, username: str) -> Secret | None:
        uid = _as_id(username if username.startswith("@") else "@" + username)
        plain = _as_id(username)
        for e in self.entries:
            if e.kind == "XAUTH" and any(i == uid or i == plain for i in e.ids):
                return e.secret
        return None

    def lookup_ppk(self, ppk_id: str) -> Secret | None:
        for e in self.entries:
            if e.kind == "PPKS" and e.ppk_id == ppk_id:
                return e.secret
        return None

    def best(self, kinds: Iterable[str], local: Identity | str, remote: Identity | str) -> SecretEntry | None:
        """Best-matching entry of the given kinds.

        ipsec.secrets(5): an entry with no index matches any pair; one index matches when it
        is the local ID; several indices match when the local and the remote ID each match one
        of them. ``%any`` matches any ID but counts less than an exact match. Ties are fine
        when the secrets agree; otherwise the first entry wins (and a warning is recorded).
        """
        want = tuple(kinds)
        me, him = _as_id(local), _as_id(remote)
        best: SecretEntry | None = None
        best_score = 0
        for e in self.entries:
            if e.kind not in want:
                continue
            score = _score(e.ids, me, him)
            if score > best_score:
                best, best_score = e, score
            elif score and score == best_score and best is not None and best.secret != e.secret:
                self.warnings.append(
                    f"{e.file}:{e.line}: ambiguous {e.kind} for {me} -> {him}: "
                    f"also matched by {best.file}:{best.line}; using the first"
                )
        return best


_DEFAULT, _HIM, _ME = 1, 2, 4


def _is_wild(i: Identity) -> bool:
    if i.type is IdType.ANY or i.type is IdType.NONE:
        return True
    return i.type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR) and i.value in ("0.0.0.0", "::")


def _score(ids: tuple[Identity, ...], me: Identity, him: Identity) -> int:
    if not ids:
        return _DEFAULT
    match = 0
    for i in ids:
        if _is_wild(i):
            match |= _DEFAULT
        elif i == me:
            match |= _ME
        elif i == him:
            match |= _HIM
    if match in (_ME | _HIM, _ME | _DEFAULT, _HIM | _DEFAULT, _DEFAULT):
        return match
    if match == _ME and len(ids) == 1:
        return match
    if match == _ME | _HIM | _DEFAULT:
        return _ME | _HIM
    return 0


def _as_id(x: Identity | str) -> Identity:
    if isinstance(x, Identity):
        return _strip_raw(x)
    return _strip_raw(parse_id(x))


def _strip_raw(i: Identity) -> Identity:
    return Identity(i.type, i.value) if i.raw else i


# --- parsing ------------------------------------------------------------------------------------
_HEXCHARS = re.compile(r"[0-9a-fA-F_]+")


def decode_secret(token: str) -> bytes:
    """A quoted string, or ``0x`` hex / ``0s`` base64 / ``0t`` text (ipsec.secrets(5))."""
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1].encode()
    prefix = token[:2].lower()
    body = token[2:]
    if prefix == "0x":
        digits = body.replace("_", "")
        if not digits or not _HEXCHARS.fullmatch(body) or len(digits) % 2:
            raise ValueError("bad hex secret")
        return bytes.fromhex(digits)
    if prefix == "0s":
        try:
            return base64.b64decode(body.replace(" ", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("bad base64 secret") from None
    if prefix == "0t":
        return body.encode()
    raise ValueError("secret must be quoted, or start 0x, 0s or 0t")


_TOKEN = re.compile(r'"[^"\n]*"|\{|\}|[^\s"{}]+')


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def parse_secrets_text(text: str, file: str, *, secrets: Secrets | None = None, depth: int = 0,
                       path_map: dict[str, str] | None = None) -> Secrets:
    """Parse one file's text into ``secrets`` (a new store unless given)."""
    out = secrets if secrets is not None else Secrets()
    out.files.append(file)
    if "\x00" in text:
        nul_line = text.count("\n", 0, text.index("\x00")) + 1
        raise ConfigError("syntax error: file contains a NUL byte (binary file?)", file, nul_line)
    # Group lines into entries: an entry starts in column 1; indented lines continue it.
    entries: list[tuple[int, list[str]]] = []
    for n, raw_line in enumerate(text.split("\n"), 1):
        line = strip_comment(raw_line.rstrip("\r"))
        if not line.strip():
            continue
        if line[0] in " \t":
            if not entries:
                raise ConfigError("syntax error: indented line outside an entry", file, n)
            entries[-1][1].append(line)
            continue
        entries.append((n, [line]))
    for line_no, lines in entries:
        first = lines[0].split(None, 1)
        if first[0] == "include" and len(lines) == 1:
            if len(first) < 2:
                raise ConfigError("syntax error: include needs a file name", file, line_no)
            _include(first[1].strip(), file, line_no, out, depth, path_map)
            continue
        out.entries.append(_entry(" \n".join(lines), file, line_no))
    return out


def _entry(text: str, file: str, line: int) -> SecretEntry:
    # the separator is a ':' followed by a blank, outside quotes ("10::1:0:1" is an index)
    colon = _find_colon(text)
    if colon < 0:
        raise ConfigError("syntax error: missing ':' between indices and secret", file, line)
    ids: list[Identity] = []
    for tok in _tokens(text[:colon]):
        value = tok[1:-1] if tok.startswith('"') else tok
        try:
            ids.append(_strip_raw(parse_id(value)))
        except ConfigError as exc:
            raise ConfigError(f"bad index: {exc.message}", file, line) from None
    rest = _tokens(text[colon + 1:])
    if not rest:
        raise ConfigError("syntax error: no secret after ':'", file, line)
    kind = rest[0].upper()
    args = rest[1:]
    try:
        if kind in ("PSK", "XAUTH", "EAP"):
            if len(args) != 1:
                raise ValueError(f"{kind} takes one secret")
            return SecretEntry(tuple(ids), kind, Secret(decode_secret(args[0])), file=file, line=line)
        if kind == "PPKS":
            if len(args) != 2 or not args[0].startswith('"'):
                raise ValueError('PPKS takes a quoted PPK ID and a secret')
            return SecretEntry(tuple(ids), kind, Secret(decode_secret(args[1])), ppk_id=args[0][1:-1],
                               file=file, line=line)
        if kind in ("RSA", "ECDSA", "EDDSA"):
            if args and args[0] == "{":
                if args[-1] != "}":
                    raise ValueError(f"{kind} {{ block is not closed")
                return SecretEntry(tuple(ids), kind, rsa_fields=_rsa_block(args[1:-1]), file=file, line=line)
            if not args:
                raise ValueError(f"{kind} needs a key name or a {{ }} block")
            password = Secret(decode_secret(args[1])) if len(args) > 1 else None
            name = args[0][1:-1] if args[0].startswith('"') else args[0]
            return SecretEntry(tuple(ids), kind, password, key_name=name, file=file, line=line)
        if rest[0].startswith(('"', "0x", "0s", "0t")) and len(rest) == 1:
            # an old-style entry without a kind is a PSK
            return SecretEntry(tuple(ids), "PSK", Secret(decode_secret(rest[0])), file=file, line=line)
    except ValueError as exc:
        raise ConfigError(f"syntax error: {exc}", file, line) from None
    raise ConfigError(f"syntax error: unknown secret type '{_printable(rest[0])}'", file, line)


def _find_colon(text: str) -> int:
    in_quote = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quote = not in_quote
        elif ch == ":" and not in_quote and (i + 1 == len(text) or text[i + 1] in " \t\n"):
            return i
    return -1


def _rsa_block(tokens: list[str]) -> tuple[tuple[str, Secret], ...]:
    fields: list[tuple[str, Secret]] = []
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if not name.endswith(":") or i + 1 >= len(tokens):
            raise ValueError("RSA block lines are 'Name: value'")
        value = tokens[i + 1]
        if value[:2].lower() == "0x" and len(value.replace("_", "")) % 2:
            value = "0x0" + value[2:]  # a number: 0x10001 is 0x010001
        try:
            data = decode_secret(value)
        except ValueError:
            data = value.encode()
        fields.append((name[:-1], Secret(data)))
        i += 2
    return tuple(fields)


def _printable(text: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown[:20]


def _include(pattern: str, file: str, line: int, out: Secrets, depth: int,
             path_map: dict[str, str] | None) -> None:
    if not os.path.isabs(pattern):
        pattern = os.path.join(os.path.dirname(file), pattern)
    if depth + 1 > MAX_INCLUDE_DEPTH:
        out.warnings.append(f"{file}:{line}: including '{pattern}' exceeds max inclusion depth of "
                            f"{MAX_INCLUDE_DEPTH}")
        return
    physical = map_path(pattern, longest_first(path_map))
    if any(c in pattern for c in "*?["):
        matches = sorted(glob.glob(physical))
    else:
        matches = [physical]
    for path in matches:
        logical = pattern if physical == path else path
        try:
            text = _read(path, logical, out)
        except OSError as exc:
            why = f" ({exc.strerror})" if isinstance(exc, FileRefused) else ""
            out.warnings.append(f"{file}:{line}: could not open include filename: '{logical}'{why}")
            continue
        parse_secrets_text(text, logical, secrets=out, depth=depth + 1, path_map=path_map)


def _read(path: str, logical: str, out: Secrets) -> str:
    data, mode = read_file(path)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        out.warnings.append(
            f"{logical}: secrets file is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            "chmod 600 it"
        )
    return decode_text(data)


def load_secrets(pattern: str | os.PathLike[str] = "/etc/ipsec.secrets", *,
                 path_map: dict[str, str] | None = None) -> Secrets:
    """Load the secrets file(s); ``pattern`` may be a glob (``--secretsfile``, pluto(8)).

    A missing non-glob file is an error; a glob matching nothing gives an empty store.
    """
    text_pattern = os.fspath(pattern)
    out = Secrets()
    physical = map_path(text_pattern, longest_first(path_map))
    if any(c in text_pattern for c in "*?["):
        paths = sorted(glob.glob(physical))
    else:
        paths = [physical]
    for path in paths:
        logical = text_pattern if path == physical else path
        try:
            text = _read(path, logical, out)
        except OSError as exc:
            raise ConfigError(f"could not open '{logical}': {exc.strerror or exc}", logical) from None
        parse_secrets_text(text, logical, secrets=out, path_map=path_map)
    return out
