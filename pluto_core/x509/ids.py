"""Does a certificate back an IKE identity?

RFC 4945 3.1 binds an ID to a certificate: ID_DER_ASN1_DN to the subject (3.1.5; a
subjectAltName directoryName is accepted too), ID_FQDN to a SAN dNSName (3.1.2),
ID_RFC822_ADDR to a SAN rfc822Name (3.1.3), ID_IPV4_ADDR/ID_IPV6_ADDR to a SAN iPAddress
(3.1.1). Libreswan checks this unless ``require-id-on-certificate=no``; the caller decides
whether a mismatch refuses the peer or is only logged. ``%fromcert`` makes the ID the
certificate's subject DN. A configured ``rightid=`` DN may hold ``*`` wildcards (see ``dn``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509

from pluto_core.ikev2.enums import IdType
from pluto_core.ikev2.types import IdSpec

from .dn import Ava, Dn, DnError, dn_from_der, dn_text, match_dn, parse_dn, same_dn


@dataclass(frozen=True, slots=True)
class IdMatch:
    """The answer of ``cert_matches_id``: true when the certificate backs the ID; ``reason``
    says why not, for the log; ``wildcards`` is how many ``*`` a DN pattern used."""

    ok: bool
    reason: str = ""
    wildcards: int = 0

    def __bool__(self) -> bool:
        return self.ok


def subject_dn(cert: x509.Certificate) -> Dn:
    """The certificate's subject, exactly as encoded in it."""
    return dn_from_der(cert.subject.public_bytes())


def fromcert_id(cert: x509.Certificate) -> IdSpec:
    """``leftid=%fromcert`` (and the default for a cert end): ID_DER_ASN1_DN of the subject,
    the certificate's own octets so a peer comparing DER byte for byte agrees."""
    der = cert.subject.public_bytes()
    return IdSpec(IdType.ID_DER_ASN1_DN, der, dn_text(der))


def is_dn_text(text: str) -> bool:
    """Is an ``leftid=`` value a DN (``C=CA, CN=..``) rather than ``@fqdn``, an address or
    ``user@domain``? Libreswan's rule: it has an ``=`` and is not an ``@`` form."""
    return "=" in text and not text.startswith(("@", "%"))


def id_from_text(text: str, cert: x509.Certificate | None = None) -> IdSpec:
    """An ID from config text, knowing DNs and ``%fromcert`` (``IdSpec.parse`` does the rest).

    With ``cert``, a DN that names its subject takes the subject's DER (string types as the
    certificate has them). Raises ``DnError`` for a bad DN, ``ValueError`` for ``%fromcert``
    without a certificate."""
    if text == "%fromcert":
        if cert is None:
            raise ValueError("ID %fromcert needs a certificate")
        return fromcert_id(cert)
    if not is_dn_text(text):
        return IdSpec.parse(text)
    dn = parse_dn(text)
    if cert is not None and not dn.has_wildcards and same_dn(dn, subject_dn(cert)):
        return fromcert_id(cert)
    return IdSpec(IdType.ID_DER_ASN1_DN, dn.der(), str(dn))


def id_text(ident: IdSpec) -> str:
    """The ID as a log line shows it (a DN as Libreswan's text, whatever ``ident.text`` is)."""
    if ident.id_type == IdType.ID_DER_ASN1_DN:
        return dn_text(ident.data)
    return ident.text


def _as_pattern(dn: Dn) -> Dn:
    """A DN from DER with each ``*`` value made a wildcard (a configured ``rightid=`` travels
    as an IdSpec, i.e. as DER)."""
    rdns = tuple(tuple(Ava(a.oid, a.value, a.tag, a.der_value, wildcard=True)
                       if a.is_string and a.value == "*" else a for a in rdn) for rdn in dn.rdns)
    return Dn(rdns)


def dn_pattern(der: bytes, *, wildcards: bool = True) -> Dn:
    """A configured DN ID (``rightid=`` as DER) for ``match_dn``: its ``*`` values made
    wildcards when ``wildcards``. ``DnError`` for DER that is not a Name."""
    dn = dn_from_der(der)
    return _as_pattern(dn) if wildcards else dn


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _dns_matches(pattern: str, fqdn: str) -> bool:
    """A SAN dNSName against an FQDN: case-insensitive, final dot ignored, and a ``*`` first
    label standing for exactly one label (RFC 6125 6.4.3)."""
    pattern = pattern.rstrip(".").lower()
    fqdn = fqdn.rstrip(".").lower()
    if pattern.startswith("*."):
        head, _, rest = fqdn.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == fqdn


def _email_matches(san: str, addr: str) -> bool:
    """rfc822Name: the local part exact, the domain case-insensitive (RFC 5280 4.2.1.6)."""
    local, _, domain = san.rpartition("@")
    a_local, _, a_domain = addr.rpartition("@")
    return local == a_local and domain.lower() == a_domain.lower()


def cert_matches_id(cert: x509.Certificate, ident: IdSpec, *, wildcards: bool = False) -> IdMatch:
    """Does ``cert`` back ``ident``? ``wildcards``: ``ident`` is a configured DN whose ``*``
    values match anything (never for an ID the peer sent)."""
    shown = f"{ident.kind_name} '{id_text(ident)}'"
    if ident.id_type == IdType.ID_DER_ASN1_DN:
        try:
            wanted = dn_from_der(ident.data)
        except DnError as e:
            return IdMatch(False, f"ID {shown} is not a valid DN: {e}")
        if wildcards:
            wanted = _as_pattern(wanted)
        subject = subject_dn(cert)
        used = match_dn(wanted, subject, wildcards=wildcards)
        if used is not None:
            return IdMatch(True, wildcards=used)
        san = _san(cert)
        for name in san.get_values_for_type(x509.DirectoryName) if san else ():
            used = match_dn(wanted, dn_from_der(name.public_bytes()), wildcards=wildcards)
            if used is not None:
                return IdMatch(True, wildcards=used)
        return IdMatch(False, f"certificate subject '{subject}' does not match ID {shown}")

    if ident.id_type not in (IdType.ID_FQDN, IdType.ID_RFC822_ADDR, IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
        return IdMatch(False, f"ID {shown} cannot be matched against a certificate")
    san = _san(cert)
    if san is None:
        return IdMatch(False, f"peer certificate contains no subjectAltName extension to match {shown}")
    if ident.id_type == IdType.ID_FQDN:
        fqdn = ident.data.decode("utf-8", "replace")
        ok = any(_dns_matches(n, fqdn) for n in san.get_values_for_type(x509.DNSName))
    elif ident.id_type == IdType.ID_RFC822_ADDR:
        addr = ident.data.decode("utf-8", "replace")
        ok = any(_email_matches(n, addr) for n in san.get_values_for_type(x509.RFC822Name))
    else:
        ok = any(isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address) and a.packed == ident.data
                 for a in san.get_values_for_type(x509.IPAddress))
    if ok:
        return IdMatch(True)
    return IdMatch(False, f"certificate subjectAltName extension does not match {shown}")
