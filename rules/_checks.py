"""Problems only the whole rule set shows: reserved and duplicate keywords, references.

How this works: the checks read the raw document (after ``${...}``
substitution, before validation), because the loader reports every problem
in one pass and a rule claiming STOP deserves its error even when another
key of the file is wrong. Each table is validated on its own with its own
model; a table with problems of its own is skipped here (those problems are
reported already), so nothing is said twice and nothing is guessed about a
value of the wrong type.

What is checked:

* **reserved keywords**: no rule or programme name may be a compliance
  keyword (any language, with this file's additions), start with one
  (``STOP COFFEE``, ``退订咖啡``: the compliance word would always win) or
  hold an opt-out word that counts inside a sentence;
* **duplicates**: a keyword in two rules (or twice in one), a programme name
  in two programmes, two rules or programmes with one name;
* **references**: templates, programmes and questions named anywhere must
  exist (with a "did you mean"); ``opt_out``, ``help`` and ``opt_in``
  templates must; each template needs a text in the default language;
* **compliance changes**: the FCC revocation words cannot be removed,
  removed and promoted words must be defaults of the right kind, an added
  word cannot already do something else, an override's numbers must be in
  the rule set's scope, and an override's ``language`` needs a text in the
  ``opt_out``, ``help`` and ``opt_in`` templates (the replies it picks);
* **marketing templates** carry an opt-out instruction in every language
  (COMPLIANCE.md: Sweden wants ``STOPP`` in capitals; China ``回TD退订`` and
  the brand in 【】).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from rules._sections import (
    ARGUMENT_ACTIONS,
    REQUIRED_TEMPLATES,
    Compliance,
    KeywordChanges,
    Programme,
    Question,
    Rule,
    Scope,
    Template,
    number_key,
)
from rules.compliance import ComplianceWord, apply_changes, compile_table, default_entries
from rules.keywords import DEFAULT_KEYWORDS, FCC_REVOCATION_WORDS, KeywordAction, keyword_form
from rules.matcher import KeywordTable
from rules.normalise import normalise

KeyPath = tuple[str | int, ...]
Problem = tuple[KeyPath, str]

ModelT = TypeVar("ModelT", bound=BaseModel)

# Names listed in an error when none is close to the one given.
MAX_NAMES_LISTED: Final = 8

_ACTION_WORDS: Final = {
    KeywordAction.OPT_OUT: "opt-out",
    KeywordAction.OPT_IN: "opt-in",
    KeywordAction.HELP: "help",
    KeywordAction.YES: "answer (yes)",
    KeywordAction.NO: "answer (no)",
    KeywordAction.AMBIGUOUS_OPT_OUT: "ambiguous opt-out",
}


def _valid(model: type[ModelT], value: Any) -> ModelT | None:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _tables(value: Any) -> Iterator[tuple[int, Any]]:
    if isinstance(value, list | tuple):
        yield from enumerate(value)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _unknown(what: str, name: str, known: list[str]) -> str:
    message = f"no {what} is called {_quoted(name)}"
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"{message} (did you mean {_quoted(close[0])}?)"
    if known:
        shown = ", ".join(_quoted(k) for k in sorted(known)[:MAX_NAMES_LISTED])
        return f"{message} (defined: {shown})"
    return f"{message} (none is defined)"


def _describe(word: ComplianceWord) -> str:
    return f"{_ACTION_WORDS[word.action]}, {'/'.join(word.languages)}"


class _Reserved:
    """Every compliance word this file's numbers may see."""

    def __init__(self, compliance: Compliance | None) -> None:
        entries = default_entries()
        changes: list[KeywordChanges] = []
        if compliance is not None:
            changes = [compliance, *compliance.overrides]
        for change in changes:
            # Removal makes a word free on one number only: keep it reserved.
            entries.extend(apply_changes([], change))
        table = compile_table(entries, "opt_out")
        self.words = table.words
        self.sentence = table.sentence
        self.opt_out = KeywordTable(
            (words, word)
            for words, word in table.words.items()
            if word.action is KeywordAction.OPT_OUT
        )

    def problem(self, keyword: str) -> str | None:
        text = normalise(keyword)
        found = self.words.exact(text)
        if found is not None:
            return (
                f"{_quoted(keyword)} is a compliance keyword ({_describe(found.value)}):"
                " compliance keywords are reserved"
            )
        found = self.words.leading(text)
        if found is not None:
            shown = " ".join(found.keyword)
            return (
                f"{_quoted(keyword)} starts with the compliance keyword {_quoted(shown)}"
                f" ({_describe(found.value)}), which would always take it"
            )
        found = self.sentence.inside(text)
        if found is not None:
            shown = " ".join(found.keyword)
            return (
                f"{_quoted(keyword)} contains the opt-out keyword {_quoted(shown)},"
                " which counts inside a sentence"
            )
        return None


def _keywords(
    prefix: KeyPath, table: Mapping[str, tuple[str, ...]]
) -> Iterator[tuple[KeyPath, str]]:
    for language, words in table.items():
        for index, word in enumerate(words):
            yield (*prefix, "keywords", language, index), word


def _compliance_problems(
    compliance: Compliance, scope: Scope | None, reserved: _Reserved
) -> Iterator[Problem]:
    defaults = compile_table(default_entries(), "opt_out").words
    changes: list[tuple[KeyPath, KeywordChanges]] = [(("compliance",), compliance)]
    changes.extend(
        (("compliance", "overrides", index), override)
        for index, override in enumerate(compliance.overrides)
    )
    scoped = {number_key(n) for n in scope.numbers} if scope is not None else None
    for where, change in changes:
        for index, word in enumerate(change.remove):
            form = keyword_form(word)
            if " ".join(form) in FCC_REVOCATION_WORDS:
                yield (
                    (*where, "remove", index),
                    (
                        f"{_quoted(word)} always revokes consent (47 CFR 64.1200) and cannot"
                        " be removed"
                    ),
                )
            elif form not in defaults:
                yield (*where, "remove", index), f"{_quoted(word)} is not a default keyword"
        for index, word in enumerate(change.commands):
            known = defaults.get(keyword_form(word))
            if known is None or known.action is not KeywordAction.AMBIGUOUS_OPT_OUT:
                letters = ", ".join(
                    _quoted(entry.word)
                    for entry in DEFAULT_KEYWORDS
                    if entry.action is KeywordAction.AMBIGUOUS_OPT_OUT
                )
                yield (
                    (*where, "commands", index),
                    (f"{_quoted(word)} is not an ambiguous opt-out word ({letters})"),
                )
        for action, table in (
            (KeywordAction.OPT_OUT, change.opt_out),
            (KeywordAction.OPT_IN, change.opt_in),
            (KeywordAction.HELP, change.help),
        ):
            key = action.value
            for language, words in table.items():
                for index, word in enumerate(words):
                    known = reserved.words.get(keyword_form(word))
                    if known is not None and known.action is not action:
                        yield (
                            (*where, key, language, index),
                            (
                                f"{_quoted(word)} is already a compliance keyword"
                                f" ({_describe(known)})"
                            ),
                        )
        if isinstance(change, Compliance) or scoped is None:
            continue
        for index, number in enumerate(getattr(change, "numbers", ())):
            if number_key(number) not in scoped:
                yield (
                    (*where, "numbers", index),
                    (f"{_quoted(number)} is not in this rule set's scope.numbers"),
                )


def _template_problems(
    data: Mapping[str, Any], templates: dict[str, Template | None], reserved: _Reserved
) -> Iterator[Problem]:
    raw = data.get("templates")
    if not isinstance(raw, dict):
        return
    for name in REQUIRED_TEMPLATES:
        if name not in raw:
            yield ("templates",), f"the template {_quoted(name)} is required and missing"
    language = data.get("default_language")
    brand = data.get("brand")
    for name, template in templates.items():
        if template is None:
            continue
        if isinstance(language, str) and language not in template.text:
            yield (
                ("templates", name, "text"),
                (f"no text in the default language {_quoted(language)}"),
            )
        if template.kind != "marketing":
            continue
        for lang, text in template.text.items():
            where: KeyPath = ("templates", name, "text", lang)
            if reserved.opt_out.inside(normalise(text)) is None:
                yield where, "a marketing text must say how to opt out (reply STOP)"
            elif lang == "sv" and "STOPP" not in text:
                yield where, 'a Swedish marketing text must name "STOPP" in capitals'
            elif lang == "zh":
                if "退订" not in text:
                    yield (
                        where,
                        ("a Chinese marketing text must carry a refusal instruction (回TD退订)"),
                    )
                elif not ("【" in text and "】" in text):
                    shown = brand if isinstance(brand, str) else "brand"
                    yield where, f"a Chinese marketing text names the brand in 【】 (【{shown}】)"


def ruleset_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Every whole-document problem of a rule set, each with its key path."""
    problems: list[Problem] = []
    compliance = _valid(Compliance, data.get("compliance", {}))
    scope = _valid(Scope, data.get("scope"))
    reserved = _Reserved(compliance)
    if compliance is not None:
        problems.extend(_compliance_problems(compliance, scope, reserved))

    raw_templates = data.get("templates")
    templates: dict[str, Template | None] = {}
    if isinstance(raw_templates, dict):
        templates = {str(name): _valid(Template, value) for name, value in raw_templates.items()}
    template_names = list(templates)
    raw_questions = data.get("questions")
    questions: dict[str, Question | None] = {}
    if isinstance(raw_questions, dict):
        questions = {str(name): _valid(Question, value) for name, value in raw_questions.items()}
    programmes = [(index, _valid(Programme, raw)) for index, raw in _tables(data.get("programmes"))]
    programme_names = [p.name for _, p in programmes if p is not None]
    rules = [(index, _valid(Rule, raw)) for index, raw in _tables(data.get("rules"))]

    if compliance is not None:
        for index, override in enumerate(compliance.overrides):
            language = override.language
            if language is None:
                continue
            lacking = [
                name
                for name in REQUIRED_TEMPLATES
                if (found := templates.get(name)) is not None and language not in found.text
            ]
            if lacking:
                problems.append(
                    (
                        ("compliance", "overrides", index, "language"),
                        f"the line's language {_quoted(language)} needs a text in the"
                        f" templates {', '.join(lacking)}",
                    )
                )

    def template_ref(where: KeyPath, name: str | None) -> None:
        if name is not None and isinstance(raw_templates, dict) and name not in templates:
            problems.append((where, _unknown("template", name, template_names)))

    def programme_ref(where: KeyPath, name: str | None) -> None:
        if name is not None and name not in programme_names:
            problems.append((where, _unknown("programme", name, programme_names)))

    default_programme = data.get("default_programme")
    if isinstance(default_programme, str):
        programme_ref(("default_programme",), default_programme)

    # -- programmes ---------------------------------------------------------
    seen_programmes: dict[str, int] = {}
    claimed_names: dict[tuple[str, ...], str] = {}
    for index, programme in programmes:
        if programme is None:
            continue
        where: KeyPath = ("programmes", index)
        if programme.name in seen_programmes:
            problems.append(
                (
                    (*where, "name"),
                    f"programmes[{seen_programmes[programme.name]}] already has this name",
                )
            )
        seen_programmes.setdefault(programme.name, index)
        for key in ("welcome", "opt_out", "already_member"):
            template_ref((*where, key), getattr(programme, key))
        if programme.confirm is not None:
            question = questions.get(programme.confirm)
            if programme.confirm not in questions:
                problems.append(
                    ((*where, "confirm"), _unknown("question", programme.confirm, list(questions)))
                )
            elif question is not None and question.programme != programme.name:
                problems.append(
                    (
                        (*where, "confirm"),
                        f"the question {_quoted(programme.confirm)} is about the programme"
                        f" {_quoted(question.programme)}, not this one",
                    )
                )
        for path, word in _keywords(where, programme.keywords):
            reason = reserved.problem(word)
            if reason is not None:
                problems.append((path, reason))
                continue
            form = keyword_form(word)
            owner = claimed_names.get(form)
            if owner is not None and owner != programme.name:
                problems.append((path, f"{_quoted(word)} already names the programme {owner}"))
            claimed_names.setdefault(form, programme.name)

    # -- questions ------------------------------------------------------------
    for name, question in questions.items():
        if question is None:
            continue
        where = ("questions", name)
        programme_ref((*where, "programme"), question.programme)
        for key in ("ask", "on_yes", "on_no"):
            template_ref((*where, key), getattr(question, key))

    # -- rules -------------------------------------------------------------------
    seen_rules: dict[str, int] = {}
    claimed: dict[tuple[str, ...], tuple[int, str]] = {}
    for index, rule in rules:
        if rule is None:
            continue
        where = ("rules", index)
        if rule.name in seen_rules:
            problems.append(
                ((*where, "name"), f"rules[{seen_rules[rule.name]}] already has this name")
            )
        seen_rules.setdefault(rule.name, index)
        programme_ref((*where, "programme"), rule.programme)
        template_ref((*where, "reply"), rule.reply)
        template_ref((*where, "usage"), rule.usage)
        if rule.action in ARGUMENT_ACTIONS and rule.match != "argument":
            problems.append(
                (
                    (*where, "match"),
                    f"the action {_quoted(rule.action)} needs what follows its keyword:"
                    ' write match = "argument"',
                )
            )
        for path, word in _keywords(where, rule.keywords):
            reason = reserved.problem(word)
            if reason is not None:
                problems.append((path, reason))
                continue
            form = keyword_form(word)
            first = claimed.get(form)
            if first is not None:
                other_index, other_name = first
                which = "this rule" if other_index == index else f"rules[{other_index}]"
                problems.append(
                    (path, f"{_quoted(word)} is already a keyword of {which} ({other_name})")
                )
            else:
                claimed[form] = (index, rule.name)

    problems.extend(_template_problems(data, templates, reserved))
    return problems
