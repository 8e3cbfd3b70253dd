"""The plugin contract of pluto: every hook a plugin may implement.

Plugin authors read this file and ``docs/plugins.md``, nothing else.

Plugins are found through entry points (see :mod:`pluto_core.plugins`):

* group ``pluto.kernel``: kernel backends. Exactly one is selected per
  daemon (``--use-xfrm``, ``--use-bsdkame`` or ``--kernel-backend NAME``)
  and only that one is registered, so the ``pluto_kernel_*`` hooks have a
  single implementation and return its result.
* group ``pluto.plugins``: everything else (log sinks, authentication
  sources, NAT-T, third-party extensions). All of them are registered.

An entry point names either a module or an object whose attributes are
hook implementations, marked with :data:`hookimpl`::

    from pluto_core.hookspecs import hookimpl

    class MySink:
        @hookimpl
        def pluto_log_record(self, record):
            ...

    plugin = MySink()

Hook arguments are passed by keyword; an implementation may accept any
subset of the arguments a spec names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import socket

    from pluto_core.ikev2.conn import ChildInstall, EngineConn, MessageContext, TransportHint
    from pluto_core.ikev2.events import Event
    from pluto_core.kernel_types import Acquire, Expire, KernelEvent, Mapping, PolicySpec, SaCounters, SaId, SaSpec
    from pluto_core.logger import LogRecord, LogSettings
    from pluto_core.options import Options

PROJECT = "pluto"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------
# Life cycle
# --------------------------------------------------------------------------


@hookspec
def pluto_startup(options: Options, log: Any) -> None:
    """Called once in the daemon process, after logging is set up and the
    kernel backend is open, before ``Pluto initialized``.

    ``options`` is the frozen result of the command line merged with
    ``config setup``; ``log`` is the daemon's :class:`pluto_core.logger.Logger`.
    Raising here stops start-up: the daemon reports the plugin's name and the
    error and exits with status 1.
    """


@hookspec
def pluto_shutdown() -> None:
    """Called once when the daemon shuts down (SIGTERM, ``ipsec stop``),
    after the kernel backend has removed what the daemon installed and
    before the log sinks are closed. Exceptions are logged and ignored."""


# --------------------------------------------------------------------------
# Log sinks (all registered sinks see every record; each decides whether it
# is active from the settings)
# --------------------------------------------------------------------------


@hookspec
def pluto_log_configure(settings: LogSettings) -> None:
    """Called before the first record and again whenever the log settings
    change. A sink opens (or closes) its destination here: for example the
    file sink opens ``settings.logfile``, truncating it when
    ``settings.append`` is false. An exception stops start-up with status 1
    and a message naming the sink."""


@hookspec
def pluto_log_record(record: LogRecord) -> None:
    """Called for every log record that passed the debug-class filter.

    ``record.text`` never holds keys, nonces or pre-shared keys: the engine
    does not put them there. Use :func:`pluto_core.logger.format_line` for
    the standard ``[time: ]text`` layout. Must not raise and must not block
    for long: it runs on the daemon's event loop."""


@hookspec
def pluto_log_close() -> None:
    """Called once at shutdown: flush and close the destination."""


# --------------------------------------------------------------------------
# IKE messages (all plugins): add payloads to what we send, read what we receive
# --------------------------------------------------------------------------


@hookspec
def pluto_ike_build(context: MessageContext) -> list[Any]:
    """Called for every IKE message the daemon sends, before it is encoded and
    encrypted. Return payloads (``pluto_core.ikev2.payloads`` objects) to append,
    or an empty list. ``context`` says which exchange, request or response, the
    conn, the IKE SA serial and the addresses. Results of all plugins are
    appended in registration order. An exception is logged; the message goes
    out without that plugin's payloads."""
    return []


@hookspec
def pluto_ike_read(context: MessageContext, payloads: list[Any]) -> list[TransportHint] | None:
    """Called for every IKE message received on an IKE SA, after it was
    authenticated and decrypted (IKE_SA_INIT: as received), before the engine
    processes it. Read only: do not change ``payloads``. May return
    ``pluto_core.ikev2.conn.TransportHint`` objects that change how the IKE SA's
    packets travel (NAT traversal: move to UDP 4500, ESP in UDP, keepalives,
    follow the peer's address); the engine merges those of every plugin.
    ``context.spi_i``/``spi_r`` are the message's SPIs, ``context.options`` the
    conn's keywords an extension may need (``encapsulation``, ``nat-keepalive``)."""


# --------------------------------------------------------------------------
# SA events (all plugins): updown scripts, metrics, alerts
# --------------------------------------------------------------------------


@hookspec
def pluto_event(event: Event, conn: EngineConn | None) -> None:
    """Called on the daemon's loop for every SA event, after the engine acted:
    ``event.kind`` is ``ike-up``, ``ike-down``, ``ike-failed``, ``ike-rekeyed``,
    ``child-up``, ``child-down`` or ``child-failed``; ``event.conn`` and
    ``event.serial`` name the conn and the SA. On ``child-up`` and ``child-down``
    ``event.child`` (``pluto_core.ikev2.events.ChildInfo``) has the addresses,
    traffic selectors, SPIs, reqid and IDs (never keys), and on ``child-down`` the
    bytes the kernel counted. A Child SA rekey shows as the new Child SA's
    ``child-up`` and then the old one's ``child-down``. ``conn`` is the conn as
    the engine uses it (``None`` once deleted); ``conn.options`` holds the
    keywords plugins act on (``updown``...). Do not block: start work and
    return. An exception is logged with the plugin's name and ignored."""


# --------------------------------------------------------------------------
# Kernel backend (only the selected backend is registered)
#
# The objects passed and returned are those of ``pluto_core.kernel_types``:
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
def pluto_kernel_check_esn() -> str | None:
    """Whether this kernel can install Child SAs with 64-bit extended sequence
    numbers (RFC 4303 section 2.2.1). None: it can; else a sentence saying why
    not (PF_KEY v2 has no field for them). Asked at ``ipsec add`` time like
    ``pluto_kernel_check_child``, so that ESN=1 is not offered to a peer that
    would pick it."""


@hookspec(firstresult=True)
def pluto_kernel_check_child(encr_id: int, key_bits: int, integ_id: int | None) -> str | None:
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
    the kernel nothing."""


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
def pluto_kernel_install_child(child: ChildInstall) -> None:
    """Install everything one Child SA needs: its inbound and outbound SAs
    and the out/in/fwd policies of every pair of traffic selectors
    (``pluto_core.kernel_types.plan_child``).

    Called by the engine through ``pluto_core.kernel_port``. All or nothing:
    on failure what this call installed is removed again and the
    ``KernelError`` propagates. Policies are shared between Child SAs with the
    same selectors (a rekey), so they are counted, not duplicated."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_remove_child(child: ChildInstall) -> None:
    """Undo ``pluto_kernel_install_child``: delete both SAs and drop this
    Child SA's hold on its policies (deleting those no other Child SA holds).
    What is already gone is not an error."""
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
    ``pluto_core.kernel_types`` events (``Acquire``, ``Expire``,
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
