"""``ipsec pluto`` / ``pluto``: parse the command line, read ``config setup``,
find the plugins, take the lock file, and start the daemon."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from pluto_core.config.ipsec_conf import parse_config_in_force
from pluto_core.control.commands import register as register_commands
from pluto_core.daemon import EXIT_FAIL, EXIT_LOCKED, EXIT_OK, create_lock, run_daemon
from pluto_core.debug_classes import debug_help
from pluto_core.errors import ConfigError
from pluto_core.kernel.faults import wrap_backend
from pluto_core.options import (
    DEFAULT_CONFIG,
    Options,
    UsageError,
    build_options,
    impair_help,
    parse_command_line,
    startup_notices,
    usage_text,
    version_text,
)
from pluto_core.plugins import BackendUnavailable, discover_only, load_plugins


def _fail(message: str) -> int:
    print(f"pluto: {message}", file=sys.stderr)
    return EXIT_FAIL


def main(argv: Sequence[str] | None = None, prog: str = "pluto") -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cmd = parse_command_line(args, prog)
    except UsageError as exc:
        return _fail(str(exc))
    if cmd.action == "help":
        print(usage_text(prog))
        return EXIT_OK
    if cmd.action == "version":
        print(version_text())
        return EXIT_OK
    if cmd.action == "debug-help":
        print(debug_help())
        return EXIT_OK
    if cmd.action == "impair-help":
        print(impair_help())
        return EXIT_OK

    config_path = cmd.given.get("config")
    if config_path is None and os.path.exists(DEFAULT_CONFIG):
        config_path = DEFAULT_CONFIG
    setup = None
    warnings: list[str] = []
    if config_path is not None:
        try:
            config = _load_setup(config_path, cmd.given.get("ipsecdir"))
        except ConfigError as exc:
            return _fail(str(exc))
        except OSError as exc:
            return _fail(f"cannot read config file {config_path}: {exc.strerror}")
        setup = config.setup
        warnings = list(config.warnings)
    try:
        options = build_options(cmd, setup, where=config_path or "config setup")
    except UsageError as exc:
        return _fail(str(exc))
    if "ipsecdir" in cmd.given:
        problem = _check_ipsecdir(options, "option --ipsecdir")
    elif getattr(setup, "ipsecdir", None):
        problem = _check_ipsecdir(options, f"{config_path}: ipsecdir=")
    else:
        problem = None  # the default may be absent
    if problem:
        return _fail(problem)
    warnings += startup_notices(cmd, options)

    if options.list_plugins:
        try:
            listing = load_plugins(options.kernel_backend).listing()
        except BackendUnavailable as exc:
            listing = discover_only().listing() + f"\nwarning: {exc}"
        print(listing)
        return EXIT_OK

    try:
        plugins = load_plugins(options.kernel_backend)
    except BackendUnavailable as exc:
        return _fail(str(exc))
    impairments = options.impairments
    if wrap_backend(plugins, impairments) is not None:  # test only: faults in front of the backend
        warnings += [f"--impair {what}: TEST ONLY, kernel faults injected" for what in impairments.describe()]

    try:
        os.makedirs(options.rundir, mode=0o755, exist_ok=True)
    except OSError as exc:
        return _fail(f"cannot create run directory {options.rundir}: {exc.strerror}")
    try:
        lock_fd = create_lock(options.pidfile)
    except OSError as exc:
        return _fail(f"cannot create lock file \"{options.pidfile}\": {exc.strerror}")
    if lock_fd is None:
        print(f"pluto: FATAL ERROR: lock file \"{options.pidfile}\" already exists", file=sys.stderr)
        return EXIT_LOCKED
    return run_daemon(options, plugins, lock_fd, warnings, register_commands)


def _load_setup(path: str, ipsecdir: str | None) -> Any:
    """The config, with ``/etc/ipsec.d`` include paths read from the ipsecdir in force: the
    command line's, else the file's own ``config setup ipsecdir=`` (which needs a second read)."""
    config, errors = parse_config_in_force(path, ipsecdir=ipsecdir)
    if errors:
        raise errors[0]
    return config


def _check_ipsecdir(options: Options, label: str) -> str | None:
    """The error line when a given ipsecdir is not a directory, else None."""
    if os.path.isdir(options.ipsecdir):
        return None
    why = "not a directory" if os.path.exists(options.ipsecdir) else "no such directory"
    return f"{label} '{options.ipsecdir}': {why}"


if __name__ == "__main__":
    sys.exit(main())
