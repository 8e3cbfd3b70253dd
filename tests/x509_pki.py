"""Small test PKIs made with ``cryptography``: CAs, intermediates and end certificates with
the extensions a test asks for, valid around a fixed ``NOW``."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
Kind = Literal["rsa", "ecdsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@cache
def key(kind: Kind, n: int = 0) -> PrivateKey:
    """The ``n``th key of a kind; cached, RSA keys are slow to make."""
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def name(text: str) -> x509.Name:
    """``CN=x`` or ``C=CA, O=Libreswan, CN=x, E=a@b`` (DER order as written)."""
    oids = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME,
            "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "CN": NameOID.COMMON_NAME, "E": NameOID.EMAIL_ADDRESS}
    attrs = []
    for part in text.split(", "):
        k, v = part.split("=", 1)
        attrs.append(x509.NameAttribute(oids[k], v))
    return x509.Name(attrs)


@dataclass
class Issued:
    cert: x509.Certificate
    key: PrivateKey


def issue(subject: str, key_: PrivateKey, issuer: Issued | None = None, *,
          ca: bool | None = None, path_length: int | None = None,
          not_before: dt.datetime = NOW - 30 * DAY, not_after: dt.datetime = NOW + 365 * DAY,
          key_usage: Sequence[str] | None = None, eku: Sequence[x509.ObjectIdentifier] | None = None,
          san: Sequence[x509.GeneralName] | None = None,
          extra: Sequence[tuple[x509.ExtensionType, bool]] = ()) -> Issued:
    """A certificate for ``subject`` signed by ``issuer`` (self-signed when None). ``ca``: add
    basicConstraints with that cA value (None: no basicConstraints); ``key_usage``: the
    KeyUsage bits to set (None: no extension)."""
    signer = issuer.key if issuer else key_
    builder = (x509.CertificateBuilder()
               .subject_name(name(subject))
               .issuer_name(issuer.cert.subject if issuer else name(subject))
               .public_key(key_.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key_.public_key()), critical=False))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    if key_usage is not None:
        bits: dict[str, Any] = dict.fromkeys(
            ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"], False)
        for bit in key_usage:
            bits[bit] = True
        builder = builder.add_extension(x509.KeyUsage(**bits), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    for ext, critical in extra:
        builder = builder.add_extension(ext, critical=critical)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key_)


def root(subject: str = "C=CA, O=Libreswan, CN=Test Root CA", kind: Kind = "ecdsa", n: int = 0,
         **kw: Any) -> Issued:
    return issue(subject, key(kind, n), None, ca=True, key_usage=["key_cert_sign", "crl_sign"], **kw)


def dns(*names: str) -> list[x509.GeneralName]:
    return [x509.DNSName(n) for n in names]


def ip(*addrs: str) -> list[x509.GeneralName]:
    return [x509.IPAddress(ipaddress.ip_address(a)) for a in addrs]


def email(*addrs: str) -> list[x509.GeneralName]:
    return [x509.RFC822Name(a) for a in addrs]


def crl_distribution_points(*urls: str) -> x509.CRLDistributionPoints:
    """A CRL Distribution Points extension (RFC 5280 4.2.1.13): one point per URL, each a
    ``fullName`` URI, no reasons (every reason), no cRLIssuer (the certificate's issuer signs)."""
    return x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
                                       for url in urls])


def ocsp_access(*urls: str) -> x509.AuthorityInformationAccess:
    """An Authority Information Access extension (RFC 5280 4.2.2.1) naming OCSP responders
    (id-ad-ocsp, RFC 6960 3.1)."""
    return x509.AuthorityInformationAccess([x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                                                   x509.UniformResourceIdentifier(url))
                                            for url in urls])
