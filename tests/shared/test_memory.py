"""The in-process implementation: bounded memory, limits, sweeping, shutdown."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from smppd.shared import BindMode, MemoryLimits, MemorySharedState, StateFull
from smppd.shared.memory import HEAP_SLACK, SWEEP_INTERVAL
from tests.shared.conftest import NOW, Harness, fired
from tests.shared.model import Model, Op, operations, perform

UNLIMITED = 10**9


def make(limits: MemoryLimits | None = None) -> tuple[MemorySharedState, Clock]:
    clock = Clock()
    clock.advance(NOW)
    return MemorySharedState(clock, limits or MemoryLimits()), clock


@pytest.fixture
def memory() -> Iterator[tuple[MemorySharedState, Clock]]:
    state, clock = make()
    yield state, clock
    fired(state.close())


def fill_every_table(state: MemorySharedState, ttl: float) -> None:
    state.take("bucket", 1.0, 10, 5)
    state.put_correlation("c", "1", "v", ttl)
    state.first_seen("mo-1", ttl)
    state.acquire_lease("carrier", "node-1", ttl)
    state.register_bind("shop", "node-1", "b-1", BindMode.RECEIVER, ttl)


def test_a_sweep_forgets_every_kind_of_expired_entry(
    memory: tuple[MemorySharedState, Clock],
) -> None:
    state, clock = memory
    fill_every_table(state, 5.0)
    stats = state.stats()
    assert (stats.buckets, stats.correlations, stats.dedup_keys, stats.leases) == (1, 1, 1, 1)
    assert stats.presence == 1
    clock.advance(5.0)  # the bucket is full again after 5 s at 1 token/s as well
    assert state.sweep() == 5
    assert state.stats().entries == 0
    assert state.stats().index_items == 0


def test_reading_an_expired_entry_forgets_it(memory: tuple[MemorySharedState, Clock]) -> None:
    state, clock = memory
    state.put_correlation("c", "1", "v", 5.0)
    clock.advance(5.0)
    assert state.stats().correlations == 1
    assert fired(state.get_correlation("c", "1")) is None
    assert state.stats().correlations == 0


def test_a_sweep_does_a_bounded_amount_of_work(memory: tuple[MemorySharedState, Clock]) -> None:
    state, clock = memory
    for i in range(10):
        state.put_correlation("c", str(i), "v", 1.0)
    clock.advance(1.0)
    assert state.sweep(budget=4) == 4
    assert state.stats().correlations == 6
    assert state.sweep(budget=UNLIMITED) == 6


def test_started_sweeping_runs_on_the_clock_and_stops_at_close() -> None:
    state, clock = make()
    state.start()
    state.put_correlation("c", "1", "v", 0.5)
    clock.advance(SWEEP_INTERVAL)
    assert state.stats().correlations == 0
    fired(state.close())
    assert clock.getDelayedCalls() == []


def test_a_released_lease_or_bind_no_longer_keeps_its_name_alive(
    memory: tuple[MemorySharedState, Clock],
) -> None:
    state, clock = memory
    state.acquire_lease("carrier", "short", 5.0, slots=2)
    state.acquire_lease("carrier", "long", 50.0, slots=2)
    state.release_lease("carrier", "long")
    state.register_bind("shop", "node-1", "short", BindMode.RECEIVER, 5.0)
    state.register_bind("shop", "node-1", "long", BindMode.RECEIVER, 50.0)
    state.unregister_bind("shop", "node-1", "long")
    clock.advance(5.0)
    state.sweep()
    assert (state.stats().leases, state.stats().presence) == (0, 0)


def test_overwriting_one_key_keeps_the_index_bounded(
    memory: tuple[MemorySharedState, Clock],
) -> None:
    state, _ = memory
    for i in range(20_000):
        state.put_correlation("c", "1", str(i), 60.0)
    stats = state.stats()
    assert stats.correlations == 1
    assert stats.index_items <= 2 * stats.entries + HEAP_SLACK + 1


def test_at_its_limit_a_correlation_displaces_the_one_nearest_its_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state, _ = make(MemoryLimits(correlations=3))
    for carrier_id, ttl in [("long", 100.0), ("short", 10.0), ("middle", 50.0)]:
        state.put_correlation("c", carrier_id, carrier_id, ttl)
    with caplog.at_level(logging.WARNING):
        state.put_correlation("c", "new", "new", 100.0)
    assert fired(state.get_correlation("c", "short")) is None
    assert [fired(state.get_correlation("c", k)) for k in ("long", "middle", "new")] == [
        "long",
        "middle",
        "new",
    ]
    assert state.stats().evictions == 1
    assert "correlations" in caplog.text


def test_at_its_limit_an_expired_entry_makes_room_without_an_eviction() -> None:
    state, clock = make(MemoryLimits(dedup_keys=2))
    assert fired(state.first_seen("a", 1.0)) is True
    assert fired(state.first_seen("b", 100.0)) is True
    clock.advance(1.0)
    assert fired(state.first_seen("c", 100.0)) is True
    assert fired(state.first_seen("b", 100.0)) is False
    assert state.stats().evictions == 0


def test_at_its_limit_a_lease_for_a_new_name_is_refused_not_stolen() -> None:
    state, clock = make(MemoryLimits(leases=2))
    assert fired(state.acquire_lease("a", "node-1", 10.0)) is True
    assert fired(state.acquire_lease("b", "node-1", 20.0)) is True
    with pytest.raises(StateFull):
        fired(state.acquire_lease("c", "node-1", 10.0))
    # Existing leases are untouched and still renewable, and room comes back.
    assert fired(state.acquire_lease("a", "node-2", 10.0, slots=2)) is True
    assert fired(state.lease_holders("a")) == {"node-1", "node-2"}
    clock.advance(10.0)
    assert fired(state.acquire_lease("c", "node-1", 10.0)) is True


def test_at_its_limit_presence_for_a_new_system_id_is_refused() -> None:
    state, _ = make(MemoryLimits(presence=1))
    fired(state.register_bind("shop", "node-1", "b-1", BindMode.RECEIVER, 10.0))
    with pytest.raises(StateFull):
        fired(state.register_bind("bank", "node-1", "b-2", BindMode.RECEIVER, 10.0))
    fired(state.register_bind("shop", "node-2", "b-3", BindMode.RECEIVER, 10.0))
    assert len(fired(state.binds_for("shop"))) == 2


def test_at_its_limit_a_displaced_bucket_is_full_again() -> None:
    state, _ = make(MemoryLimits(buckets=1))
    assert fired(state.take("a", 1.0, 1)) == 0.0
    assert fired(state.take("b", 1.0, 1)) == 0.0  # displaces "a"
    assert fired(state.take("a", 1.0, 1)) == 0.0
    assert state.stats().evictions == 2


def test_a_full_delivery_queue_drops_payloads_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state, clock = make(MemoryLimits(pending_deliveries=2))
    received: list[bytes] = []
    fired(state.subscribe("node-2", received.append))
    with caplog.at_level(logging.WARNING):
        for payload in (b"1", b"2", b"3"):
            fired(state.publish("node-2", payload))
    assert state.stats().dropped_deliveries == 1
    assert "delivery queue full" in caplog.text
    clock.advance(0)
    assert received == [b"1", b"2"]
    assert state.stats().pending_deliveries == 0


def test_closing_cancels_pending_deliveries_and_leaves_no_delayed_calls() -> None:
    state, clock = make()
    received: list[bytes] = []
    fired(state.subscribe("node-2", received.append))
    fired(state.publish("node-2", b"x"))
    fired(state.close())
    assert clock.getDelayedCalls() == []
    clock.advance(1.0)
    assert received == []


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="correlations"):
        MemoryLimits(correlations=0)


sweeping_operations = st.one_of(operations, st.just(("sweep",)))


@given(ops=st.lists(sweeping_operations, max_size=100))
def test_sweeping_keeps_memory_to_the_live_entries_and_changes_no_answer(
    ops: list[Op],
) -> None:
    state, clock = make()
    harness = Harness(state, clock)
    model = Model(now=clock.seconds())
    for step, op in enumerate(ops):
        if op == ("sweep",):
            state.sweep(budget=UNLIMITED)
            assert state.stats().entries == model.live_entries(), f"step {step}"
        else:
            assert perform(harness, op) == model.apply(op), f"step {step}: {op}"
        stats = state.stats()
        assert stats.entries <= model.live_entries() + _expired_but_kept(model)
        assert stats.index_items <= 2 * stats.entries + HEAP_SLACK
    fired(state.close())


def _expired_but_kept(model: Model) -> int:
    # Entries past their deadline that no sweep or read has reached yet.
    now = model.now
    return (
        sum(1 for deadline, _ in model.correlations.values() if deadline <= now)
        + sum(1 for deadline in model.seen.values() if deadline <= now)
        + sum(1 for h in model.leases.values() if h and all(d <= now for d in h.values()))
        + sum(1 for b in model.binds.values() if b and all(d <= now for d, _ in b.values()))
    )
