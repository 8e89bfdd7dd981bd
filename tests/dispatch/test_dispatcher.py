"""Queue -> connectors: outcomes, retries, expiry, failover, balancing, restart."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine

from smppd.connectors.base import OutcomeKind, SubmitOutcome
from smppd.dispatch import DispatchSettings
from smppd.smpp.constants import MessageState
from tests.dispatch.harness import NOW, FakeConnector, Gateway, message, route


def _gateway(engine: Engine, *connectors: FakeConnector, **kw: object) -> Gateway:
    routes = kw.pop("routes", None) or [route("main", [(c.name, 1) for c in connectors])]
    gw = Gateway(engine, list(connectors), routes, **kw)  # type: ignore[arg-type]
    gw.dispatcher.start()
    gw.settle()
    return gw


def test_accepted_message_is_submitted_then_delivered_with_one_application_receipt(
    engine: Engine,
) -> None:
    carrier = FakeConnector("carrier")
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message())
        assert gw.state(mid) == "submitted"
        assert [p.message_id for p in carrier.sent] == [mid]
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        assert gw.state(mid) == "delivered"
        assert gw.scalar(f"SELECT count(*) FROM receipts WHERE message_id='{mid}'") == 1
        assert gw.outbox.woken == ["acme"]
    finally:
        gw.close()


def test_multipart_message_is_delivered_only_when_every_part_is(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message(parts=(b"a", b"b", b"c")))
        assert gw.state(mid) == "submitted"
        ids = [str(1001 + i) for i in range(3)]
        for cid in ids[:2]:
            gw.receipt("carrier", cid, MessageState.DELIVERED)
            assert gw.state(mid) == "submitted"
        gw.receipt("carrier", ids[2], MessageState.DELIVERED)
        assert gw.state(mid) == "delivered"
        assert gw.scalar("SELECT count(*) FROM receipts") == 1
    finally:
        gw.close()


def test_multipart_message_is_undeliverable_when_one_part_is(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message(parts=(b"a", b"b", b"c")))
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        gw.receipt("carrier", "1002", MessageState.UNDELIVERABLE, err="011")
        assert gw.state(mid) == "submitted"
        gw.receipt("carrier", "1003", MessageState.DELIVERED)
        assert gw.state(mid) == "undeliverable"
        assert gw.rows("SELECT state FROM receipts") == [("undeliverable",)]
    finally:
        gw.close()


def test_intermediate_receipt_changes_nothing_final(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message())
        gw.receipt("carrier", "1001", MessageState.ENROUTE)
        assert gw.state(mid) == "submitted"
        assert gw.scalar("SELECT count(*) FROM receipts") == 0
    finally:
        gw.close()


def test_throttled_message_backs_off_and_is_sent_again(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    carrier.script.append(SubmitOutcome(OutcomeKind.RETRY, status=0x58))
    gw = _gateway(engine, carrier, settings=DispatchSettings(retry_base=5.0, retry_jitter=0.0))
    try:
        (mid,) = gw.hand_off(message())
        assert gw.state(mid) == "queued"
        assert len(carrier.sent) == 1
        gw.advance(3)
        assert len(carrier.sent) == 1  # still pausing
        gw.advance(4)
        assert len(carrier.sent) == 2
        assert gw.state(mid) == "submitted"
        assert gw.scalar(f"SELECT attempts FROM messages WHERE id='{mid}'") == 1
    finally:
        gw.close()


def test_retries_until_validity_ends_expire_the_message_with_a_receipt(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    for _ in range(20):
        carrier.script.append(SubmitOutcome(OutcomeKind.RETRY, status=0x08))
    gw = _gateway(engine, carrier, settings=DispatchSettings(retry_base=2.0, retry_jitter=0.0))
    try:
        (mid,) = gw.hand_off(message(validity_at=NOW + 20))
        gw.advance(30)
        assert gw.state(mid) == "expired"
        assert gw.rows("SELECT state, error_code FROM receipts") == [("expired", 8)]
        assert 2 <= len(carrier.sent) < 6
    finally:
        gw.close()


def test_permanent_refusal_fails_the_message_with_a_receipt_carrying_the_error(
    engine: Engine,
) -> None:
    carrier = FakeConnector("carrier")
    carrier.script.append(SubmitOutcome(OutcomeKind.FAILED, status=0x0B, detail="bad dest"))
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message())
        assert gw.state(mid) == "failed"
        assert gw.rows("SELECT state, error_code FROM receipts") == [("failed", 0x0B)]
        assert gw.outbox.woken == ["acme"]
    finally:
        gw.close()


def test_requeued_submits_after_a_drop_are_sent_again(engine: Engine) -> None:
    carrier = FakeConnector("carrier", window=2)
    carrier.hold = True
    gw = _gateway(engine, carrier)
    try:
        ids = gw.hand_off(*(message() for _ in range(5)))
        assert len(carrier.sent) == 2  # the window
        carrier.release(lambda: SubmitOutcome(OutcomeKind.REQUEUE, detail="connection lost"))
        gw.settle()
        carrier.hold = False
        carrier.release()
        gw.settle()
        assert {gw.state(m) for m in ids} == {"submitted"}
        per_message = Counter(p.message_id for p in carrier.sent)
        # At-least-once: only what was in flight at the drop went twice.
        assert sum(per_message.values()) - len(ids) <= 2
    finally:
        gw.close()


def test_failover_to_the_second_group_when_the_first_is_down_too_long(engine: Engine) -> None:
    primary, backup = FakeConnector("primary"), FakeConnector("backup")
    primary.up_flag = False
    gw = _gateway(
        engine,
        primary,
        backup,
        routes=[route("main", [("primary", 1)], [("backup", 1)])],
        settings=DispatchSettings(failover_after=10.0),
    )
    try:
        (mid,) = gw.hand_off(message())
        assert gw.state(mid) == "queued"  # a short drop is waited out
        gw.advance(12)
        assert gw.state(mid) == "submitted"
        assert [p.message_id for p in backup.sent] == [mid]
        assert primary.sent == []
    finally:
        gw.close()


def test_weighted_balancing_shares_messages_by_weight(engine: Engine) -> None:
    a, b = FakeConnector("a"), FakeConnector("b")
    gw = _gateway(engine, a, b, routes=[route("main", [("a", 3), ("b", 1)])])
    try:
        gw.hand_off(*(message() for _ in range(40)))
        assert (len(a.sent), len(b.sent)) == (30, 10)
    finally:
        gw.close()


def test_scheduled_message_waits_for_its_time(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message(schedule_at=NOW + 30))
        assert gw.state(mid) == "scheduled"
        gw.advance(20)
        assert carrier.sent == []
        gw.advance(15)
        assert gw.state(mid) == "submitted"
    finally:
        gw.close()


def test_restart_resends_what_was_in_flight(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    carrier.hold = True
    gw = _gateway(engine, carrier)
    ids = gw.hand_off(message(), message())
    assert gw.state(ids[0]) == "queued"
    gw.close()  # crash: no stop(), the in-flight submits never answer

    carrier2 = FakeConnector("carrier")
    gw2 = Gateway(engine, [carrier2], [route("main", [("carrier", 1)])], clock=gw.clock)
    try:
        gw2.dispatcher.start()
        gw2.settle()
        assert sorted(p.message_id for p in carrier2.sent) == sorted(ids)
        assert {gw2.state(m) for m in ids} == {"submitted"}
    finally:
        gw2.close()


def test_stop_returns_claimed_messages_to_the_queue(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    carrier.up_flag = False
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message())
        gw.wait(gw.dispatcher.stop())
        assert gw.scalar(f"SELECT next_attempt_at FROM messages WHERE id='{mid}'") == int(
            NOW * 1000
        )
    finally:
        gw.close()


def test_urgent_messages_leave_before_earlier_normal_ones(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    carrier.up_flag = False
    gw = _gateway(engine, carrier)
    try:
        normal = gw.hand_off(message(), message())
        (urgent,) = gw.hand_off(message(priority=1))
        carrier.up_flag = True
        gw.dispatcher.state_changed("carrier", True, "bound")
        gw.settle()
        assert [p.message_id for p in carrier.sent] == [urgent, *normal]
    finally:
        gw.close()


def test_cancelled_message_is_not_sent(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    carrier.up_flag = False
    gw = _gateway(engine, carrier)
    try:
        kept, dropped = gw.hand_off(message(), message())
        gw.dispatcher.cancelled(dropped)
        carrier.up_flag = True
        gw.dispatcher.state_changed("carrier", True, "bound")
        gw.settle()
        assert [p.message_id for p in carrier.sent] == [kept]
    finally:
        gw.close()


def test_message_past_its_validity_expires_without_being_sent(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message(validity_at=NOW - 1))
        assert gw.state(mid) == "expired"
        assert carrier.sent == []
        assert gw.rows("SELECT state FROM receipts") == [("expired",)]
        assert gw.outbox.woken == ["acme"]
    finally:
        gw.close()


def test_carrier_retry_after_pauses_the_whole_connector(engine: Engine) -> None:
    carrier = FakeConnector("carrier", window=1)
    carrier.script.append(SubmitOutcome(OutcomeKind.RETRY, status=0x58, retry_after=3.0))
    gw = _gateway(engine, carrier)
    try:
        first, second = gw.hand_off(message(), message())
        assert [p.message_id for p in carrier.sent] == [first]
        gw.advance(2)
        assert [p.message_id for p in carrier.sent] == [first]
        gw.advance(2)
        assert {gw.state(first), gw.state(second)} == {"submitted"}
    finally:
        gw.close()


def test_message_without_a_route_fails_with_a_receipt(engine: Engine) -> None:
    carrier = FakeConnector("carrier")
    gw = _gateway(engine, carrier)
    try:
        (mid,) = gw.hand_off(message(route="gone"))
        assert gw.state(mid) == "failed"
        assert carrier.sent == []
        assert gw.rows("SELECT state FROM receipts") == [("failed",)]
    finally:
        gw.close()


def test_backoff_grows_exponentially_and_stays_under_the_cap() -> None:
    import random

    from smppd.dispatch.dispatcher import backoff_delay

    rng = random.Random(1)
    delays = [backoff_delay(n, 5.0, 60.0, 0.0, rng) for n in range(1, 8)]
    assert delays == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0]
    jittered = [backoff_delay(3, 5.0, 60.0, 0.2, rng) for _ in range(200)]
    assert min(jittered) >= 16.0 and max(jittered) <= 24.0
    assert len(set(jittered)) > 100
