"""The connections the lab negotiates, written for each implementation.

One :class:`Suite` names one connection; it is rendered as our ``ipsec.conf``
section, as Libreswan's (the same syntax) and as a strongSwan ``swanctl.conf``
connection, so every pair of daemons is configured from the same facts.
Every conn is ``auto=ignore``: a test loads the one it needs on both sides
(one conn at a time, so a responder cannot pick the wrong one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.lab.topology import EAST_IP, EAST_NET, WEST_IP, WEST_NET
from tests.swanctl import swanctl_conf as render_swanctl

PSK = "lab-interop-psk-not-secret-0123456789"
SECRETS = f'@west @east : PSK "{PSK}"\n@road @east : PSK "{PSK}"\n'


@dataclass(frozen=True)
class Suite:
    name: str
    ike: str  # Libreswan ike= syntax
    esp: str  # Libreswan esp= syntax
    ike_swan: str  # strongSwan proposals
    esp_swan: str  # strongSwan esp_proposals
    mode: str = "tunnel"
    extra: dict[str, str] = field(default_factory=dict)  # more ipsec.conf keywords (ours only)
    # What `ip xfrm state` must show: {line kind: [algorithm, bits]}
    kernel: dict[str, tuple[str, str]] = field(default_factory=dict)


GCM_KERNEL = {"aead": ("rfc4106(gcm(aes))", "128")}
CBC_KERNEL = {"enc": ("cbc(aes)", ""), "auth-trunc": ("hmac(sha256)", "128")}

GCM = Suite("gcm", "aes_gcm256-sha2_256-dh19", "aes_gcm256", "aes256gcm16-prfsha256-ecp256", "aes256gcm16",
            kernel=GCM_KERNEL)
CBC = Suite("cbc", "aes256-sha2_256-dh31", "aes256-sha2_256", "aes256-sha256-x25519", "aes256-sha256",
            kernel=CBC_KERNEL)
TRANSPORT = Suite("transport", GCM.ike, GCM.esp, GCM.ike_swan, GCM.esp_swan, mode="transport", kernel=GCM_KERNEL)
# Child SA rekey forced by a short lifetime: west rekeys 50 - 25 = 25 s after the
# Child SA came up, and again 25 s after that (the test is over by then).
# Each daemon's updown command appends what it was told to UPDOWN_LOG.<its address>.
UPDOWN_LOG = "/tmp/pluto-lab-updown"
UPDOWN = ('"echo $PLUTO_VERB $PLUTO_CONNECTION $PLUTO_MY_CLIENT $PLUTO_PEER_CLIENT $PLUTO_PEER_ID '
          f'${{PLUTO_INBYTES:-}} ${{PLUTO_OUTBYTES:-}} >> {UPDOWN_LOG}.$PLUTO_ME"')
REKEY = Suite("rekey", GCM.ike, GCM.esp, GCM.ike_swan, GCM.esp_swan, kernel=GCM_KERNEL,
              extra={"salifetime": "50s", "rekeymargin": "25s", "rekeyfuzz": "0%",
                     "leftupdown": UPDOWN, "rightupdown": UPDOWN})
# Liveness: an IKE SA quiet for 2 s is probed; no answer for 10 s ends it.
DPD = Suite("dpd", GCM.ike, GCM.esp, GCM.ike_swan, GCM.esp_swan, kernel=GCM_KERNEL,
            extra={"dpddelay": "2s", "dpdtimeout": "10s"})

# IKE SA rekey forced by a short lifetime (west 50 - 25 = 25 s; east keeps 120 s).
REKEY_IKE = Suite("rekeyike", GCM.ike, GCM.esp, GCM.ike_swan, GCM.esp_swan, kernel=GCM_KERNEL,
                  extra={"ikelifetime": "50s", "rekeymargin": "25s", "rekeyfuzz": "0%"})

# What Linux af_key can install (--use-bsdkame): AES-CBC with HMAC-SHA1-96, no AEAD.
SHA1_KERNEL = {"enc": ("cbc(aes)", ""), "auth-trunc": ("hmac(sha1)", "96")}
# (strongSwan's esp_proposals name the PFS group of a rekey: pfs=yes, our default, sends a KE)
KAME = Suite("kame", "aes256-sha2_256-dh19", "aes256-sha1", "aes256-sha256-ecp256", "aes256-sha1-ecp256",
             kernel=SHA1_KERNEL)
# auto=ondemand for our daemon (the bsdkame lab renders it so): a trap policy, ACQUIRE starts it
KAME_ONDEMAND = Suite("kameondemand", KAME.ike, KAME.esp, KAME.ike_swan, KAME.esp_swan, kernel=SHA1_KERNEL)
# A volume limit only the kernel enforces: the soft EXPIRE at 22-25% of 200 packets rekeys.
KAME_VOLUME = Suite("kamevolume", KAME.ike, KAME.esp, KAME.ike_swan, KAME.esp_swan, kernel=SHA1_KERNEL,
                    extra={"ipsec-max-packets": "200"})

# Route-based (ours only; the peer stays policy-based: if_id and marks are local kernel state):
# ipsec1 created by our daemon, the Child SA's SAs and policies carrying if_id 1
XFRMI = Suite("xfrmi", GCM.ike, GCM.esp, GCM.ike_swan, GCM.esp_swan, kernel=GCM_KERNEL,
              extra={"ipsec-interface": "1"})
# marks: mark-in on the inbound SA and in/fwd policies, mark-out on the outbound ones
MARKED = Suite("marked", GCM.ike, GCM.esp, GCM.ike_swan, GCM.esp_swan, kernel=GCM_KERNEL,
               extra={"mark-in": "0x10/0xff", "mark-out": "0x20/0xff"})

ALL = (GCM, CBC, TRANSPORT, REKEY, DPD, REKEY_IKE, KAME, KAME_ONDEMAND, KAME_VOLUME, XFRMI, MARKED)


def ipsec_conf(suites: tuple[Suite, ...], overrides: dict[str, dict[str, str]] | None = None,
               setup: str = "\tlogtime=no\n") -> str:
    """An ``ipsec.conf`` (ours and Libreswan's): left is west, right is east;
    each daemon finds its own end from its addresses. ``overrides`` changes
    keywords of one conn for one daemon (e.g. a longer lifetime on east)."""
    parts = [f"config setup\n{setup}"]
    for s in suites:
        keywords = {"authby": "secret", "ikev2": "yes", "type": s.mode, "left": WEST_IP, "leftid": "@west",
                    "right": EAST_IP, "rightid": "@east", "ike": s.ike, "esp": s.esp, "auto": "ignore"}
        if s.mode == "tunnel":
            keywords |= {"leftsubnet": WEST_NET, "rightsubnet": EAST_NET}
        keywords |= {**s.extra, **(overrides or {}).get(s.name, {})}
        lines = [f"conn {s.name}"] + [f"\t{key}={value}" for key, value in keywords.items()]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def libreswan_conf(suites: tuple[Suite, ...]) -> str:
    """Libreswan 4.10's file: no updown (routes are static), no DNSSEC."""
    text = ipsec_conf(tuple(Suite(s.name, s.ike, s.esp, s.ike_swan, s.esp_swan, s.mode) for s in suites),
                      setup="\tdnssec-enable=no\n\tuniqueids=yes\n\tplutodebug=none\n")
    return text.replace("\tauto=ignore", "\tauto=ignore\n\tleftupdown=%disabled\n\trightupdown=%disabled")


def swanctl_conf(suite: Suite, local: str = "east", remote_addrs: str | None = None,
                 remote_ts: str | None = None, remote_id: str | None = None) -> str:
    """One strongSwan connection (and the PSK) for ``swanctl --load-all``; loading it
    unloads any other, so the responder has exactly this one. The ``remote_*``
    arguments replace the other end's (a road warrior: ``%any``, its subnet, its ID)."""
    me, peer = (EAST_IP, WEST_IP) if local == "east" else (WEST_IP, EAST_IP)
    if suite.mode == "tunnel":
        my_ts, their_ts = (EAST_NET, WEST_NET) if local == "east" else (WEST_NET, EAST_NET)
    else:
        my_ts, their_ts = "dynamic", "dynamic"
    other = remote_id or ("west" if local == "east" else "east")
    return render_swanctl(suite.name, local_addrs=me, remote_addrs=remote_addrs or peer, proposals=suite.ike_swan,
                          local={"auth": "psk", "id": local}, remote={"auth": "psk", "id": other},
                          local_ts=my_ts, remote_ts=remote_ts or their_ts, esp=suite.esp_swan, mode=suite.mode,
                          psk=(local, other, PSK))
