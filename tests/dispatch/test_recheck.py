"""Held marketing meets the outbound check again when it comes due, and nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import Deferred, fail, succeed

from plugins.api import Accept, Defer, MessageClass, OutboundMessage, Refuse, Verdict
from smppd.dispatch import Dispatcher, DispatchSettings
from smppd.store.appops import CancelMessages
from smppd.store.ops import NewMessage
from tests.dispatch.harness import NOW, FakeConnector, Gateway, message, route

OPTED_OUT = 0x00000440
LEASE = DispatchSettings().lease
# An hour after NOW: when the held message is due.
DUE = NOW + 3600


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Plugins:
    """The plugins' outbound check as the dispatcher calls it: each message it
    was shown, answered by ``answer`` (accept by default)."""

    def __init__(self) -> None:
        self.shown: list[OutboundMessage] = []
        self.answer: Callable[[OutboundMessage], Deferred[Verdict]] = lambda _: succeed(Accept())

    def __call__(self, msg: OutboundMessage) -> Deferred[Verdict]:
        self.shown.append(msg)
        return self.answer(msg)

    def answering(self, verdict: Verdict) -> None:
        self.answer = lambda _: succeed(verdict)

    def shown_ids(self) -> list[str]:
        return [m.message_id for m in self.shown]


class World:
    """The dispatch harness with a dispatcher that has the outbound check."""

    def __init__(
        self, engine: Engine, *, plugin_accounts: tuple[str, ...] = (), start: bool = True
    ) -> None:
        self.carrier = FakeConnector("carrier")
        self.gw = Gateway(engine, [self.carrier], [route("main", [("carrier", 1)])])
        self.plugins = Plugins()
        self.plugin_accounts = plugin_accounts
        self.dispatcher = self.new_dispatcher()
        if start:
            self.start()

    def new_dispatcher(self) -> Dispatcher:
        gw = self.gw
        made = Dispatcher(
            clock=gw.clock,
            writer=gw.writer,
            connectors=gw.connectors,
            router=gw.router,
            outbox=gw.outbox,
            correlations=gw.shared,
            seed=7,
            outbound_check=self.plugins,
            plugin_accounts=self.plugin_accounts,
        )
        gw.dispatcher = made  # hand_off() hands over to it
        return made

    def start(self) -> None:
        self.dispatcher.start()
        self.gw.settle()

    def held(self, **fields: Any) -> str:
        """A marketing message stored and handed over, held until DUE."""
        values: dict[str, Any] = {"traffic_class": "marketing", "schedule_at": DUE}
        values.update(fields)
        (mid,) = self.gw.hand_off(message(**values))
        assert self.state(mid) == "scheduled"
        return mid

    def until(self, moment: float) -> None:
        """Let the clock reach ``moment``, then let a few scans run."""
        self.gw.clock.advance(moment - self.gw.clock.seconds())
        self.gw.settle()
        self.gw.advance(3)

    def state(self, mid: str) -> str:
        return self.gw.state(mid)

    def sent(self) -> list[str]:
        return [part.message_id for part in self.carrier.sent]

    def history(self, mid: str) -> list[tuple[str, str]]:
        return [
            (r.from_state, r.to_state)
            for r in self.gw.rows(
                "SELECT from_state, to_state FROM message_transitions"
                f" WHERE message_id = '{mid}' ORDER BY id"
            )
        ]

    def close(self) -> None:
        self.gw.wait(self.dispatcher.stop())
        self.gw.close()


@pytest.fixture
def world(engine: Engine) -> Any:
    made = World(engine)
    yield made
    made.close()


def test_held_marketing_refused_when_due_is_rejected_never_sent_and_owes_its_receipt(
    world: World,
) -> None:
    mid = world.held(registered_delivery=1)
    # The recipient texted STOP while the message waited.
    world.plugins.answering(Refuse(OPTED_OUT, "recipient opted out of Kaffebaren"))
    world.until(DUE)
    assert world.plugins.shown_ids() == [mid]
    assert world.sent() == []
    assert world.state(mid) == "rejected"
    (row,) = world.gw.rows(f"SELECT error_code, error_detail FROM messages WHERE id = '{mid}'")
    assert (row.error_code, row.error_detail) == (OPTED_OUT, "recipient opted out of Kaffebaren")
    assert world.history(mid)[-2:] == [("scheduled", "queued"), ("queued", "rejected")]
    assert world.gw.rows(f"SELECT state FROM message_parts WHERE message_id = '{mid}'") == [
        ("rejected",)
    ]
    # The application's REJECTD receipt is owed, and its outbox was told.
    receipts = world.gw.rows(f"SELECT state, error_code FROM receipts WHERE message_id = '{mid}'")
    assert receipts == [("rejected", OPTED_OUT)]
    assert world.gw.outbox.woken == ["acme"]
    # Nothing comes of it later.
    world.until(DUE + 2 * LEASE)
    assert world.sent() == [] and len(world.plugins.shown) == 1


def test_a_refused_message_that_asked_for_no_receipt_gets_none(world: World) -> None:
    mid = world.held(registered_delivery=0)
    world.plugins.answering(Refuse(OPTED_OUT, "opted out"))
    world.until(DUE)
    assert world.state(mid) == "rejected"
    assert world.gw.scalar(f"SELECT count(*) FROM receipts WHERE message_id = '{mid}'") == 0


def test_held_marketing_accepted_when_due_is_sent(world: World) -> None:
    mid = world.held()
    world.until(DUE - 10)
    assert world.plugins.shown == [] and world.sent() == []
    world.until(DUE)
    assert world.sent() == [mid]
    assert world.state(mid) == "submitted"
    assert world.plugins.shown_ids() == [mid]


def test_the_check_sees_the_message_as_it_was_accepted(world: World) -> None:
    mid = world.held(registered_delivery=1, validity_at=DUE + 86400, text="Sale today")
    world.until(DUE)
    (seen,) = world.plugins.shown
    assert seen.message_id == mid
    assert seen.system_id == "acme"
    assert (seen.source, seen.destination) == ("ACME", "447700900123")
    assert seen.message_class is MessageClass.MARKETING
    assert seen.text == "Sale today"
    assert seen.registered_delivery == 1
    assert seen.schedule_at == _at(DUE)
    assert seen.validity_until == _at(DUE + 86400)
    assert seen.route == "main"
    assert seen.origin is None


def test_a_plugins_own_held_message_is_shown_with_its_origin(engine: Engine) -> None:
    world = World(engine, plugin_accounts=("loyalty",))
    try:
        mid = world.held(account="loyalty")
        world.until(DUE)
        (seen,) = world.plugins.shown
        assert (seen.system_id, seen.origin) == ("loyalty", "loyalty")
        assert world.sent() == [mid]
    finally:
        world.close()


def test_held_marketing_deferred_again_waits_until_then_and_is_checked_again(
    world: World,
) -> None:
    mid = world.held()
    later = DUE + 7200
    world.plugins.answering(Defer(_at(later), "over a frequency cap"))
    world.until(DUE)
    assert world.sent() == []
    assert world.state(mid) == "scheduled"
    (row,) = world.gw.rows(f"SELECT schedule_at, next_attempt_at FROM messages WHERE id = '{mid}'")
    assert (row.schedule_at, row.next_attempt_at) == (later * 1000, later * 1000)
    (last,) = world.gw.rows(
        f"SELECT from_state, to_state, detail FROM message_transitions WHERE message_id = '{mid}'"
        " ORDER BY id DESC LIMIT 1"
    )
    assert (last.from_state, last.to_state) == ("scheduled", "scheduled")
    assert "over a frequency cap" in last.detail
    # Not asked again before its new time.
    world.until(later - 10)
    assert len(world.plugins.shown) == 1
    world.plugins.answering(Accept())
    world.until(later)
    assert world.plugins.shown_ids() == [mid, mid]
    assert world.plugins.shown[1].schedule_at == _at(later)
    assert world.sent() == [mid]


def test_a_deferral_to_a_moment_already_past_sends_the_message(world: World) -> None:
    mid = world.held()
    world.plugins.answering(Defer(_at(DUE - 60), "window opened a minute ago"))
    world.until(DUE)
    assert world.sent() == [mid]


def test_a_deferral_beyond_the_validity_expires_the_message_at_its_validity(
    world: World,
) -> None:
    mid = world.held(validity_at=DUE + 600, registered_delivery=1)
    world.plugins.answering(Defer(_at(DUE + 7200), "outside the recipient's hours"))
    world.until(DUE)
    assert world.state(mid) == "scheduled"
    world.until(DUE + 600)
    assert world.state(mid) == "expired"
    assert len(world.plugins.shown) == 1 and world.sent() == []
    assert world.gw.rows(f"SELECT state FROM receipts WHERE message_id = '{mid}'") == [("expired",)]


def test_scheduled_transactional_messages_are_not_checked(world: World) -> None:
    world.plugins.answering(Refuse(OPTED_OUT, "would have refused"))
    mid = world.held(traffic_class="transactional")
    world.until(DUE)
    assert world.plugins.shown == []
    assert world.sent() == [mid]


def test_messages_handed_over_at_acceptance_make_no_extra_check_call(world: World) -> None:
    world.plugins.answering(Refuse(OPTED_OUT, "would have refused"))
    now = world.gw.clock.seconds()
    at_once = message(traffic_class="marketing")
    # Deferred at acceptance to a moment that had already come: it holds nothing.
    past = message(traffic_class="marketing", schedule_at=now - 1)
    ids = world.gw.hand_off(at_once, past)
    world.gw.advance(3)
    assert world.plugins.shown == []
    assert sorted(world.sent()) == sorted(ids)
    assert [world.state(mid) for mid in ids] == ["submitted", "submitted"]


def test_a_message_being_checked_is_not_claimed_twice(world: World) -> None:
    pending: list[Deferred[Verdict]] = []

    def later(_: OutboundMessage) -> Deferred[Verdict]:
        d: Deferred[Verdict] = Deferred()
        pending.append(d)
        return d

    world.plugins.answer = later
    mid = world.held()
    world.until(DUE)
    world.gw.advance(10)
    assert len(world.plugins.shown) == 1
    assert world.dispatcher.in_memory == 1
    pending[0].callback(Accept())
    world.gw.settle()
    assert world.sent() == [mid]
    assert world.dispatcher.in_memory == 0


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(lambda _: fail(RuntimeError("check broke")), id="failed-deferred"),
        pytest.param(lambda _: 1 / 0, id="raises"),
    ],
)
def test_a_failing_check_keeps_the_message_and_it_is_checked_again(
    world: World, failing: Callable[[OutboundMessage], Any]
) -> None:
    mid = world.held()
    world.plugins.answer = failing
    world.until(DUE)
    assert world.state(mid) == "scheduled"
    assert world.sent() == []
    assert world.dispatcher.in_memory == 0
    world.plugins.answering(Accept())
    # Its claim runs out, and the scan takes it again.
    world.until(DUE + LEASE + 1)
    assert world.plugins.shown_ids() == [mid, mid]
    assert world.sent() == [mid]


def test_a_message_cancelled_while_checked_is_not_sent(world: World) -> None:
    pending: list[Deferred[Verdict]] = []

    def later(_: OutboundMessage) -> Deferred[Verdict]:
        d: Deferred[Verdict] = Deferred()
        pending.append(d)
        return d

    world.plugins.answer = later
    mid = world.held()
    world.until(DUE)
    gw = world.gw
    gw.wait(
        gw.writer.submit(CancelMessages("acme", mid, "ACME", "447700900123", gw.clock.seconds()))
    )
    world.dispatcher.cancelled(mid)
    pending[0].callback(Accept())
    gw.settle()
    world.until(DUE + LEASE + 1)
    assert world.state(mid) == "cancelled"
    assert world.sent() == []


def test_a_message_held_at_stop_is_checked_again_by_the_next_run(engine: Engine) -> None:
    world = World(engine)
    pending: list[Deferred[Verdict]] = []

    def later(_: OutboundMessage) -> Deferred[Verdict]:
        d: Deferred[Verdict] = Deferred()
        pending.append(d)
        return d

    world.plugins.answer = later
    mid = world.held()
    world.until(DUE)
    gw = world.gw
    gw.wait(world.dispatcher.stop())
    # Given back due at once, still scheduled; the late verdict changes nothing.
    (row,) = gw.rows(f"SELECT state, next_attempt_at FROM messages WHERE id = '{mid}'")
    assert (row.state, row.next_attempt_at) == ("scheduled", int(gw.clock.seconds() * 1000))
    pending[0].callback(Accept())
    gw.settle()
    assert world.sent() == [] and world.state(mid) == "scheduled"
    world.plugins.answering(Accept())
    world.dispatcher = world.new_dispatcher()
    try:
        world.start()
        gw.advance(2)
        assert world.plugins.shown_ids() == [mid, mid]
        assert world.sent() == [mid]
    finally:
        world.close()


def test_without_a_check_held_marketing_goes_as_before(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    gw = Gateway(engine, [carrier], [route("main", [("carrier", 1)])])
    gw.dispatcher.start()
    try:
        held: NewMessage = message(traffic_class="marketing", schedule_at=DUE)
        (mid,) = gw.hand_off(held)
        gw.clock.advance(DUE - gw.clock.seconds())
        gw.settle()
        gw.advance(2)
        assert [p.message_id for p in carrier.sent] == [mid]
    finally:
        gw.wait(gw.dispatcher.stop())
        gw.close()
