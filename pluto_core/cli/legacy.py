"""The older spellings operators and scripts still type: ``ipsec auto --up NAME``
(and ``--add``, ``--replace``...), ``ipsec replace NAME`` and ``ipsec whack --name
NAME --initiate`` (and the other whack actions). Each is translated to the verb
of today (``ipsec up NAME``...) and run by it, so both spellings behave alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pluto_core.control.client import ControlError

Verb = Callable[[list[str]], int]

# ipsec auto --ACTION: the verb it means, and whether it takes a conn name
AUTO_ACTIONS: dict[str, tuple[str, bool]] = {
    "add": ("add", True), "delete": ("delete", True), "replace": ("replace", True), "up": ("up", True),
    "down": ("down", True), "route": ("route", True), "unroute": ("unroute", True),
    "status": ("status", False), "rereadsecrets": ("rereadsecrets", False), "listen": ("listen", False),
    "rereadcerts": ("rereadcerts", False), "listcerts": ("listcerts", False), "listcacerts": ("listcacerts", False),
    "listcrls": ("listcrls", False),
}

# ipsec whack --name NAME --ACTION
WHACK_CONN_ACTIONS = {"initiate": "up", "terminate": "down", "delete": "delete", "route": "route",
                      "unroute": "unroute"}
# ipsec whack --ACTION
WHACK_ACTIONS = {"status": "status", "trafficstatus": "trafficstatus", "briefstatus": "briefstatus",
                 "listen": "listen", "rereadsecrets": "rereadsecrets", "rereadcerts": "rereadcerts",
                 "listcerts": "listcerts", "listcacerts": "listcacerts", "listcrls": "listcrls",
                 "rereadall": "rereadall", "fetchcrls": "fetchcrls", "purgeocsp": "purgeocsp"}


def _ctl_args(ns: argparse.Namespace) -> list[str]:
    out = ["--rundir", ns.rundir]
    if ns.ctlsocket:
        out += ["--ctlsocket", ns.ctlsocket]
    return out


def run_auto(parser: argparse.ArgumentParser, args: list[str], verbs: dict[str, Verb]) -> int:
    """``ipsec auto [--config FILE] --ACTION [NAME]``."""
    actions = parser.add_mutually_exclusive_group(required=True)
    for action, (verb, _) in AUTO_ACTIONS.items():
        actions.add_argument(f"--{action}", dest="action", action="store_const", const=action,
                             help=f"as 'ipsec {verb}'")
    parser.add_argument("--config", help="ipsec.conf for --add/--replace (default /etc/ipsec.conf)")
    parser.add_argument("name", nargs="?", help="connection name")
    ns = parser.parse_args(args)
    verb, wants_name = AUTO_ACTIONS[ns.action]
    if wants_name and not ns.name:
        parser.error(f"--{ns.action} needs a connection name")
    if not wants_name and ns.name:
        parser.error(f"--{ns.action} takes no connection name")
    rest = _ctl_args(ns) + ([ns.name] if ns.name else [])
    if ns.config and verb in ("add", "replace"):
        rest += ["--config", ns.config]
    return verbs[verb](rest)


def replace(delete: Verb, add: Verb, ctl: list[str], name: str, config: list[str]) -> int:
    """``ipsec replace NAME``: take the conn down and out of pluto (if loaded), then
    load it again from the file: how an edited conn takes effect."""
    try:
        delete(ctl + [name])
    except ControlError as exc:
        if "no connection named" not in str(exc):
            raise
    return add(ctl + [name] + config)


def whack_conn_action(ns: argparse.Namespace, verbs: dict[str, Verb]) -> int | None:
    """The whack conn actions (``--name NAME --initiate``...); None when none was given."""
    for action, verb in WHACK_CONN_ACTIONS.items():
        if getattr(ns, action, False):
            if not ns.name:
                raise ValueError(f"--{action} needs --name NAME")
            return verbs[verb](_ctl_args(ns) + [ns.name])
    for action, verb in WHACK_ACTIONS.items():
        if getattr(ns, action, False):
            return verbs[verb](_ctl_args(ns))
    return None


def add_whack_actions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="connection name, for the actions on one conn")
    for action, verb in WHACK_CONN_ACTIONS.items():
        parser.add_argument(f"--{action}", action="store_true", help=f"as 'ipsec {verb} NAME'")
    for action, verb in WHACK_ACTIONS.items():
        parser.add_argument(f"--{action}", action="store_true", help=f"as 'ipsec {verb}'")
