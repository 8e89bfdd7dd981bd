"""Messages a carrier took but never reported on: expired after a bounded wait.

A carrier that accepted a part (``submit_sm_resp`` with an id) owes a
receipt, but receipts get lost: the carrier drops them, a bind was down when
it tried, or it never sends them for some destinations. Without an end such a
message would stay ``submitted`` forever: never purged by retention, its
application never told.

So a message still ``submitted`` is moved to ``expired`` (with the detail
:data:`DETAIL`) once

* ``receipt_wait`` seconds have passed since it last changed (72 h by
  default: the longest validity most carriers allow), or
* its own validity period ended more than :data:`VALIDITY_GRACE` ago (the
  carrier has given up on it by then; the grace lets a last receipt arrive).

The application gets the EXPIRED receipt it asked for, as for any final
state (:func:`smppd.store.ops.move_message`). A receipt that still comes
later finds the part final and changes nothing.

Each batch of at most ``batch_size`` messages is its own short transaction,
so the group-commit writer (on SQLite, the same write lock) waits at most
one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from sqlalchemy import Engine, and_, or_, select, update

from smppd.store import models as m
from smppd.store.lifecycle import State
from smppd.store.ops import move_message, ms

__all__ = [
    "DEFAULT_EXPIRY_BATCH",
    "DEFAULT_RECEIPT_WAIT",
    "DETAIL",
    "VALIDITY_GRACE",
    "expire_unreported",
]

DEFAULT_RECEIPT_WAIT: Final = 72 * 3600.0
VALIDITY_GRACE: Final = 3600.0
DEFAULT_EXPIRY_BATCH: Final = 500
PAUSE_SECONDS: Final = 0.01
DETAIL: Final = "no receipt from the carrier"


def expire_unreported(
    engine: Engine,
    now: float,
    *,
    receipt_wait: float = DEFAULT_RECEIPT_WAIT,
    batch_size: int = DEFAULT_EXPIRY_BATCH,
    pause: float = PAUSE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Expire the messages described in the module docstring; returns how many."""
    if receipt_wait <= 0:
        raise ValueError("receipt_wait must be positive")
    msgs = m.messages.c
    parts = m.message_parts.c
    quiet_since = ms(now - receipt_wait)
    validity_over = ms(now - VALIDITY_GRACE)
    at = ms(now)
    detail = f"{DETAIL} within {receipt_wait / 3600:g} h"
    expired = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(msgs.id)
                    .where(
                        msgs.state == State.SUBMITTED.value,
                        or_(
                            msgs.updated_at < quiet_since,
                            and_(msgs.validity_at.is_not(None), msgs.validity_at < validity_over),
                        ),
                    )
                    .limit(batch_size)
                ).scalars()
            )
            for message_id in ids:
                move_message(conn, message_id, State.EXPIRED, now, detail=detail)
            if ids:
                conn.execute(
                    update(m.message_parts)
                    .where(
                        parts.message_id.in_(ids),
                        parts.state == State.SUBMITTED.value,
                    )
                    .values(state=State.EXPIRED.value, updated_at=at)
                )
        expired += len(ids)
        if len(ids) < batch_size:
            return expired
        sleep(pause)
