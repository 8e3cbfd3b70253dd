"""``ipsec``: the dispatcher operators already type (``ipsec pluto``,
``ipsec whack``, ``ipsec stop``, ...). Each verb is a function taking its own
arguments and returning the exit status."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pluto_core.control.client import ControlError, request
from pluto_core.options import DEFAULT_RUNDIR, version_text


class _ArgError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _ArgError(message)


def _ctl_parser(prog: str) -> _Parser:
    parser = _Parser(prog=prog, allow_abbrev=False)
    parser.add_argument("--ctlsocket", help="control socket (default RUNDIR/pluto.ctl)")
    parser.add_argument("--rundir", default=DEFAULT_RUNDIR, help=f"run directory (default {DEFAULT_RUNDIR})")
    return parser


def _ctlsocket(ns: argparse.Namespace) -> str:
    return ns.ctlsocket or f"{ns.rundir.rstrip('/')}/pluto.ctl"


def _pluto(args: list[str]) -> int:
    from pluto_core.cli.pluto import main as pluto_main

    return pluto_main(args, prog="ipsec pluto")


def _stop(args: list[str]) -> int:
    ns = _ctl_parser("ipsec stop").parse_args(args)
    request(_ctlsocket(ns), "shutdown")
    return 0


def _format_globalstatus(result: dict[str, Any]) -> str:
    opts = result["options"]

    def show(value: Any) -> str:
        if value is None:
            return "<unset>"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    rows = [
        f"using kernel interface: {opts['kernel_backend']}",
        "",
        "config setup options:",
        "",
        f"configfile={show(opts['config'])}, secrets={opts['secretsfile']}, ipsecdir={opts['ipsecdir']}",
        f"nssdir={opts['nssdir']}, dumpdir={opts['coredir'] or opts['rundir']}, statsbin={show(opts['statsbin'])}",
        f"pluto_version={result.get('version', '')}, audit-log={show(opts['audit_log'])}",
        f"nhelpers={opts['nhelpers']}, uniqueids={show(opts['uniqueids'])}, logappend={show(opts['logappend'])}, "
        f"logip={show(opts['logip'])}",
        f"crl-strict={show(opts['crl_strict'])}, crlcheckinterval={opts['crlcheckinterval']}, "
        f"listen={opts['listen'] or '<any>'}",
        f"virtual-private={show(opts['virtual_private'])}, keep-alive={show(opts['keep_alive'])}, "
        f"force-busy={show(opts['force_busy'])}",
        f"debug={' '.join(opts['debug']) or 'none'}",
        "",
        f"helper processes: {result['helpers']}",
        f"plugins: {', '.join(result['plugins'])}",
    ]
    return "\n".join(f"000 {row}".rstrip() for row in rows)


def _globalstatus(args: list[str]) -> int:
    parser = _ctl_parser("ipsec globalstatus")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    ns = parser.parse_args(args)
    result = request(_ctlsocket(ns), "globalstatus")
    hello = request(_ctlsocket(ns), "hello")
    result["version"] = hello["version"]
    print(json.dumps(result, indent=2, sort_keys=True) if ns.json else _format_globalstatus(result))
    return 0


def _whack(args: list[str]) -> int:
    parser = _ctl_parser("ipsec whack")
    parser.add_argument("--shutdown", action="store_true", help="stop pluto")
    parser.add_argument("--globalstatus", action="store_true", help="show pluto's global settings")
    ns = parser.parse_args(args)
    sock = _ctlsocket(ns)
    if ns.globalstatus:
        return _globalstatus(["--ctlsocket", sock])
    if ns.shutdown:
        request(sock, "shutdown")
        return 0
    raise _ArgError("no action given (try --globalstatus or --shutdown)")


def _checkconfig(args: list[str]) -> int:
    from pluto_core.config import checkconfig

    return int(checkconfig.main(args))


def _addconn(args: list[str]) -> int:
    if "--checkconfig" in args:
        return _checkconfig([a for a in args if a != "--checkconfig"])
    raise _ArgError("only 'ipsec addconn --checkconfig' is supported; use 'ipsec add NAME'")


VERBS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "pluto": (_pluto, "run the IKE daemon (see 'ipsec pluto --help')"),
    "whack": (_whack, "low-level control of a running pluto"),
    "globalstatus": (_globalstatus, "show the daemon's global settings"),
    "stop": (_stop, "stop the running pluto"),
    "shutdown": (_stop, "stop the running pluto (same as stop)"),
    "checkconfig": (_checkconfig, "check an ipsec.conf file and report every problem"),
    "addconn": (_addconn, "'ipsec addconn --checkconfig' (same as checkconfig)"),
}


def usage() -> str:
    lines = ["Usage: ipsec COMMAND [ARGS]", "", "Commands:"]
    lines += [f"  {name:<14} {text}" for name, (_, text) in VERBS.items()]
    lines += ["", "Every command that talks to pluto takes --ctlsocket PATH or --rundir DIR."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("--help", "-h", "help"):
        print(usage())
        return 0 if args else 1
    if args[0] in ("--version", "version"):
        print(version_text())
        return 0
    verb, rest = args[0], args[1:]
    entry = VERBS.get(verb)
    if entry is None:
        print(f"ipsec: unknown command '{verb}' (see 'ipsec --help')", file=sys.stderr)
        return 1
    try:
        return entry[0](rest)
    except _ArgError as exc:
        print(f"ipsec {verb}: {exc}", file=sys.stderr)
        return 1
    except ControlError as exc:
        print(f"ipsec {verb}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
