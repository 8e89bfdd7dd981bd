"""Group commit: callbacks only after the commit, many writes per transaction,
one refusal or one bad row never fails the rest of the batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from smppd.store import models as m
from smppd.store.errors import UnknownMessage, WriterClosed, WriterOverloaded
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import InvalidTransition, State
from smppd.store.ops import AcceptMessage, Transition
from smppd.store.writer import GroupCommitWriter
from tests.store.conftest import NOW, count, new_message

WAIT = 30.0


@pytest.fixture
def writer(engine: Engine) -> Iterator[GroupCommitWriter]:
    w = GroupCommitWriter(engine, commit_interval=0.005, max_batch=500)
    w.start()
    yield w
    w.stop()


class Outcomes:
    """Collects (result, error) per key; ``wait`` blocks until n have arrived."""

    def __init__(self) -> None:
        self.results: dict[str, tuple[Any, BaseException | None]] = {}
        self._cond = threading.Condition()

    def callback(self, key: str, check: Any = None) -> Any:
        def _done(result: Any, error: BaseException | None) -> None:
            if check is not None:
                check(key)
            with self._cond:
                self.results[key] = (result, error)
                self._cond.notify_all()

        return _done

    def wait(self, n: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.results) >= n, WAIT)


def test_each_callback_fires_only_when_its_message_is_committed(
    engine: Engine, writer: GroupCommitWriter, ids: MessageIdGenerator
) -> None:
    seen_committed: list[bool] = []

    def visible_elsewhere(message_id: str) -> None:
        # A separate connection sees only committed rows.
        with engine.connect() as conn:
            row = conn.execute(
                select(m.messages.c.id).where(m.messages.c.id == message_id)
            ).one_or_none()
        seen_committed.append(row is not None)

    outcomes = Outcomes()
    keys = [ids.new(NOW) for _ in range(200)]
    for key in keys:
        writer.submit(
            AcceptMessage(new_message(key), NOW), outcomes.callback(key, visible_elsewhere)
        )
    outcomes.wait(len(keys))
    assert seen_committed == [True] * len(keys)
    assert outcomes.results == {k: (k, None) for k in keys}


def test_many_writes_share_one_transaction(
    engine: Engine, writer: GroupCommitWriter, ids: MessageIdGenerator
) -> None:
    outcomes = Outcomes()
    keys = [ids.new(NOW) for _ in range(1000)]
    for key in keys:
        writer.submit(AcceptMessage(new_message(key), NOW), outcomes.callback(key))
    outcomes.wait(len(keys))
    stats = writer.stats
    assert stats.operations == 1000
    assert stats.batches < 100
    assert stats.cpu_seconds > 0
    assert count(engine, "SELECT count(*) FROM messages") == 1000
    assert count(engine, "SELECT count(*) FROM message_parts") == 1000


def test_a_refused_transition_fails_alone_and_its_batch_neighbours_commit(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    first, second = ids.new(NOW), ids.new(NOW)
    # A long interval puts all four operations in one batch.
    writer = GroupCommitWriter(engine, commit_interval=0.5, max_batch=4)
    outcomes = Outcomes()
    writer.submit(AcceptMessage(new_message(first), NOW), outcomes.callback("a1"))
    writer.submit(Transition(first, State.DELIVERED, NOW), outcomes.callback("bad"))
    writer.submit(Transition("0" * 32, State.QUEUED, NOW), outcomes.callback("unknown"))
    writer.submit(AcceptMessage(new_message(second), NOW), outcomes.callback("a2"))
    writer.start()
    try:
        outcomes.wait(4)
    finally:
        writer.stop()
    assert writer.stats.batches == 1
    assert isinstance(outcomes.results["bad"][1], InvalidTransition)
    assert isinstance(outcomes.results["unknown"][1], UnknownMessage)
    assert outcomes.results["a1"] == (first, None)
    assert outcomes.results["a2"] == (second, None)
    assert count(engine, "SELECT count(*) FROM messages WHERE state = 'accepted'") == 2


def test_a_row_the_database_refuses_fails_alone_after_the_batch_is_retried(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    first, second = ids.new(NOW), ids.new(NOW)
    writer = GroupCommitWriter(engine, commit_interval=0.5, max_batch=3)
    outcomes = Outcomes()
    writer.submit(AcceptMessage(new_message(first), NOW), outcomes.callback("ok1"))
    writer.submit(AcceptMessage(new_message(first), NOW), outcomes.callback("duplicate"))
    writer.submit(Transition(second, State.QUEUED, NOW), outcomes.callback("later"))
    writer.start()
    try:
        outcomes.wait(3)
        writer.call(AcceptMessage(new_message(second), NOW), timeout=WAIT)
    finally:
        writer.stop()
    assert outcomes.results["ok1"] == (first, None)
    assert outcomes.results["duplicate"][1] is not None
    assert isinstance(outcomes.results["later"][1], UnknownMessage)
    assert writer.stats.failed_batches == 1
    assert count(engine, "SELECT count(*) FROM messages") == 2


def test_stop_commits_everything_already_queued(engine: Engine, ids: MessageIdGenerator) -> None:
    writer = GroupCommitWriter(engine, commit_interval=0.001, max_batch=50)
    outcomes = Outcomes()
    keys = [ids.new(NOW) for _ in range(300)]
    for key in keys:
        writer.submit(AcceptMessage(new_message(key), NOW), outcomes.callback(key))
    writer.start()
    writer.stop()
    assert len(outcomes.results) == 300
    assert all(error is None for _, error in outcomes.results.values())
    assert count(engine, "SELECT count(*) FROM messages") == 300


def test_a_stopped_writer_refuses_new_writes(engine: Engine, ids: MessageIdGenerator) -> None:
    writer = GroupCommitWriter(engine)
    writer.start()
    writer.stop()
    with pytest.raises(WriterClosed):
        writer.submit(AcceptMessage(new_message(ids.new(NOW)), NOW), lambda r, e: None)


def test_too_many_waiting_writes_are_refused_so_the_caller_can_throttle(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    writer = GroupCommitWriter(engine, max_pending=2)
    writer.submit(AcceptMessage(new_message(ids.new(NOW)), NOW), lambda r, e: None)
    writer.submit(AcceptMessage(new_message(ids.new(NOW)), NOW), lambda r, e: None)
    with pytest.raises(WriterOverloaded):
        writer.submit(AcceptMessage(new_message(ids.new(NOW)), NOW), lambda r, e: None)
    writer.start()
    writer.stop()
    assert writer.stats.pending == 0


def test_call_raises_the_operations_error(engine: Engine, writer: GroupCommitWriter) -> None:
    with pytest.raises(UnknownMessage):
        writer.call(Transition("f" * 32, State.QUEUED, NOW), timeout=WAIT)


def test_a_failing_callback_does_not_stop_the_others(
    engine: Engine, writer: GroupCommitWriter, ids: MessageIdGenerator
) -> None:
    outcomes = Outcomes()

    def explode(_result: Any, _error: BaseException | None) -> None:
        raise RuntimeError("caller bug")

    writer.submit(AcceptMessage(new_message(ids.new(NOW)), NOW), explode)
    key = ids.new(NOW)
    writer.submit(AcceptMessage(new_message(key), NOW), outcomes.callback(key))
    outcomes.wait(1)
    assert outcomes.results[key] == (key, None)


def test_an_open_admin_read_never_holds_off_the_writer(
    engine: Engine, writer: GroupCommitWriter, ids: MessageIdGenerator
) -> None:
    from smppd.store.engine import read_only

    with read_only(engine) as reader:
        before = reader.execute(select(m.messages.c.id)).all()
        key = ids.new(NOW)
        assert writer.call(AcceptMessage(new_message(key), NOW), timeout=WAIT) == key
        # Still the reader's snapshot (or at least still readable while the writer commits).
        reader.execute(select(m.messages.c.id)).all()
    assert before == []
    assert count(engine, "SELECT count(*) FROM messages") == 1


def test_writes_queued_before_the_writer_started_are_committed_by_stop(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    writer = GroupCommitWriter(engine)
    outcomes = Outcomes()
    key = ids.new(NOW)
    writer.submit(AcceptMessage(new_message(key), NOW), outcomes.callback(key))
    writer.stop()
    assert outcomes.results == {key: (key, None)}


def test_the_configuration_default_commit_interval_is_the_writers() -> None:
    # Two constants because loading the configuration must not import the
    # store; they must still agree.
    from smppd.config._models import DEFAULT_COMMIT_INTERVAL_MS
    from smppd.store.writer import DEFAULT_COMMIT_INTERVAL

    assert DEFAULT_COMMIT_INTERVAL_MS == DEFAULT_COMMIT_INTERVAL * 1000
