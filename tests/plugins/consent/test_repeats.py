"""Repeated HELP and JOIN: one reply, then silence for ``repeat_reply_seconds``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from plugins.consent.store import EVENT_CONFIRM_ASKED, EVENT_HELP
from tests.plugins.consent.harness import Consent

OTHER = "46709990001"


def test_twelve_helps_get_one_reply(consent: Consent) -> None:
    outcomes = [consent.inbound("HELP") for _ in range(12)]
    assert [len(o.replies) for o in outcomes] == [1] + [0] * 11
    assert outcomes[1].tags == ("help", "repeat-silenced")
    assert all(o.forward is False for o in outcomes)
    rows = consent.ledger()
    # Every request is evidence; only the first was shown a text.
    assert [row.event for row in rows] == [EVENT_HELP] * 12
    assert [row.shown_text is not None for row in rows] == [True] + [False] * 11


def test_seven_joins_get_one_question(consent: Consent) -> None:
    outcomes = [consent.inbound("JOIN COFFEE") for _ in range(7)]
    assert [len(o.replies) for o in outcomes] == [1] + [0] * 6
    assert [row.event for row in consent.ledger()] == [EVENT_CONFIRM_ASKED] * 7
    assert consent.pending() == "join_coffee"
    # The YES still joins, and is answered.
    joined = consent.inbound("YES")
    assert joined.tags == ("opt-in",) and len(joined.replies) == 1


def test_help_is_answered_again_once_the_window_has_passed(consent: Consent) -> None:
    window = timedelta(seconds=consent.config.repeat_reply_seconds)
    assert len(consent.inbound("HELP").replies) == 1
    consent.advance(window - timedelta(seconds=1))
    assert consent.inbound("HELP").replies == ()
    consent.advance(timedelta(seconds=1))
    assert len(consent.inbound("HELP").replies) == 1
    # The window runs from the reply shown, not from the silenced ones.
    consent.advance(window - timedelta(seconds=1))
    assert consent.inbound("HELP").replies == ()


def test_the_silence_is_per_number(consent: Consent) -> None:
    assert len(consent.inbound("HELP").replies) == 1
    assert len(consent.inbound("HELP", source=OTHER).replies) == 1


def test_stop_keeps_its_own_rule(consent: Consent) -> None:
    assert len(consent.inbound("HELP").replies) == 1
    assert len(consent.inbound("STOP").replies) == 1
    assert consent.inbound("STOP").replies == ()
    # HELP after STOP is still within the HELP window.
    assert consent.inbound("HELP").replies == ()


def test_a_repeated_message_rebuilds_its_silence(consent: Consent) -> None:
    consent.inbound("HELP")
    quiet = consent.message("HELP", key="mo-again")
    assert consent.handle(quiet).replies == ()
    again = consent.handle(quiet)
    assert again.replies == ()
    assert "repeated" in again.tags


def test_zero_answers_every_request(sqlite_engine: Engine) -> None:
    consent = Consent(sqlite_engine, {"repeat_reply_seconds": 0})
    assert [len(consent.inbound("HELP").replies) for _ in range(3)] == [1, 1, 1]
    consent.stop()
