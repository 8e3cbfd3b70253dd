"""``ipsec``: the dispatcher operators already type (``ipsec pluto``,
``ipsec whack``, ``ipsec stop``, ...). Each verb is a function taking its own
arguments and returning the exit status."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pluto_core.cli import legacy
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
    # lazy: the daemon's modules (config, engine, crypto) would slow every other verb
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
        # Libreswan's three OCSP lines, word for word (addconn-41-ocsp-config)
        f"ocsp-enable={show(opts.get('ocsp_enable'))}, ocsp-strict={show(opts.get('ocsp_strict'))}, "
        f"ocsp-timeout={show(opts.get('ocsp_timeout'))}",
        f"ocsp-uri={show(opts.get('ocsp_uri'))}, ocsp-trust-name={show(opts.get('ocsp_trustname'))}",
        f"ocsp-cache-size={show(opts.get('ocsp_cache_size'))}, "
        f"ocsp-cache-min-age={show(opts.get('ocsp_cache_min_age'))}, "
        f"ocsp-cache-max-age={show(opts.get('ocsp_cache_max_age'))}, ocsp-method={show(opts.get('ocsp_method'))}",
        f"virtual-private={show(opts['virtual_private'])}, keep-alive={show(opts['keep_alive'])}, "
        f"force-busy={show(opts['force_busy'])}",
        f"ddos-cookies-threshold={opts['ddos_ike_threshold']}, ddos-max-halfopen={opts['max_halfopen_ike']}, "
        f"ddos-mode={opts['ddos_mode']}, half-open IKE SAs={result.get('half_open_ike', 0)}",
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
    legacy.add_whack_actions(parser)
    ddos = parser.add_mutually_exclusive_group()
    for mode, text in (("auto", "demand cookies from ddos-ike-threshold half-open IKE SAs on (default)"),
                       ("busy", "always demand cookies"), ("unlimited", "never demand cookies")):
        ddos.add_argument(f"--ddos-{mode}", dest="ddos", action="store_const", const=mode, help=text)
    parser.add_argument("--redirect-to", metavar="DESTS",
                        help="redirect established peers (of --name, or --peer-ip) to these gateways (RFC 5685)")
    parser.add_argument("--peer-ip", metavar="ADDR", help="with --redirect-to: only the peer at this address")
    parser.add_argument("--global-redirect", choices=("yes", "no", "auto"),
                        help="answer IKE_SA_INIT requests with a REDIRECT (auto: under DDoS load)")
    parser.add_argument("--global-redirect-to", metavar="DESTS", help="where --global-redirect sends peers")
    ns = parser.parse_args(args)
    sock = _ctlsocket(ns)
    if ns.redirect_to or ns.global_redirect or ns.global_redirect_to is not None:
        result = request(sock, "redirect", {"name": ns.name, "peer": ns.peer_ip, "to": ns.redirect_to,
                                            "global": ns.global_redirect, "global_to": ns.global_redirect_to},
                         progress=print)
        if "global" in result:
            print(f"global-redirect={result['global']}, global-redirect-to={','.join(result['global_to'])}")
        return 0
    try:
        done = legacy.whack_conn_action(ns, VERBS_BY_NAME)
    except ValueError as exc:
        raise _ArgError(str(exc)) from None
    if done is not None:
        return done
    if ns.ddos:
        result = request(sock, "ddos", {"mode": ns.ddos})
        print(f"ddos-mode={result['mode']}")
        return 0
    if ns.globalstatus:
        return _globalstatus(["--ctlsocket", sock])
    if ns.shutdown:
        request(sock, "shutdown")
        return 0
    raise _ArgError("no action given (try --name NAME --initiate, --status, --globalstatus, --shutdown or "
                    "--ddos-busy)")


def _conn_verb(verb: str, command: str) -> Callable[[list[str]], int]:
    """``ipsec up|down|route|unroute|delete NAME``: stream the daemon's lines, exit 0 or 1 with the reason."""

    def run(args: list[str]) -> int:
        parser = _ctl_parser(f"ipsec {verb}")
        parser.add_argument("name", help="connection name")
        if verb == "add":
            parser.add_argument("--config", help="ipsec.conf to read the conn from (default: pluto's --config, "
                                "else /etc/ipsec.conf)")
        ns = parser.parse_args(args)
        request_args: dict[str, Any] = {"name": ns.name}
        if verb == "add":
            request_args["config"] = os.path.abspath(ns.config) if ns.config else "/etc/ipsec.conf"
        request(_ctlsocket(ns), command, request_args, timeout=600, progress=print)
        return 0

    return run


def _show_ts(ts: list[str]) -> str:
    return "+".join(ts)


def _show_host(conn: dict[str, Any], end: str) -> str:
    """The address, then the host name it was resolved from in <> (Libreswan's layout)."""
    name = conn.get(f"{end}_host")
    return f"{conn[end]}<{name}>" if name else str(conn[end])


def format_status(data: dict[str, Any], brief: bool = False) -> str:
    """``ipsec status`` in Libreswan's layout (connection list, totals, states)."""
    rows: list[str] = []
    if not brief:
        rows += ["Connection list:", " "]
        for c in data["conns"]:
            up = any(sa["conn"] == c["name"] and sa["established"] for sa in data["ike_sas"])
            if c.get("instance"):  # a road warrior's instance: "rw"[1]: ...; established IKE SA: #1
                rows.append(f"{c['label']}: {_show_ts(c['local_ts'])}==={c['local']}[{c['local_id']}]..."
                            f"{c['remote']}[{c['remote_id']}]==={_show_ts(c['remote_ts'])}; established; "
                            f"my_ip=unset; their_ip={', '.join(c['lease']) or 'unset'};")
                continue
            state = "resolving" if c.get("resolving") else c.get("routing") or ("established" if up else "unrouted")
            if c.get("shunt"):  # never-negotiate (type=passthrough|drop|reject): no IDs, no IKE settings
                rows.append(f"\"{c['name']}\": {_show_ts(c['local_ts'])}==={c['local']}...{c['remote']}==="
                            f"{_show_ts(c['remote_ts'])}; {state}; my_ip=unset; their_ip=unset;")
                rows.append(f"\"{c['name']}\":   policy: {'PASS' if c['shunt'] == 'passthrough' else 'DROP'};")
                rows.append(f"\"{c['name']}\":   routing: {state};")
                continue
            rows.append(f"\"{c['name']}\": {_show_ts(c['local_ts'])}==={_show_host(c, 'local')}[{c['local_id']}]..."
                        f"{_show_host(c, 'remote')}[{c['remote_id']}]==={_show_ts(c['remote_ts'])}; "
                        f"{state}; my_ip=unset; their_ip=unset;")
            rows.append(f"\"{c['name']}\":   ike_life: {c['ikelifetime']:.0f}s; ipsec_life: {c['salifetime']:.0f}s; "
                        f"rekey_margin: {c['rekeymargin']:.0f}s; mode: {c['mode']};")
            rows.append(f"\"{c['name']}\":   retransmit-interval: {c['retransmit_interval'] * 1000:.0f}ms; "
                        f"retransmit-timeout: {c['retransmit_timeout']:.0f}s;")
            rows.append(f"\"{c['name']}\":   liveness: {'active' if c['dpddelay'] else 'passive'}; "
                        f"dpddelay:{c['dpddelay']:.0f}s")
            if c.get("routing"):
                rows.append(f"\"{c['name']}\":   routing: {c['routing']};")
        rows += [" ", f"Total IPsec connections: loaded {len(data['conns'])}, active "
                 f"{len({ch['conn'] for ch in data['children']})}", " "]
    ike = data["ike_sas"]
    established = [sa for sa in ike if sa["established"]]
    ddos = data.get("ddos", {})
    rows += [f"State Information: DDoS cookies {'required' if ddos.get('cookies') else 'not required'}, "
             f"{'Accepting' if ddos.get('accepting', True) else 'Rejecting'} new IKE connections",
             f"IKE SAs: total({len(ike)}), half-open({len(ike) - len(established)}), open(0), "
             f"authenticated({len(established)}), anonymous(0)",
             f"IPsec SAs: total({len(data['children'])}), authenticated({len(data['children'])}), anonymous(0)",
             " "]
    for sa in ike:
        rows.append(f"#{sa['serial']}: {sa.get('label') or chr(34) + sa['conn'] + chr(34)}:{sa['remote'][1]} "
                    f"{sa['state']}; newest; idle;")
        if sa.get("peer_cert"):
            rows.append(f"#{sa['serial']}: \"{sa['conn']}\":{sa['remote'][1]} peer certificate '{sa['peer_cert']}' "
                        f"issued by '{sa['peer_cert_issuer']}';")
        for ch in (c for c in data["children"] if c["ike_serial"] == sa["serial"]):
            rows.append(f"#{ch['serial']}: \"{ch['conn']}\":{sa['remote'][1]} established Child SA; newest; "
                        f"eroute owner; IKE SA #{sa['serial']}; idle;")
            tun = "tun" if ch["mode"] == "tunnel" else "xfrm"
            rows.append(f"#{ch['serial']}: \"{ch['conn']}\" esp.{ch['spi_out']}@{ch['remote']} "
                        f"esp.{ch['spi_in']}@{ch['local']} {tun}.0@{ch['remote']} {tun}.0@{ch['local']} "
                        f"Traffic: ESPin={ch['inBytes']}B ESPout={ch['outBytes']}B ESPmax=2^63B ")
    return "\n".join(rows)


def format_traffic(children: list[dict[str, Any]]) -> str:
    """Libreswan's lines: ``#2: "rw"[1] 192.1.2.45, type=ESP, ..., id='@road', lease=192.0.2.1/32``."""
    return "\n".join(f"#{c['serial']}: {c.get('label') or chr(34) + c['conn'] + chr(34)}, type=ESP, "
                     f"add_time={c['add_time']}, inBytes={c['inBytes']}, outBytes={c['outBytes']}, maxBytes=2^63B, "
                     f"id='{c['peer_id']}'" + (f", lease={', '.join(c['lease'])}" if c.get("lease") else "")
                     for c in children)


def _read_verb(verb: str, command: str, formatter: Callable[[Any], str]) -> Callable[[list[str]], int]:
    def run(args: list[str]) -> int:
        parser = _ctl_parser(f"ipsec {verb}")
        parser.add_argument("--json", action="store_true", help="machine-readable output (docs/control.md)")
        if verb == "connectionstatus":
            parser.add_argument("name", nargs="?")
        ns = parser.parse_args(args)
        result = request(_ctlsocket(ns), command)
        if verb == "connectionstatus" and ns.name:
            result = {"conns": [c for c in result["conns"] if c["name"] == ns.name], "ike_sas": [], "children": []}
            if not result["conns"]:
                raise _ArgError(f"no connection named \"{ns.name}\"")
        text = json.dumps(result, indent=2, sort_keys=True) if ns.json else formatter(result)
        if text:
            print(text)
        return 0

    return run


def _simple(verb: str, command: str) -> Callable[[list[str]], int]:
    def run(args: list[str]) -> int:
        ns = _ctl_parser(f"ipsec {verb}").parse_args(args)
        request(_ctlsocket(ns), command, progress=print)
        return 0

    return run


def _auto(args: list[str]) -> int:
    return legacy.run_auto(_ctl_parser("ipsec auto"), args, VERBS_BY_NAME)


def _replace(args: list[str]) -> int:
    parser = _ctl_parser("ipsec replace")
    parser.add_argument("name", help="connection name")
    parser.add_argument("--config", help="ipsec.conf to read the conn from (default: /etc/ipsec.conf)")
    ns = parser.parse_args(args)
    ctl = ["--rundir", ns.rundir] + (["--ctlsocket", ns.ctlsocket] if ns.ctlsocket else [])
    return legacy.replace(VERBS_BY_NAME["delete"], VERBS_BY_NAME["add"], ctl, ns.name,
                          ["--config", ns.config] if ns.config else [])


def _checkconfig(args: list[str]) -> int:
    # lazy: the config modules (and the crypto they check proposals with) only for this verb
    from pluto_core.config import checkconfig

    return int(checkconfig.main(args))


def _addconn(args: list[str]) -> int:
    if "--checkconfig" in args:
        return _checkconfig([a for a in args if a != "--checkconfig"])
    raise _ArgError("only 'ipsec addconn --checkconfig' is supported; use 'ipsec add NAME'")


def _hostkey(verb: str) -> Callable[[list[str]], int]:
    def run(args: list[str]) -> int:
        # lazy: the NSS reader and its crypto only for these verbs
        from pluto_core.cli import hostkey

        return int(getattr(hostkey, verb)(args))

    return run


def _listing(verb: str) -> Callable[[list[str]], int]:
    """``ipsec listcerts|listcacerts|listcrls``: the running daemon answers, as Libreswan's whack
    (NSS and certificate files); ``--nssdir DIR`` reads that database offline instead."""

    def run(args: list[str]) -> int:
        if "--nssdir" in args or "-d" in args:
            return _certs(verb)(args)
        parser = _ctl_parser(f"ipsec {verb}")
        parser.add_argument("--json", action="store_true", help="machine-readable output (docs/control.md)")
        ns = parser.parse_args(args)
        result = request(_ctlsocket(ns), verb)
        print(json.dumps(result, indent=2, sort_keys=True) if ns.json else result["text"])
        return 0

    return run


def _certs(verb: str) -> Callable[[list[str]], int]:
    def run(args: list[str]) -> int:
        # lazy: the NSS reader and x509 parsing only for these verbs
        from pluto_core.cli import certs

        return int(getattr(certs, verb)(args))

    return run


VERBS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "pluto": (_pluto, "run the IKE daemon (see 'ipsec pluto --help')"),
    "add": (_conn_verb("add", "add"), "load conn NAME from the config file into pluto"),
    "up": (_conn_verb("up", "up"), "bring conn NAME up and wait for the outcome"),
    "down": (_conn_verb("down", "down"), "take conn NAME down (delete its SAs)"),
    "route": (_conn_verb("route", "route"), "install conn NAME's trap policies (negotiate on traffic)"),
    "unroute": (_conn_verb("unroute", "unroute"), "remove conn NAME's trap policies"),
    "delete": (_conn_verb("delete", "delete"), "take conn NAME down and remove it from pluto"),
    "status": (_read_verb("status", "status", format_status), "connections and SAs [--json]"),
    "briefstatus": (_read_verb("briefstatus", "status", lambda d: format_status(d, brief=True)),
                    "SA counts and states [--json]"),
    "connectionstatus": (_read_verb("connectionstatus", "status", format_status),
                         "connections [NAME] [--json]"),
    "trafficstatus": (_read_verb("trafficstatus", "trafficstatus", lambda d: format_traffic(d["children"])),
                      "Child SAs with byte counters [--json]"),
    "listen": (_simple("listen", "listen"), "re-read secrets and listen for IKE"),
    "rereadsecrets": (_simple("rereadsecrets", "rereadsecrets"), "re-read ipsec.secrets"),
    "whack": (_whack, "low-level control of a running pluto"),
    "globalstatus": (_globalstatus, "show the daemon's global settings"),
    "stop": (_stop, "stop the running pluto"),
    "shutdown": (_stop, "stop the running pluto (same as stop)"),
    "checkconfig": (_checkconfig, "check an ipsec.conf file and report every problem"),
    "addconn": (_addconn, "'ipsec addconn --checkconfig' (same as checkconfig)"),
    "replace": (_replace, "delete conn NAME and load it again from the config file"),
    "auto": (_auto, "the older spelling: 'ipsec auto --up NAME' is 'ipsec up NAME' (--add, --delete, "
                    "--replace, --down, --route, --unroute, --status, --rereadsecrets, --listen)"),
    "initnss": (_hostkey("initnss"), "create an empty NSS database [--nssdir DIR]"),
    "checknss": (_hostkey("checknss"), "create the NSS database when it is missing [--nssdir DIR]"),
    "newhostkey": (_hostkey("newhostkey"), "make an RSA or ECDSA host key in the NSS database (certutil)"),
    "showhostkey": (_hostkey("showhostkey"), "list the NSS host keys or show one (--list, --left, --pem, ...)"),
    "import": (_certs("import_"), "load a PKCS#12 file into the NSS database (pk12util) and trust its CAs "
                                  "[--nssdir DIR]"),
    "listcerts": (_listing("listcerts"), "pluto's end certificates, as 'whack --listcerts' [--json]; "
                                         "--nssdir DIR: that database's, without pluto"),
    "listcacerts": (_listing("listcacerts"), "pluto's CA certificates, as 'whack --listcacerts' [--json]; "
                                             "--nssdir DIR: that database's, without pluto"),
    "listcrls": (_listing("listcrls"), "pluto's CRLs, as 'whack --listcrls' [--json]; --nssdir DIR: that "
                                       "database's, without pluto"),
    "rereadcerts": (_simple("rereadcerts", "rereadcerts"), "re-read certificates, CAs and CRLs (with the "
                                                           "secrets)"),
    "rereadall": (_simple("rereadall", "rereadall"), "re-read secrets, certificates, CAs and CRLs, and fetch "
                                                     "the CRLs of the distribution points seen"),
    "fetchcrls": (_simple("fetchcrls", "fetchcrls"), "fetch the CRLs of the distribution points seen again, now"),
    "purgeocsp": (_simple("purgeocsp", "purgeocsp"), "forget the cached OCSP answers"),
}
VERBS_BY_NAME: dict[str, Callable[[list[str]], int]] = {name: entry[0] for name, entry in VERBS.items()}


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
