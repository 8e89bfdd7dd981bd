"""Messages whose carrier never sends a receipt are expired after a bounded wait."""

from __future__ import annotations

from sqlalchemy import Engine

from smppd.store.expiry import DETAIL, VALIDITY_GRACE, expire_unreported
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import PartSubmitted, Transition
from tests.store.conftest import NOW, accept, count, new_message

HOUR = 3600.0


def _submitted(engine: Engine, key: str, at: float, **fields: object) -> None:
    accept(engine, new_message(key, parts=(b"a", b"b"), **fields), at)
    with engine.begin() as conn:
        Transition(key, State.QUEUED, at).apply(conn)
        PartSubmitted(key, 1, "carrier", f"{key}-1", at).apply(conn)
        PartSubmitted(key, 2, "carrier", f"{key}-2", at).apply(conn)


def _state(engine: Engine, key: str) -> tuple[object, ...]:
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT state, error_detail, finished_at FROM messages WHERE id = :id"),
            {"id": key},
        ).one()
    return tuple(row)


def test_a_message_without_a_receipt_expires_after_the_wait_and_its_receipt_is_owed(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    silent, recent = ids.new(NOW), ids.new(NOW)
    _submitted(engine, silent, NOW - 73 * HOUR, registered_delivery=1)
    _submitted(engine, recent, NOW - 71 * HOUR, registered_delivery=1)
    assert expire_unreported(engine, NOW, receipt_wait=72 * HOUR) == 1
    state, detail, finished = _state(engine, silent)
    assert state == State.EXPIRED.value
    assert isinstance(detail, str) and detail.startswith(DETAIL)
    assert finished is not None
    assert _state(engine, recent)[0] == State.SUBMITTED.value
    # Every part is final, and the application gets its EXPIRED receipt.
    assert (
        count(
            engine,
            f"SELECT count(*) FROM message_parts WHERE message_id = '{silent}'"
            " AND state = 'expired'",
        )
        == 2
    )
    assert (
        count(
            engine,
            f"SELECT count(*) FROM receipts WHERE message_id = '{silent}' AND state = 'expired'",
        )
        == 1
    )


def test_a_message_whose_validity_ended_expires_after_the_grace(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    short, within_grace = ids.new(NOW), ids.new(NOW)
    _submitted(engine, short, NOW - 3 * HOUR, validity_at=NOW - VALIDITY_GRACE - 60)
    _submitted(engine, within_grace, NOW - 3 * HOUR, validity_at=NOW - VALIDITY_GRACE + 60)
    assert expire_unreported(engine, NOW, receipt_wait=72 * HOUR) == 1
    assert _state(engine, short)[0] == State.EXPIRED.value
    assert _state(engine, within_grace)[0] == State.SUBMITTED.value


def test_queued_and_finished_messages_are_left_alone(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    queued, delivered = ids.new(NOW), ids.new(NOW)
    accept(engine, new_message(queued), NOW - 100 * HOUR)
    with engine.begin() as conn:
        Transition(queued, State.QUEUED, NOW - 100 * HOUR).apply(conn)
    _submitted(engine, delivered, NOW - 100 * HOUR)
    with engine.begin() as conn:
        Transition(delivered, State.DELIVERED, NOW - 99 * HOUR).apply(conn)
    assert expire_unreported(engine, NOW, receipt_wait=72 * HOUR) == 0
    assert _state(engine, queued)[0] == State.QUEUED.value
    assert _state(engine, delivered)[0] == State.DELIVERED.value


def test_many_messages_expire_in_batches(engine: Engine, ids: MessageIdGenerator) -> None:
    keys = [ids.new(NOW) for _ in range(7)]
    for key in keys:
        _submitted(engine, key, NOW - 80 * HOUR)
    pauses: list[float] = []
    assert expire_unreported(engine, NOW, batch_size=3, sleep=pauses.append) == 7
    assert len(pauses) == 2  # batches of 3, 3 and 1
    assert count(engine, "SELECT count(*) FROM messages WHERE state = 'expired'") == 7
