"""AUTH payload values computed with the PRF (RFC 7296 2.15), and the signed octets.

Signature methods sign the same octets, so ``signed_octets`` serves them too.
"""

from __future__ import annotations

from .prf import PrfAlgorithm

KEY_PAD = b"Key Pad for IKEv2"  # RFC 7296 2.15, 17 ASCII octets without a terminator


def maced_id(prf: PrfAlgorithm, sk_p: bytes, id_payload_body: bytes) -> bytes:
    """MACedIDForI/R = prf(SK_pi/SK_pr, RestOfIDPayload).

    ``id_payload_body`` is the ID payload after its 4-byte generic header: ID Type,
    three reserved octets, identification data.
    """
    return prf.compute(sk_p, id_payload_body)


def signed_octets(
    prf: PrfAlgorithm, real_message: bytes, peer_nonce: bytes, sk_p: bytes, id_payload_body: bytes
) -> bytes:
    """InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI, and the responder's
    mirror RealMessage2 | NonceIData | MACedIDForR (RFC 7296 2.15).

    ``real_message`` is the signer's IKE_SA_INIT message as sent; ``peer_nonce`` the other
    side's Nonce Data; ``sk_p`` the signer's SK_pi (initiator) or SK_pr (responder).
    """
    return real_message + peer_nonce + maced_id(prf, sk_p, id_payload_body)


def psk_auth(prf: PrfAlgorithm, shared_secret: bytes, octets: bytes) -> bytes:
    """AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) (RFC 7296 2.15).

    The PSK is the PRF key, so AES-XCBC/AES-CMAC apply their variable-key rules to it.
    """
    return prf.compute(prf.compute(shared_secret, KEY_PAD), octets)

