"""Repeated HELP and JOIN: one reply, then silence for a while.

How this works: someone (or a script) sending HELP twelve times, or JOIN
COFFEE seven times, would get twelve help texts or seven "reply YES"
questions. COMPLIANCE.md asks for one reply, then silence. So before the
consent plugin answers a HELP or a JOIN that puts a question, it looks in
the ledger for the same event (HELP; the same programme's question) of the
same number within the same scope that was *shown* a reply within
``repeat_reply_seconds``. If there is one, the event is recorded as usual
(the ledger is evidence of every request) but with no text shown, and no
reply goes out. The window starts at the reply shown, so the first message
after it ends is answered again.

STOP keeps its own rule (one confirmation, then again only after
``reconfirm_opt_out_hours``); START and the YES to a question are answered
every time: they change consent, and their replies say so.

The check reads the ledger inside the same write as the event, on the
writer thread, so two nodes (or two quick messages) see each other's rows.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from sqlalchemy import Connection, bindparam, func, select

from plugins.consent.plan import Plan
from plugins.consent.store import EVENT_CONFIRM_ASKED, EVENT_HELP
from smppd.store.models import consent_ledger

__all__ = ["REPEATED_EVENTS", "TAG_SILENCED", "silenced"]

#: The events whose replies are sent once per window.
REPEATED_EVENTS: Final = frozenset({EVENT_HELP, EVENT_CONFIRM_ASKED})
#: Tag of an inbound message answered with silence.
TAG_SILENCED: Final = "repeat-silenced"

_l = consent_ledger.c
_LAST_SHOWN: Final = select(func.max(_l.at)).where(
    _l.number == bindparam("number"),
    _l.scope == bindparam("scope"),
    _l.event == bindparam("event"),
    _l.programme == bindparam("programme"),
    _l.at > bindparam("since"),
    _l.shown_text.is_not(None),
)


def silenced(
    conn: Connection, planned: Plan, *, number: str, scope: str, at: int, window_ms: int
) -> Plan | None:
    """``planned`` without its replies when it repeats a request answered less than
    ``window_ms`` before ``at``; None when it is answered as planned."""
    if window_ms <= 0 or not planned.replies or not planned.changes:
        return None
    first = planned.changes[0]
    if first.event not in REPEATED_EVENTS:
        return None
    shown = conn.execute(
        _LAST_SHOWN,
        {
            "number": number,
            "scope": scope,
            "event": first.event,
            "programme": first.programme,
            "since": at - window_ms,
        },
    ).scalar_one_or_none()
    if shown is None:
        return None
    return dataclasses.replace(planned, replies=())
