"""The running daemon and certificate revocation: the crl-*/ocsp-* keywords and options are taken
(no "not acted on" notice; ``ipsec globalstatus`` shows them, the command line over the file;
``crlcheckinterval=`` starts the refetch thread, which stops with the daemon); ``ipsec purgeocsp``,
``fetchcrls`` and ``rereadall`` (and whack's spelling) reach the x509 source."""

from __future__ import annotations

import signal
import subprocess

from cryptography.hazmat.primitives.serialization import Encoding

from tests import revocation_pki as rpki
from tests.daemon.conftest import Env


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_revocation_keywords_and_options_are_taken_without_a_notice(env: Env) -> None:
    env.config.write_text("config setup\n\tlogtime=no\n\tocsp-enable=yes\n\tocsp-uri=http://127.0.0.1:9/\n"
                          "\tocsp-cache-min-age=20\n\tocsp-cache-max-age=40\n\tcrl-strict=yes\n\tcrl-timeout=3\n"
                          "\tcrlcheckinterval=1\n")
    proc = env.start_nofork("--logfile", str(env.logfile), "--ocsp-strict", "--ocsp-cache-min-age=100",
                            "--ocsp-method", "post", "--ocsp-trustname", "nobody", "--nssdir", str(env.root))
    try:
        status = env.ipsec("globalstatus", "--rundir", str(env.rundir))
        assert status.returncode == 0, status.stderr
    finally:
        _stop(proc)
    assert "000 crl-strict=yes, crlcheckinterval=1, listen=<any>" in status.stdout
    assert "000 ocsp-enable=yes, ocsp-strict=yes, ocsp-timeout=2" in status.stdout  # --ocsp-strict
    assert "000 ocsp-uri=http://127.0.0.1:9/, ocsp-trust-name=nobody" in status.stdout
    # the command line's min-age over the file's, the file's max-age
    assert "000 ocsp-cache-size=1000, ocsp-cache-min-age=100, ocsp-cache-max-age=40, ocsp-method=post" \
        in status.stdout
    text = env.log_text()
    assert "accepted but not acted on" not in text, text
    # the x509 source's checker has them: it looked the --ocsp-trustname nickname up
    assert text.count("ocsp-trustname=nobody: certificate not found; only the issuer and its delegated "
                      "responders are trusted") == 1, text
    # the refresher thread ran and stopped with the daemon (it exited 0 above)
    assert "crlcheckinterval=1: the CRLs of the distribution points seen are fetched again every 1s" in text


def test_purgeocsp_fetchcrls_and_rereadall_verbs_against_the_running_daemon(env: Env) -> None:
    """Libreswan's whack prints nothing for these: exit 0, no output; the daemon logs what it did.
    ``rereadall`` re-reads the secrets, the CA certificates and the CRL files, and fetches."""
    ipsecdir = env.root / "ipsec.d"
    (ipsecdir / "cacerts").mkdir(parents=True)
    (ipsecdir / "crls").mkdir()
    env.config.write_text("config setup\n\tlogtime=no\n")
    proc = env.start_nofork("--logfile", str(env.logfile), "--ipsecdir", str(ipsecdir), "--nssdir", str(env.root))
    ctl = ("--rundir", str(env.rundir))
    try:
        for argv in (("purgeocsp",), ("whack", "--purgeocsp")):
            result = env.ipsec(*argv, *ctl)
            assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), argv
        # certificates and CRLs put in place while the daemon runs
        late = rpki.make_ca("Late CA")
        (ipsecdir / "cacerts" / "late.pem").write_bytes(late.cert.public_bytes(Encoding.PEM))
        (ipsecdir / "crls" / "bad.crl").write_bytes(b"not a CRL")
        before = env.log_text()
        assert "Late CA" not in before and "bad.crl" not in before
        for argv in (("rereadall",), ("whack", "--rereadall"), ("fetchcrls",), ("whack", "--fetchcrls")):
            result = env.ipsec(*argv, *ctl)
            assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), argv
    finally:
        _stop(proc)
    text = env.log_text()
    assert text.count("OCSP cache purged: 0 answers forgotten") == 2, text
    assert text.count("fetching the CRLs of 0 distribution points") == 4  # two rereadall, two fetchcrls
    assert text.count("forgetting secrets") == 2  # the two rereadall
    # each reread reads them again, but says only what changed since the previous read
    assert text.count("loaded CA certificate 'O=pluto test, CN=Late CA'") == 1
    assert text.count(f"CRL {ipsecdir}/crls/bad.crl: not a CRL") == 1, text
    # no daemon: one line and exit 1, as every verb
    result = env.ipsec("purgeocsp", *ctl)
    assert result.returncode == 1
    assert result.stderr == f"ipsec purgeocsp: pluto is not running: no control socket {env.ctl} " \
                            "(start it with 'ipsec pluto')\n"
