"""The language of replies and of the subscriber, through the plugin and the store."""

from __future__ import annotations

from sqlalchemy import select

from smppd.store.models import pending_questions, subscriptions
from tests.plugins.consent.harness import BRAND, SUBSCRIBER, Consent, texts

DUTCH = "31612345678"
CHINESE = "8613800138000"
CHINESE_LINE = "72001"


def _language(consent: Consent, number: str, programme: str = "") -> str | None:
    with consent.engine.connect() as conn:
        found = conn.execute(
            select(subscriptions.c.language).where(
                subscriptions.c.number == number,
                subscriptions.c.scope == BRAND,
                subscriptions.c.programme == programme,
            )
        ).scalar_one_or_none()
    return None if found is None else str(found)


def test_the_question_is_stored_with_the_language_it_was_asked_in(consent: Consent) -> None:
    consent.inbound("AANMELDEN KOFFIE", source=DUTCH)
    with consent.engine.connect() as conn:
        row = conn.execute(
            select(pending_questions.c.question, pending_questions.c.language).where(
                pending_questions.c.number == DUTCH
            )
        ).one()
    assert tuple(row) == ("join_coffee", "nl")


def test_a_dutch_member_gets_the_dutch_welcome_after_ja(consent: Consent) -> None:
    asked = consent.inbound("AANMELDEN KOFFIE", source=DUTCH)
    assert asked.replies[0].metadata["consent.language"] == "nl"
    joined = consent.inbound("JA", source=DUTCH)
    [reply] = joined.replies
    assert reply.metadata["consent.language"] == "nl"
    assert reply.metadata["consent.template"] == "welcome"
    assert not texts(joined)[0].startswith("Välkommen")
    assert consent.ledger(DUTCH)[-1].language == "nl"
    assert _language(consent, DUTCH, "coffee") == "nl"


def test_nee_after_a_dutch_question_is_declined_in_dutch(consent: Consent) -> None:
    consent.inbound("AANMELDEN KOFFIE", source=DUTCH)
    [reply] = consent.inbound("NEE", source=DUTCH).replies
    assert reply.metadata["consent.language"] == "nl"


def test_td_then_start_on_the_chinese_line_stays_chinese(consent: Consent) -> None:
    stopped = consent.inbound("ＴＤ", source=CHINESE, destination=CHINESE_LINE)
    assert stopped.replies[0].metadata["consent.language"] == "zh"
    assert _language(consent, CHINESE) == "zh"
    started = consent.inbound("START", source=CHINESE, destination=CHINESE_LINE)
    assert started.replies[0].metadata["consent.language"] == "zh"
    assert _language(consent, CHINESE) == "zh"


def test_a_shared_word_from_an_unknown_subscriber_on_the_chinese_line_is_chinese(
    consent: Consent,
) -> None:
    for text in ("STOP", "HELP"):
        outcome = consent.inbound(text, source=CHINESE, destination=CHINESE_LINE)
        assert outcome.replies[0].metadata["consent.language"] == "zh", text
    assert _language(consent, CHINESE) == "zh"


def test_shi_de_confirms_a_chinese_join(consent: Consent) -> None:
    asked = consent.inbound("加入咖啡", source=CHINESE, destination=CHINESE_LINE)
    assert asked.tags == ("confirm-asked",)
    joined = consent.inbound("是的", source=CHINESE, destination=CHINESE_LINE)
    assert joined.tags == ("opt-in",)
    assert joined.replies[0].metadata["consent.language"] == "zh"
    assert consent.status("coffee", number=CHINESE) == "opted_in"


def test_the_swedish_line_still_answers_stop_in_swedish(consent: Consent) -> None:
    [reply] = consent.inbound("STOP", source=SUBSCRIBER).replies
    assert reply.metadata["consent.language"] == "sv"
