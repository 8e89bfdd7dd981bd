"""The consent plugin: keyword opt-out, opt-in and help, the consent ledger, enforcement.

How this works:

* **Inbound** (every MO after reassembly). The sender's canonical number and
  the scope of the number written to (:func:`plugins.subscribers.scope_for`)
  are worked out on the reactor thread; everything else is one function run
  inside the store writer's group commit (``context.write``): load the
  subscriber's state, :func:`rules.evaluate` the text with the rule set
  answering on that number (the built-in one where none does, so STOP and
  HELP work everywhere), turn the decisions into a
  :class:`~plugins.consent.plan.Plan` and write it: a ledger row per event
  with the exact reply text shown and its template version, the
  subscription rows, the pending question. The writer applies one such
  function after another, so the read and the writes are atomic with
  respect to every other message. The hook answers after the commit with
  the replies, the forwarding decision and tags.
* **Only compliance words cost a write.** The rules engine decides about
  consent only on a compliance word leading the text (STOP, START, JOIN,
  HELP, a yes or no) or an opt-out word inside it; the brand's own keywords
  are the loyalty plugin's. A text with neither (KAFFE, POÄNG, "see you
  tomorrow") therefore changes no consent and gets no reply of this plugin
  whatever the subscriber's state, and is answered on the reactor thread
  without reading or writing the store (:meth:`ConsentPlugin._consent_free`).
  Nothing is recorded for it, so a re-run answers the same. A rule set
  whose own rules reply with a JOIN-from-a-member template is always read
  and evaluated, since that reply is this plugin's.
* **Idempotent.** A message whose idempotency key is already in the ledger
  is not evaluated again: its replies are rebuilt from the rows it left, so
  a re-run answers exactly what the first run answered (the gateway
  de-duplicates replies by their derived ids). The ledger insert itself is
  ``ON CONFLICT DO NOTHING`` on ``(inbound_key, event, programme)``, which
  also settles two nodes racing on one message: the loser changes nothing.
* **One reply to a repeated request** (:mod:`plugins.consent.repeats`):
  HELP, or a JOIN that puts a question, repeated within
  ``repeat_reply_seconds`` of the last one answered is recorded and not
  answered.
* **One confirmation, then nothing more.** The engine confirms a STOP only
  to a number not yet opted out; a STOP repeated after
  ``reconfirm_opt_out_hours`` is confirmed once more (someone who keeps
  writing STOP may not know the first one worked).
* **Outbound** (every message before it is accepted). Transactional
  messages, and this plugin's own replies, pass at once. Marketing is
  refused with ``opted_out_status`` when the recipient opted out anywhere
  (the default ``suppression = "global"``: one suppression list for every
  number, carrier and modem) or, with ``suppression = "scope"``, within the
  sender's scope; or when the recipient has not
  opted in there when ``require_opt_in``: a lookup in the in-memory
  :class:`~plugins.consent.index.SuppressionIndex`, no database. Then
  quiet hours and frequency caps (:func:`rules.timing.next_marketing_slot`):
  a message outside the recipient's window is deferred, never dropped.
  Only where a cap applies to the recipient are the earlier sends read
  from ``marketing_sends`` and this one recorded, in one write, so two
  messages racing for the last slot of a cap cannot both take it.
* **Scope of an outbound message**: ``account_scopes`` for its account
  (an application sending under an alphanumeric name), else the scope of
  its source number, as an inbound message to that number would have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from plugins.api import (
    Accept,
    Defer,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    OutboundMessage,
    PluginContext,
    Refuse,
    Verdict,
)
from plugins.consent.builtin import builtin_ruleset
from plugins.consent.config import ConsentConfig
from plugins.consent.index import SuppressionIndex
from plugins.consent.plan import NOTHING, TAGS, Change, Plan, Shown, message_class_of, plan
from plugins.consent.repeats import TAG_SILENCED, silenced
from plugins.consent.store import (
    EVENT_REVIEW,
    LedgerEntry,
    Standing,
    ask_question,
    changed_pairs,
    clear_question,
    entries_for_inbound,
    last_confirmation,
    leave_programmes,
    ledger_watermark,
    marketing_sent_since,
    record,
    record_marketing_send,
    set_status,
    standing_of,
    standings,
)
from plugins.subscribers import load_state, ms, scope_for, subscriber_number
from rules import (
    NormalisedText,
    OptOut,
    Reply,
    RuleBook,
    RuleSet,
    SubscriberState,
    evaluate,
    normalise,
)
from rules.timing import (
    MAX_SEARCH,
    FrequencyCap,
    MarketingPolicy,
    NoMarketingSlot,
    next_marketing_slot,
    recipient_region,
)
from smppd.store.engine import read_only

__all__ = ["ConsentPlugin"]

#: The ledger's actor for what a subscriber did by SMS.
SUBSCRIBER: Final = "subscriber"
#: Tag of an inbound message handled before (its replies rebuilt from the ledger).
TAG_REPEATED: Final = "repeated"
# Ledger ids re-read by each refresh: on PostgreSQL an id is taken before its
# transaction commits, so a row with a lower id can become visible after one
# with a higher id; re-reading a margin catches it.
REFRESH_OVERLAP_IDS: Final = 1_000


@dataclasses.dataclass(frozen=True, slots=True)
class _Handled:
    """What the inbound write function hands back to the reactor thread."""

    replies: tuple[Shown, ...]
    forward: bool | None
    tags: tuple[str, ...]
    # The (number, scope) standing after the change, when it changed.
    standing: tuple[str, str, Standing | None] | None = None

    def outcome(self) -> InboundOutcome:
        return InboundOutcome(
            forward=True if self.forward is None else self.forward,
            replies=tuple(shown.reply() for shown in self.replies),
            tags=self.tags,
        )


def _load(engine: Any) -> tuple[int, list[tuple[str, str, Standing | None]]]:
    with read_only(engine) as conn, conn.begin():
        watermark = ledger_watermark(conn)
        return watermark, list(standings(conn))


def _changes(engine: Any, after: int) -> tuple[int, list[tuple[str, str, Standing | None]]]:
    with read_only(engine) as conn, conn.begin():
        newest, pairs = changed_pairs(conn, max(0, after - REFRESH_OVERLAP_IDS))
        return max(newest, after), list(standings(conn, sorted(pairs)))


def _caps_for(number: str, policy: MarketingPolicy) -> tuple[FrequencyCap, ...]:
    """The caps on marketing to ``number``: the policy's, its country's, its subdivision's."""
    caps = policy.caps
    if not policy.regions:
        return caps
    # ("US", "US-FL"): the keys policy.regions uses.
    for key in recipient_region(number):
        rule = policy.regions.get(key) if key is not None else None
        if rule is not None:
            caps += rule.caps
    return caps


class ConsentPlugin:
    """Keyword opt-out / opt-in / help, the consent ledger, and marketing enforcement."""

    name = "consent"
    description = "STOP, START, JOIN and HELP in many languages; consent ledger; enforcement"
    config_model = ConsentConfig

    def __init__(self) -> None:
        self._context: PluginContext[ConsentConfig] | None = None
        self._index = SuppressionIndex()
        self._watermark = 0
        self._refresh_call: Any = None
        self._stopped = False
        # id(rule set) -> whether one of its rules replies with a template of ours
        # (the rule sets live as long as the configuration that holds them).
        self._replies_as_consent: dict[int, bool] = {}

    # -- lifecycle ---------------------------------------------------------

    @property
    def _ctx(self) -> PluginContext[ConsentConfig]:
        context = self._context
        if context is None:
            raise RuntimeError("the consent plugin has not been started")
        return context

    @property
    def _config(self) -> ConsentConfig:
        return self._ctx.config

    @property
    def _book(self) -> RuleBook:
        return self._config.rulesets.book

    def start(self, context: PluginContext[ConsentConfig]) -> Deferred[None]:
        if context.engine is None:
            raise RuntimeError("the consent plugin needs the store: the gateway runs without one")
        if not isinstance(context.config, ConsentConfig):
            raise TypeError("the consent plugin was started without its configuration")
        self._context = context
        self._stopped = False
        loaded: Deferred[tuple[int, list[tuple[str, str, Standing | None]]]] = context.run_blocking(
            _load, context.engine
        )

        def installed(result: tuple[int, list[tuple[str, str, Standing | None]]]) -> None:
            self._watermark, rows = result
            self._index.load(rows)
            context.log.info(
                "consent: {count} standings loaded; rule sets: {rulesets}",
                count=len(self._index),
                rulesets=", ".join(r.brand for r in self._book.rulesets) or "none",
            )
            self._schedule_refresh()

        return loaded.addCallback(installed)

    def stop(self) -> None:
        self._stopped = True
        if self._refresh_call is not None and self._refresh_call.active():
            self._refresh_call.cancel()
        self._refresh_call = None

    def _schedule_refresh(self) -> None:
        if not self._stopped:
            self._refresh_call = self._ctx.clock.callLater(
                self._config.index_refresh_seconds, self._refresh
            )

    def _refresh(self) -> None:
        self._refresh_call = None
        context = self._ctx
        began = self._index.sequence
        d = context.run_blocking(_changes, context.engine, self._watermark)

        def apply(result: tuple[int, list[tuple[str, str, Standing | None]]]) -> None:
            self._watermark, rows = result
            self._index.refreshed(rows, began)

        def failed(failure: Failure) -> None:
            context.log.failure("consent: refreshing the suppression index failed", failure)

        d.addCallbacks(apply, failed)
        d.addBoth(lambda _: self._schedule_refresh())

    # -- inbound -------------------------------------------------------------

    def _ruleset_for(self, destination: str) -> RuleSet:
        found = self._book.select(destination)
        if found is not None:
            return found
        defaults = self._config.default_keywords
        return builtin_ruleset(
            defaults.language, defaults.sentence_opt_out, defaults.forward_handled
        )

    def inbound(self, msg: InboundMessage) -> Deferred[InboundOutcome]:
        ruleset = self._ruleset_for(msg.destination)
        text = normalise(msg.text)
        if self._consent_free(text, ruleset, msg.destination):
            return succeed(_NOT_OURS.outcome())
        number = subscriber_number(msg.source)
        scope = scope_for(self._book, msg.destination)

        def handle(conn: Connection) -> _Handled:
            return self._handle(conn, msg, text, number=number, scope=scope, ruleset=ruleset)

        d = self._ctx.write(handle)
        return d.addCallback(self._handled)

    def _consent_free(self, text: NormalisedText, ruleset: RuleSet, destination: str) -> bool:
        """True when ``text`` can be no consent matter in any subscriber state
        (see the module docstring): no compliance word leads it or stands in it."""
        table = ruleset.compliance_for(destination)
        if text.words and (
            table.words.leading(text) is not None or table.sentence.inside(text) is not None
        ):
            return False
        known = self._replies_as_consent.get(id(ruleset))
        if known is None:
            ours = frozenset(
                p.already_member for p in ruleset.programmes if p.already_member is not None
            )
            known = any(rule.reply in ours or rule.usage in ours for rule in ruleset.rules)
            self._replies_as_consent[id(ruleset)] = known
        return not known

    def _handled(self, handled: _Handled) -> InboundOutcome:
        if handled.standing is not None:
            self._index.changed(*handled.standing)
        return handled.outcome()

    def _handle(
        self,
        conn: Connection,
        msg: InboundMessage,
        text: NormalisedText,
        *,
        number: str,
        scope: str,
        ruleset: RuleSet,
    ) -> _Handled:
        # Runs on the writer thread, possibly twice (see plugins.api.Writer):
        # it only reads and writes through conn and returns a value.
        earlier = entries_for_inbound(conn, msg.idempotency_key)
        if earlier:
            return _repeated(earlier, ruleset)
        now = msg.received_at
        state = load_state(conn, number, scope, now)
        decisions = evaluate(text, state, ruleset, now, destination=msg.destination)
        if self._confirm_again(conn, decisions, state, number=number, scope=scope, now=now):
            calm = dataclasses.replace(state, opted_out=False)
            decisions = evaluate(text, calm, ruleset, now, destination=msg.destination)
        planned = plan(decisions, state, ruleset, now)
        if not planned.changes:
            return _Handled(planned.replies, planned.forward, planned.tags)
        at = ms(now)
        tags = planned.tags
        window_ms = int(self._config.repeat_reply_seconds * 1000)
        quiet = silenced(conn, planned, number=number, scope=scope, at=at, window_ms=window_ms)
        if quiet is not None:
            planned, tags = quiet, (*tags, TAG_SILENCED)
        moved = False
        for index, change in enumerate(planned.changes):
            entry = self._entry(msg, change, planned, number=number, scope=scope, at=at)
            ledger_id = record(conn, entry)
            if ledger_id is None:
                if index == 0:
                    # Another run (another node) recorded this message first.
                    return _repeated(entries_for_inbound(conn, msg.idempotency_key), ruleset)
                continue
            moved = (
                _apply(conn, change, number=number, scope=scope, at=at, ledger_id=ledger_id)
                or moved
            )
        standing = (number, scope, standing_of(conn, number, scope)) if moved else None
        return _Handled(planned.replies, planned.forward, tags, standing)

    def _confirm_again(
        self,
        conn: Connection,
        decisions: Sequence[object],
        state: SubscriberState,
        *,
        number: str,
        scope: str,
        now: datetime,
    ) -> bool:
        """Whether a repeated STOP gets its confirmation again (the first was long ago)."""
        if not state.opted_out or any(isinstance(d, Reply) for d in decisions):
            return False
        if not any(isinstance(d, OptOut) for d in decisions):
            return False
        last = last_confirmation(conn, number, scope)
        period = timedelta(hours=self._config.reconfirm_opt_out_hours)
        return last is None or ms(now) - last >= period.total_seconds() * 1000

    @staticmethod
    def _entry(
        msg: InboundMessage, change: Change, planned: Plan, *, number: str, scope: str, at: int
    ) -> LedgerEntry:
        shown = planned.shown
        return LedgerEntry(
            number=number,
            scope=scope,
            programme=change.programme,
            event=change.event,
            actor=SUBSCRIBER,
            at=at,
            keyword=change.keyword,
            original_text=msg.text,
            channel=msg.channel.value,
            sender=subscriber_number(msg.destination),
            connector=msg.connector,
            carrier_reference=msg.carrier_reference,
            shown_text=shown.text if shown is not None else None,
            template=shown.template if shown is not None else None,
            template_version=shown.version if shown is not None else None,
            language=shown.language if shown is not None else change.language,
            reason=change.reason,
            inbound_key=msg.idempotency_key,
        )

    # -- outbound --------------------------------------------------------------

    def outbound(self, msg: OutboundMessage) -> Verdict | Deferred[Verdict]:
        if msg.message_class is MessageClass.TRANSACTIONAL:
            return Accept()
        if msg.origin == self.name:
            return Accept("the consent plugin's own reply")
        config = self._config
        number = subscriber_number(msg.destination)
        scope = config.account_scopes.get(msg.system_id) or scope_for(self._book, msg.source)
        refused = self._refusal(msg, number, scope)
        if refused is not None:
            return refused
        policy = config.timing.policy
        if policy is None:
            return Accept()
        now = datetime.fromtimestamp(self._ctx.clock.seconds(), UTC)
        at = max(now, msg.schedule_at) if msg.schedule_at is not None else now
        caps = _caps_for(number, policy)
        if not caps:
            return self._slot_verdict(number, at, policy, ())
        longest = max(cap.per for cap in caps)
        message_id = msg.message_id

        def capped(conn: Connection) -> Verdict:
            sent = marketing_sent_since(conn, number, at - longest, exclude=message_id)
            verdict = self._slot_verdict(number, at, policy, sent)
            goes = verdict.until if isinstance(verdict, Defer) else at
            record_marketing_send(conn, message_id=message_id, number=number, at=goes)
            return verdict

        return self._ctx.write(capped)

    def _refusal(self, msg: OutboundMessage, number: str, scope: str) -> Refuse | None:
        config = self._config
        index = self._index
        reason: str | None = None
        standing = index.standing(number, scope)
        if standing is Standing.OPTED_OUT:
            reason = f"recipient opted out of {scope}"
        elif config.suppression == "global" and index.opted_out_anywhere(number):
            reason = "recipient opted out (suppressed for every sender)"
        elif config.require_opt_in and standing is not Standing.OPTED_IN:
            reason = f"recipient has not opted in to {scope}"
        if reason is None:
            return None
        return Refuse(config.opted_out_status, reason, answer=config.answer_for(msg.system_id))

    def _slot_verdict(
        self, number: str, at: datetime, policy: MarketingPolicy, sent: Sequence[datetime]
    ) -> Verdict:
        try:
            slot = next_marketing_slot(number, at, policy, sent)
        except NoMarketingSlot as exc:
            # Never sent outside the hours; the message expires at its validity.
            return Defer(at + MAX_SEARCH, f"no marketing hours found: {exc}")
        if slot is None:
            return Accept()
        return Defer(slot, "outside the recipient's marketing hours or over a frequency cap")


# The answer to a text that is no consent matter: no opinion, no reply, no tag.
_NOT_OURS: Final = _Handled(NOTHING.replies, NOTHING.forward, NOTHING.tags)


def _apply(
    conn: Connection, change: Change, *, number: str, scope: str, at: int, ledger_id: int
) -> bool:
    """Write ``change``'s effects; True when a subscription row changed."""
    if change.clear_question:
        clear_question(conn, number=number, scope=scope)
    if change.ask is not None:
        ask_question(
            conn,
            number=number,
            scope=scope,
            question=change.ask.name,
            programme=change.ask.programme,
            asked_at=at,
            expires_at=ms(change.ask.expires_at),
            language=change.language,
        )
    if change.status is None:
        return False
    set_status(
        conn,
        number=number,
        scope=scope,
        programme=change.programme,
        status=change.status,
        at=at,
        ledger_id=ledger_id,
        language=change.language,
    )
    if change.leave_all:
        leave_programmes(conn, number=number, scope=scope, at=at, ledger_id=ledger_id)
    return True


def _repeated(rows: Sequence[Any], ruleset: RuleSet) -> _Handled:
    """The answer to a message handled before, rebuilt from its ledger rows."""
    replies: dict[tuple[str, str | None, int | None, str | None], Shown] = {}
    for row in rows:
        if row.shown_text is None:
            continue
        key = (row.shown_text, row.template, row.template_version, row.language)
        if key not in replies:
            replies[key] = Shown(
                row.shown_text,
                row.template or "",
                row.template_version or 0,
                row.language or "",
                message_class_of(row.event, row.template, ruleset),
            )
    events = [row.event for row in rows]
    forward = True if all(e == EVENT_REVIEW for e in events) else ruleset.forward_handled
    tags = (*dict.fromkeys(TAGS[e] for e in events if e in TAGS), TAG_REPEATED)
    return _Handled(tuple(replies.values()), forward, tags)
