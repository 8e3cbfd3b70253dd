"""Where ``leftcert=`` and ``<ipsecdir>/cacerts/`` point, and how they are read: a file
(PEM, several per file, or DER) or an NSS nickname.

Shared by the config side (``engine_conn``: our certificate's CKAID and ``%fromcert``) and
the built-in ``x509`` auth source, so both read a certificate alike. Libreswan keeps
certificates in its NSS database (``leftcert=`` is a nickname there); pluto also reads them
from files laid out as strongSwan's ``ipsec.d``: ``certs/`` (ours), ``cacerts/`` (trusted
CAs), ``crls/``. Which one a ``leftcert=`` means is decided by its spelling alone
(:func:`names_a_file`), never by what happens to exist on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from pluto_core.config.paths import read_file
from pluto_core.nss import NssCert, NssDb

CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")


class CertFileError(ValueError):
    """A certificate file that gives no certificate; the message names the file and why."""


def names_a_file(name: str) -> bool:
    """``leftcert=/etc/ipsec.d/certs/east.pem``, ``east.crt``, ``sub/east.der``, ``./east``: a
    file (a ``/`` or a certificate suffix); ``east`` alone is an NSS nickname, as in Libreswan,
    even when ``certs/east`` exists (``./east`` names that file)."""
    return "/" in name or name.lower().endswith(CERT_SUFFIXES)


def nss_certificate(nickname: str, nssdir: str | os.PathLike[str]) -> NssCert:
    """``leftcert=NICKNAME`` from the NSS database at ``nssdir``, read natively (certificates
    need no password). ``NssError`` (a ``ConfigError`` naming the directory) for a database
    that cannot be read; ``CertFileError`` for a nickname it lacks."""
    db = NssDb(nssdir, unlock=False)
    cert = db.cert_by_nickname(nickname)
    if cert is None:
        raise CertFileError(f"no certificate with nickname '{nickname}' in the NSS database {db.path}")
    return cert


def cert_path(name: str, ipsecdir: str) -> str:
    """Where ``leftcert=NAME`` is: an absolute path as is, else under ``<ipsecdir>/certs/``."""
    return name if os.path.isabs(name) else os.path.join(ipsecdir, "certs", name)


def parse_certs(data: bytes, where: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file (in file order) or the one of a DER file."""
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CertFileError(f"{where}: not a PEM or DER X.509 certificate ({exc})") from None
    if not certs:
        raise CertFileError(f"{where}: no certificate in it")
    return certs


def read_certs(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """The certificates of one file; ``CertFileError`` naming the file."""
    try:
        data = read_file(os.fspath(path))[0]  # regular files only: a FIFO must not block the daemon
    except OSError as exc:
        raise CertFileError(f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}") from None
    return parse_certs(data, str(path))


def read_cert_dir(path: str | os.PathLike[str]) -> tuple[list[x509.Certificate], list[str]]:
    """Every certificate of every file in a directory (``<ipsecdir>/cacerts/``), in file-name
    order, and the problems met (one per bad file, naming it). A missing directory is empty."""
    folder = Path(path)
    if not folder.is_dir():
        return [], []
    certs: list[x509.Certificate] = []
    problems: list[str] = []
    for file in sorted(folder.iterdir()):
        if not file.is_file():
            continue
        try:
            certs += read_certs(file)
        except CertFileError as exc:
            problems.append(str(exc))
    return certs, problems


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Does ``issuer``'s name and key sign ``cert``? (names alone could be a namesake)."""
    if cert.issuer.public_bytes() != issuer.subject.public_bytes():
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer.public_bytes() == cert.subject.public_bytes()


def complete_chain(own: list[x509.Certificate], cas: list[x509.Certificate],
                   max_depth: int = 8) -> list[x509.Certificate]:
    """Our chain to send: the certificates of our file (end certificate first), then the
    intermediate CAs from ``cas`` that issued the last one, up to (not including) a root."""
    chain = list(own)
    while len(chain) < max_depth:
        last = chain[-1]
        if self_signed(last):
            break
        issuer = next((c for c in cas if not self_signed(c) and c not in chain and issued_by(last, c)), None)
        if issuer is None:
            break
        chain.append(issuer)
    return [c for c in chain if c is chain[0] or not self_signed(c)]
