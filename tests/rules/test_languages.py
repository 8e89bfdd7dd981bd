"""Which language a reply is in: the keyword's, the subscriber's, the question's, the line's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules import (
    Answered,
    Help,
    OptIn,
    OptOut,
    PendingQuestion,
    Reply,
    RuleSet,
    SubscriberState,
    evaluate,
)
from smppd.config import ConfigError
from tests.rules.conftest import NOW, minimal

CHINESE_LINE = "72001"


def _asked(language: str | None) -> SubscriberState:
    return SubscriberState(
        pending=PendingQuestion("join_coffee", NOW + timedelta(hours=1), language)
    )


def _reply(decisions: tuple[object, ...]) -> Reply:
    return next(d for d in decisions if isinstance(d, Reply))


# -- the answer to a question ----------------------------------------------------------


@pytest.mark.parametrize(("text", "template"), [("JA", "welcome"), ("NEE", "join_declined")])
def test_an_answer_is_replied_to_in_the_language_the_question_was_asked_in(
    coffee: RuleSet, text: str, template: str
) -> None:
    # AANMELDEN KOFFIE asked in Dutch; JA is Swedish as much as Dutch.
    decisions = evaluate(text, _asked("nl"), coffee, NOW, destination="72000")
    assert _reply(decisions) == Reply(template, "nl", _reply(decisions).params)
    opt_in = [d for d in decisions if isinstance(d, OptIn)]
    assert all(d.language == "nl" for d in opt_in)


def test_an_answer_to_a_question_of_unknown_language_keeps_the_keywords(coffee: RuleSet) -> None:
    decisions = evaluate("JA", _asked(None), coffee, NOW, destination="72000")
    assert _reply(decisions).language == "sv"


@pytest.mark.parametrize(
    ("text", "answer"),
    [("是的", "yes"), ("好的", "yes"), ("好", "yes"), ("是", "yes"), ("不", "no"), ("不用", "no")],
)
def test_chinese_answers_with_their_particles_answer_a_pending_question(
    coffee: RuleSet, text: str, answer: str
) -> None:
    decisions = evaluate(text, _asked("zh"), coffee, NOW, destination=CHINESE_LINE)
    assert isinstance(decisions[0], Answered)
    assert decisions[0].answer == answer
    assert _reply(decisions).language == "zh"


@pytest.mark.parametrize("text", ["是的", "好的", "不用"])
def test_chinese_answers_are_ordinary_text_without_a_question(coffee: RuleSet, text: str) -> None:
    decisions = evaluate(text, SubscriberState(), coffee, NOW, destination=CHINESE_LINE)
    assert not any(isinstance(d, Answered | OptIn | OptOut) for d in decisions)


def test_a_chinese_answer_word_inside_another_word_is_no_answer(coffee: RuleSet) -> None:
    # 好吃: "tasty".
    decisions = evaluate("好吃", _asked("zh"), coffee, NOW, destination=CHINESE_LINE)
    assert not any(isinstance(d, Answered) for d in decisions)


# -- the language of a line -----------------------------------------------------------


@pytest.mark.parametrize("text", ["STOP", "HELP", "INFO", "START", "ＴＤ"])
def test_a_shared_word_on_the_chinese_line_is_answered_in_chinese(
    coffee: RuleSet, text: str
) -> None:
    decisions = evaluate(text, SubscriberState(), coffee, NOW, destination=CHINESE_LINE)
    assert _reply(decisions).language == "zh"


@pytest.mark.parametrize(("text", "language"), [("STOP", "sv"), ("HELP", "en"), ("START", "sv")])
def test_other_numbers_keep_the_rule_sets_default(
    coffee: RuleSet, text: str, language: str
) -> None:
    decisions = evaluate(text, SubscriberState(), coffee, NOW, destination="72000")
    assert _reply(decisions).language == language


def test_a_word_of_one_language_other_than_english_keeps_its_language(coffee: RuleSet) -> None:
    decisions = evaluate("HJÄLP", SubscriberState(), coffee, NOW, destination=CHINESE_LINE)
    assert decisions[0] == Help("hjalp", "sv")


def test_start_after_td_keeps_the_subscribers_chinese(coffee: RuleSet) -> None:
    # ＴＤ recorded zh; START is shared (en, sv, nl, de...) and must not make it sv.
    chinese = SubscriberState(opted_out=True, language="zh")
    for destination in (CHINESE_LINE, "72000"):
        decisions = evaluate("START", chinese, coffee, NOW, destination=destination)
        assert decisions[0] == OptIn(None, True, "start", "zh")
        assert _reply(decisions).language == "zh"


def test_a_shared_stop_keeps_a_known_language_on_any_line(coffee: RuleSet) -> None:
    dutch = SubscriberState(language="nl")
    decisions = evaluate("STOP", dutch, coffee, NOW, destination=CHINESE_LINE)
    assert isinstance(decisions[0], OptOut)
    assert decisions[0].language == "nl"


def test_the_line_language_is_read_from_the_override(coffee: RuleSet) -> None:
    assert coffee.language_of(CHINESE_LINE) == "zh"
    assert coffee.language_of("+72001") == "zh"
    assert coffee.language_of("72000") is None
    assert coffee.language_of(None) is None


def test_a_line_language_without_its_replies_is_a_problem() -> None:
    with pytest.raises(ConfigError) as raised:
        minimal('[[compliance.overrides]]\nnumbers = ["72000"]\nlanguage = "zh"\n')
    [problem] = raised.value.problems
    assert problem.key == "compliance.overrides[0].language"
    assert "needs a text in the templates opt_out, help, opt_in" in problem.message
