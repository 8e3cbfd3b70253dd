"""XFRM netlink messages (<linux/xfrm.h>), declared the way pyroute2
declares its rtnl messages: ``fields`` for the fixed struct, ``nla_map`` for
the attributes that follow it. pyroute2 ships none for NETLINK_XFRM.

Layouts are those of x86_64 and every other Linux ABI where ``__u64`` is
8-byte aligned (the kernel's 32-bit compat layer is not supported, as
strongSwan and Libreswan do not support it either). Addresses are the
16-octet ``xfrm_address_t`` (an IPv4 address in its first four octets); SPIs
and ports are in network order, everything else in host order.
"""

from __future__ import annotations

import struct
from typing import Any

from pyroute2.netlink import nla, nlmsg
from pyroute2.netlink.marshal import Marshal

from pluto_xfrm.cstruct import CStruct

NETLINK_XFRM = 6

# enum of message types (XFRM_MSG_BASE = 0x10)
XFRM_MSG_NEWSA = 0x10
XFRM_MSG_DELSA = 0x11
XFRM_MSG_GETSA = 0x12
XFRM_MSG_NEWPOLICY = 0x13
XFRM_MSG_DELPOLICY = 0x14
XFRM_MSG_GETPOLICY = 0x15
XFRM_MSG_ALLOCSPI = 0x16
XFRM_MSG_ACQUIRE = 0x17
XFRM_MSG_EXPIRE = 0x18
XFRM_MSG_UPDPOLICY = 0x19
XFRM_MSG_UPDSA = 0x1A
XFRM_MSG_POLEXPIRE = 0x1B
XFRM_MSG_FLUSHSA = 0x1C
XFRM_MSG_FLUSHPOLICY = 0x1D
XFRM_MSG_MIGRATE = 0x21
XFRM_MSG_MAPPING = 0x26

# enum xfrm_nlgroups: multicast group numbers (for NETLINK_ADD_MEMBERSHIP)
XFRMNLGRP_ACQUIRE = 1
XFRMNLGRP_EXPIRE = 2
XFRMNLGRP_SA = 3
XFRMNLGRP_POLICY = 4
XFRMNLGRP_MAPPING = 8

# enum xfrm_attr_type_t
XFRMA_ALG_AUTH = 1
XFRMA_ALG_CRYPT = 2
XFRMA_ALG_COMP = 3
XFRMA_ENCAP = 4
XFRMA_TMPL = 5
XFRMA_SA = 6
XFRMA_POLICY = 7
XFRMA_LTIME_VAL = 9
XFRMA_SRCADDR = 13
XFRMA_LASTUSED = 15
XFRMA_POLICY_TYPE = 16
XFRMA_MIGRATE = 17
XFRMA_ALG_AEAD = 18
XFRMA_ALG_AUTH_TRUNC = 20
XFRMA_MARK = 21
XFRMA_REPLAY_ESN_VAL = 23
XFRMA_SA_EXTRA_FLAGS = 24
XFRMA_IF_ID = 31

XFRM_MODE_TRANSPORT = 0
XFRM_MODE_TUNNEL = 1

XFRM_POLICY_ALLOW = 0
XFRM_POLICY_BLOCK = 1
XFRM_POLICY_TYPE_MAIN = 0

XFRM_STATE_ESN = 128
XFRM_STATE_AF_UNSPEC = 32

XFRM_INF = (1 << 64) - 1
UDP_ENCAP_ESPINUDP = 2


# --------------------------------------------------------------------------
# Structs nested in messages and attributes
# --------------------------------------------------------------------------


class xfrm_address(CStruct):
    """``xfrm_address_t``: a union of an IPv4 and an IPv6 address."""

    fields = (("addr", "16s"),)


class xfrm_selector(CStruct):
    fields = (
        ("daddr", xfrm_address),
        ("saddr", xfrm_address),
        ("dport", ">H"),
        ("dport_mask", ">H"),
        ("sport", ">H"),
        ("sport_mask", ">H"),
        ("family", "=H"),
        ("prefixlen_d", "=B"),
        ("prefixlen_s", "=B"),
        ("proto", "=B"),
        ("__pad0", "3x"),
        ("ifindex", "=i"),
        ("user", "=I"),
    )


class xfrm_id(CStruct):
    fields = (
        ("daddr", xfrm_address),
        ("spi", ">I"),
        ("proto", "=B"),
        ("__pad0", "3x"),
    )


class xfrm_lifetime_cfg(CStruct):
    fields = (
        ("soft_byte_limit", "=Q"),
        ("hard_byte_limit", "=Q"),
        ("soft_packet_limit", "=Q"),
        ("hard_packet_limit", "=Q"),
        ("soft_add_expires_seconds", "=Q"),
        ("hard_add_expires_seconds", "=Q"),
        ("soft_use_expires_seconds", "=Q"),
        ("hard_use_expires_seconds", "=Q"),
    )


class xfrm_lifetime_cur(CStruct):
    fields = (
        ("bytes", "=Q"),
        ("packets", "=Q"),
        ("add_time", "=Q"),
        ("use_time", "=Q"),
    )


class xfrm_stats(CStruct):
    fields = (
        ("replay_window", "=I"),
        ("replay", "=I"),
        ("integrity_failed", "=I"),
    )


class xfrm_usersa(CStruct):
    """``struct xfrm_usersa_info`` as a nested struct (in ALLOCSPI and EXPIRE)."""

    fields = (
        ("sel", xfrm_selector),
        ("id", xfrm_id),
        ("saddr", xfrm_address),
        ("lft", xfrm_lifetime_cfg),
        ("curlft", xfrm_lifetime_cur),
        ("stats", xfrm_stats),
        ("seq", "=I"),
        ("reqid", "=I"),
        ("family", "=H"),
        ("mode", "=B"),
        ("replay_window", "=B"),
        ("flags", "=B"),
        ("__pad0", "7x"),
    )


class xfrm_userpolicy(CStruct):
    """``struct xfrm_userpolicy_info`` as a nested struct (in ACQUIRE)."""

    fields = (
        ("sel", xfrm_selector),
        ("lft", xfrm_lifetime_cfg),
        ("curlft", xfrm_lifetime_cur),
        ("priority", "=I"),
        ("index", "=I"),
        ("dir", "=B"),
        ("action", "=B"),
        ("flags", "=B"),
        ("share", "=B"),
        ("__pad0", "4x"),
    )


class xfrm_usersa_id_struct(CStruct):
    fields = (
        ("daddr", xfrm_address),
        ("spi", ">I"),
        ("family", "=H"),
        ("proto", "=B"),
        ("__pad0", "1x"),
    )


class xfrm_user_tmpl(CStruct):
    fields = (
        ("id", xfrm_id),
        ("family", "=H"),
        ("__pad0", "2x"),
        ("saddr", xfrm_address),
        ("reqid", "=I"),
        ("mode", "=B"),
        ("share", "=B"),
        ("optional", "=B"),
        ("__pad1", "1x"),
        ("aalgos", "=I"),
        ("ealgos", "=I"),
        ("calgos", "=I"),
    )


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------


class xfrm_base(nlmsg):
    """The attributes every XFRM message may carry (``enum xfrm_attr_type_t``)."""

    prefix = "XFRMA_"

    nla_map = (
        (0, "XFRMA_UNSPEC", "none"),
        (XFRMA_ALG_AUTH, "XFRMA_ALG_AUTH", "xfrm_algo"),
        (XFRMA_ALG_CRYPT, "XFRMA_ALG_CRYPT", "xfrm_algo"),
        (XFRMA_ALG_COMP, "XFRMA_ALG_COMP", "xfrm_algo"),
        (XFRMA_ENCAP, "XFRMA_ENCAP", "xfrm_encap_tmpl"),
        (XFRMA_TMPL, "XFRMA_TMPL", "xfrm_user_tmpls"),
        (XFRMA_SA, "XFRMA_SA", "cdata"),
        (XFRMA_POLICY, "XFRMA_POLICY", "cdata"),
        (XFRMA_LTIME_VAL, "XFRMA_LTIME_VAL", "xfrm_lifetime_cur_nla"),
        (XFRMA_SRCADDR, "XFRMA_SRCADDR", "xfrm_address_nla"),
        (XFRMA_LASTUSED, "XFRMA_LASTUSED", "uint64"),
        (XFRMA_POLICY_TYPE, "XFRMA_POLICY_TYPE", "xfrm_userpolicy_type"),
        (XFRMA_MIGRATE, "XFRMA_MIGRATE", "cdata"),
        (XFRMA_ALG_AEAD, "XFRMA_ALG_AEAD", "xfrm_algo_aead"),
        (XFRMA_ALG_AUTH_TRUNC, "XFRMA_ALG_AUTH_TRUNC", "xfrm_algo_auth"),
        (XFRMA_MARK, "XFRMA_MARK", "xfrm_mark"),
        (XFRMA_REPLAY_ESN_VAL, "XFRMA_REPLAY_ESN_VAL", "xfrm_replay_state_esn"),
        (XFRMA_SA_EXTRA_FLAGS, "XFRMA_SA_EXTRA_FLAGS", "uint32"),
        (XFRMA_IF_ID, "XFRMA_IF_ID", "uint32"),
    )

    class xfrm_algo(nla):
        """``struct xfrm_algo``: name, key length in bits, then the key."""

        fields: tuple[tuple[str, Any], ...] = (("alg_name", "64s"), ("alg_key_len", "=I"), ("alg_key", "s"))
        key_offset = 68

        def decode(self) -> None:
            nla.decode(self)
            start = self.offset + 4 + self.key_offset
            self["alg_key"] = bytes(self.data[start:self.offset + self.length])

    class xfrm_algo_auth(xfrm_algo):
        """``struct xfrm_algo_auth``: adds the truncated ICV length in bits."""

        fields = (("alg_name", "64s"), ("alg_key_len", "=I"), ("alg_trunc_len", "=I"), ("alg_key", "s"))
        key_offset = 72

    class xfrm_algo_aead(xfrm_algo):
        """``struct xfrm_algo_aead``: adds the ICV length in bits."""

        fields = (("alg_name", "64s"), ("alg_key_len", "=I"), ("alg_icv_len", "=I"), ("alg_key", "s"))
        key_offset = 72

    class xfrm_encap_tmpl(nla):
        fields = (
            ("encap_type", "=H"),
            ("encap_sport", ">H"),
            ("encap_dport", ">H"),
            ("__pad0", "2x"),
            ("encap_oa", xfrm_address),
        )

    class xfrm_user_tmpls(nla):
        """XFRMA_TMPL: an array of ``struct xfrm_user_tmpl`` without headers;
        the value is a list of template dicts."""

        fields = (("value", "s"),)

        def encode(self) -> None:
            templates = self["value"] if isinstance(self["value"], list) else self.value
            self["value"] = b"".join(xfrm_user_tmpl.pack(t) for t in templates)
            nla.encode(self)

        def decode(self) -> None:
            nla.decode(self)
            raw = bytes(self.data[self.offset + 4:self.offset + self.length])
            size = xfrm_user_tmpl.size
            self["value"] = [xfrm_user_tmpl.unpack(raw[i:i + size]) for i in range(0, len(raw) - size + 1, size)]
            self.value = self["value"]

    class xfrm_lifetime_cur_nla(nla):
        fields = (("cur", xfrm_lifetime_cur),)

    class xfrm_address_nla(nla):
        fields = (("addr", "16s"),)

    class xfrm_userpolicy_type(nla):
        fields = (("type", "=B"), ("__pad0", "1x"), ("reserved1", "=H"), ("reserved2", "=B"), ("__pad1", "1x"))

    class xfrm_mark(nla):
        fields = (("v", "=I"), ("m", "=I"))

    class xfrm_replay_state_esn(nla):
        """``struct xfrm_replay_state_esn`` and its bitmap (``bmp_len`` 32-bit words)."""

        fields = (
            ("bmp_len", "=I"),
            ("oseq", "=I"),
            ("seq", "=I"),
            ("oseq_hi", "=I"),
            ("seq_hi", "=I"),
            ("replay_window", "=I"),
            ("bmp", "s"),
        )

        def decode(self) -> None:
            nla.decode(self)
            self["bmp"] = bytes(self.data[self.offset + 4 + 24:self.offset + self.length])


class xfrm_usersa_info(xfrm_base):
    """NEWSA / UPDSA request, GETSA answer and SA dumps (224 octets)."""

    fields = xfrm_usersa.fields


class xfrm_userspi_info(xfrm_base):
    """ALLOCSPI: an SA template and the SPI range (232 octets)."""

    fields = (("info", xfrm_usersa), ("min", "=I"), ("max", "=I"))


class xfrm_usersa_id(xfrm_base):
    """DELSA / GETSA: what names an SA (24 octets)."""

    fields = xfrm_usersa_id_struct.fields


class xfrm_userpolicy_info(xfrm_base):
    """NEWPOLICY / UPDPOLICY and policy dumps (168 octets)."""

    fields = xfrm_userpolicy.fields


class xfrm_userpolicy_id(xfrm_base):
    """DELPOLICY / GETPOLICY: selector, index and direction (64 octets)."""

    fields = (("sel", xfrm_selector), ("index", "=I"), ("dir", "=B"), ("__pad0", "3x"))


# ``struct xfrm_user_migrate``: old daddr, old saddr, new daddr, new saddr (xfrm_address_t
# each), proto, mode, 16 reserved bits, reqid, old family, new family (76 octets); an
# XFRMA_MIGRATE attribute carries an array of them after an ``xfrm_userpolicy_id``
XFRM_USER_MIGRATE = struct.Struct("=16s16s16s16sBBHIHH")


class xfrm_user_acquire(xfrm_base):
    """ACQUIRE multicast (group XFRMNLGRP_ACQUIRE, 280 octets)."""

    fields = (
        ("id", xfrm_id),
        ("saddr", xfrm_address),
        ("sel", xfrm_selector),
        ("policy", xfrm_userpolicy),
        ("aalgos", "=I"),
        ("ealgos", "=I"),
        ("calgos", "=I"),
        ("seq", "=I"),
    )


class xfrm_user_expire(xfrm_base):
    """EXPIRE multicast (group XFRMNLGRP_EXPIRE, 232 octets)."""

    fields = (("state", xfrm_usersa), ("hard", "=B"), ("__pad0", "7x"))


class xfrm_user_polexpire(xfrm_base):
    fields = (("pol", xfrm_userpolicy), ("hard", "=B"), ("__pad0", "7x"))


class xfrm_user_mapping(xfrm_base):
    """MAPPING multicast (group XFRMNLGRP_MAPPING, 64 octets)."""

    fields = (
        ("id", xfrm_usersa_id_struct),
        ("reqid", "=I"),
        ("old_saddr", xfrm_address),
        ("new_saddr", xfrm_address),
        ("old_sport", ">H"),
        ("new_sport", ">H"),
    )


class xfrm_usersa_flush(xfrm_base):
    fields = (("proto", "=B"), ("__pad0", "3x"))


class MarshalXfrm(Marshal):
    """Which class parses which message type arriving on NETLINK_XFRM."""

    msg_map: dict[int, Any] = {
        XFRM_MSG_NEWSA: xfrm_usersa_info,
        XFRM_MSG_UPDSA: xfrm_usersa_info,
        XFRM_MSG_DELSA: xfrm_usersa_id,
        XFRM_MSG_GETSA: xfrm_usersa_id,
        XFRM_MSG_ALLOCSPI: xfrm_userspi_info,
        XFRM_MSG_NEWPOLICY: xfrm_userpolicy_info,
        XFRM_MSG_UPDPOLICY: xfrm_userpolicy_info,
        XFRM_MSG_DELPOLICY: xfrm_userpolicy_id,
        XFRM_MSG_GETPOLICY: xfrm_userpolicy_id,
        XFRM_MSG_ACQUIRE: xfrm_user_acquire,
        XFRM_MSG_EXPIRE: xfrm_user_expire,
        XFRM_MSG_POLEXPIRE: xfrm_user_polexpire,
        XFRM_MSG_MAPPING: xfrm_user_mapping,
        XFRM_MSG_FLUSHSA: xfrm_usersa_flush,
    }


def struct_size(msg_class: type[nlmsg]) -> int:
    """``sizeof`` of a message's fixed part (what precedes its attributes)."""
    total = 0
    for _name, fmt in msg_class.fields:
        if isinstance(fmt, str):
            total += struct.calcsize(fmt)
        else:
            total += fmt.size
    return total
