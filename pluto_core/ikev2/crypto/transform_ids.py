"""IANA IKEv2 transform numbers used by the crypto suite.

A small local mapping so crypto does not depend on the message codec; the values are
the IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registry entries.
"""

from __future__ import annotations

from typing import Final

# Transform Type 1: Encryption Algorithm.
ENCR_AES_CBC: Final = 12
ENCR_AES_CTR: Final = 13
ENCR_AES_GCM_8: Final = 18
ENCR_AES_GCM_12: Final = 19
ENCR_AES_GCM_16: Final = 20
ENCR_CHACHA20_POLY1305: Final = 28

# Transform Type 2: Pseudorandom Function.
PRF_HMAC_SHA1: Final = 2
PRF_AES128_XCBC: Final = 4
PRF_HMAC_SHA2_256: Final = 5
PRF_HMAC_SHA2_384: Final = 6
PRF_HMAC_SHA2_512: Final = 7
PRF_AES128_CMAC: Final = 8

# Transform Type 3: Integrity Algorithm.
AUTH_NONE: Final = 0
AUTH_HMAC_SHA1_96: Final = 2
AUTH_AES_XCBC_96: Final = 5
AUTH_AES_CMAC_96: Final = 8
AUTH_HMAC_SHA2_256_128: Final = 12
AUTH_HMAC_SHA2_384_192: Final = 13
AUTH_HMAC_SHA2_512_256: Final = 14

# Transform Type 4: Key Exchange Method.
MODP_1536: Final = 5
MODP_2048: Final = 14
MODP_3072: Final = 15
MODP_4096: Final = 16
MODP_6144: Final = 17
MODP_8192: Final = 18
ECP_256: Final = 19
ECP_384: Final = 20
ECP_521: Final = 21
CURVE25519: Final = 31
CURVE448: Final = 32

# Payload types of the encrypted payloads (RFC 7296 3.14, RFC 7383 2.5).
PAYLOAD_SK: Final = 46
PAYLOAD_SKF: Final = 53
