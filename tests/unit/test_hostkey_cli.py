"""``ipsec initnss|checknss|newhostkey|showhostkey`` against Libreswan 4.10's own commands.

Both run on databases made in tmp dirs and their stdout, stderr and exit codes are compared
line by line (CKAIDs and directories replaced where the keys differ). Tests needing
/opt/libreswan or certutil skip without them; the committed fixture (tests/data/nss) keeps
showhostkey checked everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pluto_core.cli import hostkey
from pluto_core.nss import NssDb

LIBRESWAN = Path("/opt/libreswan")
IPSEC = LIBRESWAN / "usr/sbin/ipsec"
CERTUTIL = shutil.which("certutil")
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "nss"
FIXTURE_PASSWORD = "pluto-fixture"
PASSWORD = "Sekr1t-pw"
URANDOM = ["--seeddev", "/dev/urandom"]


@dataclass(frozen=True)
class Run:
    rc: int
    out: str
    err: str

    def normalised(self, *dirs: Path) -> Run:
        def norm(text: str) -> str:
            for d in dirs:
                text = text.replace(str(d), "DIR")
            text = re.sub(r"[0-9a-f]{40}", "CKAID", text)
            return text.replace(f"{LIBRESWAN}/usr/libexec/ipsec/showhostkey:", "ipsec showhostkey:")

        return Run(self.rc, norm(self.out), norm(self.err))


def ours(*args: str, confddir: Path | None = None) -> Run:
    env = dict(os.environ)
    if confddir is not None:
        env["IPSEC_CONFDDIR"] = str(confddir)
    done = subprocess.run([sys.executable, "-m", "pluto_core.cli.ipsec", *args], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr)


def theirs(*args: str) -> Run:
    env = dict(os.environ, IPSEC_EXECDIR=str(LIBRESWAN / "usr/libexec/ipsec"),
               IPSEC_SBINDIR=str(LIBRESWAN / "usr/sbin"))
    done = subprocess.run([str(IPSEC), *args], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr)


def need_tools() -> None:
    if not IPSEC.exists():
        pytest.skip(f"Libreswan tools not found at {LIBRESWAN}")
    if CERTUTIL is None:
        pytest.skip("certutil (libnss3-tools) is not installed")


def make_db(path: Path, kind: str) -> Path:
    """``none``: no directory; ``empty``: a directory; ``init``: empty database; ``pw``: with a password."""
    assert CERTUTIL is not None
    if kind == "none":
        return path
    path.mkdir()
    if kind == "init":
        subprocess.run([CERTUTIL, "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    elif kind == "pw":
        pwfile = path.parent / f"{path.name}.pw"
        pwfile.write_text(PASSWORD + "\n")
        subprocess.run([CERTUTIL, "-N", "-d", f"sql:{path}", "-f", str(pwfile)], check=True)
    return path


def assert_same(tmp_path: Path, kind: str, *args: str) -> None:
    """Libreswan and we, each on its own fresh database of ``kind`` (``@D@`` in args)."""
    need_tools()
    mine, libreswan = make_db(tmp_path / "ours", kind), make_db(tmp_path / "theirs", kind)
    got = ours(*(a.replace("@D@", str(mine)) for a in args)).normalised(mine)
    want = theirs(*(a.replace("@D@", str(libreswan)) for a in args)).normalised(libreswan)
    assert got.out.splitlines() == want.out.splitlines()
    assert got.err.splitlines() == want.err.splitlines()
    assert got.rc == want.rc


# -- initnss / checknss ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "args"), [
    ("empty", ["initnss", "--nssdir", "@D@"]),
    ("init", ["initnss", "--nssdir", "@D@"]),
    ("none", ["initnss", "--nssdir", "@D@"]),
    ("empty", ["checknss", "--nssdir", "@D@"]),
    ("init", ["checknss", "--nssdir", "@D@"]),
    ("none", ["checknss", "--nssdir", "@D@"]),
    ("empty", ["checknss", "-d", "@D@"]),
    ("empty", ["initnss", "--nssdir", "@D@", "--bogus"]),
    ("empty", ["initnss", "--configdir", "@D@"]),
])
def test_nss_init_like_libreswan(tmp_path: Path, kind: str, args: list[str]) -> None:
    assert_same(tmp_path, kind, *args)


def test_initnss_makes_a_database_we_read(tmp_path: Path) -> None:
    need_tools()
    db = make_db(tmp_path / "db", "empty")
    assert ours("initnss", "--nssdir", str(db)).rc == 0
    assert NssDb(db).keys() == []
    assert theirs("showhostkey", "--nssdir", str(db), "--list") == Run(0, "", "")


def test_checknss_moves_a_database_from_confddir(tmp_path: Path) -> None:
    need_tools()
    old, new = make_db(tmp_path / "ipsec.d", "init"), make_db(tmp_path / "nss", "empty")
    assert ours("checknss", "--nssdir", str(new), confddir=old) == Run(0, "", "")
    assert (new / "key4.db").is_file() and not (old / "key4.db").exists()


# -- newhostkey ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "args"), [
    ("init", ["--keytype", "ecdsa", *URANDOM]),
    ("init", ["--keytype", "ecdsa", "--curve", "secp384r1", *URANDOM]),
    ("init", ["--keytype", "ecdsa", "--curve", "secp521r1", *URANDOM]),
    ("init", ["--keytype", "ecdsa", "--bits", "256", *URANDOM]),
    ("init", ["--curve", "secp384r1", "--bits", "3072"]),
    ("init", ["--keytype", "dsa"]),
    ("init", ["--bogus"]),
    ("init", ["--version"]),
    ("init", ["--help"]),
    ("none", []),
    ("empty", []),
    ("init", ["--bits", "2192", *URANDOM]),
    ("init", ["--bits", "5000"]),
    ("init", ["--bits", "abc"]),
    ("init", ["--bits", "010"]),
    ("init", ["--bits", "20016"]),
    ("init", ["--bits", "99999999999999999999"]),
    ("init", ["--keytype", "ecdsa", "--curve", "p256"]),
    ("init", ["--seeddev", "/nonexistent"]),
    ("init", ["--seeddev", "/dev/null"]),
    ("init", ["--password", "junk", "--keytype", "ecdsa", *URANDOM]),
    ("pw", ["--password", PASSWORD, "--keytype", "ecdsa", *URANDOM]),
    ("pw", ["--password", "wrong"]),
    ("pw", []),
    ("pw", ["--password", "wrong", "--keytype", "ecdsa", "--curve", "foo"]),
])
def test_newhostkey_like_libreswan(tmp_path: Path, kind: str, args: list[str]) -> None:
    assert_same(tmp_path, kind, "newhostkey", "--nssdir", "@D@", *args)


def test_newhostkey_default_rsa_size_and_libreswan_reads_our_keys(tmp_path: Path) -> None:
    need_tools()
    db = make_db(tmp_path / "db", "init")
    assert ours("newhostkey", "--nssdir", str(db), *URANDOM).rc == 0
    assert ours("newhostkey", "--nssdir", str(db), "--keytype", "ecdsa", *URANDOM).rc == 0
    keys = NssDb(db).keys()
    assert [k.key_type for k in keys] == ["RSA", "ECDSA"]
    assert 3072 <= keys[0].bits <= 4096 and keys[0].bits % 16 == 0
    for key in keys:
        want = theirs("showhostkey", "--nssdir", str(db), "--left", "--ckaid", key.ckaid)
        assert want.rc == 0 and want.out.splitlines() == hostkey.conf_lines(key, "left")


def test_default_rsa_bits_are_libreswans() -> None:
    sizes = {hostkey.default_rsa_bits() for _ in range(300)}
    assert min(sizes) >= 3072 and max(sizes) <= 4096 and all(s % 16 == 0 for s in sizes)
    assert hostkey.rsa_bits_error(2176) and hostkey.rsa_bits_error(20016) and hostkey.rsa_bits_error(3080)
    assert hostkey.rsa_bits_error(3072) is None


# -- showhostkey -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keydb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A password-protected database with RSA and ECDSA keys made by Libreswan."""
    need_tools()
    db = make_db(tmp_path_factory.mktemp("keys") / "db", "pw")
    for extra in ([], ["--keytype", "ecdsa"], ["--keytype", "ecdsa", "--curve", "secp384r1"],
                  ["--keytype", "ecdsa", "--curve", "secp521r1"], ["--bits", "2192"]):
        made = theirs("newhostkey", "--nssdir", str(db), "--password", PASSWORD, *URANDOM, *extra)
        assert made.rc == 0, made.err
    return db, NssDb(db, password=PASSWORD).ckaids()


SHOW_CASES = [
    ["--list"], ["--dump"], ["--left", "--ckaid", "@0@"], ["--right", "--ckaid", "@1@"],
    ["--left", "--ckaid", "@2@"], ["--right", "--ckaid", "@3@"], ["--left", "--pubkey", "--ckaid", "@0@"],
    ["--right", "--pubkey", "--ckaid", "@1@"], ["--pem", "--ckaid", "@0@"], ["--pem", "--ckaid", "@3@"],
    ["--left", "--rsaid", "@R@"], ["--left", "--rsaid", "@E@"], ["--ipseckey", "--ckaid", "@0@"],
    ["--ipseckey", "--ckaid", "@1@"], ["--ipseckey", "--pubkey", "--ckaid", "@2@"],
    ["--ipseckey", "--ckaid", "@0@", "--gateway", "192.0.2.1", "--precedence", "5"],
    ["--ipseckey", "--ckaid", "@1@", "--gateway", "2001:0db8::01"], ["--gateway", "192.0.2.1", "--ckaid", "@4@"],
    ["--ipseckey", "--ckaid", "@0@", "--gateway", "gw.example"],
    ["--ipseckey", "--ckaid", "@0@", "--precedence", "300"], ["--ipseckey", "--ckaid", "@0@", "--precedence", ""],
    ["--ipseckey", "--ckaid", "@0@", "--precedence", "1x"], ["--left", "--ckaid", "0011"],
    ["--left", "--ckaid", "zz"], ["--left", "--ckaid", "@P@"], ["--left", "--ckaid", "@U@"],
    ["--left", "--ckaid", "@1@", "--rsaid", "@R@"], ["--left", "--ckaid", "@0@", "--ckaid", "@1@"],
    ["--left"], [], ["--list", "--left"], ["--list", "--ckaid", "@0@"], ["--left", "--right", "--ckaid", "@0@"],
    ["--bogus"], ["-x"], ["--p"], ["--list=3"], ["--ck=@1@", "--le"], ["--left", "--ckaid"],
    ["--version", "--bogus"], ["--help"], ["--left", "--ckaid", "@0@", "extra"],
]


@pytest.mark.parametrize("case", SHOW_CASES, ids=lambda c: " ".join(c) or "none")
def test_showhostkey_like_libreswan(keydb: tuple[Path, list[str]], case: list[str]) -> None:
    db, ckaids = keydb
    keys = NssDb(db, password=PASSWORD).keys()
    subst = {f"@{i}@": c for i, c in enumerate(ckaids)}
    subst |= {"@R@": hostkey.keyid(keys[0].public_key), "@E@": hostkey.keyid(keys[1].public_key),
              "@P@": ckaids[0][:7], "@U@": ckaids[0].upper()}

    def fill(arg: str) -> str:
        for k, v in subst.items():
            arg = arg.replace(k, v)
        return arg

    args = ["showhostkey", "--nssdir", str(db), "--password", PASSWORD, *map(fill, case)]
    want = theirs(*args)
    prog = f"{LIBRESWAN}/usr/libexec/ipsec/showhostkey:"  # getopt's messages name the binary
    assert ours(*args) == Run(want.rc, want.out, want.err.replace(prog, "ipsec showhostkey:"))


@pytest.mark.parametrize(("kind", "args"), [
    ("none", ["--list"]), ("empty", ["--list"]), ("init", ["--list"]), ("init", ["--dump"]),
    ("init", ["--left", "--ckaid", "00"]), ("pw", ["--list"]), ("pw", ["--list", "--password", "wrong"]),
    ("pw", ["--list", "--password", PASSWORD]), ("init", ["--list", "--password", "junk"]),
])
def test_showhostkey_databases_like_libreswan(tmp_path: Path, kind: str, args: list[str]) -> None:
    assert_same(tmp_path, kind, "showhostkey", "--nssdir", "@D@", *args)


# -- the committed fixture (no tools needed) ---------------------------------------------------


def fixture_expectations() -> tuple[list[str], dict[str, list[str]]]:
    """showhostkey.txt: the --list lines, then per CKAID the --left and --pem lines."""
    lines = (FIXTURE / "showhostkey.txt").read_text().splitlines()
    listed = [line for line in lines if line.startswith("<")]
    shown: dict[str, list[str]] = {}
    rest = lines[len(listed):]
    for line in listed:
        ckaid = line.split("ckaid: ")[1]
        end = rest.index("-----END PUBLIC KEY-----") + 1
        shown[ckaid], rest = rest[:end], rest[end:]
    return listed, shown


@pytest.fixture()
def fixture_db(tmp_path: Path) -> Path:
    db = tmp_path / "db"
    shutil.copytree(FIXTURE / "db", db)
    return db


def test_fixture_list(fixture_db: Path) -> None:
    listed, _ = fixture_expectations()
    assert ours("showhostkey", "--nssdir", str(fixture_db), "--list", "--password", FIXTURE_PASSWORD) == \
        Run(0, "\n".join(listed) + "\n", "")


def test_fixture_left_and_pem_with_nsspassword_from_confddir(fixture_db: Path) -> None:
    _, shown = fixture_expectations()
    for ckaid, lines in shown.items():
        left = ours("showhostkey", "--nssdir", str(fixture_db), "--left", "--ckaid", ckaid, confddir=fixture_db)
        pem = ours("showhostkey", "--nssdir", str(fixture_db), "--pem", "--ckaid", ckaid, confddir=fixture_db)
        assert left.rc == 0 and pem.rc == 0, left.err + pem.err
        assert left.out.splitlines() + pem.out.splitlines() == lines


def test_fixture_errors(fixture_db: Path, tmp_path: Path) -> None:
    db = str(fixture_db)
    auth = ('ipsec showhostkey: authentication of "NSS Certificate DB" failed\n'
            "FATAL ERROR: ipsec showhostkey: NSS: could not authenticate slot\n")
    assert ours("showhostkey", "--nssdir", db, "--list", confddir=tmp_path) == Run(1, "", auth)
    assert ours("showhostkey", "--nssdir", db, "--list", "--password", "wrong") == Run(1, "", auth)
    assert ours("showhostkey", "--nssdir", db, "--left", "--ckaid", "0011", confddir=fixture_db) == \
        Run(20, "", "ipsec showhostkey: No keys found\n")
    missing = tmp_path / "nope"
    assert ours("showhostkey", "--nssdir", str(missing), "--list") == Run(1, "", (
        f'FATAL ERROR: ipsec showhostkey: NSS: initialization using read-only database "sql:{missing}" '
        "failed: SEC_ERROR_BAD_DATABASE: security library: bad database.\n"))
    usage = ours("showhostkey", "--nssdir", db)
    assert usage.rc == 1 and usage.err.splitlines()[:2] == ["ipsec showhostkey: You must specify an operation",
                                                            "Usage:"]


def test_fixture_ipseckey(fixture_db: Path) -> None:
    listed, shown = fixture_expectations()
    rsa_ckaid = listed[0].split("ckaid: ")[1]
    raw = shown[rsa_ckaid][1].split("=", 1)[1].removeprefix("0s")
    got = ours("showhostkey", "--nssdir", str(fixture_db), "--ipseckey", "--ckaid", rsa_ckaid[:8],
               "--gateway", "192.0.2.1", "--password", FIXTURE_PASSWORD)
    assert got == Run(0, f"{os.uname().nodename}.    IN    IPSECKEY  10 1 2 192.0.2.1 {raw}\n", "")


# -- pure parts ------------------------------------------------------------------------------


def test_getopt_long() -> None:
    spec = {"left": False, "list": False, "ckaid": True}
    assert list(hostkey.getopt_long(["--li", "x", "--ck=ab", "--ckaid", "cd", "--", "--bogus"], spec)) == [
        ("list", None), ("ckaid", "ab"), ("ckaid", "cd")]
    for args, message in ((["--l"], "option '--l' is ambiguous; possibilities: '--left' '--list'"),
                          (["--left=1"], "option '--left' doesn't allow an argument"),
                          (["--ckaid"], "option '--ckaid' requires an argument"),
                          (["-q"], "invalid option -- 'q'"), (["--x"], "unrecognized option '--x'")):
        with pytest.raises(ValueError, match=re.escape(message)):
            list(hostkey.getopt_long(args, spec))


def test_parse_ulong() -> None:
    assert hostkey.parse_ulong("010") == 10
    for text, message in (("", "empty string"), ("1x", "non-digit in number"), ("-1", "non-digit in number"),
                          ("99999999999999999999", "unsigned-long overflow")):
        with pytest.raises(ValueError, match=message):
            hostkey.parse_ulong(text)


def test_gateway_type() -> None:
    assert [hostkey.gateway_type(g) for g in (None, "192.0.2.1", "010.1.2.3", "2001:db8::1")] == [0, 1, 1, 2]
    with pytest.raises(ValueError, match="unknown address family for gateway gw.example"):
        hostkey.gateway_type("gw.example")
