"""The entry points that load a configuration file: ``load_config()`` (the daemon's), ``parse_config()``
(every error, for checkconfig) and ``parse_config_in_force()``. A path ending in ``.yaml``/``.yml``
is read by ``yaml_conf``, any other by ``loader`` (the ipsec.conf format), into the same model.

A conn whose values are wrong (``rekeymargin=0xA``) does not stop the load: Libreswan rejects
that conn when it is added, so it lands in ``IpsecConf.failed`` with its error.

A conn pluto cannot run exactly as written (``admission.refusal``: IKEv1, public-key
authentication, a keyword whose value changes the wire or the kernel in a way pluto does not
implement) lands in ``IpsecConf.refused`` with the reason at the keyword's file:line, and
carries it as ``Connection.refusal``: ``to_engine_conn`` raises it, so no path can run it.

A keyword pluto accepts but does not act on yet, and that is harmless to ignore, gets one
notice per file in ``IpsecConf.notices`` (kept apart from ``warnings``, which are Libreswan's own words).

The modules form one direction: ``ipsec_conf`` -> ``yaml_conf`` -> ``loader`` -> ``admission``,
``connection`` -> ``setting``, ``keywords`` (docs/architecture.md, "Import contract").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from pluto_core.config.loader import IpsecConf, Loader, LocalAddresses, orient_all
from pluto_core.config.setup_config import SetupConfig
from pluto_core.config.yaml_conf import parse_yaml_config
from pluto_core.errors import ConfigError
from pluto_core.options import DEFAULT_IPSECDIR

__all__ = ["IpsecConf", "load_config", "parse_config", "parse_config_in_force", "replace_setup"]


def load_config(
    path: str | os.PathLike[str],
    *,
    ipsecdir: str | None = None,
    path_map: Mapping[str, str] | None = None,
    local_addresses: LocalAddresses = None,
) -> IpsecConf:
    """Load ``path``; raise ``ConfigError(message, file, line)`` on the first fatal error.

    ``ipsecdir`` stands in for ``/etc/ipsec.d`` in absolute include paths; ``path_map`` maps
    other absolute prefixes (tests map ``/testing`` onto the corpus). ``local_addresses`` (a
    set of address strings or a predicate) orients every conn: see ``connection.orient``.
    """
    conf, errors = parse_config(path, ipsecdir=ipsecdir, path_map=path_map, local_addresses=local_addresses)
    if errors:
        raise errors[0]
    return conf


def parse_config(
    path: str | os.PathLike[str],
    *,
    ipsecdir: str | None = None,
    path_map: Mapping[str, str] | None = None,
    local_addresses: LocalAddresses = None,
) -> tuple[IpsecConf, list[ConfigError]]:
    """Like ``load_config`` but return every fatal error instead of raising the first."""
    top = os.fspath(path)
    if top.lower().endswith((".yaml", ".yml")):
        return parse_yaml_config(top, path_map=path_map, local_addresses=local_addresses)
    loader = Loader(ipsecdir=ipsecdir, path_map=path_map)
    loader.read_top(top)
    conf = loader.finish(top)
    orient_all(conf, local_addresses)
    return conf, loader.errors


def parse_config_in_force(
    path: str | os.PathLike[str], *, ipsecdir: str | None = None
) -> tuple[IpsecConf, list[ConfigError]]:
    """``parse_config`` with ``/etc/ipsec.d`` includes read from the ipsecdir in force: the
    given one (``--ipsecdir``), else the file's own ``config setup ipsecdir=`` (a second read).
    The daemon's start-up and ``ipsec checkconfig`` both read the file this way."""
    conf, errors = parse_config(path, ipsecdir=os.path.abspath(ipsecdir) if ipsecdir else None)
    from_file = getattr(conf.setup, "ipsecdir", None)
    if ipsecdir is None and from_file and os.path.abspath(from_file) != DEFAULT_IPSECDIR:
        conf, errors = parse_config(path, ipsecdir=os.path.abspath(from_file))
    return conf, errors


def replace_setup(setup: SetupConfig, **changes: object) -> SetupConfig:
    """A copy of ``setup`` with command-line overrides applied (``ikeport=4500``...)."""
    return replace(setup, **changes)  # type: ignore[arg-type]
