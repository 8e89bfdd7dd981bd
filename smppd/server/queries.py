"""query_sm, cancel_sm and replace_sm: an application asking about, or
changing, a message it already submitted.

How this works: every answer comes from the store, never from memory, so it
is right on any node and after a restart. ``query_sm`` reads the message
off the reactor thread; ``cancel_sm`` and ``replace_sm`` go through the
group-commit writer as :mod:`smppd.store.appops` operations, which decide
under the message's lock whether a carrier already has it (then
``ESME_RCANCELFAIL`` / ``ESME_RREPLACEFAIL``). A message id we did not
issue, or one of another account, is ``ESME_RINVMSGID``. After a change the
dispatcher is told, so it drops its in-memory copy (and, for a replacement,
takes the new version).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from smppd.clock import ReactorClock
from smppd.pipeline import Accepted, Dispatch
from smppd.server.auth import BlockingRunner
from smppd.server.submit import REGISTERED_DELIVERY_BITS, Refusal, SubmitChecker
from smppd.smpp.constants import CommandStatus
from smppd.smpp.pdu import (
    CancelSm,
    CancelSmResp,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
)
from smppd.smpp.timefmt import format_absolute
from smppd.store.accounts import Account
from smppd.store.appops import (
    NOT_YET_TAKEN,
    CancelMessages,
    CancelRefused,
    MessageRecord,
    ReplaceMessage,
    ReplaceRefused,
    load_message,
)
from smppd.store.engine import read_only
from smppd.store.errors import UnknownMessage, WriterOverloaded
from smppd.store.ids import is_message_id
from smppd.store.lifecycle import smpp_message_state
from smppd.store.ops import WriteOp

__all__ = ["ApplicationQueries", "QueryWriter"]

_S = CommandStatus
_log = Logger(namespace="smppd.server.queries")
#: query_sm_resp's error_code is one octet; larger network codes are not shown.
MAX_QUERY_ERROR_CODE: Final = 0xFF

T = TypeVar("T")


class QueryWriter(Protocol):
    def submit(self, op: WriteOp[T]) -> Deferred[T]: ...


def _load(engine: Engine, message_id: str, account: str) -> MessageRecord | None:
    with read_only(engine) as conn:
        return load_message(conn, message_id, account)


def _error(request: Pdu, status: int) -> Pdu:
    return request.response(command_status=status)


def _write_failure_status(failure: Failure, refused: type[Exception], status: int) -> int:
    error = failure.value
    if isinstance(error, refused):
        return status
    if isinstance(error, UnknownMessage):
        return _S.ESME_RINVMSGID
    if isinstance(error, WriterOverloaded):
        return _S.ESME_RTHROTTLED
    _log.failure("store write failed", failure)
    return _S.ESME_RSYSERR


class ApplicationQueries:
    """Answers query_sm, cancel_sm and replace_sm for one account's bind."""

    def __init__(
        self,
        *,
        clock: ReactorClock,
        engine: Engine,
        writer: QueryWriter,
        run_blocking: BlockingRunner,
        checker: SubmitChecker,
        dispatch: Dispatch,
    ) -> None:
        self._clock = clock
        self._engine = engine
        self._writer = writer
        self._run = run_blocking
        self._checker = checker
        self._dispatch = dispatch

    # -- query_sm ----------------------------------------------------------------

    def query(self, pdu: QuerySm, account: Account) -> Deferred[Pdu]:
        if not is_message_id(pdu.message_id):
            return succeed(_error(pdu, _S.ESME_RINVMSGID))
        d = self._run(_load, self._engine, pdu.message_id, account.system_id)
        return d.addCallbacks(
            self._answer_query, self._query_failed, callbackArgs=(pdu,), errbackArgs=(pdu,)
        )

    @staticmethod
    def _answer_query(record: MessageRecord | None, pdu: QuerySm) -> Pdu:
        if record is None:
            return _error(pdu, _S.ESME_RINVMSGID)
        final_date = ""
        if record.finished_at is not None:
            final_date = format_absolute(datetime.fromtimestamp(record.finished_at, UTC))
        code = record.error_code or 0
        return QuerySmResp(
            sequence_number=pdu.sequence_number,
            message_id=record.id,
            final_date=final_date,
            message_state=int(smpp_message_state(record.state)),
            error_code=code if 0 <= code <= MAX_QUERY_ERROR_CODE else 0,
        )

    @staticmethod
    def _query_failed(failure: Failure, pdu: QuerySm) -> Pdu:
        _log.failure("query_sm read failed", failure)
        return _error(pdu, _S.ESME_RQUERYFAIL)

    # -- cancel_sm ----------------------------------------------------------------

    def cancel(self, pdu: CancelSm, account: Account) -> Deferred[Pdu]:
        message_id: str | None = pdu.message_id
        source = dest = ""
        if message_id:
            if not is_message_id(message_id):
                return succeed(_error(pdu, _S.ESME_RINVMSGID))
        else:
            # No id: every message from this source to this destination (§4.9.1).
            message_id = None
            found_source = self._checker.stored_address(
                pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr, source=True
            )
            found_dest = self._checker.stored_address(
                pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr, source=False
            )
            for found in (found_source, found_dest):
                if isinstance(found, Refusal):
                    return succeed(_error(pdu, found.status))
            assert isinstance(found_source, str) and isinstance(found_dest, str)
            source, dest = found_source, found_dest
        op = CancelMessages(account.system_id, message_id, source, dest, self._clock.seconds())
        d = self._writer.submit(op)
        return d.addCallbacks(
            self._cancelled, self._cancel_failed, callbackArgs=(pdu,), errbackArgs=(pdu,)
        )

    def _cancelled(self, ids: tuple[str, ...], pdu: CancelSm) -> Pdu:
        for message_id in ids:
            self._dispatch.cancelled(message_id)
        return CancelSmResp(sequence_number=pdu.sequence_number)

    @staticmethod
    def _cancel_failed(failure: Failure, pdu: CancelSm) -> Pdu:
        return _error(pdu, _write_failure_status(failure, CancelRefused, _S.ESME_RCANCELFAIL))

    # -- replace_sm ----------------------------------------------------------------

    def replace(self, pdu: ReplaceSm, account: Account) -> Deferred[Pdu]:
        if not is_message_id(pdu.message_id):
            return succeed(_error(pdu, _S.ESME_RINVMSGID))
        if pdu.sm_default_msg_id:
            return succeed(_error(pdu, _S.ESME_RINVDFTMSGID))
        if pdu.registered_delivery & ~REGISTERED_DELIVERY_BITS:
            return succeed(_error(pdu, _S.ESME_RINVREGDLVFLG))
        times = self._checker.times(
            pdu.schedule_delivery_time, pdu.validity_period, self._clock.seconds()
        )
        if isinstance(times, Refusal):
            return succeed(_error(pdu, times.status))
        d = self._run(_load, self._engine, pdu.message_id, account.system_id)
        return d.addCallbacks(
            self._replace_loaded,
            self._replace_failed,
            callbackArgs=(pdu, account, times),
            errbackArgs=(pdu,),
        )

    def _replace_loaded(
        self,
        record: MessageRecord | None,
        pdu: ReplaceSm,
        account: Account,
        times: tuple[float | None, float | None],
    ) -> Pdu | Deferred[Pdu]:
        if record is None:
            return _error(pdu, _S.ESME_RINVMSGID)
        if record.state not in NOT_YET_TAKEN:
            return _error(pdu, _S.ESME_RREPLACEFAIL)
        content = self._checker.replacement(
            pdu.short_message, record.data_coding, record.esm_class, record.route, record.dest_addr
        )
        if isinstance(content, Refusal):
            return _error(pdu, content.status)
        payload, parts, text, data_coding, esm_class = content
        schedule_at, validity_at = times
        op = ReplaceMessage(
            account=account.system_id,
            message_id=record.id,
            payload=payload,
            parts=parts,
            text=text,
            registered_delivery=pdu.registered_delivery,
            schedule_at=schedule_at,
            validity_at=validity_at,
            now=self._clock.seconds(),
            esm_class=esm_class,
            data_coding=data_coding,
        )
        d: Deferred[Any] = self._writer.submit(op)
        return d.addCallbacks(
            self._replaced, self._replace_write_failed, callbackArgs=(pdu,), errbackArgs=(pdu,)
        )

    def _replaced(self, record: MessageRecord, pdu: ReplaceSm) -> Pdu:
        self._dispatch.cancelled(record.id)
        if record.route is not None:
            self._dispatch.accepted(
                [
                    Accepted(
                        message_id=record.id,
                        account=record.account,
                        route=record.route,
                        not_before=record.schedule_at,
                        expires_at=record.validity_at,
                    )
                ]
            )
        return ReplaceSmResp(sequence_number=pdu.sequence_number)

    @staticmethod
    def _replace_write_failed(failure: Failure, pdu: ReplaceSm) -> Pdu:
        return _error(pdu, _write_failure_status(failure, ReplaceRefused, _S.ESME_RREPLACEFAIL))

    @staticmethod
    def _replace_failed(failure: Failure, pdu: ReplaceSm) -> Pdu:
        _log.failure("replace_sm read failed", failure)
        return _error(pdu, _S.ESME_RREPLACEFAIL)
