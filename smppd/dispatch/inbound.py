"""Inbound messages (MO): de-duplicated, reassembled, offered to plugins, routed, stored.

How this works
--------------
:meth:`InboundPipeline.inbound` takes one part as a connector received it:

1. Its fingerprint (source, destination, the octets with their UDH, SAR
   values, the carrier's reference or the modem's SMSC timestamp; see
   COMPLIANCE.md "Duplicates in the real world") is offered to shared
   state's ``first_seen`` for :attr:`InboundSettings.dedup_window` seconds: a
   carrier re-sending after a late ``deliver_sm_resp`` is acknowledged and
   dropped without touching the store.
2. A first sighting is committed as a part row (reserved account
   :data:`~smppd.store.dispatchops.PART_ACCOUNT`) together with its
   fingerprint; the store refuses a fingerprint it already holds (a re-send
   after our restart). The Deferred fires after that commit, and the
   connector acknowledges then: an acknowledged part is durable.
3. The part goes through the :class:`~smppd.text.reassembly.Reassembler`
   (one timer, armed at its next deadline). A finished message (complete,
   or timed out with the gaps marked) is offered to the inbound hook, which
   may keep it from applications; then routed to an account
   (:class:`~smppd.routing.inbound.InboundRouter`; unroutable messages are
   stored under :data:`~smppd.store.dispatchops.UNROUTABLE_ACCOUNT`, never
   dropped) and stored for it in one transaction with its part rows marked
   taken (:class:`~smppd.store.dispatchops.ResolveInbound`), after which the
   account's bind is woken.

Text is decoded with the receiving connector's ``dcs0`` (what its SMSC
means by data_coding 0: GSM-7, Latin-1 or ASCII; GSM-7 for a connector that
names none): one reassembler per reading, each connector's parts go to the
one of its reading, so every group is decoded as its carrier wrote it.

The window buckets the stored fingerprints (``fingerprint:bucket``), so a
subscriber who sends the same text again after the window is heard again.
At start, :meth:`InboundPipeline.start` reads back the parts a previous run
acknowledged but did not finish, and reassembles them with their original
arrival times.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, cast

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from smppd.clock import DelayedCall, ReactorClock
from smppd.connectors.base import InboundPart, SmppAddress
from smppd.dispatch.dispatcher import Writer
from smppd.pipeline import Outbox
from smppd.routing.address import AddressError, AddressNormaliser
from smppd.routing.inbound import InboundRouter, Unroutable
from smppd.shared.interface import Deduplication
from smppd.store.dispatchops import (
    PART_ACCOUNT,
    UNROUTABLE_ACCOUNT,
    HeldPart,
    HeldParts,
    ResolveInbound,
    sar_text,
)
from smppd.store.models import CARRIER_MESSAGE_ID_MAX
from smppd.store.ops import RECEIPT_HOLD_SECONDS, InboundMessage, StoreInbound
from smppd.text.charset import decode
from smppd.text.policy import Dcs0
from smppd.text.reassembly import (
    DEFAULT_GAP_MARKER,
    DEFAULT_TIMEOUT,
    Assembled,
    GroupKey,
    Part,
    Reassembler,
    concat_problem,
    normalise_address,
    part_from_smpp,
)

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "InboundEvent",
    "InboundPipeline",
    "InboundSettings",
    "fingerprint",
    "forward_all",
]

# Seconds within which the same MO from the same sender counts once. Carriers
# re-send a deliver_sm whose response was late within a minute or two.
DEFAULT_DEDUP_WINDOW: Final = 600.0
# Fingerprints whose commit failed, remembered so their re-send is stored.
MAX_UNCOMMITTED: Final = 10_000
# Parts read back at start, at most.
MAX_RESTORED_PARTS: Final = 100_000
DC_UCS2: Final = 0x08

_log = Logger(namespace="smppd.dispatch.inbound")


@dataclass(frozen=True, slots=True)
class InboundSettings:
    dedup_window: float = DEFAULT_DEDUP_WINDOW
    reassembly_timeout: float = DEFAULT_TIMEOUT
    gap_marker: str = DEFAULT_GAP_MARKER
    #: Seconds a stored MO waits for its application to bind.
    hold: float = RECEIPT_HOLD_SECONDS

    def __post_init__(self) -> None:
        if self.dedup_window <= 0 or self.reassembly_timeout <= 0 or self.hold <= 0:
            raise ValueError("dedup_window, reassembly_timeout and hold must be positive")


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """What the inbound hook sees: one reassembled MO, before it is routed.

    ``idempotency_key`` is the same for the same message re-sent or read back
    after a restart. ``complete`` is False for a message whose missing parts
    never came (``missing`` lists them; the text marks the gaps). The TON
    and NPI of both addresses are as the carrier sent them: a reply goes
    back to the source read the same way.
    """

    connector: str
    source: str
    destination: str
    text: str
    received_at: float
    idempotency_key: str
    carrier_reference: str | None
    complete: bool
    missing: tuple[int, ...]
    source_ton: int = 1
    source_npi: int = 1
    dest_ton: int = 0
    dest_npi: int = 1


class HookVerdict(Protocol):
    @property
    def forward(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Forward:
    forward: bool = True


InboundHook = Callable[[InboundEvent], "Deferred[HookVerdict] | HookVerdict"]


def forward_all(_: InboundEvent) -> HookVerdict:
    """The hook when no plugin has one: every message goes to its application."""
    return _Forward()


def fingerprint(part: InboundPart) -> str:
    """The de-duplication fingerprint of one received PDU."""
    h = hashlib.sha256()
    for value in (
        part.source.addr,
        part.destination.addr,
        str(part.data_coding),
        str(part.esm_class & 0x40),
        "" if part.sar is None else "/".join(map(str, part.sar)),
        part.carrier_reference or "",
    ):
        h.update(value.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    h.update(part.message_payload or part.short_message)
    return h.hexdigest()[:40]


@dataclass(slots=True, eq=False)
class _Held:
    row_id: int
    fingerprint: str
    source: SmppAddress
    destination: SmppAddress
    carrier_reference: str | None


class InboundPipeline:
    """``ConnectorSink.inbound``; see the module docstring."""

    def __init__(
        self,
        *,
        clock: ReactorClock,
        writer: Writer,
        outbox: Outbox,
        dedup: Deduplication,
        router: InboundRouter,
        normaliser: AddressNormaliser,
        inbound_hook: InboundHook = forward_all,
        settings: InboundSettings | None = None,
        dcs0: Mapping[str, str] | None = None,
    ) -> None:
        self._clock = clock
        self._writer = writer
        self._outbox = outbox
        self._dedup = dedup
        self._router = router
        self._normaliser = normaliser
        self._hook = inbound_hook
        self.settings = settings or InboundSettings()
        # Connector -> how it reads data_coding 0; missing: GSM-7.
        self._dcs0 = {name: Dcs0(value) for name, value in (dcs0 or {}).items()}
        self._reassemblers: dict[Dcs0, Reassembler] = {}
        # Part rows waiting in the reassembler, by group and part number.
        self._waiting: dict[tuple[GroupKey, int], deque[_Held]] = {}
        self._timer: DelayedCall | None = None
        self._timer_at: float | None = None
        # Fingerprints being committed now, with the acknowledgements waiting on them.
        self._pending: dict[str, list[Deferred[None]]] = {}
        # Fingerprints seen whose commit failed (insertion-ordered, bounded).
        self._uncommitted: dict[str, None] = {}
        self.duplicates = 0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Deferred[int]:
        """Reassemble what a previous run acknowledged but did not finish."""
        d = self._writer.submit(HeldParts(MAX_RESTORED_PARTS))
        return d.addCallback(self._restore)

    def _restore(self, parts: list[HeldPart]) -> int:
        for held in parts:
            part = InboundPart(
                connector=held.connector,
                channel="smpp",
                source=SmppAddress(held.source_ton, held.source_npi, held.source_addr),
                destination=SmppAddress(held.dest_ton, held.dest_npi, held.dest_addr),
                esm_class=held.esm_class,
                data_coding=held.data_coding,
                short_message=held.payload,
                message_payload=None,
                sar=held.sar,
                received_at=held.received_at,
                carrier_reference=held.carrier_reference,
            )
            self._reassemble(part, held.id, fingerprint(part), held.received_at)
        self._expire()
        return len(parts)

    def _reassembler_for(self, connector: str) -> Reassembler:
        reading = self._dcs0.get(connector, Dcs0.GSM7)
        reassembler = self._reassemblers.get(reading)
        if reassembler is None:
            reassembler = Reassembler(
                lambda data, dc, *, locking_shift=0, single_shift=0: decode(
                    data, dc, dcs0=reading, locking_shift=locking_shift, single_shift=single_shift
                ),
                timeout=self.settings.reassembly_timeout,
                gap_marker=self.settings.gap_marker,
            )
            self._reassemblers[reading] = reassembler
        return reassembler

    def stop(self) -> None:
        """Stop the timer; acknowledged parts stay in the store for the next start."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self._timer_at = None

    # -- ConnectorSink.inbound -----------------------------------------------------------

    def inbound(self, part: InboundPart) -> Deferred[None]:
        fp = fingerprint(part)
        key = f"mo:{part.connector}:{fp}"
        ack: Deferred[None] = Deferred()
        waiting = self._pending.get(key)
        if waiting is not None:
            # The same PDU again while its first copy is being committed: both
            # are answered by that commit, so a failed one acknowledges neither.
            self.duplicates += 1
            waiting.append(ack)
            return ack
        self._pending[key] = [ack]
        if key in self._uncommitted:
            # An earlier copy was seen but never committed: this one must be.
            seen: Deferred[bool] = succeed(True)
        else:
            seen = self._dedup.first_seen(key, self.settings.dedup_window)
        stored = seen.addCallback(self._store_part, part, fp)
        stored.addCallbacks(
            self._part_stored,
            self._part_not_stored,
            callbackArgs=(part, key, fp),
            errbackArgs=(key,),
        )
        stored.addErrback(self._log_failure, "reassembling an acknowledged part")
        return ack

    def _store_part(self, first: bool, part: InboundPart, fp: str) -> Deferred[int | None] | None:
        if not first:
            return None
        window = self.settings.dedup_window
        message = InboundMessage(
            account=PART_ACCOUNT,
            connector=part.connector,
            source_addr=part.source.addr,
            dest_addr=part.destination.addr,
            payload=part.message_payload or part.short_message,
            carrier_message_id=_reference(part.carrier_reference),
            source_ton=part.source.ton,
            source_npi=part.source.npi,
            dest_ton=part.destination.ton,
            dest_npi=part.destination.npi,
            data_coding=part.data_coding,
            esm_class=part.esm_class,
            text=sar_text(part.sar),
        )
        bucket = int(part.received_at // window)
        return self._writer.submit(StoreInbound(message, f"{fp}:{bucket}", self._clock.seconds()))

    def _part_stored(self, row_id: int | None, part: InboundPart, key: str, fp: str) -> None:
        self._uncommitted.pop(key, None)
        for ack in self._pending.pop(key, []):
            ack.callback(None)
        if row_id is None:
            self.duplicates += 1
            return
        self._reassemble(part, row_id, fp, self._clock.seconds())
        self._arm()

    def _part_not_stored(self, failure: Failure, key: str) -> None:
        # No acknowledgement: the carrier sends the part again, and that copy
        # must not be taken for a duplicate of this one.
        self._uncommitted[key] = None
        while len(self._uncommitted) > MAX_UNCOMMITTED:
            del self._uncommitted[next(iter(self._uncommitted))]
        self._log_failure(failure, "storing an inbound part")
        for ack in self._pending.pop(key, []):
            ack.errback(failure)

    # -- reassembly ------------------------------------------------------------------------

    def _reassemble(self, part: InboundPart, row_id: int, fp: str, now: float) -> None:
        sar = part.sar
        p = part_from_smpp(
            route=part.connector,
            source=part.source.addr,
            destination=part.destination.addr,
            esm_class=part.esm_class,
            short_message=part.short_message,
            data_coding=part.data_coding,
            message_payload=part.message_payload,
            sar_msg_ref_num=None if sar is None else sar[0],
            sar_total_segments=None if sar is None else sar[1],
            sar_segment_seqnum=None if sar is None else sar[2],
        )
        held = _Held(row_id, fp, part.source, part.destination, part.carrier_reference)
        slot = _slot(p)
        if slot is not None:
            self._waiting.setdefault(slot, deque()).append(held)
        reassembler = self._reassembler_for(part.connector)
        before = reassembler.buffered_octets
        out = reassembler.add(p, now)
        if slot is not None and not out and reassembler.buffered_octets == before:
            # The reassembler already had this very part (same octets under
            # another carrier reference) or delivered it lately: nothing to keep.
            self._unfile(slot, held)
            self._resolve_duplicate(row_id)
            return
        for assembled in out:
            if assembled.key is None and slot is not None:
                # Filed under a group but delivered on its own (too large to hold).
                self._unfile(slot, held)
            self._finished(assembled, [held] if assembled.key is None else None)

    def _unfile(self, slot: tuple[GroupKey, int], held: _Held) -> None:
        queue = self._waiting.get(slot)
        if queue is not None and held in queue:
            queue.remove(held)
            if not queue:
                del self._waiting[slot]

    def _resolve_duplicate(self, row_id: int) -> None:
        self.duplicates += 1
        op = ResolveInbound((row_id,), None, "", self._clock.seconds())
        self._writer.submit(op).addErrback(self._log_failure, "closing a duplicate part")

    def _arm(self) -> None:
        deadlines = [
            deadline
            for r in self._reassemblers.values()
            if (deadline := r.next_deadline()) is not None
        ]
        deadline = min(deadlines, default=None)
        if deadline is None or deadline == self._timer_at:
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._clock.callLater(
            max(0.0, deadline - self._clock.seconds()), self._expire
        )

    def _expire(self) -> None:
        self._timer = self._timer_at = None
        now = self._clock.seconds()
        for reassembler in self._reassemblers.values():
            for assembled in reassembler.expire(now):
                self._finished(assembled, None)
        self._arm()

    def _finished(self, a: Assembled, standalone: list[_Held] | None) -> None:
        parts: list[_Held] = []
        if standalone is not None:
            parts = standalone
        elif a.key is not None:
            for seq in a.seqs:
                queue = self._waiting.get((a.key, seq))
                if queue:
                    parts.append(queue.popleft())
                    if not queue:
                        del self._waiting[(a.key, seq)]
        if not parts:
            return
        first = parts[0]
        key = hashlib.sha256("\x00".join(h.fingerprint for h in parts).encode()).hexdigest()[:40]
        event = InboundEvent(
            connector=a.route,
            source=first.source.addr,
            destination=first.destination.addr,
            text=a.text,
            received_at=a.first_arrival,
            idempotency_key=key,
            carrier_reference=first.carrier_reference,
            complete=a.complete,
            missing=a.missing,
            source_ton=first.source.ton,
            source_npi=first.source.npi,
            dest_ton=first.destination.ton,
            dest_npi=first.destination.npi,
        )
        d = cast("Deferred[HookVerdict]", maybeDeferred(self._hook, event))
        verdict: Deferred[HookVerdict] = d.addErrback(self._hook_failed, event)
        stored = verdict.addCallback(self._decided, a, parts, event)
        stored.addErrback(self._log_failure, "storing an inbound message")
        d.addErrback(self._log_failure, "storing an inbound message")

    def _hook_failed(self, failure: Failure, event: InboundEvent) -> HookVerdict:
        # A plugin's failure must not lose the message: it goes to the application.
        _log.failure("inbound hook failed for {key}", failure, key=event.idempotency_key)
        return _Forward()

    def _decided(
        self, verdict: HookVerdict, a: Assembled, parts: list[_Held], event: InboundEvent
    ) -> Deferred[None]:
        now = self._clock.seconds()
        first = parts[0]
        message: InboundMessage | None = None
        account = ""
        if verdict.forward:
            account = self._account(first.destination, a.text)
            payload, data_coding = _payload(a)
            message = InboundMessage(
                account=account,
                connector=a.route,
                source_addr=first.source.addr,
                dest_addr=first.destination.addr,
                payload=payload,
                carrier_message_id=_reference(first.carrier_reference),
                source_ton=first.source.ton,
                source_npi=first.source.npi,
                dest_ton=first.destination.ton,
                dest_npi=first.destination.npi,
                data_coding=data_coding,
                text=a.text,
                # An unroutable message waits for an operator, not for a bind.
                expires_at=None if account == UNROUTABLE_ACCOUNT else now + self.settings.hold,
            )
        op = ResolveInbound(
            tuple(h.row_id for h in parts), message, f"mo:{event.idempotency_key}", now
        )

        def _stored(row_id: int | None) -> None:
            if row_id is not None and account and account != UNROUTABLE_ACCOUNT:
                self._outbox.wake(account)

        return self._writer.submit(op).addCallback(_stored)

    def _account(self, destination: SmppAddress, text: str) -> str:
        try:
            address = self._normaliser.destination(
                destination.ton, destination.npi, destination.addr
            )
        except AddressError:
            return UNROUTABLE_ACCOUNT
        decision = self._router.route_inbound(address, text)
        if isinstance(decision, Unroutable):
            _log.info(
                "unroutable MO to {destination}: {reason}",
                destination=destination.addr,
                reason=decision.reason,
            )
            return UNROUTABLE_ACCOUNT
        return decision.account

    def _log_failure(self, failure: Failure, what: str) -> None:
        _log.failure("inbound: {what} failed", failure, what=what)


def _reference(reference: str | None) -> str | None:
    return reference[:CARRIER_MESSAGE_ID_MAX] if reference else None


def _slot(p: Part) -> tuple[GroupKey, int] | None:
    """Where the reassembler files ``p``: its group and part number, None when it
    is delivered on its own."""
    concat = p.concat
    if p.problem is not None or concat is None or concat_problem(concat) is not None:
        return None
    if concat.total == 1:
        return None
    key = GroupKey(
        p.route,
        normalise_address(p.source),
        normalise_address(p.destination),
        concat.ref_bits,
        concat.reference,
        concat.total,
    )
    return key, concat.seq


def _payload(a: Assembled) -> tuple[bytes, int]:
    """The stored octets of an MO: the parts joined when they share a coding that
    concatenates, else the text in UCS-2; an incomplete message always as its text."""
    codings = set(a.data_codings)
    if a.complete and len(codings) == 1:
        return b"".join(a.payloads), a.data_codings[0]
    return a.text.encode("utf-16-be", "surrogatepass"), DC_UCS2
