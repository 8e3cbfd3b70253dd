"""The certificates and CRLs the daemon knows, for ``ipsec listcerts`` / ``listcacerts`` /
``listcrls``: the NSS database's (read natively, no password), then the files of
``<ipsecdir>/certs/``, ``cacerts/`` and ``crls/``.

File certificates are shown as :class:`NssCert` so the listing formatters print them as
Libreswan prints NSS ones: the nickname is the path under the ipsecdir (``cacerts/root.pem``,
with ``#2``... for a file's later certificates); a file in ``cacerts/`` is a trusted CA
(``CT,,``); one already in the NSS database is listed once, as NSS's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pluto_core.errors import ConfigError
from pluto_core.nss import NssCert, NssDb, NssTrust
from pluto_core.nss.certdb import key_ckaid
from pluto_core.x509.files import CertFileError, read_certs
from pluto_core.x509.revocation.crl import CrlError, read_crls

CA_TRUST = NssTrust(frozenset("CT"))


@dataclass
class Inventory:
    certs: list[NssCert] = field(default_factory=list)
    crls: list[bytes] = field(default_factory=list)  # DER
    problems: list[str] = field(default_factory=list)  # one line each: an unreadable file or database


def read_inventory(nssdir: str | None, ipsecdir: str | None) -> Inventory:
    """Everything readable; what is not is a problem line, never an exception."""
    out = Inventory()
    if nssdir and os.path.isdir(nssdir):
        try:
            db = NssDb(nssdir, unlock=False)
            out.certs += db.certificates()
            out.crls += db.crls()
        except ConfigError as exc:  # NssError names the database
            out.problems.append(str(exc))
    if ipsecdir:
        seen = {c.der for c in out.certs}
        for sub, trust in (("certs", NssTrust()), ("cacerts", CA_TRUST)):
            for path, certs in _files(Path(ipsecdir) / sub, out.problems):
                for i, cert in enumerate(certs):
                    der = cert.public_bytes(Encoding.DER)
                    if der in seen:
                        continue
                    seen.add(der)
                    name = f"{sub}/{path.name}" + (f"#{i + 1}" if i else "")
                    out.certs.append(_as_nss(name, cert, der, trust))
        known = set(out.crls)
        for path in _dir(Path(ipsecdir) / "crls"):
            try:
                crls = read_crls(path.read_bytes())
            except (OSError, CrlError) as exc:
                out.problems.append(f"CRL {path}: {exc}")
                continue
            for crl in crls:
                der = crl.public_bytes(Encoding.DER)
                if der not in known:
                    known.add(der)
                    out.crls.append(der)
    return out


def _dir(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _files(folder: Path, problems: list[str]) -> list[tuple[Path, list[x509.Certificate]]]:
    out = []
    for path in _dir(folder):
        try:
            out.append((path, read_certs(path)))
        except CertFileError as exc:
            problems.append(f"certificate {exc}")
    return out


def _as_nss(name: str, cert: x509.Certificate, der: bytes, trust: NssTrust) -> NssCert:
    ckaid = key_ckaid(cert) or b""
    return NssCert(nickname=name, certificate=cert, der=der, trust=trust, has_private_key=False,
                   ckaid=ckaid.hex(), cka_id="")
