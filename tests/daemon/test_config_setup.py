"""--config: `config setup` is honoured, the command line wins, a broken file names file:line."""

from __future__ import annotations

import signal

from tests.daemon.conftest import Env


def test_config_setup_is_honoured(env: Env) -> None:
    env.config.write_text(
        "config setup\n"
        f"\tlogfile={env.logfile}\n"
        "\tlogtime=no\n"
        "\tplutodebug=control\n"
        "\tnhelpers=0\n"
        "\tlisten=192.0.2.9\n"
    )
    proc = env.start_nofork()
    result = env.ipsec("globalstatus", "--rundir", str(env.rundir), "--json")
    assert result.returncode == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    text = env.log_text()
    assert text.startswith("Starting Pluto")  # logtime=no
    assert "| control: globalstatus" in text  # plutodebug=control
    assert "IKE listen address restricted to 192.0.2.9" in text


def test_command_line_wins_over_config(env: Env) -> None:
    other = env.root / "other.log"
    env.config.write_text(f"config setup\n\tlogfile={other}\n\tlogtime=no\n\tnhelpers=3\n")
    proc = env.start_nofork("--logfile", str(env.logfile), "--nhelpers", "1")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not other.exists()
    text = env.log_text()
    assert "starting 1 helper process" in text
    assert text.startswith("Starting Pluto")  # logtime=no from the file still applies


def test_broken_config_exits_1_naming_file_and_line(env: Env) -> None:
    env.config.write_text("config setup\n\tlogtime=no\n\tunknown-thing=yes\n")
    result = env.run("--nofork")
    assert result.returncode == 1
    assert f"{env.config}:3:" in result.stderr
    assert "unknown-thing" in result.stderr
    assert not env.pidfile.exists()


def test_relative_paths_are_taken_from_the_starting_directory(env: Env) -> None:
    import subprocess

    from tests.daemon.conftest import IPSEC

    (env.root / "ipsec.secrets").write_text('@a @b : PSK "x"\n')
    proc = subprocess.Popen(IPSEC + ["pluto", "--nofork", "--rundir", "run", "--config", "ipsec.conf",
                                     "--secretsfile", "ipsec.secrets", "--logfile", "pluto.log", "--nhelpers", "0"],
                            cwd=env.root, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    env.procs.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == "Pluto initialized\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert f'loading secrets from "{env.root / "ipsec.secrets"}"' in env.log_text()


def test_missing_config_exits_1(env: Env) -> None:
    result = env.run("--nofork", "--config", str(env.root / "absent.conf"))
    assert result.returncode == 1
    assert "absent.conf" in result.stderr


def test_secrets_are_loaded_and_never_logged(env: Env) -> None:
    secrets = env.root / "ipsec.secrets"
    secrets.write_text('@west @east : PSK "very-secret-key-material"\n')
    secrets.chmod(0o600)
    proc = env.start_nofork("--logfile", str(env.logfile), "--debug", "all")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    text = env.log_text()
    assert f'loading secrets from "{secrets}"' in text
    assert "loaded 1 secret(s)" in text
    assert "very-secret-key-material" not in text


def test_bad_secrets_file_is_reported_with_its_line_and_daemon_runs(env: Env) -> None:
    secrets = env.root / "ipsec.secrets"
    secrets.write_text('@west @east : PSK "fine"\n@a @b : PSK "unterminated\n')
    secrets.chmod(0o600)
    proc = env.start_nofork("--logfile", str(env.logfile))
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    text = env.log_text()
    assert f"secrets not loaded: {secrets}:2:" in text
    assert '"fine"' not in text and "unterminated" not in text


def test_ddos_settings_from_config_setup_and_whack(env: Env) -> None:
    """ddos-mode / ddos-ike-threshold / max-halfopen-ike (the values of Libreswan's
    ddos-01 test) show in globalstatus; `ipsec whack --ddos-*` changes the mode."""
    env.config.write_text("config setup\n\tlogtime=no\n\tnhelpers=0\n\tddos-mode=busy\n"
                          "\tddos-ike-threshold=100\n\tmax-halfopen-ike=150\n")
    proc = env.start_nofork("--logfile", str(env.logfile))
    text = env.ipsec("globalstatus", "--rundir", str(env.rundir)).stdout
    assert "000 ddos-cookies-threshold=100, ddos-max-halfopen=150, ddos-mode=busy, half-open IKE SAs=0" in text
    status = env.ipsec("status", "--rundir", str(env.rundir)).stdout
    assert "State Information: DDoS cookies required, Accepting new IKE connections" in status, status
    changed = env.ipsec("whack", "--rundir", str(env.rundir), "--ddos-unlimited")
    assert changed.returncode == 0 and changed.stdout == "ddos-mode=unlimited\n", changed
    text = env.ipsec("globalstatus", "--rundir", str(env.rundir)).stdout
    assert "ddos-mode=unlimited" in text, text
    both = env.ipsec("whack", "--rundir", str(env.rundir), "--ddos-busy", "--ddos-auto")
    assert both.returncode != 0 and "not allowed with argument" in both.stderr
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert "pluto DDoS protection mode set to unlimited" in env.log_text()
    assert "is accepted but not acted on yet" not in env.log_text()


def test_auth_sources_name_the_sources_asked_and_an_unknown_one_stops_start_up(env: Env) -> None:
    env.config.write_text("config setup\n\tauth-sources=secrets\n\tauth-timeout=3\n")
    proc = env.start_nofork("--logfile", str(env.logfile))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert "auth sources: secrets" in env.log_text()
    env.config.write_text("config setup\n\tauth-sources=secrets,ldap-store\n")
    result = env.run("--nofork")
    assert result.returncode == 1
    # (raising: the test plugin's auth source, tests/plugin_pkg, which these daemons see)
    assert "auth-sources: no auth source 'ldap-store' is installed (installed: files, nss, raising, secrets, x509)" \
        in result.stderr
    env.config.write_text("config setup\n\tauth-sources=\"secrets secrets\"\n")
    result = env.run("--nofork")
    assert result.returncode == 1 and "an auth source is named twice" in result.stderr


def test_default_auth_sources_start_without_an_nss_database_and_load_key_files(env: Env) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from pluto_core.ikev2.crypto import pubkeys

    ipsecdir = env.root / "ipsec.d"
    (ipsecdir / "private").mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    (ipsecdir / "private" / "east.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    secrets = env.root / "ipsec.secrets"
    secrets.write_text('@east @west : PSK "x"\n@east : ECDSA east.pem\n: RSA missing.pem\n')
    secrets.chmod(0o600)
    env.config.write_text("config setup\n\tlogtime=no\n")
    proc = env.start_nofork("--logfile", str(env.logfile), "--ipsecdir", str(ipsecdir),
                            "--nssdir", str(env.root / "no-such-nss"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    text = env.log_text()
    assert "auth sources: secrets, nss, files, x509\n" in text
    assert (f"{secrets}:2: loaded ECDSA private key from '{ipsecdir}/private/east.pem', "
            f"ckaid {pubkeys.ckaid_hex(key.public_key())}") in text
    assert f"{secrets}:3: RSA private key file '{ipsecdir}/private/missing.pem': cannot read" in text
    assert text.count("missing.pem") == 1
