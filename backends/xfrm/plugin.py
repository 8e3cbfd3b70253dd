"""The ``xfrm`` entry point: the kernel hooks of ``pluto_core.hookspecs``
over NETLINK_XFRM, and the record of what this daemon installed so that
shutdown removes exactly that.

Two sockets: one for requests (answered synchronously, see
:mod:`pluto_xfrm.netlink`) and one joined to the ACQUIRE, EXPIRE and
MAPPING multicast groups, whose descriptor the daemon watches on its loop.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
import struct
from typing import Any

from pluto_core.errors import KernelError
from pluto_core.hookspecs import hookimpl
from pluto_core.kernel.owned import OwnedRecord
from pluto_core.kernel.types import (
    IPPROTO_AH,
    IPPROTO_ESP,
    Encap,
    Expire,
    KernelEvent,
    KernelFeatures,
    PolicySpec,
    SaCounters,
    SaId,
    SaSpec,
    sa_id,
)
from pluto_xfrm import codec, links
from pluto_xfrm import messages as m
from pluto_xfrm.algorithms import kernel_algorithms
from pluto_xfrm.errors import explain, lacks_algorithm, lacks_protocol
from pluto_xfrm.netlink import NetlinkError, XfrmSocket

NETLINK_XFRM = m.NETLINK_XFRM
SPI_MIN = 0x100  # RFC 4303 section 2.1: SPIs 1-255 are reserved by IANA
SPI_MAX = 0xFFFFFFFF
IPPROTO_UDP = 17
UDP_ENCAP = 100  # <linux/udp.h>
GONE = (errno.ENOENT, errno.ESRCH)
EVENT_GROUPS = (m.XFRMNLGRP_ACQUIRE, m.XFRMNLGRP_EXPIRE, m.XFRMNLGRP_MAPPING)
_IKE_PROTOCOL = {2: IPPROTO_AH, 3: IPPROTO_ESP}  # RFC 7296 section 3.3.1 Protocol ID -> IP protocol
FEATURES = KernelFeatures(esn_refusal=None, fwd_policies=True, algorithm_check=False, sa_counters=True,
                          events=True, udp_encap=True, socket_bypass=True)


class XfrmBackend:
    """Linux XFRM. Usable without the daemon: ``open()`` then the hooks."""

    name = "xfrm"

    def __init__(self) -> None:
        self.nl: XfrmSocket | None = None
        self.events: XfrmSocket | None = None
        self.rtnl: XfrmSocket | None = None  # NETLINK_ROUTE, opened on first use (XFRM interfaces)
        self.owned = OwnedRecord(codec.policy_key)
        self._has_proto: dict[tuple[int, int], bool] = {}

    # ------------------------------------------------------------------ life cycle

    @hookimpl
    def pluto_kernel_open(self, options: Any, log: Any) -> str:
        if getattr(socket, "AF_NETLINK", None) is None:
            raise KernelError("open NETLINK_XFRM socket", errno.EAFNOSUPPORT,
                              "this system has no netlink: XFRM is Linux only; try --use-bsdkame")
        try:
            self.nl = XfrmSocket()
            self.events = XfrmSocket(EVENT_GROUPS)
        except OSError as exc:
            self.pluto_kernel_close()
            raise KernelError("open NETLINK_XFRM socket", exc.errno,
                              "this kernel has no XFRM netlink interface (CONFIG_XFRM_USER, "
                              "module xfrm_user)") from None
        return "Using Linux XFRM/netlink IPsec kernel interface"

    @hookimpl
    def pluto_kernel_features(self) -> KernelFeatures:
        """Everything, but no algorithm check: XFRM names algorithms by crypto-API
        name, and whatever the kernel lacks shows up when the SA is added
        (``lacks_algorithm``), not before."""
        return FEATURES

    @hookimpl
    def pluto_kernel_close(self) -> None:
        for sock in (self.nl, self.events, self.rtnl):
            if sock is not None:
                sock.close()
        self.nl = self.events = self.rtnl = None

    def _request(self, operation: str, msg: Any, msg_type: int) -> list[Any]:
        if self.nl is None:
            raise KernelError(operation, errno.EBADF, "the XFRM backend is not open")
        try:
            return self.nl.request(msg, msg_type)
        except NetlinkError as exc:
            raise _Refused(operation, exc.errno or 0, exc.extack) from None

    # ------------------------------------------------------------------ SAs

    @hookimpl
    def pluto_kernel_allocate_spi(self, src: str, dst: str, protocol: int) -> int:
        proto = _IKE_PROTOCOL.get(protocol, protocol)
        try:
            answer = self._request("allocate SPI", codec.userspi_info(src, dst, proto, 0, SPI_MIN, SPI_MAX),
                                   m.XFRM_MSG_ALLOCSPI)
        except _Refused as exc:
            raise explain(exc.operation, exc.code, exc.extack) from None
        spi = int(answer[0]["id"]["spi"])
        self.owned.add_sa(SaId(dst, spi, proto, None, src), larval=True)
        return spi

    @hookimpl
    def pluto_kernel_add_sa(self, sa: SaSpec, update: bool) -> None:
        ident = sa_id(sa)
        kernel_algorithms(sa)  # refuse what cannot be expressed before asking the kernel
        # ALLOCSPI leaves its larval SA unmarked; a marked SA completes it all the same (the
        # kernel's lookup matches the larval SA's 0/0 mark): UPDSA, then the record's unmarked
        # larval entry goes
        larval = dataclasses.replace(ident, mark=None)
        is_larval = self.owned.is_larval(ident) or self.owned.is_larval(larval)
        msg_type = m.XFRM_MSG_UPDSA if (update or is_larval) else m.XFRM_MSG_NEWSA
        operation = "update SA" if msg_type == m.XFRM_MSG_UPDSA else "add SA"
        try:
            self._request(operation, codec.sa_info(sa), msg_type)
        except _Refused as exc:
            if msg_type == m.XFRM_MSG_UPDSA and exc.code in GONE and not update:
                # the larval SA of ALLOCSPI timed out (net.core.xfrm_acq_expires): add it afresh
                self.owned.drop_sa(ident)
                self.owned.drop_sa(larval)
                return self.pluto_kernel_add_sa(sa=sa, update=False)
            raise self._sa_error(sa, exc) from None
        if larval != ident:
            self.owned.drop_sa(larval)
        self.owned.add_sa(ident)
        return None

    def _sa_error(self, sa: SaSpec, exc: _Refused) -> KernelError:
        if exc.code == errno.EPROTONOSUPPORT:
            return lacks_protocol(exc.operation, sa.proto, exc.code, exc.extack)
        if exc.code == errno.ENOSYS:
            if not self._kernel_has(sa.proto, sa.dst):
                return lacks_protocol(exc.operation, sa.proto, exc.code, exc.extack)
            algs = kernel_algorithms(sa)
            names = [a[0] for a in (algs.aead, algs.crypt, algs.auth) if a is not None]
            return lacks_algorithm(exc.operation, names, exc.code, exc.extack)
        return explain(exc.operation, exc.code, exc.extack)

    def _kernel_has(self, proto: int, like: str) -> bool:
        """Whether the kernel has ``proto`` (ESP, AH) at all: a kernel missing
        both an AEAD and ESP names the algorithm first, so ask once with the
        null cipher, on a loopback SA that lives for one round trip."""
        family = 6 if ":" in like else 4
        known = self._has_proto.get((proto, family))
        if known is not None:
            return known
        here = "::1" if family == 6 else "127.0.0.1"
        probe = SaSpec(here, here, 0, encr=11 if proto == IPPROTO_ESP else 0, encr_key=b"",
                       integ=0 if proto == IPPROTO_ESP else 2, integ_key=bytes(20), proto=proto)
        try:
            spi = self.pluto_kernel_allocate_spi(src=here, dst=here, protocol=proto)
            probe = SaSpec(here, here, spi, probe.encr, b"", probe.integ, probe.integ_key, proto=proto)
            self._request("probe SA", codec.sa_info(probe), m.XFRM_MSG_UPDSA)
            has = True
        except _Refused as exc:
            has = exc.code != errno.EPROTONOSUPPORT
        except KernelError:
            has = True  # cannot tell: report the algorithm
        finally:
            ident = sa_id(probe)
            if self.owned.drop_sa(ident):
                try:
                    self._request("delete SA", codec.sa_id(ident), m.XFRM_MSG_DELSA)
                except _Refused:
                    pass
        self._has_proto[(proto, family)] = has
        return has

    @hookimpl
    def pluto_kernel_query_sa(self, sa: SaId) -> SaCounters:
        try:
            answer = self._request("query SA", codec.sa_id(sa), m.XFRM_MSG_GETSA)
        except _Refused as exc:
            raise explain(exc.operation, exc.code, exc.extack) from None
        return codec.counters(answer[0])

    @hookimpl
    def pluto_kernel_del_sa(self, sa: SaId) -> None:
        try:
            self._request("delete SA", codec.sa_id(sa), m.XFRM_MSG_DELSA)
        except _Refused as exc:
            if exc.code in GONE:
                self.owned.drop_sa(sa)
            raise explain(exc.operation, exc.code, exc.extack) from None
        self.owned.drop_sa(sa)

    # ------------------------------------------------------------------ policies

    @hookimpl
    def pluto_kernel_add_policy(self, policy: PolicySpec, update: bool) -> None:
        operation = "update policy" if update else "add policy"
        try:
            self._request(operation, codec.policy_info(policy),
                          m.XFRM_MSG_UPDPOLICY if update else m.XFRM_MSG_NEWPOLICY)
        except _Refused as exc:
            raise explain(exc.operation, exc.code, exc.extack) from None
        self.owned.keep_policy(policy)

    @hookimpl
    def pluto_kernel_del_policy(self, policy: PolicySpec) -> None:
        try:
            self._request("delete policy", codec.policy_id(policy), m.XFRM_MSG_DELPOLICY)
        except _Refused as exc:
            if exc.code in GONE:
                self.owned.drop_policy(policy)
            raise explain(exc.operation, exc.code, exc.extack) from None
        self.owned.drop_policy(policy)

    @hookimpl
    def pluto_kernel_migrate(self, old: PolicySpec, new: PolicySpec, moved: tuple[tuple[SaId, SaId], ...],
                             encap: Encap | None) -> None:
        try:
            self._request("migrate SA", codec.migrate(old, new, encap), m.XFRM_MSG_MIGRATE)
        except _Refused as exc:
            raise explain(exc.operation, exc.code, exc.extack) from None
        for was, now in moved:
            self.owned.move_sa(was, now)
        self.owned.retemplate(new)

    # ------------------------------------------------------------------ XFRM interfaces

    def _link_request(self, operation: str, msg: Any, msg_type: int, flags: int = 0) -> list[Any]:
        if self.nl is None:
            raise KernelError(operation, errno.EBADF, "the XFRM backend is not open")
        try:
            if self.rtnl is None:
                self.rtnl = XfrmSocket(protocol=links.NETLINK_ROUTE, marshal=links.marshal())
            return self.rtnl.request(msg, msg_type, flags)
        except NetlinkError as exc:
            raise _Refused(operation, exc.errno or 0, exc.extack) from None
        except OSError as exc:
            raise KernelError(operation, exc.errno, "cannot open a NETLINK_ROUTE socket") from None

    @hookimpl
    def pluto_kernel_add_interface(self, name: str, if_id: int) -> bool:
        try:
            existing = self._link_request("query interface", links.get_link(name), links.RTM_GETLINK)
        except _Refused as exc:
            if exc.code != errno.ENODEV:
                raise explain(exc.operation, exc.code, exc.extack) from None
            existing = []
        if existing:
            kind, have = links.link_kind(existing[0])
            if kind != "xfrm" or have != if_id:
                what = f"an XFRM interface with if_id {have}" if kind == "xfrm" else \
                    f"a device of kind {kind or 'none'}"
                raise KernelError("add XFRM interface", errno.EEXIST,
                                  f"{name} exists and is {what}, not an XFRM interface with if_id {if_id}")
            return False
        try:
            self._link_request("add XFRM interface", links.new_link(name, if_id), links.RTM_NEWLINK, links.CREATE)
        except _Refused as exc:
            if exc.code == errno.EOPNOTSUPP:
                raise KernelError(exc.operation, exc.code,
                                  "the kernel has no XFRM interfaces: load module xfrm_interface "
                                  "(CONFIG_XFRM_INTERFACE, Linux 4.19 or later)"
                                  + (f" (kernel: {exc.extack})" if exc.extack else "")) from None
            raise explain(exc.operation, exc.code, exc.extack) from None
        return True

    @hookimpl
    def pluto_kernel_del_interface(self, name: str) -> None:
        try:
            self._link_request("delete XFRM interface", links.del_link(name), links.RTM_DELLINK)
        except _Refused as exc:
            raise explain(exc.operation, exc.code, exc.extack) from None

    # ------------------------------------------------------------------ shutdown

    @hookimpl
    def pluto_kernel_flush_owned(self) -> int:
        if self.nl is None:
            return 0
        removed = 0
        failures: list[str] = []
        for policy in self.owned.all_policies():
            try:
                self._request("delete policy", codec.policy_id(policy), m.XFRM_MSG_DELPOLICY)
                removed += 1
            except _Refused as exc:
                if exc.code not in GONE:
                    failures.append(str(explain(exc.operation, exc.code, exc.extack)))
            self.owned.drop_policy(policy)
        for sa in self.owned.all_sas():
            try:
                self._request("delete SA", codec.sa_id(sa), m.XFRM_MSG_DELSA)
                removed += 1
            except _Refused as exc:
                if exc.code not in GONE:
                    failures.append(str(explain(exc.operation, exc.code, exc.extack)))
            self.owned.drop_sa(sa)
        if failures:
            raise KernelError("flush owned state", None, f"removed {removed}; " + "; ".join(failures))
        return removed

    # ------------------------------------------------------------------ NAT-T and events

    @hookimpl
    def pluto_kernel_enable_udp_encap(self, sock: socket.socket) -> None:
        try:
            sock.setsockopt(IPPROTO_UDP, UDP_ENCAP, m.UDP_ENCAP_ESPINUDP)
        except OSError as exc:
            raise KernelError("enable UDP encapsulation", exc.errno,
                              "the kernel refused UDP_ENCAP_ESPINUDP on the NAT-T socket (RFC 3948 needs "
                              "CONFIG_XFRM and a UDP socket)") from None

    @hookimpl
    def pluto_kernel_bypass_socket(self, sock: socket.socket) -> None:
        family = sock.family
        level, option = (0, 17) if family == socket.AF_INET else (41, 35)  # IP_/IPV6_XFRM_POLICY
        for direction in (0, 1):  # XFRM_POLICY_IN, XFRM_POLICY_OUT
            try:
                sock.setsockopt(level, option, socket_bypass_policy(family, direction))
            except OSError as exc:
                raise KernelError("set socket bypass policy", exc.errno,
                                  "the kernel refused a per-socket XFRM policy; IKE packets could be "
                                  "caught by a transport-mode SA") from None

    @hookimpl
    def pluto_kernel_event_fd(self) -> int | None:
        return self.events.fileno() if self.events is not None else None

    @hookimpl
    def pluto_kernel_read_events(self) -> list[KernelEvent]:
        if self.events is None:
            return []
        out: list[KernelEvent] = []
        for msg in self.events.read_pending():
            event = codec.event(msg)
            if event is None:
                continue
            if isinstance(event, Expire) and event.hard:
                self.owned.drop_sa(event.sa)  # the kernel has deleted it
            out.append(event)
        return out


def socket_bypass_policy(family: int, direction: int) -> bytes:
    """struct xfrm_userpolicy_info (168 octets) with action ALLOW and an empty
    selector: a per-socket policy that lets the socket's packets pass in the clear."""
    selector = bytes(40) + struct.pack("=H", family) + bytes(14)  # addrs, ports, family, rest zero
    infinite = (1 << 64) - 1
    lifetime_cfg = struct.pack("=8Q", infinite, infinite, infinite, infinite, 0, 0, 0, 0)
    lifetime_cur = bytes(32)
    tail = struct.pack("=IIBBBB", 0, 0, direction, 0, 0, 0) + bytes(4)  # priority, index, dir, ALLOW
    return selector + lifetime_cfg + lifetime_cur + tail


class _Refused(Exception):
    """Internal: a netlink refusal before it is explained."""

    def __init__(self, operation: str, code: int, extack: str) -> None:
        super().__init__(operation, code, extack)
        self.operation = operation
        self.code = code
        self.extack = extack
