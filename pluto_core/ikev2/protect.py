"""SK and SKF: protecting the messages we send (RFC 7296 3.14), fragmenting them
where both ends agreed (RFC 7383), and checking and reassembling what we receive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pluto_core.errors import ProtocolError
from pluto_core.ikev2.chain import encode_payloads, parse_payloads
from pluto_core.ikev2.crypto import IntegrityError, encrypted_length, protect, unprotect
from pluto_core.ikev2.enums import ExchangeType, exchange_name
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import EncryptedFragment, EncryptedPayload, Payload
from pluto_core.ikev2.sa import IkeSa

FLAG_INITIATOR = 0x08
FLAG_RESPONSE = 0x20
FRAGMENT_DATAGRAM_IPV4 = 576 - 20 - 8  # RFC 7383 2.5.1: an IKE message in one unfragmented datagram
FRAGMENT_DATAGRAM_IPV6 = 1280 - 40 - 8
MAX_FRAGMENTS = 64  # of one message we reassemble (memory bound per IKE SA)


def flags(sa: IkeSa, response: bool) -> int:
    return (FLAG_INITIATOR if sa.initiator else 0) | (FLAG_RESPONSE if response else 0)


def plain(sa: IkeSa, exchange: int, message_id: int, payloads: Sequence[Payload], response: bool) -> bytes:
    """An unprotected message (IKE_SA_INIT)."""
    return Message(sa.spi_i, sa.spi_r, exchange, flags(sa, response), message_id, list(payloads)).to_bytes()


def encode(sa: IkeSa, exchange: int, message_id: int, payloads: Sequence[Payload], response: bool,
           random: Callable[[int], bytes], log: Any) -> bytes | tuple[bytes, ...]:
    """A protected message: the inner payloads go inside SK (RFC 7296 3.14); where
    both ends take fragments and it would not fit, the SKF fragments (RFC 7383)."""
    ctx = sa.sk_out
    assert ctx is not None
    first, inner = encode_payloads(payloads)
    size = encrypted_length(ctx, len(inner))
    msg = Message(sa.spi_i, sa.spi_r, exchange, flags(sa, response), message_id,
                  [EncryptedPayload(first, bytes(size))])
    raw = msg.to_bytes()
    limit = fragment_limit(sa)
    if limit and len(raw) > limit and exchange != ExchangeType.IKE_SA_INIT:
        parts = fragments(sa, exchange, message_id, response, first, inner, limit, random, log)
        if parts:
            return parts
    head = raw[: len(raw) - size]
    return head + protect(ctx, head, inner, random(ctx.iv_size))


def fragment_limit(sa: IkeSa) -> int:
    """The largest IKE message in one datagram once fragmentation is agreed: RFC 7383
    2.5.1's 576 (IPv4) or 1280 (IPv6) octets less the IP and UDP headers and, on
    port 4500, the non-ESP marker. 0: do not fragment."""
    if sa.transport is None or not sa.transport.fragments:
        return 0
    limit = FRAGMENT_DATAGRAM_IPV6 if ":" in sa.remote[0] else FRAGMENT_DATAGRAM_IPV4
    return limit - (4 if sa.remote[1] == 4500 else 0)


def fragments(sa: IkeSa, exchange: int, message_id: int, response: bool, first: int, inner: bytes,
              limit: int, random: Callable[[int], bytes], log: Any) -> tuple[bytes, ...]:
    """The message as SKF fragments, each encrypted and authenticated on its own;
    the first carries the first inner payload's type, the others 0 (RFC 7383 2.5)."""
    ctx = sa.sk_out
    assert ctx is not None
    # IKE header, SKF header, IV, ICV, and the worst padding with its length octet
    room = limit - 28 - 8 - ctx.iv_size - ctx.icv_size - ctx.block_size
    if room < 16:
        return ()
    chunks = [inner[i:i + room] for i in range(0, len(inner), room)] or [b""]
    if len(chunks) > MAX_FRAGMENTS:
        return ()
    out = []
    for number, chunk in enumerate(chunks, 1):
        size = encrypted_length(ctx, len(chunk))
        msg = Message(sa.spi_i, sa.spi_r, exchange, flags(sa, response), message_id,
                      [EncryptedFragment(first if number == 1 else 0, number, len(chunks), bytes(size))])
        raw = msg.to_bytes()
        head = raw[: len(raw) - size]
        out.append(head + protect(ctx, head, chunk, random(ctx.iv_size)))
    log.debug(f"{sa.prefix} {exchange_name(exchange)} message {message_id} of {len(inner)} octets sent in "
              f"{len(out)} fragments")
    return tuple(out)


def decrypt(sa: IkeSa, msg: Message, data: bytes, log: Any) -> list[Payload] | None:
    """The inner payloads of a protected message, or None (logged) when it does not
    verify, or (SKF) while fragments are missing."""
    sk = msg.sk_payload
    if sa.sk_in is not None and isinstance(sk, EncryptedFragment):
        return _reassemble(sa, msg, data, sk, log)
    where = f"{sa.prefix} {exchange_name(msg.exchange_type)} from {sa.peer_text}"
    if sa.sk_in is None or sk is None:
        log.log(f"{where} is not encrypted: dropped")
        return None
    assert isinstance(sk, EncryptedPayload)
    offset = len(data) - 4 - len(sk.data)
    try:
        return parse_payloads(sk.inner_type, unprotect(sa.sk_in, data, offset))
    except IntegrityError:
        # An unauthenticated bad message changes no state (RFC 7296 2.21).
        log.log(f"{where}: integrity check failed: dropped")
    except (ProtocolError, ValueError) as exc:
        log.log(f"{where}: {exc}: dropped")
    return None


def _reassemble(sa: IkeSa, msg: Message, data: bytes, sk: EncryptedFragment, log: Any) -> list[Payload] | None:
    """Collect the SKF fragments of one message (RFC 7383 2.6): each is checked on
    its own; the inner payloads are parsed once all have come. None meanwhile."""
    xname = exchange_name(msg.exchange_type)
    where = f"{sa.prefix} {xname} fragment {sk.fragment_number}/{sk.total_fragments} from {sa.peer_text}"
    if sa.transport is None or not sa.transport.fragments:
        log.log(f"{where}: fragmentation was not negotiated: dropped")
        return None
    if not 1 <= sk.fragment_number <= sk.total_fragments or sk.total_fragments > MAX_FRAGMENTS:
        log.log(f"{where}: impossible numbering (at most {MAX_FRAGMENTS} fragments): dropped")
        return None
    assert sa.sk_in is not None
    try:
        inner = unprotect(sa.sk_in, data, len(data) - 8 - len(sk.data), fragment=True)
    except IntegrityError:
        log.log(f"{where}: integrity check failed: dropped")
        return None
    except (ProtocolError, ValueError) as exc:
        log.log(f"{where}: {exc}: dropped")
        return None
    key = (msg.message_id, msg.is_response, sk.total_fragments)
    buf = sa.fragments_in
    if buf is None or buf[0] != key:  # a new message, or a new set for it: start again
        buf = sa.fragments_in = (key, {})
    parts: dict[int, tuple[int, bytes]] = buf[1]
    parts[sk.fragment_number] = (sk.inner_type, inner)
    if len(parts) < sk.total_fragments:
        return None
    sa.fragments_in = None
    first = parts[1][0]
    joined = b"".join(parts[n][1] for n in range(1, sk.total_fragments + 1))
    log.debug(f"{sa.prefix} {xname} reassembled from {sk.total_fragments} fragments")
    try:
        return parse_payloads(first, joined)
    except (ProtocolError, ValueError) as exc:
        log.log(f"{sa.prefix} {xname} from {sa.peer_text} (reassembled): {exc}: dropped")
        return None
