"""What the outbox reads: the new rows after a commit, everything owed after a bind or a sweep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text
from twisted.internet.defer import Deferred

from smppd.server.outbox import DEFAULT_SWEEP_INTERVAL
from smppd.server.service import ServerSettings
from tests.server.harness import Harness
from tests.server.test_outbox import _collect, answer, deliveries, owed, receipt_for, settled


def _counting(harness: Harness) -> list[int]:
    """Rows each read of the outbox returned, in order."""
    sizes: list[int] = []
    run = harness.server.outbox._run

    def counted(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        def note(rows: Any) -> Any:
            receipts, inbound = rows
            sizes.append(len(receipts) + len(inbound))
            return rows

        return run(fn, *args).addCallback(note)

    harness.server.outbox._run = counted
    return sizes


def test_a_wake_after_a_commit_reads_only_the_new_rows(engine: Engine) -> None:
    harness = Harness(engine, settings=ServerSettings(window=2))
    harness.add_account()
    try:
        for n in range(5):
            receipt_for(harness, f"m{n}")
        sizes = _counting(harness)
        app = harness.connect()
        app.bind("rx")
        first = deliveries(app)
        assert len(first) == 2
        assert sizes == [5]  # the bind reads everything owed
        receipt_for(harness, "new")
        harness.server.wake("shop")
        sent = list(first)
        answered: set[int] = set()
        while len(answered) < 6:
            for dlr in sent:
                if dlr.sequence_number not in answered:
                    answered.add(dlr.sequence_number)
                    answer(app, dlr)
            harness.settle(lambda: _collect(app, sent) or len(answered) >= 6)
        settled(harness)
        assert owed(harness) == 0
        assert len({d.receipted_message_id for d in sent}) == 6
        # Later reads never returned a row already read (in flight or
        # queued): each row was read once.
        assert sizes[0] == 5
        assert sum(sizes) == 6
    finally:
        harness.close()


def test_the_sweep_finds_a_row_committed_below_the_newest_read(harness: Harness) -> None:
    app = harness.connect()
    app.bind("trx")
    receipt_for(harness, "first")
    harness.server.wake("shop")
    (first,) = deliveries(app)
    answer(app, first)
    settled(harness)
    second_id = receipt_for(harness, "second")
    _renumber(harness, second_id, 50)
    harness.server.wake("shop")
    (second,) = deliveries(app)
    answer(app, second)
    settled(harness)
    # A third receipt that takes an id below the newest read (as a row
    # written outside the writer could on PostgreSQL): a commit's wake-up
    # does not see it...
    _renumber(harness, receipt_for(harness, "third"), 40)
    harness.server.wake("shop")
    assert deliveries(app) == []
    # ...the periodic sweep does.
    harness.clock.advance(DEFAULT_SWEEP_INTERVAL)
    harness.settle(lambda: harness.server.outbox.in_flight("shop") == 1)
    (third,) = deliveries(app)
    answer(app, third)
    settled(harness)
    assert owed(harness) == 0


def _renumber(harness: Harness, message_id: str, receipt_id: int) -> None:
    with harness.engine.begin() as conn:
        conn.execute(
            text("UPDATE receipts SET id = :id WHERE message_id = :mid"),
            {"id": receipt_id, "mid": message_id},
        )
