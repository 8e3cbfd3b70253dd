"""The example auth source (examples/pluto-sqlite-auth), imported from its folder: PSK
lookups (exact row before %any), the per-conn rule and its veto, failing closed on an
unreadable database, lookups from many threads while the command line edits, the
command line itself, and the source behind pluto's real auth chain."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pluggy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pluto_core import hookspecs
from pluto_core.auth.chain import AuthChain
from pluto_core.ikev2.types import IdSpec
from tests.engine.harness import conn_pair

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pluto-sqlite-auth"
sys.path.insert(0, str(EXAMPLE))

from pluto_sqlite_auth import DB_NAME, NAME, SqliteAuthSource, store  # noqa: E402
from pluto_sqlite_auth.__main__ import main as cli  # noqa: E402

WEST, EAST, NORTH = IdSpec.parse("@west"), IdSpec.parse("@east"), IdSpec.parse("@north")
CONN = conn_pair()[1]  # east's "west-east"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / DB_NAME
    store.init(path)
    store.add_psk(path, "@east", "@west", b"east-west key")
    return path


def test_the_exact_row_wins_over_any_and_any_serves_other_peers(db: Path) -> None:
    source = SqliteAuthSource(db)
    assert source.pluto_auth_psk(local_id=EAST, remote_id=WEST) == b"east-west key"
    assert source.pluto_auth_psk(local_id=EAST, remote_id=NORTH) is None
    assert source.pluto_auth_psk(local_id=EAST, remote_id=None) is None  # no %any row yet
    store.add_psk(db, "@east", "%any", b"for anyone")
    assert source.pluto_auth_psk(local_id=EAST, remote_id=WEST) == b"east-west key"
    assert source.pluto_auth_psk(local_id=EAST, remote_id=NORTH) == b"for anyone"
    assert source.pluto_auth_psk(local_id=EAST, remote_id=None) == b"for anyone"
    assert source.pluto_auth_psk(local_id=WEST, remote_id=EAST) is None  # rows are directional


def test_ip_address_ids_and_text_secrets(db: Path) -> None:
    store.add_psk(db, "192.0.2.2", "192.0.2.1", b"by address")
    with store.writing(db) as conn:  # as the sqlite3 shell would insert it: TEXT, not BLOB
        conn.execute("INSERT INTO psk VALUES ('@east', '@text', 'typed by hand')")
    source = SqliteAuthSource(db)
    assert source.pluto_auth_psk(local_id=IdSpec.parse("192.0.2.2"), remote_id=IdSpec.parse("192.0.2.1")) \
        == b"by address"
    assert source.pluto_auth_psk(local_id=EAST, remote_id=IdSpec.parse("@text")) == b"typed by hand"


def test_a_conn_with_allowed_rows_admits_only_those_peers(db: Path) -> None:
    source = SqliteAuthSource(db)
    assert source.pluto_auth_authorize(peer_id=WEST, conn=CONN) is None  # no rows: anyone
    store.allow(db, "west-east", "@north")
    assert source.pluto_auth_authorize(peer_id=WEST, conn=CONN) == 'peer @west is not allowed on conn "west-east"'
    assert source.pluto_auth_authorize(peer_id=NORTH, conn=CONN) is None
    store.allow(db, "west-east", "@west")
    assert source.pluto_auth_authorize(peer_id=WEST, conn=CONN) is None
    store.allow(db, "other", "@north")  # another conn's rule does not apply here
    assert store.delete(db, "allowed", "west-east", "@north") == 1
    assert source.pluto_auth_authorize(peer_id=WEST, conn=CONN) is None


def test_an_unreadable_database_vetoes_and_its_psk_lookup_raises(tmp_path: Path) -> None:
    source = SqliteAuthSource(tmp_path / "missing.sqlite")
    verdict = source.pluto_auth_authorize(peer_id=WEST, conn=CONN)
    assert verdict is not None and verdict.startswith(f"cannot read {tmp_path / 'missing.sqlite'}: OperationalError")
    with pytest.raises(Exception, match="unable to open database file"):
        source.pluto_auth_psk(local_id=EAST, remote_id=WEST)
    assert not (tmp_path / "missing.sqlite").exists()  # read-only: never created by a lookup


def test_startup_takes_the_path_from_ipsecdir_and_logs_only_when_named(db: Path) -> None:
    lines: list[str] = []
    log = SimpleNamespace(log=lines.append)
    named = SqliteAuthSource()
    named.pluto_startup(options=SimpleNamespace(ipsecdir=str(db.parent), auth_sources=(NAME, "secrets")), log=log)
    assert named.path == str(db) and lines == [f"auth source sqlite-example: database {db}"]
    assert named.pluto_auth_psk(local_id=EAST, remote_id=WEST) == b"east-west key"
    lines.clear()
    SqliteAuthSource().pluto_startup(options=SimpleNamespace(ipsecdir=str(db.parent), auth_sources=("secrets",)),
                                     log=log)
    assert lines == []  # installed but not named: silent (and never asked)
    SqliteAuthSource().pluto_startup(options=SimpleNamespace(ipsecdir="/nonexistent", auth_sources=(NAME,)), log=log)
    assert lines == [f"auth source sqlite-example: database /nonexistent/{DB_NAME} "
                     "(missing: no keys, every peer vetoed until it exists)"]


def test_lookups_from_many_threads_while_the_database_is_edited(db: Path) -> None:
    """Each lookup opens its own read-only connection: worker threads share nothing,
    and rows added meanwhile are seen without a reload."""
    source = SqliteAuthSource(db)
    peers = [IdSpec.parse(f"@peer{i}") for i in range(40)]
    errors: list[BaseException] = []
    answers: dict[str, set[bytes | None]] = {p.text: set() for p in peers}
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for peer in peers:
                    answers[peer.text].add(source.pluto_auth_psk(local_id=EAST, remote_id=peer))
                    assert source.pluto_auth_authorize(peer_id=peer, conn=CONN) is None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for peer in peers:
        store.add_psk(db, "@east", peer.text, f"key of {peer.text}".encode())
    stop.set()
    for t in threads:
        t.join(30)
    assert errors == []
    for peer in peers:  # only ever "not there yet" or the right key, never another's
        assert answers[peer.text] <= {None, f"key of {peer.text}".encode()}
        assert source.pluto_auth_psk(local_id=EAST, remote_id=peer) == f"key of {peer.text}".encode()


def test_through_the_auth_chain_it_answers_and_vetoes_by_name(db: Path) -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(SqliteAuthSource(db), name=f"pluto.auth:{NAME}")
    lines: list[str] = []
    chain = AuthChain(manager.hook, (NAME,), lines.append, timeout=5)
    try:
        assert chain.psk(EAST, WEST, CONN) == b"east-west key"
        assert chain.authorize(WEST, CONN, "secret") is None
        store.allow(db, "west-east", "@north")
        assert chain.authorize(WEST, CONN, "secret") == \
            'vetoed by plugin sqlite-example: peer @west is not allowed on conn "west-east"'
        db.unlink()
        assert chain.psk(EAST, WEST, CONN) is None
        assert lines == ["auth source sqlite-example: pluto_auth_psk failed: OperationalError: "
                         "unable to open database file: skipped"]
    finally:
        chain.close()


def test_trusted_public_keys_come_back_as_cryptography_keys(db: Path, tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    store.add_pubkey(db, "@west", pem)
    (found,) = store.trusted_public_keys(db, "@west")
    assert isinstance(found, ed25519.Ed25519PublicKey) and found.public_bytes_raw() == key.public_bytes_raw()
    assert store.trusted_public_keys(db, "@north") == []
    with pytest.raises(ValueError):
        store.add_pubkey(db, "@west", "not a key")
    manager = pluggy.PluginManager(hookspecs.PROJECT)  # and the daemon asks for them through the chain
    manager.add_hookspecs(hookspecs)
    manager.register(SqliteAuthSource(db), name=f"pluto.auth:{NAME}")
    chain = AuthChain(manager.hook, (NAME,), [].append, timeout=5)
    try:
        (served,) = chain.public_keys(WEST, CONN)
        assert served.public_bytes_raw() == key.public_bytes_raw()
        assert chain.public_keys(IdSpec.parse("@north"), CONN) == []
    finally:
        chain.close()


def test_the_command_line_normalizes_ids_and_never_prints_a_secret(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "cli.sqlite")
    assert cli([path, "list"]) == 1 and "no such database (run: init)" in capsys.readouterr().err
    assert cli([path, "init"]) == 0
    assert (tmp_path / "cli.sqlite").stat().st_mode & 0o777 == 0o600
    assert cli([path, "add-psk", "east", "west", "very secret words"]) == 0
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("from stdin\n"))
    assert cli([path, "add-psk", "east", "%any", "-"]) == 0
    assert cli([path, "allow", "west-east", "west"]) == 0
    assert cli([path, "list"]) == 0
    out = capsys.readouterr().out
    assert "very secret" not in out and "from stdin" not in out
    assert "psk @east @west (17 bytes)" in out and "psk @east %any (10 bytes)" in out
    assert "allowed west-east @west" in out
    assert store.psk(path, "@east", "@west") == b"very secret words"
    assert store.psk(path, "@east", "@north") == b"from stdin"
    assert cli([path, "disallow", "west-east", "@west"]) == 0
    assert store.allowed_peers(path, "west-east") == set()
