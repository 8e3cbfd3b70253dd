"""Atheris harness for the IKEv2 codec: parse_message must raise ParseError or round-trip.

Any exception other than ParseError is a finding; so is a parsed message whose re-encoding
differs from the input. Each input is also tried as a payload chain behind a valid header
(first octet = first payload type) so that the fuzzer gets past the length check.
Seed a scratch corpus directory (never inside the repo), then run::

    mkdir -p /tmp/ike-fuzz && python3 fuzz/fuzz_parser.py --seed-only /tmp/ike-fuzz
    timeout 700 python3 fuzz/fuzz_parser.py -max_total_time=600 /tmp/ike-fuzz

``--seed-only DIR`` writes every IKE message from ../shared/corpus/ike-packets (and a few
built ones) into DIR and exits. The harness also works without seeds.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pluto_core.ikev2 import ParseError, parse_message  # noqa: E402


def check(data: bytes) -> None:
    """The contract: ParseError, or a message that re-encodes to exactly ``data``."""
    try:
        msg = parse_message(data)
    except ParseError:
        return
    out = msg.to_bytes()
    if out != data:
        raise AssertionError(f"re-encode differs: {data.hex()} -> {out.hex()}")
    # Decode the lazily decoded SA too and encode from the objects.
    for p in msg.payloads:
        getattr(p, "proposals", None)
    if msg.to_bytes() != data:
        raise AssertionError(f"re-encode from objects differs: {data.hex()}")


def test_one_input(data: bytes) -> None:
    check(data)
    # Also behind a valid header whose Length is right, so mutations reach the payload parsers
    # instead of stopping at the header length check: data[0] is the first payload type.
    if data:
        body = data[1:]
        header = bytes(16) + bytes((data[0], 0x20, 34, 0x08)) + struct.pack(">II", 0, 28 + len(body))
        check(header + body)


def seed(directory: Path) -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_codec import ike_auth, ike_sa_init

    from tests.pcap import hex_dumps, ike_datagrams

    corpus = Path(ROOT.parent / "shared/corpus/ike-packets")
    blobs = [ike_sa_init().to_bytes(), ike_auth().to_bytes()]
    if corpus.is_dir():
        for p in sorted(corpus.rglob("*")):
            if p.suffix in (".pcap", ".pcapng"):
                blobs += [d.payload for d in ike_datagrams(p)]
            elif p.name.startswith("OUTPUT."):
                blobs += hex_dumps(p.read_text())
            elif p.suffix == ".bin" and "rfc7634" in str(p):
                blobs.append(p.read_bytes())
    directory.mkdir(parents=True, exist_ok=True)
    for b in blobs:
        (directory / hashlib.sha1(b).hexdigest()).write_bytes(b)
    return len(blobs)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-only":
        print(f"seeded {seed(Path(sys.argv[2]))} inputs into {sys.argv[2]}")
        return
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
