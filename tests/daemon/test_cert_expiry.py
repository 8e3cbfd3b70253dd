"""The running daemon and certificate dates (docs/certificates.md "Expiry"): an expired or
not yet valid ``leftcert=`` (a file or an NSS nickname) and an expired preloaded ``rightcert=``
refuse the conn with the same sentence at start-up, on ``ipsec add`` and in ``ipsec
checkconfig``, naming the certificate and the date; one that ends within two weeks is added and
logged when it is (checkconfig warns alike); one far from its end says nothing. The daily
re-check is ``tests/unit/test_cert_expiry.py``'s (a day is not waited for here)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pluto_core.x509.expiry import utc_text
from tests import x509_pki as pki
from tests.daemon.conftest import Env

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the daemon reads the real clock
DAY = pki.DAY
CA = pki.root("C=CA, O=Pluto Expiry, CN=Root", not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY)
CERTS = {  # name: (not before, not after)
    "old": (NOW - 400 * DAY, NOW - 2 * DAY),
    "early": (NOW + 2 * DAY, NOW + 400 * DAY),
    "soon": (NOW - 300 * DAY, NOW + 5 * DAY + dt.timedelta(hours=1)),
    "far": (NOW - 30 * DAY, NOW + 365 * DAY),
}
CONNS = {  # conn: its lines besides left=, right=, authby=, auto=
    "old": ["leftcert=old.pem", "rightid=@peer"],
    "oldnss": ["leftcert=old-west", "rightid=@peer"],  # the NSS nickname of the same certificate
    "early": ["leftcert=early.pem", "rightid=@peer"],
    "peerold": ["leftcert=far.pem", "rightcert=old.pem"],
    "soon": ["leftcert=soon.pem", "rightid=@peer"],
    "far": ["leftcert=far.pem", "rightid=@peer"],
}


def _cert(name: str) -> x509.Certificate:
    not_before, not_after = CERTS[name]
    return pki.issue(f"C=CA, O=Pluto Expiry, CN={name}", pki.key("ecdsa", 40), CA, not_before=not_before,
                     not_after=not_after).cert


def _setup(env: Env) -> tuple[Path, Path, dict[str, int]]:
    """ipsec.d/certs/NAME.pem, an NSS database holding the expired one as 'old-west', the
    config; returns the ipsecdir, the nssdir and each conn's line."""
    ipsecdir, nssdir = env.root / "ipsec.d", env.root / "nss"
    (ipsecdir / "certs").mkdir(parents=True)
    for name in CERTS:
        (ipsecdir / "certs" / f"{name}.pem").write_bytes(_cert(name).public_bytes(Encoding.PEM))
    nssdir.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdir}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdir}", "-n", "old-west", "-t", ",,", "-a", "-i",
                    str(ipsecdir / "certs" / "old.pem")], check=True, capture_output=True)
    text, lines = "config setup\n\tlogtime=no\n", {}
    for n, (conn, body) in enumerate(CONNS.items()):
        lines[conn] = text.count("\n") + 1
        text += f"conn {conn}\n" + "".join(f"\t{line}\n" for line in
                                           ["left=127.0.0.1", f"right=127.0.0.{n + 2}", "authby=rsasig", *body,
                                            "auto=add"])
    env.config.write_text(text)
    return ipsecdir, nssdir, lines


def _dn(name: str) -> str:
    return f"C=CA, O=Pluto Expiry, CN={name}"


def test_checkconfig_the_loader_and_ipsec_add_refuse_a_certificate_out_of_its_dates_alike(env: Env) -> None:
    if not shutil.which("certutil"):
        pytest.skip("certutil (libnss3-tools) is not installed")
    ipsecdir, nssdir, lines = _setup(env)
    old_end, early_start = utc_text(CERTS["old"][1]), utc_text(CERTS["early"][0])
    refusals = {
        "old": f"leftcert=old.pem ({_dn('old')}) expired on {old_end}",
        "oldnss": f"leftcert=old-west ({_dn('old')}) expired on {old_end}",
        "early": f"leftcert=early.pem ({_dn('early')}) is not valid before {early_start}",
        "peerold": f"rightcert=old.pem ({_dn('old')}) expired on {old_end}",
    }
    refusals = {conn: f'{env.config}:{lines[conn]}: "{conn}": {why}' for conn, why in refusals.items()}
    soon = f'"soon": leftcert=soon.pem ({_dn("soon")}) expires in 5 days, on {utc_text(CERTS["soon"][1])}'

    check = env.ipsec("checkconfig", "--config", str(env.config), "--ipsecdir", str(ipsecdir),
                      "--nssdir", str(nssdir))
    assert check.returncode == 1, check.stdout + check.stderr
    errors = [line for line in check.stdout.splitlines() if line.startswith("ERROR: ")]
    assert errors == [f"ERROR: {refusal}" for refusal in refusals.values()], check.stdout
    assert f'warning: {env.config}:{lines["soon"]}: {soon}' in check.stdout.splitlines(), check.stdout
    assert '"far"' not in check.stdout

    proc = env.start_nofork("--logfile", str(env.logfile), "--listen", "127.0.0.1", "--ipsecdir", str(ipsecdir),
                            "--nssdir", str(nssdir))
    ctl = ["--rundir", str(env.rundir)]
    try:
        text = env.wait_log('"far": added IKEv2 connection')
        for conn, refusal in refusals.items():
            assert f'"{conn}": failed to add connection: {refusal}\n' in text, text
            assert f'"{conn}": added' not in text
        log = text.splitlines()
        assert log.index(soon) < log.index('"soon": added IKEv2 connection'), text  # logged as it is added
        assert not [line for line in log if line.startswith('"far": ') and "expire" in line], text
        for conn, refusal in refusals.items():
            added = env.ipsec("add", conn, "--config", str(env.config), *ctl)
            assert added.returncode == 1 and refusal in added.stderr, (conn, added.stdout, added.stderr)
        names = {c["name"] for c in json.loads(env.ipsec("status", *ctl, "--json").stdout)["conns"]}
        assert names == {"soon", "far"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
