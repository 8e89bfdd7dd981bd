"""The consent ledger as evidence: what each row holds, and each message recorded once."""

from __future__ import annotations

from datetime import timedelta

from plugins.consent.store import EVENT_OPT_OUT
from plugins.subscribers import ms
from tests.plugins.consent.harness import BRAND, SUBSCRIBER, T0, Consent, texts


def test_a_row_records_who_when_how_and_the_exact_text_shown(consent_on: Consent) -> None:
    outcome = consent_on.inbound("Stop please", key="mo-stop")
    [row] = consent_on.ledger()
    assert row.number == SUBSCRIBER
    assert row.scope == BRAND
    assert row.programme == ""
    assert row.event == EVENT_OPT_OUT
    assert row.actor == "subscriber"
    assert row.keyword == "stop"
    assert row.original_text == "Stop please"
    assert (row.channel, row.sender, row.connector) == ("smpp", "72000", "carrier-a")
    assert row.carrier_reference == "ref-1"
    assert row.shown_text == texts(outcome)[0]
    assert (row.template, row.template_version, row.language) == ("opt_out", 1, "sv")
    assert row.inbound_key == "mo-stop"
    assert row.at == ms(T0)
    assert row.reason == "opt-out word (first_word)"


def test_the_same_inbound_twice_records_each_event_once_and_answers_alike(
    consent_on: Consent,
) -> None:
    first = consent_on.inbound("JOIN COFFEE", key="mo-join")
    consent_on.inbound("YES", key="mo-yes")
    again = consent_on.inbound("JOIN COFFEE", key="mo-join")
    assert texts(again) == texts(first)
    assert again.replies[0].metadata == first.replies[0].metadata
    assert "repeated" in again.tags
    assert [row.inbound_key for row in consent_on.ledger()] == ["mo-join", "mo-yes"]
    # Nothing changed by the repeat: still a member, no new question.
    assert consent_on.status("coffee") == "opted_in"
    assert consent_on.pending() is None


def test_a_repeated_stop_answers_the_confirmation_it_gave(consent_on: Consent) -> None:
    first = consent_on.inbound("STOP", key="mo-1")
    second = consent_on.inbound("STOP", key="mo-1")
    assert texts(second) == texts(first)
    assert second.replies[0].message_class is first.replies[0].message_class
    assert len(consent_on.ledger()) == 1


def test_a_second_stop_gets_no_second_confirmation_within_a_day(consent_on: Consent) -> None:
    assert consent_on.inbound("STOP").replies
    consent_on.advance(timedelta(hours=23))
    repeated = consent_on.inbound("STOP")
    assert repeated.replies == ()
    assert repeated.tags == ("opt-out",)
    rows = consent_on.ledger()
    assert [row.shown_text is None for row in rows] == [False, True]
    consent_on.advance(timedelta(hours=2))
    assert consent_on.inbound("STOPP").replies


def test_a_number_never_subscribed_is_confirmed_and_recorded(consent_on: Consent) -> None:
    outcome = consent_on.inbound("STOP", source="+46 70-111 22 33")
    assert outcome.replies
    assert consent_on.status(number="46701112233") == "opted_out"


def test_ledger_rows_are_only_ever_added(consent_on: Consent) -> None:
    consent_on.inbound("JOIN COFFEE")
    before = consent_on.ledger()
    consent_on.inbound("YES")
    consent_on.inbound("STOP")
    consent_on.inbound("START")
    after = consent_on.ledger()
    assert after[: len(before)] == before
    assert [row.event for row in after] == ["confirm_asked", "opt_in", "opt_out", "opt_in"]
