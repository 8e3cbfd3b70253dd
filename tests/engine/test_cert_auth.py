"""X.509 authentication between two engines (RFC 7296 2.15, 3.6, 3.7): CERTREQ in the
IKE_SA_INIT response, CERT payloads in IKE_AUTH, the peer's chain validated through an
intermediate to our trust anchor, its ID on the certificate (a DN pattern with wildcards),
and each refusal answered with AUTHENTICATION_FAILED and a log line saying why."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from pluto_core.ikev2.crypto.signatures import KeySigner
from pluto_core.ikev2.enums import ExchangeType
from pluto_core.ikev2.message import parse_message
from pluto_core.ikev2.payloads import CertificateRequest
from pluto_core.ikev2.sa import IkeState
from pluto_core.ikev2.types import EngineConn
from pluto_core.x509.certreq import ca_hash
from pluto_core.x509.ids import fromcert_id, id_from_text
from tests import x509_pki as pki
from tests.engine.harness import Psks, conn_pair, pump, two_sides

ROOT = pki.root("C=CA, O=Libreswan, CN=Test CA", kind="ecdsa", n=10)
SUB = pki.issue("C=CA, O=Libreswan, CN=Sub CA", pki.key("ecdsa", 11), ROOT, ca=True,
                key_usage=["key_cert_sign", "crl_sign"])
STRANGER = pki.root("C=CA, O=Elsewhere, CN=Stranger CA", kind="ecdsa", n=12)
WEST_DN, EAST_DN = "C=CA, O=Libreswan, CN=west", "C=CA, O=Libreswan, CN=east"


def end_cert(dn: str, kind: pki.Kind, n: int, issuer: pki.Issued = SUB, **kw: Any) -> pki.Issued:
    return pki.issue(dn, pki.key(kind, n), issuer, key_usage=["digital_signature"], **kw)


WEST_RSA, EAST_RSA = end_cert(WEST_DN, "rsa", 10), end_cert(EAST_DN, "rsa", 11)
WEST_EC, EAST_EC = end_cert(WEST_DN, "ecdsa", 13), end_cert(EAST_DN, "ecdsa", 14)


def cert_conn(conn: EngineConn, mine: pki.Issued, peer: str, **kw: Any) -> EngineConn:
    """The conn with our certificate (%fromcert), the peer's ID as a DN (``*`` allowed)."""
    remote = id_from_text(peer)
    return dataclasses.replace(conn, local_auth="rsasig,ecdsa", remote_auth="rsasig,ecdsa",
                               local_id=fromcert_id(mine.cert), remote_id=remote, local_cert="mine.pem",
                               remote_certs=True, remote_id_wildcards="*" in peer, **kw)


def creds(mine: pki.Issued, anchors: list[Any] | None = None, **kw: Any) -> Psks:
    ident = fromcert_id(mine.cert).text
    return Psks({}, signers={ident: KeySigner(mine.key)}, certs={ident: [mine.cert, SUB.cert]},
                anchors=[ROOT.cert] if anchors is None else anchors, **kw)


def run(west: pki.Issued = WEST_RSA, east: pki.Issued = EAST_EC, *, west_peer: str = EAST_DN,
        east_peer: str = "C=CA, O=Libreswan, CN=*", now: dt.datetime = pki.NOW, west_now: dt.datetime | None = None,
        west_kw: Any = None, east_kw: Any = None, west_creds: Psks | None = None, east_creds: Psks | None = None,
        wire: list[bytes] | None = None) -> tuple[Any, Any]:
    """West initiates to east, both at wall-clock time ``now`` (west at ``west_now`` if given)."""
    w, e = conn_pair()
    w = cert_conn(w, west, west_peer, **(west_kw or {}))
    e = cert_conn(e, east, east_peer, **(east_kw or {}))
    west_clock = west_now or now
    _clock, ws, es, sides = two_sides(w, e, psks=west_creds or creds(west), east_psks=east_creds or creds(east),
                                      west_kw={"wall_clock": lambda: west_clock}, wall_clock=lambda: now)
    ws.engine.initiate("west-east")

    def record(datagrams: list[Any]) -> list[Any]:
        if wire is not None:
            wire.extend(d.data for d in datagrams)
        return datagrams

    pump(sides, wire=record)
    return ws, es


@pytest.mark.parametrize(("west", "east", "west_how", "east_how"), [
    (WEST_RSA, EAST_RSA, "2048-bit RSASSA-PSS with SHA2_512", "2048-bit RSASSA-PSS with SHA2_512"),
    (WEST_EC, EAST_EC, "P-256 ECDSA with SHA2_512", "P-256 ECDSA with SHA2_512"),
    (WEST_RSA, EAST_EC, "2048-bit RSASSA-PSS with SHA2_512", "P-256 ECDSA with SHA2_512"),
])
def test_certificates_through_an_intermediate_both_ways(west: pki.Issued, east: pki.Issued, west_how: str,
                                                        east_how: str) -> None:
    ws, es = run(west, east)
    (w,), (e,) = ws.engine.ike_sas(), es.engine.ike_sas()
    assert w.state == e.state == IkeState.ESTABLISHED
    assert len(ws.kernel.installed) == len(es.kernel.installed) == 1
    sub = "C=CA, O=Libreswan, CN=Sub CA"
    assert f"initiator established IKE SA; authenticated peer certificate '{EAST_DN}' and {east_how} digital " \
           f"signature issued by '{sub}'" in ws.log.text()
    assert f"responder established IKE SA; authenticated peer certificate '{WEST_DN}' and {west_how} digital " \
           f"signature issued by '{sub}'" in es.log.text()
    assert f"and DER_ASN1_DN '{WEST_DN}'; Child SA" in ws.log.text()  # %fromcert: our ID is the subject
    # sendcert=ifasked: each asked (CERTREQ), so each sent its certificate and the intermediate
    assert "containing SK{IDr,CERT,CERT,AUTH,SA,TSi,TSr}" in ws.log.text()


def test_certreq_in_the_ike_sa_init_response_names_our_trust_anchor() -> None:
    wire: list[bytes] = []
    ws, _ = run(wire=wire)
    init_response = next(m for m in map(parse_message, wire)
                         if m.exchange_type == ExchangeType.IKE_SA_INIT and m.is_response)
    (certreq,) = [p for p in init_response.payloads if isinstance(p, CertificateRequest)]
    assert certreq.encoding == 4 and certreq.ca_hashes == [ca_hash(ROOT.cert)]
    assert ws.engine.ike_sas()[0].state == IkeState.ESTABLISHED


def test_sendcert_never_leaves_the_peer_without_a_certificate() -> None:
    ws, es = run(west_kw={"send_cert": "never"})
    _assert_refused(ws, es, "the peer sent no certificate (CERT payload)")


def test_a_preloaded_peer_certificate_stands_in_for_one_not_sent() -> None:
    """rightcert= on east: west sends no CERT (sendcert=never), east validates its copy of
    west's certificate (the intermediate is east's own) and checks the signature with it."""
    ws, es = run(west_kw={"send_cert": "never"}, east_kw={"remote_cert": WEST_RSA.cert})
    assert ws.engine.ike_sas()[0].state == es.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert f"authenticated peer certificate '{WEST_DN}' and 2048-bit RSASSA-PSS with SHA2_512 digital signature " \
           "issued by 'C=CA, O=Libreswan, CN=Sub CA'" in es.log.text()
    # a copy that is not the signer's: the signature does not verify with it
    ws, es = run(west_kw={"send_cert": "never"}, east_kw={"remote_cert": EAST_RSA.cert})
    assert es.engine.ike_sas() == [] and "AUTHENTICATION_FAILED" in es.log.text()


def test_sendcert_always_sends_without_a_certreq() -> None:
    # east trusts no CA: its IKE_SA_INIT response has no CERTREQ, yet west sends its chain
    ws, es = run(west_kw={"send_cert": "always"}, east_creds=creds(EAST_EC, anchors=[]))
    assert "CERTREQ" not in ws.log.text()
    _assert_refused(ws, es, "no trusted CA certificates")


def _assert_refused(ws: Any, es: Any, reason: str, peer: str = WEST_DN) -> None:
    """East refused west's IKE_AUTH with AUTHENTICATION_FAILED, logging the reason."""
    assert ws.engine.ike_sas() == [] and es.engine.ike_sas() == []
    line = next(line for line in es.log.lines if "sending AUTHENTICATION_FAILED" in line)
    assert f"authentication of peer DER_ASN1_DN '{peer}' using authby=rsasig,ecdsa failed: {reason}" in line, line
    assert "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED" in ws.log.text()
    assert ws.kernel.installed == {} and es.kernel.installed == {}


# An expired west certificate reaches east only from a west whose clock is behind (ours would
# not send it: test_our_own_certificate_out_of_its_dates_is_not_used), as a peer
# that does not check its own certificate would send it.
@pytest.mark.parametrize(("west", "now", "east_kw", "east_creds", "reason"), [
    (end_cert(WEST_DN, "ecdsa", 15, not_after=pki.NOW - pki.DAY), pki.NOW, {"west_now": pki.NOW - 2 * pki.DAY},
     None, "certificate expired on 2025-05-31 12:00:00 UTC"),
    (WEST_EC, pki.NOW + 400 * pki.DAY, {"west_now": pki.NOW}, None, "certificate expired on"),
    (end_cert(WEST_DN, "ecdsa", 16, issuer=STRANGER), pki.NOW, {}, None,
     "issuer not trusted (no CA for 'C=CA, O=Elsewhere, CN=Stranger CA')"),
    (WEST_EC, pki.NOW, {"remote_ca": "C=CA, O=Other, CN=*"}, None,
     "no CA in the chain ('C=CA, O=Libreswan, CN=Sub CA', 'C=CA, O=Libreswan, CN=Test CA') matches "
     "rightca=C=CA, O=Other, CN=* 'C=CA, O=Other, CN=*'"),
    (WEST_EC, pki.NOW, {}, "revoked", "certificate revoked (serial 0x01, keyCompromise)"),
])
def test_each_certificate_refusal_is_authentication_failed_with_the_reason(
        west: pki.Issued, now: dt.datetime, east_kw: dict[str, Any], east_creds: str | None, reason: str) -> None:
    vetoes = {west.cert.serial_number.to_bytes(20, "big"): "certificate revoked (serial 0x01, keyCompromise)"} \
        if east_creds == "revoked" else {}
    west_now = east_kw.pop("west_now", None)
    ws, es = run(west, EAST_EC, now=now, west_now=west_now, east_kw=east_kw,
                 east_creds=creds(EAST_EC, chain_vetoes=vetoes))
    _assert_refused(ws, es, reason)


def test_our_own_certificate_out_of_its_dates_is_not_used() -> None:
    """A certificate that ended while the daemon ran (the conn was added before): the
    initiator stops before IKE_AUTH with a line naming it and the date; a responder answers
    AUTHENTICATION_FAILED saying the same, instead of sending a certificate the peer refuses."""
    old = end_cert(WEST_DN, "ecdsa", 19, not_after=pki.NOW - pki.DAY)
    wire: list[bytes] = []
    ws, es = run(old, EAST_EC, wire=wire)
    line = next(line for line in ws.log.lines if "cannot authenticate" in line)
    assert line.endswith(f"cannot authenticate {WEST_DN} to {EAST_DN}: authby=rsasig,ecdsa: our certificate "
                         f"'{WEST_DN}' (mine.pem) expired on 2025-05-31 12:00:00 UTC"), line
    assert ws.engine.ike_sas() == [] and not ws.kernel.installed
    assert [m.exchange_type for m in map(parse_message, wire)] == [ExchangeType.IKE_SA_INIT] * 2  # no IKE_AUTH
    assert "sent IKE_AUTH" not in ws.log.text()
    # as responder: east's certificate not yet valid by its clock
    future = end_cert(EAST_DN, "ecdsa", 20, not_before=pki.NOW + pki.DAY)
    ws, es = run(WEST_EC, future)
    line = next(line for line in es.log.lines if "sending AUTHENTICATION_FAILED" in line)
    assert f"could not be answered: authby=rsasig,ecdsa: our certificate '{EAST_DN}' (mine.pem) is not valid " \
           "before 2025-06-02 12:00:00 UTC: sending AUTHENTICATION_FAILED" in line, line
    assert ws.engine.ike_sas() == [] and es.engine.ike_sas() == []
    assert "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED" in ws.log.text()


def test_an_id_not_on_the_certificate_is_refused() -> None:
    # west claims CN=west but its certificate is CN=north's: the rightid= pattern fits, the certificate does not
    north = end_cert("C=CA, O=Libreswan, CN=north", "ecdsa", 17)
    ident = fromcert_id(WEST_EC.cert).text
    west_creds = Psks({}, signers={ident: KeySigner(north.key)}, certs={ident: [north.cert, SUB.cert]},
                      anchors=[ROOT.cert])
    ws, es = run(WEST_EC, west_creds=west_creds)
    _assert_refused(ws, es, f"certificate subject 'C=CA, O=Libreswan, CN=north' does not match ID DER_ASN1_DN "
                            f"'{WEST_DN}'")


def test_a_peer_id_outside_the_rightid_pattern_is_refused_before_any_lookup() -> None:
    ws, es = run(east_peer="C=CA, O=Libreswan, CN=n*rth")
    assert ws.engine.ike_sas() == [] and es.engine.ike_sas() == []
    assert "the conn expects DER_ASN1_DN 'C=CA, O=Libreswan, CN=n*rth'" in es.log.text()
    ws, es = run(east_peer="C=CA, O=*, CN=*")
    assert es.engine.ike_sas()[0].state == IkeState.ESTABLISHED


def test_the_initiator_refuses_a_responder_certificate_it_does_not_trust() -> None:
    east = end_cert(EAST_DN, "ecdsa", 18, issuer=STRANGER)
    # (east's rightca=%any: with %same, east would want west's CA to be its own, Stranger CA)
    ws, es = run(WEST_EC, east, east_kw={"remote_ca": "%any"})
    assert ws.engine.ike_sas() == []
    assert f"authentication of peer DER_ASN1_DN '{EAST_DN}' using authby=rsasig,ecdsa failed: issuer not trusted " \
           "(no CA for 'C=CA, O=Elsewhere, CN=Stranger CA'): AUTHENTICATION_FAILED" in ws.log.text()



def _auth_response_certs(ws: Any) -> int:
    """How many CERT payloads east's IKE_AUTH response carried (west's log line lists them)."""
    line = next(line for line in ws.log.lines if "processing IKE_AUTH response" in line)
    return line.split("SK{", 1)[1].split("}", 1)[0].split(",").count("CERT")


def _west_refused(ws: Any, reason: str) -> None:
    assert ws.engine.ike_sas() == [] and ws.kernel.installed == {}
    assert f"authentication of peer DER_ASN1_DN '{EAST_DN}' using authby=rsasig,ecdsa failed: {reason}" \
        in ws.log.text()


def test_sendca_none_sends_the_end_certificate_alone() -> None:
    # west knows only the root: without the intermediate it cannot build east's path
    ws, es = run(WEST_EC, EAST_EC, east_kw={"send_ca": "none"})
    assert _auth_response_certs(ws) == 1
    _west_refused(ws, "issuer not trusted (no CA for 'C=CA, O=Libreswan, CN=Sub CA')")
    # west holding the intermediate itself: the end certificate is enough
    ws, es = run(WEST_EC, EAST_EC, east_kw={"send_ca": "none"},
                 west_creds=creds(WEST_EC, anchors=[ROOT.cert, SUB.cert]))
    assert _auth_response_certs(ws) == 1
    assert ws.engine.ike_sas()[0].state == IkeState.ESTABLISHED


@pytest.mark.parametrize(("sendca", "sent", "up"), [("all", 3, True), ("issuer", 2, False), ("none", 1, False)])
def test_sendca_caps_a_two_intermediate_chain(sendca: str, sent: int, up: bool) -> None:
    upper = pki.issue("C=CA, O=Libreswan, CN=Upper CA", pki.key("ecdsa", 20), ROOT, ca=True)
    lower = pki.issue("C=CA, O=Libreswan, CN=Lower CA", pki.key("ecdsa", 21), upper, ca=True)
    east = end_cert(EAST_DN, "ecdsa", 22, issuer=lower)
    ident = fromcert_id(east.cert).text
    east_creds = Psks({}, signers={ident: KeySigner(east.key)}, certs={ident: [east.cert, lower.cert, upper.cert]},
                      anchors=[ROOT.cert])
    ws, es = run(WEST_EC, east, east_kw={"send_ca": sendca, "remote_ca": "%any"}, east_creds=east_creds,
                 west_kw={"remote_ca": "%any"})
    assert _auth_response_certs(ws) == sent
    if up:
        assert ws.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    else:
        _west_refused(ws, "issuer not trusted (no CA for 'C=CA, O=Libreswan, CN=")

def test_require_id_on_certificate_no_accepts_an_id_the_certificate_does_not_carry() -> None:
    north = end_cert("C=CA, O=Libreswan, CN=north", "ecdsa", 17)
    ident = fromcert_id(WEST_EC.cert).text
    west_creds = Psks({}, signers={ident: KeySigner(north.key)}, certs={ident: [north.cert, SUB.cert]},
                      anchors=[ROOT.cert])
    ws, es = run(WEST_EC, west_creds=west_creds, east_kw={"require_id_on_cert": False})
    assert es.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert "authenticated peer certificate 'C=CA, O=Libreswan, CN=north'" in es.log.text()


def test_leftca_is_what_rightca_same_stands_for() -> None:
    # east's own leftca= names a CA not in west's chain: %same (unset rightca=) refuses
    ws, es = run(WEST_EC, east_kw={"local_ca": "C=CA, O=Elsewhere, CN=*"})
    _assert_refused(ws, es, "no CA in the chain ('C=CA, O=Libreswan, CN=Sub CA', 'C=CA, O=Libreswan, CN=Test CA') "
                            "matches rightca=%same (leftca=) 'C=CA, O=Elsewhere, CN=*'")
    # the root, which west's chain ends at: accepted (without leftca=, %same is east's issuer, Sub CA)
    ws, es = run(WEST_EC, east_kw={"local_ca": "C=CA, O=Libreswan, CN=Test CA"})
    assert es.engine.ike_sas()[0].state == IkeState.ESTABLISHED
