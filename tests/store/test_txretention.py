"""The daily purge runs off the reactor thread, on the injected clock, never twice at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Engine
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.python.threadpool import ThreadPool

from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import Transition
from smppd.store.retention import SECONDS_PER_DAY
from smppd.store.txretention import PURGE_INTERVAL_SECONDS, RetentionSchedule
from tests.store.conftest import NOW, accept, count, new_message


class HeldPool(ThreadPool):
    """A thread pool that keeps the work until the test runs it."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Callable[[], Any]] = []

    def callInThreadWithCallback(self, onResult: Any, func: Any, *args: Any, **kw: Any) -> None:
        def work() -> None:
            try:
                result = func(*args, **kw)
            except Exception as exc:
                onResult(False, exc)
            else:
                onResult(True, result)

        self.held.append(work)

    def run_all(self) -> None:
        held, self.held = self.held, []
        for work in held:
            work()


class InlineReactor:
    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        f(*args, **kw)


@pytest.fixture
def pool() -> Iterator[HeldPool]:
    yield HeldPool()


def test_the_purge_runs_at_start_and_then_daily_in_a_worker(
    engine: Engine, ids: MessageIdGenerator, pool: HeldPool
) -> None:
    clock = Clock()
    clock.advance(NOW)
    schedule = RetentionSchedule(
        clock=cast(IReactorTime, clock),
        reactor=InlineReactor(),  # type: ignore[arg-type]
        pool=pool,
        engine=engine,
        retention_days=30,
        batch_size=10,
    )
    key = ids.new(NOW)
    accept(engine, new_message(key), NOW - 40 * SECONDS_PER_DAY)
    with engine.begin() as conn:
        Transition(key, State.CANCELLED, NOW - 40 * SECONDS_PER_DAY).apply(conn)

    schedule.start()
    assert len(pool.held) == 1  # handed to a worker, not run on the reactor
    assert count(engine, "SELECT count(*) FROM messages") == 1
    clock.advance(PURGE_INTERVAL_SECONDS)
    assert len(pool.held) == 1  # still running: not started twice
    pool.run_all()
    assert schedule.last_report is not None and schedule.last_report.messages == 1
    assert count(engine, "SELECT count(*) FROM messages") == 0

    clock.advance(PURGE_INTERVAL_SECONDS)
    assert len(pool.held) == 1
    pool.run_all()
    assert schedule.stop() is None
    assert clock.getDelayedCalls() == []


def test_nothing_is_scheduled_when_retention_keeps_everything(
    engine: Engine, pool: HeldPool
) -> None:
    clock = Clock()
    schedule = RetentionSchedule(
        clock=cast(IReactorTime, clock),
        reactor=InlineReactor(),  # type: ignore[arg-type]
        pool=pool,
        engine=engine,
        retention_days=0,
        batch_size=10,
    )
    schedule.start()
    assert pool.held == []
    assert clock.getDelayedCalls() == []
    schedule.stop()


def test_unreported_messages_expire_at_start_and_then_hourly(
    engine: Engine, ids: MessageIdGenerator, pool: HeldPool
) -> None:
    from smppd.store.ops import PartSubmitted
    from smppd.store.txretention import EXPIRY_INTERVAL_SECONDS, ExpirySchedule

    clock = Clock()
    clock.advance(NOW)
    first, second = ids.new(NOW), ids.new(NOW)
    for key, at in ((first, NOW - 3 * 3600), (second, NOW - 1800)):
        accept(engine, new_message(key), at)
        with engine.begin() as conn:
            Transition(key, State.QUEUED, at).apply(conn)
            PartSubmitted(key, 1, "carrier", key, at).apply(conn)
    schedule = ExpirySchedule(
        clock=cast(IReactorTime, clock),
        reactor=InlineReactor(),  # type: ignore[arg-type]
        pool=pool,
        engine=engine,
        receipt_wait=3600.0,
    )
    schedule.start()
    pool.run_all()
    assert schedule.expired == 1
    assert count(
        engine, f"SELECT count(*) FROM messages WHERE id = '{first}' AND state = 'expired'"
    )
    clock.advance(EXPIRY_INTERVAL_SECONDS)
    pool.run_all()
    assert schedule.expired == 2
    assert schedule.stop() is None
