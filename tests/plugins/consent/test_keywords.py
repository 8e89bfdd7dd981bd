"""Keywords through the plugin, across languages: what each does to consent and what it answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from plugins.api import MessageClass
from plugins.consent.store import EVENT_CONFIRM_ASKED, EVENT_DECLINED, EVENT_OPT_IN, EVENT_REVIEW
from tests.plugins.consent.harness import (
    BRAND,
    MODEM_NUMBER,
    SHORT_CODE,
    Consent,
    texts,
)

# The text, and the language of the brand's reply: STOP is shared by many
# languages, the rule set's default (sv) among them; the brand has no French
# or Spanish text, so ARRÊT and BAJA are answered in its default language.
OPT_OUT_TEXTS = [
    ("STOP", "sv"),
    ("stop!!", "sv"),
    ("Stop please", "sv"),
    ("ＳＴＯＰ", "sv"),
    ("Stop 🙏", "sv"),
    ("退订", "zh"),
    ("STOPP", "sv"),
    ("UIT", "nl"),
    ("ARRÊT", "sv"),
    ("BAJA", "sv"),
    ("please stop texting me", "sv"),
    ("UNSUBSCRIBE", "en"),
]


@pytest.mark.parametrize(("text", "language"), OPT_OUT_TEXTS)
def test_opt_out_words_opt_out_on_a_brand_number(
    consent: Consent, text: str, language: str
) -> None:
    outcome = consent.inbound(text)
    assert consent.status() == "opted_out"
    assert "opt-out" in outcome.tags
    assert outcome.forward is False
    [reply] = outcome.replies
    assert reply.message_class is MessageClass.TRANSACTIONAL
    assert reply.metadata["consent.template"] == "opt_out"
    assert reply.metadata["consent.language"] == language
    assert "Kaffebaren" in reply.text


@pytest.mark.parametrize("text", [text for text, _ in OPT_OUT_TEXTS])
def test_opt_out_words_opt_out_on_a_number_no_rule_set_covers(consent: Consent, text: str) -> None:
    outcome = consent.inbound(text, destination=MODEM_NUMBER)
    # The scope of an uncovered number is the number itself.
    assert consent.status(scope=MODEM_NUMBER) == "opted_out"
    assert consent.status() is None
    [reply] = outcome.replies
    assert reply.metadata["consent.template"] == "opt_out"
    assert reply.metadata["consent.version"] == "1"
    assert "Kaffebaren" not in reply.text


@pytest.mark.parametrize(
    ("text", "language", "fragment"),
    [
        ("STOP", "en", "no further messages from this number"),
        ("STOPP", "sv", "inga fler meddelanden"),
        ("UIT", "nl", "geen berichten meer"),
        ("ABMELDEN", "de", "keine weiteren Nachrichten"),
        ("ARRÊT", "fr", "ne recevrez plus"),
        ("BAJA", "es", "no recibirás más"),
        ("SAIR", "pt", "não receberá mais"),
        ("退订", "zh", "您已退订"),
    ],
)
def test_built_in_replies_speak_the_keyword_language(
    consent: Consent, text: str, language: str, fragment: str
) -> None:
    [reply] = consent.inbound(text, destination=MODEM_NUMBER).replies
    assert reply.metadata["consent.language"] == language
    assert fragment in reply.text


def test_help_works_on_every_number(consent: Consent) -> None:
    brand = consent.inbound("HELP")
    plain = consent.inbound("HJÄLP", destination=MODEM_NUMBER)
    assert "hej@kaffebaren.se" in texts(brand)[0]
    assert "STOPP" in texts(plain)[0]
    assert brand.replies[0].message_class is MessageClass.TRANSACTIONAL
    assert [row.event for row in consent.ledger()] == ["help", "help"]
    assert consent.status() is None


def test_cancel_my_order_opts_out_under_the_default_sentence_policy(consent: Consent) -> None:
    outcome = consent.inbound("cancel my order")
    assert consent.status() == "opted_out"
    assert consent.ledger()[0].reason == "opt-out word (sentence)"
    assert outcome.tags == ("opt-out",)


def test_cancel_my_order_is_flagged_for_review_when_the_policy_says_so(
    sqlite_engine: Engine,
) -> None:
    consent = Consent(sqlite_engine, {"default_keywords": {"sentence_opt_out": "review"}})
    outcome = consent.inbound("cancel my order", destination=MODEM_NUMBER)
    assert outcome.forward is True
    assert outcome.replies == ()
    assert outcome.tags == ("review",)
    assert consent.status(scope=MODEM_NUMBER) is None
    [row] = consent.ledger()
    assert row.event == EVENT_REVIEW
    assert "inside a sentence" in row.reason
    consent.stop()


def test_yes_without_a_pending_question_does_nothing(consent: Consent) -> None:
    outcome = consent.inbound("YES")
    assert outcome.forward is True
    assert outcome.replies == ()
    assert outcome.tags == ()
    assert consent.ledger() == []


def test_join_asks_and_ja_within_the_expiry_opts_in(consent: Consent) -> None:
    asked = consent.inbound("JOIN COFFEE")
    assert "Reply YES within 24 hours" in texts(asked)[0]
    assert asked.tags == ("confirm-asked",)
    assert consent.pending() == "join_coffee"
    assert consent.status("coffee") is None

    consent.advance(timedelta(hours=23))
    joined = consent.inbound("JA")
    assert joined.tags == ("opt-in",)
    # Asked in English (JOIN COFFEE): answered in English whatever the answer word.
    assert texts(joined)[0].startswith("Welcome to Kaffebaren Bonus!")
    assert consent.status("coffee") == "opted_in"
    assert consent.pending() is None
    events = [(row.event, row.programme, row.keyword) for row in consent.ledger()]
    assert events == [(EVENT_CONFIRM_ASKED, "coffee", "join"), (EVENT_OPT_IN, "coffee", "ja")]
    assert consent.ledger()[1].reason == "confirmed join_coffee"


def test_an_answer_after_the_expiry_joins_nothing(consent: Consent) -> None:
    consent.inbound("JOIN COFFEE")
    consent.advance(timedelta(hours=24, seconds=1))
    late = consent.inbound("YES")
    assert late.forward is True
    assert late.replies == ()
    assert consent.status("coffee") is None
    assert [row.event for row in consent.ledger()] == [EVENT_CONFIRM_ASKED]


def test_no_declines_and_withdraws_the_question(consent: Consent) -> None:
    consent.inbound("JOIN COFFEE")
    declined = consent.inbound("NO")
    assert declined.tags == ("declined",)
    assert texts(declined) == [
        "Kaffebaren: OK, you have not joined. You will get no messages from us."
    ]
    assert consent.pending() is None
    assert consent.status("coffee") is None
    assert consent.ledger()[-1].event == EVENT_DECLINED
    # The question is gone: a later YES is ordinary text.
    assert consent.inbound("YES").replies == ()


def test_stop_coffee_leaves_only_that_programme(consent: Consent) -> None:
    consent.inbound("JOIN COFFEE")
    consent.inbound("YES")
    left = consent.inbound("STOP COFFEE")
    assert "You have left Kaffebaren Bonus" in texts(left)[0]
    assert consent.status("coffee") == "opted_out"
    assert consent.status() is None
    # Still no opt-out of the brand: its marketing goes out.
    assert type(consent.outbound()).__name__ == "Accept"


def test_plain_stop_leaves_every_programme_and_withdraws_a_question(consent: Consent) -> None:
    consent.inbound("JOIN COFFEE")
    consent.inbound("YES")
    consent.inbound("JOIN COFFEE")  # a member: "already in"
    consent.inbound("STOP")
    assert consent.status() == "opted_out"
    assert consent.status("coffee") == "opted_out"
    consent.inbound("JOIN COFFEE")
    consent.inbound("STOP")
    assert consent.pending() is None
    assert consent.inbound("YES").replies == ()
    assert consent.status("coffee") == "opted_out"


def test_join_from_a_member_answers_already_member(consent: Consent) -> None:
    consent.inbound("JOIN COFFEE")
    consent.inbound("YES")
    again = consent.inbound("JOIN COFFEE")
    assert texts(again) == [
        "Kaffebaren: You are already in Kaffebaren Bonus. Text POINTS for your balance."
    ]
    assert len(consent.ledger()) == 2


def test_start_lifts_an_opt_out(consent: Consent) -> None:
    consent.inbound("STOP")
    resumed = consent.inbound("START")
    assert resumed.tags == ("opt-in",)
    assert consent.status() == "opted_in"
    assert texts(resumed) == [
        "Kaffebaren: Du får meddelanden från oss igen. Högst 4 sms/mån. Avgift enligt ditt"
        " abonnemang. HJÄLP för hjälp, STOPP för att avsluta."
    ]


def test_confirming_a_join_after_stop_lifts_the_stop(consent: Consent) -> None:
    consent.inbound("STOP")
    consent.inbound("JOIN COFFEE")
    consent.inbound("YES")
    assert consent.status("coffee") == "opted_in"
    assert consent.status() == "opted_in"
    assert consent.ledger()[-1].reason == "joined coffee"


def test_a_brand_keyword_is_left_to_the_loyalty_plugin(consent: Consent) -> None:
    consent.inbound("JOIN COFFEE")
    consent.inbound("YES")
    outcome = consent.inbound("KAFFE")
    assert outcome.forward is True
    assert outcome.replies == ()
    assert outcome.tags == ()
    assert len(consent.ledger()) == 2


def test_the_chinese_line_takes_a_lone_t_as_stop(consent: Consent) -> None:
    outcome = consent.inbound("T", destination="72001")
    assert consent.status() == "opted_out"
    assert texts(outcome)[0].startswith("【Kaffebaren】")


def test_the_same_subscriber_has_one_scope_per_brand(consent: Consent) -> None:
    consent.inbound("STOP", destination="72001")
    assert consent.status(scope=BRAND) == "opted_out"
    assert consent.status(scope=SHORT_CODE) is None
