"""``python -m pluto_sqlite_auth DB COMMAND ...``: create and edit the database.

IDs are normalized as pluto writes them (``east`` becomes ``@east``), so that a row
matches the ID the daemon asks for. Secrets are never printed; ``add-psk`` reads the
secret from standard input when it is given as ``-`` (a command line is visible to
other users in ``ps``).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence

from pluto_core.ikev2.types import IdSpec
from pluto_sqlite_auth import store


def _id(text: str) -> str:
    return IdSpec.parse(text).text


def _remote(text: str) -> str:
    return store.ANY if text == store.ANY else _id(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pluto_sqlite_auth",
                                description="Edit the database of pluto's sqlite-example auth source.")
    p.add_argument("db", metavar="DB", help="the database file (the daemon reads <ipsecdir>/pluto-auth.sqlite)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("init", help="create the file (mode 0600) and its tables")
    c = sub.add_parser("add-psk", help="set the PSK of LOCAL (this host's ID) with REMOTE (an ID or %%any)")
    c.add_argument("local")
    c.add_argument("remote")
    c.add_argument("secret", help="the key; - reads one line from standard input")
    c = sub.add_parser("del-psk", help="remove the PSK of LOCAL with REMOTE")
    c.add_argument("local")
    c.add_argument("remote")
    c = sub.add_parser("allow", help="admit PEER on CONN (a conn with such rows admits only them)")
    c.add_argument("conn")
    c.add_argument("peer")
    c = sub.add_parser("disallow", help="remove the row admitting PEER on CONN")
    c.add_argument("conn")
    c.add_argument("peer")
    c = sub.add_parser("add-pubkey", help="trust the PEM public key in FILE for PEER")
    c.add_argument("peer")
    c.add_argument("file")
    c = sub.add_parser("del-pubkey", help="remove every trusted key of PEER")
    c.add_argument("peer")
    sub.add_parser("list", help="show the rows (secrets by length only)")
    return p


def run(args: argparse.Namespace) -> str:
    """Carry out one command; the line to print."""
    db = args.db
    if args.command == "init":
        store.init(db)
        return f"{db}: ready"
    if not os.path.exists(db):  # sqlite3 would create an empty file without tables
        raise FileNotFoundError(f"{db}: no such database (run: init)")
    if args.command == "add-psk":
        secret = sys.stdin.readline().rstrip("\n") if args.secret == "-" else args.secret
        if not secret:
            raise ValueError("the secret is empty")
        local, remote = _id(args.local), _remote(args.remote)
        store.add_psk(db, local, remote, secret.encode())
        return f"psk {local} {remote}: set ({len(secret.encode())} bytes)"
    if args.command == "del-psk":
        local, remote = _id(args.local), _remote(args.remote)
        return f"psk {local} {remote}: {store.delete(db, 'psk', local, remote)} removed"
    if args.command == "allow":
        store.allow(db, args.conn, _id(args.peer))
        return f'conn "{args.conn}" admits {_id(args.peer)}'
    if args.command == "disallow":
        count = store.delete(db, "allowed", args.conn, _id(args.peer))
        return f'conn "{args.conn}": {count} row for {_id(args.peer)} removed'
    if args.command == "add-pubkey":
        with open(args.file) as f:
            store.add_pubkey(db, _id(args.peer), f.read())
        return f"pubkey {_id(args.peer)}: trusted"
    if args.command == "del-pubkey":
        return f"pubkey {_id(args.peer)}: {store.delete(db, 'pubkey', _id(args.peer))} removed"
    return "\n".join(store.listing(db))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        out = run(args)
    except (OSError, ValueError, sqlite3.Error) as exc:
        print(f"pluto_sqlite_auth: {exc}", file=sys.stderr)
        return 1
    if out:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
