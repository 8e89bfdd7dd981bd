"""Retention: purge finished messages (with their parts, transitions and
receipts), settled inbound messages and old de-duplication fingerprints once
they are older than the configured number of days; marketing sends (what
frequency caps count) once they are older than that and than a year.

Retention never takes what the gateway still owes an application. A receipt
waits for its application for ``RECEIPT_HOLD_SECONDS`` (72 h), which may be
longer than the retention period: a finished message whose receipt is
neither forwarded nor dropped and still inside its hold (or held without an
end) is kept, receipt and all, until the receipt is settled. Inbound
messages go only once forwarded, dropped, or their hold ended, more than the
retention period ago.

Each batch is its own short transaction of at most ``batch_size`` rows,
followed by a short pause, so the group-commit writer is never held off for
long (on SQLite both take the single write lock; the writer waits at most one
batch). Batches walk the candidates in key order from where the previous one
stopped, so rows that must stay are looked at once, not once per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, Engine, and_, delete, or_, select, tuple_

from smppd.store import models as m
from smppd.store.ops import ms

DEFAULT_PURGE_BATCH: Final = 500
PURGE_PAUSE_SECONDS: Final = 0.01
SECONDS_PER_DAY: Final = 86_400
# Marketing sends are what frequency caps count; no cap looks back further
# than a year, so they are kept at least that long whatever the retention.
MARKETING_SENDS_DAYS: Final = 366


@dataclass(frozen=True, slots=True)
class PurgeReport:
    messages: int
    inbound: int
    fingerprints: int
    # Finished past retention, kept because a receipt still waits for its application.
    held: int = 0
    marketing_sends: int = 0


def cutoff_for(now: float, retention_days: int) -> float:
    return now - retention_days * SECONDS_PER_DAY


def purge(
    engine: Engine,
    now: float,
    retention_days: int,
    *,
    batch_size: int = DEFAULT_PURGE_BATCH,
    pause: float = PURGE_PAUSE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> PurgeReport:
    """Delete what finished more than ``retention_days`` ago (0 keeps everything)."""
    if retention_days <= 0:
        return PurgeReport(0, 0, 0)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = ms(cutoff_for(now, retention_days))
    at = ms(now)
    batches = _Batches(batch_size, pause, sleep)
    messages, held = _purge_messages(engine, cutoff, at, batches)
    inbound = _purge_inbound(engine, cutoff, batches)
    fingerprints = _purge_fingerprints(engine, cutoff, batches)
    sends_cutoff = ms(cutoff_for(now, max(retention_days, MARKETING_SENDS_DAYS)))
    sends = _purge_marketing_sends(engine, sends_cutoff, batches)
    return PurgeReport(messages, inbound, fingerprints, held, sends)


@dataclass(frozen=True, slots=True)
class _Batches:
    size: int
    pause: float
    sleep: Callable[[float], None]

    def rest(self) -> None:
        self.sleep(self.pause)


def _owed_receipts(conn: Connection, message_ids: Sequence[str], at: int) -> set[str]:
    """Those of ``message_ids`` with a receipt their application may still take."""
    r = m.receipts.c
    return set(
        conn.execute(
            select(r.message_id)
            .where(
                r.message_id.in_(message_ids),
                r.forwarded_at.is_(None),
                r.dropped_at.is_(None),
                or_(r.expires_at.is_(None), r.expires_at > at),
            )
            .distinct()
        ).scalars()
    )


def _purge_messages(
    engine: Engine,
    cutoff: int,
    at: int,
    batches: _Batches,
) -> tuple[int, int]:
    msgs = m.messages.c
    purged = held = 0
    # Keyset position (finished_at, id) of the last candidate looked at.
    after: tuple[int, str] | None = None
    while True:
        with engine.begin() as conn:
            query = select(msgs.id, msgs.finished_at).where(
                msgs.finished_at.is_not(None), msgs.finished_at < cutoff
            )
            if after is not None:
                # Spelled out rather than as a row-value comparison so both
                # engines range-scan the partial index on finished_at.
                query = query.where(
                    msgs.finished_at >= after[0],
                    or_(msgs.finished_at > after[0], msgs.id > after[1]),
                )
            rows = conn.execute(query.order_by(msgs.finished_at, msgs.id).limit(batches.size)).all()
            if not rows:
                break
            after = (rows[-1].finished_at, rows[-1].id)
            candidates = [row.id for row in rows]
            owed = _owed_receipts(conn, candidates, at)
            ids = [mid for mid in candidates if mid not in owed]
            if ids:
                for child in (m.receipts, m.message_transitions, m.message_parts):
                    conn.execute(delete(child).where(child.c.message_id.in_(ids)))
                conn.execute(delete(m.messages).where(msgs.id.in_(ids)))
        purged += len(ids)
        held += len(owed)
        batches.rest()
    return purged, held


def _purge_inbound(
    engine: Engine,
    cutoff: int,
    batches: _Batches,
) -> int:
    inbound = m.inbound_messages.c
    settled_long_ago = or_(
        inbound.forwarded_at < cutoff,
        inbound.dropped_at < cutoff,
        and_(
            inbound.forwarded_at.is_(None),
            inbound.dropped_at.is_(None),
            inbound.expires_at.is_not(None),
            inbound.expires_at < cutoff,
        ),
    )
    purged = 0
    after = 0
    while True:
        with engine.begin() as conn:
            # Nothing is settled before it arrived: received_at bounds the scan.
            row_ids = list(
                conn.execute(
                    select(inbound.id)
                    .where(inbound.received_at < cutoff, inbound.id > after, settled_long_ago)
                    .order_by(inbound.id)
                    .limit(batches.size)
                ).scalars()
            )
            if not row_ids:
                break
            after = row_ids[-1]
            conn.execute(delete(m.inbound_messages).where(inbound.id.in_(row_ids)))
        purged += len(row_ids)
        batches.rest()
    return purged


def _purge_fingerprints(
    engine: Engine,
    cutoff: int,
    batches: _Batches,
) -> int:
    fp = m.inbound_fingerprints.c
    purged = 0
    while True:
        with engine.begin() as conn:
            keys = [
                tuple(r)
                for r in conn.execute(
                    select(fp.connector, fp.fingerprint)
                    .where(fp.seen_at < cutoff)
                    .limit(batches.size)
                )
            ]
            if not keys:
                break
            conn.execute(
                delete(m.inbound_fingerprints).where(tuple_(fp.connector, fp.fingerprint).in_(keys))
            )
        purged += len(keys)
        batches.rest()
    return purged


def _purge_marketing_sends(engine: Engine, cutoff: int, batches: _Batches) -> int:
    sends = m.marketing_sends.c
    purged = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(sends.message_id).where(sends.at < cutoff).limit(batches.size)
                ).scalars()
            )
            if not ids:
                break
            conn.execute(delete(m.marketing_sends).where(sends.message_id.in_(ids)))
        purged += len(ids)
        batches.rest()
    return purged
