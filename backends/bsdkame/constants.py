"""PF_KEY v2 numbers: RFC 2367 section 3 plus the KAME extensions (``X_``).

Message, extension and SA types are the same on Linux ``af_key``, FreeBSD
and NetBSD up to ``SADB_X_NAT_T_NEW_MAPPING`` and extension 23; where the
kernels part ways (extensions from 24 on, the address family number of
IPv6, algorithm numbers) the difference lives in :mod:`pluto_bsdkame.layout`
and :mod:`pluto_bsdkame.algorithms`.
"""

from __future__ import annotations

from enum import IntEnum

PF_KEY_V2 = 2  # RFC 2367 section 2: sadb_msg_version and the socket(2) protocol
AF_KEY = 15  # PF_KEY on Linux and the BSDs
ALIGN = 8  # RFC 2367 section 2: every length is in 64-bit words


class MsgType(IntEnum):
    """``sadb_msg_type`` (RFC 2367 section 2.3.1 and KAME's SPD extensions)."""

    GETSPI = 1
    UPDATE = 2
    ADD = 3
    DELETE = 4
    GET = 5
    ACQUIRE = 6
    REGISTER = 7
    EXPIRE = 8
    FLUSH = 9
    DUMP = 10
    X_PROMISC = 11
    X_PCHANGE = 12
    X_SPDUPDATE = 13
    X_SPDADD = 14
    X_SPDDELETE = 15  # by selector
    X_SPDGET = 16
    X_SPDACQUIRE = 17
    X_SPDDUMP = 18
    X_SPDFLUSH = 19
    X_SPDSETIDX = 20
    X_SPDEXPIRE = 21
    X_SPDDELETE2 = 22  # by policy id
    X_NAT_T_NEW_MAPPING = 23


class ExtType(IntEnum):
    """``sadb_ext_type`` numbers common to every KAME-derived kernel."""

    SA = 1
    LIFETIME_CURRENT = 2
    LIFETIME_HARD = 3
    LIFETIME_SOFT = 4
    ADDRESS_SRC = 5
    ADDRESS_DST = 6
    ADDRESS_PROXY = 7
    KEY_AUTH = 8
    KEY_ENCRYPT = 9
    IDENTITY_SRC = 10
    IDENTITY_DST = 11
    SENSITIVITY = 12
    PROPOSAL = 13
    SUPPORTED_AUTH = 14
    SUPPORTED_ENCRYPT = 15
    SPIRANGE = 16
    X_KMPRIVATE = 17
    X_POLICY = 18
    X_SA2 = 19
    X_NAT_T_TYPE = 20
    X_NAT_T_SPORT = 21
    X_NAT_T_DPORT = 22
    X_NAT_T_OA = 23  # Linux NAT_T_OA; FreeBSD/NetBSD call it NAT_T_OAI


class SaType(IntEnum):
    UNSPEC = 0
    AH = 2
    ESP = 3
    X_IPCOMP = 9


class SaState(IntEnum):
    LARVAL = 0
    MATURE = 1
    DYING = 2
    DEAD = 3


class PolicyType(IntEnum):
    """``sadb_x_policy_type`` (KAME ``<netipsec/ipsec.h>``)."""

    DISCARD = 0
    NONE = 1  # bypass IPsec: clear text
    IPSEC = 2
    ENTRUST = 3
    BYPASS = 4


class PolicyDir(IntEnum):
    ANY = 0
    INBOUND = 1
    OUTBOUND = 2
    FWD = 3  # Linux only


class IpsecMode(IntEnum):
    ANY = 0
    TRANSPORT = 1
    TUNNEL = 2


class IpsecLevel(IntEnum):
    DEFAULT = 0
    USE = 1
    REQUIRE = 2
    UNIQUE = 3  # the request carries a reqid that pins one SA


IPSEC_ULPROTO_ANY = 255  # any upper-layer protocol in a selector
IPSEC_MANUAL_REQID_MAX = 0x3FFF  # larger reqids in an ipsecrequest are replaced by the kernel's own
UDP_ENCAP_ESPINUDP = 2  # RFC 3948 (sadb_x_nat_t_type_type)
SADB_SAFLAGS_PFS = 1

MSG_NAMES = {t.value: t.name for t in MsgType}
