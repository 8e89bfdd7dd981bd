"""Points expiry, expiry reminders and birthday bonuses, driven by the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, update

from smppd.store.models import loyalty_members
from tests.plugins.loyalty.helpers import ALICE, programme_text, start

INTERVAL = 600.0


def test_points_expire_once_at_year_end(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path, programme_text(expiry='policy = "year_end"'))
    loyalty.join()
    loyalty.inbound("COFFEE", key="mo-1")
    loyalty.inbound("POINTS", key="mo-2")
    assert loyalty.balance() == 60
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 60  # not yet
    # 2027-01-01 00:00 in Stockholm is 2026-12-31 23:00 UTC.
    loyalty.advance_to(datetime(2026, 12, 31, 23, 5, tzinfo=UTC))
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 0
    loyalty.clock.advance(INTERVAL)
    assert loyalty.ledger() == [("bonus", 50), ("earn", 10), ("expire", -60)]


def test_only_unspent_points_expire(engine: Engine, tmp_path: Path) -> None:
    expiry = 'policy = "after_days"\ndays = 30'
    loyalty = start(engine, tmp_path, programme_text(expiry=expiry))
    loyalty.join()
    for index in range(6):
        loyalty.clock.advance(60)
        loyalty.inbound("COFFEE", key=f"earn-{index}")
    loyalty.add_codes("LATTE-1")
    loyalty.inbound("REDEEM latte", key="mo-redeem")  # 110 - 100
    loyalty.clock.advance(20 * 86_400)
    loyalty.inbound("COFFEE", key="late")  # lapses ten days after the others
    assert loyalty.balance() == 20
    loyalty.clock.advance(11 * 86_400)
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 10  # the older ten are gone, the late ten stay
    loyalty.clock.advance(20 * 86_400)
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 0
    assert [entry for entry in loyalty.ledger() if entry[0] == "expire"] == [
        ("expire", -10),
        ("expire", -10),
    ]


def test_expiry_reminder_before_the_points_lapse(engine: Engine, tmp_path: Path) -> None:
    expiry = 'policy = "after_days"\ndays = 30\nreminder_days = 7\nreminder = "points_expiring"'
    loyalty = start(engine, tmp_path, programme_text(expiry=expiry))
    loyalty.join()
    loyalty.inbound("COFFEE", key="mo-1")
    loyalty.clock.advance(INTERVAL)
    assert loyalty.store.outbox == []
    loyalty.clock.advance(24 * 86_400)
    loyalty.clock.advance(INTERVAL)
    loyalty.clock.advance(INTERVAL)
    texts = [sent.text for sent in loyalty.store.outbox]
    assert texts == [
        "Kaffebaren: 60 av dina poäng går ut 2026-04-01. Använd dem: skicka BELÖNINGAR."
        " Svara STOPP för att avsluta."
    ]
    assert loyalty.store.outbox[0].destination == ALICE


def test_birthday_bonus_once_a_year_with_its_message(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    loyalty.inbound("BIRTHDAY 03-03", key="mo-1")
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 50
    loyalty.advance_to(datetime(2026, 3, 3, 7, 0, tzinfo=UTC))
    loyalty.clock.advance(INTERVAL)
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 75
    assert [sent.key for sent in loyalty.store.outbox] == [f"birthday:coffee:{ALICE}:2026"]
    assert loyalty.store.outbox[0].text.startswith("Kaffebaren: Grattis på födelsedagen!")
    loyalty.advance_to(datetime(2027, 3, 3, 7, 0, tzinfo=UTC))
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 100


def test_no_birthday_bonus_for_a_member_who_left(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    loyalty.inbound("POINTS", key="mo-1")
    with engine.begin() as conn:
        conn.execute(update(loyalty_members).values(birthday="03-03"))
    loyalty.join(status="opted_out")
    loyalty.advance_to(datetime(2026, 3, 3, 7, 0, tzinfo=UTC))
    loyalty.clock.advance(INTERVAL)
    assert loyalty.balance() == 50
    assert loyalty.store.outbox == []


def test_stop_disarms_the_clock(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    assert len(loyalty.clock.getDelayedCalls()) == 1
    loyalty.plugin.stop()
    assert loyalty.clock.getDelayedCalls() == []
