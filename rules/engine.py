"""The rules engine: an inbound text, a subscriber's state and a rule set in, decisions out.

How this works: :func:`evaluate` looks at the normalised text once, in the
order COMPLIANCE.md sets, and stops at the first step that claims it:

1. **Opt-out always wins.** The text opens with an opt-out word:
   the word alone (``STOP``, ``ＳＴＯＰ``, ``stop!!``, ``退订``) or followed by
   a programme's name (``STOP COFFEE``: that programme only) is a hard
   opt-out; a *strong* word followed by anything else (``Stop please``) too.
   A word that collides with everyday speech followed by other words
   (``cancel my order``), or an opt-out word inside a sentence (``please
   stop texting me``), goes by the rule set's sentence policy: opt out
   (the default: the FCC presumes such wording a revocation) or flag the
   message for review. Plain STOP leaves every programme on the sender.
2. **Answers.** YES / NO words, and the Chinese letters T, N, R, act only as
   the answer to a pending, unexpired question (a double opt-in's "reply
   YES"). Without one, YES and NO are ordinary text, and a lone T, N or R is
   flagged for review rather than taken as an opt-out or ignored. Chinese
   answers come with a particle as often as not (是的, 好的, 不用): those
   forms answer too. The answer is replied to in the language the question
   was asked in (JA after a Dutch question gets the Dutch welcome).
3. **Help** (HELP, HJÄLP, 帮助...): always answered, even after STOP.
4. **Opt-in.** START / UNSTOP lift an opt-out; JOIN [programme] joins, through
   the programme's confirmation question when it has one (double opt-in).
5. **The brand's rules** (``KAFFE``, ``POÄNG``, ``REDEEM <reward>``, ``REFER
   <number>``): a :class:`Custom` decision for the plugin that acts on it,
   for members only unless the rule says otherwise.
6. Nothing matched: :class:`NoMatch`, and the message goes to applications.

Every evaluation ends with exactly one :class:`Forward` saying whether the
message still goes to the applications. The reply language is the language
of the keyword used; a word that many languages share (STOP, START) is
answered in the subscriber's known language, which it never replaces, else
in the language of the number written to when the rule set gives it one (a
Chinese short code), else the rule set's default
(:meth:`rules.ruleset.RuleSet.language_among`). Replies are template names
with parameters; the plugin renders them (:meth:`rules.ruleset.RuleSet.render`)
and records the text and the template version shown.

Pure: no I/O, no clock (``now`` is passed in), nothing changed. The
decisions are plain frozen values the consent and loyalty plugins persist.
The answers to a keyword alone (``STOP``, ``KAFFE``) depend on few inputs
and are remembered per rule set, so the commonest texts cost a dict probe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Literal

from rules.keywords import KeywordAction
from rules.matcher import Found
from rules.normalise import NormalisedText, normalise
from rules.ruleset import ComplianceTable, ComplianceWord, Programme, Rule, RuleSet

__all__ = [
    "NOT_MEMBER_TEMPLATE",
    "Answered",
    "AskConfirmation",
    "Custom",
    "Decision",
    "FlagForReview",
    "Forward",
    "Help",
    "NoMatch",
    "OptIn",
    "OptOut",
    "PendingQuestion",
    "Reply",
    "SubscriberState",
    "evaluate",
]

# An optional template: the reply to a members-only keyword from a non-member.
NOT_MEMBER_TEMPLATE: Final = "not_member"
# Answers remembered per rule set for the commonest texts (a keyword alone);
# the keys are few (keywords x languages x a flag), this is only a cap.
MAX_MEMO_ENTRIES: Final = 4_096
# A phone number argument (REFER <number>): E.164 allows 15 digits.
_NUMBER: Final = re.compile(r"\+?[0-9]{3,15}")
_NUMBER_SEPARATORS: Final = str.maketrans("", "", " -.()/")

MatchHow = Literal["exact", "first_word", "sentence"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


# -- what the plugin tells the engine -------------------------------------


@dataclass(frozen=True, slots=True)
class PendingQuestion:
    """A question put to the subscriber (a rule set's ``[questions.NAME]``),
    in ``language`` (None when not recorded): its answer is replied to in it."""

    question: str
    expires_at: datetime
    language: str | None = None

    def open_at(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class SubscriberState:
    """What the plugin knows of the sender on this rule set's numbers."""

    programmes: frozenset[str] = frozenset()
    opted_out: bool = False
    pending: PendingQuestion | None = None
    # The language the subscriber last used, if known (ISO 639 code).
    language: str | None = None


# -- decisions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptOut:
    """Stop messages: from every programme on the sender (``all``) or one."""

    scope: Literal["all", "programme"]
    programme: str | None
    keyword: str
    language: str
    how: MatchHow


@dataclass(frozen=True, slots=True)
class OptIn:
    """Join ``programme`` (None: lift an opt-out, START); ``confirmed`` False
    while a double opt-in waits for its YES."""

    programme: str | None
    confirmed: bool
    keyword: str
    language: str


@dataclass(frozen=True, slots=True)
class AskConfirmation:
    """Put ``question`` to the subscriber; the answer counts until ``expires_at``."""

    question: str
    programme: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Answered:
    """The pending ``question`` was answered; the plugin clears it."""

    question: str
    programme: str
    answer: Literal["yes", "no"]
    keyword: str


@dataclass(frozen=True, slots=True)
class Help:
    keyword: str
    language: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Send the rule set's ``template`` in ``language`` with ``params``."""

    template: str
    language: str
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        # A copy behind a read-only view: the caller's dict may change later.
        params = MappingProxyType(dict(self.params)) if self.params else _EMPTY
        object.__setattr__(self, "params", params)


@dataclass(frozen=True, slots=True)
class FlagForReview:
    """A person should look at this message (an opt-out that may not be one)."""

    reason: str
    keyword: str


@dataclass(frozen=True, slots=True)
class Custom:
    """A brand rule matched: ``action`` (earn, balance, redeem...) with ``args``.

    ``args`` holds what followed the keyword for ``match = "argument"`` rules:
    the normalised text (``REDEEM Iced Latte`` -> ``"iced latte"``), or for
    ``argument = "number"`` the digits as written, with a leading ``+`` if one
    was given (``+46 70-123 45 67`` -> ``"+46701234567"``); turning a
    national number into E.164 is the plugin's, which knows the region.
    """

    action: str
    args: tuple[str, ...]
    rule: str
    programme: str | None
    keyword: str
    language: str


@dataclass(frozen=True, slots=True)
class Forward:
    """Whether the message still goes to the applications."""

    forward: bool


@dataclass(frozen=True, slots=True)
class NoMatch:
    """No rule claimed the message."""


Decision = (
    OptOut
    | OptIn
    | AskConfirmation
    | Answered
    | Help
    | Reply
    | FlagForReview
    | Custom
    | Forward
    | NoMatch
)

_FORWARD: Final = Forward(True)
_WITHHOLD: Final = Forward(False)
_NOTHING: Final = (NoMatch(), _FORWARD)


# -- evaluation -------------------------------------------------------------------


class _Evaluation:
    """One evaluation's inputs, so the steps below read like the rules."""

    __slots__ = ("handled", "line", "now", "ruleset", "subscriber", "table", "text")

    def __init__(
        self,
        text: NormalisedText,
        subscriber: SubscriberState,
        ruleset: RuleSet,
        now: datetime,
        table: ComplianceTable,
        *,
        line: str | None,
    ) -> None:
        self.text = text
        self.subscriber = subscriber
        self.ruleset = ruleset
        self.now = now
        self.table = table
        # The language of the number written to, when the rule set gives it one.
        self.line = line
        self.handled = _FORWARD if ruleset.forward_handled else _WITHHOLD

    def language(self, word: ComplianceWord) -> str:
        return self.ruleset.language_among(word.languages, self.subscriber.language, self.line)

    def remembered(
        self, key: tuple[object, ...], build: Callable[[], tuple[Decision, ...]]
    ) -> tuple[Decision, ...]:
        memo = self.ruleset.compiled.memo
        decisions: tuple[Decision, ...] | None = memo.get(key)
        if decisions is None:
            decisions = build()
            if len(memo) < MAX_MEMO_ENTRIES:
                memo[key] = decisions
        return decisions

    # -- 1. opt-out ------------------------------------------------------------

    def opt_out(self, found: Found[ComplianceWord], how: MatchHow) -> tuple[Decision, ...]:
        if found.rest.words:
            return self._opt_out(found, how)
        subscriber = self.subscriber
        key = (
            "opt_out",
            found.keyword,
            how,
            # The number's keyword table (its words' languages, its policy);
            # it lives as long as the rule set, so its id is stable.
            id(self.table),
            subscriber.opted_out,
            subscriber.language,
            self.line,
        )
        return self.remembered(key, lambda: self._opt_out(found, how))

    def _opt_out(self, found: Found[ComplianceWord], how: MatchHow) -> tuple[Decision, ...]:
        keyword = " ".join(found.keyword)
        language = self.language(found.value)
        if how == "sentence" and self.table.sentence_opt_out == "review":
            reason = f"opt-out keyword {keyword!r} inside a sentence"
            return (FlagForReview(reason, keyword), _FORWARD)
        programme: Programme | None = None
        if found.rest.words:
            named = self.ruleset.programme_names.exact(found.rest)
            if named is not None:
                programme = named.value[0]
        decisions: list[Decision] = []
        if programme is not None:
            decisions.append(OptOut("programme", programme.name, keyword, language, how))
            template = programme.opt_out or "opt_out"
            params = {"programme": programme.title}
        else:
            decisions.append(OptOut("all", None, keyword, language, how))
            template = "opt_out"
            params = {}
        # One confirmation, then nothing more (COMPLIANCE.md, "Replies").
        if not self.subscriber.opted_out:
            decisions.append(Reply(template, language, params))
        decisions.append(self.handled)
        return tuple(decisions)

    # -- 2. answers ----------------------------------------------------------------

    def pending(self) -> tuple[str, str] | None:
        """The open question's name and programme, if one is open."""
        pending = self.subscriber.pending
        if pending is None or not pending.open_at(self.now):
            return None
        question = self.ruleset.questions.get(pending.question)
        if question is None:
            return None
        return pending.question, question.programme

    def answer(self, found: Found[ComplianceWord]) -> tuple[Decision, ...] | None:
        word = found.value
        keyword = " ".join(found.keyword)
        open_question = self.pending()
        if open_question is None:
            if word.action is KeywordAction.AMBIGUOUS_OPT_OUT and not found.rest.words:
                reason = f"{keyword!r} may mean stop (Chinese opt-out) and no question is pending"
                return (FlagForReview(reason, keyword), _FORWARD)
            return None
        name, programme_name = open_question
        question = self.ruleset.questions[name]
        # The language the question was asked in: JA is Swedish, Dutch, German...
        asked_in = self.subscriber.pending.language if self.subscriber.pending else None
        language = asked_in or self.language(word)
        if word.action is KeywordAction.YES:
            decisions: list[Decision] = [
                Answered(name, programme_name, "yes", keyword),
                OptIn(programme_name, True, keyword, language),
            ]
            template = question.on_yes
            title = ""
            try:
                programme = self.ruleset.programme(programme_name)
                template = template or programme.welcome
                title = programme.title
            except KeyError:
                template = template or "opt_in"
            decisions.append(Reply(template, language, {"programme": title}))
        else:
            decisions = [Answered(name, programme_name, "no", keyword)]
            if question.on_no is not None:
                decisions.append(Reply(question.on_no, language))
        decisions.append(self.handled)
        return tuple(decisions)

    # -- 3. help -----------------------------------------------------------------------

    def help(self, found: Found[ComplianceWord]) -> tuple[Decision, ...]:
        keyword = " ".join(found.keyword)
        language = self.language(found.value)
        return (Help(keyword, language), Reply("help", language), self.handled)

    # -- 4. opt-in -----------------------------------------------------------------------

    def opt_in(self, found: Found[ComplianceWord]) -> tuple[Decision, ...]:
        keyword = " ".join(found.keyword)
        language = self.language(found.value)
        if found.value.resume:
            return (OptIn(None, True, keyword, language), Reply("opt_in", language), self.handled)
        programme: Programme | None
        if found.rest.words:
            named = self.ruleset.programme_names.exact(found.rest)
            programme = named.value[0] if named is not None else None
            if named is not None and self.subscriber.language is None:
                # "JOIN KOFFIE": the programme's name says the language best.
                language = named.value[1]
        else:
            programme = self.ruleset.joinable_default()
        if programme is None:
            return (Help(keyword, language), Reply("help", language), self.handled)
        params = {"programme": programme.title}
        subscriber = self.subscriber
        if programme.name in subscriber.programmes and not subscriber.opted_out:
            if programme.already_member is None:
                return (self.handled,)
            return (Reply(programme.already_member, language, params), self.handled)
        if programme.confirm is None:
            return (
                OptIn(programme.name, True, keyword, language),
                Reply(programme.welcome, language, params),
                self.handled,
            )
        question = self.ruleset.questions[programme.confirm]
        hours = question.expires_after_hours
        expires_at = self.now + timedelta(hours=hours)
        return (
            OptIn(programme.name, False, keyword, language),
            AskConfirmation(programme.confirm, programme.name, expires_at),
            Reply(question.ask, language, {**params, "hours": f"{hours:g}"}),
            self.handled,
        )

    # -- 5. the brand's rules -----------------------------------------------------------

    def custom(self) -> tuple[Decision, ...] | None:
        table = self.ruleset.rule_keywords
        found = table.exact(self.text)
        if found is None:
            found = table.leading(self.text)
            if found is None or found.value[0].match == "exact":
                return None
        rule, language = found.value
        keyword = " ".join(found.keyword)
        subscriber = self.subscriber
        if rule.members_only:
            member = (
                rule.programme in subscriber.programmes
                if rule.programme is not None
                else bool(subscriber.programmes)
            )
            if subscriber.opted_out or not member:
                if subscriber.opted_out or NOT_MEMBER_TEMPLATE not in self.ruleset.templates:
                    return (self.handled,)
                return (Reply(NOT_MEMBER_TEMPLATE, language), self.handled)
        if rule.match != "argument" and not found.rest.words:
            key = ("custom", rule.name, found.keyword, language)
            return self.remembered(key, lambda: self._custom(rule, (), keyword, language))
        args: tuple[str, ...] = ()
        if rule.match == "argument":
            argument = _argument(rule, found.rest)
            if argument is None:
                template = rule.usage or "help"
                return (Reply(template, language, {"keyword": keyword.upper()}), self.handled)
            args = (argument,)
        return self._custom(rule, args, keyword, language)

    def _custom(
        self, rule: Rule, args: tuple[str, ...], keyword: str, language: str
    ) -> tuple[Decision, ...]:
        decisions: list[Decision] = [
            Custom(rule.action, args, rule.name, rule.programme, keyword, language)
        ]
        if rule.reply is not None:
            params = {"argument": args[0]} if args else {}
            decisions.append(Reply(rule.reply, language, params))
        decisions.append(self.handled)
        return tuple(decisions)


def _argument(rule: Rule, rest: NormalisedText) -> str | None:
    if not rest.words:
        return None
    if rule.argument == "number":
        digits = rest.original.strip().translate(_NUMBER_SEPARATORS)
        return digits if _NUMBER.fullmatch(digits) else None
    return rest.normalised


# Chinese one-character answers and what may follow them in the same answer:
# 是的 (yes), 好的 / 好啊 (OK), 不用 / 不要 / 不了 (no thanks). Only these forms;
# 好吃 ("tasty") is no answer.
_UNSPACED_ANSWER_TAILS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "是": frozenset({"的", "啊", "呀"}),
        "好": frozenset({"的", "啊", "呀", "吧", "哦"}),
        "不": frozenset({"用", "要", "了", "是", "用了", "要了"}),
    }
)


def _answer_word(found: Found[ComplianceWord]) -> bool:
    # A lone letter (Y, N, T) is an answer only as the whole message:
    # "T shirt" and "N/A" are not answers; 是的 is (see _UNSPACED_ANSWER_TAILS).
    if not (found.rest.words and len(found.keyword) == 1 and len(found.keyword[0]) == 1):
        return True
    tails = _UNSPACED_ANSWER_TAILS.get(found.keyword[0])
    return tails is not None and len(found.rest.words) == 1 and found.rest.words[0] in tails


def evaluate(
    text: NormalisedText | str,
    subscriber: SubscriberState,
    ruleset: RuleSet,
    now: datetime,
    *,
    destination: str | None = None,
) -> tuple[Decision, ...]:
    """Every decision an inbound ``text`` calls for; nothing is changed.

    ``destination`` (the short code or number written to) selects the
    rule set's per-number keyword overrides. ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    normalised = text if isinstance(text, NormalisedText) else normalise(text)
    if not normalised.words:
        return _NOTHING
    table = ruleset.compliance_for(destination)
    line = ruleset.language_of(destination)
    run = _Evaluation(normalised, subscriber, ruleset, now, table, line=line)

    lead = table.words.leading(normalised)
    if lead is not None and lead.value.answer_only and not _answer_word(lead):
        lead = None
    if lead is not None and lead.value.action is KeywordAction.OPT_OUT:
        word = lead.value
        if not lead.rest.words or word.strong:
            return run.opt_out(lead, "exact" if not lead.rest.words else "first_word")
        if ruleset.programme_names.exact(lead.rest) is not None:
            return run.opt_out(lead, "first_word")
        return run.opt_out(lead, "sentence")
    inside = table.sentence.inside(normalised)
    if inside is not None:
        return run.opt_out(inside, "sentence")

    if lead is not None:
        action = lead.value.action
        if lead.value.answer_only:
            answered = run.answer(lead)
            if answered is not None:
                return answered
        elif action is KeywordAction.HELP:
            return run.help(lead)
        elif action is KeywordAction.OPT_IN:
            return run.opt_in(lead)

    handled = run.custom()
    if handled is not None:
        return handled
    return _NOTHING
