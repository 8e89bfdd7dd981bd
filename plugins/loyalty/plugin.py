"""The loyalty plugin: points for keywords, rewards with codes, referral, expiry, birthdays.

How this works:

* **Inbound.** A message to a number of a programme's rule set that is one
  of the programme's own keywords (a :class:`rules.Custom` decision; never
  STOP, HELP, JOIN or YES) is counted against the sender's fraud limits
  (:mod:`plugins.loyalty.limits`) on the reactor thread; a limited sender
  gets one "slow down" reply, then nothing until the window passes.
  Everything else happens in ONE ``write(fn)`` of the store's writer, so it
  is atomic with respect to every other write: the subscriber's state is
  read (:func:`plugins.subscribers.load_state`), the rules engine evaluates
  the text, a member seen for the first time gets a ``loyalty_members`` row
  and the first-join bonus, a referral waiting for this member is confirmed
  and awarded, and the :class:`rules.Custom` decision of one of the
  programme's rules is acted on (earn, balance, tier, rewards, redeem, refer,
  birthday). Every other decision (STOP, JOIN, YES, HELP) is the consent
  plugin's. Awards are keyed on the inbound message's idempotency key
  (:mod:`plugins.loyalty.ledger`), so a message handled twice awards once and
  answers the same.
* **Replies** are the rule set's templates in the keyword's language, with
  ``{points}``, ``{balance}``, ``{tier}``, ``{reward}``, ``{code}``... A
  reward code travels in a reply whose message id is known in advance
  (``reply_message_id``) and stored with the code: when that reply is
  not delivered, the receipt hook restores the points. The code goes back
  in the pool only when the reply never left the gateway (rejected with no
  carrier id: a plugin refused it, no route); once a carrier had it
  (undeliverable, expired, rejected by the carrier) the code is retired,
  never handed out again, and the ledger's reason says so.
* **REFER** records a referral only for a number that may be invited: not
  the sender, not a member, not someone who opted out, not already referred,
  within the cap. The invitation (``[referral] invite``, or none with
  ``invite = false``) goes through the consent plugin's outbound gate.
* **Timed work.** ``start()`` arms one timer on the injected clock; each run
  expires lapsed points, sends expiry reminders and birthday bonuses, each
  job bounded to ``batch`` members, then re-arms. Messages the programme
  starts go through ``context.send`` as marketing, so the consent plugin's
  outbound gate (opt-outs, quiet hours, frequency caps) applies to them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Final, TypeVar

import phonenumbers
from sqlalchemy import Connection, and_, bindparam, case, func, literal, or_, select, update
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from plugins.api import (
    FORWARD,
    MAX_REPLIES_PER_OUTCOME,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    PluginContext,
    ReceiptEvent,
    Reply,
    SendResult,
    reply_message_id,
)
from plugins.loyalty import ledger
from plugins.loyalty.config import LoadedProgramme, LoyaltyConfig
from plugins.loyalty.limits import SenderLimits, Verdict
from plugins.subscribers import (
    ALL_PROGRAMMES,
    OPTED_OUT,
    is_member,
    load_state,
    subscriber_number,
)
from rules import (
    NOT_MEMBER_TEMPLATE,
    Custom,
    Forward,
    NormalisedText,
    RuleSet,
    SubscriberState,
    evaluate,
    normalise,
)
from rules import Reply as ReplyDecision
from rules.ruleset import number_key
from smppd.clock import DelayedCall
from smppd.store.lifecycle import State
from smppd.store.models import (
    loyalty_members,
    points_ledger,
    referrals,
    reward_codes,
    subscriptions,
)

__all__ = ["NOT_DELIVERED", "LoyaltyPlugin"]

R = TypeVar("R")

PLUGIN_NAME: Final = "loyalty"
SUBSCRIBER: Final = "subscriber"
PROGRAMME_ACTOR: Final = "programme"
# A code reply in one of these states did not reach the member.
NOT_DELIVERED: Final = frozenset({State.REJECTED, State.UNDELIVERABLE, State.EXPIRED})
# Senders remembered for "not a member" replies (one a day each).
MAX_NOT_MEMBER_MEMORY: Final = 50_000
_BIRTHDAY: Final = re.compile(r"^(\d{1,2})\s*[-/.]\s*(\d{1,2})$")


# -- what one write decides ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Send:
    """A message the programme starts (after the write committed)."""

    source: str
    destination: str
    text: str
    key: str
    template: str


@dataclass(slots=True)
class _Outcome:
    replies: list[Reply] = field(default_factory=list)
    sends: list[_Send] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    forward: bool = True
    # The "join first" reply: sent at most once a day per sender.
    not_member: Reply | None = None


@dataclass(frozen=True, slots=True)
class _Turn:
    """One inbound message being handled for one programme, inside the write."""

    conn: Connection
    programme: LoadedProgramme
    number: str
    msg: InboundMessage
    now_ms: int
    out: _Outcome

    def unpack(
        self,
    ) -> tuple[Connection, LoadedProgramme, str, InboundMessage, int, _Outcome]:
        return self.conn, self.programme, self.number, self.msg, self.now_ms, self.out


@dataclass(frozen=True, slots=True)
class _Site:
    """The rule set answering on a number, and its programmes in this plugin."""

    ruleset: RuleSet
    programmes: tuple[LoadedProgramme, ...]
    limits: SenderLimits

    def programme(self, name: str | None) -> LoadedProgramme | None:
        for programme in self.programmes:
            if programme.name == name:
                return programme
        return None


def _reply(
    programme: LoadedProgramme, template: str, language: str, params: Mapping[str, str]
) -> Reply:
    values = {"programme": _title(programme), **params}
    # Tiers are named in the reply's language ({tier}, {next_tier}).
    for key in ("tier", "next_tier"):
        if key in values:
            values[key] = programme.tier_display(values[key], language)
    rendered = programme.ruleset.render(template, language, values)
    return Reply(
        rendered.text,
        MessageClass(rendered.kind),
        {"programme": programme.name, "template": template, "version": str(rendered.version)},
    )


def _title(programme: LoadedProgramme) -> str:
    try:
        return programme.ruleset.programme(programme.name).title
    except KeyError:
        return programme.name


def _tier_label(tier: str | None) -> str:
    return tier if tier is not None else "-"


class LoyaltyPlugin:
    """The ``loyalty`` plugin (see the module docstring)."""

    name = PLUGIN_NAME
    # Only opted-in members earn, and STOP must be answered before anything
    # else: the consent plugin runs first.
    requires = ("consent",)
    description = (
        "Loyalty programmes: points, tiers, rewards and codes, referral, expiry, birthdays"
    )
    config_model = LoyaltyConfig

    def __init__(self) -> None:
        self._context: PluginContext[LoyaltyConfig] | None = None
        self._log = Logger(namespace="smppd.plugins.loyalty")
        self._sites: dict[str, _Site] = {}
        self._programmes: tuple[LoadedProgramme, ...] = ()
        self._timer: DelayedCall | None = None
        self._running: Deferred[None] | None = None
        self._stopped = False
        self._not_member: OrderedDict[str, int] = OrderedDict()
        self._expiry_marks: dict[str, tuple[int, int]] = {}
        self._reminder_marks: dict[str, tuple[int, int]] = {}
        self._birthday_marks: dict[str, tuple[date, str]] = {}

    # -- lifecycle --------------------------------------------------------------

    def start(self, context: PluginContext[LoyaltyConfig]) -> None:
        config = context.config
        loaded = config.loaded(context.base_dir)
        self._context = context
        self._log = context.log
        self._programmes = loaded
        by_ruleset: dict[int, list[LoadedProgramme]] = {}
        rulesets: dict[int, RuleSet] = {}
        for programme in loaded:
            # Two programme files naming one rule set file share one loaded rule set.
            same = next(
                (
                    key
                    for key, other in rulesets.items()
                    if other.scope.numbers == programme.ruleset.scope.numbers
                    and other.brand == programme.ruleset.brand
                ),
                None,
            )
            key = same if same is not None else id(programme.ruleset)
            rulesets.setdefault(key, programme.ruleset)
            by_ruleset.setdefault(key, []).append(programme)
        for key, ruleset in rulesets.items():
            programmes = tuple(by_ruleset[key])
            site = _Site(ruleset, programmes, SenderLimits(programmes[0].file.limits))
            for number in ruleset.scope.numbers:
                self._sites.setdefault(number_key(number), site)
        now_ms = self._now_ms()
        for programme in loaded:
            self._reminder_marks[programme.path.as_posix()] = (now_ms, 0)
        self._stopped = False
        self._arm()

    def stop(self) -> Deferred[None] | None:
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        return self._running

    def _arm(self) -> None:
        context = self._context
        if context is None or self._stopped:
            return
        self._timer = context.clock.callLater(context.config.interval, self._tick)

    def _now(self) -> datetime:
        assert self._context is not None
        return datetime.fromtimestamp(self._context.clock.seconds(), UTC)

    def _now_ms(self) -> int:
        assert self._context is not None
        return int(self._context.clock.seconds() * 1000)

    def _writing(self, fn: Callable[[Connection], R]) -> Deferred[R]:
        assert self._context is not None
        result: Deferred[R] = self._context.write(fn)
        return result

    # -- inbound --------------------------------------------------------------------

    def inbound(self, msg: InboundMessage) -> InboundOutcome | Deferred[InboundOutcome]:
        site = self._sites.get(number_key(msg.destination))
        if site is None or self._context is None:
            return FORWARD
        number = subscriber_number(msg.source)
        text = normalise(msg.text)
        now = self._now()
        ours = _keyword_of(site, msg, text, now)
        if ours is not None:
            # Only the programme's own keywords count: STOP, HELP, JOIN and YES never do.
            verdict = site.limits.check(number, text.normalised, self._context.clock.seconds())
            if verdict is not Verdict.OK:
                return _limited(site, *ours, verdict)
        d = self._writing(
            lambda conn: self._inbound(conn, site, msg=msg, number=number, text=text, now=now)
        )
        return d.addCallback(self._outcome, number, now)

    def _outcome(self, out: _Outcome, number: str, now: datetime) -> InboundOutcome:
        replies = list(out.replies)
        if out.not_member is not None:
            day = now.toordinal()
            if self._not_member.get(number) != day:
                self._not_member.pop(number, None)
                self._not_member[number] = day
                while len(self._not_member) > MAX_NOT_MEMBER_MEMORY:
                    self._not_member.popitem(last=False)
                replies.append(out.not_member)
        self._send_all(out.sends)
        return InboundOutcome(
            forward=out.forward,
            replies=tuple(replies[:MAX_REPLIES_PER_OUTCOME]),
            tags=tuple(out.tags),
        )

    def _inbound(
        self,
        conn: Connection,
        site: _Site,
        *,
        msg: InboundMessage,
        number: str,
        text: NormalisedText,
        now: datetime,
    ) -> _Outcome:
        out = _Outcome()
        now_ms = int(now.timestamp() * 1000)
        scope = site.programmes[0].scope
        state = load_state(conn, number, scope, now)
        decisions = evaluate(text, state, site.ruleset, now, destination=msg.destination)
        # The site's programmes share its scope: membership is in the state just read.
        members = {
            programme.name: self._member_steps(conn, programme, number, now_ms, out)
            for programme in site.programmes
            if _is_member(state, programme)
        }
        custom = next((d for d in decisions if isinstance(d, Custom)), None)
        handled = next((d.forward for d in decisions if isinstance(d, Forward)), True)
        if custom is not None:
            acting = site.programme(custom.programme)
            if acting is None:
                return out
            replies = [d for d in decisions if isinstance(d, ReplyDecision)]
            template = replies[0].template if replies else None
            out.forward = handled
            member = members.get(acting.name)
            if member is not None:
                self._act(_Turn(conn, acting, number, msg, now_ms, out), custom, template, member)
            return out
        only_replies = all(isinstance(d, ReplyDecision | Forward) for d in decisions)
        reply = next((d for d in decisions if isinstance(d, ReplyDecision)), None)
        if not only_replies or reply is None:
            return out
        programme = site.programmes[0]
        usage = {
            rule.usage
            for rule in site.ruleset.rules
            if rule.usage is not None and site.programme(rule.programme) is not None
        }
        if reply.template == NOT_MEMBER_TEMPLATE:
            out.forward = handled
            out.not_member = _reply(programme, reply.template, reply.language, {})
        elif reply.template in usage:
            out.forward = handled
            out.replies.append(
                _reply(programme, reply.template, reply.language, dict(reply.params))
            )
        return out

    # -- state-based steps --------------------------------------------------------

    def _member_steps(
        self, conn: Connection, programme: LoadedProgramme, number: str, now_ms: int, out: _Outcome
    ) -> ledger.Member:
        """Create a new member's row (with the join bonus) and confirm a referral
        waiting for them; the member's row as it stands afterwards."""
        member, created = ledger.ensure_member(conn, programme, number, now_ms)
        if created:
            out.tags.append("member-created")
            bonus = programme.file.join_bonus
            if bonus:
                ledger.credit(
                    conn,
                    programme,
                    number,
                    kind="bonus",
                    points=bonus,
                    key=f"join:{programme.name}:{number}",
                    now_ms=now_ms,
                    actor=PROGRAMME_ACTOR,
                    reason="first-join bonus",
                )
        referral = programme.file.referral
        waiting = conn.execute(
            _WAITING_REFERRAL, {"programme": programme.name, "friend": number}
        ).first()
        if waiting is None:
            return member if not created else _reread(conn, member)
        confirmed = conn.execute(
            update(referrals)
            .where(
                and_(
                    referrals.c.programme == programme.name,
                    referrals.c.friend == number,
                    referrals.c.confirmed_at.is_(None),
                )
            )
            .values(confirmed_at=now_ms)
        )
        if confirmed.rowcount != 1 or referral is None:
            return _reread(conn, member)
        referrer = str(waiting.referrer)
        out.tags.append("referral-confirmed")
        ledger.credit(
            conn,
            programme,
            number,
            kind="referral",
            points=referral.friend_points,
            key=f"referral:{programme.name}:{referrer}:{number}:friend",
            now_ms=now_ms,
            actor=PROGRAMME_ACTOR,
            reason=f"referred by {referrer}",
        )
        # Only opted-in members earn: a referrer who left gets nothing.
        if is_member(conn, referrer, programme.scope, programme.name):
            ledger.ensure_member(conn, programme, referrer, now_ms)
            change = ledger.credit(
                conn,
                programme,
                referrer,
                kind="referral",
                points=referral.referrer_points,
                key=f"referral:{programme.name}:{referrer}:{number}:referrer",
                now_ms=now_ms,
                actor=PROGRAMME_ACTOR,
                reason=f"referred {number}",
            )
            if change is not None and change.tier_up:
                self._tier_send(programme, referrer, change, out.sends)
        return _reread(conn, member)

    def _tier_send(
        self, programme: LoadedProgramme, number: str, change: ledger.Change, sends: list[_Send]
    ) -> None:
        template = programme.tier_template(change.tier_after)
        if template is None:
            return
        language = programme.ruleset.default_language
        reply = _reply(programme, template, language, {"tier": _tier_label(change.tier_after)})
        sends.append(
            _Send(
                programme.sender,
                number,
                reply.text,
                f"tier:{programme.name}:{number}:{change.tier_after}",
                template,
            )
        )

    # -- the programme's keywords -------------------------------------------------

    def _act(
        self, turn: _Turn, custom: Custom, rule_reply: str | None, member: ledger.Member
    ) -> None:
        programme, out = turn.programme, turn.out
        replies = programme.file.replies
        language = custom.language
        base = {"balance": str(member.balance), "tier": _tier_label(member.tier)}
        action = custom.action
        birthday = programme.file.birthday
        if action == "earn":
            self._earn(turn, custom, rule_reply or replies.earned, member)
        elif action == "balance":
            out.replies.append(_reply(programme, rule_reply or replies.balance, language, base))
        elif action == "tier":
            out.replies.append(
                _reply(
                    programme,
                    rule_reply or replies.tier,
                    language,
                    self._tier_params(programme, member),
                )
            )
        elif action == "rewards":
            out.replies.append(
                self._rewards_reply(programme, rule_reply or replies.rewards, language, base)
            )
        elif action == "redeem":
            self._redeem(turn, custom, member)
        elif action == "refer":
            self._refer(turn, custom, rule_reply or replies.referred)
        elif birthday is not None and custom.rule == birthday.rule:
            self._birthday_given(turn, custom)

    @staticmethod
    def _tier_params(programme: LoadedProgramme, member: ledger.Member) -> dict[str, str]:
        params = {
            "tier": _tier_label(member.tier),
            "balance": str(member.balance),
            "lifetime": str(member.lifetime),
            "next_tier": "-",
            "to_next": "0",
        }
        for tier in programme.file.tiers:
            if tier.threshold > member.lifetime:
                params["next_tier"] = tier.name
                params["to_next"] = str(tier.threshold - member.lifetime)
                break
        return params

    @staticmethod
    def _rewards_reply(
        programme: LoadedProgramme, template: str, language: str, base: Mapping[str, str]
    ) -> Reply:
        listing = ", ".join(
            f"{reward.display(key, language)} {reward.points}"
            for key, reward in programme.file.rewards.items()
        )
        return _reply(programme, template, language, {**base, "rewards": listing})

    def _earn(self, turn: _Turn, custom: Custom, template: str, member: ledger.Member) -> None:
        conn, programme, number, msg, now_ms, out = turn.unpack()
        replies = programme.file.replies
        language = custom.language
        key = f"earn:{programme.name}:{number}:{custom.rule}:{msg.idempotency_key}"
        done = conn.execute(_RECORDED, {"key": key}).first()
        base = {"balance": str(member.balance), "tier": _tier_label(member.tier)}
        if done is not None:
            # The same message again: the same answer, nothing more.
            out.replies.append(
                _reply(programme, template, language, {**base, "points": str(done.points)})
            )
            out.tags.append("replayed")
            return
        rule = programme.file.earn.get(custom.rule)
        refusal = (
            "closed"
            if rule is None
            else _earn_refusal(
                conn,
                programme=programme,
                rule=rule,
                name=custom.rule,
                number=number,
                member=member,
                now_ms=now_ms,
            )
        )
        if rule is None or refusal is not None:
            name = replies.earn_limit if refusal == "limit" else replies.earn_closed
            out.replies.append(_reply(programme, name, language, base))
            out.tags.append(f"earn-{refusal}")
            return
        change = ledger.credit(
            conn,
            programme,
            number,
            kind="earn",
            points=rule.points,
            key=key,
            now_ms=now_ms,
            actor=SUBSCRIBER,
            rule=custom.rule,
            inbound_key=msg.idempotency_key,
        )
        if change is None:
            return
        out.tags.append("points-awarded")
        params = {
            "points": str(rule.points),
            "balance": str(change.balance),
            "tier": _tier_label(change.tier_after),
        }
        out.replies.append(_reply(programme, template, language, params))
        if change.tier_up:
            tier_template = programme.tier_template(change.tier_after)
            if tier_template is not None:
                out.replies.append(_reply(programme, tier_template, language, params))
                out.tags.append("tier-up")

    def _redeem(self, turn: _Turn, custom: Custom, member: ledger.Member) -> None:
        conn, programme, number, msg, now_ms, out = turn.unpack()
        replies = programme.file.replies
        language = custom.language
        base = {"balance": str(member.balance), "tier": _tier_label(member.tier)}
        wanted = custom.args[0] if custom.args else ""
        key_name = programme.reward_names.get(wanted)
        if key_name is None:
            out.replies.append(self._rewards_reply(programme, replies.rewards, language, base))
            out.tags.append("unknown-reward")
            return
        reward = programme.file.rewards[key_name]
        params = {
            **base,
            "reward": reward.display(key_name, language),
            "points": str(reward.points),
            "validity": reward.validity_in(language),
        }
        key = f"spend:{programme.name}:{number}:{key_name}:{msg.idempotency_key}"
        spent = conn.execute(
            select(points_ledger.c.id).where(points_ledger.c.idempotency_key == key)
        ).first()
        if spent is not None:
            code = conn.execute(
                select(reward_codes.c.code).where(reward_codes.c.ledger_id == spent.id)
            ).scalar()
            if code is not None:
                out.replies.append(
                    _reply(programme, replies.redeemed, language, {**params, "code": str(code)})
                )
                out.tags.append("replayed")
            return
        if reward.per_member is not None:
            # Codes taken and not given back (a retired code's points came back).
            taken = conn.execute(
                select(
                    func.count(case((points_ledger.c.kind == "spend", 1)))
                    - func.count(case((points_ledger.c.kind == "restore", 1)))
                ).where(
                    points_ledger.c.programme == programme.name,
                    points_ledger.c.number == number,
                    points_ledger.c.reward == key_name,
                    points_ledger.c.kind.in_(("spend", "restore")),
                )
            ).scalar_one()
            if taken >= reward.per_member:
                out.replies.append(_reply(programme, replies.reward_limit, language, params))
                out.tags.append("reward-limit")
                return
        if member.balance < reward.points:
            short = {**params, "missing": str(reward.points - member.balance)}
            out.replies.append(_reply(programme, replies.not_enough_points, language, short))
            out.tags.append("not-enough-points")
            return
        if not ledger.codes_available(conn, programme.name, key_name):
            out.replies.append(_reply(programme, replies.pool_empty, language, params))
            out.tags.append("pool-empty")
            return
        change = ledger.debit(
            conn,
            programme,
            number,
            kind="spend",
            points=reward.points,
            key=key,
            now_ms=now_ms,
            actor=SUBSCRIBER,
            reward=key_name,
            inbound_key=msg.idempotency_key,
        )
        assert change is not None
        message_id = reply_message_id(msg.idempotency_key, PLUGIN_NAME, len(out.replies))
        code = ledger.take_code(
            conn,
            programme.name,
            key_name,
            number=number,
            now_ms=now_ms,
            ledger_id=change.entry_id,
            message_id=message_id,
        )
        if code is None:
            # Checked above inside this same write: only a foreign writer can empty it.
            raise RuntimeError(f"the {key_name} pool emptied during the redemption")
        params = {**params, "code": code, "balance": str(change.balance)}
        out.replies.append(_reply(programme, replies.redeemed, language, params))
        out.tags.append("redeemed")

    def _refer(self, turn: _Turn, custom: Custom, template: str) -> None:
        conn, programme, number, msg, now_ms, out = turn.unpack()
        replies = programme.file.replies
        language = custom.language
        referral = programme.file.referral
        written = custom.args[0] if custom.args else ""
        friend = _friend_number(written, number)
        if referral is None or friend is None:
            out.replies.append(
                _reply(
                    programme, replies.refer_invalid, language, {"keyword": custom.keyword.upper()}
                )
            )
            out.tags.append("refer-invalid")
            return
        shown = {"argument": "+" + friend}
        refusal: str | None = None
        if friend == number:
            refusal = replies.refer_self
        elif is_member(conn, friend, programme.scope, programme.name) or ledger.get_member(
            conn, friend, programme.name
        ):
            refusal = replies.refer_member
        elif _opted_out(conn, friend, programme):
            # Never invite someone who said STOP: refused, recorded nowhere, not counted.
            refusal = replies.refer_opted_out
        elif conn.execute(
            select(referrals.c.referrer).where(
                and_(referrals.c.programme == programme.name, referrals.c.friend == friend)
            )
        ).first():
            refusal = replies.refer_already
        elif ledger.referral_count(conn, programme.name, number) >= referral.max_per_referrer:
            refusal = replies.refer_cap
        if refusal is None:
            inserted = ledger.insert_ignore(
                conn,
                referrals,
                {
                    "programme": programme.name,
                    "friend": friend,
                    "referrer": number,
                    "created_at": now_ms,
                    "confirmed_at": None,
                },
            )
            if inserted is None:
                refusal = replies.refer_already
        if refusal is not None:
            out.replies.append(_reply(programme, refusal, language, shown))
            out.tags.append("refer-refused")
            return
        out.replies.append(_reply(programme, template, language, shown))
        out.tags.append("referred")
        if referral.invite is not False:
            invite = _reply(programme, referral.invite, language, {"referrer": "+" + number})
            out.sends.append(
                _Send(
                    msg.destination,
                    friend,
                    invite.text,
                    f"refer-invite:{programme.name}:{friend}",
                    referral.invite,
                )
            )

    def _birthday_given(self, turn: _Turn, custom: Custom) -> None:
        conn, programme, number, _, now_ms, out = turn.unpack()
        birthday = programme.file.birthday
        assert birthday is not None
        given = _month_day(custom.args[0] if custom.args else "")
        if given is None:
            out.replies.append(
                _reply(
                    programme, birthday.usage, custom.language, {"keyword": custom.keyword.upper()}
                )
            )
            out.tags.append("birthday-invalid")
            return
        conn.execute(
            update(loyalty_members)
            .where(
                and_(
                    loyalty_members.c.number == number,
                    loyalty_members.c.programme == programme.name,
                )
            )
            .values(birthday=given, updated_at=now_ms)
        )
        out.replies.append(_reply(programme, birthday.saved, custom.language, {"birthday": given}))
        out.tags.append("birthday-saved")

    # -- receipts --------------------------------------------------------------------

    def receipt(self, evt: ReceiptEvent) -> Deferred[None] | None:
        if evt.state not in NOT_DELIVERED or self._context is None:
            return None
        now_ms = self._now_ms()
        # Refused before any carrier had it (a plugin, no route: no carrier id):
        # nobody has seen the code, so it may go to the next member.
        never_sent = evt.state is State.REJECTED and evt.carrier_id is None
        return self._writing(
            lambda conn: self._restore(conn, evt.message_id, now_ms, never_sent=never_sent)
        )

    def _restore(self, conn: Connection, message_id: str, now_ms: int, *, never_sent: bool) -> None:
        row = conn.execute(
            select(
                reward_codes.c.id,
                reward_codes.c.code,
                reward_codes.c.programme,
                reward_codes.c.reward,
                reward_codes.c.issued_to,
                reward_codes.c.ledger_id,
            ).where(reward_codes.c.message_id == message_id)
        ).first()
        if row is None or row.issued_to is None:
            return
        programme = next((p for p in self._programmes if p.name == row.programme), None)
        spent = conn.execute(
            select(points_ledger.c.points).where(points_ledger.c.id == row.ledger_id)
        ).scalar()
        if programme is None or spent is None:
            return
        ledger.credit(
            conn,
            programme,
            row.issued_to,
            kind="restore",
            points=-int(spent),
            key=f"restore:{programme.name}:{row.issued_to}:{message_id}",
            now_ms=now_ms,
            actor=PROGRAMME_ACTOR,
            reward=row.reward,
            reason=(
                f"code message {message_id} not sent: code {row.code} back in the pool"
                if never_sent
                else f"code message {message_id} not delivered: code {row.code} retired"
                " (not reissued)"
            ),
        )
        if not never_sent:
            # A carrier had the text: the code may reach the member late, or
            # someone else. It stays issued to the member and never goes out again.
            return
        conn.execute(
            update(reward_codes)
            .where(and_(reward_codes.c.id == row.id, reward_codes.c.message_id == message_id))
            .values(issued_to=None, issued_at=None, ledger_id=None, message_id=None)
        )

    # -- messages the programme starts ----------------------------------------------

    def _send_all(self, sends: Sequence[_Send]) -> None:
        # Only after the write committed: a write may run more than once.
        context = self._context
        if context is None:
            return
        for item in sends:
            d = context.send(
                source=item.source,
                destination=item.destination,
                text=item.text,
                message_class=MessageClass.MARKETING,
                key=item.key,
                metadata={"template": item.template},
            )
            d.addCallbacks(self._sent, self._send_failed, callbackArgs=(item,), errbackArgs=(item,))

    def _sent(self, result: SendResult, item: _Send) -> None:
        if not result.sent:
            self._log.info(
                "loyalty: {template} to {number} not sent: {reason}",
                template=item.template,
                number=item.destination,
                reason=result.reason,
            )

    def _send_failed(self, failure: Failure, item: _Send) -> None:
        self._log.failure(
            "loyalty: sending {template} to {number} failed",
            failure,
            template=item.template,
            number=item.destination,
        )

    # -- timed work --------------------------------------------------------------------

    def _tick(self) -> None:
        self._timer = None
        if self._stopped:
            return
        self._running = Deferred.fromCoroutine(self._run_jobs())
        self._running.addErrback(
            lambda failure: self._log.failure("loyalty: timed work failed", failure)
        )
        self._running.addBoth(self._ran)

    def _ran(self, _: object) -> None:
        self._running = None
        self._arm()

    async def _run_jobs(self) -> None:
        for programme in self._programmes:
            mark = programme.path.as_posix()
            expiry = programme.file.expiry
            if expiry.policy != "never":
                self._expiry_marks[mark] = await self._writing(
                    partial(
                        self._expire,
                        programme=programme,
                        mark=self._expiry_marks.get(mark),
                        now_ms=self._now_ms(),
                    )
                )
            if expiry.policy != "never" and expiry.reminder is not None:
                now_ms = self._now_ms()
                self._reminder_marks[mark], sends = await self._writing(
                    partial(
                        self._remind,
                        programme=programme,
                        mark=self._reminder_marks.get(mark, (now_ms, 0)),
                        now_ms=now_ms,
                    )
                )
                self._send_all(sends)
            if programme.file.birthday is not None:
                self._birthday_marks[mark], sends = await self._writing(
                    partial(
                        self._birthdays,
                        programme=programme,
                        mark=self._birthday_marks.get(mark),
                        now_ms=self._now_ms(),
                    )
                )
                self._send_all(sends)

    def _batch(self) -> int:
        assert self._context is not None
        return self._context.config.batch

    def _credits_after(
        self, programme: LoadedProgramme, mark: tuple[int, int], until_ms: int
    ) -> Any:
        at, entry = mark
        c = points_ledger.c
        return (
            select(c.id, c.number, c.expires_at)
            .where(
                c.programme == programme.name,
                c.kind.in_(ledger.CREDIT_KINDS),
                c.expires_at.is_not(None),
                c.expires_at <= until_ms,
                or_(c.expires_at > at, and_(c.expires_at == at, c.id > entry)),
            )
            .order_by(c.expires_at, c.id)
            .limit(self._batch())
        )

    def _expire(
        self,
        conn: Connection,
        *,
        programme: LoadedProgramme,
        mark: tuple[int, int] | None,
        now_ms: int,
    ) -> tuple[int, int]:
        if mark is None:
            # After a restart: from the last lapse moment settled (its ties again: harmless).
            settled = conn.execute(
                select(func.max(points_ledger.c.expires_at)).where(
                    points_ledger.c.programme == programme.name, points_ledger.c.kind == "expire"
                )
            ).scalar()
            mark = (int(settled) - 1, 0) if settled is not None else (0, 0)
        rows = conn.execute(self._credits_after(programme, mark, now_ms)).all()
        for number in dict.fromkeys(row.number for row in rows):
            due, latest = ledger.due_points(conn, programme.name, number, now_ms)
            if due > 0 and latest is not None:
                ledger.debit(
                    conn,
                    programme,
                    number,
                    kind="expire",
                    points=due,
                    key=f"expire:{programme.name}:{number}:{latest}",
                    now_ms=now_ms,
                    actor=PROGRAMME_ACTOR,
                    reason="points lapsed",
                    boundary_ms=latest,
                )
        return (int(rows[-1].expires_at), int(rows[-1].id)) if rows else mark

    def _remind(
        self,
        conn: Connection,
        *,
        programme: LoadedProgramme,
        mark: tuple[int, int],
        now_ms: int,
    ) -> tuple[tuple[int, int], list[_Send]]:
        sends: list[_Send] = []
        expiry = programme.file.expiry
        assert expiry.reminder is not None and expiry.reminder_days is not None
        horizon = now_ms + expiry.reminder_days * 86_400_000
        rows = conn.execute(self._credits_after(programme, mark, horizon)).all()
        for number in dict.fromkeys(row.number for row in rows):
            if not is_member(conn, number, programme.scope, programme.name):
                continue
            due, latest = ledger.due_points(conn, programme.name, number, horizon)
            if due <= 0 or latest is None or latest <= now_ms:
                continue
            member = ledger.get_member(conn, number, programme.name)
            day = datetime.fromtimestamp(latest / 1000, programme.zone).date().isoformat()
            params = {
                "points": str(due),
                "date": day,
                "balance": str(member.balance if member is not None else 0),
            }
            language = programme.ruleset.default_language
            reply = _reply(programme, expiry.reminder, language, params)
            key = f"expiry-reminder:{programme.name}:{number}:{latest}"
            sends.append(_Send(programme.sender, number, reply.text, key, expiry.reminder))
        return ((int(rows[-1].expires_at), int(rows[-1].id)) if rows else mark), sends

    def _birthdays(
        self,
        conn: Connection,
        *,
        programme: LoadedProgramme,
        mark: tuple[date, str] | None,
        now_ms: int,
    ) -> tuple[tuple[date, str], list[_Send]]:
        sends: list[_Send] = []
        birthday = programme.file.birthday
        assert birthday is not None
        today = datetime.fromtimestamp(now_ms / 1000, programme.zone).date()
        after = mark[1] if mark is not None and mark[0] == today else ""
        days = [today.strftime("%m-%d")]
        if days[0] == "02-28" and not _leap(today.year):
            days.append("02-29")
        c = loyalty_members.c
        key_of = literal(f"birthday:{programme.name}:") + c.number + literal(f":{today.year}")
        rows = conn.execute(
            select(c.number)
            .where(
                c.programme == programme.name,
                c.birthday.in_(days),
                c.number > after,
                ~select(points_ledger.c.id)
                .where(points_ledger.c.idempotency_key == key_of)
                .exists(),
            )
            .order_by(c.number)
            .limit(self._batch())
        ).all()
        language = programme.ruleset.default_language
        for row in rows:
            number = str(row.number)
            if not is_member(conn, number, programme.scope, programme.name):
                continue
            key = f"birthday:{programme.name}:{number}:{today.year}"
            change = ledger.credit(
                conn,
                programme,
                number,
                kind="bonus",
                points=birthday.points,
                key=key,
                now_ms=now_ms,
                actor=PROGRAMME_ACTOR,
                reason="birthday",
            )
            if change is None:
                continue
            params = {
                "points": str(birthday.points),
                "balance": str(change.balance),
                "tier": _tier_label(change.tier_after),
            }
            reply = _reply(programme, birthday.template, language, params)
            sends.append(_Send(programme.sender, number, reply.text, key, birthday.template))
            if change.tier_up:
                self._tier_send(programme, number, change, sends)
        # A full batch continues after its last number; otherwise the next
        # run looks again from the start (new birthdays given today).
        last = str(rows[-1].number) if len(rows) >= self._batch() else ""
        return (today, last), sends


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_day(text: str) -> str | None:
    found = _BIRTHDAY.match(text.strip())
    if found is None:
        return None
    month, day = int(found.group(1)), int(found.group(2))
    try:
        date(2000, month, day)  # a leap year: 02-29 is a birthday
    except ValueError:
        return None
    return f"{month:02d}-{day:02d}"


def _earn_refusal(
    conn: Connection,
    *,
    programme: LoadedProgramme,
    rule: Any,
    name: str,
    number: str,
    member: ledger.Member,
    now_ms: int,
) -> str | None:
    """Why an earn rule gives nothing now: "closed" (window, tier, segment,
    budget) or "limit" (the member's caps, cooldown); None when it gives."""
    local = datetime.fromtimestamp(now_ms / 1000, programme.zone)
    today = local.date()
    if rule.starts is not None and today < rule.starts:
        return "closed"
    if rule.ends is not None and today > rule.ends:
        return "closed"
    if rule.weekdays and _WEEKDAYS[local.weekday()] not in rule.weekdays:
        return "closed"
    if rule.opens is not None and rule.closes is not None:
        moment = local.time().replace(tzinfo=None)
        if rule.opens < rule.closes:
            inside = rule.opens <= moment < rule.closes
        else:
            inside = moment >= rule.opens or moment < rule.closes
        if not inside:
            return "closed"
    if rule.tiers and member.tier not in rule.tiers:
        return "closed"
    if rule.segments:
        prefixes = [
            p for segment in rule.segments for p in programme.file.segments.get(segment, ())
        ]
        if not any(number.startswith(prefix) for prefix in prefixes):
            return "closed"
    caps = {"day": rule.per_day, "week": rule.per_week, "month": rule.per_month}
    bounds = {
        period: ledger.local_period_start(programme, now_ms, period)
        for period, cap in caps.items()
        if cap is not None
    }
    cooldown_ms = None if rule.cooldown_minutes is None else rule.cooldown_minutes * 60_000
    if bounds or cooldown_ms is not None:
        # One look at the member's recent earnings answers every cap and the
        # cooldown: the rows since the earliest moment any of them asks about.
        since = min([*bounds.values(), *([] if cooldown_ms is None else [now_ms - cooldown_ms])])
        counts = conn.execute(
            _EARN_HISTORY,
            {
                "programme": programme.name,
                "number": number,
                "rule": name,
                "since": since,
                **{f"{period}_start": bounds.get(period, since) for period in caps},
            },
        ).one()
        for period, count in zip(caps, counts[:3], strict=True):
            cap = caps[period]
            if cap is not None and count >= cap:
                return "limit"
        last = counts[3]
        if cooldown_ms is not None and last is not None and now_ms - int(last) < cooldown_ms:
            return "limit"
    c = points_ledger.c
    if rule.budget is not None:
        spent = conn.execute(
            select(func.coalesce(func.sum(c.points), 0)).where(
                c.programme == programme.name, c.kind == "earn", c.rule == name
            )
        ).scalar_one()
        if int(spent) + rule.points > rule.budget:
            return "closed"
    return None


_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Statements every inbound message may run, built once with bound parameters
# (see plugins.loyalty.ledger: building one costs more than running it).
_p = points_ledger.c
_RECORDED: Final = select(_p.points).where(_p.idempotency_key == bindparam("key"))
_EARN_HISTORY: Final = select(
    func.count(case((_p.at >= bindparam("day_start"), 1))),
    func.count(case((_p.at >= bindparam("week_start"), 1))),
    func.count(case((_p.at >= bindparam("month_start"), 1))),
    func.max(_p.at),
).where(
    _p.programme == bindparam("programme"),
    _p.number == bindparam("number"),
    _p.kind == "earn",
    _p.rule == bindparam("rule"),
    _p.at >= bindparam("since"),
)
_WAITING_REFERRAL: Final = select(referrals.c.referrer).where(
    referrals.c.programme == bindparam("programme"),
    referrals.c.friend == bindparam("friend"),
    referrals.c.confirmed_at.is_(None),
)


def _keyword_of(
    site: _Site, msg: InboundMessage, text: NormalisedText, now: datetime
) -> tuple[LoadedProgramme, Custom] | None:
    """The programme and decision when ``text`` is one of the site's programme keywords.

    Evaluated as if the sender were a member of every programme: only to tell
    whether the text is one of ours (a :class:`rules.Custom` decision), and in
    which language; the consent keywords give none.
    """
    everyone = SubscriberState(programmes=frozenset(p.name for p in site.programmes))
    decisions = evaluate(text, everyone, site.ruleset, now, destination=msg.destination)
    custom = next((d for d in decisions if isinstance(d, Custom)), None)
    programme = None if custom is None else site.programme(custom.programme)
    if custom is None or programme is None:
        return None
    return programme, custom


def _limited(
    site: _Site, programme: LoadedProgramme, custom: Custom, verdict: Verdict
) -> InboundOutcome:
    """A limited sender's keyword: no effect; "slow down" once, then silence."""
    forward = site.ruleset.forward_handled
    if verdict is Verdict.SILENT:
        return InboundOutcome(forward=forward, tags=("limited",))
    reply = _reply(programme, programme.file.replies.slow_down, custom.language, {})
    return InboundOutcome(forward=forward, replies=(reply,), tags=("limited",))


def _is_member(state: SubscriberState, programme: LoadedProgramme) -> bool:
    """:func:`plugins.subscribers.is_member` read from a state of the programme's scope."""
    return programme.name in state.programmes and not state.opted_out


def _opted_out(conn: Connection, number: str, programme: LoadedProgramme) -> bool:
    """True when ``number`` left ``programme``, or said plain STOP to any brand."""
    c = subscriptions.c
    found = conn.execute(
        select(c.programme)
        .where(
            c.number == number,
            c.status == OPTED_OUT,
            or_(
                c.programme == ALL_PROGRAMMES,
                and_(c.scope == programme.scope, c.programme == programme.name),
            ),
        )
        .limit(1)
    ).first()
    return found is not None


def _reread(conn: Connection, member: ledger.Member) -> ledger.Member:
    """``member``'s row again, after points moved."""
    fresh = ledger.get_member(conn, member.number, member.programme)
    assert fresh is not None
    return fresh


def _friend_number(written: str, sender: str) -> str | None:
    """A REFER argument as a canonical subscriber number, or None when it is none.

    ``+46...`` is international; a national number (``0701234567``) takes
    the sender's own country; bare international digits (``46701234567``)
    are tried last.
    """
    candidates: list[tuple[str, str | None]] = []
    if written.startswith("+"):
        candidates.append((written, None))
    else:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + sender))
        except phonenumbers.NumberParseException:
            region = None
        if region and region != "ZZ":
            candidates.append((written, region))
        candidates.append(("+" + written, None))
    for text, region in candidates:
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return subscriber_number(
                phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            )
    return None
