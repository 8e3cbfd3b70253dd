"""Rekeying under virtual time: Child SA, IKE SA, simultaneous rekeys, expiry without rekey."""

from __future__ import annotations

from tests.engine.harness import advance, pump, setup


def _children(side):  # type: ignore[no-untyped-def]
    return list(side.kernel.installed.values())


def _pairs_match(west, east) -> bool:  # type: ignore[no-untyped-def]
    (w,), (e,) = _children(west), _children(east)
    return w.outbound == e.inbound and w.inbound == e.outbound


def test_child_sa_rekey() -> None:
    clock, west, east, sides = setup(salifetime=60.0, rekeymargin=20.0, rekeyfuzz=0.0)
    west.engine.initiate("west-east")
    pump(sides)
    (before,) = _children(west)
    advance(clock, sides, 45)
    (after,) = _children(west)
    assert after.inbound.spi != before.inbound.spi and after.outbound.spi != before.outbound.spi
    assert after.inbound.encr_key != before.inbound.encr_key
    assert _pairs_match(west, east)
    assert "initiating rekey of Child SA #2" in west.log.text() or "initiating rekey of Child SA #2" in east.log.text()
    # The IKE SAs stay, one each.
    assert len(west.engine.ike_sas()) == 1 and len(east.engine.ike_sas()) == 1


def test_simultaneous_child_rekey_leaves_one_pair() -> None:
    clock, west, east, sides = setup(salifetime=60.0, rekeymargin=20.0, rekeyfuzz=0.0)
    west.engine.initiate("west-east")
    pump(sides)
    # Both sides have the same lifetimes and no fuzz: they rekey at the same instant.
    advance(clock, sides, 45)
    assert len(_children(west)) == 1 and len(_children(east)) == 1, (west.log.text(), east.log.text())
    assert _pairs_match(west, east)
    both = west.log.text() + east.log.text()
    assert both.count("initiating rekey of Child SA #2") == 2
    assert "deleting our redundant Child SA" in both


def test_ike_sa_rekey_moves_children_and_keeps_working() -> None:
    clock, west, east, sides = setup(ikelifetime=60.0, salifetime=600.0, rekeymargin=20.0, rekeyfuzz=0.0)
    west.engine.initiate("west-east")
    pump(sides)
    old = west.engine.ike_sas()[0].spi_i
    advance(clock, sides, 45)
    (w_sa,), (e_sa,) = west.engine.ike_sas(), east.engine.ike_sas()
    assert w_sa.spi_i != old and w_sa.serial > 2 and w_sa.children and e_sa.children
    assert (w_sa.spi_i, w_sa.spi_r) == (e_sa.spi_i, e_sa.spi_r)
    assert "rekeyed IKE SA #1" in west.log.text() + east.log.text()
    # The new IKE SA carries traffic: a Delete over it is understood.
    west.engine.terminate("west-east")
    pump(sides)
    assert west.engine.ike_sas() == [] and east.engine.ike_sas() == []
    assert _children(west) == [] and _children(east) == []


def test_expiry_without_rekey_deletes() -> None:
    clock, west, east, sides = setup(salifetime=30.0, rekey=False)
    west.engine.initiate("west-east")
    pump(sides)
    advance(clock, sides, 35)
    assert _children(west) == [] and _children(east) == []
    assert "Child SA expired" in west.log.text() + east.log.text()


def test_volume_limits_reach_the_kernel_and_its_soft_expire_rekeys() -> None:
    """ipsec-max-packets=1000 / ipsec-max-bytes=1 MB: the hard limits go to the kernel as
    they are, the soft ones at 25% (initiator) or 50% (responder) less up to 12% fuzz;
    the kernel's soft EXPIRE is what rekeys (no timer is anywhere near)."""
    clock, west, east, sides = setup(ipsec_max_packets=1000, ipsec_max_bytes=1 << 20)
    west.engine.initiate("west-east")
    pump(sides)
    (w,), (e,) = _children(west), _children(east)
    assert (w.hard_packets, w.hard_bytes) == (e.hard_packets, e.hard_bytes) == (1000, 1 << 20)
    assert 220 <= w.soft_packets <= 250 and 440 <= e.soft_packets <= 500, (w.soft_packets, e.soft_packets)
    assert (1 << 18) * 88 // 100 <= w.soft_bytes <= 1 << 18, w.soft_bytes
    advance(clock, sides, 30)
    assert _children(west) == [w]  # nothing happens by itself
    west.engine.expire(w.outbound.spi, hard=False)
    pump(sides)
    (after,) = _children(west)
    assert after.inbound.spi != w.inbound.spi and _pairs_match(west, east)
    assert f"kernel reports the soft lifetime of SPI 0x{w.outbound.spi:08x} reached; rekeying Child SA" \
        in west.log.text()
    # a second soft EXPIRE (the other direction's SA) of the old SA changes nothing
    west.engine.expire(w.inbound.spi, hard=False)
    pump(sides)
    assert _children(west) == [after]


def test_rekey_answered_with_an_error_gives_the_spi_back() -> None:
    """Regression (defect: an initiator whose CREATE_CHILD_SA was answered with an error notify
    left the larval SA of its new SPI to the kernel's timeout): the responder cannot allocate
    an SPI (TEMPORARY_FAILURE); the initiator keeps the old Child SA and releases its SPI."""
    from pluto_core.errors import KernelError

    clock, west, east, sides = setup(salifetime=60.0, rekeymargin=20.0, rekeyfuzz=0.0)
    west.engine.initiate("west-east")
    pump(sides)
    (before,) = _children(west)

    def no_spi(src: str, dst: str, protocol: int) -> int:
        raise KernelError("allocate SPI", 12, "the kernel ran out of memory")

    for side in (west, east):  # both ends rekey at once (no fuzz): each refuses the other
        side.kernel.allocate_spi = no_spi  # type: ignore[method-assign]
    west.kernel.allocate_spi = lambda src, dst, protocol: west.kernel.__class__.allocate_spi(  # type: ignore
        west.kernel, src, dst, protocol)
    advance(clock, sides, 45)
    assert "CREATE_CHILD_SA request rejected by peer: TEMPORARY_FAILURE" in west.log.text(), west.log.text()
    assert west.kernel.larval == set(), west.kernel.larval
    assert _children(west) == [before] and _pairs_match(west, east)
