"""The tables of a rule set file, as typed, frozen sections.

Declared apart from :mod:`rules.ruleset` so that the whole-document checks
(:mod:`rules._checks`) can validate one table at a time with the same models.
See :mod:`rules.ruleset` for the shape of a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from rules.keywords import keyword_form
from smppd.config import Expect, Section

# A keyword is a word or a short phrase ("GÅ MED", "STOP ALL").
MAX_KEYWORD_CHARS: Final = 40
MAX_KEYWORD_WORDS: Final = 3
# Six GSM-7 parts: a reply longer than that is a mistake in the template.
MAX_TEMPLATE_CHARS: Final = 918
MAX_BRAND_CHARS: Final = 60
# A pending question older than a month is no longer an answerable question.
MAX_QUESTION_HOURS: Final = 720.0
MAX_TEMPLATE_VERSION: Final = 1_000_000
# Every rule set answers STOP, HELP and START itself.
REQUIRED_TEMPLATES: Final = ("opt_out", "help", "opt_in")

NAME_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,62}$"
PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]{0,31})\}")

SentencePolicy = Literal["opt_out", "review"]
RuleAction = Literal["earn", "balance", "redeem", "refer", "tier", "rewards", "reply"]
MatchMode = Literal["exact", "first_word", "argument"]
ArgumentKind = Literal["text", "number"]
TemplateKind = Literal["transactional", "marketing"]
# Actions that need what follows their keyword (REDEEM <reward>, REFER <number>).
ARGUMENT_ACTIONS: Final = frozenset({"redeem", "refer"})


# -- value checks ----------------------------------------------------------


def _check_keyword(value: str) -> str:
    words = keyword_form(value)
    if not words:
        raise ValueError(f'"{value}" has no letters or digits')
    if len(words) > MAX_KEYWORD_WORDS:
        raise ValueError(f'"{value}" is longer than {MAX_KEYWORD_WORDS} words')
    return value


def placeholders(text: str) -> tuple[str, ...]:
    """The ``{name}`` placeholders of a template text, in order."""
    return tuple(m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1))


def _check_template_text(value: str) -> str:
    leftover = PLACEHOLDER.sub("", value)
    if "{" in leftover or "}" in leftover:
        raise ValueError(
            "a brace that is not a placeholder: write {name} (lower case letters, digits,"
            " _) for a value and {{ or }} for a brace"
        )
    return value


def _lists_become_tuples(value: Any) -> Any:
    # Arrays nested in a table of arrays (keywords.sv = [...]) arrive as lists.
    if isinstance(value, dict):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return value


def read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A loaded table behind a read-only view: a rule set cannot change in place."""
    return MappingProxyType(dict(value))


def number_key(number: str) -> str:
    """A number or short code as scopes compare it: its digits."""
    return number[1:] if number.startswith("+") else number


Name = Annotated[
    str,
    Field(pattern=NAME_PATTERN),
    Expect('a name (lower case letters, digits, "_" and "-"; at most 63 characters)'),
]
LanguageCode = Annotated[
    str,
    Field(pattern=r"^[a-z]{2,3}$"),
    Expect('an ISO 639 language code such as "sv"'),
]
Keyword = Annotated[
    str,
    Field(min_length=1, max_length=MAX_KEYWORD_CHARS),
    Expect(f"a keyword of at most {MAX_KEYWORD_WORDS} words and {MAX_KEYWORD_CHARS} characters"),
    AfterValidator(_check_keyword),
]
Number = Annotated[
    str,
    Field(pattern=r"^\+?[0-9]{3,15}$"),
    Expect('a short code ("72000") or an E.164 number ("+46701234567")'),
]
TemplateText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TEMPLATE_CHARS),
    Expect(f"a text of 1 to {MAX_TEMPLATE_CHARS} characters"),
    AfterValidator(_check_template_text),
]
KeywordsByLanguage = Annotated[
    Mapping[LanguageCode, Annotated[tuple[Keyword, ...], Field(min_length=1)]],
    BeforeValidator(_lists_become_tuples),
    AfterValidator(read_only),
]


# -- the sections of a rule set file ----------------------------------------


class Scope(Section):
    """``[scope]``: the numbers and short codes this rule set answers on."""

    numbers: Annotated[tuple[Number, ...], Field(min_length=1)]


class KeywordChanges(Section):
    """Changes to the default compliance keywords."""

    opt_out: KeywordsByLanguage = Field(default_factory=dict)
    opt_in: KeywordsByLanguage = Field(default_factory=dict)
    help: KeywordsByLanguage = Field(default_factory=dict)
    # Default words taken out (never the FCC revocation words).
    remove: tuple[Keyword, ...] = ()
    # Ambiguous opt-out letters (T, N, R) made commands: for a Chinese code.
    commands: tuple[Keyword, ...] = ()


class ComplianceOverride(KeywordChanges):
    """``[[compliance.overrides]]``: keyword changes for some numbers only.

    ``language`` is the language of those numbers' line (a Chinese short
    code): a word many languages share (STOP, START, INFO) or an English
    compliance word (HELP, JOIN) from a subscriber whose language is not
    known yet is answered in it rather than in the rule set's
    ``default_language``.
    """

    numbers: Annotated[tuple[Number, ...], Field(min_length=1)]
    sentence_opt_out: SentencePolicy | None = None
    language: LanguageCode | None = None


class Compliance(KeywordChanges):
    """``[compliance]``: the compliance keywords of this rule set."""

    # A compliance keyword inside a sentence: opt out, or flag for review.
    sentence_opt_out: SentencePolicy = "opt_out"
    overrides: tuple[ComplianceOverride, ...] = ()


class Programme(Section):
    """``[[programmes]]``: something a subscriber joins (JOIN COFFEE) and leaves."""

    name: Name
    title: Annotated[str, Field(min_length=1, max_length=MAX_BRAND_CHARS)]
    # The programme's names after JOIN / STOP, per language.
    keywords: KeywordsByLanguage = Field(default_factory=dict)
    # Double opt-in: the question asked before the subscriber is in.
    confirm: Name | None = None
    # The reply once the subscriber is in (single opt-in, or YES).
    welcome: Name = "opt_in"
    # The reply to STOP <programme>; the rule set's opt_out when unset.
    opt_out: Name | None = None
    # The reply to JOIN from a member; nothing is sent when unset.
    already_member: Name | None = None


class Question(Section):
    """``[questions.NAME]``: a question a subscriber answers with YES or NO."""

    programme: Name
    ask: Name
    expires_after_hours: Annotated[float, Field(gt=0, le=MAX_QUESTION_HOURS)] = 24.0
    # Replies to YES (the programme's welcome when unset) and to NO.
    on_yes: Name | None = None
    on_no: Name | None = None


class Rule(Section):
    """``[[rules]]``: a keyword the brand answers (loyalty actions, plain replies)."""

    name: Name
    action: RuleAction
    match: MatchMode = "exact"
    # match = "argument": what follows the keyword.
    argument: ArgumentKind = "text"
    keywords: Annotated[KeywordsByLanguage, Field(min_length=1)]
    programme: Name | None = None
    reply: Name | None = None
    # The reply when the argument is missing or not valid (help otherwise).
    usage: Name | None = None
    # Only subscribers in the programme (any programme, when unset) act.
    members_only: bool = True


class Template(Section):
    """``[templates.NAME]``: a reply in several languages, with a version.

    The version is recorded with consent evidence ("the exact text shown and
    its version"): raise it whenever a text changes.
    """

    version: Annotated[int, Field(ge=1, le=MAX_TEMPLATE_VERSION)]
    kind: TemplateKind = "transactional"
    text: Annotated[
        Mapping[LanguageCode, TemplateText], Field(min_length=1), AfterValidator(read_only)
    ]
