"""Latency percentiles: exact nearest-rank values, and the bounded fallback."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.bench.loadgen import SUB_BUCKETS, LatencyRecorder, _bucket


def nearest_rank(values: list[int], p: float) -> int:
    """The textbook definition, with p read as the decimal it was written as."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Decimal(repr(p)) * len(ordered) / 100)) - 1]


micros = st.integers(min_value=0, max_value=3_600_000_000)
percent = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(st.lists(micros, min_size=1, max_size=500), st.lists(percent, min_size=1, max_size=6))
def test_percentiles_equal_the_sorted_list_nearest_rank(values: list[int], ps: list[float]) -> None:
    recorder = LatencyRecorder()
    for value in values:
        recorder.record_micros(value)
    assert recorder.percentiles_micros(tuple(ps)) == tuple(nearest_rank(values, p) for p in ps)
    assert (recorder.minimum, recorder.maximum, recorder.count) == (
        min(values),
        max(values),
        len(values),
    )
    assert recorder.exact


@given(st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=300))
def test_folded_percentiles_are_never_below_and_within_a_bucket_above(values: list[int]) -> None:
    recorder = LatencyRecorder(max_distinct=SUB_BUCKETS)
    for value in values:
        recorder.record_micros(value)
    for p in (0.0, 50.0, 99.0, 100.0):
        truth = nearest_rank(values, p)
        got = recorder.percentiles_micros((p,))[0]
        assert truth <= got <= truth + 2 * truth / SUB_BUCKETS
        assert got <= recorder.maximum


def test_more_distinct_values_than_the_limit_fold_into_buckets() -> None:
    recorder = LatencyRecorder(max_distinct=SUB_BUCKETS)
    for value in range(0, 5 * SUB_BUCKETS * 1000, 997):
        recorder.record_micros(value)
    assert not recorder.exact
    assert len(recorder._counts) <= SUB_BUCKETS * 8


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([15, 20, 35, 40, 50], 5.0, 15),  # the classic nearest-rank example
        ([15, 20, 35, 40, 50], 30.0, 20),
        ([15, 20, 35, 40, 50], 40.0, 20),
        ([15, 20, 35, 40, 50], 50.0, 35),
        ([15, 20, 35, 40, 50], 100.0, 50),
        ([7], 0.0, 7),
        (list(range(1, 101)), 99.0, 99),
        (list(range(1, 1001)), 99.9, 999),
    ],
)
def test_nearest_rank_on_known_data(values: list[int], p: float, expected: int) -> None:
    recorder = LatencyRecorder()
    for value in reversed(values):
        recorder.record_micros(value)
    assert recorder.percentiles_micros((p,)) == (expected,)


def test_seconds_are_recorded_to_the_microsecond_and_summarised() -> None:
    recorder = LatencyRecorder()
    for seconds in (0.0012344, 0.0012346, 0.5):
        recorder.record(seconds)
    summary = recorder.summary()
    assert (summary.minimum, summary.p50, summary.maximum) == (0.001234, 0.001235, 0.5)
    assert summary.count == 3


def test_an_empty_recorder_reports_zero() -> None:
    summary = LatencyRecorder().summary()
    assert (summary.count, summary.p50, summary.p99, summary.mean) == (0, 0.0, 0.0, 0.0)


def test_a_percentile_outside_0_to_100_is_an_error() -> None:
    recorder = LatencyRecorder()
    recorder.record_micros(1)
    with pytest.raises(ValueError, match="between 0 and 100"):
        recorder.percentile(101)


@pytest.mark.parametrize(
    "value", [0, 1, SUB_BUCKETS - 1, SUB_BUCKETS, 2 * SUB_BUCKETS, 4096, 10**6, 3_600_000_000]
)
def test_a_bucket_holds_its_value_within_the_relative_error(value: int) -> None:
    top = _bucket(value)
    assert value <= top <= value + 2 * value / SUB_BUCKETS
