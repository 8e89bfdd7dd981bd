"""A loyalty plugin on a real store, a Clock and a synchronous writer, for the tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import Logger

from plugins.api import (
    Channel,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    PluginContext,
    SendResult,
)
from plugins.loyalty import LoyaltyPlugin
from plugins.loyalty.config import LoyaltyConfig
from plugins.subscribers import ms
from smppd.store.models import loyalty_members, points_ledger, reward_codes, subscriptions
from tests.plugins.fakes import run_now

R = TypeVar("R")

REPO = Path(__file__).resolve().parents[3]
COFFEE = REPO / "config" / "rules" / "coffee.toml"
SCOPE = "Kaffebaren"
SHORT_CODE = "72000"
ALICE = "46701234567"
BOB = "46701234568"
# Monday 2 March 2026, 13:00 in Stockholm: the shop is open.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

BASE_PROGRAMME = """
ruleset = "{ruleset}"
programme = "coffee"
timezone = "Europe/Stockholm"
join_bonus = 50

[earn.earn]
points = 10
{earn}

[[tiers]]
name = "bronze"
threshold = 0

[[tiers]]
name = "silver"
threshold = 100
template = "tier_silver"

[rewards.latte]
points = 100
names.en = ["latte"]
names.zh = ["拿铁"]
validity.en = "for 30 days"

[referral]
referrer_points = 100
friend_points = 50
max_per_referrer = 2
invite = "refer_invite"

[expiry]
{expiry}

[birthday]
points = 25
rule = "birthday"
template = "birthday"
saved = "birthday_saved"
usage = "birthday_usage"

[limits]
messages_per_minute = 20
repeat_limit = 30
{limits}
"""


def programme_text(*, earn: str = "", expiry: str = 'policy = "never"', limits: str = "") -> str:
    return BASE_PROGRAMME.format(ruleset=COFFEE.as_posix(), earn=earn, expiry=expiry, limits=limits)


@dataclass(frozen=True)
class Sent:
    source: str
    destination: str
    text: str
    message_class: MessageClass
    key: str | None


class Store:
    """A synchronous ``write`` on a real engine, and a recording ``send``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.outbox: list[Sent] = []

    def write(self, fn: Callable[[Connection], R], /) -> Deferred[R]:
        try:
            with self.engine.begin() as conn:
                return succeed(fn(conn))
        except Exception as exc:
            return fail(exc)

    def send(
        self,
        *,
        source: str,
        destination: str,
        text: str,
        message_class: MessageClass = MessageClass.MARKETING,
        key: str | None = None,
        metadata: Mapping[str, str] = MappingProxyType({}),
    ) -> Deferred[SendResult]:
        self.outbox.append(Sent(source, destination, text, message_class, key))
        return succeed(SendResult(f"m-{len(self.outbox)}", None, "accepted"))


@dataclass
class Loyalty:
    plugin: LoyaltyPlugin
    store: Store
    clock: Clock
    engine: Engine

    def inbound(self, text: str, *, key: str, source: str = ALICE) -> InboundOutcome:
        msg = InboundMessage(
            source=source,
            destination=SHORT_CODE,
            text=text,
            received_at=datetime.fromtimestamp(self.clock.seconds(), UTC),
            channel=Channel.SMPP,
            connector="carrier-a",
            idempotency_key=key,
        )
        answer = self.plugin.inbound(msg)
        if isinstance(answer, InboundOutcome):
            return answer
        results: list[Any] = []
        answer.addBoth(results.append)
        assert len(results) == 1 and isinstance(results[0], InboundOutcome), results
        return results[0]

    def texts(self, outcome: InboundOutcome) -> list[str]:
        return [reply.text for reply in outcome.replies]

    def join(self, number: str = ALICE, *, status: str = "opted_in") -> None:
        now = ms(datetime.fromtimestamp(self.clock.seconds(), UTC))
        with self.engine.begin() as conn:
            conn.execute(
                subscriptions.delete().where(
                    subscriptions.c.number == number, subscriptions.c.programme == "coffee"
                )
            )
            conn.execute(
                subscriptions.insert().values(
                    number=number,
                    scope=SCOPE,
                    programme="coffee",
                    status=status,
                    language="en",
                    since=now,
                    updated_at=now,
                )
            )

    def balance(self, number: str = ALICE) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(loyalty_members.c.balance).where(loyalty_members.c.number == number)
            ).scalar()
        return None if value is None else int(value)

    def ledger(self, number: str = ALICE) -> list[tuple[str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(points_ledger.c.kind, points_ledger.c.points)
                .where(points_ledger.c.number == number)
                .order_by(points_ledger.c.id)
            ).all()
        return [(str(kind), int(points)) for kind, points in rows]

    def add_codes(self, *codes: str, reward: str = "latte") -> None:
        with self.engine.begin() as conn:
            for code in codes:
                conn.execute(
                    reward_codes.insert().values(
                        programme="coffee", reward=reward, code=code, imported_at=0
                    )
                )

    def advance_to(self, moment: datetime) -> None:
        self.clock.advance(moment.timestamp() - self.clock.seconds())


def start(engine: Engine, tmp_path: Path, text: str | None = None) -> Loyalty:
    (tmp_path / "loyalty.toml").write_text(text if text is not None else programme_text())
    config = LoyaltyConfig.model_validate({"programmes": ["loyalty.toml"], "interval": 600.0})
    clock = Clock()
    clock.advance(T0.timestamp())
    store = Store(engine)
    context: PluginContext[LoyaltyConfig] = PluginContext(
        name="loyalty",
        clock=clock,
        log=Logger(namespace="test.loyalty"),
        run_blocking=run_now,
        config=config,
        engine=engine,
        send=store.send,
        write=store.write,
        base_dir=tmp_path,
    )
    plugin = LoyaltyPlugin()
    plugin.start(context)
    return Loyalty(plugin, store, clock, engine)
