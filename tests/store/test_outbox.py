"""Receipts and inbound messages wait for their application, in order, until
taken or until their hold time runs out."""

from __future__ import annotations

from sqlalchemy import Engine

from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import InboundMessage, MarkForwarded, StoreInbound, Transition
from smppd.store.outbox import drop_expired, pending_inbound, pending_receipts
from tests.store.conftest import NOW, accept, new_message


def test_receipts_wait_for_their_own_application_oldest_first(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    first, second, other = ids.new(NOW), ids.new(NOW), ids.new(NOW)
    accept(engine, new_message(first, registered_delivery=1, text="code 1"))
    accept(engine, new_message(second, registered_delivery=1))
    accept(engine, new_message(other, registered_delivery=1, account="other"))
    with engine.begin() as conn:
        Transition(first, State.EXPIRED, NOW + 5, error_code=0x62).apply(conn)
        Transition(second, State.CANCELLED, NOW + 6).apply(conn)
        Transition(other, State.FAILED, NOW + 7).apply(conn)
        waiting = pending_receipts(conn, "acme", NOW + 10)
    assert [(r.message_id, r.state, r.error_code) for r in waiting] == [
        (first, State.EXPIRED, 0x62),
        (second, State.CANCELLED, None),
    ]
    assert (waiting[0].text, waiting[0].submitted_at, waiting[0].done_at) == (
        "code 1",
        NOW,
        NOW + 5,
    )
    with engine.begin() as conn:
        MarkForwarded("receipt", waiting[0].id, NOW + 11).apply(conn)
        assert [r.message_id for r in pending_receipts(conn, "acme", NOW + 12)] == [second]


def test_inbound_messages_past_their_hold_time_are_not_delivered(engine: Engine) -> None:
    def mo(expires: float | None) -> InboundMessage:
        return InboundMessage(
            account="acme",
            connector="c",
            source_addr="447700900123",
            dest_addr="60000",
            payload=b"JOIN",
            text="JOIN",
            expires_at=expires,
        )

    with engine.begin() as conn:
        keep = StoreInbound(mo(NOW + 100), "a", NOW).apply(conn)
        StoreInbound(mo(NOW + 10), "b", NOW).apply(conn)
        forever = StoreInbound(mo(None), "c", NOW).apply(conn)
        assert [i.id for i in pending_inbound(conn, "acme", NOW + 50)] == [keep, forever]
        assert drop_expired(conn, NOW + 50) == 1
        assert pending_inbound(conn, "other", NOW) == []
