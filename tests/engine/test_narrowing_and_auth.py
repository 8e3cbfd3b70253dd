"""``narrowing=`` (RFC 7296 2.9) and the peer's AUTH method (``leftauth=``/``rightauth=``)
as the engine acts on them: without narrowing neither end narrows; an AUTH payload with a
method other than the one the conn expects of the peer is AUTHENTICATION_FAILED."""

from __future__ import annotations

import dataclasses

import pytest

from pluto_core.errors import ConfigError
from pluto_core.ikev2.enums import AuthMethod, ExchangeType
from pluto_core.ikev2.payloads import (
    Authentication,
    IdentificationInitiator,
    IdentificationResponder,
    SecurityAssociation,
    TrafficSelectorsInitiator,
    TrafficSelectorsResponder,
)
from pluto_core.ikev2.tasks.common import with_spi
from pluto_core.ikev2.tasks.ike_auth import auth_value
from tests.engine.harness import PSK, Clock, conn_pair, make_side, pump, setup, two_sides

WEST, EAST = "192.1.2.45", "192.1.2.23"
SECRET = b"a very secret pre-shared key"


def _pair(west_narrowing: bool, east_narrowing: bool, proposed: str, allowed: str):  # type: ignore[no-untyped-def]
    """west proposes ``proposed`` for east's side; east's policy for its side is ``allowed``."""
    w_conn, e_conn = conn_pair(east_ts=proposed, east_allows=allowed)
    _clock, west, east, sides = two_sides(dataclasses.replace(w_conn, narrowing=west_narrowing),
                                          dataclasses.replace(e_conn, narrowing=east_narrowing))
    west.engine.initiate("west-east")
    pump(sides)
    return west, east


def test_responder_with_narrowing_no_refuses_to_narrow() -> None:
    west, east = _pair(True, False, "192.0.2.0/24", "192.0.2.128/25")
    assert "(narrowing=no): TS_UNACCEPTABLE" in east.log.text()
    assert not east.kernel.installed and not west.kernel.installed
    assert [e.kind for e in west.events] == ["ike-up", "child-failed"]


def test_responder_with_narrowing_yes_narrows() -> None:
    west, east = _pair(True, True, "192.0.2.0/24", "192.0.2.128/25")
    (w,) = west.kernel.installed.values()
    (e,) = east.kernel.installed.values()
    assert [str(s) for s in w.remote_ts] == [str(s) for s in e.local_ts] == ["192.0.2.128/25"]


@pytest.mark.parametrize("narrowing", [False, True])
def test_a_proposal_inside_the_policy_is_taken_unchanged(narrowing: bool) -> None:
    west, east = _pair(narrowing, narrowing, "192.0.2.0/25", "192.0.2.0/24")
    (w,) = west.kernel.installed.values()
    (e,) = east.kernel.installed.values()
    assert [str(s) for s in w.remote_ts] == [str(s) for s in e.local_ts] == ["192.0.2.0/25"]


def test_initiator_with_narrowing_no_refuses_a_narrowed_answer() -> None:
    west, east = _pair(False, True, "192.0.2.0/24", "192.0.2.128/25")
    assert "IKE_AUTH response traffic selectors are not the ones we proposed (narrowing=no)" in west.log.text()
    assert not west.kernel.installed
    assert not east.kernel.installed  # west deleted the Child SA east had made


def test_initiator_with_narrowing_yes_takes_a_narrowed_answer() -> None:
    west, _east = _pair(True, True, "192.0.2.0/24", "192.0.2.128/25")
    (w,) = west.kernel.installed.values()
    assert [str(s) for s in w.remote_ts] == ["192.0.2.128/25"]


def _child_payloads(conn):  # type: ignore[no-untyped-def]

    return [SecurityAssociation(with_spi(conn.esp_proposals, 0x01020304)),
            TrafficSelectorsInitiator([s.to_payload() for s in conn.local_ts]),
            TrafficSelectorsResponder([s.to_payload() for s in conn.remote_ts])]


@pytest.mark.parametrize("method", [AuthMethod.SHARED_KEY_MIC, AuthMethod.RSA_SIG, AuthMethod.NULL_AUTH,
                                    AuthMethod.DIGITAL_SIGNATURE])
def test_responder_checks_the_peers_auth_method(method: AuthMethod) -> None:
    """The MAC is right in every case: only the method differs."""
    _clock, west, east, _sides = setup()
    west.engine.initiate("west-east")
    for sender, receiver in ((west, east), (east, west)):  # IKE_SA_INIT
        for d in sender.engine.pop_datagrams():
            receiver.engine.receive(d.data, d.remote, d.local)
    west.engine.pop_datagrams()  # west's own IKE_AUTH request: replaced by ours
    (w_sa,) = west.engine.ike_sas()
    conn = w_sa.conn
    assert conn is not None
    payloads = [IdentificationInitiator(conn.local_id.id_type, conn.local_id.data),
                Authentication(method, auth_value(w_sa, SECRET, True, conn.local_id)), *_child_payloads(conn)]
    east.engine.receive(west.engine.encode(w_sa, ExchangeType.IKE_AUTH, 1, payloads, response=False),
                        (EAST, 500), (WEST, 500))
    if method == AuthMethod.SHARED_KEY_MIC:
        assert "responder established IKE SA" in east.log.text()
        return
    assert (f"peer authenticated with AUTH method {method.name}, but the conn expects SHARED_KEY_MIC (secret): "
            "sending AUTHENTICATION_FAILED") in east.log.text()
    assert east.engine.ike_sas() == [] and not east.kernel.installed
    (reply,) = east.engine.pop_datagrams()
    west.engine.receive(reply.data, reply.remote, reply.local)
    assert "IKE SA authentication request rejected by peer: AUTHENTICATION_FAILED" in west.log.text()


@pytest.mark.parametrize("method", [AuthMethod.SHARED_KEY_MIC, AuthMethod.ECDSA_SHA256_P256])
def test_initiator_checks_the_peers_auth_method(method: AuthMethod) -> None:
    _clock, west, east, _sides = setup()
    west.engine.initiate("west-east")
    for sender, receiver in ((west, east), (east, west), (west, east)):  # IKE_SA_INIT, IKE_AUTH request
        for d in sender.engine.pop_datagrams():
            receiver.engine.receive(d.data, d.remote, d.local)
    east.engine.pop_datagrams()  # east's real answer: replaced by ours
    e_sa = next(iter(east.engine.sas.values()))
    conn = e_sa.conn
    assert conn is not None
    (child,) = east.kernel.installed.values()
    payloads = [IdentificationResponder(conn.local_id.id_type, conn.local_id.data),
                Authentication(method, auth_value(e_sa, SECRET, False, conn.local_id)),
                SecurityAssociation(list(child_proposal(east))), TrafficSelectorsInitiator(
                    [s.to_payload() for s in child.remote_ts]),
                TrafficSelectorsResponder([s.to_payload() for s in child.local_ts])]
    west.engine.receive(east.engine.encode(e_sa, ExchangeType.IKE_AUTH, 1, payloads, response=True),
                        (WEST, 500), (EAST, 500))
    if method == AuthMethod.SHARED_KEY_MIC:
        assert "initiator established IKE SA" in west.log.text()
        return
    assert (f"peer authenticated with AUTH method {method.name}, but the conn expects SHARED_KEY_MIC (secret): "
            "AUTHENTICATION_FAILED") in west.log.text()
    assert "established IKE SA" not in west.log.text() and not west.kernel.installed


def child_proposal(side):  # type: ignore[no-untyped-def]
    """The ESP proposal east chose, with east's inbound SPI (as its real answer carried)."""
    from pluto_core.ikev2.payloads import Proposal

    sa = next(iter(side.engine.sas.values()))
    child = sa.children[0]
    return [Proposal(1, 3, child.spi_in.to_bytes(4, "big"), list(child.proposal.transforms))]


def test_the_engine_refuses_an_auth_method_it_cannot_do() -> None:
    west_conn, _ = conn_pair()
    side = make_side(WEST, 1, Clock(), PSK)
    with pytest.raises(ConfigError, match="remote auth method 'eap' is not implemented"):
        side.engine.add_conn(dataclasses.replace(west_conn, remote_auth="eap"))
    assert side.engine.conns == {}
