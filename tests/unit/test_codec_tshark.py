"""Cross-check the IKEv2 encoder against an independent decoder: Wireshark's tshark.

Messages covering every payload type are written into a pcap (IPv4/UDP port 500) and decoded
with ``tshark -T json``; the test asserts no malformed-packet or error expert items and that
the decoded fields equal what was built. Skipped where tshark is not installed.

``write_capture`` is the helper a later SK-decryption test (tshark's IKEv2 decryption table,
with keys from pluto_core.ikev2.crypto) can reuse.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from collections.abc import Iterator
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
    parse_message,
)
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


def _der_certificate() -> bytes:
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
