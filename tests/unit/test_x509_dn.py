"""Libreswan's DN text syntax, DER Names and wildcard matching (pluto_core/x509/dn.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pluto_core.x509 import dn as d

WEST = ("C=CA, ST=Ontario, L=Toronto, O=Libreswan, OU=Test Department, "
        "CN=west.testing.libreswan.org, E=user-west@testing.libreswan.org")


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


WEST_NAME = _name((NameOID.COUNTRY_NAME, "CA"), (NameOID.STATE_OR_PROVINCE_NAME, "Ontario"),
                  (NameOID.LOCALITY_NAME, "Toronto"), (NameOID.ORGANIZATION_NAME, "Libreswan"),
                  (NameOID.ORGANIZATIONAL_UNIT_NAME, "Test Department"),
                  (NameOID.COMMON_NAME, "west.testing.libreswan.org"),
                  (NameOID.EMAIL_ADDRESS, "user-west@testing.libreswan.org"))


def test_parse_matches_cryptography_name() -> None:
    # Same attributes and order as the Name cryptography builds: semantically the same; and
    # formatting cryptography's DER gives Libreswan's text back.
    ours = d.parse_dn(WEST)
    theirs = d.dn_from_der(WEST_NAME.public_bytes())
    assert d.same_dn(ours, theirs)
    assert d.format_dn(WEST_NAME.public_bytes()) == WEST
    # E= is emailAddress (PKCS#9) as IA5String; C= a PrintableString
    assert ours.rdns[-1][0].oid == "1.2.840.113549.1.9.1"
    assert ours.rdns[-1][0].tag == d.TAG_IA5
    assert ours.rdns[0][0].tag == d.TAG_PRINTABLE


def test_our_der_is_cryptographys_der() -> None:
    # byte for byte what cryptography encodes for the same attributes and string types
    # (PrintableString where the value fits, IA5String for emailAddress), multi-valued RDN sorted
    P, IA5 = _ASN1Type.PrintableString, _ASN1Type.IA5String
    name = x509.Name([x509.NameAttribute(a.oid, a.value, _type=a._type) for a in [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CA", _type=P),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Test Department", _type=P),
        x509.NameAttribute(NameOID.COMMON_NAME, "caf\u00e9"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "user-west@testing.libreswan.org", _type=IA5)]])
    assert d.dn_to_der("C=CA, OU=Test Department, CN=caf\u00e9, E=user-west@testing.libreswan.org") \
        == name.public_bytes()
    multi = x509.Name([x509.RelativeDistinguishedName([
        x509.NameAttribute(NameOID.USER_ID, "b", _type=P), x509.NameAttribute(NameOID.COMMON_NAME, "a", _type=P)])])
    assert d.dn_to_der("UID=b+CN=a") == multi.public_bytes() == d.dn_to_der("CN=a+UID=b")


@pytest.mark.parametrize("text", [
    WEST,
    "E=user-west@testing.libreswan.org, CN=west.testing.libreswan.org, OU=Test Department, "
    "O=Libreswan, L=Toronto, ST=Ontario, C=CA",
    "CN=comma\\,.testing.libreswan.org, E=user-comma\\,@testing.libreswan.org",
    "CN=a+UID=b, OU=Research/Development",
    "O=Foo \\+ Bar, CN=back\\\\slash, OU=\\#hash, OU=quote\\\"d",
    "CN=\\ leading and trailing\\ ",
    "CN=caf\u00e9, OU=\u6771\u4eac",
    "CN=x, OID.1.2.3.4=value, DC=example, DC=org",
    "SN=Surname, serialNumber=1234, T=Title, GN=Given, UID=jdoe, I=JD",
])
def test_text_round_trip(text: str) -> None:
    dn = d.parse_dn(text)
    assert str(dn) == text
    assert d.format_dn(dn.der()) == text
    assert d.dn_from_der(dn.der()).der() == dn.der()


def test_escapes_and_quotes() -> None:
    dn = d.parse_dn('OU="Foo, Bar and associates", CN=\\41\\42c, O=caf\\C3\\A9')
    assert [a.value for rdn in dn.rdns for a in rdn] == ["Foo, Bar and associates", "ABc", "caf\u00e9"]
    assert str(dn) == "OU=Foo\\, Bar and associates, CN=ABc, O=caf\u00e9"
    # Libreswan's id.xml example: a comma masked with a backslash
    assert d.parse_dn("OU=Foo\\, Bar and associates").rdns[0][0].value == "Foo, Bar and associates"


def test_multi_valued_rdn_is_one_set() -> None:
    dn = d.parse_dn("CN=a+UID=b, O=x")
    assert len(dn.rdns) == 2 and len(dn.rdns[0]) == 2
    # cryptography agrees it is one RDN of two attributes
    name = x509.Name([x509.RelativeDistinguishedName([
        x509.NameAttribute(NameOID.COMMON_NAME, "a"), x509.NameAttribute(NameOID.USER_ID, "b")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")])])
    assert d.same_dn(dn, d.dn_from_der(name.public_bytes()))
    # order inside the SET does not matter, order of RDNs does
    assert d.same_dn(d.parse_dn("UID=b+CN=a, O=x"), dn)
    assert not d.same_dn(d.parse_dn("O=x, CN=a+UID=b"), dn)


def test_slash_forms() -> None:
    comma = d.parse_dn("C=CA, ST=Ontario, O=Libreswan, OU=Test Department, CN=east.testing.libreswan.org")
    assert d.same_dn(d.parse_dn("C=CA/ST=Ontario/O=Libreswan/OU=Test Department/CN=east.testing.libreswan.org"),
                     comma)
    assert d.same_dn(d.parse_dn("/C=CA/ST=Ontario/O=Libreswan/OU=Test Department/CN=east.testing.libreswan.org"),
                     comma)
    # OpenSSL's form: "," is part of the value
    assert str(d.parse_dn("/O=Foo, Inc./CN=x")) == "O=Foo\\, Inc., CN=x"
    # a "/" not followed by an attribute stays in the value, and one that would be is escaped
    assert d.parse_dn("OU=R/D, CN=x").rdns[0][0].value == "R/D"
    tricky = d.parse_dn("OU=a\\/CN=b")
    assert len(tricky.rdns) == 1 and str(tricky) == "OU=a\\/CN=b"


def test_comparison_folds_case_space_and_string_type() -> None:
    printable = d.parse_dn("C=CA, CN=Libreswan test CA")
    utf8 = d.dn_from_der(_name((NameOID.COUNTRY_NAME, "CA"),
                               (NameOID.COMMON_NAME, "Libreswan test CA")).public_bytes())
    assert utf8.rdns[1][0].tag == d.TAG_UTF8 and printable.rdns[1][0].tag == d.TAG_PRINTABLE
    assert d.same_dn(printable, utf8)
    assert d.same_dn(d.parse_dn("C=cA, CN=libreswan  TEST ca"), printable)
    assert not d.same_dn(d.parse_dn("C=CA, CN=Libreswan test CB"), printable)
    assert not d.same_dn(d.parse_dn("C=CA"), printable)
    assert not d.same_dn(d.parse_dn("C=CA, O=Libreswan test CA"), printable)


def test_wildcards() -> None:
    subject = d.parse_dn(WEST)
    assert d.match_dn(d.parse_dn(WEST), subject) == 0
    pattern = d.parse_dn("C=CA, ST=Ontario, L=Toronto, O=Libreswan, OU=Test Department, CN=*, E=*")
    assert pattern.has_wildcards and d.match_dn(pattern, subject) == 2
    assert d.match_dn(d.parse_dn("C=*, ST=*, L=*, O=*, OU=*, CN=west.testing.libreswan.org, E=*"),
                      subject) == 6
    assert d.match_dn(d.parse_dn("C=*, ST=*, L=*, O=*, OU=*, CN=road.testing.libreswan.org, E=*"),
                      subject) is None
    # order and count must match; the attribute must be the same
    assert d.match_dn(d.parse_dn("E=*, CN=*, OU=*, O=*, L=*, ST=*, C=*"), subject) is None
    assert d.match_dn(d.parse_dn("C=*, ST=*, L=*, O=*, OU=*, CN=*"), subject) is None
    assert d.match_dn(d.parse_dn("C=*, ST=*, L=*, O=*, OU=*, CN=*, UID=*"), subject) is None
    # no wildcards when asked (a received ID), and an escaped or quoted "*" is literal
    assert d.match_dn(pattern, subject, wildcards=False) is None
    assert not d.parse_dn("CN=\\*").has_wildcards and not d.parse_dn('CN="*"').has_wildcards
    literal = d.dn_from_der(_name((NameOID.COMMON_NAME, "*")).public_bytes())
    assert str(literal) == "CN=\\*" and d.same_dn(d.parse_dn(str(literal)), literal)


def test_legacy_double_comma() -> None:
    old = "E=user-comma,,@testing.libreswan.org,CN=comma,,.testing.libreswan.org,OU=Test Department"
    new = d.legacy_double_comma(old)
    assert new == "E=user-comma\\,@testing.libreswan.org,CN=comma\\,.testing.libreswan.org,OU=Test Department"
    assert str(d.parse_dn(new)) == ("E=user-comma\\,@testing.libreswan.org, CN=comma\\,.testing.libreswan.org, "
                                    "OU=Test Department")
    assert d.legacy_double_comma(WEST) is None
    with pytest.raises(d.DnError, match="empty RDN"):
        d.parse_dn(old)


@pytest.mark.parametrize(("text", "message", "part"), [
    ("", "empty DN", ""),
    ("CN", "missing '='", "CN"),
    ("CN=a, foo, O=b", "missing '=' in 'foo'", "foo"),
    ("CN=a,,O=b", "empty RDN", ",,"),
    ("XX=a", "unknown attribute 'XX'", "XX"),
    ("=a", "missing attribute name", "=a"),
    ("CN=a\\", "lone backslash", "a\\"),
    ('CN="a', "unterminated quote", '"a'),
    ('CN="a"b', "unexpected 'b'", "b"),
    ("CN=a,", "ends with a separator", ","),
    ("CN=, O=x", "empty value", ""),
    ("C=CAN", "not a 2-letter code", "CAN"),
    ("O=#zz", "bad #hex value", "#zz"),
    ("CN=\\ff\\fe", "not UTF-8", "\\ff\\fe"),
    ("OID.1.99=x", "invalid OID", "1.99"),
])
def test_bad_dn_text(text: str, message: str, part: str) -> None:
    with pytest.raises(d.DnError, match=re.escape(message)) as info:
        d.parse_dn(text)
    assert isinstance(info.value, ValueError)
    assert info.value.part == part


@pytest.mark.parametrize("der", [
    b"", b"\x31\x00", b"\x30\x03\x31\x01", bytes.fromhex("3005310330010c"),
    bytes.fromhex("300a3108300602010113017a"),  # AVA type is an INTEGER, not an OID
    bytes.fromhex("3081053103300100"),  # non-minimal length
])
def test_bad_der(der: bytes) -> None:
    with pytest.raises(d.DnError):
        d.dn_from_der(der)
    assert d.dn_text(der) == "0x" + der.hex().upper()


def test_non_string_value_prints_as_hex_and_round_trips() -> None:
    # an AVA whose value is an INTEGER (RFC 4514 2.4: "#" and the BER in hex)
    der = bytes.fromhex("300c310a300806032a030402012a")
    dn = d.dn_from_der(der)
    assert str(dn) == "OID.1.2.3.4=#02012a"
    assert d.parse_dn(str(dn)).der() == der


def test_long_values_use_long_form_lengths() -> None:
    dn = d.parse_dn("CN=" + "x" * 300 + ", O=y")
    assert d.dn_from_der(dn.der()).rdns[0][0].value == "x" * 300
    assert d.dn_from_der(dn.der()).der() == dn.der()


_VALUE = st.text(st.characters(blacklist_categories=("Cs",), min_codepoint=1), min_size=1, max_size=20)
_ATTR = st.sampled_from(["C", "ST", "L", "O", "OU", "CN", "E", "DC", "UID", "serialNumber", "OID.1.3.6.1.4.1.9.7"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(_ATTR, _VALUE), min_size=1, max_size=3), min_size=1, max_size=5))
def test_format_then_parse_is_the_same_name(rdns: list[list[tuple[str, str]]]) -> None:
    avas = []
    for rdn in rdns:
        avas.append(tuple(d._string_ava(d._attribute(k, k), v if k != "C" else (v + "xx")[:2], d.TAG_UTF8)
                          for k, v in rdn))
    dn = d.Dn(tuple(avas))
    text = d.format_dn(dn.der())
    again = d.parse_dn(text)
    assert d.same_dn(again, dn)
    assert str(again) == text


# ------------------------------------------------------------------ the corpus

_QUOTED = re.compile(r"'((?:C|E|CN)=[^']*)'")
_CONF_ID = re.compile(r'(?:left|right)(?:id|ca)="((?:[A-Za-z]+)=[^"]*)"')


def _corpus_lines(corpus: Path) -> list[str]:
    lines = []
    for path in sorted((corpus / "libreswan-expect").glob("*/*.console.txt")):
        lines += path.read_text(errors="replace").splitlines()
    return lines


def test_corpus_console_dns_round_trip(corpus: Path) -> None:
    # every DN Libreswan printed in quotes (IDs, issuers, "CAs:") reads back to the same text
    seen = {m.group(1) for line in _corpus_lines(corpus) for m in _QUOTED.finditer(line)}
    seen = {s for s in seen if "=" in s and not s.startswith("CN=${")}
    assert len(seen) >= 8
    for text in seen:
        assert str(d.parse_dn(text)) == text, text
        assert d.format_dn(d.dn_to_der(text)) == text


def test_corpus_connectionstatus_ids(corpus: Path) -> None:
    # "our id=...; their id=..." lines: our text of the configured DN is Libreswan's
    status = corpus / "libreswan-expect" / "addconn-40-id" / "west.console.txt"
    conf = (corpus / "libreswan-expect" / "addconn-40-id" / "west.conf").read_text()
    printed = {}
    for line in status.read_text().splitlines():
        m = re.match(r'"(addconn-rightid-x509[^"]*)":.*; their id=(.*)$', line)
        if m:
            printed[m.group(1)] = m.group(2)
    configured = dict(re.findall(r'conn (addconn-rightid-x509\S*)\n(?:.*\n)*?\s*rightid="([^"]*)"', conf))
    assert set(printed) == {"addconn-rightid-x509", "addconn-rightid-x509-comma-comma"} == set(configured)
    for conn, text in configured.items():
        text = d.legacy_double_comma(text) or text
        assert str(d.parse_dn(text)) == printed[conn]


def test_corpus_config_dns_parse(corpus: Path) -> None:
    found = set()
    for path in sorted((corpus / "libreswan-conf").glob("*.conf")):
        found |= set(_CONF_ID.findall(path.read_text(errors="replace")))
    assert len(found) >= 20
    for text in found:
        text = d.legacy_double_comma(text) or text
        dn = d.parse_dn(text)
        assert d.same_dn(d.parse_dn(str(dn)), dn) or dn.has_wildcards, text
