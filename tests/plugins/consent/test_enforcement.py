"""The outbound hook: opt-outs refused, quiet hours deferred, caps counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from plugins.api import Accept, Defer, MessageClass, Refuse
from plugins.consent import OPTED_OUT_STATUS
from plugins.consent.store import LedgerEntry, record, set_status
from plugins.subscribers import ms
from tests.plugins.consent.harness import BRAND, MODEM_NUMBER, SUBSCRIBER, Consent

# A Miami number: Florida allows 08:00-20:00 and 3 marketing messages per 24 h.
FLORIDA = "13055551234"


def test_marketing_is_refused_after_stop_with_the_configured_status(consent_on: Consent) -> None:
    assert isinstance(consent_on.outbound(), Accept)
    consent_on.inbound("STOP")
    verdict = consent_on.outbound()
    assert isinstance(verdict, Refuse)
    assert verdict.command_status == OPTED_OUT_STATUS == 0x440
    assert verdict.answer == "status"
    assert BRAND in verdict.reason


def test_an_account_may_be_answered_with_a_receipt(engine: Engine) -> None:
    consent = Consent(engine, {"accounts": {"shop": "receipt"}, "opted_out_status": 0x00000450})
    consent.inbound("STOP")
    shop = consent.outbound(system_id="shop")
    other = consent.outbound(system_id="crm")
    assert isinstance(shop, Refuse) and isinstance(other, Refuse)
    assert (shop.answer, shop.command_status) == ("receipt", 0x450)
    assert other.answer == "status"
    consent.stop()


def test_transactional_messages_and_the_plugins_own_replies_pass(consent: Consent) -> None:
    consent.inbound("STOP")
    assert isinstance(consent.outbound(message_class=MessageClass.TRANSACTIONAL), Accept)
    own = consent.outbound(origin="consent", in_reply_to="mo-1")
    assert isinstance(own, Accept)
    # Another plugin's marketing reply is refused like any marketing.
    assert isinstance(consent.outbound(origin="loyalty"), Refuse)


def test_an_opt_out_blocks_every_sender_by_default(consent: Consent) -> None:
    # COMPLIANCE.md: one suppression list across all numbers, carriers and modems.
    consent.inbound("STOPP", destination="72000")
    for source in ("72000", "72999", MODEM_NUMBER, "Kaffebaren", "OtherBrand"):
        assert isinstance(consent.outbound(source=source), Refuse), source
    elsewhere = consent.outbound(source="72999")
    assert isinstance(elsewhere, Refuse)
    assert "every sender" in elsewhere.reason


def test_an_opt_out_from_a_number_no_rule_set_covers_blocks_the_brand_too(
    consent: Consent,
) -> None:
    consent.inbound("STOP", destination=MODEM_NUMBER)
    assert isinstance(consent.outbound(source="72000"), Refuse)
    assert isinstance(consent.outbound(source="Shop"), Refuse)


def test_scope_suppression_blocks_only_the_brands_numbers(sqlite_engine: Engine) -> None:
    consent = Consent(sqlite_engine, {"suppression": "scope"})
    consent.inbound("STOP", destination=MODEM_NUMBER)
    assert isinstance(consent.outbound(source=MODEM_NUMBER), Refuse)
    assert isinstance(consent.outbound(source="72000"), Accept)
    consent.stop()


def test_require_opt_in_refuses_numbers_that_never_opted_in(sqlite_engine: Engine) -> None:
    consent = Consent(sqlite_engine, {"require_opt_in": True})
    refused = consent.outbound()
    assert isinstance(refused, Refuse)
    assert "not opted in" in refused.reason
    consent.inbound("JOIN COFFEE")
    assert isinstance(consent.outbound(), Refuse)
    consent.inbound("YES")
    assert isinstance(consent.outbound(), Accept)
    consent.stop()


def test_an_accounts_marketing_belongs_to_its_scope(sqlite_engine: Engine) -> None:
    consent = Consent(sqlite_engine, {"account_scopes": {"shop": BRAND}, "suppression": "scope"})
    consent.inbound("STOP")
    assert isinstance(consent.outbound(source="KaffeShop", system_id="shop"), Refuse)
    assert isinstance(consent.outbound(source="KaffeShop", system_id="crm"), Accept)
    consent.stop()


def test_an_opt_out_made_elsewhere_is_enforced_after_the_refresh(consent_on: Consent) -> None:
    # An admin (or another gateway node) writes to the store directly.
    with consent_on.engine.begin() as conn:
        entry = LedgerEntry(SUBSCRIBER, BRAND, "", "opt_out", "admin:ops", ms(consent_on.now()))
        ledger_id = record(conn, entry)
        set_status(
            conn,
            number=SUBSCRIBER,
            scope=BRAND,
            programme="",
            status="opted_out",
            at=entry.at,
            ledger_id=ledger_id,
        )
    assert isinstance(consent_on.outbound(), Accept)
    consent_on.advance(timedelta(seconds=consent_on.config.index_refresh_seconds))
    assert isinstance(consent_on.outbound(), Refuse)


def test_the_index_is_loaded_from_the_store_at_start(engine: Engine) -> None:
    first = Consent(engine)
    first.inbound("STOP")
    first.stop()
    second = Consent(engine)
    assert isinstance(second.outbound(), Refuse)
    second.stop()


# -- quiet hours and caps ------------------------------------------------------------


def test_marketing_outside_the_recipients_hours_is_deferred_to_the_morning(
    sqlite_engine: Engine,
) -> None:
    # 21:30 UTC is 22:30 in Stockholm: the window (08-21) opens at 07:00 UTC.
    consent = Consent(sqlite_engine, at=datetime(2026, 3, 2, 21, 30, tzinfo=UTC))
    verdict = consent.outbound()
    assert isinstance(verdict, Defer)
    assert verdict.until == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert isinstance(consent.outbound(message_class=MessageClass.TRANSACTIONAL), Accept)
    consent.stop()


def test_a_stop_confirmation_is_sent_at_night(sqlite_engine: Engine) -> None:
    consent = Consent(sqlite_engine, at=datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    [reply] = consent.inbound("STOP").replies
    assert reply.message_class is MessageClass.TRANSACTIONAL
    consent.stop()


def test_switching_timing_off_accepts_at_night(sqlite_engine: Engine) -> None:
    consent = Consent(
        sqlite_engine,
        {"timing": {"enabled": False}},
        at=datetime(2026, 3, 2, 23, 0, tzinfo=UTC),
    )
    assert isinstance(consent.outbound(), Accept)
    consent.stop()


def test_a_scheduled_message_is_judged_at_its_schedule(sqlite_engine: Engine) -> None:
    consent = Consent(sqlite_engine, at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    late = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    verdict = consent.outbound(schedule_at=late)
    assert isinstance(verdict, Defer)
    assert verdict.until == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    consent.stop()


def test_caps_count_marketing_sends(engine: Engine) -> None:
    consent = Consent(engine, {"timing": {"caps": [{"count": 2, "per_hours": 24}]}})
    first = consent.outbound(message_id="m-a")
    consent.advance(timedelta(hours=1))
    second = consent.outbound(message_id="m-b")
    third = consent.outbound(message_id="m-c")
    assert isinstance(first, Accept) and isinstance(second, Accept)
    assert isinstance(third, Defer)
    # The first send leaves the 24 hours at 12:00 the next day (13:00 Stockholm).
    assert third.until == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    sends = consent.marketing_sends()
    assert [message_id for message_id, _ in sends] == ["m-a", "m-b", "m-c"]
    assert sends[-1][1] == ms(third.until)
    # Deciding again on the same message does not count it twice.
    again = consent.outbound(message_id="m-c")
    assert isinstance(again, Defer) and again.until == third.until
    assert len(consent.marketing_sends()) == 3
    consent.stop()


@pytest.mark.parametrize("hour", [15])
def test_florida_caps_apply_without_configuration(sqlite_engine: Engine, hour: int) -> None:
    # 15:00 UTC is 10:00 in Miami.
    consent = Consent(sqlite_engine, at=datetime(2026, 3, 2, hour, 0, tzinfo=UTC))
    verdicts = [consent.outbound(destination=FLORIDA) for _ in range(4)]
    assert [type(v).__name__ for v in verdicts] == ["Accept", "Accept", "Accept", "Defer"]
    assert len(consent.marketing_sends(FLORIDA)) == 4
    # No cap applies in Sweden by default: nothing is read or recorded.
    consent.outbound()
    assert consent.marketing_sends() == []
    consent.stop()
