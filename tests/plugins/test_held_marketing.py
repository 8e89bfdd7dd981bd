"""Marketing held for quiet hours meets the consent plugin again when it comes due:
nobody who said STOP while it waited gets it.

The real consent plugin (the example rule set) in a real plugin host, wired
as the daemon wires it, on a real store and group-commit writer: an
application's message is judged at acceptance as the application server
judges it, a plugin's own message goes through ``PluginMessages``, STOP
arrives through the inbound pipeline, and the dispatcher sends what is due.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from plugins.api import Defer, MessageClass, OutboundMessage, Sender, SendResult, Verdict
from plugins.consent import OPTED_OUT_STATUS, ConsentPlugin
from plugins.host import PluginHost, group_commit_writer, prepare_plugin
from smppd.connectors.base import InboundPart, SmppAddress
from smppd.dispatch import Dispatcher
from smppd.dispatch.inbound import InboundPipeline, InboundSettings
from smppd.dispatch.replies import PluginHooks, PluginMessages
from smppd.pipeline import Accepted, outbound_view
from smppd.routing import AddressNormaliser, InboundRoute, InboundRouter
from smppd.server.service import deferred_until
from smppd.server.submit import SubmitChecker
from smppd.store.ids import MessageIdGenerator
from smppd.store.ops import AcceptMessage, NewMessage
from smppd.store.schema import open_store
from tests.dispatch.harness import FakeConnector, Gateway, route
from tests.plugins.fakes import run_now

REPO = Path(__file__).resolve().parents[2]
SUBSCRIBER = "46701234567"
SHORT_CODE = "72000"
# Monday 2 March 2026, 21:30 UTC: 22:30 in Stockholm, after marketing hours.
EVENING = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
NIGHT = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
# 08:00 in Stockholm: the recipient's marketing hours open.
MORNING = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)


class _Birthdays:
    """A plugin that only sends (its greetings are marketing)."""

    name = "birthdays"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    made = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield made
    made.dispose()


class World:
    """The consent plugin and the gateway's outbound path, wired as the daemon does."""

    def __init__(self, engine: Engine) -> None:
        clock = Clock()
        clock.advance(EVENING.timestamp())
        self.carrier = FakeConnector("carrier")
        self.gw = Gateway(engine, [self.carrier], [route("main", [("carrier", 1)])], clock=clock)
        gw = self.gw
        self.host = PluginHost(
            [
                prepare_plugin(
                    "consent",
                    ConsentPlugin(),
                    {"rulesets": ["config/rules/coffee.toml"]},
                    base_dir=REPO,
                ),
                prepare_plugin("birthdays", _Birthdays()),
            ],
            clock=clock,
            run_blocking=run_now,
            engine=engine,
            sender=self._sender_for,
            write=group_commit_writer(gw.writer),
        )
        self.hooks = PluginHooks(self.host)
        self.checks = 0
        gw.dispatcher = Dispatcher(
            clock=clock,
            writer=gw.writer,
            connectors=gw.connectors,
            router=gw.router,
            outbox=gw.outbox,
            correlations=gw.shared,
            seed=7,
            outbound_check=self._counted_check,
            plugin_accounts=self.host.names,
        )
        ids = MessageIdGenerator()
        self.messages = PluginMessages(
            clock=clock,
            writer=gw.writer,
            composer=SubmitChecker(AddressNormaliser(), gw.router, ids),
            dispatch=gw.dispatcher,
            ids=ids,
            outbound_check=self.hooks.outbound,
            report=self.hooks.report,
        )
        self.hooks.messages = self.messages
        gw.wait(self.host.start())
        gw.dispatcher.start()
        gw.settle()
        self.pipeline = InboundPipeline(
            clock=clock,
            writer=gw.writer,
            outbox=gw.outbox,
            dedup=gw.shared,
            router=InboundRouter([InboundRoute("r", "shop", (SHORT_CODE,))]),
            normaliser=AddressNormaliser(),
            settings=InboundSettings(reassembly_timeout=60.0),
            inbound_hook=self.hooks.inbound,
        )

    def _sender_for(self, plugin: str) -> Sender:
        return self.messages.sender(plugin)

    def _counted_check(self, message: OutboundMessage) -> Deferred[Verdict]:
        self.checks += 1
        return self.hooks.outbound(message)

    # -- what happens ------------------------------------------------------------

    def submit(self, text: str = "Second coffee free this week! STOPP to opt out") -> str:
        """An application's marketing message, judged and stored as the server does."""
        gw = self.gw
        message = NewMessage(
            id=MessageIdGenerator().new(gw.clock.seconds()),
            account="shop",
            source_addr=SHORT_CODE,
            dest_addr=SUBSCRIBER,
            payload=text.encode(),
            parts=(text.encode(),),
            text=text,
            registered_delivery=1,
            traffic_class="marketing",
            route="main",
        )
        verdict = gw.wait(self.hooks.outbound(outbound_view(message)))
        assert isinstance(verdict, Defer), "the evening's marketing waits for the morning"
        message = deferred_until(message, verdict)
        gw.wait(gw.writer.submit(AcceptMessage(message, gw.clock.seconds())))
        gw.dispatcher.accepted(
            [Accepted(message.id, message.account, "main", message.schedule_at, None)]
        )
        gw.settle()
        return message.id

    def birthday(self) -> str:
        """A plugin's own marketing message."""
        result = self.gw.wait(
            self.messages.send(
                "birthdays",
                source=SHORT_CODE,
                destination=SUBSCRIBER,
                text="Happy birthday! A free bun today",
                message_class=MessageClass.MARKETING,
            )
        )
        assert isinstance(result, SendResult) and result.message_id is not None
        self.gw.settle()
        return result.message_id

    def texts(self, text: bytes) -> None:
        """The subscriber writes to the short code."""
        gw = self.gw
        part = InboundPart(
            connector="carrier",
            channel="smpp",
            source=SmppAddress(1, 1, SUBSCRIBER),
            destination=SmppAddress(3, 0, SHORT_CODE),
            esm_class=0,
            data_coding=0,
            short_message=text,
            message_payload=None,
            sar=None,
            received_at=gw.clock.seconds(),
        )
        gw.wait(self.pipeline.inbound(part))
        gw.settle()

    def at(self, moment: datetime) -> None:
        gw = self.gw
        gw.clock.advance(moment.timestamp() - gw.clock.seconds())
        gw.settle()
        gw.advance(3)

    def sent(self) -> list[str]:
        return [part.message_id for part in self.carrier.sent]

    def row(self, mid: str) -> Any:
        (found,) = self.gw.rows(
            f"SELECT state, error_code, schedule_at FROM messages WHERE id = '{mid}'"
        )
        return found

    def close(self) -> None:
        gw = self.gw
        gw.wait(self.host.stop())
        self.pipeline.stop()
        gw.wait(gw.dispatcher.stop())
        gw.close()


@pytest.fixture
def world(store: Engine) -> Iterator[World]:
    made = World(store)
    yield made
    made.close()


def test_marketing_held_overnight_is_not_sent_to_someone_who_said_stop(world: World) -> None:
    held = world.submit()
    assert world.row(held).state == "scheduled"
    assert world.row(held).schedule_at == MORNING.timestamp() * 1000
    assert world.checks == 0  # judged at acceptance only

    world.at(NIGHT)
    world.texts(b"STOP")
    confirmations = world.sent()
    assert len(confirmations) == 1, "STOP is confirmed at once, at night too"
    assert held not in confirmations

    world.at(MORNING)
    assert world.checks == 1
    assert held not in world.sent()
    row = world.row(held)
    assert (row.state, row.error_code) == ("rejected", OPTED_OUT_STATUS)
    # The application asked for receipts: its REJECTD is owed.
    assert world.gw.rows(f"SELECT state, error_code FROM receipts WHERE message_id = '{held}'") == [
        ("rejected", OPTED_OUT_STATUS)
    ]
    assert "shop" in world.gw.outbox.woken


def test_marketing_held_overnight_goes_in_the_morning_when_nobody_objected(
    world: World,
) -> None:
    held = world.submit()
    world.at(NIGHT)
    assert world.sent() == []
    world.at(MORNING)
    assert world.sent() == [held]
    assert world.row(held).state == "submitted"
    assert world.checks == 1


def test_a_plugins_greeting_held_overnight_is_not_sent_after_stop(world: World) -> None:
    greeting = world.birthday()
    assert world.row(greeting).state == "scheduled"
    world.at(NIGHT)
    world.texts(b"STOPP")
    world.at(MORNING)
    assert greeting not in world.sent()
    assert world.row(greeting).state == "rejected"


def test_transactional_messages_held_by_their_application_are_not_checked(
    world: World,
) -> None:
    gw = world.gw
    message = NewMessage(
        id=MessageIdGenerator().new(gw.clock.seconds()),
        account="shop",
        source_addr=SHORT_CODE,
        dest_addr=SUBSCRIBER,
        payload=b"Your order is ready",
        parts=(b"Your order is ready",),
        text="Your order is ready",
        traffic_class="transactional",
        route="main",
        schedule_at=MORNING.timestamp(),
    )
    gw.wait(gw.writer.submit(AcceptMessage(message, gw.clock.seconds())))
    gw.dispatcher.accepted([Accepted(message.id, "shop", "main", message.schedule_at, None)])
    gw.settle()
    world.at(NIGHT)
    world.texts(b"STOP")
    world.at(MORNING)
    assert message.id in world.sent()
    assert world.checks == 0
