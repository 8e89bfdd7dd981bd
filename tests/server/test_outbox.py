"""Receipts and MO to receiver/transceiver binds: window, acknowledgement, holding, retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from twisted.internet.defer import Deferred

from smppd.server.service import ServerSettings
from smppd.smpp import CommandStatus
from smppd.smpp.constants import MessageState
from smppd.smpp.pdu import DeliverSm, DeliverSmResp, Pdu
from smppd.store.lifecycle import State
from smppd.store.ops import (
    AcceptMessage,
    InboundMessage,
    NewMessage,
    PartSubmitted,
    StoreInbound,
    Transition,
)
from tests.server.harness import NOW, App, Harness

S = CommandStatus


def receipt_for(harness: Harness, text: str = "hello", final: State = State.DELIVERED) -> str:
    """A message of 'shop' taken to ``final``, which leaves a receipt owed."""
    mid = harness.ids.new(NOW)
    message = NewMessage(
        id=mid,
        account="shop",
        source_addr="Shop",
        source_ton=5,
        source_npi=0,
        dest_addr="447700900123",
        payload=text.encode(),
        parts=(text.encode(),),
        registered_delivery=1,
        text=text,
        route="uk",
    )
    harness.apply(AcceptMessage(message, NOW))
    harness.apply(Transition(mid, State.QUEUED, NOW))
    harness.apply(PartSubmitted(mid, 1, "sim", f"c-{mid}", NOW + 1))
    harness.apply(Transition(mid, final, NOW + 60))
    return mid


def inbound_for(harness: Harness, text: bytes = b"STOP", key: str = "fp-1") -> int:
    row = harness.apply(
        StoreInbound(
            InboundMessage(
                account="shop",
                connector="sim",
                source_addr="447700900123",
                dest_addr="72345",
                payload=text,
            ),
            key,
            NOW,
        )
    )
    assert row is not None
    return row


def deliveries(app: App) -> list[DeliverSm]:
    return [p for p in app.read() if isinstance(p, DeliverSm)]


def _collect(app: App, into: list[DeliverSm]) -> bool:
    more = deliveries(app)
    into.extend(more)
    return bool(more)


def answer(app: App, pdu: Pdu, status: int = 0) -> None:
    app.send(DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status))


def settled(harness: Harness) -> None:
    harness.settle(lambda: harness.server.outbox.in_flight("shop") == 0)


def owed(harness: Harness, table: str = "receipts") -> int:
    return int(
        harness.scalar(
            f"SELECT count(*) FROM {table} WHERE forwarded_at IS NULL AND dropped_at IS NULL"
        )
    )


def test_receipt_goes_to_a_transceiver_bind_and_is_marked_forwarded_on_its_resp(
    harness: Harness,
) -> None:
    app = harness.connect()
    app.bind("trx")
    mid = receipt_for(harness)
    harness.server.wake("shop")
    (dlr,) = deliveries(app)
    assert dlr.esm_class == 0x04
    assert dlr.receipted_message_id == mid
    assert dlr.message_state == MessageState.DELIVERED
    assert dlr.short_message.startswith(f"id:{mid} sub:001 dlvrd:001 ".encode())
    assert b"stat:DELIVRD" in dlr.short_message
    # It travels back: from the message's destination to its sender.
    assert (dlr.source_addr, dlr.destination_addr, dlr.dest_addr_ton) == ("447700900123", "Shop", 5)
    assert owed(harness) == 1
    answer(app, dlr)
    settled(harness)
    assert owed(harness) == 0


def test_receipts_are_held_until_a_receiver_binds(harness: Harness) -> None:
    transmitter = harness.connect()
    transmitter.bind("tx")
    first, second = receipt_for(harness, "one"), receipt_for(harness, "two")
    harness.server.wake("shop")
    assert deliveries(transmitter) == []
    receiver = harness.connect("127.0.0.2")
    receiver.bind("rx")
    got = deliveries(receiver)
    assert [d.receipted_message_id for d in got] == [first, second]
    for dlr in got:
        answer(receiver, dlr)
    settled(harness)
    assert owed(harness) == 0
    assert deliveries(transmitter) == []


def test_window_of_outstanding_deliver_sm_is_respected(engine: Engine) -> None:
    harness = Harness(engine, settings=ServerSettings(window=2))
    harness.add_account()
    try:
        for n in range(5):
            receipt_for(harness, f"m{n}")
        app = harness.connect()
        app.bind("rx")
        first = deliveries(app)
        assert len(first) == 2
        harness.server.wake("shop")
        assert deliveries(app) == []
        answer(app, first[0])
        third = deliveries(app)
        assert len(third) == 1
        assert third[0].receipted_message_id not in {d.receipted_message_id for d in first}
        sent = first + third
        answered = {first[0].sequence_number}
        while True:
            for dlr in sent:
                if dlr.sequence_number not in answered:
                    answered.add(dlr.sequence_number)
                    answer(app, dlr)
            if len(sent) == 5:
                break
            harness.settle(lambda: _collect(app, sent))
        settled(harness)
        assert len({d.receipted_message_id for d in sent}) == 5
        assert owed(harness) == 0
    finally:
        harness.close()


def test_inbound_message_is_delivered_and_marked_forwarded(harness: Harness) -> None:
    inbound_for(harness, b"STOP")
    app = harness.connect()
    app.bind("rx")
    (mo,) = deliveries(app)
    assert (mo.source_addr, mo.destination_addr, mo.short_message) == (
        "447700900123",
        "72345",
        b"STOP",
    )
    assert mo.esm_class == 0
    answer(app, mo)
    settled(harness)
    assert owed(harness, "inbound_messages") == 0


def test_a_long_inbound_message_travels_in_message_payload(harness: Harness) -> None:
    inbound_for(harness, b"z" * 300)
    app = harness.connect()
    app.bind("rx")
    (mo,) = deliveries(app)
    assert mo.short_message == b""
    assert mo.message_payload == b"z" * 300


def test_a_receipt_refused_for_good_is_dropped(harness: Harness) -> None:
    receipt_for(harness)
    app = harness.connect()
    app.bind("trx")
    (dlr,) = deliveries(app)
    answer(app, dlr, S.ESME_RX_P_APPN)
    settled(harness)
    assert owed(harness) == 0
    assert harness.scalar("SELECT count(*) FROM receipts WHERE dropped_at IS NOT NULL") == 1


def test_a_temporary_refusal_is_offered_again_after_the_retry_delay(harness: Harness) -> None:
    mid = receipt_for(harness)
    app = harness.connect()
    app.bind("trx")
    (dlr,) = deliveries(app)
    answer(app, dlr, S.ESME_RX_T_APPN)
    assert deliveries(app) == []
    harness.clock.advance(10.0)
    (again,) = deliveries(app)
    assert again.receipted_message_id == mid
    answer(app, again)
    settled(harness)
    assert owed(harness) == 0


def test_a_receipt_not_acknowledged_before_the_connection_dropped_is_sent_after_rebind(
    harness: Harness,
) -> None:
    mid = receipt_for(harness)
    app = harness.connect()
    app.bind("trx")
    assert [d.receipted_message_id for d in deliveries(app)] == [mid]
    app.lose()
    later = harness.connect()
    later.bind("trx")
    (dlr,) = deliveries(later)
    assert dlr.receipted_message_id == mid


def test_a_wake_for_an_account_bound_on_another_node_is_passed_there(engine: Engine) -> None:
    here = Harness(engine, settings=ServerSettings(node="node-a"))
    here.add_account()
    # Both nodes share one shared state, as with Redis.
    there = Harness(engine, settings=ServerSettings(node="node-b"), shared=here.shared)
    try:
        app = there.connect()
        app.bind("rx")
        receipt_for(here)
        here.server.wake("shop")
        here.clock.advance(0)  # the in-process messaging delivers on a later turn
        assert len(deliveries(app)) == 1
    finally:
        there.close()
        here.close()


def test_a_receipt_acknowledged_while_a_read_is_under_way_is_not_sent_again(
    harness: Harness,
) -> None:
    app = harness.connect()
    app.bind("trx")
    receipt_for(harness)
    harness.server.wake("shop")
    (dlr,) = deliveries(app)

    # The next read of what is owed takes its snapshot now (the receipt is
    # still owed) but its answer reaches the reactor only when released.
    held: list[tuple[Deferred[Any], Any]] = []

    def held_runner(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        result = fn(*args)
        waiting: Deferred[Any] = Deferred()
        held.append((waiting, result))
        return waiting

    harness.server.outbox._run = held_runner  # type: ignore[method-assign]
    harness.server.wake("shop")
    assert len(held) == 1
    # The application acknowledges meanwhile, and that commits first.
    answer(app, dlr)
    settled(harness)
    assert owed(harness) == 0
    waiting, snapshot = held.pop()
    waiting.callback(snapshot)
    assert deliveries(app) == []
