"""``ipsec initnss``, ``checknss``, ``newhostkey`` and ``showhostkey``, as Libreswan 4.10 prints them.

The read path (``showhostkey``) reads the NSS database natively (:mod:`pluto_core.nss`); only
creating a database or a key runs NSS's own ``certutil`` (``-N`` / ``-G``). The formatting
functions are pure; the verbs (``initnss`` ... ``showhostkey``) do the I/O and return the exit
status. Private key material is never printed. docs/nss.md has the commands and the
differences from Libreswan.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from pluto_core.errors import ConfigError
from pluto_core.ikev2.crypto import pubkeys
from pluto_core.nss import NssDb, NssError, NssKey, keyid
from pluto_core.nss.password import candidate_passwords, read_password_file
from pluto_core.options import DEFAULT_IPSECDIR, DEFAULT_NSSDIR

VERSION = "Libreswan 4.10"  # what Libreswan's tools print for --version; pluto speaks its CLI
CERTUTIL = "certutil"
SEED_BYTES = 64  # what rsasigkey/ecdsasigkey read from --seeddev (480 bits, rounded up)
RSA_MIN_BITS, RSA_MAX_BITS, RSA_BITS_STEP = 2192, 20000, 16
CERTUTIL_MAX_RSA_BITS = 8192
CURVES = ("secp256r1", "secp384r1", "secp521r1")
EXIT_NO_KEYS = 20
EXIT_BAD_IPSECKEY = 5
EXIT_ALREADY_INITIALISED = 42
EXIT_INIT_FAILED = 4
EXIT_NO_DB = 255
IPSECKEY_ALGORITHM = {"RSA": 2, "ECDSA": 3}
IPSECKEY_PUBKEY_ALGORITHM = 4  # --pubkey: a DER SubjectPublicKeyInfo

SHOWHOSTKEY_USAGE = """Usage:
   showhostkey --version
   showhostkey { --dump | --list }
   showhostkey { --left | --right }
               [ --pubkey ]
               { --rsaid <rsaid> | --ckaid <ckaid> }
   showhostkey --ipseckey
               [ --pubkey ]
               { --rsaid <rsaid> | --ckaid <ckaid> }
               [ --precedence <precedence> ] \n               [ --gateway <gateway> ]
   showhostkey --pem
               { --rsaid <rsaid> | --ckaid <ckaid> }
Additional options:
   --verbose
   --debug
   --nssdir <nssdir>
   --password <password>"""

NEWHOSTKEY_USAGE = """Usage:
\tipsec newhostkey [--seeddev device] [--keytype rsa] [--bits n]
\tipsec newhostkey [--seeddev device] --keytype ecdsa [--curve curve]

\tother options: [--quiet] [--hostname host] [--nssdir /var/lib/ipsec/nss] \\
\t\t[--password password]"""


class Exit(Exception):
    """Stop the verb: ``stderr``/``stdout`` lines to print, then the exit status."""

    def __init__(self, status: int, stderr: Sequence[str] = (), stdout: Sequence[str] = ()) -> None:
        super().__init__(status)
        self.status = status
        self.stderr = list(stderr)
        self.stdout = list(stdout)


# -- pure parts ---------------------------------------------------------------------------


def parse_ulong(text: str) -> int:
    """A decimal unsigned long as Libreswan's tools read one; ValueError carries their wording."""
    if not text:
        raise ValueError("empty string")
    if not text.isascii() or not text.isdigit():
        raise ValueError("non-digit in number")
    value = int(text, 10)
    if value >= 1 << 64:
        raise ValueError("unsigned-long overflow")
    return value


def getopt_long(args: Sequence[str], spec: dict[str, bool]) -> Iterator[tuple[str, str | None]]:
    """``(name, value)`` for each long option in order, as glibc's ``getopt_long`` reads them:
    unique prefixes, ``--name=value``, non-options skipped, ``--`` ends. ``spec`` maps names
    to whether they take an argument; a bad option raises ValueError with getopt's text."""
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            return
        if arg.startswith("--"):
            name, eq, inline = arg[2:].partition("=")
            matches = [n for n in spec if n == name] or [n for n in spec if n.startswith(name)]
            if not matches:
                raise ValueError(f"unrecognized option '--{name}'")
            if len(matches) > 1:
                listed = " ".join(f"'--{m}'" for m in matches)
                raise ValueError(f"option '--{name}' is ambiguous; possibilities: {listed}")
            full = matches[0]
            if not spec[full]:
                if eq:
                    raise ValueError(f"option '--{full}' doesn't allow an argument")
                yield full, None
            elif eq:
                yield full, inline
            elif i < len(args):
                yield full, args[i]
                i += 1
            else:
                raise ValueError(f"option '--{full}' requires an argument")
        elif arg.startswith("-") and arg != "-":
            raise ValueError(f"invalid option -- '{arg[1]}'")


def list_line(index: int, key: NssKey) -> str:
    """One ``--list`` line: ``< 1> RSA keyid: AwEAAbzEj ckaid: b4f1...``."""
    return f"<{index:2d}> {key.key_type} keyid: {keyid(key.public_key)} ckaid: {key.ckaid}"


def raw_key_text(key: NssKey) -> str:
    """The RFC 3110 (RSA) or X||Y (ECDSA) key as ``0s`` base64; ValueError for other kinds."""
    text = key.pubkey_text()
    if text is None or key.key_type not in IPSECKEY_ALGORITHM:
        raise ValueError(f"wrong kind of key {key.key_type} in show_confkey, expected RSA or ECDSA.")
    return text


def spki_base64(key: NssKey) -> str:
    """The DER SubjectPublicKeyInfo in base64 (``--pubkey``)."""
    return pubkeys.encode_pubkey(key.public_key).removeprefix("0s")


def conf_lines(key: NssKey, side: str, pubkey: bool = False) -> list[str]:
    """``--left``/``--right``: the comment line and ``leftrsasigkey=``/``leftecdsakey=`` (or
    ``leftpubkey=`` with ``--pubkey``), tab-indented for ipsec.conf."""
    if pubkey:
        return [f"\t{side}pubkey={spki_base64(key)}"]
    text = raw_key_text(key)
    kind = "rsa" if key.key_type == "RSA" else "ecdsa"
    name = "rsasigkey" if kind == "rsa" else "ecdsakey"
    return [f"\t# {kind}key {keyid(key.public_key)}", f"\t{side}{name}={text}"]


def pem_text(key: NssKey) -> str:
    """``--pem``: the public key as a PEM SubjectPublicKeyInfo (no trailing newline)."""
    pem = key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii").rstrip("\n")


def gateway_type(gateway: str | None) -> int:
    """RFC 4025 gateway type: 0 none, 1 IPv4, 2 IPv6; ValueError for anything else."""
    if gateway is None:
        return 0
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", gateway) and all(int(p) < 256 for p in gateway.split(".")):
        return 1
    try:
        ipaddress.IPv6Address(gateway)
    except ValueError:
        raise ValueError(f"unknown address family for gateway {gateway}") from None
    return 2


def ipseckey_line(key: NssKey, hostname: str, precedence: int, gateway: str | None, pubkey: bool = False) -> str:
    """``--ipseckey``: an RFC 4025 IPSECKEY record for ``hostname``."""
    kind = gateway_type(gateway)
    if pubkey:
        algorithm, data = IPSECKEY_PUBKEY_ALGORITHM, spki_base64(key)
    else:
        algorithm, data = IPSECKEY_ALGORITHM.get(key.key_type, 0), raw_key_text(key).removeprefix("0s")
    return f"{hostname}.    IN    IPSECKEY  {precedence} {kind} {algorithm} {gateway or '.'} {data}"


def select_key(keys: Sequence[NssKey], ckaid: str | None, rsaid: str | None) -> NssKey | None:
    """The first key whose RSA keyid is ``rsaid`` (when given, it wins), else whose CKAID starts
    with ``ckaid`` (hex, any case)."""
    for key in keys:
        if rsaid is not None:
            if key.key_type == "RSA" and keyid(key.public_key) == rsaid:
                return key
        elif ckaid is not None and key.ckaid.startswith(ckaid.lower()):
            return key
    return None


def rsa_bits_error(bits: int) -> str | None:
    """Why Libreswan's rsasigkey refuses ``bits``, or None."""
    if bits < RSA_MIN_BITS:
        return f"requested RSA key size ({bits}) is too small - use {RSA_MIN_BITS} or more"
    if bits > RSA_MAX_BITS:
        return f"requested RSA key size ({bits}) is too large - (max {RSA_MAX_BITS})"
    if bits % RSA_BITS_STEP:
        return f"requested RSA key size ({bits}) is not a multiple of {RSA_BITS_STEP}"
    return None


def default_rsa_bits() -> int:
    """Libreswan's default: a random multiple of 16 from 3072 to 4096."""
    return 3072 + RSA_BITS_STEP * secrets.randbelow((4096 - 3072) // RSA_BITS_STEP + 1)


# -- the database -------------------------------------------------------------------------


def _auth_failed(prog: str) -> Exit:
    return Exit(1, [f'{prog}: authentication of "NSS Certificate DB" failed',
                    f"FATAL ERROR: {prog}: NSS: could not authenticate slot"])


def is_initialised(nssdir: Path) -> bool:
    """Both SQL files are there (what NSS needs to open the database)."""
    return (nssdir / "key4.db").is_file() and (nssdir / "cert9.db").is_file()


def open_db(nssdir: Path, password: str | None, ipsecdir: Path, prog: str) -> tuple[NssDb, str]:
    """The database and the password that unlocked it: ``password`` when given (or none, like
    NSS, for a database without one), else ``<ipsecdir>/nsspassword``'s."""
    if not is_initialised(nssdir):
        raise Exit(1, [f'FATAL ERROR: {prog}: NSS: initialization using read-only database "sql:{nssdir}" '
                       "failed: SEC_ERROR_BAD_DATABASE: security library: bad database."])
    try:
        if password is not None:
            candidates = [password.encode("utf-8"), b""]
        else:
            candidates = candidate_passwords(read_password_file(ipsecdir / "nsspassword"))
        for candidate in candidates:
            try:
                return NssDb(nssdir, password=candidate), candidate.decode("utf-8", "replace")
            except NssError as exc:
                if exc.message != "wrong password":
                    raise
    except ConfigError as exc:
        raise Exit(1, [f"FATAL ERROR: {prog}: {exc}"]) from exc
    raise _auth_failed(prog)


def _keys(db: NssDb, prog: str) -> list[NssKey]:
    try:
        return db.keys()
    except ConfigError as exc:
        raise Exit(1, [f"FATAL ERROR: {prog}: {exc}"]) from exc


# -- the verbs ----------------------------------------------------------------------------


def confddir() -> Path:
    """Where ``nsspassword`` is (and where checknss looks for a database to move):
    ``$IPSEC_CONFDDIR`` as Libreswan's ``ipsec`` script reads it, else /etc/ipsec.d."""
    return Path(os.environ.get("IPSEC_CONFDDIR") or DEFAULT_IPSECDIR)


def finish(exc: Exit) -> int:
    """Print a verb's stopping lines (stdout first, as the shell tools do) and give its status."""
    for line in exc.stdout:
        print(line)
    sys.stdout.flush()
    for line in exc.stderr:
        print(line, file=sys.stderr)
    return exc.status


def showhostkey(args: list[str]) -> int:
    """``ipsec showhostkey``: list the keys, or show one for ipsec.conf, DNS or as PEM."""
    prog = "ipsec showhostkey"
    try:
        return _showhostkey(args, prog, confddir())
    except Exit as exc:
        return finish(exc)


# In Libreswan's order, which getopt's "ambiguous" message follows; True: takes an argument.
# --configdir (undocumented) sets the database directory, as in Libreswan 4.10.
SHOWHOSTKEY_OPTIONS = {
    "help": False, "left": False, "right": False, "dump": False, "debug": False, "list": False,
    "ipseckey": False, "gateway": True, "precedence": True, "password": True, "pem": False, "pubkey": False,
    "version": False, "verbose": False, "rsaid": True, "ckaid": True, "configdir": True, "nssdir": True,
}


def _usage_exit(prog: str, message: str | None) -> Exit:
    return Exit(1, ([f"{prog}: {message}"] if message else []) + [SHOWHOSTKEY_USAGE])


def _showhostkey(args: list[str], prog: str, ipsecdir: Path) -> int:
    op: str | None = None
    nssdir, password = DEFAULT_NSSDIR, None
    ckaid: str | None = None
    rsaid: str | None = None
    gateway: str | None = None
    precedence, verbose, pubkey = 10, False, False
    try:
        for name, value in getopt_long(args, SHOWHOSTKEY_OPTIONS):
            if name == "help":
                raise _usage_exit(prog, None)
            if name == "version":
                print(VERSION)
                return 0
            if name in ("left", "right", "dump", "list", "ipseckey", "pem", "gateway"):
                wanted = "ipseckey" if name == "gateway" else name
                if op is not None and op != wanted:
                    raise _usage_exit(prog, "You must specify only one operation")
                op = wanted
                if name == "gateway":
                    gateway = value
            elif name == "precedence":
                try:
                    precedence = parse_ulong(value or "")
                except ValueError as exc:
                    raise Exit(EXIT_BAD_IPSECKEY, [f"{prog}: precedence malformed: {exc}"]) from None
                if precedence > 255:
                    raise Exit(EXIT_BAD_IPSECKEY, [f"{prog}: precedence malformed: too large"])
            elif name == "ckaid":
                ckaid = value
            elif name == "rsaid":
                rsaid = value
            elif name in ("nssdir", "configdir"):
                nssdir = value or ""
            elif name == "password":
                password = value
            elif name == "verbose":
                verbose = True
            elif name == "pubkey":
                pubkey = True
    except ValueError as exc:
        raise _usage_exit(prog, str(exc)) from None
    if op is None:
        raise _usage_exit(prog, "You must specify an operation")
    selecting = ckaid is not None or rsaid is not None
    if op in ("list", "dump"):
        if selecting:
            raise _usage_exit(prog, "You must not select a key")
    elif not selecting:
        raise _usage_exit(prog, "You must select a key using --ckaid or --rsaid")
    if verbose:
        print(f'{prog}: using nss directory "{nssdir}"', file=sys.stderr)
    db, _ = open_db(Path(nssdir), password, ipsecdir, prog)
    keys = [k for k in _keys(db, prog) if k.key_type in IPSECKEY_ALGORITHM]  # RSA and ECDSA, as Libreswan 4.10
    if op in ("list", "dump"):
        for index, listed in enumerate(keys, 1):
            print(list_line(index, listed))
        return 0
    out: list[str] = []
    if verbose:
        out.append(f"\t# picking by rsaid={rsaid}" if rsaid is not None else f"\t# picking by ckaid={ckaid}")
    key = select_key(keys, ckaid, rsaid)
    if key is None:
        raise Exit(EXIT_NO_KEYS, [f"{prog}: No keys found"], out)
    if op == "ipseckey":
        try:
            gateway_type(gateway)
        except ValueError as exc:
            sys.stderr.write(f"{prog}: {exc}")  # Libreswan ends this message without a newline
            return EXIT_BAD_IPSECKEY
    try:
        if op in ("left", "right"):
            out += conf_lines(key, op, pubkey)
        elif op == "pem":
            out.append(pem_text(key))
        else:
            out.append(ipseckey_line(key, os.uname().nodename, precedence, gateway, pubkey))
    except ValueError as exc:
        raise Exit(1, [f"{prog}: {exc}"], out) from None
    for line in out:
        print(line)
    return 0


def newhostkey(args: list[str]) -> int:
    """``ipsec newhostkey``: make an RSA or ECDSA key in the database with ``certutil -G``."""
    try:
        return _newhostkey(args, confddir())
    except Exit as exc:
        return finish(exc)


def _newhostkey(args: list[str], ipsecdir: Path) -> int:
    me = "ipsec newhostkey"
    bits = curve = password = None
    keytype, seeddev, nssdir, verbose = "rsa", "/dev/random", DEFAULT_NSSDIR, False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--bits", "--curve", "--keytype", "--seeddev", "--nssdir", "--password"):
            if not rest:
                raise Exit(2, [f"{me}: option `{arg}' requires an argument"])
            value = rest.pop(0)
            if arg == "--bits":
                bits = value or None
            elif arg == "--curve":
                curve = value or None
            elif arg == "--keytype":
                keytype = value
            elif arg == "--seeddev":
                seeddev = value
            elif arg == "--nssdir":
                nssdir = value
            else:
                password = value or None
        elif arg in ("--quiet", "--verbose"):
            verbose = arg == "--verbose"
        elif arg == "--version":
            print(f"{me} {VERSION.split()[-1]}")
            return 0
        elif arg == "--help":
            print(NEWHOSTKEY_USAGE)
            return 0
        elif arg == "--":
            break
        elif arg.startswith("-"):
            raise Exit(2, [f"{me}: unknown option `{arg}'"])
        else:
            break  # like Libreswan's script: the first non-option ends the options, the rest is ignored
    if bits is not None and curve is not None:
        raise Exit(2, stdout=[f"{me}: --bits and --curve are mutually exclusive"])
    if keytype == "rsa":
        if curve is not None:
            print(f"{me}: --curve and --keytype rsa are mutually exclusive")
    elif keytype == "ecdsa":
        if bits is not None:
            print(f"{me}: --bits and --keytype ecdsa are mutually exclusive")
    else:
        raise Exit(2, [f"{me}: unknown key type `{keytype}'"])
    sys.stdout.flush()
    path = Path(nssdir)
    if not path.is_dir():
        raise Exit(EXIT_NO_DB, stdout=[f"No such directory: {nssdir}"])
    if not is_initialised(path):
        raise Exit(EXIT_NO_DB, stdout=[f"NSS database in {nssdir} not initialized.",
                                       f"    Please run 'ipsec initnss --nssdir {nssdir}'"])
    if keytype == "rsa":
        return _generate(path, ipsecdir, "ipsec rsasigkey", "RSA", bits, password, seeddev, verbose)
    return _generate(path, ipsecdir, "ipsec ecdsasigkey", "ECDSA", curve, password, seeddev, verbose)


def _read_seed(prog: str, seeddev: str) -> bytes:
    """``SEED_BYTES`` from the seed device, with rsasigkey's messages when it fails."""
    try:
        dev = open(seeddev, "rb")  # noqa: SIM115 (two error messages: open, then read)
    except OSError as exc:
        raise Exit(1, [f"{prog}: could not open {seeddev} ({exc.strerror})"]) from None
    with dev:
        try:
            seed = dev.read(SEED_BYTES)
        except OSError as exc:
            raise Exit(1, [f"{prog}: read error on {seeddev} ({exc.strerror})"]) from None
    if len(seed) < SEED_BYTES:
        raise Exit(1, [f"{prog}: eof on {seeddev}!?!"])
    return seed


def _generate(nssdir: Path, ipsecdir: Path, prog: str, kind: str, size: str | None, password: str | None,
              seeddev: str, verbose: bool) -> int:
    """rsasigkey / ecdsasigkey: check, unlock, seed, ``certutil -G``, report the new CKAID."""
    curve = size or CURVES[0]
    if kind == "ECDSA" and curve not in CURVES:
        raise Exit(1, [f"{prog}: curve specification is malformed: {curve}"])
    if verbose:
        print(f"{prog}:  adjusting nssdir to {nssdir}", file=sys.stderr)
    db, unlocked = open_db(nssdir, password, ipsecdir, prog)
    if kind == "RSA":
        if size is None:
            bits = default_rsa_bits()
        else:
            try:
                bits = parse_ulong(size)
            except ValueError as exc:
                raise Exit(1, [f"{prog}: keysize specification is malformed: {exc}"]) from None
        problem = rsa_bits_error(bits)
        if problem:
            raise Exit(1, [f"{prog}: {problem}"])
        key_args = ["-k", "rsa", "-g", str(bits)]
    else:
        key_args = ["-k", "ec", "-q", curve]
    if verbose:
        print(f"{prog}: getting {SEED_BYTES} random seed bytes for NSS from {seeddev}...\n", file=sys.stderr)
    seed = _read_seed(prog, seeddev)
    before = set(db.ckaids())
    certutil = shutil.which(CERTUTIL)
    if certutil is None:
        raise Exit(1, [f"{prog}: key pair generation failed: \"certutil (libnss3-tools) is not installed\""])
    with tempfile.TemporaryDirectory(prefix="newhostkey.") as tmp:  # mode 0700
        noise, pwfile = Path(tmp) / "noise", Path(tmp) / "password"
        noise.write_bytes(seed)
        pwfile.write_text(unlocked + "\n", encoding="utf-8")
        done = subprocess.run([certutil, "-G", "-d", f"sql:{nssdir}", *key_args, "-z", str(noise), "-f", str(pwfile)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise Exit(1, [f'{prog}: key pair generation failed: "{lines[-1] if lines else done.returncode}"'])
    new = [c for c in db.ckaids() if c not in before]
    if len(new) != 1:
        raise Exit(1, [f"{prog}: 'CKAID' calculation failed"])
    print(f"Generated {kind} key pair with CKAID {new[0]} was stored in the NSS database", file=sys.stderr)
    print(f"The public key can be displayed using: ipsec showhostkey --left --ckaid {new[0]}", file=sys.stderr)
    return 0


def initnss(args: list[str]) -> int:
    """``ipsec initnss``: create an empty database (no password); refuse when one exists."""
    try:
        return _checknss("initnss", args, confddir())
    except Exit as exc:
        return finish(exc)


def checknss(args: list[str]) -> int:
    """``ipsec checknss``: create the database when missing (moving one left in ipsecdir)."""
    try:
        return _checknss("checknss", args, confddir())
    except Exit as exc:
        return finish(exc)


OLD_DB_FILES = ("cert8.db", "key3.db", "secmod.db")
MOVED_FILES = ("cert9.db", "key4.db", "pkcs11.txt")


def _checknss(cmd: str, args: list[str], ipsecdir: Path) -> int:
    nssdir = DEFAULT_NSSDIR
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--configdir", "-d", "--nssdir") and rest:
            if arg == "--configdir":
                print(f"ipsec {cmd} warning: --configdir is obsoleted, use --nssdir", file=sys.stderr)
            nssdir = rest.pop(0)
        elif arg == "--settrusts":
            raise Exit(1, [f"ipsec {cmd}: --settrusts is not supported (use certutil -M)"])
        else:
            raise Exit(1, [f"Usage: ipsec {cmd} [--nssdir {nssdir}]"])
    path = Path(nssdir)
    if not (path.is_dir() and os.access(path, os.W_OK)):
        raise Exit(1, [f'ERROR: destination directory "{nssdir}" is missing or permission denied'])
    if cmd == "checknss" and ipsecdir != path:
        _move_from_ipsecdir(ipsecdir, path)
    if any((path / f).is_file() for f in OLD_DB_FILES):
        if not is_initialised(path):
            raise Exit(EXIT_INIT_FAILED, [f"ipsec {cmd}: {nssdir} holds an old DBM NSS database (cert8.db/key3.db); "
                                          f"converting it is not supported: use certutil --upgrade-merge"])
        return 0
    if (path / "cert9.db").is_file() or (path / "key4.db").is_file():
        if cmd == "initnss":
            raise Exit(EXIT_ALREADY_INITIALISED, stdout=["NSS database already initialised - aborted",
                                                         f"To wipe the old NSS database, issue: rm {nssdir}/*.db"])
        return 0
    print("Initializing NSS database")
    print("", flush=True)
    certutil = shutil.which(CERTUTIL)
    failed = certutil is None or subprocess.run([certutil, "-N", "-d", f"sql:{nssdir}", "--empty-password"],
                                                stdin=subprocess.DEVNULL, check=False).returncode != 0
    if failed:
        raise Exit(EXIT_INIT_FAILED, [f"Failed to initialize nss database sql:{nssdir}"])
    restorecon = shutil.which("restorecon")
    if restorecon:
        subprocess.run([restorecon, "-Rv", nssdir], stdin=subprocess.DEVNULL, check=False)
    return 0


def _move_from_ipsecdir(ipsecdir: Path, nssdir: Path) -> None:
    """Libreswan's move of a database left in the old place (/etc/ipsec.d) to the nssdir."""
    if (ipsecdir / "cert8.db").is_file() and not (ipsecdir / "cert9.db").is_file() \
            and not (nssdir / "cert9.db").is_file():
        raise Exit(EXIT_INIT_FAILED, [
            "Failure - we cannot handle both nss db format conversion and nss db move to new location in one run.",
            f'Run "ipsec checknss --nssdir {ipsecdir}" manually first to convert db format'])
    for name in MOVED_FILES:
        if (ipsecdir / name).is_file() and not (nssdir / name).is_file():
            try:
                shutil.move(ipsecdir / name, nssdir / name)
            except OSError:
                raise Exit(EXIT_INIT_FAILED, [f"Failed to mv {ipsecdir / name} {nssdir / name}"]) from None
