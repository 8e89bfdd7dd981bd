"""The in-process ``sim`` connector: a simulated carrier without sockets.

How this works
--------------
:class:`SimConnector` implements :class:`~smppd.connectors.base.Connector`
over a :class:`~smppd.simulator.core.SimCarrier`. ``submit`` is answered at
once: the carrier's verdict becomes an outcome (ACCEPTED with the carrier id;
RETRY for a refusal worth retrying, with ``retry_after`` when throttled;
FAILED for a final refusal; REQUEUE when the drop fault cuts the simulated
bind, which then comes back after :data:`RECONNECT_DELAY`). Receipts fall due
on one timer and go to the :class:`~smppd.connectors.base.ConnectorSink` as
a carrier's would: the Appendix B text is formatted and parsed back, so the
gateway sees exactly what it would parse from a real deliver_sm. A receipt
the sink fails to commit is offered again after :data:`REDELIVERY_DELAY`, at
most :data:`MAX_DELIVERY_ATTEMPTS` times. :meth:`SimConnector.inject_mo`
hands a handset's message to the sink as its SMS parts, each exactly as a
carrier's deliver_sm would arrive (so the gateway de-duplicates,
reassembles, runs its plugins and routes it as any MO).
:meth:`SimConnector.inject_mo_with_reference` delivers one under a carrier
reference the caller chooses; the same message again under the same
reference is delivered as the very same PDUs (the last
:data:`MAX_REMEMBERED_REFERENCES` are kept), as a carrier re-sends a
deliver_sm whose deliver_sm_resp came late.

With a ``control`` endpoint the connector serves the simulator's JSON
control API (:mod:`.control`: statistics, MO injection, faults and the
handset view of what each phone received) while it runs. It listens when
the connector starts: a failure to listen is a :class:`ControlListenError`
raised from :meth:`SimConnector.start`, naming the connector and the
endpoint; stopping the connector stops listening.

It is a demo carrier: nothing leaves the machine.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
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
from smppd.connectors.retry import StatusAction, classify, status_name
from smppd.receipt import parse_receipt
from smppd.simulator.control import control_site, is_loopback_endpoint
from smppd.simulator.core import (
    DROP,
    MAX_DELIVERY_ATTEMPTS,
    REDELIVERY_DELAY,
    MoPart,
    PendingReceipt,
    SimCarrier,
    SimSettings,
    SimUnavailable,
)
from smppd.smpp.constants import CommandStatus
from smppd.text.policy import DEFAULT_POLICY, TextPolicy

if TYPE_CHECKING:
    from smppd.config import SimConnector as SimConnectorConfig

__all__ = [
    "DEFAULT_SIM_WINDOW",
    "RECONNECT_DELAY",
    "ControlListenError",
    "SimConnector",
    "connector_from_config",
]

#: Parts taken at once when no rate limit applies (submits finish at once).
DEFAULT_SIM_WINDOW: Final = 100
#: Seconds the simulated bind stays down after the drop fault.
RECONNECT_DELAY: Final = 1.0
#: Seconds to wait before a throttled sender asks again, at the least.
MIN_RETRY_AFTER: Final = 0.001
#: Caller-chosen MO references whose parts are kept for a re-delivery.
MAX_REMEMBERED_REFERENCES: Final = 1024

_log = Logger(namespace="smppd.simulator.connector")


class ControlListenError(CannotListenError):
    """A sim connector's control endpoint cannot listen; the connector does not start."""

    def __init__(self, connector: str, endpoint: str, reason: object) -> None:
        _untyped(CannotListenError.__init__)(self, None, endpoint, reason)
        self.connector = connector
        self.endpoint = endpoint
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"connector {self.connector}: cannot listen for its simulator control endpoint"
            f" {self.endpoint!r}: {self.reason} (is `smppd sim` or another gateway using it?"
            f" change or remove control in connector {self.connector})"
        )


class SimConnector:
    """A simulated carrier inside the gateway; see the module docstring."""

    def __init__(
        self,
        name: str,
        carrier: SimCarrier,
        clock: ReactorClock,
        sink: ConnectorSink,
        *,
        text_policy: TextPolicy = DEFAULT_POLICY,
        window: int = DEFAULT_SIM_WINDOW,
        control: str | None = None,
        reactor: Any = None,
    ) -> None:
        """``control`` is a server endpoint string for the control API, listened
        on with ``reactor`` (default: ``clock``, which is the reactor in the
        daemon)."""
        if window < 1:
            raise ValueError("window must be at least 1")
        self.name = name
        self.text_policy = text_policy
        self.carrier = carrier
        self._clock = clock
        self._sink = sink
        self._window = window
        self._up = False
        self._started = False
        self._connection_submits = 0
        self._receipt_timer: DelayedCall | None = None
        self._receipt_due = 0.0
        self._reconnect_timer: DelayedCall | None = None
        self._capacity_timer: DelayedCall | None = None
        self._capacity_waiters: list[Deferred[None]] = []
        # Carrier references of injected MO: unique across restarts too, so
        # that the gateway's de-duplication never takes a new one for an old.
        self._mo_prefix = f"sim-mo-{int(clock.seconds() * 1000):x}"
        self._mo_sequence = 0
        # reference -> (source, destination, text, out_of_order) and the parts sent.
        self._referenced: OrderedDict[
            str, tuple[tuple[str, str, str, bool], tuple[MoPart, ...]]
        ] = OrderedDict()
        self.control = control
        self._reactor = reactor if reactor is not None else clock
        self._control_port: Any = None

    @property
    def clock(self) -> ReactorClock:
        return self._clock

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Come up; raises :class:`ControlListenError` if ``control`` cannot listen."""
        if self._started:
            return
        if self.control is not None:
            self._control_port = self._listen_control(self.control)
        self._started = True
        self._come_up()
        if self._control_port is not None:
            self._log_control(self._control_port)

    def _listen_control(self, endpoint: str) -> Any:
        """The listening port, or None while an endpoint that listens later is at it."""
        if not is_loopback_endpoint(endpoint):
            _log.warn(
                "connector {connector}: the simulator control endpoint {endpoint} is not on"
                " loopback; anyone who reaches it can inject messages and read what phones"
                " received",
                connector=self.name,
                endpoint=endpoint,
            )
        try:
            # twisted.internet.endpoints is not annotated.
            server: Any = _untyped(serverFromString)(self._reactor, endpoint)
            listening: Deferred[Any] = server.listen(control_site(self))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ControlListenError(self.name, endpoint, exc) from None
        outcome: list[Any] = []

        def seen(result: Any) -> Any:
            outcome.append(result)
            return result

        listening.addBoth(seen)
        if outcome:
            listening.addErrback(lambda _: None)  # raised below instead
            result = outcome[0]
            if isinstance(result, Failure):
                raise ControlListenError(self.name, endpoint, result.value) from None
            return result
        # TCP, UNIX, SSL and systemd endpoints listen at once; one that does
        # not cannot fail the start, so its failure is logged when it comes.
        listening.addCallbacks(
            self._control_listened, self._control_failed, errbackArgs=(endpoint,)
        )
        return None

    def _control_listened(self, port: Any) -> None:
        if not self._started:
            port.stopListening()  # the connector was stopped meanwhile
            return
        self._control_port = port
        self._log_control(port)

    def _control_failed(self, failure: Failure, endpoint: str) -> None:
        _log.critical("{error}", error=str(ControlListenError(self.name, endpoint, failure.value)))

    def _log_control(self, port: Any) -> None:
        _log.info(
            "connector {connector}: simulator control listening on {where}"
            " (smppd sim inject / inbox)",
            connector=self.name,
            where=_where(port.getHost()),
        )

    @property
    def control_address(self) -> Any:
        """Where the control endpoint listens (its ``getHost()``), or None."""
        port = self._control_port
        return None if port is None else port.getHost()

    def stop(self) -> Deferred[None]:
        self._started = False
        if self._up:
            self.carrier.stats.binds_active -= 1
        self._up = False
        for timer in (self._receipt_timer, self._reconnect_timer, self._capacity_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._receipt_timer = self._reconnect_timer = self._capacity_timer = None
        self._sink.state_changed(self.name, False, "stopped")
        # Whoever waits for capacity learns it will not come from here.
        waiters, self._capacity_waiters = self._capacity_waiters, []
        for waiter in waiters:
            waiter.callback(None)
        return self._stop_control()

    def _stop_control(self) -> Deferred[None]:
        # A listen still under way stops its port when it finishes (not started).
        port, self._control_port = self._control_port, None
        if port is None:
            return defer.succeed(None)
        stopped: Deferred[None] = defer.maybeDeferred(port.stopListening)
        return stopped.addCallback(lambda _: None)

    @property
    def up(self) -> bool:
        return self._up

    def _come_up(self) -> None:
        self._reconnect_timer = None
        if not self._started:
            return
        self._up = True
        self._connection_submits = 0
        self.carrier.stats.binds_total += 1
        self.carrier.stats.binds_active += 1
        self._sink.state_changed(self.name, True, "carrier simulator (demo)")
        self._wake_waiters()
        self._arm_receipts()

    def _drop(self) -> None:
        self._up = False
        stats = self.carrier.stats
        stats.connections_dropped += 1
        stats.binds_active -= 1
        self._sink.state_changed(self.name, False, "connection dropped (fault injection)")
        self._reconnect_timer = self._clock.callLater(RECONNECT_DELAY, self._come_up)

    # -- capacity ---------------------------------------------------------------------

    def capacity(self) -> int:
        if not self._up:
            return 0
        return self.carrier.capacity(self._clock.seconds(), self._window)

    def when_capacity(self) -> Deferred[None]:
        if self.capacity() > 0 or not self._started:
            return defer.succeed(None)
        waiter: Deferred[None] = Deferred()
        self._capacity_waiters.append(waiter)
        self._arm_capacity()
        return waiter

    def _arm_capacity(self) -> None:
        if not self._up or (self._capacity_timer is not None and self._capacity_timer.active()):
            return  # coming up again wakes the waiters
        wait = self.carrier.retry_after(self._clock.seconds()) or 0.0
        self._capacity_timer = self._clock.callLater(max(wait, MIN_RETRY_AFTER), self._wake_waiters)

    def _wake_waiters(self) -> None:
        self._capacity_timer = None
        if not self._capacity_waiters:
            return
        if self.capacity() <= 0:
            self._arm_capacity()
            return
        waiters, self._capacity_waiters = self._capacity_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    # -- submits ------------------------------------------------------------------------

    def submit(self, part: OutboundPart) -> Deferred[SubmitOutcome]:
        if not self._up:
            return defer.succeed(SubmitOutcome(OutcomeKind.REQUEUE, detail="not bound"))
        carrier = self.carrier
        now = self._clock.seconds()
        self._connection_submits += 1
        status = carrier.admit(now, self._connection_submits)
        if status == DROP:
            self._drop()
            return defer.succeed(
                SubmitOutcome(OutcomeKind.REQUEUE, detail="connection dropped before the answer")
            )
        if status:
            return defer.succeed(self._refused(status, now))
        source = part.source
        destination = part.destination
        data = part.short_message or part.message_payload or b""
        carrier_id, _ = carrier.accept(
            system_id=self.name,
            source=(source.ton, source.npi, source.addr),
            destination=(destination.ton, destination.npi, destination.addr),
            data=data,
            data_coding=part.data_coding,
            esm_class=part.esm_class,
            registered_delivery=part.registered_delivery,
            sar=part.sar,
            now=now,
        )
        self._arm_receipts()
        return defer.succeed(SubmitOutcome(OutcomeKind.ACCEPTED, carrier_id=carrier_id, status=0))

    def _refused(self, status: int, now: float) -> SubmitOutcome:
        # The gateway's own reading of carrier statuses decides, as it
        # would for a real carrier's answer.
        name = status_name(status)
        action = classify(status)
        if action is StatusAction.FAILED:
            return SubmitOutcome(OutcomeKind.FAILED, status=status, detail=name)
        if action in (StatusAction.RECONNECT, StatusAction.REQUEUE):
            return SubmitOutcome(OutcomeKind.REQUEUE, status=status, detail=name)
        retry_after = None
        if status == CommandStatus.ESME_RTHROTTLED:
            wait = self.carrier.retry_after(now)
            retry_after = None if wait is None else max(wait, MIN_RETRY_AFTER)
        return SubmitOutcome(OutcomeKind.RETRY, status=status, retry_after=retry_after, detail=name)

    # -- receipts ------------------------------------------------------------------------

    def _arm_receipts(self) -> None:
        due = self.carrier.next_receipt_at()
        timer = self._receipt_timer
        if due is None or not self._up:
            return
        if timer is not None and timer.active():
            if self._receipt_due <= due:
                return
            timer.cancel()
        self._receipt_due = due
        self._receipt_timer = self._clock.callLater(
            max(0.0, due - self._clock.seconds()), self._send_receipts
        )

    def _send_receipts(self) -> None:
        self._receipt_timer = None
        if not self._up:
            return  # they wait for the bind to come back
        now = self._clock.seconds()
        for pending in self.carrier.due_receipts(now):
            self._deliver_receipt(pending, now)
        self._arm_receipts()

    def _deliver_receipt(self, pending: PendingReceipt, now: float) -> None:
        outgoing = pending.outgoing(now)
        receipt = parse_receipt(
            outgoing.short_message,
            receipted_message_id=pending.carrier_id,
            message_state=int(outgoing.message_state),
        )
        self.carrier.receipt_sent(pending)
        committed = self._sink.receipt(
            CarrierReceipt(
                connector=self.name,
                receipt=receipt,
                source=pending.source[2],
                destination=pending.destination[2],
                received_at=now,
            )
        )
        committed.addCallbacks(self._receipt_acked, self._receipt_failed, errbackArgs=(pending,))

    def _receipt_acked(self, _: None) -> None:
        self.carrier.stats.receipts_acked += 1

    def _receipt_failed(self, failure: Failure, pending: PendingReceipt) -> None:
        stats = self.carrier.stats
        stats.receipts_failed += 1
        _log.failure("receipt {id} not committed", failure, id=pending.carrier_id)
        if pending.attempt >= MAX_DELIVERY_ATTEMPTS:
            stats.receipts_dropped += 1
            return
        self.carrier.retry_receipt(pending, self._clock.seconds() + REDELIVERY_DELAY)
        self._arm_receipts()

    # -- mobile-originated messages ------------------------------------------------------

    def inject_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        out_of_order: bool = False,
        system_id: str | None = None,
    ) -> Deferred[int]:
        """Hand a handset's message to the gateway; fires with the part count
        once every part is committed.

        Raises ``ValueError`` for a message the simulator cannot build (or a
        ``system_id``: the gateway's inbound routes choose the application)
        and :class:`~smppd.simulator.core.SimUnavailable` while the
        connector is stopped.
        """
        if system_id is not None:
            raise ValueError(
                "system_id does not apply here: the gateway's inbound routes choose the application"
            )
        return self._inject(source, destination, text, out_of_order=out_of_order, reference=None)

    def inject_mo_with_reference(
        self, source: str, destination: str, text: str, *, reference: str, out_of_order: bool
    ) -> Deferred[int]:
        """Like :meth:`inject_mo`, with the carrier reference ``reference`` (part
        ``i`` of a long text: ``reference/i``). Posting one MO twice with one
        reference is a carrier re-sending it after a late deliver_sm_resp:
        the gateway must take it once."""
        return self._inject(
            source, destination, text, out_of_order=out_of_order, reference=reference
        )

    def _inject(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        out_of_order: bool,
        reference: str | None,
    ) -> Deferred[int]:
        if not self._started:
            raise SimUnavailable(f"connector {self.name} is stopped")
        what = (source, destination, text, out_of_order)
        known = None if reference is None else self._referenced.get(reference)
        if known is not None and known[0] == what:
            parts = known[1]  # the same PDUs again (one concatenation reference)
        else:
            parts = self.carrier.build_mo(source, destination, text, out_of_order=out_of_order)
        if reference is not None:
            self._referenced.pop(reference, None)
            self._referenced[reference] = (what, parts)
            while len(self._referenced) > MAX_REMEMBERED_REFERENCES:
                self._referenced.popitem(last=False)
        now = self._clock.seconds()
        # Part i of the text (counted as written, whatever order they go in).
        numbers = list(range(1, len(parts) + 1))
        if out_of_order:
            numbers.reverse()
        results = [
            self._deliver_mo(part, now, _part_reference(reference, number, len(parts)))
            for part, number in zip(parts, numbers, strict=True)
        ]
        done: Deferred[list[None]] = defer.gatherResults(results, consumeErrors=True)
        done.addErrback(_first_cause)
        return done.addCallback(lambda _: len(parts))

    def _deliver_mo(self, part: MoPart, now: float, reference: str | None) -> Deferred[None]:
        self._mo_sequence += 1
        stats = self.carrier.stats
        stats.mo_sent += 1
        committed = self._sink.inbound(
            InboundPart(
                connector=self.name,
                channel="sim",
                source=SmppAddress(*part.source),
                destination=SmppAddress(*part.destination),
                esm_class=part.esm_class,
                data_coding=part.data_coding,
                short_message=part.short_message,
                message_payload=None,
                sar=None,
                received_at=now,
                carrier_reference=reference or f"{self._mo_prefix}-{self._mo_sequence}",
            )
        )

        def acked(result: None) -> None:
            stats.mo_acked += 1

        def failed(failure: Failure) -> Failure:
            stats.mo_failed += 1
            return failure

        return committed.addCallbacks(acked, failed)


def _untyped(function: Any) -> Any:
    # twisted.internet.endpoints and .error are not annotated; calls go through here.
    return function


def _part_reference(reference: str | None, number: int, count: int) -> str | None:
    if reference is None or count == 1:
        return reference
    return f"{reference}/{number}"


def _first_cause(failure: Failure) -> Failure:
    """The failure of the part that failed, not gatherResults' wrapper."""
    error = failure.value
    return error.subFailure if isinstance(error, defer.FirstError) else failure


def _where(address: Any) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None or port is None:
        return str(address)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def connector_from_config(
    config: SimConnectorConfig,
    clock: ReactorClock,
    sink: ConnectorSink,
    *,
    seed: int | None = None,
    reactor: Any = None,
) -> SimConnector:
    """The connector a ``type = "sim"`` table describes.

    Its ``control`` endpoint listens with ``reactor`` (default: ``clock``,
    which is the reactor when the daemon builds it).
    """
    policy = config.text_policy()
    carrier = SimCarrier(
        SimSettings(
            receipt_delay=config.receipt_delay,
            state_mix=config.state_mix(),
            max_tps=config.max_messages_per_second,
            seed=seed,
            dcs0=policy.dcs0,
        ),
        now=clock.seconds(),
    )
    return SimConnector(
        config.name,
        carrier,
        clock,
        sink,
        text_policy=policy,
        control=config.control,
        reactor=reactor,
    )
