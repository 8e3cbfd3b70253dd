"""A throw-away PKI and HTTP server for the revocation tests (tests/unit/test_revocation_*.py).

``Pki`` makes CAs, end certificates, CRLs and OCSP responses with ``cryptography``;
``Server`` is http.server on 127.0.0.1 (a random port) in a thread, serving fixed bodies or
handlers by path and counting requests; ``Responder`` is a small OCSP responder for it.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

NOW = datetime.now(UTC).replace(microsecond=0)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pluto test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Ca:
    """A CA: its key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def make_ca(cn: str, *, issuer: Ca | None = None, crl_sign: bool = True, key: ec.EllipticCurvePrivateKey | None = None,
            cdp: str | None = None) -> Ca:
    """A CA certificate, self-signed or issued by ``issuer``."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(name(cn))
               .issuer_name(issuer.cert.subject if issuer else name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=crl_sign, encipher_only=False, decipher_only=False),
                              critical=True))
    if cdp:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(cdp)], None, None, None)]), critical=False)
    signer = issuer.key if issuer else key
    return Ca(key, builder.sign(signer, hashes.SHA256()))


def make_cert(ca: Ca, cn: str, *, cdp: str | None = None, ocsp_url: str | None = None,
              eku: list[x509.ObjectIdentifier] | None = None, serial: int | None = None) -> Ca:
    """An end (or responder) certificate issued by ``ca``, with optional CDP, AIA OCSP and EKU."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.cert.subject)
               .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30)))
    if cdp:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(cdp)], None, None, None)]), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return Ca(key, builder.sign(ca.key, hashes.SHA256()))


def make_crl(ca: Ca, revoked: dict[int, tuple[datetime, x509.ReasonFlags | None]] | None = None, *,
             this_update: datetime | None = None, next_update: datetime | None = None, number: int = 1,
             signer: ec.EllipticCurvePrivateKey | None = None, issuer: x509.Name | None = None,
             pem: bool = False) -> bytes:
    """A CRL of ``ca`` listing ``revoked`` (serial -> date, reason), DER unless ``pem``."""
    this_update = this_update or NOW - timedelta(hours=1)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer or ca.cert.subject)
               .last_update(this_update).next_update(next_update or NOW + timedelta(days=7))
               .add_extension(x509.CRLNumber(number), critical=False))
    for serial, (when, reason) in (revoked or {}).items():
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(signer or ca.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM if pem else serialization.Encoding.DER)


@dataclass
class Responder:
    """An OCSP responder for one CA: answers from ``statuses`` (serial -> status), ``unknown`` else.

    ``signer`` signs (default: the CA); ``echo_nonce`` copies the request's nonce (or sends
    ``nonce`` instead when set); ``this_update``/``next_update`` go in every answer.
    """

    ca: Ca
    statuses: dict[int, tuple[ocsp.OCSPCertStatus, datetime | None, x509.ReasonFlags | None]] = field(
        default_factory=dict)
    signer: Ca | None = None
    include_signer: bool = False
    echo_nonce: bool = True
    nonce: bytes | None = None
    this_update: datetime | None = None
    next_update: datetime | None = NOW + timedelta(days=1)
    requests: list[ocsp.OCSPRequest] = field(default_factory=list)

    def answer(self, request_der: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(request_der)
        self.requests.append(request)
        status, when, reason = self.statuses.get(request.serial_number, (ocsp.OCSPCertStatus.UNKNOWN, None, None))
        signer = self.signer or self.ca
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            request.issuer_name_hash, request.issuer_key_hash, request.serial_number, request.hash_algorithm,
            status, self.this_update or NOW - timedelta(minutes=1), self.next_update, when, reason)
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        if self.include_signer:
            builder = builder.certificates([signer.cert])
        nonce = self.nonce
        if nonce is None and self.echo_nonce:
            try:
                nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                nonce = None
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


Handler = Callable[[bytes], bytes]


class Server:
    """http.server on 127.0.0.1:<random> in a thread: ``routes`` map a path prefix to bytes or
    to a handler of the request (POST body, or the decoded base64 after the prefix for GET)."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes | Handler] = {}
        self.hits: list[tuple[str, str]] = []  # (method, path)
        self.delay = 0.0
        self.refuse: set[str] = set()  # methods answered with 405
        self.trickle = 0.0  # seconds between the bytes of a body, when set
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
                pass

            def _serve(self, body: bytes | None) -> None:
                server.hits.append((self.command, self.path))
                if server.delay:
                    time.sleep(server.delay)
                if self.command in server.refuse:
                    self.send_error(405)
                    return
                prefix = next((p for p in server.routes if self.path == p or self.path.startswith(p + "/")), None)
                if prefix is None:
                    self.send_error(404)
                    return
                route = server.routes[prefix]
                if callable(route):
                    if body is None:
                        body = base64.b64decode(unquote(self.path[len(prefix) + 1:]))
                    data = route(body)
                else:
                    data = route
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not server.trickle:
                    self.wfile.write(data)
                    return
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(server.trickle)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what the test wants

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self._serve(None)

            def do_POST(self) -> None:  # noqa: N802
                self._serve(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
