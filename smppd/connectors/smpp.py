"""The carrier connector: smppd as an ESME bound to a carrier's SMSC.

How this works
--------------
A :class:`SmppConnector` keeps one bind (a transceiver) or two (a
transmitter and a receiver) to one carrier, each through its own Twisted
``ClientService`` with the injected clock. Each connection goes through
``prepareConnection`` before it is used:

1. a slot of the lease ``carrier:<name>`` is taken in the shared state, with
   ``slots = max_binds`` (carriers cap binds per account, and several gateway
   nodes share the account). Without a slot the connection is dropped and
   retried later. The lease is renewed every third of its ttl while the
   connection lives and released when it goes;
2. the bind is sent. A refused password or system_id raises an alarm in the
   log and is retried only every :data:`AUTH_FAILURE_RETRY_DELAY` seconds;
   other failures back off from ``reconnect_delay_min`` doubling to
   ``reconnect_delay_max`` (plus jitter).

``prepareConnection`` always succeeds once the attempt is decided, even when
the bind failed and the connection is closing: ``ClientService`` has no
transition for a connection lost while ``prepareConnection`` is pending, so
back-off after a failed bind is counted here and fed to ``ClientService``
through its ``retryPolicy``.

Sending. The dispatcher asks :meth:`SmppConnector.capacity`: the room left
in the send window of the transmitting bind, bounded by the throughput tokens
already taken from the shared token bucket (through a
:class:`~smppd.shared.tokens.LocalTokenCache`), and zero while the connector
is paused. :meth:`SmppConnector.submit` turns one
:class:`~smppd.connectors.base.OutboundPart` into one ``submit_sm`` and its
Deferred into exactly one :class:`~smppd.connectors.base.SubmitOutcome`, using
the status table of :mod:`smppd.connectors.retry`:

* ESME_RTHROTTLED / ESME_RMSGQFUL pause the whole connector, 1 s at first and
  doubling while refusals continue (only refusals of submits sent after the
  last pause began count, so a full window of refusals is one step), reset
  after :data:`THROTTLE_RESET_SUCCESSES` acceptances in a row;
* ``congestion_state`` (SMPP 5.0) above :data:`CONGESTION_THRESHOLD` in any
  response or request scales the rate down in proportion (down to
  :data:`MIN_RATE_FACTOR`) and paces submits one by one; the factor climbs
  back by :data:`CONGESTION_RECOVERY_STEP` per second without congestion;
* a response timeout, a lost connection, or a bind that is not up give
  ``REQUEUE``; ESME_RINVBNDSTS gives ``REQUEUE`` and a new connection.

Receiving. deliver_sm and data_sm are receipts when their esm_class names a
message type (receipt, intermediate notification, SME ack) or they carry
``receipted_message_id``; anything else is an inbound part. Either goes to the
:class:`~smppd.connectors.base.ConnectorSink` and is acknowledged only once
the sink's Deferred fires: with status 0, or ESME_RX_T_APPN when it failed so
that the carrier sends it again. A receipt that cannot be read is logged,
counted and acknowledged, so the carrier does not send it for ever.

:meth:`SmppConnector.stop` refuses new submits, unbinds every bind (the
session waits for outstanding responses, bounded by its unbind timer, before
it sends unbind), stops the services and releases the lease.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, cast

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from smppd.clock import DelayedCall, ReactorClock
from smppd.connectors.base import (
    CarrierReceipt,
    ConnectorSink,
    InboundPart,
    OutboundPart,
    OutcomeKind,
    SmppAddress,
    SubmitOutcome,
)
from smppd.connectors.retry import (
    StatusAction,
    classify,
    retry_delay,
    status_name,
)
from smppd.protocol import (
    BindRejected,
    CommandStatusError,
    ConnectionClosed,
    PauseCause,
    RequestTimeout,
    SessionHandler,
    SmppProtocol,
)
from smppd.receipt import IdRule, ReceiptError, parse_receipt
from smppd.session import (
    DEFAULT_RECEIVE_WINDOW,
    BindMode,
    Bound,
    CloseReason,
    Role,
    SessionConfig,
    SessionError,
    State,
)
from smppd.shared.interface import SharedState
from smppd.shared.tokens import LocalTokenCache
from smppd.smpp.constants import CommandStatus, Npi, Ton
from smppd.smpp.errors import EncodeError
from smppd.smpp.helpers import message_type
from smppd.smpp.pdu import DataSm, DeliverSm, Pdu, SubmitSm, SubmitSmResp
from smppd.smpp.timefmt import format_absolute
from smppd.smpp.tlv import Tag, Tlv
from smppd.text.layout import MAX_PARTS
from smppd.text.policy import Dcs0, LongMessageMode, TextPolicy

__all__ = [
    "AUTH_FAILURE_RETRY_DELAY",
    "CONGESTION_RECOVERY_INTERVAL",
    "CONGESTION_RECOVERY_STEP",
    "CONGESTION_THRESHOLD",
    "LEASE_TTL",
    "MIN_RATE_FACTOR",
    "THROTTLE_INITIAL_DELAY",
    "THROTTLE_MAX_DELAY",
    "THROTTLE_RESET_SUCCESSES",
    "TOKEN_RETRY_DELAY",
    "BindLayout",
    "ConnectorStats",
    "EndpointFactory",
    "SmppConnector",
    "SmppConnectorSettings",
    "SourceTonNpiRules",
    "TonNpi",
]

# -- limits and defaults ------------------------------------------------------

#: Seconds a lease slot lives without renewal; renewed every third of it.
LEASE_TTL: Final = 30.0
#: Seconds between bind attempts while the carrier refuses our credentials:
#: an operator has to act, and hammering may get the account locked.
AUTH_FAILURE_RETRY_DELAY: Final = 300.0
#: First pause of the connector after ESME_RTHROTTLED / ESME_RMSGQFUL.
THROTTLE_INITIAL_DELAY: Final = 1.0
#: Longest such pause.
THROTTLE_MAX_DELAY: Final = 60.0
#: Acceptances in a row after which the throttle back-off starts over.
THROTTLE_RESET_SUCCESSES: Final = 10
#: congestion_state (0-100, SMPP 5.0 §4.8.4.17) above which we slow down.
CONGESTION_THRESHOLD: Final = 80
#: The rate never drops below this share of max_messages_per_second.
MIN_RATE_FACTOR: Final = 0.1
#: Share of the rate recovered per CONGESTION_RECOVERY_INTERVAL without congestion.
CONGESTION_RECOVERY_STEP: Final = 0.1
CONGESTION_RECOVERY_INTERVAL: Final = 1.0
#: The token bucket holds this many seconds of the rate (the allowed burst).
BURST_SECONDS: Final = 1.0
#: Most tokens taken ahead of the dispatcher's demand.
MAX_PREFETCHED_TOKENS: Final = 1000
#: Seconds before asking the shared token bucket again after it failed.
TOKEN_RETRY_DELAY: Final = 1.0
#: Submit timeouts in a row after which the connection is counted dead.
MAX_CONSECUTIVE_TIMEOUTS: Final = 3
#: Reconnect back-off doubles per failed attempt.
RECONNECT_BACKOFF_FACTOR: Final = 2.0

DEFAULT_WINDOW: Final = 10
DEFAULT_MAX_MESSAGES_PER_SECOND: Final = 10.0
DEFAULT_ENQUIRE_LINK_INTERVAL: Final = 30.0
DEFAULT_RESPONSE_TIMEOUT: Final = 30.0
DEFAULT_BIND_TIMEOUT: Final = 30.0
DEFAULT_RECONNECT_DELAY_MIN: Final = 5.0
DEFAULT_RECONNECT_DELAY_MAX: Final = 60.0
DEFAULT_MAX_PARTS: Final = 10
#: Short codes run up to this many digits when the TON does not say.
DEFAULT_SHORT_CODE_MAX_DIGITS: Final = 6
INTERFACE_VERSIONS: Final = (0x33, 0x34, 0x50)

_AUTH_FAILURES: Final = frozenset(
    {CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID, CommandStatus.ESME_RINVSYSTYP}
)
# esm_class message types that make a deliver_sm / data_sm a receipt rather
# than an MO: SMSC receipt, SME delivery/manual ack, intermediate notification.
_RECEIPT_TYPES: Final = frozenset({0x04, 0x08, 0x10, 0x20})

_log = Logger(namespace="smppd.connectors.smpp")

#: Builds the client endpoint of a connection from the settings' endpoint string.
EndpointFactory = Callable[[str], IStreamClientEndpoint]


# -- settings -------------------------------------------------------------------


class BindLayout(StrEnum):
    TRANSCEIVER = "transceiver"
    TX_RX = "transmitter+receiver"


_BIND_SPELLINGS: Final = {
    "transceiver": BindLayout.TRANSCEIVER,
    "trx": BindLayout.TRANSCEIVER,
    "transmitter+receiver": BindLayout.TX_RX,
    "tx+rx": BindLayout.TX_RX,
}


@dataclass(frozen=True, slots=True)
class TonNpi:
    ton: int
    npi: int

    def __post_init__(self) -> None:
        if not (0 <= self.ton <= 0xFF and 0 <= self.npi <= 0xFF):
            raise ValueError(f"TON/NPI must be octets, not {self.ton}/{self.npi}")


@dataclass(frozen=True, slots=True)
class SourceTonNpiRules:
    """The TON/NPI a source address is sent with, by its kind.

    A text sender goes as alphanumeric (5/0), a number as international
    E.164 (1/1, without the ``+``), a short code as network specific (3/0).
    The kind is read from the part's TON and the address itself: TON 5 or
    any letter is text; TON 1 or a ``+`` is international; TON 3 or 6 is a
    short code; other digit strings are short codes up to
    ``short_code_max_digits`` digits and international above that. TON 2
    (national) passes through unchanged.
    """

    alphanumeric: TonNpi = TonNpi(Ton.ALPHANUMERIC, Npi.UNKNOWN)
    international: TonNpi = TonNpi(Ton.INTERNATIONAL, Npi.ISDN)
    short_code: TonNpi = TonNpi(Ton.NETWORK_SPECIFIC, Npi.UNKNOWN)
    short_code_max_digits: int = DEFAULT_SHORT_CODE_MAX_DIGITS

    def apply(self, source: SmppAddress) -> SmppAddress:
        addr = source.addr
        digits = addr[1:] if addr.startswith("+") else addr
        if source.ton == Ton.ALPHANUMERIC or not digits.isdigit():
            rule = self.alphanumeric
            return SmppAddress(rule.ton, rule.npi, addr)
        if source.ton == Ton.NATIONAL and not addr.startswith("+"):
            return source
        if source.ton in (Ton.NETWORK_SPECIFIC, Ton.ABBREVIATED):
            rule = self.short_code
        elif source.ton == Ton.INTERNATIONAL or addr.startswith("+"):
            rule = self.international
        elif len(digits) <= self.short_code_max_digits:
            rule = self.short_code
        else:
            rule = self.international
        return SmppAddress(rule.ton, rule.npi, digits)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppConnectorSettings:
    """One carrier connector, as the configuration describes it."""

    name: str
    #: Twisted client endpoint string: ``tcp:host=...:port=2775``, ``tls:...``.
    endpoint: str
    system_id: str
    password: str = ""
    system_type: str = ""
    #: "transceiver", or "tx+rx" (also spelt "transmitter+receiver").
    bind: str = BindLayout.TRANSCEIVER
    window: int = DEFAULT_WINDOW
    max_messages_per_second: float = DEFAULT_MAX_MESSAGES_PER_SECOND
    enquire_link_interval: float = DEFAULT_ENQUIRE_LINK_INTERVAL
    response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
    bind_timeout: float = DEFAULT_BIND_TIMEOUT
    reconnect_delay_min: float = DEFAULT_RECONNECT_DELAY_MIN
    reconnect_delay_max: float = DEFAULT_RECONNECT_DELAY_MAX
    dcs0: Dcs0 = Dcs0.GSM7
    long_messages: LongMessageMode = LongMessageMode.UDH8
    max_parts: int = DEFAULT_MAX_PARTS
    national_languages: tuple[str, ...] = ()
    transliterate: bool = False
    ucs2_fallback: bool = True
    source_ton_npi: SourceTonNpiRules = field(default_factory=SourceTonNpiRules)
    receipt_ids: IdRule = field(default_factory=IdRule)
    max_binds: int | None = None
    interface_version: int = 0x34
    #: Per-carrier meaning of single statuses (vendor codes 0x400-0x4FF, ...).
    status_actions: Mapping[int, StatusAction] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        try:
            layout = _BIND_SPELLINGS[str(self.bind).strip().lower()]
        except KeyError:
            raise ValueError(f'bind must be "transceiver" or "tx+rx", not {self.bind!r}') from None
        object.__setattr__(self, "bind", layout)
        binds = 1 if layout is BindLayout.TRANSCEIVER else 2
        if self.max_binds is None:
            object.__setattr__(self, "max_binds", binds)
        elif self.max_binds < binds:
            raise ValueError(f"max_binds must be at least {binds} for bind = {layout.value!r}")
        if not self.name:
            raise ValueError("a connector needs a name")
        if self.window < 1:
            raise ValueError("window must be at least 1")
        if not (math.isfinite(self.max_messages_per_second) and self.max_messages_per_second > 0):
            raise ValueError("max_messages_per_second must be positive")
        for name in (
            "enquire_link_interval",
            "response_timeout",
            "bind_timeout",
            "reconnect_delay_min",
            "reconnect_delay_max",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.reconnect_delay_max < self.reconnect_delay_min:
            raise ValueError("reconnect_delay_max must be at least reconnect_delay_min")
        if self.interface_version not in INTERFACE_VERSIONS:
            raise ValueError(f"interface_version 0x{self.interface_version:02x} is not supported")
        if not 1 <= self.max_parts <= MAX_PARTS:
            raise ValueError(f"max_parts must be 1..{MAX_PARTS}")
        object.__setattr__(self, "dcs0", Dcs0(self.dcs0))
        object.__setattr__(self, "long_messages", LongMessageMode(self.long_messages))
        object.__setattr__(self, "status_actions", dict(self.status_actions))

    @property
    def layout(self) -> BindLayout:
        return BindLayout(self.bind)

    @property
    def burst(self) -> float:
        return max(1.0, self.max_messages_per_second * BURST_SECONDS)

    def text_policy(self) -> TextPolicy:
        return TextPolicy(
            long_message=self.long_messages,
            max_parts=self.max_parts,
            national_languages=self.national_languages,
            transliterate=self.transliterate,
            dcs0=self.dcs0,
            ucs2_fallback=self.ucs2_fallback,
        )

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            send_window=self.window,
            receive_window=DEFAULT_RECEIVE_WINDOW,
            session_init_timeout=None,
            bind_timeout=self.bind_timeout,
            enquire_link_interval=self.enquire_link_interval,
            response_timeout=self.response_timeout,
            inactivity_timeout=None,
        )


# -- statistics -------------------------------------------------------------------


@dataclass(slots=True)
class _Counters:
    submitted: int = 0
    accepted: int = 0
    retried: int = 0
    failed: int = 0
    requeued: int = 0
    throttled: int = 0
    receipts: int = 0
    unreadable_receipts: int = 0
    mo: int = 0
    sink_failures: int = 0
    reconnects: int = 0
    bind_failures: int = 0


@dataclass(frozen=True, slots=True)
class ConnectorStats:
    """A snapshot of one connector's counters and gauges."""

    submitted: int
    accepted: int
    retried: int
    failed: int
    requeued: int
    throttled: int
    receipts: int
    unreadable_receipts: int
    mo: int
    sink_failures: int
    reconnects: int
    bind_failures: int
    #: submit_sm sent and not yet answered.
    window: int
    #: The send rate allowed now (max_messages_per_second, less congestion).
    rate: float
    binds_up: int
    #: The carrier's last congestion_state (0-100), if it sends one.
    congestion_state: int | None


# -- one bind ----------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Bind:
    label: str
    mode: BindMode
    service: ClientService | None = None
    #: The protocol of the live connection (bound or not), if any.
    protocol: SmppProtocol | None = None
    bound: bool = False
    #: The live connection got as far as a bind.
    was_bound: bool = False
    transport_paused: bool = False
    preparing: Deferred[None] | None = None
    holds_lease: bool = False
    lease_timer: DelayedCall | None = None
    lease_renewed_at: float = 0.0
    #: Failed connection attempts (no lease, bind refused or timed out) in a row.
    failures: int = 0
    auth_failed: bool = False
    timeouts: int = 0

    @property
    def transmits(self) -> bool:
        return self.mode is not BindMode.RECEIVER

    @property
    def receives(self) -> bool:
        return self.mode is not BindMode.TRANSMITTER

    @property
    def window_room(self) -> int:
        protocol = self.protocol
        if not self.bound or self.transport_paused or protocol is None:
            return 0
        session = protocol.session
        if session.state not in (State.BOUND_TX, State.BOUND_TRX):
            return 0
        return max(0, session.window_available)


class _BindHandler(SessionHandler):
    """Relays one bind's session events to its connector."""

    def __init__(self, connector: SmppConnector, bind: _Bind) -> None:
        self.connector = connector
        self.bind = bind

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        return self.connector._request_received(self.bind, request)

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        self.connector._bound(self.bind, protocol, bound)

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.connector._unbound(self.bind, protocol, reason)

    def pause_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        if cause is PauseCause.TRANSPORT and protocol is self.bind.protocol:
            self.bind.transport_paused = True

    def resume_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        if protocol is self.bind.protocol:
            if cause is PauseCause.TRANSPORT:
                self.bind.transport_paused = False
            self.connector._capacity_changed()

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.connector._connection_lost(self.bind, protocol, reason)


class _BindFactory(Factory):
    """Protocol factory of one bind's ClientService: remembers what it built."""

    def __init__(self, connector: SmppConnector, bind: _Bind) -> None:
        self.connector = connector
        self.bind = bind

    def buildProtocol(self, addr: object) -> SmppProtocol:
        connector = self.connector
        protocol = SmppProtocol(
            Role.ESME,
            _BindHandler(connector, self.bind),
            connector.clock,
            config=connector.settings.session_config(),
        )
        self.bind.protocol = protocol
        self.bind.bound = False
        self.bind.was_bound = False
        self.bind.transport_paused = False
        return protocol


# -- the connector --------------------------------------------------------------------


class SmppConnector:
    """One carrier, reached through SMPP client binds; see the module docstring."""

    # The positional order is the one the daemon's wiring uses.
    def __init__(  # noqa: PLR0917
        self,
        settings: SmppConnectorSettings,
        clock: ReactorClock,
        endpoints: EndpointFactory | object,
        sink: ConnectorSink,
        shared: SharedState,
        node: str,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.text_policy = settings.text_policy()
        self.clock = clock
        self.sink = sink
        self.shared = shared
        self.node = node
        self.lease_name = f"carrier:{settings.name}"
        self._endpoint_factory: EndpointFactory
        if callable(endpoints):
            self._endpoint_factory = endpoints
        else:
            reactor = endpoints

            def from_string(description: str) -> IStreamClientEndpoint:
                endpoint: IStreamClientEndpoint = clientFromString(  # type: ignore[no-untyped-call]
                    reactor, description
                )
                return endpoint

            self._endpoint_factory = from_string
        self._backoff = backoffPolicy(
            initialDelay=settings.reconnect_delay_min / RECONNECT_BACKOFF_FACTOR,
            maxDelay=settings.reconnect_delay_max,
            factor=RECONNECT_BACKOFF_FACTOR,
            jitter=jitter,
        )
        self._jitter = jitter
        self._counters = _Counters()
        self._binds: tuple[_Bind, ...]
        if settings.layout is BindLayout.TRANSCEIVER:
            self._binds = (_Bind("trx", BindMode.TRANSCEIVER),)
        else:
            self._binds = (_Bind("tx", BindMode.TRANSMITTER), _Bind("rx", BindMode.RECEIVER))
        self._tokens_cache = LocalTokenCache(
            shared,
            cast(Any, clock),
            f"carrier:{settings.name}",
            settings.max_messages_per_second,
            settings.burst,
        )
        # Tokens taken from the shared bucket and not spent yet.
        self._tokens = 0
        self._token_fetching = False
        self._token_sync = False
        self._token_timer: DelayedCall | None = None
        self._in_flight = 0
        self._waiters: list[Deferred[None]] = []
        self._wake_timer: DelayedCall | None = None
        self._wake_at = math.inf
        # Throttling: pause until, the current step, and when it began.
        self._paused_until = 0.0
        self._throttle_delay = 0.0
        self._throttle_since = -math.inf
        self._successes = 0
        # Congestion: the rate factor at the last report, and its time.
        self._congestion_factor = 1.0
        self._congestion_at = 0.0
        self._congestion_state: int | None = None
        self._next_send_at = 0.0
        self._started = False
        self._stopping = False
        self._stopped: Deferred[None] | None = None
        self._stop_waiters: list[Deferred[None]] = []
        self._was_up = False

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for bind in self._binds:
            endpoint = self._endpoint_factory(self.settings.endpoint)
            service = ClientService(
                endpoint,
                cast(Any, _BindFactory(self, bind)),
                retryPolicy=functools.partial(self._retry_delay, bind),
                clock=cast(Any, self.clock),
                prepareConnection=functools.partial(self._prepare, bind),
            )
            bind.service = service
            service.startService()

    def stop(self) -> Deferred[None]:
        """Refuse new submits, unbind cleanly, stop reconnecting, release the lease."""
        if self._stopped is not None:
            # Each caller gets its own Deferred, fired when the first stop ends.
            again: Deferred[None] = Deferred()
            self._stop_waiters.append(again)
            if self._stopped.called:
                self._stop_done(None)
            return again
        self._stopping = True
        self._cancel(self._token_timer)
        self._token_timer = None
        self._cancel(self._wake_timer)
        self._wake_timer = None
        stopping = [self._stop_bind(bind) for bind in self._binds]
        binds_stopped = defer.gatherResults(stopping, consumeErrors=True)
        binds_stopped.addErrback(self._log_failure, "stopping the binds")
        done: Deferred[None] = binds_stopped.addCallback(lambda _: self._finish_stop())
        self._stopped = done
        done.addCallback(self._stop_done)
        return done

    def _stop_done(self, result: None) -> None:
        waiters, self._stop_waiters = self._stop_waiters, []
        for waiter in waiters:
            waiter.callback(None)
        return result

    def _stop_bind(self, bind: _Bind) -> Deferred[None]:
        protocol = bind.protocol
        service = bind.service
        if protocol is not None and protocol.state is not State.CLOSED:
            closed = protocol.unbind()
        else:
            closed = defer.succeed(CloseReason.LOCAL_UNBIND)

        def stop_service(_: object) -> Deferred[None] | None:
            if service is None or not service.running:
                return None
            stopped: Deferred[None] = service.stopService()
            return stopped

        return closed.addCallback(stop_service)

    def _finish_stop(self) -> Deferred[None]:
        for bind in self._binds:
            self._stop_lease_timer(bind)
        releases = [self._release_lease(bind) for bind in self._binds]
        unused, self._tokens = self._tokens, 0
        if unused:
            gave = self.shared.give_back(
                self._tokens_cache.key,
                self._tokens_cache.rate,
                self._tokens_cache.burst,
                unused,
            )
            releases.append(gave.addErrback(self._log_failure, "giving tokens back"))
        releases.append(self._tokens_cache.close())
        self._report_state()
        result = defer.gatherResults(releases, consumeErrors=True)
        result.addErrback(self._log_failure, "releasing the lease")
        return result.addCallback(lambda _: None)

    @property
    def up(self) -> bool:
        return any(bind.bound and bind.transmits for bind in self._binds)

    @property
    def id_rule(self) -> IdRule:
        """How receipt ids correlate with submit_sm_resp ids at this carrier."""
        return self.settings.receipt_ids

    # -- capacity -----------------------------------------------------------------

    def _window_room(self) -> int:
        return sum(bind.window_room for bind in self._binds if bind.transmits)

    def rate_factor(self) -> float:
        """The share of max_messages_per_second allowed now (congestion)."""
        factor = self._congestion_factor
        if factor >= 1.0:
            return 1.0
        steps = math.floor(
            (self.clock.seconds() - self._congestion_at) / CONGESTION_RECOVERY_INTERVAL
        )
        return min(1.0, factor + steps * CONGESTION_RECOVERY_STEP)

    def current_rate(self) -> float:
        return self.settings.max_messages_per_second * self.rate_factor()

    def capacity(self) -> int:
        if self._stopping:
            return 0
        now = self.clock.seconds()
        if now < self._paused_until:
            return 0
        room = min(self._window_room(), self._tokens)
        if room and self.rate_factor() < 1.0:
            return 1 if now >= self._next_send_at else 0
        return room

    def when_capacity(self) -> Deferred[None]:
        """Fires once capacity() is above zero; never, once the connector is stopped."""
        self._refill()
        if self.capacity() > 0:
            return defer.succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        self._arm_wake()
        return waiter

    def _capacity_changed(self) -> None:
        if self._stopping:
            return
        self._refill()
        if not self._waiters:
            return
        if self.capacity() > 0:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.callback(None)
        else:
            self._arm_wake()

    def _arm_wake(self) -> None:
        """A timer for the moment a pause or the congestion pacing ends."""
        if not self._waiters or self._stopping:
            return
        now = self.clock.seconds()
        at = self._paused_until if now < self._paused_until else 0.0
        if self.rate_factor() < 1.0 and self._next_send_at > now:
            at = max(at, self._next_send_at)
        if at <= now:
            return
        if self._wake_timer is not None and self._wake_timer.active():
            if self._wake_at <= at:
                return
            self._wake_timer.cancel()
        self._wake_at = at
        self._wake_timer = self.clock.callLater(at - now, self._wake)

    def _wake(self) -> None:
        self._wake_timer = None
        self._wake_at = math.inf
        self._capacity_changed()

    # -- throughput tokens ---------------------------------------------------------

    def _token_target(self) -> int:
        if self._stopping or not self.up:
            return 0
        return min(self._window_room(), MAX_PREFETCHED_TOKENS)

    def _refill(self) -> None:
        """Take tokens from the shared bucket up to the room in the window."""
        self._token_sync = True
        try:
            while (
                not self._token_fetching
                and self._token_timer is None
                and self._tokens < self._token_target()
            ):
                self._token_fetching = True
                taking = self._tokens_cache.take()
                taking.addCallbacks(self._token_taken, self._token_failed)
        finally:
            self._token_sync = False

    def _token_taken(self, wait: float) -> None:
        self._token_fetching = False
        if self._stopping:
            if not wait:
                self._tokens += 1
            return
        if wait:
            self._token_timer = self.clock.callLater(wait, self._token_due)
            return
        self._tokens += 1
        if not self._token_sync:
            # Asynchronous: nobody else will look at the waiters.
            self._capacity_changed()

    def _token_due(self) -> None:
        self._token_timer = None
        self._capacity_changed()

    def _token_failed(self, failure: Failure) -> None:
        self._token_fetching = False
        if self._stopping:
            return
        _log.warn(
            "connector {name}: token bucket failed: {error}; trying again in {delay:g} s",
            name=self.name,
            error=failure.getErrorMessage(),
            delay=TOKEN_RETRY_DELAY,
        )
        self._token_timer = self.clock.callLater(TOKEN_RETRY_DELAY, self._token_due)

    # -- submitting ----------------------------------------------------------------

    def submit(self, part: OutboundPart) -> Deferred[SubmitOutcome]:
        """Send one part; fires with exactly one outcome and never fails."""
        if self._stopping:
            return self._done(OutcomeKind.REQUEUE, detail="connector is stopping")
        bind = next((b for b in self._binds if b.transmits and b.window_room > 0), None)
        if bind is None or bind.protocol is None:
            detail = "not bound" if not self.up else "send window full"
            return self._done(OutcomeKind.REQUEUE, detail=detail)
        now = self.clock.seconds()
        if now < self._paused_until:
            return self._done(
                OutcomeKind.REQUEUE,
                retry_after=self._paused_until - now,
                detail="paused: carrier throttling",
            )
        if self.capacity() <= 0:
            return self._done(OutcomeKind.REQUEUE, detail="over the rate limit")
        try:
            pdu = self._submit_sm(part)
        except (EncodeError, ValueError) as exc:
            return self._done(OutcomeKind.FAILED, detail=f"cannot encode submit_sm: {exc}")
        self._tokens -= 1
        factor = self.rate_factor()
        if factor < 1.0:
            self._next_send_at = now + 1.0 / (self.settings.max_messages_per_second * factor)
        protocol = bind.protocol
        self._counters.submitted += 1
        self._in_flight += 1
        sending = protocol.send_request(pdu)
        outcome = sending.addBoth(self._submit_answered, part, bind, protocol, now)
        self._refill()
        return outcome

    def _submit_sm(self, part: OutboundPart) -> SubmitSm:
        source = self.settings.source_ton_npi.apply(part.source)
        destination = part.destination
        dest_addr = destination.addr
        if dest_addr.startswith("+"):
            dest_addr = dest_addr[1:]
        tlvs: list[Tlv] = []
        short_message = part.short_message
        if part.message_payload is not None:
            tlvs.append(Tlv.message_payload(part.message_payload))
            short_message = b""
        if part.sar is not None:
            tlvs.extend(Tlv.sar(*part.sar))
        return SubmitSm(
            sequence_number=0,
            service_type=part.service_type,
            source_addr_ton=source.ton,
            source_addr_npi=source.npi,
            source_addr=source.addr,
            dest_addr_ton=destination.ton,
            dest_addr_npi=destination.npi,
            destination_addr=dest_addr,
            esm_class=part.esm_class,
            protocol_id=part.protocol_id,
            priority_flag=part.priority_flag,
            validity_period=format_absolute(part.validity),
            registered_delivery=part.registered_delivery,
            data_coding=part.data_coding,
            short_message=short_message,
            tlvs=tuple(tlvs),
        )

    def _submit_answered(
        self,
        result: Pdu | Failure,
        part: OutboundPart,
        bind: _Bind,
        protocol: SmppProtocol,
        sent_at: float,
    ) -> SubmitOutcome:
        self._in_flight -= 1
        try:
            outcome = self._outcome_of(result, part, bind, protocol, sent_at)
        except Exception:
            _log.failure("connector {name}: reading a submit_sm_resp failed", name=self.name)
            outcome = SubmitOutcome(OutcomeKind.REQUEUE, detail="internal error")
        self._count(outcome)
        # The response freed a slot in the window.
        self._capacity_changed()
        return outcome

    def _outcome_of(
        self,
        result: Pdu | Failure,
        part: OutboundPart,
        bind: _Bind,
        protocol: SmppProtocol,
        sent_at: float,
    ) -> SubmitOutcome:
        if not isinstance(result, Failure):
            bind.timeouts = 0
            self._congestion(result)
            self._successes += 1
            if self._successes >= THROTTLE_RESET_SUCCESSES:
                self._throttle_delay = 0.0
            carrier_id = result.message_id if isinstance(result, SubmitSmResp) else ""
            detail = "" if carrier_id else "the carrier gave no message_id"
            return SubmitOutcome(
                OutcomeKind.ACCEPTED, carrier_id=carrier_id, status=0, detail=detail
            )
        error = result.value
        if isinstance(error, CommandStatusError):
            bind.timeouts = 0
            if error.response is not None:
                self._congestion(error.response)
            return self._refused(error.status, part, protocol, sent_at)
        if isinstance(error, RequestTimeout):
            bind.timeouts += 1
            if bind.timeouts >= MAX_CONSECUTIVE_TIMEOUTS and protocol.state is not State.CLOSED:
                _log.warn(
                    "connector {name}: {n} submit_sm unanswered in a row; reconnecting",
                    name=self.name,
                    n=bind.timeouts,
                )
                bind.timeouts = 0
                protocol.abort()
            return SubmitOutcome(OutcomeKind.REQUEUE, detail="no submit_sm_resp in time")
        if isinstance(error, ConnectionClosed):
            return SubmitOutcome(OutcomeKind.REQUEUE, detail=str(error))
        if isinstance(error, SessionError):
            return SubmitOutcome(OutcomeKind.REQUEUE, detail=f"not sent: {error}")
        return SubmitOutcome(OutcomeKind.REQUEUE, detail=f"no usable answer: {error}")

    def _refused(
        self, status: int, part: OutboundPart, protocol: SmppProtocol, sent_at: float
    ) -> SubmitOutcome:
        self._successes = 0
        action = classify(status, self.settings.status_actions)
        name = status_name(status)
        if action is StatusAction.THROTTLE:
            delay = self._throttle(sent_at)
            return SubmitOutcome(
                OutcomeKind.RETRY, status=status, retry_after=delay, detail=f"{name}: paused"
            )
        if action is StatusAction.RETRY:
            return SubmitOutcome(
                OutcomeKind.RETRY,
                status=status,
                retry_after=retry_delay(part.attempt),
                detail=name,
            )
        if action is StatusAction.RECONNECT:
            if protocol.state is not State.CLOSED:
                _log.warn(
                    "connector {name}: carrier answered {status}: it lost our bind; reconnecting",
                    name=self.name,
                    status=name,
                )
                protocol.abort()
            return SubmitOutcome(OutcomeKind.REQUEUE, status=status, detail=f"{name}: rebinding")
        if action is StatusAction.REQUEUE:
            return SubmitOutcome(OutcomeKind.REQUEUE, status=status, detail=name)
        return SubmitOutcome(OutcomeKind.FAILED, status=status, detail=name)

    def _throttle(self, sent_at: float) -> float:
        """Pause the connector; one step per pause, however many refusals it brings."""
        now = self.clock.seconds()
        self._counters.throttled += 1
        if sent_at > self._throttle_since or self._throttle_delay == 0.0:
            self._throttle_delay = (
                THROTTLE_INITIAL_DELAY
                if self._throttle_delay == 0.0
                else min(self._throttle_delay * 2, THROTTLE_MAX_DELAY)
            )
            self._throttle_since = now
            self._paused_until = now + self._throttle_delay
            _log.info(
                "connector {name}: carrier throttles; pausing {delay:g} s",
                name=self.name,
                delay=self._throttle_delay,
            )
        return max(self._paused_until - now, 0.0)

    def _congestion(self, pdu: Pdu) -> None:
        state = getattr(pdu, "congestion_state", None)
        if state is None:
            return
        self._congestion_state = state
        if state <= CONGESTION_THRESHOLD:
            return
        target = max(MIN_RATE_FACTOR, (100 - min(state, 100)) / (100 - CONGESTION_THRESHOLD))
        # A lower report lowers the rate at once; any report above the
        # threshold holds it where it is and restarts the recovery.
        self._congestion_factor = min(target, self.rate_factor())
        self._congestion_at = self.clock.seconds()

    def _count(self, outcome: SubmitOutcome) -> None:
        counters = self._counters
        kind = outcome.kind
        if kind is OutcomeKind.ACCEPTED:
            counters.accepted += 1
        elif kind is OutcomeKind.RETRY:
            counters.retried += 1
        elif kind is OutcomeKind.FAILED:
            counters.failed += 1
        else:
            counters.requeued += 1

    def _done(
        self,
        kind: OutcomeKind,
        *,
        retry_after: float | None = None,
        detail: str = "",
    ) -> Deferred[SubmitOutcome]:
        outcome = SubmitOutcome(kind, retry_after=retry_after, detail=detail)
        self._count(outcome)
        return defer.succeed(outcome)

    # -- receiving --------------------------------------------------------------------

    def _request_received(self, bind: _Bind, request: Pdu) -> Pdu | Deferred[Pdu]:
        if not isinstance(request, DeliverSm | DataSm):
            return request.response(command_status=CommandStatus.ESME_RINVCMDID)
        self._congestion(request)
        now = self.clock.seconds()
        if message_type(request.esm_class) in _RECEIPT_TYPES or (
            request.receipted_message_id is not None
        ):
            return self._receipt(request, now)
        return self._inbound(request, now)

    def _receipt(self, request: DeliverSm | DataSm, now: float) -> Pdu | Deferred[Pdu]:
        short_message = request.short_message if isinstance(request, DeliverSm) else b""
        state = request.tlv(Tag.MESSAGE_STATE)
        try:
            receipt = parse_receipt(
                short_message,
                message_payload=request.message_payload,
                receipted_message_id=request.receipted_message_id,
                message_state=state[0] if state else None,
                network_error_code=request.tlv(Tag.NETWORK_ERROR_CODE),
            )
        except (ReceiptError, ValueError) as exc:
            self._counters.unreadable_receipts += 1
            _log.warn(
                "connector {name}: unreadable receipt from {source} acknowledged: {error}",
                name=self.name,
                source=request.source_addr,
                error=str(exc),
            )
            return request.response()
        self._counters.receipts += 1
        item = CarrierReceipt(
            connector=self.name,
            receipt=receipt,
            source=request.source_addr,
            destination=request.destination_addr,
            received_at=now,
        )
        return self._acknowledge(request, lambda: self.sink.receipt(item))

    def _inbound(self, request: DeliverSm | DataSm, now: float) -> Pdu | Deferred[Pdu]:
        ref, total, seq = (
            request.sar_msg_ref_num,
            request.sar_total_segments,
            request.sar_segment_seqnum,
        )
        sar = None
        if ref is not None and total is not None and seq is not None:
            sar = (ref, total, seq)
        part = InboundPart(
            connector=self.name,
            channel="smpp",
            source=SmppAddress(
                request.source_addr_ton, request.source_addr_npi, request.source_addr
            ),
            destination=SmppAddress(
                request.dest_addr_ton, request.dest_addr_npi, request.destination_addr
            ),
            esm_class=request.esm_class,
            data_coding=request.data_coding,
            short_message=request.short_message if isinstance(request, DeliverSm) else b"",
            message_payload=request.message_payload,
            sar=sar,
            received_at=now,
        )
        self._counters.mo += 1
        return self._acknowledge(request, lambda: self.sink.inbound(part))

    def _acknowledge(
        self, request: DeliverSm | DataSm, deliver: Callable[[], Deferred[None]]
    ) -> Deferred[Pdu]:
        """The response, once the sink has committed what it was given."""
        committed = defer.maybeDeferred(deliver)

        def ok(_: object) -> Pdu:
            return request.response()

        def failed(failure: Failure) -> Pdu:
            self._counters.sink_failures += 1
            _log.warn(
                "connector {name}: could not store {what} from {source}: {error};"
                " asking the carrier to send it again",
                name=self.name,
                what=type(request).__name__,
                source=request.source_addr,
                error=failure.getErrorMessage(),
            )
            return request.response(command_status=CommandStatus.ESME_RX_T_APPN)

        return committed.addCallbacks(ok, failed)

    # -- connections and binds ------------------------------------------------------

    def _retry_delay(self, bind: _Bind, attempt: int) -> float:
        if bind.auth_failed:
            return max(AUTH_FAILURE_RETRY_DELAY, self.settings.reconnect_delay_max) + self._jitter()
        return self._backoff(attempt + bind.failures)

    def _prepare(self, bind: _Bind, proxy: object) -> Deferred[None]:
        """Lease, then bind; fires (never fails) once the attempt is decided."""
        protocol = bind.protocol
        done: Deferred[None] = Deferred()
        if protocol is None or protocol.state is State.CLOSED:
            done.callback(None)
            return done
        bind.preparing = done
        leasing = defer.maybeDeferred(
            self.shared.acquire_lease,
            self.lease_name,
            self._holder(bind),
            LEASE_TTL,
            self.settings.max_binds or 1,
        )
        leasing.addCallback(self._leased, bind, protocol)
        leasing.addErrback(self._prepare_failed, bind, protocol)
        leasing.addBoth(lambda _: self._prepared(bind, done))
        return done

    def _prepared(self, bind: _Bind, done: Deferred[None]) -> None:
        if bind.preparing is done:
            bind.preparing = None
        if not done.called:
            done.callback(None)

    def _leased(self, granted: bool, bind: _Bind, protocol: SmppProtocol) -> Deferred[None] | None:
        if granted:
            bind.holds_lease = True
            bind.lease_renewed_at = self.clock.seconds()
        live = protocol is bind.protocol and protocol.state is State.OPEN
        if not live or self._stopping:
            # The connection went while we waited, or we are leaving: the
            # slot is not needed.
            released = self._release_lease(bind)
            if protocol.state is not State.CLOSED:
                protocol.abort()
            return released
        if not granted:
            bind.failures += 1
            _log.info(
                "connector {name}: all {slots} binds of the account are held by other nodes;"
                " {label} waits",
                name=self.name,
                slots=self.settings.max_binds,
                label=bind.label,
            )
            protocol.abort()
            return None
        self._arm_lease_timer(bind)
        settings = self.settings
        binding = protocol.bind(
            bind.mode,
            settings.system_id,
            settings.password,
            system_type=settings.system_type,
            interface_version=settings.interface_version,
        )
        return binding.addCallbacks(lambda _: None, self._bind_failed, errbackArgs=(bind,))

    def _bind_failed(self, failure: Failure, bind: _Bind) -> None:
        if self._stopping:
            return
        self._counters.bind_failures += 1
        bind.failures += 1
        error = failure.value
        if isinstance(error, BindRejected) and error.status in _AUTH_FAILURES:
            bind.auth_failed = True
            _log.critical(
                "ALARM connector {name}: the carrier refuses our credentials"
                " ({status}) for system_id {system_id!r}; retrying every {delay:g} s",
                name=self.name,
                status=status_name(error.status),
                system_id=self.settings.system_id,
                delay=max(AUTH_FAILURE_RETRY_DELAY, self.settings.reconnect_delay_max),
            )
            return
        bind.auth_failed = False
        _log.warn(
            "connector {name}: {label} bind failed: {error}",
            name=self.name,
            label=bind.label,
            error=failure.getErrorMessage(),
        )

    def _prepare_failed(self, failure: Failure, bind: _Bind, protocol: SmppProtocol) -> None:
        bind.failures += 1
        _log.warn(
            "connector {name}: cannot prepare the {label} connection: {error}",
            name=self.name,
            label=bind.label,
            error=failure.getErrorMessage(),
        )
        if protocol.state is not State.CLOSED:
            protocol.abort()

    def _bound(self, bind: _Bind, protocol: SmppProtocol, bound: Bound) -> None:
        if protocol is not bind.protocol:
            return
        bind.bound = True
        bind.was_bound = True
        bind.failures = 0
        bind.timeouts = 0
        if bind.auth_failed:
            _log.info("connector {name}: the carrier accepts our credentials again", name=self.name)
        bind.auth_failed = False
        _log.info(
            "connector {name}: bound as {mode} to {peer} (interface 0x{version:02x})",
            name=self.name,
            mode=bound.mode.value,
            peer=bound.peer_system_id,
            version=bound.interface_version,
        )
        self._report_state()
        self._capacity_changed()

    def _unbound(self, bind: _Bind, protocol: SmppProtocol, reason: CloseReason) -> None:
        if protocol is bind.protocol:
            bind.bound = False
            self._report_state()

    def _connection_lost(self, bind: _Bind, protocol: SmppProtocol, reason: CloseReason) -> None:
        if protocol is not bind.protocol:
            return
        was_bound = bind.was_bound
        bind.bound = False
        bind.protocol = None
        bind.transport_paused = False
        preparing, bind.preparing = bind.preparing, None
        if preparing is not None and not preparing.called:
            # ClientService must see the attempt end before the connection loss.
            preparing.callback(None)
        self._stop_lease_timer(bind)
        if not self._stopping:
            self._release_lease(bind)
            if was_bound:
                self._counters.reconnects += 1
                _log.info(
                    "connector {name}: {label} connection lost ({reason}); reconnecting",
                    name=self.name,
                    label=bind.label,
                    reason=reason.value,
                )
        self._report_state()

    def _report_state(self) -> None:
        up = self.up and not self._stopping
        if up == self._was_up:
            return
        self._was_up = up
        detail = "bound" if up else ("stopped" if self._stopping else "not bound")
        try:
            self.sink.state_changed(self.name, up, detail)
        except Exception:
            _log.failure("connector {name}: state_changed failed", name=self.name)

    # -- the lease ------------------------------------------------------------------

    def _holder(self, bind: _Bind) -> str:
        return f"{self.node}/{bind.label}"

    def _arm_lease_timer(self, bind: _Bind) -> None:
        self._stop_lease_timer(bind)
        bind.lease_timer = self.clock.callLater(LEASE_TTL / 3, self._renew_lease, bind)

    def _stop_lease_timer(self, bind: _Bind) -> None:
        self._cancel(bind.lease_timer)
        bind.lease_timer = None

    def _renew_lease(self, bind: _Bind) -> None:
        bind.lease_timer = None
        protocol = bind.protocol
        if protocol is None or self._stopping:
            return
        renewing = defer.maybeDeferred(
            self.shared.acquire_lease,
            self.lease_name,
            self._holder(bind),
            LEASE_TTL,
            self.settings.max_binds or 1,
        )

        def renewed(granted: bool) -> None:
            if protocol is not bind.protocol or self._stopping:
                return
            if granted:
                bind.lease_renewed_at = self.clock.seconds()
                self._arm_lease_timer(bind)
                return
            self._lease_lost(bind, protocol, "another node holds the slot")

        def failed(failure: Failure) -> None:
            if protocol is not bind.protocol or self._stopping:
                return
            if self.clock.seconds() >= bind.lease_renewed_at + LEASE_TTL:
                self._lease_lost(bind, protocol, failure.getErrorMessage())
            else:
                self._arm_lease_timer(bind)

        renewing.addCallbacks(renewed, failed)

    def _lease_lost(self, bind: _Bind, protocol: SmppProtocol, why: str) -> None:
        _log.warn(
            "connector {name}: lost the {label} bind's lease ({why}); unbinding",
            name=self.name,
            label=bind.label,
            why=why,
        )
        bind.holds_lease = False
        protocol.unbind()

    def _release_lease(self, bind: _Bind) -> Deferred[None]:
        if not bind.holds_lease:
            return defer.succeed(None)
        bind.holds_lease = False
        releasing = defer.maybeDeferred(
            self.shared.release_lease, self.lease_name, self._holder(bind)
        )
        return releasing.addErrback(self._log_failure, "releasing the lease")

    # -- statistics and helpers --------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def stats(self) -> ConnectorStats:
        c = self._counters
        return ConnectorStats(
            submitted=c.submitted,
            accepted=c.accepted,
            retried=c.retried,
            failed=c.failed,
            requeued=c.requeued,
            throttled=c.throttled,
            receipts=c.receipts,
            unreadable_receipts=c.unreadable_receipts,
            mo=c.mo,
            sink_failures=c.sink_failures,
            reconnects=c.reconnects,
            bind_failures=c.bind_failures,
            window=self._in_flight,
            rate=self.current_rate(),
            binds_up=sum(1 for bind in self._binds if bind.bound),
            congestion_state=self._congestion_state,
        )

    @staticmethod
    def _cancel(call: DelayedCall | None) -> None:
        if call is not None and call.active():
            call.cancel()

    def _log_failure(self, failure: Failure, doing: str) -> None:
        _log.failure(
            "connector {name}: {doing} failed", failure=failure, name=self.name, doing=doing
        )
