"""How the config readers (``loader``, ``yaml_conf``, ``secrets``) find and decode a file: one
rule for all three, so an include, a YAML file and a secrets file map and read alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["longest_first", "map_path", "decode_text"]


def longest_first(path_map: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """``path_map``'s (prefix, target) pairs, the most specific prefix first."""
    return sorted((path_map or {}).items(), key=lambda kv: -len(kv[0]))


def map_path(path: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``path`` with the first matching whole-component prefix replaced by its target (tests map
    ``/testing`` onto the corpus, ``--ipsecdir`` stands in for ``/etc/ipsec.d``)."""
    for prefix, target in pairs:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return target + path[len(prefix):]
    return path


def decode_text(data: bytes) -> str:
    """UTF-8, else Latin-1 (which never fails): Libreswan reads bytes, and old files are Latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
