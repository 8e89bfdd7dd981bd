"""The group-commit writer as seen from the reactor: operations in, Deferreds out.

The reactor thread only queues; the writer thread commits; every Deferred of
one commit fires on the reactor thread through a single
``reactor.callFromThread``, and only after that commit. The gateway answers
``submit_sm_resp`` from that Deferred's callback.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorFromThreads

from smppd.store.errors import StoreError
from smppd.store.ops import WriteOp
from smppd.store.writer import (
    DEFAULT_COMMIT_INTERVAL,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_PENDING,
    GroupCommitWriter,
)

T = TypeVar("T")


class DeferredWriter:
    """Thin Twisted face of a :class:`GroupCommitWriter`."""

    def __init__(
        self,
        reactor: IReactorFromThreads,
        engine: Engine,
        *,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.writer = GroupCommitWriter(
            engine,
            commit_interval=commit_interval,
            max_batch=max_batch,
            max_pending=max_pending,
            dispatch=reactor.callFromThread,
        )

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        """Commit what is queued and stop (blocks briefly: call at shutdown only)."""
        self.writer.stop()

    def submit(self, op: WriteOp[T]) -> Deferred[T]:
        d: Deferred[T] = Deferred()

        def _done(result: Any, error: BaseException | None) -> None:
            if error is None:
                d.callback(result)
            else:
                d.errback(error)

        try:
            self.writer.submit(op, _done)
        except StoreError as exc:
            return fail(exc)
        return d
