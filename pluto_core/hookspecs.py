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
# Kernel backend (only the selected backend is registered)
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
def pluto_kernel_flush_owned() -> int:
    """Remove every SA and policy this daemon installed, and nothing else.

    Called on shutdown. Returns how many kernel objects were removed."""
    raise NotImplementedError


@hookspec(firstresult=True)
def pluto_kernel_close() -> None:
    """Release the kernel interface (sockets, threads). Called last."""
