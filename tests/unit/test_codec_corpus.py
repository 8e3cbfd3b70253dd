"""IKEv2 codec over the real captures in tests/data/corpus/ike-packets (a copy of ../shared/corpus/ike-packets).

Every IKEv2 message parses and re-encodes byte for byte; IKEv1 messages are recognised (major
version 1) and must raise ParseError(INVALID_MAJOR_VERSION); tcpdump's malformed inputs raise
ParseError and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pluto_core.ikev2 import (
    EncryptedPayload,
    IdentificationInitiator,
    KeyExchange,
    Nonce,
    Notify,
    ParseError,
    SecurityAssociation,
    parse_message,
    parse_payloads,
    split_encrypted,
)
from pluto_core.ikev2.enums import ExchangeType, NotifyType, PayloadType
from tests.pcap import hex_dumps, ike_datagrams, udp_payloads_lenient

MALFORMED_MARKERS = ("oobr", "segfault", "pointer-loop", "ikev2-id-short")


def _is_malformed(name: str) -> bool:
    return any(m in name for m in MALFORMED_MARKERS)


def _captures(corpus_data: Path) -> list[Path]:
    root = corpus_data / "ike-packets"
    return sorted(p for p in root.rglob("*") if p.suffix in (".pcap", ".pcapng"))


def _check_round_trip(data: bytes) -> str:
    """'v2' after a byte-exact round trip, 'v1' after the expected INVALID_MAJOR_VERSION."""
    if len(data) > 17 and data[17] >> 4 == 1:
        with pytest.raises(ParseError) as exc:
            parse_message(data)
        assert exc.value.notify == NotifyType.INVALID_MAJOR_VERSION
        return "v1"
    msg = parse_message(data)
    assert msg.to_bytes() == data
    # Decode every lazily decoded part too, then encode from the objects.
    for p in msg.payloads:
        if isinstance(p, SecurityAssociation):
            assert p.proposals is not None
    assert msg.to_bytes() == data
    return "v2"


def test_every_capture_round_trips(corpus_data: Path) -> None:
    counts = {"v1": 0, "v2": 0}
    for path in _captures(corpus_data):
        if _is_malformed(path.name) or path.name == "ikev2-id-normal.pcap":
            continue
        for dgram in ike_datagrams(path):
            if dgram.truncated:
                continue
            counts[_check_round_trip(dgram.payload)] += 1
    # ikev2four (21), ikev2pI2 (2), packetgen (8), libpluto (12) ... and the IKEv1 captures.
    assert counts["v2"] >= 43
    assert counts["v1"] >= 30


def test_malformed_tcpdump_inputs_raise_parse_error_only(corpus_data: Path) -> None:
    index = (corpus_data / "ike-packets/tcpdump/INDEX.tsv").read_text().splitlines()
    names = {line.split("\t")[1] for line in index if line and not line.startswith(("#", "name"))}
    malformed = sorted(n for n in names if _is_malformed(n))
    assert len(malformed) >= 10
    seen = 0
    for name in malformed:
        for data in udp_payloads_lenient(corpus_data / "ike-packets/tcpdump" / name):
            seen += 1
            with pytest.raises(ParseError) as exc:
                parse_message(data)
            assert exc.value.notify in (NotifyType.INVALID_SYNTAX, NotifyType.INVALID_MAJOR_VERSION)
            # Every prefix is also rejected cleanly.
            for cut in range(0, len(data), 7):
                with pytest.raises(ParseError):
                    parse_message(data[:cut])
    assert seen >= 10


def test_ikev2_id_short_is_invalid_syntax(corpus_data: Path) -> None:
    (data,) = udp_payloads_lenient(corpus_data / "ike-packets/tcpdump/ikev2-id-short.pcap")
    with pytest.raises(ParseError) as exc:
        parse_message(data)
    assert exc.value.notify == NotifyType.INVALID_SYNTAX and exc.value.offset == 32


def test_ikev2_id_normal_trailing_octets_rejected(corpus_data: Path) -> None:
    # The header length covers 39 octets after the last payload (IDi with next payload 0).
    # RFC 7296 3.1 makes Length the total message length, so this is INVALID_SYNTAX here.
    (data,) = udp_payloads_lenient(corpus_data / "ike-packets/tcpdump/ikev2-id-normal.pcap")
    with pytest.raises(ParseError) as exc:
        parse_message(data)
    assert exc.value.notify == NotifyType.INVALID_SYNTAX
    body_end = 28 + int.from_bytes(data[30:32], "big")
    assert exc.value.offset == body_end
    assert parse_payloads(data[16], data[28:body_end]) == [IdentificationInitiator(1, b"\xde")]


def test_pluto_debug_log_hex_dumps(corpus_data: Path) -> None:
    logs = sorted((corpus_data / "ike-packets/libreswan-libpluto-2016").glob("OUTPUT.parent*.txt"))
    total = 0
    for log in logs:
        for data in hex_dumps(log.read_text()):
            assert _check_round_trip(data) == "v2"
            total += 1
    assert total >= 20


def test_libpluto_i1_fields(corpus_data: Path) -> None:
    root = corpus_data / "ike-packets/libreswan-libpluto-2016"
    keys = json.loads((root / "keys.json").read_text())["wire"]
    (i1,) = hex_dumps((root / "OUTPUT.parentI1.txt").read_text())
    msg = parse_message(i1)
    assert msg.spi_i == bytes.fromhex(keys["spi_i"]) and msg.spi_r == bytes(8)
    assert msg.exchange is ExchangeType.IKE_SA_INIT and msg.is_initiator
    sa = msg.get(SecurityAssociation)
    assert sa is not None and sa.critical and len(sa.proposals) == 6
    p1 = sa.proposals[0]
    assert [(t.type, t.id, t.key_length) for t in p1.transforms] == [
        (1, 12, None), (3, 2, None), (2, 2, None), (4, 5, None)]
    ke = msg.get(KeyExchange)
    assert ke is not None and ke.group == 5 and ke.data == bytes.fromhex(keys["ke_i"])
    nonce = msg.get(Nonce)
    assert nonce is not None and nonce.data == bytes.fromhex(keys["ni"])


def test_raw_bin_files(corpus_data: Path) -> None:
    root = corpus_data / "ike-packets"
    raw = (root / "packetgen-plugin-ipsec/ike_sa_init.bin").read_bytes()
    ihl = (raw[0] & 0x0F) * 4
    data = raw[ihl + 8 :]
    msg = parse_message(data)
    assert msg.spi_i == bytes.fromhex("1234567812345678") and msg.to_bytes() == data
    # Windows AuthIP: not IKEv2, rejected cleanly.
    with pytest.raises(ParseError):
        parse_message((root / "libreswan-inputs/authip-rogue.raw").read_bytes())


def test_rfc7634_informational_sk_layout(corpus_data: Path) -> None:
    root = corpus_data / "ike-packets/rfc7634-chacha20poly1305"
    vec = json.loads((root / "vector.json").read_text())
    data = (root / "informational-set-window-size.bin").read_bytes()
    msg = parse_message(data)
    assert msg.to_bytes() == data
    assert (msg.spi_i.hex(), msg.spi_r.hex(), msg.message_id) == (vec["ike_spi_i"], vec["ike_spi_r"], 9)
    sk = msg.sk_payload
    assert isinstance(sk, EncryptedPayload) and sk.inner_type == PayloadType.NOTIFY
    parts = split_encrypted(data, vec["sk_payload"]["icv_len"])
    assert len(parts.aad) == 32  # "IKE header + SK generic payload header"
    assert parts.encrypted[:8] == bytes.fromhex(vec["sk_payload"]["iv_hex"])
    plain = bytes.fromhex(vec["decrypted_inner_hex"])
    inner = plain[: len(plain) - 1 - plain[-1]]  # strip padding and the pad-length octet
    (n,) = parse_payloads(sk.inner_type, inner)
    assert isinstance(n, Notify) and n.notify_type is NotifyType.SET_WINDOW_SIZE and n.window_size == 10
