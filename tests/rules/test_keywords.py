"""Compliance keywords across languages, through the engine, on the example rule set."""

from __future__ import annotations

import pytest

from rules import (
    DEFAULT_KEYWORDS,
    FCC_REVOCATION_WORDS,
    FlagForReview,
    Forward,
    Help,
    KeywordAction,
    NoMatch,
    OptOut,
    Reply,
    RuleSet,
    SubscriberState,
    evaluate,
    keyword_form,
)
from tests.rules.conftest import NOW, minimal

MEMBER = SubscriberState(programmes=frozenset({"coffee"}))


def _opt_out(decisions: tuple[object, ...]) -> OptOut | None:
    found = [d for d in decisions if isinstance(d, OptOut)]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("STOP", "sv"),  # shared by many languages: the rule set's default wins
        ("ＳＴＯＰ", "sv"),
        ("ｓｔｏｐ", "sv"),
        ("Stop 🙏", "sv"),
        ("stop!!", "sv"),
        ("STOP.", "sv"),
        ("STOPALL", "en"),
        ("stop all", "en"),
        ("UNSUBSCRIBE", "en"),
        ("Opt out", "en"),
        ("OPT-OUT", "en"),
        ("optout", "en"),
        ("CANCEL", "en"),
        ("End", "en"),
        ("quit", "en"),
        ("REVOKE", "en"),
        ("remove", "en"),
        ("STOPP", "sv"),
        ("Avsluta", "sv"),
        ("UIT", "nl"),
        ("afmelden", "nl"),
        ("ABMELDEN", "de"),
        ("ARRÊT", "fr"),
        ("ARRET", "fr"),
        ("arrête", "fr"),
        ("BAJA", "es"),
        ("Cancelar", "es"),
        ("SAIR", "pt"),
        ("TD", "zh"),
        ("ＴＤ", "zh"),
        ("td", "zh"),
        ("退订", "zh"),
        ("退订！", "zh"),
        ("取消", "zh"),
        ("停止", "zh"),
    ],
)
def test_an_opt_out_word_alone_opts_out_of_everything(
    coffee: RuleSet, text: str, language: str
) -> None:
    decisions = evaluate(text, MEMBER, coffee, NOW, destination="72000")
    opt_out = _opt_out(decisions)
    assert opt_out is not None
    assert (opt_out.scope, opt_out.programme, opt_out.how) == ("all", None, "exact")
    assert opt_out.language == language
    assert Reply("opt_out", language) in decisions
    assert decisions[-1] == Forward(False)


@pytest.mark.parametrize("text", ["Stop please", "STOP texting me", "Stopp nu!", "退订谢谢"])
def test_a_strong_opt_out_word_opening_a_message_opts_out(coffee: RuleSet, text: str) -> None:
    opt_out = _opt_out(evaluate(text, MEMBER, coffee, NOW))
    assert opt_out is not None
    assert (opt_out.scope, opt_out.how) == ("all", "first_word")


@pytest.mark.parametrize(
    "text",
    [
        "please stop texting me",
        "Can you stop, please",
        "I want to unsubscribe",
        "cancel my order",  # CANCEL collides with everyday speech: the policy decides
        "我要退订",
    ],
)
def test_an_opt_out_inside_a_sentence_opts_out_by_default(coffee: RuleSet, text: str) -> None:
    opt_out = _opt_out(evaluate(text, MEMBER, coffee, NOW))
    assert opt_out is not None
    assert (opt_out.scope, opt_out.how) == ("all", "sentence")


@pytest.mark.parametrize("text", ["please stop texting me", "cancel my order", "我要退订"])
def test_with_the_review_policy_a_sentence_is_flagged_not_opted_out(text: str) -> None:
    ruleset = minimal('[compliance]\nsentence_opt_out = "review"\n')
    decisions = evaluate(text, SubscriberState(), ruleset, NOW)
    assert _opt_out(decisions) is None
    assert isinstance(decisions[0], FlagForReview)
    assert decisions[-1] == Forward(True)  # a person or the application looks at it


def test_with_the_review_policy_an_exact_stop_word_still_opts_out() -> None:
    ruleset = minimal('[compliance]\nsentence_opt_out = "review"\n')
    for text in ("CANCEL", "stop", "Stop please"):
        assert _opt_out(evaluate(text, SubscriberState(), ruleset, NOW)) is not None


@pytest.mark.parametrize(
    "text", ["ik kom uit Utrecht", "the weekend", "stopwatch", "quitting time", "avslutad"]
)
def test_common_words_that_are_not_sentence_opt_outs_pass(coffee: RuleSet, text: str) -> None:
    decisions = evaluate(text, MEMBER, coffee, NOW)
    assert decisions == (NoMatch(), Forward(True))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("HELP", "en"),
        ("help!", "en"),
        ("INFO", "sv"),
        ("HJÄLP", "sv"),
        ("hjalp", "sv"),
        ("HJELP", "no"),
        ("HJÆLP", "da"),
        ("HULP", "nl"),
        ("HILFE", "de"),
        ("AIDE", "fr"),
        ("AYUDA", "es"),
        ("AJUDA", "pt"),
        ("帮助", "zh"),
        ("ＨＥＬＰ", "en"),
    ],
)
def test_help_is_answered_in_the_language_of_the_keyword(
    coffee: RuleSet, text: str, language: str
) -> None:
    decisions = evaluate(text, SubscriberState(opted_out=True), coffee, NOW)
    assert isinstance(decisions[0], Help)
    assert decisions[0].language == language
    assert decisions[1] == Reply("help", language)


def test_a_shared_word_is_answered_in_the_subscribers_own_language(coffee: RuleSet) -> None:
    dutch = SubscriberState(language="nl")
    decisions = evaluate("STOP", dutch, coffee, NOW)
    assert Reply("opt_out", "nl") in decisions


def test_every_default_word_is_one_action_only() -> None:
    actions: dict[tuple[str, ...], KeywordAction] = {}
    for entry in DEFAULT_KEYWORDS:
        words = keyword_form(entry.word)
        assert actions.setdefault(words, entry.action) is entry.action, entry


def test_the_fcc_revocation_words_are_opt_outs_inside_sentences() -> None:
    in_sentence = {
        " ".join(keyword_form(e.word))
        for e in DEFAULT_KEYWORDS
        if e.action is KeywordAction.OPT_OUT and e.in_sentence
    }
    assert in_sentence >= FCC_REVOCATION_WORDS


@pytest.mark.parametrize("language", ["en", "sv", "nl", "de", "fr", "es", "pt", "zh", "no", "da"])
def test_every_language_has_opt_out_and_help_words(language: str) -> None:
    actions = {e.action for e in DEFAULT_KEYWORDS if e.language == language}
    assert {KeywordAction.OPT_OUT, KeywordAction.HELP} <= actions
