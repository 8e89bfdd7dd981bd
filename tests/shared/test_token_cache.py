"""LocalTokenCache: chunks from the shared bucket, single messages from memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred, fail

from smppd.shared import LocalTokenCache, TokenBuckets, TokenGrant
from smppd.shared.interface import TIME_TOLERANCE
from smppd.shared.tokens import default_chunk
from tests.shared.conftest import Harness, HarnessFactory, fired

T = TypeVar("T")


class Recording:
    """A TokenBuckets that forwards to another and records each call."""

    def __init__(self, inner: TokenBuckets) -> None:
        self.inner = inner
        self.calls: list[tuple[str, int]] = []

    def take(self, key: str, rate: float, burst: float, n: int = 1) -> Deferred[float]:
        self.calls.append(("take", n))
        return self.inner.take(key, rate, burst, n)

    def take_up_to(self, key: str, rate: float, burst: float, n: int) -> Deferred[TokenGrant]:
        self.calls.append(("take_up_to", n))
        return self.inner.take_up_to(key, rate, burst, n)

    def give_back(self, key: str, rate: float, burst: float, n: int) -> Deferred[None]:
        self.calls.append(("give_back", n))
        return self.inner.give_back(key, rate, burst, n)


class Delayed(Recording):
    """Each call reaches the inner buckets only when the test lets it through."""

    def __init__(self, inner: TokenBuckets) -> None:
        super().__init__(inner)
        self.pending: deque[tuple[Callable[[], Deferred[Any]], Deferred[Any]]] = deque()

    def _later(self, name: str, n: int, call: Callable[[], Deferred[T]]) -> Deferred[T]:
        self.calls.append((name, n))
        d: Deferred[T] = Deferred()
        self.pending.append((call, d))
        return d

    def take_up_to(self, key: str, rate: float, burst: float, n: int) -> Deferred[TokenGrant]:
        return self._later("take_up_to", n, lambda: self.inner.take_up_to(key, rate, burst, n))

    def give_back(self, key: str, rate: float, burst: float, n: int) -> Deferred[None]:
        return self._later("give_back", n, lambda: self.inner.give_back(key, rate, burst, n))

    def answer(self) -> None:
        call, d = self.pending.popleft()
        call().chainDeferred(d)

    def refuse(self, error: Exception) -> None:
        _, d = self.pending.popleft()
        fail(error).chainDeferred(d)


def level(h: Harness, key: str, rate: float, burst: int) -> int:
    """Whole tokens in the shared bucket now (read by taking and giving back)."""
    grant = h.run(h.state.take_up_to(key, rate, burst, burst))
    if grant.granted:
        h.run(h.state.give_back(key, rate, burst, grant.granted))
    return grant.granted


def test_a_chunk_serves_that_many_messages_with_one_round_trip(harness: Harness) -> None:
    buckets = Recording(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "carrier-a", 1000.0, 200, chunk=50)
    assert [fired(cache.take()) for _ in range(120)] == [0.0] * 120
    assert buckets.calls == [("take_up_to", 50)] * 3
    assert cache.held == 30
    assert level(harness, "carrier-a", 1000.0, 200) == 50
    fired(cache.close())


def test_the_default_chunk_is_a_slice_of_the_rate_within_the_burst() -> None:
    assert default_chunk(1000.0, 500) == 50
    assert default_chunk(1000.0, 20) == 20
    assert default_chunk(1.0, 1) == 1
    assert default_chunk(0.1, 10) == 1


def test_an_empty_bucket_is_not_asked_again_before_the_wait_is_over(harness: Harness) -> None:
    buckets = Recording(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 10.0, 2, chunk=2)
    assert [fired(cache.take()) for _ in range(2)] == [0.0, 0.0]
    assert fired(cache.take()) == pytest.approx(0.1, abs=TIME_TOLERANCE)
    harness.advance(0.04)
    assert fired(cache.take()) == pytest.approx(0.06, abs=TIME_TOLERANCE)
    assert buckets.calls == [("take_up_to", 2)] * 2
    harness.advance(0.06)
    assert fired(cache.take()) == 0.0
    assert buckets.calls == [("take_up_to", 2)] * 3
    fired(cache.close())


def test_tokens_unused_for_the_hold_time_go_back_to_the_shared_bucket(harness: Harness) -> None:
    # A slow rate, so that refill cannot hide whether the tokens came back.
    cache = LocalTokenCache(harness.state, harness.clock, "k", 0.01, 10, chunk=10, hold=0.5)
    assert fired(cache.take()) == 0.0
    assert level(harness, "k", 0.01, 10) == 0
    harness.advance(0.5)
    assert cache.held == 0
    assert level(harness, "k", 0.01, 10) == 9
    assert harness.clock.getDelayedCalls() == []
    fired(cache.close())


def test_a_token_past_the_hold_time_is_never_spent(harness: Harness) -> None:
    buckets = Recording(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=5, hold=0.5)
    assert fired(cache.take()) == 0.0
    harness.advance(0.5)
    assert fired(cache.take()) == 0.0
    assert buckets.calls == [("take_up_to", 5), ("give_back", 4), ("take_up_to", 5)]
    fired(cache.close())


def test_a_token_past_the_hold_time_is_not_spent_even_when_its_timer_is_late(
    harness: Harness,
) -> None:
    buckets = Recording(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=5, hold=0.5)
    assert fired(cache.take()) == 0.0
    # A busy reactor: time has moved on but the give-back timer has not run yet.
    harness.clock.rightNow += 0.5
    assert cache.held == 0
    assert fired(cache.take()) == 0.0
    assert buckets.calls == [("take_up_to", 5), ("give_back", 4), ("take_up_to", 5)]
    fired(cache.close())
    assert harness.clock.getDelayedCalls() == []


def test_spending_the_whole_chunk_leaves_no_timer_behind(harness: Harness) -> None:
    cache = LocalTokenCache(harness.state, harness.clock, "k", 100.0, 10, chunk=3)
    for _ in range(3):
        fired(cache.take())
    assert harness.clock.getDelayedCalls() == []
    fired(cache.close())


def test_closing_gives_back_what_is_held(harness: Harness) -> None:
    cache = LocalTokenCache(harness.state, harness.clock, "k", 0.01, 10, chunk=10)
    fired(cache.take())
    fired(cache.close())
    assert level(harness, "k", 0.01, 10) == 9
    assert harness.clock.getDelayedCalls() == []
    with pytest.raises(RuntimeError):
        cache.take()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 0.0}, "rate"),
        ({"burst": 0.5}, "burst"),
        ({"chunk": 0}, "chunk"),
        ({"chunk": 11}, "chunk"),
        ({"hold": 0.0}, "hold"),
        ({"max_waiting": 0}, "max_waiting"),
        ({"key": ""}, "key"),
    ],
)
def test_a_cache_with_impossible_settings_is_refused(
    harness: Harness, kwargs: dict[str, Any], match: str
) -> None:
    settings: dict[str, Any] = {"key": "k", "rate": 10.0, "burst": 10} | kwargs
    with pytest.raises(ValueError, match=match):
        LocalTokenCache(harness.state, harness.clock, **settings)


# -- with a shared bucket that answers later, as over the network -------------


def test_callers_queue_behind_one_fetch_and_are_served_in_order(harness: Harness) -> None:
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=3)
    order: list[int] = []

    def served(wait: float, i: int) -> None:
        if wait == 0.0:
            order.append(i)

    for i in range(3):
        cache.take().addCallback(served, i)
    assert buckets.calls == [("take_up_to", 3)]
    assert cache.waiting == 3
    buckets.answer()
    assert order == [0, 1, 2]
    assert cache.held == 0


def test_more_callers_than_a_chunk_fetch_again_before_anyone_runs(harness: Harness) -> None:
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=2)
    results: list[float] = []
    for _ in range(5):
        cache.take().addCallback(results.append)
    buckets.answer()
    assert results == [0.0, 0.0]
    assert cache.waiting == 3
    buckets.answer()
    buckets.answer()
    assert results == [0.0] * 5
    assert buckets.calls == [("take_up_to", 2)] * 3


def test_a_callback_that_takes_again_finds_consistent_state(harness: Harness) -> None:
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=2)
    results: list[float] = []
    retakes = 0

    def again(wait: float) -> None:
        nonlocal retakes
        results.append(wait)
        if retakes < 4:
            retakes += 1
            cache.take().addCallback(again)

    cache.take().addCallback(again)
    cache.take().addCallback(results.append)
    cache.take().addCallback(results.append)
    while buckets.pending:
        buckets.answer()
    assert results == [0.0] * 7
    assert buckets.calls == [("take_up_to", 2)] * 4
    assert cache.held == 1


def test_when_the_bucket_is_empty_every_queued_caller_is_told_the_wait(
    harness: Harness,
) -> None:
    harness.run(harness.state.take_up_to("k", 4.0, 2, 2))
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 4.0, 2, chunk=2)
    results: list[float] = []
    for _ in range(3):
        cache.take().addCallback(results.append)
    buckets.answer()
    assert results == [pytest.approx(0.25, abs=TIME_TOLERANCE)] * 3


def test_a_failed_fetch_fails_every_queued_caller(harness: Harness) -> None:
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=2)
    failures: list[Any] = []
    for _ in range(3):
        cache.take().addErrback(failures.append)
    buckets.refuse(ConnectionError("shared state unreachable"))
    assert [f.check(ConnectionError) for f in failures] == [ConnectionError] * 3
    assert cache.waiting == 0
    cache.take()  # the next caller starts a new fetch
    assert len(buckets.calls) == 2


def test_beyond_max_waiting_callers_are_told_to_come_back(harness: Harness) -> None:
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=2, max_waiting=2)
    cache.take()
    cache.take()
    assert fired(cache.take()) == pytest.approx(0.01)
    assert cache.waiting == 2


def test_closing_during_a_fetch_cancels_the_callers_and_returns_the_chunk(
    harness: Harness,
) -> None:
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 0.01, 10, chunk=4)
    failures: list[Any] = []
    cache.take().addErrback(failures.append)
    closed = cache.close()
    assert failures == []
    buckets.answer()  # the chunk arrives after close
    assert [f.check(CancelledError) for f in failures] == [CancelledError]
    assert buckets.calls == [("take_up_to", 4), ("give_back", 4)]
    buckets.answer()
    assert fired(closed) is None
    assert level(harness, "k", 0.01, 10) == 10


def test_the_next_fetch_waits_for_the_give_back_to_land(harness: Harness) -> None:
    buckets = Delayed(harness.state)
    cache = LocalTokenCache(buckets, harness.clock, "k", 100.0, 10, chunk=4, hold=0.5)
    results: list[float] = []
    cache.take().addCallback(results.append)
    buckets.answer()
    harness.advance(0.5)  # three tokens expire and start on their way back
    cache.take().addCallback(results.append)
    assert [call for call, _ in buckets.calls] == ["take_up_to", "give_back"]
    buckets.answer()  # the give-back lands, then the fetch goes out
    assert [call for call, _ in buckets.calls] == ["take_up_to", "give_back", "take_up_to"]
    buckets.answer()
    assert results == [0.0, 0.0]
    closed = cache.close()
    while buckets.pending:
        buckets.answer()
    assert fired(closed) is None


# -- the bound --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    rate: float
    burst: int
    chunk_share: float
    hold: float
    caches: int
    # (seconds to advance, which cache, how many messages it tries to send)
    steps: list[tuple[float, int, int]]

    @property
    def chunk(self) -> int:
        return max(1, round(self.burst * self.chunk_share))


scenarios = st.builds(
    Scenario,
    rate=st.sampled_from([1.0, 5.0, 20.0, 100.0]),
    burst=st.integers(1, 30),
    chunk_share=st.floats(0.0, 1.0),
    hold=st.sampled_from([0.05, 0.2, 1.0]),
    caches=st.integers(1, 3),
    steps=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.3, 1.0]), st.integers(0, 2), st.integers(1, 8)
        ),
        min_size=1,
        max_size=60,
    ),
)


@given(scenario=scenarios)
def test_caches_never_spend_more_than_the_bucket_allows(
    make_harness: HarnessFactory, scenario: Scenario
) -> None:
    rate, burst, chunk, hold, caches = (
        scenario.rate,
        scenario.burst,
        scenario.chunk,
        scenario.hold,
        scenario.caches,
    )
    with make_harness() as h:
        nodes = [
            LocalTokenCache(h.state, h.clock, "k", rate, burst, chunk=chunk, hold=hold)
            for _ in range(caches)
        ]
        start = h.now()
        spent: list[float] = []
        for gap, node, attempts in scenario.steps:
            h.advance(gap)
            granted = sum(fired(nodes[node % caches].take()) == 0.0 for _ in range(attempts))
            spent += [h.now() - start] * granted
        slack = 1e-6 * (1 + rate)
        for i, first in enumerate(spent):
            # From the first use: exactly the bucket's own bound.
            assert i + 1 <= burst + rate * first + slack
            for j in range(i, len(spent)):
                window = spent[j] - first
                assert j - i + 1 <= burst + rate * (window + hold) + caches * chunk + slack
        for node_cache in nodes:
            fired(node_cache.close())
