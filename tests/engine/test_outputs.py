"""What the engine hands the host besides datagrams: crypto jobs whose results come
back through ``job_done``, revivals the host may take over, one event class per kind."""

from __future__ import annotations

import dataclasses

from pluto_core.ikev2.events import ChildUp, IkeFailed, IkeUp, ReviveDue
from pluto_core.ikev2.sa import IkeState
from tests.engine.harness import PSK, Clock, Side, advance, conn_pair, deliver, make_side, pump


def run_jobs(side: Side, fail: bool = False) -> int:
    """Do what a host with helper processes does: run each job, hand the result back."""
    jobs = side.engine.pop_jobs()
    for job in jobs:
        side.engine.job_done(job.id, RuntimeError("helper died") if fail else job.fn(*job.args))
    return len(jobs)


def test_offloaded_jobs_wait_for_the_host_and_their_results_finish_the_exchange() -> None:
    clock = Clock()
    west_conn, east_conn = conn_pair()
    west = make_side("192.1.2.45", 1, clock, PSK, offload_jobs=True)
    east = make_side("192.1.2.23", 2, clock, PSK, offload_jobs=True)
    west.engine.add_conn(west_conn)
    east.engine.add_conn(east_conn)
    sides = {"192.1.2.45": west, "192.1.2.23": east}
    west.engine.initiate("west-east")
    assert west.engine.pop_datagrams() == []  # nothing leaves before the key pair is there
    assert run_jobs(west) == 1
    deliver(sides, west.engine.pop_datagrams())  # IKE_SA_INIT request
    assert east.engine.pop_datagrams() == []  # east answers once its own jobs are done
    assert run_jobs(east) == 1  # its key pair; the shared secret is a job of its own
    assert run_jobs(east) == 1
    (answer,) = east.engine.pop_datagrams()
    deliver(sides, [answer])
    for _ in range(4):
        if not (run_jobs(west) + run_jobs(east)):
            break
        pump(sides)
    (w,), (e,) = west.engine.ike_sas(), east.engine.ike_sas()
    assert w.state == e.state == IkeState.ESTABLISHED
    assert len(west.kernel.installed) == len(east.kernel.installed) == 1
    assert [type(ev) for ev in west.events] == [IkeUp, ChildUp]


def test_a_failed_job_fails_the_ike_sa_and_a_stray_result_is_dropped() -> None:
    clock = Clock()
    west_conn, _ = conn_pair()
    west = make_side("192.1.2.45", 1, clock, PSK, offload_jobs=True)
    west.engine.add_conn(west_conn)
    west.engine.initiate("west-east")
    run_jobs(west, fail=True)
    assert west.engine.ike_sas() == []
    assert isinstance(west.events[-1], IkeFailed) and "helper died" in west.events[-1].detail
    west.engine.job_done(99, b"late")  # never raises
    assert "crypto job 99: result for no job of ours: dropped" in west.log.text()


def test_a_host_that_revives_is_told_and_the_engine_leaves_initiating_to_it() -> None:
    clock = Clock()
    west_conn, east_conn = conn_pair()
    west = make_side("192.1.2.45", 1, clock, PSK, host_revives=True)
    east = make_side("192.1.2.23", 2, clock, PSK)
    west.engine.add_conn(dataclasses.replace(west_conn, options={"auto": "start"}))
    east.engine.add_conn(east_conn)
    sides = {"192.1.2.45": west, "192.1.2.23": east}
    west.engine.initiate("west-east")
    pump(sides)
    assert east.engine.terminate("west-east") == 1  # the peer deletes it
    pump(sides)
    advance(clock, sides, 6)
    assert [ev for ev in west.events if isinstance(ev, ReviveDue)] == [ReviveDue("west-east", 0)]
    assert west.engine.ike_sas() == []  # the host initiates (here: nobody does)
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.ike_sas()[0].state == IkeState.ESTABLISHED
