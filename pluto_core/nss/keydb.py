"""Private keys from an NSS SQL database (``cert9.db`` + ``key4.db``), read natively.

Libreswan keeps its host keys in NSS. Both files are SQLite; every PKCS#11 object is one
row (``nssPrivate`` in key4.db, ``nssPublic`` in cert9.db) whose columns are named ``a`` and
the attribute type in hex (``a102`` is ``CKA_ID``). Sensitive attributes of private keys
are PBE-encrypted (``pbe.py``) under a key derived from the database password, which
key4.db's ``metaData`` table lets us check before anything is decrypted. The files are
opened read-only; nothing of NSS itself runs. docs/nss.md has the layout and the limits.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from pluto_core.errors import ConfigError
from pluto_core.ikev2.crypto import pubkeys

from . import certdb, der, pbe
from .password import INTERNAL_TOKENS, candidate_passwords, read_password_file
from .rows import CKA_CLASS, CKA_ID, CKA_LABEL, CKA_VALUE, Row, read_rows, sqlite_ro

if TYPE_CHECKING:
    from cryptography import x509

# PKCS#11 numbers (the standard's, as NSS stores them: 4-byte big-endian unsigned).
CKO_PUBLIC_KEY = 2
CKO_PRIVATE_KEY = 3
CKK_RSA = 0x0
CKK_EC = 0x3
CKK_EC_EDWARDS = 0x40
CKA_KEY_TYPE = 0x100
CKA_MODULUS = 0x120
CKA_PUBLIC_EXPONENT = 0x122
CKA_PRIVATE_EXPONENT = 0x123
CKA_PRIME_1 = 0x124
CKA_PRIME_2 = 0x125
CKA_EXPONENT_1 = 0x126
CKA_EXPONENT_2 = 0x127
CKA_COEFFICIENT = 0x128
CKA_EC_PARAMS = 0x180
CKA_EC_POINT = 0x181
CKA_NSS_DB = 0xD5A0DB00  # NSS's own: the public value kept with a private key

PASSWORD_CHECK = b"password-check"

ATTRIBUTE_NAMES = {
    CKA_VALUE: "CKA_VALUE",
    CKA_PRIVATE_EXPONENT: "CKA_PRIVATE_EXPONENT",
    CKA_PRIME_1: "CKA_PRIME_1",
    CKA_PRIME_2: "CKA_PRIME_2",
    CKA_EXPONENT_1: "CKA_EXPONENT_1",
    CKA_EXPONENT_2: "CKA_EXPONENT_2",
    CKA_COEFFICIENT: "CKA_COEFFICIENT",
}

EC_CURVES: dict[str, ec.EllipticCurve] = {
    "1.2.840.10045.3.1.7": ec.SECP256R1(),
    "1.3.132.0.34": ec.SECP384R1(),
    "1.3.132.0.35": ec.SECP521R1(),
}
# Edwards curves: NSS names them by OID or, per PKCS#11 3.0, by a PrintableString.
EDWARDS = {"1.3.101.112": "ed25519", "edwards25519": "ed25519", "1.3.101.113": "ed448", "edwards448": "ed448"}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey


class NssError(ConfigError):
    """The NSS database cannot be read as asked; the message names the directory.

    Messages never carry a password or key bytes.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        super().__init__(message, self.path)

    def __str__(self) -> str:
        return f"NSS database {self.path}: {self.message}"


@dataclass(frozen=True)
class NssKey:
    """One private key of the database, decrypted; its repr shows no key material."""

    ckaid: str  # lowercase hex of CKA_ID, as Libreswan prints it
    key_type: str  # "RSA", "ECDSA" or "EDDSA"
    bits: int
    private_key: PrivateKey = field(repr=False, compare=False)
    label: str | None = None

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return self.private_key.public_key()

    def pubkey_text(self) -> str | None:
        """The ``leftrsasigkey=`` / ``leftecdsakey=`` text Libreswan shows (None for EdDSA)."""
        key = self.public_key
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return pubkeys.encode_raw_pubkey(key)
        return None


def normalise_ckaid(ckaid: str) -> bytes:
    """CKAID text (hex, any case, optional ``0x``, ``:`` or spaces) as bytes."""
    text = ckaid.strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a CKAID is written in hex") from None


class NssDb:
    """An NSS SQL database directory, opened read-only, its password checked at once.

    ``password`` (when given) is used as is; otherwise the ``nsspassword`` file
    (``password_file``, by default the one in the database directory) is consulted for the
    internal token, and a database without a password needs none.

    ``unlock=False`` skips the password: certificates, CRLs and CKAIDs are not encrypted
    and can be read without it (as ``certutil -L`` does), private keys then cannot.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        password: str | bytes | None = None,
        password_file: str | os.PathLike[str] | None = None,
        unlock: bool = True,
    ) -> None:
        text = os.fspath(path)
        self.path = Path(text.removeprefix("sql:"))
        self.key4 = self.path / "key4.db"
        self.cert9 = self.path / "cert9.db"
        if not self.path.is_dir():
            raise NssError(self.path, "no such directory")
        if not self.key4.is_file():
            if (self.path / "key3.db").exists():
                raise NssError(self.path, "holds the old DBM format (key3.db); only key4.db (SQL) is read")
            raise NssError(self.path, "no key4.db")
        self._locked = not unlock
        self._key = self._unlock(password, password_file) if unlock else None

    def __repr__(self) -> str:
        return f"NssDb({str(self.path)!r})"

    # -- password --------------------------------------------------------------------------

    def _unlock(self, password: str | bytes | None, password_file: str | os.PathLike[str] | None) -> bytes | None:
        """The password key, checked against key4.db; None when the database has no check entry."""
        try:
            with closing(sqlite_ro(self.key4)) as conn:
                row = conn.execute("SELECT item1, item2 FROM metaData WHERE id = 'password'").fetchone()
        except sqlite3.Error as exc:
            raise NssError(self.path, f"cannot read key4.db: {exc}") from exc
        if row is None:
            return None
        salt, check = bytes(row[0] or b""), bytes(row[1] or b"")
        source = ""
        file: Path | None = None
        if password is not None:
            candidates = [password.encode("utf-8") if isinstance(password, str) else password]
        else:
            file = Path(password_file) if password_file is not None else self.path / "nsspassword"
            candidates = candidate_passwords(read_password_file(file))
            source = f" (passwords from {file})" if len(candidates) > 1 else ""
        for candidate in candidates:
            key = pbe.password_key(salt, candidate)
            try:
                if pbe.decrypt(check, key) == PASSWORD_CHECK:
                    return key
            except pbe.WrongKey:
                continue
            except pbe.PbeError as exc:
                raise NssError(self.path, f"password check: {exc}") from exc
        if file is not None and len(candidates) == 1:
            tokens = " or ".join(f"'{t}:'" for t in INTERNAL_TOKENS)
            raise NssError(self.path, f"needs a password: no {tokens} line in {file}")
        raise NssError(self.path, "wrong password" + source)

    # -- keys ------------------------------------------------------------------------------

    def _private_rows(self, ckaid: bytes | None = None) -> list[Row]:
        where, args = ("WHERE a102 = ?", (ckaid,)) if ckaid is not None else ("", ())
        try:
            with closing(sqlite_ro(self.key4)) as conn:
                rows = list(read_rows(conn, "nssPrivate", where, args))
        except sqlite3.Error as exc:
            raise NssError(self.path, f"cannot read key4.db: {exc}") from exc
        return [r for r in rows if r.ulong(CKA_CLASS) == CKO_PRIVATE_KEY and r.get(CKA_ID)]

    def ckaids(self) -> list[str]:
        """The CKAIDs of every private key, in database order, without decrypting anything."""
        return [(r.get(CKA_ID) or b"").hex() for r in self._private_rows()]

    def keys(self) -> list[NssKey]:
        """Every RSA, ECDSA and EdDSA private key, decrypted (other key types are left out)."""
        out = []
        for row in self._private_rows():
            key = self._build(row)
            if key is not None:
                out.append(key)
        return out

    def key_by_ckaid(self, ckaid: str) -> NssKey | None:
        """The private key whose CKA_ID is ``ckaid`` (hex), or None."""
        for row in self._private_rows(normalise_ckaid(ckaid)):
            key = self._build(row)
            if key is not None:
                return key
        return None

    # -- certificates (cert9.db; certdb.py) ----------------------------------------------------

    def certificates(self) -> list[certdb.NssCert]:
        """Every certificate of cert9.db with its trust; none when there is no cert9.db."""
        if not self.cert9.is_file():
            return []
        private_ids = {bytes.fromhex(c) for c in self.ckaids()}
        try:
            return certdb.read_certificates(self.cert9, private_ids)
        except sqlite3.Error as exc:
            raise NssError(self.path, f"cannot read cert9.db: {exc}") from exc

    def cert_by_nickname(self, nickname: str) -> certdb.NssCert | None:
        """The first certificate with this nickname (``leftcert=``), or None."""
        return next((c for c in self.certificates() if c.nickname == nickname), None)

    def ca_certificates(self) -> list[certdb.NssCert]:
        """The CAs trusted for SSL (C or T in the first trust column): the anchors Libreswan
        verifies peer certificates against."""
        return [c for c in self.certificates() if c.trust.trusted_ssl_ca]

    def private_key_for(self, cert: certdb.NssCert | x509.Certificate) -> NssKey | None:
        """The private key of a certificate: the key whose CKAID is that of the certificate's
        public key (NSS's own CKA_ID pairing is tried too), or None."""
        if isinstance(cert, certdb.NssCert):
            certificate, candidates = cert.certificate, [cert.ckaid, cert.cka_id]
        else:
            computed = certdb.key_ckaid(cert)
            certificate, candidates = cert, [computed.hex()] if computed else []
        for ckaid in dict.fromkeys(c for c in candidates if c):
            key = self.key_by_ckaid(ckaid)
            if key is not None and _spki(key.public_key) == _spki(certificate.public_key()):
                return key
        return None

    def crls(self) -> list[bytes]:
        """The DER CRLs in cert9.db (``crlutil -I``), database order."""
        if not self.cert9.is_file():
            return []
        try:
            return certdb.read_crls(self.cert9)
        except sqlite3.Error as exc:
            raise NssError(self.path, f"cannot read cert9.db: {exc}") from exc

    def _secret(self, row: Row, kind: int, ckaid: str) -> bytes:
        """A sensitive attribute, decrypted."""
        name = ATTRIBUTE_NAMES.get(kind, f"0x{kind:x}")
        value = row.get(kind)
        if not value:
            raise NssError(self.path, f"key {ckaid}: {name} is missing")
        if self._locked:
            raise NssError(self.path, "opened without its password (unlock=False): private keys cannot be read")
        if self._key is None:
            raise NssError(self.path, "key4.db has private keys but no password entry")
        try:
            return pbe.decrypt(value, self._key)
        except pbe.PbeError as exc:
            raise NssError(self.path, f"key {ckaid}: cannot decrypt {name}: {exc}") from exc

    def _build(self, row: Row) -> NssKey | None:
        ckaid = (row.get(CKA_ID) or b"").hex()
        label_raw = row.get(CKA_LABEL)
        label = label_raw.decode("utf-8", "replace") if label_raw else None
        kind = row.ulong(CKA_KEY_TYPE)
        try:
            if kind == CKK_RSA:
                rsa_key = self._rsa(row, ckaid)
                return NssKey(ckaid, "RSA", rsa_key.key_size, rsa_key, label)
            if kind == CKK_EC:
                ec_key = self._ec(row, ckaid)
                return NssKey(ckaid, "ECDSA", ec_key.curve.key_size, ec_key, label)
            if kind == CKK_EC_EDWARDS:
                ed_key, bits = self._edwards(row, ckaid)
                return NssKey(ckaid, "EDDSA", bits, ed_key, label)
        except ValueError as exc:  # cryptography's consistency checks
            raise NssError(self.path, f"key {ckaid}: {exc}") from exc
        return None

    def _rsa(self, row: Row, ckaid: str) -> rsa.RSAPrivateKey:
        def number(kind: int) -> int:
            return int.from_bytes(self._secret(row, kind, ckaid), "big")

        n = int.from_bytes(row.get(CKA_MODULUS) or b"", "big")
        e = int.from_bytes(row.get(CKA_PUBLIC_EXPONENT) or b"", "big")
        if not n or not e:
            raise NssError(self.path, f"key {ckaid}: RSA key without modulus or public exponent")
        d, p, q = number(CKA_PRIVATE_EXPONENT), number(CKA_PRIME_1), number(CKA_PRIME_2)
        dmp1 = number(CKA_EXPONENT_1) if row.get(CKA_EXPONENT_1) else rsa.rsa_crt_dmp1(d, p)
        dmq1 = number(CKA_EXPONENT_2) if row.get(CKA_EXPONENT_2) else rsa.rsa_crt_dmq1(d, q)
        iqmp = number(CKA_COEFFICIENT) if row.get(CKA_COEFFICIENT) else rsa.rsa_crt_iqmp(p, q)
        # The arithmetic that ties the parts together (cheap), instead of OpenSSL's full key
        # check, whose primality tests cost half a second per 3072-bit key at every start.
        consistent = (
            p * q == n
            and (e * d) % (p - 1) == 1
            and (e * d) % (q - 1) == 1
            and dmp1 == d % (p - 1)
            and dmq1 == d % (q - 1)
            and (q * iqmp) % p == 1
        )
        if not consistent:
            raise NssError(self.path, f"key {ckaid}: the RSA private parts do not match the modulus")
        numbers = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, rsa.RSAPublicNumbers(e, n))
        try:
            return numbers.private_key(unsafe_skip_rsa_key_validation=True)
        except TypeError:  # a cryptography without the keyword: the full check, only slower
            return numbers.private_key()

    def _curve_name(self, row: Row, ckaid: str) -> str:
        params = row.get(CKA_EC_PARAMS)
        if not params:
            raise NssError(self.path, f"key {ckaid}: no CKA_EC_PARAMS")
        try:
            tlv = der.read_single(params)
            return tlv.as_oid() if tlv.tag == der.OID else tlv.value.decode("ascii", "replace")
        except der.DerError as exc:
            raise NssError(self.path, f"key {ckaid}: malformed CKA_EC_PARAMS: {exc}") from exc

    def _ec(self, row: Row, ckaid: str) -> ec.EllipticCurvePrivateKey:
        curve_name = self._curve_name(row, ckaid)
        if curve_name not in EC_CURVES:
            raise NssError(self.path, f"key {ckaid}: curve {curve_name} is not supported")
        value = int.from_bytes(self._secret(row, CKA_VALUE, ckaid), "big")
        key = ec.derive_private_key(value, EC_CURVES[curve_name])
        point = key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
        for stored in self._stored_points(row):
            if stored != point:
                raise NssError(self.path, f"key {ckaid}: the private value does not match the stored public key")
        return key

    def _stored_points(self, row: Row) -> list[bytes]:
        """The public point as NSS keeps it beside the private key and in cert9.db's public key."""
        found = [unwrap_point(row.get(CKA_NSS_DB) or b"")]
        ckaid = row.get(CKA_ID)
        if self.cert9.is_file():
            try:
                with closing(sqlite_ro(self.cert9)) as conn:
                    for public in read_rows(conn, "nssPublic", "WHERE a102 = ?", (ckaid,)):
                        if public.ulong(CKA_CLASS) == CKO_PUBLIC_KEY:
                            found.append(unwrap_point(public.get(CKA_EC_POINT) or b""))
            except sqlite3.Error as exc:
                raise NssError(self.path, f"cannot read cert9.db: {exc}") from exc
        return [p for p in found if p]

    def _edwards(self, row: Row, ckaid: str) -> tuple[ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey, int]:
        curve_name = EDWARDS.get(self._curve_name(row, ckaid))
        raw = self._secret(row, CKA_VALUE, ckaid)
        if curve_name == "ed25519":
            return ed25519.Ed25519PrivateKey.from_private_bytes(raw), 256
        if curve_name == "ed448":
            return ed448.Ed448PrivateKey.from_private_bytes(raw), 448
        raise NssError(self.path, f"key {ckaid}: Edwards curve is not supported")


def _spki(key: Any) -> bytes:
    """A public key as DER SubjectPublicKeyInfo, to compare keys of any type."""
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def unwrap_point(value: bytes) -> bytes:
    """An EC point as raw bytes, whether stored bare or as a DER OCTET STRING."""
    if value[:1] == bytes([der.OCTET_STRING]):
        try:
            tlv = der.read_single(value)
            if tlv.value[:1] in (b"\x02", b"\x03", b"\x04"):
                return tlv.value
        except der.DerError:
            pass
    return value
