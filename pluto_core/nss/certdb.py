"""Certificates, trust and CRLs from an NSS SQL database's ``cert9.db``, read natively.

Libreswan finds its own certificate (``leftcert=`` nickname), its CAs and CRLs in NSS. In
``cert9.db``'s ``nssPublic`` table every object is a row as in key4.db (``rows.read_rows``):

* ``CKO_CERTIFICATE`` rows: ``CKA_VALUE`` is the DER certificate, ``CKA_LABEL`` the nickname,
  ``CKA_ID`` the id NSS pairs it with a private key by.
* ``CKO_NSS_TRUST`` rows: one per certificate with explicit trust, found by issuer and serial
  number (or the SHA-1 / MD5 hash of the certificate); a trust value per usage, which NSS's
  tools show as the letters of ``certutil -L`` (``CT,,``). ``u`` is not stored: it means the
  private key is in key4.db.
* ``CKO_NSS_CRL`` rows: ``CKA_VALUE`` is a DER CRL.

Nothing here is encrypted, so nothing needs the password; only rows and parsing. The
``NssDb`` methods (``certificates()``, ``crls()``...) call into this module, which needs
nothing of keydb (keydb imports it: no cycle).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from pluto_core.ikev2.crypto import pubkeys

from . import der
from .rows import CKA_CLASS, CKA_ID, CKA_LABEL, CKA_VALUE, Row, read_rows, sqlite_ro

CKO_CERTIFICATE = 0x1
CKO_NSS = 0xCE534350  # NSS's vendor-defined object classes and values start here
CKO_NSS_CRL = CKO_NSS + 1
CKO_NSS_TRUST = CKO_NSS + 3
CKA_ISSUER = 0x81
CKA_SERIAL_NUMBER = 0x82  # the DER INTEGER, tag and length included
CKA_SUBJECT = 0x101
CKA_TRUST = 0xCE536350
CKA_TRUST_SERVER_AUTH = CKA_TRUST + 8
CKA_TRUST_CLIENT_AUTH = CKA_TRUST + 9
CKA_TRUST_CODE_SIGNING = CKA_TRUST + 10
CKA_TRUST_EMAIL_PROTECTION = CKA_TRUST + 11
CKA_CERT_SHA1_HASH = CKA_TRUST + 100
CKA_CERT_MD5_HASH = CKA_TRUST + 101

# Trust values (CK_TRUST), and the certutil letters each stands for. "c" and "p" are the
# weaker forms NSS keeps beside "C"/"T" and "P" (valid CA; a terminal, i.e. peer, record).
CKT_NSS_TRUSTED = CKO_NSS + 1
CKT_NSS_TRUSTED_DELEGATOR = CKO_NSS + 2
CKT_NSS_MUST_VERIFY_TRUST = CKO_NSS + 3
CKT_NSS_TRUST_UNKNOWN = CKO_NSS + 5
CKT_NSS_NOT_TRUSTED = CKO_NSS + 10
CKT_NSS_VALID_DELEGATOR = CKO_NSS + 11
TRUST_LETTERS: dict[int, frozenset[str]] = {
    CKT_NSS_TRUSTED: frozenset("Pp"),
    CKT_NSS_TRUSTED_DELEGATOR: frozenset("Cc"),
    CKT_NSS_VALID_DELEGATOR: frozenset("c"),
    CKT_NSS_NOT_TRUSTED: frozenset("p"),
}
# The order certutil prints them in; "c" hides behind C or T, "p" behind P.
LETTER_ORDER = "cpCTPu"


def trust_letters(value: int | None) -> frozenset[str]:
    """The certutil letters of one usage's trust value (must-verify and unknown have none)."""
    return TRUST_LETTERS.get(value or 0, frozenset())


def render_letters(letters: Iterable[str]) -> str:
    """One column of ``certutil -L``'s trust: ``CT``, ``Pu``, ``c``..."""
    have = set(letters)
    if have & {"C", "T"}:
        have.discard("c")
    if "P" in have:
        have.discard("p")
    return "".join(ch for ch in LETTER_ORDER if ch in have)


@dataclass(frozen=True)
class NssTrust:
    """The trust of one certificate per usage, as sets of certutil letters."""

    ssl: frozenset[str] = frozenset()
    email: frozenset[str] = frozenset()
    object_signing: frozenset[str] = frozenset()

    @classmethod
    def from_row(cls, row: Row | None, user: bool = False) -> NssTrust:
        """From a CKO_NSS_TRUST row (None: no explicit trust). For SSL, a client-auth
        delegator is a "T" (trusted client CA) rather than a "C"; ``user`` adds "u"."""
        extra = frozenset("u") if user else frozenset()
        if row is None:
            return cls(extra, extra, extra)
        client = set(trust_letters(row.ulong(CKA_TRUST_CLIENT_AUTH)))
        if "C" in client:
            client.discard("C")
            client.add("T")
        ssl = trust_letters(row.ulong(CKA_TRUST_SERVER_AUTH)) | client
        return cls(ssl | extra, trust_letters(row.ulong(CKA_TRUST_EMAIL_PROTECTION)) | extra,
                   trust_letters(row.ulong(CKA_TRUST_CODE_SIGNING)) | extra)

    def __str__(self) -> str:
        return ",".join(render_letters(col) for col in (self.ssl, self.email, self.object_signing))

    @property
    def valid_ca(self) -> bool:
        """Some usage marks it a CA (c, C or T): NSS then treats it as one whatever its extensions say."""
        return any(col & {"c", "C", "T"} for col in (self.ssl, self.email, self.object_signing))

    @property
    def trusted_ssl_ca(self) -> bool:
        """C or T for SSL: a CA Libreswan anchors IKE peer certificates to."""
        return bool(self.ssl & {"C", "T"})


@dataclass(frozen=True)
class NssCert:
    """One certificate of the database; ``ckaid`` names its key as Libreswan's CKAIDs do."""

    nickname: str
    certificate: x509.Certificate = field(repr=False, compare=False)
    der: bytes = field(repr=False)
    trust: NssTrust
    has_private_key: bool
    ckaid: str  # SHA-1 of the public key (pubkeys.ckaid), else the stored CKA_ID, lowercase hex
    cka_id: str  # CKA_ID as stored (NSS sets it to the same for certificates it imports)

    @property
    def trust_flags(self) -> str:
        """The ``certutil -L`` trust column: ``CT,,``, ``u,u,u``, ``P,,``..."""
        return str(self.trust)

    @property
    def is_root(self) -> bool:
        """Self-issued: subject and issuer are the same DER name."""
        return self.certificate.subject.public_bytes() == self.certificate.issuer.public_bytes()

    @property
    def is_ca(self) -> bool:
        """A CA as NSS decides for listings: basicConstraints cA, a CA trust letter, or
        (without basicConstraints) a self-issued version 1 certificate."""
        try:
            constraints = self.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        except ValueError:  # an extension cryptography cannot parse
            constraints = None
        if constraints is not None and constraints.ca:
            return True
        if self.trust.valid_ca:
            return True
        return constraints is None and self.certificate.version == x509.Version.v1 and self.is_root


def read_certificates(cert9: Path, private_ids: set[bytes]) -> list[NssCert]:
    """Every certificate in ``cert9`` (database order), its trust, and whether one of
    ``private_ids`` (key4.db's CKA_IDs) is its key. Unparsable certificates are skipped."""
    rows = _rows(cert9)
    trusts = _trust_index(r for r in rows if r.ulong(CKA_CLASS) == CKO_NSS_TRUST)
    out: list[NssCert] = []
    for row in rows:
        if row.ulong(CKA_CLASS) != CKO_CERTIFICATE:
            continue
        value = row.get(CKA_VALUE)
        if not value:
            continue
        try:
            cert = x509.load_der_x509_certificate(value)
        except ValueError:
            continue
        stored_id = row.get(CKA_ID) or b""
        computed = key_ckaid(cert)
        has_key = bool({stored_id, computed or b""} & private_ids - {b""})
        trust_row = _find_trust(trusts, cert, value)
        label = row.get(CKA_LABEL) or b""
        out.append(NssCert(
            nickname=label.decode("utf-8", "replace"),
            certificate=cert,
            der=value,
            trust=NssTrust.from_row(trust_row, user=has_key),
            has_private_key=has_key,
            ckaid=(computed or stored_id).hex(),
            cka_id=stored_id.hex(),
        ))
    return out


def read_crls(cert9: Path) -> list[bytes]:
    """The DER CRLs NSS keeps (``crlutil -I``; Libreswan's ``_import_crl``), database order."""
    return [r.get(CKA_VALUE) or b"" for r in _rows(cert9)
            if r.ulong(CKA_CLASS) == CKO_NSS_CRL and r.get(CKA_VALUE)]


def key_ckaid(cert: x509.Certificate) -> bytes | None:
    """The CKAID of the certificate's public key (None for key types Libreswan cannot use)."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError):  # unsupported or malformed key
        return None
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
                  | ed448.Ed448PublicKey):
        return pubkeys.ckaid(key)
    return None


def _rows(cert9: Path) -> list[Row]:
    """All of nssPublic; sqlite3.Error is the caller's to report (it names the database)."""
    with closing(sqlite_ro(cert9)) as conn:
        return list(read_rows(conn, "nssPublic"))


TrustIndex = dict[tuple[bytes, ...], Row]


def _trust_index(rows: Iterable[Row]) -> TrustIndex:
    """Trust rows by (issuer, serial), and by SHA-1 and MD5 of the certificate."""
    index: TrustIndex = {}
    for row in rows:
        issuer, serial = row.get(CKA_ISSUER), row.get(CKA_SERIAL_NUMBER)
        if issuer and serial:
            index.setdefault((issuer, serial), row)
        for name, kind in ((b"sha1", CKA_CERT_SHA1_HASH), (b"md5", CKA_CERT_MD5_HASH)):
            digest = row.get(kind)
            if digest:
                index.setdefault((name, digest), row)
    return index


def _find_trust(index: TrustIndex, cert: x509.Certificate, value: bytes) -> Row | None:
    """The trust object of a certificate: NSS looks it up by issuer and serial number; the
    hashes catch a trust object written without them."""
    found = index.get((cert.issuer.public_bytes(), serial_der(cert.serial_number)))
    if found is None:
        found = index.get((b"sha1", hashlib.sha1(value).digest()))
    if found is None:
        found = index.get((b"md5", hashlib.md5(value, usedforsecurity=False).digest()))
    return found


def serial_octets(serial: int) -> bytes:
    """The content octets of a serial number's DER INTEGER (a leading 00 kept, as NSS keeps it)."""
    magnitude = serial if serial >= 0 else ~serial
    return serial.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def serial_der(serial: int) -> bytes:
    """A serial number as the DER INTEGER NSS stores in CKA_SERIAL_NUMBER."""
    content = serial_octets(serial)
    return bytes([der.INTEGER]) + der.encode_length(len(content)) + content
