"""Key exchange: agreement in every group, and rejection of bad peer values."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import dh as ffdh

from pluto_core.errors import ProtocolError
from pluto_core.ikev2.crypto import dh
from pluto_core.ikev2.crypto.errors import DhError, UnsupportedTransform

MODP = (5, 14, 15, 16, 17, 18)
ECP = {19: 32, 20: 48, 21: 66}
XDH = {31: 32, 32: 56}


def seeded(label: bytes) -> Callable[[int], bytes]:
    """A deterministic random(n) for tests: SHAKE-256 of a label, consumed in order."""
    state = {"used": 0}

    def random(n: int) -> bytes:
        out = hashlib.shake_256(label).digest(state["used"] + n)[state["used"] :]
        state["used"] += n
        return out

    return random


@pytest.mark.parametrize("group", dh.SUPPORTED_GROUPS)
def test_two_parties_agree(group: int) -> None:
    a = dh.generate(group, seeded(b"a%d" % group))
    b = dh.generate(group, seeded(b"b%d" % group))
    assert len(a.public_bytes) == dh.public_size(group)
    assert a.public_bytes != b.public_bytes
    shared = dh.compute_shared(group, a, b.public_bytes)
    assert shared == dh.compute_shared(group, b, a.public_bytes)
    assert shared != bytes(len(shared))


@pytest.mark.parametrize("group", MODP)
def test_modp_public_value_is_g_to_the_x(group: int) -> None:
    pair = dh.generate(group, seeded(b"x%d" % group))
    p = dh.modp_prime(group)
    expected = pow(2, int.from_bytes(pair.private, "big"), p)
    assert pair.public_bytes == expected.to_bytes(dh.public_size(group), "big")


@pytest.mark.parametrize("group", MODP)
def test_modp_public_value_for_edge_exponents(group: int) -> None:
    """Exponents with all-zero and all-one 4-bit digits, and one longer than we ever generate."""
    p = dh.modp_prime(group)
    size = dh.public_size(group)
    for x in (2, 3, 0x10, 0xF0F0, 2**255, 2**256 - 1, 2**520 + 3):
        private = x.to_bytes((x.bit_length() + 7) // 8, "big")
        assert dh.generate(group, private).public_bytes == pow(2, x, p).to_bytes(size, "big"), hex(x)


@pytest.mark.parametrize("group", MODP)
def test_modp_values_are_left_padded_to_the_prime_length(group: int) -> None:
    """RFC 7296 2.14: g^ir (and the KE data) keep their leading zero octets."""
    size = dh.public_size(group)
    # x = 8: g^x = 2^8 = 256, so the public value is 256 in size octets.
    assert dh.generate(group, b"\x08").public_bytes == bytes(size - 2) + b"\x01\x00"
    # y = 2^(8*size/2 - 8) and x = 2: y^x = 2^(8*size - 16) < p, two leading zero octets.
    y = (1 << (4 * size - 8)).to_bytes(size, "big")
    assert dh.compute_shared(group, b"\x02", y) == b"\x00\x01" + bytes(size - 2)


def test_modp_needs_no_ffdh_from_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """cryptography deprecates FFDH: MODP must work with its DH classes gone and no warning."""
    for name in ("DHParameterNumbers", "DHPublicNumbers", "DHPrivateNumbers", "generate_parameters"):
        monkeypatch.delattr(ffdh, name)
    monkeypatch.setattr(dh, "_GROUPS", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for group in (5, 14):
            a = dh.generate(group, seeded(b"na%d" % group))
            b = dh.generate(group, seeded(b"nb%d" % group))
            assert dh.compute_shared(group, a, b.public_bytes) == dh.compute_shared(group, b, a.public_bytes)


def test_same_randomness_same_key_pair() -> None:
    assert dh.generate(19, seeded(b"r")) == dh.generate(19, seeded(b"r"))


def test_private_value_not_in_repr() -> None:
    pair = dh.generate(31, bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(pair)
    assert "private" not in repr(pair)


@pytest.mark.parametrize("group", MODP)
def test_modp_rejects_out_of_range(group: int) -> None:
    me = dh.generate(group, seeded(b"m"))
    p = dh.modp_prime(group)
    size = dh.public_size(group)
    for bad in (0, 1, p - 1, p, 2**(size * 8) - 1):
        with pytest.raises(DhError) as info:
            dh.compute_shared(group, me, bad.to_bytes(size, "big"))
        assert dh.group_name(group) in str(info.value)
        assert info.value.notify == 7
    with pytest.raises(DhError, match="bytes, expected"):
        dh.compute_shared(group, me, (2).to_bytes(size - 1, "big"))
    # 2 and p-2 are the extreme valid values and must work.
    dh.compute_shared(group, me, (2).to_bytes(size, "big"))
    dh.compute_shared(group, me, (p - 2).to_bytes(size, "big"))


@pytest.mark.parametrize("group", sorted(ECP))
def test_ecp_rejects_bad_points(group: int) -> None:
    coord = ECP[group]
    me = dh.generate(group, seeded(b"e"))
    peer = dh.generate(group, seeded(b"f")).public_bytes
    x, y = peer[:coord], peer[coord:]
    y_flipped = y[:-1] + bytes([y[-1] ^ 1])
    cases = {
        "off curve": x + y_flipped,
        "all zero": bytes(2 * coord),
        "x is p": b"\xff" * (2 * coord),
        "SEC1 prefix included": b"\x04" + peer,
        "x only": x,
    }
    for what, bad in cases.items():
        with pytest.raises(DhError) as info:
            dh.compute_shared(group, me, bad)
        assert dh.group_name(group) in str(info.value), what


@pytest.mark.parametrize("group", sorted(XDH))
def test_xdh_rejects_low_order_and_bad_length(group: int) -> None:
    size = XDH[group]
    me = dh.generate(group, seeded(b"x"))
    for low_order in (bytes(size), (1).to_bytes(size, "little")):
        with pytest.raises(DhError, match="all-zero"):
            dh.compute_shared(group, me, low_order)
    with pytest.raises(DhError, match="expected"):
        dh.compute_shared(group, me, bytes(size + 1))


def test_dh_error_is_a_protocol_error() -> None:
    assert issubclass(DhError, ProtocolError)


def test_unknown_group() -> None:
    with pytest.raises(UnsupportedTransform):
        dh.generate(2, seeded(b"u"))
