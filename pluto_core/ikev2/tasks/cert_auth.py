"""X.509 in IKE_SA_INIT and IKE_AUTH (RFC 7296 2.15, 3.6, 3.7): the CERTREQ we send, the
CERT payloads we send, and the peer's chain checked before its AUTH.

What runs in the lookup job (``ike_auth.find``, off the daemon's loop): our chain
(``our_certs``) and the check of the peer's (``peer_key``): decode its CERT payloads,
validate the path to our trust anchors at the wall-clock time, ``rightca=``, its ID on the
certificate (RFC 4945 3.1), then the port's ``check_chain`` (revocation, which may wait on
the network). The AUTH signature is then verified with the end certificate's key by
``SignatureAuth``. ``certreq`` is built on the loop for the IKE_SA_INIT response: trust
anchors are held in memory by the sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from pluto_core.ikev2.enums import IdType
from pluto_core.ikev2.payloads import Certificate, CertificateRequest, Payload
from pluto_core.ikev2.ports import Credentials
from pluto_core.ikev2.types import EngineConn, IdSpec
from pluto_core.x509.certreq import (
    CertPayloadError,
    build_certreq,
    cert_payloads,
    certs_to_send,
    decode_cert_payload,
    parse_certreq,
)
from pluto_core.x509.dn import DnError, dn_from_der, dn_text, match_dn
from pluto_core.x509.expiry import unusable
from pluto_core.x509.ids import cert_matches_id, dn_pattern
from pluto_core.x509.verify import ChainRefused, check_ca, verify_chain


class CertRefused(Exception):
    """Why the peer's certificate does not prove its ID (logged; AUTHENTICATION_FAILED)."""


@dataclass(frozen=True, slots=True)
class PeerCert:
    """A validated peer chain: the key its AUTH must verify with, and the log's names."""

    key: Any
    subject: str
    issuer: str


def certreq(credentials: Credentials, conn: EngineConn) -> CertificateRequest | None:
    """Our CERTREQ (3.7): the hashes of our trust anchors, for a conn whose peer shows a
    certificate; None when we trust no CA (a CERTREQ naming none would mean "any")."""
    if not conn.remote_certs:
        return None
    anchors = credentials.trust_anchors(conn)
    return build_certreq(anchors) if anchors else None


def received_certreq(payloads: Sequence[Payload]) -> tuple[bytes, ...] | None:
    """The CA hashes of the peer's CERTREQ payloads (None: it sent none). A malformed one
    counts as a request for any CA: the CERTREQ is a hint (3.7)."""
    found = [p for p in payloads if isinstance(p, CertificateRequest)]
    if not found:
        return None
    hashes: list[bytes] = []
    for p in found:
        try:
            hashes += parse_certreq(p)
        except CertPayloadError:
            pass
    return tuple(hashes)


def our_certs(credentials: Credentials, conn: EngineConn, hashes: tuple[bytes, ...] | None,
              now: dt.datetime | None = None) -> list[Certificate]:
    """The CERT payloads we send (3.6) per ``sendcert=`` and the peer's CERTREQ; raises
    ``LookupError`` when no source holds ``leftcert=``, or when our certificate is expired
    or not yet valid at ``now`` (the wall clock; None: not checked). The conn was refused at
    add time for that, but a daemon outlives certificates: one that ended since is not sent,
    nor signed for, and the line says why (the peer would refuse it, less clearly)."""
    if conn.local_cert is None:
        return []
    chain = credentials.certificates(conn.local_id, conn)
    if not chain:
        raise LookupError(f"no auth source holds our certificate '{conn.local_cert}'")
    why = unusable(chain[0], now) if now is not None else None
    if why is not None:
        raise LookupError(f"our certificate '{dn_text(chain[0].subject.public_bytes())}' "
                          f"({conn.local_cert}) {why}")
    anchors = credentials.trust_anchors(conn) if conn.send_cert == "ifasked" and hashes else []
    return cert_payloads(certs_to_send(conn.send_cert, chain, hashes, anchors=anchors, sendca=conn.send_ca))


def id_accepted(conn: EngineConn, peer: IdSpec) -> bool:
    """Is ``peer`` the ID the conn expects? DNs compare as DNs (string types and case aside),
    with ``*`` wildcards when ``rightid=`` has them."""
    want = conn.remote_id
    if want is None:
        return True
    if want.id_type == IdType.ID_DER_ASN1_DN and peer.id_type == IdType.ID_DER_ASN1_DN:
        try:
            return match_dn(dn_pattern(want.data, wildcards=conn.remote_id_wildcards), dn_from_der(peer.data),
                            wildcards=conn.remote_id_wildcards) is not None
        except DnError:
            return False
    return (peer.id_type, peer.data) == (want.id_type, want.data)


def peer_key(credentials: Credentials, conn: EngineConn, peer: IdSpec, payloads: Sequence[Certificate],
             now: dt.datetime | None) -> PeerCert:
    """The peer's validated end certificate's key; ``CertRefused`` says why not."""
    if now is None:
        raise CertRefused("no wall clock to check certificate validity against")
    try:
        certs = [decode_cert_payload(p) for p in payloads]
    except CertPayloadError as exc:
        raise CertRefused(str(exc)) from None
    if not certs:  # none sent: rightcert='s preloaded copy, validated as if sent, with the
        # intermediates of our own chain as candidates (one PKI, as a site's usually is)
        ours = credentials.certificates(conn.local_id, conn) if conn.local_cert is not None else None
        certs = [conn.remote_cert, *(ours or [])[1:]]
    end, intermediates = certs[0], certs[1:]
    anchors: list[x509.Certificate] = credentials.trust_anchors(conn)
    try:
        chain = verify_chain(end, intermediates, anchors, now)
        check_ca(chain, conn.remote_ca, our_ca=_our_ca(credentials, conn))
    except ChainRefused as exc:
        raise CertRefused(str(exc)) from None
    match = cert_matches_id(end, peer)
    if not match and conn.require_id_on_cert:  # RFC 4945 3.1; require-id-on-certificate=no waives it
        raise CertRefused(match.reason)
    verdict = credentials.check_chain(chain, conn)
    if verdict:
        raise CertRefused(verdict)
    return PeerCert(end.public_key(), dn_text(end.subject.public_bytes()), dn_text(end.issuer.public_bytes()))


def _our_ca(credentials: Credentials, conn: EngineConn) -> bytes | str | None:
    """For ``rightca=%same`` (and unset): our ``leftca=``, else the issuer of our certificate,
    if we have one."""
    if conn.local_cert is None:
        return None
    if conn.local_ca is not None:
        return conn.local_ca
    chain = credentials.certificates(conn.local_id, conn)
    return chain[0].issuer.public_bytes() if chain else None
