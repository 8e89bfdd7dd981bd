"""Contract: leases with slots (which node holds which carrier bind)."""

from __future__ import annotations

from tests.shared.conftest import Harness


def test_a_lease_admits_as_many_holders_as_it_has_slots(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("carrier-a", "node-1", 30.0, slots=2)) is True
    assert harness.run(state.acquire_lease("carrier-a", "node-2", 30.0, slots=2)) is True
    assert harness.run(state.acquire_lease("carrier-a", "node-3", 30.0, slots=2)) is False
    assert harness.run(state.lease_holders("carrier-a")) == {"node-1", "node-2"}


def test_acquiring_again_renews_and_does_not_take_a_second_slot(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 30.0, slots=2)) is True
    harness.advance(20.0)
    assert harness.run(state.acquire_lease("c", "node-1", 30.0, slots=2)) is True
    assert harness.run(state.acquire_lease("c", "node-2", 30.0, slots=2)) is True
    harness.advance(20.0)  # 40 s after the first acquire, 20 s after the second
    assert harness.run(state.lease_holders("c")) == {"node-1", "node-2"}


def test_a_holder_that_keeps_renewing_keeps_its_slot(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 10.0)) is True
    for _ in range(20):
        harness.advance(9.0)
        assert harness.run(state.renew_lease("c", "node-1", 10.0)) is True
        assert harness.run(state.acquire_lease("c", "node-2", 10.0)) is False
    assert harness.run(state.lease_holders("c")) == {"node-1"}


def test_a_holder_that_misses_its_renewals_loses_the_lease_at_the_deadline(
    harness: Harness,
) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 10.0)) is True
    harness.advance(9.999)
    assert harness.run(state.acquire_lease("c", "node-2", 10.0)) is False
    harness.advance(0.001)
    assert harness.run(state.lease_holders("c")) == frozenset()
    assert harness.run(state.acquire_lease("c", "node-2", 10.0)) is True
    assert harness.run(state.lease_holders("c")) == {"node-2"}


def test_a_non_holder_cannot_renew_and_gains_nothing_by_trying(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 10.0, slots=2)) is True
    assert harness.run(state.renew_lease("c", "node-2", 10.0)) is False
    assert harness.run(state.renew_lease("unknown-lease", "node-2", 10.0)) is False
    assert harness.run(state.lease_holders("c")) == {"node-1"}


def test_a_holder_whose_lease_ran_out_cannot_renew_it(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 10.0)) is True
    harness.advance(10.0)
    assert harness.run(state.renew_lease("c", "node-1", 10.0)) is False
    assert harness.run(state.lease_holders("c")) == frozenset()


def test_renewing_moves_the_deadline_to_now_plus_ttl(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 10.0)) is True
    harness.advance(5.0)
    assert harness.run(state.renew_lease("c", "node-1", 10.0)) is True
    harness.advance(9.0)
    assert harness.run(state.lease_holders("c")) == {"node-1"}
    harness.advance(1.0)
    assert harness.run(state.lease_holders("c")) == frozenset()


def test_releasing_frees_the_slot_at_once(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 60.0)) is True
    assert harness.run(state.acquire_lease("c", "node-2", 60.0)) is False
    harness.run(state.release_lease("c", "node-1"))
    assert harness.run(state.acquire_lease("c", "node-2", 60.0)) is True
    assert harness.run(state.lease_holders("c")) == {"node-2"}


def test_releasing_a_slot_one_does_not_hold_changes_nothing(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 60.0)) is True
    harness.run(state.release_lease("c", "node-2"))
    harness.run(state.release_lease("other", "node-1"))
    assert harness.run(state.lease_holders("c")) == {"node-1"}


def test_an_expired_holder_does_not_count_against_the_slots(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("c", "node-1", 5.0, slots=2)) is True
    assert harness.run(state.acquire_lease("c", "node-2", 50.0, slots=2)) is True
    harness.advance(5.0)
    assert harness.run(state.acquire_lease("c", "node-3", 50.0, slots=2)) is True
    assert harness.run(state.lease_holders("c")) == {"node-2", "node-3"}


def test_lease_names_are_independent(harness: Harness) -> None:
    state = harness.state
    assert harness.run(state.acquire_lease("carrier-a", "node-1", 60.0)) is True
    assert harness.run(state.acquire_lease("carrier-b", "node-2", 60.0)) is True
    assert harness.run(state.lease_holders("carrier-a")) == {"node-1"}
    assert harness.run(state.lease_holders("carrier-b")) == {"node-2"}
