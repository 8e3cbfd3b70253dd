"""IKEv2 codec: payload round trips, RFC 7296 layouts byte by byte, and error behaviour."""

from __future__ import annotations

import struct

import pytest

from pluto_core.errors import ProtocolError
from pluto_core.ikev2 import (
    Authentication,
    Certificate,
    CertificateRequest,
    ConfigAttribute,
    Configuration,
    Delete,
    Eap,
    EncryptedFragment,
    EncryptedPayload,
    IdentificationInitiator,
    IdentificationResponder,
    KeyExchange,
    Message,
    Nonce,
    Notify,
    ParseError,
    Proposal,
    RawPayload,
    RawTrafficSelector,
    SecurityAssociation,
    TrafficSelector,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
    Transform,
    TransformAttribute,
    VendorId,
    encode_payloads,
    parse_message,
    parse_payloads,
    split_encrypted,
)
from pluto_core.ikev2.enums import (
    EncrId,
    ExchangeType,
    IdType,
    KeGroup,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformType,
    lookup,
)

SPI_I = bytes.fromhex("0102030405060708")
SPI_R = bytes.fromhex("1112131415161718")


def header(first: int, length: int, exchange: int = 34, flags: int = 0x08, mid: int = 0,
           version: int = 0x20) -> bytes:
    """RFC 7296 3.1 header, written field by field."""
    return SPI_I + SPI_R + bytes([first, version, exchange, flags]) + mid.to_bytes(4, "big") + \
        length.to_bytes(4, "big")


def message(first: int, payload_bytes: bytes, **kw: int) -> bytes:
    return header(first, 28 + len(payload_bytes), **kw) + payload_bytes


def gh(next_payload: int, body: bytes, flags: int = 0) -> bytes:
    """RFC 7296 3.2 generic payload header + body."""
    return bytes([next_payload, flags]) + (4 + len(body)).to_bytes(2, "big") + body


# ------------------------------------------------------------ hand-built layouts


def test_sa_layout_byte_by_byte() -> None:
    # RFC 7296 3.3.1/3.3.2/3.3.5: one IKE proposal, AES-CBC with a TV key length, PRF, group.
    transforms = (
        bytes.fromhex("03 00 000c 01 00 000c") + bytes.fromhex("800e 0100")  # ENCR AES_CBC, KeyLength 256
        + bytes.fromhex("03 00 0008 02 00 0005")  # PRF HMAC_SHA2_256
        + bytes.fromhex("00 00 0008 04 00 0013")  # KE ECP256, last
    )
    proposal = bytes.fromhex("00 00") + (8 + len(transforms)).to_bytes(2, "big") + \
        bytes.fromhex("01 01 00 03") + transforms
    data = message(33, gh(0, proposal))
    msg = parse_message(data)
    (sa,) = msg.payloads
    assert isinstance(sa, SecurityAssociation)
    (p,) = sa.proposals
    assert (p.num, p.protocol_id, p.spi) == (1, ProtocolId.IKE, b"")
    assert [(t.type, t.id) for t in p.transforms] == [(1, 12), (2, 5), (4, 19)]
    assert p.transforms[0].key_length == 256
    assert p.transforms[1].key_length is None
    assert msg.to_bytes() == data
    # Built from objects: the same bytes.
    built = Message(SPI_I, SPI_R, ExchangeType.IKE_SA_INIT, 0x08, 0, [SecurityAssociation([Proposal(
        1, ProtocolId.IKE, b"", [
            Transform.with_key_length(TransformType.ENCR, EncrId.AES_CBC, 256),
            Transform(TransformType.PRF, 5),
            Transform(TransformType.KE, KeGroup.ECP256),
        ])])])
    assert built.to_bytes() == data


def test_sa_tlv_attribute_and_esp_spi_round_trip() -> None:
    t = Transform(1, 12, [TransformAttribute(14, 128), TransformAttribute(0x1234, b"\x01\x02\x03")])
    sa = SecurityAssociation([Proposal(1, ProtocolId.ESP, b"\xaa\xbb\xcc\xdd", [t]),
                              Proposal(2, ProtocolId.ESP, b"\x01\x02\x03\x04", [Transform(5, 0)])])
    first, body = encode_payloads([sa])
    # TLV form: AF=0, type 0x1234, length 3, value.
    assert bytes.fromhex("1234 0003 010203") in body
    assert bytes.fromhex("800e 0080") in body
    # First proposal says "more" (2), second says "last" (0); ESP SPI size 4.
    props = body[4:]
    first_len = int.from_bytes(props[2:4], "big")
    assert props[0] == 2 and props[first_len] == 0
    assert (props[5], props[6], props[7]) == (ProtocolId.ESP, 4, 1)
    assert parse_payloads(first, body) == [sa]


def test_ke_id_auth_nonce_layouts() -> None:
    ke = bytes.fromhex("0013 0000") + bytes(range(64))
    idi = bytes.fromhex("02 000000") + b"west"
    auth = bytes.fromhex("02 000000") + bytes(20)
    nonce = bytes(range(32))
    chain = gh(35, ke) + gh(39, idi) + gh(40, auth) + gh(0, nonce)
    ps = parse_payloads(34, chain)
    assert ps == [KeyExchange(19, bytes(range(64))), IdentificationInitiator(IdType.ID_FQDN, b"west"),
                  Authentication(2, bytes(20)), Nonce(bytes(range(32)))]
    assert encode_payloads(ps) == (34, chain)


def test_notify_with_spi_and_typed_accessors() -> None:
    rekey = bytes.fromhex("03 04 4009 11223344")  # ESP, SPI size 4, REKEY_SA
    invalid_ke = bytes.fromhex("00 00 0011 000e")  # INVALID_KE_PAYLOAD, group 14
    sha = bytes.fromhex("00 00 402f 0002 0003 0004")  # SIGNATURE_HASH_ALGORITHMS
    window = bytes.fromhex("00 00 4001 0000000a")
    chain = gh(41, rekey) + gh(41, invalid_ke) + gh(41, sha) + gh(0, window)
    a, b, c, d = parse_payloads(41, chain)
    assert isinstance(a, Notify) and a.notify_type is NotifyType.REKEY_SA
    assert (a.protocol_id, a.rekey_spi, a.data) == (3, bytes.fromhex("11223344"), b"")
    assert isinstance(b, Notify) and b.ke_group == 14 and b.is_error
    assert isinstance(c, Notify) and c.hash_algorithms == [2, 3, 4]
    assert isinstance(d, Notify) and d.window_size == 10
    assert encode_payloads([Notify.for_rekey_sa(3, bytes.fromhex("11223344")), Notify.for_invalid_ke(14),
                            Notify.for_signature_hash_algorithms([2, 3, 4]), Notify.for_window_size(10)]) == (
        41, chain)
    with pytest.raises(ParseError):
        Notify(NotifyType.INVALID_KE_PAYLOAD, b"\x00").ke_group  # noqa: B018
    with pytest.raises(ParseError):
        Notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, b"\x00\x02\x00").hash_algorithms  # noqa: B018


def test_notify_other_accessors() -> None:
    assert Notify(NotifyType.NAT_DETECTION_SOURCE_IP, bytes(20)).nat_hash == bytes(20)
    assert Notify(NotifyType.COOKIE, b"c" * 8).cookie == b"c" * 8
    assert str(Notify(NotifyType.ADDITIONAL_IP4_ADDRESS, bytes([192, 0, 2, 1])).additional_address) == \
        "192.0.2.1"
    redirect = Notify.for_gateway(NotifyType.REDIRECT, 1, bytes([192, 0, 2, 9]), b"nonce")
    assert redirect.gateway == (1, bytes([192, 0, 2, 9]), b"nonce")
    assert Notify.for_unsupported_critical(99).unsupported_payload_type == 99
    assert Notify(NotifyType.AUTH_LIFETIME, struct.pack(">I", 3600)).lifetime == 3600
    assert Notify(NotifyType.IKEV2_MESSAGE_ID_SYNC, struct.pack(">III", 1, 2, 3)).message_id_sync == (1, 2, 3)
    with pytest.raises(ParseError):
        Notify(NotifyType.NAT_DETECTION_SOURCE_IP, bytes(19)).nat_hash  # noqa: B018


def test_ts_layout_ipv4_and_ipv6() -> None:
    v4 = bytes.fromhex("07 06 0010 0000 ffff c0000200 c00002ff")  # TCP, all ports, 192.0.2.0-255
    v6 = bytes.fromhex("08 00 0028 01f4 01f4") + bytes.fromhex("20010db8" + "00" * 12) + \
        bytes.fromhex("20010db8" + "ff" * 12)
    body = bytes.fromhex("02 000000") + v4 + v6
    (ts,) = parse_payloads(44, gh(0, body))
    assert isinstance(ts, TrafficSelectorsInitiator)
    a, b = ts.selectors
    assert a == TrafficSelector.from_network("192.0.2.0/24", ip_proto=6)
    assert isinstance(b, TrafficSelector) and (b.start_port, b.end_port) == (500, 500)
    assert str(b.start) == "2001:db8::" and str(b.end) == "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
    assert encode_payloads([ts]) == (44, gh(0, body))
    tsr = TrafficSelectorsResponder([RawTrafficSelector(10, 0, b"label")])
    assert parse_payloads(*encode_payloads([tsr])) == [tsr]


def test_delete_cert_certreq_vid_cp_eap_layouts() -> None:
    delete = bytes.fromhex("03 04 0002 aabbccdd 11223344")
    delete_ike = bytes.fromhex("01 00 0000")
    cert = bytes.fromhex("04") + b"DER"
    certreq = bytes.fromhex("04") + bytes(range(20)) + bytes(range(20, 40))
    vid = b"OE-Libreswan"
    cp = bytes.fromhex("01 000000") + bytes.fromhex("0001 0000") + bytes.fromhex("0003 0004 08080808")
    eap = bytes.fromhex("01 07 0009 01") + b"abcd"  # Request, id 7, length 9, Identity
    chain = (gh(42, delete) + gh(37, delete_ike) + gh(38, cert) + gh(43, certreq) + gh(47, vid) +
             gh(48, cp) + gh(0, eap))
    ps = parse_payloads(42, chain)
    assert ps == [
        Delete(ProtocolId.ESP, [bytes.fromhex("aabbccdd"), bytes.fromhex("11223344")]),
        Delete(ProtocolId.IKE),
        Certificate(4, b"DER"),
        CertificateRequest(4, bytes(range(20)) + bytes(range(20, 40))),
        VendorId(vid),
        Configuration(1, [ConfigAttribute(1), ConfigAttribute(3, bytes([8, 8, 8, 8]))]),
        Eap(bytes.fromhex("01 07 0009 01") + b"abcd"),
    ]
    certreq_p = ps[3]
    assert isinstance(certreq_p, CertificateRequest) and certreq_p.ca_hashes == [bytes(range(20)),
                                                                              bytes(range(20, 40))]
    eap_p = ps[-1]
    assert isinstance(eap_p, Eap) and (eap_p.code, eap_p.identifier, eap_p.eap_type) == (1, 7, 1)
    assert encode_payloads(ps) == (42, chain)


def test_sk_and_skf_layout_and_split() -> None:
    sk_body = bytes(range(16)) + b"C" * 32 + b"I" * 12  # IV | ciphertext | ICV
    data = message(46, gh(35, sk_body), exchange=35, mid=1)
    msg = parse_message(data)
    sk = msg.sk_payload
    assert isinstance(sk, EncryptedPayload) and sk.inner_type == PayloadType.IDi and sk.data == sk_body
    assert msg.to_bytes() == data
    parts = split_encrypted(data, 12)
    assert parts.aad == data[:32] and parts.body_offset == 32 and parts.sk_offset == 28
    assert parts.encrypted == sk_body[:-12] and parts.icv == b"I" * 12
    assert parts.integrity_input == data[:-12]

    skf_body = bytes.fromhex("0002 0003") + b"E" * 40
    data = message(53, gh(0, skf_body), exchange=35, mid=1)
    msg = parse_message(data)
    skf = msg.sk_payload
    assert isinstance(skf, EncryptedFragment)
    assert (skf.inner_type, skf.fragment_number, skf.total_fragments) == (0, 2, 3)
    parts = split_encrypted(data, 16)
    assert parts.aad == data[:36] and parts.icv == b"E" * 16
    assert msg.to_bytes() == data
    with pytest.raises(ParseError):
        split_encrypted(message(40, gh(0, b"n" * 16)), 12)


def test_unknown_payloads_kept_or_rejected_when_critical() -> None:
    data = message(40, gh(200, b"n" * 16) + gh(0, b"opaque", flags=0x01))
    msg = parse_message(data)
    assert msg.payloads[1] == RawPayload(200, b"opaque", 0x01)
    assert msg.to_bytes() == data
    crit = message(40, gh(200, b"n" * 16) + gh(0, b"opaque", flags=0x80))
    with pytest.raises(ParseError) as exc:
        parse_message(crit)
    assert exc.value.notify == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD
    assert exc.value.payload_type == 200 and exc.value.offset == 48
    # A known payload with the critical bit is fine, and the bit is kept.
    known = message(40, gh(0, b"n" * 16, flags=0x80))
    m = parse_message(known)
    assert m.payloads[0].critical and m.to_bytes() == known


def test_reserved_bits_and_unknown_ids_round_trip() -> None:
    data = message(34, gh(0, bytes.fromhex("fff0 abcd") + b"k"), flags=0x0F | 0x08, version=0x2F)
    m = parse_message(data)
    ke = m.payloads[0]
    assert isinstance(ke, KeyExchange) and ke.group == 0xFFF0 and ke.reserved == 0xABCD
    assert lookup(KeGroup, ke.group) == 0xFFF0 and m.version == 0x2F
    assert m.to_bytes() == data
    assert m.exchange is ExchangeType.IKE_SA_INIT and m.is_initiator and not m.is_response


@pytest.mark.parametrize(
    ("data", "notify", "offset"),
    [
        (b"", 7, 0),
        (header(0, 28)[:27], 7, 0),
        (bytes(27), 5, 17),  # major version 0 is already visible
        (header(0, 28, version=0x10), 5, 17),  # IKEv1
        (header(0, 28, version=0x30), 5, 17),
        (header(0, 29), 7, 24),  # length lies (too long)
        (header(0, 28) + b"\x00", 7, 24),  # trailing octet
        (message(40, b"\x00\x00\x00"), 7, 28),  # truncated generic header
        (message(40, bytes.fromhex("0000 0003")), 7, 30),  # payload length < 4
        (message(40, bytes.fromhex("0000 0010") + bytes(4)), 7, 30),  # payload length too long
        (message(40, gh(40, b"n")), 7, 33),  # next payload announced, nothing follows
        (message(40, gh(0, b"n") + b"x"), 7, 33),  # octets after the last payload
        (message(46, gh(40, b"x") + gh(0, b"n")), 7, 33),  # SK not last
        (message(44, gh(0, bytes.fromhex("01 000000 07000011") + bytes(9))), 7, 38),  # bad TS length
        (message(44, gh(0, bytes.fromhex("02 000000 07000010") + bytes(12))), 7, 32),  # TS count
        (message(42, gh(0, bytes.fromhex("03 04 0002 00000001"))), 7, 34),  # Delete size*num
        (message(41, gh(0, bytes.fromhex("00 08 4000 0000"))), 7, 33),  # Notify SPI too big
        (message(53, gh(0, bytes.fromhex("0004 0003"))), 7, 32),  # fragment 4 of 3
        (message(48, gh(0, bytes.fromhex("01 01 0009 01"))), 7, 34),  # EAP length lies
        (message(33, gh(0, bytes.fromhex("02 00 0008 01 01 00 00"))), 7, 32),  # proposal says more
        (message(33, gh(0, bytes.fromhex("00 00 0008 01 01 00 01"))), 7, 39),  # 1 transform, none
    ],
)
def test_malformed_inputs_raise_parse_error(data: bytes, notify: int, offset: int) -> None:
    with pytest.raises(ParseError) as exc:
        parse_message(data)
    assert isinstance(exc.value, ProtocolError)
    assert exc.value.notify == notify
    assert exc.value.offset == offset
    assert f"offset {offset}" in str(exc.value)


def test_fresh_message_computes_lengths_and_chaining() -> None:
    m = Message(SPI_I, bytes(8), ExchangeType.IKE_SA_INIT, 0x08, 0, [
        KeyExchange(31, bytes(32)), Nonce(bytes(16)), Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)])
    data = m.to_bytes()
    assert data[16] == PayloadType.KE and len(data) == int.from_bytes(data[24:28], "big")
    assert data[28] == PayloadType.NONCE and data[28 + 40] == PayloadType.NOTIFY
    assert data[28 + 40 + 20] == 0
    assert parse_message(data) == m
    # Inner chain for SK, then wrapped.
    chain = [IdentificationResponder(IdType.ID_FQDN, b"east"), Authentication(2, b"a")]
    first, inner = encode_payloads(chain)
    assert first == PayloadType.IDr and parse_payloads(first, inner)[0] == \
        IdentificationResponder(2, b"east")
    assert encode_payloads([]) == (0, b"")
    with pytest.raises(ValueError):
        encode_payloads([EncryptedPayload(0, b""), Nonce(b"n")])


def test_lazy_sa_mutation_is_encoded() -> None:
    sa = SecurityAssociation([Proposal(1, 1, b"", [Transform(1, 12), Transform(4, 19)])])
    m = Message(SPI_I, SPI_R, 34, 0, 0, [sa])
    parsed = parse_message(m.to_bytes())
    assert parsed == m
    parsed_sa = parsed.get(SecurityAssociation)
    assert parsed_sa is not None
    parsed_sa.proposals[0].transforms[1].id = 31
    again = parse_message(parsed.to_bytes())
    sa2 = again.get(SecurityAssociation)
    assert sa2 is not None and sa2.proposals[0].transforms[1].id == 31


def test_identification_values() -> None:
    assert str(IdentificationInitiator(IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 1])).value) == "192.0.2.1"
    assert str(IdentificationResponder(IdType.ID_IPV6_ADDR, bytes(15) + b"\x01").value) == "::1"
    assert IdentificationInitiator(IdType.ID_FQDN, b"east").value == "east"
    assert IdentificationInitiator(IdType.ID_RFC822_ADDR, b"a@b.example").value == "a@b.example"
    assert IdentificationInitiator(IdType.ID_KEY_ID, b"\x01\x02").value == b"\x01\x02"
    with pytest.raises(ParseError):
        IdentificationInitiator(IdType.ID_IPV4_ADDR, bytes(5)).value  # noqa: B018
    with pytest.raises(ParseError):
        IdentificationInitiator(IdType.ID_FQDN, b"\xff").value  # noqa: B018


def test_encoding_out_of_range_fields_is_value_error() -> None:
    for bad in (Transform(1, 70000), KeyExchange(1 << 16, b""), Notify(1, b"", 256)):
        sa_or_payload = SecurityAssociation([Proposal(1, 1, b"", [bad])]) if isinstance(bad, Transform) else bad
        with pytest.raises(ValueError):
            encode_payloads([sa_or_payload])
    with pytest.raises(ValueError):
        encode_payloads([Nonce(bytes(65532))])
    with pytest.raises(ValueError):
        Message(b"short", SPI_R, 34, 0, 0).to_bytes()
    with pytest.raises(ValueError):
        Message(SPI_I, SPI_R, 34, 0, 1 << 32).to_bytes()


def test_parse_error_on_memoryview_and_bytearray_inputs() -> None:
    data = message(40, gh(0, b"n" * 16))
    assert parse_message(bytearray(data)).to_bytes() == data
    assert parse_message(memoryview(data)).to_bytes() == data
