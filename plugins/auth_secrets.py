"""The built-in ``secrets`` auth source: what ``ipsec.secrets`` itself holds.

- pre-shared keys, chosen as Libreswan chooses them (the most specific match of the two IDs);
- RSA private keys written out in ``RSA { Modulus: 0x... PrivateExponent: 0x... }`` blocks
  (Libreswan's old raw form), built once per load and found by the conn's CKAID
  (``leftckaid=``), else by the entry's IDs (:mod:`pluto_core.auth.keyring`).

``RSA name`` / ``ECDSA name`` entries name a key held elsewhere: the ``nss`` and ``files``
sources serve those.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from pluto_core.auth.keyring import HeldKey, KeyRing
from pluto_core.config.secrets import SecretEntry
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.crypto.signatures import KeySigner
from pluto_core.ikev2.types import EngineConn, IdSpec


class RsaBlockError(ValueError):
    """An ``RSA { }`` block that makes no key; the message names a field, never a value."""


def rsa_block_key(entry: SecretEntry) -> rsa.RSAPrivateKey:
    """The private key of an ``RSA { }`` entry. Modulus, PublicExponent and PrivateExponent
    (or Prime1 and Prime2) are needed; missing CRT values are computed."""
    fields = {name.lower(): int.from_bytes(value.reveal(), "big") for name, value in entry.rsa_fields}
    for name, shown in (("modulus", "Modulus"), ("publicexponent", "PublicExponent")):
        if not fields.get(name):
            raise RsaBlockError(f"no {shown}")
    n, e = fields["modulus"], fields["publicexponent"]
    p, q, d = fields.get("prime1"), fields.get("prime2"), fields.get("privateexponent")
    if not (p and q):
        if not d:
            raise RsaBlockError("neither PrivateExponent nor Prime1 and Prime2")
        try:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
        except ValueError:
            raise RsaBlockError("PrivateExponent does not match the Modulus") from None
    if p * q != n:
        raise RsaBlockError("Prime1 * Prime2 is not the Modulus")
    if not d:
        d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d,
        fields.get("exponent1") or rsa.rsa_crt_dmp1(d, p),
        fields.get("exponent2") or rsa.rsa_crt_dmq1(d, q),
        fields.get("coefficient") or rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, n),
    )
    try:
        return numbers.private_key()
    except ValueError:  # cryptography's consistency checks; their text is not ours to show
        raise RsaBlockError("the fields do not make one consistent RSA key") from None


class SecretsSource:
    def __init__(self) -> None:
        # replaced whole on each (re)load: readers on other threads see one or the other
        self.secrets: Any = None
        self.keys = KeyRing()

    @hookimpl
    def pluto_auth_load(self, secrets: Any, log: Any) -> None:
        held = []
        for entry in secrets.entries:
            if not entry.rsa_fields:
                continue
            where = f"{entry.file}:{entry.line}"
            if entry.kind != "RSA":
                _say(log, f"{where}: {entry.kind} {{ }} blocks are not supported: skipped")
                continue
            try:
                private = rsa_block_key(entry)
                key = HeldKey.of(entry, KeySigner(private))
            except (RsaBlockError, ValueError, OverflowError) as exc:
                reason = str(exc) if isinstance(exc, RsaBlockError) else "the fields make no RSA key"
                _say(log, f"{where}: RSA {{ }} private key: {reason}: skipped")
                continue
            held.append(key)
            _say(log, f"{where}: loaded {private.key_size}-bit RSA private key, ckaid {key.ckaid}")
        self.keys = KeyRing(held)
        self.secrets = secrets

    @hookimpl
    def pluto_auth_psk(self, local_id: IdSpec, remote_id: IdSpec | None, conn: EngineConn) -> bytes | None:
        secrets = self.secrets
        if secrets is None:
            return None
        secret = secrets.lookup_psk(local_id.text, remote_id.text if remote_id is not None else "%any")
        return secret.reveal() if secret is not None else None

    @hookimpl
    def pluto_auth_signer(self, local_id: IdSpec, conn: EngineConn) -> KeySigner | None:
        return self.keys.find(local_id, conn)


def _say(log: Any, text: str) -> None:
    if log is not None:
        log.log(text)


plugin = SecretsSource()
