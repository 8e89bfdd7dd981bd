"""Text that is no consent matter is answered without the store; compliance words still use it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine
from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

from plugins.api import InboundOutcome
from tests.plugins.consent.harness import Consent


class StoreDown(Exception):
    pass


def _store_down(_fn: Callable[[Connection], Any], /) -> Deferred[Any]:
    return fail(StoreDown("the store is unreachable"))


@pytest.fixture
def offline(engine: Engine) -> Consent:
    """The plugin with the example rule set whose every write fails."""
    consent = Consent(engine, start=False)
    consent.context = dataclasses.replace(consent.context, write=_store_down)
    consent.start()
    return consent


@pytest.mark.parametrize(
    "text",
    ["KAFFE", "POÄNG", "LÖS IN LATTE", "Hej! Har ni öppet på söndag?", "Tack för kaffet", ""],
)
def test_text_without_a_compliance_word_needs_no_store(offline: Consent, text: str) -> None:
    assert offline.inbound(text) == InboundOutcome()


@pytest.mark.parametrize(
    "text",
    [
        "STOPP",
        "START",
        "GÅ MED KAFFE",
        "JA",  # an answer when a question is pending: the state decides
        "HJÄLP",
        "please stop texting me",  # an opt-out word inside a sentence
    ],
)
def test_compliance_words_are_decided_on_the_stored_state(offline: Consent, text: str) -> None:
    failed: list[BaseException | None] = []

    def store_failed(failure: Failure) -> None:
        failed.append(failure.value)

    offline.plugin.inbound(offline.message(text)).addErrback(store_failed)
    assert len(failed) == 1 and isinstance(failed[0], StoreDown)


def test_consent_free_text_changes_nothing_in_the_ledger(engine: Engine) -> None:
    consent = Consent(engine)
    consent.inbound("GÅ MED KAFFE")
    consent.inbound("JA")
    before = consent.ledger()
    for text in ("KAFFE", "POÄNG", "Hej!"):
        assert consent.inbound(text) == InboundOutcome()
    assert consent.ledger() == before
