"""The authentication methods of IKE_AUTH (RFC 7296 2.15, RFC 7427, RFC 7619): how we
make our AUTH payload and check the peer's, with credentials from the port.

``make`` and ``check`` run inside the IKE_AUTH lookup job (the daemon runs it on a
thread: a credential source may wait on a store), so they take only immutable inputs:
the signed octets (computed on the loop by ``ike_auth.signed_data``) and an
:class:`AuthContext`. ``make`` names what to sign; the signature itself is a job of its
own (``ike_auth.sign``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Protocol

from pluto_core.ikev2.crypto import psk_auth
from pluto_core.ikev2.crypto import signatures as sig
from pluto_core.ikev2.crypto.prf import PrfAlgorithm
from pluto_core.ikev2.enums import AuthMethod
from pluto_core.ikev2.payloads import Authentication, Certificate
from pluto_core.ikev2.ports import Credentials
from pluto_core.ikev2.tasks.cert_auth import CertRefused, peer_key
from pluto_core.ikev2.types import EngineConn, IdSpec


class AuthFailure(Exception):
    """Why the peer's AUTH does not prove its ID (logged; the peer gets AUTHENTICATION_FAILED)."""


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What a method needs of the IKE SA besides the signed octets."""

    prf: PrfAlgorithm
    sk_p_ours: bytes  # SK_pi or SK_pr of our side: NULL auth's key (RFC 7619 2.1)
    sk_p_theirs: bytes
    peer_hashes: tuple[int, ...] | None  # the peer's SIGNATURE_HASH_ALGORITHMS (None: not sent)
    peer_certs: tuple[Certificate, ...] = ()  # the CERT payloads of the peer's IKE_AUTH message
    now: Any = None  # UTC datetime for certificate validity (None: no wall clock)


@dataclass(frozen=True, slots=True)
class ToSign:
    """A signature still to make: a job of its own after the lookup (``ike_auth.sign``)."""

    signer: sig.Signer
    method: int
    scheme: sig.Scheme | None  # None: a legacy method fixes it
    octets: bytes


@dataclass(frozen=True, slots=True)
class Made:
    """Our AUTH payload and how the log lines name it; a signature method leaves the
    payload to ``to_sign`` (signing is a crypto job of its own)."""

    payload: Authentication | None
    text: str  # "shared-key-mac", "digital-signature RSASSA-PSS with SHA2_512"
    to_sign: ToSign | None = None


class Authenticator(Protocol):
    text: str  # what the conn says: "authby=secret", "authby=rsasig", ...

    def accepts(self, method: int) -> bool:
        """Whether the peer's AUTH method is one this conn takes from it."""
        ...

    def make(self, credentials: Credentials, conn: EngineConn, peer: IdSpec | None, octets: bytes,
             ctx: AuthContext) -> Made | None:
        """Our AUTH (None: we hold no credential), or what to sign for it (``Made.to_sign``).
        ``SignatureError``: none fits the peer."""
        ...

    def check(self, credentials: Credentials, conn: EngineConn, peer: IdSpec, auth: Authentication,
              octets: bytes, ctx: AuthContext) -> str:
        """How the peer proved ``peer`` (for the log), or ``AuthFailure`` saying why it did not."""
        ...


class PskAuth:
    """authby=secret: the shared-key MIC over the PSK of the two IDs (RFC 7296 2.15)."""

    text = "authby=secret"

    def accepts(self, method: int) -> bool:
        return method == AuthMethod.SHARED_KEY_MIC

    def make(self, credentials: Credentials, conn: EngineConn, peer: IdSpec | None, octets: bytes,
             ctx: AuthContext) -> Made | None:
        psk = credentials.psk(conn.local_id, peer, conn)
        if psk is None:
            return None
        return Made(Authentication(AuthMethod.SHARED_KEY_MIC, psk_auth(ctx.prf, psk, octets)), "shared-key-mac")

    def check(self, credentials: Credentials, conn: EngineConn, peer: IdSpec, auth: Authentication,
              octets: bytes, ctx: AuthContext) -> str:
        psk = credentials.psk(conn.local_id, peer, conn)
        if psk is None:
            raise AuthFailure(f"no PSK for {conn.local_id.text} and {peer.text}")
        if not hmac.compare_digest(auth.data, psk_auth(ctx.prf, psk, octets)):
            raise AuthFailure("the AUTH does not match our PSK")
        return "authby=secret"


class NullAuth:
    """authby=null (RFC 7619): the MIC keyed with SK_pi/SK_pr; proves nothing of the ID."""

    text = "authby=null"

    def accepts(self, method: int) -> bool:
        return method == AuthMethod.NULL_AUTH

    def make(self, credentials: Credentials, conn: EngineConn, peer: IdSpec | None, octets: bytes,
             ctx: AuthContext) -> Made | None:
        return Made(Authentication(AuthMethod.NULL_AUTH, sig.null_auth(ctx.prf, ctx.sk_p_ours, octets)), "NULL auth")

    def check(self, credentials: Credentials, conn: EngineConn, peer: IdSpec, auth: Authentication,
              octets: bytes, ctx: AuthContext) -> str:
        if not hmac.compare_digest(auth.data, sig.null_auth(ctx.prf, ctx.sk_p_theirs, octets)):
            raise AuthFailure("the NULL AUTH does not match this IKE SA's keys")
        return "authby=null"


# The AUTH methods a public-key conn takes from its peer: RFC 7427's Digital Signature
# always; RSA's method 1 (PKCS#1 v1.5 with SHA-1, Libreswan's RSASIG_v1_5) and ECDSA's
# RFC 4754 methods from older peers.
_SIGNATURE_METHODS = {
    "rsa": frozenset({sig.AUTH_DIGITAL_SIGNATURE, sig.AUTH_RSA_SIG}),
    "ecdsa": frozenset({sig.AUTH_DIGITAL_SIGNATURE, sig.AUTH_ECDSA_SHA256_P256, sig.AUTH_ECDSA_SHA384_P384,
                        sig.AUTH_ECDSA_SHA512_P521}),
    "eddsa": frozenset({sig.AUTH_DIGITAL_SIGNATURE}),
}


_FAMILY_OF_KIND = {"rsa": "rsa", "ecdsa": "ecdsa", "ed25519": "eddsa", "ed448": "eddsa"}
_KINDS_OF_FAMILY: dict[str, tuple[sig.KeyKind, ...]] = {"rsa": ("rsa",), "ecdsa": ("ecdsa",),
                                                        "eddsa": ("ed25519", "ed448")}


class SignatureAuth:
    """authby=rsasig / ecdsa / eddsa (or several, ``rsasig,ecdsa``: Libreswan's default), or a
    word that pins the hash (``rsa-sha2_256``, ``rsa-sha1``, ...): a signature with our key (a
    ``Signer`` from the port), checked against the peer's trusted public keys (the conn's raw
    keys, then the port's)."""

    def __init__(self, words: tuple[str, ...], text: str) -> None:
        self.text = text
        families: list[str] = []
        schemes: set[sig.Scheme] = set()
        methods: set[int] = set()
        for word in words:
            pin = sig.PINS.get(word)
            family = _ENGINE_FAMILY[pin.family if pin else word]
            families.append(family)
            if pin is not None:
                schemes |= pin.schemes
                methods |= pin.methods
            else:
                schemes |= {s for kind in _KINDS_OF_FAMILY[family] for s in sig.schemes_for(kind)}
                methods |= _SIGNATURE_METHODS[family]
        self.families = tuple(dict.fromkeys(families))
        self.schemes: frozenset[sig.Scheme] = frozenset(schemes)  # what we sign with and accept
        self._methods = frozenset(methods)

    def accepts(self, method: int) -> bool:
        return method in self._methods

    def make(self, credentials: Credentials, conn: EngineConn, peer: IdSpec | None, octets: bytes,
             ctx: AuthContext) -> Made | None:
        signer = credentials.signer(conn.local_id, conn)
        if signer is None:
            return None
        kind = sig.key_kind(signer.public_key())
        if _FAMILY_OF_KIND[kind] not in self.families:
            raise sig.KeyMismatch(f"our key is {kind.upper()}, but the conn signs with {self.text}")
        available = signer.schemes() & self.schemes
        if available == {sig.RSA_PKCS1_SHA1}:  # authby=rsa-sha1: method 1 whatever the peer announced
            method, scheme = sig.AUTH_RSA_SIG, sig.RSA_PKCS1_SHA1
        else:
            method, scheme = sig.choose_auth(signer.public_key(), ctx.peer_hashes, available=available)
        how = f"digital-signature {scheme}" if method == sig.AUTH_DIGITAL_SIGNATURE else f"{scheme} (method {method})"
        return Made(None, how, ToSign(signer, method, scheme if method == sig.AUTH_DIGITAL_SIGNATURE else None,
                                      octets))

    def check(self, credentials: Credentials, conn: EngineConn, peer: IdSpec, auth: Authentication,
              octets: bytes, ctx: AuthContext) -> str:
        if conn.remote_certs and (ctx.peer_certs or conn.remote_cert is not None):
            return self._check_certificate(credentials, conn, peer, auth, octets, ctx)
        keys = [key for key in list(conn.remote_keys) + list(credentials.public_keys(peer, conn) or ())
                if _FAMILY_OF_KIND.get(sig.key_kind(key)) in self.families]
        if not keys and conn.remote_certs:
            raise AuthFailure("the peer sent no certificate (CERT payload)")
        if not keys:
            raise AuthFailure(f"no trusted public key for {peer.kind_name} '{peer.text}'")
        problems = []
        for key in keys:
            try:
                if sig.verify(key, auth.method, auth.data, octets, accept=self.schemes):
                    return f"preloaded certificate '{peer.text}' and {_describe(key, auth)} digital signature"
                problems.append("bad signature")
            except sig.SignatureError as exc:
                problems.append(str(exc))
        raise AuthFailure(f"{'; '.join(sorted(set(problems)))} ({len(keys)} trusted key{'s' if len(keys) > 1 else ''})")

    def _check_certificate(self, credentials: Credentials, conn: EngineConn, peer: IdSpec, auth: Authentication,
                           octets: bytes, ctx: AuthContext) -> str:
        """The peer's chain validated (``cert_auth.peer_key``), then its AUTH with the end
        certificate's key; the text is Libreswan's: ``certificate 'DN' and ... digital
        signature issued by 'CA DN'``."""
        try:
            cert = peer_key(credentials, conn, peer, ctx.peer_certs, ctx.now)
        except CertRefused as exc:
            raise AuthFailure(str(exc)) from None
        kind = sig.key_kind(cert.key)
        if _FAMILY_OF_KIND.get(kind) not in self.families:
            raise AuthFailure(f"the peer's certificate holds an {kind.upper()} key, but the conn takes {self.text}")
        try:
            good = sig.verify(cert.key, auth.method, auth.data, octets)
        except sig.SignatureError as exc:
            raise AuthFailure(f"{exc} (certificate '{cert.subject}')") from None
        if not good:
            raise AuthFailure(f"bad signature (certificate '{cert.subject}')")
        return f"certificate '{cert.subject}' and {_describe(cert.key, auth)} digital signature issued by " \
               f"'{cert.issuer}'"


def _describe(key: Any, auth: Authentication) -> str:
    """``3072-bit RSASSA-PSS with SHA2_512`` as Libreswan's log names what the peer used."""
    if auth.method == sig.AUTH_DIGITAL_SIGNATURE:
        scheme, _ = sig.parse_auth_data(auth.data)
        name = str(scheme)
    else:
        name = {sig.AUTH_RSA_SIG: "RSA PKCS#1 v1.5 with SHA1"}.get(auth.method, f"AUTH method {auth.method}")
    if sig.key_kind(key) == "ecdsa":
        return f"{_CURVES.get(key.curve.name, key.curve.name)} {name}"
    size = getattr(key, "key_size", None)
    return f"{size}-bit {name}" if sig.key_kind(key) == "rsa" and size else name


_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


_ENGINE_FAMILY = {"rsasig": "rsa", "ecdsa": "ecdsa", "eddsa": "eddsa"}


def is_signature(name: str) -> bool:
    """Whether a leftauth=/rightauth= value is one or more signature families or pinned words
    (announces hashes, RFC 7427 4)."""
    return all(part in _ENGINE_FAMILY or part in sig.PINS for part in name.split(","))


class _Methods(dict[str, Authenticator]):
    """leftauth=/rightauth= (EngineConn.local_auth/remote_auth) -> the method; signature
    families in any combination (``rsasig,ecdsa``) are made when first asked for."""

    def __missing__(self, name: str) -> Authenticator:
        if not name or not is_signature(name):
            raise KeyError(name)
        method = self[name] = SignatureAuth(tuple(name.split(",")), f"authby={name}")
        return method

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or (isinstance(name, str) and bool(name) and is_signature(name))


AUTH_METHODS: dict[str, Authenticator] = _Methods(secret=PskAuth(), null=NullAuth())
