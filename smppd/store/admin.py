"""Read-only views for operators: one message's whole story, and filtered lists."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from sqlalchemy import Connection, select

from smppd.store import models as m
from smppd.store.lifecycle import State

DEFAULT_LIST_LIMIT: Final = 100
MAX_LIST_LIMIT: Final = 10_000


def _s(value: int | None) -> float | None:
    return None if value is None else value / 1000


@dataclass(frozen=True, slots=True)
class MessageSummary:
    id: str
    account: str
    source_addr: str
    dest_addr: str
    state: str
    part_count: int
    attempts: int
    route: str | None
    connector: str | None
    error_code: int | None
    accepted_at: float
    updated_at: float
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class PartView:
    part_no: int
    state: str
    connector: str | None
    carrier_message_id: str | None
    error_code: int | None
    submitted_at: float | None
    size: int


@dataclass(frozen=True, slots=True)
class TransitionView:
    from_state: str | None
    to_state: str
    at: float
    error_code: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class ReceiptView:
    id: int
    state: str
    error_code: int | None
    created_at: float
    expires_at: float | None
    forwarded_at: float | None
    dropped_at: float | None


@dataclass(frozen=True, slots=True)
class MessageStory:
    summary: MessageSummary
    source_ton: int
    source_npi: int
    dest_ton: int
    dest_npi: int
    data_coding: int
    esm_class: int
    registered_delivery: int
    priority: int
    traffic_class: str
    schedule_at: float | None
    validity_at: float | None
    next_attempt_at: float | None
    error_detail: str | None
    text: str | None
    parts: tuple[PartView, ...]
    transitions: tuple[TransitionView, ...]
    receipts: tuple[ReceiptView, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary(row: Any) -> MessageSummary:
    return MessageSummary(
        id=row.id,
        account=row.account,
        source_addr=row.source_addr,
        dest_addr=row.dest_addr,
        state=row.state,
        part_count=row.part_count,
        attempts=row.attempts,
        route=row.route,
        connector=row.connector,
        error_code=row.error_code,
        accepted_at=row.accepted_at / 1000,
        updated_at=row.updated_at / 1000,
        finished_at=_s(row.finished_at),
    )


_SUMMARY_COLUMNS = [
    m.messages.c[name]
    for name in (
        "id",
        "account",
        "source_addr",
        "dest_addr",
        "state",
        "part_count",
        "attempts",
        "route",
        "connector",
        "error_code",
        "accepted_at",
        "updated_at",
        "finished_at",
    )
]


def message_story(conn: Connection, message_id: str) -> MessageStory | None:
    row = conn.execute(select(m.messages).where(m.messages.c.id == message_id)).one_or_none()
    if row is None:
        return None
    p, t, r = m.message_parts.c, m.message_transitions.c, m.receipts.c
    parts = tuple(
        PartView(
            part_no=x.part_no,
            state=x.state,
            connector=x.connector,
            carrier_message_id=x.carrier_message_id,
            error_code=x.error_code,
            submitted_at=_s(x.submitted_at),
            size=len(x.payload),
        )
        for x in conn.execute(
            select(m.message_parts).where(p.message_id == message_id).order_by(p.part_no)
        )
    )
    # Acceptance is stamped on the message row itself (see ops.AcceptMessage).
    accepted = TransitionView(None, State.ACCEPTED.value, row.accepted_at / 1000, None, None)
    history = conn.execute(
        select(m.message_transitions).where(t.message_id == message_id).order_by(t.at, t.id)
    )
    transitions = (
        accepted,
        *(
            TransitionView(x.from_state, x.to_state, x.at / 1000, x.error_code, x.detail)
            for x in history
        ),
    )
    receipts = tuple(
        ReceiptView(
            id=x.id,
            state=x.state,
            error_code=x.error_code,
            created_at=x.created_at / 1000,
            expires_at=_s(x.expires_at),
            forwarded_at=_s(x.forwarded_at),
            dropped_at=_s(x.dropped_at),
        )
        for x in conn.execute(select(m.receipts).where(r.message_id == message_id).order_by(r.id))
    )
    return MessageStory(
        summary=_summary(row),
        source_ton=row.source_ton,
        source_npi=row.source_npi,
        dest_ton=row.dest_ton,
        dest_npi=row.dest_npi,
        data_coding=row.data_coding,
        esm_class=row.esm_class,
        registered_delivery=row.registered_delivery,
        priority=row.priority,
        traffic_class=row.traffic_class,
        schedule_at=_s(row.schedule_at),
        validity_at=_s(row.validity_at),
        next_attempt_at=_s(row.next_attempt_at),
        error_detail=row.error_detail,
        text=row.text,
        parts=parts,
        transitions=transitions,
        receipts=receipts,
    )


@dataclass(frozen=True, slots=True)
class MessageFilter:
    dest_addr: str | None = None
    source_addr: str | None = None
    account: str | None = None
    state: State | None = None
    since: float | None = None
    until: float | None = None
    limit: int = DEFAULT_LIST_LIMIT


def list_messages(conn: Connection, where: MessageFilter) -> list[MessageSummary]:
    """Newest first, at most ``where.limit`` (capped at MAX_LIST_LIMIT)."""
    c = m.messages.c
    query = select(*_SUMMARY_COLUMNS)
    if where.dest_addr is not None:
        query = query.where(c.dest_addr == where.dest_addr)
    if where.source_addr is not None:
        query = query.where(c.source_addr == where.source_addr)
    if where.account is not None:
        query = query.where(c.account == where.account)
    if where.state is not None:
        query = query.where(c.state == where.state.value)
    if where.since is not None:
        query = query.where(c.accepted_at >= int(where.since * 1000))
    if where.until is not None:
        query = query.where(c.accepted_at < int(where.until * 1000))
    limit = max(1, min(where.limit, MAX_LIST_LIMIT))
    query = query.order_by(c.accepted_at.desc(), c.id.desc()).limit(limit)
    return [_summary(row) for row in conn.execute(query)]
