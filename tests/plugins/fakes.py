"""Recording fakes and builders shared by the plugin tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, Logger

from plugins.api import (
    FORWARD,
    Accept,
    Channel,
    InboundMessage,
    InboundOutcome,
    MessageClass,
    OutboundMessage,
    PluginContext,
    ReceiptEvent,
    Verdict,
)
from plugins.host import LoadedPlugin, PluginHost, prepare_plugin
from smppd.store.lifecycle import State

P = ParamSpec("P")
R = TypeVar("R")

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def outbound_message(message_id: str = "m-1", **changes: Any) -> OutboundMessage:
    fields: dict[str, Any] = {
        "message_id": message_id,
        "system_id": "shop",
        "source": "Shop",
        "destination": "46701234567",
        "message_class": MessageClass.MARKETING,
        "text": "Sale today",
    }
    fields.update(changes)
    return OutboundMessage(**fields)


def inbound_message(key: str = "mo-1", text: str = "STOP") -> InboundMessage:
    return InboundMessage(
        source="46701234567",
        destination="72000",
        text=text,
        received_at=T0,
        channel=Channel.SMPP,
        connector="carrier-a",
        idempotency_key=key,
        carrier_reference=None,
    )


def receipt_event(message_id: str = "m-1") -> ReceiptEvent:
    return ReceiptEvent(message_id=message_id, state=State.DELIVERED, at=T0, carrier_id="c-9")


class FakeTimer:
    """A monotonic timer the tests move: stands for time spent on the reactor thread."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


def run_now(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Deferred[R]:
    """run_blocking for tests: runs in place, answers with a fired Deferred."""
    try:
        return succeed(fn(*args, **kwargs))
    except Exception as exc:
        return fail(exc)


OutboundScript = Callable[[OutboundMessage], object]
InboundScript = Callable[[InboundMessage], object]
ReceiptScript = Callable[[ReceiptEvent], object]


class Scripted:
    """A plugin whose every hook records the call and runs a per-test script.

    ``journal`` is shared between plugins of one test so call order across
    plugins is visible.
    """

    name = "scripted"

    def __init__(
        self,
        name: str,
        journal: list[tuple[str, str, str]],
        *,
        outbound: OutboundScript | None = None,
        inbound: InboundScript | None = None,
        receipt: ReceiptScript | None = None,
        start: Callable[[PluginContext[Any]], object] | None = None,
        stop: Callable[[], object] | None = None,
    ) -> None:
        self.name = name
        self._journal = journal
        self._outbound = outbound
        self._inbound = inbound
        self._receipt = receipt
        self._start = start
        self._stop = stop
        self.context: PluginContext[Any] | None = None

    def start(self, context: PluginContext[Any]) -> object:
        self.context = context
        self._journal.append((self.name, "start", context.name))
        return self._start(context) if self._start is not None else None

    def stop(self) -> object:
        self._journal.append((self.name, "stop", ""))
        return self._stop() if self._stop is not None else None

    def outbound(self, msg: OutboundMessage) -> object:
        self._journal.append((self.name, "outbound", msg.message_id))
        return self._outbound(msg) if self._outbound is not None else Accept()

    def inbound(self, msg: InboundMessage) -> object:
        self._journal.append((self.name, "inbound", msg.idempotency_key))
        return self._inbound(msg) if self._inbound is not None else FORWARD

    def receipt(self, evt: ReceiptEvent) -> object:
        self._journal.append((self.name, "receipt", evt.message_id))
        return self._receipt(evt) if self._receipt is not None else None


def answer(value: Verdict | InboundOutcome | None) -> Callable[[object], object]:
    return lambda _msg: value


def raising(exc: BaseException) -> Callable[..., object]:
    def hook(*_args: object) -> object:
        raise exc

    return hook


@dataclass
class Harness:
    """A started host over scripted plugins, its clock, timer and log."""

    clock: Clock = field(default_factory=Clock)
    timer: FakeTimer = field(default_factory=FakeTimer)
    events: list[dict[str, Any]] = field(default_factory=list)
    journal: list[tuple[str, str, str]] = field(default_factory=list)

    def host(
        self,
        *plugins: object | tuple[object, Mapping[str, Any]],
        start: bool = True,
    ) -> PluginHost:
        loaded: list[LoadedPlugin] = []
        for item in plugins:
            plugin, table = item if isinstance(item, tuple) else (item, {})
            loaded.append(prepare_plugin(getattr(plugin, "name", ""), plugin, table))
        host = PluginHost(
            loaded,
            clock=self.clock,
            run_blocking=run_now,
            log=Logger(namespace="test.plugins", observer=cast(ILogObserver, self.events.append)),
            timer=self.timer,
        )
        if start:
            started = host.start()
            assert started.called, "scripted plugins start at once unless told otherwise"
        return host

    def scripted(self, name: str, **scripts: Any) -> Scripted:
        return Scripted(name, self.journal, **scripts)

    def logged(self, level: str) -> Iterator[dict[str, Any]]:
        return (e for e in self.events if e["log_level"].name == level)


def result_of(d: Deferred[R]) -> R:
    """The result of a Deferred that has fired (fails the test otherwise)."""
    box: list[R] = []

    def keep(result: R) -> R:
        box.append(result)
        return result

    d.addCallback(keep)
    assert box, "the Deferred has not fired"
    return box[0]
