"""XFRM netlink messages against <linux/xfrm.h> layouts, byte for byte.

The expected octets are written out by hand from the C structs (x86_64:
__u64 aligned to 8, SPIs and ports in network order, the rest little
endian), not taken from our own output.
"""

from __future__ import annotations

import errno
import struct

import pytest

from pluto_core.errors import KernelError
from pluto_core.ikev2.conn import ChildInstall, ChildKeys
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.owned import OwnedRecord
from pluto_core.kernel.types import (
    Acquire,
    Direction,
    Encap,
    Expire,
    Lifetime,
    Mapping,
    Mark,
    Mode,
    PolicyAction,
    PolicySpec,
    SaId,
    SaSpec,
    Template,
    plan_child,
)
from pluto_xfrm import codec
from pluto_xfrm import messages as m
from pluto_xfrm.algorithms import kernel_algorithms
from pluto_xfrm.errors import explain, lacks_protocol
from pluto_xfrm.netlink import _extack

V4 = lambda a, b, c, d: bytes([a, b, c, d]) + bytes(12)  # noqa: E731  xfrm_address_t holding IPv4


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def encoded(msg: m.nlmsg, msg_type: int = 0) -> bytes:
    msg["header"]["type"] = msg_type
    msg.encode()
    return bytes(msg.data)


# --------------------------------------------------------------------------
# Sizes: sizeof() of every struct on x86_64
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "size"), [
    (m.xfrm_usersa_info, 224), (m.xfrm_userspi_info, 232), (m.xfrm_usersa_id, 24),
    (m.xfrm_userpolicy_info, 168), (m.xfrm_userpolicy_id, 64), (m.xfrm_user_acquire, 280),
    (m.xfrm_user_expire, 232), (m.xfrm_user_mapping, 64), (m.xfrm_user_polexpire, 176),
])
def test_message_struct_sizes(cls: type, size: int) -> None:
    assert m.struct_size(cls) == size


def test_nested_struct_sizes() -> None:
    assert (m.xfrm_selector.size, m.xfrm_id.size, m.xfrm_user_tmpl.size) == (56, 24, 64)
    assert (m.xfrm_lifetime_cfg.size, m.xfrm_lifetime_cur.size, m.xfrm_stats.size) == (64, 32, 12)


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------


def test_usersa_id_bytes() -> None:
    msg = codec.sa_id(SaId("192.0.2.2", 0x01020304, 50))
    data = encoded(msg, m.XFRM_MSG_DELSA)
    assert data[:8] == h("28000000 1100 0000")  # length 40 = 16 + 24, DELSA
    assert data[16:] == V4(192, 0, 2, 2) + h("01020304 0200 32 00")


def test_usersa_id_with_mark_and_source() -> None:
    data = encoded(codec.sa_id(SaId("192.0.2.2", 0x100, 50, Mark(7, 0xF), "192.0.2.1")))
    # XFRMA_MARK (21): v=7 m=0xf; XFRMA_SRCADDR (13): 16-octet address
    assert data[40:] == h("0c00 1500 07000000 0f000000") + h("1400 0d00") + V4(192, 0, 2, 1)
    assert struct.unpack_from("=I", data, 0)[0] == len(data) == 40 + 12 + 20


def test_selector_bytes() -> None:
    sel = codec.selector("10.1.0.0/24", "10.2.0.0/24", 17, 0, 4500)
    assert m.xfrm_selector.pack(sel) == (
        V4(10, 2, 0, 0) + V4(10, 1, 0, 0)
        + h("1194 ffff 0000 0000")  # dport 4500/ffff, sport any
        + h("0200 18 18 11 000000")  # AF_INET, /24, /24, UDP, padding
        + h("00000000 00000000")  # ifindex, user
    )


def test_selector_ipv6_prefixes() -> None:
    sel = codec.selector("2001:db8:1::/48", "2001:db8:2::/64")
    raw = m.xfrm_selector.pack(sel)
    assert raw[:16] == h("20010db8 00020000 00000000 00000000")
    assert raw[16:32] == h("20010db8 00010000 00000000 00000000")
    assert raw[40:44] == h("0a00 40 30")  # AF_INET6 = 10, /64, /48


def test_policy_id_bytes() -> None:
    p = PolicySpec("10.1.0.0/24", "10.2.0.0/24", Direction.FWD)
    data = encoded(codec.policy_id(p), m.XFRM_MSG_DELPOLICY)
    assert data[:6] == h("50000000 1400")  # 16 + 64
    assert data[16 + 56:] == h("00000000 02 000000")  # index 0, dir fwd, padding


def test_policy_info_layout_and_template() -> None:
    p = PolicySpec("10.1.0.0/24", "10.2.0.0/24", Direction.OUT, priority=0x1234,
                   templates=(Template(Mode.TUNNEL, "192.0.2.1", "192.0.2.2", 7),), if_id=9)
    data = encoded(codec.policy_info(p), m.XFRM_MSG_NEWPOLICY)
    body = data[16:]
    assert body[56:120] == h("ff" * 32 + "00" * 32)  # byte/packet limits infinite, no time limits
    assert body[120:152] == bytes(32)  # curlft
    assert body[152:168] == h("34120000 00000000 01 00 00 00 00000000")  # priority, index, out, allow
    tmpl = body[168:]
    assert tmpl[:4] == h("4400 0500")  # XFRMA_TMPL, 4 + 64
    assert tmpl[4:68] == (
        V4(192, 0, 2, 2) + h("00000000 32 000000")  # id: daddr, spi 0, ESP
        + h("0200 0000") + V4(192, 0, 2, 1)  # family, padding, saddr
        + h("07000000 01 00 00 00")  # reqid 7, tunnel, share, optional, padding
        + h("ffffffff ffffffff ffffffff")  # any auth/encr/comp algorithm
    )
    assert tmpl[68:] == h("0800 1f00 09000000")  # XFRMA_IF_ID (31) = 9


def test_drop_policy_has_block_action_and_no_template() -> None:
    p = PolicySpec("10.6.0.0/24", "10.8.0.0/24", Direction.OUT, action=PolicyAction.DROP,
                   templates=(Template(),))
    data = encoded(codec.policy_info(p))
    assert len(data) == 16 + 168
    assert data[16 + 160:16 + 162] == h("01 01")  # dir out, XFRM_POLICY_BLOCK


@pytest.mark.parametrize(("action", "wire_action"), [(PolicyAction.PASS, "00"), (PolicyAction.DROP, "01")])
def test_shunt_policy_bytes_without_template(action: PolicyAction, wire_action: str) -> None:
    """A passthrough (allow) or drop/reject (block) shunt: the whole message, and no
    XFRMA_TMPL even when templates were passed along."""
    p = PolicySpec("203.0.113.0/24", "198.51.100.1/32", Direction.FWD, proto=6, sport=0, dport=22,
                   priority=3515, action=action, templates=(Template(Mode.TUNNEL, "192.0.2.2", "192.0.2.1", 7),))
    data = encoded(codec.policy_info(p), m.XFRM_MSG_UPDPOLICY)
    assert data[:6] == h("b8000000 1900")  # 16 + 168 octets, XFRM_MSG_UPDPOLICY (25), nothing after
    body = data[16:]
    assert body[:56] == (
        V4(198, 51, 100, 1) + V4(203, 0, 113, 0)  # daddr, saddr
        + h("0016 ffff 0000 0000")  # dport 22/ffff, sport any
        + h("0200 20 18 06 000000")  # AF_INET, /32, /24, TCP, padding
        + h("00000000 00000000")
    )
    assert body[152:168] == h("bb0d0000 00000000 02") + h(wire_action) + h("00 00 00000000")  # fwd


def _sa(**kw: object) -> SaSpec:
    base: dict[str, object] = dict(src="192.0.2.1", dst="192.0.2.2", spi=0xC0FFEE01, encr=EncrId.AES_GCM_16,
                                   encr_key=bytes(range(20)), reqid=0x21, replay_window=0)
    base.update(kw)
    return SaSpec(**base)  # type: ignore[arg-type]


def test_usersa_info_offsets() -> None:
    life = Lifetime(soft_bytes=1, hard_bytes=2, soft_packets=3, hard_packets=4, soft_seconds=5, hard_seconds=6)
    body = encoded(codec.sa_info(_sa(lifetime=life, mode=Mode.TRANSPORT, esn=True)), m.XFRM_MSG_NEWSA)[16:]
    assert body[40:42] == h("0200")  # sel.family, no prefixes: the SA carries anything
    assert body[56:80] == V4(192, 0, 2, 2) + h("c0ffee01 32 000000")  # id
    assert body[80:96] == V4(192, 0, 2, 1)  # saddr
    assert struct.unpack_from("=8Q", body, 96) == (1, 2, 3, 4, 5, 6, 0, 0)
    assert body[160:204] == bytes(44)  # curlft, stats
    assert body[204:224] == h("00000000 21000000 0200 00 00 80 00000000000000")  # seq, reqid, AF_INET,
    # transport, replay_window 0 (the ESN attribute carries it), XFRM_STATE_ESN, padding


def test_usersa_info_aead_attribute() -> None:
    data = encoded(codec.sa_info(_sa()))
    aead = data[16 + 224:]
    assert aead[:4] == h("6000 1200")  # 4 + 72 + 20, XFRMA_ALG_AEAD
    assert aead[4:68] == b"rfc4106(gcm(aes))".ljust(64, b"\0")
    assert aead[68:76] == h("a0000000 80000000")  # 160 key bits (128 + 32 salt), 128-bit ICV
    assert aead[76:96] == bytes(range(20))
    assert len(aead) == 96  # no replay attribute for window 0 without ESN


def test_usersa_info_cbc_hmac_esn_encap_mark() -> None:
    sa = _sa(encr=EncrId.AES_CBC, encr_key=b"K" * 16, integ=IntegId.HMAC_SHA2_256_128, integ_key=b"I" * 32,
             esn=True, replay_window=128, encap=Encap(4500, 4501), mark=Mark(1, 0xFF), if_id=3)
    attrs = encoded(codec.sa_info(sa))[16 + 224:]
    crypt = h("5800 0200") + b"cbc(aes)".ljust(64, b"\0") + h("80000000") + b"K" * 16
    auth = h("6c00 1400") + b"hmac(sha256)".ljust(64, b"\0") + h("00010000 80000000") + b"I" * 32
    esn = h("2c00 1700") + h("04000000 00000000 00000000 00000000 00000000 80000000") + bytes(16)
    encap = h("1c00 0400 0200 1194 1195 0000") + bytes(16)
    mark = h("0c00 1500 01000000 ff000000")
    if_id = h("0800 1f00 03000000")
    assert attrs == crypt + auth + esn + encap + mark + if_id


def test_userspi_info_range() -> None:
    body = encoded(codec.userspi_info("192.0.2.2", "192.0.2.1", 50, 5, 0x100, 0xFFFFFFFF), m.XFRM_MSG_ALLOCSPI)[16:]
    assert len(body) == 232
    assert body[56:80] == V4(192, 0, 2, 1) + h("00000000 32 000000")
    assert body[208:216] == h("05000000 0200 01 00")  # reqid, family, tunnel
    assert body[224:232] == h("00010000 ffffffff")


# --------------------------------------------------------------------------
# Kernel messages decoded into events
# --------------------------------------------------------------------------


def _header(msg_type: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), msg_type, 0, 0, 0) + body


def _usersa(spi: int, reqid: int) -> bytes:
    sel = bytes(56)
    ident = V4(192, 0, 2, 2) + struct.pack(">I", spi) + h("32 000000")
    return (sel + ident + V4(192, 0, 2, 1) + bytes(64) + bytes(32) + bytes(12)
            + struct.pack("=IIHBBB", 0, reqid, 2, 1, 0, 0) + bytes(7))


def _decode(data: bytes) -> m.nlmsg:
    msg = m.MarshalXfrm.msg_map[struct.unpack_from("=H", data, 4)[0]](data)
    msg.decode()
    return msg


def test_expire_event() -> None:
    data = _header(m.XFRM_MSG_EXPIRE, _usersa(0x1234, 9) + h("01") + bytes(7))
    assert codec.event(_decode(data)) == Expire(SaId("192.0.2.2", 0x1234, 50, None, "192.0.2.1"), 9, True)
    soft = _header(m.XFRM_MSG_EXPIRE, _usersa(0x1234, 9) + h("00") + bytes(7))
    assert codec.event(_decode(soft)).hard is False


def test_acquire_event() -> None:
    ident = V4(192, 0, 2, 2) + bytes(4) + h("32 000000")
    sel = (V4(10, 3, 4, 5) + V4(10, 1, 0, 1) + h("0007 ffff 9c41 ffff") + h("0200 20 20 11 000000")
           + bytes(8))
    policy = bytes(56) + bytes(64) + bytes(32) + h("00000000 00000000 01 00 00 00") + bytes(4)
    body = ident + V4(192, 0, 2, 1) + sel + policy + h("00000000 00000000 00000000 2a000000")
    tmpl = h("4400 0500") + ident + h("0200 0000") + V4(192, 0, 2, 1) + h("0b000000 01000000") + bytes(12)
    event = codec.event(_decode(_header(m.XFRM_MSG_ACQUIRE, body + tmpl)))
    assert event == Acquire("192.0.2.1", "192.0.2.2", 11, "10.1.0.1/32", "10.3.4.5/32", 17, 40001, 7,
                            Direction.OUT, 42)


def test_mapping_event() -> None:
    body = (V4(192, 0, 2, 1) + h("00001000 0200 32 00") + h("05000000")
            + V4(198, 51, 100, 1) + V4(198, 51, 100, 2) + h("1194 c350"))
    event = codec.event(_decode(_header(m.XFRM_MSG_MAPPING, body)))
    assert event == Mapping(SaId("192.0.2.1", 0x1000, 50), 5, "198.51.100.1", 4500, "198.51.100.2", 50000)


def test_getsa_answer_counters() -> None:
    body = bytearray(_usersa(0x1234, 9))
    struct.pack_into("=4Q", body, 160, 840, 10, 1700000000, 1700000005)
    lastused = h("0c00 0f00") + struct.pack("=Q", 1700000099)
    counters = codec.counters(_decode(_header(m.XFRM_MSG_NEWSA, bytes(body) + lastused)))
    assert (counters.bytes, counters.packets, counters.add_time, counters.use_time) == \
        (840, 10, 1700000000, 1700000099)


def test_extended_ack_text() -> None:
    # nlmsgerr: error -93, capped request header, then NLMSGERR_ATTR_MSG
    text = b"Requested type not found\0"
    tlv = struct.pack("=HH", 4 + len(text), 1) + text + bytes((-len(text)) % 4)
    chunk = struct.pack("=IHHII", 0, 2, 0x300, 1, 0) + struct.pack("=i", -93) + bytes(16) + tlv
    assert _extack(chunk, 0x300) == "Requested type not found"
    assert _extack(chunk, 0) == ""


# --------------------------------------------------------------------------
# Algorithms and errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("integ", "name", "bits"), [
    (IntegId.HMAC_SHA1_96, "hmac(sha1)", 96), (IntegId.HMAC_SHA2_256_128, "hmac(sha256)", 128),
    (IntegId.HMAC_SHA2_384_192, "hmac(sha384)", 192), (IntegId.HMAC_SHA2_512_256, "hmac(sha512)", 256),
])
def test_rfc4868_truncation(integ: int, name: str, bits: int) -> None:
    algs = kernel_algorithms(_sa(encr=EncrId.AES_CBC, encr_key=bytes(16), integ=integ, integ_key=b"k"))
    assert algs.auth == (name, b"k", bits) and algs.crypt == ("cbc(aes)", bytes(16)) and algs.aead is None


def test_chacha_and_ctr_names() -> None:
    assert kernel_algorithms(_sa(encr=EncrId.CHACHA20_POLY1305, encr_key=bytes(36))).aead == \
        ("rfc7539esp(chacha20,poly1305)", bytes(36), 128)
    assert kernel_algorithms(_sa(encr=EncrId.AES_CTR, encr_key=bytes(20), integ=IntegId.HMAC_SHA1_96,
                                 integ_key=bytes(20))).crypt == ("rfc3686(ctr(aes))", bytes(20))
    assert kernel_algorithms(_sa(encr=EncrId.AES_GCM_8, encr_key=bytes(20))).aead[2] == 64


def test_unexpressible_transforms_refused() -> None:
    with pytest.raises(KernelError, match="AEAD"):
        kernel_algorithms(_sa(integ=IntegId.HMAC_SHA1_96, integ_key=bytes(20)))
    with pytest.raises(KernelError, match="ENCR transform"):
        kernel_algorithms(_sa(encr=1, encr_key=bytes(8)))
    with pytest.raises(KernelError, match="salt"):
        kernel_algorithms(_sa(encr=EncrId.AES_GCM_16, encr_key=bytes(3)))


def test_error_sentences() -> None:
    esp = lacks_protocol("add SA", 50, errno.EPROTONOSUPPORT, "Requested type not found")
    assert str(esp) == ("kernel add SA failed (EPROTONOSUPPORT: Protocol not supported): the kernel lacks ESP "
                        "support: load module esp4/esp6 (CONFIG_INET_ESP, CONFIG_INET6_ESP) or run a kernel "
                        "built with it (kernel: Requested type not found)")
    assert (esp.operation, esp.errno) == ("add SA", errno.EPROTONOSUPPORT)
    assert "already exists" in str(explain("add policy", errno.EEXIST))
    assert "CAP_NET_ADMIN" in str(explain("add SA", errno.EPERM))


# --------------------------------------------------------------------------
# Child SA plan and the ownership record
# --------------------------------------------------------------------------


def _child(mode: str = "tunnel") -> ChildInstall:
    return ChildInstall(
        conn="c", serial=1, local_addr="192.0.2.1", remote_addr="192.0.2.2", mode=mode, protocol=3,
        encr_id=EncrId.AES_GCM_16, encr_key_bits=128, integ_id=None, esn=True,
        inbound=ChildKeys(0x11, b"i" * 20, b""), outbound=ChildKeys(0x22, b"o" * 20, b""),
        local_ts=(Selector.from_subnet("10.1.0.0/24"),),
        remote_ts=(Selector(4, int.from_bytes(bytes([10, 2, 0, 0]), "big"), int.from_bytes(bytes([10, 2, 1, 255]),
                                                                                            "big"), 6, 80, 80),),
        replay_window=64, lifetime_soft=2700.0, lifetime_hard=3600.0, reqid=16388,
    )


def test_plan_child_tunnel() -> None:
    plan = plan_child(_child())
    assert (plan.inbound.src, plan.inbound.dst, plan.inbound.spi, plan.inbound.encr_key) == \
        ("192.0.2.2", "192.0.2.1", 0x11, b"i" * 20)
    assert (plan.outbound.dst, plan.outbound.spi, plan.outbound.esn, plan.outbound.replay_window) == \
        ("192.0.2.2", 0x22, True, 64)
    assert plan.outbound.lifetime == Lifetime(soft_seconds=2700, hard_seconds=3600)
    # the range 10.2.0.0-10.2.1.255 is the single subnet 10.2.0.0/23
    got = {(p.direction, p.src, p.dst, p.proto, p.sport, p.dport) for p in plan.policies}
    assert got == {
        (Direction.OUT, "10.1.0.0/24", "10.2.0.0/23", 6, 0, 80),
        (Direction.IN, "10.2.0.0/23", "10.1.0.0/24", 6, 80, 0),
        (Direction.FWD, "10.2.0.0/23", "10.1.0.0/24", 6, 80, 0),
    }
    out = next(p for p in plan.policies if p.direction is Direction.OUT)
    assert out.templates == (Template(Mode.TUNNEL, "192.0.2.1", "192.0.2.2", 16388, 50),)


def test_plan_child_transport_has_no_fwd() -> None:
    plan = plan_child(_child("transport"))
    assert {p.direction for p in plan.policies} == {Direction.OUT, Direction.IN}
    assert all(p.templates == (Template(Mode.TRANSPORT, None, None, 16388, 50),) for p in plan.policies)


def test_owned_record_counts_policies() -> None:
    record = OwnedRecord(codec.policy_key)
    p = PolicySpec("10.1.0.0/24", "10.2.0.0/24", Direction.OUT)
    same = PolicySpec("10.1.0.0/24", "10.2.0.0/24", Direction.OUT, priority=9)  # same kernel object
    assert record.add_policy(p) == 1 and record.add_policy(same) == 2
    assert record.release_policy(p) == 1 and record.release_policy(p) == 0
    assert len(record) == 0
    record.add_sa(SaId("192.0.2.1", 5, 50, None, "192.0.2.2"), larval=True)
    assert record.is_larval(SaId("192.0.2.1", 5))  # the source does not name an SA
    assert record.drop_sa(SaId("192.0.2.1", 5)) and len(record) == 0


def test_volume_limits_reach_the_sa_lifetime() -> None:
    """ipsec-max-bytes/-packets: the kernel's byte and packet limits of both SAs."""
    import dataclasses

    child = dataclasses.replace(_child(), soft_bytes=250, hard_bytes=1000, soft_packets=25, hard_packets=100)
    plan = plan_child(child)
    for sa in (plan.inbound, plan.outbound):
        assert sa.lifetime == Lifetime(soft_bytes=250, hard_bytes=1000, soft_packets=25, hard_packets=100,
                                       soft_seconds=2700, hard_seconds=3600)


def test_usersa_info_tunnel_selector_families() -> None:
    """A tunnel SA's family is its endpoints' (outer); its selector AF_UNSPEC (flag
    XFRM_STATE_AF_UNSPEC) unless inner subnets of the outer family are given: the kernel
    decapsulates the other family (4-in-6, 6-in-4) only through an AF_UNSPEC selector."""
    same = encoded(codec.sa_info(_sa(selector_src="198.51.100.0/24", selector_dst="203.0.113.0/24")))[16:]
    assert same[40:42] == h("0200") and same[212:214] == h("0200")  # sel AF_INET, SA AF_INET
    assert same[216] == 0  # no flags
    for sa in (_sa(src="2001:db8:1:2::45", dst="2001:db8:1:2::23"),  # whatever rides in it
               _sa(src="2001:db8:1:2::45", dst="2001:db8:1:2::23", selector_src="198.51.100.0/24",
                   selector_dst="203.0.113.0/24")):  # 4-in-6
        body = encoded(codec.sa_info(sa))[16:]
        assert body[:56] == bytes(56)  # the selector: all zero, family AF_UNSPEC
        assert body[212:214] == h("0a00")  # the SA: AF_INET6
        assert body[216] == m.XFRM_STATE_AF_UNSPEC
    six_in_four = encoded(codec.sa_info(_sa(selector_src="2001:db8:0:1::/64", selector_dst="2001:db8:0:2::/64")))[16:]
    assert six_in_four[:56] == bytes(56) and six_in_four[212:214] == h("0200")
    assert six_in_four[216] == m.XFRM_STATE_AF_UNSPEC
