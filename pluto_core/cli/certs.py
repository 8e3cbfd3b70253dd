"""``ipsec import`` and the offline ``ipsec listcerts`` / ``listcacerts`` / ``listcrls``.

``import`` behaves as Libreswan 4.10's (a shell function in its ``ipsec`` script): NSS's
``pk12util -i`` loads the PKCS#12 file, then every CA certificate whose SSL trust is not
"trusted CA and trusted client CA" gets ``CT,,`` (``certutil -M``), with a line saying so.
Which certificates need it is decided from the database read natively, as Libreswan decides
it from ``certutil -L`` output. The listings read the database natively and print what
``ipsec whack --listcerts`` etc. print against a running pluto (:mod:`pluto_core.nss.listing`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from pluto_core.cli.hostkey import Exit, finish, is_initialised
from pluto_core.errors import ConfigError
from pluto_core.nss import NssDb, listing
from pluto_core.nss.certdb import NssCert
from pluto_core.options import DEFAULT_NSSDIR

PK12UTIL = "pk12util"
CERTUTIL = "certutil"
# certutil -L -n prints a usage's trust as one line per flag, in this order.
FLAG_LINES = (("p", "Terminal Record"), ("P", "Trusted"), ("c", "Valid CA"), ("C", "Trusted CA"),
              ("u", "User"), ("T", "Trusted Client CA"))


def _flag_lines(letters: frozenset[str]) -> list[str]:
    return [text for letter, text in FLAG_LINES if letter in letters]


def needs_ca_trust(cert: NssCert) -> bool:
    """Libreswan's test after an import: the certificate says "Is a CA" (basicConstraints cA)
    and, of the three lines after ``SSL Flags:`` in ``certutil -L -n``, not exactly two
    mention "trusted". (Only those three lines are looked at, so a CA that also has a key,
    "Valid CA / Trusted CA / User / Trusted Client CA", is corrected every time, as there.)"""
    try:
        constraints = cert.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    if not constraints.ca:
        return False
    trust = cert.trust
    block = (["SSL Flags:"] + _flag_lines(trust.ssl) + ["Email Flags:"] + _flag_lines(trust.email)
             + ["Object Signing Flags:"] + _flag_lines(trust.object_signing))
    return sum("trusted" in line.lower() for line in block[1:4]) != 2


def import_usage(nssdir: str) -> str:
    return f"Usage: ipsec import [--nssdir {nssdir}] /path/to/pkcs.12"


def import_(args: list[str]) -> int:
    """``ipsec import [--nssdir DIR] FILE.p12``: pk12util, then the CA trust fix-up."""
    try:
        return _import(args)
    except Exit as exc:
        return finish(exc)


def _import(args: list[str]) -> int:
    nssdir = str(DEFAULT_NSSDIR)
    if not args or not args[0]:
        raise Exit(1, [import_usage(nssdir)])
    bundle = ""
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--configdir", "-d", "--nssdir"):
            if arg == "--configdir":
                print("ipsec import warning: --configdir is obsoleted, use --nssdir", file=sys.stderr)
            value = rest.pop(0) if rest else ""
            if value and Path(value).is_dir():  # as in Libreswan: a missing directory is ignored
                nssdir = value
        elif Path(arg).is_file():
            bundle = arg
        else:
            raise Exit(1, [import_usage(nssdir)])
    path = Path(nssdir)
    if not (path.is_dir() and os.access(path, os.W_OK)):
        raise Exit(1, [f'ERROR: destination directory "{nssdir}" is missing or permission denied'])
    if not ((path / "key4.db").is_file() and (path / "cert9.db").is_file()):
        raise Exit(1, ["ERROR: NSS database files are missing, import aborted.",
                       'Initialize database with command "ipsec checknss".'])
    # pk12util asks for the PKCS#12 password (and the database's) on the terminal, as there;
    # its exit status is not looked at, as there.
    _run(PK12UTIL, "-i", bundle, "-d", f"sql:{nssdir}")
    sys.stdout.flush()
    for cert in _certificates(path, "ipsec import"):
        if needs_ca_trust(cert):
            print(f"correcting trust bits for {cert.nickname}", flush=True)
            _run(CERTUTIL, "-M", "-d", f"sql:{nssdir}", "-n", cert.nickname, "-t", "CT,,")
    return 0


def _run(tool: str, *args: str) -> None:
    found = shutil.which(tool)
    if found is None:
        print(f"ipsec import: {tool} not found (install libnss3-tools)", file=sys.stderr)
        raise Exit(1)
    subprocess.run([found, *args], check=False)


def _open(nssdir: Path, prog: str) -> NssDb:
    """The database, opened without its password: certificates, CRLs and CKAIDs are clear."""
    if not is_initialised(nssdir):
        raise Exit(1, [f'FATAL ERROR: {prog}: NSS: initialization using read-only database "sql:{nssdir}" '
                       "failed: SEC_ERROR_BAD_DATABASE: security library: bad database."])
    try:
        return NssDb(nssdir, unlock=False)
    except ConfigError as exc:
        raise Exit(1, [f"FATAL ERROR: {prog}: {exc}"]) from exc


def _certificates(nssdir: Path, prog: str) -> list[NssCert]:
    try:
        return _open(nssdir, prog).certificates()
    except ConfigError as exc:
        raise Exit(1, [f"FATAL ERROR: {prog}: {exc}"]) from exc


def _list(verb: str, args: list[str]) -> int:
    prog = f"ipsec {verb}"
    nssdir = str(DEFAULT_NSSDIR)
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--nssdir", "-d") and rest:
            nssdir = rest.pop(0)
        else:
            raise Exit(1, [f"Usage: {prog} [--nssdir {DEFAULT_NSSDIR}]"])
    if verb == "listcrls":
        try:
            text = listing.format_listcrls(_open(Path(nssdir), prog).crls())
        except ConfigError as exc:
            raise Exit(1, [f"FATAL ERROR: {prog}: {exc}"]) from exc
    else:
        certs = _certificates(Path(nssdir), prog)
        text = listing.format_listcerts(certs) if verb == "listcerts" else listing.format_listcacerts(certs)
    print(text)
    return 0


def listcerts(args: list[str]) -> int:
    """``ipsec listcerts``: what ``whack --listcerts`` prints, from the database itself."""
    try:
        return _list("listcerts", args)
    except Exit as exc:
        return finish(exc)


def listcacerts(args: list[str]) -> int:
    """``ipsec listcacerts``: what ``whack --listcacerts`` prints, from the database itself."""
    try:
        return _list("listcacerts", args)
    except Exit as exc:
        return finish(exc)


def listcrls(args: list[str]) -> int:
    """``ipsec listcrls``: what ``whack --listcrls`` prints, from the database itself."""
    try:
        return _list("listcrls", args)
    except Exit as exc:
        return finish(exc)
