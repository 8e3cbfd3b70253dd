"""Host tier, revocation over the network: strongSwan 5.9.8 (east) initiates to our daemon
(west) with a certificate that says where its status is published, and our daemon asks there
over the veth between the namespaces, as a real deployment would:

- a CRL distribution point (RFC 5280 4.2.1.13) ``http://192.0.2.2:PORT/sub.crl`` served by
  http.server in east's namespace (its socket made there; served by a thread of this
  process, so the test sees every request and can stall one);
- an OCSP responder (RFC 6960; the certificate's Authority Information Access, RFC 5280
  4.2.2.1) that is ``openssl ocsp -index ...`` run in east's namespace, answering with a
  delegated responder certificate (id-kp-OCSPSigning, RFC 6960 4.2.2.2).

A revoked peer is refused: our log names ``certificate revoked`` and its serial, strongSwan
logs the AUTHENTICATION_FAILED it got and has no IKE SA. The controls (the same setup, the
certificate not revoked) come up, so each refusal is the revocation's doing. The server's
request log proves the status was fetched over the network, from west's address.

Also: the fetch waits on a lookup thread (``ipsec status`` answers while the server stalls);
crl-timeout= bounds it (crl-strict= decides then); ocsp-strict= with the responder down; the
CRL answering when the responder does not; and a check that would outlast auth-timeout= cut to fit it.

strongSwan is the peer being checked: it sends its end certificate (with the extensions) and
does not check ours (no distribution point, no responder in it). No ESP in this kernel: the
IKE SA comes up, the Child SA install fails.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509

from tests import x509_pki as pki
from tests.host import certs
from tests.host.daemons import Pluto
from tests.host.peers import Strongswan, strongswan_available
from tests.host.test_interop_certs import east_cert_swanctl
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair, inside, poll

pytestmark = pytest.mark.host

EAST_DN, WEST_DN = certs.dn("east"), certs.dn("west")
OCSP_PORT = 2560  # east's namespace is new for each test: the port is free


# -- the CRL's HTTP server ----------------------------------------------------------------------


@dataclass
class CrlServer:
    """http.server listening on ``address`` in namespace ``ns``; ``files`` by path. ``requests``
    are (client address, method, path); while ``stall`` is set each answer waits for
    ``release`` (at most ``stall_limit`` seconds)."""

    ns: str
    address: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    stall: bool = False
    stall_limit: float = 15.0
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append((self.client_address[0], "GET", self.path))
                if server.stall:
                    server.release.wait(server.stall_limit)
                body = server.files.get(self.path)
                try:
                    if body is None:
                        self.send_error(404)
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/pkix-crl")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting (crl-timeout=)
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        with inside(self.ns):  # the listening socket belongs to east's namespace
            self.httpd = ThreadingHTTPServer((self.address, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="crl-server", daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the OCSP responder: openssl ocsp -----------------------------------------------------------


def _openssl_time(when: dt.datetime) -> str:
    return when.strftime("%y%m%d%H%M%SZ")


def _openssl_serial(serial: int) -> str:
    text = f"{serial:X}"
    return "0" * (len(text) % 2) + text


@dataclass
class OcspResponder:
    """``openssl ocsp`` in ``ns`` on ``address:OCSP_PORT``, for certificates of the host PKI's
    intermediate, signed by a delegated responder certificate; its index names ``good`` valid
    and ``revoked`` revoked (keyCompromise). Its output (``-text``: each request and answer)
    goes to ``log``."""

    ns: str
    folder: Path
    revoked_at: dt.datetime = certs.NOW - certs.DAY

    @property
    def url(self) -> str:
        return f"http://{EAST_IP}:{OCSP_PORT}"

    def start(self, good: list[x509.Certificate], revoked: list[x509.Certificate]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        signer = certs.published_cert("ocsp", "ecdsa", ocsp_signer=True)
        (self.folder / "sub.pem").write_bytes(certs.pem(certs.host_pki().sub.cert))
        (self.folder / "responder.pem").write_bytes(certs.pem(signer.cert))
        certs.write_private(self.folder / "responder.key", signer.key)
        lines = []
        for cert in good + revoked:
            expiry = _openssl_time(cert.not_valid_after_utc)
            dn = "".join(f"/{attr.rfc4514_attribute_name}={attr.value!s}" for attr in cert.subject)
            status, when = ("R", f"{_openssl_time(self.revoked_at)},keyCompromise") if cert in revoked else ("V", "")
            lines.append(f"{status}\t{expiry}\t{when}\t{_openssl_serial(cert.serial_number)}\tunknown\t{dn}\n")
        (self.folder / "index.txt").write_text("".join(lines))
        self.log = self.folder / "openssl-ocsp.log"
        self.logfile = open(self.log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "openssl", "ocsp", "-index", "index.txt", "-port", str(OCSP_PORT),
             "-CA", "sub.pem", "-rsigner", "responder.pem", "-rkey", "responder.key", "-ndays", "1", "-text"],
            cwd=self.folder, stdout=self.logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        listening = poll(lambda: f":{OCSP_PORT} " in subprocess.run(
            ["ip", "netns", "exec", self.ns, "ss", "-Hltn", "sport", f"= :{OCSP_PORT}"],
            capture_output=True, text=True).stdout, 10)
        assert listening, self.log.read_text()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if hasattr(self, "log") and self.log.exists() else ""

    def stop(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "logfile", None) is not None:
            self.logfile.close()


# -- the daemons --------------------------------------------------------------------------------


@dataclass
class Lab:
    pair: Pair
    tmp: Path
    ours: Pluto | None = None
    peer: Strongswan | None = None
    servers: list[CrlServer] = field(default_factory=list)
    responders: list[OcspResponder] = field(default_factory=list)

    def crl_server(self) -> CrlServer:
        server = CrlServer(self.pair.east, EAST_IP)
        self.servers.append(server)
        return server

    def ocsp_responder(self) -> OcspResponder:
        responder = OcspResponder(self.pair.east, self.tmp / "ocsp")
        self.responders.append(responder)
        return responder

    def start(self, east: pki.Issued, *setup: str) -> None:
        """strongSwan (east) with ``east`` as its certificate; our daemon (west) with
        ``setup`` in its ``config setup``, responding only (``auto=add``)."""
        peer = Strongswan(self.pair.east, self.tmp / "strongswan")
        for sub in ("x509", "x509ca"):
            (peer.root / sub).mkdir(parents=True)
        (peer.root / "x509" / "east.pem").write_bytes(certs.pem(east.cert))
        (peer.root / "x509ca" / "root.pem").write_bytes(certs.pem(certs.host_pki().root.cert))
        certs.write_private(peer.root / "private" / "east.key", east.key)
        self.peer = peer
        peer.start(east_cert_swanctl())
        pk = certs.host_pki()
        ipsecdir, secrets_line = certs.our_ipsecdir(self.tmp / "ours-ipsec.d", certs.end_cert("west", "ecdsa"),
                                                    "west", [pk.root, pk.sub])
        conn = [f"left={WEST_IP}", "leftid=%fromcert", "leftcert=west.pem", f"leftsubnet={WEST_NET}",
                f"right={EAST_IP}", f'rightid="{EAST_DN}"', f"rightsubnet={EAST_NET}",
                "ike=aes_gcm256-sha2_256-dh19", "esp=aes_gcm256", "auto=add"]
        config = self.tmp / "ours.conf"
        config.write_text("config setup\n" + "".join(f"\t{line}\n" for line in ("logtime=no", *setup))
                          + "\nconn west-east\n" + "".join(f"\t{line}\n" for line in conn))
        secrets = self.tmp / "ours.secrets"
        secrets.write_text(secrets_line)
        secrets.chmod(0o600)
        self.ours = Pluto(self.pair.west, self.tmp / "ours")
        self.ours.start(config, secrets, "--nhelpers", "0", "--ipsecdir", str(ipsecdir))

    def initiate(self) -> subprocess.Popen[str]:
        """strongSwan initiates (in the background: ``swanctl --initiate`` waits for the outcome)."""
        assert self.peer is not None
        env = dict(os.environ, STRONGSWAN_CONF=str(self.peer.root / "strongswan.conf"), SWANCTL_DIR=str(self.peer.root))
        return subprocess.Popen(["swanctl", "--initiate", "--uri", f"unix://{self.peer.root / 'run' / 'charon.vici'}",
                                 "--child", "lab", "--timeout", "30"], env=env, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def logs(self) -> str:
        ours = self.ours.log_text() if self.ours else ""
        peer = self.peer.log() if self.peer else ""
        ocsp = "".join(r.output() for r in self.responders)
        return f"--- ours\n{ours}\n--- strongSwan\n{peer}\n--- openssl ocsp\n{ocsp}"

    def stop(self) -> None:
        for server in self.servers:  # first: a fetch still waiting on it would hold up our shutdown
            server.close()
        if self.ours is not None:
            self.ours.stop()
        if self.peer is not None:
            self.peer.stop()
        for responder in self.responders:
            responder.stop()


@pytest.fixture
def lab(netns_pair: Pair, tmp_path: Path) -> Iterator[Lab]:
    if not strongswan_available():
        pytest.skip("strongSwan is not installed (see ../shared/lab/setup-host.sh)")
    running = Lab(netns_pair, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def _our_ike_up(pluto: Pluto) -> bool:
    return any(sa["established"] for sa in pluto.status()["ike_sas"])


def _refusal(lab: Lab) -> str:
    """Our AUTHENTICATION_FAILED line, once strongSwan says it got the notify; neither side has an IKE SA."""
    ours, peer = lab.ours, lab.peer
    assert ours is not None and peer is not None
    assert poll(lambda: "received AUTHENTICATION_FAILED notify error" in peer.log()), lab.logs()
    line = next((line for line in ours.log_text().splitlines() if "sending AUTHENTICATION_FAILED" in line), "")
    assert f"authentication of peer DER_ASN1_DN '{EAST_DN}' using authby=rsasig,ecdsa failed: " in line, lab.logs()
    assert not _our_ike_up(ours) and "established IKE SA" not in ours.log_text(), lab.logs()
    assert "ESTABLISHED" not in peer.swanctl("--list-sas").stdout, lab.logs()
    return line


def _revoked(cert: x509.Certificate, revoked_at: dt.datetime) -> str:
    """How our log words the refusal (checker.revoked_text, Status.revocation_text)."""
    return f"certificate revoked (serial {cert.serial_number:#x}, {revoked_at:%Y-%m-%d %H:%M:%S} UTC, keyCompromise)"


def _came_up(lab: Lab) -> str:
    """Both sides have the IKE SA: ours authenticated strongSwan's certificate, strongSwan ours.
    Our log."""
    ours, peer = lab.ours, lab.peer
    assert ours is not None and peer is not None
    assert poll(lambda: _our_ike_up(ours)), lab.logs()
    assert f"responder established IKE SA; authenticated peer certificate '{EAST_DN}'" in ours.log_text(), lab.logs()
    assert poll(lambda: f"IKE_SA lab[1] established between 192.0.2.2[{EAST_DN}]...192.0.2.1[{WEST_DN}]"
                     in peer.log()), lab.logs()
    assert "AUTHENTICATION_FAILED" not in peer.log() + ours.log_text(), lab.logs()
    return ours.log_text()


# -- CRL distribution point ---------------------------------------------------------------------


@pytest.mark.parametrize("listed", [True, False], ids=["revoked", "not-revoked"])
def test_crl_from_a_distribution_point_over_http(lab: Lab, listed: bool) -> None:
    server = lab.crl_server()
    east = certs.published_cert("east", "ecdsa", crl_url=server.url("/sub.crl"))
    other = certs.end_cert("west", "rsa")  # some other revoked certificate: the CRL is never empty
    server.files["/sub.crl"] = certs.crl([east.cert, other.cert] if listed else [other.cert])
    lab.start(east)
    lab.initiate()
    if listed:
        line = _refusal(lab)
        assert f"failed: {_revoked(east.cert, certs.NOW - certs.DAY)}" in line, lab.logs()
    else:
        assert "ignored (crl-strict=no)" not in _came_up(lab), lab.logs()
    # fetched once, over the veth, from west's address (nothing in our crls/)
    assert server.requests == [(WEST_IP, "GET", "/sub.crl")], server.requests
    assert not list((lab.tmp / "ours-ipsec.d" / "crls").iterdir())


def test_a_stalled_crl_server_holds_up_neither_the_daemon_nor_the_verdict(lab: Lab) -> None:
    """While the distribution point stalls (within crl-timeout=), our daemon answers ``ipsec
    status``: the fetch runs off its event loop. Released, the CRL still refuses the peer."""
    server = lab.crl_server()
    server.stall = True
    east = certs.published_cert("east", "ecdsa", crl_url=server.url("/sub.crl"))
    server.files["/sub.crl"] = certs.crl([east.cert])
    lab.start(east, "crl-timeout=15")
    lab.initiate()
    assert lab.ours is not None
    assert poll(lambda: server.requests, 10), lab.logs()  # the fetch is waiting on the server
    started = time.monotonic()
    status = lab.ours.status()
    answered = time.monotonic() - started
    assert answered < 3.0 and status["ike_sas"], (answered, status)  # the IKE SA in IKE_AUTH, not established
    assert not _our_ike_up(lab.ours)
    server.release.set()
    line = _refusal(lab)
    assert f"failed: {_revoked(east.cert, certs.NOW - certs.DAY)}" in line, lab.logs()


@pytest.mark.parametrize("strict", [True, False], ids=["crl-strict", "not-strict"])
@pytest.mark.parametrize("timeouts", [("crl-timeout=2",), ("auth-timeout=2", "crl-timeout=6")],
                         ids=["crl-timeout", "cut-to-auth-timeout"])
def test_a_distribution_point_that_times_out(lab: Lab, strict: bool, timeouts: tuple[str, ...]) -> None:
    """A server that never answers: crl-timeout=2 ends the fetch, or, when crl-timeout=6 is
    longer than auth-timeout=2, the fetch is given what is left of the auth source's time
    (1.5 s). Either way the CRL counts as unanswered and crl-strict= decides: yes refuses,
    naming the fetch that timed out; no lets the peer in and logs why it could. Never a peer
    let in under crl-strict=yes, nor one refused only because the check ran long."""
    server = lab.crl_server()
    server.stall = True
    east = certs.published_cert("east", "ecdsa", crl_url=server.url("/sub.crl"))
    lab.start(east, *timeouts, f"crl-strict={'yes' if strict else 'no'}")
    lab.initiate()
    why = f"no CRL for issuer '{certs.host_pki().sub.cert.subject.rfc4514_string()}' " \
          f"(fetching {server.url('/sub.crl')}: timed out)"
    if strict:
        line = _refusal(lab)
        assert f"failed: {why} (crl-strict)" in line, lab.logs()
    else:
        assert f'"west-east": {why}: ignored (crl-strict=no)' in _came_up(lab), lab.logs()
    assert "no answer to pluto_auth_check_chain" not in lab.logs()
    assert server.requests == [(WEST_IP, "GET", "/sub.crl")], server.requests


# -- OCSP ---------------------------------------------------------------------------------------


def _needs_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command (openssl ocsp is the responder)")


def _asked(responder: OcspResponder, cert: x509.Certificate) -> bool:
    """openssl ocsp's -text output shows a request for ``cert``'s serial."""
    return f"Serial Number: {_openssl_serial(cert.serial_number)}" in responder.output()


@pytest.mark.parametrize("revoked", [True, False], ids=["revoked", "good"])
def test_ocsp_from_openssl_ocsp(lab: Lab, revoked: bool) -> None:
    _needs_openssl()
    responder = lab.ocsp_responder()
    east = certs.published_cert("east", "ecdsa", ocsp_url=responder.url)
    responder.start(good=[] if revoked else [east.cert], revoked=[east.cert] if revoked else [])
    lab.start(east, "ocsp-enable=yes", "ocsp-strict=yes", "ocsp-timeout=5")
    lab.initiate()
    if revoked:
        line = _refusal(lab)
        assert f"failed: {_revoked(east.cert, responder.revoked_at)}" in line, lab.logs()
    else:
        assert "OCSP responder" not in _came_up(lab), lab.logs()  # no note: it answered
    # asked by GET (ocsp-method=get, RFC 6960 A.1), about this certificate; answered as the index says
    assert "Received request, 1st line: GET /" in responder.output(), lab.logs()
    assert _asked(responder, east.cert), lab.logs()
    assert f"Cert Status: {'revoked' if revoked else 'good'}" in responder.output(), lab.logs()


@pytest.mark.parametrize("strict", [True, False], ids=["ocsp-strict", "not-strict"])
def test_ocsp_responder_down(lab: Lab, strict: bool) -> None:
    """Nothing listens at the certificate's responder: ocsp-strict=yes refuses the peer,
    ocsp-strict=no lets it in with a note in the log."""
    url = f"http://{EAST_IP}:{OCSP_PORT}"
    east = certs.published_cert("east", "ecdsa", ocsp_url=url)
    lab.start(east, "ocsp-enable=yes", f"ocsp-strict={'yes' if strict else 'no'}")
    lab.initiate()
    why = f"OCSP responder {url} unreachable: connection refused"
    if strict:
        line = _refusal(lab)
        assert f"failed: {why} (ocsp-strict)" in line, lab.logs()
    else:
        assert f'"west-east": {why}: ignored (ocsp-strict=no)' in _came_up(lab), lab.logs()


def test_an_unreachable_responder_falls_back_to_the_crl(lab: Lab) -> None:
    """The certificate names a responder (nothing listens there) and a distribution point
    whose CRL lists it: with ocsp-strict=no the CRL is asked next and refuses the peer."""
    server = lab.crl_server()
    url = f"http://{EAST_IP}:{OCSP_PORT}"
    east = certs.published_cert("east", "ecdsa", crl_url=server.url("/sub.crl"), ocsp_url=url)
    server.files["/sub.crl"] = certs.crl([east.cert])
    lab.start(east, "ocsp-enable=yes", "ocsp-strict=no")
    lab.initiate()
    line = _refusal(lab)
    assert f"failed: {_revoked(east.cert, certs.NOW - certs.DAY)}" in line, lab.logs()
    assert server.requests == [(WEST_IP, "GET", "/sub.crl")], server.requests
