"""The kernel backend's hooks: the contract between pluto and the one
selected kernel backend (``pluto.kernel`` entry point), in the manner of
pytest's ``hookspec.py``.

Each spec says when it is called, with what, what it returns and whether
the first result wins (``firstresult``: only the selected backend is
registered, so its answer is the hook's result; with no implementation a
``firstresult`` hook returns None). Every hook here appeared in pluto 0.1.0
unless its docstring says otherwise.

These specs are registered with the plugin manager together with the rest
of the contract, under the same pluggy project name: they are collected into
:mod:`pluto_core.hookspecs`, which stays the place plugins import
``hookimpl`` from. The daemon and the engine reach the backend only through
:class:`pluto_core.kernel.port.Kernel`, never by calling these hooks
themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from pluto_core import PLUGIN_PROJECT

if TYPE_CHECKING:
    import socket

    from pluto_core.kernel.types import (
        Acquire,
        Encap,
        Expire,
        KernelEvent,
        KernelFeatures,
        Mapping,
        PolicySpec,
        SaCounters,
        SaId,
        SaSpec,
    )
    from pluto_core.options import Options

hookspec = pluggy.HookspecMarker(PLUGIN_PROJECT)


# --------------------------------------------------------------------------
# Kernel backend (only the selected backend is registered)
#
# The objects passed and returned are those of ``pluto_core.kernel.types``:
# backend-neutral, addresses as text, SPIs as plain numbers, algorithms as
# IKEv2 transform IDs. Every failure is a ``KernelError`` with the operation,
# the errno and a sentence for an operator. strongSwan's ``kernel_ipsec_t`` is
# the checklist; every backend passes ``tests/kernel/conformance.py``.
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def pluto_kernel_open(options: Options, log: Any) -> str:
    """Open the kernel interface and check that this kernel can do the work.

    Returns a one-line description for the start-up log (for example
    ``Using Linux XFRM/netlink IPsec kernel interface``). When the kernel
    cannot be used (no XFRM netlink, no PF_KEY family) raise
    :class:`pluto_core.errors.KernelError` whose text says why and what to
    load; the daemon prints it and exits with status 1.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_features() -> KernelFeatures:
    """What this backend can do beyond the primitives every backend implements,
    as one :class:`pluto_core.kernel.types.KernelFeatures`: extended sequence
    numbers (or the sentence why not), forward policies, whether
    ``pluto_kernel_check_child`` can refuse algorithms before negotiation, SA
    counters, kernel events, ESP in UDP, per-socket bypass.

    Asked once, after ``pluto_kernel_open``, by :class:`pluto_core.kernel.port.Kernel`;
    the answer must not change afterwards. Nobody probes which hooks a backend
    implements: what is declared absent is not called. Only the selected backend
    answers (first result wins); a backend that answers nothing is taken to
    implement no kernel hooks, and every kernel operation fails with ``ENOSYS``.
    New in pluto 0.2.0 (it replaces ``pluto_kernel_check_esn``, now
    ``KernelFeatures.esn_refusal``); Child SA assembly and rollback
    (``pluto_kernel_install_child``/``_remove_child`` in 0.1.0) moved out of the
    backends into the port at the same time."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_check_child(encr_id: int, key_bits: int | None, integ_id: int | None) -> str | None:
    """Whether this kernel can carry a Child SA with these transforms, asked
    before anything is negotiated (at ``ipsec add`` time, for every ``esp=``
    proposal of the connection) so that a connection the kernel cannot
    install is refused with a reason instead of failing after IKE_AUTH.

    ``encr_id`` is the IKEv2 ENCR transform ID, ``key_bits`` its key length
    (0: the transform's default), ``integ_id`` the INTEG transform ID (None
    or 0 with an AEAD). Returns None when the kernel can install it, else a
    sentence for the operator saying why not (for example Linux ``af_key``
    has no AEAD). Only the selected backend answers (first result wins); a
    backend that cannot tell returns None. Must not block: it may read what
    ``pluto_kernel_open`` learned (PF_KEY's SADB_REGISTER reply) but asks
    the kernel nothing. Asked only when the backend declares
    ``KernelFeatures.algorithm_check``."""


@hookspec(firstresult=True)
def pluto_kernel_flush_owned() -> int:
    """Remove every SA and policy this daemon installed, and nothing else.

    Called on shutdown. Returns how many kernel objects were removed."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_close() -> None:
    """Release the kernel interface (sockets, threads). Called last."""


@hookspec(firstresult=True)
def pluto_kernel_allocate_spi(src: str, dst: str, protocol: int) -> int:
    """Reserve an unused SPI for an inbound SA from ``src`` to ``dst`` (our
    address) and return it.

    ``protocol`` is the IKEv2 Protocol ID (RFC 7296 section 3.3.1: 2 AH,
    3 ESP); the IP protocol numbers 51 and 50 are accepted too. The SPI is
    at least 0x100 (RFC 4303 section 2.1). The kernel may hold a larval SA
    under it, which ``pluto_kernel_add_sa`` then completes; it is part of
    what ``pluto_kernel_flush_owned`` removes."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_add_sa(sa: SaSpec, update: bool) -> None:
    """Install one SA (keys, mode, ESN, replay window, lifetimes, NAT-T
    encapsulation, mark, ``if_id``).

    ``update`` True replaces an existing SA of the same destination, SPI and
    protocol; an SA whose SPI came from ``pluto_kernel_allocate_spi`` is
    completed either way. The backend records the SA as its own. A kernel
    without the protocol or an algorithm raises a ``KernelError`` saying
    which module is missing (for example ``the kernel lacks ESP support:
    load module esp4/esp6``)."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_query_sa(sa: SaId) -> SaCounters:
    """Bytes and packets through an SA, when it was added and last used
    (for ``ipsec trafficstatus``). A missing SA is a ``KernelError``."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_del_sa(sa: SaId) -> None:
    """Delete one SA and forget it. A missing SA is a ``KernelError`` with
    errno ``ENOENT`` or ``ESRCH`` (callers that do not care catch it)."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_add_policy(policy: PolicySpec, update: bool) -> None:
    """Install one policy (direction in, out or fwd; priority; tunnel or
    transport templates; action ipsec, pass or drop).

    An ``ipsec`` policy with no SA behind it is a trap: matching traffic
    raises an ACQUIRE (``auto=ondemand``). ``update`` True replaces a policy
    with the same selector, direction, mark and ``if_id`` (or adds it);
    False refuses to replace one (``EEXIST``). Recorded as this daemon's."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_del_policy(policy: PolicySpec) -> None:
    """Delete the policy with this selector, direction, mark and ``if_id``
    (priority, action and templates are ignored) and forget it."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_migrate(old: PolicySpec, new: PolicySpec, moved: tuple[tuple[SaId, SaId], ...],
                         encap: Encap | None) -> None:
    """Move one installed Child SA policy and the SAs behind it to new end
    points, in place (MOBIKE, RFC 4555 section 3.5: the peer or we changed
    address). ``old`` is the policy as installed (found by selector, direction,
    mark and ``if_id``), ``new`` the same policy with its tunnel templates'
    new addresses. The SAs ``old``'s templates reach (same protocol, mode,
    reqid and old end points) move with it, keeping their keys, sequence
    numbers and replay window (a Delete and Add would restart them, and the
    peer would drop what follows as replays); ``moved`` names each such SA
    before and after, so the backend can keep its record of what it owns.
    An SA already moved by an earlier call (the ``fwd`` policy after the
    ``in`` one) is simply not found again. ``encap`` is the moved SAs' new
    ESP-in-UDP ports (None: as they were).

    Tunnel mode only: transport-mode templates carry no addresses. Asked only
    when the backend declares no ``KernelFeatures.migrate_refusal``. A kernel
    without the operation (Linux without ``CONFIG_XFRM_MIGRATE``) raises a
    ``KernelError`` that says so."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_add_interface(name: str, if_id: int) -> bool:
    """Make the XFRM interface ``name`` (``ipsecN``) with ``if_id`` exist and be up.

    Returns True when it was created now (the daemon deletes it when its last conn goes),
    False when an XFRM interface of that name and ``if_id`` already existed (used as is and
    never deleted: the operator's). A device of that name of another kind or ``if_id``, or
    a kernel without XFRM interfaces, is a ``KernelError``. Asked only when the backend
    declares no ``KernelFeatures.if_id_refusal``."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_del_interface(name: str) -> None:
    """Delete the XFRM interface ``name`` that ``pluto_kernel_add_interface`` created.
    One already gone is a ``KernelError`` with errno ``ENODEV``."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_bypass_socket(sock: socket.socket) -> None:
    """Exempt one IKE socket from IPsec policy, both directions, so that IKE
    messages are never themselves protected (a transport-mode Child SA between
    the same two addresses would otherwise catch them). Called for every IKE
    socket at start-up. Raise ``KernelError`` when the kernel refuses."""


@hookspec(firstresult=True)
def pluto_kernel_enable_udp_encap(sock: socket.socket) -> None:
    """Make the kernel take ESP-in-UDP (RFC 3948) arriving on ``sock``, the
    daemon's port-4500 socket (Linux: ``UDP_ENCAP_ESPINUDP``). Called once
    per NAT-T socket right after it is bound."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_event_fd() -> int | None:
    """The file descriptor kernel events arrive on, or None when the backend
    has none. The daemon watches it on its event loop
    (``loop.add_reader``) and calls ``pluto_kernel_read_events`` whenever it
    is readable."""


@hookspec(firstresult=True)
def pluto_kernel_read_events() -> list[KernelEvent]:
    """Every kernel event waiting now, without blocking, as
    ``pluto_core.kernel.types`` events (``Acquire``, ``Expire``,
    ``Mapping``). The daemon dispatches each one with
    ``getattr(hook, event.hook)(event=event)``. A hard expire has already
    removed the SA from the backend's record."""
    raise NotImplementedError


# --------------------------------------------------------------------------
# Kernel events (every registered plugin sees them; the engine acts on them)
# --------------------------------------------------------------------------


@hookspec
def pluto_kernel_acquire(event: Acquire) -> None:
    """Traffic hit a trap policy (``auto=ondemand``): start negotiating the
    connection whose policy has ``event.reqid``, for the packet's
    ``event.sel_src``/``sel_dst``. Called on the daemon's loop."""


@hookspec
def pluto_kernel_expire(event: Expire) -> None:
    """An SA reached a lifetime limit. ``event.hard`` False: rekey the Child
    SA now; True: the kernel deleted it, so delete the Child SA (and tell the
    peer). Called on the daemon's loop."""


@hookspec
def pluto_kernel_mapping(event: Mapping) -> None:
    """ESP in UDP for ``event.sa`` arrived from a new address or port (the
    peer's NAT mapping changed, RFC 3948 section 5.2): move the IKE SA to
    ``event.new_src``/``new_sport``. Called on the daemon's loop."""
