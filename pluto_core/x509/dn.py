"""Distinguished Names as Libreswan writes them in ``leftid=``/``rightid=``/``rightca=``.

Text syntax (what ``parse_dn`` reads):

- RDNs in the order they appear in the DER ``Name`` (first RDN first, the way Libreswan
  prints them; *not* RFC 4514's reversed order), separated by ``,``:
  ``C=CA, ST=Ontario, O=Libreswan, CN=west.testing.libreswan.org, E=user-west@testing.libreswan.org``.
- A ``/`` followed by a known attribute and ``=`` also separates RDNs
  (``C=CA/ST=Ontario/CN=east``), so a value may still contain ``/`` (``OU=R/D``); a leading
  ``/`` selects OpenSSL's form, where only ``/`` separates and ``,`` belongs to the value.
- ``+`` joins the AVAs of a multi-valued RDN (``CN=a+UID=b``).
- ``\\`` escapes the next character (``OU=Foo\\, Bar``) or, followed by two hex digits, one
  octet of the value's UTF-8 (RFC 4514 2.4); a value may also be ``"quoted"``. Unescaped
  spaces around a value are dropped.
- ``#hex`` is a value given as its BER/DER encoding (RFC 4514 2.4), for non-string types.
- Attribute names (case-insensitive): C, ST (S), L, O, OU, CN, E (Email, emailAddress), SN
  (surname), serialNumber, T (title), GN (G, givenName), I (initials), DC, UID, STREET,
  postalCode, D (description), N (name), dnQualifier, pseudonym, unstructuredName (UN),
  unstructuredAddress; any other as ``OID.1.2.3=`` or ``1.2.3=``.
- A value that is an unescaped, unquoted ``*`` is a wildcard (``rightid=``): it matches any
  value of that attribute.

``format_dn`` prints the way Libreswan logs IDs: ``, `` between RDNs, ``+`` inside one,
and ``\\,`` for a comma in a value.

Comparison (``match_dn``/``same_dn``) is by attribute OID and value, value case-insensitive
with runs of white space folded (RFC 5280 7.1 leaves this to RFC 4518's caseIgnoreMatch;
Libreswan's tests rely on it, e.g. ``leftca="C=cA, ..."``); the string type (PrintableString
or UTF8String) does not matter. RDNs must be in the same order.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Final

# ASN.1 universal tags (X.680 8.4) used in Names.
TAG_SEQUENCE: Final = 0x30
TAG_SET: Final = 0x31
TAG_OID: Final = 0x06
TAG_UTF8: Final = 0x0C
TAG_NUMERIC: Final = 0x12
TAG_PRINTABLE: Final = 0x13
TAG_T61: Final = 0x14
TAG_IA5: Final = 0x16
TAG_VISIBLE: Final = 0x1A
TAG_UNIVERSAL: Final = 0x1C
TAG_BMP: Final = 0x1E

_STRING_CODECS: Final = {
    TAG_UTF8: "utf-8", TAG_NUMERIC: "ascii", TAG_PRINTABLE: "ascii", TAG_IA5: "ascii",
    TAG_VISIBLE: "ascii", TAG_T61: "latin-1", TAG_UNIVERSAL: "utf-32-be", TAG_BMP: "utf-16-be",
}

OID_EMAIL: Final = "1.2.840.113549.1.9.1"

# (names, first one printed; OID; string type chosen when encoding text). Most attributes
# are DirectoryString (RFC 5280 4.1.2.4, Appendix A): PrintableString when the value fits,
# UTF8String otherwise; C, serialNumber and dnQualifier are PrintableString only; emailAddress
# (PKCS#9) and DC (RFC 4519) are IA5String.
_ATTRIBUTES: Final[tuple[tuple[tuple[str, ...], str, int], ...]] = (
    (("C", "countryName"), "2.5.4.6", TAG_PRINTABLE),
    (("ST", "S", "stateOrProvinceName"), "2.5.4.8", TAG_PRINTABLE),
    (("L", "localityName"), "2.5.4.7", TAG_PRINTABLE),
    (("O", "organizationName"), "2.5.4.10", TAG_PRINTABLE),
    (("OU", "organizationalUnitName"), "2.5.4.11", TAG_PRINTABLE),
    (("CN", "commonName"), "2.5.4.3", TAG_PRINTABLE),
    (("E", "Email", "emailAddress"), OID_EMAIL, TAG_IA5),
    (("SN", "surname"), "2.5.4.4", TAG_PRINTABLE),
    (("serialNumber",), "2.5.4.5", TAG_PRINTABLE),
    (("T", "title"), "2.5.4.12", TAG_PRINTABLE),
    (("GN", "G", "givenName"), "2.5.4.42", TAG_PRINTABLE),
    (("I", "initials"), "2.5.4.43", TAG_PRINTABLE),
    (("DC", "domainComponent"), "0.9.2342.19200300.100.1.25", TAG_IA5),
    (("UID", "userId"), "0.9.2342.19200300.100.1.1", TAG_PRINTABLE),
    (("STREET", "streetAddress"), "2.5.4.9", TAG_PRINTABLE),
    (("postalCode", "PC"), "2.5.4.17", TAG_PRINTABLE),
    (("D", "description"), "2.5.4.13", TAG_PRINTABLE),
    (("N", "name"), "2.5.4.41", TAG_PRINTABLE),
    (("dnQualifier",), "2.5.4.46", TAG_PRINTABLE),
    (("pseudonym",), "2.5.4.65", TAG_PRINTABLE),
    (("UN", "unstructuredName"), "1.2.840.113549.1.9.2", TAG_IA5),
    (("unstructuredAddress",), "1.2.840.113549.1.9.8", TAG_PRINTABLE),
)
_BY_NAME: Final = {n.lower(): (oid, tag) for names, oid, tag in _ATTRIBUTES for n in names}
_PRINT_NAME: Final = {oid: names[0] for names, oid, _ in _ATTRIBUTES}
_DEFAULT_TAG: Final = {oid: tag for _, oid, tag in _ATTRIBUTES}

# X.680 41.4: the PrintableString character set.
_PRINTABLE_RE: Final = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")
_OID_RE: Final = re.compile(r"(?:OID\.)?([0-2](?:\.(?:0|[1-9][0-9]*))+)", re.IGNORECASE)
# What follows a "/" that separates RDNs: an attribute name and "=".
_ATTR_AHEAD: Final = re.compile(r"\s*((?:OID\.)?[0-9.]+|[A-Za-z][A-Za-z0-9-]*)\s*=")


class DnError(ValueError):
    """A DN text or DER Name that cannot be read; ``part`` is the offending piece."""

    def __init__(self, message: str, part: str = "") -> None:
        super().__init__(message)
        self.part = part


# ------------------------------------------------------------------ data

@dataclass(frozen=True, slots=True)
class Ava:
    """One attribute type and value.

    ``value`` is the text (for a non-string type: ``#`` and the hex of its DER); ``der_value``
    is the value's DER TLV; ``wildcard`` marks a ``*`` pattern from a config ``rightid=``.
    """

    oid: str
    value: str
    tag: int
    der_value: bytes = field(repr=False)
    wildcard: bool = False

    @property
    def is_string(self) -> bool:
        return self.tag in _STRING_CODECS

    @property
    def name(self) -> str:
        """``CN``, ``E``... or ``OID.1.2.3`` for an attribute this module has no name for."""
        return _PRINT_NAME.get(self.oid, "OID." + self.oid)

    def der(self) -> bytes:
        return _tlv(TAG_SEQUENCE, _tlv(TAG_OID, encode_oid(self.oid)) + self.der_value)

    def __str__(self) -> str:
        return f"{self.name}={'*' if self.wildcard else _escape(self)}"


@dataclass(frozen=True, slots=True)
class Dn:
    """A Name: RDNs in DER order, each a tuple of AVAs (more than one: multi-valued).

    ``source`` keeps the DER this was read from, so ``der()`` gives back exactly those octets.
    """

    rdns: tuple[tuple[Ava, ...], ...]
    source: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def has_wildcards(self) -> bool:
        return any(a.wildcard for rdn in self.rdns for a in rdn)

    def der(self) -> bytes:
        """The DER ``Name`` (RFC 5280 4.1.2.4); the data of an ID_DER_ASN1_DN (RFC 7296 3.5)."""
        if self.source is not None:
            return self.source
        body = b"".join(_tlv(TAG_SET, b"".join(sorted(a.der() for a in rdn))) for rdn in self.rdns)
        return _tlv(TAG_SEQUENCE, body)

    def __str__(self) -> str:
        return ", ".join("+".join(str(a) for a in rdn) for rdn in self.rdns)


# ------------------------------------------------------------------ DER

def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + value


def _read_tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at ``pos``; DER lengths only."""
    if end - pos < 2:
        raise DnError("truncated DER", data[pos:end].hex())
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise DnError(f"multi-octet ASN.1 tag at offset {pos}", data[pos:end].hex())
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or end - pos < count:
            raise DnError(f"bad DER length at offset {pos - 1}", data[pos - 2 : end].hex())
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise DnError(f"non-minimal DER length at offset {pos - 1}", data[pos - 2 : end].hex())
        pos += count
    if end - pos < length:
        raise DnError(f"DER length {length} runs past the end at offset {pos}", data[pos:end].hex())
    return tag, pos, pos + length


def encode_oid(dotted: str) -> bytes:
    """OID contents octets (X.690 8.19) of ``1.2.3``."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise DnError(f"invalid OID {dotted!r}", dotted)
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(octets: bytes) -> str:
    if not octets or octets[-1] & 0x80:
        raise DnError("truncated OID", octets.hex())
    arcs: list[int] = []
    value = 0
    for i, b in enumerate(octets):
        if value == 0 and b == 0x80 and (i == 0 or not octets[i - 1] & 0x80):
            raise DnError("non-minimal OID arc", octets.hex())
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [first // 40, first % 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def _string_ava(oid: str, value: str, tag: int | None = None) -> Ava:
    """An AVA for a text value, in the string type the attribute calls for."""
    if tag is None:
        tag = _DEFAULT_TAG.get(oid, TAG_PRINTABLE)
        if tag == TAG_PRINTABLE and not _PRINTABLE_RE.fullmatch(value):
            tag = TAG_UTF8
        elif tag == TAG_IA5 and not value.isascii():
            tag = TAG_UTF8
    return Ava(oid, value, tag, _tlv(tag, value.encode(_STRING_CODECS[tag])))


def _ava_from_value_der(oid: str, der_value: bytes) -> Ava:
    tag, start, end = _read_tlv(der_value, 0, len(der_value))
    if end != len(der_value):
        raise DnError(f"{len(der_value) - end} octets after the value of {oid}", der_value.hex())
    codec = _STRING_CODECS.get(tag)
    if codec is not None:
        try:
            return Ava(oid, der_value[start:end].decode(codec), tag, der_value)
        except UnicodeDecodeError:
            pass  # not what the tag says: print it as hex, compare it as octets
    return Ava(oid, "#" + der_value.hex(), tag, der_value)


def dn_from_der(der: bytes) -> Dn:
    """Read a DER ``Name`` (the data of an ID_DER_ASN1_DN, or a certificate's subject)."""
    tag, pos, end = _read_tlv(der, 0, len(der))
    if tag != TAG_SEQUENCE or end != len(der):
        raise DnError("not a DER Name (SEQUENCE OF RDN)", der.hex())
    rdns: list[tuple[Ava, ...]] = []
    while pos < end:
        tag, rpos, rend = _read_tlv(der, pos, end)
        if tag != TAG_SET or rpos == rend:
            raise DnError(f"RDN at offset {pos} is not a non-empty SET", der[pos:rend].hex())
        avas: list[Ava] = []
        while rpos < rend:
            tag, apos, aend = _read_tlv(der, rpos, rend)
            if tag != TAG_SEQUENCE:
                raise DnError(f"AVA at offset {rpos} is not a SEQUENCE", der[rpos:aend].hex())
            otag, opos, oend = _read_tlv(der, apos, aend)
            if otag != TAG_OID:
                raise DnError(f"AVA at offset {rpos} does not start with an OID", der[rpos:aend].hex())
            avas.append(_ava_from_value_der(decode_oid(der[opos:oend]), der[oend:aend]))
            rpos = aend
        rdns.append(tuple(avas))
        pos = rend
    return Dn(tuple(rdns), source=bytes(der))


# ------------------------------------------------------------------ text

def _attribute(name: str, text: str) -> str:
    """The OID of an attribute name as written before ``=``."""
    if not name:
        raise DnError(f"missing attribute name in DN {text!r}", text)
    known = _BY_NAME.get(name.lower())
    if known is not None:
        return known[0]
    m = _OID_RE.fullmatch(name)
    if m is None:
        raise DnError(f"unknown attribute {name!r} in DN {text!r}", name)
    encode_oid(m.group(1))  # validates the arcs
    return m.group(1)


def _slash_separates(s: str, i: int) -> bool:
    """Does the ``/`` at ``i`` start a new RDN (an attribute we know, then ``=``)?"""
    m = _ATTR_AHEAD.match(s, i + 1)
    if m is None:
        return False
    name = m.group(1)
    return name.lower() in _BY_NAME or _OID_RE.fullmatch(name) is not None


def _read_value(s: str, i: int, text: str, slash_mode: bool) -> tuple[Ava | str, int, str | None]:
    """Read one value from ``s[i:]``: (the value's octets decoded, or an Ava for ``#hex``;
    where it stopped; the separator met: ``,``, ``+`` or None at the end).

    A ``*`` that is the whole, unescaped, unquoted value comes back as ``"\\0*"``."""
    n = len(s)
    while i < n and s[i] == " ":
        i += 1
    out = bytearray()
    keep = 0  # length of ``out`` that trailing-space stripping must not cut (escapes, quotes)
    plain = True
    start = i
    if i < n and s[i] == "#":
        stops = "+/" if slash_mode else ",+/"
        j = i + 1
        while j < n and s[j] not in stops:
            j += 1
        hexpart = s[i + 1 : j].strip()
        try:
            raw = bytes.fromhex(hexpart)
        except ValueError:
            raise DnError(f"bad #hex value {s[i:j]!r} in DN {text!r}", s[i:j]) from None
        sep, j = _separator(s, j, text, slash_mode)
        return _ava_from_value_der("", raw), j, sep
    while i < n:
        ch = s[i]
        if ch == "\\":
            plain = False
            if i + 1 >= n:
                raise DnError(f"DN {text!r} ends in a lone backslash", s[start:])
            pair = s[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
            else:
                out += s[i + 1].encode()
                i += 2
            keep = len(out)
        elif ch == '"' and i == start:
            # a quoted value: the whole of it, then a separator (RFC 1779 2.3)
            plain = False
            i += 1
            while i < n and s[i] != '"':
                if s[i] == "\\" and i + 1 < n:
                    i += 1
                out += s[i].encode()
                i += 1
            if i >= n:
                raise DnError(f"unterminated quote in DN {text!r}", s[start:])
            keep = len(out)
            i += 1
            break
        elif (ch == "," and not slash_mode) or ch == "+" or (
                ch == "/" and (slash_mode or _slash_separates(s, i))):
            break
        else:
            out += ch.encode()
            i += 1
    while len(out) > keep and out[-1:] == b" ":
        del out[-1]
    try:
        value = out.decode("utf-8")
    except UnicodeDecodeError:
        raise DnError(f"escaped octets are not UTF-8 in DN {text!r}", s[start:i]) from None
    if not value:
        raise DnError(f"empty value in DN {text!r}", s[start:i])
    sep, i = _separator(s, i, text, slash_mode)
    if plain and value == "*":
        value = "\0*"
    return value, i, sep


def _separator(s: str, i: int, text: str, slash_mode: bool) -> tuple[str | None, int]:
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return None, i
    ch = s[i]
    if ch == "+":
        return "+", i + 1
    if ch == "/" or (ch == "," and not slash_mode):
        return ",", i + 1
    raise DnError(f"unexpected {ch!r} after a value in DN {text!r}", s[i:])


def parse_dn(text: str) -> Dn:
    """Parse Libreswan's DN text (see the module docstring); ``DnError`` names the bad part."""
    s = text.lstrip()  # trailing spaces: _read_value knows which ones are escaped
    slash_mode = s.startswith("/")
    if slash_mode:
        s = s[1:]
    if not s.strip():
        raise DnError("empty DN", text)
    rdns: list[tuple[Ava, ...]] = []
    current: list[Ava] = []
    i = 0
    while True:
        eq = s.find("=", i)
        if eq < 0:
            raise DnError(f"missing '=' in {s[i:].strip()!r} of DN {text!r}", s[i:].strip())
        name = s[i:eq].strip()
        if name[:1] in (",", "+", "/") and name:
            piece = s[max(i - 1, 0) : i + 1]
            raise DnError(f"empty RDN at {piece!r} in DN {text!r}", piece)
        bad = re.search(r"[,+/\\\"]", name)
        if bad is not None:
            piece = name[: bad.start()].strip()
            raise DnError(f"missing '=' in {piece!r} of DN {text!r}", piece)
        oid = _attribute(name, text)
        value, i, sep = _read_value(s, eq + 1, text, slash_mode)
        if isinstance(value, Ava):
            current.append(Ava(oid, value.value, value.tag, value.der_value))
        elif value == "\0*":
            current.append(Ava(oid, "*", TAG_UTF8, _tlv(TAG_UTF8, b"*"), wildcard=True))
        else:
            if oid == _BY_NAME["c"][0] and len(value) != 2:
                raise DnError(f"country C={value!r} is not a 2-letter code in DN {text!r}", value)
            current.append(_string_ava(oid, value))
        if sep == "+":
            continue
        rdns.append(tuple(current))
        current = []
        if sep is None:
            return Dn(tuple(rdns))
        if i >= len(s):
            raise DnError(f"DN {text!r} ends with a separator", s[-1:])


def dn_to_der(text: str) -> bytes:
    """The DER Name of a DN text: the ID_DER_ASN1_DN data for ``leftid="C=.., CN=.."``."""
    return parse_dn(text).der()


def _escape(ava: Ava) -> str:
    """The value as Libreswan prints it: ``\\,`` and friends so ``parse_dn`` reads it back."""
    v = ava.value
    if not ava.is_string:
        return v  # "#hex", read back by parse_dn as the DER value
    out: list[str] = []
    last = len(v) - 1
    for k, ch in enumerate(v):
        if ch in ',+"\\' or (k == 0 and ch == "#") or (ch == " " and k in (0, last)):
            out.append("\\" + ch)
        elif ch == "*" and v == "*":
            out.append("\\*")  # a literal "*", not a wildcard
        elif ch == "/" and _slash_separates(v, k):
            out.append("\\/")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)


def format_dn(der: bytes) -> str:
    """Libreswan's text for a DER Name: ``C=CA, ST=Ontario, ..., E=user@example``."""
    return str(dn_from_der(der))


def dn_text(der: bytes) -> str:
    """``format_dn`` for a log line: never raises; DER that is not a Name prints as ``0x`` and
    upper-case hex (how Libreswan shows ``leftid=@~1234abcd``)."""
    try:
        return format_dn(der)
    except DnError:
        return "0x" + der.hex().upper()


def legacy_double_comma(text: str) -> str | None:
    """Libreswan still reads an old ``,,`` for a comma inside a value and warns "changing
    legacy ',,' to '\\,'": the rewritten text, or None when there is no ``,,``."""
    return text.replace(",,", "\\,") if ",," in text else None


# ------------------------------------------------------------------ comparison

def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()


def _ava_matches(pattern: Ava, ava: Ava, wildcards: bool) -> bool:
    if pattern.oid != ava.oid:
        return False
    if pattern.wildcard and wildcards:
        return True
    if pattern.is_string and ava.is_string:
        return _fold(pattern.value) == _fold(ava.value)
    return pattern.der_value == ava.der_value


def _rdn_matches(pattern: tuple[Ava, ...], rdn: tuple[Ava, ...], wildcards: bool) -> bool:
    if len(pattern) != len(rdn):
        return False
    if len(rdn) == 1:
        return _ava_matches(pattern[0], rdn[0], wildcards)
    # a SET: any order (DER sorts it, text need not); RDNs have a handful of AVAs at most
    return any(all(_ava_matches(p, a, wildcards) for p, a in zip(pattern, perm, strict=True))
               for perm in itertools.permutations(rdn))


def match_dn(pattern: Dn, dn: Dn, *, wildcards: bool = True) -> int | None:
    """Does ``dn`` match ``pattern``? None if not, else how many wildcards it took (fewer is a
    better match, which is how a responder picks among ``rightid=`` patterns).

    The RDN count and order must be the same; a ``*`` AVA matches any value of its attribute
    (unless ``wildcards`` is False: then ``*`` is a literal value)."""
    if len(pattern.rdns) != len(dn.rdns):
        return None
    if not all(_rdn_matches(p, r, wildcards) for p, r in zip(pattern.rdns, dn.rdns, strict=True)):
        return None
    return sum(a.wildcard for rdn in pattern.rdns for a in rdn) if wildcards else 0


def same_dn(a: Dn, b: Dn) -> bool:
    """The same name, ignoring string types, case and white space runs; no wildcards."""
    return match_dn(a, b, wildcards=False) is not None
