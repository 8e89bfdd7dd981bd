"""Retention: finished messages (with parts, history, receipts) go after N days,
in small batches; nothing unfinished is ever purged."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

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
