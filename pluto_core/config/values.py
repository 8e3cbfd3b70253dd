"""Typed parsers for ipsec.conf values: yes/no, integers, durations, percentages, sizes, debug lists.

Each parser takes the text as written and returns a Python value or raises ``ValueError`` whose
message is Libreswan's wording (the caller adds ``"key=value" invalid, `` and the location).
"""

from __future__ import annotations

import re

from pluto_core.debug_classes import DEBUG_WORDS, parse_debug_words

__all__ = [
    "parse_bool",
    "parse_uint",
    "parse_duration",
    "parse_percent",
    "parse_size",
    "parse_debug",
    "DEBUG_WORDS",
]

_TRUE = frozenset(("yes", "y", "true", "on"))
_FALSE = frozenset(("no", "n", "false", "off"))


def parse_bool(text: str) -> bool:
    """``yes``/``no`` (and the ``y``/``n``/``true``/``false``/``on``/``off`` spellings)."""
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("expecting yes or no")


_INT = re.compile(r"\d+|0[xX][0-9a-fA-F]+")


def parse_uint(text: str) -> int:
    """An unsigned integer; decimal or ``0x`` hex. No upper bound (``nhelpers=4294967297``)."""
    t = text.strip()
    if not _INT.fullmatch(t):
        raise ValueError("expecting an unsigned number")
    return int(t, 0) if t[:2].lower() == "0x" else int(t, 10)


# Duration units, in milliseconds.
_DURATION_UNITS: dict[str, int] = {}
for _names, _ms in (
    (("ms", "msec", "msecs", "millisecond", "milliseconds"), 1),
    (("s", "sec", "secs", "second", "seconds"), 1000),
    (("m", "min", "mins", "minute", "minutes"), 60_000),
    (("h", "hr", "hrs", "hour", "hours"), 3_600_000),
    (("d", "day", "days"), 86_400_000),
    (("w", "week", "weeks"), 604_800_000),
):
    for _n in _names:
        _DURATION_UNITS[_n] = _ms
_NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)")


def parse_duration(text: str, *, default_unit_ms: int = 1000) -> int:
    """A time: a number with an optional unit (``s``, ``m``, ``h``, ``d``, ``w``, ``ms``...).

    Returns milliseconds. A number without a unit is in ``default_unit_ms`` (seconds for most
    keywords, milliseconds for ``retransmit-interval``).
    """
    t = text.strip()
    m = _NUMBER.match(t)
    if m is None:
        raise ValueError("invalid duration, expecting a number")
    suffix = t[m.end():]
    if suffix == "":
        unit = default_unit_ms
    else:
        found = _DURATION_UNITS.get(suffix.lower())
        if found is None:
            raise ValueError(f'unrecognized duration multiplier "{suffix}"')
        unit = found
    number = m.group(1)
    if "." in number:
        whole, _, frac = number.partition(".")
        scale = 10 ** len(frac)
        return ((int(whole or "0") * scale + int(frac or "0")) * unit) // scale
    return int(number) * unit


def parse_percent(text: str) -> int:
    """``N%`` (the ``%`` may be omitted)."""
    t = text.strip()
    m = re.match(r"\d+", t)
    if m is None:
        raise ValueError("expecting a percentage")
    rest = t[m.end():]
    if rest not in ("", "%"):
        raise ValueError("expecting % character")
    return int(m.group(0))


_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
    "p": 1000**5, "pb": 1000**5, "pib": 1024**5,
    "e": 1000**6, "eb": 1000**6, "eib": 1024**6,
}


def parse_size(text: str) -> int:
    """A byte or packet count with an optional suffix (``KiB``, ``MB``...) or ``2^N``."""
    t = text.strip()
    m = re.fullmatch(r"2\^(\d+)", t)
    if m:
        return 2 ** int(m.group(1))
    m = re.match(r"\d+", t)
    if m is None:
        raise ValueError("expecting a number")
    unit = _SIZE_UNITS.get(t[m.end():].strip().lower())
    if unit is None:
        raise ValueError(f'unrecognized multiplier "{t[m.end():]}"')
    return int(m.group(0)) * unit


def parse_debug(text: str) -> tuple[str, ...]:
    """A ``plutodebug=``/``debug=`` list: words separated by blanks or commas, ``no-``/``-`` negates.

    The daemon's own parser (:mod:`pluto_core.debug_classes`) decides, so ``checkconfig`` and
    ``ipsec pluto`` accept the same words; a word naming no class raises ``ValueError``.
    """
    parse_debug_words(text)
    return tuple(w for w in re.split(r"[\s,]+", text.strip()) if w)
