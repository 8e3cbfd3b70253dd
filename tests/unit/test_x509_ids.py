"""IKE IDs against certificates: subject DN, SAN, %fromcert (pluto_core/x509/ids.py)."""

from __future__ import annotations

import pytest
from cryptography import x509

from pluto_core.ikev2.enums import IdType
from pluto_core.ikev2.types import IdSpec
from pluto_core.x509 import dn as d
from pluto_core.x509.ids import cert_matches_id, fromcert_id, id_from_text, id_text, is_dn_text
from tests import x509_pki as pki

EAST = ("C=CA, ST=Ontario, L=Toronto, O=Libreswan, OU=Test Department, "
        "CN=east.testing.libreswan.org, E=user-east@testing.libreswan.org")


@pytest.fixture(scope="module")
def east() -> x509.Certificate:
    ca = pki.root()
    san = [*pki.dns("east.testing.libreswan.org", "*.vpn.example.org"), *pki.ip("192.1.2.23", "2001:db8::23"),
           *pki.email("user-east@testing.libreswan.org"),
           x509.DirectoryName(pki.name("C=CA, O=Other, CN=alias"))]
    return pki.issue(EAST, pki.key("ecdsa", 1), ca, san=san).cert


@pytest.fixture(scope="module")
def nosan() -> x509.Certificate:
    return pki.issue(EAST, pki.key("ecdsa", 1), pki.root()).cert


def test_fromcert(east: x509.Certificate) -> None:
    ident = id_from_text("%fromcert", east)
    assert ident == fromcert_id(east)
    assert ident.id_type == IdType.ID_DER_ASN1_DN and ident.kind_name == "DER_ASN1_DN"
    assert ident.data == east.subject.public_bytes()
    assert ident.text == EAST
    assert cert_matches_id(east, ident)
    with pytest.raises(ValueError, match="%fromcert needs a certificate"):
        id_from_text("%fromcert")


def test_dn_text_takes_the_certificates_octets(east: x509.Certificate) -> None:
    # cryptography wrote CN as UTF8String; our own encoding would say PrintableString
    alone = id_from_text(EAST)
    assert alone.data != east.subject.public_bytes() and alone.text == EAST
    assert id_from_text(EAST, east).data == east.subject.public_bytes()
    assert id_from_text(EAST.replace("east.", "EAST."), east).data == east.subject.public_bytes()
    other = id_from_text(EAST.replace("east.", "west."), east)
    assert other.data == d.dn_to_der(EAST.replace("east.", "west."))


def test_is_dn_text_and_other_ids() -> None:
    assert is_dn_text("CN=x") and is_dn_text("C=CA/CN=x")
    assert not is_dn_text("@east") and not is_dn_text("user@x") and not is_dn_text("192.1.2.23")
    assert not is_dn_text("%any")
    assert id_from_text("@east") == IdSpec.parse("@east")
    assert id_from_text("192.1.2.23").id_type == IdType.ID_IPV4_ADDR
    with pytest.raises(d.DnError, match="unknown attribute"):
        id_from_text("XX=1, CN=x")


def test_dn_exact_and_refused(east: x509.Certificate) -> None:
    assert cert_matches_id(east, id_from_text(EAST))
    assert cert_matches_id(east, id_from_text(EAST.lower()))  # case-insensitive values
    # the SAN directoryName backs a DN ID too (RFC 4945 3.1.5)
    assert cert_matches_id(east, id_from_text("C=CA, O=Other, CN=alias"))
    wrong = id_from_text(EAST.replace("CN=east.", "CN=NOTeast."))
    m = cert_matches_id(east, wrong)
    assert not m
    assert m.reason == (f"certificate subject '{EAST}' does not match ID DER_ASN1_DN "
                        f"'{EAST.replace('CN=east.', 'CN=NOTeast.')}'")
    # RDN order matters
    reversed_ = ", ".join(reversed(EAST.split(", ")))
    assert not cert_matches_id(east, id_from_text(reversed_))


def test_dn_wildcards(east: x509.Certificate) -> None:
    pattern = id_from_text("C=CA, ST=Ontario, L=Toronto, O=Libreswan, OU=Test Department, CN=*, E=*")
    assert pattern.text.endswith("CN=*, E=*")
    m = cert_matches_id(east, pattern, wildcards=True)
    assert m and m.wildcards == 2
    # a peer's ID with "*" in it is a literal value
    assert not cert_matches_id(east, pattern)
    other = id_from_text("C=*, ST=*, L=*, O=*, OU=*, CN=road.testing.libreswan.org, E=*")
    assert not cert_matches_id(east, other, wildcards=True)


def test_fqdn(east: x509.Certificate, nosan: x509.Certificate) -> None:
    assert cert_matches_id(east, IdSpec.parse("@east.testing.libreswan.org"))
    assert cert_matches_id(east, IdSpec.parse("@EAST.testing.libreswan.org."))
    assert cert_matches_id(east, IdSpec.parse("@gw.vpn.example.org"))  # SAN *.vpn.example.org
    assert not cert_matches_id(east, IdSpec.parse("@a.gw.vpn.example.org"))  # one label only
    assert not cert_matches_id(east, IdSpec.parse("@vpn.example.org"))
    m = cert_matches_id(east, IdSpec.parse("@west.testing.libreswan.org"))
    assert m.reason == "certificate subjectAltName extension does not match FQDN '@west.testing.libreswan.org'"
    m = cert_matches_id(nosan, IdSpec.parse("@east.testing.libreswan.org"))
    assert m.reason == ("peer certificate contains no subjectAltName extension to match "
                        "FQDN '@east.testing.libreswan.org'")
    # the DNS name in the CN is not enough (RFC 4945 3.1.2: SAN)
    assert not cert_matches_id(nosan, IdSpec.parse("@east.testing.libreswan.org"))


def test_email(east: x509.Certificate) -> None:
    assert cert_matches_id(east, IdSpec.parse("user-east@testing.libreswan.org"))
    assert cert_matches_id(east, IdSpec.parse("user-east@TESTING.libreswan.org"))
    m = cert_matches_id(east, IdSpec.parse("USER-east@testing.libreswan.org"))
    assert not m and "USER_FQDN 'USER-east@testing.libreswan.org'" in m.reason
    # E= in the subject is not an rfc822Name SAN
    assert not cert_matches_id(pki.issue(EAST, pki.key("ecdsa", 1), pki.root()).cert,
                               IdSpec.parse("user-east@testing.libreswan.org"))


def test_ip(east: x509.Certificate, nosan: x509.Certificate) -> None:
    assert cert_matches_id(east, IdSpec.parse("192.1.2.23"))
    assert cert_matches_id(east, IdSpec.parse("2001:db8:0::23"))
    m = cert_matches_id(east, IdSpec.parse("192.1.2.45"))
    assert m.reason == "certificate subjectAltName extension does not match IPV4_ADDR '192.1.2.45'"
    # Libreswan's words (ikev2-x509-* transcripts)
    m = cert_matches_id(nosan, IdSpec.parse("192.1.2.23"))
    assert m.reason == "peer certificate contains no subjectAltName extension to match IPV4_ADDR '192.1.2.23'"
    # an IPv4 ID is not matched by the same digits in a dNSName
    dnsonly = pki.issue("CN=x", pki.key("ecdsa", 1), pki.root(), san=pki.dns("192.1.2.23")).cert
    assert not cert_matches_id(dnsonly, IdSpec.parse("192.1.2.23"))


def test_unmatchable_and_bad_ids(east: x509.Certificate) -> None:
    m = cert_matches_id(east, IdSpec.parse("@#1234"))
    assert not m and m.reason == "ID KEY_ID '@#1234' cannot be matched against a certificate"
    assert not cert_matches_id(east, IdSpec.parse("%null"))
    bad = IdSpec.from_wire(IdType.ID_DER_ASN1_DN, b"\x12\x34")
    m = cert_matches_id(east, bad)
    assert not m and m.reason.startswith("ID DER_ASN1_DN '0x1234' is not a valid DN")
    assert id_text(bad) == "0x1234"
    assert id_text(IdSpec.from_wire(IdType.ID_DER_ASN1_DN, east.subject.public_bytes())) == EAST
