"""Carrier receipts: matched to our message, stored, passed on to the application.

How this works
--------------
A connector hands over each parsed receipt (``deliver_sm`` or ``data_sm``,
text or TLVs) through :meth:`ReceiptHandler.receipt`. The receipt's id is
turned into correlation keys with the connector's :class:`IdRule` (hex and
decimal spellings meet there), looked up in shared state (the dispatcher
put the keys there when the carrier accepted the part), and applied in one
write (:class:`~smppd.store.dispatchops.ApplyCarrierReceipt`): the part's
state, and the message's final state once every part is final, which also
creates the receipt the application asked for. Intermediate states
(ENROUTE, ACCEPTD, SCHEDLD) change nothing final. The Deferred fires after
that commit; the connector acknowledges the carrier then.

A receipt can overtake the commit of its own ``submit_sm_resp`` (the carrier
answers and reports in one breath). When neither shared state nor the
store's index knows the id, the match is tried again after each of
:data:`MATCH_RETRY_DELAYS`; the carrier is acknowledged after the first
:data:`ACK_AFTER_ATTEMPTS` tries so it is not kept waiting, and the receipt
is kept in memory (at most :data:`MAX_UNMATCHED`) for the remaining tries,
then logged and dropped.

After the commit, the application's bind is woken (:meth:`Outbox.wake`) and
the receipt hook (plugins) sees the final state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from smppd.clock import DelayedCall, ReactorClock
from smppd.connectors.base import CarrierReceipt
from smppd.dispatch.dispatcher import DEFAULT_ID_RULE, Writer
from smppd.pipeline import Outbox
from smppd.receipt import IdRule
from smppd.shared.interface import Correlations
from smppd.smpp.constants import MessageState
from smppd.store.dispatchops import ApplyCarrierReceipt, CarrierReceipts, ReceiptApplied
from smppd.store.lifecycle import State

__all__ = [
    "ACK_AFTER_ATTEMPTS",
    "MATCH_RETRY_DELAYS",
    "MAX_UNMATCHED",
    "RECEIPT_STATES",
    "ReceiptHandler",
    "ReceiptNotice",
]

# Seconds between tries to match a receipt whose id nobody knows yet.
MATCH_RETRY_DELAYS: Final = (0.05, 0.25, 1.0, 5.0, 30.0)
# Tries before the carrier is acknowledged for an unmatched receipt.
ACK_AFTER_ATTEMPTS: Final = 3
# Unmatched receipts kept in memory for further tries; beyond this they are logged at once.
MAX_UNMATCHED: Final = 10_000

# A carrier's message_state -> the part's final state; missing = intermediate.
RECEIPT_STATES: Final[Mapping[MessageState, State]] = {
    MessageState.DELIVERED: State.DELIVERED,
    MessageState.EXPIRED: State.EXPIRED,
    MessageState.DELETED: State.CANCELLED,
    MessageState.UNDELIVERABLE: State.UNDELIVERABLE,
    MessageState.REJECTED: State.REJECTED,
    # UNKNOWN is the SMSC's "no final outcome known": never delivered.
    MessageState.UNKNOWN: State.UNDELIVERABLE,
    MessageState.SKIPPED: State.UNDELIVERABLE,
}

_log = Logger(namespace="smppd.dispatch.receipts")


@dataclass(frozen=True, slots=True)
class ReceiptNotice:
    """What the receipt hook sees: a message reached its final state through a receipt."""

    message_id: str
    account: str
    state: State
    at: float
    error: str | None
    carrier_id: str
    connector: str


ReceiptHook = Callable[[ReceiptNotice], object]


def _no_hook(_: ReceiptNotice) -> None:
    return None


class ReceiptHandler:
    """``ConnectorSink.receipt``; see the module docstring."""

    def __init__(
        self,
        *,
        clock: ReactorClock,
        writer: Writer,
        outbox: Outbox,
        correlations: Correlations,
        id_rules: Mapping[str, IdRule] | None = None,
        receipt_hook: ReceiptHook = _no_hook,
        retry_delays: tuple[float, ...] = MATCH_RETRY_DELAYS,
        ack_after: int = ACK_AFTER_ATTEMPTS,
        max_unmatched: int = MAX_UNMATCHED,
    ) -> None:
        self._clock = clock
        self._writer = writer
        self._outbox = outbox
        self._correlations = correlations
        self._id_rules = dict(id_rules or {})
        self._hook = receipt_hook
        self._delays = retry_delays
        self._ack_after = max(1, min(ack_after, len(retry_delays) + 1))
        self._max_unmatched = max_unmatched
        self._batch: list[tuple[ApplyCarrierReceipt, Deferred[ReceiptApplied]]] = []
        self._flush_call: DelayedCall | None = None
        self.unmatched = 0  # receipts now waiting for another try
        self.dropped = 0  # receipts given up on

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        done: Deferred[None] = Deferred()
        self._attempt(receipt, 1, done)
        return done

    def _attempt(self, cr: CarrierReceipt, attempt: int, ack: Deferred[None]) -> None:
        rule = self._id_rules.get(cr.connector, DEFAULT_ID_RULE)
        keys = rule.lookup_keys(cr.receipt.message_id)
        applied: Deferred[ReceiptApplied] = self._hint(cr.connector, keys).addCallback(
            lambda hint: self._apply(cr, keys, hint)
        )
        applied.addCallback(self._applied, cr, attempt, ack).addErrback(self._failed, attempt, ack)

    def _hint(self, connector: str, keys: tuple[str, ...]) -> Deferred[tuple[str, int] | None]:
        if not keys:
            return succeed(None)

        def _next(
            value: str | None, index: int
        ) -> Deferred[tuple[str, int] | None] | tuple[str, int] | None:
            if value is not None:
                message_id, _, part = value.rpartition(" ")
                if message_id and part.isdigit():
                    return (message_id, int(part))
            if index + 1 >= len(keys):
                return None
            d = self._correlations.get_correlation(connector, keys[index + 1])
            return d.addCallback(_next, index + 1)

        return self._correlations.get_correlation(connector, keys[0]).addCallback(_next, 0)

    def _apply(
        self, cr: CarrierReceipt, keys: tuple[str, ...], hint: tuple[str, int] | None
    ) -> Deferred[ReceiptApplied]:
        r = cr.receipt
        op = ApplyCarrierReceipt(
            connector=cr.connector,
            keys=keys,
            state=RECEIPT_STATES.get(r.state),
            now=self._clock.seconds(),
            error_code=r.err_code,
            detail=f"carrier receipt {r.stat or r.state.name}",
            hint=hint,
        )
        d: Deferred[ReceiptApplied] = Deferred()
        self._batch.append((op, d))
        if self._flush_call is None:
            # One write for every receipt of this reactor turn.
            self._flush_call = self._clock.callLater(0, self._flush)
        return d

    def _flush(self) -> None:
        self._flush_call = None
        batch, self._batch = self._batch, []
        if not batch:
            return
        written = self._writer.submit(CarrierReceipts(tuple(op for op, _ in batch)))

        def _fan_out(results: list[ReceiptApplied]) -> None:
            for (_, d), result in zip(batch, results, strict=True):
                d.callback(result)

        def _fail_all(failure: Failure) -> None:
            for _, d in batch:
                d.errback(failure)

        written.addCallbacks(_fan_out, _fail_all)

    def _applied(
        self, result: ReceiptApplied, cr: CarrierReceipt, attempt: int, ack: Deferred[None]
    ) -> None:
        if result.matched:
            if RECEIPT_STATES.get(cr.receipt.state) is not None:
                # The part is final: its correlation has served. A carrier's
                # repeat of this receipt is still matched, through the store.
                self._forget(cr)
            if result.final is not None and result.account is not None:
                self._outbox.wake(result.account)
                self._notify(cr, result)
            if attempt > self._ack_after:
                self.unmatched -= 1
            _fire(ack)
            return
        if attempt > len(self._delays) or (
            attempt == self._ack_after and self.unmatched >= self._max_unmatched
        ):
            if attempt > self._ack_after:
                self.unmatched -= 1
            self.dropped += 1
            _log.warn(
                "receipt for unknown carrier id {carrier_id!r} on {connector} dropped"
                " after {attempts} tries",
                carrier_id=cr.receipt.message_id,
                connector=cr.connector,
                attempts=attempt,
            )
            _fire(ack)
            return
        if attempt == self._ack_after:
            # The carrier has waited long enough; the receipt stays in memory.
            self.unmatched += 1
            _fire(ack)
        self._clock.callLater(self._delays[attempt - 1], self._attempt, cr, attempt + 1, ack)

    def _forget(self, cr: CarrierReceipt) -> None:
        rule = self._id_rules.get(cr.connector, DEFAULT_ID_RULE)
        for key in rule.lookup_keys(cr.receipt.message_id):
            self._correlations.pop_correlation(cr.connector, key).addErrback(
                lambda f: _log.failure("forgetting a correlation failed", f)
            )

    def _notify(self, cr: CarrierReceipt, result: ReceiptApplied) -> None:
        assert result.final is not None and result.message_id and result.account
        notice = ReceiptNotice(
            message_id=result.message_id,
            account=result.account,
            state=result.final,
            at=cr.received_at,
            error=cr.receipt.err,
            carrier_id=cr.receipt.message_id,
            connector=cr.connector,
        )
        try:
            outcome = self._hook(notice)
        except Exception:
            _log.failure("receipt hook failed for {message_id}", message_id=result.message_id)
            return
        if isinstance(outcome, Deferred):
            outcome.addErrback(
                lambda f: _log.failure(
                    "receipt hook failed for {message_id}", f, message_id=result.message_id
                )
            )

    def _failed(self, failure: Failure, attempt: int, ack: Deferred[None]) -> None:
        if not ack.called:
            # Not committed: no acknowledgement, so the carrier sends it again.
            ack.errback(failure)
            return
        if attempt > self._ack_after:
            self.unmatched -= 1
        self.dropped += 1
        _log.failure("applying an acknowledged receipt failed", failure)


def _fire(ack: Deferred[None]) -> None:
    if not ack.called:
        ack.callback(None)
