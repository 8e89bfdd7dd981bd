"""The generator against the real simulated carrier over iosim, on a Clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from twisted.internet.task import Clock

from smppd.bench.loadgen import BenchConfig, BenchResult, LoadGenerator, TextKind
from smppd.bench.verify import CountAnswer, verify
from smppd.simulator.core import Faults, SimCarrier, SimSettings
from smppd.smpp.constants import CommandStatus

from .harness import STEP, Network, make_generator, run_bench


def new_clock() -> Clock:
    clock = Clock()
    clock.advance(1_000)
    return clock


def assert_counts_add_up(result: BenchResult) -> None:
    answered = (
        result.submits_accepted
        + sum(result.submits_refused.values())
        + result.submits_timed_out
        + result.submits_failed
    )
    assert answered == result.submits_sent


class CarrierStats:
    """The StatsSource the control endpoint would be, read from the carrier itself."""

    def __init__(self, carrier: SimCarrier) -> None:
        self.carrier = carrier

    def stats(self) -> dict[str, Any]:
        return self.carrier.snapshot()

    def count_tags(self, tags: Sequence[str]) -> CountAnswer:
        return CountAnswer({t: self.carrier.tag_count(t) for t in tags}, False)


def test_every_submit_is_accepted_and_every_receipt_counted() -> None:
    clock = new_clock()
    network = Network(clock)
    result = run_bench(network, make_generator(clock, messages=200, binds=3, window=7))
    assert (result.messages_started, result.submits_sent, result.submits_accepted) == (
        200,
        200,
        200,
    )
    assert_counts_add_up(result)
    assert network.carrier.stats.submits_accepted == 200
    assert (result.receipts_expected, result.receipts_received, result.receipts_missing) == (
        200,
        200,
        0,
    )
    assert sum(result.receipts_by_state.values()) == 200
    assert result.receipt_latency.count == 200
    # The simulator's receipt delay is 0.5 s of the test's clock.
    assert 0.5 <= result.receipt_latency.p50 <= 0.5 + 3 * STEP
    assert result.submit_latency.count == 200
    assert result.errors == ()
    assert network.carrier.stats.receipts_acked == 200


def test_refused_submits_are_counted_by_status_and_get_no_receipt() -> None:
    clock = new_clock()
    network = Network(
        clock,
        faults=Faults(error_rate=0.25, error_status=CommandStatus.ESME_RTHROTTLED),
    )
    result = run_bench(network, make_generator(clock, messages=300, binds=2, window=5))
    refused = result.submits_refused.get(CommandStatus.ESME_RTHROTTLED, 0)
    assert refused == sum(network.carrier.stats.refused.values()) > 0
    assert result.submits_accepted == network.carrier.stats.submits_accepted == 300 - refused
    assert result.receipts_expected == result.receipts_received == result.submits_accepted
    assert_counts_add_up(result)


def test_without_registered_delivery_no_receipt_is_awaited() -> None:
    clock = new_clock()
    network = Network(clock)
    generator = make_generator(clock, messages=20, registered_delivery=False, receipt_timeout=60)
    result = run_bench(network, generator)
    assert (result.receipts_expected, result.receipts_received) == (0, 0)
    assert network.carrier.stats.receipts_scheduled == 0
    # Finished long before the receipt timeout.
    assert clock.seconds() - 1_000 < 10


def test_long_messages_reach_the_carrier_exactly_once_part_by_part() -> None:
    clock = new_clock()
    network = Network(clock)
    generator = make_generator(clock, messages=40, text=TextKind.LONG, binds=2, window=4)
    result = run_bench(network, generator)
    assert (result.parts_per_message, result.submits_sent, result.submits_accepted) == (
        3,
        120,
        120,
    )
    assert result.receipts_received == 120
    verdict = verify(
        generator.ledger,
        CarrierStats(network.carrier),
        sleep=clock.advance,
        monotonic=clock.seconds,
    )
    assert verdict.exactly_once is True and verdict.checked == 120


def test_the_window_of_each_bind_is_never_exceeded() -> None:
    clock = new_clock()
    network = Network(clock)
    generator = make_generator(clock, messages=200, binds=2, window=3)
    results: list[BenchResult] = []
    generator.run(network.connect).addCallback(results.append)
    peak = 0
    while not results:
        moved = False
        # One hop at a time, so the submits in flight can be seen.
        for pump in network.pumps:
            moved = pump.pump() or moved
            peak = max(peak, generator.progress().outstanding)
        if not moved:
            clock.advance(STEP)
    assert peak == 2 * 3


@pytest.mark.parametrize("rate", [50.0, 200.0, 1000.0])
def test_a_fixed_rate_sends_each_submit_at_its_due_time(rate: float) -> None:
    clock = new_clock()
    network = Network(clock)
    messages = 100
    generator = make_generator(clock, messages=messages, binds=2, window=10, rate=rate)
    results: list[BenchResult] = []
    generator.run(network.connect).addCallback(results.append)
    samples: list[tuple[float, int]] = []
    while not results:
        network.flush()
        progress = generator.progress()
        if progress.phase == "sending":
            samples.append((clock.seconds(), progress.sent))
        clock.advance(STEP)
    assert samples
    # Sending starts when the binds are up, at the first sample's time.
    start = samples[0][0]
    for now, sent in samples:
        expected = sum(1 for k in range(messages) if start + k / rate <= now)
        assert sent == expected, (now - start, sent, expected)
    result = results[0]
    # Late by no more than the test clock's granularity.
    assert result.max_schedule_lag <= STEP
    assert result.send_seconds == pytest.approx((messages - 1) / rate, abs=2 * STEP)


def test_a_duration_stops_starting_messages_when_it_is_over() -> None:
    clock = new_clock()
    network = Network(clock)
    generator = make_generator(clock, duration=0.5, rate=100.0, messages=None)
    result = run_bench(network, generator)
    assert result.messages_started == 50
    assert result.submits_accepted == 50


def test_a_refused_bind_is_reported_and_nothing_is_sent() -> None:
    clock = new_clock()
    network = Network(clock)
    network.smsc.system_id = "someone-else"
    result = run_bench(network, make_generator(clock, messages=5, binds=2))
    assert (result.binds_up, result.submits_sent) == (0, 0)
    assert len(result.errors) == 2
    assert all("ESME_RINVSYSID" in error for error in result.errors)


def test_a_dropped_connection_fails_its_submits_and_the_rest_go_on() -> None:
    clock = new_clock()
    network = Network(clock, faults=Faults(drop_after=10))
    result = run_bench(network, make_generator(clock, messages=100, binds=2, window=4))
    assert_counts_add_up(result)
    assert result.submits_failed > 0
    assert result.binds_up == 0
    assert any("lost" in error for error in result.errors)


def test_nothing_is_left_scheduled_when_the_run_is_over() -> None:
    clock = new_clock()
    network = Network(clock, settings=SimSettings(receipt_delay=0.2, seed=1))
    run_bench(network, make_generator(clock, messages=30))
    assert clock.getDelayedCalls() == []


def test_stop_ends_a_run_early_with_what_was_seen() -> None:
    clock = new_clock()
    network = Network(clock)
    generator = make_generator(clock, messages=10_000, rate=100.0)
    results: list[BenchResult] = []
    generator.run(network.connect).addCallback(results.append)
    for _ in range(200):
        network.flush()
        clock.advance(STEP)
    generator.stop()
    for _ in range(100):
        network.flush()
        clock.advance(STEP)
    assert results
    assert 15 <= results[0].submits_sent <= 25


def test_progress_is_reported_on_the_clock() -> None:
    clock = new_clock()
    network = Network(clock)
    seen: list[float] = []
    config = BenchConfig(system_id="b", password="", messages=50, rate=20.0, progress_interval=0.5)
    base = make_generator(clock)
    generator = LoadGenerator(
        config, base.factory, clock, on_progress=lambda p: seen.append(p.elapsed)
    )
    results: list[BenchResult] = []
    generator.run(network.connect).addCallback(results.append)
    while not results:
        network.flush()
        clock.advance(STEP)
    assert len(seen) >= 4
