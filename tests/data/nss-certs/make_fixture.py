"""Remake this fixture: an NSS database with certificates and CRLs, and what Libreswan 4.10
printed for it (``whack --listcerts/--listcacerts/--listcrls``, ``certutil -L``).

Needs root (a network namespace for Libreswan's pluto), /opt/libreswan and libnss3-tools.
Run from the repository root: ``python tests/data/nss-certs/make_fixture.py``.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from tests.unit.nss_pki import P12_PASSWORD, Pki, issue, run_with_tty

HERE = Path(__file__).resolve().parent
LSW = Path("/opt/libreswan/usr/libexec/ipsec")
IPSEC = Path("/opt/libreswan/usr/sbin/ipsec")
A = x509.NameAttribute


def add(db: Path, nick: str, cert: x509.Certificate, trust: str, work: Path) -> None:
    pem = work / f"{nick}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", nick, "-t", trust, "-i", str(pem)], check=True)


def add_crl(db: Path, crl: x509.CertificateRevocationList, work: Path) -> None:
    path = work / "crl.der"
    path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    subprocess.run(["crlutil", "-I", "-d", f"sql:{db}", "-i", str(path), "-B"], check=True)


def listings(db: Path) -> dict[str, str]:
    """Libreswan's pluto in a throwaway namespace, asked for its three listings."""
    work = Path(tempfile.mkdtemp())
    for sub in ("run", "ipsec.d"):
        (work / sub).mkdir()
    (work / "ipsec.conf").write_text("config setup\n\tdnssec-enable=no\n")
    (work / "ipsec.secrets").write_text("")
    ns = f"nsscerts{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    whack = [str(LSW / "whack"), "--ctlsocket", str(work / "run/pluto.ctl")]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, "sh", "-c", 'mount --bind "$0" /usr/libexec && exec "$@"', str(LSW.parent),
         str(LSW / "pluto"), "--nofork", "--config", str(work / "ipsec.conf"), "--secretsfile",
         str(work / "ipsec.secrets"), "--nssdir", str(db), "--rundir", str(work / "run"), "--ipsecdir",
         str(work / "ipsec.d"), "--dumpdir", str(work / "run"), "--logfile", str(work / "pluto.log"), "--no-dnssec"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run([*whack, "--status"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        return {verb: subprocess.run([*whack, f"--{verb}"], capture_output=True, text=True, check=True).stdout
                for verb in ("listcerts", "listcacerts", "listcrls")}
    finally:
        subprocess.run([*whack, "--shutdown"], capture_output=True)
        proc.wait(30)
        subprocess.run(["ip", "netns", "del", ns], check=True)
        shutil.rmtree(work)


def main() -> None:
    work = Path(tempfile.mkdtemp())
    db = work / "db"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    pki = Pki.make("Fixture")
    env = dict(os.environ, IPSEC_EXECDIR=str(LSW), IPSEC_SBINDIR=str(IPSEC.parent))
    for which in ("west", "east"):
        rc, out, err = run_with_tty([str(IPSEC), "import", "--nssdir", str(db), str(pki.p12(which, work / "x.p12"))],
                                    [("Enter password for PKCS12 file", P12_PASSWORD)], env)
        assert rc == 0, out + err
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    peer_key = ec.generate_private_key(ec.SECP521R1())
    other = x509.Name([A(NameOID.COMMON_NAME, "Other CA"), A(NameOID.EMAIL_ADDRESS, "ca@other.example")])
    peer = issue(x509.Name([A(NameOID.COMMON_NAME, "peer, with comma")]), peer_key, other, peer_key, None,
                 serial=0xFF)
    add(db, "peer", peer, "P,,", work)
    loose_key = rsa.generate_private_key(65537, 3072)
    loose = issue(x509.Name([A(NameOID.COMMON_NAME, "Untrusted CA")]), loose_key,
                  x509.Name([A(NameOID.COMMON_NAME, "Untrusted CA")]), loose_key, True, serial=2)
    add(db, "untrusted ca", loose, ",,", work)
    trusted_peer = issue(x509.Name([A(NameOID.COMMON_NAME, "CA by trust only")]), peer_key, other, peer_key, None,
                         serial=3)
    add(db, "by-trust", trusted_peer, "CT,,", work)
    names = [
        [A(NameOID.STATE_OR_PROVINCE_NAME, "st"), A(NameOID.LOCALITY_NAME, "l"), A(NameOID.SERIAL_NUMBER, "sn"),
         A(NameOID.SURNAME, "s"), A(NameOID.GIVEN_NAME, "g"), A(NameOID.TITLE, "t"), A(NameOID.DOMAIN_COMPONENT, "dc"),
         A(NameOID.USER_ID, "uid"), A(NameOID.INITIALS, "i"), A(ObjectIdentifier("2.5.4.41"), "n"),
         A(ObjectIdentifier("2.5.4.13"), "d"), A(ObjectIdentifier("1.2.840.113549.1.9.2"), "un"),
         A(NameOID.POSTAL_CODE, "pc"), A(ObjectIdentifier("1.2.3.4.5"), "private")],
        [A(NameOID.ORGANIZATIONAL_UNIT_NAME, v) for v in
         (" lead", "trail ", "a+b", "a=b", 'q"q', "#hash", "semi;colon", "back\\slash", "lt<gt>", "\u00dcn\u00ef",
          "tab\tx", "mid dle")],
        [A(NameOID.COMMON_NAME, "bmp", x509.name._ASN1Type.BMPString)],
        [A(NameOID.COMMON_NAME, "with bits"), A(NameOID.X500_UNIQUE_IDENTIFIER, b"\x01" * 300,
                                                x509.name._ASN1Type.BitString)],
    ]
    for i, attrs in enumerate(names):
        cert = issue(x509.Name(attrs), peer_key, other, peer_key, None, serial=1000 + i)
        add(db, f"dn{i}", cert, ",,", work)
    crl_key = ec.generate_private_key(ec.SECP256R1())
    for issuer, revoked in ((other, 2), (x509.Name([A(NameOID.COMMON_NAME, "CRL Two")]), 0)):
        builder = x509.CertificateRevocationListBuilder().issuer_name(issuer).last_update(now) \
            .next_update(now + datetime.timedelta(days=40))
        for serial in range(revoked):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial + 7).revocation_date(now).build())
        add_crl(db, builder.sign(crl_key, hashes.SHA256()), work)
    for name in ("cert9.db", "key4.db"):
        shutil.copy(db / name, HERE / name)
    for verb, text in listings(HERE).items():
        (HERE / f"{verb}.txt").write_text(text)
    listed = subprocess.run(["certutil", "-L", "-d", f"sql:{HERE}"], capture_output=True, text=True, check=True)
    (HERE / "certutil-L.txt").write_text(listed.stdout)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
