"""The ``bsdkame`` entry point: the kernel hooks of ``pluto_core.hookspecs``
over a PF_KEY v2 socket (RFC 2367 with the KAME extensions).

Two sockets, as with XFRM: requests go out on one and are answered
synchronously (:mod:`pluto_bsdkame.pfkey`); the other is registered
(SADB_REGISTER) for ESP, and AH once an AH SA is used, so that the kernel
sends it ACQUIRE, EXPIRE and NAT-T mapping messages; the daemon watches its
descriptor. The REGISTER reply lists the kernel's algorithms, which
``pluto_kernel_check_child`` uses to refuse a connection the kernel cannot
carry before anything is negotiated.

On Linux this runs over ``af_key``; a kernel without PF_KEY stops start-up
with a sentence saying so (exit 1).
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Hashable
from typing import Any

from pluto_bsdkame import codec
from pluto_bsdkame.algorithms import PLATFORMS, Supported, refusal, sa_algorithms
from pluto_bsdkame.constants import UDP_ENCAP_ESPINUDP, MsgType, SaType
from pluto_bsdkame.errors import NO_PFKEY, explain, lacks_algorithm, lacks_protocol
from pluto_bsdkame.layout import Layout, host_layout
from pluto_bsdkame.messages import Message
from pluto_bsdkame.pfkey import PfkeyRefused, PfkeySocket, next_seq
from pluto_bsdkame.reqids import ReqidMap
from pluto_core.errors import KernelError
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.enums import EncrId, IntegId
from pluto_core.kernel.owned import OwnedRecord, sa_key
from pluto_core.kernel.types import (
    IPPROTO_AH,
    IPPROTO_ESP,
    Direction,
    Expire,
    KernelEvent,
    KernelFeatures,
    PolicySpec,
    SaCounters,
    SaId,
    SaSpec,
    sa_id,
)

AF_KEY = getattr(socket, "AF_KEY", 15)  # 15 on Linux and the BSDs
PF_KEY_V2 = 2  # RFC 2367 section 2: the protocol argument of socket(2)
GONE = (errno.ENOENT, errno.ESRCH)
REGISTER_TIMEOUT = 120.0  # the first REGISTER after boot probes every crypto module (30 s under TCG)
_IKE_PROTOCOL = {2: IPPROTO_AH, 3: IPPROTO_ESP}  # RFC 7296 section 3.3.1 Protocol ID -> IP protocol


def policy_key(policy: PolicySpec) -> Hashable:
    """What names a policy in the kernel: selector and direction (PF_KEY has
    no marks or interface ids)."""
    return (policy.src, policy.dst, policy.direction, policy.proto, policy.sport, policy.dport)


class BsdKameBackend:
    """PF_KEY v2. Usable without the daemon: ``pluto_kernel_open`` then the hooks.
    ``layout`` defaults to this host's kernel."""

    name = "bsdkame"

    def __init__(self, layout: Layout | None = None) -> None:
        self.layout = layout or host_layout()
        self.platform = PLATFORMS.get(self.layout.name) if self.layout is not None else None
        self.sock: PfkeySocket | None = None
        self.events: PfkeySocket | None = None
        self.owned = OwnedRecord(policy_key)
        self.policy_ids: dict[Hashable, int] = {}
        self.reqids = ReqidMap()
        self.supported: dict[int, Supported] = {}
        self.log: Any = None

    # ------------------------------------------------------------------ life cycle

    @hookimpl
    def pluto_kernel_open(self, options: Any, log: Any) -> str:
        if self.layout is None:
            raise KernelError(
                "open PF_KEY v2 socket",
                errno.EAFNOSUPPORT,
                f"{sys.platform} does not speak the KAME PF_KEY dialect this backend needs",
            )
        self.log = log
        try:
            self.sock = PfkeySocket(self.layout)
            self.events = PfkeySocket(self.layout, keep_others=True)
        except OSError as exc:
            self.pluto_kernel_close()
            raise KernelError("open PF_KEY v2 socket", exc.errno, NO_PFKEY) from None
        try:
            self._register(SaType.ESP)
        except KernelError:
            self.pluto_kernel_close()
            raise
        where = "Linux af_key" if self.layout.name == "linux" else self.layout.name
        return f"Using KAME PF_KEY v2 IPsec kernel interface ({where})"

    @hookimpl
    def pluto_kernel_close(self) -> None:
        for sock in (self.sock, self.events):
            if sock is not None:
                sock.close()
        self.sock = self.events = None

    def _register(self, sa_type: int) -> None:
        """SADB_REGISTER on the event socket: from now on it receives this SA
        type's ACQUIRE and EXPIRE; the reply says which algorithms exist."""
        if sa_type in self.supported:
            return
        if self.events is None:
            raise KernelError("register", errno.EBADF, "the PF_KEY backend is not open")
        try:
            reply = self.events.request(
                "register", codec.register(sa_type, next_seq(), self.events.pid), timeout=REGISTER_TIMEOUT
            )
        except PfkeyRefused as exc:
            raise explain("register", exc.code) from None
        self.supported[sa_type] = codec.supported_of(reply)

    def _request(self, operation: str, msg: Message, reply_types: tuple[int, ...] = ()) -> Message:
        if self.sock is None:
            raise KernelError(operation, errno.EBADF, "the PF_KEY backend is not open")
        return self.sock.request(operation, msg, reply_types=reply_types)

    def _seq(self) -> tuple[int, int]:
        assert self.sock is not None
        return next_seq(), self.sock.pid

    @hookimpl
    def pluto_kernel_check_child(self, encr_id: int, key_bits: int, integ_id: int | None) -> str | None:
        if self.platform is None:
            return "this system has no KAME PF_KEY"
        return refusal(self.platform, encr_id, key_bits, integ_id, self.supported.get(SaType.ESP))

    @hookimpl
    def pluto_kernel_features(self) -> KernelFeatures:
        # RFC 2367's sadb_sa has a 32-bit replay counter and no ESN flag; the KAME
        # extensions of Linux af_key add none either. The BSDs have no forward
        # policies; the REGISTER reply lets check_child refuse algorithms early.
        return KernelFeatures(esn_refusal="PF_KEY v2 carries no extended sequence numbers (ESN)",
                              fwd_policies=self.layout is not None and self.layout.has_fwd,
                              algorithm_check=True,
                              if_id_refusal="not with this backend: PF_KEY v2 has no XFRM interfaces or "
                                            "if_id (an XFRM feature): use --use-xfrm",
                              mark_refusal="not with this backend: KAME PF_KEY has no mark extension "
                                           "(an XFRM feature): use --use-xfrm",
                              migrate_refusal="not with this backend: KAME PF_KEY v2 cannot move an SA to "
                                              "new addresses in place (RFC 2367 has no such message): "
                                              "use --use-xfrm for MOBIKE")

    # ------------------------------------------------------------------ SAs

    @hookimpl
    def pluto_kernel_allocate_spi(self, src: str, dst: str, protocol: int) -> int:
        proto = _IKE_PROTOCOL.get(protocol, protocol)
        self._register(codec.satype(proto))
        seq, pid = self._seq()
        try:
            reply = self._request("allocate SPI", codec.getspi(src, dst, proto, seq, pid))
        except PfkeyRefused as exc:
            raise explain("allocate SPI", exc.code) from None
        spi = codec.spi_of(reply)
        self.owned.add_sa(SaId(dst, spi, proto, None, src), larval=True)
        return spi

    def _refuse_unexpressible(self, operation: str, sa: SaSpec) -> None:
        if sa.mark is not None or sa.if_id:
            raise KernelError(
                operation,
                errno.EOPNOTSUPP,
                "PF_KEY has no marks or interface ids (an XFRM feature): use --use-xfrm",
            )
        if sa.esn:
            raise KernelError(
                operation,
                errno.EOPNOTSUPP,
                "PF_KEY v2 carries no extended sequence numbers (ESN): configure esn=no, or use --use-xfrm",
            )

    @hookimpl
    def pluto_kernel_add_sa(self, sa: SaSpec, update: bool) -> None:
        assert self.platform is not None and self.layout is not None
        ident = sa_id(sa)
        larval = self.owned.is_larval(ident)
        operation = "update SA" if (update or larval) else "add SA"
        sa_type = codec.satype(sa.proto)
        self._register(sa_type)
        algs = sa_algorithms(sa, self.platform, self.supported.get(sa_type), operation)
        self._refuse_unexpressible(operation, sa)
        seq, pid = self._seq()
        msg = codec.add_sa(sa, update or larval, algs, seq, pid, self.layout, self.reqids.kernel)
        try:
            self._request(operation, msg)
        except PfkeyRefused as exc:
            if operation == "update SA" and exc.code in GONE and not update:
                # the larval SA of GETSPI timed out (net.core.xfrm_acq_expires on Linux): add it afresh
                self.owned.drop_sa(ident)
                return self.pluto_kernel_add_sa(sa=sa, update=False)
            raise self._sa_error(operation, sa, exc.code) from None
        self.owned.add_sa(ident)
        return None

    def _sa_error(self, operation: str, sa: SaSpec, code: int) -> KernelError:
        if code == errno.EPROTONOSUPPORT:
            return lacks_protocol(operation, sa.proto, code)
        if code == errno.ENOSYS:
            names = [_name(EncrId, sa.encr)] if sa.encr else []
            names += [_name(IntegId, sa.integ)] if sa.integ else []
            return lacks_algorithm(operation, names, code)
        return explain(operation, code)

    def _source_of(self, sa: SaId) -> str | None:
        known = self.owned.sas.get(sa_key(sa))
        return sa.src or (known.src if known is not None else None)

    @hookimpl
    def pluto_kernel_query_sa(self, sa: SaId) -> SaCounters:
        seq, pid = self._seq()
        try:
            reply = self._request(
                "query SA",
                codec.sa_request(MsgType.GET, sa, seq, pid, self._source_of(sa)),
                reply_types=(MsgType.GET, MsgType.DUMP),
            )
        except PfkeyRefused as exc:
            raise explain("query SA", exc.code) from None
        return codec.counters(reply)

    @hookimpl
    def pluto_kernel_del_sa(self, sa: SaId) -> None:
        seq, pid = self._seq()
        msg = codec.sa_request(MsgType.DELETE, sa, seq, pid, self._source_of(sa))
        try:
            self._request("delete SA", msg)
        except PfkeyRefused as exc:
            if exc.code in GONE:
                self.owned.drop_sa(sa)
            raise explain("delete SA", exc.code) from None
        self.owned.drop_sa(sa)

    # ------------------------------------------------------------------ policies

    def _check_policy(self, operation: str, policy: PolicySpec) -> None:
        assert self.layout is not None
        if policy.mark is not None or policy.if_id:
            raise KernelError(
                operation,
                errno.EOPNOTSUPP,
                "PF_KEY has no marks or interface ids (an XFRM feature): use --use-xfrm",
            )
        if policy.direction is Direction.FWD and not self.layout.has_fwd:
            raise KernelError(
                operation, errno.EOPNOTSUPP, f"the {self.layout.name} kernel has no forward policies"
            )

    def _put_policy(self, operation: str, policy: PolicySpec, update: bool) -> None:
        assert self.layout is not None
        self._check_policy(operation, policy)
        seq, pid = self._seq()
        msg = codec.add_policy(policy, update, seq, pid, self.layout, self.reqids.kernel)
        try:
            reply = self._request(operation, msg)
        except PfkeyRefused as exc:
            raise explain(operation, exc.code) from None
        self.policy_ids[policy_key(policy)] = codec.policy_id_of(reply)

    @hookimpl
    def pluto_kernel_add_policy(self, policy: PolicySpec, update: bool) -> None:
        self._put_policy("update policy" if update else "add policy", policy, update)
        self.owned.keep_policy(policy)

    def _delete_policy(self, policy: PolicySpec) -> None:
        """SPDDELETE2 by the id the kernel gave it, else SPDDELETE by selector."""
        assert self.layout is not None
        key = policy_key(policy)
        policy_id = self.policy_ids.pop(key, 0)
        if policy_id:
            seq, pid = self._seq()
            try:
                self._request(
                    "delete policy", codec.delete_policy_by_id(policy_id, policy.direction, seq, pid)
                )
                return
            except PfkeyRefused as exc:
                if exc.code not in GONE:
                    raise
        seq, pid = self._seq()
        self._request("delete policy", codec.delete_policy(policy, seq, pid, self.layout))

    @hookimpl
    def pluto_kernel_del_policy(self, policy: PolicySpec) -> None:
        self._check_policy("delete policy", policy)
        try:
            self._delete_policy(policy)
        except PfkeyRefused as exc:
            if exc.code in GONE:
                self.owned.drop_policy(policy)
            raise explain("delete policy", exc.code) from None
        self.owned.drop_policy(policy)

    # ------------------------------------------------------------------ shutdown and status

    @hookimpl
    def pluto_kernel_flush_owned(self) -> int:
        """Delete what the record holds, one by one: SADB_FLUSH/SPDFLUSH would
        remove every daemon's state, so they are never sent."""
        if self.sock is None:
            return 0
        removed = 0
        failures: list[str] = []
        for policy in self.owned.all_policies():
            try:
                self._delete_policy(policy)
                removed += 1
            except PfkeyRefused as exc:
                if exc.code not in GONE:
                    failures.append(str(explain("delete policy", exc.code)))
            self.owned.drop_policy(policy)
        for sa in self.owned.all_sas():
            seq, pid = self._seq()
            try:
                self._request("delete SA", codec.sa_request(MsgType.DELETE, sa, seq, pid, sa.src))
                removed += 1
            except PfkeyRefused as exc:
                if exc.code not in GONE:
                    failures.append(str(explain("delete SA", exc.code)))
            self.owned.drop_sa(sa)
        if failures:
            raise KernelError("flush owned state", None, f"removed {removed}; " + "; ".join(failures))
        return removed

    def dump_sas(self, sa_type: int = SaType.UNSPEC) -> list[Message]:
        """SADB_DUMP (RFC 2367 section 3.1.10), for status: every SA of the
        type (UNSPEC: all) in this namespace, ours or not."""
        if self.sock is None:
            raise KernelError("dump SAs", errno.EBADF, "the PF_KEY backend is not open")
        try:
            return self.sock.dump("dump SAs", codec.dump(sa_type, *self._seq()))
        except PfkeyRefused as exc:
            raise explain("dump SAs", exc.code) from None

    def dump_policies(self) -> list[Message]:
        """SADB_X_SPDDUMP: every policy, ours or not."""
        if self.sock is None:
            raise KernelError("dump policies", errno.EBADF, "the PF_KEY backend is not open")
        try:
            return self.sock.dump("dump policies", codec.spd_dump(*self._seq()))
        except PfkeyRefused as exc:
            raise explain("dump policies", exc.code) from None

    # ------------------------------------------------------------------ NAT-T and events

    @hookimpl
    def pluto_kernel_enable_udp_encap(self, sock: socket.socket) -> None:
        assert self.layout is not None
        try:
            sock.setsockopt(socket.IPPROTO_UDP, self.layout.udp_encap_option, UDP_ENCAP_ESPINUDP)
        except OSError as exc:
            raise KernelError(
                "enable UDP encapsulation",
                exc.errno,
                "the kernel refused UDP_ENCAP_ESPINUDP on the NAT-T socket (RFC 3948)",
            ) from None

    @hookimpl
    def pluto_kernel_event_fd(self) -> int | None:
        return self.events.fileno() if self.events is not None else None

    def _policy_by_id(self, policy_id: int) -> PolicySpec | None:
        for key, known in self.policy_ids.items():
            if known == policy_id:
                held = self.owned.policies.get(key)
                return held.policy if held is not None else None
        return None

    def _sa_by_spi(self, spi: int) -> SaId | None:
        return next((sa for sa in self.owned.sas.values() if sa.spi == spi), None)

    @hookimpl
    def pluto_kernel_read_events(self) -> list[KernelEvent]:
        if self.events is None:
            return []
        out: list[KernelEvent] = []
        for msg in self.events.read_pending():
            event = codec.event(
                msg, policy_by_id=self._policy_by_id, sa_by_spi=self._sa_by_spi, our_reqid=self.reqids.ours
            )
            if event is None:
                continue
            if isinstance(event, Expire) and event.hard:
                self.owned.drop_sa(event.sa)  # the kernel has deleted it
            out.append(event)
        if self.events.malformed and self.log is not None:
            for text in self.events.malformed:
                self.log.log(f"| PF_KEY: ignored a malformed kernel message: {text}")
        self.events.malformed.clear()
        return out


def _name(enum: type[EncrId] | type[IntegId], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)
