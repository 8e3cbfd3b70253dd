"""Path validation of a peer's certificate chain, and ``rightca=``.

``verify_chain`` hands the end certificate, the intermediates the peer sent (CERT payloads)
and our trusted CA certificates to ``cryptography``'s X.509 verifier (RFC 5280 path
building, signatures, validity, basicConstraints, name constraints, unknown critical
extensions), with an extension policy for IKE instead of the web's:

- end certificate: no subjectAltName required (the ID check is ``ids``'s job); keyUsage, if
  present, must allow digitalSignature or nonRepudiation (RFC 4945 5.1.3.2: IKE signs);
  extendedKeyUsage, if present, must allow serverAuth, clientAuth, ipsecIKE (RFC 4945
  5.1.3.12) or anyExtendedKeyUsage. With custom policies the verifier checks no EKU itself.
- CA certificates: basicConstraints with cA (RFC 5280 4.2.1.9); keyUsage, if present, must
  allow keyCertSign (4.2.1.3).

The verifier decides; when it refuses, ``_diagnose`` walks the chain by names (no crypto)
to say why in words an operator understands; a refusal it cannot explain keeps the
verifier's own text.

What the verifier cannot be told (so it stays a refusal here): its algorithm policy is the
web's, so a certificate *signed* with Ed25519/Ed448 or by an RSA key under 2048 bits is
refused (SHA-1 signatures too: the verifier's own words are kept for those). Ed25519
end-entity keys under RSA or ECDSA CAs are fine (the end key's strength is the AUTH
signature check's business).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .dn import Dn, dn_from_der, dn_text, match_dn, parse_dn, same_dn

# RFC 4945 5.1.3.12 (ipsecIKE, RFC 4945 names it id-kp-ipsecIKE) and the usual TLS purposes
# CAs put in IKE certificates.
OID_IPSEC_IKE = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.17")
IKE_EKUS = frozenset({ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, OID_IPSEC_IKE,
                      ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE})
MIN_RSA_BITS = 2048  # the verifier's floor (Policy.minimum_rsa_modulus)


class ChainRefused(ValueError):
    """The peer's certificate (chain) is not accepted; the message is for the operator."""


def _name(cert: x509.Certificate) -> str:
    return dn_text(cert.subject.public_bytes())


def _when(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


# ------------------------------------------------------------------ the policy's checks

def _ee_key_usage_reason(ku: x509.KeyUsage | None) -> str | None:
    if ku is not None and not (ku.digital_signature or ku.content_commitment):
        return "key usage does not allow signatures"
    return None


def _ee_eku_reason(eku: x509.ExtendedKeyUsage | None) -> str | None:
    if eku is not None and not IKE_EKUS.intersection(eku):
        purposes = ", ".join(o._name if o._name != "Unknown OID" else o.dotted_string for o in eku)
        return f"extended key usage ({purposes}) allows neither IKE nor TLS server/client"
    return None


def _ca_key_usage_reason(cert: x509.Certificate, ku: x509.KeyUsage | None) -> str | None:
    if ku is not None and not ku.key_cert_sign:
        return f"key usage of CA '{_name(cert)}' does not allow signing certificates"
    return None


def _raise_if(reason: str | None) -> None:
    if reason is not None:
        raise ValueError(reason)


def _ee_ku(_: Policy, __: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    _raise_if(_ee_key_usage_reason(ku))


def _ee_eku(_: Policy, __: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    _raise_if(_ee_eku_reason(eku))


def _ca_ku(_: Policy, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    _raise_if(_ca_key_usage_reason(cert, ku))


def _policies() -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """(CA policy, end-entity policy). ``permit_all`` still refuses unknown critical
    extensions; cA=true in basicConstraints the verifier checks itself for every issuer."""
    ca = (ExtensionPolicy.permit_all()
          .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
          .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ca_ku))
    ee = (ExtensionPolicy.permit_all()
          .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ee_ku)
          .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _ee_eku))
    return ca, ee


# ------------------------------------------------------------------ diagnosis

def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _time_reason(cert: x509.Certificate, now: dt.datetime, what: str) -> str | None:
    if now > cert.not_valid_after_utc:
        return f"{what} expired on {_when(cert.not_valid_after_utc)}"
    if now < cert.not_valid_before_utc:
        return f"{what} not yet valid until {_when(cert.not_valid_before_utc)}"
    return None


def _algorithm_reason(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """What the verifier's web algorithm policy refuses in ``issuer``'s signature on ``cert``."""
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA key of {key.key_size} bits in '{_name(issuer)}' is below the {MIN_RSA_BITS}-bit minimum"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return (f"certificate '{_name(cert)}' is signed with EdDSA by '{_name(issuer)}': the path "
                "validator accepts RSA and ECDSA certificate signatures only")
    return None


def _issuers(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    issuer = dn_from_der(cert.issuer.public_bytes())
    return [c for c in pool if c != cert and same_dn(dn_from_der(c.subject.public_bytes()), issuer)]


def _diagnose(end: x509.Certificate, intermediates: Sequence[x509.Certificate],
              trusted: Sequence[x509.Certificate], now: dt.datetime, depth: int) -> str | None:
    """Why the verifier said no, found by names alone: the first problem along the chain."""
    reason = (_time_reason(end, now, "certificate")
              or _ee_key_usage_reason(_ext(end, x509.KeyUsage))  # type: ignore[arg-type]
              or _ee_eku_reason(_ext(end, x509.ExtendedKeyUsage)))  # type: ignore[arg-type]
    if reason:
        return reason
    cert = end
    for _ in range(depth):
        if cert in trusted:
            return None
        anchors = _issuers(cert, trusted)
        candidates = anchors or _issuers(cert, intermediates)
        if not candidates:
            return f"issuer not trusted (no CA for '{dn_text(cert.issuer.public_bytes())}')"
        issuer = candidates[0]
        reason = _algorithm_reason(cert, issuer) or _time_reason(issuer, now, f"CA certificate '{_name(issuer)}'")
        if reason:
            return reason
        bc = _ext(issuer, x509.BasicConstraints)
        if not isinstance(bc, x509.BasicConstraints) or not bc.ca:
            return f"not a CA: '{_name(issuer)}'"
        reason = _ca_key_usage_reason(issuer, _ext(issuer, x509.KeyUsage))  # type: ignore[arg-type]
        if reason:
            return reason
        if anchors:
            return None
        cert = issuer
    return f"certificate chain longer than {depth}"


def _verifier_text(e: VerificationError) -> str:
    text = re.sub(r"^validation failed: (candidates exhausted: )?", "", str(e))
    return "certificate chain refused: " + re.sub(r" \(encountered processing <.*>\)$", "", text)


# ------------------------------------------------------------------ public

def verify_chain(end: x509.Certificate, intermediates: Sequence[x509.Certificate],
                 trusted: Sequence[x509.Certificate], now: dt.datetime, *,
                 max_depth: int = 8) -> list[x509.Certificate]:
    """Validate ``end`` (with the ``intermediates`` the peer sent, in any order) against the
    ``trusted`` CA certificates at time ``now``.

    Returns the chain from ``end`` to a trust anchor (both included; a trusted ``end`` is a
    chain of one). Raises ``ChainRefused`` with the reason."""
    if not trusted:
        raise ChainRefused("no trusted CA certificates")
    ca_policy, ee_policy = _policies()
    verifier = (PolicyBuilder().store(Store(list(trusted))).time(now).max_chain_depth(max_depth)
                .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier())
    try:
        return list(verifier.verify(end, list(intermediates)).chain)
    except VerificationError as e:
        raise ChainRefused(_diagnose(end, intermediates, trusted, now, max_depth) or _verifier_text(e)) from None


def _as_dn(name: x509.Name | bytes | str) -> Dn:
    if isinstance(name, str):
        return parse_dn(name)
    return dn_from_der(name if isinstance(name, bytes) else name.public_bytes())


def check_ca(chain: Sequence[x509.Certificate], rightca: str | None, *,
             our_ca: x509.Name | bytes | str | None = None) -> int:
    """``rightca=``: the verified ``chain`` must pass through, or end at, a CA whose subject
    matches. ``%any``: any trusted CA will do. ``%same`` (and an unset ``rightca=``): the CA
    named by ``our_ca`` (our ``leftca=`` as written, else our certificate's issuer; None: no
    constraint).
    Otherwise a DN, ``*`` wildcards allowed.

    Returns how many wildcards the matching CA's DN needed; raises ``ChainRefused``."""
    if rightca == "%any":
        return 0
    if rightca in (None, "%same"):
        if our_ca is None:
            return 0
        pattern, shown = _as_dn(our_ca), ("%same (leftca=)" if isinstance(our_ca, str) else "%same")
    else:
        pattern, shown = parse_dn(rightca), rightca
    cas = list(chain[1:]) or list(chain[:1])
    best: int | None = None
    for ca in cas:
        used = match_dn(pattern, dn_from_der(ca.subject.public_bytes()))
        if used is not None and (best is None or used < best):
            best = used
    if best is None:
        names = ", ".join(f"'{_name(c)}'" for c in cas)
        raise ChainRefused(f"no CA in the chain ({names}) matches rightca={shown} '{pattern}'")
    return best
