"""Who a subscriber is and where they stand: shared by the consent and loyalty plugins.

How this works:

* A number is kept in one canonical form, :func:`subscriber_number`: the
  digits of an international number without ``+`` (``+46 70-123 45 67`` and
  ``46701234567`` are one subscriber), so consent given through a modem and
  withdrawn through a carrier meets in one row.
* A consent applies within a **scope**, :func:`scope_for`: the brand of the
  rule set answering on the number the subscriber wrote to (every short code
  of a brand shares one suppression list), or that number itself when no
  rule set covers it. Plain STOP is the row ``(number, scope, "")``; a
  programme's membership is ``(number, scope, programme)``.
* :func:`load_state` reads the :class:`rules.SubscriberState` the pure rules
  engine needs from the ``subscriptions`` and ``pending_questions`` tables:
  the subscriber's language is the one of their latest subscription row, or
  of the question put to them when they have none yet.
  The consent plugin is the only writer of those tables; the loyalty plugin
  only reads them (a member is a subscriber opted in to the programme).

Everything here runs on a connection inside ``run_blocking``: none of it is
for the reactor thread.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Connection, and_, bindparam, select

from rules import PendingQuestion, RuleBook, SubscriberState
from smppd.store.models import pending_questions, subscriptions

__all__ = [
    "ALL_PROGRAMMES",
    "OPTED_IN",
    "OPTED_OUT",
    "is_member",
    "load_state",
    "moment",
    "ms",
    "scope_for",
    "subscriber_number",
]

#: The ``programme`` of a row that covers the whole scope (STOP, START).
ALL_PROGRAMMES: Final = ""
OPTED_IN: Final = "opted_in"
OPTED_OUT: Final = "opted_out"

_SEPARATORS: Final = str.maketrans("", "", " -.()/")


def subscriber_number(address: str) -> str:
    """The canonical form of a subscriber's number (see the module docstring).

    A numeric address loses its ``+``, spaces and separators; an alphanumeric
    one (which cannot reply, but may appear in a CLI query) is kept as
    written, stripped.
    """
    stripped = address.strip()
    digits = stripped.translate(_SEPARATORS).removeprefix("+")
    if digits.isdigit():
        return digits.lstrip("0") if stripped.startswith("00") else digits
    return stripped


def scope_for(rulebook: RuleBook | None, destination: str) -> str:
    """The scope of a consent given by writing to ``destination``."""
    ruleset = None if rulebook is None else rulebook.select(destination)
    if ruleset is not None:
        return ruleset.brand
    return subscriber_number(destination)


def ms(at: datetime) -> int:
    """A timezone-aware moment as the store keeps time: ms since the epoch."""
    return int(at.timestamp() * 1000)


def moment(at_ms: int) -> datetime:
    """The store's milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(at_ms / 1000, UTC)


# Built once and run with parameters: this runs for every inbound message,
# and building a statement each time cost more than SQLite's work for it.
_SUBSCRIPTIONS: Final = select(
    subscriptions.c.programme,
    subscriptions.c.status,
    subscriptions.c.language,
    subscriptions.c.updated_at,
).where(
    and_(subscriptions.c.number == bindparam("number"), subscriptions.c.scope == bindparam("scope"))
)
_PENDING: Final = select(
    pending_questions.c.question,
    pending_questions.c.expires_at,
    pending_questions.c.language,
).where(
    and_(
        pending_questions.c.number == bindparam("number"),
        pending_questions.c.scope == bindparam("scope"),
    )
)


def load_state(conn: Connection, number: str, scope: str, now: datetime) -> SubscriberState:
    """What the rules engine needs to know of ``number`` within ``scope`` at ``now``."""
    key = {"number": number, "scope": scope}
    rows = conn.execute(_SUBSCRIPTIONS, key).all()
    programmes: set[str] = set()
    opted_out = False
    language: str | None = None
    latest = -1
    for programme, status, lang, updated_at in rows:
        if programme == ALL_PROGRAMMES:
            opted_out = status == OPTED_OUT
        elif status == OPTED_IN:
            programmes.add(programme)
        if lang is not None and updated_at > latest:
            language, latest = lang, updated_at
    pending: PendingQuestion | None = None
    question = conn.execute(_PENDING, key).first()
    if question is not None and question.expires_at > ms(now):
        pending = PendingQuestion(question.question, moment(question.expires_at), question.language)
        # Someone who has only been asked so far is known by the question's language.
        language = language or question.language
    return SubscriberState(
        programmes=frozenset(programmes), opted_out=opted_out, pending=pending, language=language
    )


def is_member(conn: Connection, number: str, scope: str, programme: str) -> bool:
    """True when ``number`` is opted in to ``programme`` and has not said plain STOP."""
    statuses = dict(
        conn.execute(
            select(subscriptions.c.programme, subscriptions.c.status).where(
                and_(
                    subscriptions.c.number == number,
                    subscriptions.c.scope == scope,
                    subscriptions.c.programme.in_((ALL_PROGRAMMES, programme)),
                )
            )
        ).all()
    )
    return statuses.get(programme) == OPTED_IN and statuses.get(ALL_PROGRAMMES) != OPTED_OUT
