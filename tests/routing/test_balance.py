"""Smooth weighted round robin."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.routing.balance import SmoothWeightedRoundRobin


def _all_up(_: str) -> bool:
    return True


def test_weights_5_1_1_interleave_as_a_a_b_a_c_a_a() -> None:
    # The sequence nginx documents for its smooth weighted balancing.
    balancer = SmoothWeightedRoundRobin([("a", 5), ("b", 1), ("c", 1)])
    picks = [balancer.pick(_all_up) for _ in range(14)]
    assert picks == list("aabacaa") * 2


def test_equal_weights_take_turns_in_definition_order() -> None:
    balancer = SmoothWeightedRoundRobin([("a", 2), ("b", 2), ("c", 2)])
    assert [balancer.pick(_all_up) for _ in range(6)] == list("abcabc")


@given(
    weights=st.lists(st.integers(1, 20), min_size=1, max_size=8),
    rounds=st.integers(1, 4),
)
def test_every_run_of_total_weight_picks_is_exactly_proportional(
    weights: list[int], rounds: int
) -> None:
    names = [f"c{i}" for i in range(len(weights))]
    balancer = SmoothWeightedRoundRobin(list(zip(names, weights, strict=True)))
    total = sum(weights)
    for _ in range(rounds):
        counts = Counter(balancer.pick(_all_up) for _ in range(total))
        assert counts == Counter(dict(zip(names, weights, strict=True)))


@given(
    weights=st.lists(st.integers(1, 20), min_size=2, max_size=8),
    down=st.data(),
)
def test_items_that_are_down_are_never_picked_and_the_rest_stay_proportional(
    weights: list[int], down: st.DataObject
) -> None:
    names = [f"c{i}" for i in range(len(weights))]
    gone = down.draw(st.sets(st.sampled_from(names), max_size=len(names) - 1))
    balancer = SmoothWeightedRoundRobin(list(zip(names, weights, strict=True)))
    up = {name: weight for name, weight in zip(names, weights, strict=True) if name not in gone}
    counts = Counter(balancer.pick(lambda name: name not in gone) for _ in range(sum(up.values())))
    assert counts == Counter(up)


def test_nothing_up_gives_none_and_leaves_the_scores_alone() -> None:
    balancer = SmoothWeightedRoundRobin([("a", 3), ("b", 1)])
    assert balancer.pick(lambda _: False) is None
    assert [balancer.pick(_all_up) for _ in range(4)] == list("aaba")


def test_reset_starts_the_sequence_again() -> None:
    balancer = SmoothWeightedRoundRobin([("a", 1), ("b", 1)])
    assert balancer.pick(_all_up) == "a"
    balancer.reset()
    assert balancer.pick(_all_up) == "a"


@pytest.mark.parametrize("weight", [0, -1])
def test_weights_must_be_positive(weight: int) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        SmoothWeightedRoundRobin([("a", 1), ("b", weight)])
