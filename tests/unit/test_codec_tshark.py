"""Cross-check the IKEv2 encoder against an independent decoder: Wireshark's tshark.

Messages covering every payload type are written into a pcap (IPv4/UDP port 500) and decoded
with ``tshark -T json``; the test asserts no malformed-packet or error expert items and that
the decoded fields equal what was built. Skipped where tshark is not installed.

Protected messages: IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL exchanges whose SK payloads
carry every inner payload type (and SKF fragments) are built with pluto_core.ikev2.crypto
(``sk_context``/``protect``, keys from ``Suite.ike_sa_keys`` over fixed inputs) and decoded
with ``tshark -T pdml`` given the keys in its IKEv2 decryption table (``-o uat:...``). Wireshark
must decrypt every SK payload to the exact plaintext we built, report the Integrity Checksum
Data ``[correct]`` and raise no warning or error; with a wrong SK_ai it must report it incorrect.
"""

from __future__ import annotations

import datetime
import functools
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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
    Proposal,
    RawPayload,
    SecurityAssociation,
    TrafficSelector,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
    Transform,
    VendorId,
    encode_payloads,
    parse_message,
)
from pluto_core.ikev2.crypto import transform_ids as T
from pluto_core.ikev2.crypto.keys import IkeSaKeys
from pluto_core.ikev2.crypto.registry import make_suite
from pluto_core.ikev2.crypto.sk import SkContext, encrypted_length, padding_length, protect, sk_context
from pluto_core.ikev2.enums import (
    AuthMethod,
    CertEncoding,
    CfgAttributeType,
    CfgType,
    EncrId,
    ExchangeType,
    IdType,
    IntegId,
    KeGroup,
    NotifyType,
    PayloadType,
    PrfId,
    ProtocolId,
    TransformType,
)
from tests.pcap import write_ike_pcap

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")

SPI_I = bytes.fromhex("a1a2a3a4a5a6a7a8")
SPI_R = bytes.fromhex("b1b2b3b4b5b6b7b8")


def write_capture(path: Path, messages: list[Message]) -> None:
    """Encode ``messages`` and write them as UDP/500 datagrams (alternating direction)."""
    write_ike_pcap(path, [m.to_bytes() for m in messages])


def _pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs


def _leaves(node: Any) -> Iterator[tuple[str, Any]]:
    """(field name, value) for every leaf of tshark's JSON, keeping duplicate keys."""
    if isinstance(node, list) and node and all(isinstance(x, tuple) for x in node):
        for key, value in node:
            if isinstance(value, (list, dict)):
                if key.endswith("_tree") or not isinstance(value, str):
                    yield from _leaves(value)
                yield key, None
            else:
                yield key, value
    elif isinstance(node, list):
        for x in node:
            yield from _leaves(x)


def decode(path: Path) -> list[list[tuple[str, Any]]]:
    """One list of (field, value) leaves per frame."""
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-r", str(path), "-T", "json", "-o", "udp.check_checksum:TRUE"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    frames = json.loads(out, object_pairs_hook=_pairs)
    return [list(_leaves(frame)) for frame in frames]


def values(leaves: list[tuple[str, Any]], name: str) -> list[str]:
    return [v for k, v in leaves if k == name and v is not None]


def hex_values(leaves: list[tuple[str, Any]], name: str) -> list[str]:
    """Byte fields: tshark prints them as aa:bb:cc."""
    return [v.replace(":", "") for v in values(leaves, name)]


@functools.cache
def _der_certificate() -> bytes:
    """A self-signed certificate, made once: ECDSA signatures are randomised (and vary in length)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(12345, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "west")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def messages() -> list[Message]:
    sa = SecurityAssociation([Proposal(1, ProtocolId.IKE, b"", [
        Transform.with_key_length(TransformType.ENCR, EncrId.AES_CBC, 256),
        Transform(TransformType.PRF, PrfId.HMAC_SHA2_256),
        Transform(TransformType.INTEG, IntegId.HMAC_SHA2_256_128),
        Transform(TransformType.KE, KeGroup.ECP256)])])
    init = Message(SPI_I, bytes(8), ExchangeType.IKE_SA_INIT, 0x08, 0, [
        sa,
        KeyExchange(KeGroup.ECP256, bytes(range(64))),
        Nonce(bytes(range(32))),
        Notify(NotifyType.NAT_DETECTION_SOURCE_IP, bytes(20)),
        Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, bytes(range(20))),
        Notify.for_signature_hash_algorithms([2, 3, 4]),
        VendorId(b"OE-pluto-codec"),
    ])
    init_resp = Message(SPI_I, SPI_R, ExchangeType.IKE_SA_INIT, 0x20, 0, [Notify.for_invalid_ke(19)])
    auth_plain = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 0x08, 1, [
        IdentificationInitiator(IdType.ID_FQDN, b"west"),
        Certificate(CertEncoding.X509_SIGNATURE, _der_certificate()),
        CertificateRequest(CertEncoding.X509_SIGNATURE, bytes(range(20))),
        IdentificationResponder(IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 2])),
        Authentication(AuthMethod.SHARED_KEY_MIC, bytes(32)),
        Configuration(CfgType.CFG_REQUEST, [ConfigAttribute(CfgAttributeType.INTERNAL_IP4_ADDRESS),
                                            ConfigAttribute(CfgAttributeType.INTERNAL_IP4_DNS)]),
        SecurityAssociation([Proposal(1, ProtocolId.ESP, bytes.fromhex("c0ffee01"), [
            Transform.with_key_length(TransformType.ENCR, EncrId.AES_GCM_16, 128),
            Transform(TransformType.ESN, 0)])]),
        TrafficSelectorsInitiator([TrafficSelector.from_network("192.0.2.0/24", 6, 80, 443),
                                   TrafficSelector.from_network("2001:db8::/32")]),
        TrafficSelectorsResponder([TrafficSelector.from_network("198.51.100.0/24", 17)]),
        Eap(bytes.fromhex("02 07 0009 01") + b"west"),
        Notify.for_rekey_sa(ProtocolId.ESP, bytes.fromhex("aabbccdd")),
    ])
    info = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 0x20, 2, [
        Delete(ProtocolId.ESP, [bytes.fromhex("11223344"), bytes.fromhex("55667788")]),
        Notify.for_window_size(10),
    ])
    sk = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 0x08, 3,
                 [EncryptedPayload(PayloadType.IDi, bytes(range(16)) + bytes(48) + bytes(16))])
    skf = Message(SPI_I, SPI_R, ExchangeType.IKE_AUTH, 0x20, 3,
                  [EncryptedFragment(PayloadType.IDr, 1, 2, bytes(16) + bytes(32) + bytes(16))])
    unknown = Message(SPI_I, SPI_R, ExchangeType.INFORMATIONAL, 0x08, 4,
                      [Nonce(bytes(16)), RawPayload(200, b"opaque")])
    return [init, init_resp, auth_plain, info, sk, skf, unknown]


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> list[list[tuple[str, Any]]]:
    path = tmp_path_factory.mktemp("tshark") / "codec.pcap"
    write_capture(path, messages())
    return decode(path)


def test_every_payload_type_is_covered() -> None:
    types = {p.payload_type for m in messages() for p in m.payloads}
    known = {t for t in PayloadType if 33 <= t <= 48 or t == PayloadType.SKF}
    assert known <= types
    for m in messages():
        assert parse_message(m.to_bytes()) == m


def test_no_malformed_or_error_expert_items(decoded: list[list[tuple[str, Any]]]) -> None:
    for i, leaves in enumerate(decoded):
        names = {k for k, _ in leaves}
        assert "_ws.malformed" not in names, f"frame {i + 1} malformed"
        severities = values(leaves, "_ws.expert.severity")
        groups = values(leaves, "_ws.expert.group")
        messages_ = values(leaves, "_ws.expert.message")
        # Severity 8388608 = error; group 117440512 = malformed.
        assert not [s for s in severities if int(s) >= 8388608], (i, messages_)
        assert "117440512" not in groups, (i, messages_)


def test_header_fields(decoded: list[list[tuple[str, Any]]]) -> None:
    built = messages()
    assert len(decoded) == len(built)
    for leaves, msg in zip(decoded, built, strict=True):
        assert hex_values(leaves, "isakmp.ispi") == [msg.spi_i.hex()]
        assert hex_values(leaves, "isakmp.rspi") == [msg.spi_r.hex()]
        assert values(leaves, "isakmp.exchangetype") == [str(msg.exchange_type)]
        assert [int(v, 0) for v in values(leaves, "isakmp.messageid")] == [msg.message_id]
        assert values(leaves, "isakmp.length") == [str(len(msg.to_bytes()))]
        top = [int(v) for v in values(leaves, "isakmp.typepayload") if v not in ("2", "3")]
        assert top == [p.payload_type for p in msg.payloads]


def test_payload_fields(decoded: list[list[tuple[str, Any]]]) -> None:
    init, init_resp, auth, info, sk, skf, _ = decoded
    assert values(init, "isakmp.notify.msgtype") == ["16388", "16389", "16431"]
    assert values(init, "isakmp.key_exchange.dh_group") == ["19"]
    assert hex_values(init, "isakmp.nonce") == [bytes(range(32)).hex()]
    assert values(init_resp, "isakmp.notify.msgtype") == ["17"]
    assert values(auth, "isakmp.ts.start_ipv4") == ["192.0.2.0", "198.51.100.0"]
    assert values(auth, "isakmp.ts.end_ipv4") == ["192.0.2.255", "198.51.100.255"]
    assert values(auth, "isakmp.ts.start_ipv6") == ["2001:db8::"]
    assert values(auth, "isakmp.ts.start_port") == ["80", "0", "0"]
    assert values(auth, "isakmp.ts.end_port") == ["443", "65535", "65535"]
    assert values(auth, "isakmp.id.type") == ["2", "1"]
    assert values(auth, "isakmp.notify.msgtype") == ["16393"]
    assert values(auth, "isakmp.cfg.type") == ["1"]
    assert values(auth, "isakmp.auth.method") == ["2"]
    assert values(auth, "eap.code") == ["2"]
    assert hex_values(info, "isakmp.delete.spi") == ["11223344", "55667788"]
    assert values(info, "isakmp.notify.msgtype") == ["16385"]
    assert values(skf, "isakmp.frag.number") == ["1"]
    assert values(skf, "isakmp.frag.total") == ["2"]
    assert values(sk, "isakmp.nextpayload")[:2] == ["46", "35"]


# ------------------------------------------------------------------ SK payloads, decrypted by tshark

@dataclass(frozen=True)
class SkSuite:
    """One IKE SA suite and the names tshark's decryption table gives its algorithms."""

    name: str
    encr_id: int
    key_bits: int
    prf_id: int
    integ_id: int | None
    ws_encr: str
    ws_integ: str
    spi_i: bytes
    spi_r: bytes


SK_SUITES = [
    SkSuite("aes-cbc-256/hmac-sha2-256-128", T.ENCR_AES_CBC, 256, T.PRF_HMAC_SHA2_256,
            T.AUTH_HMAC_SHA2_256_128, "AES-CBC-256 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]",
            bytes.fromhex("c1c2c3c4c5c6c701"), bytes.fromhex("d1d2d3d4d5d6d701")),
    SkSuite("aes-gcm-16-256", T.ENCR_AES_GCM_16, 256, T.PRF_HMAC_SHA2_512, None,
            "AES-GCM-256 with 16 octet ICV [RFC5282]", "NONE [RFC4306]",
            bytes.fromhex("c1c2c3c4c5c6c702"), bytes.fromhex("d1d2d3d4d5d6d702")),
    SkSuite("aes-cbc-128/hmac-sha1-96", T.ENCR_AES_CBC, 128, T.PRF_HMAC_SHA1, T.AUTH_HMAC_SHA1_96,
            "AES-CBC-128 [RFC3602]", "HMAC_SHA1_96 [RFC2404]",
            bytes.fromhex("c1c2c3c4c5c6c703"), bytes.fromhex("d1d2d3d4d5d6d703")),
    SkSuite("aes-gcm-8-128", T.ENCR_AES_GCM_8, 128, T.PRF_HMAC_SHA2_256, None,
            "AES-GCM-128 with 8 octet ICV [RFC5282]", "NONE [RFC4306]",
            bytes.fromhex("c1c2c3c4c5c6c704"), bytes.fromhex("d1d2d3d4d5d6d704")),
    SkSuite("aes-ctr-192/hmac-sha2-384-192", T.ENCR_AES_CTR, 192, T.PRF_HMAC_SHA2_384,
            T.AUTH_HMAC_SHA2_384_192, "AES-CTR-192 [RFC5930]", "HMAC_SHA2_384_192 [RFC4868]",
            bytes.fromhex("c1c2c3c4c5c6c705"), bytes.fromhex("d1d2d3d4d5d6d705")),
]

WARNING = 6291456  # _ws.expert.severity of Warning; Error is 8388608


def sk_keys(suite: SkSuite) -> IkeSaKeys:
    """The seven SK_* of an IKE SA from fixed nonces and g^ir (RFC 7296 2.14)."""
    s = make_suite(suite.encr_id, suite.key_bits, suite.prf_id, suite.integ_id, None)
    _, keys = s.ike_sa_keys(b"Ni" * 16, b"Nr" * 16, bytes(range(256)), suite.spi_i, suite.spi_r)
    return keys


def uat_row(suite: SkSuite, keys: IkeSaKeys) -> str:
    """One ``-o`` value for Wireshark's IKEv2 decryption table (UAT ``ikev2_decryption_table``).

    Columns SPIi, SPIr, SK_ei, SK_er, encr, SK_ai, SK_ar, integ: key columns unquoted hex (SK_e*
    with the AEAD salt, SK_a* empty for AEADs), algorithm columns the quoted names tshark lists.
    """
    cols = [suite.spi_i.hex(), suite.spi_r.hex(), keys.sk_ei.hex(), keys.sk_er.hex(), f'"{suite.ws_encr}"',
            keys.sk_ai.hex(), keys.sk_ar.hex(), f'"{suite.ws_integ}"']
    return "uat:ikev2_decryption_table:" + ",".join(cols)


# Inner payloads, exchange by exchange. Requests go initiator -> responder, responses back
# (write_ike_pcap alternates the direction), as a real IKE SA's traffic would.
def _esp_sa(spi: bytes) -> SecurityAssociation:
    return SecurityAssociation([Proposal(1, ProtocolId.ESP, spi, [
        Transform.with_key_length(TransformType.ENCR, EncrId.AES_GCM_16, 256),
        Transform(TransformType.KE, KeGroup.CURVE25519),
        Transform(TransformType.ESN, 0)])])


def protected_exchanges() -> list[tuple[int, int, list[Any]]]:
    """(exchange type, message ID, inner payloads) of requests and responses in turn."""
    ts_i = TrafficSelectorsInitiator([TrafficSelector.from_network("192.0.2.0/24", 6, 80, 443),
                                      TrafficSelector.from_network("2001:db8::/32")])
    ts_r = TrafficSelectorsResponder([TrafficSelector.from_network("198.51.100.0/24", 17)])
    auth_request = [
        IdentificationInitiator(IdType.ID_FQDN, b"west"),
        Certificate(CertEncoding.X509_SIGNATURE, _der_certificate()),
        CertificateRequest(CertEncoding.X509_SIGNATURE, bytes(range(20))),
        Notify(NotifyType.INITIAL_CONTACT),
        IdentificationResponder(IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 2])),
        Authentication(AuthMethod.DIGITAL_SIGNATURE, bytes.fromhex("0f300d06092a864886f70d01010b0500") + bytes(64)),
        Configuration(CfgType.CFG_REQUEST, [ConfigAttribute(CfgAttributeType.INTERNAL_IP4_ADDRESS),
                                            ConfigAttribute(CfgAttributeType.INTERNAL_IP4_DNS)]),
        Notify(NotifyType.USE_TRANSPORT_MODE),
        Notify(NotifyType.ESP_TFC_PADDING_NOT_SUPPORTED),
        _esp_sa(bytes.fromhex("c0ffee01")),
        ts_i,
        ts_r,
        VendorId(b"OE-pluto-sk"),
    ]
    auth_response = [
        IdentificationResponder(IdType.ID_RFC822_ADDR, b"east@example.org"),
        Authentication(AuthMethod.SHARED_KEY_MIC, bytes(range(32))),
        Configuration(CfgType.CFG_REPLY, [
            ConfigAttribute(CfgAttributeType.INTERNAL_IP4_ADDRESS, bytes([100, 64, 0, 7])),
            ConfigAttribute(CfgAttributeType.INTERNAL_IP4_DNS, bytes([198, 51, 100, 53]))]),
        _esp_sa(bytes.fromhex("beef0002")),
        ts_i,
        ts_r,
        Eap(bytes.fromhex("03 07 0004")),
    ]
    rekey_request = [
        Notify.for_rekey_sa(ProtocolId.ESP, bytes.fromhex("c0ffee01")),
        _esp_sa(bytes.fromhex("c0ffee03")),
        Nonce(bytes(range(100, 132))),
        KeyExchange(KeGroup.CURVE25519, bytes(range(32))),
        ts_i,
        ts_r,
    ]
    rekey_response = [
        _esp_sa(bytes.fromhex("beef0004")),
        Nonce(bytes(range(200, 232))),
        KeyExchange(KeGroup.CURVE25519, bytes(range(32, 64))),
        ts_i,
        ts_r,
    ]
    delete_request = [Delete(ProtocolId.ESP, [bytes.fromhex("c0ffee01"), bytes.fromhex("beef0002")])]
    delete_response = [Delete(ProtocolId.ESP, [bytes.fromhex("beef0002")]), Notify.for_window_size(4)]
    return [(ExchangeType.IKE_AUTH, 1, auth_request), (ExchangeType.IKE_AUTH, 1, auth_response),
            (ExchangeType.CREATE_CHILD_SA, 2, rekey_request), (ExchangeType.CREATE_CHILD_SA, 2, rekey_response),
            (ExchangeType.INFORMATIONAL, 3, delete_request), (ExchangeType.INFORMATIONAL, 3, delete_response),
            (ExchangeType.INFORMATIONAL, 4, [Delete(ProtocolId.IKE)]), (ExchangeType.INFORMATIONAL, 4, [])]


def _iv(ctx: SkContext, n: int) -> bytes:
    """Distinct IVs per message (a GCM/CTR IV must never repeat under one key)."""
    return n.to_bytes(ctx.iv_size, "big")


def _protected(spi_i: bytes, spi_r: bytes, exchange: int, mid: int, flags: int, ctx: SkContext,
               payload: EncryptedPayload | EncryptedFragment, plain: bytes, n: int) -> bytes:
    """Build the header and SK/SKF header with the final lengths, then append protect()'s output."""
    raw = Message(spi_i, spi_r, exchange, flags, mid, [payload]).to_bytes()
    head = raw[: len(raw) - len(payload.data)]
    return head + protect(ctx, head, plain, _iv(ctx, n))


def build_protected(suite: SkSuite, keys: IkeSaKeys) -> tuple[list[bytes], list[bytes]]:
    """(messages, their SK/SKF plaintexts): the exchanges above, then a request and its response
    in two SKF fragments each (RFC 7383 2.5: fragment 1 names the first inner type, the rest 0)."""
    s = make_suite(suite.encr_id, suite.key_bits, suite.prf_id, suite.integ_id, None)
    ctx_i, ctx_r = sk_context(s, keys.sk_ei, keys.sk_ai), sk_context(s, keys.sk_er, keys.sk_ar)
    out: list[bytes] = []
    plains: list[bytes] = []
    for n, (exchange, mid, inner) in enumerate(protected_exchanges()):
        response = n % 2 == 1
        ctx, flags = (ctx_r, 0x20) if response else (ctx_i, 0x08)
        first, plain = encode_payloads(inner)
        sk = EncryptedPayload(first, bytes(encrypted_length(ctx, len(plain))))
        out.append(_protected(suite.spi_i, suite.spi_r, exchange, mid, flags, ctx, sk, plain, n))
        plains.append(plain)
    exchange, mid, inner = protected_exchanges()[0]
    first, plain = encode_payloads(inner)
    half = len(plain) // 2
    for number, part in ((1, plain[:half]), (2, plain[half:])):
        for response in (False, True):
            ctx, flags = (ctx_r, 0x20) if response else (ctx_i, 0x08)
            skf = EncryptedFragment(first if number == 1 else 0, number, 2,
                                    bytes(encrypted_length(ctx, len(part))))
            out.append(_protected(suite.spi_i, suite.spi_r, exchange, 5, flags, ctx, skf, part,
                                  100 + 2 * number + response))
            plains.append(part)
    return out, plains


def pdml(path: Path, options: list[str], well_formed: bool = True) -> list[ET.Element]:
    """The <packet> element of each frame in tshark's PDML (fields keep showname and raw value).

    ``well_formed`` asserts no frame is a Malformed Packet (a wrong key decrypts to garbage, which
    tshark then dissects as malformed: the negative tests turn the check off).
    """
    assert TSHARK is not None
    args = [TSHARK, "-r", str(path), "-T", "pdml", "-o", "udp.check_checksum:TRUE"]
    for option in options:
        args += ["-o", option]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    packets = list(ET.fromstring(out).iter("packet"))
    for i, packet in enumerate(packets):
        assert len(isakmp_protos(packet)) == 1, f"frame {i + 1} did not dissect as ISAKMP"
        if well_formed:
            malformed = [e for e in packet.iter() if e.get("name") == "_ws.malformed"]
            assert not malformed, f"frame {i + 1} is a Malformed Packet"
    return packets


def isakmp_protos(packet: ET.Element) -> list[ET.Element]:
    return [p for p in packet.iter("proto") if p.get("name") == "isakmp"]


def fields(node: ET.Element, name: str) -> list[ET.Element]:
    return [f for f in node.iter("field") if f.get("name") == name]


def shows(node: ET.Element, name: str) -> list[str]:
    return [f.get("show", "") for f in fields(node, name)]


def expert_severities(node: ET.Element) -> list[tuple[int, str]]:
    return [(int(shows(e, "_ws.expert.severity")[0]), e.get("showname", "")) for e in fields(node, "_ws.expert")]


def decrypted_payloads(isakmp: ET.Element) -> list[ET.Element]:
    """The top-level payloads tshark dissected from the decrypted SK data."""
    assert fields(isakmp, "isakmp.enc.decrypted"), "SK payload was not decrypted"
    return [f for c in fields(isakmp, "isakmp.enc.contained") for f in c if f.get("name") == "isakmp.typepayload"]


def reassembled_payloads(packet: ET.Element) -> list[ET.Element]:
    """The payloads tshark dissected from reassembled SKF fragments (children of the last SKF)."""
    top = [f for f in isakmp_protos(packet)[0] if f.get("name") == "isakmp.typepayload"]
    skf = [f for f in top if int(f.get("show", "0")) == PayloadType.SKF]
    assert len(skf) == 1
    return [f for f in skf[0] if f.get("name") == "isakmp.typepayload"]


@pytest.fixture(scope="module")
def sk_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[bytes]], list[str]]:
    """One pcap with every suite's messages (distinct SPIs), their plaintexts, and the UAT rows."""
    path = tmp_path_factory.mktemp("tshark-sk") / "sk.pcap"
    messages_: list[bytes] = []
    plains: dict[str, list[bytes]] = {}
    rows = []
    for suite in SK_SUITES:
        keys = sk_keys(suite)
        built, plains[suite.name] = build_protected(suite, keys)
        messages_ += built
        rows.append(uat_row(suite, keys))
    write_ike_pcap(path, messages_)
    return path, plains, rows


@pytest.fixture(scope="module")
def sk_decoded(sk_capture: tuple[Path, dict[str, list[bytes]], list[str]]) -> dict[str, list[ET.Element]]:
    path, plains, rows = sk_capture
    protos = pdml(path, rows)
    out: dict[str, list[ET.Element]] = {}
    pos = 0
    for suite in SK_SUITES:
        count = len(plains[suite.name])
        out[suite.name] = protos[pos : pos + count]
        pos += count
    assert pos == len(protos)
    return out


def test_protected_messages_cover_every_inner_payload_type() -> None:
    inner = {p.payload_type for _, _, payloads in protected_exchanges() for p in payloads}
    assert {t for t in PayloadType if 33 <= t <= 48 and t != PayloadType.SK} <= inner


@pytest.mark.parametrize("suite", SK_SUITES, ids=lambda s: s.name)
def test_tshark_decrypts_sk_to_our_plaintext(suite: SkSuite, sk_decoded: dict[str, list[ET.Element]],
                                             sk_capture: tuple[Path, dict[str, list[bytes]], list[str]]) -> None:
    plains = sk_capture[1][suite.name]
    frames = sk_decoded[suite.name]
    assert len(frames) == len(plains)
    keys = sk_keys(suite)
    ctx = sk_context(make_suite(suite.encr_id, suite.key_bits, suite.prf_id, suite.integ_id, None),
                     keys.sk_ei, keys.sk_ai)
    for i, (isakmp, plain) in enumerate(zip(frames, plains, strict=True)):
        assert [f.get("value") for f in fields(isakmp, "isakmp.ispi")] == [suite.spi_i.hex()]
        # Notes are allowed (tshark notes the empty attribute values a CFG_REQUEST carries).
        severe = [e for e in expert_severities(isakmp) if e[0] >= WARNING]
        assert not severe, (suite.name, i, severe)
        icd = fields(isakmp, "isakmp.enc.icd")
        assert len(icd) == 1
        assert icd[0].get("showname", "").endswith("[correct]"), (suite.name, i, icd[0].get("showname"))
        if suite.integ_id is not None:
            assert f"<{suite.ws_integ}>" in icd[0].get("showname", "")
        assert len(fields(isakmp, "isakmp.enc.decrypted")) == 1
        contained = fields(isakmp, "isakmp.enc.contained")
        payloads = decrypted_payloads(isakmp)
        if payloads:
            # Every inner payload's octets, as tshark cut them from the decrypted data.
            assert b"".join(bytes.fromhex(p.get("value", "")) for p in payloads) == plain, (suite.name, i)
        elif plain:
            # An SKF fragment: its own decrypted octets, undissected (reassembly is checked below).
            assert [int(c.get("size", "-1")) for c in contained] == [len(plain)], (suite.name, i)
        else:
            # Empty INFORMATIONAL (liveness check): padding and Pad Length only.
            assert not contained
        assert shows(isakmp, "isakmp.enc.pad_length") == [str(padding_length(ctx, len(plain)))]


@pytest.mark.parametrize("suite", SK_SUITES, ids=lambda s: s.name)
def test_tshark_decoded_inner_fields(suite: SkSuite, sk_decoded: dict[str, list[ET.Element]]) -> None:
    frames = sk_decoded[suite.name]
    auth_i, auth_r, rekey_i, rekey_r, del_i, del_r, del_ike, empty = frames[:8]
    types = [[int(p.get("show", "")) for p in decrypted_payloads(f)] for f in frames[:8]]
    assert types == [[p.payload_type for p in inner] for _, _, inner in protected_exchanges()]
    assert shows(auth_i, "isakmp.id.data.fqdn") == ["west"]
    assert shows(auth_i, "isakmp.notify.msgtype") == ["16384", "16391", "16394"]
    assert shows(auth_i, "isakmp.cfg.type") == ["1"]
    assert shows(auth_i, "isakmp.ts.start_ipv4") == ["192.0.2.0", "198.51.100.0"]
    assert shows(auth_i, "isakmp.ts.start_ipv6") == ["2001:db8::"]
    assert shows(auth_i, "isakmp.auth.method") == ["14"]
    assert [f.get("value") for f in fields(auth_i, "isakmp.vid_bytes")] == [b"OE-pluto-sk".hex()]
    assert shows(auth_r, "isakmp.id.data.user_fqdn") == ["east@example.org"]
    assert shows(auth_r, "isakmp.cfg.attr.internal_ip4_address") == ["100.64.0.7"]
    assert shows(auth_r, "eap.code") == ["3"]
    assert [f.get("value") for f in fields(rekey_i, "isakmp.spi")] == ["c0ffee01", "c0ffee03"]
    assert shows(rekey_i, "isakmp.key_exchange.dh_group") == ["31"]
    assert [f.get("value") for f in fields(rekey_r, "isakmp.nonce")] == [bytes(range(200, 232)).hex()]
    assert [f.get("value") for f in fields(del_i, "isakmp.delete.spi")] == ["c0ffee01", "beef0002"]
    assert shows(del_r, "isakmp.notify.msgtype") == ["16385"]
    assert shows(del_ike, "isakmp.delete.protoid") == ["1"]
    assert decrypted_payloads(empty) == []
    skf = frames[8:]
    assert [shows(f, "isakmp.frag.number") for f in skf] == [["1"], ["1"], ["2"], ["2"]]
    assert [shows(f, "isakmp.frag.total") for f in skf] == [["2"]] * 4
    # tshark reassembles the two fragments of each message (RFC 7383 2.6) and dissects the result.
    _, whole = encode_payloads(protected_exchanges()[0][2])
    for last in skf[2:]:
        assert shows(last, "isakmp.reassembled.length") == [str(len(whole))]
        assert b"".join(bytes.fromhex(p.get("value", "")) for p in reassembled_payloads(last)) == whole
        assert shows(last, "isakmp.id.data.fqdn") == ["west"]


def test_tshark_flags_a_wrong_integrity_key(sk_capture: tuple[Path, dict[str, list[bytes]], list[str]]) -> None:
    """Negative control: with one bit of SK_ai flipped, tshark reports the initiator's ICVs incorrect."""
    path, plains, _ = sk_capture
    suite = SK_SUITES[0]
    keys = sk_keys(suite)
    wrong = IkeSaKeys(keys.sk_d, bytes([keys.sk_ai[0] ^ 1]) + keys.sk_ai[1:], keys.sk_ar, keys.sk_ei,
                      keys.sk_er, keys.sk_pi, keys.sk_pr)
    frames = pdml(path, [uat_row(suite, wrong)], well_formed=False)[: len(plains[suite.name])]
    for i, isakmp in enumerate(frames):
        showname = fields(isakmp, "isakmp.enc.icd")[0].get("showname", "")
        messages_ = [m for severity, m in expert_severities(isakmp) if severity >= WARNING]
        if i % 2 == 0:  # initiator's messages, protected with SK_ai
            assert "[incorrect" in showname, (i, showname)
            assert "Expert Info (Warning/Checksum): IKEv2 Integrity Checksum Data is incorrect" in messages_
        else:  # responder's, SK_ar unchanged
            assert showname.endswith("[correct]"), (i, showname)
            assert not messages_


def test_tshark_flags_a_wrong_aead_key(sk_capture: tuple[Path, dict[str, list[bytes]], list[str]]) -> None:
    """Negative control for AES-GCM: a flipped bit in SK_er's salt fails the responder's tags."""
    path, plains, _ = sk_capture
    suite = SK_SUITES[1]
    offset = len(plains[SK_SUITES[0].name])
    keys = sk_keys(suite)
    wrong = IkeSaKeys(keys.sk_d, keys.sk_ai, keys.sk_ar, keys.sk_ei, keys.sk_er[:-1] + bytes([keys.sk_er[-1] ^ 1]),
                      keys.sk_pi, keys.sk_pr)
    frames = pdml(path, [uat_row(suite, wrong)], well_formed=False)[offset : offset + len(plains[suite.name])]
    for i, isakmp in enumerate(frames):
        showname = fields(isakmp, "isakmp.enc.icd")[0].get("showname", "")
        assert showname.endswith("[correct]") == (i % 2 == 0), (i, showname)
