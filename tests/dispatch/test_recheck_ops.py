"""The store side of checking held marketing again, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Engine, text

from smppd.store.dispatchops import (
    ClaimDue,
    HoldAgain,
    RefuseHeld,
    ReturnHeld,
    SendHeld,
    TakeMessages,
    Taken,
)
from smppd.store.ops import WriteOp

# The store tests' fixtures: ``engine`` runs each test on SQLite and on PostgreSQL.
from tests.store.conftest import (  # noqa: F401
    _pg_engine,
    _sqlite_template,
    accept,
    engine,
    new_message,
    postgres_url,
    store_url,
)

T = TypeVar("T")
NOW = 1_800_000_000.0
DUE = NOW + 3600
LEASE = 120.0


def _run(eng: Engine, op: WriteOp[T]) -> T:
    with eng.begin() as conn:
        return op.apply(conn)


def _row(eng: Engine, mid: str) -> Any:
    with eng.connect() as conn:
        return conn.execute(
            text(
                "SELECT state, schedule_at, next_attempt_at, error_code, error_detail"
                f" FROM messages WHERE id = '{mid}'"
            )
        ).one()


def _held(eng: Engine, mid: str, **fields: Any) -> str:
    """A message accepted at NOW, handed over and scheduled until DUE."""
    values: dict[str, Any] = {"traffic_class": "marketing", "schedule_at": DUE}
    values.update(fields)
    accept(eng, new_message(mid, **values), NOW)
    taken = _run(eng, TakeMessages((mid,), NOW, NOW + LEASE))
    assert taken.scheduled == ((mid, DUE),)
    return mid


def _claim(eng: Engine, at: float = DUE, *, check_held: bool = True) -> Taken:
    return _run(eng, ClaimDue(at, at, at + LEASE, check_held=check_held))


def test_a_due_scan_leases_held_marketing_without_queueing_it(engine: Engine) -> None:  # noqa: F811
    mid = _held(engine, "h1", registered_delivery=1)
    other = _held(engine, "t1", traffic_class="transactional")
    taken = _claim(engine)
    assert [m.id for m in taken.messages] == [other]
    (held,) = taken.held
    assert (held.id, held.traffic_class, held.schedule_at) == (mid, "marketing", DUE)
    assert held.registered_delivery == 1
    assert [p.part_no for p in held.pending] == [1]
    row = _row(engine, mid)
    assert (row.state, row.next_attempt_at) == ("scheduled", int((DUE + LEASE) * 1000))
    # Leased: the next scans leave it alone until the lease runs out.
    assert _claim(engine, DUE + 1).held == ()
    assert [m.id for m in _claim(engine, DUE + LEASE).held] == [mid]


def test_without_check_held_the_scan_queues_held_marketing_as_before(
    engine: Engine,  # noqa: F811
) -> None:
    mid = _held(engine, "h1")
    taken = _claim(engine, check_held=False)
    assert [m.id for m in taken.messages] == [mid] and taken.held == ()
    assert _row(engine, mid).state == "queued"


def test_sending_a_held_message_queues_it_under_the_lease(engine: Engine) -> None:  # noqa: F811
    mid = _held(engine, "h1")
    _claim(engine)
    assert _run(engine, SendHeld(mid, DUE, DUE + LEASE)) is True
    row = _row(engine, mid)
    assert (row.state, row.next_attempt_at) == ("queued", int((DUE + LEASE) * 1000))
    assert _run(engine, SendHeld(mid, DUE, DUE + LEASE)) is False


def test_refusing_a_held_message_rejects_it_with_its_receipt(engine: Engine) -> None:  # noqa: F811
    mid = _held(engine, "h1", registered_delivery=1)
    _claim(engine)
    assert _run(engine, RefuseHeld(mid, DUE, 0x440, "recipient opted out")) is True
    row = _row(engine, mid)
    assert (row.state, row.error_code, row.error_detail) == (
        "rejected",
        0x440,
        "recipient opted out",
    )
    with engine.connect() as conn:
        receipts = conn.execute(
            text(f"SELECT state, error_code FROM receipts WHERE message_id = '{mid}'")
        ).all()
        parts = conn.execute(
            text(f"SELECT state FROM message_parts WHERE message_id = '{mid}'")
        ).all()
    assert [tuple(r) for r in receipts] == [("rejected", 0x440)]
    assert [tuple(p) for p in parts] == [("rejected",)]
    assert _run(engine, RefuseHeld(mid, DUE, 0x440, "again")) is False


def test_holding_again_moves_its_time_and_is_bounded_by_validity(
    engine: Engine,  # noqa: F811
) -> None:
    mid = _held(engine, "h1")
    short = _held(engine, "h2", validity_at=DUE + 600)
    _claim(engine)
    later = DUE + 7200
    assert _run(engine, HoldAgain(mid, DUE, later, "quiet hours")) is True
    assert _run(engine, HoldAgain(short, DUE, later, "quiet hours")) is True
    row = _row(engine, mid)
    assert (row.state, row.schedule_at, row.next_attempt_at) == (
        "scheduled",
        int(later * 1000),
        int(later * 1000),
    )
    assert _row(engine, short).next_attempt_at == int((DUE + 600) * 1000)
    # Due at its validity: the scan expires it rather than holding it to the end.
    taken = _claim(engine, DUE + 600)
    assert taken.expired == ((short, "acme"),) and taken.held == ()
    assert _claim(engine, later).held[0].id == mid


def test_returning_held_messages_makes_them_due_unless_held_again(
    engine: Engine,  # noqa: F811
) -> None:
    mid = _held(engine, "h1")
    again = _held(engine, "h2")
    _claim(engine)
    _run(engine, HoldAgain(again, DUE, DUE + 7200, "cap"))
    assert _run(engine, ReturnHeld((mid, again), DUE + 5)) == 1
    assert _row(engine, mid).next_attempt_at == int((DUE + 5) * 1000)
    assert _row(engine, again).next_attempt_at == int((DUE + 7200) * 1000)
    assert [m.id for m in _claim(engine, DUE + 6).held] == [mid]
