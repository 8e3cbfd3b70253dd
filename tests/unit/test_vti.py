"""vti-interface='s host side (pluto_core/vti.py): the exact commands Libreswan 4.10's default
``_updown.xfrm`` runs for a VTI (device, sysctls, leftvti= address, up; vti-routing=yes
routes), run once per device and route however many Child SAs use them, and undone with the
last one; conns with a custom updown are left to it; the updown gets VTI_*."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from plugins.updown import route_env
from pluto_core.ikev2.events import ChildDown, ChildInfo, ChildUp
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.vti import Device, VtiDevices, create_commands, default_updown
from tests.engine.harness import Recorder

WEST_NET = Selector.from_subnet("192.0.1.0/24")
EAST_NET = Selector.from_subnet("192.0.2.0/24")
ANY = Selector.from_subnet("0.0.0.0/0")
MARK5 = (5, 0xFFFFFFFF)


def _info(local: Selector = WEST_NET, remote: Selector = EAST_NET) -> ChildInfo:
    return ChildInfo(1, "198.51.100.1", "198.51.100.2", "@west", "@east", "tunnel", (local,), (remote,),
                     1, 2, 16388, False)


class FakeRun:
    def __init__(self, existing: Sequence[str] = ()) -> None:
        self.calls: list[list[str]] = []
        self.existing = set(existing)

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        if list(args[:3]) == ["ip", "link", "show"]:
            code = 0 if args[3] in self.existing else 1
            return subprocess.CompletedProcess(list(args), code, "", "" if code == 0 else "Device does not exist")
        if "tunnel" in args[:3] and "add" in args:
            self.existing.add(args[args.index("add") + 1])
        elif list(args[:3]) == ["ip", "link", "del"]:
            self.existing.discard(args[3])
        return subprocess.CompletedProcess(list(args), 0, "", "")


def _devices(existing: Sequence[str] = (), remote_addr: str | None = "198.51.100.2",
             mark_in: Any = MARK5, mark_out: Any = MARK5, **options: Any) -> tuple[VtiDevices, FakeRun, Recorder]:
    opts = {"vti-interface": "vti1", "vti-routing": False, "vti-shared": False, "vti": None, "updown": None}
    opts.update({k.replace("_", "-"): v for k, v in options.items()})
    conn = SimpleNamespace(options=opts, remote_addr=remote_addr, mark_in=mark_in, mark_out=mark_out, instance=0)
    fake, log = FakeRun(existing), Recorder()
    return VtiDevices(lambda name: conn, log, run=fake), fake, log


CREATE_VTI1 = [
    ["ip", "link", "show", "vti1"],
    ["ip", "tunnel", "add", "vti1", "mode", "vti", "local", "198.51.100.1", "remote", "198.51.100.2",
     "okey", "5", "ikey", "5"],
    ["sysctl", "-w", "net.ipv4.conf.vti1.disable_policy=1"],
    ["sysctl", "-w", "net.ipv4.conf.vti1.rp_filter=0"],
    ["sysctl", "-w", "net.ipv4.conf.vti1.forwarding=1"],
]


def test_first_child_makes_the_device_and_the_last_deletes_it() -> None:
    vti, fake, log = _devices(vti="10.99.0.1/30")
    vti.on_event(ChildUp("west", 2, "", _info()))
    vti.on_event(ChildUp("west", 4, "", _info()))  # a rekey: the new SA first...
    vti.on_event(ChildDown("west", 2, "", _info()))  # ...then the old one goes: nothing to do
    vti.on_event(ChildDown("west", 4, "", _info()))
    vti.close()
    assert fake.calls == CREATE_VTI1 + [
        ["ip", "addr", "add", "10.99.0.1/30", "dev", "vti1"],
        ["ip", "link", "set", "vti1", "up"],
        ["ip", "link", "del", "vti1"],
    ]
    assert ('"west" #2 created VTI device vti1 (local 198.51.100.1 remote 198.51.100.2 ikey 5 okey 5, address '
            '10.99.0.1/30)') in log.text()
    assert '"west" #4 deleted VTI device vti1' in log.text()


def test_the_device_goes_even_when_its_conn_went_first() -> None:
    conn = SimpleNamespace(options={"vti-interface": "vti1", "vti-routing": True, "vti-shared": False, "vti": None,
                                    "updown": None}, remote_addr="198.51.100.2", mark_in=MARK5, mark_out=MARK5,
                           instance=0)
    conns: dict[str, Any] = {"west": conn}
    fake = FakeRun()
    vti = VtiDevices(conns.get, Recorder(), run=fake)
    vti.on_event(ChildUp("west", 2, "", _info()))
    del conns["west"]  # ipsec delete: the conn leaves the engine, then its Child SA's event arrives
    vti.on_event(ChildDown("west", 2, "", _info()))
    vti.close()
    assert fake.calls[-2:] == [["ip", "route", "del", "192.0.2.0/24", "dev", "vti1"], ["ip", "link", "del", "vti1"]]


def test_vti_routing_routes_the_peers_subnets_into_the_device() -> None:
    vti, fake, log = _devices(vti_routing=True, mark_in=(20, 0xFFFFFFFF), mark_out=(21, 0xFF))
    vti.on_event(ChildUp("west", 2, "", _info()))
    vti.on_event(ChildDown("west", 2, "", _info()))
    vti.close()
    assert fake.calls[1] == ["ip", "tunnel", "add", "vti1", "mode", "vti", "local", "198.51.100.1", "remote",
                             "198.51.100.2", "okey", "21", "ikey", "20"]  # mark values, masks dropped
    assert fake.calls[5:] == [
        ["ip", "link", "set", "vti1", "up"],
        ["ip", "route", "replace", "192.0.2.0/24", "dev", "vti1"],
        ["ip", "route", "del", "192.0.2.0/24", "dev", "vti1"],
        ["ip", "link", "del", "vti1"],
    ]
    assert '"west" #2 routed 192.0.2.0/24 into VTI device vti1' in log.text()


def test_vti_routing_never_routes_the_peer_itself_into_the_device() -> None:
    vti, fake, log = _devices(vti_routing=True)
    vti.on_event(ChildUp("west", 2, "", _info(ANY, ANY)))
    vti.close()
    assert not [c for c in fake.calls if c[:2] == ["ip", "route"]]
    assert "not routing 0.0.0.0/0 into vti1: it holds the peer 198.51.100.2" in log.text()


def test_shared_devices_have_no_remote_and_stay() -> None:
    vti, fake, log = _devices(vti_shared=True)
    vti.on_event(ChildUp("west", 2, "", _info()))
    vti.on_event(ChildDown("west", 2, "", _info()))
    vti.on_event(ChildUp("west", 6, "", _info()))  # up again: ours, still there
    vti.close()
    assert fake.calls[1][8:10] == ["remote", "0.0.0.0"]
    assert ["ip", "link", "del", "vti1"] not in fake.calls
    assert fake.calls.count(fake.calls[1]) == 1  # made once
    assert "VTI device vti1 left in place (vti-shared=yes or a template's instances)" in log.text()


def test_a_templates_instances_share_one_device_with_no_remote() -> None:
    vti, fake, _ = _devices(remote_addr=None)
    vti.on_event(ChildUp("rw", 2, "", _info()))
    vti.on_event(ChildUp("rw", 4, "", _info(remote=Selector.from_subnet("10.0.0.7/32"))))
    vti.on_event(ChildDown("rw", 2, "", _info()))
    vti.on_event(ChildDown("rw", 4, "", _info(remote=Selector.from_subnet("10.0.0.7/32"))))
    vti.close()
    adds = [c for c in fake.calls if c[:3] == ["ip", "tunnel", "add"]]
    assert len(adds) == 1 and adds[0][8:10] == ["remote", "0.0.0.0"]
    assert ["ip", "link", "del", "vti1"] not in fake.calls


def test_an_existing_device_is_used_as_it_is_and_never_deleted() -> None:
    vti, fake, log = _devices(existing=["vti1"], vti="10.99.0.1/30")
    vti.on_event(ChildUp("west", 2, "", _info()))
    vti.on_event(ChildDown("west", 2, "", _info()))
    vti.close()
    assert fake.calls == [["ip", "link", "show", "vti1"]]
    assert '"west" #2 using existing device vti1 as the VTI device' in log.text()


def test_ipv6_tunnels_get_a_vti6_device() -> None:
    dev = Device("vti6a", "2001:db8::1", "2001:db8::2", 7, 8, "fd00::1/64", False)
    assert create_commands(dev) == [
        ["ip", "-6", "tunnel", "add", "vti6a", "mode", "vti6", "local", "2001:db8::1", "remote", "2001:db8::2",
         "okey", "8", "ikey", "7"],
        ["sysctl", "-w", "net.ipv6.conf.vti6a.disable_policy=1"],
        ["sysctl", "-w", "net.ipv6.conf.vti6a.forwarding=1"],
        ["ip", "addr", "add", "fd00::1/64", "dev", "vti6a"],
        ["ip", "link", "set", "vti6a", "up"],
    ]


def test_a_custom_updown_owns_the_device_and_plain_conns_are_left_alone() -> None:
    assert default_updown(None) and default_updown("ipsec _updown --route yes") and not default_updown("%disabled")
    vti, fake, log = _devices(updown="/etc/ipsec.d/my-updown")
    vti.on_event(ChildUp("west", 2, "", _info()))
    vti.on_event(ChildDown("west", 2, "", _info()))
    plain, fake2, _ = _devices(vti_interface=None)
    plain.on_event(ChildUp("west", 2, "", _info()))
    vti.close()
    plain.close()
    assert fake.calls == [] and fake2.calls == []
    assert "vti-interface=vti1: leftupdown= is not Libreswan's _updown, so it makes the device" in log.text()


def test_updown_gets_libreswans_vti_variables() -> None:
    opts = {"vti-interface": "vti1", "vti-routing": True, "vti-shared": False, "vti": "10.99.0.1/30"}
    env = route_env(0, MARK5, MARK5, EAST_NET, "198.51.100.2", opts)
    assert {k: env[k] for k in ("VTI_IFACE", "VTI_ROUTING", "VTI_SHARED", "VTI_IP", "CONNMARK_IN",
                                "CONNMARK_OUT")} == {
        "VTI_IFACE": "vti1", "VTI_ROUTING": "yes", "VTI_SHARED": "no", "VTI_IP": "10.99.0.1/30",
        "CONNMARK_IN": "5/0xffffffff", "CONNMARK_OUT": "5/0xffffffff"}
    plain = route_env(0, None, None, EAST_NET, "198.51.100.2")
    assert (plain["VTI_IFACE"], plain["VTI_ROUTING"], plain["VTI_SHARED"]) == ("", "no", "no")
    assert "VTI_IP" not in plain


def test_a_kernel_without_vti_is_named_in_the_log() -> None:
    class NoVti(FakeRun):
        def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
            if "tunnel" in args[:3]:
                self.calls.append(list(args))
                return subprocess.CompletedProcess(list(args), 1, "", 'add tunnel "ip_vti0" failed: No such device')
            return super().__call__(args)

    log = Recorder()
    conn = SimpleNamespace(options={"vti-interface": "vti1", "updown": None}, remote_addr="198.51.100.2",
                           mark_in=MARK5, mark_out=MARK5, instance=0)
    fake = NoVti()
    vti = VtiDevices(lambda name: conn, log, run=fake)
    vti.on_event(ChildUp("west", 2, "", _info()))
    vti.on_event(ChildDown("west", 2, "", _info()))
    vti.close()
    assert [c[:3] for c in fake.calls] == [["ip", "link", "show"], ["ip", "tunnel", "add"]]  # nothing more, no del
    assert ('"west" #2 ip tunnel add vti1 mode vti local 198.51.100.1 remote 198.51.100.2 okey 5 ikey 5 failed: '
            'add tunnel "ip_vti0" failed: No such device') in log.text()
    assert "the kernel needs the ip_vti/ip6_vti module" in log.text()
