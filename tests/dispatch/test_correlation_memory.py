"""The carrier-id correlations kept in shared state do not outlive their use."""

from __future__ import annotations

from sqlalchemy import Engine

from smppd.receipt import IdBase, IdRule
from smppd.smpp.constants import MessageState
from tests.dispatch.harness import FakeConnector, Gateway, message, route


def _gateway(engine: Engine, rule: IdRule) -> Gateway:
    carrier = FakeConnector("carrier")
    gw = Gateway(engine, [carrier], [route("main", [("carrier", 1)])], id_rules={"carrier": rule})
    gw.dispatcher.start()
    gw.settle()
    return gw


def test_a_final_receipt_forgets_every_correlation_of_its_part(engine: Engine) -> None:
    # AUTO ids are kept under their decimal and their hex reading: both go.
    gw = _gateway(engine, IdRule())
    try:
        mids = [gw.hand_off(message())[0] for _ in range(3)]
        assert gw.shared.stats().correlations == 6
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        gw.receipt("carrier", "1002", MessageState.UNDELIVERABLE, err="005")
        assert [gw.state(m) for m in mids] == ["delivered", "undeliverable", "submitted"]
        assert gw.shared.stats().correlations == 2
    finally:
        gw.close()


def test_an_intermediate_receipt_keeps_the_correlation(engine: Engine) -> None:
    gw = _gateway(engine, IdRule(IdBase.DEC, IdBase.DEC))
    try:
        (mid,) = gw.hand_off(message())
        gw.receipt("carrier", "1001", MessageState.ENROUTE)
        assert gw.shared.stats().correlations == 1
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        assert gw.state(mid) == "delivered"
        assert gw.shared.stats().correlations == 0
    finally:
        gw.close()


def test_a_repeated_final_receipt_is_still_matched_through_the_store(engine: Engine) -> None:
    gw = _gateway(engine, IdRule(IdBase.DEC, IdBase.DEC))
    try:
        (mid,) = gw.hand_off(message())
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        gw.receipt("carrier", "1001", MessageState.DELIVERED)
        assert gw.state(mid) == "delivered"
        assert gw.rows("SELECT count(*) FROM receipts") == [(1,)]
        assert gw.receipts.dropped == 0
    finally:
        gw.close()
