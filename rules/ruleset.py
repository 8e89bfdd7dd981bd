"""Rule sets: one brand's keywords, programmes, questions and replies, from TOML.

How this works: a rule set file (``config/rules/coffee.toml``) is loaded with
the gateway's own configuration loader (:func:`smppd.config.load_toml_model`),
so its errors read exactly like ``smppd config check``'s: every problem in
one pass, each with file, line and key path, and a "did you mean" for
misspelt keys. On top of the per-key checks, :meth:`RuleSet.cross_check`
reads the whole document for what only the whole can tell
(:mod:`rules._checks`): a rule claiming a compliance keyword, a keyword
used by two rules, a template, programme or question that does not exist.

The shape of a file::

    brand = "Kaffebaren"
    default_language = "sv"
    support = "hej@kaffebaren.se"

    [scope]
    numbers = ["72000"]                 # short codes / numbers it answers on

    [compliance]
    sentence_opt_out = "opt_out"        # or "review"
    opt_out.sv = ["SLUTA"]              # added to the defaults
    [[compliance.overrides]]            # per short code
    numbers = ["72001"]
    commands = ["T", "N"]               # Chinese opt-out letters as commands
    language = "zh"                     # STOP, HELP, START answered in Chinese there

    [[programmes]]
    name = "coffee"
    title = "Kaffebaren Bonus"
    keywords.en = ["COFFEE"]            # JOIN COFFEE, STOP COFFEE
    confirm = "join_coffee"             # double opt-in through this question

    [questions.join_coffee]
    programme = "coffee"
    ask = "join_confirm"                # "reply YES within 24 hours"
    expires_after_hours = 24

    [[rules]]
    name = "redeem"
    action = "redeem"
    match = "argument"                  # REDEEM <reward>
    keywords.en = ["REDEEM"]
    reply = "redeemed"
    usage = "redeem_usage"

    [templates.help]
    version = 3                         # recorded with the consent evidence
    text.sv = "Kaffebaren: ... Svara STOPP för att avsluta."

Once loaded, a :class:`RuleSet` is immutable and carries its compiled
keyword tables, so :func:`rules.engine.evaluate` does a few dict probes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, PrivateAttr, model_validator

from rules._checks import ruleset_problems
from rules._sections import (
    MAX_BRAND_CHARS,
    MAX_KEYWORD_CHARS,
    MAX_KEYWORD_WORDS,
    MAX_QUESTION_HOURS,
    MAX_TEMPLATE_CHARS,
    PLACEHOLDER,
    REQUIRED_TEMPLATES,
    Compliance,
    ComplianceOverride,
    LanguageCode,
    Name,
    Programme,
    Question,
    Rule,
    Scope,
    SentencePolicy,
    Template,
    TemplateKind,
    number_key,
    placeholders,
    read_only,
)
from rules.compliance import (
    ComplianceTable,
    ComplianceWord,
    apply_changes,
    compile_table,
    default_entries,
)
from rules.keywords import keyword_form
from rules.matcher import KeywordTable
from smppd.config import ConfigError, ConfigProblem, Section, load_toml_model
from smppd.config import loads_toml_model as _loads_toml_model

__all__ = [
    "MAX_KEYWORD_CHARS",
    "MAX_KEYWORD_WORDS",
    "MAX_QUESTION_HOURS",
    "MAX_TEMPLATE_CHARS",
    "REQUIRED_TEMPLATES",
    "Compliance",
    "ComplianceOverride",
    "ComplianceTable",
    "ComplianceWord",
    "Programme",
    "Question",
    "RenderedReply",
    "Rule",
    "RuleBook",
    "RuleSet",
    "Scope",
    "SentencePolicy",
    "Template",
    "load_rulebook",
    "load_ruleset",
    "loads_ruleset",
    "number_key",
    "placeholders",
    "render_text",
]


@dataclass(frozen=True, slots=True)
class RenderedReply:
    """A reply's text as shown to the subscriber, with what produced it."""

    text: str
    template: str
    language: str
    version: int
    kind: TemplateKind


def render_text(text: str, params: Mapping[str, str], *, strict: bool = False) -> str:
    """``text`` with ``{name}`` replaced from ``params``; ``{{``/``}}`` are braces.

    A placeholder without a value stays as written, or raises
    :class:`KeyError` when ``strict``.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        name = match.group(1)
        if name is None:
            return token[0]
        value = params.get(name)
        if value is None:
            if strict:
                raise KeyError(name)
            return token
        return value

    return PLACEHOLDER.sub(replace, text)


@dataclass(frozen=True, slots=True)
class _Compiled:
    compliance: ComplianceTable
    by_number: Mapping[str, ComplianceTable]
    programmes: KeywordTable[tuple[Programme, str]]
    rules: KeywordTable[tuple[Rule, str]]
    numbers: frozenset[str]
    # number_key -> the language of that number's line (an override's ``language``).
    languages: Mapping[str, str]
    # The engine's answers to the most frequent texts (STOP, KAFFE), which
    # depend only on the rule set and a few inputs: built once, then reused.
    # Bounded by MAX_MEMO_ENTRIES.
    memo: dict[tuple[object, ...], Any] = field(default_factory=dict)


# -- the rule set --------------------------------------------------------------


class RuleSet(Section):
    """One brand's rule set on its numbers: loaded once, then only read."""

    brand: Annotated[str, Field(min_length=1, max_length=MAX_BRAND_CHARS)]
    default_language: LanguageCode
    # Support contact named in HELP replies ({support}).
    support: str = ""
    # Whether messages the rules handled (STOP, JOIN, KAFFE...) still go to
    # the applications; unmatched ones always do.
    forward_handled: bool = False
    # What JOIN without a programme name joins (the only programme, if one).
    default_programme: Name | None = None
    scope: Scope
    compliance: Compliance = Field(default_factory=Compliance)
    programmes: tuple[Programme, ...] = ()
    questions: Annotated[Mapping[Name, Question], AfterValidator(read_only)] = Field(
        default_factory=dict
    )
    rules: tuple[Rule, ...] = ()
    templates: Annotated[Mapping[Name, Template], AfterValidator(read_only)]

    _compiled: _Compiled = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> Self:
        base = apply_changes(default_entries(), self.compliance)
        default = compile_table(base, self.compliance.sentence_opt_out)
        by_number: dict[str, ComplianceTable] = {}
        languages: dict[str, str] = {}
        for override in self.compliance.overrides:
            policy = override.sentence_opt_out or self.compliance.sentence_opt_out
            table = compile_table(apply_changes(list(base), override), policy)
            for number in override.numbers:
                by_number.setdefault(number_key(number), table)
                if override.language is not None:
                    languages.setdefault(number_key(number), override.language)
        self._compiled = _Compiled(
            compliance=default,
            by_number=MappingProxyType(by_number),
            programmes=KeywordTable(
                (keyword_form(word), (programme, language))
                for programme in self.programmes
                for language, words in programme.keywords.items()
                for word in words
            ),
            rules=KeywordTable(
                (keyword_form(word), (rule, language))
                for rule in self.rules
                for language, words in rule.keywords.items()
                for word in words
            ),
            numbers=frozenset(number_key(number) for number in self.scope.numbers),
            languages=MappingProxyType(languages),
        )
        return self

    @classmethod
    def cross_check(
        cls, data: Mapping[str, Any], context: Any
    ) -> list[tuple[tuple[str | int, ...], str]]:
        return ruleset_problems(data)

    # -- lookups -------------------------------------------------------------

    @property
    def compiled(self) -> _Compiled:
        """The keyword tables built at load."""
        # pydantic serves private attributes through __getattr__, which costs
        # more than the lookups themselves on the evaluation path.
        private = self.__pydantic_private__
        assert private is not None
        compiled: _Compiled = private["_compiled"]
        return compiled

    def applies_to(self, destination: str) -> bool:
        """Whether ``destination`` (a short code or number) is in this rule set's scope."""
        return number_key(destination) in self.compiled.numbers

    def compliance_for(self, destination: str | None) -> ComplianceTable:
        """The compliance keywords in force on ``destination``."""
        compiled = self.compiled
        if destination is not None and compiled.by_number:
            table = compiled.by_number.get(
                destination[1:] if destination.startswith("+") else destination
            )
            if table is not None:
                return table
        return compiled.compliance

    def language_of(self, destination: str | None) -> str | None:
        """The language of ``destination``'s line, when an override gives it one."""
        languages = self.compiled.languages
        if destination is None or not languages:
            return None
        return languages.get(number_key(destination))

    @property
    def programme_names(self) -> KeywordTable[tuple[Programme, str]]:
        return self.compiled.programmes

    @property
    def rule_keywords(self) -> KeywordTable[tuple[Rule, str]]:
        return self.compiled.rules

    def programme(self, name: str) -> Programme:
        """The programme called ``name``; :class:`KeyError` when there is none."""
        for programme in self.programmes:
            if programme.name == name:
                return programme
        raise KeyError(name)

    def joinable_default(self) -> Programme | None:
        """What JOIN without a name joins: ``default_programme``, or the only one."""
        if self.default_programme is not None:
            return self.programme(self.default_programme)
        if len(self.programmes) == 1:
            return self.programmes[0]
        return None

    def language_among(
        self, languages: Sequence[str], preferred: str | None, line: str | None = None
    ) -> str:
        """The reply language for a keyword of ``languages``.

        ``preferred`` is the subscriber's language (None when not known yet),
        ``line`` the language of the number written to (:meth:`language_of`).
        The subscriber's language when the keyword is one of its words. A
        *shared* keyword (several languages, as STOP; or, on a number with a
        language of its own, an English one, as HELP: those are written
        everywhere) says nothing about the writer, so it is answered in the
        subscriber's language when known (never replacing it), else in the
        line's. Otherwise the rule set's default language when the keyword
        is one of its words, then the keyword's first language.
        """
        if preferred is not None and preferred in languages:
            return preferred
        shared = len(languages) > 1 or (line is not None and tuple(languages) == ("en",))
        if shared and (preferred or line):
            return preferred or line or self.default_language
        if self.default_language in languages or not languages:
            return self.default_language
        return languages[0]

    def render(
        self,
        template: str,
        language: str,
        params: Mapping[str, str] | None = None,
        *,
        strict: bool = False,
    ) -> RenderedReply:
        """The text of ``template`` in ``language`` (or the default language).

        ``brand`` and ``support`` are always available to the template;
        ``params`` adds to them (``points``, ``code``...).
        """
        found = self.templates[template]
        chosen = language if language in found.text else self.default_language
        if chosen not in found.text:
            chosen = next(iter(found.text))
        values = {"brand": self.brand, "support": self.support, **(params or {})}
        text = render_text(found.text[chosen], values, strict=strict)
        return RenderedReply(text, template, chosen, found.version, found.kind)


# -- loading -----------------------------------------------------------------------


def load_ruleset(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> RuleSet:
    """Load a rule set file; :class:`ConfigError` lists every problem in it."""
    return load_toml_model(RuleSet, path, env)


def loads_ruleset(
    text: str, *, file: str | None = None, env: Mapping[str, str] | None = None
) -> RuleSet:
    """Like :func:`load_ruleset` for text already in memory."""
    return _loads_toml_model(RuleSet, text, file=file, env=env)


class RuleBook:
    """Several rule sets, each answering on its own numbers."""

    __slots__ = ("_by_number", "rulesets")

    def __init__(self, rulesets: Sequence[RuleSet]) -> None:
        self.rulesets: tuple[RuleSet, ...] = tuple(rulesets)
        by_number: dict[str, RuleSet] = {}
        for ruleset in self.rulesets:
            for number in ruleset.scope.numbers:
                by_number.setdefault(number_key(number), ruleset)
        self._by_number = by_number

    def select(self, destination: str) -> RuleSet | None:
        """The rule set answering on ``destination``; ``None`` when none does."""
        return self._by_number.get(number_key(destination))


def load_rulebook(
    paths: Sequence[str | os.PathLike[str]], env: Mapping[str, str] | None = None
) -> RuleBook:
    """Load several rule set files; two claiming one number is an error.

    Every problem of every file is collected into one :class:`ConfigError`.
    """
    problems: list[ConfigProblem] = []
    loaded: list[tuple[str, RuleSet]] = []
    for path in paths:
        try:
            loaded.append((os.fspath(path), load_ruleset(path, env)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    owner: dict[str, str] = {}
    for label, ruleset in loaded:
        for index, number in enumerate(ruleset.scope.numbers):
            key = number_key(number)
            if key in owner and owner[key] != label:
                problems.append(
                    ConfigProblem(
                        label,
                        None,
                        f"scope.numbers[{index}]",
                        f'"{number}" is already in the scope of {owner[key]}',
                    )
                )
            owner.setdefault(key, label)
    if problems:
        raise ConfigError(problems)
    return RuleBook([ruleset for _, ruleset in loaded])
