"""The lifecycle table, checked over every (state, state) pair."""

from __future__ import annotations

import itertools

import pytest

from smppd.smpp.constants import MessageState
from smppd.store.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    UNCONFIRMED,
    InvalidTransition,
    State,
    check_transition,
    smpp_message_state,
)

S = State
ALLOWED: set[tuple[State, State]] = {
    (S.ACCEPTED, S.SCHEDULED),
    (S.ACCEPTED, S.QUEUED),
    (S.ACCEPTED, S.EXPIRED),
    (S.ACCEPTED, S.REJECTED),
    (S.ACCEPTED, S.FAILED),
    (S.ACCEPTED, S.CANCELLED),
    (S.SCHEDULED, S.QUEUED),
    (S.SCHEDULED, S.EXPIRED),
    (S.SCHEDULED, S.FAILED),
    (S.SCHEDULED, S.CANCELLED),
    (S.QUEUED, S.QUEUED),
    (S.QUEUED, S.SUBMITTED),
    (S.QUEUED, S.EXPIRED),
    (S.QUEUED, S.REJECTED),
    (S.QUEUED, S.FAILED),
    (S.QUEUED, S.CANCELLED),
    (S.SUBMITTED, S.DELIVERED),
    (S.SUBMITTED, S.UNDELIVERABLE),
    (S.SUBMITTED, S.EXPIRED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.CANCELLED),
}


@pytest.mark.parametrize(
    ("current", "wanted"), list(itertools.product(State, State)), ids=lambda s: s.value
)
def test_every_transition_is_allowed_exactly_when_the_table_says(
    current: State, wanted: State
) -> None:
    if (current, wanted) in ALLOWED:
        check_transition("m", current, wanted)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition("m", current, wanted)
        assert (info.value.current, info.value.wanted) == (current, wanted)


def test_terminal_states_are_the_final_outcomes() -> None:
    assert {S.DELIVERED, S.UNDELIVERABLE, S.EXPIRED, S.REJECTED, S.FAILED, S.CANCELLED} == TERMINAL


def test_every_non_terminal_state_can_reach_a_terminal_one() -> None:
    for state in State:
        seen, frontier = {state}, [state]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & TERMINAL, state


def test_nothing_returns_to_accepted_so_acceptance_is_stamped_once() -> None:
    assert all(S.ACCEPTED not in nxt for nxt in TRANSITIONS.values())


def test_unconfirmed_states_are_those_a_carrier_never_acknowledged() -> None:
    assert {S.ACCEPTED, S.QUEUED} == UNCONFIRMED


@pytest.mark.parametrize(
    ("state", "smpp"),
    [
        (S.ACCEPTED, MessageState.ACCEPTED),
        (S.SCHEDULED, MessageState.SCHEDULED),
        (S.QUEUED, MessageState.ENROUTE),
        (S.SUBMITTED, MessageState.ENROUTE),
        (S.DELIVERED, MessageState.DELIVERED),
        (S.UNDELIVERABLE, MessageState.UNDELIVERABLE),
        (S.EXPIRED, MessageState.EXPIRED),
        (S.REJECTED, MessageState.REJECTED),
        (S.FAILED, MessageState.UNDELIVERABLE),
        (S.CANCELLED, MessageState.DELETED),
    ],
)
def test_each_state_answers_query_sm_with_its_smpp_message_state(
    state: State, smpp: MessageState
) -> None:
    assert smpp_message_state(state) is smpp
