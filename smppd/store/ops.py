"""Write operations: the only code that changes messages, receipts and inbound rows.

Each operation is a small frozen value with ``apply(conn)``; the group-commit
writer (:mod:`smppd.store.writer`) runs many of them in one transaction.
Operations whose class sets ``batchable`` are applied in runs of the same
class through ``apply_many`` (the hot path of accepting messages: multi-row
INSERTs on SQLite, COPY on PostgreSQL). An operation that refuses (a :class:`StoreError`, such as
an invalid lifecycle transition) does so before writing anything, so the rest
of its batch still commits.

Times are given as seconds since the epoch (``clock.seconds()``) and stored as
integer milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, ClassVar, Final, Generic, Literal, TypeVar

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from smppd.store import models as m
from smppd.store.errors import StoreError, UnknownMessage
from smppd.store.lifecycle import TERMINAL, State, check_transition

T = TypeVar("T")

# How long a receipt waits for its application to bind and take it.
RECEIPT_HOLD_SECONDS: Final = 72 * 3600
# registered_delivery bits 0-1 (SMPP 3.4 §5.2.17): which final outcomes want a receipt.
_RD_MASK: Final = 0x03
_RD_ANY: Final = 0x01
_RD_FAILURE: Final = 0x02
_RD_SUCCESS: Final = 0x03  # SMPP 5.0


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def ms_or_none(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


class WriteOp(Generic[T]):
    """One unit of work for the writer; ``apply`` runs inside its transaction."""

    __slots__ = ()
    batchable: ClassVar[bool] = False

    def apply(self, conn: Connection) -> T:
        raise TypeError(f"{type(self).__name__} does not define apply()")

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[WriteOp[T]]) -> list[T]:
        return [op.apply(conn) for op in ops]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as accepted from an application, before it is stored."""

    id: str
    account: str
    source_addr: str
    dest_addr: str
    payload: bytes
    parts: tuple[bytes, ...]
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 1
    dest_npi: int = 1
    data_coding: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    registered_delivery: int = 0
    priority: int = 0
    schedule_at: float | None = None
    validity_at: float | None = None
    text: str | None = None
    traffic_class: Literal["transactional", "marketing"] = "transactional"
    route: str | None = None
    connector: str | None = None

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a message has at least one part")


@dataclass(frozen=True, slots=True)
class AcceptMessage(WriteOp[str]):
    """Store a new message in state ``accepted``; the result is its id."""

    message: NewMessage
    now: float
    batchable: ClassVar[bool] = True

    def apply(self, conn: Connection) -> str:
        return AcceptMessage.apply_many(conn, [self])[0]

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[WriteOp[str]]) -> list[str]:
        # The hot path, written at the driver level from plain tuples: building
        # SQLAlchemy parameter dicts per row cost more than SQLite's own work.
        message_rows: list[tuple[Any, ...]] = []
        part_rows: list[tuple[Any, ...]] = []
        accepted = State.ACCEPTED.value
        for op in ops:
            assert isinstance(op, AcceptMessage)
            msg, now = op.message, ms(op.now)
            message_rows.append(
                (
                    msg.id,
                    msg.account,
                    msg.source_addr,
                    msg.source_ton,
                    msg.source_npi,
                    msg.dest_addr,
                    msg.dest_ton,
                    msg.dest_npi,
                    msg.data_coding,
                    msg.esm_class,
                    msg.protocol_id,
                    msg.registered_delivery,
                    msg.priority,
                    ms_or_none(msg.schedule_at),
                    ms_or_none(msg.validity_at),
                    msg.text,
                    msg.payload,
                    len(msg.parts),
                    msg.traffic_class,
                    msg.route,
                    msg.connector,
                    accepted,
                    0,
                    now,
                    now,
                )
            )
            part_rows.extend(
                (msg.id, no, payload, PART_PENDING, now)
                for no, payload in enumerate(msg.parts, start=1)
            )
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            # COPY is several times faster than a pipelined executemany.
            _copy_rows(conn, m.messages, _MESSAGE_COLUMNS, message_rows)
            _copy_rows(conn, m.message_parts, _PART_COLUMNS, part_rows)
        else:
            _insert_rows(conn, m.messages, _MESSAGE_COLUMNS, message_rows)
            _insert_rows(conn, m.message_parts, _PART_COLUMNS, part_rows)
        return [row[0] for row in message_rows]


@dataclass(frozen=True, slots=True)
class AcceptMessageOnce(WriteOp[bool]):
    """Store a new message unless its id is stored already; True if stored now.

    For ids derived from an idempotency key (a plugin's reply or keyed
    send): submitting the same message again, after a crash re-ran the
    plugin, stores nothing. Looked up first, then inserted as
    :class:`AcceptMessage` does; the writer applies one operation at a time,
    and two gateway nodes racing on one PostgreSQL database meet at the
    primary key (the loser's retry then finds the row).
    """

    message: NewMessage
    now: float

    def apply(self, conn: Connection) -> bool:
        found = conn.execute(
            select(m.messages.c.id).where(m.messages.c.id == self.message.id)
        ).first()
        if found is not None:
            return False
        AcceptMessage.apply_many(conn, [AcceptMessage(self.message, self.now)])
        return True


@dataclass(frozen=True, slots=True)
class RejectMessage(WriteOp[str]):
    """Store a new message directly as ``rejected``; the result is its id.

    A message a plugin refused with a receipt: the application was answered
    as if it were accepted, so it is stored, never sent, and its final state
    makes the receipt its ``registered_delivery`` asks for (REJECTD, with
    ``error_code``), which the outbox forwards like any other.
    """

    message: NewMessage
    now: float
    error_code: int
    detail: str

    def apply(self, conn: Connection) -> str:
        msg = self.message
        AcceptMessage.apply_many(conn, [AcceptMessage(msg, self.now)])
        move_message(
            conn,
            msg.id,
            State.REJECTED,
            self.now,
            error_code=self.error_code,
            detail=self.detail or None,
        )
        parts = m.message_parts
        conn.execute(
            update(parts)
            .where(parts.c.message_id == msg.id)
            .values(state=State.REJECTED.value, updated_at=ms(self.now))
        )
        return msg.id


class CallbackFailed(StoreError):
    """The function of a :class:`CallInTransaction` raised ``error``.

    A :class:`StoreError`, so the writer fails this operation alone and
    commits the rest of its group; nothing the function wrote is kept.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


@dataclass(frozen=True, slots=True)
class CallInTransaction(WriteOp[T]):
    """Run ``fn(conn)`` inside the writer's transaction; the result is fn's.

    ``fn`` runs inside a savepoint: when it raises, what it wrote is rolled
    back and the exception comes back as :class:`CallbackFailed`, so its
    neighbours in the group still commit. When the group's commit fails for
    another reason the writer runs each operation again on its own, so
    ``fn`` may run twice; the first run left nothing behind.
    """

    fn: Callable[[Connection], T]

    def apply(self, conn: Connection) -> T:
        try:
            with conn.begin_nested():
                return self.fn(conn)
        except Exception as exc:
            raise CallbackFailed(exc) from exc


# Column order of the tuples built by AcceptMessage.apply_many; the columns
# left out take NULL. Acceptance is stamped by messages.accepted_at, not by a
# message_transitions row: that keeps the hot path at one row per message and
# one per part (admin views show it as the first transition).
_MESSAGE_COLUMNS: Final = (
    "id",
    "account",
    "source_addr",
    "source_ton",
    "source_npi",
    "dest_addr",
    "dest_ton",
    "dest_npi",
    "data_coding",
    "esm_class",
    "protocol_id",
    "registered_delivery",
    "priority",
    "schedule_at",
    "validity_at",
    "text",
    "payload",
    "part_count",
    "traffic_class",
    "route",
    "connector",
    "state",
    "attempts",
    "accepted_at",
    "updated_at",
)
_PART_COLUMNS: Final = ("message_id", "part_no", "payload", "state", "updated_at")
_PLACEHOLDERS: Final = {"qmark": "?", "format": "%s", "pyformat": "%s"}
# Rows per multi-row INSERT; SQLite allows 32766 parameters per statement (3.32+).
INSERT_CHUNK_ROWS: Final = 256
SQLITE_MAX_PARAMETERS: Final = 32_766
INSERT_SQL_CACHE_SIZE: Final = 1024
# Row ids one statement of MarkForwarded / move_many names at most.
MARK_CHUNK: Final = 500
MOVE_CHUNK: Final = 500
_insert_cache: dict[tuple[str, str, tuple[str, ...], int], str] = {}


def _copy_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    quote = conn.dialect.identifier_preparer.quote
    sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    driver_connection: Any = conn.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _insert_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Multi-row ``INSERT .. VALUES (..), (..)`` in chunks.

    One statement per chunk instead of one step per row: besides saving
    SQLite's per-row overhead, the driver releases the GIL once per statement
    rather than once per row, so the reactor thread and the writer do not
    convoy on the GIL.
    """
    per_chunk = max(1, min(INSERT_CHUNK_ROWS, SQLITE_MAX_PARAMETERS // len(columns)))
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start : start + per_chunk]
        params = tuple(chain.from_iterable(chunk))
        conn.exec_driver_sql(_insert_sql(conn, table, columns, len(chunk)), params)


def _insert_sql(conn: Connection, table: Table, columns: tuple[str, ...], count: int) -> str:
    dialect = conn.dialect
    key = (dialect.name, table.name, columns, count)
    sql = _insert_cache.get(key)
    if sql is None:
        placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
        if placeholder is None:
            raise RuntimeError(f"unsupported DB-API paramstyle {dialect.paramstyle!r}")
        quote = dialect.identifier_preparer.quote
        row = f"({', '.join([placeholder] * len(columns))})"
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES {', '.join([row] * count)}"
        )
        if len(_insert_cache) >= INSERT_SQL_CACHE_SIZE:
            _insert_cache.clear()
        _insert_cache[key] = sql
    return sql


# Part states: a part is pending until a carrier takes it, then follows the
# carrier's receipts.
PART_PENDING: Final = "pending"
PART_SUBMITTED: Final = "submitted"


def wants_receipt(registered_delivery: int, final: State) -> bool:
    """Whether a message's final state owes its application a delivery receipt."""
    rd = registered_delivery & _RD_MASK
    success = final is State.DELIVERED
    if rd == _RD_ANY:
        return True
    if rd == _RD_FAILURE:
        return not success
    if rd == _RD_SUCCESS:
        return success
    return False


def _lock_message(conn: Connection, message_id: str) -> Any:
    query = select(
        m.messages.c.state,
        m.messages.c.account,
        m.messages.c.registered_delivery,
        m.messages.c.validity_at,
        m.messages.c.attempts,
    ).where(m.messages.c.id == message_id)
    if conn.dialect.name == "postgresql":
        # Several gateway nodes may share one PostgreSQL database.
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        raise UnknownMessage(message_id)
    return row


def move_message(
    conn: Connection,
    message_id: str,
    to: State,
    now: float,
    *,
    error_code: int | None = None,
    detail: str | None = None,
    next_attempt_at: float | None = None,
    route: str | None = None,
    connector: str | None = None,
    receipt_hold_seconds: float = RECEIPT_HOLD_SECONDS,
) -> State:
    """Apply one lifecycle transition inside ``conn``'s transaction.

    Checks the transition first (raising before any write), stamps it in the
    history, counts attempts on retries, sets ``finished_at`` on terminal
    states and creates the receipt the application asked for. Returns the
    state the message was in.
    """
    row = _lock_message(conn, message_id)
    current = State(row.state)
    check_transition(message_id, current, to)
    at = ms(now)
    values: dict[str, Any] = {"state": to.value, "updated_at": at}
    if error_code is not None or detail is not None:
        values["error_code"] = error_code
        values["error_detail"] = detail[: m.DETAIL_MAX] if detail else None
    if current is State.QUEUED and to is State.QUEUED:
        values["attempts"] = row.attempts + 1
    if to in (State.QUEUED, State.SCHEDULED):
        values["next_attempt_at"] = ms(now if next_attempt_at is None else next_attempt_at)
    else:
        values["next_attempt_at"] = None
    if route is not None:
        values["route"] = route
    if connector is not None:
        values["connector"] = connector
    if to in TERMINAL:
        values["finished_at"] = at
    conn.execute(update(m.messages).where(m.messages.c.id == message_id).values(**values))
    conn.execute(
        insert(m.message_transitions).values(
            message_id=message_id,
            from_state=current.value,
            to_state=to.value,
            at=at,
            error_code=error_code,
            detail=detail[: m.DETAIL_MAX] if detail else None,
        )
    )
    if to in TERMINAL and wants_receipt(row.registered_delivery, to):
        expires = at + int(receipt_hold_seconds * 1000)
        conn.execute(
            insert(m.receipts).values(
                message_id=message_id,
                account=row.account,
                state=to.value,
                error_code=error_code,
                created_at=at,
                expires_at=expires,
                attempts=0,
                forwarded_at=None,
                dropped_at=None,
            )
        )
    return current


def move_many(
    conn: Connection,
    message_ids: Sequence[str],
    current: State,
    to: State,
    now: float,
    *,
    next_attempt_at: float | None = None,
) -> int:
    """Move many messages from ``current`` to a non-terminal ``to`` in two statements.

    Messages no longer in ``current`` are left alone (and not counted). Used by
    recovery, where thousands of messages take the same step at once.
    """
    if to in TERMINAL:
        raise ValueError("terminal transitions go through move_message (receipts)")
    for message_id in message_ids[:1]:
        check_transition(message_id, current, to)
    if not message_ids:
        return 0
    at = ms(now)
    due = ms(now if next_attempt_at is None else next_attempt_at)
    # Driver-level statements: the dispatcher claims every handed-over message
    # through here, and building SQLAlchemy expressions per claim cost more
    # than the database's own work.
    ph = _PLACEHOLDERS[conn.dialect.paramstyle]
    ids = list(message_ids)
    moved: list[str] = []
    for start in range(0, len(ids), MOVE_CHUNK):
        chunk = ids[start : start + MOVE_CHUNK]
        moved += conn.exec_driver_sql(
            f"UPDATE messages SET state = {ph}, updated_at = {ph}, next_attempt_at = {ph}"
            f" WHERE state = {ph} AND id IN ({', '.join([ph] * len(chunk))}) RETURNING id",
            (to.value, at, due, current.value, *chunk),
        ).scalars()
    if moved:
        conn.exec_driver_sql(
            "INSERT INTO message_transitions"
            " (message_id, from_state, to_state, at, error_code, detail)"
            f" VALUES ({ph}, {ph}, {ph}, {ph}, NULL, NULL)",
            [(message_id, current.value, to.value, at) for message_id in moved],
        )
    return len(moved)


@dataclass(frozen=True, slots=True)
class Transition(WriteOp[State]):
    """Move a message to another lifecycle state; the result is the state it left."""

    message_id: str
    to: State
    now: float
    error_code: int | None = None
    detail: str | None = None
    next_attempt_at: float | None = None
    route: str | None = None
    connector: str | None = None

    def apply(self, conn: Connection) -> State:
        return move_message(
            conn,
            self.message_id,
            self.to,
            self.now,
            error_code=self.error_code,
            detail=self.detail,
            next_attempt_at=self.next_attempt_at,
            route=self.route,
            connector=self.connector,
        )


@dataclass(frozen=True, slots=True)
class PartSubmitted(WriteOp[bool]):
    """A carrier accepted one part and gave it an id.

    When every part of a queued message has a carrier id the message moves to
    ``submitted``; the result says whether that happened.
    """

    message_id: str
    part_no: int
    connector: str
    carrier_message_id: str
    now: float

    def apply(self, conn: Connection) -> bool:
        row = _lock_message(conn, self.message_id)
        state = State(row.state)
        if state is not State.QUEUED:
            check_transition(self.message_id, state, State.SUBMITTED)
        at = ms(self.now)
        parts = m.message_parts
        result = conn.execute(
            update(parts)
            .where(parts.c.message_id == self.message_id, parts.c.part_no == self.part_no)
            .values(
                connector=self.connector,
                carrier_message_id=self.carrier_message_id,
                state=PART_SUBMITTED,
                submitted_at=at,
                updated_at=at,
            )
        )
        if result.rowcount != 1:
            raise StoreError(f"message {self.message_id} has no part {self.part_no}")
        pending = conn.execute(
            select(func.count())
            .select_from(parts)
            .where(parts.c.message_id == self.message_id, parts.c.carrier_message_id.is_(None))
        ).scalar_one()
        if pending:
            return False
        move_message(conn, self.message_id, State.SUBMITTED, self.now, connector=self.connector)
        return True


# Statements of the inbound hot path, built once per dialect and table and
# executed with parameters: building a SQLAlchemy statement per message (its
# cache key, coercions, bind parameters) cost more writer time than SQLite's
# own work for the statement.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def insert_ignore_statement(conn: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <key>`` for ``table``, built once.

    The key is the ``id`` column, or the first primary-key column of a table
    without one. Run it with a row's values: it returns a row only when the
    insert happened (rowcount is not reliable for INSERT .. ON CONFLICT on
    every driver; RETURNING is).
    """
    key = (conn.dialect.name, f"insert-or-ignore {table.name}")
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        dialect_insert = postgresql.insert if key[0] == "postgresql" else sqlite.insert
        returned = table.c.id if "id" in table.c else next(iter(table.primary_key.columns))
        stmt = dialect_insert(table).on_conflict_do_nothing().returning(returned)
        _STATEMENTS[key] = stmt
    return stmt


def _insert_ignoring_duplicates(conn: Connection, table: Table, row: dict[str, Any]) -> bool:
    """INSERT that does nothing on a primary-key conflict; True if a row was added."""
    return conn.execute(insert_ignore_statement(conn, table), row).first() is not None


@dataclass(frozen=True, slots=True)
class SeenInbound(WriteOp[bool]):
    """Record a carrier PDU's fingerprint; False if it was already seen (a re-send)."""

    connector: str
    fingerprint: str
    now: float

    def apply(self, conn: Connection) -> bool:
        return _insert_ignoring_duplicates(
            conn,
            m.inbound_fingerprints,
            {
                "connector": self.connector,
                "fingerprint": self.fingerprint[: m.FINGERPRINT_MAX],
                "seen_at": ms(self.now),
            },
        )


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a subscriber (MO), routed to one application."""

    account: str
    connector: str
    source_addr: str
    dest_addr: str
    payload: bytes
    carrier_message_id: str | None = None
    source_ton: int = 1
    source_npi: int = 1
    dest_ton: int = 0
    dest_npi: int = 0
    data_coding: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    text: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoreInbound(WriteOp["int | None"]):
    """Keep an inbound message for its application, once per fingerprint.

    The result is the new row's id, or None when the fingerprint was already
    seen (the carrier re-sent the PDU): acknowledge it, do not deliver it again.
    """

    message: InboundMessage
    fingerprint: str
    now: float

    def apply(self, conn: Connection) -> int | None:
        msg = self.message
        if not SeenInbound(msg.connector, self.fingerprint, self.now).apply(conn):
            return None
        stmt = _STATEMENTS.get(("", "insert inbound_messages"))
        if stmt is None:
            stmt = insert(m.inbound_messages).returning(m.inbound_messages.c.id)
            _STATEMENTS["", "insert inbound_messages"] = stmt
        row = conn.execute(
            stmt,
            {
                "account": msg.account,
                "connector": msg.connector,
                "carrier_message_id": msg.carrier_message_id,
                "source_addr": msg.source_addr,
                "source_ton": msg.source_ton,
                "source_npi": msg.source_npi,
                "dest_addr": msg.dest_addr,
                "dest_ton": msg.dest_ton,
                "dest_npi": msg.dest_npi,
                "data_coding": msg.data_coding,
                "esm_class": msg.esm_class,
                "protocol_id": msg.protocol_id,
                "text": msg.text,
                "payload": msg.payload,
                "received_at": ms(self.now),
                "expires_at": ms_or_none(msg.expires_at),
                "attempts": 0,
                "forwarded_at": None,
                "dropped_at": None,
            },
        ).scalar_one()
        return int(row)


@dataclass(frozen=True, slots=True)
class MarkForwarded(WriteOp[bool]):
    """The application took a receipt or inbound message (its deliver_sm_resp came back)."""

    kind: Literal["receipt", "inbound"]
    row_id: int
    now: float

    batchable: ClassVar[bool] = True

    def apply(self, conn: Connection) -> bool:
        return MarkForwarded.apply_many(conn, [self])[0]

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[WriteOp[bool]]) -> list[bool]:
        # One acknowledgement per deliver_sm_resp: under load a commit carries
        # hundreds, so they are read and written in two statements per kind
        # rather than one UPDATE each. The first operation on a row wins, as
        # it would one at a time.
        marks = [op for op in ops if isinstance(op, MarkForwarded)]
        assert len(marks) == len(ops)
        results = [False] * len(marks)
        firsts: dict[str, dict[int, int]] = {}
        for index, op in enumerate(marks):
            firsts.setdefault(op.kind, {}).setdefault(op.row_id, index)
        ph = _PLACEHOLDERS[conn.dialect.paramstyle]
        for kind, first in firsts.items():
            table = m.receipts.name if kind == "receipt" else m.inbound_messages.name
            ids = list(first)
            open_ids: list[int] = []
            for start in range(0, len(ids), MARK_CHUNK):
                chunk = ids[start : start + MARK_CHUNK]
                open_ids += conn.exec_driver_sql(
                    f"SELECT id FROM {table} WHERE forwarded_at IS NULL"
                    f" AND id IN ({', '.join([ph] * len(chunk))})",
                    tuple(chunk),
                ).scalars()
            if not open_ids:
                continue
            rows: list[tuple[int, int]] = []
            for row_id in open_ids:
                index = first[row_id]
                results[index] = True
                rows.append((ms(marks[index].now), row_id))
            conn.exec_driver_sql(
                f"UPDATE {table} SET forwarded_at = {ph} WHERE id = {ph} AND forwarded_at IS NULL",
                rows,
            )
        return results
