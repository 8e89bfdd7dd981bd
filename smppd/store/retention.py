"""Retention: purge finished messages (with their parts, transitions and
receipts), forwarded or dropped inbound messages and old de-duplication
fingerprints once they are older than the configured number of days.

Each batch is its own short transaction of at most ``batch_size`` messages,
followed by a short pause, so the group-commit writer is never held off for
long (on SQLite both take the single write lock; the writer waits at most one
batch).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, delete, or_, select, tuple_

from smppd.store import models as m
from smppd.store.ops import ms

DEFAULT_PURGE_BATCH: Final = 500
PURGE_PAUSE_SECONDS: Final = 0.01
SECONDS_PER_DAY: Final = 86_400


@dataclass(frozen=True, slots=True)
class PurgeReport:
    messages: int
    inbound: int
    fingerprints: int


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
    msgs = m.messages.c
    purged_messages = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(msgs.id)
                    .where(msgs.finished_at.is_not(None), msgs.finished_at < cutoff)
                    .limit(batch_size)
                ).scalars()
            )
            if not ids:
                break
            for child in (m.receipts, m.message_transitions, m.message_parts):
                conn.execute(delete(child).where(child.c.message_id.in_(ids)))
            conn.execute(delete(m.messages).where(msgs.id.in_(ids)))
        purged_messages += len(ids)
        sleep(pause)

    inbound = m.inbound_messages.c
    purged_inbound = 0
    while True:
        with engine.begin() as conn:
            row_ids = list(
                conn.execute(
                    select(inbound.id)
                    .where(or_(inbound.forwarded_at < cutoff, inbound.dropped_at < cutoff))
                    .limit(batch_size)
                ).scalars()
            )
            if not row_ids:
                break
            conn.execute(delete(m.inbound_messages).where(inbound.id.in_(row_ids)))
        purged_inbound += len(row_ids)
        sleep(pause)

    fp = m.inbound_fingerprints.c
    purged_fingerprints = 0
    while True:
        with engine.begin() as conn:
            keys = [
                tuple(r)
                for r in conn.execute(
                    select(fp.connector, fp.fingerprint)
                    .where(fp.seen_at < cutoff)
                    .limit(batch_size)
                )
            ]
            if not keys:
                break
            conn.execute(
                delete(m.inbound_fingerprints).where(tuple_(fp.connector, fp.fingerprint).in_(keys))
            )
        purged_fingerprints += len(keys)
        sleep(pause)

    return PurgeReport(purged_messages, purged_inbound, purged_fingerprints)
