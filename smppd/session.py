"""SMPP session state machine, sans-IO: one class for both ends of a bind.

How this works
--------------
A :class:`Session` is fed octets and the current time and hands back octets
and events; it never reads a clock, opens a socket or imports Twisted.

* ``receive_data(data, now)`` frames and decodes what the peer sent. What the
  protocol itself dictates is answered here and written to the output buffer:
  enquire_link (in every state), unbind, requests the current state forbids
  (``_resp`` with ESME_RINVBNDSTS, bind_resp ESME_RALYBND when bound), decode
  errors (the status the codec names; generic_nack and close when the stream
  can no longer be framed), unknown command ids (generic_nack RINVCMDID) and
  overflow of the receive window (ESME_RTHROTTLED). Everything the owner must
  decide comes back as an event: a bind to authenticate, a request to answer,
  a response matched to its request by sequence number, a failed request,
  bound / unbound / closed, "window has room again".
* ``send_request(pdu, now)`` assigns the sequence number and counts the
  request against the send window; ``send_response(seq, pdu)`` answers a
  request the peer sent, at any later time and in any order.
* ``bytes_to_send()`` drains the output buffer.
* Timers work as in aioquic: ``next_deadline()`` is the earliest time at which
  ``handle_timer(now)`` has something to do (session init, bind, response,
  enquire_link, inactivity and unbind timers). Calling it early is harmless.

The states and every transition between them are in :data:`TRANSITIONS`,
applied only by :meth:`Session._enter`; which requests each side may send in
each state is :data:`ESME_REQUESTS` / :data:`SMSC_REQUESTS` (SMPP 3.4 §2.3,
§4, PROTOCOL.md §1.2-§1.3). Misuse of the API raises a
:class:`LocalProtocolError`; misbehaviour of the peer never raises, it is
answered and reported as a :class:`ProtocolViolation` event.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final

from smppd.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus
from smppd.smpp.errors import CommandLengthError, DecodeError, UnknownCommandError
from smppd.smpp.framer import DEFAULT_MAX_PDU_LENGTH, Framer
from smppd.smpp.helpers import SequenceAllocator
from smppd.smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    EnquireLink,
    Outbind,
    Pdu,
    decode,
    response_class_for,
)
from smppd.smpp.tlv import Tag, Tlv

__all__ = [
    "DEFAULT_BIND_TIMEOUT",
    "DEFAULT_ENQUIRE_LINK_INTERVAL",
    "DEFAULT_ESME_SEND_WINDOW",
    "DEFAULT_INACTIVITY_TIMEOUT",
    "DEFAULT_MAX_ENQUIRE_LINK_FAILURES",
    "DEFAULT_RECEIVE_WINDOW",
    "DEFAULT_REJECTED_BIND_CLOSE_DELAY",
    "DEFAULT_RESPONSE_TIMEOUT",
    "DEFAULT_SESSION_INIT_TIMEOUT",
    "DEFAULT_SMSC_SEND_WINDOW",
    "DEFAULT_UNBIND_TIMEOUT",
    "ESME_REQUESTS",
    "SMSC_REQUESTS",
    "TRANSITIONS",
    "AlertReceived",
    "BindFailed",
    "BindMode",
    "BindRequest",
    "BindRequested",
    "Bound",
    "CloseReason",
    "Event",
    "Failure",
    "InvalidState",
    "LocalProtocolError",
    "OutbindReceived",
    "ProtocolViolation",
    "RequestFailed",
    "RequestReceived",
    "ResponseReceived",
    "Role",
    "Session",
    "SessionClosed",
    "SessionConfig",
    "SessionError",
    "State",
    "Unbound",
    "UnknownRequest",
    "Violation",
    "WindowFull",
    "WindowOpen",
]

# ---------------------------------------------------------------------------
# Limits (PROTOCOL.md §1.9: the specification names the timers, practice
# gives the values).

#: Seconds an application has to bind after connecting (SMSC role).
DEFAULT_SESSION_INIT_TIMEOUT: Final = 30.0
#: Seconds a carrier has to answer our bind (ESME role).
DEFAULT_BIND_TIMEOUT: Final = 15.0
#: Seconds without any PDU from the peer before we probe with enquire_link.
DEFAULT_ENQUIRE_LINK_INTERVAL: Final = 30.0
#: Seconds a request may stay unanswered (Kannel's wait-ack is 60).
DEFAULT_RESPONSE_TIMEOUT: Final = 30.0
#: Seconds without traffic other than enquire_link before an application
#: bind is unbound. Carrier binds (ESME role) are kept up by default.
DEFAULT_INACTIVITY_TIMEOUT: Final = 300.0
#: Seconds to drain outstanding work before unbind, and again for unbind_resp.
DEFAULT_UNBIND_TIMEOUT: Final = 10.0
#: Consecutive unanswered enquire_links after which the link is dead.
DEFAULT_MAX_ENQUIRE_LINK_FAILURES: Final = 3
#: Seconds between refusing a bind and closing (time for the bind_resp to
#: reach the peer, and a brake on password guessing).
DEFAULT_REJECTED_BIND_CLOSE_DELAY: Final = 1.0
#: deliver_sm / data_sm we send to one application bind without a response.
DEFAULT_SMSC_SEND_WINDOW: Final = 10
#: submit_sm we send to one carrier bind without a response (Kannel's
#: max-pending-submits).
DEFAULT_ESME_SEND_WINDOW: Final = 10
#: Requests the peer may have outstanding with us; more are answered
#: ESME_RTHROTTLED (§1.9).
DEFAULT_RECEIVE_WINDOW: Final = 100

_HEADER: Final = struct.Struct(">IIII")
_SEQ: Final = struct.Struct(">I")
_HEADER_LENGTH: Final = 16
_SEQ_OFFSET: Final = 12
_INTERFACE_VERSION_34: Final = 0x34

_ENQUIRE_LINK: Final = int(CommandId.ENQUIRE_LINK)
_ENQUIRE_LINK_RESP: Final = int(CommandId.ENQUIRE_LINK_RESP)
_UNBIND: Final = int(CommandId.UNBIND)
_UNBIND_RESP: Final = int(CommandId.UNBIND_RESP)
_GENERIC_NACK: Final = int(CommandId.GENERIC_NACK)
_S = CommandStatus


# ---------------------------------------------------------------------------
# Vocabulary


class Role(Enum):
    """Which end of the bind this session is."""

    #: We are the message centre: applications bind to us.
    SMSC = "smsc"
    #: We are the application: we bind to a carrier.
    ESME = "esme"


class State(Enum):
    OPEN = "open"
    #: A bind was sent (ESME) or received and awaits the owner (SMSC).
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    #: Leaving the bound state: draining, unbind sent, or peer unbind
    #: waiting for the responses we still owe.
    UNBINDING = "unbinding"
    CLOSED = "closed"


class BindMode(Enum):
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"


class CloseReason(Enum):
    LOCAL_UNBIND = "local_unbind"
    PEER_UNBIND = "peer_unbind"
    INACTIVITY = "inactivity"
    SESSION_INIT_TIMEOUT = "session_init_timeout"
    BIND_TIMEOUT = "bind_timeout"
    BIND_REJECTED = "bind_rejected"
    LINK_DEAD = "link_dead"
    UNBIND_TIMEOUT = "unbind_timeout"
    FRAMING_ERROR = "framing_error"
    CONNECTION_LOST = "connection_lost"
    ABORTED = "aborted"


class Failure(Enum):
    """Why a request we sent got no usable response."""

    NACKED = "nacked"
    TIMED_OUT = "timed_out"
    MALFORMED_RESPONSE = "malformed_response"
    CLOSED = "closed"


class Violation(Enum):
    """Peer misbehaviour the session answered (or ignored) by itself."""

    MALFORMED_PDU = "malformed_pdu"
    UNFRAMED = "unframed"
    UNKNOWN_COMMAND = "unknown_command"
    WRONG_STATE = "wrong_state"
    WRONG_DIRECTION = "wrong_direction"
    UNEXPECTED_RESPONSE = "unexpected_response"
    DUPLICATE_SEQUENCE = "duplicate_sequence"
    WINDOW_EXCEEDED = "window_exceeded"


BindRequest = BindTransmitter | BindReceiver | BindTransceiver

_BIND_MODES: Final[dict[int, BindMode]] = {
    CommandId.BIND_TRANSMITTER: BindMode.TRANSMITTER,
    CommandId.BIND_RECEIVER: BindMode.RECEIVER,
    CommandId.BIND_TRANSCEIVER: BindMode.TRANSCEIVER,
}
_BIND_REQUEST_CLASS: Final[dict[BindMode, type[BindRequest]]] = {
    BindMode.TRANSMITTER: BindTransmitter,
    BindMode.RECEIVER: BindReceiver,
    BindMode.TRANSCEIVER: BindTransceiver,
}
_BIND_RESPONSE_CLASS: Final[
    dict[BindMode, type[BindTransmitterResp | BindReceiverResp | BindTransceiverResp]]
] = {
    BindMode.TRANSMITTER: BindTransmitterResp,
    BindMode.RECEIVER: BindReceiverResp,
    BindMode.TRANSCEIVER: BindTransceiverResp,
}


# ---------------------------------------------------------------------------
# Errors: the owner misused the API. The peer's mistakes are events.


class SessionError(Exception):
    """Base class of the errors a :class:`Session` raises."""


class LocalProtocolError(SessionError):
    """We (the owner) asked for something SMPP or this session forbids."""


class InvalidState(LocalProtocolError):
    """The operation or command is not allowed in the current state."""

    def __init__(self, message: str, state: State) -> None:
        super().__init__(f"{message} (state {state.value})")
        self.state = state


class WindowFull(LocalProtocolError):
    """The send window is full; wait for :class:`WindowOpen`."""


class UnknownRequest(LocalProtocolError):
    """A response for a sequence number the peer has no request outstanding on."""


# ---------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """Limits and timers of one session, in seconds; ``None`` disables a timer."""

    #: Largest command_length accepted; a larger one closes the session.
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    #: Our requests outstanding at once (deliver_sm as SMSC, submit_sm as ESME).
    send_window: int = DEFAULT_SMSC_SEND_WINDOW
    #: The peer's requests outstanding at once; more get ESME_RTHROTTLED.
    receive_window: int = DEFAULT_RECEIVE_WINDOW
    #: SMSC role: time from connection to an accepted bind.
    session_init_timeout: float | None = DEFAULT_SESSION_INIT_TIMEOUT
    #: ESME role: time for the bind_resp.
    bind_timeout: float = DEFAULT_BIND_TIMEOUT
    #: Silence from the peer after which we send enquire_link (when bound).
    enquire_link_interval: float | None = DEFAULT_ENQUIRE_LINK_INTERVAL
    response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
    #: Time without traffic other than enquire_link before we unbind.
    inactivity_timeout: float | None = DEFAULT_INACTIVITY_TIMEOUT
    #: Limit for draining before unbind, and again for the unbind_resp.
    unbind_timeout: float = DEFAULT_UNBIND_TIMEOUT
    max_enquire_link_failures: int = DEFAULT_MAX_ENQUIRE_LINK_FAILURES

    def __post_init__(self) -> None:
        for name in ("send_window", "receive_window", "max_enquire_link_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("bind_timeout", "response_timeout", "unbind_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("session_init_timeout", "enquire_link_interval", "inactivity_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None")

    @classmethod
    def for_role(cls, role: Role) -> SessionConfig:
        """The defaults for a bind facing applications or facing a carrier."""
        if role is Role.SMSC:
            return cls()
        return cls(send_window=DEFAULT_ESME_SEND_WINDOW, inactivity_timeout=None)


# ---------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class BindRequested:
    """SMSC role: authenticate, then call accept_bind or reject_bind."""

    request: BindRequest
    mode: BindMode


@dataclass(frozen=True, slots=True)
class Bound:
    mode: BindMode
    #: The system_id the peer gave: the application's (SMSC role) or the
    #: carrier's from bind_resp (ESME role).
    peer_system_id: str
    #: interface_version of the bind (SMSC role) or sc_interface_version of
    #: the bind_resp (ESME role; 0x33 when absent, SMPP 3.4 §5.3.2.25).
    interface_version: int


@dataclass(frozen=True, slots=True)
class BindFailed:
    """ESME role: the bind was refused, nacked or timed out (then CLOSED)."""

    command_status: int | None
    failure: Failure | None


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request the owner must answer with send_response (or send_error_response)."""

    request: Pdu


@dataclass(frozen=True, slots=True)
class AlertReceived:
    """alert_notification: has no response."""

    alert: AlertNotification


@dataclass(frozen=True, slots=True)
class OutbindReceived:
    """ESME role: the SMSC asks us to bind (with bind_receiver or bind_transceiver)."""

    outbind: Outbind


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The response to a request we sent; check ``response.command_status``."""

    request: Pdu
    response: Pdu


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """A request we sent will get no usable response.

    ``request`` is the PDU as given to send_request; its sequence number on the
    wire is ``sequence_number``.
    """

    request: Pdu
    sequence_number: int
    failure: Failure
    response: Pdu | None = None


@dataclass(frozen=True, slots=True)
class WindowOpen:
    """The send window was full and now has room."""

    available: int


@dataclass(frozen=True, slots=True)
class Unbound:
    """No more traffic may be sent on this bind."""

    reason: CloseReason


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The session is over: the transport should be closed."""

    reason: CloseReason


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer misbehaved; ``answered_status`` is what we answered, if anything."""

    violation: Violation
    command_id: int | None
    sequence_number: int | None
    answered_status: int | None
    detail: str = ""
    #: The codec's error for undecodable input (its subclass names the case).
    error: DecodeError | None = field(default=None, compare=False)


Event = (
    BindRequested
    | Bound
    | BindFailed
    | RequestReceived
    | AlertReceived
    | OutbindReceived
    | ResponseReceived
    | RequestFailed
    | WindowOpen
    | Unbound
    | SessionClosed
    | ProtocolViolation
)


# ---------------------------------------------------------------------------
# The tables


class _Input(Enum):
    BIND_SENT = auto()
    BIND_RECEIVED = auto()
    BOUND_AS_TRANSMITTER = auto()
    BOUND_AS_RECEIVER = auto()
    BOUND_AS_TRANSCEIVER = auto()
    BIND_REFUSED = auto()
    UNBIND_STARTED = auto()
    PEER_UNBIND = auto()
    CLOSE = auto()


_BOUND_STATES: Final = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})

#: Every state change of a session: (state, input) -> next state.
TRANSITIONS: Final[dict[tuple[State, _Input], State]] = {
    (State.OPEN, _Input.BIND_SENT): State.BINDING,
    (State.OPEN, _Input.BIND_RECEIVED): State.BINDING,
    (State.BINDING, _Input.BOUND_AS_TRANSMITTER): State.BOUND_TX,
    (State.BINDING, _Input.BOUND_AS_RECEIVER): State.BOUND_RX,
    (State.BINDING, _Input.BOUND_AS_TRANSCEIVER): State.BOUND_TRX,
    # SMSC role: the owner refused the bind; the session closes after a delay.
    (State.BINDING, _Input.BIND_REFUSED): State.OPEN,
    **{(s, _Input.UNBIND_STARTED): State.UNBINDING for s in _BOUND_STATES},
    **{(s, _Input.PEER_UNBIND): State.UNBINDING for s in (*_BOUND_STATES, State.UNBINDING)},
    **{(s, _Input.CLOSE): State.CLOSED for s in State if s is not State.CLOSED},
}

_BOUND_INPUT: Final = {
    BindMode.TRANSMITTER: _Input.BOUND_AS_TRANSMITTER,
    BindMode.RECEIVER: _Input.BOUND_AS_RECEIVER,
    BindMode.TRANSCEIVER: _Input.BOUND_AS_TRANSCEIVER,
}

_C = CommandId
_TRANSMITTER_OPS: Final = frozenset(
    {_C.SUBMIT_SM, _C.SUBMIT_MULTI, _C.DATA_SM, _C.QUERY_SM, _C.CANCEL_SM, _C.REPLACE_SM}
)
_RECEIVER_OPS: Final = frozenset({_C.DELIVER_SM, _C.DATA_SM, _C.ALERT_NOTIFICATION})
_BINDS: Final = frozenset({_C.BIND_TRANSMITTER, _C.BIND_RECEIVER, _C.BIND_TRANSCEIVER})
_LINK: Final = frozenset({_C.ENQUIRE_LINK, _C.UNBIND})
_PROBE: Final = frozenset({_C.ENQUIRE_LINK})

#: Requests an ESME may send to an SMSC, by the state of their session.
ESME_REQUESTS: Final[dict[State, frozenset[CommandId]]] = {
    State.OPEN: _BINDS | _PROBE,
    State.BINDING: _PROBE,
    State.BOUND_TX: _TRANSMITTER_OPS | _LINK,
    State.BOUND_RX: _LINK,
    State.BOUND_TRX: _TRANSMITTER_OPS | _LINK,
    State.UNBINDING: _LINK,
    State.CLOSED: frozenset(),
}

#: Requests an SMSC may send to an ESME, by the state of their session.
SMSC_REQUESTS: Final[dict[State, frozenset[CommandId]]] = {
    State.OPEN: frozenset({_C.OUTBIND}) | _PROBE,
    State.BINDING: _PROBE,
    State.BOUND_TX: _LINK,
    State.BOUND_RX: _RECEIVER_OPS | _LINK,
    State.BOUND_TRX: _RECEIVER_OPS | _LINK,
    State.UNBINDING: _LINK,
    State.CLOSED: frozenset(),
}

_SENDS: Final = {Role.ESME: ESME_REQUESTS, Role.SMSC: SMSC_REQUESTS}
_RECEIVES: Final = {Role.ESME: SMSC_REQUESTS, Role.SMSC: ESME_REQUESTS}


def _ever(table: dict[State, frozenset[CommandId]]) -> frozenset[int]:
    out: set[int] = set()
    for ids in table.values():
        out |= ids
    return frozenset(out)


#: Requests that travel in the direction at all: anything else received is
#: answered ESME_RINVCMDID rather than ESME_RINVBNDSTS.
_EVER_RECEIVED: Final = {role: _ever(table) for role, table in _RECEIVES.items()}


# How a received request is handled once the state allows it.
_OWNER = 0
_HANDLE_BIND = 1
_HANDLE_UNBIND = 2
_HANDLE_OUTBIND = 3
_HANDLE_ALERT = 4
_HANDLING: Final[dict[int, int]] = {
    **dict.fromkeys(_BINDS, _HANDLE_BIND),
    _C.UNBIND: _HANDLE_UNBIND,
    _C.OUTBIND: _HANDLE_OUTBIND,
    _C.ALERT_NOTIFICATION: _HANDLE_ALERT,
}

_Outstanding = tuple[Pdu, float]


# ---------------------------------------------------------------------------
# The session


class Session:
    """One SMPP session; see the module docstring."""

    __slots__ = (
        "_bind_deadline",
        "_bind_interface_version",
        "_bind_mode",
        "_bind_peer_system_id",
        "_bind_seq",
        "_config",
        "_framer",
        "_init_deadline",
        "_last_activity",
        "_last_received",
        "_now",
        "_out",
        "_owed",
        "_peer_unbind_seq",
        "_pending",
        "_probe_failures",
        "_probe_seq",
        "_receivable",
        "_reject_close_at",
        "_role",
        "_sendable",
        "_sequence",
        "_state",
        "_unbind_deadline",
        "_unbind_reason",
        "_unbind_seq",
        "_window_used",
        "_window_was_full",
    )

    def __init__(self, role: Role, now: float, config: SessionConfig | None = None) -> None:
        self._role = role
        self._config = config if config is not None else SessionConfig.for_role(role)
        self._framer = Framer(self._config.max_pdu_length)
        self._sequence = SequenceAllocator()
        self._out = bytearray()
        self._state = State.OPEN
        self._sendable = _SENDS[role][State.OPEN]
        self._receivable = _RECEIVES[role][State.OPEN]
        self._now = now
        self._last_received = now
        self._last_activity = now
        init = self._config.session_init_timeout
        self._init_deadline = now + init if role is Role.SMSC and init is not None else None
        # seq -> (request, deadline); insertion order is deadline order, as
        # every entry uses response_timeout and time does not go backwards.
        self._pending: dict[int, _Outstanding] = {}
        self._window_used = 0
        self._window_was_full = False
        # seq -> command_id of requests the peer awaits an answer to.
        self._owed: dict[int, int] = {}
        self._probe_seq: int | None = None
        self._probe_failures = 0
        self._bind_seq: int | None = None
        self._bind_mode: BindMode | None = None
        self._bind_deadline: float | None = None
        # From the bind request, kept until the owner decides (SMSC role).
        self._bind_interface_version = _INTERFACE_VERSION_34
        self._bind_peer_system_id = ""
        self._reject_close_at: float | None = None
        self._unbind_seq: int | None = None
        self._unbind_deadline: float | None = None
        self._unbind_reason = CloseReason.LOCAL_UNBIND
        self._peer_unbind_seq: int | None = None

    # -- introspection --------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def state(self) -> State:
        return self._state

    @property
    def config(self) -> SessionConfig:
        return self._config

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED

    @property
    def bound(self) -> bool:
        return self._state in _BOUND_STATES

    @property
    def bind_mode(self) -> BindMode | None:
        """The mode of the current or attempted bind."""
        return self._bind_mode

    @property
    def window_available(self) -> int:
        """Requests that may be sent now before the window is full."""
        return self._config.send_window - self._window_used

    @property
    def outstanding(self) -> int:
        """Requests of the owner sent and not yet answered."""
        return self._window_used

    @property
    def owed(self) -> int:
        """Requests of the peer the owner has not answered yet."""
        return len(self._owed)

    def may_send(self, command_id: int) -> bool:
        """Whether send_request accepts this command in the current state."""
        return command_id in self._sendable

    # -- state ----------------------------------------------------------

    def _enter(self, event: _Input) -> None:
        """The one place where the state changes."""
        try:
            new = TRANSITIONS[self._state, event]
        except KeyError:
            raise InvalidState(f"no transition on {event.name}", self._state) from None
        self._state = new
        self._sendable = _SENDS[self._role][new]
        self._receivable = _RECEIVES[self._role][new]

    # -- output ---------------------------------------------------------

    def bytes_to_send(self) -> bytes:
        """Octets to write to the transport, in order; empties the buffer."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def _write(self, pdu: Pdu, seq: int) -> None:
        out = self._out
        start = len(out)
        out += pdu.encode()
        if pdu.sequence_number != seq:
            _SEQ.pack_into(out, start + _SEQ_OFFSET, seq)

    def _write_header(self, command_id: int, status: int, seq: int) -> None:
        self._out += _HEADER.pack(_HEADER_LENGTH, command_id, status, seq)

    def _next_sequence(self) -> int:
        pending = self._pending
        seq = self._sequence.next()
        # Only reachable after 2**31 requests with one left unanswered.
        while seq in pending or seq in (self._bind_seq, self._unbind_seq):
            seq = self._sequence.next()
        return seq

    # -- owner API: requests ------------------------------------------

    def send_request(self, pdu: Pdu, now: float) -> int:
        """Send a request; returns the sequence number given to it.

        The PDU's own ``sequence_number`` is ignored. Raises
        :class:`InvalidState` when the state forbids the command (binds go
        through :meth:`bind`, unbind through :meth:`unbind`) and
        :class:`WindowFull` when the send window is full. Requests without a
        response (outbind, alert_notification) are not counted in the window.
        """
        self._now = now
        cid = pdu.command_id
        if cid not in self._sendable or cid in _BINDS or cid == _UNBIND:
            raise InvalidState(f"may not send {cid.name.lower()}", self._state)
        if response_class_for(cid) is None:
            seq = self._next_sequence()
            self._write(pdu, seq)
            self._last_activity = now
            return seq
        if self._window_used >= self._config.send_window:
            raise WindowFull(f"{self._window_used} requests outstanding")
        seq = self._next_sequence()
        self._write(pdu, seq)
        self._pending[seq] = (pdu, now + self._config.response_timeout)
        self._window_used += 1
        if self._window_used >= self._config.send_window:
            self._window_was_full = True
        if cid != _ENQUIRE_LINK:
            self._last_activity = now
        return seq

    def send_response(self, request_seq: int, pdu: Pdu) -> list[Event]:
        """Answer the peer's request ``request_seq`` (any order, any time).

        ``pdu`` must be that request's ``_resp`` or a generic_nack; its
        sequence number is set to ``request_seq``. Returns the events it causes
        (the session closes once the last answer owed to an unbinding peer is sent).
        """
        if self._state is State.CLOSED:
            raise InvalidState("cannot answer", self._state)
        cid = self._owed.get(request_seq)
        if cid is None:
            raise UnknownRequest(f"no request {request_seq} awaits an answer")
        if pdu.command_id != cid | RESPONSE_BIT and pdu.command_id != _GENERIC_NACK:
            raise LocalProtocolError(
                f"{pdu.command_id.name.lower()} does not answer "
                f"{CommandId(cid).name.lower()} {request_seq}"
            )
        del self._owed[request_seq]
        self._write(pdu, request_seq)
        self._last_activity = self._now
        events: list[Event] = []
        if self._state is State.UNBINDING and not self._owed:
            self._progress_unbind(self._now, events)
        return events

    def send_error_response(self, request_seq: int, status: int) -> list[Event]:
        """Answer the peer's request ``request_seq`` with a bodiless error ``_resp``."""
        if self._state is State.CLOSED:
            raise InvalidState("cannot answer", self._state)
        cid = self._owed.get(request_seq)
        if cid is None:
            raise UnknownRequest(f"no request {request_seq} awaits an answer")
        if not status:
            raise LocalProtocolError("an error response needs a non-zero status")
        del self._owed[request_seq]
        self._write_header(cid | RESPONSE_BIT, status, request_seq)
        self._last_activity = self._now
        events: list[Event] = []
        if self._state is State.UNBINDING and not self._owed:
            self._progress_unbind(self._now, events)
        return events

    # -- owner API: binding ---------------------------------------------

    def bind(
        self,
        mode: BindMode,
        system_id: str,
        password: str,
        now: float,
        *,
        system_type: str = "",
        interface_version: int = _INTERFACE_VERSION_34,
        addr_ton: int = 0,
        addr_npi: int = 0,
        address_range: str = "",
    ) -> int:
        """ESME role: send a bind; :class:`Bound` or :class:`BindFailed` follows.

        Field values the codec cannot encode raise its ``EncodeError``.
        """
        if self._role is not Role.ESME:
            raise InvalidState("only an ESME binds", self._state)
        if self._state is not State.OPEN:
            raise InvalidState("bind needs an open, unbound session", self._state)
        self._now = now
        pdu = _BIND_REQUEST_CLASS[mode](
            sequence_number=0,
            system_id=system_id,
            password=password,
            system_type=system_type,
            interface_version=interface_version,
            addr_ton=addr_ton,
            addr_npi=addr_npi,
            address_range=address_range,
        )
        seq = self._next_sequence()
        self._enter(_Input.BIND_SENT)
        self._write(pdu, seq)
        self._bind_seq = seq
        self._bind_mode = mode
        self._bind_deadline = now + self._config.bind_timeout
        return seq

    def accept_bind(self, now: float, system_id: str) -> list[Event]:
        """SMSC role: answer the pending bind with success; ``system_id`` is ours."""
        request_seq = self._check_bind_decision()
        mode = self._bind_mode
        assert mode is not None
        self._now = now
        version = self._bind_interface_version
        tlvs: tuple[Tlv, ...] = ()
        if version >= _INTERFACE_VERSION_34:
            # SMPP 3.4 §4.1.2: tell a 3.4 (or later) ESME which version we speak.
            tlvs = (Tlv.u8(Tag.SC_INTERFACE_VERSION, _INTERFACE_VERSION_34),)
        resp = _BIND_RESPONSE_CLASS[mode](
            sequence_number=request_seq, system_id=system_id, tlvs=tlvs
        )
        self._bind_seq = None
        self._init_deadline = None
        self._enter(_BOUND_INPUT[mode])
        self._write(resp, request_seq)
        self._last_activity = now
        self._last_received = now
        return [Bound(mode, self._bind_peer_system_id, version)]

    def reject_bind(
        self, status: int, now: float, close_delay: float = DEFAULT_REJECTED_BIND_CLOSE_DELAY
    ) -> list[Event]:
        """SMSC role: refuse the pending bind; the session closes after ``close_delay``."""
        request_seq = self._check_bind_decision()
        if not status:
            raise LocalProtocolError("a refused bind needs a non-zero status")
        mode = self._bind_mode
        assert mode is not None
        self._now = now
        self._bind_seq = None
        self._enter(_Input.BIND_REFUSED)
        self._write_header(_BIND_RESPONSE_CLASS[mode].command_id, status, request_seq)
        self._reject_close_at = now + max(0.0, close_delay)
        return []

    def _check_bind_decision(self) -> int:
        if self._role is not Role.SMSC or self._state is not State.BINDING:
            raise InvalidState("no bind awaits a decision", self._state)
        seq = self._bind_seq
        assert seq is not None
        return seq

    # -- owner API: leaving --------------------------------------------

    def unbind(self, now: float) -> list[Event]:
        """Leave gracefully: stop taking new work, wait for the responses due
        both ways (up to ``unbind_timeout``), send unbind, then CLOSED on
        unbind_resp (or after ``unbind_timeout`` more). Before a bind the
        session simply closes."""
        self._now = now
        events: list[Event] = []
        if self._state is State.CLOSED or self._state is State.UNBINDING:
            return events
        if self._state not in _BOUND_STATES:
            self._close(CloseReason.LOCAL_UNBIND, events)
            return events
        self._start_unbind(CloseReason.LOCAL_UNBIND, now, events)
        return events

    def close(self, reason: CloseReason = CloseReason.CONNECTION_LOST) -> list[Event]:
        """The transport is gone (or must go now): fail everything, CLOSED."""
        events: list[Event] = []
        if self._state is not State.CLOSED:
            self._close(reason, events)
        return events

    def _start_unbind(self, reason: CloseReason, now: float, events: list[Event]) -> None:
        self._enter(_Input.UNBIND_STARTED)
        self._unbind_reason = reason
        self._unbind_deadline = now + self._config.unbind_timeout
        events.append(Unbound(reason))
        self._progress_unbind(now, events)

    def _progress_unbind(self, now: float, events: list[Event]) -> None:
        """UNBINDING: send the unbind / unbind_resp once nothing is left to wait for."""
        if self._owed:
            return
        if self._peer_unbind_seq is not None:
            self._write_header(_UNBIND_RESP, 0, self._peer_unbind_seq)
            self._peer_unbind_seq = None
            self._close(CloseReason.PEER_UNBIND, events)
        elif self._unbind_seq is None and not self._window_used:
            self._send_unbind(now)

    def _send_unbind(self, now: float) -> None:
        seq = self._next_sequence()
        self._write_header(_UNBIND, 0, seq)
        self._unbind_seq = seq
        self._unbind_deadline = now + self._config.unbind_timeout

    def _close(self, reason: CloseReason, events: list[Event]) -> None:
        was_bound = self._state in _BOUND_STATES
        self._enter(_Input.CLOSE)
        for seq, (request, _) in self._pending.items():
            if seq != self._probe_seq:
                events.append(RequestFailed(request, seq, Failure.CLOSED))
        self._pending.clear()
        self._owed.clear()
        self._window_used = 0
        self._probe_seq = None
        self._bind_seq = None
        self._unbind_seq = None
        self._peer_unbind_seq = None
        if was_bound:
            events.append(Unbound(reason))
        events.append(SessionClosed(reason))

    # -- input ----------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Octets from the peer (any split); returns the events they cause."""
        events: list[Event] = []
        if self._state is State.CLOSED:
            return events
        self._now = now
        self._last_received = now
        framer = self._framer
        try:
            framer.feed(data)
        except CommandLengthError as exc:
            # The PDU at the front declares an impossible length.
            self._on_unframed(exc, events)
            return events
        while True:
            try:
                frame = framer.next_frame()
            except CommandLengthError as exc:
                self._on_unframed(exc, events)
                return events
            if frame is None:
                return events
            try:
                pdu = decode(frame)
            except DecodeError as exc:
                self._on_decode_error(exc, now, events)
            else:
                if pdu.command_id & RESPONSE_BIT:
                    self._on_response(pdu, now, events)
                else:
                    self._on_request(pdu, now, events)
            if self.closed:
                return events

    def _on_request(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        cid = pdu.command_id
        seq = pdu.sequence_number
        if cid == _ENQUIRE_LINK:
            # Answered in every state, OPEN included (§1.3, SMPP 5.0).
            self._write_header(_ENQUIRE_LINK_RESP, 0, seq)
            return
        if cid not in self._receivable:
            self._refuse(pdu, events)
            return
        handling = _HANDLING.get(cid, _OWNER)
        if handling == _OWNER:
            owed = self._owed
            if seq in owed:
                self._answer_error(cid, _S.ESME_RSYSERR, seq)
                events.append(
                    ProtocolViolation(
                        Violation.DUPLICATE_SEQUENCE,
                        cid,
                        seq,
                        _S.ESME_RSYSERR,
                        "sequence number already awaits an answer",
                    )
                )
                return
            if len(owed) >= self._config.receive_window:
                self._answer_error(cid, _S.ESME_RTHROTTLED, seq)
                events.append(
                    ProtocolViolation(Violation.WINDOW_EXCEEDED, cid, seq, _S.ESME_RTHROTTLED)
                )
                return
            owed[seq] = cid
            self._last_activity = now
            events.append(RequestReceived(pdu))
        elif handling == _HANDLE_UNBIND:
            self._on_unbind(seq, now, events)
        elif handling == _HANDLE_BIND:
            self._on_bind(pdu, now, events)
        elif handling == _HANDLE_OUTBIND:
            assert isinstance(pdu, Outbind)
            events.append(OutbindReceived(pdu))
        else:
            assert isinstance(pdu, AlertNotification)
            self._last_activity = now
            events.append(AlertReceived(pdu))

    def _refuse(self, pdu: Pdu, events: list[Event]) -> None:
        """A request this side never receives, or not in this state (§1.3)."""
        cid = pdu.command_id
        seq = pdu.sequence_number
        if cid not in _EVER_RECEIVED[self._role]:
            status = _S.ESME_RINVCMDID
            violation = Violation.WRONG_DIRECTION
        elif cid in _BINDS and (
            self._state in _BOUND_STATES
            or self._state is State.BINDING
            or self._reject_close_at is not None
        ):
            # A bind after a refused one gets no second chance on this connection.
            status = _S.ESME_RBINDFAIL if self._reject_close_at is not None else _S.ESME_RALYBND
            violation = Violation.WRONG_STATE
        else:
            status = _S.ESME_RINVBNDSTS
            violation = Violation.WRONG_STATE
        answered = self._answer_error(cid, status, seq)
        events.append(ProtocolViolation(violation, cid, seq, answered))

    def _answer_error(self, cid: int, status: int, seq: int) -> int | None:
        if response_class_for(cid) is not None:
            self._write_header(cid | RESPONSE_BIT, status, seq)
        else:
            # outbind and alert_notification have no _resp of their own.
            self._write_header(_GENERIC_NACK, status, seq)
        return status

    def _on_bind(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        if self._reject_close_at is not None:
            self._refuse(pdu, events)
            return
        assert isinstance(pdu, BindTransmitter | BindReceiver | BindTransceiver)
        mode = _BIND_MODES[pdu.command_id]
        self._enter(_Input.BIND_RECEIVED)
        self._bind_seq = pdu.sequence_number
        self._bind_mode = mode
        self._bind_interface_version = pdu.interface_version
        self._bind_peer_system_id = pdu.system_id
        self._last_activity = now
        events.append(BindRequested(pdu, mode))

    def _on_unbind(self, seq: int, now: float, events: list[Event]) -> None:
        if self._state is State.UNBINDING and self._unbind_seq is not None:
            # Both ends unbound at once: answer and go.
            self._write_header(_UNBIND_RESP, 0, seq)
            self._close(CloseReason.PEER_UNBIND, events)
            return
        if self._peer_unbind_seq is not None:
            # The first unbind is answered once the owner is done; not this one.
            self._write_header(_UNBIND_RESP, _S.ESME_RINVBNDSTS, seq)
            events.append(
                ProtocolViolation(Violation.WRONG_STATE, _UNBIND, seq, _S.ESME_RINVBNDSTS)
            )
            return
        was_bound = self._state in _BOUND_STATES
        self._enter(_Input.PEER_UNBIND)
        self._peer_unbind_seq = seq
        self._unbind_reason = CloseReason.PEER_UNBIND
        if self._unbind_deadline is None:
            self._unbind_deadline = now + self._config.unbind_timeout
        if was_bound:
            events.append(Unbound(CloseReason.PEER_UNBIND))
        # The unbind_resp waits for the responses we owe, so an application
        # that unbinds right after submitting still gets its message ids.
        self._progress_unbind(now, events)

    def _on_response(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        seq = pdu.sequence_number
        cid = pdu.command_id
        entry = self._pending.get(seq)
        if entry is not None and (
            cid == entry[0].command_id | RESPONSE_BIT or cid == _GENERIC_NACK
        ):
            del self._pending[seq]
            if seq == self._probe_seq:
                self._probe_seq = None
                self._probe_failures = 0
                return
            if cid == _GENERIC_NACK:
                events.append(RequestFailed(entry[0], seq, Failure.NACKED, pdu))
            else:
                self._last_activity = now
                events.append(ResponseReceived(entry[0], pdu))
            self._window_used -= 1
            self._after_release(now, events)
            return
        if seq == self._bind_seq and self._role is Role.ESME:
            self._on_bind_response(pdu, now, events)
            return
        if seq == self._unbind_seq and cid in (_UNBIND_RESP, _GENERIC_NACK):
            self._close(self._unbind_reason, events)
            return
        events.append(
            ProtocolViolation(
                Violation.UNEXPECTED_RESPONSE, cid, seq, None, "no request awaits this response"
            )
        )

    def _on_bind_response(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        mode = self._bind_mode
        assert mode is not None
        expected = _BIND_RESPONSE_CLASS[mode].command_id
        if pdu.command_id not in (expected, _GENERIC_NACK):
            events.append(
                ProtocolViolation(
                    Violation.UNEXPECTED_RESPONSE,
                    pdu.command_id,
                    pdu.sequence_number,
                    None,
                    "does not answer our bind",
                )
            )
            return
        self._bind_seq = None
        self._bind_deadline = None
        if pdu.command_id == _GENERIC_NACK or pdu.command_status:
            failure = Failure.NACKED if pdu.command_id == _GENERIC_NACK else None
            events.append(BindFailed(pdu.command_status, failure))
            self._close(CloseReason.BIND_REJECTED, events)
            return
        assert isinstance(pdu, BindTransmitterResp | BindReceiverResp | BindTransceiverResp)
        version = pdu.sc_interface_version
        self._enter(_BOUND_INPUT[mode])
        self._last_activity = now
        events.append(Bound(mode, pdu.system_id, 0x33 if version is None else version))

    def _after_release(self, now: float, events: list[Event]) -> None:
        if self._window_was_full and self._window_used < self._config.send_window:
            self._window_was_full = False
            if self._state in _BOUND_STATES:
                events.append(WindowOpen(self._config.send_window - self._window_used))
        if self._state is State.UNBINDING and not self._window_used:
            self._progress_unbind(now, events)

    def _on_decode_error(self, exc: DecodeError, now: float, events: list[Event]) -> None:
        seq = exc.sequence_number
        cid = exc.command_id
        if exc.is_response:
            # Never answer a response (§1.10); a request it was meant for
            # cannot be completed with it.
            entry = self._pending.pop(seq, None) if seq is not None else None
            if entry is not None and seq is not None:
                if seq == self._probe_seq:
                    self._probe_seq = None
                else:
                    self._window_used -= 1
                    events.append(RequestFailed(entry[0], seq, Failure.MALFORMED_RESPONSE))
                    self._after_release(now, events)
            elif seq is not None and seq == self._bind_seq and self._role is Role.ESME:
                self._bind_seq = None
                self._bind_deadline = None
                events.append(BindFailed(exc.command_status, Failure.MALFORMED_RESPONSE))
                self._close(CloseReason.BIND_REJECTED, events)
            violation = (
                Violation.UNKNOWN_COMMAND
                if isinstance(exc, UnknownCommandError)
                else Violation.MALFORMED_PDU
            )
            events.append(ProtocolViolation(violation, cid, seq, None, str(exc), exc))
            return
        answer = exc.response()
        assert answer is not None
        self._write(answer, answer.sequence_number)
        violation = (
            Violation.UNKNOWN_COMMAND
            if isinstance(exc, UnknownCommandError)
            else Violation.MALFORMED_PDU
        )
        events.append(ProtocolViolation(violation, cid, seq, exc.command_status, str(exc), exc))

    def _on_unframed(self, exc: CommandLengthError, events: list[Event]) -> None:
        answer = exc.response()
        assert answer is not None
        self._write(answer, answer.sequence_number)
        events.append(
            ProtocolViolation(
                Violation.UNFRAMED,
                exc.command_id,
                exc.sequence_number,
                exc.command_status,
                str(exc),
                exc,
            )
        )
        self._close(CloseReason.FRAMING_ERROR, events)

    # -- timers ---------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest time handle_timer has work, or None."""
        state = self._state
        if state is State.CLOSED:
            return None
        best = self._init_deadline
        for deadline in (self._bind_deadline, self._reject_close_at, self._unbind_deadline):
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        if self._pending:
            deadline = next(iter(self._pending.values()))[1]
            if best is None or deadline < best:
                best = deadline
        if state in _BOUND_STATES:
            config = self._config
            interval = config.enquire_link_interval
            if interval is not None and self._probe_seq is None:
                deadline = self._last_received + interval
                if best is None or deadline < best:
                    best = deadline
            if config.inactivity_timeout is not None:
                deadline = self._last_activity + config.inactivity_timeout
                if best is None or deadline < best:
                    best = deadline
        return best

    def handle_timer(self, now: float) -> list[Event]:
        """Run every timer that is due at ``now``."""
        events: list[Event] = []
        if self._state is State.CLOSED:
            return events
        self._now = now
        config = self._config
        if self._init_deadline is not None and now >= self._init_deadline:
            if self._state is State.OPEN or self._state is State.BINDING:
                self._close(CloseReason.SESSION_INIT_TIMEOUT, events)
                return events
            self._init_deadline = None
        if self._reject_close_at is not None and now >= self._reject_close_at:
            self._close(CloseReason.BIND_REJECTED, events)
            return events
        if self._bind_deadline is not None and now >= self._bind_deadline:
            self._bind_deadline = None
            events.append(BindFailed(None, Failure.TIMED_OUT))
            self._close(CloseReason.BIND_TIMEOUT, events)
            return events
        self._expire_requests(now, events)
        if self.closed:
            return events
        if self._unbind_deadline is not None and now >= self._unbind_deadline:
            self._unbind_deadline = None
            if self._peer_unbind_seq is not None:
                # The owner did not answer in time; the peer still gets its unbind_resp.
                self._owed.clear()
                self._progress_unbind(now, events)
                return events
            if self._unbind_seq is None and self._state is State.UNBINDING:
                self._send_unbind(now)
            else:
                self._close(CloseReason.UNBIND_TIMEOUT, events)
                return events
        if self._state in _BOUND_STATES:
            timeout = config.inactivity_timeout
            if timeout is not None and now >= self._last_activity + timeout:
                self._start_unbind(CloseReason.INACTIVITY, now, events)
                return events
            interval = config.enquire_link_interval
            if (
                interval is not None
                and self._probe_seq is None
                and now >= self._last_received + interval
            ):
                seq = self._next_sequence()
                self._write_header(_ENQUIRE_LINK, 0, seq)
                self._pending[seq] = (
                    EnquireLink(sequence_number=seq),
                    now + config.response_timeout,
                )
                self._probe_seq = seq
        return events

    def _expire_requests(self, now: float, events: list[Event]) -> None:
        pending = self._pending
        while pending:
            seq, (request, deadline) = next(iter(pending.items()))
            if deadline > now:
                return
            del pending[seq]
            if seq == self._probe_seq:
                self._probe_seq = None
                self._probe_failures += 1
                if self._probe_failures >= self._config.max_enquire_link_failures:
                    self._close(CloseReason.LINK_DEAD, events)
                    return
                continue
            self._window_used -= 1
            events.append(RequestFailed(request, seq, Failure.TIMED_OUT))
            self._after_release(now, events)
            if self._state is State.CLOSED:
                return
