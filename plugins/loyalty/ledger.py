"""The points ledger and what hangs on it: members, awards, spends, codes, referrals, expiry.

How this works: every change of a member's points is one row appended to
``points_ledger`` under a unique ``idempotency_key`` with a dialect
``INSERT ... ON CONFLICT DO NOTHING``, and the member's running totals in
``loyalty_members`` change only when that insert inserted. The same inbound
message handled twice (a carrier re-sending it, the gateway replaying it
after a restart) therefore awards once, without a check-then-write race.

Every function takes a :class:`sqlalchemy.Connection` inside a transaction:
the plugin runs them in one ``write(fn)`` of the store's writer, the CLI in
``engine.begin()``. Nothing here reads a clock (``now_ms`` is passed in) or
sends anything.

Expiry is first in, first out by expiry date: spends, expiries and negative
adjustments consume the credits that lapse soonest, so the points still due
to lapse at a moment are ``credits due by then - everything consumed``
(:func:`due_points`), never more than the balance.

The statements an inbound message runs (a member read, the two inserts, the
member's update) are built once per dialect with bound parameters and reused:
building and hashing a SQLAlchemy statement costs several times what SQLite
takes to run it, and every one of them runs on the store's single writer
thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Table, and_, bindparam, func, select, update

from plugins.loyalty.config import LoadedProgramme
from smppd.store.models import loyalty_members, points_ledger, referrals, reward_codes
from smppd.store.ops import insert_ignore_statement

__all__ = [
    "CREDIT_KINDS",
    "Change",
    "Member",
    "credit",
    "debit",
    "due_points",
    "ensure_member",
    "expires_at",
    "get_member",
    "insert_ignore",
    "local_period_start",
]

# Kinds that add points a member earned (what tiers measure) and that lapse.
CREDIT_KINDS: Final = ("earn", "bonus", "referral")
# Attempts to take a code when another writer took the same one first (only
# possible outside the single writer thread: the CLI, the fallback writer).
CODE_ATTEMPTS: Final = 5


def insert_ignore(conn: Connection, table: Table, values: Mapping[str, Any]) -> int | None:
    """Insert ``values`` unless a unique key already holds them.

    Returns the new row's ``id`` (or 0 for a table without one) when the row
    was inserted, None when it was already there.
    """
    row = conn.execute(insert_ignore_statement(conn, table), dict(values)).first()
    if row is None:
        return None
    return int(row[0]) if "id" in table.c else 0


@dataclass(frozen=True, slots=True)
class Member:
    number: str
    programme: str
    balance: int
    lifetime: int
    tier: str | None
    birthday: str | None
    joined_at: int
    last_activity_at: int


@dataclass(frozen=True, slots=True)
class Change:
    """What one ledger entry did to a member (None from the functions below
    when the entry was already there)."""

    entry_id: int
    points: int
    balance: int
    tier_before: str | None
    tier_after: str | None

    @property
    def tier_up(self) -> bool:
        return self.tier_after != self.tier_before and self.tier_after is not None


_MEMBER: Final = select(loyalty_members).where(
    loyalty_members.c.number == bindparam("number"),
    loyalty_members.c.programme == bindparam("programme"),
)


def get_member(conn: Connection, number: str, programme: str) -> Member | None:
    row = conn.execute(_MEMBER, {"number": number, "programme": programme}).first()
    if row is None:
        return None
    return Member(
        number=row.number,
        programme=row.programme,
        balance=row.balance,
        lifetime=row.lifetime,
        tier=row.tier,
        birthday=row.birthday,
        joined_at=row.joined_at,
        last_activity_at=row.last_activity_at,
    )


def ensure_member(
    conn: Connection, programme: LoadedProgramme, number: str, now_ms: int
) -> tuple[Member, bool]:
    """The member's row, created when missing; True when created now.

    Read first: a member's every message finds the row, and the insert (which
    ignores a row another writer added in between) is only for the first one.
    """
    member = get_member(conn, number, programme.name)
    if member is not None:
        return member, False
    created = (
        insert_ignore(
            conn,
            loyalty_members,
            {
                "number": number,
                "programme": programme.name,
                "balance": 0,
                "lifetime": 0,
                "tier": programme.tier_for(0),
                "birthday": None,
                "joined_at": now_ms,
                "last_activity_at": now_ms,
                "updated_at": now_ms,
            },
        )
        is not None
    )
    member = get_member(conn, number, programme.name)
    assert member is not None
    return member, created


def expires_at(programme: LoadedProgramme, at_ms: int) -> int | None:
    """When a credit made at ``at_ms`` lapses under the programme's policy."""
    expiry = programme.file.expiry
    if expiry.policy == "never":
        return None
    if expiry.policy == "after_days":
        assert expiry.days is not None
        return at_ms + expiry.days * 86_400_000
    local = datetime.fromtimestamp(at_ms / 1000, programme.zone)
    if expiry.policy == "month_end":
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    else:
        year, month = local.year + 1, 1
    boundary = datetime(year, month, 1, tzinfo=programme.zone)
    return int(boundary.astimezone(UTC).timestamp() * 1000)


def local_period_start(programme: LoadedProgramme, now_ms: int, period: str) -> int:
    """The start of the local ``day``, ``week`` (Monday) or ``month`` holding ``now_ms``."""
    local = datetime.fromtimestamp(now_ms / 1000, programme.zone)
    day = local.date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    start = datetime(day.year, day.month, day.day, tzinfo=programme.zone)
    return int(start.astimezone(UTC).timestamp() * 1000)


def credit(
    conn: Connection,
    programme: LoadedProgramme,
    number: str,
    *,
    kind: str,
    points: int,
    key: str,
    now_ms: int,
    actor: str,
    rule: str | None = None,
    reward: str | None = None,
    inbound_key: str | None = None,
    reason: str | None = None,
    lapses: bool = True,
) -> Change | None:
    """Add ``points`` under ``key``; None when ``key`` was already recorded.

    The member's row must exist. Credits of :data:`CREDIT_KINDS` count
    towards the lifetime total (and so the tier) and lapse by the expiry
    policy unless ``lapses`` is false.
    """
    if points <= 0:
        raise ValueError(f"a credit adds points, got {points}")
    earned = kind in CREDIT_KINDS
    entry = insert_ignore(
        conn,
        points_ledger,
        {
            "number": number,
            "programme": programme.name,
            "kind": kind,
            "points": points,
            "rule": rule,
            "reward": reward,
            "idempotency_key": key,
            "inbound_key": inbound_key,
            "actor": actor,
            "reason": reason,
            "expires_at": expires_at(programme, now_ms) if earned and lapses else None,
            "at": now_ms,
        },
    )
    if entry is None:
        return None
    return _apply(conn, programme, number, entry, points=points, earned=earned, now_ms=now_ms)


def debit(
    conn: Connection,
    programme: LoadedProgramme,
    number: str,
    *,
    kind: str,
    points: int,
    key: str,
    now_ms: int,
    actor: str,
    rule: str | None = None,
    reward: str | None = None,
    inbound_key: str | None = None,
    reason: str | None = None,
    boundary_ms: int | None = None,
) -> Change | None:
    """Take ``points`` under ``key``; None when ``key`` was already recorded.

    Raises :class:`ValueError` when the balance is short: the caller checks
    first, and a balance never goes below zero.
    """
    if points <= 0:
        raise ValueError(f"a debit takes points, got {points}")
    member = get_member(conn, number, programme.name)
    if member is None or member.balance < points:
        raise ValueError(f"{number} has fewer than {points} points")
    entry = insert_ignore(
        conn,
        points_ledger,
        {
            "number": number,
            "programme": programme.name,
            "kind": kind,
            "points": -points,
            "rule": rule,
            "reward": reward,
            "idempotency_key": key,
            "inbound_key": inbound_key,
            "actor": actor,
            "reason": reason,
            # An expiry records the lapse moment it settled.
            "expires_at": boundary_ms,
            "at": now_ms,
        },
    )
    if entry is None:
        return None
    return _apply(conn, programme, number, entry, points=-points, earned=False, now_ms=now_ms)


_m = loyalty_members.c
# The member's totals move and come back in one statement; the tier (worked
# out from the new lifetime total) is written by a second one only when it changes.
_MOVE: Final = (
    update(loyalty_members)
    .where(
        _m.number == bindparam("m_number"),
        _m.programme == bindparam("m_programme"),
        _m.balance + bindparam("m_points") >= 0,
    )
    .values(
        balance=_m.balance + bindparam("m_points"),
        lifetime=_m.lifetime + bindparam("m_earned"),
        last_activity_at=bindparam("m_now"),
        updated_at=bindparam("m_now"),
    )
    .returning(_m.balance, _m.lifetime, _m.tier)
)
_SET_TIER: Final = (
    update(loyalty_members)
    .where(_m.number == bindparam("m_number"), _m.programme == bindparam("m_programme"))
    .values(tier=bindparam("m_tier"))
)


def _apply(
    conn: Connection,
    programme: LoadedProgramme,
    number: str,
    entry: int,
    *,
    points: int,
    earned: bool,
    now_ms: int,
) -> Change:
    where = {"m_number": number, "m_programme": programme.name}
    moved = conn.execute(
        _MOVE, {**where, "m_points": points, "m_earned": points if earned else 0, "m_now": now_ms}
    ).first()
    if moved is None:
        if get_member(conn, number, programme.name) is None:
            raise ValueError(f"{number} is not a member of {programme.name}")
        raise ValueError(f"{number} has fewer than {-points} points")
    balance, lifetime, before = int(moved.balance), int(moved.lifetime), moved.tier
    tier = programme.tier_for(lifetime)
    # Tiers measure points ever earned: a member keeps the best one reached.
    if programme.tier_rank(before) > programme.tier_rank(tier):
        tier = before
    if tier != before:
        conn.execute(_SET_TIER, {**where, "m_tier": tier})
    return Change(entry, points, balance, before, tier)


def due_points(conn: Connection, programme: str, number: str, by_ms: int) -> tuple[int, int | None]:
    """Points of ``number`` still to lapse by ``by_ms`` and the latest lapse moment among them.

    First in, first out by expiry (see the module docstring).
    """
    credits = points_ledger.c.kind.in_(CREDIT_KINDS)
    mine = and_(points_ledger.c.number == number, points_ledger.c.programme == programme)
    due, latest = conn.execute(
        select(
            func.coalesce(func.sum(points_ledger.c.points), 0), func.max(points_ledger.c.expires_at)
        ).where(
            mine,
            credits,
            points_ledger.c.expires_at.is_not(None),
            points_ledger.c.expires_at <= by_ms,
        )
    ).one()
    consumed_negative = conn.execute(
        select(func.coalesce(func.sum(points_ledger.c.points), 0)).where(
            mine, points_ledger.c.points < 0
        )
    ).scalar_one()
    restored = conn.execute(
        select(func.coalesce(func.sum(points_ledger.c.points), 0)).where(
            mine, points_ledger.c.kind == "restore"
        )
    ).scalar_one()
    consumed = -int(consumed_negative) - int(restored)
    member = get_member(conn, number, programme)
    balance = member.balance if member is not None else 0
    return max(0, min(balance, int(due) - consumed)), (None if latest is None else int(latest))


def referral_count(conn: Connection, programme: str, referrer: str) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                and_(referrals.c.programme == programme, referrals.c.referrer == referrer)
            )
        ).scalar_one()
    )


def take_code(
    conn: Connection,
    programme: str,
    reward: str,
    *,
    number: str,
    now_ms: int,
    ledger_id: int,
    message_id: str,
) -> str | None:
    """Hand the oldest unissued code of ``reward`` to ``number``; None when the pool is empty.

    The ``UPDATE ... WHERE issued_to IS NULL`` takes a code only if no other
    writer took it first; a lost race tries the next one.
    """
    pool = and_(
        reward_codes.c.programme == programme,
        reward_codes.c.reward == reward,
        reward_codes.c.issued_to.is_(None),
    )
    for _ in range(CODE_ATTEMPTS):
        row = conn.execute(
            select(reward_codes.c.id, reward_codes.c.code)
            .where(pool)
            .order_by(reward_codes.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        taken = conn.execute(
            update(reward_codes)
            .where(and_(reward_codes.c.id == row.id, reward_codes.c.issued_to.is_(None)))
            .values(issued_to=number, issued_at=now_ms, ledger_id=ledger_id, message_id=message_id)
        )
        if taken.rowcount == 1:
            return str(row.code)
    raise RuntimeError(f"could not take a {reward} code after {CODE_ATTEMPTS} attempts")


def codes_available(conn: Connection, programme: str, reward: str) -> bool:
    return (
        conn.execute(
            select(reward_codes.c.id)
            .where(
                and_(
                    reward_codes.c.programme == programme,
                    reward_codes.c.reward == reward,
                    reward_codes.c.issued_to.is_(None),
                )
            )
            .limit(1)
        ).first()
        is not None
    )
