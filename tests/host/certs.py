"""A test PKI for the host tier, valid around the real time (real daemons read the wall clock):
root CA -> intermediate ("Sub CA") -> end certificates for west and east, RSA and ECDSA; a
stranger's root; and ways to lay them out for our daemon (an ipsecdir with certs/, cacerts/,
crls/, private/) and to write keys as PEM."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests import x509_pki as pki

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)
ORG = "C=CA, O=Pluto Host"
ROOT_DN, SUB_DN = f"{ORG}, CN=Host Root CA", f"{ORG}, CN=Host Sub CA"
STRANGER_DN = "C=CA, O=Elsewhere, CN=Stranger CA"
WILDCARD = f"{ORG}, CN=*"
KINDS = ("rsa", "ecdsa")


def dn(host: str) -> str:
    return f"{ORG}, CN={host}"


def _ca(subject: str, key: pki.PrivateKey, issuer: pki.Issued | None) -> pki.Issued:
    return pki.issue(subject, key, issuer, ca=True, key_usage=["key_cert_sign", "crl_sign"],
                     not_before=NOW - 30 * DAY, not_after=NOW + 3650 * DAY)


@dataclass(frozen=True)
class HostPki:
    root: pki.Issued
    sub: pki.Issued
    stranger: pki.Issued


@cache
def host_pki() -> HostPki:
    """ECDSA root, RSA intermediate (so an RSA or ECDSA end certificate has a mixed chain); a stranger's root."""
    root = _ca(ROOT_DN, ec.generate_private_key(ec.SECP384R1()), None)
    sub = _ca(SUB_DN, rsa.generate_private_key(65537, 2048), root)
    stranger = _ca(STRANGER_DN, ec.generate_private_key(ec.SECP256R1()), None)
    return HostPki(root, sub, stranger)


def new_key(kind: str) -> pki.PrivateKey:
    return rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())


@cache
def end_cert(host: str, kind: str, *, expired: bool = False, stranger: bool = False) -> pki.Issued:
    """``host``'s certificate (CN=host) of ``kind`` under the intermediate (or the stranger's root)."""
    pk = host_pki()
    issuer = pk.stranger if stranger else pk.sub
    not_after = NOW - 2 * DAY if expired else NOW + 365 * DAY
    return pki.issue(dn(host), new_key(kind), issuer, key_usage=["digital_signature"],
                     not_before=NOW - 30 * DAY, not_after=not_after)


def published_cert(host: str, kind: str, *, crl_url: str | None = None, ocsp_url: str | None = None,
                   ocsp_signer: bool = False) -> pki.Issued:
    """A new certificate (its own serial, not cached) for ``host`` under the intermediate,
    naming where its status is published: a CRL distribution point, an OCSP responder (AIA).
    ``ocsp_signer``: a delegated OCSP responder's certificate instead (extendedKeyUsage
    id-kp-OCSPSigning, RFC 6960 4.2.2.2)."""
    extra: list[tuple[x509.ExtensionType, bool]] = []
    if crl_url is not None:
        extra.append((pki.crl_distribution_points(crl_url), False))
    if ocsp_url is not None:
        extra.append((pki.ocsp_access(ocsp_url), False))
    eku = [ExtendedKeyUsageOID.OCSP_SIGNING] if ocsp_signer else None
    return pki.issue(dn(host), new_key(kind), host_pki().sub, key_usage=["digital_signature"], eku=eku,
                     not_before=NOW - 30 * DAY, not_after=NOW + 365 * DAY, extra=extra)


def crl(revoked: list[x509.Certificate], issuer: pki.Issued | None = None) -> bytes:
    """A current CRL (PEM) by ``issuer`` (the intermediate) listing ``revoked`` as keyCompromise."""
    issuer = issuer or host_pki().sub
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
               .last_update(NOW - DAY).next_update(NOW + 7 * DAY)
               .add_extension(x509.CRLNumber(1), critical=False))
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(NOW - DAY)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build())
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: pki.PrivateKey, pkcs1: bool = False) -> bytes:
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def write_private(path: Path, key: pki.PrivateKey, pkcs1: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key_pem(key, pkcs1))
    path.chmod(0o600)
    return path


def our_ipsecdir(directory: Path, mine: pki.Issued, name: str, cas: list[pki.Issued],
                 crls: Sequence[bytes] = ()) -> tuple[Path, str]:
    """An ipsecdir for our daemon: certs/NAME.pem (our certificate alone: the x509 source adds
    the intermediate from cacerts/), cacerts/ (one file per CA), crls/, private/NAME.key; and
    the ipsec.secrets line naming the key (the files source finds it by the certificate's CKAID)."""
    for sub in ("certs", "cacerts", "crls", "private"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / "certs" / f"{name}.pem").write_bytes(pem(mine.cert))
    for n, ca in enumerate(cas):
        (directory / "cacerts" / f"ca{n}.pem").write_bytes(pem(ca.cert))
    for n, data in enumerate(crls):
        (directory / "crls" / f"crl{n}.pem").write_bytes(data)
    key = write_private(directory / "private" / f"{name}.key", mine.key)
    kind = "RSA" if isinstance(mine.key, rsa.RSAPrivateKey) else "ECDSA"
    return directory, f": {kind} {key}\n"
