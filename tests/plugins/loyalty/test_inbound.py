"""Earning, balances, tiers, redeeming, referral and fraud limits, on a real store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from plugins.api import ReceiptEvent
from plugins.subscribers import ALL_PROGRAMMES, OPTED_OUT
from smppd.store.lifecycle import State
from smppd.store.models import points_ledger, referrals, reward_codes, subscriptions
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


def _redeemed_message_id(loyalty: Loyalty) -> str:
    _rich(loyalty)
    loyalty.add_codes("LATTE-1", "LATTE-2")
    loyalty.inbound("REDEEM latte", key="mo-redeem")
    with loyalty.engine.connect() as conn:
        message_id = conn.execute(
            select(reward_codes.c.message_id).where(reward_codes.c.code == "LATTE-1")
        ).scalar_one()
    assert message_id
    return str(message_id)


def _codes(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(reward_codes.c.code, reward_codes.c.issued_to).order_by(reward_codes.c.code)
        ).all()
    return [(str(code), issued_to) for code, issued_to in rows]


def test_a_code_reply_the_gateway_never_sent_restores_points_and_code(
    engine: Engine, tmp_path: Path
) -> None:
    loyalty = start(engine, tmp_path)
    message_id = _redeemed_message_id(loyalty)
    # Refused before any carrier had it (a plugin, no route): no carrier id.
    evt = ReceiptEvent(message_id=message_id, state=State.REJECTED, at=T0)
    loyalty.plugin.receipt(evt)
    loyalty.plugin.receipt(evt)  # twice: restored once
    assert loyalty.balance() == 110
    assert loyalty.ledger()[-2:] == [("spend", -100), ("restore", 100)]
    assert _codes(engine) == [("LATTE-1", None), ("LATTE-2", None)]
    assert "back in the pool" in _reasons(engine)[-1]
    # Nobody saw the code: it goes out again to the next who asks.
    again = loyalty.inbound("REDEEM latte", key="mo-redeem-2")
    assert "LATTE-1" in loyalty.texts(again)[0]


@pytest.mark.parametrize(
    ("state", "carrier_id"),
    [
        (State.UNDELIVERABLE, "c-1"),
        (State.EXPIRED, "c-1"),
        # The gateway's own expiry when the receipt never came: no carrier id.
        (State.EXPIRED, None),
        (State.REJECTED, "c-1"),
    ],
)
def test_a_code_a_carrier_had_is_retired_and_the_points_restored(
    engine: Engine, tmp_path: Path, state: State, carrier_id: str | None
) -> None:
    loyalty = start(engine, tmp_path)
    message_id = _redeemed_message_id(loyalty)
    evt = ReceiptEvent(message_id=message_id, state=state, at=T0, carrier_id=carrier_id)
    loyalty.plugin.receipt(evt)
    loyalty.plugin.receipt(evt)
    assert loyalty.balance() == 110
    assert loyalty.ledger()[-2:] == [("spend", -100), ("restore", 100)]
    # The code may still reach the member, or someone else: never handed out again.
    assert _codes(engine) == [("LATTE-1", ALICE), ("LATTE-2", None)]
    assert _reasons(engine)[-1] == (
        f"code message {message_id} not delivered: code LATTE-1 retired (not reissued)"
    )
    again = loyalty.inbound("REDEEM latte", key="mo-redeem-2")
    assert "LATTE-2" in loyalty.texts(again)[0]
    assert _codes(engine) == [("LATTE-1", ALICE), ("LATTE-2", ALICE)]


def test_a_retired_code_does_not_count_against_the_members_limit(
    engine: Engine, tmp_path: Path
) -> None:
    text = programme_text().replace(
        'validity.en = "for 30 days"', 'validity.en = "for 30 days"\nper_member = 1'
    )
    loyalty = start(engine, tmp_path, text)
    message_id = _redeemed_message_id(loyalty)
    loyalty.plugin.receipt(
        ReceiptEvent(message_id=message_id, state=State.UNDELIVERABLE, at=T0, carrier_id="c-1")
    )
    again = loyalty.inbound("REDEEM latte", key="mo-redeem-2")
    assert "LATTE-2" in loyalty.texts(again)[0]
    loyalty.add_codes("LATTE-3")
    loyalty.clock.advance(3600)
    for index in range(10):
        loyalty.clock.advance(600)
        loyalty.inbound("COFFEE", key=f"more-{index}")
    over = loyalty.inbound("REDEEM latte", key="mo-redeem-3")
    assert loyalty.texts(over) == [
        "Kaffebaren: You have had as many latte as one member may. Pick another reward."
    ]


def _reasons(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(points_ledger.c.reason)
            .where(points_ledger.c.kind == "restore")
            .order_by(points_ledger.c.id)
        ).all()
    return [str(reason) for (reason,) in rows]


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


def test_refer_a_number_that_opted_out_is_refused_and_not_counted(
    engine: Engine, tmp_path: Path
) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join(ALICE)
    loyalty.join(BOB, status="opted_out")
    outcome = loyalty.inbound("REFER +46701234568", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: +46701234568 cannot be invited. Thank you all the same!"
    ]
    assert loyalty.store.outbox == []
    with engine.connect() as conn:
        assert conn.execute(select(referrals.c.friend)).all() == []
    # Not counted: the cap (2) still allows two friends.
    for index, friend in enumerate(("+46701234569", "+46701234570")):
        referred = loyalty.inbound(f"REFER {friend}", key=f"mo-{index + 2}")
        assert loyalty.texts(referred)[0].startswith("Kaffebaren: Thanks! We have invited")


def test_refer_a_number_that_said_plain_stop_is_refused(engine: Engine, tmp_path: Path) -> None:
    loyalty = start(engine, tmp_path)
    loyalty.join(ALICE)
    with engine.begin() as conn:
        conn.execute(
            subscriptions.insert().values(
                number=BOB,
                scope="another brand",
                programme=ALL_PROGRAMMES,
                status=OPTED_OUT,
                language="sv",
                since=0,
                updated_at=0,
            )
        )
    outcome = loyalty.inbound("REFER +46701234568", key="mo-1")
    assert loyalty.texts(outcome) == [
        "Kaffebaren: +46701234568 cannot be invited. Thank you all the same!"
    ]


def test_invites_switched_off_record_the_referral_and_send_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    text = programme_text().replace('invite = "refer_invite"', "invite = false")
    loyalty = start(engine, tmp_path, text)
    loyalty.join(ALICE)
    outcome = loyalty.inbound("REFER +46701234568", key="mo-1")
    assert "referred" in outcome.tags
    assert loyalty.store.outbox == []
    loyalty.join(BOB)
    loyalty.inbound("POINTS", key="mo-2", source=BOB)
    assert loyalty.balance(ALICE) == 150


def test_tier_names_are_shown_in_the_replys_language(engine: Engine, tmp_path: Path) -> None:
    text = programme_text().replace(
        'name = "bronze"\n', 'name = "bronze"\nnames = { sv = "Brons", zh = "铜卡" }\n'
    )
    text = text.replace('name = "silver"\n', 'name = "silver"\nnames = { zh = "银卡" }\n')
    loyalty = start(engine, tmp_path, text)
    loyalty.join()
    assert loyalty.texts(loyalty.inbound("POÄNG", key="mo-1")) == [
        "Kaffebaren: Du har 50 poäng (Brons)."
    ]
    assert loyalty.texts(loyalty.inbound("等级", key="mo-2")) == [
        "【Kaffebaren】您的等级：铜卡。再得50分升级为银卡。"
    ]
    # A language without a name of its own: the tier's name.
    assert loyalty.texts(loyalty.inbound("POINTS", key="mo-3")) == [
        "Kaffebaren: You have 50 points (bronze)."
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
    text = programme_text(limits="repeat_limit = 1\nrepeat_window_minutes = 10")
    text = text.replace("repeat_limit = 30\n", "")
    loyalty = start(engine, tmp_path, text)
    loyalty.join()
    answers = []
    for index in range(5):
        loyalty.clock.advance(1)
        answers.append(loyalty.texts(loyalty.inbound("POINTS", key=f"mo-{index}")))
    assert answers == [["Kaffebaren: You have 50 points (bronze)."], [], [], [], []]
    # Another keyword is still answered, and earns.
    earned = loyalty.inbound("COFFEE", key="mo-earn")
    assert loyalty.texts(earned) == ["Kaffebaren: +10 points! Your balance is 60 points."]
    # The repeat of it has no effect.
    assert loyalty.inbound("COFFEE", key="mo-earn-again").replies == ()
    assert loyalty.balance() == 60
    loyalty.clock.advance(11 * 60)
    assert loyalty.texts(loyalty.inbound("POINTS", key="mo-later")) == [
        "Kaffebaren: You have 60 points (bronze)."
    ]


CONSENT_WORDS = ("YES", "JOIN COFFEE", "YES", "JOIN COFFEE", "STOP COFFEE", "HELP", "START")


def test_only_the_programmes_keywords_count_towards_the_rate_limit(
    engine: Engine, tmp_path: Path
) -> None:
    text = programme_text(limits="messages_per_minute = 3").replace(
        "messages_per_minute = 20\n", ""
    )
    loyalty = start(engine, tmp_path, text)
    loyalty.join()
    for index, word in enumerate(CONSENT_WORDS * 2):
        loyalty.clock.advance(1)
        loyalty.inbound(word, key=f"consent-{index}")
    answered = []
    for index, word in enumerate(("POINTS", "TIER", "REWARDS")):
        loyalty.clock.advance(1)
        answered.append(len(loyalty.inbound(word, key=f"ours-{index}").replies))
    assert answered == [1, 1, 1]


def test_a_limited_member_is_told_once_then_silence_then_answered_again(
    engine: Engine, tmp_path: Path
) -> None:
    text = programme_text(limits="messages_per_minute = 3").replace(
        "messages_per_minute = 20\n", ""
    )
    loyalty = start(engine, tmp_path, text)
    loyalty.join()
    for index, word in enumerate(("POINTS", "TIER", "REWARDS")):
        loyalty.clock.advance(1)
        loyalty.inbound(word, key=f"ours-{index}")
    loyalty.clock.advance(1)
    assert loyalty.texts(loyalty.inbound("COFFEE", key="over")) == [
        "Kaffebaren: Slow down! Please wait a while before sending more messages."
    ]
    loyalty.clock.advance(1)
    assert loyalty.inbound("POINTS", key="silent").replies == ()
    # A consent word in between is not ours: it neither counts nor is answered here.
    loyalty.clock.advance(1)
    assert loyalty.inbound("YES", key="yes").replies == ()
    assert loyalty.balance() == 50
    loyalty.clock.advance(61)
    assert loyalty.texts(loyalty.inbound("COFFEE", key="after")) == [
        "Kaffebaren: +10 points! Your balance is 60 points."
    ]


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
