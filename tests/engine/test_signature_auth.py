"""Public-key and NULL authentication between two engines (RFC 7427 digital signatures
with raw keys, RFC 7619 NULL auth, and a PSK one way with a signature the other), and
how each failure is refused."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pluto_core.ikev2.crypto.signatures import KeySigner
from pluto_core.ikev2.enums import NotifyType
from pluto_core.ikev2.message import parse_message
from pluto_core.ikev2.payloads import Notify
from pluto_core.ikev2.sa import IkeState
from pluto_core.ikev2.types import IdSpec
from tests.engine.harness import PSK, Psks, conn_pair, pump, two_sides

RSA_W, RSA_E = (rsa.generate_private_key(65537, 2048) for _ in range(2))
P256_W, P256_E = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
ED_W, ED_E = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()


def signing(west_key: Any, east_key: Any, method: str, west_trusts: Any = None, east_trusts: Any = None,
            **psks: Any) -> tuple[Any, Any, Any, Any]:
    """Two engines that authenticate with ``method`` both ways, each holding its own key and the
    other's public key as a raw key of the conn."""
    w, e = conn_pair()
    w = dataclasses.replace(w, local_auth=method, remote_auth=method,
                            remote_keys=(west_trusts or east_key.public_key(),))
    e = dataclasses.replace(e, local_auth=method, remote_auth=method,
                            remote_keys=(east_trusts or west_key.public_key(),))
    west_creds = Psks({}, signers={"@west": KeySigner(west_key)})
    east_creds = Psks({}, signers={"@east": KeySigner(east_key)})
    _clock, west, east, sides = two_sides(w, e, psks=west_creds, east_psks=east_creds)
    west.engine.initiate("west-east")
    pump(sides)
    return west, east, west_creds, east_creds


@pytest.mark.parametrize(("west_key", "east_key", "method", "how"), [
    (RSA_W, RSA_E, "rsasig", "2048-bit RSASSA-PSS with SHA2_512"),
    (P256_W, P256_E, "ecdsa", "P-256 ECDSA with SHA2_512"),
    (ED_W, ED_E, "eddsa", "Ed25519"),
])
def test_raw_public_keys_both_ways(west_key: Any, east_key: Any, method: str, how: str) -> None:
    west, east, _, _ = signing(west_key, east_key, method)
    (w,), (e,) = west.engine.ike_sas(), east.engine.ike_sas()
    assert w.state == e.state == IkeState.ESTABLISHED
    assert len(west.kernel.installed) == len(east.kernel.installed) == 1
    assert f"initiator established IKE SA; authenticated peer using preloaded certificate '@east' and {how} " \
           "digital signature" in west.log.text()
    assert f"responder established IKE SA; authenticated peer using preloaded certificate '@west' and {how} " \
           "digital signature" in east.log.text()
    sent = "digital-signature " + how.split(" ", 1)[1] if method == "rsasig" else None
    if sent:
        assert f"with {sent} and FQDN '@west'" in west.log.text()
    assert w.peer_hashes == e.peer_hashes == (2, 3, 4, 5)  # SIGNATURE_HASH_ALGORITHMS both ways


def test_a_key_the_responder_does_not_trust_is_refused() -> None:
    other = rsa.generate_private_key(65537, 2048)
    west, east, _, _ = signing(RSA_W, RSA_E, "rsasig", east_trusts=other.public_key())
    assert east.engine.ike_sas() == [] and west.engine.ike_sas() == []
    assert "authentication of peer FQDN '@west' using authby=rsasig failed: bad signature (1 trusted key): " \
           "sending AUTHENTICATION_FAILED" in east.log.text()
    assert "AUTHENTICATION_FAILED" in west.log.text()
    assert not east.kernel.installed and not west.kernel.installed
    assert west.kernel.larval == set()  # the SPI of west's Child SA went back to the kernel


def test_the_initiator_refuses_a_responder_it_does_not_trust() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    west, east, _, _ = signing(P256_W, P256_E, "ecdsa", west_trusts=other.public_key())
    assert west.engine.ike_sas() == [] and not west.kernel.installed
    assert "authentication of peer FQDN '@east' using authby=ecdsa failed: bad signature (1 trusted key): " \
           "AUTHENTICATION_FAILED" in west.log.text()
    assert east.engine.ike_sas() == []  # west's Delete reached east


def test_trusted_keys_can_come_from_the_credentials_port_alone() -> None:
    w, e = conn_pair()
    w = dataclasses.replace(w, local_auth="rsasig", remote_auth="rsasig")
    e = dataclasses.replace(e, local_auth="rsasig", remote_auth="rsasig")
    west_creds = Psks({}, signers={"@west": KeySigner(RSA_W)}, keys={"@east": [RSA_E.public_key()]})
    east_creds = Psks({}, signers={"@east": KeySigner(RSA_E)}, keys={"@west": [RSA_W.public_key()]})
    _clock, west, east, sides = two_sides(w, e, psks=west_creds, east_psks=east_creds)
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert ("public_keys", "@west", None) in east_creds.asked
    east_creds.keys.clear()  # and without them the peer is refused by name
    west.engine.initiate("west-east")
    pump(sides)
    assert "using authby=rsasig failed: no trusted public key for FQDN '@west'" in east.log.text()


def test_no_private_key_stops_the_initiator_before_it_sends_ike_auth() -> None:
    w, e = conn_pair()
    w = dataclasses.replace(w, local_auth="rsasig", remote_auth="rsasig", remote_keys=(RSA_E.public_key(),))
    _clock, west, _east, sides = two_sides(w, e, psks=Psks({}))
    west.engine.initiate("west-east")
    pump(sides)
    assert "cannot authenticate @west to @east: authby=rsasig: we hold no credential" in west.log.text()
    assert west.engine.ike_sas() == []


def test_psk_one_way_and_a_signature_the_other() -> None:
    """west proves itself with the PSK, east with its RSA key (leftauth=secret rightauth=rsasig)."""
    w, e = conn_pair()
    w = dataclasses.replace(w, local_auth="secret", remote_auth="rsasig", remote_keys=(RSA_E.public_key(),))
    e = dataclasses.replace(e, local_auth="rsasig", remote_auth="secret")
    west_creds = Psks(PSK.table)
    east_creds = Psks(PSK.table, signers={"@east": KeySigner(RSA_E)})
    _clock, west, east, sides = two_sides(w, e, psks=west_creds, east_psks=east_creds)
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert "sent IKE_AUTH request to 192.1.2.23:UDP/500 with shared-key-mac" in west.log.text()
    assert "authenticated peer using preloaded certificate '@east' and 2048-bit RSASSA-PSS" in west.log.text()
    assert "authenticated peer using authby=secret and FQDN '@west'" in east.log.text()


def test_null_authentication_both_ways() -> None:
    w, e = conn_pair()
    null = IdSpec.parse("%null")
    w = dataclasses.replace(w, local_auth="null", remote_auth="null", local_id=null, remote_id=None)
    e = dataclasses.replace(e, local_auth="null", remote_auth="null", local_id=null, remote_id=None)
    _clock, west, east, sides = two_sides(w, e, psks=Psks({}))
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert "authenticated peer using authby=null and NULL 'ID_NULL'" in east.log.text()
    assert len(east.kernel.installed) == 1


def test_psk_conns_do_not_announce_signature_hashes() -> None:
    w, e = conn_pair()
    _clock, west, east, sides = two_sides(w, e)
    west.engine.initiate("west-east")
    (request,) = west.engine.pop_datagrams()
    notifies = [p.type for p in parse_message(request.data).payloads if isinstance(p, Notify)]
    assert NotifyType.SIGNATURE_HASH_ALGORITHMS not in notifies


class TokenSigner:
    """A third-party ``Signer`` (a token's key never leaves it): not a ``KeySigner``."""

    def __init__(self, key: Any, broken: bool = False) -> None:
        self._inner, self.broken = KeySigner(key), broken

    def schemes(self) -> Any:
        return self._inner.schemes()

    def public_key(self) -> Any:
        return self._inner.public_key()

    def sign(self, scheme: Any, data: bytes) -> bytes:
        if self.broken:
            raise RuntimeError("the token was removed")
        return self._inner.sign(scheme, data)


def offloaded(east_signer: Any, east_trusts: Any = None) -> tuple[Any, Any, list[tuple[str, str]]]:
    """rsasig both ways; east hands out every job as the daemon does (lookups to a thread,
    crypto to ``--nhelpers`` processes) and runs them here: a crypto job's function and
    arguments go through pickle, as they do to a helper process. Returns the jobs east ran."""
    w, e = conn_pair()
    w = dataclasses.replace(w, local_auth="rsasig", remote_auth="rsasig", remote_keys=(RSA_E.public_key(),))
    e = dataclasses.replace(e, local_auth="rsasig", remote_auth="rsasig",
                            remote_keys=(east_trusts or RSA_W.public_key(),))
    _clock, west, east, sides = two_sides(w, e, psks=Psks({}, signers={"@west": KeySigner(RSA_W)}),
                                          east_psks=Psks({}, signers={"@east": east_signer}),
                                          offload_jobs=True, offload_lookups=True)
    ran: list[tuple[str, str]] = []
    west.engine.initiate("west-east")
    for _ in range(20):
        pump(sides)
        jobs = east.engine.pop_jobs()
        if not jobs:
            break
        for job in jobs:
            ran.append((job.kind, job.fn.__name__))
            fn, args = pickle.loads(pickle.dumps((job.fn, job.args))) if job.kind == "crypto" else (job.fn, job.args)
            try:
                result = fn(*args)
            except Exception as exc:
                result = exc
            east.engine.job_done(job.id, result)
    return west, east, ran


def test_our_signature_is_a_crypto_job_for_the_helper_processes() -> None:
    west, east, ran = offloaded(KeySigner(RSA_E))
    assert west.engine.ike_sas()[0].state == east.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    auth_jobs = ran[ran.index(("lookup", "find")):]
    assert auth_jobs == [("lookup", "find"), ("crypto", "sign_portable")]
    assert "PortableKey()" == repr(KeySigner(RSA_E).portable())  # the DER never shows


def test_a_third_party_signer_signs_on_a_lookup_thread_not_in_a_helper() -> None:
    west, east, ran = offloaded(TokenSigner(RSA_E))
    assert west.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert ran[ran.index(("lookup", "find")):] == [("lookup", "find"), ("lookup", "make_auth")]


def test_a_peer_that_fails_authentication_costs_no_signature() -> None:
    other = rsa.generate_private_key(65537, 2048)
    _west, east, ran = offloaded(KeySigner(RSA_E), east_trusts=other.public_key())
    assert ran[-1] == ("lookup", "find") and ("crypto", "sign_portable") not in ran
    assert "using authby=rsasig failed: bad signature (1 trusted key): sending AUTHENTICATION_FAILED" \
           in east.log.text()


def test_a_signer_that_fails_answers_authentication_failed_and_names_why() -> None:
    west, east, ran = offloaded(TokenSigner(RSA_E, broken=True))
    assert ("lookup", "make_auth") in ran
    assert "signing with digital-signature RSASSA-PSS with SHA2_512 failed: RuntimeError: the token was removed: " \
           "sending AUTHENTICATION_FAILED" in east.log.text()
    assert east.engine.ike_sas() == [] and west.engine.ike_sas() == []
    assert not east.kernel.installed and not west.kernel.installed


def test_rsa_sha1_signs_and_takes_only_rfc7296_method_1() -> None:
    """authby=rsa-sha1: PKCS#1 v1.5 with SHA-1 (method 1), even though both sides announce SHA-2."""
    west, east, _, _ = signing(RSA_W, RSA_E, "rsa-sha1")
    assert west.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert "with RSA PKCS#1 v1.5 with SHA1 (method 1) and FQDN '@west'" in west.log.text()
    assert "authenticated peer using preloaded certificate '@west' and 2048-bit RSA PKCS#1 v1.5 with SHA1 " \
           "digital signature" in east.log.text()


@pytest.mark.parametrize(("west_key", "east_key", "method", "scheme"), [
    (RSA_W, RSA_E, "rsa-sha2_256", "RSASSA-PSS with SHA2_256"),
    (RSA_W, RSA_E, "rsa-sha2_384,rsa-sha2_256", "RSASSA-PSS with SHA2_384"),
    (P256_W, P256_E, "ecdsa-sha2_384", "ECDSA with SHA2_384"),
])
def test_a_pinned_hash_is_the_one_signed_with(west_key: Any, east_key: Any, method: str, scheme: str) -> None:
    west, east, _, _ = signing(west_key, east_key, method)
    assert west.engine.ike_sas()[0].state == east.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    assert f"with digital-signature {scheme} and FQDN '@west'" in west.log.text()
    assert f"{scheme} digital signature" in east.log.text()


def test_a_responder_pinned_to_one_hash_refuses_another() -> None:
    """east takes only RSASSA-PSS with SHA2_256; west (rsasig) signs with SHA2_512."""
    w, e = conn_pair()
    w = dataclasses.replace(w, local_auth="rsasig", remote_auth="rsa-sha2_256", remote_keys=(RSA_E.public_key(),))
    e = dataclasses.replace(e, local_auth="rsa-sha2_256", remote_auth="rsa-sha2_256",
                            remote_keys=(RSA_W.public_key(),))
    _clock, west, east, sides = two_sides(w, e, psks=Psks({}, signers={"@west": KeySigner(RSA_W)}),
                                          east_psks=Psks({}, signers={"@east": KeySigner(RSA_E)}))
    west.engine.initiate("west-east")
    pump(sides)
    assert east.engine.ike_sas() == [] and west.engine.ike_sas() == []
    assert "authentication of peer FQDN '@west' using authby=rsa-sha2_256 failed: RSASSA-PSS with SHA2_512 is " \
           "not accepted by local policy (1 trusted key): sending AUTHENTICATION_FAILED" in east.log.text()
