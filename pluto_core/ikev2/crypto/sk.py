"""Protect and unprotect the Encrypted (SK, RFC 7296 3.14) and Encrypted Fragment
(SKF, RFC 7383 2.5) payloads, on raw bytes.

The engine builds the message up to and including the SK/SKF header with its final
lengths (``encrypted_length`` gives the body size), then appends what ``protect``
returns: IV || ciphertext || ICV. The bytes before the IV are what the ICV and the AEAD
additional data cover:

- AEAD (RFC 5282 5.1, RFC 7634 3): AAD = IKE header .. end of the SK/SKF header
  (for SKF that includes the Fragment Number and Total Fragments fields, RFC 7383 2.5.3).
- Otherwise the ICV is the integrity MAC over everything from the IKE header through
  the last ciphertext byte (RFC 7296 3.14), and is checked before decrypting.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from .encr import AeadCipher, EncrAlgorithm, PlainCipher
from .errors import IntegrityError, SkFormatError
from .integ import IntegAlgorithm, Mac
from .keys import IkeSaKeys
from .registry import Suite

SK_HEADER_SIZE = 4  # generic payload header
SKF_HEADER_SIZE = 8  # generic header + Fragment Number + Total Fragments


@dataclass(slots=True, frozen=True)
class SkContext:
    """One direction's SK keys, with the cipher and MAC objects built once."""

    encr: EncrAlgorithm
    integ: IntegAlgorithm | None
    cipher: PlainCipher | AeadCipher = field(repr=False)
    mac: Mac | None = field(repr=False)
    iv_size: int
    icv_size: int
    block_size: int


def sk_context(suite: Suite, encr_keymat: bytes, integ_key: bytes = b"") -> SkContext:
    """An SkContext from SK_e* (with salt) and SK_a* (empty for AEAD suites)."""
    mac = suite.integ.keyed(integ_key) if suite.integ is not None else None
    return SkContext(
        suite.encr,
        suite.integ,
        suite.encr.cipher(encr_keymat),
        mac,
        suite.iv_size,
        suite.icv_size,
        suite.block_size,
    )


def sk_contexts(suite: Suite, keys: IkeSaKeys, initiator: bool) -> tuple[SkContext, SkContext]:
    """(outbound, inbound): the original initiator sends with SK_ei/SK_ai (RFC 7296 2.14)."""
    i_ctx = sk_context(suite, keys.sk_ei, keys.sk_ai)
    r_ctx = sk_context(suite, keys.sk_er, keys.sk_ar)
    return (i_ctx, r_ctx) if initiator else (r_ctx, i_ctx)


def padding_length(ctx: SkContext, plaintext_len: int) -> int:
    """The smallest Pad Length making plaintext + padding + the Pad Length octet block-aligned."""
    return -(plaintext_len + 1) % ctx.block_size


def encrypted_length(ctx: SkContext, plaintext_len: int, pad_len: int | None = None) -> int:
    """Bytes ``protect`` appends after the SK/SKF header: IV, ciphertext, ICV."""
    if pad_len is None:
        pad_len = padding_length(ctx, plaintext_len)
    return ctx.iv_size + plaintext_len + pad_len + 1 + ctx.icv_size


def protect(
    ctx: SkContext, message_prefix: bytes, plaintext: bytes, iv: bytes, pad_len: int | None = None
) -> bytes:
    """IV || ciphertext || ICV for inner payloads ``plaintext``.

    ``message_prefix`` is the message from the IKE header through the SK (or SKF) header,
    lengths already final. ``iv`` comes from the caller's random source (for the counter
    and AEAD modes it must never repeat under one key). Padding octets are zero.
    """
    if len(iv) != ctx.iv_size:
        raise ValueError(f"{ctx.encr.name}: IV must be {ctx.iv_size} bytes, got {len(iv)}")
    if pad_len is None:
        pad_len = padding_length(ctx, len(plaintext))
    elif not 0 <= pad_len <= 255 or (len(plaintext) + pad_len + 1) % ctx.block_size:
        raise ValueError(f"{ctx.encr.name}: pad length {pad_len} does not align to {ctx.block_size}")
    padded = plaintext + bytes(pad_len) + bytes((pad_len,))
    cipher = ctx.cipher
    if isinstance(cipher, AeadCipher):
        return iv + cipher.seal(iv, padded, message_prefix)
    assert ctx.mac is not None
    body = iv + cipher.encrypt(iv, padded)
    return body + ctx.mac(message_prefix + body)


def unprotect(ctx: SkContext, message: bytes, sk_offset: int, fragment: bool = False) -> bytes:
    """The decrypted inner payloads of the SK (or SKF) payload at ``sk_offset``.

    The ICV is checked first (in constant time, or by the AEAD tag) and a failure raises
    IntegrityError; impossible framing or padding raises SkFormatError.
    """
    header = SKF_HEADER_SIZE if fragment else SK_HEADER_SIZE
    name = "SKF" if fragment else "SK"
    if sk_offset + header > len(message):
        raise SkFormatError(f"{name} payload header runs past the message end", sk_offset)
    payload_len = int.from_bytes(message[sk_offset + 2 : sk_offset + 4], "big")
    end = sk_offset + payload_len
    if end != len(message):
        # RFC 7296 3.14 / RFC 7383 2.5: the encrypted payload is the last one in the message.
        raise SkFormatError(
            f"{name} payload length {payload_len} at offset {sk_offset} "
            f"does not end the {len(message)}-byte message",
            sk_offset,
        )
    body_start = sk_offset + header
    ct_len = payload_len - header - ctx.iv_size - ctx.icv_size
    if ct_len < 1 or ct_len % ctx.block_size:
        raise SkFormatError(
            f"{name} payload: {ct_len} ciphertext bytes do not fit {ctx.encr.name} "
            f"(IV {ctx.iv_size}, ICV {ctx.icv_size}, block {ctx.block_size})",
            sk_offset,
        )
    iv = message[body_start : body_start + ctx.iv_size]
    cipher = ctx.cipher
    if isinstance(cipher, AeadCipher):
        padded = cipher.open(iv, message[body_start + ctx.iv_size : end], message[:body_start])
    else:
        assert ctx.mac is not None
        icv_start = end - ctx.icv_size
        expected = ctx.mac(message[:icv_start])
        if not hmac.compare_digest(expected, message[icv_start:end]):
            raise IntegrityError(f"{name} payload: {ctx.integ.name if ctx.integ else 'ICV'} does not verify")
        padded = cipher.decrypt(iv, message[body_start + ctx.iv_size : icv_start])
    pad_len = padded[-1]
    if pad_len + 1 > len(padded):
        raise SkFormatError(f"{name} payload: Pad Length {pad_len} exceeds the {len(padded)} decrypted bytes")
    return padded[: len(padded) - pad_len - 1]
