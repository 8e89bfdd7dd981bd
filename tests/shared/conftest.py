"""Fixtures for the shared-state contract: every test runs on every implementation.

An implementation enters the suite through :data:`IMPLEMENTATIONS`: a name and
a context manager that yields a fresh :class:`Harness`. The harness hides the
one thing implementations differ in for a test: how a Deferred comes to fire
(the in-process one fires before returning; a networked one needs the reactor
to run) and how pending node-to-node deliveries are let through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from smppd.shared import MemorySharedState, SharedState

T = TypeVar("T")

NOW = 1_800_000_000.0  # a wall-clock epoch, so float resolution is realistic


def fired(d: Deferred[T]) -> T:
    """The result of a Deferred that has already fired (its failure is raised)."""
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[no-any-return]


class Harness:
    """One implementation under test, with the clock that drives its time."""

    def __init__(self, state: SharedState, clock: Clock) -> None:
        self.state = state
        self.clock = clock

    def run(self, d: Deferred[T]) -> T:
        """Wait for ``d`` and return its result (raise its failure)."""
        return fired(d)

    def settle(self) -> None:
        """Let every node-to-node delivery that is due happen."""
        for _ in range(100):
            if not any(c.getTime() <= self.clock.seconds() for c in self.clock.calls):
                return
            self.clock.advance(0)
        raise AssertionError("deliveries keep scheduling deliveries")

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def now(self) -> float:
        return self.clock.seconds()


@contextmanager
def memory_harness() -> Iterator[Harness]:
    clock = Clock()
    clock.advance(NOW)
    state = MemorySharedState(clock)
    try:
        yield Harness(state, clock)
    finally:
        fired(state.close())


HarnessFactory = Callable[[], AbstractContextManager[Harness]]

# Adding an implementation to the contract is adding it here.
IMPLEMENTATIONS: dict[str, HarnessFactory] = {
    "memory": memory_harness,
}


@pytest.fixture(scope="session", params=sorted(IMPLEMENTATIONS))
def make_harness(request: pytest.FixtureRequest) -> HarnessFactory:
    """A factory of fresh harnesses: for hypothesis, one per example."""
    return IMPLEMENTATIONS[request.param]


@pytest.fixture
def harness(make_harness: HarnessFactory) -> Iterator[Harness]:
    with make_harness() as h:
        yield h
