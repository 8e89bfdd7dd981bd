"""Recovery after a crash in each state: what was acknowledged but not
confirmed by a carrier is sent again; what is past its validity expires."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from smppd.store import models as m
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import InboundMessage, PartSubmitted, StoreInbound, Transition
from smppd.store.recovery import recover
from tests.store.conftest import NOW, accept, new_message

S = State
# The path that brings a freshly accepted message to each state.
PATHS: dict[State, list[State]] = {
    S.ACCEPTED: [],
    S.SCHEDULED: [S.SCHEDULED],
    S.QUEUED: [S.QUEUED],
    S.SUBMITTED: [S.QUEUED, S.SUBMITTED],
    S.DELIVERED: [S.QUEUED, S.SUBMITTED, S.DELIVERED],
    S.UNDELIVERABLE: [S.QUEUED, S.SUBMITTED, S.UNDELIVERABLE],
    S.EXPIRED: [S.EXPIRED],
    S.REJECTED: [S.QUEUED, S.REJECTED],
    S.FAILED: [S.FAILED],
    S.CANCELLED: [S.CANCELLED],
}


def _crash_in(engine: Engine, key: str, state: State, **fields: object) -> None:
    accept(engine, new_message(key, registered_delivery=1, **fields), NOW - 10)
    with engine.begin() as conn:
        for step in PATHS[state]:
            if step is S.SUBMITTED:
                PartSubmitted(key, 1, "carrier-a", "C-1", NOW - 5).apply(conn)
            else:
                Transition(key, step, NOW - 5, next_attempt_at=NOW + 600).apply(conn)


def _state(engine: Engine, key: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(m.messages.c.state).where(m.messages.c.id == key)).scalar_one()
        )


# state at the crash -> state after recovery (message still within its validity)
AFTER_RECOVERY = {
    S.ACCEPTED: S.QUEUED,
    S.SCHEDULED: S.SCHEDULED,
    S.QUEUED: S.QUEUED,
    S.SUBMITTED: S.SUBMITTED,
    S.DELIVERED: S.DELIVERED,
    S.UNDELIVERABLE: S.UNDELIVERABLE,
    S.EXPIRED: S.EXPIRED,
    S.REJECTED: S.REJECTED,
    S.FAILED: S.FAILED,
    S.CANCELLED: S.CANCELLED,
}
# ... and when its validity ran out while the gateway was down
AFTER_RECOVERY_PAST_VALIDITY = {
    **AFTER_RECOVERY,
    S.ACCEPTED: S.EXPIRED,
    S.SCHEDULED: S.EXPIRED,
    S.QUEUED: S.EXPIRED,
}


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_recovery_after_a_crash_in_each_state(
    engine: Engine, ids: MessageIdGenerator, state: State
) -> None:
    key = ids.new(NOW)
    _crash_in(engine, key, state, validity_at=NOW + 3600)
    report = recover(engine, NOW)
    assert _state(engine, key) == AFTER_RECOVERY[state].value
    assert report.requeued == (1 if state is S.ACCEPTED else 0)
    assert report.to_send == (1 if state in (S.ACCEPTED, S.QUEUED) else 0)
    assert report.expired == 0


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_recovery_expires_unconfirmed_messages_past_validity_with_a_receipt(
    engine: Engine, ids: MessageIdGenerator, state: State
) -> None:
    key = ids.new(NOW)
    _crash_in(engine, key, state, validity_at=NOW - 1)
    receipts_before = _receipts(engine, key)
    report = recover(engine, NOW)
    assert _state(engine, key) == AFTER_RECOVERY_PAST_VALIDITY[state].value
    expired_now = AFTER_RECOVERY_PAST_VALIDITY[state] is not AFTER_RECOVERY[state]
    assert report.expired == int(expired_now)
    if expired_now:
        assert _receipts(engine, key) == [*receipts_before, "expired"]
    else:
        assert _receipts(engine, key) == receipts_before


def _receipts(engine: Engine, key: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(m.receipts.c.state)
                .where(m.receipts.c.message_id == key)
                .order_by(m.receipts.c.id)
            ).scalars()
        )


def test_an_accepted_message_scheduled_for_later_is_scheduled_not_queued(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    _crash_in(engine, key, S.ACCEPTED, schedule_at=NOW + 300)
    report = recover(engine, NOW)
    assert _state(engine, key) == "scheduled"
    assert report.scheduled == 1
    with engine.connect() as conn:
        due = conn.execute(select(m.messages.c.next_attempt_at)).scalar_one()
    assert due == (NOW + 300) * 1000


def test_recovery_stamps_the_requeue_in_the_history(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    _crash_in(engine, key, S.ACCEPTED)
    recover(engine, NOW)
    with engine.connect() as conn:
        steps = conn.execute(
            select(m.message_transitions.c.from_state, m.message_transitions.c.to_state).order_by(
                m.message_transitions.c.id
            )
        ).all()
    assert [tuple(s) for s in steps] == [("accepted", "queued")]


def test_recovery_handles_more_messages_than_one_batch(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    keys = [ids.new(NOW) for _ in range(25)]
    for key in keys:
        accept(engine, new_message(key), NOW - 1)
    report = recover(engine, NOW, batch_size=7)
    assert report.requeued == 25
    assert {_state(engine, k) for k in keys} == {"queued"}


def test_undelivered_receipts_and_inbound_wait_and_stale_ones_are_dropped(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    _crash_in(engine, key, S.DELIVERED)  # one receipt, held for days
    with engine.begin() as conn:
        for n, expires in enumerate((NOW + 60, NOW - 60, None)):
            mo = InboundMessage(
                account="acme",
                connector="c",
                source_addr="1",
                dest_addr="2",
                payload=b"x",
                expires_at=expires,
            )
            StoreInbound(mo, f"fp{n}", NOW - 100).apply(conn)
    report = recover(engine, NOW)
    assert (report.receipts_waiting, report.inbound_waiting, report.dropped) == (1, 2, 1)
