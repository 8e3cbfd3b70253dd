"""The YAML form: the same model as ipsec.conf, the same validation, YAML line numbers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pluto_core.config import Connection, load_config, load_yaml_config, parse_config
from pluto_core.config.checkconfig import main as checkconfig
from pluto_core.errors import ConfigError

CONF = """\
config setup
\tlogfile=/tmp/pluto.log
\tlogtime=no
\tkeep-alive=1m
\tplutodebug="all crypt"

conn %default
\tikelifetime=2h

conn base
\tleft=192.1.2.45
\tleftid=@west
\tright=192.1.2.23
\trightid=@east
\tauthby=secret

conn west-east
\talso=base
\tleftsubnet=192.0.1.0/24
\trightsubnet="192.0.2.0/24, 192.0.22.0/24"
\tike=aes_gcm256
\tesp=aes-sha2
\trekeymargin=10s
\treplay-window=010
\tauto=start
"""

YAML = """\
setup:
  logfile: /tmp/pluto.log
  logtime: no
  keep-alive: 1m
  plutodebug: all crypt
default:
  ikelifetime: 2h
conns:
  base:
    left: 192.1.2.45
    leftid: "@west"
    right: 192.1.2.23
    rightid: "@east"
    authby: secret
  west-east:
    also: [base]
    leftsubnet: 192.0.1.0/24
    rightsubnet: [192.0.2.0/24, 192.0.22.0/24]
    ike: aes_gcm256
    esp: aes-sha2
    rekeymargin: 10s
    replay-window: 010   # as written: decimal 10, not YAML 1.1 octal
    auto: start
"""


def _write(tmp_path: Path, text: str, name: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _placeless(c: Connection) -> Connection:
    return replace(c, file=None, line=None)


def test_same_model_as_ipsec_conf(tmp_path: Path) -> None:
    local = {"192.1.2.45"}
    from_conf = load_config(_write(tmp_path, CONF, "ipsec.conf"), local_addresses=local)
    from_yaml = load_config(_write(tmp_path, YAML, "ipsec.yaml"), local_addresses=local)
    assert from_yaml.setup == from_conf.setup and from_yaml.setup.keep_alive == 60
    assert set(from_yaml.conns) == set(from_conf.conns) == {"base", "west-east"}
    for name in from_conf.conns:
        assert _placeless(from_yaml.conns[name]) == _placeless(from_conf.conns[name]), name
    we = from_yaml.conns["west-east"]
    assert we.replay_window == 10 and we.ikelifetime == 7200 and we.local is we.left
    assert [str(s) for s in we.right.subnets] == ["192.0.2.0/24", "192.0.22.0/24"]
    assert we.ike is not None and we.ike.proposals[0].encr == ((20, 256),)
    assert from_yaml.warnings == from_conf.warnings == []


def test_line_numbers_are_the_yaml_ones(tmp_path: Path) -> None:
    text = "conns:\n  c:\n    left: 1.1.1.1\n    right: 2.2.2.2\n    rekeymargin: 0xA\n    nm-configured: yes\n"
    p = _write(tmp_path, text, "c.yml")
    conf = load_yaml_config(p)
    err = conf.failed["c"]
    assert (err.file, err.line) == (str(p), 5)
    assert err.message == '"rekeymargin=0xA" invalid, unrecognized duration multiplier "xA"'
    assert conf.notices == [f"{p}:6: warning: nm-configured=yes is accepted but not acted on yet"]


@pytest.mark.parametrize("text,line,msg", [
    ("conns:\n  c:\n    left: 1.1.1.1\n    bogus: 1\n", 4, "unrecognized 'conn' keyword 'bogus'"),
    ("setup:\n  logfile: a\n  unknown: no\n", 3, "unrecognized 'config setup' keyword 'unknown'"),
    ("setup:\n  rundir: /x\n", 2, "only valid as a command line option"),
    ("conns:\n  c:\n    subnet: 1.2.3.0/24\n", 3, 'keyword "subnet" requires "left" or "right" prefix'),
    ("conns:\n  c:\n    leftid: @west\n", 3, "YAML syntax error"),
    ("conns:\n  c: [1, 2]\n", 2, "conn c must be a mapping"),
    ("conns:\n  c:\n    left: {a: 1}\n", 3, "left: expecting a value or a list of values"),
    ("sections:\n  c: 1\n", 1, "unknown section 'sections'"),
    ("- a\n- b\n", 1, "the top level must be a mapping"),
])
def test_fatal_errors(tmp_path: Path, text: str, line: int, msg: str) -> None:
    p = _write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.file == str(p) and exc.value.line == line and msg in exc.value.message


def test_also_list_order_and_default(tmp_path: Path) -> None:
    text = ("default: {esp: aes_gcm}\n"
            "conns:\n"
            "  a: {left: 1.1.1.1, right: 2.2.2.2, also: [b, c]}\n"
            "  b: {ike: aes-sha2, ikelifetime: 1h}\n"
            "  c: {ike: 3des-sha1, ikelifetime: 2h, esp: aes}\n")
    conf = load_config(_write(tmp_path, text, "x.yaml"))
    a = conf.conns["a"]
    assert a.ike is not None and a.ike.text == "aes-sha2" and a.ikelifetime == 3600  # b before c
    assert a.esp is not None and a.esp.text == "aes"  # c's own value beats %default


def test_empty_and_missing(tmp_path: Path) -> None:
    conf = load_config(_write(tmp_path, "", "empty.yaml"))
    assert conf.conns == {} and conf.failed == {}
    with pytest.raises(ConfigError, match="could not open"):
        load_yaml_config(tmp_path / "none.yaml")


def test_checkconfig_reads_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, "conns:\n  c:\n    left: 1.1.1.1\n    right: 2.2.2.2\n    ike: aes-bogus\n"
               "    auto: add\n", "c.yaml")
    assert checkconfig(["--config", str(p)]) == 1
    out = capsys.readouterr().out
    assert f"{p}:5: ike=\"aes-bogus\" invalid, IKE Pseudorandom Function (KDF) 'bogus' is not recognized" in out
    _conf, errors = parse_config(p)
    assert errors == []
