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

from pluto_core import PLUGIN_PROJECT
from pluto_core.auth.hookspecs import (
    pluto_auth_authorize,
    pluto_auth_certificates,
    pluto_auth_check_chain,
    pluto_auth_fetch_crls,
    pluto_auth_load,
    pluto_auth_psk,
    pluto_auth_public_keys,
    pluto_auth_purge_ocsp,
    pluto_auth_signer,
    pluto_auth_trust_anchors,
)
from pluto_core.kernel.hookspecs import (
    pluto_kernel_acquire,
    pluto_kernel_add_interface,
    pluto_kernel_add_policy,
    pluto_kernel_add_sa,
    pluto_kernel_allocate_spi,
    pluto_kernel_bypass_socket,
    pluto_kernel_check_child,
    pluto_kernel_close,
    pluto_kernel_del_interface,
    pluto_kernel_del_policy,
    pluto_kernel_del_sa,
    pluto_kernel_enable_udp_encap,
    pluto_kernel_event_fd,
    pluto_kernel_expire,
    pluto_kernel_features,
    pluto_kernel_flush_owned,
    pluto_kernel_mapping,
    pluto_kernel_migrate,
    pluto_kernel_open,
    pluto_kernel_query_sa,
    pluto_kernel_read_events,
)

if TYPE_CHECKING:

    from pluto_core.ikev2.conn import EngineConn, MessageContext, TransportHint
    from pluto_core.ikev2.events import Event
    from pluto_core.ikev2.types import IdSpec
    from pluto_core.logger import LogRecord, LogSettings
    from pluto_core.options import Options

PROJECT = PLUGIN_PROJECT

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
    before the log sinks are closed. Exceptions are logged with the plugin's name
    and ignored; the other plugins are still called."""


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
    for long: it runs on the daemon's event loop. (One that raises is reported
    once, by name, through the other sinks, which still get every record.)"""


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
    appended in registration order. An exception is logged with the plugin's
    name; the message goes out without that plugin's payloads (the others' are
    in it)."""
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
    ``event`` is one of the classes of ``pluto_core.ikev2.events`` (``IkeUp``,
    ``IkeDown``, ``IkeFailed``, ``IkeRekeyed``, ``ChildUp``, ``ChildDown``,
    ``ChildFailed``, ``ReviveDue``) and ``event.kind`` names it as a
    string (``ike-up``, ``ike-down``, ``ike-failed``, ``ike-rekeyed``, ``child-up``,
    ``child-down``, ``child-failed``, ``revive-due``); ``event.conn`` and
    ``event.serial`` name the conn and the SA. On ``child-up`` and ``child-down``
    ``event.child`` (``pluto_core.ikev2.events.ChildInfo``) has the addresses,
    traffic selectors, SPIs, reqid and IDs (never keys), and on ``child-down`` the
    bytes the kernel counted. A Child SA rekey shows as the new Child SA's
    ``child-up`` and then the old one's ``child-down``. ``conn`` is the conn as
    the engine uses it (``None`` once deleted); ``conn.options`` holds the
    keywords plugins act on (``updown``...). Do not block: start work and
    return. An exception is logged with the plugin's name and ignored."""


# --------------------------------------------------------------------------
# Address sources (all plugins): the Configuration payload's leases
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def pluto_address_lease(conn: EngineConn, peer: IdSpec, version: int) -> str | None:
    """A road warrior ``peer`` (its authenticated ID) asked for an address of IP
    ``version`` (4 or 6) in IKE_AUTH on ``conn`` (``conn.name``, ``conn.options`` with
    ``addresspool`` and the conn's other keywords). Return the address as text, the same
    one for the same ID while it holds it; None lets the next source answer, and in the
    end the built-in ``addresspool=`` pool. The first answer wins. Called on the daemon's
    loop inside the exchange: answer from memory (a RADIUS or DHCP source fetches ahead
    or caches), never block. An exception is logged with the plugin's name and the next
    source is asked. Appeared in 0.3.0; ``docs/remote-access.md``."""


@hookspec
def pluto_address_release(conn: EngineConn, peer: IdSpec, address: str) -> None:
    """The last IKE SA of ``peer`` holding ``address``, which this plugin's
    ``pluto_address_lease`` gave, is gone. Only the plugin that leased it is called
    (by name). Do not block; an exception is logged and ignored. Appeared in 0.3.0."""


# --------------------------------------------------------------------------
# Kernel backend and kernel events: specified in pluto_core.kernel.hookspecs
# and collected here, so that this module stays the whole contract a plugin
# manager registers (``add_hookspecs(pluto_core.hookspecs)``).
# --------------------------------------------------------------------------

AUTH_HOOKS = (pluto_auth_load, pluto_auth_psk, pluto_auth_signer, pluto_auth_public_keys,
              pluto_auth_authorize, pluto_auth_certificates, pluto_auth_trust_anchors,
              pluto_auth_check_chain, pluto_auth_purge_ocsp, pluto_auth_fetch_crls)  # pluto_core.auth.hookspecs

KERNEL_HOOKS = (
    pluto_kernel_open, pluto_kernel_features, pluto_kernel_check_child, pluto_kernel_flush_owned,
    pluto_kernel_close, pluto_kernel_allocate_spi, pluto_kernel_add_sa, pluto_kernel_query_sa,
    pluto_kernel_del_sa, pluto_kernel_add_policy, pluto_kernel_del_policy, pluto_kernel_bypass_socket,
    pluto_kernel_enable_udp_encap, pluto_kernel_add_interface, pluto_kernel_del_interface,
    pluto_kernel_event_fd, pluto_kernel_read_events, pluto_kernel_acquire, pluto_kernel_expire,
    pluto_kernel_mapping,
    pluto_kernel_migrate,
)
