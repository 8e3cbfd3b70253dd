"""ipsec.conf grammar, keyword table, values, %default/also, orientation, checkconfig, fuzz."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluto_core.config import SetupConfig, load_config, parse_config
from pluto_core.config.checkconfig import main as checkconfig
from pluto_core.config.identity import IdType
from pluto_core.config.values import parse_duration, parse_percent
from pluto_core.errors import ConfigError


def _write(tmp_path: Path, text: str, name: str = "ipsec.conf") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


BASIC = """\
version 2.0
# comment
config setup
\tlogfile=/tmp/pluto.log
\tLogTime=no
\tnhelpers=4294967297
\tkeep-alive=1m
\tuniqueids=yes
\tvirtual-private=%v4:10.0.0.0/8
\tplutodebug="all crypt"

conn %default
\tike=aes-sha2
\tkeyingtries=3

conn base
\tleft=192.1.2.45
\tleftid=@west
\tright=192.1.2.23 # trailing comment
\trightid=@#0a0b
\tauthby=secret

conn west-east
\talso=base
\tleft-subnet=192.0.1.0/24
\trightsubnet="{192.0.2.0/24, 192.0.22.0/24}"
\trekeymargin=10seconds
\trekeyfuzz = 10%
\tretransmit-interval=750
\tsalifetime=1h
\tauto=start
"""


def test_setup_is_typed(tmp_path: Path) -> None:
    conf = load_config(_write(tmp_path, BASIC))
    s = conf.setup
    assert isinstance(s, SetupConfig)
    assert s.logfile == "/tmp/pluto.log" and s.logtime is False and s.uniqueids is True
    assert s.nhelpers == 4294967297 and s.keep_alive == 60
    assert s.virtual_private == "%v4:10.0.0.0/8" and s.plutodebug == "all crypt"
    assert s.listen is None and s.get("keep-alive") == 60 and s.get("ikev1-policy") == "drop"
    assert conf.version == "2.0"
    assert any(w.endswith(":14: obsolete keyword ignored: keyingtries=3") for w in conf.warnings)


def test_conn_values_also_and_default(tmp_path: Path) -> None:
    conf = load_config(_write(tmp_path, BASIC), local_addresses={"192.1.2.45"})
    c = conf.conns["west-east"]
    assert c.left.address == ipaddress.ip_address("192.1.2.45")
    assert c.left.id is not None and c.left.id.type is IdType.FQDN and c.left.id.value == "west"
    assert c.right.id is not None and c.right.id.type is IdType.KEY_ID and c.right.id.value == "0a0b"
    assert [str(x) for x in c.left.subnets] == ["192.0.1.0/24"]
    assert [str(x) for x in c.right.subnets] == ["192.0.2.0/24", "192.0.22.0/24"]
    assert c.rekeymargin == 10 and c.rekeyfuzz == 10 and c.retransmit_interval == 750
    assert c.ipsec_lifetime == 3600 and c.auto == "start" and c.authby == ("secret",)
    assert c.ike is not None and c.ike.text == "aes-sha2"  # from %default
    assert c.local is c.left and c.remote is c.right
    # base has no auto=, and is complete: it loads too
    assert conf.conns["base"].ike is not None


def test_default_applies_only_to_later_conns_and_also_in_default_is_ignored(tmp_path: Path) -> None:
    text = (
        "conn early\n\tleft=1.2.3.4\n\tright=5.6.7.8\n"
        "conn %default\n\tesp=aes\n\talso=nowhere\n"
        "conn late\n\tleft=1.2.3.4\n\tright=5.6.7.8\n"
    )
    conf = load_config(_write(tmp_path, text))
    assert conf.conns["early"].esp is not None and conf.conns["early"].esp.is_default
    assert conf.conns["late"].esp is not None and conf.conns["late"].esp.text == "aes"
    assert conf.failed == {}


def test_also_order_cycle_and_missing(tmp_path: Path) -> None:
    text = (
        "conn a\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\talso=b\n\talso=c\n"
        "conn b\n\tike=aes-sha2\n\tikelifetime=1h\n"
        "conn c\n\tike=3des-sha1\n\tesp=aes_gcm\n"
        "conn x\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\talso=y\n"
        "conn y\n\talso=x\n"
        "conn m\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\talso=nope\n"
    )
    conf = load_config(_write(tmp_path, text))
    a = conf.conns["a"]
    assert a.ike.text == "aes-sha2" and a.esp.text == "aes_gcm" and a.ikelifetime == 3600  # type: ignore[union-attr]
    assert "loops" in conf.failed["x"].message and conf.failed["x"].line == 17
    assert "also=nope names no conn" in conf.failed["m"].message


def test_duplicates(tmp_path: Path) -> None:
    text = "config setup\n\tlogfile=a\n\tlogfile=b\nconn c\n\tleft=1.1.1.1\n\tleft=1.1.1.2\n\tright=%any\n"
    p = _write(tmp_path, text)
    conf = load_config(p)
    assert conf.setup.logfile == "b"
    assert conf.conns["c"].left.host == "1.1.1.1"
    assert conf.warnings == [
        f"{p}:3: overriding earlier 'config setup' keyword with new value: logfile=b",
        f"{p}:6: ignoring duplicate conn keyword: left=1.1.1.2",
    ]


@pytest.mark.parametrize("text,line,msg", [
    ("config setup\n\tunknown=no\n", 2, "unrecognized 'config setup' keyword 'unknown'"),
    ("conn a\n\tleftbogus=1\n", 2, "unrecognized 'conn' keyword 'leftbogus'"),
    ("conn a\n\tsubnet=1.2.3.0/24\n", 2, 'keyword "subnet" requires "left" or "right" prefix'),
    ("conn a\n\tsubnet=\n", 3, 'keyword "subnet" requires "left" or "right" prefix'),
    ("config setup\n\trundir=/x\n", 2, "only valid as a command line option"),
    ("\tleft=1.2.3.4\n", 1, "outside of a section"),
    ("conn a\n\tleft=\"1.2.3.4\n", 2, "unterminated quoted string"),
    ("bogus header\n", 1, "syntax error"),
    ("config nothing\n", 1, "syntax error"),
])
def test_fatal_errors_have_file_and_line(tmp_path: Path, text: str, line: int, msg: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.file == str(p) and exc.value.line == line and msg in exc.value.message


def test_case_hyphen_xcomment_legacy(tmp_path: Path) -> None:
    text = "conn a\n\tLEFT=1.1.1.1\n\tright-id=@b\n\tright=2.2.2.2\n\tx-foo=bar\n\tinitial_contact=yes\n"
    p = _write(tmp_path, text)
    conf = load_config(p)
    a = conf.conns["a"]
    assert a.left.host == "1.1.1.1" and a.right.id.value == "b" and a.initial_contact  # type: ignore[union-attr]
    assert f"{p}:5: X- style comment ignored: x-foo=bar" in conf.warnings


def test_include_relative_glob_missing_and_depth(tmp_path: Path) -> None:
    _write(tmp_path, "conn inc1\n\tleft=1.1.1.1\n\tright=2.2.2.2\n", "d/one.conf")
    _write(tmp_path, "conn inc2\n\talso=inc1\n", "d/two.conf")
    top = _write(tmp_path, "include d/*.conf\ninclude none/*.conf\ninclude /no/such.conf\n"
                 "include self.conf\n")
    _write(tmp_path, "include self.conf\n", "self.conf")
    conf = load_config(top)
    assert set(conf.conns) == {"inc1", "inc2"}
    assert f"{top}:4: could not open include filename: '/no/such.conf'" in conf.warnings
    assert any("exceeds max inclusion depth of 10" in w for w in conf.warnings)
    assert conf.files.count(str(tmp_path / "self.conf")) == 10


def test_ipsecdir_maps_etc_ipsec_d(tmp_path: Path) -> None:
    _write(tmp_path, "conn x\n\tleft=1.1.1.1\n\tright=2.2.2.2\n", "ipsec.d/x.conf")
    top = _write(tmp_path, "include /etc/ipsec.d/*.conf\n")
    assert set(load_config(top, ipsecdir=str(tmp_path / "ipsec.d")).conns) == {"x"}


def test_missing_file() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config("/dne.conf")
    assert str(exc.value) == "/dne.conf: could not open '/dne.conf': No such file or directory (errno 2)"


@pytest.mark.parametrize("left,right,local,want", [
    ("192.1.2.45", "192.1.2.23", {"192.1.2.45"}, True),
    ("192.1.2.45", "192.1.2.23", {"192.1.2.23"}, False),
    ("%defaultroute", "%any", set(), True),
    ("%any", "2001:db8::1", {"2001:db8:0::1"}, False),
    ("1.2.3.4", "5.6.7.8", {"9.9.9.9"}, None),
])
def test_orientation(tmp_path: Path, left: str, right: str, local: set[str], want: bool | None) -> None:
    p = _write(tmp_path, f"conn c\n\tleft={left}\n\tright={right}\n")
    c = load_config(p, local_addresses=local).conns["c"]
    assert c.local_is_left is want
    # the predicate is called with the canonical text of an address
    canon = {str(ipaddress.ip_address(a)) for a in local}
    pred = load_config(p, local_addresses=lambda a: a in canon).conns["c"]
    assert pred.local_is_left is want


def test_orientation_any_any_fails(tmp_path: Path) -> None:
    p = _write(tmp_path, "conn c\n\tleft=%any\n\tright=%any\n")
    conf = load_config(p, local_addresses=set())
    assert "specify the local host's IP address" in conf.failed["c"].message


def test_values() -> None:
    assert parse_duration("10seconds") == 10_000 and parse_duration("1.5h") == 5_400_000
    assert parse_duration("750", default_unit_ms=1) == 750
    with pytest.raises(ValueError, match='unrecognized duration multiplier "xA"'):
        parse_duration("0xA")
    assert parse_percent("10%") == 10
    with pytest.raises(ValueError, match="expecting % character"):
        parse_percent("10foo")


def test_checkconfig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path, "conn a\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tauthby=secret\n\tauto=add\n", "good.conf")
    assert checkconfig(["--config", str(good)]) == 0
    bad = _write(tmp_path, "conn a\n\tleft=1.1.1.1\n\trekeymargin=0xA\n\tauto=add\n"
                 "conn b\n\tunknown=1\n", "bad.conf")
    assert checkconfig(["--config", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"ERROR: {bad}:6: unrecognized 'conn' keyword 'unknown'" in out
    assert '"rekeymargin=0xA" invalid, unrecognized duration multiplier "xA"' in out


@settings(max_examples=250, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_traceback(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    p = tmp_path_factory.mktemp("fuzz") / "f.conf"
    p.write_bytes(data)
    try:
        load_config(p)
    except ConfigError as exc:
        assert exc.file == str(p)
        assert exc.line is not None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(BASIC)), st.text(max_size=30))
def test_truncated_and_mangled_files(tmp_path_factory: pytest.TempPathFactory, cut: int, junk: str) -> None:
    p = tmp_path_factory.mktemp("trunc") / "f.conf"
    p.write_text(BASIC[:cut] + junk)
    try:
        conf, _errors = parse_config(p)
    except ConfigError as exc:  # pragma: no cover - parse_config collects
        raise AssertionError(exc) from exc
    for e in _errors:
        assert e.file == str(p) and e.line is not None
    assert isinstance(conf.setup, SetupConfig)


def test_ipsec_max_packets_and_bytes_reach_the_engine(tmp_path: Path) -> None:
    from pluto_core.engine_conn import to_engine_conn

    text = BASIC.replace("\tauto=start\n", "\tauto=start\n\tipsec-max-packets=2k\n\tipsec-max-bytes=1MiB\n")
    conf = load_config(_write(tmp_path, text), local_addresses={"192.1.2.45"})
    engine_conn = to_engine_conn(conf.conns["west-east"])
    assert (engine_conn.ipsec_max_packets, engine_conn.ipsec_max_bytes) == (2000, 1 << 20)
    assert not any("ipsec-max" in n for n in conf.notices), conf.notices
