"""The message class TLV, plugin refusals answered with a receipt, and composed messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import Deferred, succeed

from plugins.api import Accept, MessageClass, OutboundMessage, Refuse, Verdict
from smppd.routing import AddressNormaliser, OutboundRoute, OutboundRouter, Target, TargetGroup
from smppd.routing.outbound import MessageClass as RouteClass
from smppd.server.submit import Composition, Refusal, Submission, SubmitChecker
from smppd.smpp import CommandStatus
from smppd.smpp.constants import MessageState, VendorTag
from smppd.smpp.pdu import (
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
)
from smppd.smpp.tlv import Tlv
from smppd.store.accounts import Account, AccountSettings
from smppd.store.ids import MessageIdGenerator
from tests.server.harness import NOW, App, Harness

S = CommandStatus
DEST = "447700900123"
OTHER = "447700900456"


def submit(seq: int = 1, **fields: Any) -> SubmitSm:
    values: dict[str, Any] = {
        "source_addr": "Shop",
        "source_addr_ton": 5,
        "destination_addr": DEST,
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "short_message": b"hello",
    }
    values.update(fields)
    return SubmitSm(sequence_number=seq, **values)


def message_class(value: bytes) -> tuple[Tlv, ...]:
    return (Tlv(VendorTag.SMPPD_MESSAGE_CLASS, value),)


def submitted(app: App, pdu: SubmitSm) -> SubmitSmResp:
    resp = app.request(pdu)
    assert isinstance(resp, SubmitSmResp)
    return resp


def stored(harness: Harness, message_id: str, column: str) -> Any:
    return harness.scalar(f"SELECT {column} FROM messages WHERE id = :id", id=message_id)


def recording(
    decide: Callable[[OutboundMessage], Verdict], seen: list[OutboundMessage]
) -> Callable[[OutboundMessage], Deferred[Verdict]]:
    def check(message: OutboundMessage) -> Deferred[Verdict]:
        seen.append(message)
        return succeed(decide(message))

    return check


@pytest.fixture
def checked(engine: Engine) -> Any:
    """A harness whose outbound check is given per test, with the account 'shop'."""
    made: list[Harness] = []

    def make(
        decide: Callable[[OutboundMessage], Verdict],
        seen: list[OutboundMessage] | None = None,
        **account: Any,
    ) -> Harness:
        harness = Harness(engine, outbound_check=recording(decide, [] if seen is None else seen))
        harness.add_account(**account)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


def bound(harness: Harness, mode: str = "trx", peer: str = "127.0.0.1") -> App:
    app = harness.connect(peer)
    assert app.bind(mode).command_status == 0
    return app


# -- the smppd_message_class TLV -------------------------------------------------------


@pytest.mark.parametrize(
    ("account_class", "tlv", "expected"),
    [
        ("marketing", b"\x00", "transactional"),
        ("transactional", b"\x01", "marketing"),
        ("marketing", None, "marketing"),
        ("transactional", None, "transactional"),
    ],
)
def test_the_message_class_tlv_overrides_the_accounts_class_for_that_message(
    checked: Any, account_class: str, tlv: bytes | None, expected: str
) -> None:
    seen: list[OutboundMessage] = []
    harness = checked(lambda _: Accept(), seen, traffic_class=account_class)
    app = bound(harness)
    tlvs = () if tlv is None else message_class(tlv)
    resp = submitted(app, submit(tlvs=tlvs))
    assert resp.command_status == 0
    assert stored(harness, resp.message_id, "traffic_class") == expected
    assert seen[0].message_class is MessageClass(expected)


def test_the_message_class_tlv_works_on_data_sm_and_submit_multi(checked: Any) -> None:
    seen: list[OutboundMessage] = []
    harness = checked(lambda _: Accept(), seen, traffic_class="marketing")
    app = bound(harness)
    data = app.request(
        DataSm(
            sequence_number=app.next_seq(),
            source_addr="Shop",
            source_addr_ton=5,
            destination_addr=DEST,
            dest_addr_ton=1,
            dest_addr_npi=1,
            tlvs=(Tlv.message_payload(b"hi"), *message_class(b"\x00")),
        )
    )
    assert isinstance(data, DataSmResp)
    assert stored(harness, data.message_id, "traffic_class") == "transactional"
    multi = app.request(
        SubmitMulti(
            sequence_number=app.next_seq(),
            source_addr="Shop",
            source_addr_ton=5,
            destinations=(
                SmeAddress(ton=1, npi=1, address=DEST),
                SmeAddress(ton=1, npi=1, address=OTHER),
            ),
            short_message=b"to both",
            tlvs=message_class(b"\x00"),
        )
    )
    assert isinstance(multi, SubmitMultiResp) and multi.command_status == 0
    classes = harness.scalar(
        "SELECT count(*) FROM messages WHERE traffic_class = 'transactional'"
        " AND text = 'to both' AND dest_addr IN (:a, :b)",
        a=DEST,
        b=OTHER,
    )
    assert classes == 2


@pytest.mark.parametrize("value", [b"\x02", b"\xff", b"", b"\x00\x01"])
def test_a_bad_message_class_tlv_is_an_invalid_optional_parameter_and_the_bind_lives_on(
    harness: Harness, value: bytes
) -> None:
    app = bound(harness)
    resp = app.request(submit(tlvs=message_class(value)), settle=False)
    assert resp.command_status == S.ESME_RINVOPTPARAMVAL
    assert harness.scalar("SELECT count(*) FROM messages") == 0
    assert not app.closed
    alive = app.request(EnquireLink(sequence_number=app.next_seq()), settle=False)
    assert alive.command_status == 0
    assert app.request(submit(seq=app.next_seq())).command_status == 0


def test_routing_sees_the_messages_class() -> None:
    routes = (
        OutboundRoute(
            "promo",
            (TargetGroup((Target("bulk"),)),),
            msg_class=RouteClass.MARKETING,
        ),
        OutboundRoute(
            "otp",
            (TargetGroup((Target("premium"),)),),
            msg_class=RouteClass.TRANSACTIONAL,
        ),
    )
    checker = SubmitChecker(AddressNormaliser(), OutboundRouter(routes), MessageIdGenerator())
    account = Account(1, "shop", True, AccountSettings(traffic_class="marketing"), NOW, NOW)
    plain = checker.submit_sm(submit(), account, NOW)
    override = checker.submit_sm(submit(tlvs=message_class(b"\x00")), account, NOW)
    assert isinstance(plain, Submission) and isinstance(override, Submission)
    assert plain.message.route == "promo"
    assert override.message.route == "otp"


# -- Refuse(answer="receipt") ----------------------------------------------------------


def refuse_with_receipt(_: OutboundMessage) -> Verdict:
    return Refuse(S.ESME_RX_R_APPN, "recipient opted out", answer="receipt")


def test_a_refusal_with_a_receipt_is_answered_ok_and_stored_rejected(checked: Any) -> None:
    harness = checked(refuse_with_receipt)
    app = bound(harness, "tx")
    resp = submitted(app, submit(registered_delivery=1))
    assert resp.command_status == 0
    assert resp.message_id
    assert stored(harness, resp.message_id, "state") == "rejected"
    assert stored(harness, resp.message_id, "error_code") == S.ESME_RX_R_APPN
    assert stored(harness, resp.message_id, "error_detail") == "recipient opted out"
    # Never dispatched.
    assert harness.dispatch.ids == []


def test_the_rejectd_receipt_of_a_refusal_reaches_a_receiver_bind(checked: Any) -> None:
    harness = checked(refuse_with_receipt)
    transmitter = bound(harness, "tx")
    receiver = bound(harness, "rx", peer="127.0.0.2")
    resp = submitted(transmitter, submit(registered_delivery=1))
    got: list[DeliverSm] = []

    def delivered() -> bool:
        got.extend(p for p in receiver.read() if isinstance(p, DeliverSm))
        return bool(got)

    harness.settle(delivered)
    (dlr,) = got
    assert dlr.esm_class == 0x04
    assert dlr.receipted_message_id == resp.message_id
    assert dlr.message_state == MessageState.REJECTED
    assert b"stat:REJECTD" in dlr.short_message
    receiver.send(DeliverSmResp(sequence_number=dlr.sequence_number))
    harness.settle(lambda: harness.server.outbox.in_flight("shop") == 0)
    assert harness.scalar("SELECT count(*) FROM receipts WHERE forwarded_at IS NULL") == 0


def test_a_refusal_with_a_receipt_makes_no_receipt_nobody_asked_for(checked: Any) -> None:
    harness = checked(refuse_with_receipt)
    app = bound(harness, "tx")
    resp = submitted(app, submit(registered_delivery=0))
    assert stored(harness, resp.message_id, "state") == "rejected"
    assert harness.scalar("SELECT count(*) FROM receipts") == 0


def test_a_refusal_with_a_status_is_still_the_applications_status(checked: Any) -> None:
    harness = checked(lambda _: Refuse(S.ESME_RX_R_APPN, "opted out"))
    app = bound(harness)
    resp = app.request(submit(registered_delivery=1), settle=False)
    assert resp.command_status == S.ESME_RX_R_APPN
    assert harness.scalar("SELECT count(*) FROM messages") == 0


def test_submit_multi_gets_a_verdict_per_destination(checked: Any) -> None:
    def decide(message: OutboundMessage) -> Verdict:
        if message.destination == OTHER:
            return Refuse(S.ESME_RX_R_APPN, "opted out", answer="receipt")
        return Accept()

    harness = checked(decide)
    app = bound(harness)
    resp = app.request(
        SubmitMulti(
            sequence_number=app.next_seq(),
            source_addr="Shop",
            source_addr_ton=5,
            destinations=(
                SmeAddress(ton=1, npi=1, address=DEST),
                SmeAddress(ton=1, npi=1, address=OTHER),
            ),
            short_message=b"hi",
            registered_delivery=1,
        )
    )
    assert isinstance(resp, SubmitMultiResp)
    assert resp.command_status == 0 and resp.unsuccess_smes == ()
    states = dict(harness_rows(harness, "SELECT dest_addr, state FROM messages WHERE text = 'hi'"))
    assert states == {DEST: "accepted", OTHER: "rejected"}
    assert len(harness.dispatch.ids) == 1


def harness_rows(harness: Harness, sql: str) -> list[Any]:
    from sqlalchemy import text

    with harness.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql)).all()]


# -- compose: the gateway's own messages ------------------------------------------------


def composer(*routes: OutboundRoute) -> SubmitChecker:
    table = routes or (OutboundRoute("all", (TargetGroup((Target("sim"),)),)),)
    return SubmitChecker(AddressNormaliser(), OutboundRouter(table), MessageIdGenerator())


def composition(**changes: Any) -> Composition:
    values: dict[str, Any] = {
        "message_id": "0" * 12 + "7" + "0" * 19,
        "account": "loyalty",
        "traffic_class": "marketing",
        "source": "72345",
        "destination": "+46701234567",
        "text": "You have 120 points",
    }
    values.update(changes)
    return Composition(**values)


def test_compose_routes_by_the_plugins_account_and_keeps_the_given_id() -> None:
    checker = composer(
        OutboundRoute("apps", (TargetGroup((Target("a"),)),), accounts=("shop",)),
        OutboundRoute("plugins", (TargetGroup((Target("b"),)),), accounts=("loyalty",)),
    )
    made = checker.compose(composition(), NOW)
    assert isinstance(made, Submission)
    message = made.message
    assert message.route == "plugins"
    assert message.id == composition().message_id
    assert (message.account, message.traffic_class) == ("loyalty", "marketing")
    assert (message.source_addr, message.dest_addr) == ("72345", "46701234567")
    assert message.registered_delivery == 1
    assert message.text == "You have 120 points" and message.data_coding == 0


def test_compose_splits_a_long_text_like_an_applications() -> None:
    made = composer().compose(composition(text="ü" * 100), NOW)
    assert isinstance(made, Submission)
    # ü is in the GSM-7 default alphabet: 100 of them fit one part.
    assert len(made.message.parts) == 1
    long = composer().compose(composition(text="Привет " * 20), NOW)
    assert isinstance(long, Submission)
    assert long.message.data_coding == 0x08
    assert len(long.message.parts) == 3
    assert long.message.esm_class & 0x40


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"text": ""}, S.ESME_RINVMSGLEN),
        ({"destination": "not a number"}, S.ESME_RINVDSTADR),
        ({"account": "nobody-routes-me"}, S.ESME_RINVDSTADR),
    ],
)
def test_compose_refuses_what_an_application_would_be_refused(
    changes: dict[str, Any], status: int
) -> None:
    checker = composer(OutboundRoute("p", (TargetGroup((Target("b"),)),), accounts=("loyalty",)))
    made = checker.compose(composition(**changes), NOW)
    assert isinstance(made, Refusal)
    assert made.status == status
