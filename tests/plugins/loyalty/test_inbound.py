"""Earning, balances, tiers, redeeming, referral and fraud limits, on a real store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from plugins.api import ReceiptEvent
from smppd.store.lifecycle import State
from smppd.store.models import referrals, reward_codes
from tests.plugins.loyalty.helpers import ALICE, BOB, T0, Loyalty, programme_text, start


def test_earn_awards_points_and_replies_with_the_balance(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    outcome = loyalty.inbound("COFFEE", key="mo-1")
    # 50 for joining, 10 for the coffee.
    assert loyalty.texts(outcome) == ["Kaffebaren: +10 points! Your balance is 60 points."]
    assert outcome.forward is False
    assert loyalty.balance() == 60
    assert loyalty.ledger() == [("bonus", 50), ("earn", 10)]


def test_the_same_inbound_message_twice_awards_once(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    first = loyalty.inbound("KAFFE", key="mo-1")
    again = loyalty.inbound("KAFFE", key="mo-1")
    assert loyalty.balance() == 60
    assert loyalty.ledger() == [("bonus", 50), ("earn", 10)]
    assert loyalty.texts(again) == loyalty.texts(first)
    assert loyalty.texts(first) == ["Kaffebaren: +10 poäng! Ditt saldo är 60 poäng."]


def test_a_non_member_earns_nothing_and_is_told_once_a_day(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    first = loyalty.inbound("COFFEE", key="mo-1")
    second = loyalty.inbound("COFFEE", key="mo-2")
    assert loyalty.texts(first) == ["Kaffebaren: Join our rewards first: reply JOIN COFFEE."]
    assert second.replies == ()
    assert loyalty.balance() is None
    assert loyalty.ledger() == []
    loyalty.clock.advance(86_400)
    assert len(loyalty.inbound("COFFEE", key="mo-3").replies) == 1


def test_an_opted_out_member_earns_nothing(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    loyalty.inbound("COFFEE", key="mo-1")
    loyalty.join(status="opted_out")
    loyalty.clock.advance(3600)
    loyalty.inbound("COFFEE", key="mo-2")
    assert loyalty.balance() == 60


def test_per_day_cap(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path, programme_text(earn="per_day = 2"))
    loyalty.join()
    for index in range(3):
        outcome = loyalty.inbound("COFFEE", key=f"mo-{index}")
    assert loyalty.balance() == 70
    assert loyalty.texts(outcome) == [
        "Kaffebaren: You have already earned points for that recently. Your balance is 70 points."
    ]
    # The next local day counts afresh.
    loyalty.clock.advance(86_400)
    loyalty.inbound("COFFEE", key="mo-next-day")
    assert loyalty.balance() == 80


def test_cooldown(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path, programme_text(earn="cooldown_minutes = 10"))
    loyalty.join()
    loyalty.inbound("COFFEE", key="mo-1")
    loyalty.clock.advance(9 * 60)
    loyalty.inbound("COFFEE", key="mo-2")
    assert loyalty.balance() == 60
    loyalty.clock.advance(60)
    loyalty.inbound("COFFEE", key="mo-3")
    assert loyalty.balance() == 70


def test_active_window_hours_and_weekdays(engine: Engine, tmp_path: Path) -> None:
    earn = 'opens = 07:00:00\ncloses = 12:00:00\nweekdays = ["mon", "tue"]'
    loyalty = start(engine, tmp_path, programme_text(earn=earn))
    loyalty.join()
    # 13:00 local: closed.
    outcome = loyalty.inbound("COFFEE", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: That earns no points right now. Your balance is 50 points."
    ]
    loyalty.advance_to(datetime(2026, 3, 3, 8, 0, tzinfo=UTC))  # Tuesday 09:00 local
    loyalty.inbound("COFFEE", key="mo-2")
    assert loyalty.balance() == 60
    loyalty.advance_to(datetime(2026, 3, 4, 8, 0, tzinfo=UTC))  # Wednesday
    loyalty.inbound("COFFEE", key="mo-3")
    assert loyalty.balance() == 60


def test_campaign_dates(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path, programme_text(earn="starts = 2026-03-03"))
    loyalty.join()
    loyalty.inbound("COFFEE", key="mo-1")
    assert loyalty.balance() == 50
    loyalty.clock.advance(86_400)
    loyalty.inbound("COFFEE", key="mo-2")
    assert loyalty.balance() == 60


def test_campaign_budget_is_shared_by_all_members(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path, programme_text(earn="budget = 20"))
    loyalty.join(ALICE)
    loyalty.join(BOB)
    loyalty.inbound("COFFEE", key="mo-1", source=ALICE)
    loyalty.inbound("COFFEE", key="mo-2", source=BOB)
    loyalty.clock.advance(3600)
    loyalty.inbound("COFFEE", key="mo-3", source=ALICE)
    assert (loyalty.balance(ALICE), loyalty.balance(BOB)) == (60, 60)


def test_tier_up_adds_the_tier_reply(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    texts = []
    for index in range(5):
        loyalty.clock.advance(60)
        texts.append(loyalty.texts(loyalty.inbound("COFFEE", key=f"mo-{index}")))
    # 50 + 5 x 10 = 100: silver on the fifth.
    assert texts[3] == ["Kaffebaren: +10 points! Your balance is 90 points."]
    assert texts[4] == [
        "Kaffebaren: +10 points! Your balance is 100 points.",
        "Kaffebaren: Congratulations, you are now Silver! You earn points faster.",
    ]
    tier = loyalty.texts(loyalty.inbound("TIER", key="mo-tier"))
    assert tier == ["Kaffebaren: Your tier is silver. 0 points to go to -."]


def test_balance_and_rewards_list(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    assert loyalty.texts(loyalty.inbound("POINTS", key="mo-1")) == [
        "Kaffebaren: You have 50 points (bronze)."
    ]
    assert loyalty.texts(loyalty.inbound("REWARDS", key="mo-2")) == [
        "Kaffebaren: Rewards (points): latte 100. You have 50 points. Write REDEEM and the reward."
    ]


def _rich(loyalty: Loyalty) -> None:
    loyalty.join()
    for index in range(6):
        loyalty.clock.advance(60)
        loyalty.inbound("COFFEE", key=f"earn-{index}")
    assert loyalty.balance() == 110


def test_redeem_takes_points_and_hands_out_the_oldest_code(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    _rich(loyalty)
    loyalty.add_codes("LATTE-1", "LATTE-2")
    outcome = loyalty.inbound("REDEEM latte", key="mo-redeem")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: Here is your latte! Show code LATTE-1 at the till. Valid for 30 days."
        " Balance: 10 points."
    ]
    assert loyalty.balance() == 10
    with engine.connect() as conn:
        issued = conn.execute(
            select(reward_codes.c.code, reward_codes.c.issued_to).where(
                reward_codes.c.issued_to.is_not(None)
            )
        ).all()
    assert [tuple(row) for row in issued] == [("LATTE-1", ALICE)]
    # The same message again: the same code, no second spend.
    again = loyalty.inbound("REDEEM latte", key="mo-redeem")
    assert loyalty.texts(again) == loyalty.texts(outcome)
    assert loyalty.balance() == 10


def test_redeem_without_enough_points(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    loyalty.add_codes("LATTE-1")
    outcome = loyalty.inbound("REDEEM latte", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: latte costs 100 points and you have 50. You need 50 more."
    ]
    assert loyalty.balance() == 50


def test_redeem_from_an_empty_pool_leaves_the_points(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    _rich(loyalty)
    outcome = loyalty.inbound("REDEEM latte", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: latte is out of stock for now. Your points are untouched (110)."
        " Try again later."
    ]
    assert loyalty.balance() == 110


def test_redeem_an_unknown_reward_lists_the_rewards(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    outcome = loyalty.inbound("REDEEM espresso", key="mo-1")
    assert loyalty.texts(outcome)[0].startswith("Kaffebaren: Rewards (points): latte 100.")


def test_redeem_in_chinese_by_the_rewards_chinese_name(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    _rich(loyalty)
    loyalty.add_codes("LATTE-1")
    outcome = loyalty.inbound("兑换拿铁", key="mo-1")
    assert "LATTE-1" in loyalty.texts(outcome)[0]
    assert loyalty.texts(outcome)[0].startswith("【Kaffebaren】")


def test_a_code_reply_not_delivered_restores_points_and_code(
    engine: Engine, tmp_path: Path
) -> None:
    loyalty = start(engine, tmp_path)
    _rich(loyalty)
    loyalty.add_codes("LATTE-1")
    loyalty.inbound("REDEEM latte", key="mo-redeem")
    with engine.connect() as conn:
        message_id = conn.execute(select(reward_codes.c.message_id)).scalar_one()
    assert message_id
    evt = ReceiptEvent(message_id=message_id, state=State.REJECTED, at=T0)
    loyalty.plugin.receipt(evt)
    loyalty.plugin.receipt(evt)  # twice: restored once
    assert loyalty.balance() == 110
    assert loyalty.ledger()[-2:] == [("spend", -100), ("restore", 100)]
    with engine.connect() as conn:
        code = conn.execute(select(reward_codes.c.issued_to, reward_codes.c.message_id)).one()
    assert tuple(code) == (None, None)
    # The code goes out again to the next who asks.
    again = loyalty.inbound("REDEEM latte", key="mo-redeem-2")
    assert "LATTE-1" in loyalty.texts(again)[0]


def test_a_delivered_code_stays_spent(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    _rich(loyalty)
    loyalty.add_codes("LATTE-1")
    loyalty.inbound("REDEEM latte", key="mo-redeem")
    with engine.connect() as conn:
        message_id = conn.execute(select(reward_codes.c.message_id)).scalar_one()
    loyalty.plugin.receipt(ReceiptEvent(message_id=message_id, state=State.DELIVERED, at=T0))
    assert loyalty.balance() == 10


def test_refer_yourself_is_refused(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    outcome = loyalty.inbound("REFER +46701234567", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: You cannot refer yourself. Write REFER and a friend's number."
    ]


def test_refer_an_existing_member_is_refused(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join(ALICE)
    loyalty.join(BOB)
    outcome = loyalty.inbound("REFER 0701234568", key="mo-1")
    assert loyalty.texts(outcome) == ["Kaffebaren: +46701234568 is already in Kaffebaren Bonus."]


def test_refer_awards_both_only_after_the_friend_joins(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join(ALICE)
    # A national number takes the sender's country.
    outcome = loyalty.inbound("TIPSA 070-123 45 68", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: Tack! Vi har bjudit in +46701234568. Du får poäng när hen har gått med."
    ]
    invite = loyalty.store.outbox
    assert [(s.destination, s.key) for s in invite] == [(BOB, "refer-invite:coffee:" + BOB)]
    assert loyalty.balance(ALICE) == 50
    # Bob writes before opting in: nothing yet.
    loyalty.inbound("hello", key="mo-2", source=BOB)
    assert loyalty.balance(ALICE) == 50
    assert loyalty.balance(BOB) is None
    # Bob's YES was handled by the consent plugin; his next message settles it.
    loyalty.join(BOB)
    loyalty.inbound("YES", key="mo-3", source=BOB)
    loyalty.inbound("YES", key="mo-4", source=BOB)
    assert loyalty.balance(ALICE) == 150
    assert loyalty.balance(BOB) == 100  # join bonus and friend bonus
    with engine.connect() as conn:
        confirmed = conn.execute(select(referrals.c.confirmed_at)).scalar_one()
    assert confirmed is not None
    again = loyalty.inbound("REFER +46701234568", key="mo-5")
    assert loyalty.texts(again) == ["Kaffebaren: +46701234568 is already in Kaffebaren Bonus."]


def test_refer_twice_and_over_the_cap(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join(ALICE)
    loyalty.inbound("REFER +46701234568", key="mo-1")
    twice = loyalty.inbound("REFER +46701234568", key="mo-2")
    assert loyalty.texts(twice) == ["Kaffebaren: +46701234568 has already been referred."]
    loyalty.inbound("REFER +46701234569", key="mo-3")
    over = loyalty.inbound("REFER +46701234570", key="mo-4")
    assert loyalty.texts(over) == [
        "Kaffebaren: Thank you! You have referred as many friends as one member may."
    ]


def test_birthday_is_saved(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    outcome = loyalty.inbound("FÖDELSEDAG 3-14", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: Tack! Vi firar dig den 03-14 (månad-dag) med bonuspoäng."
    ]
    wrong = loyalty.inbound("BIRTHDAY 14-03", key="mo-2")
    assert loyalty.texts(wrong) == [
        "Kaffebaren: Write BIRTHDAY and month-day, e.g. BIRTHDAY 03-14."
    ]


def test_repeated_keyword_gets_one_reply_then_silence(engine: Engine, tmp_path: Path) -> None:
    text = programme_text(limits="repeat_limit = 3\nrepeat_window_minutes = 10")
    text = text.replace("repeat_limit = 30\n", "")
    loyalty = start(engine, tmp_path, text)
    loyalty.join()
    answers = []
    for index in range(6):
        loyalty.clock.advance(1)
        answers.append(loyalty.texts(loyalty.inbound("POINTS", key=f"mo-{index}")))
    assert answers[:3] == [["Kaffebaren: You have 50 points (bronze)."]] * 3
    assert answers[3] == [
        "Kaffebaren: Slow down! Please wait a while before sending more messages."
    ]
    assert answers[4:] == [[], []]
    # Silence holds for the earn keyword too: no points while limited.
    loyalty.inbound("COFFEE", key="mo-earn")
    assert loyalty.balance() == 50
    loyalty.clock.advance(11 * 60)
    loyalty.inbound("COFFEE", key="mo-later")
    assert loyalty.balance() == 60


def test_inbound_rate_limit_per_sender(engine: Engine, tmp_path: Path) -> None:
    text = programme_text(limits="messages_per_minute = 2").replace(
        "messages_per_minute = 20\n", ""
    )
    loyalty = start(engine, tmp_path, text)
    loyalty.join(ALICE)
    loyalty.join(BOB)
    replies = [len(loyalty.inbound("POINTS", key=f"a-{i}").replies) for i in range(4)]
    assert replies == [1, 1, 1, 0]  # two answers, one "slow down", silence
    # Another sender is not affected.
    assert len(loyalty.inbound("POINTS", key="b-1", source=BOB).replies) == 1


def test_messages_to_other_numbers_are_not_ours(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join()
    from plugins.api import FORWARD, Channel, InboundMessage

    msg = InboundMessage(
        source=ALICE,
        destination="99999",
        text="COFFEE",
        received_at=T0,
        channel=Channel.SMPP,
        connector="c",
        idempotency_key="mo-x",
    )
    assert loyalty.plugin.inbound(msg) is FORWARD
