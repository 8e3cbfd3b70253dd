"""PF_KEY v2 messages (RFC 2367 + KAME) byte for byte, in the Linux and the
FreeBSD (KAME) layouts, against octets written out by hand field by field
from ``<linux/pfkeyv2.h>`` and FreeBSD's ``<net/pfkeyv2.h>``.

Every ``h(...)`` argument is one field or struct; integers are little
endian (both layouts are tested with ``order="<"``) except SPIs, ports and
addresses (network order).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable

import pytest

from pluto_bsdkame import codec
from pluto_bsdkame.algorithms import FREEBSD as FREEBSD_ALGS
from pluto_bsdkame.algorithms import LINUX as LINUX_ALGS
from pluto_bsdkame.algorithms import refusal, sa_algorithms, supported_from
from pluto_bsdkame.constants import ExtType, MsgType, SaType
from pluto_bsdkame.errors import explain, lacks_protocol
from pluto_bsdkame.extensions import (
    AddressExt,
    Alg,
    Comb,
    IdentityExt,
    KeyExt,
    PfkeyFormatError,
    PolicyExt,
    ProposalExt,
    SensitivityExt,
)
from pluto_bsdkame.layout import FREEBSD, LINUX, NETBSD, Layout, host_layout
from pluto_bsdkame.messages import Message, decode, encode
from pluto_bsdkame.plugin import BsdKameBackend, policy_key
from pluto_bsdkame.reqids import ReqidMap
from pluto_core.errors import KernelError
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.kernel.types import (
    Acquire,
    Direction,
    Encap,
    Expire,
    Lifetime,
    Mapping,
    Mode,
    PolicyAction,
    PolicySpec,
    SaCounters,
    SaId,
    SaSpec,
    Template,
)

PID = 0x1234


def h(*parts: str) -> bytes:
    return bytes.fromhex("".join(re.sub(r"\s+", "", p) for p in parts))


def roundtrip(msg: Message, wire: bytes, layout: Layout) -> None:
    assert encode(msg, layout) == wire
    assert decode(wire, layout) == msg


# sockaddr_in of 192.0.2.x, port 0: Linux (u16 family) and BSD (sa_len, family)
def lin4(last: str, port: str = "0000") -> str:
    return f"0200 {port} c00002{last} 0000000000000000"


def bsd4(last: str, port: str = "0000") -> str:
    return f"10 02 {port} c00002{last} 0000000000000000"


# --------------------------------------------------------------------------
# Requests with no extension
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", [LINUX, FREEBSD], ids=["linux", "kame"])
@pytest.mark.parametrize(
    ("msg", "wire"),
    [
        (codec.register(SaType.ESP, 1, PID), "02 07 00 03 0200 0000 01000000 34120000"),
        (codec.flush(SaType.AH, 8, PID), "02 09 00 02 0200 0000 08000000 34120000"),
        (codec.dump(SaType.UNSPEC, 9, PID), "02 0a 00 00 0200 0000 09000000 34120000"),
        (codec.spd_dump(10, PID), "02 12 00 00 0200 0000 0a000000 34120000"),
        (codec.spd_flush(11, PID), "02 13 00 00 0200 0000 0b000000 34120000"),
    ],
    ids=["REGISTER", "FLUSH", "DUMP", "X_SPDDUMP", "X_SPDFLUSH"],
)
def test_header_only_requests(layout: Layout, msg: Message, wire: str) -> None:
    roundtrip(msg, h(wire), layout)


# --------------------------------------------------------------------------
# REGISTER reply: the kernel's algorithms
# --------------------------------------------------------------------------

REGISTER_REPLY_LINUX = h(
    "02 07 00 03 0800 0000 01000000 34120000",
    "0300 0e00 00000000",  # SUPPORTED_AUTH, 3 words
    "03 00 a000 a000 0000",  # hmac-sha1 160..160
    "05 00 0001 0001 0000",  # hmac-sha2-256 256..256
    "0300 0f00 00000000",  # SUPPORTED_ENCRYPT
    "0c 08 8000 0001 0000",  # aes-cbc iv 8, 128..256
    "0d 08 a000 2001 0000",  # aes-ctr (rfc3686) 160..288
)


def test_register_reply_lists_algorithms() -> None:
    msg = decode(REGISTER_REPLY_LINUX, LINUX)
    assert (msg.type, msg.satype, msg.seq, msg.pid) == (MsgType.REGISTER, SaType.ESP, 1, PID)
    supported = codec.supported_of(msg)
    assert supported.auth == {3: Alg(3, 0, 160, 160), 5: Alg(5, 0, 256, 256)}
    assert supported.encrypt == {12: Alg(12, 8, 128, 256), 13: Alg(13, 8, 160, 288)}
    assert encode(msg, LINUX) == REGISTER_REPLY_LINUX


# --------------------------------------------------------------------------
# GETSPI and its reply
# --------------------------------------------------------------------------


def test_getspi_linux() -> None:
    wire = h(
        "02 01 00 03 0a00 0000 02000000 34120000",
        "0300 0500 ff 20 0000",
        lin4("02"),  # ADDRESS_SRC 192.0.2.2/32, any protocol
        "0300 0600 ff 20 0000",
        lin4("01"),  # ADDRESS_DST 192.0.2.1/32
        "0200 1000 00010000 ffffffff 00000000",
    )  # SPIRANGE 0x100..0xffffffff
    roundtrip(codec.getspi("192.0.2.2", "192.0.2.1", 50, 2, PID), wire, LINUX)


def test_getspi_kame() -> None:
    wire = h(
        "02 01 00 02 0a00 0000 02000000 34120000",  # AH
        "0300 0500 ff 20 0000",
        bsd4("02"),
        "0300 0600 ff 20 0000",
        bsd4("01"),
        "0200 1000 00010000 ffffffff 00000000",
    )
    roundtrip(codec.getspi("192.0.2.2", "192.0.2.1", 51, 2, PID), wire, FREEBSD)


def test_getspi_reply_gives_the_spi() -> None:
    wire = h(
        "02 01 00 03 0c00 0000 02000000 34120000",
        "0200 0100 c0ffee01 00 00 00 00 00000000",  # SA: spi, replay, state larval, no algorithms
        "0300 0500 00 20 0000",
        lin4("02"),
        "0300 0600 00 20 0000",
        lin4("01"),
        "0200 1300 00 00 0000 00000000 00000000",
    )  # X_SA2 mode any, reqid 0
    reply = decode(wire, LINUX)
    assert codec.spi_of(reply) == 0xC0FFEE01
    assert encode(reply, LINUX) == wire


# --------------------------------------------------------------------------
# ADD / UPDATE
# --------------------------------------------------------------------------

KEY_E = bytes(range(16))
KEY_A = bytes(range(0x20, 0x34))
SA = SaSpec(
    "192.0.2.1",
    "192.0.2.2",
    0x1000,
    encr=EncrId.AES_CBC,
    encr_key=KEY_E,
    integ=IntegId.HMAC_SHA1_96,
    integ_key=KEY_A,
    mode=Mode.TUNNEL,
    reqid=21,
    replay_window=32,
    lifetime=Lifetime(
        soft_bytes=1000, hard_bytes=2000, soft_packets=10, hard_packets=20, soft_seconds=30, hard_seconds=40
    ),
    encap=Encap(4500, 4501),
)


def _add_wire(sockaddr: Callable[..., str], replay: str, header: str) -> bytes:
    return h(
        header,
        f"0200 0100 00001000 {replay} 01 03 0c 00000000",  # SA: spi, replay, mature, sha1 (3), aes-cbc (12)
        "0200 1300 02 00 0000 00000000 15000000",  # X_SA2 tunnel, reqid 21
        "0400 0300 14000000 d007000000000000 2800000000000000 0000000000000000",  # HARD 20 pkts 2000 B 40 s
        "0400 0400 0a000000 e803000000000000 1e00000000000000 0000000000000000",  # SOFT 10 pkts 1000 B 30 s
        "0300 0500 ff 20 0000",
        sockaddr("01"),
        "0300 0600 ff 20 0000",
        sockaddr("02"),
        "0400 0800 a000 0000",
        KEY_A.hex(),
        "00000000",  # KEY_AUTH 160 bits, padded to 32 octets
        "0300 0900 8000 0000",
        KEY_E.hex(),  # KEY_ENCRYPT 128 bits
        "0100 1400 02 000000",  # NAT_T_TYPE ESP in UDP
        "0100 1500 1194 0000",  # NAT_T_SPORT 4500
        "0100 1600 1195 0000",
    )  # NAT_T_DPORT 4501


def test_add_sa_linux() -> None:
    algs = sa_algorithms(SA, LINUX_ALGS)
    assert (algs.auth, algs.encrypt) == (3, 12)
    wire = _add_wire(lin4, "20", "02 03 00 03 1e00 0000 03000000 34120000")  # replay in packets
    roundtrip(codec.add_sa(SA, False, algs, 3, PID, LINUX), wire, LINUX)


def test_update_sa_kame_counts_replay_in_octets() -> None:
    algs = sa_algorithms(SA, FREEBSD_ALGS)
    wire = _add_wire(bsd4, "04", "02 02 00 03 1e00 0000 03000000 34120000")  # UPDATE; 32 packets = 4 octets
    roundtrip(codec.add_sa(SA, True, algs, 3, PID, FREEBSD), wire, FREEBSD)


def test_add_sa_without_lifetimes_or_encap_and_with_nat_oa() -> None:
    sa = SaSpec(
        "192.0.2.1",
        "192.0.2.2",
        0x2000,
        encr=EncrId.NULL,
        encr_key=b"",
        integ=IntegId.HMAC_SHA1_96,
        integ_key=KEY_A,
        mode=Mode.TRANSPORT,
        encap=Encap(4500, 4500, "10.0.0.9"),
    )
    wire = h(
        "02 03 00 03 1700 0000 05000000 34120000",
        "0200 0100 00002000 20 01 03 0b 00000000",  # null encryption (11)
        "0200 1300 01 00 0000 00000000 00000000",  # transport, reqid 0
        "0300 0500 ff 20 0000",
        lin4("01"),
        "0300 0600 ff 20 0000",
        lin4("02"),
        "0400 0800 a000 0000",
        KEY_A.hex(),
        "00000000",
        "0100 0900 0000 0000",  # KEY_ENCRYPT of 0 bits: af_key wants it for every ESP SA
        "0100 1400 02 000000",
        "0100 1500 1194 0000",
        "0100 1600 1194 0000",
        "0300 1700 ff 20 0000 0200 0000 0a000009 0000000000000000",
    )  # NAT_T_OA 10.0.0.9
    roundtrip(codec.add_sa(sa, False, sa_algorithms(sa, LINUX_ALGS), 5, PID, LINUX), wire, LINUX)


# --------------------------------------------------------------------------
# DELETE / GET
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("mtype", "code"), [(MsgType.DELETE, "04"), (MsgType.GET, "05")])
def test_delete_and_get_name_the_sa(mtype: MsgType, code: str) -> None:
    wire = h(
        f"02 {code} 00 03 0a00 0000 04000000 34120000",
        "0200 0100 00001000 00 01 00 00 00000000",
        "0300 0500 ff 20 0000 0200 0000 00000000 0000000000000000",  # unknown source: 0.0.0.0
        "0300 0600 ff 20 0000",
        lin4("02"),
    )
    roundtrip(codec.sa_request(mtype, SaId("192.0.2.2", 0x1000), 4, PID), wire, LINUX)


def test_get_reply_gives_counters() -> None:
    wire = h(
        "02 05 00 03 0e00 0000 04000000 34120000",
        "0200 0100 00001000 20 01 05 0c 00000000",
        "0400 0200 03000000 fc00000000000000 00f1536500000000 05f1536500000000",  # CURRENT
        "0300 0500 00 20 0000",
        lin4("01"),
        "0300 0600 00 20 0000",
        lin4("02"),
    )
    reply = decode(wire, LINUX)
    assert codec.counters(reply) == SaCounters(bytes=252, packets=3, add_time=1700000000, use_time=1700000005)


# --------------------------------------------------------------------------
# SPD: add, update, delete by selector and by id
# --------------------------------------------------------------------------

TUNNEL_OUT = PolicySpec(
    "10.1.0.0/24",
    "10.2.0.0/24",
    Direction.OUT,
    templates=(Template(Mode.TUNNEL, "192.0.2.1", "192.0.2.2", 11),),
)


def test_spdadd_tunnel_linux() -> None:
    wire = h(
        "02 0e 00 00 1000 0000 09000000 34120000",
        "0300 0500 ff 18 0000 0200 0000 0a010000 0000000000000000",  # 10.1.0.0/24 any protocol
        "0300 0600 ff 18 0000 0200 0000 0a020000 0000000000000000",
        "0800 1200 0200 02 00 00000000 00000000",  # X_POLICY ipsec, outbound, id 0, priority 0
        "3000 3200 02 03 0000 0b000000 00000000",  # request: 48 octets, ESP, tunnel, unique, reqid 11
        lin4("01"),
        lin4("02"),
    )
    roundtrip(codec.add_policy(TUNNEL_OUT, False, 9, PID, LINUX), wire, LINUX)


def test_spdadd_tunnel_kame() -> None:
    wire = h(
        "02 0e 00 00 0f00 0000 09000000 34120000",
        "0300 0500 ff 18 0000 10 02 0000 0a010000 0000000000000000",
        "0300 0600 ff 18 0000 10 02 0000 0a020000 0000000000000000",
        "0700 1200 0200 02 00 00000000 00000000",
        "2800 3200 02 03 0b00",  # KAME request: 40 octets, 16-bit reqid
        bsd4("01"),
        bsd4("02"),
    )
    roundtrip(codec.add_policy(TUNNEL_OUT, False, 9, PID, FREEBSD), wire, FREEBSD)


def test_spdupdate_transport_with_ports_and_priority() -> None:
    policy = PolicySpec(
        "192.0.2.1/32",
        "192.0.2.2/32",
        Direction.OUT,
        proto=17,
        sport=1701,
        dport=1701,
        priority=5,
        templates=(Template(Mode.TRANSPORT, reqid=12),),
    )
    wire = h(
        "02 0d 00 00 0c00 0000 0a000000 34120000",
        "0300 0500 11 20 0000",
        lin4("01", "06a5"),  # UDP, port 1701
        "0300 0600 11 20 0000",
        lin4("02", "06a5"),
        "0400 1200 0200 02 00 00000000 05000000",
        "1000 3200 01 03 0000 0c000000 00000000",
    )  # transport: no addresses
    roundtrip(codec.add_policy(policy, True, 10, PID, LINUX), wire, LINUX)


@pytest.mark.parametrize(("action", "ptype"), [(PolicyAction.PASS, 1), (PolicyAction.DROP, 0)])
def test_pass_and_drop_policies_carry_no_request(action: PolicyAction, ptype: int) -> None:
    policy = PolicySpec("10.6.0.0/24", "10.7.0.0/24", Direction.OUT, priority=100, action=action)
    pol = codec.add_policy(policy, False, 1, PID, LINUX).get(ExtType.X_POLICY)
    assert pol == PolicyExt(ptype, 2, 0, 100)


@pytest.mark.parametrize(("action", "ptype"), [(PolicyAction.PASS, "01"), (PolicyAction.DROP, "00")])
def test_shunt_spdupdate_bytes_linux_inbound_and_forward(action: PolicyAction, ptype: str) -> None:
    """Shunts: IPSEC_POLICY_NONE (passthrough) or IPSEC_POLICY_DISCARD (drop/reject), a
    two-word sadb_x_policy with no ipsecrequest even when templates were passed along."""
    for direction, wire_dir in ((Direction.IN, "01"), (Direction.FWD, "03")):
        policy = PolicySpec("192.0.2.0/24", "192.0.2.1/32", direction, proto=6, dport=22, priority=3515,
                            action=action, templates=(Template(Mode.TUNNEL, "192.0.2.2", "192.0.2.1", 7),))
        wire = h(
            "02 0d 00 00 0a00 0000 05000000 34120000",  # X_SPDUPDATE (13), 10 words
            "0300 0500 06 18 0000",
            lin4("00"),  # 192.0.2.0/24, TCP, any port
            "0300 0600 06 20 0000",
            lin4("01", "0016"),  # 192.0.2.1/32 port 22
            f"0200 1200 {ptype}00 {wire_dir} 00 00000000 bb0d0000",  # X_POLICY: type, dir, id 0, priority
        )
        roundtrip(codec.add_policy(policy, True, 5, PID, LINUX), wire, LINUX)


def test_shunt_spdadd_bytes_kame_and_no_forward_there() -> None:
    policy = PolicySpec("192.0.2.0/24", "192.0.2.1/32", Direction.OUT, priority=7, action=PolicyAction.DROP)
    wire = h(
        "02 0e 00 00 0a00 0000 05000000 34120000",
        "0300 0500 ff 18 0000",
        bsd4("00"),
        "0300 0600 ff 20 0000",
        bsd4("01"),
        "0200 1200 0000 02 00 00000000 07000000",  # DISCARD, outbound, priority 7
    )
    roundtrip(codec.add_policy(policy, False, 5, PID, FREEBSD), wire, FREEBSD)
    with pytest.raises(ValueError, match="no forward policies"):
        codec.add_policy(PolicySpec("192.0.2.0/24", "192.0.2.1/32", Direction.FWD, action=PolicyAction.PASS),
                         False, 5, PID, FREEBSD)


V6_SELECTOR = "0a00 0000 00000000 20010db8000{n}00000000000000000000 00000000 00000000"


def test_spddelete_ipv6_by_selector() -> None:
    policy = PolicySpec(
        "2001:db8:1::/64",
        "2001:db8:2::/64",
        Direction.IN,
        templates=(Template(Mode.TUNNEL, "2001:db8::1", "2001:db8::2", 13),),
    )
    wire = h(
        "02 0f 00 00 0e00 0000 0b000000 34120000",
        "0500 0500 ff 40 0000",
        V6_SELECTOR.format(n=1),  # sockaddr_in6 (28) padded to 32
        "0500 0600 ff 40 0000",
        V6_SELECTOR.format(n=2),
        "0200 1200 0200 01 00 00000000 00000000",
    )  # inbound
    roundtrip(codec.delete_policy(policy, 11, PID, LINUX), wire, LINUX)
    kame = h(
        "02 0f 00 00 0e00 0000 0b000000 34120000",
        "0500 0500 ff 40 0000 1c 1c 0000 00000000 20010db8000100000000000000000000 00000000 00000000",
        "0500 0600 ff 40 0000 1c 1c 0000 00000000 20010db8000200000000000000000000 00000000 00000000",
        "0200 1200 0200 01 00 00000000 00000000",
    )
    roundtrip(codec.delete_policy(policy, 11, PID, FREEBSD), kame, FREEBSD)


def test_spddelete2_by_id() -> None:
    wire = h("02 16 00 00 0400 0000 0c000000 34120000", "0200 1200 0200 02 00 09020000 00000000")
    roundtrip(codec.delete_policy_by_id(0x209, Direction.OUT, 12, PID), wire, LINUX)


def test_fwd_policies_exist_on_linux_only() -> None:
    fwd = PolicySpec("10.2.0.0/24", "10.1.0.0/24", Direction.FWD)
    assert codec.add_policy(fwd, False, 1, PID, LINUX).get(ExtType.X_POLICY).dir == 3
    with pytest.raises(ValueError, match="no forward policies"):
        codec.add_policy(fwd, False, 1, PID, FREEBSD)


def test_netbsd_sockaddr_family_for_ipv6_is_24() -> None:
    ext = AddressExt(ExtType.ADDRESS_DST, "2001:db8::1", 128)
    assert ext.pack(NETBSD)[4:6] == h("1c 18")  # sa_len 28, AF_INET6 24


# --------------------------------------------------------------------------
# Kernel events: ACQUIRE, EXPIRE, NAT-T mapping
# --------------------------------------------------------------------------

ACQUIRE_LINUX = h(
    "02 06 00 03 1400 0000 07000000 00000000",
    "0300 0500 00 20 0000",
    lin4("01"),  # template end points
    "0300 0600 00 20 0000",
    lin4("02"),
    "0200 1200 0200 02 00 09020000 20080000",  # X_POLICY ipsec out, id 0x209, priority 2080
    "0a00 0d00 20 000000",  # PROPOSAL, replay 32, one comb
    "03 0c 0000 a000 a000 8000 0001 00000000 00000000 00000000",
    "0000000000000000 0000000000000000 7062000000000000 8070000000000000 0000000000000000 0000000000000000",
)


def test_acquire_decodes_and_maps_to_the_policy_installed() -> None:
    msg = decode(ACQUIRE_LINUX, LINUX)
    prop = msg.get(ExtType.PROPOSAL)
    assert prop == ProposalExt(
        32, (Comb(3, 12, 0, 160, 160, 128, 256, soft_addtime=25200, hard_addtime=28800),)
    )
    assert encode(msg, LINUX) == ACQUIRE_LINUX
    trap = PolicySpec(
        "10.1.0.0/16",
        "10.3.0.0/16",
        Direction.OUT,
        priority=2080,
        templates=(Template(Mode.TUNNEL, "192.0.2.1", "192.0.2.2", 11),),
    )
    event = codec.event(msg, policy_by_id=lambda i: trap if i == 0x209 else None)
    assert event == Acquire(
        "192.0.2.1", "192.0.2.2", 11, "10.1.0.0/16", "10.3.0.0/16", 0, 0, 0, Direction.OUT, 7
    )
    unknown = codec.event(msg)
    assert unknown == Acquire("192.0.2.1", "192.0.2.2", 0, "192.0.2.1/32", "192.0.2.2/32", seq=7)


def _expire(lifetime_type: str) -> bytes:
    return h(
        "02 08 00 03 1400 0000 00000000 00000000",
        "0200 0100 00001001 20 02 05 0c 00000000",  # dying
        f"0400 {lifetime_type} 00000000 0000000000000000 0100000000000000 0000000000000000",
        "0400 0200 00000000 0000000000000000 00f1536500000000 0000000000000000",
        "0300 0500 00 20 0000",
        lin4("01"),
        "0300 0600 00 20 0000",
        lin4("02"),
        "0200 1300 02 00 0000 00000000 ff3f0000",
    )  # reqid 0x3fff: a stand-in


@pytest.mark.parametrize(("ext", "hard"), [("0400", False), ("0300", True)], ids=["soft", "hard"])
def test_expire_soft_and_hard(ext: str, hard: bool) -> None:
    wire = _expire(ext)
    msg = decode(wire, LINUX)
    assert encode(msg, LINUX) == wire
    reqids = ReqidMap()
    assert reqids.kernel(16388) == 0x3FFF
    event = codec.event(msg, our_reqid=reqids.ours)
    assert event == Expire(SaId("192.0.2.2", 0x1001, 50, None, "192.0.2.1"), 16388, hard)


def test_nat_t_new_mapping() -> None:
    wire = h(
        "02 17 00 03 0c00 0000 09000000 00000000",
        "0200 0100 00001a01 00 00 00 00 00000000",
        "0300 0500 00 20 0000",
        lin4("02"),  # old peer address
        "0100 1500 1194 0000",  # old port 4500
        "0300 0600 00 20 0000 0200 0000 c6336407 0000000000000000",  # new address 198.51.100.7
        "0100 1600 1195 0000",
    )  # new port 4501
    msg = decode(wire, LINUX)
    assert encode(msg, LINUX) == wire
    ours = SaId("192.0.2.1", 0x1A01, 50, None, "192.0.2.2")
    event = codec.event(msg, sa_by_spi=lambda spi: ours if spi == 0x1A01 else None)
    assert event == Mapping(ours, 0, "192.0.2.2", 4500, "198.51.100.7", 4501)


def test_replies_and_other_daemons_changes_are_not_events() -> None:
    assert codec.event(decode(REGISTER_REPLY_LINUX, LINUX)) is None


def test_identity_and_sensitivity_extensions() -> None:
    msg = Message(
        MsgType.ACQUIRE,
        SaType.ESP,
        1,
        0,
        exts=(
            IdentityExt(ExtType.IDENTITY_SRC, 2, 0, b"west.example"),
            SensitivityExt(1, 2, 3, (0x0F,), (0xF0,)),
        ),
    )
    wire = h(
        "02 06 00 03 0a00 0000 01000000 00000000",
        "0400 0a00 0200 0000 0000000000000000 776573742e6578616d706c65 00 000000",  # FQDN, NUL, pad
        "0400 0c00 01000000 02 01 03 01 00000000 0f00000000000000 f000000000000000",
    )
    roundtrip(msg, wire, LINUX)


def test_keys_never_show_in_a_repr() -> None:
    msg = codec.add_sa(SA, False, sa_algorithms(SA, LINUX_ALGS), 3, PID, LINUX)
    text = repr(msg)
    assert KEY_A.hex() not in text and repr(KEY_A) not in text and repr(KEY_E) not in text
    assert "hidden" in repr(KeyExt(ExtType.KEY_AUTH, KEY_A))


# --------------------------------------------------------------------------
# Malformed replies
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "layout", "says"),
    [
        (h("02 07 00 03 0200 0000"), LINUX, "too short: 8 octets"),
        (h("03 07 00 03 0200 0000 01000000 34120000"), LINUX, "not a PF_KEY v2"),
        (
            h("02 07 00 03 0300 0000 01000000 34120000"),
            LINUX,
            "sadb_msg_len says 24 octets but the message has 16",
        ),
        (h("02 07 00 03 0300 0000 01000000 34120000 0000 0e00 00000000"), LINUX, "has length 0"),
        (
            h("02 07 00 03 0300 0000 01000000 34120000 0300 0e00 00000000"),
            LINUX,
            "claims 24 octets, only 8 left",
        ),
        (h("02 07 00 03 0300 0000 01000000 34120000 0100 1e00 00000000"), LINUX, "unknown extension type 30"),
        (h("02 07 00 03 0300 0000 01000000 34120000 0100 1b00 00000000"), LINUX, "unknown extension type 27"),
        (
            h("02 07 00 03 0400 0000 01000000 34120000 0100 1400 02000000 0100 1400 02000000"),
            LINUX,
            "X_NAT_T_TYPE (20) appears twice",
        ),
        (h("02 07 00 03 0300 0000 01000000 34120000 0100 0100 00000000"), LINUX, "sadb_sa: body of 4 octets"),
        (
            h(
                "02 07 00 03 0500 0000 01000000 34120000",
                "0300 0500 ff200000 0700 0000 c0000201 0000000000000000",
            ),
            LINUX,
            "address family 7",
        ),
        (
            h("02 07 00 03 0400 0000 01000000 34120000 0200 0800 0001 0000 00000000 00000000"),
            LINUX,
            "256 bits do not fit in 8 octets",
        ),
        (
            h("02 07 00 03 0400 0000 01000000 34120000 0200 0d00 20000000 0000000000000000"),
            LINUX,
            "8 octets of sadb_comb is not a multiple of 72",
        ),
        (
            h(
                "02 0e 00 00 0500 0000 01000000 34120000",
                "0300 1200 0200 02 00 00000000 00000000 4000 3200 02030000",
            ),
            LINUX,
            "sadb_x_ipsecrequest: 8 octets left, needs 16",
        ),
        (
            h(
                "02 0e 00 00 0500 0000 01000000 34120000",
                "0300 1200 0200 02 00 00000000 00000000 4000 3200 02030b00",
            ),
            FREEBSD,
            "sadb_x_ipsecrequest: length 64 octets, 8 left",
        ),
    ],
)
def test_malformed_messages_say_what_is_wrong(wire: bytes, layout: Layout, says: str) -> None:
    with pytest.raises(PfkeyFormatError) as err:
        decode(wire, layout)
    assert says in str(err.value)


def test_freebsd_knows_extensions_linux_does_not() -> None:
    oar = h("02 06 00 03 0500 0000 01000000 00000000 0300 1800 ff 20 0000", bsd4("09"))
    assert decode(oar, FREEBSD).get(24) == AddressExt(24, "192.0.2.9", 32)
    with pytest.raises(PfkeyFormatError, match="SA_REPLAY|unknown extension type 26"):
        decode(h("02 06 00 03 0300 0000 01000000 00000000 0100 1a00 00000000"), NETBSD)


# --------------------------------------------------------------------------
# Algorithms and their limits
# --------------------------------------------------------------------------


def test_linux_refuses_aead_and_sha2_256_with_a_reason() -> None:
    gcm = refusal(LINUX_ALGS, EncrId.AES_GCM_16, 128, None)
    assert gcm is not None and "af_key" in gcm and "no AEAD" in gcm and "AES_GCM_16" in gcm
    sha256 = refusal(LINUX_ALGS, EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128)
    assert sha256 is not None and "96-bit ICV" in sha256 and "RFC 4868" in sha256
    assert refusal(LINUX_ALGS, EncrId.AES_CBC, 128, IntegId.HMAC_SHA1_96) is None
    assert refusal(LINUX_ALGS, EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256) is None


def test_kame_maps_gcm16_and_sha2_256() -> None:
    assert refusal(FREEBSD_ALGS, EncrId.AES_GCM_16, 256, None) is None
    assert refusal(FREEBSD_ALGS, EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128) is None
    gcm8 = refusal(FREEBSD_ALGS, EncrId.AES_GCM_8, 128, None)
    assert gcm8 is not None and "16-octet ICV only" in gcm8
    gcm = SaSpec("192.0.2.1", "192.0.2.2", 1, encr=EncrId.AES_GCM_16, encr_key=bytes(20))
    algs = sa_algorithms(gcm, FREEBSD_ALGS)
    assert (algs.auth, algs.encrypt, algs.encrypt_key) == (0, 20, bytes(20))  # salt rides in the key


def test_supported_list_from_register_limits_what_is_accepted() -> None:
    supported = codec.supported_of(decode(REGISTER_REPLY_LINUX, LINUX))
    assert (
        refusal(LINUX_ALGS, EncrId.AES_CTR, 128, IntegId.HMAC_SHA1_96, supported) is None
    )  # 128+32 in range
    no_3des = refusal(LINUX_ALGS, EncrId.TRIPLE_DES, 192, IntegId.HMAC_SHA1_96, supported)
    assert no_3des is not None and "lists no encryption algorithm 3" in no_3des
    too_long = refusal(LINUX_ALGS, EncrId.AES_CBC, 512, IntegId.HMAC_SHA1_96, supported)
    assert too_long is not None and "128-256 bits, not 512" in too_long
    no_md5 = refusal(LINUX_ALGS, EncrId.AES_CBC, 128, IntegId.HMAC_MD5_96, supported_from((), ()))
    assert no_md5 is not None and "lists no encryption algorithm 12" in no_md5


def test_sa_refusals_are_kernel_errors() -> None:
    gcm = SaSpec("192.0.2.1", "192.0.2.2", 1, encr=EncrId.AES_GCM_16, encr_key=bytes(20))
    with pytest.raises(KernelError) as err:
        sa_algorithms(gcm, LINUX_ALGS)
    assert err.value.errno == errno.EOPNOTSUPP and err.value.operation == "add SA"
    assert "no AEAD" in str(err.value)


def test_check_child_hook_answers_before_open() -> None:
    backend = BsdKameBackend(LINUX)
    assert (
        backend.pluto_kernel_check_child(encr_id=EncrId.AES_CBC, key_bits=128, integ_id=IntegId.HMAC_SHA1_96)
        is None
    )
    assert "no AEAD" in (
        backend.pluto_kernel_check_child(encr_id=EncrId.AES_GCM_16, key_bits=256, integ_id=None) or ""
    )


def test_reqids_above_the_manual_range_get_stand_ins() -> None:
    reqids = ReqidMap()
    assert reqids.kernel(21) == 21 and reqids.ours(21) == 21
    assert [reqids.kernel(r) for r in (16388, 16392, 16388)] == [0x3FFF, 0x3FFE, 0x3FFF]
    assert reqids.ours(0x3FFE) == 16392


def test_error_sentences() -> None:
    err = explain("add policy", errno.EEXIST)
    assert str(err) == (
        "kernel add policy failed (EEXIST: File exists): a policy with this selector and direction "
        "already exists (installed by another IKE daemon, setkey or 'ip xfrm policy')"
    )
    assert "load module esp4/esp6" in str(lacks_protocol("add SA", 50))


def test_policy_key_ignores_what_a_replace_changes() -> None:
    other = PolicySpec(TUNNEL_OUT.src, TUNNEL_OUT.dst, Direction.OUT, priority=9)
    assert policy_key(other) == policy_key(TUNNEL_OUT)


def test_host_layout() -> None:
    assert host_layout("linux").name == "linux"
    assert host_layout("freebsd14").af_inet6 == 28
    assert host_layout("openbsd7") is None
