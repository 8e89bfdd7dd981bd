"""Carrier receipts matched by id rules; inbound MO de-duplicated, reassembled, routed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from twisted.internet.defer import succeed

from smppd.dispatch.inbound import InboundEvent
from smppd.receipt import IdBase, IdRule
from smppd.routing import InboundRoute
from smppd.smpp.constants import MessageState
from smppd.store.dispatchops import UNROUTABLE_ACCOUNT
from smppd.store.lifecycle import State
from tests.dispatch.harness import FakeConnector, Gateway, message, mo_part, route


def _gateway(engine: Engine, **kw: Any) -> tuple[Gateway, FakeConnector]:
    carrier = FakeConnector("carrier", hex_ids=kw.pop("hex_ids", False))
    gw = Gateway(engine, [carrier], [route("main", [("carrier", 1)])], **kw)
    gw.dispatcher.start()
    gw.settle()
    return gw, carrier


def _udh(ref: int, total: int, seq: int) -> bytes:
    return bytes((5, 0, 3, ref, total, seq))


def test_receipt_with_decimal_id_matches_a_hex_submit_id(engine: Engine) -> None:
    gw, _ = _gateway(engine, hex_ids=True, id_rules={"carrier": IdRule(IdBase.HEX, IdBase.DEC)})
    try:
        (mid,) = gw.hand_off(message())
        # The carrier said 3E9 in submit_sm_resp and writes 1001 (0x3E9) in the receipt.
        gw.receipt("carrier", "0001001", MessageState.DELIVERED)
        assert gw.state(mid) == "delivered"
    finally:
        gw.close()


def test_receipt_is_matched_from_the_store_when_shared_state_forgot_the_id(
    engine: Engine,
) -> None:
    gw, _ = _gateway(engine, hex_ids=True, id_rules={"carrier": IdRule(IdBase.HEX, IdBase.HEX)})
    try:
        (mid,) = gw.hand_off(message())
        gw.shared.pop_correlation("carrier", "n:1001")
        gw.receipt("carrier", "3e9", MessageState.UNDELIVERABLE, err="005")
        assert gw.state(mid) == "undeliverable"
        assert gw.rows("SELECT error_code FROM receipts") == [(5,)]
    finally:
        gw.close()


def test_receipt_arriving_before_the_submit_is_committed_matches_after_a_retry(
    engine: Engine,
) -> None:
    gw, carrier = _gateway(engine)
    carrier.hold = True
    try:
        (mid,) = gw.hand_off(message())
        box: list[Any] = []
        from smppd.connectors.base import CarrierReceipt
        from smppd.receipt import Receipt

        gw.receipts.receipt(
            CarrierReceipt("carrier", Receipt("1001", MessageState.DELIVERED), "4477", "ACME", 0.0)
        ).addBoth(box.append)
        gw.settle()
        assert gw.state(mid) == "queued"  # unknown id so far: kept, not applied
        carrier.release()  # submit_sm_resp with id 1001
        gw.settle()
        gw.advance(1, step=0.05)
        assert gw.state(mid) == "delivered"
        assert box == [None]
    finally:
        gw.close()


def test_duplicate_mo_pdu_is_stored_once_and_acknowledged_twice(engine: Engine) -> None:
    gw, _ = _gateway(engine)
    try:
        part = mo_part(b"hello there")
        assert gw.mo(part) is None
        assert gw.mo(part) is None
        gw.settle()
        assert gw.rows("SELECT account, text FROM inbound_messages WHERE account='acme'") == [
            ("acme", "hello there")
        ]
        assert gw.outbox.woken == ["acme"]
    finally:
        gw.close()


def test_three_parts_out_of_order_make_one_mo_for_the_account(engine: Engine) -> None:
    gw, _ = _gateway(engine)
    try:
        for seq, body in ((3, b"three"), (1, b"one "), (2, b"two ")):
            gw.mo(mo_part(_udh(7, 3, seq) + body, esm_class=0x40))
        gw.settle()
        assert gw.rows("SELECT text FROM inbound_messages WHERE account='acme'") == [
            ("one two three",)
        ]
        assert gw.outbox.woken == ["acme"]
    finally:
        gw.close()


def test_incomplete_mo_is_delivered_after_the_timeout_with_the_gap_marked(
    engine: Engine,
) -> None:
    gw, _ = _gateway(engine)
    try:
        gw.mo(mo_part(_udh(9, 3, 1) + b"one ", esm_class=0x40))
        gw.mo(mo_part(_udh(9, 3, 3) + b" three", esm_class=0x40))
        gw.settle()
        assert gw.scalar("SELECT count(*) FROM inbound_messages WHERE account='acme'") == 0
        gw.advance(61, step=5)
        assert gw.rows("SELECT text FROM inbound_messages WHERE account='acme'") == [
            ("one … three",)
        ]
    finally:
        gw.close()


def test_unroutable_mo_is_stored_not_dropped(engine: Engine) -> None:
    gw, _ = _gateway(engine, inbound_routes=[InboundRoute("r", "acme", ("+46700000001",))])
    try:
        gw.mo(mo_part(b"who is this", destination="46709999999"))
        gw.settle()
        assert gw.rows("SELECT account, text FROM inbound_messages WHERE text IS NOT NULL") == [
            (UNROUTABLE_ACCOUNT, "who is this")
        ]
        assert gw.outbox.woken == []
    finally:
        gw.close()


class _Keep:
    forward = False


def test_inbound_hook_can_keep_a_message_from_the_application(engine: Engine) -> None:
    seen: list[InboundEvent] = []

    def hook(event: InboundEvent) -> Any:
        seen.append(event)
        return succeed(_Keep())

    gw, _ = _gateway(engine, inbound_hook=hook)
    try:
        gw.mo(mo_part(b"STOP"))
        gw.settle()
        assert [e.text for e in seen] == ["STOP"]
        assert gw.scalar("SELECT count(*) FROM inbound_messages WHERE account='acme'") == 0
        assert gw.outbox.woken == []
    finally:
        gw.close()


def test_acknowledged_parts_survive_a_restart_and_are_reassembled(engine: Engine) -> None:
    gw, _ = _gateway(engine)
    gw.mo(mo_part(_udh(4, 2, 1) + b"first ", esm_class=0x40))
    gw.settle()
    gw.close()

    gw2, _ = _gateway(engine, clock=gw.clock)
    try:
        assert gw2.wait(gw2.inbound.start()) == 1
        gw2.mo(mo_part(_udh(4, 2, 2) + b"second", esm_class=0x40))
        gw2.settle()
        assert gw2.rows("SELECT text FROM inbound_messages WHERE account='acme'") == [
            ("first second",)
        ]
    finally:
        gw2.close()


def test_protocol_vector_hex_submit_id_meets_decimal_receipt_id(engine: Engine) -> None:
    from smppd.connectors.base import OutcomeKind, SubmitOutcome

    gw, carrier = _gateway(engine, id_rules={"carrier": IdRule.from_kannel(1)})
    carrier.script.append(SubmitOutcome(OutcomeKind.ACCEPTED, carrier_id="70BA8A69"))
    try:
        (mid,) = gw.hand_off(message())
        gw.receipt("carrier", "1891273321", MessageState.DELIVERED)
        assert gw.state(mid) == "delivered"
    finally:
        gw.close()


def test_receipt_for_an_unknown_id_is_acknowledged_and_finally_dropped(engine: Engine) -> None:
    from smppd.connectors.base import CarrierReceipt
    from smppd.receipt import Receipt

    gw, _ = _gateway(engine)
    try:
        box: list[Any] = []
        gw.receipts.receipt(
            CarrierReceipt("carrier", Receipt("424242", MessageState.DELIVERED), "1", "2", 0.0)
        ).addBoth(box.append)
        gw.advance(0.5, step=0.05)
        assert box == [None]  # the carrier is not kept waiting
        assert gw.receipts.unmatched == 1
        gw.advance(40, step=1)
        assert (gw.receipts.unmatched, gw.receipts.dropped) == (0, 1)
    finally:
        gw.close()


def test_duplicate_receipt_changes_nothing_and_makes_no_second_application_receipt(
    engine: Engine,
) -> None:
    gw, _ = _gateway(engine)
    try:
        (mid,) = gw.hand_off(message())
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        gw.receipt("carrier", "1001", MessageState.UNDELIVERABLE)
        assert gw.state(mid) == "delivered"
        assert gw.scalar("SELECT count(*) FROM receipts") == 1
    finally:
        gw.close()


def test_sar_parts_are_reassembled_like_udh_parts(engine: Engine) -> None:
    gw, _ = _gateway(engine)
    try:
        gw.mo(mo_part(b"world", sar=(300, 2, 2)))
        gw.mo(mo_part(b"hello ", sar=(300, 2, 1)))
        gw.settle()
        assert gw.rows("SELECT text FROM inbound_messages WHERE account='acme'") == [
            ("hello world",)
        ]
    finally:
        gw.close()


def test_same_part_under_another_carrier_reference_is_taken_once(engine: Engine) -> None:
    from dataclasses import replace

    gw, _ = _gateway(engine)
    try:
        first = replace(mo_part(_udh(5, 2, 1) + b"one ", esm_class=0x40), carrier_reference="a")
        gw.mo(first)
        gw.mo(replace(first, carrier_reference="b"))
        gw.mo(mo_part(_udh(5, 2, 2) + b"two", esm_class=0x40))
        gw.settle()
        assert gw.rows("SELECT text FROM inbound_messages WHERE account='acme'") == [("one two",)]
        assert (
            gw.scalar(
                "SELECT count(*) FROM inbound_messages WHERE account='~part'"
                " AND forwarded_at IS NULL"
            )
            == 0
        )
    finally:
        gw.close()


def test_receipt_hook_sees_the_final_state(engine: Engine) -> None:
    from smppd.dispatch import ReceiptHandler, ReceiptNotice

    gw, _ = _gateway(engine)
    seen: list[ReceiptNotice] = []
    gw.receipts = ReceiptHandler(
        clock=gw.clock,
        writer=gw.writer,
        outbox=gw.outbox,
        correlations=gw.shared,
        receipt_hook=seen.append,
    )
    try:
        (mid,) = gw.hand_off(message(parts=(b"a", b"b")))
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        assert seen == []
        gw.receipt("carrier", "1002", MessageState.DELIVERED)
        assert [(n.message_id, n.state, n.carrier_id) for n in seen] == [
            (mid, State.DELIVERED, "1002")
        ]
    finally:
        gw.close()


class _FailingFirstStore:
    """A writer whose first inbound store fails (the writer refused it)."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.failed = False

    def submit(self, op: Any) -> Any:
        from twisted.internet.defer import fail

        from smppd.store.errors import WriterOverloaded
        from smppd.store.ops import StoreInbound

        if isinstance(op, StoreInbound) and not self.failed:
            self.failed = True
            return fail(WriterOverloaded("busy"))
        return self._writer.submit(op)


def test_mo_whose_commit_failed_is_not_acknowledged_and_its_resend_is_stored(
    engine: Engine,
) -> None:
    from twisted.python.failure import Failure

    from smppd.store.errors import WriterOverloaded

    gw, _ = _gateway(engine)
    gw.inbound._writer = _FailingFirstStore(gw.writer)
    try:
        part = mo_part(b"please call me")
        first = gw.mo(part)
        # No deliver_sm_resp: the carrier sends it again.
        assert isinstance(first, Failure) and isinstance(first.value, WriterOverloaded)
        assert gw.mo(part) is None
        gw.settle()
        assert gw.rows("SELECT text FROM inbound_messages WHERE account='acme'") == [
            ("please call me",)
        ]
    finally:
        gw.close()


def test_resend_during_the_first_commit_is_answered_by_that_commit(engine: Engine) -> None:
    gw, _ = _gateway(engine)
    try:
        part = mo_part(b"twice")
        boxes: list[list[Any]] = [[], []]
        for box in boxes:
            gw.inbound.inbound(part).addBoth(box.append)
        assert boxes == [[], []]  # neither answered before the commit
        gw.settle()
        assert boxes == [[None], [None]]
        assert gw.scalar("SELECT count(*) FROM inbound_messages WHERE account='acme'") == 1
    finally:
        gw.close()
