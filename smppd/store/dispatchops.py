"""Write operations of the dispatcher and of the inbound pipeline.

Same style as :mod:`smppd.store.ops`: small frozen values with ``apply(conn)``
that the group-commit writer runs inside its transaction, checking before
writing so that a refusal leaves the rest of the batch alone. Several of them
read as well as write (taking messages for sending returns their rows): the
writer thread is the one place that touches the database on the hot path, so
the reactor never blocks on a read and the read sees exactly what the same
transaction changed.

Claims. A message handed to the dispatcher (or found due by a scan) moves to
``queued`` with ``next_attempt_at`` pushed to a *lease* time: the due scan
skips it while it is in flight, here or on another node sharing the
database. A back-off writes a later ``next_attempt_at``; a release (stop,
connection drop) writes ``now``. After a crash the lease runs out and the
message is due again, which is the at-least-once resend.

Held marketing. A due scan that asks for it (``ClaimDue.check_held``) does
not queue a *marketing* message that waited in ``scheduled`` (deferred by a
plugin, or scheduled by its application): it leases it where it is and
returns it in :attr:`Taken.held`, so that the plugins' outbound check runs
again before it is sent (a recipient may have opted out while it waited).
The verdict is written by :class:`SendHeld` (queued under the lease, as any
claim), :class:`RefuseHeld` (``rejected``, with its receipt) or
:class:`HoldAgain` (still scheduled, until a later moment);
:class:`ReturnHeld` gives back what a stopping dispatcher held. A check
that never answers leaves the message scheduled under its lease: due again
when the lease runs out. Messages handed over at acceptance were checked a
moment before and are never held back this way.

Inbound rows. MO parts are kept in ``inbound_messages`` under the reserved
account :data:`PART_ACCOUNT` from the moment they are acknowledged, so an
acknowledged part survives a crash without a new table; when reassembly
completes, :class:`ResolveInbound` marks the part rows taken and stores the
message for its account (or :data:`UNROUTABLE_ACCOUNT`) in one transaction.
Account names starting with ``~`` are reserved for these rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from smppd.store import models as m
from smppd.store.lifecycle import State, can_transition
from smppd.store.ops import (
    PART_PENDING,
    PART_SUBMITTED,
    RECEIPT_HOLD_SECONDS,
    InboundMessage,
    StoreInbound,
    WriteOp,
    move_many,
    move_message,
    ms,
    wants_receipt,
)

# Reserved accounts of inbound rows that no application takes.
PART_ACCOUNT: Final = "~part"
UNROUTABLE_ACCOUNT: Final = "~unroutable"
# messages.traffic_class values (see NewMessage).
MARKETING: Final = "marketing"
TRANSACTIONAL: Final = "transactional"
# Messages one due scan claims at most.
DEFAULT_CLAIM_BATCH: Final = 500
# An ``accepted`` message older than this was never handed to a dispatcher
# (its hand-off was lost); a due scan takes it.
ACCEPTED_GRACE_SECONDS: Final = 30.0
# Part states after a carrier's final receipt are lifecycle state names.
PART_FINAL_STATES: Final = frozenset(
    s.value
    for s in (State.DELIVERED, State.UNDELIVERABLE, State.EXPIRED, State.REJECTED, State.CANCELLED)
)
# Which state a message ends in when its parts disagree: the first of these
# any part is in (a message is delivered only when every part is).
FINAL_PRECEDENCE: Final = (
    State.REJECTED,
    State.UNDELIVERABLE,
    State.EXPIRED,
    State.CANCELLED,
    State.DELIVERED,
)


@dataclass(frozen=True, slots=True)
class OutgoingPart:
    part_no: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message taken for sending, with the parts no carrier has accepted yet."""

    id: str
    account: str
    route: str | None
    connector: str | None
    source_addr: str
    source_ton: int
    source_npi: int
    dest_addr: str
    dest_ton: int
    dest_npi: int
    data_coding: int
    esm_class: int
    protocol_id: int
    priority: int
    validity_at: float | None
    text: str | None
    payload: bytes
    part_count: int
    attempts: int
    pending: tuple[OutgoingPart, ...]
    traffic_class: str = TRANSACTIONAL
    registered_delivery: int = 0
    #: When it was to go (its application's schedule or a plugin's deferral); None: at once.
    schedule_at: float | None = None


@dataclass(frozen=True, slots=True)
class Taken:
    """What a take or a claim did: messages to send, and those that ended instead."""

    messages: tuple[Outgoing, ...]
    scheduled: tuple[tuple[str, float], ...]  # (id, when): waiting for their time
    expired: tuple[tuple[str, str], ...]  # (id, account): validity passed, receipt made
    # Held marketing messages now due, leased but still ``scheduled``: the
    # outbound check decides whether they go (see the module docstring).
    held: tuple[Outgoing, ...] = ()


# Columns _take reads, in the order of :class:`Outgoing`'s fields up to
# ``attempts``, then the two it decides with, then the rest of Outgoing's.
_TAKE_COLUMNS: Final = (
    "id",
    "account",
    "route",
    "connector",
    "source_addr",
    "source_ton",
    "source_npi",
    "dest_addr",
    "dest_ton",
    "dest_npi",
    "data_coding",
    "esm_class",
    "protocol_id",
    "priority",
    "validity_at",
    "text",
    "payload",
    "part_count",
    "attempts",
    "state",
    "schedule_at",
    "traffic_class",
    "registered_delivery",
)
_TAKE_SQL: Final = (
    f"SELECT {', '.join(_TAKE_COLUMNS)} FROM messages"
    " WHERE state IN ({ph}, {ph}, {ph}) AND id IN ({marks})"
)
_TAKE_STATES: Final = (State.ACCEPTED.value, State.QUEUED.value, State.SCHEDULED.value)


def _take(
    conn: Connection, ids: Sequence[str], now: float, lease_until: float, check_held: bool = False
) -> Taken:
    # Every message an application submits is claimed through here, so the
    # reads and writes are driver-level statements over plain tuples.
    ph = _placeholder(conn)
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows += conn.exec_driver_sql(
            _TAKE_SQL.format(ph=ph, marks=_marks(ph, len(chunk))), (*_TAKE_STATES, *chunk)
        ).all()
    at = ms(now)
    expired: list[tuple[str, str]] = []
    scheduled: list[tuple[str, float]] = []
    by_state: dict[str, list[str]] = {}
    taken: list[Any] = []
    held: list[Any] = []
    queued = State.QUEUED.value
    accepted = State.ACCEPTED.value
    waiting = State.SCHEDULED.value
    for row in rows:
        row_id, validity_at, state, schedule_at = row[0], row[14], row[19], row[20]
        if validity_at is not None and validity_at <= at:
            move_message(conn, row_id, State.EXPIRED, now, detail="validity period passed")
            expired.append((row_id, row[1]))
            continue
        if state != queued and schedule_at is not None and schedule_at > at:
            if state == accepted:
                move_message(conn, row_id, State.SCHEDULED, now, next_attempt_at=schedule_at / 1000)
            scheduled.append((row_id, schedule_at / 1000))
            continue
        if check_held and state == waiting and row[21] == MARKETING:
            held.append(row)
            continue
        by_state.setdefault(state, []).append(row_id)
        taken.append(row)
    for chunk in _chunks([r[0] for r in held]):
        # Leased where they are: the scan skips them while the check runs.
        conn.exec_driver_sql(
            f"UPDATE messages SET next_attempt_at = {ph}, updated_at = {ph}"
            f" WHERE state = {ph} AND id IN ({_marks(ph, len(chunk))})",
            (ms(lease_until), at, waiting, *chunk),
        )
    for state, state_ids in by_state.items():
        if state == queued:
            for chunk in _chunks(state_ids):
                conn.exec_driver_sql(
                    f"UPDATE messages SET next_attempt_at = {ph}, updated_at = {ph}"
                    f" WHERE state = {ph} AND id IN ({_marks(ph, len(chunk))})",
                    (ms(lease_until), at, queued, *chunk),
                )
        else:
            move_many(conn, state_ids, State(state), State.QUEUED, now, next_attempt_at=lease_until)
    if not taken and not held:
        return Taken((), tuple(scheduled), tuple(expired))
    pending: dict[str, list[OutgoingPart]] = {}
    for chunk in _chunks([r[0] for r in (*taken, *held)]):
        for message_id, part_no, payload in conn.exec_driver_sql(
            "SELECT message_id, part_no, payload FROM message_parts"
            f" WHERE carrier_message_id IS NULL AND message_id IN ({_marks(ph, len(chunk))})"
            " ORDER BY message_id, part_no",
            tuple(chunk),
        ):
            pending.setdefault(message_id, []).append(OutgoingPart(part_no, payload))
    return Taken(
        tuple(_outgoing(r, pending) for r in taken),
        tuple(scheduled),
        tuple(expired),
        tuple(_outgoing(r, pending) for r in held),
    )


def _outgoing(r: Any, pending: dict[str, list[OutgoingPart]]) -> Outgoing:
    """A row of ``_TAKE_COLUMNS`` with its pending parts."""
    return Outgoing(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        r[11],
        r[12],
        r[13],
        None if r[14] is None else r[14] / 1000,
        r[15],
        r[16],
        r[17],
        r[18],
        tuple(pending.get(r[0], ())),
        traffic_class=r[21],
        registered_delivery=r[22],
        schedule_at=None if r[20] is None else r[20] / 1000,
    )


@dataclass(frozen=True, slots=True)
class TakeMessages(WriteOp[Taken]):
    """Claim messages handed over in memory: queue them under a lease and load them.

    Messages already finished or cancelled are left out; those past their
    validity expire (with their receipt); those whose time has not come are
    scheduled.
    """

    ids: tuple[str, ...]
    now: float
    lease_until: float

    def apply(self, conn: Connection) -> Taken:
        return _take(conn, self.ids, self.now, self.lease_until)


@dataclass(frozen=True, slots=True)
class ClaimDue(WriteOp[Taken]):
    """Find and claim what is due: queued messages whose ``next_attempt_at`` is at
    or before ``horizon``, scheduled ones whose time came, and ``accepted`` ones
    whose hand-off was lost. Each kind is read through the (state,
    next_attempt_at) index, at most ``limit`` of each."""

    now: float
    horizon: float
    lease_until: float
    limit: int = DEFAULT_CLAIM_BATCH
    #: Return due held marketing messages in :attr:`Taken.held` (leased, still
    #: ``scheduled``) instead of queueing them: an outbound check runs first.
    check_held: bool = False

    def apply(self, conn: Connection) -> Taken:
        c = m.messages.c
        # Nodes sharing a PostgreSQL database claim disjoint rows: a row another
        # node is claiming right now is skipped, not waited for.
        shared = conn.dialect.name == "postgresql"
        queries = [
            select(c.id)
            .where(c.state == state.value, c.next_attempt_at <= ms(due))
            .order_by(c.next_attempt_at)
            .limit(self.limit)
            for state, due in ((State.QUEUED, self.horizon), (State.SCHEDULED, self.now))
        ]
        queries.append(
            select(c.id)
            .where(
                c.state == State.ACCEPTED.value,
                c.accepted_at <= ms(self.now - ACCEPTED_GRACE_SECONDS),
            )
            .limit(self.limit)
        )
        ids: list[str] = []
        for query in queries:
            locked = query.with_for_update(skip_locked=True) if shared else query
            ids += conn.execute(locked).scalars()
        if not ids:
            return Taken((), (), ())
        return _take(conn, ids, self.now, self.lease_until, self.check_held)


@dataclass(frozen=True, slots=True)
class Release(WriteOp[int]):
    """Give claimed messages back to the queue, due at once (stop, dropped connection)."""

    ids: tuple[str, ...]
    now: float

    def apply(self, conn: Connection) -> int:
        c = m.messages.c
        result = conn.execute(
            update(m.messages)
            .where(c.id.in_(self.ids), c.state == State.QUEUED.value)
            .values(next_attempt_at=ms(self.now), updated_at=ms(self.now))
        )
        return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class SendHeld(WriteOp[bool]):
    """A held message the outbound check let through: ``scheduled`` -> ``queued``
    under the lease, as any claim. False (nothing written) when it is no longer
    scheduled: cancelled, or replaced and taken again meanwhile."""

    message_id: str
    now: float
    lease_until: float

    def apply(self, conn: Connection) -> bool:
        moved = move_many(
            conn,
            (self.message_id,),
            State.SCHEDULED,
            State.QUEUED,
            self.now,
            next_attempt_at=self.lease_until,
        )
        return moved == 1


@dataclass(frozen=True, slots=True)
class RefuseHeld(WriteOp[bool]):
    """A held message the outbound check refused when it came due: never sent.

    It ends ``rejected`` with ``error_code`` and ``detail``, its unsent parts
    too, and its application's receipt (REJECTD) is made when its
    ``registered_delivery`` asks for one. The lifecycle rejects a message
    only once it is taken for sending, so the history shows ``scheduled ->
    queued -> rejected`` at the same moment. False (nothing written) when it
    is no longer scheduled.
    """

    message_id: str
    now: float
    error_code: int
    detail: str

    def apply(self, conn: Connection) -> bool:
        if move_many(conn, (self.message_id,), State.SCHEDULED, State.QUEUED, self.now) != 1:
            return False
        move_message(
            conn,
            self.message_id,
            State.REJECTED,
            self.now,
            error_code=self.error_code,
            detail=self.detail or None,
        )
        p = m.message_parts.c
        conn.execute(
            update(m.message_parts)
            .where(p.message_id == self.message_id, p.carrier_message_id.is_(None))
            .values(state=State.REJECTED.value, updated_at=ms(self.now))
        )
        return True


@dataclass(frozen=True, slots=True)
class HoldAgain(WriteOp[bool]):
    """A held message the outbound check deferred again: still ``scheduled``, now
    until ``until``. It is due then, or at its validity if that comes first
    (when it expires, with its receipt). The history gets a ``scheduled ->
    scheduled`` row with ``detail`` (why it waits). False (nothing written)
    when it is no longer scheduled."""

    message_id: str
    now: float
    until: float
    detail: str

    def apply(self, conn: Connection) -> bool:
        c = m.messages.c
        query = select(c.validity_at).where(
            c.id == self.message_id, c.state == State.SCHEDULED.value
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            return False
        until = ms(self.until)
        due = until if row.validity_at is None else min(until, row.validity_at)
        at = ms(self.now)
        conn.execute(
            update(m.messages)
            .where(c.id == self.message_id)
            .values(schedule_at=until, next_attempt_at=due, updated_at=at)
        )
        scheduled = State.SCHEDULED.value
        conn.execute(
            insert(m.message_transitions).values(
                message_id=self.message_id,
                from_state=scheduled,
                to_state=scheduled,
                at=at,
                error_code=None,
                detail=self.detail[: m.DETAIL_MAX] or None,
            )
        )
        return True


@dataclass(frozen=True, slots=True)
class ReturnHeld(WriteOp[int]):
    """Give held messages taken for the outbound check back, due at once (the
    dispatcher stops before their verdict). Those no longer scheduled, or held
    again meanwhile, are left alone; the result is how many were given back."""

    ids: tuple[str, ...]
    now: float

    def apply(self, conn: Connection) -> int:
        c = m.messages.c
        at = ms(self.now)
        result = conn.execute(
            update(m.messages)
            .where(
                c.id.in_(self.ids),
                c.state == State.SCHEDULED.value,
                c.schedule_at <= at,
            )
            .values(next_attempt_at=at, updated_at=at)
        )
        return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class ReplaceParts(WriteOp[bool]):
    """Store a message's parts as split again for a connector with another text policy.

    Refused (False, nothing written) once any part was accepted by a carrier:
    the parts already out fix the split.
    """

    message_id: str
    payloads: tuple[bytes, ...]
    now: float

    def apply(self, conn: Connection) -> bool:
        p = m.message_parts.c
        sent = conn.execute(
            select(func.count())
            .select_from(m.message_parts)
            .where(p.message_id == self.message_id, p.carrier_message_id.is_not(None))
        ).scalar_one()
        if sent or not self.payloads:
            return False
        at = ms(self.now)
        conn.execute(delete(m.message_parts).where(p.message_id == self.message_id))
        conn.execute(
            insert(m.message_parts),
            [
                {
                    "message_id": self.message_id,
                    "part_no": no,
                    "payload": payload,
                    "connector": None,
                    "carrier_message_id": None,
                    "state": PART_PENDING,
                    "error_code": None,
                    "submitted_at": None,
                    "updated_at": at,
                }
                for no, payload in enumerate(self.payloads, start=1)
            ],
        )
        conn.execute(
            update(m.messages)
            .where(m.messages.c.id == self.message_id)
            .values(part_count=len(self.payloads), updated_at=at)
        )
        return True


@dataclass(frozen=True, slots=True)
class PartAccepted(WriteOp[bool]):
    """A carrier accepted one part and gave it an id (stored as its correlation key).

    Same meaning as :class:`~smppd.store.ops.PartSubmitted`, batched: the
    message moves from ``queued`` to ``submitted`` once no part lacks a
    carrier id, and the result says whether this operation completed it.
    A part that already has a final state keeps it.
    """

    message_id: str
    part_no: int
    connector: str
    carrier_message_id: str
    now: float
    batchable: ClassVar[bool] = True

    def apply(self, conn: Connection) -> bool:
        return PartAccepted.apply_many(conn, [self])[0]

    @classmethod
    def apply_many(cls, conn: Connection, ops: Sequence[WriteOp[bool]]) -> list[bool]:
        accepted = [op for op in ops if isinstance(op, PartAccepted)]
        assert len(accepted) == len(ops)
        ph = _placeholder(conn)
        conn.exec_driver_sql(
            f"UPDATE message_parts SET connector = {ph}, carrier_message_id = {ph},"
            f" state = {ph}, submitted_at = {ph}, updated_at = {ph}"
            f" WHERE message_id = {ph} AND part_no = {ph} AND state IN ({ph}, {ph})",
            [
                (
                    op.connector,
                    op.carrier_message_id[: m.CARRIER_MESSAGE_ID_MAX],
                    PART_SUBMITTED,
                    ms(op.now),
                    ms(op.now),
                    op.message_id,
                    op.part_no,
                    PART_PENDING,
                    PART_SUBMITTED,
                )
                for op in accepted
            ],
        )
        last: dict[str, int] = {}
        for index, op in enumerate(accepted):
            last[op.message_id] = index
        complete: list[str] = []
        queued = State.QUEUED.value
        for chunk in _chunks(list(last)):
            complete += conn.exec_driver_sql(
                f"SELECT id FROM messages WHERE id IN ({_marks(ph, len(chunk))})"
                f" AND state = {ph} AND NOT EXISTS (SELECT 1 FROM message_parts p"
                " WHERE p.message_id = messages.id AND p.carrier_message_id IS NULL)",
                (*chunk, queued),
            ).scalars()
        if complete:
            submitted = State.SUBMITTED.value
            moves = []
            transitions = []
            for mid in complete:
                op = accepted[last[mid]]
                at = ms(op.now)
                moves.append((submitted, at, op.connector, mid, queued))
                transitions.append((mid, queued, submitted, at))
            conn.exec_driver_sql(
                f"UPDATE messages SET state = {ph}, updated_at = {ph}, next_attempt_at = NULL,"
                f" connector = {ph} WHERE id = {ph} AND state = {ph}",
                moves,
            )
            conn.exec_driver_sql(
                "INSERT INTO message_transitions (message_id, from_state, to_state, at)"
                f" VALUES ({_marks(ph, 4)})",
                transitions,
            )
        done = {last[mid] for mid in complete}
        return [index in done for index in range(len(accepted))]


# Ids per IN (...) list: far below SQLite's parameter limit.
IN_CHUNK: Final = 500


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _marks(ph: str, count: int) -> str:
    return ", ".join([ph] * count)


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[i : i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]


# ---------------------------------------------------------------- receipts


@dataclass(frozen=True, slots=True)
class ReceiptApplied:
    """What a carrier receipt did.

    ``matched`` is False when no part carries the id (yet). ``final`` is the
    message's new terminal state when this receipt completed it, else None.
    ``duplicate`` is True when the part had already reached a final state.
    """

    matched: bool
    message_id: str | None = None
    part_no: int | None = None
    account: str | None = None
    final: State | None = None
    duplicate: bool = False


def final_state(part_states: Sequence[str]) -> State | None:
    """The message's state once every part is final, else None."""
    if not part_states or any(s not in PART_FINAL_STATES for s in part_states):
        return None
    present = set(part_states)
    for state in FINAL_PRECEDENCE:
        if state.value in present:
            return state
    return None


@dataclass(frozen=True, slots=True)
class ApplyCarrierReceipt(WriteOp[ReceiptApplied]):
    """Apply a carrier's receipt to the part it names and, when every part of the
    message is final, to the message (which creates the application's receipt).

    The part is found by ``hint`` (message id, part number, from the shared
    correlation) when given, else by ``(connector, carrier_message_id)``
    through its index, trying ``keys``. ``state`` None is an intermediate
    receipt (ENROUTE, ACCEPTD): matched, nothing changes. A receipt for a
    part already final changes nothing (a carrier re-sending it).

    Batchable: a run of receipts costs a handful of statements, written at
    the driver level like :class:`~smppd.store.ops.AcceptMessage`.
    """

    connector: str
    keys: tuple[str, ...]
    state: State | None
    now: float
    error_code: int | None = None
    detail: str | None = None
    hint: tuple[str, int] | None = None
    batchable: ClassVar[bool] = True

    def apply(self, conn: Connection) -> ReceiptApplied:
        return ApplyCarrierReceipt.apply_many(conn, [self])[0]

    @classmethod
    def apply_many(
        cls, conn: Connection, ops: Sequence[WriteOp[ReceiptApplied]]
    ) -> list[ReceiptApplied]:
        receipts = [op for op in ops if isinstance(op, ApplyCarrierReceipt)]
        assert len(receipts) == len(ops)
        ph = _placeholder(conn)
        # Where each receipt lands: (message id, part number) -> its state now.
        parts: dict[tuple[str, int], str] = {}
        hinted = {op.hint[0] for op in receipts if op.hint is not None}
        for chunk in _chunks(sorted(hinted)):
            for mid, no, state in conn.exec_driver_sql(
                f"SELECT message_id, part_no, state FROM message_parts"
                f" WHERE message_id IN ({_marks(ph, len(chunk))})",
                tuple(chunk),
            ):
                parts[(mid, no)] = state
        located: list[tuple[str, int] | None] = []
        for op in receipts:
            where = op.hint if op.hint is not None and op.hint in parts else None
            if where is None and op.keys:
                row = conn.exec_driver_sql(
                    f"SELECT message_id, part_no, state FROM message_parts WHERE connector = {ph}"
                    f" AND carrier_message_id IN ({_marks(ph, len(op.keys))}) LIMIT 1",
                    (op.connector, *op.keys),
                ).first()
                if row is not None:
                    where = (row[0], row[1])
                    parts.setdefault(where, row[2])
            located.append(where)

        part_updates: list[tuple[Any, ...]] = []
        # message id -> index of the receipt that changed one of its parts last
        changed: dict[str, int] = {}
        duplicates: set[int] = set()
        for index, (op, where) in enumerate(zip(receipts, located, strict=True)):
            if where is None or op.state is None:
                continue
            if parts[where] in PART_FINAL_STATES:
                duplicates.add(index)
                continue
            parts[where] = op.state.value
            part_updates.append((op.state.value, op.error_code, ms(op.now), where[0], where[1]))
            changed[where[0]] = index
        if part_updates:
            conn.exec_driver_sql(
                f"UPDATE message_parts SET state = {ph}, error_code = {ph}, updated_at = {ph}"
                f" WHERE message_id = {ph} AND part_no = {ph}",
                part_updates,
            )

        matched_ids = sorted({where[0] for where in located if where is not None})
        messages: dict[str, tuple[str, str, int]] = {}
        part_rows: dict[str, list[tuple[str, int | None]]] = {}
        for chunk in _chunks(matched_ids):
            marks = _marks(ph, len(chunk))
            for mid, state, account, rd in conn.exec_driver_sql(
                "SELECT id, state, account, registered_delivery FROM messages"
                f" WHERE id IN ({marks})",
                tuple(chunk),
            ):
                messages[mid] = (state, account, rd)
            wanted = [mid for mid in chunk if mid in changed]
            if wanted:
                for mid, state, error_code in conn.exec_driver_sql(
                    f"SELECT message_id, state, error_code FROM message_parts"
                    f" WHERE message_id IN ({_marks(ph, len(wanted))}) ORDER BY part_no",
                    tuple(wanted),
                ):
                    part_rows.setdefault(mid, []).append((state, error_code))

        finals: dict[int, State] = {}
        moves: list[tuple[Any, ...]] = []
        transitions: list[tuple[Any, ...]] = []
        app_receipts: list[tuple[Any, ...]] = []
        for mid, index in changed.items():
            if mid not in messages:
                continue
            current, account, rd = messages[mid]
            rows = part_rows.get(mid, [])
            final = final_state([state for state, _ in rows])
            if final is None or not can_transition(State(current), final):
                continue
            op = receipts[index]
            error = None
            if final is not State.DELIVERED:
                error = next((code for state, code in rows if state == final.value), None)
            detail = op.detail[: m.DETAIL_MAX] if op.detail else None
            done = ms(op.now)
            finals[index] = final
            moves.append((final.value, done, done, error, detail, mid, current))
            transitions.append((mid, current, final.value, done, error, detail))
            if wants_receipt(rd, final):
                expires = done + int(RECEIPT_HOLD_SECONDS * 1000)
                app_receipts.append((mid, account, final.value, error, done, expires, 0))
        if moves:
            conn.exec_driver_sql(
                f"UPDATE messages SET state = {ph}, updated_at = {ph}, finished_at = {ph},"
                f" next_attempt_at = NULL, error_code = {ph}, error_detail = {ph}"
                f" WHERE id = {ph} AND state = {ph}",
                moves,
            )
            conn.exec_driver_sql(
                "INSERT INTO message_transitions"
                " (message_id, from_state, to_state, at, error_code, detail)"
                f" VALUES ({_marks(ph, 6)})",
                transitions,
            )
        if app_receipts:
            conn.exec_driver_sql(
                "INSERT INTO receipts"
                " (message_id, account, state, error_code, created_at, expires_at, attempts)"
                f" VALUES ({_marks(ph, 7)})",
                app_receipts,
            )

        results: list[ReceiptApplied] = []
        for index, where in enumerate(located):
            if where is None or where[0] not in messages:
                results.append(ReceiptApplied(False))
                continue
            account = messages[where[0]][1]
            results.append(
                ReceiptApplied(
                    True,
                    where[0],
                    where[1],
                    account,
                    final=finals.get(index),
                    duplicate=index in duplicates,
                )
            )
        return results


# ---------------------------------------------------------------- inbound


_i = m.inbound_messages.c
# Built once: this runs for every inbound message.
_RESOLVE_PARTS: Final = (
    update(m.inbound_messages)
    .where(_i.id.in_(bindparam("ids", expanding=True)), _i.account == PART_ACCOUNT)
    .values(forwarded_at=bindparam("at"))
)


@dataclass(frozen=True, slots=True)
class ResolveInbound(WriteOp["int | None"]):
    """A reassembled MO is decided: its part rows are taken and, unless a plugin
    kept it from applications (``message`` None), the message is stored for its
    account once per ``fingerprint``. The result is the new row's id."""

    part_ids: tuple[int, ...]
    message: InboundMessage | None
    fingerprint: str
    now: float

    def apply(self, conn: Connection) -> int | None:
        if self.part_ids:
            conn.execute(_RESOLVE_PARTS, {"ids": list(self.part_ids), "at": ms(self.now)})
        if self.message is None:
            return None
        return StoreInbound(self.message, self.fingerprint, self.now).apply(conn)


@dataclass(frozen=True, slots=True)
class HeldPart:
    """An acknowledged MO part that was not yet reassembled (read back after a restart)."""

    id: int
    connector: str
    carrier_reference: str | None
    source_addr: str
    source_ton: int
    source_npi: int
    dest_addr: str
    dest_ton: int
    dest_npi: int
    data_coding: int
    esm_class: int
    payload: bytes
    sar: tuple[int, int, int] | None
    received_at: float


# Part rows keep their SAR TLVs (ref, total, seq) in the text column, which
# the rows of the reserved part account do not otherwise use.
_SAR_PREFIX: Final = "sar:"


def sar_text(sar: tuple[int, int, int] | None) -> str | None:
    return None if sar is None else f"{_SAR_PREFIX}{sar[0]}:{sar[1]}:{sar[2]}"


def _sar_from_text(text: str | None) -> tuple[int, int, int] | None:
    if text is None or not text.startswith(_SAR_PREFIX):
        return None
    ref, total, seq = (int(v) for v in text[len(_SAR_PREFIX) :].split(":"))
    return (ref, total, seq)


def held_parts(conn: Connection, limit: int) -> list[HeldPart]:
    """Acknowledged parts still waiting for reassembly, oldest first."""
    i = m.inbound_messages.c
    rows = conn.execute(
        select(m.inbound_messages)
        .where(
            i.account == PART_ACCOUNT,
            i.forwarded_at.is_(None),
            i.dropped_at.is_(None),
        )
        .order_by(i.id)
        .limit(limit)
    )
    return [
        HeldPart(
            id=r.id,
            connector=r.connector,
            carrier_reference=r.carrier_message_id,
            source_addr=r.source_addr,
            source_ton=r.source_ton,
            source_npi=r.source_npi,
            dest_addr=r.dest_addr,
            dest_ton=r.dest_ton,
            dest_npi=r.dest_npi,
            data_coding=r.data_coding,
            esm_class=r.esm_class,
            payload=r.payload,
            sar=_sar_from_text(r.text),
            received_at=r.received_at / 1000,
        )
        for r in rows
    ]


__all__ = [
    "ACCEPTED_GRACE_SECONDS",
    "DEFAULT_CLAIM_BATCH",
    "FINAL_PRECEDENCE",
    "MARKETING",
    "PART_ACCOUNT",
    "PART_FINAL_STATES",
    "PART_SUBMITTED",
    "TRANSACTIONAL",
    "UNROUTABLE_ACCOUNT",
    "AcceptedParts",
    "ApplyCarrierReceipt",
    "CarrierReceipts",
    "ClaimDue",
    "HeldPart",
    "HeldParts",
    "HoldAgain",
    "Outgoing",
    "OutgoingPart",
    "PartAccepted",
    "ReceiptApplied",
    "RefuseHeld",
    "Release",
    "ReplaceParts",
    "ResolveInbound",
    "ReturnHeld",
    "SendHeld",
    "TakeMessages",
    "Taken",
    "final_state",
    "held_parts",
    "sar_text",
]


@dataclass(frozen=True, slots=True)
class HeldParts(WriteOp[list[HeldPart]]):
    """Read the acknowledged parts still waiting for reassembly (start-up)."""

    limit: int

    def apply(self, conn: Connection) -> list[HeldPart]:
        return held_parts(conn, self.limit)


@dataclass(frozen=True, slots=True)
class AcceptedParts(WriteOp[list[bool]]):
    """Several :class:`PartAccepted` handed over as one operation (one reactor turn's worth)."""

    parts: tuple[PartAccepted, ...]

    def apply(self, conn: Connection) -> list[bool]:
        return PartAccepted.apply_many(conn, self.parts) if self.parts else []


@dataclass(frozen=True, slots=True)
class CarrierReceipts(WriteOp[list[ReceiptApplied]]):
    """Several :class:`ApplyCarrierReceipt` handed over as one operation."""

    receipts: tuple[ApplyCarrierReceipt, ...]

    def apply(self, conn: Connection) -> list[ReceiptApplied]:
        return ApplyCarrierReceipt.apply_many(conn, self.receipts) if self.receipts else []
