"""Writes: every transition stamped, receipts owed per registered_delivery,
parts and carrier ids, inbound de-duplication."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from smppd.store import models as m
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import InvalidTransition, State
from smppd.store.ops import (
    InboundMessage,
    MarkForwarded,
    PartSubmitted,
    SeenInbound,
    StoreInbound,
    Transition,
    wants_receipt,
)
from tests.store.conftest import NOW, accept, count, new_message


def _apply(engine: Engine, op: object) -> object:
    with engine.begin() as conn:
        return op.apply(conn)  # type: ignore[attr-defined]


def test_a_message_is_stored_in_state_accepted_with_its_parts_and_acceptance_time(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key, parts=(b"one", b"two"), validity_at=NOW + 60))
    with engine.connect() as conn:
        msg = conn.execute(select(m.messages).where(m.messages.c.id == key)).one()
        parts = conn.execute(select(m.message_parts).order_by(m.message_parts.c.part_no)).all()
        history = conn.execute(select(m.message_transitions)).all()
    assert (msg.state, msg.part_count, msg.accepted_at, msg.validity_at) == (
        "accepted",
        2,
        1_800_000_000_000,
        1_800_000_060_000,
    )
    assert [(p.part_no, p.payload, p.state) for p in parts] == [
        (1, b"one", "pending"),
        (2, b"two", "pending"),
    ]
    # Acceptance is stamped on the row itself, not in the transition history.
    assert history == []


def test_every_transition_is_stamped_with_its_time_in_the_history(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key))
    _apply(engine, Transition(key, State.QUEUED, NOW + 1))
    _apply(
        engine, Transition(key, State.QUEUED, NOW + 2, error_code=0x58, next_attempt_at=NOW + 30)
    )
    _apply(engine, PartSubmitted(key, 1, "carrier-a", "C-1", NOW + 3))
    _apply(engine, Transition(key, State.DELIVERED, NOW + 4))
    with engine.connect() as conn:
        history = conn.execute(
            select(m.message_transitions).order_by(m.message_transitions.c.id)
        ).all()
        msg = conn.execute(select(m.messages)).one()
    assert [(h.from_state, h.to_state, h.at - 1_800_000_000_000) for h in history] == [
        ("accepted", "queued", 1000),
        ("queued", "queued", 2000),
        ("queued", "submitted", 3000),
        ("submitted", "delivered", 4000),
    ]
    assert history[1].error_code == 0x58
    assert (msg.state, msg.attempts, msg.connector) == ("delivered", 1, "carrier-a")
    assert msg.finished_at == 1_800_000_004_000
    assert msg.next_attempt_at is None


def test_an_invalid_transition_changes_nothing(engine: Engine, ids: MessageIdGenerator) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key))
    with pytest.raises(InvalidTransition):
        _apply(engine, Transition(key, State.DELIVERED, NOW))
    assert count(engine, "SELECT count(*) FROM message_transitions") == 0
    assert count(engine, "SELECT count(*) FROM messages WHERE state = 'accepted'") == 1


@pytest.mark.parametrize(
    ("registered_delivery", "final", "owed"),
    [
        (0x00, State.DELIVERED, False),
        (0x00, State.UNDELIVERABLE, False),
        (0x01, State.DELIVERED, True),
        (0x01, State.EXPIRED, True),
        (0x02, State.DELIVERED, False),
        (0x02, State.REJECTED, True),
        (0x03, State.DELIVERED, True),
        (0x03, State.FAILED, False),
        # Intermediate-notification and SME-ack bits do not change the answer.
        (0x11, State.DELIVERED, True),
        (0x1E, State.UNDELIVERABLE, True),
    ],
)
def test_a_receipt_is_owed_exactly_when_registered_delivery_asks(
    registered_delivery: int, final: State, owed: bool
) -> None:
    assert wants_receipt(registered_delivery, final) is owed


def test_a_final_state_creates_the_receipt_the_application_asked_for(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    wants, silent = ids.new(NOW), ids.new(NOW)
    accept(engine, new_message(wants, registered_delivery=1))
    accept(engine, new_message(silent, registered_delivery=0))
    for key in (wants, silent):
        _apply(engine, Transition(key, State.FAILED, NOW + 5, error_code=0x0B, detail="no route"))
    with engine.connect() as conn:
        rows = conn.execute(select(m.receipts)).all()
    assert [(r.message_id, r.account, r.state, r.error_code, r.forwarded_at) for r in rows] == [
        (wants, "acme", "failed", 0x0B, None)
    ]


def test_a_multipart_message_is_submitted_when_its_last_part_has_a_carrier_id(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key, parts=(b"a", b"b", b"c")))
    _apply(engine, Transition(key, State.QUEUED, NOW))
    moved = [
        _apply(engine, PartSubmitted(key, no, "carrier-a", f"C-{no}", NOW)) for no in (2, 1, 3)
    ]
    assert moved == [False, False, True]
    with engine.connect() as conn:
        parts = conn.execute(
            select(m.message_parts.c.carrier_message_id).order_by(m.message_parts.c.part_no)
        ).scalars()
        assert list(parts) == ["C-1", "C-2", "C-3"]
        assert conn.execute(select(m.messages.c.state)).scalar_one() == "submitted"


def test_a_carrier_id_for_a_message_not_queued_is_refused(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    key = ids.new(NOW)
    accept(engine, new_message(key))
    with pytest.raises(InvalidTransition):
        _apply(engine, PartSubmitted(key, 1, "carrier-a", "C-1", NOW))


def test_a_carrier_resending_an_inbound_pdu_is_stored_once(engine: Engine) -> None:
    mo = InboundMessage(
        account="acme",
        connector="carrier-a",
        source_addr="447700900123",
        dest_addr="60000",
        payload=b"STOP",
        text="STOP",
        carrier_message_id="MO-1",
        expires_at=NOW + 3600,
    )
    first = _apply(engine, StoreInbound(mo, "MO-1", NOW))
    again = _apply(engine, StoreInbound(mo, "MO-1", NOW + 30))
    assert isinstance(first, int)
    assert again is None
    assert count(engine, "SELECT count(*) FROM inbound_messages") == 1
    # The same id from another carrier is a different message.
    assert _apply(engine, SeenInbound("carrier-b", "MO-1", NOW)) is True
    assert _apply(engine, SeenInbound("carrier-b", "MO-1", NOW)) is False


def test_an_inbound_message_is_forwarded_once(engine: Engine) -> None:
    mo = InboundMessage(
        account="acme", connector="c", source_addr="1", dest_addr="2", payload=b"hi"
    )
    row_id = _apply(engine, StoreInbound(mo, "fp", NOW))
    assert isinstance(row_id, int)
    assert _apply(engine, MarkForwarded("inbound", row_id, NOW + 1)) is True
    assert _apply(engine, MarkForwarded("inbound", row_id, NOW + 2)) is False


def test_in_one_commit_the_first_acknowledgement_of_a_row_wins(engine: Engine) -> None:
    # Under load one commit carries many deliver_sm_resp acknowledgements,
    # applied together: a row acknowledged twice in it (a resent deliver_sm
    # answered twice) is forwarded once, at the first acknowledgement's time.
    rows = []
    for n in range(2):
        mo = InboundMessage(
            account="acme", connector="c", source_addr="1", dest_addr="2", payload=b"hi"
        )
        row_id = _apply(engine, StoreInbound(mo, f"fp-{n}", NOW))
        assert isinstance(row_id, int)
        rows.append(row_id)
    first, second = rows
    ops = [
        MarkForwarded("inbound", first, NOW + 1),
        MarkForwarded("inbound", first, NOW + 2),
        MarkForwarded("inbound", second, NOW + 3),
    ]
    with engine.begin() as conn:
        assert MarkForwarded.apply_many(conn, ops) == [True, False, True]
    assert count(engine, f"SELECT forwarded_at FROM inbound_messages WHERE id = {first}") == (
        NOW + 1
    ) * 1000
    with engine.begin() as conn:
        assert MarkForwarded.apply_many(conn, ops[:1]) == [False]
