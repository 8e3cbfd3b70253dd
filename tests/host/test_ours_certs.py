"""Host tier: two of our daemons authenticate with X.509 certificates from files, each with its
own ipsecdir (certs/, cacerts/, crls/, private/): root CA -> intermediate -> end certificates,
RSA and ECDSA, ``leftid=%fromcert`` and a wildcard DN ``rightid=``; and the refusals a real
daemon must make (an untrusted CA, a certificate revoked by a CRL in crls/): AUTHENTICATION_FAILED,
the reason in the log, nothing in the kernel; and our own certificate out of its dates: an expired
one refuses its conn when added, one that expired since is not sent.

No ESP in this kernel: the IKE SA comes up, the Child SA install fails."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests import x509_pki as pki
from tests.host import certs
from tests.host.daemons import Pluto
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair

pytestmark = pytest.mark.host

SIGNATURE = {"rsa": "2048-bit RSASSA-PSS with SHA2_512", "ecdsa": "P-256 ECDSA with SHA2_512"}


def conf(me: str, my_ip: str, my_net: str, peer_ip: str, peer_net: str, *extra: str) -> str:
    """A conn with us on the left: our certificate, our ID from it, the peer any host of our organisation."""
    lines = [f"left={my_ip}", "leftid=%fromcert", f"leftcert={me}.pem", f"leftsubnet={my_net}",
             f"right={peer_ip}", f'rightid="{certs.WILDCARD}"', f"rightsubnet={peer_net}", "auto=add", *extra]
    return "config setup\n\tlogtime=no\n\nconn west-east\n" + "".join(f"\t{line}\n" for line in lines)


def start(root: Path, ns: str, me: str, mine: pki.Issued, cas: list[pki.Issued], crls: tuple[bytes, ...] = (),
          *extra: str) -> Pluto:
    ipsecdir, secrets_line = certs.our_ipsecdir(root / f"{me}-ipsec.d", mine, me, cas, crls)
    config = root / f"{me}.conf"
    if me == "west":
        config.write_text(conf("west", WEST_IP, WEST_NET, EAST_IP, EAST_NET, *extra))
    else:
        config.write_text(conf("east", EAST_IP, EAST_NET, WEST_IP, WEST_NET, *extra))
    secrets = root / f"{me}.secrets"
    secrets.write_text(secrets_line)
    secrets.chmod(0o600)
    pluto = Pluto(ns, root / me)
    pluto.start(config, secrets, "--nhelpers", "0", "--ipsecdir", str(ipsecdir))
    return pluto


def trusted() -> list[pki.Issued]:
    pk = certs.host_pki()
    return [pk.root, pk.sub]


def xfrm(ns: str) -> str:
    """The namespace's XFRM states and policies, but for the per-socket bypass policies of the IKE sockets."""
    state = subprocess.run(["ip", "-n", ns, "xfrm", "state"], capture_output=True, text=True, timeout=10)
    policy = subprocess.run(["ip", "-n", ns, "xfrm", "policy"], capture_output=True, text=True, timeout=10)
    assert state.returncode == policy.returncode == 0, state.stderr + policy.stderr
    entries = [entry for entry in policy.stdout.replace("\n\t", "\t").splitlines() if "\tsocket " not in entry]
    return state.stdout + "".join(f"{entry}\n" for entry in entries)


@pytest.mark.parametrize(("west_kind", "east_kind"), [("rsa", "rsa"), ("ecdsa", "ecdsa"), ("rsa", "ecdsa")])
def test_certificates_through_an_intermediate(netns_pair: Pair, tmp_path: Path, stop_all: list[Pluto],
                                              west_kind: str, east_kind: str) -> None:
    west_cert, east_cert = certs.end_cert("west", west_kind), certs.end_cert("east", east_kind)
    east = start(tmp_path, netns_pair.east, "east", east_cert, trusted())
    stop_all.append(east)
    west = start(tmp_path, netns_pair.west, "west", west_cert, trusted())
    stop_all.append(west)
    up = west.ipsec("up", "west-east")
    out = up.stdout + up.stderr
    assert "sent IKE_AUTH request to 192.0.2.2:UDP/500 with digital-signature" in out, out + west.log_text()
    assert f"and DER_ASN1_DN '{certs.dn('west')}'" in out, out  # %fromcert
    assert f"initiator established IKE SA; authenticated peer certificate '{certs.dn('east')}' and " \
           f"{SIGNATURE[east_kind]} digital signature issued by '{certs.SUB_DN}'" in out, \
        out + west.log_text() + east.log_text()
    assert f"responder established IKE SA; authenticated peer certificate '{certs.dn('west')}' and " \
           f"{SIGNATURE[west_kind]} digital signature issued by '{certs.SUB_DN}'" in east.log_text(), east.log_text()
    assert [sa["peer_id"] for sa in east.status()["ike_sas"]] == [certs.dn("west")]
    assert "kernel refused the Child SA" in east.log_text()  # it got as far as the kernel (no ESP here)
    for pluto in (west, east):
        log = pluto.log_text()
        assert f"loaded CA certificate '{certs.ROOT_DN}'" in log and f"loaded CA certificate '{certs.SUB_DN}'" in log
        assert "PRIVATE KEY" not in log


def _refused(netns_pair: Pair, west: Pluto, east: Pluto, reason: str) -> None:
    up = west.ipsec("up", "west-east")
    out = up.stdout + up.stderr
    assert up.returncode != 0 and "AUTHENTICATION_FAILED" in out, out + west.log_text() + east.log_text()
    line = next((line for line in east.log_text().splitlines() if "sending AUTHENTICATION_FAILED" in line), "")
    assert f"authentication of peer DER_ASN1_DN '{certs.dn('west')}' using authby=rsasig,ecdsa failed: " \
           f"{reason}" in line, east.log_text()
    assert east.status()["ike_sas"] == [] and west.status()["ike_sas"] == []
    # nothing for the kernel: no Child SA was tried (the success case's "kernel refused" line), none is there
    assert xfrm(netns_pair.west) == "" and xfrm(netns_pair.east) == "", (xfrm(netns_pair.west), xfrm(netns_pair.east))
    assert "Child SA" not in east.log_text() and "kernel refused" not in west.log_text()


def test_an_expired_certificate_refuses_its_conn(netns_pair: Pair, tmp_path: Path, stop_all: list[Pluto]) -> None:
    """An expired certificate of ours refuses its conn when added, as Libreswan refuses it, so
    it is not sent (the peer's refusal of one is test_interop_certs.py's, strongSwan's expired
    certificate, and tests/engine/test_cert_auth.py's)."""
    old = certs.end_cert("west", "ecdsa", expired=True)
    expiry = old.cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    stop_all.append(east := start(tmp_path, netns_pair.east, "east", certs.end_cert("east", "ecdsa"), trusted()))
    stop_all.append(west := start(tmp_path, netns_pair.west, "west", old, trusted()))
    refusal = f'"west-east": failed to add connection: {tmp_path / "west.conf"}:4: "west-east": ' \
              f"leftcert=west.pem ({certs.dn('west')}) expired on {expiry}"
    assert refusal in west.log_text(), west.log_text()
    up = west.ipsec("up", "west-east")
    assert up.returncode != 0 and 'no connection named "west-east"' in up.stderr, up.stdout + up.stderr
    assert "IKE_SA_INIT" not in east.log_text() and xfrm(netns_pair.west) == ""


def test_a_certificate_that_expires_while_running_is_not_sent(netns_pair: Pair, tmp_path: Path,
                                                             stop_all: list[Pluto]) -> None:
    """Valid when the conn was added, expired when it is brought up: west stops before IKE_AUTH
    with a line naming the certificate and the date; east is never asked to judge it."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ending = pki.issue(certs.dn("west"), certs.new_key("ecdsa"), certs.host_pki().sub, key_usage=["digital_signature"],
                       not_before=now - 30 * certs.DAY, not_after=now + dt.timedelta(seconds=8))
    expiry = ending.cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    stop_all.append(east := start(tmp_path, netns_pair.east, "east", certs.end_cert("east", "ecdsa"), trusted()))
    stop_all.append(west := start(tmp_path, netns_pair.west, "west", ending, trusted()))
    assert '"west-east": added IKEv2 connection' in west.log_text(), west.log_text()
    # the add-time notice: it ends within two weeks (in seconds, less the time the start took)
    assert re.search(rf'"west-east": leftcert=west\.pem \({re.escape(certs.dn("west"))}\) expires in [0-8] '
                     rf"seconds?, on {expiry}", west.log_text()), west.log_text()
    time.sleep(max((ending.cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds(), 0) + 1.5)
    up = west.ipsec("up", "west-east")
    out = up.stdout + up.stderr
    assert up.returncode != 0, out
    assert f"cannot authenticate {certs.dn('west')} to {certs.WILDCARD}: authby=rsasig,ecdsa: our certificate " \
           f"'{certs.dn('west')}' (west.pem) expired on {expiry}" in out, out + west.log_text()
    assert "sent IKE_AUTH request" not in west.log_text() and "authentication of peer" not in east.log_text()
    assert west.status()["ike_sas"] == [] and xfrm(netns_pair.west) == ""


def test_a_certificate_from_an_untrusted_ca_is_refused(netns_pair: Pair, tmp_path: Path,
                                                       stop_all: list[Pluto]) -> None:
    pk = certs.host_pki()
    stranger = certs.end_cert("west", "rsa", stranger=True)
    stop_all.append(east := start(tmp_path, netns_pair.east, "east", certs.end_cert("east", "rsa"), trusted(),
                                  (), "rightca=%any"))
    stop_all.append(west := start(tmp_path, netns_pair.west, "west", stranger, [pk.stranger, *trusted()],
                                  (), "rightca=%any"))
    _refused(netns_pair, west, east, f"issuer not trusted (no CA for '{certs.STRANGER_DN}')")


def test_a_certificate_revoked_by_a_crl_file_is_refused(netns_pair: Pair, tmp_path: Path,
                                                        stop_all: list[Pluto]) -> None:
    revoked = certs.end_cert("west", "rsa")
    crl = certs.crl([revoked.cert])
    stop_all.append(east := start(tmp_path, netns_pair.east, "east", certs.end_cert("east", "ecdsa"), trusted(),
                                  (crl,)))
    stop_all.append(west := start(tmp_path, netns_pair.west, "west", revoked, trusted()))
    _refused(netns_pair, west, east, f"certificate revoked (serial {revoked.cert.serial_number:#x}")
    assert "sending AUTHENTICATION_FAILED" in east.log_text()
