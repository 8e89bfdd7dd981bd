"""Every cap of an earn rule and its cooldown, checked together in one look at the ledger."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.plugins.loyalty.helpers import programme_text, start

LIMITED = "Kaffebaren: You have already earned points for that recently."


def test_day_and_week_caps_and_the_cooldown_each_hold(engine: Engine, tmp_path: Path) -> None:
    earn = "per_day = 2\nper_week = 3\ncooldown_minutes = 10"
    loyalty = start(engine, tmp_path, programme_text(earn=earn))
    loyalty.join()
    balances: list[int | None] = []
    refused: list[bool] = []

    def coffee(key: str, after_seconds: float) -> None:
        loyalty.clock.advance(after_seconds)
        outcome = loyalty.inbound("COFFEE", key=key)
        balances.append(loyalty.balance())
        refused.append(loyalty.texts(outcome)[0].startswith(LIMITED))

    coffee("mo-1", 0)  # Monday 13:00 local: earns
    coffee("mo-2", 5 * 60)  # within the cooldown
    coffee("mo-3", 6 * 60)  # the day's second
    coffee("mo-4", 11 * 60)  # over the day's cap
    coffee("mo-5", 86_400)  # Tuesday: the week's third
    coffee("mo-6", 3_600)  # over the week's cap
    coffee("mo-7", 6 * 86_400)  # the next Monday: a new week
    assert balances == [60, 60, 70, 70, 80, 80, 90]
    assert refused == [False, True, False, True, False, True, False]


def test_a_rule_without_caps_or_cooldown_earns_every_time(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path, programme_text())
    loyalty.join()
    for index in range(3):
        loyalty.inbound("COFFEE", key=f"mo-{index}")
    assert loyalty.balance() == 80
    assert loyalty.ledger() == [("bonus", 50), ("earn", 10), ("earn", 10), ("earn", 10)]
