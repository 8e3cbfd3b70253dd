"""``whack --listcerts``, ``--listcacerts`` and ``--listcrls`` text, as Libreswan 4.10 prints it.

Pure functions from what :mod:`pluto_core.nss.certdb` reads to the lines ``ipsec whack``
shows (each with its ``000`` prefix), so the offline ``ipsec listcerts`` and the daemon's
control socket print the same. The layout, the DN spelling and the dates were taken from
Libreswan 4.10's pluto listing NSS databases made for the purpose (docs/nss.md).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import der
from .certdb import NssCert, serial_octets

# DN attribute names Libreswan prints; any other type is its dotted OID with the value as #hex.
DN_NAMES = {
    "2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.3": "CN", "1.2.840.113549.1.9.1": "E", "2.5.4.5": "SN", "2.5.4.4": "S",
    "2.5.4.42": "G", "2.5.4.12": "T", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID", "2.5.4.43": "I", "2.5.4.41": "N", "2.5.4.13": "D",
    "1.2.840.113549.1.9.2": "unstructuredName",
}
# ASN.1 string types whose octets are printed (escaped) as they are, BMPString's too.
STRING_TAGS = {0x0C, 0x12, 0x13, 0x14, 0x16, 0x1A, 0x1C, 0x1E}
ESCAPED = frozenset(b',+"\\<>;=')
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
BLANK = "000  "
# Libreswan spells a DN into a fixed buffer: a longer one is cut and ends in "..." (seen with
# a 0x... name of 594 octets: 507 characters and the dots).
DN_MAX = 510


def format_value(tag: int, value: bytes) -> str:
    """One attribute value: octet by octet, RFC 4514-style escapes, others as ``\\XX``;
    a value starting with ``#`` is written as ``#`` and the hex of its DER, as Libreswan does."""
    if value[:1] == b"#":
        return "#" + _hex_tlv(tag, value)
    out: list[str] = []
    last = len(value) - 1
    for i, byte in enumerate(value):
        if byte == 0x20 and i in (0, last):
            out.append("\\ ")
        elif byte in ESCAPED:
            out.append("\\" + chr(byte))
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def _hex_tlv(tag: int, value: bytes) -> str:
    return (bytes([tag]) + der.encode_length(len(value)) + value).hex().upper()


def format_dn(name: bytes | x509.Name) -> str:
    """:func:`spell_dn`, cut as Libreswan's buffer cuts it."""
    text = spell_dn(name)
    return text if len(text) <= DN_MAX else text[:DN_MAX - 3] + "..."


def spell_dn(name: bytes | x509.Name) -> str:
    """A DER Name as Libreswan writes it: RDNs in certificate order (``C=CA, O=..., CN=...``),
    ``, `` between RDNs and between the parts of a multi-valued one. A name it cannot
    spell (a value that is not a string, damaged DER) is ``0x`` and the hex of its DER."""
    raw = name.public_bytes() if isinstance(name, x509.Name) else name
    try:
        parts: list[str] = []
        for rdn in der.read_single(raw).expect(der.SEQUENCE).children():
            if rdn.tag != 0x31:
                raise der.DerError("RDN is not a SET")
            for ava in rdn.children():
                fields = ava.expect(der.SEQUENCE).children()
                if len(fields) != 2:
                    raise der.DerError("malformed AttributeTypeAndValue")
                oid, value = fields[0].as_oid(), fields[1]
                if oid in DN_NAMES and value.tag in STRING_TAGS:
                    parts.append(f"{DN_NAMES[oid]}={format_value(value.tag, value.value)}")
                elif value.tag in STRING_TAGS:
                    parts.append(f"{oid}=#{_hex_tlv(value.tag, value.value)}")
                else:
                    raise der.DerError(f"value of {oid} is not a string")
        return ", ".join(parts)
    except der.DerError:
        return "0x" + raw.hex().upper()


def format_time(when: datetime.datetime) -> str:
    """``Wed Dec 02 07:05:37 2026``: UTC, English names, whatever the locale or TZ."""
    utc = when.astimezone(datetime.UTC) if when.tzinfo else when
    return (f"{DAYS[utc.weekday()]} {MONTHS[utc.month - 1]} {utc.day:02d} "
            f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} {utc.year}")


def key_text(cert: x509.Certificate) -> str:
    """``2048 bit RSA``; other key types are ``N bit(other)`` (an EC key: its curve's size)."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError):
        return "0 bit(other)"
    if isinstance(key, rsa.RSAPublicKey):
        return f"{key.key_size} bit RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"{key.curve.key_size} bit(other)"
    return "0 bit(other)"


def cert_block(kind: str, cert: NssCert) -> list[str]:
    """One certificate's lines (without the blank line that ends it)."""
    c = cert.certificate
    serial = serial_octets(c.serial_number)
    key = key_text(c) + (": has private key" if cert.has_private_key else "")
    return [
        f'000 {kind} certificate "{cert.nickname}" - SN: 0x{serial.hex()}',
        f"000   subject: {format_dn(c.subject.public_bytes())}",
        f"000   issuer: {format_dn(c.issuer.public_bytes())}",
        f"000   not before: {format_time(c.not_valid_before_utc)}",
        f"000   not after: {format_time(c.not_valid_after_utc)}",
        f"000   {key}",
    ]


def format_listcerts(certs: Iterable[NssCert]) -> str:
    """``whack --listcerts``: the certificates that are not CAs, database order."""
    lines = [BLANK, "000 List of X.509 End Certificates:", BLANK]
    for cert in certs:
        if not cert.is_ca:
            lines += cert_block("End", cert) + [BLANK]
    return "\n".join(lines)


def format_listcacerts(certs: Iterable[NssCert]) -> str:
    """``whack --listcacerts``: every CA (trusted or not), self-issued ones as ``Root CA``."""
    lines = [BLANK, "000 List of X.509 CA Certificates:", BLANK]
    for cert in certs:
        if cert.is_ca:
            lines += cert_block("Root CA" if cert.is_root else "CA", cert) + [BLANK]
    return "\n".join(lines)


def format_listcrls(crls: Sequence[bytes]) -> str:
    """``whack --listcrls``: issuer, number revoked and the two update times of each CRL."""
    lines = [BLANK, "000 List of CRLs:", BLANK]
    for i, blob in enumerate(crls):
        if i:
            lines.append(BLANK)
        try:
            crl = x509.load_der_x509_crl(blob)
        except ValueError:
            continue
        lines.append(f"000 issuer: {format_dn(crl.issuer.public_bytes())}")
        lines.append(f"000 revoked certs: {len(crl)}")
        lines.append(f"000 updates: this {format_time(crl.last_update_utc)}")
        after = crl.next_update_utc
        lines.append(f"000          next {format_time(after) if after is not None else '(none)'}")
    return "\n".join(lines)
