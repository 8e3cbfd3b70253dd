"""CERTREQ hashes, CERT payload data and sendcert= (pluto_core/x509/certreq.py)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from pluto_core.ikev2.enums import CertEncoding, PayloadType
from pluto_core.ikev2.payloads import PARSERS, Certificate, CertificateRequest
from pluto_core.x509 import dn as d
from pluto_core.x509.certreq import (
    CertPayloadError,
    build_certreq,
    ca_hash,
    cert_payloads,
    certs_to_send,
    decode_cert_payload,
    describe_certreq,
    parse_certreq,
    select_for_certreq,
)
from tests import x509_pki as pki


def _spki_from_der(cert_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo TLV, found by walking the certificate's DER (RFC 5280 4.1)."""
    _, pos, _ = d._read_tlv(cert_der, 0, len(cert_der))  # Certificate
    _, pos, end = d._read_tlv(cert_der, pos, len(cert_der))  # TBSCertificate
    fields = []
    while pos < end:
        _, start, stop = d._read_tlv(cert_der, pos, end)
        fields.append(cert_der[pos:stop])
        pos = stop
    # [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    assert fields[0][0] == 0xA0
    return fields[6]


@pytest.mark.parametrize("kind", ["rsa", "ecdsa", "ed25519"])
def test_ca_hash_is_sha1_of_the_spki(kind: pki.Kind) -> None:
    ca = pki.root("CN=CA", kind)
    der = ca.cert.public_bytes(serialization.Encoding.DER)
    assert ca_hash(ca.cert) == hashlib.sha1(_spki_from_der(der)).digest()
    # the same key re-issued is the same CA for a CERTREQ; another key is not
    again = pki.root("CN=CA renewed", kind)
    assert ca_hash(again.cert) == ca_hash(ca.cert)
    assert ca_hash(pki.root("CN=CA", kind, 3).cert) != ca_hash(ca.cert)


def test_certreq_round_trip_through_the_codec() -> None:
    cas = [pki.root("CN=A", "ecdsa", 0).cert, pki.root("CN=B", "rsa", 0).cert, pki.root("CN=C", "ed25519", 0).cert]
    payload = build_certreq([*cas, cas[0]])
    assert payload.encoding == CertEncoding.X509_SIGNATURE == 4
    body = payload.body()
    assert body[0] == 4 and len(body) == 1 + 3 * 20
    parsed = PARSERS[PayloadType.CERTREQ](body, 0, len(body), 0)
    assert isinstance(parsed, CertificateRequest)
    assert parse_certreq(parsed) == [ca_hash(c) for c in cas]
    assert describe_certreq(parse_certreq(parsed)[:2] + [b"\x01" * 20], cas) == \
        ["CN=A", "CN=B", "0x" + "01" * 20]


def test_certreq_bad_and_other_encodings() -> None:
    with pytest.raises(CertPayloadError, match="21 octets is not a list of SHA-1 hashes"):
        parse_certreq(CertificateRequest(4, b"\x00" * 21))
    assert parse_certreq(CertificateRequest(4, b"")) == []
    assert parse_certreq(CertificateRequest(CertEncoding.PKCS7_X509, b"\x00" * 20)) == []


def test_cert_payload_round_trip() -> None:
    root = pki.root()
    end = pki.issue("CN=end", pki.key("ecdsa", 1), root)
    (payload,) = cert_payloads([end.cert])
    body = payload.body()
    assert body[0] == 4 and body[1:] == end.cert.public_bytes(serialization.Encoding.DER)
    parsed = PARSERS[PayloadType.CERT](body, 0, len(body), 0)
    assert isinstance(parsed, Certificate)
    assert decode_cert_payload(parsed) == end.cert
    with pytest.raises(CertPayloadError, match="encoding 1 is not supported"):
        decode_cert_payload(Certificate(1, body[1:]))
    with pytest.raises(CertPayloadError, match="not a DER X.509 certificate"):
        decode_cert_payload(Certificate(4, body[1:-1]))


@pytest.fixture(scope="module")
def chain() -> tuple[list[pki.Issued], pki.Issued]:
    root = pki.root("CN=Root")
    a = pki.issue("CN=Intermediate A", pki.key("ecdsa", 2), root, ca=True)
    b = pki.issue("CN=Intermediate B", pki.key("ecdsa", 3), a, ca=True)
    end = pki.issue("CN=end", pki.key("ecdsa", 1), b)
    return [end, b, a], root


def test_select_for_certreq(chain: tuple[list[pki.Issued], pki.Issued]) -> None:
    issued, root = chain
    ours = [c.cert for c in issued]
    end, b, a = ours
    hash_of = {name: ca_hash(c) for name, c in (("b", b), ("a", a), ("root", root.cert))}
    assert select_for_certreq(ours, None) == []  # not asked
    assert select_for_certreq(ours, []) == ours  # asked, any CA
    assert select_for_certreq(ours, [hash_of["b"]]) == [end]
    assert select_for_certreq(ours, [b"\x00" * 20, hash_of["a"]]) == [end, b]
    # the root's hash: all intermediates, but only when we know the root's key
    assert select_for_certreq(ours, [hash_of["root"]], anchors=[root.cert]) == ours
    assert select_for_certreq(ours, [hash_of["root"]]) == ours
    # a root in our chain is never sent
    assert select_for_certreq([*ours, root.cert], [hash_of["root"]]) == ours
    # a self-signed end certificate is still sent
    assert select_for_certreq([root.cert], []) == [root.cert]


def test_certs_to_send(chain: tuple[list[pki.Issued], pki.Issued]) -> None:
    ours = [c.cert for c in chain[0]]
    assert certs_to_send("always", ours, None) == ours
    assert certs_to_send("yes", ours, [ca_hash(ours[1])]) == ours
    assert certs_to_send("ifasked", ours, None) == []
    assert certs_to_send("sendifasked", ours, [ca_hash(ours[1])]) == ours[:1]
    assert certs_to_send("never", ours, []) == [] == certs_to_send("no", ours, [])
    with pytest.raises(ValueError, match="sendcert=maybe"):
        certs_to_send("maybe", ours, None)
