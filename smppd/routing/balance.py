"""Smooth weighted round robin: deterministic, interleaved weighted picks.

How this works
--------------
Each item has a fixed weight and a running score. A pick adds every eligible
item's weight to its score, takes the item with the highest score (the
earliest on a tie) and takes the sum of the eligible weights off the winner.
With weights 5, 1, 1 the order is ``a a b a c a a``: the heavy item is spread
out rather than sent in a burst, and over any run of picks whose length is
the total weight, each item is picked exactly its weight's number of times.

Items the caller reports down neither score nor win, so the others share
their traffic in proportion to their own weights; when a down item comes
back it resumes from its old score. The state is a few integers per item;
there is no randomness and no clock, so a sequence of picks is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["SmoothWeightedRoundRobin"]

T = TypeVar("T")


class SmoothWeightedRoundRobin(Generic[T]):
    """Picks among ``(item, weight)`` pairs; weights are positive integers."""

    __slots__ = ("_items", "_scores", "_weights")

    def __init__(self, weighted: Sequence[tuple[T, int]]) -> None:
        for item, weight in weighted:
            if weight <= 0:
                raise ValueError(f"the weight of {item!r} must be > 0, not {weight}")
        self._items: tuple[T, ...] = tuple(item for item, _ in weighted)
        self._weights: tuple[int, ...] = tuple(weight for _, weight in weighted)
        self._scores: list[int] = [0] * len(self._items)

    @property
    def items(self) -> tuple[T, ...]:
        return self._items

    def pick(self, is_up: Callable[[T], bool]) -> T | None:
        """The next item among those ``is_up`` accepts, or ``None`` when none is."""
        scores = self._scores
        weights = self._weights
        total = 0
        best = -1
        for index, item in enumerate(self._items):
            if not is_up(item):
                continue
            scores[index] += weights[index]
            total += weights[index]
            if best < 0 or scores[index] > scores[best]:
                best = index
        if best < 0:
            return None
        scores[best] -= total
        return self._items[best]

    def reset(self) -> None:
        """Forget the scores (as if just built)."""
        self._scores = [0] * len(self._items)
