"""Two engines establish IKE and Child SAs over every required combination, and fail cleanly."""

from __future__ import annotations

import itertools

import pytest

from pluto_core.errors import KernelError
from tests.engine.harness import (
    ENCR_AES_CBC,
    ENCR_AES_GCM_16,
    ENCR_CHACHA,
    INTEG_SHA1_96,
    INTEG_SHA256_128,
    Psks,
    conn_pair,
    pump,
    setup,
    two_sides,
)

IKE_CIPHERS = [((ENCR_AES_GCM_16, 256), None), ((ENCR_AES_CBC, 256), INTEG_SHA256_128), ((ENCR_CHACHA, None), None)]
GROUPS = [14, 19, 31]
ESPS = [((ENCR_AES_GCM_16, 256), None), ((ENCR_AES_CBC, 128), INTEG_SHA1_96)]


@pytest.mark.parametrize("ike_cipher, group, esp, mode",
                         list(itertools.product(IKE_CIPHERS, GROUPS, ESPS, ["tunnel", "transport"])))
def test_establish(ike_cipher, group, esp, mode) -> None:
    (encr, integ) = ike_cipher
    _clock, west, east, sides = setup(ike=(encr, integ, group), esp=esp, mode=mode)
    west.engine.initiate("west-east")
    pump(sides)
    assert [e.kind for e in west.events] == ["ike-up", "child-up"], west.log.text()
    assert [e.kind for e in east.events] == ["ike-up", "child-up"], east.log.text()
    (w,), (e,) = west.kernel.installed.values(), east.kernel.installed.values()
    # Each side's outbound SA is the other's inbound one, with the same keys.
    assert w.outbound == e.inbound and w.inbound == e.outbound
    assert w.mode == e.mode == mode
    assert w.encr_id == esp[0][0] and w.integ_id == esp[1]
    assert len(w.outbound.encr_key) == {ENCR_AES_GCM_16: 36, ENCR_AES_CBC: 16}[esp[0][0]]
    assert "initiator established IKE SA; authenticated peer using authby=secret and FQDN '@east'" in west.log.text()
    assert "responder established IKE SA; authenticated peer using authby=secret and FQDN '@west'" in east.log.text()
    line = next(x for x in west.log.lines if "established Child SA" in x)
    assert line.startswith('"west-east" #2: initiator established Child SA using #1; IPsec '
                           f'{mode} [192.0.1.0/24===192.0.2.0/24] {{ESP=>0x')


def test_wrong_psk_fails_and_installs_nothing() -> None:
    other = Psks({frozenset(("@west", "@east")): b"not the same key"})
    _clock, west, east, sides = setup(east_psks=other)
    west.engine.initiate("west-east")
    pump(sides)
    assert not west.kernel.installed and not east.kernel.installed
    assert "sending AUTHENTICATION_FAILED" in east.log.text()
    assert "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED" in west.log.text()
    assert west.engine.ike_sas() == [] and east.engine.ike_sas() == []
    assert [e.kind for e in west.events] == ["ike-failed"]


def test_no_common_ike_proposal() -> None:
    west_conn, _ = conn_pair(ike=((ENCR_AES_GCM_16, 256), None, 19))
    _, east_conn = conn_pair(ike=((ENCR_AES_CBC, 128), INTEG_SHA1_96, 14))
    _clock, west, east, sides = two_sides(west_conn, east_conn)
    west.engine.initiate("west-east")
    pump(sides)
    assert "IKE_SA_INIT request rejected by peer: NO_PROPOSAL_CHOSEN" in west.log.text()
    assert east.engine.ike_sas() == [] and west.engine.ike_sas() == []


def test_disjoint_traffic_selectors() -> None:
    _clock, west, east, sides = setup(east_allows="10.9.9.0/24")
    west.engine.initiate("west-east")
    pump(sides)
    assert [e.kind for e in west.events] == ["ike-up", "child-failed"]
    assert "TS_UNACCEPTABLE" in west.events[1].detail
    assert not west.kernel.installed and not east.kernel.installed
    assert len(west.engine.ike_sas()) == 1  # the IKE SA stays


def test_narrowing_to_the_responders_subnet() -> None:
    _clock, west, east, sides = setup(east_ts="192.0.2.0/24", east_allows="192.0.2.128/25", narrowing=True)
    west.engine.initiate("west-east")
    pump(sides)
    (w,) = west.kernel.installed.values()
    assert [str(s) for s in w.remote_ts] == ["192.0.2.128/25"]


def test_kernel_refusal_fails_child_cleanly_and_keeps_ike_sa() -> None:
    _clock, west, east, sides = setup()
    east.kernel.refuse = KernelError("add SA", 93, "the kernel lacks ESP support (module esp4/esp6)")
    west.engine.initiate("west-east")
    pump(sides)
    assert "kernel refused the Child SA" in east.log.text() and "esp4" in east.log.text()
    assert east.kernel.installed == {}
    # The peer was told: its Child SA is deleted, the IKE SAs stay.
    assert west.kernel.installed == {}
    assert "ESP SA deleted by peer" in west.log.text()
    assert len(west.engine.ike_sas()) == 1 and len(east.engine.ike_sas()) == 1


def test_extensions_add_and_read_payloads() -> None:
    from pluto_core.ikev2.payloads import VendorId

    seen: list[tuple[int, bool, bool, list[bytes]]] = []

    class Probe:
        def build(self, ctx):  # type: ignore[no-untyped-def]
            return [VendorId(b"probe:%d" % ctx.exchange)] if ctx.request else []

        def read(self, ctx, payloads):  # type: ignore[no-untyped-def]
            seen.append((ctx.exchange, ctx.request, ctx.outbound,
                         [p.data for p in payloads if isinstance(p, VendorId)]))

    _clock, west, east, sides = setup()
    east.engine.extensions = Probe()
    west.engine.extensions = Probe()
    west.engine.initiate("west-east")
    pump(sides)
    assert [e.kind for e in west.events] == ["ike-up", "child-up"]
    # East read west's two requests with the probe's payload (IKE_SA_INIT in clear, IKE_AUTH inside SK).
    assert (34, True, False, [b"probe:34"]) in seen and (35, True, False, [b"probe:35"]) in seen
