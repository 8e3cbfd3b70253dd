"""Test PKIs for the NSS certificate tests, made with ``cryptography``, and a way to answer
NSS tools' password prompts (they read the terminal, not stdin)."""

from __future__ import annotations

import datetime
import fcntl
import os
import select
import shutil
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

P12_PASSWORD = "p12-Secret"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def name(cn: str, org: str = "Pluto Test") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(subject: x509.Name, key: PrivateKey, issuer: x509.Name, issuer_key: PrivateKey, ca: bool | None,
          days: int = 365, serial: int | None = None) -> x509.Certificate:
    """A certificate; ``ca=None`` leaves basicConstraints out."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(serial if serial is not None else x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days)))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    """RSA root CA -> ECDSA intermediate -> RSA end "west"; ECDSA P-384 end "east" under the root."""

    ca_key: rsa.RSAPrivateKey
    ca: x509.Certificate
    sub_key: ec.EllipticCurvePrivateKey
    sub: x509.Certificate
    west_key: rsa.RSAPrivateKey
    west: x509.Certificate
    east_key: ec.EllipticCurvePrivateKey
    east: x509.Certificate

    @classmethod
    def make(cls, org: str = "Pluto Test") -> Pki:
        ca_key = rsa.generate_private_key(65537, 2048)
        ca = issue(name("Root CA", org), ca_key, name("Root CA", org), ca_key, True)
        sub_key = ec.generate_private_key(ec.SECP256R1())
        sub = issue(name("Sub CA", org), sub_key, ca.subject, ca_key, True)
        west_key = rsa.generate_private_key(65537, 2048)
        west = issue(name("west.example", org), west_key, sub.subject, sub_key, False)
        east_key = ec.generate_private_key(ec.SECP384R1())
        east = issue(name("east.example", org), east_key, ca.subject, ca_key, False)
        return cls(ca_key, ca, sub_key, sub, west_key, west, east_key, east)

    def p12(self, which: str, path: Path, password: str = P12_PASSWORD) -> Path:
        """``west`` (with the intermediate and the root) or ``east`` (with the root) as PKCS#12."""
        if which == "west":
            key, cert, chain = self.west_key, self.west, [self.sub, self.ca]
        else:
            key, cert, chain = self.east_key, self.east, [self.ca]
        encryption = serialization.BestAvailableEncryption(password.encode())
        path.write_bytes(pkcs12.serialize_key_and_certificates(which.encode(), key, cert, chain, encryption))
        return path


def run_with_tty(argv: Sequence[str], answers: Sequence[tuple[str, str]], env: dict[str, str] | None = None,
                 timeout: float = 60) -> tuple[int, str, str]:
    """Run ``argv`` with a pseudo-terminal as its controlling terminal and stdin, answering each
    prompt (on stdout or the terminal) once; NSS tools read passwords from /dev/tty with echo off, so an
    answer is typed only after echo went off (typed earlier, NSS would flush it)."""
    master, slave = os.openpty()

    def setup() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(list(argv), stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=setup, env=env)
    os.close(slave)
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    data = {out_fd: b"", err_fd: b""}
    pending = list(answers)
    seen = ""
    deadline = time.monotonic() + timeout
    live = {out_fd, err_fd, master}
    try:
        while live & {out_fd, err_fd} and time.monotonic() < deadline:
            ready, _, _ = select.select(list(live), [], [], 0.1)
            if not ready and proc.poll() is not None:
                break
            for fd in ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    live.discard(fd)
                    continue
                if fd in data:
                    data[fd] += chunk
                seen += chunk.decode(errors="replace")  # prompts go to stdout or the terminal
                for prompt, answer in list(pending):
                    if prompt in seen:
                        until = time.monotonic() + 10
                        while termios.tcgetattr(master)[3] & termios.ECHO and time.monotonic() < until:
                            time.sleep(0.01)
                        os.write(master, answer.encode() + b"\n")
                        pending.remove((prompt, answer))
                        seen = ""
        if proc.poll() is None:
            proc.kill()
        rc = proc.wait(10)
    finally:
        os.close(master)
        proc.stdout.close()
        proc.stderr.close()
    return rc, data[out_fd].decode(), data[err_fd].decode()


def nss_db(path: Path, pki: Pki, *which: str, ca_trust: str = "CT,,") -> Path:
    """An NSS database (no password) at ``path`` with ``which`` (``west``, ``east``) imported
    from PKCS#12 by NSS's pk12util, each CA then given ``ca_trust`` by certutil, as
    ``ipsec import`` leaves them. The caller skips without the tools."""
    certutil, pk12util = shutil.which("certutil"), shutil.which("pk12util")
    assert certutil is not None and pk12util is not None
    path.mkdir(parents=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    for end in which:
        bundle = pki.p12(end, path.parent / f"{path.name}-{end}.p12")
        subprocess.run([pk12util, "-i", str(bundle), "-d", f"sql:{path}", "-W", P12_PASSWORD, "-K", ""],
                       check=True, capture_output=True)
    for nick in {f"Root CA - {_org(pki)}", f"Sub CA - {_org(pki)}"} if which else ():
        if subprocess.run([certutil, "-L", "-d", f"sql:{path}", "-n", nick], capture_output=True).returncode == 0:
            subprocess.run([certutil, "-M", "-d", f"sql:{path}", "-n", nick, "-t", ca_trust], check=True)
    return path


def _org(pki: Pki) -> str:
    return str(pki.ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)
