"""Receipts and inbound messages (MO) to the applications' receiver binds.

How this works
--------------
The store is the record (:mod:`smppd.store.outbox`): a receipt or inbound
row is owed until the application's ``deliver_sm_resp`` has been committed
as :class:`~smppd.store.ops.MarkForwarded`. This module only moves rows
from the store to binds, per account:

* :meth:`ApplicationOutbox.wake` (after a commit, a bind, a window opening,
  a retry timer, the periodic sweep) reads what the account is owed, oldest
  first, a batch at a time, off the reactor thread. A wake-up after a commit
  reads only rows newer than the newest already read (ids grow in commit
  order: the group-commit writer is their only writer), so a read costs the
  new rows, not the window in flight or a backlog; a bind, a retry, a failed
  read and the periodic sweep read from the oldest owed row again, which
  also finds a row whose delivery failed and any row committed out of id
  order;
* rows are sent as ``deliver_sm`` over the account's receiver and
  transceiver binds in turn, each within its own window (``can_send``);
  when every window is full, the rest waits for ``resume_sending``;
* a row is "in flight" from its send until its MarkForwarded commits, and a
  re-read skips rows in flight, so one row is never offered twice at once;
  a row whose MarkForwarded commits while a read is under way is skipped in
  that read's result too (the read may have seen the row still owed);
* ``ESME_RX_P_APPN`` / ``ESME_RX_R_APPN`` (the application refuses it for
  good) drop the row; any other failure (temporary error, timeout, lost
  connection) leaves it owed and retries after ``retry_delay``, or when the
  application binds again;
* an account with no receiving bind here is handed to ``elsewhere`` (the
  server tells the node that has one, or nothing happens and the rows wait
  in the store for the next bind, until their hold time runs out).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, Protocol

from sqlalchemy import Engine
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from smppd.clock import DelayedCall, ReactorClock
from smppd.protocol import CommandStatusError
from smppd.receipt import format_receipt
from smppd.server.auth import BlockingRunner
from smppd.smpp.constants import CommandStatus, EsmClass
from smppd.smpp.helpers import ESM_MESSAGE_TYPE_MASK
from smppd.smpp.pdu import MAX_SHORT_MESSAGE_LENGTH, DeliverSm, Pdu
from smppd.smpp.tlv import Tag, Tlv
from smppd.store.appops import DropOwed
from smppd.store.engine import read_only
from smppd.store.lifecycle import smpp_message_state
from smppd.store.ops import MarkForwarded, WriteOp
from smppd.store.outbox import PendingInbound, PendingReceipt, pending_inbound, pending_receipts

__all__ = [
    "DEFAULT_OUTBOX_READ_BATCH",
    "DEFAULT_RETRY_DELAY",
    "DEFAULT_SWEEP_INTERVAL",
    "ApplicationOutbox",
    "DeliveryLink",
    "OutboxWriter",
    "deliver_sm_for_inbound",
    "deliver_sm_for_receipt",
]

#: Rows read from the store per account at a time.
DEFAULT_OUTBOX_READ_BATCH: Final = 100
#: Seconds before a row the application did not take is offered again.
DEFAULT_RETRY_DELAY: Final = 10.0
#: Seconds between re-reads of every bound account (catches wake-ups lost
#: between nodes, and rows whose retry was due while nothing woke us).
DEFAULT_SWEEP_INTERVAL: Final = 60.0
#: Answers that mean "never send me this again".
REFUSED_FOR_GOOD: Final = frozenset({CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN})

_log = Logger(namespace="smppd.server.outbox")

Kind = Literal["receipt", "inbound"]
_Key = tuple[Kind, int]


class DeliveryLink(Protocol):
    """A receiver or transceiver bind (``SmppProtocol`` fits)."""

    @property
    def can_send(self) -> bool: ...

    def send_request(self, pdu: Pdu) -> Deferred[Pdu]: ...


class OutboxWriter(Protocol):
    def submit(self, op: WriteOp[bool]) -> Deferred[bool]: ...


def deliver_sm_for_receipt(row: PendingReceipt) -> DeliverSm:
    """The SMSC delivery receipt (esm_class 0x04) for one of our messages."""
    state = smpp_message_state(row.state)
    receipt = format_receipt(
        message_id=row.message_id,
        state=state,
        submit_date=datetime.fromtimestamp(row.submitted_at, UTC),
        done_date=datetime.fromtimestamp(row.done_at, UTC),
        text=row.text or "",
        err=max(0, row.error_code or 0),
        sub=row.part_count,
    )
    tlvs = [Tlv.receipted_message_id(row.message_id), Tlv.message_state(int(state))]
    if receipt.network_error_code is not None:
        tlvs.append(Tlv(Tag.NETWORK_ERROR_CODE, receipt.network_error_code))
    # A receipt travels back: from the message's destination to its sender.
    return DeliverSm(
        sequence_number=0,
        source_addr_ton=row.dest_ton,
        source_addr_npi=row.dest_npi,
        source_addr=row.dest_addr,
        dest_addr_ton=row.source_ton,
        dest_addr_npi=row.source_npi,
        destination_addr=row.source_addr,
        esm_class=int(EsmClass.TYPE_DELIVERY_RECEIPT),
        short_message=receipt.short_message,
        tlvs=tuple(tlvs),
    )


def deliver_sm_for_inbound(row: PendingInbound) -> DeliverSm:
    """An MO message; a payload over 254 octets goes in message_payload."""
    payload = row.payload
    long = len(payload) > MAX_SHORT_MESSAGE_LENGTH
    return DeliverSm(
        sequence_number=0,
        source_addr_ton=row.source_ton,
        source_addr_npi=row.source_npi,
        source_addr=row.source_addr,
        dest_addr_ton=row.dest_ton,
        dest_addr_npi=row.dest_npi,
        destination_addr=row.dest_addr,
        esm_class=row.esm_class & ~ESM_MESSAGE_TYPE_MASK,
        protocol_id=row.protocol_id,
        data_coding=row.data_coding,
        short_message=b"" if long else payload,
        tlvs=(Tlv.message_payload(payload),) if long else (),
    )


@dataclass(frozen=True, slots=True)
class _Item:
    key: _Key
    pdu: DeliverSm
    at: float


@dataclass(slots=True)
class _Account:
    links: list[DeliveryLink] = field(default_factory=list)
    queue: deque[_Item] = field(default_factory=deque)
    queued: set[_Key] = field(default_factory=set)
    inflight: set[_Key] = field(default_factory=set)
    # Rows recorded (forwarded or dropped) while a read was under way: that
    # read's snapshot may still list them as owed.
    settled_during_read: set[_Key] = field(default_factory=set)
    reading: bool = False
    again: bool = False
    # The newest receipt and inbound row ids read so far, and whether the
    # next read starts again from the oldest owed row (see the module docstring).
    receipt_mark: int = 0
    inbound_mark: int = 0
    rescan: bool = True
    turn: int = 0
    retry: DelayedCall | None = None


def _load(
    engine: Engine, account: str, now: float, limit: int, after: tuple[int, int]
) -> tuple[list[PendingReceipt], list[PendingInbound]]:
    with read_only(engine) as conn:
        return (
            pending_receipts(conn, account, now, limit=limit, after_id=after[0]),
            pending_inbound(conn, account, now, limit=limit, after_id=after[1]),
        )


class ApplicationOutbox:
    """Delivers what each account is owed to its receiving binds on this node."""

    def __init__(
        self,
        *,
        clock: ReactorClock,
        engine: Engine,
        writer: OutboxWriter,
        run_blocking: BlockingRunner,
        elsewhere: Callable[[str], None] | None = None,
        read_batch: int = DEFAULT_OUTBOX_READ_BATCH,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        sweep_interval: float | None = DEFAULT_SWEEP_INTERVAL,
    ) -> None:
        if read_batch < 1:
            raise ValueError("read_batch must be at least 1")
        self._clock = clock
        self._engine = engine
        self._writer = writer
        self._run = run_blocking
        self._elsewhere = elsewhere
        self._batch = read_batch
        self._retry_delay = retry_delay
        self._sweep_interval = sweep_interval
        self._sweep: DelayedCall | None = None
        self._accounts: dict[str, _Account] = {}
        self._stopped = False

    # -- binds -------------------------------------------------------------

    def attach(self, account: str, link: DeliveryLink) -> None:
        """A receiver/transceiver bind of ``account`` is up: start delivering."""
        state = self._accounts.setdefault(account, _Account())
        if link not in state.links:
            state.links.append(link)
        state.rescan = True
        self.wake(account)

    def detach(self, account: str, link: DeliveryLink) -> None:
        state = self._accounts.get(account)
        if state is None or link not in state.links:
            return
        state.links.remove(link)
        if not state.links:
            # What was queued stays owed in the store; the next bind reads it again.
            self._cancel_retry(state)
            if not state.inflight and not state.reading:
                del self._accounts[account]
            else:
                state.queue.clear()
                state.queued.clear()

    def has_receiver(self, account: str) -> bool:
        state = self._accounts.get(account)
        return state is not None and bool(state.links)

    def in_flight(self, account: str) -> int:
        state = self._accounts.get(account)
        return 0 if state is None else len(state.inflight)

    # -- Outbox ----------------------------------------------------------------

    def wake(self, account: str, *, forward: bool = True) -> None:
        """Something was committed for ``account`` (or a bind has room): deliver.

        Without a receiving bind here, ``forward`` passes the wake-up on to
        ``elsewhere`` (off for wake-ups that came from another node).
        """
        if self._stopped:
            return
        state = self._accounts.get(account)
        if state is None or not state.links:
            if forward and self._elsewhere is not None:
                self._elsewhere(account)
            return
        state.again = True
        self._pump(account, state)

    def start(self) -> None:
        self._stopped = False
        self._arm_sweep()

    def stop(self) -> None:
        """No more deliveries; rows not yet acknowledged stay owed in the store."""
        self._stopped = True
        if self._sweep is not None and self._sweep.active():
            self._sweep.cancel()
        self._sweep = None
        for state in self._accounts.values():
            self._cancel_retry(state)
            state.queue.clear()
            state.queued.clear()

    # -- the pump ----------------------------------------------------------------

    def _pump(self, account: str, state: _Account) -> None:
        queue = state.queue
        while queue and not self._stopped:
            link = self._free_link(state)
            if link is None:
                return
            item = queue.popleft()
            state.queued.discard(item.key)
            state.inflight.add(item.key)
            d = link.send_request(item.pdu)
            d.addCallbacks(
                self._delivered,
                self._not_delivered,
                callbackArgs=(account, item),
                errbackArgs=(account, item),
            )
        if not queue and state.again and not state.reading and state.links and not self._stopped:
            self._read(account, state)

    @staticmethod
    def _free_link(state: _Account) -> DeliveryLink | None:
        links = state.links
        count = len(links)
        for step in range(count):
            link = links[(state.turn + step) % count]
            if link.can_send:
                state.turn = (state.turn + step + 1) % count
                return link
        return None

    def _read(self, account: str, state: _Account) -> None:
        state.reading = True
        state.again = False
        state.settled_during_read.clear()
        if state.rescan:
            state.rescan = False
            # Rows in flight or queued come back too and are skipped.
            limit = self._batch + len(state.inflight) + len(state.queued)
            after = (0, 0)
        else:
            limit = self._batch
            after = (state.receipt_mark, state.inbound_mark)
        d = self._run(_load, self._engine, account, self._clock.seconds(), limit, after)
        d.addCallbacks(
            self._loaded,
            self._load_failed,
            callbackArgs=(account, state, limit),
            errbackArgs=(account, state),
        )

    def _loaded(
        self,
        rows: tuple[Sequence[PendingReceipt], Sequence[PendingInbound]],
        account: str,
        state: _Account,
        limit: int,
    ) -> None:
        state.reading = False
        if self._accounts.get(account) is not state:
            return
        receipts, inbound = rows
        if receipts:
            state.receipt_mark = max(state.receipt_mark, receipts[-1].id)
        if inbound:
            state.inbound_mark = max(state.inbound_mark, inbound[-1].id)
        skip = state.inflight | state.queued | state.settled_during_read
        state.settled_during_read.clear()
        fresh: list[_Item] = []
        for receipt in receipts:
            key: _Key = ("receipt", receipt.id)
            if key not in skip:
                fresh.append(_Item(key, deliver_sm_for_receipt(receipt), receipt.done_at))
        for message in inbound:
            key = ("inbound", message.id)
            if key not in skip:
                fresh.append(_Item(key, deliver_sm_for_inbound(message), message.received_at))
        fresh.sort(key=lambda item: item.at)
        state.queue.extend(fresh)
        state.queued.update(item.key for item in fresh)
        if len(receipts) >= limit or len(inbound) >= limit:
            state.again = True
        if not state.links:
            self._forget_if_idle(account, state)
            return
        self._pump(account, state)

    def _load_failed(self, failure: Failure, account: str, state: _Account) -> None:
        state.reading = False
        state.rescan = True
        _log.failure("reading what {account} is owed failed", failure, account=account)
        self._retry_later(account, state)

    # -- answers -----------------------------------------------------------------

    def _delivered(self, _response: Pdu, account: str, item: _Item) -> None:
        kind, row_id = item.key
        self._record(account, item, MarkForwarded(kind, row_id, self._clock.seconds()))

    def _not_delivered(self, failure: Failure, account: str, item: _Item) -> None:
        error = failure.value
        if isinstance(error, CommandStatusError) and error.status in REFUSED_FOR_GOOD:
            kind, row_id = item.key
            _log.info(
                "{account} refused {kind} {row_id} for good (0x{status:08X})",
                account=account,
                kind=kind,
                row_id=row_id,
                status=error.status,
            )
            self._record(account, item, DropOwed(kind, row_id, self._clock.seconds()))
            return
        state = self._accounts.get(account)
        if state is None:
            return
        state.inflight.discard(item.key)
        self._retry_later(account, state)
        self._forget_if_idle(account, state)

    def _record(self, account: str, item: _Item, op: WriteOp[bool]) -> None:
        d = self._writer.submit(op)
        d.addCallbacks(
            self._recorded,
            self._record_failed,
            callbackArgs=(account, item),
            errbackArgs=(account, item),
        )

    def _recorded(self, _changed: bool, account: str, item: _Item) -> None:
        state = self._accounts.get(account)
        if state is None:
            return
        state.inflight.discard(item.key)
        if state.reading:
            state.settled_during_read.add(item.key)
        if state.links:
            self._pump(account, state)
        else:
            self._forget_if_idle(account, state)

    def _record_failed(self, failure: Failure, account: str, item: _Item) -> None:
        # Still owed in the store: offered again later (the application may
        # see it twice, which at-least-once delivery allows).
        _log.failure("recording {key} for {account} failed", failure, key=item.key, account=account)
        state = self._accounts.get(account)
        if state is None:
            return
        state.inflight.discard(item.key)
        self._retry_later(account, state)

    # -- timers ------------------------------------------------------------------

    def _retry_later(self, account: str, state: _Account) -> None:
        if self._stopped or not state.links:
            return
        if state.retry is not None and state.retry.active():
            return
        state.retry = self._clock.callLater(self._retry_delay, self._retry, account)

    def _retry(self, account: str) -> None:
        state = self._accounts.get(account)
        if state is not None:
            state.retry = None
            state.rescan = True
        self.wake(account, forward=False)

    @staticmethod
    def _cancel_retry(state: _Account) -> None:
        retry, state.retry = state.retry, None
        if retry is not None and retry.active():
            retry.cancel()

    def _forget_if_idle(self, account: str, state: _Account) -> None:
        idle = not state.links and not state.inflight and not state.reading
        if idle and self._accounts.get(account) is state:
            del self._accounts[account]

    def _arm_sweep(self) -> None:
        if self._sweep_interval is None or self._stopped:
            return
        self._sweep = self._clock.callLater(self._sweep_interval, self._do_sweep)

    def _do_sweep(self) -> None:
        self._sweep = None
        for account, state in list(self._accounts.items()):
            if state.links:
                state.rescan = True
                self.wake(account)
        self._arm_sweep()
