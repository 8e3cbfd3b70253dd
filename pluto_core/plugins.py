"""Plugin discovery (stevedore over entry points) and dispatch (pluggy).

Two entry-point groups: ``pluto.kernel`` (backends; the selected one alone is
registered) and ``pluto.plugins`` (all registered). A plugin that fails to
import is recorded with its error and reported by name; it stops the daemon
only when it is the selected kernel backend.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import pluggy
from stevedore import ExtensionManager

from pluto_core import hookspecs
from pluto_core.errors import PlutoError

KERNEL_GROUP = "pluto.kernel"
PLUGIN_GROUP = "pluto.plugins"
AUTH_GROUP = "pluto.auth"  # authentication sources (pluto_core.auth): asked when auth-sources= names them


class BackendUnavailable(PlutoError):
    """The selected kernel backend is not installed or failed to import."""


@dataclass(slots=True)
class PluginInfo:
    group: str
    name: str
    target: str
    obj: Any = None
    error: str | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class PluginSet:
    """What discovery found, and the pluggy manager holding what was registered."""

    manager: pluggy.PluginManager
    infos: list[PluginInfo] = field(default_factory=list)
    backend: PluginInfo | None = None

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos if info.error is not None]

    def listing(self) -> str:
        """The text of ``ipsec pluto --list-plugins``."""
        lines = []
        for group in (KERNEL_GROUP, PLUGIN_GROUP, AUTH_GROUP):
            lines.append(f"{group}:")
            members = [i for i in self.infos if i.group == group]
            if not members:
                lines.append("  (none found)")
            for info in sorted(members, key=lambda i: i.name):
                if info.error is not None:
                    status = f"FAILED: {info.error}"
                elif group == KERNEL_GROUP:
                    status = "selected" if info is self.backend else "available"
                else:
                    status = "loaded"
                lines.append(f"  {info.name:<18} {info.target:<45} {status}")
        return "\n".join(lines)


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if str(exc) else text


def _discover(group: str) -> list[PluginInfo]:
    infos: dict[str, PluginInfo] = {}

    def failed(_manager: Any, entrypoint: Any, exc: BaseException) -> None:
        infos[entrypoint.name] = PluginInfo(group, entrypoint.name, entrypoint.value, error=_describe(exc))

    manager: ExtensionManager[Any] = ExtensionManager(
        group, invoke_on_load=False, on_load_failure_callback=failed
    )
    for ext in manager.extensions:
        infos[ext.name] = PluginInfo(group, ext.name, ext.entry_point.value, obj=ext.plugin)
    return sorted(infos.values(), key=lambda i: i.name)


def _instantiate(info: PluginInfo) -> Any:
    """A class entry point is instantiated; a module or object is used as is."""
    if inspect.isclass(info.obj):
        try:
            return info.obj()
        except Exception as exc:  # a third party's constructor: report, never crash
            info.error = _describe(exc)
            return None
    return info.obj


def load_plugins(backend_name: str) -> PluginSet:
    """Discover both groups, register every plugin and the selected backend.

    Raises :class:`BackendUnavailable` when the backend is missing or broken.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = PluginSet(manager)
    kernel_infos = _discover(KERNEL_GROUP)
    plugin_infos = _discover(PLUGIN_GROUP) + _discover(AUTH_GROUP)
    plugins.infos = kernel_infos + plugin_infos
    for info in plugin_infos:
        if info.error is None:
            _register(manager, info)
    chosen = next((i for i in kernel_infos if i.name == backend_name), None)
    if chosen is None:
        names = ", ".join(i.name for i in kernel_infos) or "none"
        raise BackendUnavailable(
            f"kernel backend '{backend_name}' is not installed "
            f"(no '{KERNEL_GROUP}' entry point of that name; installed: {names})"
        )
    if chosen.error is None:
        _register(manager, chosen)
    if chosen.error is not None:
        raise BackendUnavailable(f"kernel backend '{backend_name}' failed to load: {chosen.error}")
    plugins.backend = chosen
    return plugins


def _register(manager: pluggy.PluginManager, info: PluginInfo) -> None:
    obj = _instantiate(info)
    if obj is None:
        return
    try:
        manager.register(obj, name=f"{info.group}:{info.name}")
    except Exception as exc:  # pluggy rejects unknown hooks or bad signatures
        info.error = _describe(exc)


def discover_only() -> PluginSet:
    """For ``--list-plugins`` when the backend itself may be missing: no registration."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return PluginSet(manager, _discover(KERNEL_GROUP) + _discover(PLUGIN_GROUP) + _discover(AUTH_GROUP))


def call_each(caller: Any, on_error: Any, **kwargs: Any) -> list[Any]:
    """Call every implementation of one hook on its own, in pluggy's order: one that raises is
    handed to ``on_error(plugin_name, exc)`` and the others still run. The non-None results.
    For hooks whose plugins must not stop one another (events, message extensions, log sinks,
    shutdown): pluggy's own call stops at the first exception."""
    results = []
    for impl in reversed(caller.get_hookimpls()):
        try:
            result = impl.function(**{name: kwargs[name] for name in impl.argnames if name in kwargs})
        except Exception as exc:  # a plugin's bug: reported by name, never the daemon's end
            on_error(impl.plugin_name, exc)
            continue
        if result is not None:
            results.append(result)
    return results
