"""A scripted carrier (SMSC role) and the in-memory network between it and a connector.

The carrier is the project's own :class:`SmppProtocol` in the SMSC role with a
small handler: it authenticates binds, answers each submit_sm from a script
(status, delay, congestion_state, no answer at all), can drop connections,
refuse new ones, and send deliver_sm / data_sm to the connector. Connections
are iosim pumps on the test's Clock, so nothing sleeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.test import iosim

from smppd.connectors.base import (
    CarrierReceipt,
    InboundPart,
    OutboundPart,
    SmppAddress,
)
from smppd.protocol import SessionHandler, SmppProtocol
from smppd.session import BindMode, BindRequest, CloseReason, Role, SessionConfig
from smppd.smpp.constants import CommandStatus
from smppd.smpp.pdu import BindTransceiver, BindTransmitter, Pdu, SubmitSm, SubmitSmResp
from smppd.smpp.tlv import Tag, Tlv

SYSTEM_ID = "esme"
PASSWORD = "secret"


@dataclass(frozen=True)
class Answer:
    """How the carrier answers one submit_sm."""

    status: int = 0
    message_id: str | None = None  # None: the carrier's next id
    delay: float | None = None  # seconds on the Clock before answering
    hold: bool = False  # never answer (until released)
    congestion: int | None = None  # congestion_state TLV in the response


@dataclass
class Connection:
    server: SmppProtocol
    pump: iosim.IOPump
    bind_mode: BindMode | None = None
    closed: CloseReason | None = None


@dataclass(eq=False)
class FakeCarrier(SessionHandler):
    clock: Clock
    password: str = PASSWORD
    bind_status: int = 0
    answers: deque[Answer] = field(default_factory=deque)
    default: Answer = field(default_factory=Answer)
    connections: list[Connection] = field(default_factory=list)
    submits: list[SubmitSm] = field(default_factory=list)
    bind_requests: list[tuple[float, BindMode]] = field(default_factory=list)
    connection_attempts: list[float] = field(default_factory=list)
    held: list[tuple[SmppProtocol, Deferred[Pdu], Pdu]] = field(default_factory=list)
    refuse: bool = False
    next_id: int = 1000

    # -- the network ----------------------------------------------------------

    def connect(self, factory: Any) -> Deferred[Any]:
        self.connection_attempts.append(self.clock.seconds())
        if self.refuse:
            return defer.fail(ConnectionRefusedError("carrier refuses"))
        client = factory.buildProtocol(iosim.FakeAddress())
        server = SmppProtocol(
            Role.SMSC,
            self,
            self.clock,
            config=SessionConfig(inactivity_timeout=None, enquire_link_interval=None),
            system_id="carrier",
        )
        pump = iosim.connect(
            server,
            iosim.makeFakeServer(server),
            client,
            iosim.makeFakeClient(client),
            greet=False,
            clock=self.clock,
        )
        self.connections.append(Connection(server, pump))
        return defer.succeed(client)

    def endpoint(self, description: str) -> FakeCarrier:
        """The endpoint factory given to the connector: every string leads here."""
        return self

    def flush(self) -> None:
        for _ in range(100):
            moved = False
            for connection in list(self.connections):
                moved = connection.pump.flush() or moved
            if not moved:
                return
        raise AssertionError("the connections never went quiet")

    def run(self, seconds: float, step: float = 0.05) -> None:
        """Advance the Clock by ``seconds`` in steps, moving data after each."""
        self.flush()
        end = self.clock.seconds() + seconds
        while self.clock.seconds() < end - 1e-9:
            self.clock.advance(min(step, end - self.clock.seconds()))
            self.flush()

    def live(self) -> list[Connection]:
        return [c for c in self.connections if c.closed is None]

    def drop_all(self) -> None:
        for connection in self.live():
            connection.server.abort()
        self.flush()

    # -- the SMSC's handler -----------------------------------------------------

    def _connection(self, protocol: SmppProtocol) -> Connection:
        return next(c for c in self.connections if c.server is protocol)

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int:
        mode = (
            BindMode.TRANSCEIVER
            if isinstance(request, BindTransceiver)
            else BindMode.TRANSMITTER
            if isinstance(request, BindTransmitter)
            else BindMode.RECEIVER
        )
        self.bind_requests.append((self.clock.seconds(), mode))
        if request.system_id != SYSTEM_ID:
            return CommandStatus.ESME_RINVSYSID
        if request.password != self.password:
            return CommandStatus.ESME_RINVPASWD
        if self.bind_status:
            return self.bind_status
        self._connection(protocol).bind_mode = mode
        return 0

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        if not isinstance(request, SubmitSm):
            return request.response(command_status=CommandStatus.ESME_RINVCMDID)
        self.submits.append(request)
        answer = self.answers.popleft() if self.answers else self.default
        tlvs: tuple[Tlv, ...] = ()
        if answer.congestion is not None:
            tlvs = (Tlv.u8(Tag.CONGESTION_STATE, answer.congestion),)
        if answer.status:
            response: Pdu = SubmitSmResp(
                sequence_number=request.sequence_number,
                command_status=answer.status,
                tlvs=tlvs,
            )
        else:
            message_id = answer.message_id
            if message_id is None:
                self.next_id += 1
                message_id = str(self.next_id)
            response = SubmitSmResp(
                sequence_number=request.sequence_number, message_id=message_id, tlvs=tlvs
            )
        if answer.hold:
            waiting: Deferred[Pdu] = Deferred()
            self.held.append((protocol, waiting, response))
            return waiting
        if answer.delay is not None:
            delayed: Deferred[Pdu] = Deferred()
            self.clock.callLater(answer.delay, delayed.callback, response)
            return delayed
        return response

    def release_held(self, count: int | None = None) -> None:
        held, rest = (self.held, []) if count is None else (self.held[:count], self.held[count:])
        self.held = rest
        for protocol, waiting, response in held:
            if protocol.session.closed:
                continue
            waiting.callback(response)
        self.flush()

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        for connection in self.connections:
            if connection.server is protocol:
                connection.closed = reason
        # Answers held for a closed connection can never be sent.
        self.held = [h for h in self.held if h[0] is not protocol]

    # -- carrier to ESME -----------------------------------------------------------

    def receiver(self) -> SmppProtocol:
        """The server side of the live bind that may receive deliver_sm."""
        for connection in self.live():
            if connection.bind_mode in (BindMode.RECEIVER, BindMode.TRANSCEIVER):
                return connection.server
        raise AssertionError("no receiving bind")

    def send(self, pdu: Pdu) -> list[Any]:
        """Send a request to the connector; the list gets its response or failure."""
        out: list[Any] = []
        self.receiver().send_request(pdu).addBoth(out.append)
        self.flush()
        return out


@dataclass
class RecordingSink:
    """ConnectorSink that records, and commits at once, later (held) or never (fails)."""

    mode: str = "commit"  # "commit" | "hold" | "fail"
    receipts: list[CarrierReceipt] = field(default_factory=list)
    inbound_parts: list[InboundPart] = field(default_factory=list)
    states: list[tuple[str, bool, str]] = field(default_factory=list)
    held: list[Deferred[None]] = field(default_factory=list)

    def _result(self) -> Deferred[None]:
        if self.mode == "fail":
            return defer.fail(RuntimeError("store is down"))
        if self.mode == "hold":
            waiting: Deferred[None] = Deferred()
            self.held.append(waiting)
            return waiting
        return defer.succeed(None)

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        self.receipts.append(receipt)
        return self._result()

    def inbound(self, part: InboundPart) -> Deferred[None]:
        self.inbound_parts.append(part)
        return self._result()

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        self.states.append((connector, up, detail))


SHOP = SmppAddress(5, 0, "Shop")
SUBSCRIBER = SmppAddress(1, 1, "+46701234567")


def part(
    text: bytes = b"hello",
    *,
    message_id: str = "m1",
    source: SmppAddress = SHOP,
    destination: SmppAddress = SUBSCRIBER,
    **fields: Any,
) -> OutboundPart:
    values: dict[str, Any] = {
        "message_id": message_id,
        "seq": 1,
        "total": 1,
        "source": source,
        "destination": destination,
        "esm_class": 0,
        "data_coding": 0,
        "short_message": text,
    }
    values.update(fields)
    return OutboundPart(**values)


VALIDITY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
