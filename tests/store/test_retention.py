"""Retention: finished messages (with parts, history, receipts) go after N days,
in small batches; nothing unfinished is ever purged."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from smppd.store.appops import DropOwed
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import InboundMessage, MarkForwarded, SeenInbound, StoreInbound, Transition
from smppd.store.retention import SECONDS_PER_DAY, purge
from tests.store.conftest import NOW, accept, count, new_message

DAY = SECONDS_PER_DAY


def _finish(engine: Engine, key: str, at: float) -> None:
    accept(engine, new_message(key, registered_delivery=1, parts=(b"a", b"b")), at)
    with engine.begin() as conn:
        Transition(key, State.FAILED, at).apply(conn)


def test_finished_messages_older_than_retention_go_with_everything_they_own(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    old, recent, pending = ids.new(NOW), ids.new(NOW), ids.new(NOW)
    _finish(engine, old, NOW - 31 * DAY)
    _finish(engine, recent, NOW - 29 * DAY)
    accept(engine, new_message(pending), NOW - 90 * DAY)
    pauses: list[float] = []
    report = purge(engine, NOW, 30, batch_size=1, sleep=pauses.append)
    assert report.messages == 1
    assert pauses  # it yielded between batches
    ids_left = {r for (r,) in _rows(engine, "SELECT id FROM messages")}
    assert ids_left == {recent, pending}
    for table in ("message_parts", "message_transitions", "receipts"):
        assert count(engine, f"SELECT count(*) FROM {table} WHERE message_id = '{old}'") == 0
        assert count(engine, f"SELECT count(*) FROM {table} WHERE message_id = '{recent}'") > 0


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_a_purge_larger_than_a_batch_takes_several_transactions(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    for _ in range(12):
        _finish(engine, ids.new(NOW), NOW - 10 * DAY)
    pauses: list[float] = []
    report = purge(engine, NOW, 7, batch_size=5, sleep=pauses.append)
    assert report.messages == 12
    assert len(pauses) == 3  # batches of 5, 5 and 2
    assert count(engine, "SELECT count(*) FROM messages") == 0


def test_retention_zero_keeps_everything(engine: Engine, ids: MessageIdGenerator) -> None:
    _finish(engine, ids.new(NOW), NOW - 1000 * DAY)
    assert purge(engine, NOW, 0).messages == 0
    assert count(engine, "SELECT count(*) FROM messages") == 1


def test_forwarded_inbound_and_old_fingerprints_are_purged(engine: Engine) -> None:
    old = NOW - 40 * DAY
    with engine.begin() as conn:
        mo = InboundMessage(account="a", connector="c", source_addr="1", dest_addr="2", payload=b"")
        done = StoreInbound(mo, "fp-done", old).apply(conn)
        StoreInbound(mo, "fp-waiting", old).apply(conn)
        assert done is not None
        MarkForwarded("inbound", done, old).apply(conn)
        SeenInbound("c", "fp-new", NOW).apply(conn)
    report = purge(engine, NOW, 30, sleep=lambda _: None)
    assert (report.inbound, report.fingerprints) == (1, 2)
    assert count(engine, "SELECT count(*) FROM inbound_messages") == 1
    assert count(engine, "SELECT count(*) FROM inbound_fingerprints") == 1


def test_a_batch_size_below_one_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        purge(engine, NOW, 30, batch_size=0)


# ---------------------------------------------------------------- what is still owed


def _finish_with_receipt(engine: Engine, key: str, finished: float) -> int:
    """A message that failed at ``finished`` and owes its application a receipt."""
    _finish(engine, key, finished)
    (row_id,) = _rows(engine, f"SELECT id FROM receipts WHERE message_id = '{key}'")[0]
    assert isinstance(row_id, int)
    return row_id


def test_a_receipt_still_inside_its_hold_keeps_its_message_past_retention(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    _finish_with_receipt(engine, key, NOW - 2 * DAY)  # held until NOW + 1 day
    report = purge(engine, NOW, 1, sleep=lambda _: None)
    assert (report.messages, report.held) == (0, 1)
    assert count(engine, f"SELECT count(*) FROM receipts WHERE message_id = '{key}'") == 1
    assert count(engine, f"SELECT count(*) FROM message_parts WHERE message_id = '{key}'") == 2
    assert count(engine, "SELECT count(*) FROM messages") == 1


def _forward(engine: Engine, row_id: int, at: float) -> None:
    with engine.begin() as conn:
        MarkForwarded("receipt", row_id, at).apply(conn)


def _drop(engine: Engine, row_id: int, at: float) -> None:
    with engine.begin() as conn:
        DropOwed("receipt", row_id, at).apply(conn)


@pytest.mark.parametrize(
    ("settle", "purged"),
    [
        pytest.param(None, False, id="waiting-inside-hold"),
        pytest.param(_forward, True, id="forwarded"),
        pytest.param(_drop, True, id="dropped"),
    ],
)
def test_a_message_is_purged_once_its_receipt_is_settled(
    engine: Engine,
    ids: MessageIdGenerator,
    settle: Callable[[Engine, int, float], None] | None,
    purged: bool,
) -> None:
    key = ids.new(NOW)
    row_id = _finish_with_receipt(engine, key, NOW - 2 * DAY)
    if settle is not None:
        settle(engine, row_id, NOW - 2 * DAY + 60)
    assert purge(engine, NOW, 1, sleep=lambda _: None).messages == (1 if purged else 0)
    assert count(engine, f"SELECT count(*) FROM receipts WHERE message_id = '{key}'") == (
        0 if purged else 1
    )


def test_a_receipt_whose_hold_ran_out_no_longer_keeps_its_message(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    _finish_with_receipt(engine, key, NOW - 4 * DAY)  # hold ended NOW - 1 day, never dropped
    report = purge(engine, NOW, 1, sleep=lambda _: None)
    assert (report.messages, report.held) == (1, 0)
    assert count(engine, "SELECT count(*) FROM receipts") == 0


def test_held_messages_do_not_stop_the_purge_of_later_ones(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    # The oldest finished messages still owe receipts: each batch must move
    # past them instead of finding them again and stopping.
    held = [ids.new(NOW) for _ in range(5)]
    for key in held:
        _finish_with_receipt(engine, key, NOW - 2 * DAY)
    settled = [ids.new(NOW) for _ in range(7)]
    for key in settled:
        _forward(engine, _finish_with_receipt(engine, key, NOW - 2 * DAY + 10), NOW - DAY - 60)
    report = purge(engine, NOW, 1, batch_size=2, sleep=lambda _: None)
    assert (report.messages, report.held) == (7, 5)
    assert {r for (r,) in _rows(engine, "SELECT id FROM messages")} == set(held)


def _inbound(engine: Engine, fingerprint: str, received: float, expires: float | None) -> int:
    mo = InboundMessage(
        account="a", connector="c", source_addr="1", dest_addr="2", payload=b"", expires_at=expires
    )
    with engine.begin() as conn:
        row_id = StoreInbound(mo, fingerprint, received).apply(conn)
    assert row_id is not None
    return row_id


def test_inbound_messages_still_owed_to_their_application_are_never_purged(
    engine: Engine,
) -> None:
    received = NOW - 40 * DAY
    inside_hold = _inbound(engine, "fp-held", received, NOW + DAY)
    no_expiry = _inbound(engine, "fp-forever", received, None)
    _inbound(engine, "fp-long-expired", received, NOW - 31 * DAY)
    _inbound(engine, "fp-just-expired", received, NOW - DAY)
    report = purge(engine, NOW, 30, sleep=lambda _: None)
    assert report.inbound == 1  # only the one whose hold ended over 30 days ago
    left = {r for (r,) in _rows(engine, "SELECT id FROM inbound_messages")}
    assert {inside_hold, no_expiry} <= left
    assert len(left) == 3


def test_marketing_sends_are_kept_a_year_whatever_the_retention(engine: Engine) -> None:
    from sqlalchemy import insert

    from smppd.store.models import marketing_sends
    from smppd.store.ops import ms

    with engine.begin() as conn:
        conn.execute(
            insert(marketing_sends),
            [
                {"message_id": "old", "number": "46701234567", "at": ms(NOW - 367 * DAY)},
                {"message_id": "month", "number": "46701234567", "at": ms(NOW - 40 * DAY)},
            ],
        )
    report = purge(engine, NOW, 30)
    assert report.marketing_sends == 1
    assert [r for (r,) in _rows(engine, "SELECT message_id FROM marketing_sends")] == ["month"]
