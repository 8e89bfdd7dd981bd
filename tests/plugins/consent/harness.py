"""A started consent plugin on a real store and a Clock, driven like the gateway drives it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, select
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, Logger

from plugins.api import (
    Channel,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    OutboundMessage,
    PluginContext,
    Verdict,
)
from plugins.consent import ConsentConfig, ConsentPlugin
from smppd.store.models import consent_ledger, marketing_sends, pending_questions, subscriptions
from tests.plugins.fakes import result_of, run_now

REPO = Path(__file__).resolve().parents[3]
COFFEE = "config/rules/coffee.toml"
BRAND = "Kaffebaren"
# Monday 2 March 2026, 12:00 UTC: 13:00 in Stockholm, inside marketing hours.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SUBSCRIBER = "46701234567"
SHORT_CODE = "72000"
# A number no rule set covers (a modem's own number).
MODEM_NUMBER = "46709998877"


def texts(outcome: InboundOutcome) -> list[str]:
    return [reply.text for reply in outcome.replies]


class Consent:
    """The plugin with the example rule set (and ``table``'s settings) on ``engine``."""

    def __init__(
        self,
        engine: Engine,
        table: Mapping[str, Any] | None = None,
        *,
        at: datetime = T0,
        start: bool = True,
    ) -> None:
        self.engine = engine
        self.clock = Clock()
        self.clock.advance(at.timestamp())
        self.events: list[dict[str, Any]] = []
        settings = {"rulesets": [COFFEE], **(table or {})}
        self.config = ConsentConfig.model_validate(settings, context={"base_dir": REPO})
        self.plugin = ConsentPlugin()
        self.context: PluginContext[ConsentConfig] = PluginContext(
            name="consent",
            clock=self.clock,
            log=Logger(namespace="test.consent", observer=cast(ILogObserver, self.events.append)),
            run_blocking=run_now,
            config=self.config,
            engine=engine,
            base_dir=REPO,
        )
        self._keys = itertools.count(1)
        self._ids = itertools.count(1)
        if start:
            self.start()

    def start(self) -> None:
        result_of(self.plugin.start(self.context))

    def stop(self) -> None:
        self.plugin.stop()
        assert self.clock.getDelayedCalls() == [], "the plugin left a timer behind"

    # -- time -------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta.total_seconds())

    # -- hooks ------------------------------------------------------------

    def message(
        self,
        text: str,
        *,
        key: str | None = None,
        source: str = SUBSCRIBER,
        destination: str = SHORT_CODE,
    ) -> InboundMessage:
        return InboundMessage(
            source=source,
            destination=destination,
            text=text,
            received_at=self.now(),
            channel=Channel.SMPP,
            connector="carrier-a",
            idempotency_key=key if key is not None else f"mo-{next(self._keys)}",
            carrier_reference="ref-1",
        )

    def inbound(self, text: str, **fields: Any) -> InboundOutcome:
        return self.handle(self.message(text, **fields))

    def handle(self, msg: InboundMessage) -> InboundOutcome:
        return result_of(self.plugin.inbound(msg))

    def outbound(
        self,
        *,
        destination: str = SUBSCRIBER,
        source: str = SHORT_CODE,
        message_class: MessageClass = MessageClass.MARKETING,
        message_id: str | None = None,
        **fields: Any,
    ) -> Verdict:
        msg = OutboundMessage(
            message_id=message_id or f"m-{next(self._ids)}",
            system_id=fields.pop("system_id", "shop"),
            source=source,
            destination=destination,
            message_class=message_class,
            text="This week your second coffee is free! Reply STOP to opt out.",
            **fields,
        )
        answer = self.plugin.outbound(msg)
        return result_of(answer) if isinstance(answer, Deferred) else answer

    # -- the store ------------------------------------------------------------

    def ledger(self, number: str = SUBSCRIBER) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(consent_ledger)
                    .where(consent_ledger.c.number == number)
                    .order_by(consent_ledger.c.id)
                ).all()
            )

    def status(
        self, programme: str = "", scope: str = BRAND, number: str = SUBSCRIBER
    ) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(subscriptions.c.status).where(
                    subscriptions.c.number == number,
                    subscriptions.c.scope == scope,
                    subscriptions.c.programme == programme,
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)

    def pending(self, scope: str = BRAND, number: str = SUBSCRIBER) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(pending_questions.c.question).where(
                    pending_questions.c.number == number, pending_questions.c.scope == scope
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)

    def marketing_sends(self, number: str = SUBSCRIBER) -> list[tuple[str, int]]:
        with self.engine.connect() as conn:
            return [
                (row.message_id, row.at)
                for row in conn.execute(
                    select(marketing_sends)
                    .where(marketing_sends.c.number == number)
                    .order_by(marketing_sends.c.at)
                ).all()
            ]
