"""Contract: shared token buckets (burst, then the rate; exact waits; separate keys)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.shared import TokenGrant
from smppd.shared.interface import TIME_TOLERANCE
from tests.shared.conftest import Harness, HarnessFactory

approx = pytest.approx


def test_a_fresh_bucket_grants_the_whole_burst_then_asks_to_wait(harness: Harness) -> None:
    take = harness.state.take
    assert [harness.run(take("carrier-a", 10.0, 5)) for _ in range(5)] == [0.0] * 5
    assert harness.run(take("carrier-a", 10.0, 5)) == approx(0.1, abs=TIME_TOLERANCE)


def test_the_wait_counts_down_with_the_clock_and_waiting_it_is_enough(harness: Harness) -> None:
    take = harness.state.take
    for _ in range(2):
        assert harness.run(take("k", 4.0, 2)) == 0.0
    assert harness.run(take("k", 4.0, 2)) == approx(0.25, abs=TIME_TOLERANCE)
    harness.advance(0.1)
    assert harness.run(take("k", 4.0, 2)) == approx(0.15, abs=TIME_TOLERANCE)
    harness.advance(0.15)
    assert harness.run(take("k", 4.0, 2)) == 0.0
    assert harness.run(take("k", 4.0, 2)) == approx(0.25, abs=TIME_TOLERANCE)


def test_after_the_burst_tokens_come_at_the_rate(harness: Harness) -> None:
    granted = 0
    for _ in range(100):  # ten seconds in steps of 0.1 s at 3 tokens/s, burst 2
        while harness.run(harness.state.take("k", 3.0, 2)) == 0.0:
            granted += 1
        harness.advance(0.1)
    # The burst at once, then one per third of a second over 9.9 s.
    assert granted == 2 + 29


def test_a_slow_rate_asks_for_a_long_wait(harness: Harness) -> None:
    assert harness.run(harness.state.take("k", 0.5, 1)) == 0.0
    assert harness.run(harness.state.take("k", 0.5, 1)) == approx(2.0, abs=TIME_TOLERANCE)


def test_an_idle_bucket_fills_up_to_the_burst_and_no_further(harness: Harness) -> None:
    harness.run(harness.state.take("k", 100.0, 3, 3))
    harness.advance(3600)
    assert [harness.run(harness.state.take("k", 100.0, 3)) for _ in range(4)][:3] == [0.0] * 3
    assert harness.run(harness.state.take("k", 100.0, 3)) > 0.0


def test_taking_several_is_all_or_nothing(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.take("k", 2.0, 4, 3)) == 0.0
    # One token left: three more take a full second, and a refusal takes none.
    assert harness.run(state.take("k", 2.0, 4, 3)) == approx(1.0, abs=TIME_TOLERANCE)
    assert harness.run(state.take("k", 2.0, 4, 1)) == 0.0


def test_keys_are_separate_buckets(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.take("carrier-a", 1.0, 1)) == 0.0
    assert harness.run(state.take("carrier-a", 1.0, 1)) > 0.0
    assert harness.run(state.take("carrier-b", 1.0, 1)) == 0.0
    assert harness.run(state.take("carrier-a:x", 1.0, 1)) == 0.0


def test_asking_for_more_than_the_burst_is_a_bug(harness: Harness) -> None:
    with pytest.raises(ValueError, match="burst"):
        harness.state.take("k", 10.0, 5, 6)


def test_take_up_to_grants_what_is_there_and_at_most_n(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.take_up_to("k", 10.0, 5, 3)) == TokenGrant(3, 0.0)
    assert harness.run(state.take_up_to("k", 10.0, 5, 3)) == TokenGrant(2, 0.0)
    empty = harness.run(state.take_up_to("k", 10.0, 5, 3))
    assert empty.granted == 0
    assert empty.wait == approx(0.1, abs=TIME_TOLERANCE)
    harness.advance(0.25)  # two and a half tokens: only whole ones are granted
    assert harness.run(state.take_up_to("k", 10.0, 5, 10)) == TokenGrant(2, 0.0)


def test_given_back_tokens_can_be_taken_again_up_to_the_burst(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.take_up_to("k", 1.0, 4, 4)) == TokenGrant(4, 0.0)
    harness.run(state.give_back("k", 1.0, 4, 3))
    assert harness.run(state.take_up_to("k", 1.0, 4, 4)) == TokenGrant(3, 0.0)
    harness.run(state.give_back("k", 1.0, 4, 100))
    assert harness.run(state.take_up_to("k", 1.0, 4, 100)) == TokenGrant(4, 0.0)


@given(
    rate=st.floats(0.01, 10_000.0),
    burst=st.integers(1, 1000),
    data=st.data(),
)
def test_waiting_the_returned_time_is_always_enough(
    make_harness: HarnessFactory, rate: float, burst: int, data: st.DataObject
) -> None:
    with make_harness() as h:
        start = data.draw(st.floats(0.0, 1e6), label="start offset")
        h.advance(start)
        h.run(h.state.take_up_to("k", rate, burst, burst))
        h.advance(data.draw(st.floats(0.0, 2 * burst / rate), label="idle"))
        n = data.draw(st.integers(1, burst), label="n")
        wait = h.run(h.state.take("k", rate, burst, n))
        if wait > 0.0:
            assert wait >= TIME_TOLERANCE
            h.advance(wait)
            assert h.run(h.state.take("k", rate, burst, n)) == 0.0


@given(
    rate=st.floats(0.5, 50.0),
    burst=st.integers(1, 20),
    steps=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 5)), min_size=1, max_size=60),
)
def test_no_window_gets_more_than_burst_plus_rate_times_its_length(
    make_harness: HarnessFactory, rate: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    with make_harness() as h:
        times: list[float] = []
        for gap, attempts in steps:
            h.advance(gap)
            granted = sum(h.run(h.state.take("k", rate, burst)) == 0.0 for _ in range(attempts))
            times += [h.now()] * granted
        for i, first in enumerate(times):
            for j in range(i, len(times)):
                window = times[j] - first
                assert j - i + 1 <= burst + rate * (window + TIME_TOLERANCE) + 1e-9
