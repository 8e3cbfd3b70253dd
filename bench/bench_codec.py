"""Benchmark the IKEv2 codec: parse and encode cost per message, in microseconds.

Run: ``python3 bench/bench_codec.py [iterations]`` from the repository root.
Messages: a ~300-octet IKE_SA_INIT request (SA with 1 proposal / 4 transforms, KE group 19
with 64 octets, Nonce 32, two NAT_DETECTION notifies, SIGNATURE_HASH_ALGORITHMS,
IKEV2_FRAGMENTATION_SUPPORTED, a Vendor ID) and an
encrypted IKE_AUTH (SK payload opaque). Baselines in the same process: ``bytes(bytearray)``
copy of the message and a ``struct.unpack_from`` walk over its generic payload headers.
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pluto_core.ikev2 import (  # noqa: E402
    EncryptedPayload,
    KeyExchange,
    Message,
    Nonce,
    Notify,
    Proposal,
    SecurityAssociation,
    Transform,
    VendorId,
    parse_message,
)
from pluto_core.ikev2.enums import (  # noqa: E402
    EncrId,
    ExchangeType,
    IntegId,
    KeGroup,
    NotifyType,
    PayloadType,
    PrfId,
    ProtocolId,
    TransformType,
)


def ike_sa_init() -> Message:
    sa = SecurityAssociation([Proposal(1, ProtocolId.IKE, b"", [
        Transform.with_key_length(TransformType.ENCR, EncrId.AES_CBC, 256),
        Transform(TransformType.PRF, PrfId.HMAC_SHA2_256),
        Transform(TransformType.INTEG, IntegId.HMAC_SHA2_256_128),
        Transform(TransformType.KE, KeGroup.ECP256),
    ])])
    return Message(bytes(range(1, 9)), bytes(8), ExchangeType.IKE_SA_INIT, 0x08, 0, [
        sa,
        KeyExchange(KeGroup.ECP256, bytes(range(64))),
        Nonce(bytes(range(100, 132))),
        Notify(NotifyType.NAT_DETECTION_SOURCE_IP, bytes(range(20))),
        Notify(NotifyType.NAT_DETECTION_DESTINATION_IP, bytes(range(20, 40))),
        Notify.for_signature_hash_algorithms([2, 3, 4, 5]),
        Notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
        VendorId(b"OE-pluto-bench-v" * 2),
    ])


def ike_auth() -> Message:
    return Message(bytes(range(1, 9)), bytes(range(9, 17)), ExchangeType.IKE_AUTH, 0x08, 1,
                   [EncryptedPayload(PayloadType.IDi, bytes(range(256)) + bytes(64))])


def per_call_us(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def header_walk(data: bytes) -> int:
    unpack = struct.Struct(">BBH").unpack_from
    np, pos, count = data[16], 28, 0
    while np and pos < len(data):
        np, _, plen = unpack(data, pos)
        pos += plen
        count += 1
    return count


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    for name, msg in (("IKE_SA_INIT", ike_sa_init()), ("IKE_AUTH (SK)", ike_auth())):
        data = msg.to_bytes()
        assert parse_message(data).to_bytes() == data
        parsed = parse_message(data)
        buf = bytearray(data)
        t_copy = per_call_us(lambda b=buf: bytes(b), n)  # type: ignore[misc]
        t_walk = per_call_us(lambda d=data: header_walk(d), n)  # type: ignore[misc]
        t_parse = per_call_us(lambda d=data: parse_message(d), n)  # type: ignore[misc]
        t_encode = per_call_us(parsed.to_bytes, n)
        print(f"{name}: {len(data)} octets, {len(parsed.payloads)} payloads")
        print(f"  parse  {t_parse:7.2f} us   ({t_parse / t_copy:6.1f}x bytes() copy, "
              f"{t_parse / t_walk:5.1f}x struct header walk)")
        print(f"  encode {t_encode:7.2f} us   ({t_encode / t_copy:6.1f}x bytes() copy)")
        print(f"  baseline: bytes() copy {t_copy:.3f} us, header walk {t_walk:.3f} us")


if __name__ == "__main__":
    main()
