"""Libreswan's ``nsspassword`` file: which password unlocks the NSS database.

The file holds lines ``token:password``; the token is the name of the NSS slot whose
database the password unlocks: ``NSS Certificate DB`` normally, ``NSS FIPS 140-2 Certificate
DB`` when NSS runs in FIPS mode. Libreswan reads ``<ipsecdir>/nsspassword`` (``/etc/ipsec.d``);
a database without a password needs no file at all.
"""

from __future__ import annotations

from pathlib import Path

from pluto_core.errors import ConfigError

TOKEN = "NSS Certificate DB"
FIPS_TOKEN = "NSS FIPS 140-2 Certificate DB"
# The tokens whose passwords unlock the internal key database, in the order they are tried.
INTERNAL_TOKENS = (TOKEN, FIPS_TOKEN)


def parse_password_file(text: str, file: str | None = None) -> dict[str, str]:
    """Token name -> password. Blank lines and ``#`` comments are skipped.

    Everything after the first ``:`` is the password, kept as written apart from the line
    end, so a password may hold spaces or colons. Error messages never quote a line.
    """
    passwords: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        token, sep, password = line.partition(":")
        if not sep or not token.strip():
            raise ConfigError("expected token:password", file, number)
        passwords.setdefault(token.strip(), password)
    return passwords


def read_password_file(path: Path) -> dict[str, str]:
    """The passwords of an ``nsspassword`` file; an absent file has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the NSS password file: {exc}", str(path)) from exc
    return parse_password_file(text, str(path))


def candidate_passwords(passwords: dict[str, str]) -> list[bytes]:
    """What to try against the database, best first: the internal tokens' entries, then empty."""
    found: list[bytes] = []
    for token in INTERNAL_TOKENS:
        if token in passwords:
            candidate = passwords[token].encode("utf-8")
            if candidate not in found:
                found.append(candidate)
    if b"" not in found:
        found.append(b"")
    return found
