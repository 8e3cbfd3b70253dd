"""``ipsec checkconfig [--config FILE]`` (alias ``ipsec addconn --checkconfig``): report every problem.

Prints warnings and errors the way ``ipsec addconn`` does (``warning: FILE:LINE: ...``,
``ERROR: FILE:LINE: ...``), then pluto's own notices (``FILE:LINE: warning: KEY=V is accepted
but not acted on yet``) and, for conns that would be added (``auto=`` other than ``ignore``),
why they would fail: Libreswan's reasons (``IpsecConf.failed``) and what pluto cannot honour
(``IpsecConf.refused``, the same sentence the daemon logs), and a ``leftcert=`` that cannot be
read (a file, or an NSS nickname missing from the database at ``--nssdir``/``nssdir=``) or is
expired or not yet valid; one that ends within two weeks is a warning (the daemon logs it too).
Also reads the YAML form. Exit status 0 when the file is usable, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from pluto_core.config.admission import auto_of
from pluto_core.config.ipsec_conf import parse_config_in_force
from pluto_core.engine_conn import check_certs
from pluto_core.errors import ConfigError
from pluto_core.options import DEFAULT_IPSECDIR, DEFAULT_NSSDIR

__all__ = ["main"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ipsec checkconfig", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/ipsec.conf", help="ipsec.conf to check")
    parser.add_argument("--checkconfig", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ipsecdir", help="stands in for /etc/ipsec.d in include paths, as the daemon's "
                        "--ipsecdir (default: the file's config setup ipsecdir=)")
    parser.add_argument("--nssdir", help="the NSS database leftcert= nicknames are looked up in, as the "
                        "daemon's --nssdir (default: the file's config setup nssdir=, else /var/lib/ipsec/nss)")
    parser.add_argument("--quiet", "-q", action="store_true", help="only print errors")
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        conf, errors = parse_config_in_force(args.config, ipsecdir=args.ipsecdir)
    except ConfigError as first:  # the YAML reader stops at its first error (an unreadable file)
        print(f"ERROR: {first}", file=out)
        return 1
    if not args.quiet:
        for warning in conf.warnings:
            print(f"warning: {warning}", file=out)
        for notice in conf.notices:  # already "FILE:LINE: warning: ..."
            print(notice, file=out)
    status = 0
    for error in errors:
        print(f"ERROR: {error}", file=out)
        status = 1
    for name, exc in conf.failed.items():
        raw = conf.raw.get(name)
        auto = raw.own.get((None, "auto")) if raw is not None else None
        if auto is None and raw is not None:
            auto = raw.defaults.get((None, "auto"))
        if auto is not None and auto.value.lower() != "ignore":
            print(f'ERROR: "{name}": {exc}', file=out)
            status = 1
    # what pluto cannot honour (config/admission.py): the daemon refuses these with the same words
    for name, exc in conf.refused.items():
        if auto_of(conf.resolved.get(name)) != "ignore":
            print(f'ERROR: "{name}": {exc}', file=out)
            status = 1
        elif not args.quiet:
            print(f'warning: "{name}": {exc} (auto=ignore; ipsec add would refuse it)', file=out)
    # our certificate, as the daemon reads it when the conn is added (engine_conn.load_cert)
    ipsecdir = args.ipsecdir or getattr(conf.setup, "ipsecdir", None) or DEFAULT_IPSECDIR
    nssdir = args.nssdir or getattr(conf.setup, "nssdir", None) or DEFAULT_NSSDIR
    for name, conn in conf.conns.items():
        if name in conf.failed or name in conf.refused or auto_of(conf.resolved.get(name)) == "ignore":
            continue
        errors, soon = check_certs(conn, ipsecdir, nssdir)
        for error in errors:
            print(f"ERROR: {error}", file=out)
            status = 1
        if not args.quiet:
            for warning in soon:  # "warning: FILE:LINE: ...", as addconn words its warnings
                print(f"warning: {warning}", file=out)
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
