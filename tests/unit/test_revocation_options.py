"""The revocation keywords of ``config setup`` (crl-*, ocsp-*) and their command-line options
reach the x509 source's RevocationOptions: the file's values, the command line's over them,
Libreswan's defaults when unset; none of them gets the "not acted on" notice any more; values
out of Libreswan's bounds are refused naming the option; ``ipsec globalstatus`` prints
Libreswan's three OCSP lines."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from pluto_core.cli.ipsec import _format_globalstatus
from pluto_core.config import load_config
from pluto_core.options import Options, UsageError, build_options, parse_command_line
from pluto_core.x509.revocation import RevocationOptions
from pluto_plugins.auth_x509 import revocation_options

SETUP = ("config setup\n\tcrl-strict=yes\n\tcrlcheckinterval=10m\n\tcrl-timeout=7\n\tocsp-enable=yes\n"
         "\tocsp-strict=yes\n\tocsp-uri=http://ocsp.example:2560\n\tocsp-timeout=3\n\tocsp-trustname=nic\n"
         "\tocsp-cache-size=50\n\tocsp-cache-min-age=20\n\tocsp-cache-max-age=40\n\tocsp-method=post\n")
FROM_FILE = RevocationOptions(crl_strict=True, crlcheckinterval=600, crl_timeout=7, ocsp_enable=True,
                              ocsp_strict=True, ocsp_uri="http://ocsp.example:2560", ocsp_timeout=3,
                              ocsp_trustname="nic", ocsp_cache_size=50, ocsp_cache_min_age=20,
                              ocsp_cache_max_age=40, ocsp_method="post")
KEYWORDS = ("crl-strict", "crlcheckinterval", "crl-timeout", "ocsp-enable", "ocsp-strict", "ocsp-uri",
            "ocsp-timeout", "ocsp-trustname", "ocsp-cache-size", "ocsp-cache-min-age", "ocsp-cache-max-age",
            "ocsp-method")


def _options(conf: Path | None, *argv: str) -> RevocationOptions:
    """What the daemon's x509 source would use: the command line merged over the file's setup."""
    cmd = parse_command_line(list(argv))
    setup = load_config(str(conf)).setup if conf is not None else None
    return revocation_options(build_options(cmd, setup, where=str(conf)))


def test_every_revocation_keyword_of_the_file_reaches_the_checker_without_a_notice(tmp_path: Path) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text(SETUP)
    assert _options(conf) == FROM_FILE
    notices = load_config(str(conf)).notices
    assert not [n for n in notices if any(f" {k}=" in n for k in KEYWORDS)], notices


def test_the_command_line_wins_over_the_file_and_unset_means_libreswans_default(tmp_path: Path) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text(SETUP.replace("\tcrl-strict=yes\n", "").replace("\tocsp-enable=yes\n", ""))
    flags = ("--crl-strict", "--crlcheckinterval", "30", "--curl-timeout", "9", "--ocsp-enable", "--ocsp-strict",
             "--ocsp-uri", "http://other:80", "--ocsp-timeout", "4", "--ocsp-trustname", "responder",
             "--ocsp-cache-size", "0", "--ocsp-cache-min-age=100", "--ocsp-cache-max-age=1000",
             "--ocsp-method", "GET")
    assert _options(conf, *flags) == RevocationOptions(
        crl_strict=True, crlcheckinterval=30, crl_timeout=9, ocsp_enable=True, ocsp_strict=True,
        ocsp_uri="http://other:80", ocsp_timeout=4, ocsp_trustname="responder", ocsp_cache_size=0,
        ocsp_cache_min_age=100, ocsp_cache_max_age=1000, ocsp_method="get")
    assert _options(None) == RevocationOptions()  # nothing said: Libreswan's defaults
    assert _options(None, "--crl-strict", "--ocsp-enable") == RevocationOptions(crl_strict=True, ocsp_enable=True)


@pytest.mark.parametrize(("argv", "error"), [
    (["--ocsp-timeout", "0"], "option --ocsp-timeout: 0 is below the minimum 1"),
    (["--curl-timeout", "1001"], "option --curl-timeout: 1001 is above the maximum 1000"),
    (["--ocsp-cache-size", "65536"], "option --ocsp-cache-size: 65536 is above the maximum 65535"),
    (["--ocsp-cache-min-age", "0"], "option --ocsp-cache-min-age: 0 is below the minimum 1"),
    (["--crlcheckinterval", "-1"], "option --crlcheckinterval: -1 is below the minimum 0"),
    (["--ocsp-method", "put"], "option --ocsp-method: 'put' is not get or post"),
    (["--ocsp-uri", ""], "option --ocsp-uri: empty value"),
])
def test_out_of_bounds_options_are_refused_naming_them(argv: list[str], error: str) -> None:
    with pytest.raises(UsageError) as caught:
        build_options(parse_command_line(argv))
    assert str(caught.value) == error


def test_out_of_bounds_keywords_are_refused_naming_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "ipsec.conf"
    conf.write_text("config setup\n\tocsp-timeout=2000\n")
    with pytest.raises(UsageError) as caught:
        _options(conf)
    assert str(caught.value) == f"{conf}: ocsp-timeout: 2000 is above the maximum 1000"


def test_globalstatus_prints_libreswans_ocsp_lines(tmp_path: Path) -> None:
    """The defaults word for word as Libreswan prints them (corpus ikev2-03-basic-rawrsa), and set values."""
    def lines(options: Options) -> list[str]:
        opts = asdict(options)
        opts["debug"] = []
        text = _format_globalstatus({"options": opts, "helpers": 0, "plugins": [], "version": "x"})
        return [line for line in text.splitlines() if "ocsp" in line]

    assert lines(build_options(parse_command_line([]))) == [
        "000 ocsp-enable=no, ocsp-strict=no, ocsp-timeout=2",
        "000 ocsp-uri=<unset>, ocsp-trust-name=<unset>",
        "000 ocsp-cache-size=1000, ocsp-cache-min-age=3600, ocsp-cache-max-age=86400, ocsp-method=get"]
    conf = tmp_path / "ipsec.conf"
    conf.write_text(SETUP)
    setup = load_config(str(conf)).setup
    assert lines(build_options(parse_command_line([]), setup)) == [
        "000 ocsp-enable=yes, ocsp-strict=yes, ocsp-timeout=3",
        "000 ocsp-uri=http://ocsp.example:2560, ocsp-trust-name=nic",
        "000 ocsp-cache-size=50, ocsp-cache-min-age=20, ocsp-cache-max-age=40, ocsp-method=post"]
