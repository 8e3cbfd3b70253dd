"""IKEv2 key exchange: MODP (RFC 3526), ECP (RFC 5903) and Curve25519/Curve448 (RFC 8031).

Shaped for a job runner: ``generate`` and ``compute_shared`` are plain functions over
bytes, so a worker process can run them; randomness is passed in (``random(n) -> bytes``)
or the private value is given outright (test vectors, replays).

Wire formats (the KE payload's Key Exchange Data and the shared secret g^ir):
- MODP: big-endian, left-padded to the modulus length (RFC 7296 2.14).
- ECP: x || y without the 0x04 point-format octet; g^ir is x only (RFC 5903 sections 7, 9).
- Curve25519/448: the RFC 7748 u-coordinate, 32 or 56 bytes (RFC 8031 section 2).

Peer values are validated before use and a bad one raises ``DhError`` naming the group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from . import transform_ids as T
from .errors import DhError, UnsupportedTransform

Random = Callable[[int], bytes]
PrivateSource = bytes | Random

# RFC 3526 (and RFC 2409 section 6.2 for group 5): p = 2^N - 2^(N-64) - 1 + 2^64 * ([2^(N-130) pi] + c),
# generator 2. The hex below is that formula evaluated; tests recompute it from pi.
_MODP_PRIMES_HEX: dict[int, str] = {
    5: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"
    ),
    14: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
        "15728E5A8AACAA68FFFFFFFFFFFFFFFF"
    ),
    15: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
        "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
        "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
    ),
    16: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
        "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
        "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
        "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
        "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
        "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"
    ),
    17: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
        "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
        "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
        "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
        "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
        "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026C1D4DCB2602646DEC9751E763DBA37BD"
        "F8FF9406AD9E530EE5DB382F413001AEB06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
        "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92ECF032EA15D1721D03F482D7CE6E74FEF6"
        "D55E702F46980C82B5A84031900B1C9E59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
        "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76F550AA3D8A1FBFF0EB19CCB1A313D55C"
        "DA56C9EC2EF29632387FE8D76E3C0468043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF"
    ),
    18: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
        "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
        "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
        "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
        "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
        "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026C1D4DCB2602646DEC9751E763DBA37BD"
        "F8FF9406AD9E530EE5DB382F413001AEB06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
        "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92ECF032EA15D1721D03F482D7CE6E74FEF6"
        "D55E702F46980C82B5A84031900B1C9E59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
        "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76F550AA3D8A1FBFF0EB19CCB1A313D55C"
        "DA56C9EC2EF29632387FE8D76E3C0468043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E4"
        "38777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300741FA7BF8AFC47ED2576F6936BA424663AAB639C5AE4F568"
        "3423B4742BF1C978238F16CBE39D652DE3FDB8BEFC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B"
        "4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A66D2A13F83F44F82DDF310EE074AB6A36"
        "4597E899A0255DC164F31CC50846851DF9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F92"
        "4009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA9E3050E2765694DFC81F56E880B96E71"
        "60C980DD98EDD3DFFFFFFFFFFFFFFFFF"
    ),
}

# Private exponent length in bytes: at least twice the group's security strength
# (NIST SP 800-56A rev3 5.6.1.1.1, RFC 3526 section 8 estimates), so pow() stays cheap.
_MODP_EXPONENT_BYTES = {5: 32, 14: 32, 15: 32, 16: 40, 17: 48, 18: 64}

_NAMES = {
    T.MODP_1536: "MODP1536",
    T.MODP_2048: "MODP2048",
    T.MODP_3072: "MODP3072",
    T.MODP_4096: "MODP4096",
    T.MODP_6144: "MODP6144",
    T.MODP_8192: "MODP8192",
    T.ECP_256: "ECP256",
    T.ECP_384: "ECP384",
    T.ECP_521: "ECP521",
    T.CURVE25519: "CURVE25519",
    T.CURVE448: "CURVE448",
}


@dataclass(slots=True, frozen=True)
class DhKeyPair:
    """Our half of a key exchange; ``private`` never appears in repr (keys stay out of logs)."""

    group: int
    private: bytes = field(repr=False)
    public_bytes: bytes


class _Group:
    __slots__ = ("group_id", "name", "public_size", "secret_size")

    def __init__(self, group_id: int, public_size: int, secret_size: int) -> None:
        self.group_id = group_id
        self.name = _NAMES[group_id]
        self.public_size = public_size
        self.secret_size = secret_size

    def generate(self, source: PrivateSource) -> DhKeyPair:
        raise NotImplementedError

    def shared(self, private: bytes, peer_public: bytes) -> bytes:
        raise NotImplementedError

    def _fail(self, what: str) -> DhError:
        return DhError(f"{self.name} (group {self.group_id}): peer public value {what}")

    def _check_length(self, peer_public: bytes) -> None:
        if len(peer_public) != self.public_size:
            raise self._fail(f"is {len(peer_public)} bytes, expected {self.public_size}")


class _Modp(_Group):
    """Finite-field DH on Python integers (three-argument pow), not cryptography's FFDH API:
    cryptography deprecates FFDH, and MODP 14-18 stay mandatory for IKEv2 interop."""

    __slots__ = ("p", "_comb")

    def __init__(self, group_id: int) -> None:
        self.p = int(_MODP_PRIMES_HEX[group_id], 16)
        size = (self.p.bit_length() + 7) // 8
        super().__init__(group_id, size, size)
        self._comb: list[list[int]] | None = None

    def _check_private(self, x: int) -> None:
        if not 1 < x < self.p - 1:
            raise ValueError(f"{self.name}: private exponent out of range")

    def _g_pow(self, x: int) -> int:
        """g^x mod p for g = 2. Up to 4096 bits a fixed-base comb (table built on first use) needs
        one multiplication per 4-bit digit of x instead of pow()'s squarings: about 3x faster."""
        bits = 8 * _MODP_EXPONENT_BYTES[self.group_id]
        if self.p.bit_length() > _COMB_MAX_BITS or x.bit_length() > bits:
            return pow(2, x, self.p)
        comb = self._comb
        if comb is None:
            comb = self._comb = _comb_table(self.p, bits)
        p = self.p
        acc = 1
        for row in comb:
            digit = x & _COMB_MASK
            if digit:
                acc = acc * row[digit] % p
            x >>= _COMB_BITS
            if not x:
                break
        return acc

    def generate(self, source: PrivateSource) -> DhKeyPair:
        if isinstance(source, bytes | bytearray):
            private = bytes(source)
        else:
            private = source(_MODP_EXPONENT_BYTES[self.group_id])
        x = int.from_bytes(private, "big")
        self._check_private(x)
        # RFC 7296 3.4 / RFC 3526: the KE data is g^x, big-endian, zero-padded to the prime's length.
        return DhKeyPair(self.group_id, private, self._g_pow(x).to_bytes(self.public_size, "big"))

    def shared(self, private: bytes, peer_public: bytes) -> bytes:
        self._check_length(peer_public)
        y = int.from_bytes(peer_public, "big")
        # 1 < y < p-1 (RFC 7296 section 5, NIST SP 800-56A 5.6.2.3.1): with a safe prime the only
        # small subgroups are {1} and {1, p-1}, so this also stops small-subgroup confinement.
        if y <= 1:
            raise self._fail(f"is {y}, must be greater than 1")
        if y >= self.p - 1:
            raise self._fail("is not less than p-1")
        x = int.from_bytes(private, "big")
        self._check_private(x)
        # RFC 7296 2.14: g^ir is a big-endian integer left-padded with zeros to the prime's length.
        return pow(y, x, self.p).to_bytes(self.secret_size, "big")


# Fixed-base comb for g = 2: row i holds 2^(d * 16^i) mod p for the digits d = 0..15. Built lazily
# per group (MODP2048: ~20 ms and 0.3 MB; MODP4096: ~60 ms and 0.7 MB). The 6144/8192-bit tables
# would take about a second to build and 1-2 MB each, so those groups use pow() alone.
_COMB_BITS = 4
_COMB_MASK = (1 << _COMB_BITS) - 1
_COMB_MAX_BITS = 4096


def _comb_table(p: int, exponent_bits: int) -> list[list[int]]:
    rows = []
    base = 2
    for _ in range(-(-exponent_bits // _COMB_BITS)):
        row = [1] * (1 << _COMB_BITS)
        acc = 1
        for digit in range(1, 1 << _COMB_BITS):
            acc = acc * base % p
            row[digit] = acc
        rows.append(row)
        base = acc * base % p  # base^16 mod p: the next digit's weight
    return rows


# NIST field primes (FIPS 186-4 D.1.2): coordinates must be below them.
_ECP = {
    T.ECP_256: (ec.SECP256R1(), 32, 2**256 - 2**224 + 2**192 + 2**96 - 1),
    T.ECP_384: (ec.SECP384R1(), 48, 2**384 - 2**128 - 2**96 + 2**32 - 1),
    T.ECP_521: (ec.SECP521R1(), 66, 2**521 - 1),
}


class _Ecp(_Group):
    __slots__ = ("curve", "coord", "field_p", "_bits")

    def __init__(self, group_id: int) -> None:
        curve, coord, field_p = _ECP[group_id]
        super().__init__(group_id, 2 * coord, coord)
        self.curve = curve
        self.coord = coord
        self.field_p = field_p
        self._bits = curve.key_size

    def _public_bytes(self, key: ec.EllipticCurvePrivateKey) -> bytes:
        numbers = key.public_key().public_numbers()
        return numbers.x.to_bytes(self.coord, "big") + numbers.y.to_bytes(self.coord, "big")

    def generate(self, source: PrivateSource) -> DhKeyPair:
        if isinstance(source, bytes | bytearray):
            private = bytes(source)
            key = ec.derive_private_key(int.from_bytes(private, "big"), self.curve)
            return DhKeyPair(self.group_id, private, self._public_bytes(key))
        # Rejection sampling keeps the scalar uniform in [1, n-1]; OpenSSL rejects 0 and >= n.
        for _ in range(128):
            d = int.from_bytes(source(self.coord), "big") & ((1 << self._bits) - 1)
            if d == 0:
                continue
            try:
                key = ec.derive_private_key(d, self.curve)
            except ValueError:
                continue
            return DhKeyPair(self.group_id, d.to_bytes(self.coord, "big"), self._public_bytes(key))
        raise ValueError(f"{self.name}: random source never produced a valid scalar")

    def shared(self, private: bytes, peer_public: bytes) -> bytes:
        self._check_length(peer_public)
        x = int.from_bytes(peer_public[: self.coord], "big")
        y = int.from_bytes(peer_public[self.coord :], "big")
        if x >= self.field_p or y >= self.field_p:
            raise self._fail("has a coordinate not below the field prime")
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(self.curve, b"\x04" + peer_public)
        except ValueError:
            raise self._fail("is not a point on the curve (RFC 5903 / RFC 6989 check)") from None
        key = ec.derive_private_key(int.from_bytes(private, "big"), self.curve)
        return key.exchange(ec.ECDH(), peer)


class _Xdh(_Group):
    __slots__ = ("_private_cls", "_public_cls")

    def __init__(self, group_id: int) -> None:
        size = 32 if group_id == T.CURVE25519 else 56
        super().__init__(group_id, size, size)
        if group_id == T.CURVE25519:
            self._private_cls: Any = x25519.X25519PrivateKey
            self._public_cls: Any = x25519.X25519PublicKey
        else:
            self._private_cls = x448.X448PrivateKey
            self._public_cls = x448.X448PublicKey

    def generate(self, source: PrivateSource) -> DhKeyPair:
        private = bytes(source) if isinstance(source, bytes | bytearray) else source(self.public_size)
        if len(private) != self.public_size:
            raise ValueError(f"{self.name}: private key must be {self.public_size} bytes")
        key = self._private_cls.from_private_bytes(private)
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return DhKeyPair(self.group_id, private, public)

    def shared(self, private: bytes, peer_public: bytes) -> bytes:
        self._check_length(peer_public)
        peer = self._public_cls.from_public_bytes(peer_public)
        try:
            secret: bytes = self._private_cls.from_private_bytes(private).exchange(peer)
        except ValueError:
            # RFC 8031 section 2.3 / RFC 7748 section 6: an all-zero result means a low-order point.
            raise self._fail("is a low-order point (all-zero shared secret)") from None
        return secret


_GROUPS: dict[int, _Group] = {}


def _group(group_id: int) -> _Group:
    impl = _GROUPS.get(group_id)
    if impl is None:
        if group_id in _MODP_PRIMES_HEX:
            impl = _Modp(group_id)
        elif group_id in _ECP:
            impl = _Ecp(group_id)
        elif group_id in (T.CURVE25519, T.CURVE448):
            impl = _Xdh(group_id)
        else:
            raise UnsupportedTransform(f"key exchange group {group_id} is not supported")
        _GROUPS[group_id] = impl
    return impl


SUPPORTED_GROUPS: tuple[int, ...] = tuple(_NAMES)


def group_name(group_id: int) -> str:
    return _NAMES.get(group_id, f"group {group_id}")


def public_size(group_id: int) -> int:
    """Length of the KE payload's Key Exchange Data for this group."""
    return _group(group_id).public_size


def modp_prime(group_id: int) -> int:
    impl = _group(group_id)
    if not isinstance(impl, _Modp):
        raise ValueError(f"{impl.name} is not a MODP group")
    return impl.p


def generate(group: int, private_or_random: PrivateSource) -> DhKeyPair:
    """Our key pair for ``group``: from a private value (bytes) or from ``random(n) -> bytes``."""
    return _group(group).generate(private_or_random)


def compute_shared(group: int, private: bytes | DhKeyPair, peer_public: bytes) -> bytes:
    """g^ir from our private value and the peer's KE data; raises DhError on a bad peer value."""
    if isinstance(private, DhKeyPair):
        if private.group != group:
            raise ValueError(f"key pair is for group {private.group}, not {group}")
        private = private.private
    return _group(group).shared(private, peer_public)


def secret_size(group_id: int) -> int:
    """How many random octets :func:`generate` wants as the private value."""
    return _group(group_id).secret_size
