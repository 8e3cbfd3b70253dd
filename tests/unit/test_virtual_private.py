"""virtual-private= (config setup, --virtual-private) in Libreswan's syntax, checked with
file:line; vhost:/vnet: subnets refused in IKEv2 with Libreswan 4.x's words; a bare %priv is
not a subnet (Libreswan: "bad subnet rightsubnet=%priv")."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pluto_core.config import load_config
from pluto_core.config.checkconfig import main as checkconfig
from pluto_core.config.ipsec_conf import parse_config
from pluto_core.config.virtual_private import parse_virtual_private
from pluto_core.options import UsageError, build_options, parse_command_line


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def test_the_list_with_families_and_exclusions() -> None:
    vp = parse_virtual_private("%v4:10.0.0.0/8,%v4:!10.1.0.0/16,%v6:fd00::/8,192.168.0.0/16")
    assert vp.include == (net("10.0.0.0/8"), net("fd00::/8"), net("192.168.0.0/16"))
    assert vp.exclude == (net("10.1.0.0/16"),)
    assert vp.allowed(net("10.2.3.4/32")) and vp.allowed(net("10.2.0.0/16"))
    assert not vp.allowed(net("10.1.2.3/32"))  # excluded
    assert not vp.allowed(net("10.0.0.0/7"))  # wider than the allowed network
    assert not vp.allowed(net("172.16.0.1/32"))
    assert vp.allowed(net("fd00::1/128")) and not vp.allowed(net("fe80::1/128"))


@pytest.mark.parametrize("text, why", [
    ("%v4:10.0.0.0/8,bogus", "'bogus' is not a subnet (no / in subnet specification)"),
    ("%v4:10.0.0.1", "'%v4:10.0.0.1' is not a subnet (no / in subnet specification)"),
    ("%v4:10.0.0.1/8", "'%v4:10.0.0.1/8' is not a proper subnet (host bits set)"),
    ("%v6:10.0.0.0/8", "'%v6:10.0.0.0/8' is not an IPv6 subnet"),
    ("%v4:10.0.0.0/8,,%v4:172.16.0.0/12", "an empty entry (two commas, or one at an end)"),
    ("%v4:10.0.0.0/33", "'%v4:10.0.0.0/33' is not a proper subnet (not a subnet)"),
])
def test_what_is_not_a_proper_subnet(text: str, why: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_virtual_private(text)
    assert str(raised.value) == why


def test_a_bad_list_in_config_setup_is_a_notice_at_file_line_and_none_is_loaded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Libreswan's pluto logs a bad entry and runs without the list (the corpus has one:
    psk-pluto-01's ``%v4:192.1.2.024``); so does pluto, saying where."""
    p = tmp_path / "ipsec.conf"
    p.write_text("config setup\n\tuniqueids=yes\n\tvirtual-private=%v4:10.0.0.0/8,%v4:!10.1.0.1/16\n")
    conf, errors = parse_config(p)
    assert errors == []
    assert conf.setup.virtual_private is None
    assert conf.notices[1:] == [f"{p}:3: warning: virtual-private=%v4:10.0.0.0/8,%v4:!10.1.0.1/16: '%v4:!10.1.0.1/16' "
                            "is not a proper subnet (host bits set): virtual-private entry is not a proper "
                            "subnet, none loaded"]
    assert checkconfig(["--config", str(p)]) == 0
    assert f"{p}:3: warning: virtual-private=" in capsys.readouterr().out
    assert build_options(parse_command_line([]), conf.setup).virtual_private is None


def test_a_good_list_is_recorded_with_a_notice_that_says_why_it_changes_nothing(tmp_path: Path) -> None:
    p = tmp_path / "ipsec.conf"
    p.write_text("config setup\n\tvirtual-private=%v4:10.0.0.0/8,%v4:!10.1.0.0/16\n")
    conf, errors = parse_config(p)
    assert errors == []
    assert conf.setup.virtual_private == "%v4:10.0.0.0/8,%v4:!10.1.0.0/16"
    assert conf.notices == [
        f"{p}:2: warning: virtual-private=%v4:10.0.0.0/8,%v4:!10.1.0.0/16 is accepted but not acted on "
        "(Libreswan uses it only for vhost:/vnet: subnets, which it allows in IKEv1 conns alone)"]
    options = build_options(parse_command_line([]), conf.setup)
    assert options.virtual_private == "%v4:10.0.0.0/8,%v4:!10.1.0.0/16"


def test_the_daemon_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as raised:
        build_options(parse_command_line(["--virtual-private", "%v4:10.0.0.0/8,%v4:!10.1.0.0"]))
    assert str(raised.value) == ("option --virtual-private: '%v4:!10.1.0.0' is not a subnet (no / in subnet "
                                 "specification)")


@pytest.mark.parametrize("subnet", ["vhost:%priv,%no", "vnet:%priv", "vhost:%v4:10.0.0.0/8", "VHOST:%no"])
def test_vhost_and_vnet_are_refused_in_ikev2_as_libreswan_does(tmp_path: Path, subnet: str) -> None:
    p = tmp_path / "ipsec.conf"
    p.write_text("config setup\n\tvirtual-private=%v4:10.0.0.0/8\n"
                 f"conn rw\n\tleft=192.0.2.1\n\tright=%any\n\trightsubnet={subnet}\n\tauthby=secret\n\tauto=add\n")
    conf = load_config(p)
    error = conf.refused["rw"]
    assert (error.file, error.line) == (str(p), 6)
    assert error.message == (f"rightsubnet={subnet}: The vnet: and vhost: keywords are only valid for IKEv1 "
                             "connections (Libreswan 4.x refuses them in IKEv2 too)")


@pytest.mark.parametrize("subnet", ["%priv", "%no", "%all", "%v4:10.0.0.0/8"])
def test_a_bare_virtual_word_is_not_a_subnet(tmp_path: Path, subnet: str) -> None:
    p = tmp_path / "ipsec.conf"
    p.write_text(f"conn rw\n\tleft=192.0.2.1\n\tright=%any\n\trightsubnet={subnet}\n\tauthby=secret\n")
    conf = load_config(p)
    error = conf.failed["rw"]
    assert (error.file, error.line) == (str(p), 4)
    assert error.message == f"rightsubnet={subnet} invalid, '{subnet}' is not a subnet"
