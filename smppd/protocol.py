"""Twisted adapter around :class:`smppd.session.Session`.

How this works
--------------
:class:`SmppProtocol` owns one sans-IO session. Every input (octets from
``dataReceived``, a timer firing, a call from the owner) goes into the
session; the events that come out are turned into calls on a
:class:`SessionHandler` or into Deferred results; then the session's output
is written, the transport is closed if the session closed, and ONE
``IDelayedCall`` on the injected ``IReactorTime`` is re-armed from
``next_deadline()``. A timer that fires early does no harm, so the call is
only moved when the deadline comes closer: most PDUs re-arm nothing.

Requests correlate like AMP: :meth:`SmppProtocol.send_request` returns a
Deferred that fires with the response PDU, or fails with a
:class:`RequestError` (non-zero status, generic_nack, timeout, unreadable
response, connection closed). Every pending Deferred fails when the
connection goes away.

Requests from the peer go to the handler, whose answer is a PDU (or a bind
status) or a Deferred of one; the response is written when it is available,
in whatever order, and an exception becomes ESME_RSYSERR (ESME_RBINDFAIL for
a bind). Backpressure reaches the handler through ``pause_sending`` /
``resume_sending``: when the send window is full, and when the transport's
write buffer is full (then we also stop reading, so a peer cannot make us
queue responses without bound).

Nothing here touches the global reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, Final, Protocol, cast

from twisted.internet import defer, protocol
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure as TwistedFailure

# zope.interface ships no type information.
from zope.interface import classImplements  # type: ignore[import-untyped]

from smppd.clock import DelayedCall as _DelayedCall
from smppd.clock import ReactorClock
from smppd.session import (
    DEFAULT_REJECTED_BIND_CLOSE_DELAY,
    AlertReceived,
    BindFailed,
    BindMode,
    BindRequest,
    BindRequested,
    Bound,
    CloseReason,
    Event,
    Failure,
    OutbindReceived,
    ProtocolViolation,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
    Role,
    Session,
    SessionClosed,
    SessionConfig,
    SessionError,
    State,
    Unbound,
    WindowOpen,
)
from smppd.smpp.constants import CommandStatus
from smppd.smpp.pdu import AlertNotification, Outbind, Pdu

__all__ = [
    "DEFAULT_SYSTEM_ID",
    "BindRejected",
    "CommandStatusError",
    "ConnectionClosed",
    "GenericNackError",
    "MalformedResponse",
    "PauseCause",
    "ReactorClock",
    "RequestError",
    "RequestTimeout",
    "SessionHandler",
    "SmppFactory",
    "SmppProtocol",
]

#: system_id we give in bind_resp (SMSC role) unless told otherwise.
DEFAULT_SYSTEM_ID: Final = "smppd"

_log = Logger(namespace="smppd.protocol")


# Structural views of the Twisted interfaces used here (IReactorTime,
# ITransport, IPushProducer, IConsumer; the clock's are in smppd.clock), so
# type checking needs no zope plugin.


class _Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def loseConnection(self) -> None: ...


class _Reader(Protocol):
    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...


class _Consumer(Protocol):
    def registerProducer(self, producer: object, streaming: bool) -> None: ...


# ---------------------------------------------------------------------------
# Errors a request Deferred fails with


class RequestError(Exception):
    """A request we sent did not succeed."""


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


class CommandStatusError(RequestError):
    """The peer answered with a non-zero command_status."""

    def __init__(self, status: int, response: Pdu | None = None) -> None:
        super().__init__(_status_name(status))
        self.status = status
        self.response = response


class BindRejected(CommandStatusError):
    """Our bind was answered with an error status."""


class GenericNackError(CommandStatusError):
    """The peer answered generic_nack (it could not read our request)."""


class RequestTimeout(RequestError):
    """No response within the response (or bind) timeout."""


class MalformedResponse(RequestError):
    """The peer answered with a response we cannot decode."""


class ConnectionClosed(RequestError):
    """The session closed before the response arrived."""

    def __init__(self, reason: CloseReason) -> None:
        super().__init__(f"session closed: {reason.value}")
        self.reason = reason


class PauseCause(Enum):
    #: The send window is full: wait before sending more requests.
    WINDOW = "window"
    #: The transport's write buffer is full (reading is paused as well).
    TRANSPORT = "transport"


# ---------------------------------------------------------------------------
# The owner of a session


class SessionHandler:
    """What a protocol tells its owner; override the methods you need.

    ``bind_requested`` and ``request_received`` may answer at once or return
    a Deferred; an exception (raised or as a failed Deferred) is answered
    ESME_RBINDFAIL / ESME_RSYSERR.
    """

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int | Deferred[int]:
        """SMSC role: authenticate; return ESME_ROK to accept or an error status."""
        return CommandStatus.ESME_RBINDFAIL

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        """Answer submit_sm, deliver_sm, data_sm, query_sm, ... with their ``_resp``."""
        return request.response(command_status=CommandStatus.ESME_RINVCMDID)

    def alert_received(self, protocol: SmppProtocol, alert: AlertNotification) -> None:
        """ESME role: alert_notification (no response is due)."""

    def outbind_received(self, protocol: SmppProtocol, outbind: Outbind) -> None:
        """ESME role: the SMSC asks us to bind; call ``protocol.bind``."""

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        """The bind succeeded: traffic may flow."""

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        """The bind is ending: send nothing more on it."""

    def pause_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        """Stop sending requests on this protocol until resume_sending."""

    def resume_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        """Sending may go on."""

    def violation(self, protocol: SmppProtocol, event: ProtocolViolation) -> None:
        """The peer misbehaved; the session has already answered it."""
        _log.info(
            "SMPP peer violation {violation} command_id={command_id} seq={seq}: {detail}",
            violation=event.violation.value,
            command_id=event.command_id,
            seq=event.sequence_number,
            detail=event.detail,
        )

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        """The transport is closed; every pending request has failed."""


# ---------------------------------------------------------------------------
# The protocol


class SmppProtocol(protocol.Protocol):
    """One SMPP connection; see the module docstring."""

    session: Session
    _transport: _Transport

    def __init__(
        self,
        role: Role,
        handler: SessionHandler,
        clock: ReactorClock,
        *,
        config: SessionConfig | None = None,
        system_id: str = DEFAULT_SYSTEM_ID,
        rejected_bind_close_delay: float = DEFAULT_REJECTED_BIND_CLOSE_DELAY,
    ) -> None:
        self.role = role
        self.handler = handler
        self.clock = clock
        self.config = config
        self.system_id = system_id
        self.rejected_bind_close_delay = rejected_bind_close_delay
        self._requests: dict[int, Deferred[Pdu]] = {}
        self._bind_result: Deferred[Bound] | None = None
        self._close_waiters: list[Deferred[CloseReason]] = []
        self._close_reason: CloseReason | None = None
        self._timer: _DelayedCall | None = None
        self._timer_deadline = 0.0
        self._disconnecting = False
        self._connected = False
        self._window_paused = False
        self._transport_paused = False
        self._busy = False

    # -- Protocol --------------------------------------------------------

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        self._transport = cast(_Transport, transport)
        self.session = Session(self.role, self.clock.seconds(), self.config)
        self._connected = True
        if IConsumer.providedBy(transport):
            cast(_Consumer, transport).registerProducer(self, True)
        self._flush()

    def dataReceived(self, data: bytes) -> None:
        self._busy = True
        try:
            self._handle(self.session.receive_data(data, self.clock.seconds()))
        finally:
            self._busy = False
        self._flush()

    def connectionLost(self, reason: TwistedFailure | None = None) -> None:
        self._connected = False
        self._disconnecting = True
        self._cancel_timer()
        self._handle(self.session.close(CloseReason.CONNECTION_LOST))
        # Everything pending was failed through the session's events; this
        # covers a Deferred the owner got while the session was closing.
        self._fail_all(ConnectionClosed(self._close_reason or CloseReason.CONNECTION_LOST))
        close_reason = self._close_reason or CloseReason.CONNECTION_LOST
        self.handler.connection_lost(self, close_reason)
        waiters, self._close_waiters = self._close_waiters, []
        for waiter in waiters:
            waiter.callback(close_reason)

    # -- IPushProducer: the transport's write buffer -----------------------

    def pauseProducing(self) -> None:
        if self._transport_paused or not self._connected:
            return
        self._transport_paused = True
        # Reading on would make us queue responses we cannot write.
        if IPushProducer.providedBy(self._transport):
            cast(_Reader, self._transport).pauseProducing()
        self.handler.pause_sending(self, PauseCause.TRANSPORT)

    def resumeProducing(self) -> None:
        if not self._transport_paused or not self._connected:
            return
        self._transport_paused = False
        if IPushProducer.providedBy(self._transport):
            cast(_Reader, self._transport).resumeProducing()
        self.handler.resume_sending(self, PauseCause.TRANSPORT)

    def stopProducing(self) -> None:
        # The connection is going away; connectionLost does the cleanup.
        pass

    # -- owner API ---------------------------------------------------------

    @property
    def state(self) -> State:
        return self.session.state

    @property
    def can_send(self) -> bool:
        """Bound, the window has room and the transport is not backed up."""
        session = self.session
        return session.bound and session.window_available > 0 and not self._transport_paused

    def send_request(self, pdu: Pdu) -> Deferred[Pdu]:
        """Send a request (its sequence_number is assigned); fires with the response."""
        session = self.session
        try:
            seq = session.send_request(pdu, self.clock.seconds())
        except SessionError as exc:
            return defer.fail(exc)
        result: Deferred[Pdu] = Deferred()
        self._requests[seq] = result
        if not self._window_paused and session.window_available == 0:
            self._window_paused = True
            self.handler.pause_sending(self, PauseCause.WINDOW)
        self._flush()
        return result

    def send_notification(self, pdu: Outbind | AlertNotification) -> None:
        """Send a request that has no response (outbind, alert_notification)."""
        self.session.send_request(pdu, self.clock.seconds())
        self._flush()

    def bind(
        self,
        mode: BindMode,
        system_id: str,
        password: str,
        *,
        system_type: str = "",
        **fields: Any,
    ) -> Deferred[Bound]:
        """ESME role: bind; fires with :class:`Bound` or fails with a RequestError."""
        try:
            self.session.bind(
                mode, system_id, password, self.clock.seconds(), system_type=system_type, **fields
            )
        except SessionError as exc:
            return defer.fail(exc)
        result: Deferred[Bound] = Deferred()
        self._bind_result = result
        self._flush()
        return result

    def unbind(self) -> Deferred[CloseReason]:
        """Leave gracefully; fires with the close reason once the connection is closed."""
        result: Deferred[CloseReason] = Deferred()
        if not self._connected:
            result.callback(self._close_reason or CloseReason.CONNECTION_LOST)
            return result
        self._close_waiters.append(result)
        self._handle(self.session.unbind(self.clock.seconds()))
        self._flush()
        return result

    def abort(self) -> None:
        """Close now without unbinding."""
        if self._connected:
            self._handle(self.session.close(CloseReason.ABORTED))
            self._flush()

    # -- events ------------------------------------------------------------

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if type(event) is RequestReceived:
                self._on_request(event.request)
            elif type(event) is ResponseReceived:
                self._on_response(event)
            else:
                self._on_other(event)

    def _on_request(self, request: Pdu) -> None:
        seq = request.sequence_number
        try:
            answer = self.handler.request_received(self, request)
        except Exception:
            _log.failure("request handler failed for seq {seq}", seq=seq)
            self._answer_error(seq, CommandStatus.ESME_RSYSERR)
            return
        if isinstance(answer, Deferred):
            answer.addCallbacks(
                self._answer, self._answer_failed, callbackArgs=(seq,), errbackArgs=(seq,)
            )
        else:
            self._answer(answer, seq)

    def _on_response(self, event: ResponseReceived) -> None:
        response = event.response
        result = self._requests.pop(response.sequence_number, None)
        if result is None:
            return
        if response.command_status:
            result.errback(CommandStatusError(response.command_status, response))
        else:
            result.callback(response)

    def _on_other(self, event: Event) -> None:
        if isinstance(event, RequestFailed):
            result = self._requests.pop(event.sequence_number, None)
            if result is not None:
                result.errback(self._failure_error(event.failure, event.response))
        elif isinstance(event, WindowOpen):
            if self._window_paused:
                self._window_paused = False
                self.handler.resume_sending(self, PauseCause.WINDOW)
        elif isinstance(event, BindRequested):
            self._on_bind_requested(event.request)
        elif isinstance(event, Bound):
            bind_result, self._bind_result = self._bind_result, None
            self.handler.bound(self, event)
            if bind_result is not None:
                bind_result.callback(event)
        elif isinstance(event, BindFailed):
            bind_result, self._bind_result = self._bind_result, None
            if bind_result is not None:
                if event.failure is Failure.TIMED_OUT:
                    bind_result.errback(RequestTimeout("no bind_resp"))
                elif event.failure is Failure.MALFORMED_RESPONSE:
                    bind_result.errback(MalformedResponse("unreadable bind_resp"))
                elif event.failure is Failure.NACKED:
                    bind_result.errback(GenericNackError(event.command_status or 0))
                else:
                    bind_result.errback(BindRejected(event.command_status or 0))
        elif isinstance(event, Unbound):
            self.handler.unbound(self, event.reason)
        elif isinstance(event, SessionClosed):
            self._close_reason = event.reason
            bind_result, self._bind_result = self._bind_result, None
            if bind_result is not None:
                bind_result.errback(ConnectionClosed(event.reason))
        elif isinstance(event, ProtocolViolation):
            self.handler.violation(self, event)
        elif isinstance(event, AlertReceived):
            self.handler.alert_received(self, event.alert)
        elif isinstance(event, OutbindReceived):
            self.handler.outbind_received(self, event.outbind)

    def _failure_error(self, failure: Failure, response: Pdu | None) -> RequestError:
        if failure is Failure.NACKED and response is not None:
            return GenericNackError(response.command_status, response)
        if failure is Failure.TIMED_OUT:
            return RequestTimeout("no response")
        if failure is Failure.MALFORMED_RESPONSE:
            return MalformedResponse("unreadable response")
        return ConnectionClosed(self._close_reason or CloseReason.CONNECTION_LOST)

    # -- answering the peer --------------------------------------------------

    def _answer(self, response: Pdu, seq: int) -> None:
        session = self.session
        if session.closed:
            return
        try:
            events = session.send_response(seq, response)
        except SessionError:
            _log.failure("cannot send {response!r} for seq {seq}", response=response, seq=seq)
            self._answer_error(seq, CommandStatus.ESME_RSYSERR)
            return
        self._after_answer(events)

    def _answer_failed(self, failure: TwistedFailure, seq: int) -> None:
        _log.failure("request handler failed for seq {seq}", failure, seq=seq)
        self._answer_error(seq, CommandStatus.ESME_RSYSERR)

    def _answer_error(self, seq: int, status: int) -> None:
        session = self.session
        if session.closed:
            return
        try:
            events = session.send_error_response(seq, status)
        except SessionError:
            # Already answered (or the peer's unbind timed the request out).
            return
        self._after_answer(events)

    def _after_answer(self, events: list[Event]) -> None:
        if events:
            self._handle(events)
        if not self._busy:
            self._flush()

    def _on_bind_requested(self, request: BindRequest) -> None:
        try:
            decision = self.handler.bind_requested(self, request)
        except Exception:
            _log.failure("bind handler failed")
            self._decide_bind(CommandStatus.ESME_RBINDFAIL)
            return
        if isinstance(decision, Deferred):
            decision.addCallbacks(self._decide_bind, self._bind_decision_failed)
        else:
            self._decide_bind(decision)

    def _decide_bind(self, status: int) -> None:
        session = self.session
        if session.state is not State.BINDING:
            return
        now = self.clock.seconds()
        if status:
            events = session.reject_bind(status, now, self.rejected_bind_close_delay)
        else:
            events = session.accept_bind(now, self.system_id)
        self._after_answer(events)

    def _bind_decision_failed(self, failure: TwistedFailure) -> None:
        _log.failure("bind handler failed", failure)
        self._decide_bind(CommandStatus.ESME_RBINDFAIL)

    # -- output and the timer -------------------------------------------------

    def _flush(self) -> None:
        session = self.session
        data = session.bytes_to_send()
        if data and self._connected:
            self._transport.write(data)
        if session.closed:
            self._cancel_timer()
            if not self._disconnecting:
                self._disconnecting = True
                self._transport.loseConnection()
            return
        self._rearm()

    def _rearm(self) -> None:
        deadline = self.session.next_deadline()
        timer = self._timer
        if deadline is None:
            self._cancel_timer()
            return
        if timer is not None:
            if self._timer_deadline <= deadline:
                return
            timer.cancel()
        self._timer_deadline = deadline
        self._timer = self.clock.callLater(
            max(0.0, deadline - self.clock.seconds()), self._on_timer
        )

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _on_timer(self) -> None:
        self._timer = None
        # The call never fires before its time; rounding in deadline - now
        # must not make the session think it came early.
        now = max(self.clock.seconds(), self._timer_deadline)
        self._busy = True
        try:
            self._handle(self.session.handle_timer(now))
        finally:
            self._busy = False
        self._flush()

    def _fail_all(self, error: RequestError) -> None:
        requests, self._requests = self._requests, {}
        for result in requests.values():
            result.errback(error)
        bind_result, self._bind_result = self._bind_result, None
        if bind_result is not None:
            bind_result.errback(error)


# Registered with the transport as a streaming producer (write backpressure).
classImplements(SmppProtocol, IPushProducer)


class SmppFactory(protocol.Factory):
    """Builds one :class:`SmppProtocol` per connection with a fresh handler."""

    # Twisted's "Starting factory ..." lines say nothing an operator needs;
    # the daemon logs where it listens itself.
    noisy = False

    def __init__(
        self,
        role: Role,
        handler_factory: Callable[[], SessionHandler],
        clock: ReactorClock,
        *,
        config: SessionConfig | None = None,
        system_id: str = DEFAULT_SYSTEM_ID,
    ) -> None:
        self.role = role
        self.handler_factory = handler_factory
        self.clock = clock
        self.session_config = config
        self.system_id = system_id

    def buildProtocol(self, addr: Any) -> SmppProtocol:
        return SmppProtocol(
            self.role,
            self.handler_factory(),
            self.clock,
            config=self.session_config,
            system_id=self.system_id,
        )
