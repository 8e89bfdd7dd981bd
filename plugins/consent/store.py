"""Consent in the store: the ledger, subscriptions, pending questions, marketing sends.

How this works: every function takes a SQLAlchemy connection inside a
transaction the caller owns, so one inbound message's whole effect (ledger
rows, subscription rows, its pending question) commits or rolls back as a
unit: the plugin runs it inside the store's group commit, the CLI inside
``engine.begin()``. Nothing here touches the reactor.

* The **ledger** is append-only. A subscriber's event is inserted with
  ``INSERT ... ON CONFLICT DO NOTHING`` on the unique index
  ``(inbound_key, event, programme)``: the same inbound message handled
  twice (a carrier's re-send, a restart before the outcome was recorded,
  two nodes) records its events once, atomically, without a read first.
  Admin events have no inbound key and never conflict.
* **Subscriptions** hold where a number stands now; each row names the
  ledger entry that set it. ``since`` is when the status began: upserting
  the same status again (a second STOP) keeps it.
* **Standing** is what enforcement needs of a number within a scope:
  opted out (plain STOP), opted in (to the scope or a programme) or
  neither. :func:`standings` loads it for the in-memory suppression index,
  and :func:`changed_pairs` finds what changed since the index last looked,
  by ledger id (every change of status comes with a ledger row, also the
  CLI's), which the primary key serves without a scan.

The statements an inbound message runs are built once (per dialect where
the upsert syntax needs one) with bound parameters and reused: building and
hashing a SQLAlchemy statement costs several times what SQLite takes to run
it, on the store's single writer thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Connection, and_, bindparam, case, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from plugins.subscribers import ALL_PROGRAMMES, OPTED_IN, OPTED_OUT, moment, ms
from smppd.store.models import (
    DETAIL_MAX,
    NAME_MAX,
    consent_ledger,
    marketing_sends,
    pending_questions,
    subscriptions,
)

__all__ = [
    "EVENTS",
    "EVENT_CONFIRM_ASKED",
    "EVENT_DECLINED",
    "EVENT_HELP",
    "EVENT_OPT_IN",
    "EVENT_OPT_OUT",
    "EVENT_REVIEW",
    "LedgerEntry",
    "Standing",
    "ask_question",
    "changed_pairs",
    "clear_question",
    "entries_for_inbound",
    "last_confirmation",
    "leave_programmes",
    "ledger_watermark",
    "list_subscriptions",
    "marketing_sent_since",
    "number_history",
    "pending_of",
    "record",
    "record_marketing_send",
    "set_status",
    "standing_of",
    "standings",
    "subscriptions_of",
]

EVENT_OPT_OUT: Final = "opt_out"
EVENT_OPT_IN: Final = "opt_in"
EVENT_CONFIRM_ASKED: Final = "confirm_asked"
EVENT_DECLINED: Final = "declined"
EVENT_HELP: Final = "help"
EVENT_REVIEW: Final = "review"
EVENTS: Final = (
    EVENT_OPT_OUT,
    EVENT_OPT_IN,
    EVENT_CONFIRM_ASKED,
    EVENT_DECLINED,
    EVENT_HELP,
    EVENT_REVIEW,
)

# Rows read per round trip when loading the suppression index.
_LOAD_CHUNK: Final = 10_000
# (number, scope) pairs per query when re-reading changed standings.
_PAIRS_PER_QUERY: Final = 200


class Standing(StrEnum):
    """Where a number stands within a scope, for enforcement."""

    OPTED_OUT = "opted_out"  # plain STOP: nothing but transactional messages
    OPTED_IN = "opted_in"  # START, or a member of one of the scope's programmes


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One consent event, as the ledger keeps it (times in ms since the epoch)."""

    number: str
    scope: str
    programme: str
    event: str
    actor: str
    at: int
    keyword: str | None = None
    original_text: str | None = None
    channel: str | None = None
    sender: str | None = None
    connector: str | None = None
    carrier_reference: str | None = None
    shown_text: str | None = None
    template: str | None = None
    template_version: int | None = None
    language: str | None = None
    reason: str | None = None
    inbound_key: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "scope": self.scope,
            "programme": self.programme,
            "event": self.event,
            "actor": self.actor[:NAME_MAX],
            "keyword": None if self.keyword is None else self.keyword[:NAME_MAX],
            "original_text": self.original_text,
            "channel": self.channel,
            "sender": self.sender,
            "connector": self.connector,
            "carrier_reference": self.carrier_reference,
            "shown_text": self.shown_text,
            "template": self.template,
            "template_version": self.template_version,
            "language": self.language,
            "reason": None if self.reason is None else self.reason[:DETAIL_MAX],
            "inbound_key": self.inbound_key,
            "at": self.at,
        }


def _insert(conn: Connection, table: Any) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


# (statement, dialect) -> the statement built for that dialect.
_BUILT: dict[tuple[str, str], Any] = {}


def _built(conn: Connection, name: str, build: Callable[[Connection], Any]) -> Any:
    """Statement ``name`` for ``conn``'s dialect, built by ``build`` the first time."""
    key = (name, conn.dialect.name)
    stmt = _BUILT.get(key)
    if stmt is None:
        stmt = _BUILT[key] = build(conn)
    return stmt


def _build_record(conn: Connection) -> Any:
    return (
        _insert(conn, consent_ledger)
        .on_conflict_do_nothing(
            index_elements=[
                consent_ledger.c.inbound_key,
                consent_ledger.c.event,
                consent_ledger.c.programme,
            ]
        )
        .returning(consent_ledger.c.id)
    )


def _build_set_status(conn: Connection) -> Any:
    stmt = _insert(conn, subscriptions)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[
            subscriptions.c.number,
            subscriptions.c.scope,
            subscriptions.c.programme,
        ],
        set_={
            "status": excluded.status,
            "language": func.coalesce(excluded.language, subscriptions.c.language),
            "ledger_id": excluded.ledger_id,
            "since": case(
                (subscriptions.c.status == excluded.status, subscriptions.c.since),
                else_=excluded.since,
            ),
            "updated_at": excluded.updated_at,
        },
    )


def _build_ask_question(conn: Connection) -> Any:
    stmt = _insert(conn, pending_questions)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[pending_questions.c.number, pending_questions.c.scope],
        set_={
            "question": excluded.question,
            "programme": excluded.programme,
            "asked_at": excluded.asked_at,
            "expires_at": excluded.expires_at,
            "language": excluded.language,
        },
    )


_l = consent_ledger.c
_s = subscriptions.c
_q = pending_questions.c
_ENTRIES_FOR_INBOUND: Final = (
    select(consent_ledger).where(_l.inbound_key == bindparam("inbound_key")).order_by(_l.id)
)
_LAST_CONFIRMATION: Final = select(func.max(_l.at)).where(
    _l.number == bindparam("number"),
    _l.scope == bindparam("scope"),
    _l.event == EVENT_OPT_OUT,
    _l.shown_text.is_not(None),
)
# Parameter names differ from the columns': those are reserved for SET.
_LEAVE_PROGRAMMES: Final = (
    update(subscriptions)
    .where(
        _s.number == bindparam("p_number"),
        _s.scope == bindparam("p_scope"),
        _s.programme != ALL_PROGRAMMES,
        _s.status == OPTED_IN,
    )
    .values(
        status=OPTED_OUT,
        ledger_id=bindparam("p_ledger_id"),
        since=bindparam("p_at"),
        updated_at=bindparam("p_at"),
    )
)
_CLEAR_QUESTION: Final = delete(pending_questions).where(
    _q.number == bindparam("number"), _q.scope == bindparam("scope")
)
_STANDING: Final = select(_s.programme, _s.status).where(
    _s.number == bindparam("number"), _s.scope == bindparam("scope")
)


# -- the ledger ---------------------------------------------------------------------


def record(conn: Connection, entry: LedgerEntry) -> int | None:
    """Append ``entry``; its id, or None when its inbound message already recorded
    this event for this programme (nothing is written then)."""
    stmt = _built(conn, "record", _build_record)
    # rowcount is not reliable for INSERT .. ON CONFLICT on every driver; RETURNING is.
    inserted = conn.execute(stmt, entry.row()).scalar_one_or_none()
    return None if inserted is None else int(inserted)


def entries_for_inbound(conn: Connection, inbound_key: str) -> list[Row[Any]]:
    """The ledger rows an inbound message produced, in order."""
    return list(conn.execute(_ENTRIES_FOR_INBOUND, {"inbound_key": inbound_key}).all())


def last_confirmation(conn: Connection, number: str, scope: str) -> int | None:
    """When ``number`` was last shown an opt-out confirmation within ``scope`` (ms)."""
    at = conn.execute(_LAST_CONFIRMATION, {"number": number, "scope": scope}).scalar_one_or_none()
    return None if at is None else int(at)


def number_history(conn: Connection, number: str, limit: int | None = None) -> list[Row[Any]]:
    """Every ledger row of ``number``, oldest first (the newest ``limit`` if given)."""
    query = select(consent_ledger).where(consent_ledger.c.number == number)
    if limit is None:
        return list(conn.execute(query.order_by(consent_ledger.c.at, consent_ledger.c.id)).all())
    newest = conn.execute(
        query.order_by(consent_ledger.c.at.desc(), consent_ledger.c.id.desc()).limit(limit)
    ).all()
    return list(reversed(newest))


def ledger_watermark(conn: Connection) -> int:
    """The newest ledger id (0 for an empty ledger)."""
    return int(conn.execute(select(func.coalesce(func.max(consent_ledger.c.id), 0))).scalar_one())


def changed_pairs(conn: Connection, after_id: int) -> tuple[int, set[tuple[str, str]]]:
    """The (number, scope) pairs with ledger rows after ``after_id``, and the newest id."""
    rows = conn.execute(
        select(consent_ledger.c.id, consent_ledger.c.number, consent_ledger.c.scope).where(
            consent_ledger.c.id > after_id
        )
    ).all()
    newest = max((int(row.id) for row in rows), default=after_id)
    return newest, {(row.number, row.scope) for row in rows}


# -- subscriptions and questions -------------------------------------------------------


def set_status(
    conn: Connection,
    *,
    number: str,
    scope: str,
    programme: str,
    status: str,
    at: int,
    ledger_id: int | None,
    language: str | None = None,
) -> None:
    """Upsert one subscription row; ``since`` moves only when the status changes."""
    conn.execute(
        _built(conn, "set_status", _build_set_status),
        {
            "number": number,
            "scope": scope,
            "programme": programme,
            "status": status,
            "language": language,
            "ledger_id": ledger_id,
            "since": at,
            "updated_at": at,
        },
    )


def leave_programmes(
    conn: Connection, *, number: str, scope: str, at: int, ledger_id: int | None
) -> None:
    """Plain STOP: every programme ``number`` is in within ``scope`` is left too."""
    conn.execute(
        _LEAVE_PROGRAMMES,
        {"p_number": number, "p_scope": scope, "p_ledger_id": ledger_id, "p_at": at},
    )


def ask_question(
    conn: Connection,
    *,
    number: str,
    scope: str,
    question: str,
    programme: str,
    asked_at: int,
    expires_at: int,
    language: str | None = None,
) -> None:
    """Put ``question`` to ``number`` within ``scope``, replacing an earlier one;
    ``language`` is the one it is asked in (its answer is replied to in it)."""
    conn.execute(
        _built(conn, "ask_question", _build_ask_question),
        {
            "number": number,
            "scope": scope,
            "question": question,
            "programme": programme,
            "asked_at": asked_at,
            "expires_at": expires_at,
            "language": language,
        },
    )


def clear_question(conn: Connection, *, number: str, scope: str) -> None:
    conn.execute(_CLEAR_QUESTION, {"number": number, "scope": scope})


def pending_of(conn: Connection, number: str) -> list[Row[Any]]:
    """The questions put to ``number``, in every scope (expired ones too)."""
    return list(
        conn.execute(
            select(pending_questions)
            .where(pending_questions.c.number == number)
            .order_by(pending_questions.c.scope)
        ).all()
    )


def subscriptions_of(conn: Connection, number: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(subscriptions)
            .where(subscriptions.c.number == number)
            .order_by(subscriptions.c.scope, subscriptions.c.programme)
        ).all()
    )


# -- standing, for enforcement ---------------------------------------------------------


def _standing(rows: Iterable[tuple[str, str]]) -> Standing | None:
    opted_in = False
    for programme, status in rows:
        if programme == ALL_PROGRAMMES and status == OPTED_OUT:
            return Standing.OPTED_OUT
        opted_in = opted_in or status == OPTED_IN
    return Standing.OPTED_IN if opted_in else None


def standing_of(conn: Connection, number: str, scope: str) -> Standing | None:
    rows = conn.execute(_STANDING, {"number": number, "scope": scope}).all()
    return _standing((row.programme, row.status) for row in rows)


def _grouped(rows: Iterable[Any]) -> Iterator[tuple[str, str, Standing | None]]:
    current: tuple[str, str] | None = None
    statuses: list[tuple[str, str]] = []
    for row in rows:
        pair = (row.number, row.scope)
        if pair != current:
            if current is not None:
                yield (*current, _standing(statuses))
            current, statuses = pair, []
        statuses.append((row.programme, row.status))
    if current is not None:
        yield (*current, _standing(statuses))


def standings(
    conn: Connection, pairs: Sequence[tuple[str, str]] | None = None
) -> Iterator[tuple[str, str, Standing | None]]:
    """``(number, scope, standing)`` of every pair (of all of them when None).

    A pair with no row left (or none ever) comes back with None when asked for.
    """
    columns = (
        subscriptions.c.number,
        subscriptions.c.scope,
        subscriptions.c.programme,
        subscriptions.c.status,
    )
    order = (subscriptions.c.number, subscriptions.c.scope)
    if pairs is None:
        result = conn.execution_options(yield_per=_LOAD_CHUNK).execute(
            select(*columns).order_by(*order)
        )
        yield from _grouped(result)
        return
    for start in range(0, len(pairs), _PAIRS_PER_QUERY):
        chunk = pairs[start : start + _PAIRS_PER_QUERY]
        rows = conn.execute(
            select(*columns)
            .where(tuple_(subscriptions.c.number, subscriptions.c.scope).in_(chunk))
            .order_by(*order)
        ).all()
        found = {(number, scope): standing for number, scope, standing in _grouped(rows)}
        for pair in chunk:
            yield (*pair, found.get(pair))


# -- marketing sends (frequency caps) ---------------------------------------------------


def marketing_sent_since(
    conn: Connection, number: str, since: datetime, *, exclude: str | None = None
) -> list[datetime]:
    """When marketing went (or will go) to ``number`` at or after ``since``,
    leaving out message ``exclude`` (the one being decided on, if counted before)."""
    query = select(marketing_sends.c.at).where(
        marketing_sends.c.number == number, marketing_sends.c.at >= ms(since)
    )
    if exclude is not None:
        query = query.where(marketing_sends.c.message_id != exclude)
    return [moment(int(at)) for at in conn.execute(query.order_by(marketing_sends.c.at)).scalars()]


def record_marketing_send(conn: Connection, *, message_id: str, number: str, at: datetime) -> None:
    """Count marketing message ``message_id`` to ``number`` as going at ``at``
    (a second decision on the same message moves its time)."""
    stmt = _insert(conn, marketing_sends).values(message_id=message_id, number=number, at=ms(at))
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[marketing_sends.c.message_id], set_={"at": stmt.excluded.at}
        )
    )


def list_subscriptions(
    conn: Connection, *, scope: str | None, status: str | None, limit: int
) -> list[Row[Any]]:
    """Subscription rows, filtered, newest change first."""
    query = select(subscriptions)
    conditions = []
    if scope is not None:
        conditions.append(subscriptions.c.scope == scope)
    if status is not None:
        conditions.append(subscriptions.c.status == status)
    if conditions:
        query = query.where(and_(*conditions))
    return list(
        conn.execute(
            query.order_by(subscriptions.c.updated_at.desc(), subscriptions.c.number).limit(limit)
        ).all()
    )
