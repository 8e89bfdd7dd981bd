"""A gateway without sockets: a real SQLite store with the real group-commit writer,
a ``Clock``, scripted connectors, and a reactor stand-in that runs the writer's
post-commit calls on the test thread."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from smppd.connectors.base import (
    CarrierReceipt,
    InboundPart,
    OutboundPart,
    OutcomeKind,
    SmppAddress,
    SubmitOutcome,
)
from smppd.dispatch import Dispatcher, DispatchSettings, InboundPipeline, ReceiptHandler
from smppd.dispatch.inbound import InboundSettings
from smppd.pipeline import Accepted
from smppd.receipt import IdRule, Receipt
from smppd.routing import AddressNormaliser, InboundRoute, InboundRouter, OutboundRouter
from smppd.routing.outbound import OutboundRoute, Target, TargetGroup
from smppd.shared import MemorySharedState
from smppd.smpp.constants import MessageState
from smppd.store.ops import AcceptMessage, NewMessage
from smppd.store.schema import open_store
from smppd.store.txwriter import DeferredWriter
from smppd.text.policy import DEFAULT_POLICY, TextPolicy

NOW = 1_800_000_000.0
WAIT = 10.0


class ThreadReactor:
    """Collects the writer's callFromThread calls; the test thread runs them."""

    def __init__(self) -> None:
        self._calls: deque[Callable[[], None]] = deque()
        self._cond = threading.Condition()

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        with self._cond:
            self._calls.append(lambda: f(*args, **kwargs))
            self._cond.notify_all()

    def run_once(self, timeout: float) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._calls), timeout):
                return False
            calls = list(self._calls)
            self._calls.clear()
        for call in calls:
            call()
        return True


class FakeConnector:
    """A connector whose outcomes are scripted; ACCEPTED with a counter id by default."""

    def __init__(
        self,
        name: str,
        *,
        window: int = 100,
        policy: TextPolicy = DEFAULT_POLICY,
        hex_ids: bool = False,
    ) -> None:
        self.name = name
        self.text_policy = policy
        self.window = window
        self.up_flag = True
        self.sent: list[OutboundPart] = []
        self.script: deque[SubmitOutcome] = deque()
        self.hold = False  # keep submits in flight until release()
        self.in_flight: list[tuple[OutboundPart, Deferred[SubmitOutcome]]] = []
        self.hex_ids = hex_ids
        self._next_id = 1000
        self._waiters: list[Deferred[None]] = []

    @property
    def up(self) -> bool:
        return self.up_flag

    def start(self) -> None:
        pass

    def stop(self) -> Deferred[None]:
        return succeed(None)

    def capacity(self) -> int:
        return max(0, self.window - len(self.in_flight))

    def when_capacity(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self._waiters.append(d)
        return d

    def carrier_id(self) -> str:
        self._next_id += 1
        return f"{self._next_id:X}" if self.hex_ids else str(self._next_id)

    def submit(self, part: OutboundPart) -> Deferred[SubmitOutcome]:
        self.sent.append(part)
        d: Deferred[SubmitOutcome] = Deferred()
        if self.hold:
            self.in_flight.append((part, d))
            return d
        d.callback(self.script.popleft() if self.script else self.accept())
        return d

    def accept(self) -> SubmitOutcome:
        return SubmitOutcome(OutcomeKind.ACCEPTED, carrier_id=self.carrier_id())

    def release(self, outcome: Callable[[], SubmitOutcome] | None = None) -> None:
        held, self.in_flight = self.in_flight, []
        for _, d in held:
            d.callback(outcome() if outcome else self.accept())
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.callback(None)


class RecordingOutbox:
    def __init__(self) -> None:
        self.woken: list[str] = []

    def wake(self, account: str) -> None:
        self.woken.append(account)


class Gateway:
    def __init__(
        self,
        engine: Engine,
        connectors: list[FakeConnector],
        routes: list[OutboundRoute],
        *,
        clock: Clock | None = None,
        settings: DispatchSettings | None = None,
        id_rules: dict[str, IdRule] | None = None,
        inbound_hook: Any = None,
        shared: MemorySharedState | None = None,
        inbound_routes: list[InboundRoute] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock or Clock()
        if clock is None:
            self.clock.advance(NOW)
        self.reactor = ThreadReactor()
        self.writer = DeferredWriter(self.reactor, engine, commit_interval=0.001)  # type: ignore[arg-type]
        self.writer.start()
        self.outbox = RecordingOutbox()
        self.shared = shared or MemorySharedState(self.clock)
        self.connectors = {c.name: c for c in connectors}
        self.router = OutboundRouter(routes)
        self.dispatcher = Dispatcher(
            clock=self.clock,
            writer=self.writer,
            connectors=self.connectors,
            router=self.router,
            outbox=self.outbox,
            correlations=self.shared,
            id_rules=id_rules,
            settings=settings,
            seed=7,
        )
        self.receipts = ReceiptHandler(
            clock=self.clock,
            writer=self.writer,
            outbox=self.outbox,
            correlations=self.shared,
            id_rules=id_rules,
        )
        extra = {"inbound_hook": inbound_hook} if inbound_hook is not None else {}
        self.inbound = InboundPipeline(
            clock=self.clock,
            writer=self.writer,
            outbox=self.outbox,
            dedup=self.shared,
            router=InboundRouter(
                inbound_routes
                if inbound_routes is not None
                else [InboundRoute("r", "acme", ("+46700000001",))]
            ),
            normaliser=AddressNormaliser(),
            settings=InboundSettings(reassembly_timeout=60.0),
            **extra,
        )

    def close(self) -> None:
        self.writer.stop()
        while self.reactor.run_once(0.01):
            pass

    def settle(self, quiet: float = 0.05) -> None:
        """Run post-commit calls until the writer has nothing left to say."""
        while True:
            self.clock.advance(0)  # calls the pipeline deferred to the end of this turn
            if not (self.reactor.run_once(quiet) or self.writer.writer.stats.pending):
                break

    def wait(self, d: Deferred[Any]) -> Any:
        box: list[Any] = []
        d.addBoth(box.append)
        deadline = WAIT
        while not box and deadline > 0:
            self.clock.advance(0)
            self.reactor.run_once(0.05)
            deadline -= 0.05
        assert box, "the Deferred never fired"
        return box[0]

    def accept(self, message: NewMessage) -> str:
        mid = self.wait(self.writer.submit(AcceptMessage(message, self.clock.seconds())))
        assert isinstance(mid, str)
        return mid

    def hand_off(self, *messages: NewMessage) -> list[str]:
        ids = [self.accept(m) for m in messages]
        self.dispatcher.accepted(
            [
                Accepted(m.id, m.account, m.route or "", m.schedule_at, m.validity_at)
                for m in messages
            ]
        )
        self.settle()
        return ids

    def advance(self, seconds: float, step: float = 1.0) -> None:
        while seconds > 0:
            self.clock.advance(min(step, seconds))
            seconds -= step
            self.settle()

    def receipt(
        self, connector: str, carrier_id: str, state: MessageState, err: str = "000"
    ) -> Any:
        r = Receipt(message_id=carrier_id, state=state, err=err, err_code=int(err))
        return self.wait(
            self.receipts.receipt(
                CarrierReceipt(connector, r, "447700900123", "ACME", self.clock.seconds())
            )
        )

    def mo(self, part: InboundPart) -> Any:
        return self.wait(self.inbound.inbound(part))

    def state(self, message_id: str) -> str:
        return str(self.scalar(f"SELECT state FROM messages WHERE id = '{message_id}'"))

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar()

    def rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql)).all())


def route(name: str, *groups: list[tuple[str, int]]) -> OutboundRoute:
    return OutboundRoute(
        name, tuple(TargetGroup(tuple(Target(n, w) for n, w in g)) for g in groups)
    )


_counter = iter(range(1, 10**9))


def message(**fields: Any) -> NewMessage:
    values: dict[str, Any] = {
        "id": f"m{next(_counter):07d}",
        "account": "acme",
        "source_addr": "ACME",
        "dest_addr": "447700900123",
        "payload": b"hello",
        "parts": (b"hello",),
        "text": "hello",
        "registered_delivery": 1,
        "route": "main",
    }
    values.update(fields)
    return NewMessage(**values)


def mo_part(
    text_bytes: bytes,
    *,
    source: str = "46701111111",
    destination: str = "46700000001",
    esm_class: int = 0,
    sar: tuple[int, int, int] | None = None,
    at: float = NOW,
) -> InboundPart:
    return InboundPart(
        connector="carrier",
        channel="smpp",
        source=SmppAddress(1, 1, source),
        destination=SmppAddress(1, 1, destination),
        esm_class=esm_class,
        data_coding=0,
        short_message=text_bytes,
        message_payload=None,
        sar=sar,
        received_at=at,
    )


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dispatch-template") / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def engine(_template: Path, tmp_path: Path) -> Iterator[Engine]:
    import shutil

    from smppd.store.engine import create_store_engine

    path = tmp_path / "store.db"
    shutil.copyfile(_template, path)
    eng = create_store_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()
