"""The message lifecycle: every state, every allowed transition, in one table.

How this works: a message is in exactly one :class:`State`. ``TRANSITIONS``
lists, for each state, the states it may move to; :func:`check_transition`
is the only gate, and every write that changes a message's state goes through
it (see :mod:`smppd.store.ops`), which also stamps the transition with its
time in the ``message_transitions`` history.

::

    accepted --> scheduled --> queued --> submitted --> delivered
        |            |           |  ^         |     \\-> undeliverable
        |            |           |  |         |     \\-> expired / rejected
        |            |           +--+ retry   +-> cancelled
        +------------+-----------+--> expired | rejected | failed | cancelled

* ``accepted``: committed, ``submit_sm_resp`` sent; not yet handed to routing.
* ``scheduled``: waiting for ``schedule_delivery_time``.
* ``queued``: waiting for a carrier (``queued -> queued`` is a retry: the
  attempt counter and next attempt time change, the state does not).
* ``submitted``: every part was accepted by a carrier, which gave it an id.
* terminal: ``delivered``, ``undeliverable``, ``expired``, ``rejected``,
  ``failed`` (our side gave up: no route, retries exhausted),
  ``cancelled`` (``cancel_sm`` or an operator).

Crash recovery (:mod:`smppd.store.recovery`) relies on this: anything in
``accepted`` or ``queued`` was not confirmed by a carrier and is sent again.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

from smppd.smpp.constants import MessageState
from smppd.store.errors import StoreError


class State(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"


class InvalidTransition(StoreError):
    """A write asked for a state change the lifecycle does not allow."""

    def __init__(self, message_id: str, current: State, wanted: State) -> None:
        super().__init__(f"message {message_id}: {current} -> {wanted} is not allowed")
        self.message_id = message_id
        self.current = current
        self.wanted = wanted


_S = State

TRANSITIONS: Final[MappingProxyType[State, frozenset[State]]] = MappingProxyType(
    {
        _S.ACCEPTED: frozenset(
            {_S.SCHEDULED, _S.QUEUED, _S.EXPIRED, _S.REJECTED, _S.FAILED, _S.CANCELLED}
        ),
        _S.SCHEDULED: frozenset({_S.QUEUED, _S.EXPIRED, _S.FAILED, _S.CANCELLED}),
        _S.QUEUED: frozenset(
            {_S.QUEUED, _S.SUBMITTED, _S.EXPIRED, _S.REJECTED, _S.FAILED, _S.CANCELLED}
        ),
        _S.SUBMITTED: frozenset(
            {_S.DELIVERED, _S.UNDELIVERABLE, _S.EXPIRED, _S.REJECTED, _S.CANCELLED}
        ),
        _S.DELIVERED: frozenset(),
        _S.UNDELIVERABLE: frozenset(),
        _S.EXPIRED: frozenset(),
        _S.REJECTED: frozenset(),
        _S.FAILED: frozenset(),
        _S.CANCELLED: frozenset(),
    }
)

TERMINAL: Final[frozenset[State]] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

# Accepted by us but not (yet) confirmed by a carrier: sent again after a crash.
UNCONFIRMED: Final[frozenset[State]] = frozenset({State.ACCEPTED, State.QUEUED})

# The one place lifecycle states meet SMPP's message_state (query_sm_resp,
# the receipt's "stat" field and the message_state TLV of deliver_sm).
SMPP_MESSAGE_STATE: Final[MappingProxyType[State, MessageState]] = MappingProxyType(
    {
        _S.ACCEPTED: MessageState.ACCEPTED,
        _S.SCHEDULED: MessageState.SCHEDULED,
        _S.QUEUED: MessageState.ENROUTE,
        _S.SUBMITTED: MessageState.ENROUTE,
        _S.DELIVERED: MessageState.DELIVERED,
        _S.UNDELIVERABLE: MessageState.UNDELIVERABLE,
        _S.EXPIRED: MessageState.EXPIRED,
        _S.REJECTED: MessageState.REJECTED,
        _S.FAILED: MessageState.UNDELIVERABLE,
        _S.CANCELLED: MessageState.DELETED,
    }
)


def can_transition(current: State, wanted: State) -> bool:
    return wanted in TRANSITIONS[current]


def check_transition(message_id: str, current: State, wanted: State) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> wanted`` is allowed."""
    if wanted not in TRANSITIONS[current]:
        raise InvalidTransition(message_id, current, wanted)


def is_terminal(state: State) -> bool:
    return state in TERMINAL


def smpp_message_state(state: State) -> MessageState:
    return SMPP_MESSAGE_STATE[state]
