"""Where the PF_KEY dialects differ on the wire.

RFC 2367 fixes ``sadb_msg`` and the base extensions, but every kernel lays
out the KAME extras its own way. Everything the encoder and decoder need to
know about one kernel is one :class:`Layout`:

* ``struct sockaddr``: Linux starts with a 16-bit ``sa_family``; the BSDs
  with an 8-bit ``sa_len`` then an 8-bit ``sa_family``. IPv6 is family 10
  on Linux, 28 on FreeBSD, 24 on NetBSD.
* ``sadb_x_ipsecrequest``: 16 octets with a 32-bit reqid on Linux
  (``<linux/pfkeyv2.h>``), 8 octets with a 16-bit reqid on KAME.
* ``sadb_x_policy``: the last 32 bits are the priority on Linux and FreeBSD,
  reserved on NetBSD.
* ``sadb_sa_replay``: the window in packets on Linux, in octets of bitmap
  on KAME (FreeBSD ``key.c``; 8 packets per octet).
* extension numbers from 24 on (Linux: security context, KM address,
  filter; FreeBSD/NetBSD: NAT-T OAR, fragment size, replay, new addresses).

All PF_KEY integers are in host byte order except the SPI, ports and
addresses (network order); ``order`` is the struct prefix of the host.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    bsd_sockaddr: bool  # sa_len octet before an 8-bit family
    af_inet6: int
    long_ipsecrequest: bool  # Linux: 16-octet request, 32-bit reqid
    policy_priority: bool  # sadb_x_policy ends with a priority
    replay_in_octets: bool  # sadb_sa_replay counts octets of bitmap (KAME)
    has_fwd: bool  # IPSEC_DIR_FWD exists
    udp_encap_option: int  # setsockopt(IPPROTO_UDP, <this>, UDP_ENCAP_ESPINUDP)
    addresses: frozenset[int]  # extension types holding a sadb_address
    raw: frozenset[int]  # known extension types this daemon keeps as octets
    order: str = "<"
    af_inet: int = 2

    @property
    def max_ext(self) -> int:
        return max(self.addresses | self.raw | {22})


_BASE_ADDRESSES = frozenset({5, 6, 7, 23})

LINUX = Layout(
    "linux",
    bsd_sockaddr=False,
    af_inet6=10,
    long_ipsecrequest=True,
    policy_priority=True,
    replay_in_octets=False,
    has_fwd=True,
    udp_encap_option=100,
    addresses=_BASE_ADDRESSES,
    raw=frozenset({17, 24, 25, 26}),
)  # KMPRIVATE, SEC_CTX, KMADDRESS, FILTER
FREEBSD = Layout(
    "freebsd",
    bsd_sockaddr=True,
    af_inet6=28,
    long_ipsecrequest=False,
    policy_priority=True,
    replay_in_octets=True,
    has_fwd=False,
    udp_encap_option=1,
    addresses=_BASE_ADDRESSES | {24, 27, 28},  # NAT_T_OAR, NEW_ADDRESS_SRC/DST
    raw=frozenset({17, 25, 26}),
)  # KMPRIVATE, NAT_T_FRAG, SA_REPLAY
NETBSD = Layout(
    "netbsd",
    bsd_sockaddr=True,
    af_inet6=24,
    long_ipsecrequest=False,
    policy_priority=False,
    replay_in_octets=True,
    has_fwd=False,
    udp_encap_option=100,
    addresses=_BASE_ADDRESSES | {24},
    raw=frozenset({17, 25}),
)

LAYOUTS = {layout.name: layout for layout in (LINUX, FREEBSD, NETBSD)}


def host_layout(platform: str = sys.platform) -> Layout | None:
    """The layout of this kernel, in this host's byte order; None where the
    PF_KEY dialect is not KAME's (OpenBSD has its own)."""
    order = "<" if sys.byteorder == "little" else ">"
    for prefix, layout in (("linux", LINUX), ("freebsd", FREEBSD), ("netbsd", NETBSD)):
        if platform.startswith(prefix):
            return _with_order(layout, order)
    return None


def _with_order(layout: Layout, order: str) -> Layout:
    if layout.order == order:
        return layout
    fields = {f: getattr(layout, f) for f in Layout.__dataclass_fields__}
    fields["order"] = order
    return Layout(**fields)
