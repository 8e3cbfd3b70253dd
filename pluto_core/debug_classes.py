"""Debug classes: the one parser behind ``plutodebug=``, conn ``debug=``, ``--debug`` and
``--no-debug``, so that ``ipsec checkconfig`` and the daemon never disagree about a word.

Every class name Libreswan's pluto has accepted (3.x, 4.x, 5.x) is accepted here. The classes
this daemon logs are :data:`IMPLEMENTED`; naming any other one is not an error, it is ignored
with one start-up notice (:func:`ignored_notice`). ``private`` is never implemented: no debug
setting makes this daemon log secrets or key material.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "IMPLEMENTED",
    "NOT_IMPLEMENTED",
    "DEBUG_WORDS",
    "DebugWord",
    "DebugSettings",
    "parse_debug_words",
    "apply_debug",
    "ignored_notice",
    "debug_help",
]

# The classes this daemon logs; "all" is exactly these.
IMPLEMENTED: dict[str, str] = {
    "base": "general: retransmits, dropped or unexpected packets, reassembly, cookie demands",
    "control": "control socket requests",
    "kernel": "events from the kernel backend",
    "plugins": "plugin discovery and loading",
}

# Libreswan's other class names (current and older releases): accepted, ignored with a notice.
NOT_IMPLEMENTED: tuple[str, ...] = (
    "cpu-usage", "crypt", "crypt-low", "tmi", "private", "routing", "refcnt", "updown", "add-prefix",
    "whackwatch", "proposal-parser", "emitting", "parsing", "controlmore", "lifecycle", "dns",
    "oppo", "oppoinfo", "dpd", "x509", "xauth", "natt", "nattraversal", "retransmits", "helper",
    "helper-thread", "details", "raw", "klips", "netkey", "xfrm", "pfkey",
)

DEBUG_WORDS: frozenset[str] = frozenset((*IMPLEMENTED, *NOT_IMPLEMENTED, "all", "none"))


@dataclass(frozen=True, slots=True)
class DebugWord:
    """One word of a debug list: a class name, ``all`` or ``none``; ``enable`` is False for ``no-X``/``-X``."""

    name: str
    enable: bool


@dataclass(frozen=True, slots=True)
class DebugSettings:
    """The classes to log, and the unimplemented classes that were asked for (in order)."""

    enabled: frozenset[str] = frozenset()
    ignored: tuple[str, ...] = ()


def parse_debug_words(text: str) -> tuple[DebugWord, ...]:
    """Words separated by blanks or commas; ``no-CLASS`` and ``-CLASS`` negate.

    Raises ``ValueError("unrecognized debug class 'W'")`` for a word that names no class.
    """
    words: list[DebugWord] = []
    for word in (w for w in re.split(r"[\s,]+", text.strip()) if w):
        name, enable = word.lower(), True
        if name not in DEBUG_WORDS:
            for prefix in ("no-", "-"):
                if name.startswith(prefix) and name[len(prefix):] in DEBUG_WORDS - {"none"}:
                    name, enable = name[len(prefix):], False
                    break
            else:
                raise ValueError(f"unrecognized debug class '{word}'")
        words.append(DebugWord(name, enable))
    return tuple(words)


def apply_debug(current: DebugSettings, text: str, enable: bool = True) -> DebugSettings:
    """Apply one list, word by word (later words win). ``enable=False`` is ``--no-debug``.

    Raises ``ValueError`` as :func:`parse_debug_words` does.
    """
    enabled = set(current.enabled)
    ignored = dict.fromkeys(current.ignored)
    for word in parse_debug_words(text):
        on = word.enable == enable
        if word.name == "none" or (word.name == "all" and not on):
            enabled.clear()
            ignored.clear()
        elif word.name == "all":
            enabled.update(IMPLEMENTED)
        elif word.name in IMPLEMENTED:
            (enabled.add if on else enabled.discard)(word.name)
        elif on:
            ignored[word.name] = None
        else:
            ignored.pop(word.name, None)
    return DebugSettings(frozenset(enabled), tuple(ignored))


def ignored_notice(name: str, where: str) -> str:
    """The one start-up line for an unimplemented class named by ``where`` (``plutodebug=``, ``--debug``)."""
    if name == "private":
        return (f"debug class 'private' ({where}) is accepted but ignored: "
                "this daemon never logs secrets or key material")
    return f"debug class '{name}' ({where}) is not implemented; ignored"


def debug_help() -> str:
    """The ``--debug help`` listing."""
    lines = ["debug classes (--debug CLASS, --no-debug CLASS, --debug no-CLASS, none, all):"]
    lines += [f"  {name:<15} {text}" for name, text in IMPLEMENTED.items()]
    lines.append("  all             every class above (never secrets or key material)")
    lines.append("accepted for Libreswan compatibility, not implemented (ignored, with a start-up notice):")
    for name in NOT_IMPLEMENTED:
        why = "never: secrets and keys are not logged" if name == "private" else "not implemented"
        lines.append(f"  {name:<15} {why}")
    return "\n".join(lines)

