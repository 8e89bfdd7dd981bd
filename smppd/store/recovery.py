"""Crash recovery, run once at start before traffic flows.

After an unclean stop the database holds the truth and memory holds nothing,
so start-up rebuilds what the gateway owes:

1. Messages past their validity that no carrier has confirmed (``accepted``,
   ``scheduled``, ``queued``) are expired, with the receipt their application
   asked for. Submitted ones are the carrier's to expire; its receipt says so.
2. Messages still ``accepted`` (committed and acknowledged, never routed) are
   queued again, or scheduled if their delivery time is still ahead. Those
   already ``queued`` stay queued; with the ``accepted`` ones they are what
   is sent (again) to carriers: delivery towards carriers is at-least-once.
3. Receipts and inbound messages not yet taken by their application keep
   waiting for it to bind; those whose hold time ran out are dropped.

Each step commits in batches so recovery of a large backlog stays responsive
to the writer and to other nodes sharing a PostgreSQL database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, and_, func, select

from smppd.store import models as m
from smppd.store.engine import read_only
from smppd.store.lifecycle import UNCONFIRMED, State
from smppd.store.ops import move_many, move_message, ms
from smppd.store.outbox import drop_expired

RECOVERY_BATCH: Final = 500
VALIDITY_EXPIRED_DETAIL: Final = "validity period passed"


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    expired: int
    # accepted -> queued now
    requeued: int
    # everything queued for a carrier after recovery (requeued included)
    to_send: int
    scheduled: int
    receipts_waiting: int
    inbound_waiting: int
    dropped: int


def _ids(engine: Engine, where: object, limit: int) -> list[str]:
    with read_only(engine) as conn:
        return list(
            conn.execute(
                select(m.messages.c.id).where(where).order_by(m.messages.c.id).limit(limit)  # type: ignore[arg-type]
            ).scalars()
        )


def recover(engine: Engine, now: float, *, batch_size: int = RECOVERY_BATCH) -> RecoveryReport:
    at = ms(now)
    msgs = m.messages.c
    waiting_states = [s.value for s in (*UNCONFIRMED, State.SCHEDULED)]

    expired = 0
    past_validity = and_(
        msgs.state.in_(waiting_states), msgs.validity_at.is_not(None), msgs.validity_at <= at
    )
    while ids := _ids(engine, past_validity, batch_size):
        with engine.begin() as conn:
            for message_id in ids:
                move_message(conn, message_id, State.EXPIRED, now, detail=VALIDITY_EXPIRED_DETAIL)
        expired += len(ids)

    scheduled = requeued = 0
    still_accepted = msgs.state == State.ACCEPTED.value
    while ids := _ids(engine, still_accepted, batch_size):
        with engine.begin() as conn:
            rows = conn.execute(select(msgs.id, msgs.schedule_at).where(msgs.id.in_(ids))).all()
            due_now = [r.id for r in rows if r.schedule_at is None or r.schedule_at <= at]
            requeued += move_many(conn, due_now, State.ACCEPTED, State.QUEUED, now)
            for row in rows:
                if row.schedule_at is not None and row.schedule_at > at:
                    move_message(
                        conn, row.id, State.SCHEDULED, now, next_attempt_at=row.schedule_at / 1000
                    )
                    scheduled += 1

    with read_only(engine) as conn:
        to_send = conn.execute(
            select(func.count()).select_from(m.messages).where(msgs.state == State.QUEUED.value)
        ).scalar_one()

    with engine.begin() as conn:
        dropped = drop_expired(conn, now)
        receipts_waiting, inbound_waiting = (
            conn.execute(
                select(func.count())
                .select_from(table)
                .where(table.c.forwarded_at.is_(None), table.c.dropped_at.is_(None))
            ).scalar_one()
            for table in (m.receipts, m.inbound_messages)
        )

    return RecoveryReport(
        expired=expired,
        requeued=requeued,
        to_send=to_send,
        scheduled=scheduled,
        receipts_waiting=receipts_waiting,
        inbound_waiting=inbound_waiting,
        dropped=dropped,
    )
