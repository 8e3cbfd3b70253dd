"""The SA state tables: every legal change goes through, anything else is a StateError."""

from __future__ import annotations

import pytest

from pluto_core.ikev2.sa import CHILD_TRANSITIONS, IKE_TRANSITIONS, ChildSa, ChildState, IkeSa, IkeState, StateError
from tests.engine.harness import conn_pair


def _ike(state: IkeState) -> IkeSa:
    return IkeSa(1, None, True, ("192.1.2.45", 500), ("192.1.2.23", 500), bytes(range(8)), state=state)


@pytest.mark.parametrize("start", list(IkeState))
@pytest.mark.parametrize("end", list(IkeState))
def test_ike_sa_changes_only_as_the_table_says(start: IkeState, end: IkeState) -> None:
    sa = _ike(start)
    if end in IKE_TRANSITIONS[start]:
        sa.to(end)
        assert sa.state == end
    else:
        with pytest.raises(StateError, match=f"{start.value} -> {end.value}"):
            sa.to(end)
        assert sa.state == start


@pytest.mark.parametrize("start", list(ChildState))
@pytest.mark.parametrize("end", list(ChildState))
def test_child_sa_changes_only_as_the_table_says(start: ChildState, end: ChildState) -> None:
    child = ChildSa(2, conn_pair()[0], state=start)
    if end in CHILD_TRANSITIONS[start]:
        child.to(end)
        assert child.state == end and child.rekeying == (end == ChildState.REKEYING)
    else:
        with pytest.raises(StateError):
            child.to(end)
        assert child.state == start


def test_every_state_has_a_row() -> None:
    assert set(IKE_TRANSITIONS) == set(IkeState) and set(CHILD_TRANSITIONS) == set(ChildState)
    # an established IKE SA never goes back to negotiating; a gone Child SA never comes back
    assert IKE_TRANSITIONS[IkeState.ESTABLISHED] == {IkeState.DEAD}
    assert CHILD_TRANSITIONS[ChildState.GONE] == {ChildState.GONE}
