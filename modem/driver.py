"""One GSM modem: open its port, initialise it, send SMS, read what arrives.

How this works
--------------
A :class:`ModemDriver` owns one port and one :class:`~modem.at.ATEngine`.
Its life is a small state machine whose transitions are all in one table,
:data:`TRANSITIONS`, and are made in one method (``_fire``)::

    CLOSED --start--> OPENING --opened--> INITIALISING --ready--> READY
    READY  --send-->  SENDING --sent-->   READY
    any live state --port lost / init failed / hung--> BACKOFF --retry--> OPENING
    INITIALISING / READY / SENDING --reset banner--> INITIALISING
    INITIALISING / READY / SENDING --SIM or configuration fault--> OFFLINE
    any state --stop--> STOPPED

Initialisation follows PROTOCOL.md §4.1: ESC and Ctrl-Z to leave a stale
``> `` prompt, ``AT`` until the modem answers, ATZ, ATE0, AT+CMEE=1,
AT+CFUN, AT+CPIN (the PIN from the settings; a wrong PIN is never retried,
three attempts lock the SIM), AT+CREG until registered, AT+CSQ, AT+CMGF=0,
AT+CSCA, AT+CPMS, AT+CNMI=2,1,0,2,0 (store and indicate), the per-modem extra
commands, then a sweep of storage (AT+CMGL=4): storage may hold messages
from before we started, and a full memory blocks every further inbound SMS.
SMS commands answered with +CMS ERROR 314 (SIM busy, for seconds after a
PIN) are tried again after the pause the error table gives.

Sending is one AT+CMGS per part, one at a time; the next part is handed to
the engine the moment the previous one's answer is in. A +CMS ERROR becomes
a :class:`SendResult` per PROTOCOL.md §4.6 (``modem.errors``): retry later,
fail the message, or requeue it and take the modem offline / initialise it
again. A part whose fate is unknown (the port went away, the modem reset,
no answer) is requeued; the caller sends it again, possibly elsewhere.

Inbound messages and status reports (+CMTI / +CDSI, read with AT+CMGR, or
found by a sweep, or handed over directly with +CMT / +CDS) go to the
:class:`DriverListener`; the stored copy is deleted (AT+CMGD) only after the
listener's Deferred fired, so a crash in between reads it again later.

A port that goes away, a modem that stops answering (consecutive command
timeouts) or fails to initialise is closed and reopened after a back-off
that doubles up to :attr:`DriverTimings.reopen_max`.

Time comes from the reactor passed in; nothing here reads a global clock.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from twisted.internet.defer import Deferred, DeferredLock, maybeDeferred
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure

from modem.at import (
    CTRL_Z,
    ESC,
    ATEngine,
    Cancelled,
    CmeError,
    CmsError,
    CommandCompleted,
    DirectMessage,
    DirectStatusReport,
    Error,
    Event,
    ModemReset,
    NewMessage,
    NewStatusReport,
    Ok,
    RegistrationChanged,
    ResetBanner,
    Result,
    Timeout,
    Write,
)
from modem.at_responses import (
    ATParseError,
    parse_cmgl_header,
    parse_cmgr_header,
    parse_cmgs,
    parse_cops,
    parse_cpin,
    parse_cpms,
    parse_csca,
    parse_csq,
    parse_registration,
)
from modem.errors import Action, ErrorPolicy
from modem.pdu import Direction, PduError, SmsDeliver, SmsStatusReport, decode_pdu
from modem.transport import LinkSettings, SerialLink, open_link
from smppd.clock import DelayedCall

__all__ = [
    "TRANSITIONS",
    "DriverListener",
    "DriverTimings",
    "ModemDriver",
    "ModemSettings",
    "ModemSnapshot",
    "ModemState",
    "SendKind",
    "SendResult",
    "Trigger",
    "cms_send_outcome",
    "next_state",
]

log = logging.getLogger(__name__)

#: Storage memories a modem may be told to use (27.005 +CPMS).
STORAGES: Final = frozenset({"SM", "ME", "MT"})
#: AT+CNMI: store and indicate (+CMTI), status reports stored (+CDSI).
CNMI_STORE_AND_INDICATE: Final = "AT+CNMI=2,1,0,2,0"
#: Fallback for modems that refuse ds=2: status reports handed over (+CDS).
CNMI_DIRECT_REPORTS: Final = "AT+CNMI=2,1,0,1,0"
#: Parts waiting in one driver behind the one on the wire.
MAX_QUEUED_SENDS: Final = 16
#: Messages read from storage and not yet acknowledged by the listener.
MAX_UNACKNOWLEDGED: Final = 255


# -- settings ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModemSettings:
    """One modem of a pool, as configured."""

    name: str
    port: str  # device path or pyserial URL
    baudrate: int = 115200
    rtscts: bool = False
    xonxoff: bool = False
    write_delay: float = 0.0  # seconds between written chunks
    prompt_delay: float = 0.0  # seconds between "> " and the PDU
    pin: str | None = field(default=None, repr=False)
    own_number: str = ""
    smsc: str | None = None  # AT+CSCA to set; None keeps the SIM's
    messages_per_minute: int = 0  # 0 = no limit
    daily_limit: int = 0  # per SIM and UTC day; 0 = no limit
    init_extra: tuple[str, ...] = ()
    storage: str = "SM"
    sweep_interval: float = 300.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a modem needs a name")
        if not self.port:
            raise ValueError(f"modem {self.name}: port is empty")
        if self.storage not in STORAGES:
            raise ValueError(f"modem {self.name}: storage is one of {sorted(STORAGES)}")
        if self.baudrate <= 0 or self.write_delay < 0 or self.prompt_delay < 0:
            raise ValueError(f"modem {self.name}: baudrate and delays must be positive")
        if self.messages_per_minute < 0 or self.daily_limit < 0 or self.sweep_interval < 0:
            raise ValueError(f"modem {self.name}: limits cannot be negative")
        if self.pin is not None and not (self.pin.isdigit() and 4 <= len(self.pin) <= 8):
            raise ValueError(f"modem {self.name}: a PIN is 4 to 8 digits")
        for command in self.init_extra:
            if not command.upper().startswith("AT") or not command.isprintable():
                raise ValueError(f"modem {self.name}: {command!r} is not an AT command")
        object.__setattr__(self, "init_extra", tuple(self.init_extra))

    @property
    def link(self) -> LinkSettings:
        return LinkSettings(self.port, self.baudrate, self.rtscts, self.xonxoff, self.write_delay)


@dataclass(frozen=True, slots=True)
class DriverTimings:
    """Timeouts and pauses, seconds. Defaults are for real modems; tests shrink them."""

    command_timeout: float = 10.0
    send_timeout: float = 90.0
    prompt_timeout: float = 10.0
    #: Tries of a bare "AT" before the modem counts as silent.
    wake_attempts: int = 5
    wake_timeout: float = 1.0
    #: Waiting for network registration after init.
    registration_timeout: float = 120.0
    registration_poll: float = 2.0
    #: Re-opening a port that went away, or a modem that failed to initialise.
    reopen_initial: float = 1.0
    reopen_max: float = 60.0
    #: Command timeouts in a row after which the modem counts as hung.
    max_consecutive_timeouts: int = 2
    #: Pause after the AT engine abandons a timed-out command.
    recovery_delay: float = 1.0
    #: How often signal and registration are polled while ready.
    health_interval: float = 60.0
    #: Longest wait for a SIM that answers "busy" (314) during init, and the
    #: pause between tries (the error table's back-off for 314).
    sim_busy_limit: float = 60.0
    sim_busy_poll: float = 5.0


DEFAULT_TIMINGS: Final = DriverTimings()


# -- the state machine -----------------------------------------------------------


class ModemState(enum.Enum):
    CLOSED = "closed"
    OPENING = "opening"
    INITIALISING = "initialising"
    READY = "ready"
    SENDING = "sending"
    BACKOFF = "backoff"  # waiting to reopen the port
    OFFLINE = "offline"  # needs an operator (SIM, PIN, configuration)
    STOPPED = "stopped"


class Trigger(enum.Enum):
    START = "start"
    OPENED = "opened"
    OPEN_FAILED = "open_failed"
    INITIALISED = "initialised"
    INIT_FAILED = "init_failed"
    SEND = "send"
    SENT = "sent"
    PORT_LOST = "port_lost"
    HUNG = "hung"
    RESET = "reset"
    REINITIALISE = "reinitialise"
    FAULT = "fault"  # the modem cannot work until an operator acts
    RETRY = "retry"
    STOP = "stop"


_S = ModemState
_T = Trigger
_LIVE: Final = (_S.INITIALISING, _S.READY, _S.SENDING)

#: Every transition; a (state, trigger) pair not listed leaves the state as it is.
TRANSITIONS: Final[Mapping[tuple[ModemState, Trigger], ModemState]] = {
    (_S.CLOSED, _T.START): _S.OPENING,
    (_S.OPENING, _T.OPENED): _S.INITIALISING,
    (_S.OPENING, _T.OPEN_FAILED): _S.BACKOFF,
    (_S.INITIALISING, _T.INITIALISED): _S.READY,
    (_S.INITIALISING, _T.INIT_FAILED): _S.BACKOFF,
    (_S.READY, _T.SEND): _S.SENDING,
    (_S.SENDING, _T.SENT): _S.READY,
    (_S.BACKOFF, _T.RETRY): _S.OPENING,
    (_S.OFFLINE, _T.RETRY): _S.OPENING,
    (_S.OPENING, _T.PORT_LOST): _S.BACKOFF,
    **{(state, _T.PORT_LOST): _S.BACKOFF for state in _LIVE},
    **{(state, _T.HUNG): _S.BACKOFF for state in _LIVE},
    **{(state, _T.RESET): _S.INITIALISING for state in _LIVE},
    **{(state, _T.REINITIALISE): _S.INITIALISING for state in _LIVE},
    **{(state, _T.FAULT): _S.OFFLINE for state in _LIVE},
    **{(state, _T.STOP): _S.STOPPED for state in ModemState},
}


def next_state(state: ModemState, trigger: Trigger) -> ModemState:
    """The state after ``trigger`` in ``state`` (unchanged when the table has no entry)."""
    return TRANSITIONS.get((state, trigger), state)


# -- results and listener -----------------------------------------------------------


class SendKind(enum.Enum):
    SENT = "sent"  # +CMGS: <mr>
    RETRY = "retry"  # temporary: send again after retry_after
    FAILED = "failed"  # permanent for this message
    REQUEUE = "requeue"  # unknown or not attempted: send again, maybe elsewhere


@dataclass(frozen=True, slots=True)
class SendResult:
    kind: SendKind
    reference: int | None = None  # TP-MR
    retry_after: float | None = None
    cms_code: int | None = None
    detail: str = ""
    written: bool = True  # False: the part never reached the modem


@dataclass(frozen=True, slots=True)
class ModemSnapshot:
    """What ``smppd modem list`` shows of one modem."""

    name: str
    port: str
    state: str
    detail: str
    signal_dbm: int | None
    registration: int | None
    operator: str | None
    smsc: str | None
    storage_used: int | None
    storage_total: int | None
    queued: int
    sent: int
    failed: int
    received: int
    reports: int
    reopens: int


class DriverListener(Protocol):
    def modem_state_changed(self, driver: ModemDriver, state: ModemState, detail: str) -> None: ...

    def modem_inbound(self, driver: ModemDriver, message: SmsDeliver) -> Deferred[None]: ...

    def modem_status_report(
        self, driver: ModemDriver, report: SmsStatusReport
    ) -> Deferred[None]: ...


Opener = Callable[[LinkSettings, TwistedProtocol], "Deferred[SerialLink]"]


class _Fault(Exception):
    """Init cannot go on: ``action`` says whether to go offline or back off."""

    def __init__(self, detail: str, *, offline: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.offline = offline


class _Stale(Exception):
    """The port this coroutine worked on is gone; stop quietly."""


_CLOSED: Final = Failure(ConnectionDone())  # type: ignore[no-untyped-call]


class _PortProtocol(TwistedProtocol):
    """Hands one port's bytes to the driver, tagged with the port's id so that
    a late callback of a port already dropped is ignored."""

    def __init__(self, driver: ModemDriver, link_id: int) -> None:
        self._driver = driver
        self._link_id = link_id

    def dataReceived(self, data: bytes) -> None:
        self._driver._data(self._link_id, data)

    def connectionLost(self, reason: Failure = _CLOSED) -> None:
        self._driver._lost(self._link_id, reason)


@dataclass(slots=True)
class _Send:
    pdu_hex: str
    tpdu_length: int
    result: Deferred[SendResult]


# -- the driver ------------------------------------------------------------------


class ModemDriver:
    """One modem; see the module docstring."""

    def __init__(
        self,
        settings: ModemSettings,
        reactor: Any,
        listener: DriverListener,
        *,
        timings: DriverTimings = DEFAULT_TIMINGS,
        opener: Opener | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.timings = timings
        self._reactor = reactor
        self._listener = listener
        self._opener: Opener = opener or (lambda link, protocol: open_link(reactor, link, protocol))
        self.state = ModemState.CLOSED
        self.detail = ""
        self._generation = 0
        self._link_id = 0
        self._link: SerialLink | None = None
        self._engine = self._new_engine()
        self._waiting: deque[Deferred[Result]] = deque()
        self._timer: DelayedCall | None = None
        self._retry_timer: DelayedCall | None = None
        self._sweep_timer: DelayedCall | None = None
        self._health_timer: DelayedCall | None = None
        self._backoff = timings.reopen_initial
        self._queue: deque[_Send] = deque()
        self._in_flight: _Send | None = None
        self._timeouts = 0
        self._pending_reads: set[tuple[str, int]] = set()
        self._storage_lock = DeferredLock()
        self._sweeping = False
        # What the modem told us, for `smppd modem list`.
        self.signal_dbm: int | None = None
        self.registration: int | None = None
        self.operator: str | None = None
        self.smsc: str | None = None
        self.storage_used: int | None = None
        self.storage_total: int | None = None
        self.sent = 0
        self.failed = 0
        self.received = 0
        self.reports = 0
        self.reopens = 0

    # -- public ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state in (ModemState.READY, ModemState.SENDING)

    @property
    def outstanding(self) -> int:
        """Parts given to :meth:`send` whose result is not in yet."""
        return len(self._queue) + (1 if self._in_flight is not None else 0)

    def start(self) -> None:
        if self.state is ModemState.CLOSED:
            self._fire(Trigger.START, "opening the port")
            self._open()

    def stop(self) -> None:
        """Close the port; every part not sent yet comes back as REQUEUE."""
        if self.state is ModemState.STOPPED:
            return
        self._fire(Trigger.STOP, "stopped")
        self._cancel_timers()
        self._drop_link("stopped")
        self._fail_sends("the modem was stopped")

    def restart(self) -> None:
        """Open the port again now (an operator fixed what put the modem offline)."""
        if self.state in (ModemState.OFFLINE, ModemState.BACKOFF):
            self._cancel_timers()
            self._drop_link("restart")
            self._fire(Trigger.RETRY, "opening the port")
            self._open()

    def send(self, pdu_hex: str, tpdu_length: int) -> Deferred[SendResult]:
        """Queue one AT+CMGS; the Deferred fires with a :class:`SendResult`, never errbacks."""
        result: Deferred[SendResult] = Deferred()
        if not self.ready:
            result.callback(
                SendResult(SendKind.REQUEUE, detail=f"modem {self.state.value}", written=False)
            )
            return result
        if len(self._queue) >= MAX_QUEUED_SENDS:
            result.callback(SendResult(SendKind.REQUEUE, detail="modem queue full", written=False))
            return result
        self._queue.append(_Send(pdu_hex, tpdu_length, result))
        self._pump()
        return result

    def snapshot(self) -> ModemSnapshot:
        return ModemSnapshot(
            name=self.name,
            port=self.settings.port,
            state=self.state.value,
            detail=self.detail,
            signal_dbm=self.signal_dbm,
            registration=self.registration,
            operator=self.operator,
            smsc=self.smsc,
            storage_used=self.storage_used,
            storage_total=self.storage_total,
            queued=self.outstanding,
            sent=self.sent,
            failed=self.failed,
            received=self.received,
            reports=self.reports,
            reopens=self.reopens,
        )

    # -- state ---------------------------------------------------------------------

    def _fire(self, trigger: Trigger, detail: str) -> None:
        before = self.state
        after = next_state(before, trigger)
        self.state = after
        if after is not before or detail != self.detail:
            self.detail = detail
            if after is not before and trigger not in (Trigger.SEND, Trigger.SENT):
                log.info("modem %s: %s -> %s (%s)", self.name, before.value, after.value, detail)
            self._listener.modem_state_changed(self, after, detail)

    def _cancel_timers(self) -> None:
        for timer in (self._retry_timer, self._sweep_timer, self._health_timer, self._timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._retry_timer = self._sweep_timer = self._health_timer = self._timer = None

    # -- port ----------------------------------------------------------------------

    def _new_engine(self) -> ATEngine:
        return ATEngine(
            payload_delay=self.settings.prompt_delay,
            recovery_delay=self.timings.recovery_delay,
        )

    def _open(self) -> None:
        self._generation += 1
        self._link_id += 1
        generation = self._generation
        self._engine = self._new_engine()
        self._timeouts = 0
        self._pending_reads.clear()
        try:
            opened = self._opener(self.settings.link, _PortProtocol(self, self._link_id))
        except Exception as exc:  # an opener that raises instead of failing its Deferred
            self._open_failed(generation, Failure(exc))  # type: ignore[no-untyped-call]
            return
        opened.addCallbacks(
            lambda link: self._opened(generation, link),
            lambda failure: self._open_failed(generation, failure),
        )

    def _opened(self, generation: int, link: SerialLink) -> None:
        if generation != self._generation or self.state is not ModemState.OPENING:
            link.close()
            return
        self._link = link
        self._fire(Trigger.OPENED, "initialising")
        self._run_init(generation)

    def _open_failed(self, generation: int, failure: Failure) -> None:
        if generation != self._generation:
            return
        self._fire(Trigger.OPEN_FAILED, f"cannot open {self.settings.port}: {failure.value}")
        self._schedule_reopen()

    def _schedule_reopen(self) -> None:
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self.timings.reopen_max)
        self._retry_timer = self._reactor.callLater(delay, self._reopen)

    def _reopen(self) -> None:
        self._retry_timer = None
        if self.state is ModemState.BACKOFF:
            self.reopens += 1
            self._fire(Trigger.RETRY, "reopening the port")
            self._open()

    def _drop_link(self, reason: str) -> None:
        """Forget the port: close it, fail every command and every part in flight."""
        self._generation += 1
        self._link_id += 1
        link, self._link = self._link, None
        self._timeouts = 0
        self._dispatch(self._engine.close(reason))
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if link is not None:
            link.close()

    def _lost(self, link_id: int, reason: Failure) -> None:
        if link_id != self._link_id:
            return
        self._link = None
        self._cancel_timers()
        self._drop_link(f"port lost: {reason.getErrorMessage()}")
        self._fail_sends("the port went away")
        self._fire(Trigger.PORT_LOST, f"port lost: {reason.getErrorMessage()}")
        self._schedule_reopen()

    def _go_down(self, trigger: Trigger, detail: str) -> None:
        """Hung or failed init: close the port and reopen it later."""
        self._cancel_timers()
        self._drop_link(detail)
        self._fail_sends(detail)
        self._fire(trigger, detail)
        if self.state is ModemState.BACKOFF:
            self._schedule_reopen()

    def _go_offline(self, detail: str) -> None:
        self._cancel_timers()
        self._drop_link(detail)
        self._fail_sends(detail)
        self._fire(Trigger.FAULT, detail)

    def _fail_sends(self, detail: str) -> None:
        failed = list(self._queue)
        self._queue.clear()
        if self._in_flight is not None:
            # Its +CMGS may or may not have reached the network.
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result.callback(SendResult(SendKind.REQUEUE, detail=detail))
        for item in failed:
            item.result.callback(SendResult(SendKind.REQUEUE, detail=detail, written=False))

    # -- bytes in and out --------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._link is not None and data:
            self._link.write(data)

    def _data(self, link_id: int, data: bytes) -> None:
        if link_id != self._link_id:
            return
        self._dispatch(self._engine.receive(data, self._reactor.seconds()))

    def _arm(self) -> None:
        deadline = self._engine.next_deadline()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if deadline is not None:
            delay = max(0.0, deadline - self._reactor.seconds())
            self._timer = self._reactor.callLater(delay, self._on_timer, self._generation)

    def _on_timer(self, generation: int) -> None:
        self._timer = None
        if generation != self._generation:
            return
        self._dispatch(self._engine.handle_timer(self._reactor.seconds()))

    def _command(
        self,
        command: str,
        *,
        timeout: float | None = None,
        expects: str | None = None,
        two_line: bool = False,
        payload: str | None = None,
    ) -> Deferred[Result]:
        result: Deferred[Result] = Deferred()
        if self._link is None:
            result.callback(Cancelled("no port"))
            return result
        self._waiting.append(result)
        data = self._engine.send(
            command,
            self._reactor.seconds(),
            timeout=timeout if timeout is not None else self.timings.command_timeout,
            expects=expects,
            two_line=two_line,
            prompt_payload=payload,
            prompt_timeout=self.timings.prompt_timeout,
        )
        self._write(data)
        self._arm()
        return result

    def _dispatch(self, events: list[Event]) -> None:
        reset: ResetBanner | None = None
        for event in events:
            if isinstance(event, Write):
                self._write(event.data)
            elif isinstance(event, CommandCompleted):
                if isinstance(event.result, Timeout):
                    self._timeouts += 1
                elif not isinstance(event.result, ModemReset):
                    self._timeouts = 0
                if self._waiting:
                    self._waiting.popleft().callback(event.result)
            elif isinstance(event, NewMessage | NewStatusReport):
                self._on_stored(event.location.memory, event.location.index)
            elif isinstance(event, DirectMessage):
                self._on_direct(event.pdu, report=False)
            elif isinstance(event, DirectStatusReport):
                self._on_direct(event.pdu, report=True)
            elif isinstance(event, RegistrationChanged):
                self.registration = event.registration.stat
            elif isinstance(event, ResetBanner):
                reset = event
        self._arm()
        if reset is not None and self.state in _LIVE:
            self._on_reset(reset.line)
        elif self._timeouts >= self.timings.max_consecutive_timeouts and self.state in (
            ModemState.READY,
            ModemState.SENDING,
        ):
            self._go_down(Trigger.HUNG, f"no answer to {self._timeouts} commands")

    # -- initialisation ----------------------------------------------------------------

    def _run_init(self, generation: int) -> None:
        Deferred.fromCoroutine(self._guarded(generation, self._initialise(generation)))

    async def _guarded(self, generation: int, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except _Stale:
            pass
        except _Fault as fault:
            if generation == self._generation:
                if fault.offline:
                    self._go_offline(fault.detail)
                else:
                    self._go_down(Trigger.INIT_FAILED, fault.detail)
        except Exception:
            log.exception("modem %s: unexpected error", self.name)
            if generation == self._generation and self.state in _LIVE:
                trigger = Trigger.INIT_FAILED
                if self.state is not ModemState.INITIALISING:
                    trigger = Trigger.HUNG
                self._go_down(trigger, "internal error")

    async def _ask(self, generation: int, command: str, **kw: Any) -> Result:
        result = await self._command(command, **kw)
        if generation != self._generation:
            raise _Stale()
        if isinstance(result, ModemReset):
            raise _Stale()  # the reset handler starts init again
        return result

    async def _must(self, generation: int, command: str, **kw: Any) -> Ok:
        """A command that must succeed; SIM busy (314) is waited out."""
        waited = 0.0
        while True:
            result = await self._ask(generation, command, **kw)
            if isinstance(result, Ok):
                return result
            policy = _policy(result)
            if policy is not None and policy.action is Action.RETRY and policy.code in (14, 314):
                if waited >= self.timings.sim_busy_limit:
                    raise _Fault(f"SIM still busy after {waited:.0f} s", offline=True)
                pause = self.timings.sim_busy_poll
                await self._sleep(generation, pause)
                waited += pause
                continue
            offline = policy is not None and policy.action is Action.OFFLINE
            raise _Fault(f"{command}: {_describe(result)}", offline=offline)

    async def _sleep(self, generation: int, seconds: float) -> None:
        done: Deferred[None] = Deferred()
        self._reactor.callLater(seconds, done.callback, None)
        await done
        if generation != self._generation:
            raise _Stale()

    async def _initialise(self, generation: int) -> None:
        t = self.timings
        # Leave a "> " prompt a previous run may have left the modem at.
        self._write(ESC + CTRL_Z)
        for _ in range(t.wake_attempts):
            result = await self._ask(generation, "AT", timeout=t.wake_timeout)
            if isinstance(result, Ok):
                break
        else:
            raise _Fault("the modem does not answer", offline=False)
        await self._must(generation, "ATZ")
        await self._must(generation, "ATE0")
        await self._must(generation, "AT+CMEE=1")
        cfun = await self._ask(generation, "AT+CFUN?", expects="+CFUN:")
        line = cfun.first("+CFUN:") if isinstance(cfun, Ok) else None
        # 1 is full functionality; 0 and 4 (flight mode) send nothing.
        if line is not None and line.text.split(":", 1)[1].strip().split(",")[0] != "1":
            await self._must(generation, "AT+CFUN=1", timeout=t.registration_timeout)
        await self._unlock_sim(generation)
        await self._wait_registered(generation)
        await self._poll_signal(generation)
        await self._must(generation, "AT+CMGF=0")
        if self.settings.smsc:
            await self._must(generation, f'AT+CSCA="{self.settings.smsc}"')
        csca = await self._ask(generation, "AT+CSCA?", expects="+CSCA:")
        if isinstance(csca, Ok) and (line := csca.first("+CSCA:")) is not None:
            try:
                self.smsc = parse_csca(line.text).address or None
            except ATParseError:
                self.smsc = None
        storage = self.settings.storage
        cpms = await self._must(
            generation, f'AT+CPMS="{storage}","{storage}","{storage}"', expects="+CPMS:"
        )
        self._note_storage(cpms)
        cnmi = await self._ask(generation, CNMI_STORE_AND_INDICATE)
        if not isinstance(cnmi, Ok):
            await self._must(generation, CNMI_DIRECT_REPORTS)
        for command in self.settings.init_extra:
            await self._must(generation, command)
        await self._sweep(generation)
        self._backoff = t.reopen_initial
        self._fire(Trigger.INITIALISED, "ready")
        self._schedule_periodic()
        self._pump()

    async def _unlock_sim(self, generation: int) -> None:
        result = await self._must(generation, "AT+CPIN?", expects="+CPIN:")
        line = result.first("+CPIN:")
        state = parse_cpin(line.text) if line is not None else "READY"
        if state == "READY":
            return
        if state == "SIM PIN":
            if self.settings.pin is None:
                raise _Fault("the SIM asks for a PIN and none is configured", offline=True)
            entered = await self._ask(generation, f'AT+CPIN="{self.settings.pin}"')
            if not isinstance(entered, Ok):
                # Never try the PIN again: three wrong attempts lock the SIM.
                raise _Fault(f"the SIM refused the PIN: {_describe(entered)}", offline=True)
            return
        raise _Fault(f"the SIM is locked: {state}", offline=True)

    async def _wait_registered(self, generation: int) -> None:
        t = self.timings
        waited = 0.0
        while True:
            result = await self._ask(generation, "AT+CREG?", expects="+CREG:")
            if isinstance(result, Ok) and (line := result.first("+CREG:")) is not None:
                try:
                    registration = parse_registration(line.text)
                except ATParseError:
                    registration = None
                if registration is not None:
                    self.registration = registration.stat
                    if registration.registered:
                        break
                    if registration.stat == 3:
                        raise _Fault("registration denied by the network", offline=True)
            if waited >= t.registration_timeout:
                raise _Fault("not registered with a network", offline=False)
            await self._sleep(generation, t.registration_poll)
            waited += t.registration_poll
        cops = await self._ask(generation, "AT+COPS?", expects="+COPS:")
        if isinstance(cops, Ok) and (line := cops.first("+COPS:")) is not None:
            try:
                self.operator = parse_cops(line.text).name
            except ATParseError:
                self.operator = None

    async def _poll_signal(self, generation: int) -> None:
        result = await self._ask(generation, "AT+CSQ", expects="+CSQ:")
        if isinstance(result, Ok) and (line := result.first("+CSQ:")) is not None:
            try:
                self.signal_dbm = parse_csq(line.text).dbm
            except ATParseError:
                self.signal_dbm = None

    def _note_storage(self, result: Ok) -> None:
        line = result.first("+CPMS:")
        if line is None:
            return
        try:
            usage = parse_cpms(line.text)
        except ATParseError:
            return
        if usage:
            self.storage_used, self.storage_total = usage[0].used, usage[0].total

    def _on_reset(self, banner: str) -> None:
        self._fail_sends(f"the modem restarted ({banner})")
        self._restart_init(Trigger.RESET, f"the modem restarted ({banner}): initialising")

    def _restart_init(self, trigger: Trigger, detail: str) -> None:
        # A fresh generation makes every coroutine of the old one stop.
        link = self._link
        self._generation += 1
        self._timeouts = 0
        self._dispatch(self._engine.close(detail))
        self._engine = self._new_engine()
        self._pending_reads.clear()
        for timer in (self._sweep_timer, self._health_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._sweep_timer = self._health_timer = None
        self._fire(trigger, detail)
        if link is None:
            return
        self._run_init(self._generation)

    # -- periodic work -------------------------------------------------------------------

    def _schedule_periodic(self) -> None:
        if self.settings.sweep_interval > 0:
            self._sweep_timer = self._reactor.callLater(
                self.settings.sweep_interval, self._periodic_sweep, self._generation
            )
        if self.timings.health_interval > 0:
            self._health_timer = self._reactor.callLater(
                self.timings.health_interval, self._periodic_health, self._generation
            )

    def _periodic_sweep(self, generation: int) -> None:
        self._sweep_timer = None
        if generation != self._generation or not self.ready:
            return
        Deferred.fromCoroutine(self._guarded(generation, self._sweep(generation)))
        self._sweep_timer = self._reactor.callLater(
            self.settings.sweep_interval, self._periodic_sweep, generation
        )

    def _periodic_health(self, generation: int) -> None:
        self._health_timer = None
        if generation != self._generation or not self.ready:
            return
        Deferred.fromCoroutine(self._guarded(generation, self._health(generation)))
        self._health_timer = self._reactor.callLater(
            self.timings.health_interval, self._periodic_health, generation
        )

    async def _health(self, generation: int) -> None:
        await self._poll_signal(generation)
        result = await self._ask(generation, "AT+CREG?", expects="+CREG:")
        if isinstance(result, Ok) and (line := result.first("+CREG:")) is not None:
            with contextlib.suppress(ATParseError):
                self.registration = parse_registration(line.text).stat

    # -- sending -------------------------------------------------------------------------

    def _pump(self) -> None:
        if self._in_flight is not None or not self._queue:
            return
        if self.state is not ModemState.READY:
            return
        item = self._queue.popleft()
        self._in_flight = item
        self._fire(Trigger.SEND, "sending")
        generation = self._generation
        self._command(
            f"AT+CMGS={item.tpdu_length}",
            timeout=self.timings.send_timeout,
            expects="+CMGS:",
            payload=item.pdu_hex,
        ).addCallback(self._sent, item, generation)

    def _sent(self, result: Result, item: _Send, generation: int) -> None:
        if self._in_flight is not item:
            return  # already answered by _fail_sends
        self._in_flight = None
        outcome, follow_up = _send_outcome(result)
        if outcome.kind is SendKind.SENT:
            self.sent += 1
        elif outcome.kind is SendKind.FAILED:
            self.failed += 1
        if self.state is ModemState.SENDING:
            self._fire(Trigger.SENT, "ready")
        item.result.callback(outcome)
        if generation != self._generation or isinstance(result, ModemReset | Cancelled):
            return
        if follow_up is Action.OFFLINE:
            self._go_offline(outcome.detail)
        elif follow_up is Action.REINITIALISE:
            self._fail_sends(outcome.detail)
            self._restart_init(Trigger.REINITIALISE, f"{outcome.detail}: initialising")
        elif follow_up is Action.DELETE_STORED:
            Deferred.fromCoroutine(self._guarded(generation, self._sweep(generation)))
            self._pump()
        else:
            self._pump()

    # -- receiving -----------------------------------------------------------------------

    def _on_stored(self, memory: str, index: int) -> None:
        if not self.ready and self.state is not ModemState.INITIALISING:
            return
        key = (memory, index)
        if key in self._pending_reads or len(self._pending_reads) >= MAX_UNACKNOWLEDGED:
            return
        generation = self._generation
        Deferred.fromCoroutine(
            self._guarded(generation, self._read_stored(generation, memory, index))
        )

    async def _stored_command(
        self, generation: int, memory: str, command: str, **kw: Any
    ) -> Result:
        """A command on one storage memory. Status reports may sit in their own
        memory ("SR"): the read memory is switched for the command and back,
        and no other storage command runs in between."""
        await self._storage_lock.acquire()
        try:
            if generation != self._generation:
                raise _Stale()
            if memory == self.settings.storage:
                return await self._ask(generation, command, **kw)
            switched = await self._ask(generation, f'AT+CPMS="{memory}"', expects="+CPMS:")
            if not isinstance(switched, Ok):
                return switched
            try:
                return await self._ask(generation, command, **kw)
            finally:
                if generation == self._generation:
                    storage = self.settings.storage
                    await self._ask(generation, f'AT+CPMS="{storage}"', expects="+CPMS:")
        finally:
            self._storage_lock.release()

    async def _read_stored(self, generation: int, memory: str, index: int) -> None:
        key = (memory, index)
        self._pending_reads.add(key)
        try:
            result = await self._stored_command(
                generation, memory, f"AT+CMGR={index}", expects="+CMGR:", two_line=True
            )
            if not isinstance(result, Ok):
                return  # 321: an empty slot, or read by a sweep meanwhile
            line = result.first("+CMGR:")
            if line is None or line.pdu is None:
                return
            try:
                stat = parse_cmgr_header(line.text).stat
            except ATParseError:
                log.warning("modem %s: bad +CMGR header %r", self.name, line.text)
                return
            await self._handle_stored(generation, memory, index, stat, line.pdu)
        finally:
            self._pending_reads.discard(key)

    async def _sweep(self, generation: int) -> None:
        if self._sweeping:
            return
        self._sweeping = True
        try:
            memory = self.settings.storage
            result = await self._stored_command(
                generation, memory, "AT+CMGL=4", expects="+CMGL:", two_line=True
            )
            if not isinstance(result, Ok):
                return
            for item in result.info:
                if item.pdu is None:
                    continue
                try:
                    header = parse_cmgl_header(item.text)
                except ATParseError:
                    continue
                key = (memory, header.index)
                if key in self._pending_reads:
                    continue
                self._pending_reads.add(key)
                try:
                    await self._handle_stored(
                        generation, memory, header.index, header.stat, item.pdu
                    )
                finally:
                    self._pending_reads.discard(key)
            usage = await self._ask(generation, "AT+CPMS?", expects="+CPMS:")
            if isinstance(usage, Ok):
                self._note_storage(usage)
        finally:
            self._sweeping = False

    async def _handle_stored(
        self, generation: int, memory: str, index: int, stat: int, pdu: str
    ) -> None:
        if stat in (2, 3):
            return  # an outgoing message someone stored: not ours to delete
        try:
            message = decode_pdu(pdu, stat=stat)
        except PduError as exc:
            # It will never decode; left in place it takes a slot for good.
            log.warning("modem %s: undecodable message %d deleted: %s", self.name, index, exc)
            await self._stored_command(generation, memory, f"AT+CMGD={index}")
            return
        if isinstance(message, SmsDeliver):
            self.received += 1
            acknowledged = maybeDeferred(self._listener.modem_inbound, self, message)
        elif isinstance(message, SmsStatusReport):
            self.reports += 1
            acknowledged = maybeDeferred(self._listener.modem_status_report, self, message)
        else:
            return
        try:
            await acknowledged
        except Exception as exc:
            # Not committed: leave it stored, the next sweep offers it again.
            log.warning("modem %s: message %d kept, the sink failed: %s", self.name, index, exc)
            return
        if generation != self._generation:
            raise _Stale()
        await self._stored_command(generation, memory, f"AT+CMGD={index}")

    def _on_direct(self, pdu: str, *, report: bool) -> None:
        try:
            message = decode_pdu(pdu, direction=Direction.SC_TO_MS)
        except PduError as exc:
            log.warning("modem %s: undecodable direct message: %s", self.name, exc)
            return
        # No +CNMA: AT+CSMS stays 0, so the modem expects no acknowledgement.
        if isinstance(message, SmsStatusReport):
            self.reports += 1
            done = maybeDeferred(self._listener.modem_status_report, self, message)
        elif isinstance(message, SmsDeliver):
            self.received += 1
            done = maybeDeferred(self._listener.modem_inbound, self, message)
        else:
            return
        done.addErrback(
            lambda failure: log.warning(
                "modem %s: direct message lost by the sink: %s", self.name, failure.value
            )
        )


# -- pure helpers ---------------------------------------------------------------------


def _policy(result: Result) -> ErrorPolicy | None:
    if isinstance(result, CmsError | CmeError):
        return result.policy
    return None


def _describe(result: Result) -> str:
    if isinstance(result, CmsError | CmeError):
        policy = result.policy
        meaning = policy.meaning if policy is not None else result.text
        return f"{result.text} ({meaning})"
    if isinstance(result, Timeout):
        return f"no answer ({result.stage.value})"
    if isinstance(result, Error):
        return result.text
    return type(result).__name__


#: Pause before retrying a part the modem refused with a plain ERROR.
PLAIN_ERROR_RETRY: Final = 5.0


def _send_outcome(result: Result) -> tuple[SendResult, Action | None]:
    """What an AT+CMGS result means for the part, and what the modem must do next."""
    if isinstance(result, Ok):
        line = result.first("+CMGS:")
        try:
            reference = parse_cmgs(line.text) if line is not None else None
        except ATParseError:
            reference = None
        return SendResult(SendKind.SENT, reference=reference), None
    if isinstance(result, CmsError | CmeError):
        policy = result.policy
        code = result.code
        detail = _describe(result)
        if policy is None:
            return SendResult(SendKind.RETRY, retry_after=PLAIN_ERROR_RETRY, detail=detail), None
        action = policy.action
        if action is Action.RETRY:
            return SendResult(
                SendKind.RETRY,
                retry_after=max(policy.retry_after, 1.0),
                cms_code=code,
                detail=detail,
            ), None
        if action is Action.FAIL_MESSAGE:
            return SendResult(SendKind.FAILED, cms_code=code, detail=detail), None
        if action is Action.DELETE_STORED:
            return SendResult(
                SendKind.RETRY, retry_after=PLAIN_ERROR_RETRY, cms_code=code, detail=detail
            ), Action.DELETE_STORED
        if action is Action.IGNORE:
            return SendResult(
                SendKind.RETRY, retry_after=PLAIN_ERROR_RETRY, cms_code=code, detail=detail
            ), None
        # OFFLINE / REINITIALISE: the message is fine, this modem is not.
        return SendResult(SendKind.REQUEUE, cms_code=code, detail=detail), action
    if isinstance(result, Error):
        return SendResult(SendKind.RETRY, retry_after=PLAIN_ERROR_RETRY, detail=result.text), None
    if isinstance(result, Timeout):
        written = result.stage.value != "prompt"
        return SendResult(SendKind.REQUEUE, detail=_describe(result), written=written), None
    return SendResult(SendKind.REQUEUE, detail=_describe(result)), None


def cms_send_outcome(code: int) -> SendKind:
    """The :class:`SendKind` a +CMS ERROR ``code`` on AT+CMGS gives (PROTOCOL.md §4.6)."""
    return _send_outcome(CmsError(code, f"+CMS ERROR: {code}"))[0].kind
