"""Options and ``config setup`` values are honoured or said to be ignored (issue #14):
Libreswan's debug classes, options accepted but not acted on, backend conflicts,
``--ipsecdir``, ``auto=up``/``auto=keep``."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.daemon.conftest import Env

PSK = "never-in-any-log-0123456789"


def _stop(proc: object) -> None:
    import subprocess

    assert isinstance(proc, subprocess.Popen)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def _checkconfig(env: Env) -> tuple[int, str]:
    result = env.ipsec("checkconfig", "--config", str(env.config))
    return result.returncode, result.stdout + result.stderr


def test_plutodebug_all_private_starts_and_says_private_is_ignored(env: Env) -> None:
    env.config.write_text("config setup\n\tplutodebug=all,private\n")
    secrets = env.root / "ipsec.secrets"
    secrets.write_text(f'@west @east : PSK "{PSK}"\n')
    secrets.chmod(0o600)
    proc = env.start_nofork("--logfile", str(env.logfile))
    assert env.ipsec("globalstatus", "--rundir", str(env.rundir)).returncode == 0
    _stop(proc)
    text = env.log_text()
    notice = f"{env.config}:2: warning: debug class 'private' (plutodebug=) is accepted but ignored"
    assert text.count(notice) == 1, text
    assert "| control: globalstatus" in text  # "all" is on
    assert PSK not in text
    code, out = _checkconfig(env)
    assert code == 0, out
    assert notice in out


def test_every_libreswan_debug_class_is_accepted(env: Env) -> None:
    env.config.write_text("config setup\n\tplutodebug=\"none,base,routing refcnt,updown,add-prefix,crypt,tmi,"
                          "cpu-usage,no-crypt,-tmi,whackwatch,all\"\n")
    proc = env.start_nofork("--logfile", str(env.logfile), "--debug", "x509,dpd", "--no-debug", "dpd")
    _stop(proc)
    text = env.log_text()
    for name in ("routing", "refcnt", "updown", "add-prefix", "cpu-usage", "whackwatch"):
        assert text.count(f"warning: debug class '{name}' (plutodebug=) is not implemented; ignored") == 1
    assert text.count("warning: debug class 'x509' (--debug) is not implemented; ignored") == 1
    for name in ("dpd", "crypt", "tmi"):  # turned off again
        assert f"'{name}'" not in text
    assert "| plugins loaded:" in text


def test_unknown_debug_class_fails_daemon_and_checkconfig_with_file_line(env: Env) -> None:
    env.config.write_text("config setup\n\tlogtime=no\n\tplutodebug=all,bogus-class\n")
    result = env.run("--nofork")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{env.config}:3:" in lines[0] and "'bogus-class'" in lines[0], result.stderr
    assert not env.pidfile.exists()
    code, out = _checkconfig(env)
    assert code == 1
    assert f"ERROR: {env.config}:3: plutodebug='all,bogus-class' invalid: unrecognized debug class " \
           "'bogus-class'" in out, out


def test_unknown_debug_class_on_the_command_line_is_one_line(env: Env) -> None:
    result = env.run("--nofork", "--debug", "all,nosuch")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "pluto: --debug: unrecognized debug class 'nosuch' (--debug help lists them)"]


def test_options_not_acted_on_are_logged_once_at_start_up(env: Env) -> None:
    env.config.write_text("config setup\n\tcrl-strict=yes\n\tstatsbin=/bin/true\n")
    proc = env.start_nofork("--logfile", str(env.logfile), "--crl-strict", "--nssdir", str(env.root),
                            "--virtual-private", "%v4:10.0.0.0/8", "--efence-protect", "--listen", "127.0.0.1")
    _stop(proc)
    text = env.log_text()
    for flag in ("--virtual-private", "--efence-protect"):
        assert text.count(f"warning: {flag} is accepted but not acted on yet (") == 1, (flag, text)
    for acted in ("--listen", "--nssdir", "--crl-strict"):
        assert f"{acted} is accepted" not in text
    assert "crl-strict=yes is accepted" not in text  # the x509 source's revocation checks read it
    assert text.count(f"{env.config}:3: warning: statsbin=/bin/true is accepted but not acted on yet") == 1
    # the notices come before the daemon is up
    assert text.index("--virtual-private is accepted") < text.index("core dump dir")


def test_two_kernel_backends_exit_1_naming_both(env: Env) -> None:
    for args, first, second in ((["--use-xfrm", "--use-bsdkame"], "--use-xfrm", "--use-bsdkame"),
                                (["--kernel-backend", "bsdkame", "--use-xfrm"], "--kernel-backend bsdkame",
                                 "--use-xfrm")):
        result = env.run("--nofork", *args)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert lines == [f"pluto: {first} conflicts with {second}: choose one kernel backend"], result.stderr
        assert not env.pidfile.exists()


def _conn(name: str, auto: str) -> str:
    return (f"conn {name}\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=secret\n"
            f"\tleftid=@west\n\trightid=@east\n\tauto={auto}\n")


def test_ipsecdir_must_exist_and_holds_etc_ipsec_d_includes(env: Env) -> None:
    missing = env.root / "absent.d"
    result = env.run("--nofork", "--ipsecdir", str(missing))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"pluto: option --ipsecdir '{missing}': no such directory"]
    env.config.write_text(f"config setup\n\tipsecdir={missing}\n")
    result = env.run("--nofork")
    assert result.returncode == 1 and f"{env.config}: ipsecdir= '{missing}': no such directory" in result.stderr

    ipsecdir: Path = env.root / "ipsec.d"
    ipsecdir.mkdir()
    (ipsecdir / "from-ipsecdir.conf").write_text(_conn("from-ipsecdir", "add"))
    env.config.write_text("config setup\n\tlogtime=no\ninclude /etc/ipsec.d/*.conf\n")
    proc = env.start_nofork("--logfile", str(env.logfile), "--ipsecdir", str(ipsecdir), "--listen", "127.0.0.1")
    env.wait_log('"from-ipsecdir": added IKEv2 connection')
    _stop(proc)
    # the same through the file's own ipsecdir=
    env.config.write_text(f"config setup\n\tlogtime=no\n\tipsecdir={ipsecdir}\ninclude /etc/ipsec.d/*.conf\n")
    env.logfile.unlink()
    proc = env.start_nofork("--logfile", str(env.logfile), "--listen", "127.0.0.1")
    env.wait_log('"from-ipsecdir": added IKEv2 connection')
    _stop(proc)
    # checkconfig reads the includes from the same place as the daemon, so it sees this conn
    (ipsecdir / "v1.conf").write_text(_conn("v1", "add") + "\tkeyexchange=ikev1\n")
    status, out = _checkconfig(env)
    assert status == 1 and '"v1": /etc/ipsec.d/v1.conf:' in out and "IKEv1 is not supported" in out, out
    env.config.write_text("config setup\n\tlogtime=no\ninclude /etc/ipsec.d/*.conf\n")
    result = env.ipsec("checkconfig", "--config", str(env.config), "--ipsecdir", str(ipsecdir))
    assert result.returncode == 1 and "IKEv1 is not supported" in result.stdout, result.stdout


def test_auto_up_initiates_and_auto_keep_is_added(env: Env) -> None:
    secrets = env.root / "ipsec.secrets"
    secrets.write_text('@west @east : PSK "x"\n')
    secrets.chmod(0o600)
    env.config.write_text("config setup\n\tlogtime=no\n" + _conn("up", "up") + _conn("kept", "keep")
                          + _conn("manual", "manual"))
    proc = env.start_nofork("--logfile", str(env.logfile), "--listen", "127.0.0.1")
    text = env.wait_log('"up" #1: initiating IKEv2 connection')
    assert '"up": added IKEv2 connection' in text
    assert '"kept": added IKEv2 connection' in text
    assert '"kept" #' not in text  # keep waits for the peer
    assert f'{env.config}:17: "manual": auto=manual is not supported; connection not loaded' in text
    _stop(proc)
