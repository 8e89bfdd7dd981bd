"""The exactly-once verdict, from the ledger and a fake simulator answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from smppd.bench.verify import CountAnswer, SubmitLedger, judge, verify


class FakeSim:
    """Answers tag counts from a table; ``later`` counts appear on the second ask."""

    def __init__(
        self,
        counts: dict[str, int],
        *,
        later: dict[str, int] | None = None,
        overflow: bool = False,
    ) -> None:
        self.counts = counts
        self.later = later or {}
        self.overflow = overflow
        self.asked: list[list[str]] = []

    def stats(self) -> dict[str, Any]:
        return {"tracking": {"overflow": self.overflow}, "submits": {"accepted": 3}}

    def count_tags(self, tags: Sequence[str]) -> CountAnswer:
        self.asked.append(list(tags))
        answer = {tag: self.counts.get(tag, 0) for tag in tags}
        self.counts.update(self.later)
        return CountAnswer(answer, self.overflow)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def ledger_of(accepted: list[bool], tagged: list[bool] | None = None) -> SubmitLedger:
    ledger = SubmitLedger("run1")
    for index, ok in enumerate(accepted):
        ledger.sent(index, True if tagged is None else tagged[index])
        if ok:
            ledger.accepted(index)
    return ledger


def run_verify(ledger: SubmitLedger, sim: FakeSim, settle: float = 0.0) -> Any:
    clock = FakeTime()
    return verify(ledger, sim, settle=settle, sleep=clock.sleep, monotonic=clock.monotonic)


def test_every_acknowledged_submit_seen_once_is_exactly_once() -> None:
    ledger = ledger_of([True, True, True])
    sim = FakeSim({ledger.tag(i): 1 for i in range(3)})
    verdict = run_verify(ledger, sim)
    assert verdict.exactly_once is True
    assert (verdict.checked, verdict.delivered_once, verdict.missing, verdict.duplicated) == (
        3,
        3,
        0,
        0,
    )
    assert verdict.sim_stats["submits"] == {"accepted": 3}


def test_a_duplicate_is_not_exactly_once_and_is_named() -> None:
    ledger = ledger_of([True, True, True])
    sim = FakeSim({ledger.tag(0): 1, ledger.tag(1): 2, ledger.tag(2): 1})
    verdict = run_verify(ledger, sim)
    assert verdict.exactly_once is False
    assert (verdict.duplicated, verdict.missing) == (1, 0)
    assert verdict.duplicated_tags == (ledger.tag(1),)


def test_a_missing_message_is_not_exactly_once_and_is_named() -> None:
    ledger = ledger_of([True, True, True])
    sim = FakeSim({ledger.tag(0): 1, ledger.tag(2): 1})
    verdict = run_verify(ledger, sim)
    assert verdict.exactly_once is False
    assert (verdict.duplicated, verdict.missing) == (0, 1)
    assert verdict.missing_tags == (ledger.tag(1),)


def test_a_missing_message_that_arrives_while_settling_is_delivered() -> None:
    ledger = ledger_of([True, True])
    sim = FakeSim({ledger.tag(0): 1}, later={ledger.tag(1): 1})
    verdict = run_verify(ledger, sim, settle=5.0)
    assert verdict.exactly_once is True
    # The second question asks only for what was missing.
    assert sim.asked[1] == [ledger.tag(1)]


def test_a_refused_submit_that_reached_the_carrier_is_reported_not_failed() -> None:
    ledger = ledger_of([True, False])
    sim = FakeSim({ledger.tag(0): 1, ledger.tag(1): 1})
    verdict = run_verify(ledger, sim)
    assert verdict.exactly_once is True
    assert (verdict.checked, verdict.unacknowledged_delivered) == (1, 1)


def test_untagged_parts_are_not_asked_for() -> None:
    ledger = ledger_of([True, True, True], tagged=[True, False, True])
    sim = FakeSim({ledger.tag(0): 1, ledger.tag(2): 1})
    verdict = run_verify(ledger, sim)
    assert verdict.exactly_once is True and verdict.checked == 2
    assert ledger.tag(1) not in sim.asked[0]


def test_a_simulator_that_stopped_tracking_gives_no_verdict() -> None:
    ledger = ledger_of([True])
    verdict = run_verify(ledger, FakeSim({ledger.tag(0): 1}, overflow=True))
    assert verdict.exactly_once is None
    assert "stopped tracking" in verdict.reason


def test_a_ledger_past_its_capacity_gives_no_verdict() -> None:
    ledger = SubmitLedger("run1", capacity=2)
    for index in range(3):
        ledger.sent(index, True)
        ledger.accepted(index)
    assert ledger.overflow
    verdict = run_verify(ledger, FakeSim({ledger.tag(i): 1 for i in range(2)}))
    assert verdict.exactly_once is None


def test_counts_are_asked_in_batches() -> None:
    ledger = ledger_of([True] * 25)
    sim = FakeSim({ledger.tag(i): 1 for i in range(25)})
    clock = FakeTime()
    verdict = verify(ledger, sim, sleep=clock.sleep, monotonic=clock.monotonic, batch=10)
    assert verdict.exactly_once is True
    assert [len(batch) for batch in sim.asked] == [10, 10, 5]


@pytest.mark.parametrize(
    ("accepted", "unacknowledged", "expected"),
    [
        ({"a": 1, "b": 1}, {}, True),
        ({"a": 1, "b": 0}, {}, False),
        ({"a": 3}, {}, False),
        ({}, {"x": 1}, True),
    ],
)
def test_judge_table(
    accepted: dict[str, int], unacknowledged: dict[str, int], expected: bool
) -> None:
    assert judge(accepted, unacknowledged).exactly_once is expected


def test_ledger_lists_tags_of_accepted_and_unacknowledged_submits_in_order() -> None:
    ledger = ledger_of([True, False, True, True, False, False, False, False, True, False])
    assert list(ledger.accepted_tags()) == [ledger.tag(i) for i in (0, 2, 3, 8)]
    assert list(ledger.unacknowledged_tags()) == [ledger.tag(i) for i in (1, 4, 5, 6, 7, 9)]
    assert ledger.counts() == (10, 4)


def test_tags_have_one_length_within_a_run() -> None:
    ledger = SubmitLedger("q7")
    assert {len(ledger.tag(i)) for i in (0, 15, 2**32)} == {ledger.tag_length}


@pytest.mark.parametrize("run_id", ["", "a.b", "é1", "a-b"])
def test_a_run_id_is_ascii_letters_and_digits(run_id: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        SubmitLedger(run_id)
