"""The daily retention purge and the hourly expiry of unreported messages, on the reactor's clock.

Once a day (and once shortly after start) the purge runs in a thread from
the given pool, so the reactor never waits on the database; it purges in
small batches (see :mod:`smppd.store.retention`), so the group-commit writer
is never held off for long. A purge still running when the next one is due
is not started twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final, Generic, Protocol, TypeVar, cast

from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from smppd.store.expiry import DEFAULT_EXPIRY_BATCH, DEFAULT_RECEIPT_WAIT, expire_unreported
from smppd.store.retention import SECONDS_PER_DAY, PurgeReport, purge

PURGE_INTERVAL_SECONDS: Final = float(SECONDS_PER_DAY)

log = logging.getLogger(__name__)


class _Seconds(Protocol):
    # IReactorTime.seconds as mypy sees a bound method (zope interfaces omit self).
    def seconds(self) -> float: ...


R = TypeVar("R")


class _PoolJob(Generic[R]):
    """``work(now)`` periodically in a pool thread, on the injected clock, never
    twice at once; ``done(result)`` on the reactor thread after each run.

    Start with :meth:`start`; :meth:`stop` waits for a run in progress.
    """

    def __init__(
        self,
        *,
        clock: IReactorTime,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        interval: float,
        what: str,
        work: Callable[[float], R],
        done: Callable[[R], None],
    ) -> None:
        self._clock = cast(_Seconds, clock)
        self._reactor = reactor
        self._pool = pool
        self._interval = interval
        self._what = what
        self._work = work
        self._done = done
        self._loop = LoopingCall(self._tick)
        self._loop.clock = clock
        self._running: Deferred[R] | None = None

    def start(self) -> None:
        self._loop.start(self._interval, now=True)

    def stop(self) -> Deferred[None] | None:
        if self._loop.running:
            self._loop.stop()
        running = self._running
        if running is None:
            return None
        done: Deferred[None] = Deferred()
        running.addBoth(lambda _: done.callback(None))
        return done

    def _tick(self) -> None:
        if self._running is not None:
            return
        d: Deferred[R] = deferToThreadPool(
            self._reactor, self._pool, self._work, self._clock.seconds()
        )
        self._running = d
        d.addCallbacks(self._finished, self._failed)

    def _finished(self, result: R) -> None:
        self._running = None
        self._done(result)

    def _failed(self, failure: Any) -> None:
        self._running = None
        log.error("%s failed: %s", self._what, failure)


class RetentionSchedule:
    """The daily purge (nothing runs when ``retention_days`` is 0)."""

    def __init__(
        self,
        *,
        clock: IReactorTime,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        engine: Engine,
        retention_days: int,
        batch_size: int,
        interval: float = PURGE_INTERVAL_SECONDS,
    ) -> None:
        self._engine = engine
        self._retention_days = retention_days
        self._batch_size = batch_size
        self.last_report: PurgeReport | None = None
        self._job = _PoolJob(
            clock=clock,
            reactor=reactor,
            pool=pool,
            interval=interval,
            what="retention purge",
            work=self._purge,
            done=self._done,
        )

    def start(self) -> None:
        if self._retention_days > 0:
            self._job.start()

    def stop(self) -> Deferred[None] | None:
        return self._job.stop()

    def _purge(self, now: float) -> PurgeReport:
        return purge(self._engine, now, self._retention_days, batch_size=self._batch_size)

    def _done(self, report: PurgeReport) -> None:
        self.last_report = report
        log.info(
            "retention purge: %d messages, %d inbound, %d fingerprints, %d marketing sends; "
            "%d finished messages kept for receipts still owed",
            report.messages,
            report.inbound,
            report.fingerprints,
            report.marketing_sends,
            report.held,
        )


EXPIRY_INTERVAL_SECONDS: Final = 3600.0


class ExpirySchedule:
    """Hourly: :func:`smppd.store.expiry.expire_unreported`."""

    def __init__(
        self,
        *,
        clock: IReactorTime,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        engine: Engine,
        receipt_wait: float = DEFAULT_RECEIPT_WAIT,
        batch_size: int = DEFAULT_EXPIRY_BATCH,
        interval: float = EXPIRY_INTERVAL_SECONDS,
    ) -> None:
        self._engine = engine
        self._receipt_wait = receipt_wait
        self._batch_size = batch_size
        self.expired = 0
        self._job = _PoolJob(
            clock=clock,
            reactor=reactor,
            pool=pool,
            interval=interval,
            what="expiring unreported messages",
            work=self._expire,
            done=self._done,
        )

    def start(self) -> None:
        self._job.start()

    def stop(self) -> Deferred[None] | None:
        return self._job.stop()

    def _expire(self, now: float) -> int:
        return expire_unreported(
            self._engine, now, receipt_wait=self._receipt_wait, batch_size=self._batch_size
        )

    def _done(self, count: int) -> None:
        self.expired += count
        if count:
            log.warning(
                "%d submitted messages expired: no receipt from the carrier within %g h",
                count,
                self._receipt_wait / 3600,
            )
