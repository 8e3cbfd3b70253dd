"""Authentication through the credentials port: one lookup job per IKE_AUTH message
(answered later when the host runs it off its loop), the port's last word on an
authenticated peer (a veto), and a failed lookup."""

from __future__ import annotations

from pluto_core.ikev2.events import ChildUp, IkeFailed, IkeUp
from pluto_core.ikev2.sa import IkeState
from tests.engine.harness import PSK, Psks, advance, conn_pair, deliver, pump, setup, two_sides


def test_a_veto_by_the_responders_port_refuses_the_peer_with_authentication_failed() -> None:
    vetoing = Psks(PSK.table, vetoes={"@west": "not on the list of conn west-east"})
    _clock, west, east, sides = setup(east_psks=vetoing)
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.ike_sas() == [] and east.engine.ike_sas() == []
    assert ("authorize", "@west", "secret") in vetoing.asked
    assert "authentication of peer FQDN '@west' using authby=secret was vetoed: not on the list of conn " \
           "west-east: sending AUTHENTICATION_FAILED" in east.log.text()
    assert "AUTHENTICATION_FAILED" in west.log.text()
    assert east.kernel.installed == {} and west.kernel.installed == {}
    assert not any(isinstance(ev, IkeUp) for ev in east.events + west.events)


def test_a_veto_by_the_initiators_port_refuses_the_responder() -> None:
    vetoing = Psks(PSK.table, vetoes={"@east": "east is retired"})
    _clock, west, east, sides = setup(psks=vetoing, east_psks=PSK)
    west.engine.initiate("west-east")
    pump(sides)
    assert west.engine.ike_sas() == []
    assert "authentication of peer FQDN '@east' using authby=secret was vetoed: east is retired: " \
           "AUTHENTICATION_FAILED" in west.log.text()
    assert isinstance(west.events[-1], IkeFailed) and west.kernel.installed == {}
    assert east.engine.ike_sas() == []  # our Delete reached east


def test_the_responder_answers_once_its_lookup_is_done_and_drops_retransmissions_meanwhile() -> None:
    _clock, west, east, sides = two_sides(*conn_pair(), offload_lookups=True)
    west.engine.initiate("west-east")
    deliver(sides, west.engine.pop_datagrams())  # IKE_SA_INIT
    deliver(sides, east.engine.pop_datagrams())
    (auth_request,) = west.engine.pop_datagrams()
    deliver(sides, [auth_request])
    (job,) = east.engine.pop_jobs()
    assert job.kind == "lookup" and east.engine.pop_datagrams() == []
    deliver(sides, [auth_request])  # the initiator retransmits while east waits
    assert east.engine.pop_datagrams() == [] and east.engine.pop_jobs() == []
    assert "IKE_AUTH request 1 is being answered: retransmission dropped" in east.log.text()
    east.engine.job_done(job.id, job.fn(*job.args))
    (answer,) = east.engine.pop_datagrams()
    deliver(sides, [answer])
    (w,), (e,) = west.engine.ike_sas(), east.engine.ike_sas()
    assert w.state == e.state == IkeState.ESTABLISHED
    assert [type(ev) for ev in east.events] == [IkeUp, ChildUp]


def test_a_lookup_that_fails_answers_authentication_failed_and_names_why() -> None:
    _clock, west, east, sides = two_sides(*conn_pair(), offload_lookups=True)
    west.engine.initiate("west-east")
    for _ in range(2):
        deliver(sides, west.engine.pop_datagrams())
        deliver(sides, east.engine.pop_datagrams())
    (job,) = east.engine.pop_jobs()
    east.engine.job_done(job.id, TimeoutError("the key store did not answer"))
    pump(sides)
    assert east.engine.ike_sas() == [] and west.engine.ike_sas() == []
    assert "credential lookup failed: TimeoutError: the key store did not answer: sending " \
           "AUTHENTICATION_FAILED" in east.log.text()
    assert "AUTHENTICATION_FAILED" in west.log.text()


def test_no_psk_on_the_responder_is_refused_without_our_auth() -> None:
    _clock, west, east, sides = setup(east_psks=Psks({}))
    west.engine.initiate("west-east")
    pump(sides)
    assert "using authby=secret failed: no PSK for @east and @west: sending AUTHENTICATION_FAILED" in east.log.text()
    assert west.engine.ike_sas() == [] and east.engine.ike_sas() == []


def test_a_request_that_comes_while_the_initiator_checks_the_answer_is_taken_when_retransmitted() -> None:
    clock, west, east, sides = two_sides(*conn_pair(), west_kw={"offload_lookups": True})
    west.engine.initiate("west-east")
    for _ in range(2):  # IKE_SA_INIT both ways, then IKE_AUTH once west made its AUTH (a lookup job)
        for job in west.engine.pop_jobs():
            west.engine.job_done(job.id, job.fn(*job.args))
        deliver(sides, west.engine.pop_datagrams())
        deliver(sides, east.engine.pop_datagrams())
    (job,) = west.engine.pop_jobs()  # checking east's IKE_AUTH answer
    (child,) = east.kernel.installed.values()
    east.engine.expire(child.inbound.spi, hard=False)  # east, established, asks to rekey at once
    deliver(sides, east.engine.pop_datagrams())
    assert "CREATE_CHILD_SA request 0 came while the IKE_AUTH response is being checked: dropped for now" \
        in west.log.text()
    assert "unexpected" not in west.log.text()
    west.engine.job_done(job.id, job.fn(*job.args))
    assert west.engine.ike_sas()[0].state == IkeState.ESTABLISHED
    advance(clock, sides, 2)  # east retransmits its request; west answers it now
    assert [type(ev) for ev in west.events].count(ChildUp) == 2  # the IKE_AUTH Child SA, then its rekey
