"""The engine's decisions: precedence, programmes, questions, the brand's rules."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import (
    Answered,
    AskConfirmation,
    Custom,
    FlagForReview,
    Forward,
    Help,
    NoMatch,
    OptIn,
    OptOut,
    PendingQuestion,
    Reply,
    RuleSet,
    SubscriberState,
    evaluate,
    loads_ruleset,
    normalise,
)
from tests.rules.conftest import MINIMAL, NOW, minimal

MEMBER = SubscriberState(programmes=frozenset({"coffee"}))
ASKED = SubscriberState(pending=PendingQuestion("join_coffee", NOW + timedelta(hours=1)))
EXPIRED = SubscriberState(pending=PendingQuestion("join_coffee", NOW - timedelta(seconds=1)))


# -- opt-out scope -------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["STOP COFFEE", "stopp kaffe", "STOP koffie!", "退订咖啡", "退订 咖啡"]
)
def test_stop_with_a_programme_name_leaves_that_programme_only(coffee: RuleSet, text: str) -> None:
    decisions = evaluate(text, MEMBER, coffee, NOW)
    assert isinstance(decisions[0], OptOut)
    assert (decisions[0].scope, decisions[0].programme) == ("programme", "coffee")
    reply = decisions[1]
    assert isinstance(reply, Reply)
    assert reply.template == "opt_out_coffee"
    assert reply.params["programme"] == "Kaffebaren Bonus"


def test_plain_stop_leaves_every_programme(coffee: RuleSet) -> None:
    decisions = evaluate("STOP", MEMBER, coffee, NOW)
    assert isinstance(decisions[0], OptOut)
    assert (decisions[0].scope, decisions[0].programme) == ("all", None)


def test_a_collision_word_with_a_programme_name_is_a_programme_opt_out(coffee: RuleSet) -> None:
    decisions = evaluate("CANCEL COFFEE", MEMBER, coffee, NOW)
    assert isinstance(decisions[0], OptOut)
    assert (decisions[0].programme, decisions[0].how) == ("coffee", "first_word")


def test_opt_out_is_confirmed_once_then_nothing_more(coffee: RuleSet) -> None:
    first = evaluate("STOP", SubscriberState(), coffee, NOW)
    assert any(isinstance(d, Reply) for d in first)  # even if never subscribed
    again = evaluate("STOP", SubscriberState(opted_out=True), coffee, NOW)
    assert isinstance(again[0], OptOut)  # recorded as evidence again
    assert not any(isinstance(d, Reply) for d in again)


def test_opt_out_wins_over_a_pending_question(coffee: RuleSet) -> None:
    decisions = evaluate("STOP", ASKED, coffee, NOW)
    assert isinstance(decisions[0], OptOut)
    assert not any(isinstance(d, Answered | OptIn) for d in decisions)


def test_opt_out_inside_a_help_request_still_wins(coffee: RuleSet) -> None:
    decisions = evaluate("help me unsubscribe", MEMBER, coffee, NOW)
    assert isinstance(decisions[0], OptOut)


# -- ambiguous words and answers ----------------------------------------------


@pytest.mark.parametrize("text", ["YES", "Y", "yes!", "Ja", "OUI", "SÍ", "是", "Yes please"])
def test_yes_confirms_a_pending_double_opt_in(coffee: RuleSet, text: str) -> None:
    decisions = evaluate(text, ASKED, coffee, NOW)
    assert decisions[0] == Answered("join_coffee", "coffee", "yes", normalise(text).words[0])
    assert isinstance(decisions[1], OptIn)
    assert (decisions[1].programme, decisions[1].confirmed) == ("coffee", True)
    assert isinstance(decisions[2], Reply)
    assert decisions[2].template == "welcome"


@pytest.mark.parametrize("text", ["YES", "Y", "JA", "NO", "N", "NEJ", "T", "R", "是"])
@pytest.mark.parametrize(
    "state", [SubscriberState(), EXPIRED, MEMBER], ids=["none", "expired", "member"]
)
def test_ambiguous_words_do_nothing_without_a_pending_question(
    coffee: RuleSet, text: str, state: SubscriberState
) -> None:
    decisions = evaluate(text, state, coffee, NOW, destination="72000")
    assert not any(isinstance(d, OptIn | OptOut | Answered) for d in decisions)
    assert decisions[-1] == Forward(True)


@pytest.mark.parametrize("text", ["T", "N", "R"])
def test_a_lone_chinese_opt_out_letter_without_a_question_is_flagged(
    coffee: RuleSet, text: str
) -> None:
    decisions = evaluate(text, SubscriberState(), coffee, NOW, destination="72000")
    assert isinstance(decisions[0], FlagForReview)


@pytest.mark.parametrize("text", ["N", "NO", "nej", "T", "R", "不"])
def test_no_and_the_chinese_letters_decline_a_pending_question(coffee: RuleSet, text: str) -> None:
    decisions = evaluate(text, ASKED, coffee, NOW)
    assert isinstance(decisions[0], Answered)
    assert decisions[0].answer == "no"
    assert not any(isinstance(d, OptIn) for d in decisions)
    assert any(isinstance(d, Reply) and d.template == "join_declined" for d in decisions)


@pytest.mark.parametrize("text", ["T", "N", "R"])
def test_a_rule_set_can_make_the_chinese_letters_commands_on_one_number(
    coffee: RuleSet, text: str
) -> None:
    decisions = evaluate(text, SubscriberState(), coffee, NOW, destination="72001")
    assert isinstance(decisions[0], OptOut)
    assert decisions[0].language == "zh"


@pytest.mark.parametrize("text", ["T-shirt please", "N/A", "Y not"])
def test_a_single_letter_followed_by_words_is_not_an_answer(coffee: RuleSet, text: str) -> None:
    decisions = evaluate(text, ASKED, coffee, NOW)
    assert not any(isinstance(d, Answered) for d in decisions)


# -- joining -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keyword", "language"),
    [
        ("JOIN COFFEE", "join", "en"),
        ("GÅ MED KAFFE", "ga med", "sv"),
        ("Aanmelden koffie", "aanmelden", "nl"),
        ("加入咖啡", "加入", "zh"),
    ],
)
def test_join_asks_for_confirmation(
    coffee: RuleSet, text: str, keyword: str, language: str
) -> None:
    decisions = evaluate(text, SubscriberState(), coffee, NOW)
    assert decisions[0] == OptIn("coffee", False, keyword, language)
    assert decisions[1] == AskConfirmation("join_coffee", "coffee", NOW + timedelta(hours=24))
    reply = decisions[2]
    assert isinstance(reply, Reply)
    assert (reply.template, reply.language, reply.params["hours"]) == (
        "join_confirm",
        language,
        "24",
    )
    assert decisions[3] == Forward(False)


def test_join_without_a_name_joins_the_only_programme(coffee: RuleSet) -> None:
    decisions = evaluate("JOIN", SubscriberState(), coffee, NOW)
    assert isinstance(decisions[1], AskConfirmation)


def test_join_with_an_unknown_programme_gets_help(coffee: RuleSet) -> None:
    decisions = evaluate("JOIN TEA", SubscriberState(), coffee, NOW)
    assert isinstance(decisions[0], Help)


def test_join_from_a_member_is_not_a_new_opt_in(coffee: RuleSet) -> None:
    decisions = evaluate("JOIN COFFEE", MEMBER, coffee, NOW)
    assert not any(isinstance(d, OptIn | AskConfirmation) for d in decisions)
    assert Reply("already_member", "en", {"programme": "Kaffebaren Bonus"}) in decisions


def test_join_after_stop_is_a_new_opt_in(coffee: RuleSet) -> None:
    state = SubscriberState(programmes=frozenset({"coffee"}), opted_out=True)
    decisions = evaluate("JOIN COFFEE", state, coffee, NOW)
    assert isinstance(decisions[1], AskConfirmation)


def test_single_opt_in_programme_joins_at_once() -> None:
    ruleset = minimal('[[programmes]]\nname = "news"\ntitle = "News"\nkeywords.en = ["NEWS"]\n')
    decisions = evaluate("JOIN NEWS", SubscriberState(), ruleset, NOW)
    assert decisions[0] == OptIn("news", True, "join", "en")
    assert decisions[1] == Reply("opt_in", "en", {"programme": "News"})


@pytest.mark.parametrize("text", ["START", "unstop"])
def test_start_lifts_an_opt_out(coffee: RuleSet, text: str) -> None:
    decisions = evaluate(text, SubscriberState(opted_out=True), coffee, NOW)
    assert isinstance(decisions[0], OptIn)
    assert (decisions[0].programme, decisions[0].confirmed) == (None, True)


# -- the brand's rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "action", "args", "language"),
    [
        ("KAFFE", "earn", (), "sv"),
        ("coffee!", "earn", (), "en"),
        ("咖啡", "earn", (), "zh"),
        ("POÄNG", "balance", (), "sv"),
        ("saldo", "balance", (), "sv"),
        ("PUNTEN", "balance", (), "nl"),
        ("积分", "balance", (), "zh"),
        ("REDEEM CAPPUCCINO", "redeem", ("cappuccino",), "en"),
        ("Lös in kanelbulle", "redeem", ("kanelbulle",), "sv"),
        ("INWISSELEN latte", "redeem", ("latte",), "nl"),
        ("兑换拿铁", "redeem", ("拿铁",), "zh"),
        ("REFER +46701234567", "refer", ("+46701234567",), "en"),
        ("refer +46 70-123 45 67", "refer", ("+46701234567",), "en"),
        ("TIPSA 0701234567", "refer", ("0701234567",), "sv"),
        ("TIER", "tier", (), "en"),
        ("BELÖNINGAR", "rewards", (), "sv"),
    ],
)
def test_brand_keywords_become_custom_actions(
    coffee: RuleSet, text: str, action: str, args: tuple[str, ...], language: str
) -> None:
    decisions = evaluate(text, MEMBER, coffee, NOW)
    custom = decisions[0]
    assert isinstance(custom, Custom)
    assert (custom.action, custom.args, custom.language) == (action, args, language)
    assert decisions[-1] == Forward(False)


@pytest.mark.parametrize(
    ("text", "usage"), [("REDEEM", "redeem_usage"), ("REFER me", "refer_usage")]
)
def test_a_missing_or_bad_argument_gets_the_usage_reply(
    coffee: RuleSet, text: str, usage: str
) -> None:
    decisions = evaluate(text, MEMBER, coffee, NOW)
    assert not any(isinstance(d, Custom) for d in decisions)
    assert isinstance(decisions[0], Reply)
    assert decisions[0].template == usage


def test_exact_rules_do_not_match_inside_longer_messages(coffee: RuleSet) -> None:
    assert evaluate("kaffe är gott", MEMBER, coffee, NOW) == (NoMatch(), Forward(True))


def test_members_only_rules_answer_non_members_with_an_invitation(coffee: RuleSet) -> None:
    decisions = evaluate("KAFFE", SubscriberState(), coffee, NOW)
    assert decisions == (Reply("not_member", "sv"), Forward(False))


def test_opted_out_subscribers_get_no_reply_to_brand_keywords(coffee: RuleSet) -> None:
    state = SubscriberState(programmes=frozenset({"coffee"}), opted_out=True)
    decisions = evaluate("POINTS", state, coffee, NOW)
    assert decisions == (Forward(False),)


def test_handled_messages_can_still_go_to_applications() -> None:
    ruleset = minimal(head="forward_handled = true\n")
    decisions = evaluate("STOP", SubscriberState(), ruleset, NOW)
    assert decisions[-1] == Forward(True)


def test_unmatched_text_goes_to_applications(coffee: RuleSet) -> None:
    assert evaluate("Hej, när öppnar ni?", MEMBER, coffee, NOW) == (NoMatch(), Forward(True))


def test_a_naive_time_is_refused(coffee: RuleSet) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate("STOP", MEMBER, coffee, NOW.replace(tzinfo=None))


# -- properties -------------------------------------------------------------------------

_STATES = st.builds(
    SubscriberState,
    programmes=st.frozensets(st.sampled_from(["coffee", "tea"])),
    opted_out=st.booleans(),
    pending=st.none()
    | st.builds(
        PendingQuestion,
        question=st.sampled_from(["join_coffee", "gone"]),
        expires_at=st.sampled_from([NOW - timedelta(hours=1), NOW + timedelta(hours=1)]),
    ),
    language=st.none() | st.sampled_from(["sv", "en", "nl", "zh", "xx"]),
)
_WORDS = st.sampled_from(
    [
        "STOP",
        "JOIN",
        "COFFEE",
        "KAFFE",
        "YES",
        "N",
        "T",
        "退订",
        "REDEEM",
        "REFER",
        "+46701234567",
        "please",
        "HELP",
        "咖啡",
        "🙏",
        "!!",
        "ＳＴＯＰ",
        "LÖS",
        "IN",
        "cancel",
        "start",
    ]
)
_TEXTS = st.text(max_size=200) | st.lists(_WORDS, max_size=6).map(" ".join)


@given(text=_TEXTS, state=_STATES, destination=st.sampled_from([None, "72000", "72001", "1"]))
def test_any_text_evaluates_to_decisions_ending_in_one_forward(
    coffee: RuleSet, text: str, state: SubscriberState, destination: str | None
) -> None:
    decisions = evaluate(text, state, coffee, NOW, destination=destination)
    forwards = [d for d in decisions if isinstance(d, Forward)]
    assert len(forwards) == 1
    assert decisions[-1] is forwards[0]
    for decision in decisions:
        assert dataclasses.is_dataclass(decision)
        if isinstance(decision, Reply):
            assert coffee.render(decision.template, decision.language, decision.params).text


_STOP_WORDS = st.sampled_from(
    [
        "STOP",
        "STOPP",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPT OUT",
        "STOPALL",
        "UIT",
        "AFMELDEN",
        "ARRÊT",
        "BAJA",
        "SAIR",
        "TD",
        "退订",
        "取消",
        "停止",
        "AVSLUTA",
    ]
)
_DECORATION = st.sampled_from(["", " ", "!", "!!", ".", " 🙏", "🙏 ", "\u3000", "..."])


@given(
    word=_STOP_WORDS,
    before=_DECORATION,
    after=_DECORATION,
    case=st.sampled_from([str.upper, str.lower, str.title]),
    full_width=st.booleans(),
    state=_STATES,
)
def test_an_exact_stop_word_always_opts_out_whatever_the_state(
    coffee: RuleSet,
    *,
    word: str,
    before: str,
    after: str,
    case: object,
    full_width: bool,
    state: SubscriberState,
) -> None:
    text = case(word)  # type: ignore[operator]
    if full_width:
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    decisions = evaluate(before + text + after, state, coffee, NOW)
    assert isinstance(decisions[0], OptOut)
    assert decisions[0].scope == "all"
    assert decisions[0].how == "exact"


def test_each_number_keeps_its_own_sentence_policy() -> None:
    source = MINIMAL.replace('["72000"]', '["72000", "72001"]')
    source += '[[compliance.overrides]]\nnumbers = ["72001"]\nsentence_opt_out = "review"\n'
    ruleset = loads_ruleset(source)
    for _ in range(2):  # the second round is answered from what was remembered
        on_review = evaluate("please stop", SubscriberState(), ruleset, NOW, destination="72001")
        on_default = evaluate("please stop", SubscriberState(), ruleset, NOW, destination="72000")
        assert isinstance(on_review[0], FlagForReview)
        assert isinstance(on_default[0], OptOut)
