"""CERT and CERTREQ payload data for X.509 (RFC 7296 3.6, 3.7), and what ``sendcert=`` sends.

- CERTREQ with encoding 4 (X.509 Certificate - Signature) carries the 20-octet SHA-1 hashes
  of the trusted CAs' SubjectPublicKeyInfo, concatenated (3.7): ``ca_hash``,
  ``build_certreq``, ``parse_certreq``.
- CERT with encoding 4 carries one DER certificate (3.6): ``cert_payloads``,
  ``decode_cert_payload``.
- ``certs_to_send``: Libreswan's ``sendcert=always|ifasked|never`` (and ``yes``,
  ``sendifasked``, ``no``), with ``select_for_certreq`` picking the certificates for a
  peer that asked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pluto_core.ikev2.enums import CertEncoding
from pluto_core.ikev2.parse_error import ParseError
from pluto_core.ikev2.payloads import Certificate, CertificateRequest

from .dn import dn_text


class CertPayloadError(ValueError):
    """A CERT/CERTREQ payload this module cannot use; the message says why."""


def ca_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the certificate's DER SubjectPublicKeyInfo: how a CERTREQ names a CA (3.7)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki).digest()


def build_certreq(cas: Iterable[x509.Certificate]) -> CertificateRequest:
    """One CERTREQ naming every trusted CA (duplicates, e.g. a re-issued CA, once)."""
    hashes = dict.fromkeys(ca_hash(c) for c in cas)
    return CertificateRequest(CertEncoding.X509_SIGNATURE, b"".join(hashes))


def parse_certreq(payload: CertificateRequest) -> list[bytes]:
    """The CA hashes of a received CERTREQ; empty for an encoding other than 4 (RFC 7296 3.7:
    other encodings are not used for IKEv2 X.509 trust anchors, so there is nothing to match).
    An empty list from an encoding-4 CERTREQ means "any CA"."""
    if payload.encoding != CertEncoding.X509_SIGNATURE:
        return []
    try:
        return payload.ca_hashes
    except ParseError as e:
        raise CertPayloadError(str(e)) from None


def cert_payloads(certs: Iterable[x509.Certificate]) -> list[Certificate]:
    """CERT payloads, encoding 4, one DER certificate each: end certificate first (3.6)."""
    return [Certificate(CertEncoding.X509_SIGNATURE, c.public_bytes(serialization.Encoding.DER)) for c in certs]


def decode_cert_payload(payload: Certificate) -> x509.Certificate:
    """The certificate of an encoding-4 CERT payload; ``CertPayloadError`` otherwise."""
    if payload.encoding != CertEncoding.X509_SIGNATURE:
        raise CertPayloadError(f"certificate encoding {payload.encoding} is not supported "
                               "(only 4, X.509 Certificate - Signature)")
    try:
        return x509.load_der_x509_certificate(payload.data)
    except ValueError as e:
        raise CertPayloadError(f"CERT payload is not a DER X.509 certificate: {e}") from None


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer.public_bytes() == cert.subject.public_bytes()


# sendca= -> how many certificates at most, the end one included (-1: no cap)
SENDCA = {"none": 1, "issuer": 2, "all": -1}


def select_for_certreq(chain: Sequence[x509.Certificate], hashes: Sequence[bytes] | None, *,
                       anchors: Sequence[x509.Certificate] = ()) -> list[x509.Certificate]:
    """What to send a peer that may have asked (``sendcert=ifasked``).

    ``chain``: our end certificate first, then our intermediates (a root at the end is never
    sent). ``hashes``: the received CERTREQ hashes, None when no CERTREQ came (then nothing).
    When a hash names a CA of our chain (an intermediate in ``chain`` or a root in
    ``anchors``), send the certificates up to just below it; with no hashes, or none we know,
    send the end certificate and all intermediates, and let the peer judge (RFC 7296 3.7:
    the CERTREQ is a hint)."""
    if hashes is None or not chain:
        return []
    sendable = [c for c in chain if not _self_signed(c)] or list(chain[:1])
    wanted = set(hashes)
    for i, cert in enumerate(sendable):
        issuers = [c for c in [*chain[i + 1:], *anchors]
                   if c.subject.public_bytes() == cert.issuer.public_bytes()]
        if any(ca_hash(c) in wanted for c in issuers):
            return sendable[: i + 1]
    return sendable


def certs_to_send(sendcert: str, chain: Sequence[x509.Certificate], hashes: Sequence[bytes] | None, *,
                  anchors: Sequence[x509.Certificate] = (), sendca: str = "all") -> list[x509.Certificate]:
    """``sendcert=``: ``always``/``yes`` sends end certificate and intermediates,
    ``ifasked``/``sendifasked`` does so only after a CERTREQ (``select_for_certreq``),
    ``never``/``no`` sends nothing. ``sendca=`` then caps the CA certificates that go with
    the end certificate: ``all`` (every intermediate, never a root), ``issuer`` (the one
    that issued ours), ``none``."""
    mode = sendcert.lower()
    if mode in ("always", "yes"):
        chosen = select_for_certreq(chain, [], anchors=anchors)
    elif mode in ("ifasked", "sendifasked"):
        chosen = select_for_certreq(chain, hashes, anchors=anchors)
    elif mode in ("never", "no"):
        return []
    else:
        raise ValueError(f"sendcert={sendcert} is not always, ifasked or never")
    cap = SENDCA.get(sendca.lower())
    if cap is None:
        raise ValueError(f"sendca={sendca} is not none, issuer or all")
    return chosen if cap < 0 else chosen[:cap]


def describe_certreq(hashes: Sequence[bytes], cas: Iterable[x509.Certificate]) -> list[str]:
    """The requested CAs as log text: a known CA by its subject, others by hash."""
    known = {ca_hash(c): dn_text(c.subject.public_bytes()) for c in cas}
    return [known.get(h, "0x" + h.hex()) for h in hashes]
