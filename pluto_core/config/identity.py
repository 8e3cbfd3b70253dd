"""IKE identities as written in ipsec.conf and ipsec.secrets (``leftid=``, secrets selectors).

Forms (ipsec.conf(5) "leftid"): ``@fqdn``, ``@#hex`` (KEY_ID), ``@[raw]``, ``user@fqdn``
(USER_FQDN), an IPv4/IPv6 address, a DN (``C=CA, O=..., CN=...``), ``%fromcert``, ``%none``,
``%null``, ``%any``. RFC 7296 section 3.5 gives the wire ID types these map to.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass

from pluto_core.errors import ConfigError

__all__ = ["IdType", "Identity", "parse_id"]


class IdType(enum.IntEnum):
    """RFC 7296 section 3.5 ID types, plus the config-only wildcards (negative values)."""

    IPV4_ADDR = 1
    FQDN = 2
    RFC822_ADDR = 3
    IPV6_ADDR = 5
    DER_ASN1_DN = 9
    KEY_ID = 11
    NULL = 13
    ANY = -1  # %any: matches every peer ID
    FROMCERT = -2  # %fromcert: taken from the certificate
    NONE = -3  # %none: no ID


@dataclass(frozen=True, slots=True)
class Identity:
    """A parsed ID. ``value`` is normalised text (DN, FQDN without ``@``, address) or hex bytes."""

    type: IdType
    value: str = ""
    raw: str = ""

    def __str__(self) -> str:
        return self.raw or self.value

    @property
    def is_wildcard(self) -> bool:
        if self.type in (IdType.ANY, IdType.NONE):
            return True
        return self.type is IdType.DER_ASN1_DN and "*" in self.value

    def matches(self, other: Identity) -> bool:
        """True when ``other`` is this ID, or this ID is ``%any``."""
        if self.type is IdType.ANY:
            return True
        return self.type == other.type and self.value == other.value


_DN_START = re.compile(r"^\s*[A-Za-z][A-Za-z0-9.]*\s*=")
_HEX = re.compile(r"[0-9a-fA-F]*")


def parse_id(text: str, *, where: tuple[str, int] | None = None) -> Identity:
    """Parse an ID as Libreswan does; raise ``ConfigError`` for an impossible one."""
    raw = text
    t = text.strip()
    file, line = where if where is not None else (None, None)
    low = t.lower()
    if t == "" or low == "%none":
        return Identity(IdType.NONE, "", raw)
    if low in ("%any", "%any4", "%any6"):
        return Identity(IdType.ANY, "", raw)
    if low == "%fromcert":
        return Identity(IdType.FROMCERT, "", raw)
    if low == "%null":
        return Identity(IdType.NULL, "", raw)
    if t.startswith("@#"):
        hexpart = t[2:]
        if not _HEX.fullmatch(hexpart) or len(hexpart) % 2:
            raise ConfigError(f"ID '{t}' invalid, expecting hex digits after @#", file, line)
        return Identity(IdType.KEY_ID, hexpart.lower(), raw)
    if t.startswith("@["):
        return Identity(IdType.KEY_ID, t[2:].rstrip("]").encode().hex(), raw)
    if t.startswith("@"):
        return Identity(IdType.FQDN, t[1:].rstrip(".").lower(), raw)
    if _DN_START.match(t):
        return Identity(IdType.DER_ASN1_DN, _normalise_dn(t), raw)
    if low.startswith("%"):
        raise ConfigError(f"ID '{t}' invalid, unknown special value", file, line)
    try:
        addr = ipaddress.ip_address(t)
    except ValueError:
        pass
    else:
        return Identity(IdType.IPV4_ADDR if addr.version == 4 else IdType.IPV6_ADDR, str(addr), raw)
    if "@" in t:
        return Identity(IdType.RFC822_ADDR, t, raw)
    # A bare name: Libreswan resolves it in DNS and uses the address; keep it as an FQDN here.
    return Identity(IdType.FQDN, t.rstrip(".").lower(), raw)


def _normalise_dn(dn: str) -> str:
    """Canonical text for comparison: RDNs split on unescaped ``,``/``/``, blanks trimmed."""
    text = dn.strip()
    if text.startswith("/"):
        parts = [p for p in re.split(r"(?<!\\)/", text) if p]
    else:
        parts = re.split(r"(?<!\\),", text)
    rdns = []
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            rdns.append(part.strip())
            continue
        rdns.append(f"{key.strip().upper()}={value.strip()}")
    return ", ".join(rdns)
