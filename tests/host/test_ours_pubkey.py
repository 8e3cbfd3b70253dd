"""Host tier: two of our daemons authenticate with raw public keys, the private keys
found by the built-in auth sources: PEM files named in ipsec.secrets (``files``) and
NSS databases made by our own ``ipsec initnss``/``newhostkey`` (``nss``).

No ESP in this kernel: the IKE SA comes up, the Child SA install fails (the lab
tier proves the tunnel)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.host.daemons import IPSEC, Pluto
from tests.netns import EAST_IP, EAST_NET, WEST_IP, WEST_NET, Pair

pytestmark = pytest.mark.host


def conf(authby: str, west_key: str, east_key: str) -> str:
    return (f"config setup\n\tlogtime=no\n\nconn west-east\n\tleft={WEST_IP}\n\tleftid=@west\n"
            f"\tleftsubnet={WEST_NET}\n\tright={EAST_IP}\n\trightid=@east\n\trightsubnet={EAST_NET}\n"
            f"\tauthby={authby}\n\t{west_key}\n\t{east_key}\n\tauto=add\n")


def pem_file(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    from pluto_core.ikev2.crypto import pubkeys

    return pubkeys.encode_pubkey(key.public_key())


def start_pair(pair: Pair, root: Path, config: str, west_secrets: str, east_secrets: str,
               west_args: tuple[str, ...] = (), east_args: tuple[str, ...] = ()) -> tuple[Pluto, Pluto]:
    daemons = []
    for side, ns, secrets, args in (("east", pair.east, east_secrets, east_args),
                                    ("west", pair.west, west_secrets, west_args)):
        (root / f"{side}.conf").write_text(config)
        path = root / f"{side}.secrets"
        path.write_text(secrets)
        path.chmod(0o600)
        pluto = Pluto(ns, root / side)
        pluto.start(root / f"{side}.conf", path, "--nhelpers", "0", *args)
        daemons.append(pluto)
    east, west = daemons
    return west, east


def test_rsa_keys_from_pem_files(netns_pair: Pair, tmp_path: Path, stop_all: list[Pluto]) -> None:
    west_key, east_key = rsa.generate_private_key(65537, 3072), rsa.generate_private_key(65537, 2048)
    from pluto_core.ikev2.crypto import pubkeys

    config = conf("rsasig", f"leftrsasigkey={pubkeys.encode_rsasigkey(west_key.public_key())}",
                  f"rightrsasigkey={pubkeys.encode_rsasigkey(east_key.public_key())}")
    west, east = start_pair(netns_pair, tmp_path, config,
                            f"@west : RSA {pem_file(tmp_path / 'west.pem', west_key)}\n",
                            f"@east : RSA {pem_file(tmp_path / 'east.pem', east_key)}\n",
                            west_args=("--nhelpers", "1"), east_args=("--nhelpers", "1"))  # signing in a helper
    stop_all += [west, east]
    up = west.ipsec("up", "west-east")
    assert "sent IKE_AUTH request to 192.0.2.2:UDP/500 with digital-signature RSASSA-PSS with SHA2_512 and " \
           "FQDN '@west'" in up.stdout, up.stdout + up.stderr + west.log_text()
    assert "initiator established IKE SA; authenticated peer using preloaded certificate '@east' and 2048-bit " \
           "RSASSA-PSS with SHA2_512 digital signature" in up.stdout
    assert "responder established IKE SA; authenticated peer using preloaded certificate '@west' and 3072-bit " \
           "RSASSA-PSS with SHA2_512 digital signature" in east.log_text()
    assert [sa["peer_id"] for sa in east.status()["ike_sas"]] == ["@west"]
    assert "loaded RSA private key from" in west.log_text()
    assert "starting 1 helper process for crypto jobs" in east.log_text()  # east's signature was made there
    for pluto in (west, east):  # no key material in any log
        text = pluto.log_text()
        assert "PRIVATE KEY" not in text and str(west_key.private_numbers().d)[:20] not in text


def test_ecdsa_keys_and_a_signature_the_responder_does_not_trust(netns_pair: Pair, tmp_path: Path,
                                                                  stop_all: list[Pluto]) -> None:
    west_key, east_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP384R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    config = conf("ecdsa", f"leftpubkey={spki(west_key)}", f"rightpubkey={spki(east_key)}")
    distrustful = conf("ecdsa", f"leftpubkey={spki(stranger)}", f"rightpubkey={spki(east_key)}")
    west_secrets = f": ECDSA {pem_file(tmp_path / 'west.pem', west_key)}\n"
    east_secrets = f": ECDSA {pem_file(tmp_path / 'east.pem', east_key)}\n"
    west, east = start_pair(netns_pair, tmp_path, config, west_secrets, east_secrets)
    stop_all += [west, east]
    up = west.ipsec("up", "west-east")
    assert "authenticated peer using preloaded certificate '@east' and P-384 ECDSA with SHA2_512 digital " \
           "signature" in up.stdout, up.stdout + up.stderr + west.log_text() + east.log_text()
    assert "authenticated peer using preloaded certificate '@west' and P-256 ECDSA with SHA2_512 digital " \
           "signature" in east.log_text()
    west.ipsec("down", "west-east")
    east.stop()
    (tmp_path / "distrustful.conf").write_text(distrustful)  # east again, trusting another key for @west
    east = Pluto(netns_pair.east, tmp_path / "east-2")
    east.start(tmp_path / "distrustful.conf", tmp_path / "east.secrets", "--nhelpers", "0")
    stop_all.append(east)
    up = west.ipsec("up", "west-east")
    assert up.returncode == 1 and "AUTHENTICATION_FAILED" in up.stdout + up.stderr
    assert "authentication of peer FQDN '@west' using authby=ecdsa failed: bad signature (1 trusted key): " \
           "sending AUTHENTICATION_FAILED" in east.log_text()
    assert east.status()["ike_sas"] == []


def newhostkey(nssdir: Path) -> str:
    """A fresh NSS database with one RSA key, made by our own commands; its leftrsasigkey= text."""
    for verb in ("initnss", "newhostkey"):
        done = subprocess.run([*IPSEC, verb, "--nssdir", str(nssdir)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    listing = subprocess.run([*IPSEC, "showhostkey", "--nssdir", str(nssdir), "--list"], capture_output=True,
                             text=True, timeout=60).stdout
    ckaid = re.search(r"ckaid: ([0-9a-f]{40})", listing)
    assert ckaid is not None, listing
    left = subprocess.run([*IPSEC, "showhostkey", "--nssdir", str(nssdir), "--left", "--ckaid", ckaid.group(1)],
                          capture_output=True, text=True, timeout=60).stdout
    line = next(text.strip() for text in left.splitlines() if "leftrsasigkey=" in text)
    return line.split("=", 1)[1]


def test_rsa_keys_from_nss_databases_made_by_ipsec_newhostkey(netns_pair: Pair, tmp_path: Path,
                                                               stop_all: list[Pluto]) -> None:
    if subprocess.run(["which", "certutil"], capture_output=True).returncode != 0:
        pytest.skip("certutil (libnss3-tools) is not installed")
    (tmp_path / "nss-west").mkdir()
    (tmp_path / "nss-east").mkdir()
    west_pub, east_pub = newhostkey(tmp_path / "nss-west"), newhostkey(tmp_path / "nss-east")
    config = conf("rsasig", f"leftrsasigkey={west_pub}", f"rightrsasigkey={east_pub}")
    west, east = start_pair(netns_pair, tmp_path, config, "", "",
                            west_args=("--nssdir", str(tmp_path / "nss-west")),
                            east_args=("--nssdir", str(tmp_path / "nss-east")))
    stop_all += [west, east]
    up = west.ipsec("up", "west-east")
    assert "initiator established IKE SA; authenticated peer using preloaded certificate '@east'" in up.stdout, \
        up.stdout + up.stderr + west.log_text() + east.log_text()
    assert "responder established IKE SA; authenticated peer using preloaded certificate '@west'" \
        in east.log_text()
