"""ipsec.secrets parsing and the best-match PSK lookup."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from pluto_core.config import load_config
from pluto_core.config.identity import IdType, parse_id
from pluto_core.config.secrets import Secret, load_secrets, parse_secrets_text
from pluto_core.errors import ConfigError

KEY = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"


def _parse(text: str) -> object:
    return parse_secrets_text(text, "t.secrets")


def test_psk_forms() -> None:
    s = parse_secrets_text(
        '@a @b : PSK "quoted secret"\n'
        "@c @d : PSK 0x0102_0304\n"
        f"@e @f : PSK 0s{base64.b64encode(KEY).decode()}\n"
        "@g @h : PSK 0thello\n",
        "t.secrets",
    )
    assert s.lookup_psk("@a", "@b").reveal() == b"quoted secret"  # type: ignore[union-attr]
    assert s.lookup_psk("@c", "@d").reveal() == b"\x01\x02\x03\x04"  # type: ignore[union-attr]
    assert s.lookup_psk("@e", "@f").reveal() == KEY  # type: ignore[union-attr]
    assert s.lookup_psk("@g", "@h").reveal() == b"hello"  # type: ignore[union-attr]


def test_best_match_prefers_exact_pair_over_default_and_any() -> None:
    s = parse_secrets_text(
        ': PSK "global"\n'
        '%any %any : PSK "anyany"\n'
        '@east %any : PSK "east-any"\n'
        '@east @west : PSK "pair"\n',
        "t.secrets",
    )
    assert s.lookup_psk("@east", "@west").reveal() == b"pair"  # type: ignore[union-attr]
    assert s.lookup_psk("@west", "@east").reveal() == b"pair"  # type: ignore[union-attr]
    assert s.lookup_psk("@east", "@road").reveal() == b"east-any"  # type: ignore[union-attr]
    # neither ID is named: %any %any beats the index-less entry? both are "default" matches;
    # the first one in the file wins
    assert s.lookup_psk("@x", "@y").reveal() == b"global"  # type: ignore[union-attr]


def test_single_index_matches_local_only() -> None:
    s = parse_secrets_text('@east : PSK "mine"\n', "t.secrets")
    assert s.lookup_psk("@east", "@anyone").reveal() == b"mine"  # type: ignore[union-attr]
    assert s.lookup_psk("@anyone", "@east") is None


def test_ipv6_indices_and_colon_without_blank_before() -> None:
    s = parse_secrets_text('@east 192.1.2.45 "8::" 2001:db8:1:2::45:  PSK "k"\n', "t.secrets")
    assert [i.type for i in s.entries[0].ids] == [IdType.FQDN, IdType.IPV4_ADDR, IdType.IPV6_ADDR,
                                                  IdType.IPV6_ADDR]
    assert s.lookup_psk("2001:db8:1:2::45", "@east").reveal() == b"k"  # type: ignore[union-attr]


def test_ppks_xauth_rsa_block_and_continuation() -> None:
    s = parse_secrets_text(
        '@west @east : PPKS "PPK_ID_1" "post-quantum key"\n'
        '@user1 : XAUTH "pw"\n'
        "www.example.com @www.kremvax.ru\n"
        '\t10.6.0.1 : PSK "five"\n'
        ": RSA\t{\n"
        "\tModulus: 0xc715fa\n"
        "\tPublicExponent: 0x03\n"
        "\t}\n"
        ": RSA west\n"
        ': RSA /etc/key.pem "pass"\n',
        "t.secrets",
    )
    assert s.lookup_ppk("PPK_ID_1").reveal() == b"post-quantum key"  # type: ignore[union-attr]
    assert s.lookup_xauth("user1").reveal() == b"pw"  # type: ignore[union-attr]
    assert len(s.entries[2].ids) == 3
    rsa = s.entries[3]
    assert rsa.kind == "RSA" and [n for n, _v in rsa.rsa_fields] == ["Modulus", "PublicExponent"]
    assert rsa.rsa_fields[0][1].reveal() == bytes.fromhex("c715fa")
    assert s.entries[4].key_name == "west" and s.entries[5].secret.reveal() == b"pass"  # type: ignore[union-attr]


def test_secret_is_redacted_everywhere() -> None:
    s = parse_secrets_text('@a @b : PSK "hunter2-very-secret"\n', "t.secrets")
    entry = s.entries[0]
    for text in (repr(entry), str(entry), repr(s), f"{entry.secret}", str(entry.secret)):
        assert "hunter2" not in text
    with pytest.raises(ConfigError) as exc:
        parse_secrets_text('@a @b : PSK 0xZZsecretZZ\n', "t.secrets")
    assert "ZZsecretZZ" not in str(exc.value)
    assert Secret(b"x") == Secret(b"x") and Secret(b"x") != Secret(b"y")


@pytest.mark.parametrize("text,line", [
    ("@a @b PSK \"x\"\n", 1),
    ("@a @b : PSK\n", 1),
    ("\n\n@a : BOGUS \"x\"\n", 3),
    ("  @a : PSK \"x\"\n", 1),
    ("@a : PSK \"x\"\n\x00\x01", 2),
    ("@a : RSA {\n  Modulus: 0x01\n", 1),
])
def test_errors_have_a_location(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_secrets_text(text, "t.secrets")
    assert exc.value.file == "t.secrets" and exc.value.line == line


def test_include_glob_relative_and_permissions(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.secrets").write_text('@a @b : PSK "from-a"\n')
    (tmp_path / "d" / "b.secrets").write_text('@c @d : PSK "from-b"\n')
    top = tmp_path / "ipsec.secrets"
    top.write_text("include d/*.secrets\ninclude nothing-*.secrets\ninclude missing.secrets\n")
    for p in (top, tmp_path / "d" / "a.secrets", tmp_path / "d" / "b.secrets"):
        os.chmod(p, 0o600)
    os.chmod(tmp_path / "d" / "b.secrets", 0o644)
    s = load_secrets(str(top))
    assert s.lookup_psk("@a", "@b").reveal() == b"from-a"  # type: ignore[union-attr]
    assert s.lookup_psk("@d", "@c").reveal() == b"from-b"  # type: ignore[union-attr]
    assert any("b.secrets: secrets file is readable by other users" in w for w in s.warnings)
    assert not any("a.secrets: secrets file is readable" in w for w in s.warnings)
    assert any("could not open include filename" in w and "missing.secrets" in w for w in s.warnings)
    # --secretsfile takes a glob too
    glob_store = load_secrets(str(tmp_path / "d" / "*.secrets"))
    assert len(glob_store.entries) == 2


def test_every_corpus_secrets_file_parses(corpus: Path) -> None:
    files = sorted((corpus / "libreswan-conf").glob("*.secrets"))
    assert len(files) > 1000
    entries = 0
    for f in files:
        entries += len(load_secrets(str(f)).entries)
    assert entries > 1100


def test_fips_base64_psk(corpus_data: Path) -> None:
    s = load_secrets(str(corpus_data / "libreswan-conf/testing__pluto__fips-10-ikev2-psk__west.secrets"))
    want = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890ABCDEFGHIJ12345ABCDEFGHIJ12345ABCDEFGHIJ12345"
    assert s.lookup_psk("@west", "@east").reveal() == want  # type: ignore[union-attr]


@pytest.mark.parametrize("case,found", [
    ("ikev2-05-basic-psk", True),
    ("ikev2-38-psk-65bytes", True),
    ("ikev2-39-psk-64bytes", True),
    ("ikev2-05-basic-psk-missing-initiator", False),
])
def test_psk_lookup_for_the_conn_ids(corpus_data: Path, case: str, found: bool) -> None:
    """West's conn IDs select the key both hosts use; a commented-out entry means none."""
    d = corpus_data / "libreswan-expect" / case
    west_conf = load_config(d / "west.conf", local_addresses={"192.1.2.45"})
    conn = next(c for c in west_conf.conns.values() if "secret" in c.authby)
    assert conn.local.id is not None and conn.remote.id is not None
    west = load_secrets(str(d / "west.secrets")).lookup_psk(conn.local.id, conn.remote.id)
    east = load_secrets(str(d / "east.secrets")).lookup_psk(conn.remote.id, conn.local.id)
    assert east is not None
    if found:
        assert west is not None and west == east
        assert b"distraction" not in west.reveal()
    else:
        assert west is None


def test_corpus_pairs_agree(corpus: Path) -> None:
    """For west/east test cases whose conns use authby=secret with @IDs, both hosts find a PSK
    for the pair, and it is the same key (what makes the exchange authenticate)."""
    conf_dir = corpus / "libreswan-conf"
    checked = agreed = 0
    for west_secrets in sorted(conf_dir.glob("testing__pluto__*__west.secrets")):
        prefix = west_secrets.name[: -len("west.secrets")]
        east_secrets = conf_dir / (prefix + "east.secrets")
        west_conf = conf_dir / (prefix + "west.conf")
        if not east_secrets.exists() or not west_conf.exists():
            continue
        try:
            conf = load_config(west_conf)
        except ConfigError:
            continue
        ws, es = load_secrets(str(west_secrets)), load_secrets(str(east_secrets))
        for c in conf.conns.values():
            lid, rid = c.left.id, c.right.id
            if "secret" not in c.authby or lid is None or rid is None:
                continue
            if lid.type is not IdType.FQDN or rid.type is not IdType.FQDN:
                continue
            if {lid.value, rid.value} != {"west", "east"}:
                continue
            checked += 1
            w = ws.lookup_psk(parse_id("@west"), parse_id("@east"))
            e = es.lookup_psk(parse_id("@east"), parse_id("@west"))
            if w is not None and w == e:
                agreed += 1
    assert checked > 100
    assert agreed / checked > 0.97
