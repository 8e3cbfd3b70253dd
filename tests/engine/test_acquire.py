"""The kernel's ACQUIRE for a trapped packet starts the conn whose trap policy the
kernel matched: the most specific, or the one with the lowest ``priority=``."""

from __future__ import annotations

import dataclasses

from pluto_core.ikev2.ts_narrow import Selector
from tests.engine.harness import PSK, Clock, conn_pair, make_side


def _west(**wide: object):  # type: ignore[no-untyped-def]
    west_conn, _ = conn_pair(west_ts="192.0.1.0/24", east_ts="192.0.2.0/24")
    opts = {"auto": "ondemand"}
    wide_conn = dataclasses.replace(west_conn, name="wide", options=opts, **wide)  # type: ignore[arg-type]
    narrow_conn = dataclasses.replace(west_conn, name="narrow", options=opts,
                                      remote_ts=(Selector.from_subnet("192.0.2.0/25"),))
    west = make_side("192.1.2.45", 1, Clock(), PSK)
    west.engine.add_conn(wide_conn)  # the wider one first: order must not decide
    west.engine.add_conn(narrow_conn)
    return west


def test_the_most_specific_conn_answers_the_acquire() -> None:
    west = _west()
    assert west.engine.acquire("192.0.1.7/32", "192.0.2.9/32") is not None
    assert '"narrow": initiating on demand for 192.0.1.7/32 to 192.0.2.9/32' in west.log.text()
    other = _west()
    other.engine.acquire("192.0.1.7/32", "192.0.2.200/32")  # outside the /25
    assert '"wide": initiating on demand' in other.log.text()


def test_an_explicit_priority_wins_over_specificity() -> None:
    west = _west(priority=1000)
    west.engine.acquire("192.0.1.7/32", "192.0.2.9/32")
    assert '"wide": initiating on demand' in west.log.text(), west.log.text()


def test_an_acquire_outside_every_conn_starts_nothing() -> None:
    west = _west()
    assert west.engine.acquire("192.0.1.7/32", "10.0.0.1/32") is None
    assert west.engine.ike_sas() == []
