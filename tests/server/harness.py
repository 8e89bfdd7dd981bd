"""A whole application server over StringTransport, with a real store and writer.

The group-commit writer runs its own thread against a real SQLite file; its
post-commit callbacks are queued by :class:`ThreadReactor` and run on the
test thread by :meth:`Harness.settle`, exactly as the reactor would run them.
Time is a :class:`~twisted.internet.task.Clock`; blocking reads run inline.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from argon2 import PasswordHasher
from sqlalchemy import Engine, text
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from smppd.pipeline import Accepted
from smppd.routing import AddressNormaliser, OutboundRoute, OutboundRouter, Target, TargetGroup
from smppd.server.auth import Authenticator
from smppd.server.service import ApplicationServer, OutboundCheck, ServerSettings
from smppd.server.submit import SubmitChecker
from smppd.shared.memory import MemorySharedState
from smppd.smpp import Framer, Pdu, decode
from smppd.smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter
from smppd.store import accounts
from smppd.store.accounts import Account, AccountSettings
from smppd.store.engine import read_only
from smppd.store.ids import MessageIdGenerator
from smppd.store.ops import WriteOp
from smppd.store.txwriter import DeferredWriter

T = TypeVar("T")
WAIT = 20.0
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
#: Cheap argon2 parameters: tests verify many passwords.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PEER = "127.0.0.1"
# Twisted's test transport has no type annotations.
_string_transport: Any = StringTransport


class ThreadReactor:
    """callFromThread queues; the test thread runs the queue (see settle)."""

    def __init__(self) -> None:
        self.calls: queue.Queue[Callable[[], object]] = queue.Queue()

    def callFromThread(self, f: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        self.calls.put(lambda: f(*args, **kwargs))


def run_inline(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Deferred[T]:
    return maybeDeferred(fn, *args, **kwargs)


def fast_verify(engine: Engine, system_id: str, password: str) -> Account | None:
    with read_only(engine) as conn:
        return accounts.authenticate(conn, system_id, password, hasher=FAST_HASHER)


@dataclass
class RecordingDispatch:
    """The pipeline's Dispatch, remembering what it was told."""

    handed: list[list[Accepted]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    def accepted(self, messages: Sequence[Accepted]) -> None:
        self.handed.append(list(messages))

    def cancelled(self, message_id: str) -> None:
        self.forgotten.append(message_id)

    @property
    def ids(self) -> list[str]:
        return [a.message_id for batch in self.handed for a in batch]


ROUTES = (
    OutboundRoute(
        name="uk",
        groups=(TargetGroup((Target("sim"),)),),
        destinations=("44",),
    ),
)


class App:
    """An application on the other end of one connection, speaking raw PDUs."""

    def __init__(self, harness: Harness, peer: str = PEER, port: int = 40000) -> None:
        self.harness = harness
        self.transport: Any = _string_transport(peerAddress=IPv4Address("TCP", peer, port))
        self.protocol = harness.server.factory.buildProtocol(IPv4Address("TCP", peer, port))
        protocol: Any = self.protocol
        protocol.makeConnection(self.transport)
        self._framer = Framer()
        self.received: list[Pdu] = []
        self._backlog: list[Pdu] = []
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def send(self, pdu: Pdu) -> None:
        self.protocol.dataReceived(pdu.encode())

    def send_raw(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def read(self) -> list[Pdu]:
        """PDUs written to the application and not read yet."""
        data = self.transport.value()
        self.transport.clear()
        self._framer.feed(data)
        out, self._backlog = self._backlog, []
        while (frame := self._framer.next_frame()) is not None:
            pdu = decode(frame)
            out.append(pdu)
            self.received.append(pdu)
        return out

    def request(self, pdu: Pdu, *, settle: bool = True) -> Pdu:
        """Send and return the one response (waiting for a commit if needed).

        Other PDUs that arrive meanwhile stay unread for the next read().
        """
        self.send(pdu)
        got: list[Pdu] = []

        def answered() -> bool:
            got.extend(self.read())
            return any(p.sequence_number == pdu.sequence_number and p.is_response for p in got)

        if settle:
            self.harness.settle(answered)
        else:
            assert answered(), "no answer"
        (resp,) = [p for p in got if p.sequence_number == pdu.sequence_number and p.is_response]
        self._backlog = [p for p in got if p is not resp] + self._backlog
        return resp

    def bind(self, mode: str = "trx", system_id: str = "shop", password: str = "secret") -> Pdu:
        cls = {"tx": BindTransmitter, "rx": BindReceiver, "trx": BindTransceiver}[mode]
        return self.request(
            cls(sequence_number=self.next_seq(), system_id=system_id, password=password)
        )

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def lose(self) -> None:
        self.protocol.connectionLost(None)


class Harness:
    def __init__(
        self,
        engine: Engine,
        *,
        settings: ServerSettings | None = None,
        outbound_check: OutboundCheck | None = None,
        shared: MemorySharedState | None = None,
    ) -> None:
        self.engine = engine
        self.clock = Clock()
        self.clock.advance(NOW)
        self.thread_reactor = ThreadReactor()
        self.writer = DeferredWriter(self.thread_reactor, engine, commit_interval=0.001)  # type: ignore[arg-type]
        self.writer.start()
        self.dispatch = RecordingDispatch()
        self._own_shared = shared is None
        self.shared = shared if shared is not None else MemorySharedState(self.clock)
        self.ids = MessageIdGenerator()
        self.checker = SubmitChecker(AddressNormaliser(), OutboundRouter(ROUTES), self.ids)
        self.settings = settings or ServerSettings()
        self.server = ApplicationServer(
            self.settings,
            clock=self.clock,
            engine=engine,
            writer=self.writer,
            run_blocking=run_inline,
            checker=self.checker,
            dispatch=self.dispatch,
            shared=self.shared,
            outbound_check=outbound_check,
            authenticator=Authenticator(engine, run_inline, verify=fast_verify),
        )
        self.server.start()

    def add_account(
        self, system_id: str = "shop", password: str = "secret", **settings: Any
    ) -> None:
        with self.engine.begin() as conn:
            accounts.add_account(
                conn, system_id, password, AccountSettings(**settings), NOW, hasher=FAST_HASHER
            )

    def connect(self, peer: str = PEER) -> App:
        return App(self, peer)

    def settle(self, until: Callable[[], bool], timeout: float = WAIT) -> None:
        """Run post-commit callbacks on this thread until ``until()`` holds."""
        while not until():
            try:
                call = self.thread_reactor.calls.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("nothing more happened") from None
            call()

    def drain(self) -> None:
        """Run whatever post-commit callbacks are already waiting."""
        while True:
            try:
                call = self.thread_reactor.calls.get_nowait()
            except queue.Empty:
                return
            call()

    def apply(self, op: WriteOp[T]) -> T:
        """Run a store operation directly (setting up the world)."""
        with self.engine.begin() as conn:
            return op.apply(conn)

    def commit(self, op: WriteOp[T]) -> T:
        """Run a store operation through the writer and wait for it."""
        box: list[object] = []
        self.writer.submit(op).addBoth(box.append)
        self.settle(lambda: bool(box))
        value = box[0]
        assert not hasattr(value, "raiseException"), value
        return value  # type: ignore[return-value]

    def scalar(self, sql: str, **params: object) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def close(self) -> None:
        stopped: list[object] = []
        self.server.stop().addBoth(stopped.append)
        # Applications that never answer unbind are aborted after stop_timeout.
        for _ in range(3):
            if stopped:
                break
            self.clock.advance(self.settings.stop_timeout + self.settings.unbind_timeout)
        self.writer.stop()
        self.drain()
        if self._own_shared:
            self.shared.close()
        assert self.clock.getDelayedCalls() == [], self.clock.getDelayedCalls()
