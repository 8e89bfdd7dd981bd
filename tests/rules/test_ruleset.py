"""Rule set files: every problem with its file, line and key; rendering; rule books."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import RuleSet, load_rulebook, load_ruleset, loads_ruleset, render_text
from smppd.config import ConfigError
from tests.rules.conftest import COFFEE, MINIMAL


def line(text: str, fragment: str) -> int:
    """The 1-based line of ``text`` where ``fragment`` first appears."""
    return text[: text.index(fragment)].count("\n") + 1


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as caught:
        loads_ruleset(text, file="brand.toml")
    assert all(p.file == "brand.toml" for p in caught.value.problems)
    return [(p.line, p.key, p.message) for p in caught.value.problems]


RULE = """
[[rules]]
name = "earn"
action = "earn"
keywords.en = ["COFFEE", "{word}"]
"""


@pytest.mark.parametrize(
    ("word", "says"),
    [
        ("STOP", "compliance keyword (opt-out"),
        ("ＳＴＯＰ", "compliance keyword (opt-out"),
        ("Stopp", "compliance keyword (opt-out"),
        ("ARRÊT", "compliance keyword (opt-out"),
        ("退订", "compliance keyword (opt-out"),
        ("HELP", "compliance keyword (help"),
        ("HJÄLP", "compliance keyword (help"),
        ("JOIN", "compliance keyword (opt-in"),
        ("START", "compliance keyword (opt-in"),
        ("YES", "compliance keyword (answer (yes)"),
        ("T", "compliance keyword (ambiguous opt-out"),
        ("STOP COFFEE", 'starts with the compliance keyword "stop"'),
        ("退订咖啡", 'starts with the compliance keyword "退订"'),
        ("PLEASE STOP", 'contains the opt-out keyword "stop"'),
    ],
)
def test_a_rule_claiming_a_compliance_keyword_is_an_error(word: str, says: str) -> None:
    text = MINIMAL + RULE.format(word=word)
    found = problems(text)
    assert len(found) == 1
    at, key, message = found[0]
    assert (at, key) == (line(text, "keywords.en"), "rules[0].keywords.en[1]")
    assert says in message
    assert (
        "reserved" in message or "would always take it" in message or "inside a sentence" in message
    )


def test_a_programme_name_may_not_be_a_compliance_keyword() -> None:
    text = MINIMAL + '[[programmes]]\nname = "p"\ntitle = "P"\nkeywords.en = ["HELP"]\n'
    assert problems(text) == [
        (
            line(text, "keywords.en"),
            "programmes[0].keywords.en[0]",
            '"HELP" is a compliance keyword (help, en): compliance keywords are reserved',
        )
    ]


def test_a_keyword_in_two_rules_is_an_error_naming_the_first() -> None:
    text = (
        MINIMAL
        + RULE.format(word="KAFFE")
        + """
[[rules]]
name = "balance"
action = "balance"
keywords.sv = ["POÄNG", "kaffe!"]
"""
    )
    assert problems(text) == [
        (
            line(text, "keywords.sv"),
            "rules[1].keywords.sv[1]",
            '"kaffe!" is already a keyword of rules[0] (earn)',
        )
    ]


def test_an_unknown_template_is_an_error_with_a_suggestion() -> None:
    text = (
        MINIMAL
        + '[[rules]]\nname = "earn"\naction = "earn"\nkeywords.en = ["COFFEE"]\nreply = "opt_ot"\n'
    )
    assert problems(text) == [
        (
            line(text, "reply ="),
            "rules[0].reply",
            'no template is called "opt_ot" (did you mean "opt_out"?)',
        )
    ]


def test_unknown_programmes_and_questions_are_errors() -> None:
    text = (
        MINIMAL
        + """
[[programmes]]
name = "coffee"
title = "Coffee"
confirm = "join"

[[rules]]
name = "earn"
action = "earn"
programme = "cofee"
keywords.en = ["COFFEE"]
"""
    )
    assert problems(text) == [
        (
            line(text, "confirm"),
            "programmes[0].confirm",
            'no question is called "join" (none is defined)',
        ),
        (
            line(text, "programme = "),
            "rules[0].programme",
            'no programme is called "cofee" (did you mean "coffee"?)',
        ),
    ]


def test_a_required_template_missing_is_an_error() -> None:
    text = MINIMAL.replace("[templates.help]", "[templates.hlp]")
    assert problems(text) == [
        (line(text, "[templates"), "templates", 'the template "help" is required and missing')
    ]


def test_bad_toml_is_reported_with_its_line() -> None:
    text = MINIMAL + '[[rules]\nname = "x"\n'
    [(at, key, message)] = problems(text)
    assert (at, key) == (line(text, "[[rules]"), "")
    assert message.startswith("invalid TOML")


def test_type_errors_and_unknown_keys_read_like_the_gateway_configs() -> None:
    text = MINIMAL + '[[rules]]\nname = "earn"\naction = "earm"\nkeyword.en = ["COFFEE"]\n'
    found = problems(text)
    assert (
        line(text, "action"),
        "rules[0].action",
        'expected one of "earn", "balance", "redeem", "refer", "tier", "rewards", "reply",'
        ' got "earm"',
    ) in found
    assert (
        line(text, "keyword."),
        "rules[0].keyword",
        'unknown key (did you mean "keywords"?)',
    ) in found


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        ('remove = ["CANCEL"]', "compliance.remove[0]", "cannot be removed"),
        ('remove = ["COFFEE"]', "compliance.remove[0]", "not a default keyword"),
        ('commands = ["YES"]', "compliance.commands[0]", "not an ambiguous opt-out word"),
        ('opt_out.en = ["HELP"]', "compliance.opt_out.en[0]", "already a compliance keyword (help"),
    ],
)
def test_compliance_changes_are_checked(change: str, key: str, says: str) -> None:
    [(_, found_key, message)] = problems(MINIMAL + f"[compliance]\n{change}\n")
    assert found_key == key
    assert says in message


def test_an_override_must_be_for_a_number_in_scope() -> None:
    text = MINIMAL + '[[compliance.overrides]]\nnumbers = ["72999"]\ncommands = ["T"]\n'
    assert problems(text) == [
        (
            line(text, 'numbers = ["72999'),
            "compliance.overrides[0].numbers[0]",
            '"72999" is not in this rule set\'s scope.numbers',
        )
    ]


@pytest.mark.parametrize(
    ("language", "text", "says"),
    [
        ("en", "Big sale today!", "must say how to opt out"),
        ("sv", "Rea idag! Svara stopp för att avsluta.", '"STOPP" in capitals'),
        ("zh", "今天大促销！回复 STOP 停止", "refusal instruction (回TD退订)"),
        ("zh", "今天大促销！回TD退订", "brand in 【】"),
    ],
)
def test_marketing_templates_must_carry_an_opt_out(language: str, text: str, says: str) -> None:
    source = (
        MINIMAL
        + '[templates.sale]\nversion = 1\nkind = "marketing"\n'
        + 'text.en = "Sale! Reply STOP to opt out."\n'
    )
    if language != "en":
        source += f'text.{language} = "{text}"\n'
    else:
        source = source.replace("Sale! Reply STOP to opt out.", text)
    [(_, key, message)] = problems(source)
    assert key == f"templates.sale.text.{language}"
    assert says in message


def test_a_template_needs_the_default_language() -> None:
    text = MINIMAL + '[templates.extra]\nversion = 1\ntext.sv = "Hej"\n'
    assert problems(text) == [
        (line(text, "text.sv"), "templates.extra.text", 'no text in the default language "en"')
    ]


def test_the_example_coffee_programme_loads() -> None:
    ruleset = load_ruleset(COFFEE)
    assert ruleset.brand == "Kaffebaren"
    assert ruleset.applies_to("72000") and not ruleset.applies_to("72002")
    assert {"sv", "en", "nl", "zh"} <= set(ruleset.templates["help"].text)


@pytest.mark.parametrize("language", ["sv", "en", "nl", "zh"])
def test_the_example_replies_say_what_compliance_asks(coffee: RuleSet, language: str) -> None:
    help_text = coffee.render("help", language).text
    stop_text = coffee.render("opt_out", language).text
    assert "hej@kaffebaren.se" in help_text
    if language == "zh":
        assert help_text.startswith("【Kaffebaren】") and "回TD退订" in help_text
        assert "不会再收到" in stop_text
    else:
        assert "Kaffebaren" in stop_text
    if language == "sv":
        assert "STOPP" in help_text and "inga fler meddelanden" in stop_text
    if language == "en":
        assert "Msg&data rates may apply" in help_text and "no further messages" in stop_text


def test_rendering_falls_back_to_the_default_language_and_keeps_the_version(
    coffee: RuleSet,
) -> None:
    rendered = coffee.render("earned", "de", {"points": "10", "balance": "120"})
    assert rendered.language == "sv"
    assert rendered.text == "Kaffebaren: +10 poäng! Ditt saldo är 120 poäng."
    assert (rendered.template, rendered.version, rendered.kind) == ("earned", 1, "transactional")


def test_render_text_keeps_braces_and_unknown_placeholders() -> None:
    assert render_text("{{x}} {a} {b}", {"a": "1"}) == "{x} 1 {b}"
    with pytest.raises(KeyError):
        render_text("{b}", {}, strict=True)


def test_two_rule_sets_may_not_answer_on_one_number(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(MINIMAL.replace('"72000"', '"+72001"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rulebook([COFFEE, other])
    [problem] = caught.value.problems
    assert (problem.file, problem.key) == (str(other), "scope.numbers[0]")
    assert "already in the scope" in problem.message


def test_a_rule_book_selects_the_rule_set_by_destination(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(MINIMAL.replace('"72000"', '"+46700000000"'), encoding="utf-8")
    book = load_rulebook([COFFEE, other])
    selected = book.select("72001")
    assert selected is not None and selected.brand == "Kaffebaren"
    selected = book.select("46700000000")
    assert selected is not None and selected.brand == "Demo"
    assert book.select("12345") is None
