"""From the rules engine's decisions to what the consent plugin records and answers.

How this works: :func:`plan` is pure. It reads the decisions
:func:`rules.evaluate` returned for one inbound message, with the
subscriber's state they were made on, and returns a :class:`Plan`: one
:class:`Change` per consent event (the ledger row it becomes and what it
does to the subscription rows and the pending question), the replies
rendered from the rule set's templates, whether the message still goes to
applications, and tags for the log.

The consent plugin acts on the compliance decisions only (opt-out, opt-in,
confirmation questions and their answers, help, review) and on the reply to
a JOIN from a member. :class:`rules.Custom` decisions and their replies
belong to the loyalty plugin: for a message that is only that, the plan is
empty and has no opinion on forwarding, so the loyalty plugin's decides.

What each decision does:

* plain STOP: the scope's row opted out, every programme left with it, an
  open question withdrawn (a YES after STOP must not join);
* STOP <programme>: that programme's row opted out (and its question, if
  the open one is about it);
* START: the scope's row opted in;
* JOIN with double opt-in: the question put (no subscription changes until
  the YES); a confirmed JOIN (single opt-in, or the YES): the programme's
  row opted in, and a standing plain STOP lifted, since joining is an
  explicit request for the brand's messages;
* NO: the question withdrawn, recorded as declined;
* HELP and messages flagged for review: recorded, nothing changed.

Opt-out and help confirmations are transactional: they must not wait for
quiet hours. Other replies take their template's ``kind``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

from plugins.api import MessageClass
from plugins.api import Reply as PluginReply
from plugins.consent.store import (
    EVENT_CONFIRM_ASKED,
    EVENT_DECLINED,
    EVENT_HELP,
    EVENT_OPT_IN,
    EVENT_OPT_OUT,
    EVENT_REVIEW,
)
from plugins.subscribers import ALL_PROGRAMMES, OPTED_IN, OPTED_OUT
from rules import (
    Answered,
    AskConfirmation,
    Custom,
    Decision,
    FlagForReview,
    Forward,
    Help,
    OptIn,
    OptOut,
    Reply,
    RuleSet,
    SubscriberState,
)

__all__ = [
    "META_LANGUAGE",
    "META_TEMPLATE",
    "META_VERSION",
    "NOTHING",
    "TAGS",
    "Change",
    "Plan",
    "Question",
    "Shown",
    "message_class_of",
    "plan",
]

# Keys of a reply's metadata (the outbound message's history shows them).
META_TEMPLATE: Final = "consent.template"
META_VERSION: Final = "consent.version"
META_LANGUAGE: Final = "consent.language"

# Events whose confirmation never waits for quiet hours.
_TRANSACTIONAL_EVENTS: Final = frozenset({EVENT_OPT_OUT, EVENT_HELP})

#: The log tag of each ledger event.
TAGS: Final[Mapping[str, str]] = MappingProxyType(
    {
        EVENT_OPT_OUT: "opt-out",
        EVENT_OPT_IN: "opt-in",
        EVENT_CONFIRM_ASKED: "confirm-asked",
        EVENT_DECLINED: "declined",
        EVENT_HELP: "help",
        EVENT_REVIEW: "review",
    }
)

_COMPLIANCE: Final = (OptOut, OptIn, AskConfirmation, Answered, Help, FlagForReview)


@dataclass(frozen=True, slots=True)
class Shown:
    """A reply exactly as the subscriber is shown it, with what produced it."""

    text: str
    template: str
    version: int
    language: str
    message_class: MessageClass

    def reply(self) -> PluginReply:
        return PluginReply(
            self.text,
            self.message_class,
            {
                META_TEMPLATE: self.template,
                META_VERSION: str(self.version),
                META_LANGUAGE: self.language,
            },
        )


@dataclass(frozen=True, slots=True)
class Question:
    """A question to put (double opt-in)."""

    name: str
    programme: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """One consent event and its effect.

    ``status`` is the subscription status ``programme`` gets (None: the row
    is left alone); ``leave_all`` makes every programme of the scope left
    too (plain STOP); ``ask`` puts a question, ``clear_question`` withdraws
    the open one.
    """

    event: str
    programme: str
    keyword: str | None
    status: str | None = None
    reason: str | None = None
    language: str | None = None
    leave_all: bool = False
    ask: Question | None = None
    clear_question: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What one inbound message makes the consent plugin do.

    ``forward`` is None when the plugin has no opinion (nothing of its own
    matched). ``replies`` go back to the sender; the first is the one the
    ledger rows record as shown.
    """

    changes: tuple[Change, ...] = ()
    replies: tuple[Shown, ...] = ()
    forward: bool | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(TAGS[change.event] for change in self.changes))

    @property
    def shown(self) -> Shown | None:
        return self.replies[0] if self.replies else None


NOTHING: Final = Plan()


def _welcome_templates(ruleset: RuleSet) -> frozenset[str]:
    # The reply to JOIN from a member is consent's, although no event comes with it.
    return frozenset(p.already_member for p in ruleset.programmes if p.already_member is not None)


def _pending_programme(state: SubscriberState, ruleset: RuleSet, now: datetime) -> str | None:
    pending = state.pending
    if pending is None or not pending.open_at(now):
        return None
    question = ruleset.questions.get(pending.question)
    return question.programme if question is not None else None


def _rendered(reply: Reply, ruleset: RuleSet, transactional: bool) -> Shown:
    rendered = ruleset.render(reply.template, reply.language, reply.params)
    message_class = MessageClass.TRANSACTIONAL if transactional else MessageClass(rendered.kind)
    return Shown(
        rendered.text, rendered.template, rendered.version, rendered.language, message_class
    )


def message_class_of(event: str, template: str | None, ruleset: RuleSet) -> MessageClass:
    """The class of a reply recorded with ``event`` (for replies rebuilt from the ledger)."""
    if event in _TRANSACTIONAL_EVENTS or template is None:
        return MessageClass.TRANSACTIONAL
    found = ruleset.templates.get(template)
    return MessageClass(found.kind) if found is not None else MessageClass.TRANSACTIONAL


def plan(
    decisions: Sequence[Decision],
    state: SubscriberState,
    ruleset: RuleSet,
    now: datetime,
) -> Plan:
    """What the consent plugin does about ``decisions`` (see the module docstring)."""
    if any(isinstance(d, Custom) for d in decisions):
        return NOTHING
    compliance = any(isinstance(d, _COMPLIANCE) for d in decisions)
    replies = [d for d in decisions if isinstance(d, Reply)]
    if not compliance:
        welcome = _welcome_templates(ruleset)
        if not any(reply.template in welcome for reply in replies):
            return NOTHING
    forward = next((d.forward for d in decisions if isinstance(d, Forward)), True)
    changes: list[Change] = []
    answered: Answered | None = None
    transactional = False
    for decision in decisions:
        if isinstance(decision, OptOut):
            transactional = True
            reason = None if decision.how == "exact" else f"opt-out word ({decision.how})"
            if decision.scope == "all" or decision.programme is None:
                changes.append(
                    Change(
                        EVENT_OPT_OUT,
                        ALL_PROGRAMMES,
                        decision.keyword,
                        status=OPTED_OUT,
                        reason=reason,
                        language=decision.language,
                        leave_all=True,
                        clear_question=state.pending is not None,
                    )
                )
            else:
                asked = _pending_programme(state, ruleset, now)
                changes.append(
                    Change(
                        EVENT_OPT_OUT,
                        decision.programme,
                        decision.keyword,
                        status=OPTED_OUT,
                        reason=reason,
                        language=decision.language,
                        clear_question=asked == decision.programme,
                    )
                )
        elif isinstance(decision, Answered):
            answered = decision
            if decision.answer == "no":
                changes.append(
                    Change(
                        EVENT_DECLINED,
                        decision.programme,
                        decision.keyword,
                        reason=f"answered no to {decision.question}",
                        clear_question=True,
                    )
                )
        elif isinstance(decision, OptIn):
            changes.extend(_opt_in(decision, decisions, state, answered))
        elif isinstance(decision, Help):
            transactional = True
            changes.append(
                Change(EVENT_HELP, ALL_PROGRAMMES, decision.keyword, language=decision.language)
            )
        elif isinstance(decision, FlagForReview):
            changes.append(
                Change(EVENT_REVIEW, ALL_PROGRAMMES, decision.keyword, reason=decision.reason)
            )
    shown = tuple(_rendered(reply, ruleset, transactional) for reply in replies)
    return Plan(tuple(changes), shown, forward)


def _opt_in(
    decision: OptIn,
    decisions: Sequence[Decision],
    state: SubscriberState,
    answered: Answered | None,
) -> list[Change]:
    if decision.programme is None:
        # START / UNSTOP: the scope's own row.
        return [
            Change(
                EVENT_OPT_IN,
                ALL_PROGRAMMES,
                decision.keyword,
                status=OPTED_IN,
                language=decision.language,
            )
        ]
    if not decision.confirmed:
        ask = next((d for d in decisions if isinstance(d, AskConfirmation)), None)
        if ask is None:
            return []
        return [
            Change(
                EVENT_CONFIRM_ASKED,
                decision.programme,
                decision.keyword,
                reason=f"asked {ask.question}",
                language=decision.language,
                ask=Question(ask.question, ask.programme, ask.expires_at),
            )
        ]
    confirmed_by = (
        f"confirmed {answered.question}"
        if answered is not None and answered.programme == decision.programme
        else None
    )
    changes = [
        Change(
            EVENT_OPT_IN,
            decision.programme,
            decision.keyword,
            status=OPTED_IN,
            reason=confirmed_by,
            language=decision.language,
            clear_question=confirmed_by is not None,
        )
    ]
    if state.opted_out:
        changes.append(
            Change(
                EVENT_OPT_IN,
                ALL_PROGRAMMES,
                decision.keyword,
                status=OPTED_IN,
                reason=f"joined {decision.programme}",
                language=decision.language,
            )
        )
    return changes
