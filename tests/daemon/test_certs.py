"""The running daemon and certificates: a ``leftcert=`` NSS nickname is added (a missing one
refused with file:line, as checkconfig says), ``ipsec listcerts`` / ``listcacerts`` /
``listcrls`` (and whack's spelling) are answered by the daemon over NSS and the certificate
files, ``--nssdir`` still lists a database without it, and ``ipsec rereadcerts`` reloads."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from tests.daemon.conftest import Env
from tests.unit.nss_pki import Pki, nss_db


@pytest.fixture(scope="module")
def pki() -> Pki:
    if not (shutil.which("certutil") and shutil.which("pk12util") and shutil.which("crlutil")):
        pytest.skip("certutil/pk12util/crlutil (libnss3-tools) are not installed")
    return Pki.make()


def crl(pki: Pki) -> bytes:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return (x509.CertificateRevocationListBuilder().issuer_name(pki.sub.subject)
            .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=1))
            .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(12345)
                                     .revocation_date(now - dt.timedelta(hours=1)).build())
            .sign(pki.sub_key, hashes.SHA256())).public_bytes(Encoding.DER)


def test_the_daemon_lists_nss_and_file_certificates_and_adds_nickname_conns(env: Env, pki: Pki, tmp_path: Path) -> None:
    db = nss_db(env.root / "nss", pki, "west")
    (env.root / "sub.crl").write_bytes(crl(pki))
    subprocess.run(["crlutil", "-I", "-d", f"sql:{db}", "-i", str(env.root / "sub.crl"), "-B"], check=True)
    other = Pki.make(org="Elsewhere")
    ipsecdir = env.root / "ipsec.d"
    (ipsecdir / "cacerts").mkdir(parents=True)
    (ipsecdir / "cacerts" / "elsewhere.pem").write_bytes(other.ca.public_bytes(Encoding.PEM))
    env.config.write_text("config setup\n\tlogtime=no\n"
                          "conn nss\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=rsasig\n"
                          "\tleftcert=west\n\trightid=\"C=CA, O=Pluto Test, CN=*\"\n\tauto=add\n"
                          "conn gone\n\tleft=127.0.0.1\n\tright=127.0.0.3\n\tauthby=rsasig\n"
                          "\tleftcert=nobody\n\trightid=@x\n\tauto=ignore\n")
    refusal = f"{env.config}:10: \"gone\": leftcert=nobody: no certificate with nickname 'nobody' in the NSS " \
              f"database {db}"
    proc = env.start_nofork("--logfile", str(env.logfile), "--listen", "127.0.0.1", "--nssdir", str(db),
                            "--ipsecdir", str(ipsecdir))
    ctl = ["--rundir", str(env.rundir)]
    try:
        text = env.wait_log('"nss": added IKEv2 connection')
        assert "loaded CA certificate 'C=CA, O=Pluto Test, CN=Root CA' (NSS nickname 'Root CA - Pluto Test')" in text
        assert "loaded CA certificate 'C=CA, O=Elsewhere, CN=Root CA'" in text  # cacerts/
        status = json.loads(env.ipsec("status", *ctl, "--json").stdout)
        [conn] = [c for c in status["conns"] if c["name"] == "nss"]
        assert conn["local_id"] == "C=CA, O=Pluto Test, CN=west.example"  # the NSS certificate's subject
        added = env.ipsec("add", "gone", "--config", str(env.config), *ctl)
        assert added.returncode == 1 and refusal in added.stderr, added.stderr
        check_conf = env.config.with_name("check.conf")  # nssdir= in config setup; "gone" auto=add
        check_conf.write_text(env.config.read_text().replace("auto=ignore", "auto=add")
                              .replace("config setup\n", f"config setup\n\tnssdir={db}\n"))
        check = env.ipsec("checkconfig", "--config", str(check_conf))
        assert check.returncode == 1, check.stdout
        assert f"ERROR: {check_conf}:11: " + refusal.split(":10: ", 1)[1] in check.stdout, check.stdout

        certs = env.ipsec("listcerts", *ctl)
        assert certs.returncode == 0, certs.stderr
        assert '000 End certificate "west" - SN: 0x' in certs.stdout and ": has private key" in certs.stdout
        # the daemon's listing of an NSS-only setup is the offline one, line for line
        offline = env.ipsec("listcerts", "--nssdir", str(db))
        assert offline.returncode == 0 and offline.stdout == certs.stdout
        cas = env.ipsec("whack", "--listcacerts", *ctl).stdout
        assert '000 Root CA certificate "Root CA - Pluto Test"' in cas
        assert '000 CA certificate "Sub CA - Pluto Test"' in cas
        assert '000 Root CA certificate "cacerts/elsewhere.pem"' in cas
        assert "000   subject: C=CA, O=Elsewhere, CN=Root CA" in cas
        crls = env.ipsec("listcrls", *ctl).stdout
        assert "000 issuer: C=CA, O=Pluto Test, CN=Sub CA\n000 revoked certs: 1\n" in crls
        listed = json.loads(env.ipsec("listcacerts", *ctl, "--json").stdout)
        assert {c["nickname"] for c in listed["certificates"]} == {
            "Root CA - Pluto Test", "Sub CA - Pluto Test", "cacerts/elsewhere.pem"}

        (ipsecdir / "cacerts" / "elsewhere.pem").unlink()
        assert env.ipsec("rereadcerts", *ctl).returncode == 0
        env.wait_log("forgetting secrets")
        assert "cacerts/elsewhere.pem" not in env.ipsec("listcacerts", *ctl).stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_listing_needs_the_daemon_unless_nssdir_is_given(env: Env) -> None:
    result = env.ipsec("listcerts", "--rundir", str(env.rundir))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"ipsec listcerts: pluto is not running: no control socket {env.ctl} "
                                     "(start it with 'ipsec pluto')")
