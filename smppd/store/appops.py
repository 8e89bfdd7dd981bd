"""What an application may do to its own messages after acceptance, and the
server's bookkeeping of what it owes applications.

* :func:`load_message` — the record ``query_sm`` answers from (and the
  checks ``replace_sm`` makes before re-splitting a text);
* :class:`CancelMessages` — ``cancel_sm``: one message by id, or every
  message from one source to one destination;
* :class:`ReplaceMessage` — ``replace_sm``: new text (parts), receipt request,
  schedule and validity for a message no carrier has taken yet;
* :class:`DropOwed` — an application refused a receipt or inbound message
  for good (``ESME_RX_P_APPN`` / ``ESME_RX_R_APPN``): stop offering it.

Only messages that are still ours alone (``accepted``, ``scheduled``,
``queued``) can be cancelled or replaced: once a carrier holds a part we
cannot take it back, so those refuse with :class:`CancelRefused` /
:class:`ReplaceRefused` (``ESME_RCANCELFAIL`` / ``ESME_RREPLACEFAIL``). A
message of another account is treated as unknown, so an application cannot
probe for other applications' ids. Every refusal is raised before anything
is written, as the group-commit writer requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import Connection, delete, insert, select, update

from smppd.store import models as m
from smppd.store.errors import StoreError, UnknownMessage
from smppd.store.lifecycle import State
from smppd.store.ops import PART_PENDING, WriteOp, move_message, ms

__all__ = [
    "MAX_BULK_CANCEL",
    "NOT_YET_TAKEN",
    "CancelMessages",
    "CancelRefused",
    "DropOwed",
    "MessageRecord",
    "ReplaceMessage",
    "ReplaceRefused",
    "load_message",
]

#: States in which no carrier holds any part: cancel and replace still work.
NOT_YET_TAKEN: Final = frozenset({State.ACCEPTED, State.SCHEDULED, State.QUEUED})
#: Messages one cancel_sm by (source, destination) may cancel at once; more
#: would hold the writer's transaction for too long.
MAX_BULK_CANCEL: Final = 1000
_REPLACED_DETAIL: Final = "replaced by the application (replace_sm)"


class CancelRefused(StoreError):
    """No message could be cancelled: a carrier already has it, or it is finished."""


class ReplaceRefused(StoreError):
    """The message can no longer be replaced: a carrier already has it, or it is finished."""


def _s(value: int | None) -> float | None:
    return None if value is None else value / 1000


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One stored message as its application may see it."""

    id: str
    account: str
    state: State
    source_addr: str
    dest_addr: str
    data_coding: int
    esm_class: int
    registered_delivery: int
    route: str | None
    schedule_at: float | None
    validity_at: float | None
    error_code: int | None
    accepted_at: float
    finished_at: float | None


_RECORD_COLUMNS: Final = tuple(
    m.messages.c[name]
    for name in (
        "id",
        "account",
        "state",
        "source_addr",
        "dest_addr",
        "data_coding",
        "esm_class",
        "registered_delivery",
        "route",
        "schedule_at",
        "validity_at",
        "error_code",
        "accepted_at",
        "finished_at",
    )
)


def _record(row: Any) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        account=row.account,
        state=State(row.state),
        source_addr=row.source_addr,
        dest_addr=row.dest_addr,
        data_coding=row.data_coding,
        esm_class=row.esm_class,
        registered_delivery=row.registered_delivery,
        route=row.route,
        schedule_at=_s(row.schedule_at),
        validity_at=_s(row.validity_at),
        error_code=row.error_code,
        accepted_at=row.accepted_at / 1000,
        finished_at=_s(row.finished_at),
    )


def load_message(conn: Connection, message_id: str, account: str) -> MessageRecord | None:
    """The message ``message_id`` if it belongs to ``account``, else None."""
    row = conn.execute(
        select(*_RECORD_COLUMNS).where(
            m.messages.c.id == message_id, m.messages.c.account == account
        )
    ).one_or_none()
    return None if row is None else _record(row)


def _lock_own(conn: Connection, message_id: str, account: str) -> Any:
    query = select(*_RECORD_COLUMNS).where(m.messages.c.id == message_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None or row.account != account:
        raise UnknownMessage(message_id)
    return row


@dataclass(frozen=True, slots=True)
class CancelMessages(WriteOp[tuple[str, ...]]):
    """cancel_sm: the result is the ids cancelled (never empty: else a refusal).

    With ``message_id`` that one message; without, every message of
    ``account`` from ``source_addr`` to ``dest_addr`` no carrier has taken
    (SMPP 3.4 §4.9.1).
    """

    account: str
    message_id: str | None
    source_addr: str
    dest_addr: str
    now: float

    def apply(self, conn: Connection) -> tuple[str, ...]:
        if self.message_id is not None:
            row = _lock_own(conn, self.message_id, self.account)
            state = State(row.state)
            if state not in NOT_YET_TAKEN:
                raise CancelRefused(f"message {self.message_id} is {state}")
            move_message(conn, self.message_id, State.CANCELLED, self.now, detail="cancel_sm")
            return (self.message_id,)
        c = m.messages.c
        query = (
            select(c.id)
            .where(
                c.account == self.account,
                c.source_addr == self.source_addr,
                c.dest_addr == self.dest_addr,
                c.state.in_([s.value for s in NOT_YET_TAKEN]),
            )
            .order_by(c.id)
            .limit(MAX_BULK_CANCEL)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        ids = tuple(conn.execute(query).scalars())
        if not ids:
            raise CancelRefused(
                f"no message from {self.source_addr} to {self.dest_addr} can be cancelled"
            )
        for message_id in ids:
            move_message(conn, message_id, State.CANCELLED, self.now, detail="cancel_sm")
        return ids


@dataclass(frozen=True, slots=True)
class ReplaceMessage(WriteOp[MessageRecord]):
    """replace_sm: the result is the message as it now stands.

    ``schedule_at`` / ``validity_at`` of None keep the original values (an
    empty field in replace_sm means "unchanged", SMPP 3.4 §4.10.1).
    """

    account: str
    message_id: str
    payload: bytes
    parts: tuple[bytes, ...]
    text: str | None
    registered_delivery: int
    schedule_at: float | None
    validity_at: float | None
    now: float
    esm_class: int | None = None
    data_coding: int | None = None

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a message has at least one part")

    def apply(self, conn: Connection) -> MessageRecord:
        row = _lock_own(conn, self.message_id, self.account)
        state = State(row.state)
        if state not in NOT_YET_TAKEN:
            raise ReplaceRefused(f"message {self.message_id} is {state}")
        at = ms(self.now)
        values: dict[str, Any] = {
            "payload": self.payload,
            "text": self.text,
            "part_count": len(self.parts),
            "registered_delivery": self.registered_delivery,
            "updated_at": at,
        }
        if self.esm_class is not None:
            values["esm_class"] = self.esm_class
        if self.data_coding is not None:
            values["data_coding"] = self.data_coding
        if self.validity_at is not None:
            values["validity_at"] = ms(self.validity_at)
        if self.schedule_at is not None:
            values["schedule_at"] = ms(self.schedule_at)
            if state is not State.ACCEPTED:
                values["next_attempt_at"] = ms(self.schedule_at)
        c = m.messages.c
        conn.execute(update(m.messages).where(c.id == self.message_id).values(**values))
        parts = m.message_parts
        conn.execute(delete(parts).where(parts.c.message_id == self.message_id))
        conn.execute(
            insert(parts),
            [
                {
                    "message_id": self.message_id,
                    "part_no": no,
                    "payload": payload,
                    "state": PART_PENDING,
                    "updated_at": at,
                }
                for no, payload in enumerate(self.parts, start=1)
            ],
        )
        conn.execute(
            insert(m.message_transitions).values(
                message_id=self.message_id,
                from_state=state.value,
                to_state=state.value,
                at=at,
                error_code=None,
                detail=_REPLACED_DETAIL,
            )
        )
        record = _record(row)
        return MessageRecord(
            id=record.id,
            account=record.account,
            state=record.state,
            source_addr=record.source_addr,
            dest_addr=record.dest_addr,
            data_coding=record.data_coding if self.data_coding is None else self.data_coding,
            esm_class=record.esm_class if self.esm_class is None else self.esm_class,
            registered_delivery=self.registered_delivery,
            route=record.route,
            schedule_at=record.schedule_at if self.schedule_at is None else self.schedule_at,
            validity_at=record.validity_at if self.validity_at is None else self.validity_at,
            error_code=record.error_code,
            accepted_at=record.accepted_at,
            finished_at=record.finished_at,
        )


@dataclass(frozen=True, slots=True)
class DropOwed(WriteOp[bool]):
    """Stop offering a receipt or inbound message the application refused for good."""

    kind: Literal["receipt", "inbound"]
    row_id: int
    now: float

    def apply(self, conn: Connection) -> bool:
        table = m.receipts if self.kind == "receipt" else m.inbound_messages
        t = table.c
        result = conn.execute(
            update(table)
            .where(t.id == self.row_id, t.forwarded_at.is_(None), t.dropped_at.is_(None))
            .values(dropped_at=ms(self.now), attempts=t.attempts + 1)
        )
        return bool(result.rowcount == 1)
