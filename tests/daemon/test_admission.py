"""An IKEv1 conn is refused with the same sentence by checkconfig, the start-up loader and
``ipsec add`` (config/admission.py is the one code path), and never added."""

from __future__ import annotations

import signal

from tests.daemon.conftest import Env


def test_ikev1_is_refused_alike_by_checkconfig_the_loader_and_ipsec_add(env: Env) -> None:
    env.config.write_text("config setup\n\tlogtime=no\n"
                          "conn v1\n\tleft=127.0.0.1\n\tright=127.0.0.2\n\tauthby=secret\n"
                          "\tkeyexchange=ikev1\n\tauto=add\n"
                          "conn v2\n\tleft=127.0.0.1\n\tright=127.0.0.3\n\tauthby=secret\n\tauto=add\n")
    sentence = f'"v1": failed to add connection: {env.config}:7: IKEv1 is not supported'
    check = env.ipsec("checkconfig", "--config", str(env.config))
    assert check.returncode == 1
    assert f'ERROR: "v1": {env.config}:7: IKEv1 is not supported' in check.stdout, check.stdout
    proc = env.start_nofork("--logfile", str(env.logfile), "--listen", "127.0.0.1")
    try:
        text = env.wait_log('"v2": added IKEv2 connection')
        assert text.count(sentence) == 1, text
        assert '"v1": added' not in text
        added = env.ipsec("add", "v1", "--config", str(env.config), "--rundir", str(env.rundir))
        assert added.returncode != 0
        assert sentence in added.stdout + added.stderr, (added.stdout, added.stderr)
        status = env.ipsec("status", "--rundir", str(env.rundir), "--json")
        assert '"v1"' not in status.stdout and '"v2"' in status.stdout, status.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
