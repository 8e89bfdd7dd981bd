"""The Twisted adapter, over StringTransport / iosim with a Clock.

Every test ends with the connection closed and no delayed call left.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure as TwistedFailure
from twisted.test import iosim

from smppd.protocol import (
    BindRejected,
    CommandStatusError,
    ConnectionClosed,
    GenericNackError,
    PauseCause,
    RequestTimeout,
    SessionHandler,
    SmppFactory,
    SmppProtocol,
)
from smppd.session import (
    BindMode,
    BindRequest,
    Bound,
    CloseReason,
    ProtocolViolation,
    Role,
    SessionConfig,
    State,
)
from smppd.smpp import (
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    CommandStatus,
    DeliverSmResp,
    EnquireLink,
    Framer,
    GenericNack,
    Outbind,
    Pdu,
    SubmitSmResp,
    decode,
)

from .helpers import SAMPLE_REQUESTS, C, frame, wire

S = CommandStatus
X = TypeVar("X", bound=Exception)
SUBMIT = SAMPLE_REQUESTS[C.SUBMIT_SM]
DELIVER = SAMPLE_REQUESTS[C.DELIVER_SM]


class Recorder(SessionHandler):
    """Records every call; answers as configured."""

    def __init__(
        self, *, bind_status: int | Deferred[int] = 0, defer_answers: bool = False
    ) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.bind_status = bind_status
        self.defer_answers = defer_answers
        self.held: dict[int, Deferred[Pdu]] = {}
        self.raise_on_request = False

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int | Deferred[int]:
        self.calls.append(("bind_requested", request.system_id))
        return self.bind_status

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        self.calls.append(("request", request.command_id))
        if self.raise_on_request:
            raise RuntimeError("handler bug")
        answer = request.response(message_id=f"id-{request.sequence_number}")
        if self.defer_answers:
            self.held[request.sequence_number] = Deferred()
            return self.held[request.sequence_number]
        return answer

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        self.calls.append(("bound", bound.mode))

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.calls.append(("unbound", reason))

    def pause_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        self.calls.append(("pause", cause))

    def resume_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        self.calls.append(("resume", cause))

    def violation(self, protocol: SmppProtocol, event: ProtocolViolation) -> None:
        self.calls.append(("violation", event.violation))

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.calls.append(("connection_lost", reason))


@pytest.fixture
def clock() -> Iterator[Clock]:
    clock = Clock()
    yield clock
    assert clock.getDelayedCalls() == []


def written(transport: StringTransport) -> list[Pdu]:
    framer = Framer()
    framer.feed(transport.value())
    transport.clear()
    return [decode(f) for f in framer.frames()]


def result_of(d: Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "Deferred has not fired"
    return out[0]


def failure_of(d: Deferred[Any], kind: type[X]) -> X:
    value = result_of(d)
    assert isinstance(value, TwistedFailure), value
    error = value.value
    assert isinstance(error, kind), value
    return error


def server(
    clock: Clock, handler: SessionHandler, **kw: Any
) -> tuple[SmppProtocol, StringTransport]:
    protocol = SmppProtocol(Role.SMSC, handler, clock, **kw)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def bound_client(
    clock: Clock, handler: SessionHandler, config: SessionConfig | None = None
) -> tuple[SmppProtocol, StringTransport]:
    protocol = SmppProtocol(Role.ESME, handler, clock, config=config)
    transport = StringTransport()
    protocol.makeConnection(transport)
    d = protocol.bind(BindMode.TRANSCEIVER, "app", "pw")
    (bind,) = written(transport)
    protocol.dataReceived(frame(0x80000009, b"carrier\x00", seq=bind.sequence_number))
    assert isinstance(result_of(d), Bound)
    return protocol, transport


def lose(protocol: SmppProtocol) -> None:
    protocol.connectionLost(TwistedFailure(ConnectionError("gone")))


# -- StringTransport -------------------------------------------------------------


def test_server_accepts_a_bind_and_answers_bind_resp(clock: Clock) -> None:
    handler = Recorder()
    protocol, transport = server(clock, handler, system_id="gw")
    protocol.dataReceived(
        wire(BindTransceiver(sequence_number=0, system_id="app", password="x"), 9)
    )
    (resp,) = written(transport)
    assert isinstance(resp, BindTransceiverResp)
    assert (resp.command_status, resp.sequence_number, resp.system_id) == (0, 9, "gw")
    assert handler.calls == [("bind_requested", "app"), ("bound", BindMode.TRANSCEIVER)]
    assert protocol.state is State.BOUND_TRX
    lose(protocol)
    assert handler.calls[-1] == ("connection_lost", CloseReason.CONNECTION_LOST)


def test_bind_decision_may_come_later_from_a_deferred(clock: Clock) -> None:
    decision: Deferred[int] = Deferred()
    handler = Recorder(bind_status=decision)
    protocol, transport = server(clock, handler)
    protocol.dataReceived(wire(SAMPLE_REQUESTS[C.BIND_TRANSMITTER], 1))
    assert written(transport) == []
    decision.callback(S.ESME_ROK)
    (resp,) = written(transport)
    assert resp.command_status == 0
    lose(protocol)


def test_refused_bind_is_answered_and_the_connection_closed_after_the_delay(clock: Clock) -> None:
    handler = Recorder(bind_status=S.ESME_RINVPASWD)
    protocol, transport = server(clock, handler, rejected_bind_close_delay=1.0)
    protocol.dataReceived(wire(SAMPLE_REQUESTS[C.BIND_TRANSCEIVER], 1))
    (resp,) = written(transport)
    assert resp.command_status == S.ESME_RINVPASWD
    assert not transport.disconnecting
    clock.advance(1.0)
    assert transport.disconnecting
    lose(protocol)
    assert handler.calls[-1] == ("connection_lost", CloseReason.BIND_REJECTED)


def test_no_bind_within_session_init_closes_the_connection(clock: Clock) -> None:
    handler = Recorder()
    protocol, transport = server(clock, handler, config=SessionConfig(session_init_timeout=20))
    clock.advance(19.9)
    assert not transport.disconnecting
    clock.advance(0.1)
    assert transport.disconnecting
    lose(protocol)
    assert handler.calls == [("connection_lost", CloseReason.SESSION_INIT_TIMEOUT)]


def test_request_deferred_fires_with_the_response(clock: Clock) -> None:
    protocol, transport = bound_client(clock, Recorder())
    d = protocol.send_request(SUBMIT)
    (sent,) = written(transport)
    protocol.dataReceived(
        wire(SubmitSmResp(sequence_number=0, message_id="M1"), sent.sequence_number)
    )
    assert result_of(d) == SubmitSmResp(sequence_number=sent.sequence_number, message_id="M1")
    lose(protocol)


def test_non_zero_status_and_generic_nack_fail_with_typed_errors(clock: Clock) -> None:
    protocol, transport = bound_client(clock, Recorder())
    throttled = protocol.send_request(SUBMIT)
    nacked = protocol.send_request(SUBMIT)
    first, second = written(transport)
    protocol.dataReceived(
        frame(0x80000004, status=S.ESME_RTHROTTLED, seq=first.sequence_number)
        + GenericNack(sequence_number=second.sequence_number, command_status=2).encode()
    )
    assert failure_of(throttled, CommandStatusError).status == S.ESME_RTHROTTLED
    assert failure_of(nacked, GenericNackError).status == 2
    lose(protocol)


def test_response_timeout_fails_the_deferred(clock: Clock) -> None:
    protocol, _transport = bound_client(clock, Recorder(), SessionConfig(response_timeout=30))
    d = protocol.send_request(SUBMIT)
    clock.advance(29)
    assert not d.called
    clock.advance(1)
    failure_of(d, RequestTimeout)
    lose(protocol)


def test_pending_deferreds_fail_cleanly_when_the_connection_drops(clock: Clock) -> None:
    handler = Recorder()
    protocol, _ = bound_client(clock, handler)
    pending = [protocol.send_request(SUBMIT) for _ in range(3)]
    lose(protocol)
    for d in pending:
        assert failure_of(d, ConnectionClosed).reason is CloseReason.CONNECTION_LOST
    assert ("unbound", CloseReason.CONNECTION_LOST) in handler.calls
    # Nothing more can be sent.
    failure_of(protocol.send_request(SUBMIT), Exception)


def test_rejected_client_bind_fails_with_the_status(clock: Clock) -> None:
    protocol = SmppProtocol(Role.ESME, Recorder(), clock)
    transport = StringTransport()
    protocol.makeConnection(transport)
    d = protocol.bind(BindMode.TRANSMITTER, "app", "bad")
    (bind,) = written(transport)
    protocol.dataReceived(frame(0x80000002, status=S.ESME_RINVPASWD, seq=bind.sequence_number))
    assert failure_of(d, BindRejected).status == S.ESME_RINVPASWD
    assert transport.disconnecting
    lose(protocol)


def test_handler_exception_and_failed_deferred_are_answered_rsyserr(clock: Clock) -> None:
    handler = Recorder()
    protocol, transport = server(clock, handler)
    protocol.dataReceived(wire(SAMPLE_REQUESTS[C.BIND_TRANSCEIVER], 1))
    written(transport)
    handler.raise_on_request = True
    protocol.dataReceived(wire(SUBMIT, 2))
    handler.raise_on_request = False
    handler.defer_answers = True
    protocol.dataReceived(wire(SUBMIT, 3))
    handler.held[3].errback(RuntimeError("store down"))
    assert [(p.sequence_number, p.command_status) for p in written(transport)] == [
        (2, S.ESME_RSYSERR),
        (3, S.ESME_RSYSERR),
    ]
    lose(protocol)


def test_answers_from_deferreds_go_out_in_the_order_they_fire(clock: Clock) -> None:
    handler = Recorder(defer_answers=True)
    protocol, transport = server(clock, handler)
    protocol.dataReceived(wire(SAMPLE_REQUESTS[C.BIND_TRANSCEIVER], 1))
    written(transport)
    protocol.dataReceived(wire(SUBMIT, 10) + wire(SUBMIT, 11) + wire(SUBMIT, 12))
    for seq in (12, 10, 11):
        handler.held[seq].callback(SubmitSmResp(sequence_number=seq, message_id=f"m{seq}"))
    assert [p.sequence_number for p in written(transport)] == [12, 10, 11]
    lose(protocol)


def test_full_window_and_full_write_buffer_pause_the_owner(clock: Clock) -> None:
    handler = Recorder()
    protocol, transport = bound_client(clock, handler, SessionConfig(send_window=2))
    protocol.send_request(SUBMIT).addErrback(lambda f: None)
    d = protocol.send_request(SUBMIT)
    assert handler.calls[-1] == ("pause", PauseCause.WINDOW)
    assert not protocol.can_send
    _first, second = written(transport)
    protocol.dataReceived(wire(SubmitSmResp(sequence_number=0), second.sequence_number))
    assert handler.calls[-1] == ("resume", PauseCause.WINDOW)
    result_of(d)

    protocol.pauseProducing()  # what the transport does when its buffer is full
    assert transport.producerState == "paused"  # we stop reading too
    assert handler.calls[-1] == ("pause", PauseCause.TRANSPORT)
    protocol.resumeProducing()
    assert transport.producerState == "producing"
    assert handler.calls[-1] == ("resume", PauseCause.TRANSPORT)
    lose(protocol)


def test_enquire_link_goes_out_on_the_clock_when_idle(clock: Clock) -> None:
    protocol, transport = bound_client(clock, Recorder(), SessionConfig(enquire_link_interval=30))
    clock.advance(29)
    assert written(transport) == []
    clock.advance(1)
    (probe,) = written(transport)
    assert isinstance(probe, EnquireLink)
    lose(protocol)


def test_one_delayed_call_at_a_time(clock: Clock) -> None:
    protocol, _transport = bound_client(clock, Recorder())
    for _ in range(5):
        protocol.send_request(SUBMIT).addErrback(lambda f: None)
        protocol.dataReceived(frame(0x00000015, seq=1000))
    assert len(clock.getDelayedCalls()) == 1
    lose(protocol)


def test_violations_reach_the_handler(clock: Clock) -> None:
    handler = Recorder()
    protocol, transport = server(clock, handler)
    protocol.dataReceived(wire(SUBMIT, 5))
    assert written(transport)[0].command_status == S.ESME_RINVBNDSTS
    assert handler.calls[-1][0] == "violation"
    lose(protocol)


# -- two protocols in memory ------------------------------------------------


def _pair(
    clock: Clock, server_handler: SessionHandler, client_handler: SessionHandler
) -> tuple[SmppProtocol, SmppProtocol, iosim.IOPump]:
    factory = SmppFactory(Role.SMSC, lambda: server_handler, clock, system_id="gw")
    server_protocol = factory.buildProtocol(None)
    client_protocol = SmppProtocol(Role.ESME, client_handler, clock)
    pump = iosim.connect(
        server_protocol,
        iosim.FakeTransport(server_protocol, isServer=True),
        client_protocol,
        iosim.FakeTransport(client_protocol, isServer=False),
        clock=clock,
    )
    return server_protocol, client_protocol, pump


def test_bind_submit_deliver_and_unbind_between_two_protocols(clock: Clock) -> None:
    server_handler, client_handler = Recorder(), Recorder()
    srv, cli, pump = _pair(clock, server_handler, client_handler)

    bound = cli.bind(BindMode.TRANSCEIVER, "app", "pw")
    pump.flush()
    assert result_of(bound) == Bound(BindMode.TRANSCEIVER, "gw", 0x34)
    assert ("bound", BindMode.TRANSCEIVER) in server_handler.calls

    submitted = cli.send_request(SUBMIT)
    delivered = srv.send_request(DELIVER)
    pump.flush()
    assert result_of(submitted).message_id.startswith("id-")
    assert isinstance(result_of(delivered), DeliverSmResp)

    closed = cli.unbind()
    pump.flush()
    assert result_of(closed) is CloseReason.LOCAL_UNBIND
    assert server_handler.calls[-1] == ("connection_lost", CloseReason.PEER_UNBIND)
    assert client_handler.calls[-1] == ("connection_lost", CloseReason.LOCAL_UNBIND)


def test_out_of_order_answers_between_two_protocols(clock: Clock) -> None:
    server_handler = Recorder(defer_answers=True)
    _srv, cli, pump = _pair(clock, server_handler, Recorder())
    cli.bind(BindMode.TRANSMITTER, "app", "pw")
    pump.flush()
    sent = [cli.send_request(SUBMIT) for _ in range(3)]
    pump.flush()
    seqs = sorted(server_handler.held)
    for seq in reversed(seqs):
        server_handler.held[seq].callback(SubmitSmResp(sequence_number=seq, message_id=f"m{seq}"))
    pump.flush()
    assert [result_of(d).message_id for d in sent] == [f"m{seq}" for seq in seqs]
    closed = cli.unbind()
    pump.flush()
    assert result_of(closed) is CloseReason.LOCAL_UNBIND


def test_unbind_from_the_server_waits_for_the_application_to_be_answered(clock: Clock) -> None:
    server_handler = Recorder(defer_answers=True)
    _srv, cli, pump = _pair(clock, server_handler, Recorder())
    cli.bind(BindMode.TRANSCEIVER, "app", "pw")
    pump.flush()
    submitted = cli.send_request(SUBMIT)
    pump.flush()
    (seq,) = server_handler.held
    closed = cli.unbind()  # drains: unbind waits for the submit_sm_resp
    pump.flush()
    assert not closed.called
    server_handler.held[seq].callback(SubmitSmResp(sequence_number=seq, message_id="stored"))
    pump.flush()
    assert result_of(submitted).message_id == "stored"
    assert result_of(closed) is CloseReason.LOCAL_UNBIND


def test_connection_drop_fails_deferreds_on_both_sides(clock: Clock) -> None:
    server_handler = Recorder(defer_answers=True)
    srv, cli, pump = _pair(clock, server_handler, Recorder())
    cli.bind(BindMode.TRANSCEIVER, "app", "pw")
    pump.flush()
    submitted = cli.send_request(SUBMIT)
    delivered = srv.send_request(DELIVER)
    cli.abort()
    pump.flush()
    failure_of(submitted, ConnectionClosed)
    failure_of(delivered, ConnectionClosed)
    # The store answers after the application has gone: nothing breaks.
    for d in server_handler.held.values():
        d.callback(SubmitSmResp(sequence_number=0, message_id="late"))


def test_factory_gives_each_connection_its_own_handler(clock: Clock) -> None:
    handlers: list[Recorder] = []

    def make() -> Recorder:
        handlers.append(Recorder())
        return handlers[-1]

    factory = SmppFactory(Role.SMSC, make, clock)
    first, second = factory.buildProtocol(None), factory.buildProtocol(None)
    assert first.handler is not second.handler
    assert len(handlers) == 2


class OutbindAnswerer(Recorder):
    bind_result: Deferred[Bound]

    def outbind_received(self, protocol: SmppProtocol, outbind: Outbind) -> None:
        self.calls.append(("outbind", outbind.system_id))
        self.bind_result = protocol.bind(BindMode.RECEIVER, "app", "pw")


def test_outbind_reaches_the_handler_which_binds_as_receiver(clock: Clock) -> None:
    handler = OutbindAnswerer()
    protocol = SmppProtocol(Role.ESME, handler, clock)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(Outbind(sequence_number=1, system_id="smsc").encode())
    (bind,) = written(transport)
    assert isinstance(bind, BindReceiver)
    protocol.dataReceived(frame(0x80000001, b"smsc\x00", seq=bind.sequence_number))
    assert result_of(handler.bind_result) == Bound(BindMode.RECEIVER, "smsc", 0x33)
    lose(protocol)


def test_unframed_input_is_nacked_and_the_transport_closed(clock: Clock) -> None:
    handler = Recorder()
    protocol, transport = server(clock, handler)
    protocol.dataReceived(bytes.fromhex("0000000400000015"))
    assert written(transport) == [GenericNack(sequence_number=0, command_status=2)]
    assert transport.disconnecting
    lose(protocol)
    assert handler.calls[-1] == ("connection_lost", CloseReason.FRAMING_ERROR)
