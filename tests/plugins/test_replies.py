"""Plugin replies and plugin sends, through a real plugin host, store, writer and dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import Deferred

from plugins.api import (
    Accept,
    Defer,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    OutboundMessage,
    ReceiptEvent,
    Refuse,
    Reply,
    Sender,
    SendResult,
    reply_message_id,
    send_message_id,
)
from plugins.host import PluginHost, group_commit_writer, prepare_plugin
from smppd.connectors.base import InboundPart, SmppAddress
from smppd.dispatch.inbound import InboundPipeline, InboundSettings
from smppd.dispatch.replies import PluginHooks, PluginMessages
from smppd.routing import AddressNormaliser, InboundRoute, InboundRouter
from smppd.routing.outbound import OutboundRoute
from smppd.server.submit import SubmitChecker
from smppd.smpp.constants import CommandStatus
from smppd.store.dispatchops import ResolveInbound
from smppd.store.ids import MessageIdGenerator, is_message_id
from smppd.store.lifecycle import State
from smppd.store.schema import open_store
from tests.dispatch.harness import NOW, FakeConnector, Gateway, route
from tests.plugins.fakes import Scripted, run_now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite store of the test's own."""
    made = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield made
    made.dispose()


SUBSCRIBER = "46701111111"
SHORT_CODE = "72345"
S = CommandStatus


def mo(text: bytes = b"POINTS", *, connector: str = "carrier") -> InboundPart:
    return InboundPart(
        connector=connector,
        channel="smpp",
        source=SmppAddress(1, 1, SUBSCRIBER),
        destination=SmppAddress(3, 0, SHORT_CODE),
        esm_class=0,
        data_coding=0,
        short_message=text,
        message_payload=None,
        sar=None,
        received_at=NOW,
    )


class _FailResolveOnce:
    """A writer whose first ResolveInbound is lost, as if the gateway died
    between the plugins' effects and recording the inbound outcome."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.lost = 0

    def submit(self, op: Any) -> Deferred[Any]:
        if isinstance(op, ResolveInbound) and op.message is None and not self.lost:
            self.lost += 1
            return Deferred()  # never committed: the process is gone
        result: Deferred[Any] = self._writer.submit(op)
        return result


class World:
    """The gateway's plugin plumbing around the dispatch test harness."""

    def __init__(
        self,
        engine: Engine,
        plugins: list[Scripted],
        *,
        routes: list[OutboundRoute] | None = None,
    ) -> None:
        self.carrier = FakeConnector("carrier")
        self.gw = Gateway(engine, [self.carrier], routes or [route("main", [("carrier", 1)])])
        self.host = PluginHost(
            [prepare_plugin(p.name, p) for p in plugins],
            clock=self.gw.clock,
            run_blocking=run_now,
            sender=self._sender_for,
            write=group_commit_writer(self.gw.writer),
        )
        ids = MessageIdGenerator()
        self.hooks = PluginHooks(self.host)
        self.messages = PluginMessages(
            clock=self.gw.clock,
            writer=self.gw.writer,
            composer=SubmitChecker(AddressNormaliser(), self.gw.router, ids),
            dispatch=self.gw.dispatcher,
            ids=ids,
            outbound_check=self.hooks.outbound,
            report=self.hooks.report,
        )
        self.hooks.messages = self.messages
        self.gw.wait(self.host.start())
        self.gw.dispatcher.start()
        self.gw.settle()
        self.pipeline = self.new_pipeline(self.gw.writer)

    def _sender_for(self, plugin: str) -> Sender:
        # Called as the plugins start, once the outbound path exists.
        return self.messages.sender(plugin)

    def new_pipeline(self, writer: Any) -> InboundPipeline:
        return InboundPipeline(
            clock=self.gw.clock,
            writer=writer,
            outbox=self.gw.outbox,
            dedup=self.gw.shared,
            router=InboundRouter([InboundRoute("r", "acme", (SHORT_CODE,))]),
            normaliser=AddressNormaliser(),
            settings=InboundSettings(reassembly_timeout=60.0),
            inbound_hook=self.hooks.inbound,
        )

    def mo(self, part: InboundPart, pipeline: InboundPipeline | None = None) -> None:
        self.gw.wait((pipeline or self.pipeline).inbound(part))
        self.gw.settle()

    def plugin_rows(self, account: str) -> list[Any]:
        return self.gw.rows(
            "SELECT id, source_addr, dest_addr, traffic_class, registered_delivery, state,"
            f" schedule_at FROM messages WHERE account = '{account}'"
        )

    def close(self) -> None:
        self.gw.wait(self.host.stop())
        self.pipeline.stop()
        self.gw.wait(self.gw.dispatcher.stop())
        self.gw.close()


def _answering(*texts: str, message_class: MessageClass = MessageClass.MARKETING) -> Any:
    def inbound(_: InboundMessage) -> InboundOutcome:
        return InboundOutcome(
            forward=False, replies=tuple(Reply(t, message_class=message_class) for t in texts)
        )

    return inbound


def _keys(journal: list[tuple[str, str, str]], plugin: str, hook: str) -> list[str]:
    return [subject for name, what, subject in journal if name == plugin and what == hook]


def test_a_reply_goes_from_the_short_code_to_the_sender_through_the_outbound_hooks(
    store: Engine,
) -> None:
    journal: list[tuple[str, str, str]] = []
    seen: list[OutboundMessage] = []

    def watch(msg: OutboundMessage) -> Any:
        seen.append(msg)
        return Accept()

    loyalty = Scripted(
        "loyalty",
        journal,
        inbound=_answering("You have 120 points", message_class=MessageClass.TRANSACTIONAL),
    )
    consent = Scripted("consent", journal, outbound=watch)
    world = World(store, [consent, loyalty])
    try:
        world.mo(mo())
        (key,) = _keys(journal, "loyalty", "inbound")
        expected_id = reply_message_id(key, "loyalty", 0)
        assert is_message_id(expected_id)
        (row,) = world.plugin_rows("loyalty")
        assert row.id == expected_id
        assert (row.source_addr, row.dest_addr) == (SHORT_CODE, SUBSCRIBER)
        assert (row.traffic_class, row.registered_delivery) == ("transactional", 1)
        # It reached the carrier, from the short code to the subscriber.
        (part,) = world.carrier.sent
        assert part.message_id == expected_id
        assert (part.source.addr, part.destination.addr) == (SHORT_CODE, SUBSCRIBER)
        assert part.short_message == b"You have 120 points"
        # The outbound hooks saw it as the plugin's reply.
        (view,) = seen
        assert (view.origin, view.in_reply_to, view.system_id) == ("loyalty", key, "loyalty")
        assert view.message_class is MessageClass.TRANSACTIONAL
        assert view.message_id == expected_id
        # forward=False: the application got nothing.
        assert world.gw.scalar("SELECT count(*) FROM inbound_messages WHERE account='acme'") == 0
    finally:
        world.close()


def test_replies_are_numbered_per_plugin_and_all_sent(store: Engine) -> None:
    journal: list[tuple[str, str, str]] = []
    loyalty = Scripted("loyalty", journal, inbound=_answering("one", "two"))
    world = World(store, [loyalty])
    try:
        world.mo(mo())
        (key,) = _keys(journal, "loyalty", "inbound")
        ids = {row.id for row in world.plugin_rows("loyalty")}
        assert ids == {reply_message_id(key, "loyalty", 0), reply_message_id(key, "loyalty", 1)}
        assert sorted(p.short_message for p in world.carrier.sent) == [b"one", b"two"]
    finally:
        world.close()


def test_an_inbound_message_handled_again_after_a_crash_is_replied_to_once(store: Engine) -> None:
    journal: list[tuple[str, str, str]] = []
    loyalty = Scripted("loyalty", journal, inbound=_answering("You have 120 points"))
    world = World(store, [loyalty])
    try:
        lossy = _FailResolveOnce(world.gw.writer)
        first = world.new_pipeline(lossy)
        world.mo(mo(), first)
        assert lossy.lost == 1
        assert len(world.carrier.sent) == 1
        first.stop()
        # The next run reads the unresolved part back and shows it to the plugin again.
        restored = world.gw.wait(world.pipeline.start())
        world.gw.settle()
        assert restored == 1
        keys = _keys(journal, "loyalty", "inbound")
        assert len(keys) == 2 and keys[0] == keys[1]
        assert len(world.plugin_rows("loyalty")) == 1
        assert len(world.carrier.sent) == 1
        # Recognised as stored, not failed: nothing to report to the plugin.
        assert _keys(journal, "loyalty", "receipt") == []
        # This time the inbound message was resolved: nothing is left to read back.
        assert (
            world.gw.scalar(
                "SELECT count(*) FROM inbound_messages"
                " WHERE account = '~part' AND forwarded_at IS NULL"
            )
            == 0
        )
    finally:
        world.close()


def test_a_reply_refused_by_another_plugin_is_not_sent_and_its_plugin_hears_rejected(
    store: Engine,
) -> None:
    journal: list[tuple[str, str, str]] = []
    reported: list[ReceiptEvent] = []

    def opted_out(msg: OutboundMessage) -> Any:
        return Refuse(S.ESME_RX_R_APPN, "recipient opted out")

    loyalty = Scripted(
        "loyalty", journal, inbound=_answering("Your reward: ABC-123"), receipt=reported.append
    )
    bystander: list[ReceiptEvent] = []
    consent = Scripted("consent", journal, outbound=opted_out, receipt=bystander.append)
    world = World(store, [consent, loyalty])
    try:
        world.mo(mo())
        (key,) = _keys(journal, "loyalty", "inbound")
        assert world.plugin_rows("loyalty") == []
        assert world.carrier.sent == []
        (event,) = reported
        assert event.message_id == reply_message_id(key, "loyalty", 0)
        assert event.state is State.REJECTED
        assert event.error is not None and "recipient opted out" in event.error
        # Only the plugin whose reply it was hears of it.
        assert bystander == []
    finally:
        world.close()


def test_a_reply_without_a_route_for_the_plugin_is_reported_rejected(store: Engine) -> None:
    journal: list[tuple[str, str, str]] = []
    reported: list[ReceiptEvent] = []
    loyalty = Scripted("loyalty", journal, inbound=_answering("hi"), receipt=reported.append)
    shop_only = OutboundRoute("shop", route("x", [("carrier", 1)]).groups, accounts=("shop",))
    world = World(store, [loyalty], routes=[shop_only])
    try:
        world.mo(mo())
        assert world.plugin_rows("loyalty") == []
        (event,) = reported
        assert event.state is State.REJECTED and event.error
    finally:
        world.close()


def test_a_route_for_the_plugins_account_takes_its_replies(store: Engine) -> None:
    journal: list[tuple[str, str, str]] = []
    loyalty = Scripted("loyalty", journal, inbound=_answering("hi"))
    groups = route("x", [("carrier", 1)]).groups
    world = World(
        store,
        [loyalty],
        routes=[
            OutboundRoute("shop", groups, accounts=("shop",)),
            OutboundRoute("plugins", groups, accounts=("loyalty",)),
        ],
    )
    try:
        world.mo(mo())
        rows = world.gw.rows("SELECT route FROM messages WHERE account = 'loyalty'")
        assert [r.route for r in rows] == ["plugins"]
    finally:
        world.close()


def test_a_deferred_reply_is_stored_and_held(store: Engine) -> None:
    journal: list[tuple[str, str, str]] = []
    until = datetime.fromtimestamp(NOW + 3600, UTC)
    quiet = Scripted("consent", journal, outbound=lambda _: Defer(until, "quiet hours"))
    loyalty = Scripted("loyalty", journal, inbound=_answering("Sale!"))
    world = World(store, [quiet, loyalty])
    try:
        world.mo(mo())
        (row,) = world.plugin_rows("loyalty")
        assert row.schedule_at == int((NOW + 3600) * 1000)
        assert world.carrier.sent == []
    finally:
        world.close()


def test_a_keyed_send_stores_and_sends_once(store: Engine) -> None:
    journal: list[tuple[str, str, str]] = []
    loyalty = Scripted("loyalty", journal)
    world = World(store, [loyalty])
    try:
        context = loyalty.context
        assert context is not None

        def send() -> SendResult:
            result = world.gw.wait(
                context.send(
                    source=SHORT_CODE,
                    destination="+" + SUBSCRIBER,
                    text="Happy birthday: 50 points",
                    key="birthday:2027:46701111111",
                )
            )
            world.gw.settle()
            assert isinstance(result, SendResult)
            return result

        first, second = send(), send()
        expected = send_message_id("birthday:2027:46701111111", "loyalty")
        assert (first.message_id, first.refused, first.reason) == (expected, None, "accepted")
        assert (second.message_id, second.refused, second.reason) == (
            expected,
            None,
            "already stored",
        )
        (row,) = world.plugin_rows("loyalty")
        assert row.traffic_class == "marketing"
        assert len(world.carrier.sent) == 1
    finally:
        world.close()


def test_a_send_the_gateway_refuses_says_why(store: Engine) -> None:
    journal: list[tuple[str, str, str]] = []
    loyalty = Scripted("loyalty", journal, receipt=lambda _: None)
    world = World(store, [loyalty])
    try:
        context = loyalty.context
        assert context is not None
        result = world.gw.wait(context.send(source=SHORT_CODE, destination="nobody", text="hi"))
        assert isinstance(result, SendResult)
        assert result.message_id is None and result.refused == S.ESME_RINVDSTADR
        assert not result.sent and result.reason
        # A send's refusal is its result, not a receipt.
        assert _keys(journal, "loyalty", "receipt") == []
        assert world.plugin_rows("loyalty") == []
    finally:
        world.close()


def test_replies_without_an_outbound_path_are_dropped_and_the_message_still_resolved(
    store: Engine,
) -> None:
    journal: list[tuple[str, str, str]] = []
    loyalty = Scripted("loyalty", journal, inbound=_answering("hi"))
    world = World(store, [loyalty])
    world.hooks.messages = None
    try:
        world.mo(mo())
        assert world.plugin_rows("loyalty") == []
        assert world.carrier.sent == []
    finally:
        world.close()
