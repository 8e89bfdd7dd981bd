"""Local batching of shared throughput tokens: one round trip per chunk, not per message.

How this works
--------------
At thousands of messages per second a round trip to the shared bucket for
every ``submit_sm`` would cost more than the send. A :class:`LocalTokenCache`
takes whole tokens from the shared bucket in chunks
(:meth:`~smppd.shared.interface.TokenBuckets.take_up_to`) and serves single
messages from memory; while a chunk is being fetched, further callers queue
behind that one fetch. A chunk is only good for ``hold`` seconds: whatever is
left after that is given back to the shared bucket (from a timer, so an idle
node does not sit on tokens other nodes could use), and the next chunk is
fetched only once the give-back has been answered. When the bucket is empty
the cache remembers how long to wait and answers from memory until then,
without asking again.

Bound. Every token a cache spends was taken from the shared bucket less than
``hold`` seconds earlier, and a cache never has more than one chunk out
(held or on its way back). So over any window of ``W`` seconds all the
caches of one key together spend at most::

    burst + rate * (W + hold) + caches * chunk

tokens, against ``burst + rate * W`` for the shared bucket used directly; and
over ``[0, t]`` from the bucket's first use at most ``burst + rate * t``, the
exact bound of the bucket itself: the long-run rate is never exceeded, only
spending *within* it shifts by up to ``hold`` seconds.

Fairness. Tokens held by one node are unavailable to the others for at most
``hold`` seconds, and each node takes at most ``chunk`` at a time; the default
chunk is :data:`DEFAULT_CHUNK_SECONDS` of the rate, so a few nodes sharing one
carrier account each see at most that much extra delay.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Final

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.python.failure import Failure

from smppd.shared.interface import (
    TIME_TOLERANCE,
    ReactorClock,
    Timer,
    TokenBuckets,
    TokenGrant,
    check_bucket,
)

__all__ = [
    "DEFAULT_CHUNK_SECONDS",
    "DEFAULT_HOLD",
    "DEFAULT_MAX_WAITING",
    "LocalTokenCache",
    "default_chunk",
]

log = logging.getLogger(__name__)

# A chunk is this many seconds of the rate (at least one token, at most burst):
# 1000 msg/s -> 50 tokens, about 20 round trips per second per node.
DEFAULT_CHUNK_SECONDS: Final = 0.05
# Seconds a fetched token may be spent before it is given back.
DEFAULT_HOLD: Final = 0.5
# Callers queued behind one fetch; beyond it they are told to come back after
# one token interval instead of queueing.
DEFAULT_MAX_WAITING: Final = 10_000


def default_chunk(rate: float, burst: float) -> int:
    """Tokens fetched per round trip: :data:`DEFAULT_CHUNK_SECONDS` of the rate."""
    return max(1, min(math.floor(burst), math.ceil(rate * DEFAULT_CHUNK_SECONDS)))


class LocalTokenCache:
    """One node's view of one shared token bucket, in chunks.

    :meth:`take` fires with ``0.0`` when the caller may send now, otherwise
    with the seconds to wait before calling it again (the same contract as
    :meth:`~smppd.shared.interface.TokenBuckets.take`). When a token is in
    memory the Deferred has already fired.
    """

    def __init__(
        self,
        buckets: TokenBuckets,
        clock: ReactorClock,
        key: str,
        rate: float,
        burst: float,
        *,
        chunk: int | None = None,
        hold: float = DEFAULT_HOLD,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        check_bucket(key, rate, burst, 1)
        if chunk is None:
            chunk = default_chunk(rate, burst)
        if not (1 <= chunk <= burst):
            raise ValueError(f"chunk must be in [1, burst={burst}], not {chunk!r}")
        if not (math.isfinite(hold) and hold > 0.0):
            raise ValueError(f"hold must be a positive number of seconds, not {hold!r}")
        if max_waiting < 1:
            raise ValueError("max_waiting must be at least 1")
        self._buckets = buckets
        self._clock = clock
        self.key = key
        self.rate = rate
        self.burst = burst
        self.chunk = chunk
        self.hold = hold
        self._max_waiting = max_waiting
        self._held = 0
        self._held_until = 0.0
        self._expiry: Timer | None = None
        # Until then the shared bucket is known to be empty.
        self._not_before = -math.inf
        self._waiters: deque[Deferred[float]] = deque()
        self._fetching = False
        # The give-back still on its way: the next fetch waits for it.
        self._returning: Deferred[None] | None = None
        self._closed = False

    @property
    def held(self) -> int:
        """Tokens in memory that may still be spent."""
        return self._held if self._clock.seconds() < self._held_until else 0

    @property
    def waiting(self) -> int:
        """Callers queued behind the fetch in flight."""
        return len(self._waiters)

    def take(self) -> Deferred[float]:
        """Take one token: ``0.0`` to send now, else the seconds to wait."""
        if self._closed:
            raise RuntimeError("LocalTokenCache is closed")
        now = self._clock.seconds()
        if self._held and now < self._held_until:
            self._spend(1)
            return succeed(0.0)
        if self._fetching:
            if len(self._waiters) >= self._max_waiting:
                return succeed(1.0 / self.rate)
            waiter: Deferred[float] = Deferred()
            self._waiters.append(waiter)
            return waiter
        if now < self._not_before:
            return succeed(self._not_before - now)
        waiter = Deferred()
        self._waiters.append(waiter)
        self._fetch(now)
        return waiter

    def close(self) -> Deferred[None]:
        """Give back what is held; callers still queued fail with CancelledError."""
        self._closed = True
        self._give_back_held()
        if not self._fetching:
            self._fail_waiters(CancelledError("LocalTokenCache closed"))
        returning = self._returning
        return succeed(None) if returning is None else returning

    # -- internals -----------------------------------------------------------

    def _spend(self, n: int) -> None:
        self._held -= n
        if self._held == 0 and self._expiry is not None:
            if self._expiry.active():
                self._expiry.cancel()
            self._expiry = None

    def _give_back_held(self) -> None:
        if self._expiry is not None:
            if self._expiry.active():
                self._expiry.cancel()
            self._expiry = None
        unused, self._held = self._held, 0
        if unused == 0:
            return
        returned = self._buckets.give_back(self.key, self.rate, self.burst, unused)
        returned.addErrback(self._log_failure, "giving back unused tokens")

        def _returned(_: None) -> None:
            if self._returning is returned:
                self._returning = None

        returned.addCallback(_returned)
        if not returned.called:
            self._returning = returned

    def _expired(self) -> None:
        self._expiry = None
        self._give_back_held()

    def _fetch(self, started: float) -> None:
        self._fetching = True
        self._give_back_held()
        returning = self._returning
        if returning is None:
            grant = self._buckets.take_up_to(self.key, self.rate, self.burst, self.chunk)
        else:
            grant = returning.addCallback(
                lambda _: self._buckets.take_up_to(self.key, self.rate, self.burst, self.chunk)
            )
        grant.addCallbacks(lambda g: self._fetched(g, started), self._fetch_failed)

    def _fetched(self, grant: TokenGrant, started: float) -> None:
        self._fetching = False
        if self._closed:
            if grant.granted:
                self._held = grant.granted
                self._give_back_held()
            self._fail_waiters(CancelledError("LocalTokenCache closed"))
            return
        now = self._clock.seconds()
        if grant.granted == 0:
            # The bucket was empty when asked: nobody asks again before then.
            self._not_before = started + grant.wait
            wait = max(self._not_before - now, TIME_TOLERANCE)
            waiters = list(self._waiters)
            self._waiters.clear()
            for waiter in waiters:
                waiter.callback(wait)
            return
        # Measured from before the request: the bucket granted at or after it.
        self._held_until = started + self.hold
        self._held = grant.granted
        ready: list[Deferred[float]] = []
        while self._waiters and self._held:
            ready.append(self._waiters.popleft())
            self._held -= 1
        if self._held:
            self._expiry = self._clock.callLater(max(0.0, self._held_until - now), self._expired)
        if self._waiters:
            # More demand than one chunk: fetch again before anyone runs, so
            # that callbacks calling take() find consistent state.
            self._fetch(now)
        for waiter in ready:
            waiter.callback(0.0)

    def _fetch_failed(self, failure: Failure) -> None:
        self._fetching = False
        self._fail_waiters(failure)

    def _fail_waiters(self, failure: Failure | BaseException) -> None:
        waiters = list(self._waiters)
        self._waiters.clear()
        for waiter in waiters:
            waiter.errback(failure)

    def _log_failure(self, failure: Failure, doing: str) -> None:
        log.warning("token bucket %r: %s failed: %s", self.key, doing, failure.getErrorMessage())
