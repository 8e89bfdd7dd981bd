"""The standalone simulated SMSC: applications (or a gateway) bind to it over SMPP.

How this works
--------------
:class:`SimSmsc` serves every connection with an :class:`SmppProtocol` in the
SMSC role and a small :class:`SessionHandler`; the session does the protocol
(binds, windows, enquire_link, bad input) and the handler asks the shared
:class:`~smppd.simulator.core.SimCarrier` about each submit_sm, data_sm and
submit_multi: accept with a carrier id, refuse with a status, or (the drop
fault) close the connection without answering.

What the carrier sends back waits in one queue per system_id: receipts for
the system_id that submitted, MO for the system_id it was injected for (or
for whoever is bound, in the ``None`` queue). A queue is emptied into the
RX/TRX binds of its system_id, taking turns, as far as their send windows
allow; it is pumped again when a bind comes up, a window opens, a receipt
falls due or an MO is injected. A deliver_sm that the application refuses
with a temporary status, or that gets no answer, is offered again after
:data:`~smppd.simulator.core.REDELIVERY_DELAY`; a permanent refusal
(ESME_RX_P_APPN, ESME_RX_R_APPN) or too many attempts drops it. Each queue
holds at most :data:`MAX_QUEUED_DELIVERIES`; past that, receipts are dropped
(and counted) and MO injection is refused with :class:`QueueFull`.

Nothing here touches the global reactor.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from smppd.clock import DelayedCall, ReactorClock
from smppd.protocol import (
    CommandStatusError,
    PauseCause,
    SessionHandler,
    SmppFactory,
    SmppProtocol,
)
from smppd.session import BindMode, BindRequest, Bound, CloseReason, Role, SessionConfig, State
from smppd.simulator.core import (
    DROP,
    MAX_DELIVERY_ATTEMPTS,
    REDELIVERY_DELAY,
    Address,
    MoPart,
    PendingReceipt,
    SimCarrier,
    SimUnavailable,
)
from smppd.smpp._build import fast_constructor
from smppd.smpp.constants import CommandStatus, EsmClass
from smppd.smpp.pdu import (
    MAX_SHORT_MESSAGE_LENGTH,
    CancelSm,
    DataSm,
    DeliverSm,
    DistributionList,
    Pdu,
    QuerySm,
    ReplaceSm,
    SubmitMulti,
    SubmitSm,
    UnsuccessfulSme,
)
from smppd.smpp.tlv import NetworkType, Tlv

__all__ = [
    "DEFAULT_SIM_SYSTEM_ID",
    "MAX_QUEUED_DELIVERIES",
    "SIM_RECEIVE_WINDOW",
    "SIM_SEND_WINDOW",
    "QueueFull",
    "SimSmsc",
    "sim_session_config",
]

#: system_id the simulator gives in bind_resp.
DEFAULT_SIM_SYSTEM_ID: Final = "smppd-sim"
#: deliver_sm outstanding per bind: enough that receipts keep up with a
#: gateway that answers after a group commit of a few milliseconds.
SIM_SEND_WINDOW: Final = 100
#: Requests an application may have in flight with us. Answers are
#: immediate, but the session counts every PDU of one TCP read before any is
#: answered, so a load generator that pipelines needs room here.
SIM_RECEIVE_WINDOW: Final = 1_000
#: Receipts / MO waiting for a receiver, per system_id.
MAX_QUEUED_DELIVERIES: Final = 100_000
#: Seconds to wait for the applications' unbind_resp when stopping.
STOP_TIMEOUT: Final = 5.0

_PERMANENT_REFUSALS: Final = frozenset({CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN})
_RECEIVING_MODES: Final = frozenset({BindMode.RECEIVER, BindMode.TRANSCEIVER})
_BOUND_STATES: Final = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})

_log = Logger(namespace="smppd.simulator.server")


class QueueFull(SimUnavailable):
    """Too many deliveries wait for a receiver already."""


@dataclass(frozen=True, slots=True)
class _QueuedMo:
    part: MoPart
    system_id: str | None
    attempt: int = 1


_Item = PendingReceipt | _QueuedMo


def sim_session_config() -> SessionConfig:
    """Session limits for simulator binds: a wide send window, no idle unbind
    (developers leave binds open while they read their code)."""
    return SessionConfig(
        send_window=SIM_SEND_WINDOW,
        receive_window=SIM_RECEIVE_WINDOW,
        inactivity_timeout=None,
    )


class SimSmsc:
    """The simulated SMSC; :meth:`factory` is what an endpoint listens with."""

    def __init__(
        self,
        carrier: SimCarrier,
        clock: ReactorClock,
        *,
        system_id: str | None = None,
        password: str | None = None,
        server_system_id: str = DEFAULT_SIM_SYSTEM_ID,
        session_config: SessionConfig | None = None,
    ) -> None:
        self.carrier = carrier
        self.clock = clock
        self.system_id = system_id
        self.password = password
        self.server_system_id = server_system_id
        self.session_config = session_config or sim_session_config()
        self._connections: set[SmppProtocol] = set()
        self._receivers: dict[str, list[SmppProtocol]] = {}
        self._queues: dict[str | None, deque[_Item]] = {}
        self._receipt_timer: DelayedCall | None = None
        self._receipt_due = 0.0
        self._retry_timers: set[DelayedCall] = set()
        self._stopping = False

    def factory(self) -> SmppFactory:
        return _SimFactory(self)

    # -- binds -------------------------------------------------------------------------

    def _connected(self, protocol: SmppProtocol) -> None:
        self._connections.add(protocol)

    def _authenticate(self, request: BindRequest) -> int:
        if self._stopping:
            return CommandStatus.ESME_RBINDFAIL
        if self.system_id is not None and request.system_id != self.system_id:
            self.carrier.stats.binds_refused += 1
            return CommandStatus.ESME_RINVSYSID
        if self.password is not None and request.password != self.password:
            self.carrier.stats.binds_refused += 1
            return CommandStatus.ESME_RINVPASWD
        return CommandStatus.ESME_ROK

    def _bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        stats = self.carrier.stats
        stats.binds_total += 1
        stats.binds_active += 1
        if bound.mode in _RECEIVING_MODES:
            self._receivers.setdefault(bound.peer_system_id, []).append(protocol)
            self.pump()

    def _unbound(self, protocol: SmppProtocol, system_id: str, receiving: bool) -> None:
        self.carrier.stats.binds_active -= 1
        if receiving:
            receivers = self._receivers.get(system_id, [])
            if protocol in receivers:
                receivers.remove(protocol)
            if not receivers:
                self._receivers.pop(system_id, None)

    def _disconnected(self, protocol: SmppProtocol) -> None:
        self._connections.discard(protocol)

    # -- submits -------------------------------------------------------------------------

    def _submit(
        self, protocol: SmppProtocol, system_id: str, request: Pdu, submits: int
    ) -> Pdu | None:
        """The response to a submit, or None when the connection is dropped."""
        carrier = self.carrier
        now = self.clock.seconds()
        status = carrier.admit(now, submits)
        if status == DROP:
            carrier.stats.connections_dropped += 1
            protocol.abort()
            return None
        if status:
            return request.response(command_status=status)
        if isinstance(request, SubmitMulti):
            return self._submit_multi(system_id, request, now)
        assert isinstance(request, SubmitSm | DataSm)
        data = (
            (request.short_message if isinstance(request, SubmitSm) else b"")
            or request.message_payload
            or b""
        )
        carrier_id, _ = carrier.accept(
            system_id=system_id,
            source=(request.source_addr_ton, request.source_addr_npi, request.source_addr),
            destination=(request.dest_addr_ton, request.dest_addr_npi, request.destination_addr),
            data=data,
            data_coding=request.data_coding,
            esm_class=request.esm_class,
            registered_delivery=request.registered_delivery,
            user_message_reference=request.user_message_reference,
            sar=_sar(request),
            now=now,
        )
        self._arm_receipts()
        return request.response(message_id=carrier_id)

    def _submit_multi(self, system_id: str, request: SubmitMulti, now: float) -> Pdu:
        carrier = self.carrier
        source: Address = (request.source_addr_ton, request.source_addr_npi, request.source_addr)
        data = request.short_message or request.message_payload or b""
        ids: tuple[str, str] | None = None
        sar = _sar(request)
        unsuccessful: list[UnsuccessfulSme] = []
        for destination in request.destinations:
            if isinstance(destination, DistributionList):
                # The simulator knows no distribution lists.
                unsuccessful.append(
                    UnsuccessfulSme(
                        address=destination.name,
                        error_status_code=CommandStatus.ESME_RINVDLNAME,
                    )
                )
                continue
            ids = carrier.accept(
                system_id=system_id,
                source=source,
                destination=(destination.ton, destination.npi, destination.address),
                data=data,
                data_coding=request.data_coding,
                esm_class=request.esm_class,
                registered_delivery=request.registered_delivery,
                user_message_reference=request.user_message_reference,
                sar=sar,
                now=now,
                carrier_id=ids,
            )
        self._arm_receipts()
        message_id = ids[0] if ids is not None else carrier.new_carrier_id()
        return request.response(message_id=message_id, unsuccess_smes=tuple(unsuccessful))

    # -- receipts and MO -------------------------------------------------------------------

    def inject_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        out_of_order: bool = False,
        system_id: str | None = None,
    ) -> int:
        """Queue a handset's message for ``system_id`` (or any receiver); the part count.

        Raises ``ValueError`` for a message that cannot be built and
        :class:`QueueFull` when too many deliveries wait already.
        """
        queue = self._queues.get(system_id)
        parts = self.carrier.build_mo(source, destination, text, out_of_order=out_of_order)
        if queue is not None and len(queue) + len(parts) > MAX_QUEUED_DELIVERIES:
            self.carrier.stats.mo_dropped += len(parts)
            raise QueueFull(f"{len(queue)} deliveries wait for a receiver already")
        if queue is None:
            queue = self._queues[system_id] = deque()
        queue.extend(_QueuedMo(part, system_id) for part in parts)
        self.pump()
        return len(parts)

    def _arm_receipts(self) -> None:
        due = self.carrier.next_receipt_at()
        if due is None:
            return
        timer = self._receipt_timer
        if timer is not None and timer.active():
            if self._receipt_due <= due:
                return
            timer.cancel()
        self._receipt_due = due
        self._receipt_timer = self.clock.callLater(
            max(0.0, due - self.clock.seconds()), self._receipts_due
        )

    def _receipts_due(self) -> None:
        self._receipt_timer = None
        queues = self._queues
        stats = self.carrier.stats
        for pending in self.carrier.due_receipts(self.clock.seconds()):
            queue = queues.get(pending.system_id)
            if queue is None:
                queue = queues[pending.system_id] = deque()
            if len(queue) >= MAX_QUEUED_DELIVERIES:
                stats.receipts_dropped += 1
                continue
            queue.append(pending)
        self.pump()
        self._arm_receipts()

    def pump(self) -> None:
        """Send what waits to whichever receiver has room."""
        receivers = self._receivers
        for key, queue in list(self._queues.items()):
            if not queue:
                # Forget emptied queues: system_ids come and go.
                del self._queues[key]
                continue
            if key is None:
                candidates = [p for group in receivers.values() for p in group]
            else:
                candidates = receivers.get(key, [])
            if not candidates:
                continue
            # Take turns, starting after the bind that was used last.
            while queue:
                chosen = None
                for _ in range(len(candidates)):
                    protocol = candidates[0]
                    candidates.append(candidates.pop(0))
                    if protocol.can_send:
                        chosen = protocol
                        break
                if chosen is None:
                    break
                self._send(chosen, queue.popleft())

    def _send(self, protocol: SmppProtocol, item: _Item) -> None:
        stats = self.carrier.stats
        if isinstance(item, PendingReceipt):
            try:
                pdu = _receipt_pdu(item, self.clock.seconds())
            except ValueError:
                # A data_sm may name addresses longer than deliver_sm can carry.
                _log.failure("cannot build the receipt for {id}", id=item.carrier_id)
                stats.receipts_dropped += 1
                return
            self.carrier.receipt_sent(item)
        else:
            stats.mo_sent += 1
            part = item.part
            pdu = DeliverSm(
                sequence_number=1,
                source_addr_ton=part.source[0],
                source_addr_npi=part.source[1],
                source_addr=part.source[2],
                dest_addr_ton=part.destination[0],
                dest_addr_npi=part.destination[1],
                destination_addr=part.destination[2],
                esm_class=part.esm_class,
                data_coding=part.data_coding,
                short_message=part.short_message,
            )
        protocol.send_request(pdu).addCallbacks(
            self._delivered, self._not_delivered, callbackArgs=(item,), errbackArgs=(item,)
        )

    def _delivered(self, response: Pdu, item: _Item) -> None:
        stats = self.carrier.stats
        if isinstance(item, PendingReceipt):
            stats.receipts_acked += 1
        else:
            stats.mo_acked += 1

    def _not_delivered(self, failure: Failure, item: _Item) -> None:
        stats = self.carrier.stats
        is_receipt = isinstance(item, PendingReceipt)
        if is_receipt:
            stats.receipts_failed += 1
        else:
            stats.mo_failed += 1
        error = failure.value
        permanent = isinstance(error, CommandStatusError) and error.status in _PERMANENT_REFUSALS
        if permanent or item.attempt >= MAX_DELIVERY_ATTEMPTS or self._stopping:
            if is_receipt:
                stats.receipts_dropped += 1
            else:
                stats.mo_dropped += 1
            return
        if isinstance(item, PendingReceipt):
            self.carrier.retry_receipt(item, self.clock.seconds() + REDELIVERY_DELAY)
            self._arm_receipts()
            return
        retry = dataclasses.replace(item, attempt=item.attempt + 1)
        timer: DelayedCall | None = None

        def again() -> None:
            if timer is not None:
                self._retry_timers.discard(timer)
            self._queues.setdefault(retry.system_id, deque()).append(retry)
            self.pump()

        timer = self.clock.callLater(REDELIVERY_DELAY, again)
        self._retry_timers.add(timer)

    # -- stopping ---------------------------------------------------------------------------

    def stop(self) -> Deferred[None]:
        """Unbind every application (closing unbound connections); cancel timers."""
        self._stopping = True
        for timer in (self._receipt_timer, *self._retry_timers):
            if timer is not None and timer.active():
                timer.cancel()
        self._receipt_timer = None
        self._retry_timers.clear()
        closing: list[Deferred[Any]] = []
        for protocol in list(self._connections):
            if protocol.state in _BOUND_STATES:
                closing.append(protocol.unbind())
            else:
                protocol.abort()
        done: Deferred[Any] = defer.DeferredList(closing, consumeErrors=True)
        return done.addCallback(lambda _: None)


def _sar(request: SubmitSm | DataSm | SubmitMulti) -> tuple[int, int, int] | None:
    """The SAR TLVs of a submit as (ref, total, seq), when all three are there."""
    ref = request.sar_msg_ref_num
    total = request.sar_total_segments
    seq = request.sar_segment_seqnum
    if ref is None or total is None or seq is None:
        return None
    return ref, total, seq


# Building a DeliverSm through its validating __init__ costs more than the
# rest of a receipt together; receipts are built from values already checked
# (the submit's addresses, an ASCII text), so they use the codec's unchecked
# constructor when the addresses fit deliver_sm's fields.
_DELIVER_SM_FIELDS: Final = tuple((f.name, f.default) for f in dataclasses.fields(DeliverSm))
_build_deliver_sm: Final = fast_constructor(DeliverSm)
_MAX_DELIVER_SM_ADDRESS: Final = 20  # source_addr / destination_addr: 21 with the NUL


def _receipt_pdu(pending: PendingReceipt, now: float) -> DeliverSm:
    outgoing = pending.outgoing(now)
    tlvs = [
        Tlv.receipted_message_id(pending.carrier_id),
        Tlv.message_state(int(pending.state)),
    ]
    if pending.err:
        tlvs.append(Tlv.network_error_code(NetworkType.GSM, pending.err))
    source = pending.source
    destination = pending.destination
    values: dict[str, object] = {
        "sequence_number": 1,
        "source_addr_ton": source[0],
        "source_addr_npi": source[1],
        "source_addr": source[2],
        "dest_addr_ton": destination[0],
        "dest_addr_npi": destination[1],
        "destination_addr": destination[2],
        "esm_class": int(EsmClass.TYPE_DELIVERY_RECEIPT),
        "short_message": outgoing.short_message,
        "tlvs": tuple(tlvs),
    }
    if (
        len(source[2]) > _MAX_DELIVER_SM_ADDRESS
        or len(destination[2]) > _MAX_DELIVER_SM_ADDRESS
        or len(outgoing.short_message) > MAX_SHORT_MESSAGE_LENGTH
    ):
        # data_sm allows longer addresses: let the checked path say what is wrong.
        return DeliverSm(**values)  # type: ignore[arg-type]
    pdu: DeliverSm = _build_deliver_sm(
        *(values.get(name, default) for name, default in _DELIVER_SM_FIELDS)
    )
    return pdu


class _SimHandler(SessionHandler):
    """One connection to the simulator."""

    def __init__(self, smsc: SimSmsc) -> None:
        self.smsc = smsc
        self.system_id = ""
        self.receiving = False
        self.bound_now = False
        self.submits = 0
        self.dropped = False

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int:
        return self.smsc._authenticate(request)

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        self.system_id = bound.peer_system_id
        self.receiving = bound.mode in _RECEIVING_MODES
        self.bound_now = True
        self.smsc._bound(protocol, bound)

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self._leave(protocol)

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self._leave(protocol)
        self.smsc._disconnected(protocol)

    def _leave(self, protocol: SmppProtocol) -> None:
        if self.bound_now:
            self.bound_now = False
            self.smsc._unbound(protocol, self.system_id, self.receiving)

    def resume_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        self.smsc.pump()

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        if self.dropped:
            # The connection is gone; what followed in the same read gets nothing.
            return Deferred()
        if isinstance(request, SubmitSm | DataSm | SubmitMulti):
            self.submits += 1
            response = self.smsc._submit(protocol, self.system_id, request, self.submits)
            if response is None:
                self.dropped = True
                return Deferred()
            return response
        if isinstance(request, QuerySm):
            return request.response(command_status=CommandStatus.ESME_RQUERYFAIL)
        if isinstance(request, CancelSm):
            return request.response(command_status=CommandStatus.ESME_RCANCELFAIL)
        if isinstance(request, ReplaceSm):
            return request.response(command_status=CommandStatus.ESME_RREPLACEFAIL)
        return request.response(command_status=CommandStatus.ESME_RINVCMDID)


class _SimFactory(SmppFactory):
    def __init__(self, smsc: SimSmsc) -> None:
        super().__init__(
            Role.SMSC,
            lambda: _SimHandler(smsc),
            smsc.clock,
            config=smsc.session_config,
            system_id=smsc.server_system_id,
        )
        self.smsc = smsc

    def buildProtocol(self, addr: Any) -> SmppProtocol:
        protocol = super().buildProtocol(addr)
        self.smsc._connected(protocol)
        return protocol
