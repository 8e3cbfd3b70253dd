"""A small pure-Python pcap/pcapng reader and writer for the IKE tests.

Reading yields the UDP payloads on ports 500/4500 (IPv4/IPv6 over Ethernet, Linux SLL/SLL2,
BSD loopback or raw IP). On 4500 the 4-octet non-ESP marker is stripped; ESP-in-UDP and NAT
keepalives are skipped. Writing produces a classic pcap of IPv4/UDP datagrams.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IKE_PORTS = (500, 4500)


@dataclass(frozen=True)
class IkeDatagram:
    """One IKE message found in a capture; ``truncated`` when the capture cut it short."""

    index: int
    src_port: int
    dst_port: int
    payload: bytes
    truncated: bool


def _frames(blob: bytes) -> Iterator[tuple[int, bytes, bool]]:
    """(link type, frame bytes, truncated) for each captured frame."""
    magic = blob[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    elif magic == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng_frames(blob)
        return
    else:
        raise ValueError("not a pcap or pcapng file")
    linktype = struct.unpack_from(endian + "I", blob, 20)[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(blob):
        _, _, caplen, origlen = struct.unpack_from(endian + "IIII", blob, pos)
        pos += 16
        frame = blob[pos : pos + caplen]
        pos += caplen
        yield linktype, frame, caplen < origlen or len(frame) < caplen


def _pcapng_frames(blob: bytes) -> Iterator[tuple[int, bytes, bool]]:
    pos = 0
    endian = "<"
    linktypes: list[int] = []
    while pos + 12 <= len(blob):
        btype = struct.unpack_from(endian + "I", blob, pos)[0]
        if btype == 0x0A0D0D0A:  # section header: byte-order magic decides the endianness
            endian = "<" if blob[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            linktypes = []
        blen = struct.unpack_from(endian + "I", blob, pos + 4)[0]
        if blen < 12:
            raise ValueError("bad pcapng block length")
        body = blob[pos + 8 : pos + blen - 4]
        if btype == 1:  # interface description
            linktypes.append(struct.unpack_from(endian + "H", body, 0)[0])
        elif btype == 6:  # enhanced packet
            iface, _, _, caplen, origlen = struct.unpack_from(endian + "IIIII", body, 0)
            yield linktypes[iface], body[20 : 20 + caplen], caplen < origlen
        elif btype == 3:  # simple packet
            origlen = struct.unpack_from(endian + "I", body, 0)[0]
            data = body[4 : 4 + origlen]
            yield linktypes[0], data, len(data) < origlen
        pos += blen


def _ip_packet(linktype: int, frame: bytes) -> bytes | None:
    if linktype == 1:  # Ethernet (with optional 802.1Q tags)
        off, etype = 14, struct.unpack_from(">H", frame, 12)[0]
        while etype in (0x8100, 0x88A8):
            etype = struct.unpack_from(">H", frame, off + 2)[0]
            off += 4
        return frame[off:] if etype in (0x0800, 0x86DD) else None
    if linktype == 113:  # Linux cooked
        return frame[16:] if struct.unpack_from(">H", frame, 14)[0] in (0x0800, 0x86DD) else None
    if linktype == 276:  # Linux cooked v2
        return frame[20:] if struct.unpack_from(">H", frame, 0)[0] in (0x0800, 0x86DD) else None
    if linktype in (0, 108):  # BSD loopback: 4-octet address family
        return frame[4:]
    if linktype in (12, 14, 101, 228, 229):  # raw IP
        return frame
    return None


def _udp(ip: bytes) -> tuple[int, int, bytes, bool] | None:
    """(sport, dport, payload, truncated) of a UDP datagram in an IP packet, else None."""
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4:
        ihl = (ip[0] & 0x0F) * 4
        total, frag, proto = struct.unpack_from(">H2xHxB", ip, 2)
        if proto != 17 or frag & 0x3FFF:  # not UDP, or a fragment
            return None
        seg = ip[ihl:total]
    elif version == 6:
        plen, proto = struct.unpack_from(">HB", ip, 4)
        if proto != 17:
            return None
        seg = ip[40 : 40 + plen]
    else:
        return None
    if len(seg) < 8:
        return None
    sport, dport, ulen = struct.unpack_from(">HHH", seg, 0)
    payload = seg[8:ulen]
    return sport, dport, payload, len(payload) < ulen - 8


def ike_datagrams(path: Path) -> list[IkeDatagram]:
    """Every IKE message (v1 or v2) in a capture, in order."""
    out: list[IkeDatagram] = []
    for i, (linktype, frame, cut) in enumerate(_frames(path.read_bytes())):
        ip = _ip_packet(linktype, frame)
        udp = _udp(ip) if ip else None
        if udp is None:
            continue
        sport, dport, payload, short = udp
        if sport not in IKE_PORTS and dport not in IKE_PORTS:
            continue
        if 4500 in (sport, dport):
            if payload[:4] != b"\0\0\0\0":
                continue  # ESP in UDP (RFC 3948) or a NAT keepalive (0xff)
            payload = payload[4:]
        out.append(IkeDatagram(i, sport, dport, payload, cut or short))
    return out


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def write_ike_pcap(path: Path, messages: list[bytes], src: str = "192.0.2.1", dst: str = "192.0.2.2",
                   sport: int = 500, dport: int = 500) -> None:
    """Write ``messages`` as IPv4/UDP datagrams (raw-IP link type) into a classic pcap file.

    Each message alternates direction so request/response pairs look natural to decoders.
    """
    import ipaddress

    a, b = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for i, msg in enumerate(messages):
        s, d, sp, dp = (a, b, sport, dport) if i % 2 == 0 else (b, a, dport, sport)
        udp_len = 8 + len(msg)
        pseudo = s + d + struct.pack(">BBH", 0, 17, udp_len)
        udp_hdr = struct.pack(">HHHH", sp, dp, udp_len, 0)
        csum = _checksum(pseudo + udp_hdr + msg) or 0xFFFF
        udp = struct.pack(">HHHH", sp, dp, udp_len, csum) + msg
        ip_hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i + 1, 0x4000, 64, 17, 0, s, d)
        ip_hdr = ip_hdr[:10] + struct.pack(">H", _checksum(ip_hdr)) + ip_hdr[12:]
        pkt = ip_hdr + udp
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(pkt), len(pkt)))
        out.append(pkt)
    path.write_bytes(b"".join(out))


def udp_payloads_lenient(path: Path) -> list[bytes]:
    """Whatever UDP payload octets each frame holds, ignoring fragment bits and lying lengths.

    For negative tests over malformed captures: every candidate is handed to the parser. On
    port 4500 a leading non-ESP marker is stripped.
    """
    out: list[bytes] = []
    for linktype, frame, _ in _frames(path.read_bytes()):
        ip = _ip_packet(linktype, frame)
        if not ip or len(ip) < 20:
            continue
        if ip[0] >> 4 == 4:
            seg = ip[(ip[0] & 0x0F) * 4 :] if ip[9] == 17 else b""
        elif ip[0] >> 4 == 6:
            seg = ip[40:] if ip[6] == 17 else b""
        else:
            continue
        if len(seg) < 8:
            continue
        sport, dport = struct.unpack_from(">HH", seg, 0)
        payload = seg[8:]
        if 4500 in (sport, dport) and payload[:4] == b"\0\0\0\0":
            payload = payload[4:]
        out.append(payload)
    return out


def hex_dumps(text: str) -> list[bytes]:
    """Messages from pluto debug logs: ``sending N bytes`` / ``| *received N bytes`` lines
    followed by ``|   xx xx ...`` hex lines (only dumps of exactly N octets are returned)."""
    import re

    start = re.compile(r"^(?:sending|\| \*received) (\d+) bytes ")
    hexline = re.compile(r"^\|   ((?:[0-9a-f]{2} {1,2})*[0-9a-f]{2})\s*$")
    out: list[bytes] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = start.match(line)
        if not m:
            continue
        buf = bytearray()
        for follow in lines[i + 1 :]:
            h = hexline.match(follow)
            if not h:
                break
            buf += bytes.fromhex(h.group(1).replace(" ", ""))
        if len(buf) == int(m.group(1)):
            out.append(bytes(buf))
    return out
