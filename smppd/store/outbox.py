"""What the gateway owes an application when it binds: receipts and inbound messages.

Rows wait here (``forwarded_at`` and ``dropped_at`` empty) until the
application acknowledges them (:class:`~smppd.store.ops.MarkForwarded`) or
their hold time runs out (recovery and :func:`drop_expired` drop them).
Oldest first, so an application that was away gets them in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, Connection, Table, and_, or_, select, update

from smppd.store import models as m
from smppd.store.lifecycle import State
from smppd.store.ops import ms

DEFAULT_OUTBOX_BATCH: Final = 100


@dataclass(frozen=True, slots=True)
class PendingReceipt:
    """Everything needed to format a delivery receipt (deliver_sm) from the record."""

    id: int
    message_id: str
    account: str
    state: State
    error_code: int | None
    source_addr: str
    source_ton: int
    source_npi: int
    dest_addr: str
    dest_ton: int
    dest_npi: int
    text: str | None
    part_count: int
    submitted_at: float
    done_at: float


@dataclass(frozen=True, slots=True)
class PendingInbound:
    id: int
    account: str
    connector: str
    source_addr: str
    source_ton: int
    source_npi: int
    dest_addr: str
    dest_ton: int
    dest_npi: int
    data_coding: int
    esm_class: int
    protocol_id: int
    payload: bytes
    text: str | None
    received_at: float


def _still_owed(table: Table, at: int) -> ColumnElement[bool]:
    t = table.c
    return and_(
        t.forwarded_at.is_(None),
        t.dropped_at.is_(None),
        or_(t.expires_at.is_(None), t.expires_at > at),
    )


def pending_receipts(
    conn: Connection,
    account: str,
    now: float,
    *,
    limit: int = DEFAULT_OUTBOX_BATCH,
    after_id: int = 0,
) -> list[PendingReceipt]:
    """What ``account`` is owed, oldest first, from the row after ``after_id``."""
    r, msg = m.receipts.c, m.messages.c
    rows = conn.execute(
        select(
            r.id,
            r.message_id,
            r.account,
            r.state,
            r.error_code,
            r.created_at,
            msg.source_addr,
            msg.source_ton,
            msg.source_npi,
            msg.dest_addr,
            msg.dest_ton,
            msg.dest_npi,
            msg.text,
            msg.part_count,
            msg.accepted_at,
        )
        .join(m.messages, msg.id == r.message_id)
        .where(r.account == account, _still_owed(m.receipts, ms(now)), r.id > after_id)
        .order_by(r.id)
        .limit(limit)
    )
    return [
        PendingReceipt(
            id=row.id,
            message_id=row.message_id,
            account=row.account,
            state=State(row.state),
            error_code=row.error_code,
            source_addr=row.source_addr,
            source_ton=row.source_ton,
            source_npi=row.source_npi,
            dest_addr=row.dest_addr,
            dest_ton=row.dest_ton,
            dest_npi=row.dest_npi,
            text=row.text,
            part_count=row.part_count,
            submitted_at=row.accepted_at / 1000,
            done_at=row.created_at / 1000,
        )
        for row in rows
    ]


def pending_inbound(
    conn: Connection,
    account: str,
    now: float,
    *,
    limit: int = DEFAULT_OUTBOX_BATCH,
    after_id: int = 0,
) -> list[PendingInbound]:
    """Inbound messages ``account`` is owed, oldest first, after ``after_id``."""
    i = m.inbound_messages.c
    rows = conn.execute(
        select(m.inbound_messages)
        .where(i.account == account, _still_owed(m.inbound_messages, ms(now)), i.id > after_id)
        .order_by(i.id)
        .limit(limit)
    )
    return [
        PendingInbound(
            id=row.id,
            account=row.account,
            connector=row.connector,
            source_addr=row.source_addr,
            source_ton=row.source_ton,
            source_npi=row.source_npi,
            dest_addr=row.dest_addr,
            dest_ton=row.dest_ton,
            dest_npi=row.dest_npi,
            data_coding=row.data_coding,
            esm_class=row.esm_class,
            protocol_id=row.protocol_id,
            payload=row.payload,
            text=row.text,
            received_at=row.received_at / 1000,
        )
        for row in rows
    ]


def drop_expired(conn: Connection, now: float) -> int:
    """Give up on receipts and inbound messages whose hold time ran out."""
    at = ms(now)
    dropped = 0
    for table in (m.receipts, m.inbound_messages):
        t = table.c
        dropped += conn.execute(
            update(table)
            .where(
                t.forwarded_at.is_(None),
                t.dropped_at.is_(None),
                t.expires_at.is_not(None),
                t.expires_at <= at,
            )
            .values(dropped_at=at)
        ).rowcount
    return dropped
