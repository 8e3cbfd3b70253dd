"""One ``key=value`` of ipsec.conf as written, with its keyword: what the loader, the conn
builder (``connection``) and the admission rules (``admission``) all read."""

from __future__ import annotations

from dataclasses import dataclass

from pluto_core.config.keywords import Keyword

__all__ = ["Setting", "SettingKey"]


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
