"""The updown plugin: PLUTO_* variables, which verbs run when (rekeys run
nothing), the command's output and exit status in the log, shutdown waiting."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pluto_core.ikev2.events import ChildInfo, Event
from pluto_core.ikev2.ts_narrow import Selector
from pluto_plugins import updown
from pluto_plugins.updown import Updown, updown_env, verb_suffix

WEST_NET, EAST_NET = Selector.from_subnet("192.0.1.0/24"), Selector.from_subnet("192.0.2.0/24")


def info(spi_in: int = 0xC0000001, spi_out: int = 0xD0000002, local: Selector = WEST_NET,
         remote: Selector = EAST_NET, counts: tuple[int, int] | None = None, local_addr: str = "192.1.2.45",
         remote_addr: str = "192.1.2.23") -> ChildInfo:
    return ChildInfo(1, local_addr, remote_addr, "@west", "@east", "tunnel", (local,), (remote,),
                     spi_in, spi_out, 16392, False,
                     counts[0] if counts else None, counts[1] if counts else None)


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str) -> None:
        self.lines.append(text)


def plugin_with(command: str) -> tuple[Updown, Log, Any]:
    plugin, log = Updown(), Log()
    plugin.pluto_startup(options=SimpleNamespace(kernel_backend="xfrm"), log=log)
    return plugin, log, SimpleNamespace(options={"updown": command})


def recorder(tmp_path: Path) -> tuple[str, Path]:
    """A script that appends its verb and a few variables to a file."""
    out = tmp_path / "calls"
    script = tmp_path / "updown.sh"
    script.write_text("#!/bin/sh\n"
                      f"echo \"$PLUTO_VERB $PLUTO_CONNECTION $PLUTO_MY_CLIENT $PLUTO_PEER_CLIENT $SPI_IN "
                      f"${{PLUTO_INBYTES:-}} ${{PLUTO_OUTBYTES:-}} $1\" >> {shlex.quote(str(out))}\n")
    script.chmod(0o755)
    return f"{shlex.quote(str(script))} custom", out


def test_env_names_both_ends_the_sa_and_the_stack() -> None:
    env = updown_env("up-client", "west-east", info(), WEST_NET, EAST_NET, "bsdkame")
    assert env["PLUTO_VERB"] == "up-client" and env["PLUTO_CONNECTION"] == "west-east"
    assert (env["PLUTO_ME"], env["PLUTO_PEER"]) == ("192.1.2.45", "192.1.2.23")
    assert (env["PLUTO_MY_ID"], env["PLUTO_PEER_ID"]) == ("@west", "@east")
    assert (env["PLUTO_MY_CLIENT"], env["PLUTO_MY_CLIENT_NET"], env["PLUTO_MY_CLIENT_MASK"]) == \
        ("192.0.1.0/24", "192.0.1.0", "255.255.255.0")
    assert (env["PLUTO_PEER_CLIENT"], env["PLUTO_PEER_CLIENT_NET"], env["PLUTO_PEER_CLIENT_MASK"]) == \
        ("192.0.2.0/24", "192.0.2.0", "255.255.255.0")
    assert (env["PLUTO_MY_PROTOCOL"], env["PLUTO_MY_PORT"], env["PLUTO_PEER_PORT"]) == ("0", "0", "0")
    assert (env["SPI_IN"], env["SPI_OUT"]) == ("0xc0000001", "0xd0000002")
    assert (env["PLUTO_SA_REQID"], env["PLUTO_SA_TYPE"], env["PLUTO_STACK"]) == ("16392", "ESP", "bsdkame")
    assert env["PLUTO_CONN_ADDRFAMILY"] == "ipv4" and "PLUTO_INBYTES" not in env
    down = updown_env("down-client", "west-east", info(counts=(840, 1260)), WEST_NET, EAST_NET, "xfrm")
    assert (down["PLUTO_INBYTES"], down["PLUTO_OUTBYTES"]) == ("840", "1260")


def test_port_and_protocol_of_a_narrow_selector() -> None:
    tcp22 = Selector.from_subnet("192.0.1.7/32", proto=6, port=22)
    env = updown_env("up-client", "ssh", info(local=tcp22), tcp22, EAST_NET, "xfrm")
    assert (env["PLUTO_MY_CLIENT"], env["PLUTO_MY_PROTOCOL"], env["PLUTO_MY_PORT"]) == ("192.0.1.7/32", "6", "22")
    assert env["PLUTO_MY_CLIENT_MASK"] == "255.255.255.255"


def test_verb_is_host_for_host_to_host_and_v6_for_ipv6_gateways() -> None:
    me = Selector.from_subnet("192.1.2.45/32")
    assert verb_suffix(info(local=me), me) == "-host"
    assert verb_suffix(info(), WEST_NET) == "-client"
    six = Selector.from_subnet("2001:db8:1::/64")
    assert verb_suffix(info(local=six, local_addr="2001:db8::45", remote_addr="2001:db8::23"), six) == "-client-v6"
    env = updown_env("up-client-v6", "six", info(local=six, remote=six, local_addr="2001:db8::45"), six, six, "xfrm")
    assert env["PLUTO_MY_CLIENT"] == "2001:db8:1::/64" and env["PLUTO_CONN_ADDRFAMILY"] == "ipv6"


def test_up_then_down_run_the_command_with_its_arguments(tmp_path: Path) -> None:
    command, out = recorder(tmp_path)
    plugin, log, conn = plugin_with(command)
    plugin.pluto_event(event=Event("child-up", "west-east", 2, "", info()), conn=conn)
    plugin.pluto_event(event=Event("child-down", "west-east", 2, "", info(counts=(84, 168))), conn=None)
    plugin.pluto_shutdown()
    assert out.read_text().splitlines() == [
        "up-client west-east 192.0.1.0/24 192.0.2.0/24 0xc0000001   custom",
        "down-client west-east 192.0.1.0/24 192.0.2.0/24 0xc0000001 84 168 custom",
    ]
    assert log.lines == []


def test_a_rekey_runs_nothing_and_the_last_sa_down_runs_down(tmp_path: Path) -> None:
    command, out = recorder(tmp_path)
    plugin, _log, conn = plugin_with(command)
    plugin.pluto_event(event=Event("child-up", "west-east", 2, "", info(0xC1, 0xD1)), conn=conn)
    plugin.pluto_event(event=Event("child-up", "west-east", 3, "", info(0xC2, 0xD2)), conn=conn)  # rekey
    plugin.pluto_event(event=Event("child-down", "west-east", 2, "", info(0xC1, 0xD1)), conn=conn)
    plugin.pluto_event(event=Event("ike-rekeyed", "west-east", 4, "#1"), conn=conn)
    plugin.pluto_event(event=Event("child-down", "west-east", 3, "", info(0xC2, 0xD2, counts=(1, 2))), conn=conn)
    plugin.pluto_shutdown()
    verbs = [line.split()[0] + " " + line.split()[4] for line in out.read_text().splitlines()]
    assert verbs == ["up-client 0x000000c1", "down-client 0x000000c2"]


def test_output_and_failure_reach_the_log(tmp_path: Path) -> None:
    plugin, log, conn = plugin_with("echo route added; echo oops >&2; exit 3")
    plugin.pluto_event(event=Event("child-up", "west-east", 2, "", info()), conn=conn)
    plugin.pluto_shutdown()
    assert log.lines == [
        '"west-east" #2: up-client output: route added',
        '"west-east" #2: up-client output: oops',
        '"west-east" #2: up-client command exited with status 3: echo route added; echo oops >&2; exit 3',
    ]


@pytest.mark.parametrize("command", ["", "%disabled", "ipsec _updown", "ipsec _updown --route yes"])
def test_disabled_and_the_libreswan_default_run_nothing(command: str, tmp_path: Path) -> None:
    plugin, log, conn = plugin_with(command)
    plugin.pluto_event(event=Event("child-up", "west-east", 2, "", info()), conn=conn)
    assert plugin.worker is None and plugin.jobs.empty() and log.lines == []


def test_a_hanging_command_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(updown, "TIMEOUT", 0.5)
    plugin, log, conn = plugin_with("sleep 30")
    plugin.pluto_event(event=Event("child-up", "west-east", 2, "", info()), conn=conn)
    plugin.pluto_shutdown()
    assert log.lines == ['"west-east" #2: up-client command killed after 0.5 seconds: sleep 30']


def test_log_lines_go_through_the_running_loop(tmp_path: Path) -> None:
    """While the daemon's loop runs, the worker hands its lines to the loop's thread."""
    plugin, log, conn = plugin_with("echo hello")
    threads: list[bool] = []
    original = log.log

    def record(text: str) -> None:
        threads.append(asyncio.get_running_loop() is not None)
        original(text)

    log.log = record  # type: ignore[method-assign]

    async def main() -> None:
        plugin.pluto_event(event=Event("child-up", "west-east", 2, "", info()), conn=conn)
        for _ in range(100):
            if log.lines:
                break
            await asyncio.sleep(0.05)

    asyncio.run(main())
    plugin.pluto_shutdown()
    assert log.lines == ['"west-east" #2: up-client output: hello'] and threads == [True]


def test_a_configuration_payload_client_tells_its_updown_the_lease_dns_and_domains() -> None:
    """As Libreswan's pluto: PLUTO_CFG_CLIENT=1, the lease as PLUTO_MY_SOURCEIP, what the server
    sent as PLUTO_PEER_DNS_INFO / PLUTO_PEER_DOMAIN_INFO (its _updown writes resolv.conf)."""
    from dataclasses import replace

    from tests.engine.harness import conn_pair

    client = replace(conn_pair()[0], lease=("10.9.0.7",),
                     options={"modecfgclient": True, "peer-dns": ("192.0.2.53", "192.0.2.54"),
                              "peer-domains": ("example.org", "corp.example")})
    lease = Selector.from_subnet("10.9.0.7/32")
    env = updown_env("up-client", "road", info(local=lease), lease, EAST_NET, "xfrm", route=client)
    assert (env["PLUTO_CFG_CLIENT"], env["PLUTO_CFG_SERVER"], env["PLUTO_MY_SOURCEIP"]) == ("1", "0", "10.9.0.7")
    assert env["PLUTO_PEER_DNS_INFO"] == "192.0.2.53 192.0.2.54"
    assert env["PLUTO_PEER_DOMAIN_INFO"] == "example.org corp.example"
    # the server that leased it says so; a conn without the Configuration payload neither
    server = replace(conn_pair()[1], lease=("10.9.0.7",), options={})
    env = updown_env("up-client", "rw", info(remote=lease), EAST_NET, lease, "xfrm", route=server)
    assert (env["PLUTO_CFG_CLIENT"], env["PLUTO_CFG_SERVER"]) == ("0", "1") and "PLUTO_PEER_DNS_INFO" not in env
    plain = updown_env("up-client", "c", info(), WEST_NET, EAST_NET, "xfrm", route=conn_pair()[0])
    assert (plain["PLUTO_CFG_CLIENT"], plain["PLUTO_CFG_SERVER"]) == ("0", "0")
