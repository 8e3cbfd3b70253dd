"""Route-based VPNs without a kernel: ipsec-interface= and mark= values, what they put on the
Child SA's SAs and policies and on trap policies, the ipsecN life cycle in the kernel port,
the RTM_NEWLINK octets, the PF_KEY refusal and the updown variables Libreswan's _updown reads."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from pluto_bsdkame.layout import LINUX
from pluto_bsdkame.plugin import BsdKameBackend
from pluto_core.config import load_config, orient
from pluto_core.config import route_based as rb
from pluto_core.engine_conn import to_engine_conn
from pluto_core.errors import KernelError
from pluto_core.ikev2.conn import ChildInstall, ChildKeys
from pluto_core.ikev2.enums import EncrId
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.kernel.port import Kernel
from pluto_core.kernel.types import Direction, KernelFeatures, Mark, interface_name, plan_child, trap_policies
from pluto_plugins.updown import route_env
from pluto_xfrm import links
from tests.unit.test_updown import EAST_NET, info

BASE = "conn c\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\tauto=add\n"


@pytest.mark.parametrize(("text", "if_id"), [(None, 0), ("no", 0), ("yes", 1), ("YES", 1), ("5", 5),
                                              ("0", 16384), ("4294967295", 0xFFFFFFFF)])
def test_ipsec_interface_values(text: str | None, if_id: int) -> None:
    assert rb.interface_id(text) == if_id


def test_ipsec0_is_if_id_16384_and_names_ipsec0() -> None:
    assert interface_name(rb.interface_id("0")) == "ipsec0"
    assert interface_name(rb.interface_id("yes")) == "ipsec1"
    assert interface_name(42) == "ipsec42"


@pytest.mark.parametrize(("text", "pair"), [("7", (7, 0xFFFFFFFF)), ("0x10/0xff", (0x10, 0xFF)),
                                            ("16/0xfffffff0", (16, 0xFFFFFFF0)), ("", None)])
def test_mark_values(text: str, pair: tuple[int, int] | None) -> None:
    assert rb.mark(text) == pair


def test_mark_in_and_out_override_mark() -> None:
    assert rb.marks("5", None, "9/0xf") == ((5, 0xFFFFFFFF), (9, 0xF))
    assert rb.marks(None, "1", None) == ((1, 0xFFFFFFFF), None)


@pytest.mark.parametrize("text", ["-1", "0x100000000", "3/0x1", "x"])
def test_bad_marks_raise(text: str) -> None:
    with pytest.raises(ValueError):
        rb.mark(text)


def _engine(tmp_path: Path, body: str) -> Any:
    p = tmp_path / "ipsec.conf"
    p.write_text(BASE + body)
    conf = load_config(p)
    assert conf.refused == {}  # type: ignore[attr-defined]
    return to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]


def test_conn_carries_if_id_and_marks(tmp_path: Path) -> None:
    conn = _engine(tmp_path, "\tipsec-interface=7\n")
    assert (conn.if_id, conn.mark_in, conn.mark_out) == (7, None, None)
    conn = _engine(tmp_path, "\tmark=0x20/0xf0\n\tmark-out=3\n")
    assert (conn.if_id, conn.mark_in, conn.mark_out) == (0, (0x20, 0xF0), (3, 0xFFFFFFFF))


def _child(**kw: Any) -> ChildInstall:
    return ChildInstall(
        conn="c", serial=1, local_addr="192.0.2.1", remote_addr="192.0.2.2", mode="tunnel", protocol=3,
        encr_id=EncrId.AES_GCM_16, encr_key_bits=128, integ_id=None, esn=False,
        inbound=ChildKeys(0x2001, bytes(20), b""), outbound=ChildKeys(0x3001, bytes(20), b""),
        local_ts=(Selector.from_subnet("10.1.0.0/24"),), remote_ts=(Selector.from_subnet("10.2.0.0/24"),),
        replay_window=128, lifetime_soft=2700.0, lifetime_hard=3600.0, reqid=16388, **kw)


def test_child_plan_puts_marks_by_direction_and_if_id_everywhere() -> None:
    plan = plan_child(_child(if_id=7, mark_in=(1, 0xFF), mark_out=(2, 0xFF)))
    assert (plan.inbound.mark, plan.inbound.if_id) == (Mark(1, 0xFF), 7)
    assert (plan.outbound.mark, plan.outbound.if_id) == (Mark(2, 0xFF), 7)
    by_dir = {p.direction: p for p in plan.policies}
    assert set(by_dir) == {Direction.OUT, Direction.IN, Direction.FWD}
    assert by_dir[Direction.OUT].mark == Mark(2, 0xFF)
    assert by_dir[Direction.IN].mark == by_dir[Direction.FWD].mark == Mark(1, 0xFF)
    assert {p.if_id for p in plan.policies} == {7}


def test_child_plan_without_route_based_settings_is_unmarked() -> None:
    plan = plan_child(_child())
    assert plan.inbound.mark is None and plan.outbound.if_id == 0
    assert all(p.mark is None and p.if_id == 0 for p in plan.policies)


def test_trap_policies_carry_if_id_and_out_mark() -> None:
    traps = trap_policies((Selector.from_subnet("10.1.0.0/24"),), (Selector.from_subnet("10.2.0.0/24"),),
                          "192.0.2.1", "192.0.2.2", True, 16384, 0, 5, Mark(9))
    assert [(p.direction, p.if_id, p.mark) for p in traps] == [(Direction.OUT, 5, Mark(9))]


def test_new_link_octets() -> None:
    """RTM_NEWLINK body: ifinfomsg (family 0, flags = change = IFF_UP), IFLA_IFNAME "ipsec7",
    IFLA_LINKINFO { IFLA_INFO_KIND "xfrm", IFLA_INFO_DATA { IFLA_XFRM_IF_ID 7 } }."""
    msg = links.new_link("ipsec7", 7)
    msg.encode()
    data = bytes(msg.data)
    assert data[16:32] == bytes.fromhex("00000000" "00000000" "01000000" "01000000")
    assert data[32:44] == bytes.fromhex("0b00" "0300") + b"ipsec7\0\0"
    assert data[44:] == bytes.fromhex("1c00" "1200" "0900" "0100") + b"xfrm\0\0\0\0" + bytes.fromhex(
        "0c00" "0200" "0800" "0200" "07000000")


class _Links:
    """A backend's interface hooks, recording the calls."""

    def __init__(self, exists: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.exists = exists

    def pluto_kernel_features(self) -> KernelFeatures:
        return KernelFeatures()

    def pluto_kernel_add_interface(self, name: str, if_id: int) -> bool:
        self.calls.append(("add", name))
        return not self.exists

    def pluto_kernel_del_interface(self, name: str) -> None:
        self.calls.append(("del", name))

    def pluto_kernel_flush_owned(self) -> int:
        return 0


def test_port_creates_with_first_conn_and_deletes_with_last() -> None:
    hook = _Links()
    port = Kernel(hook, "xfrm")
    assert port.hold_interface("a", 3) == "created XFRM interface ipsec3 (if_id 3)"
    assert port.hold_interface("b", 3) is None
    assert port.release_interface("a", 3) is None
    assert hook.calls == [("add", "ipsec3")]
    assert port.release_interface("b", 3) == "deleted XFRM interface ipsec3"
    assert hook.calls == [("add", "ipsec3"), ("del", "ipsec3")]


def test_port_never_deletes_an_interface_it_did_not_create() -> None:
    hook = _Links(exists=True)
    port = Kernel(hook, "xfrm")
    assert port.hold_interface("a", 3) == "using existing XFRM interface ipsec3 (if_id 3)"
    assert port.release_interface("a", 3) is None
    port.hold_interface("a", 3)
    assert port.flush_owned() == 0
    assert hook.calls == [("add", "ipsec3"), ("add", "ipsec3")]


def test_shutdown_deletes_created_interfaces() -> None:
    hook = _Links()
    port = Kernel(hook, "xfrm")
    port.hold_interface("a", 3)
    assert port.flush_owned() == 1
    assert hook.calls[-1] == ("del", "ipsec3")


def test_pfkey_backend_refuses_interfaces_and_marks() -> None:
    features = BsdKameBackend(LINUX).pluto_kernel_features()
    assert features.if_id_refusal is not None and features.if_id_refusal.startswith("not with this backend")
    assert features.mark_refusal is not None and "no mark extension" in features.mark_refusal

    class Pfkey(_Links):
        def pluto_kernel_features(self) -> KernelFeatures:
            return features

    hook = Pfkey()
    with pytest.raises(KernelError) as err:
        Kernel(hook, "bsdkame").hold_interface("a", 1)
    assert err.value.errno == errno.EOPNOTSUPP and "not with this backend" in str(err.value)
    assert hook.calls == []


def test_updown_variables_as_libreswan_sets_them() -> None:
    plain = route_env(0, None, None, EAST_NET, "192.1.2.23")
    assert plain == {"PLUTO_VIRT_INTERFACE": "NULL", "PLUTO_XFRMI_ROUTE": "", "VTI_IFACE": "",
                     "VTI_ROUTING": "no", "VTI_SHARED": "no"}
    xfrmi = route_env(5, None, None, EAST_NET, "192.1.2.23")
    assert (xfrmi["PLUTO_VIRT_INTERFACE"], xfrmi["PLUTO_XFRMI_ROUTE"], xfrmi["PLUTO_XFRMI_FWMARK"]) == \
        ("ipsec5", "yes", "")  # the peer is outside its client: no fwmark rule needed
    inside = route_env(5, None, None, EAST_NET, "192.0.2.9")
    assert inside["PLUTO_XFRMI_FWMARK"] == "5/0xffffffff"
    marked = route_env(0, (16, 0xFF), (32, 0xFFFFFFFF), EAST_NET, "192.1.2.23")
    assert (marked["CONNMARK_IN"], marked["CONNMARK_OUT"]) == ("16/0x0000ff", "32/0xffffffff")
    assert "PLUTO_XFRMI_FWMARK" not in marked


def test_updown_env_of_a_conn_without_route_settings_says_so() -> None:
    from pluto_plugins.updown import updown_env
    env = updown_env("up-client", "c", info(), Selector.from_subnet("192.0.1.0/24"), EAST_NET, "xfrm")
    assert env["PLUTO_XFRMI_ROUTE"] == "" and env["PLUTO_VIRT_INTERFACE"] == "NULL"


def test_conn_with_marks_or_interface_is_refused_under_pfkey(tmp_path: Path) -> None:
    from pluto_core.esp_filter import route_refusal

    pfkey = BsdKameBackend(LINUX).pluto_kernel_features()
    marked = _engine(tmp_path, "\tmark=5\n")
    assert route_refusal(marked, pfkey, "bsdkame") == (
        "\"c\": mark= is refused with kernel backend 'bsdkame': not with this backend: KAME PF_KEY has no mark "
        "extension (an XFRM feature): use --use-xfrm")
    routed = _engine(tmp_path, "\tipsec-interface=yes\n")
    why = route_refusal(routed, pfkey, "bsdkame")
    assert why is not None and why.startswith("\"c\": ipsec-interface= is refused with kernel backend 'bsdkame': "
                                              "not with this backend")
    assert route_refusal(routed, KernelFeatures(), "xfrm") is None
    assert route_refusal(_engine(tmp_path, ""), pfkey, "bsdkame") is None
    vti = _engine(tmp_path, "\tvti-interface=vti1\n\tmark=5\n")
    assert route_refusal(vti, pfkey, "bsdkame") == (
        "\"c\": vti-interface= is refused with kernel backend 'bsdkame': not with this backend: KAME PF_KEY has no "
        "mark extension (an XFRM feature): use --use-xfrm")
    assert route_refusal(vti, KernelFeatures(), "xfrm") is None


def test_marked_sa_completes_the_unmarked_larval_sa() -> None:
    """ALLOCSPI's larval SA has no mark; the marked inbound SA must replace it (UPDSA), not be
    added beside it (NEWSA: the kernel answers EEXIST, as the lab showed)."""
    from pluto_core.kernel.types import SaId, SaSpec
    from pluto_xfrm import messages as m
    from pluto_xfrm.plugin import XfrmBackend

    class Socket:
        def __init__(self) -> None:
            self.types: list[int] = []

        def request(self, msg: Any, msg_type: int, flags: int = 0) -> list[Any]:
            self.types.append(msg_type)
            return [{"id": {"spi": 0x4242}}] if msg_type == m.XFRM_MSG_ALLOCSPI else []

    backend = XfrmBackend()
    sock = Socket()
    backend.nl = sock  # type: ignore[assignment]
    spi = backend.pluto_kernel_allocate_spi(src="192.0.2.2", dst="192.0.2.1", protocol=3)
    sa = SaSpec("192.0.2.2", "192.0.2.1", spi, EncrId.AES_GCM_16, bytes(20), mark=Mark(0x10, 0xFF))
    backend.pluto_kernel_add_sa(sa=sa, update=False)
    assert sock.types == [m.XFRM_MSG_ALLOCSPI, m.XFRM_MSG_UPDSA]
    assert backend.owned.all_sas() == [SaId("192.0.2.1", spi, 50, Mark(0x10, 0xFF), "192.0.2.2")]
