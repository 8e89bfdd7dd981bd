"""submit_sm, data_sm and submit_multi: what is answered, what is stored, what is handed on."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from sqlalchemy import Engine
from twisted.internet.defer import Deferred, fail, succeed

from plugins.api import Accept, Defer, OutboundMessage, Refuse, Verdict
from smppd.smpp import CommandStatus
from smppd.smpp.pdu import (
    DataSm,
    DataSmResp,
    DistributionList,
    EnquireLink,
    SmeAddress,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
)
from smppd.smpp.tlv import Tlv
from smppd.store.errors import WriterOverloaded
from tests.server.harness import NOW, Harness

S = CommandStatus
DEST = "447700900123"


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


def stored(harness: Harness, message_id: str, column: str) -> Any:
    return harness.scalar(f"SELECT {column} FROM messages WHERE id = :id", id=message_id)


def bound(harness: Harness) -> Any:
    app = harness.connect()
    assert app.bind("trx").command_status == 0
    return app


def test_submit_sm_resp_is_written_only_after_the_message_is_committed(harness: Harness) -> None:
    app = bound(harness)
    rows_when_written: list[int] = []
    write = app.transport.write

    def checking_write(data: bytes) -> None:
        rows_when_written.append(harness.scalar("SELECT count(*) FROM messages"))
        write(data)

    app.transport.write = checking_write
    app.send(submit())
    # Queued for the writer; nothing answered before the commit's callbacks run.
    assert app.read() == []
    resp = app.request(submit(2))
    responses = [p for p in app.received if isinstance(p, SubmitSmResp)] + [resp]
    assert all(r.command_status == 0 for r in responses)
    assert rows_when_written and rows_when_written[0] >= 1
    for r in responses:
        assert stored(harness, r.message_id, "state") == "accepted"


def test_accepted_message_is_stored_normalised_and_handed_to_the_dispatcher(
    harness: Harness,
) -> None:
    app = bound(harness)
    resp = app.request(submit(registered_delivery=1, short_message=b"Hello there"))
    assert isinstance(resp, SubmitSmResp) and resp.command_status == 0
    mid = resp.message_id
    assert stored(harness, mid, "dest_addr") == DEST
    assert stored(harness, mid, "source_addr") == "Shop"
    assert stored(harness, mid, "text") == "Hello there"
    assert stored(harness, mid, "route") == "uk"
    assert stored(harness, mid, "registered_delivery") == 1
    assert stored(harness, mid, "part_count") == 1
    (batch,) = harness.dispatch.handed
    assert [(a.message_id, a.route, a.not_before) for a in batch] == [(mid, "uk", None)]


def _tlv_appended(pdu: SubmitSm, tlv: Tlv) -> bytes:
    data = pdu.encode() + tlv.encode()
    return struct.pack(">I", len(data)) + data[4:]


@pytest.mark.parametrize(
    ("case", "fields", "status"),
    [
        ("undefined destination TON", {"dest_addr_ton": 7}, S.ESME_RINVDSTTON),
        (
            "alphanumeric destination",
            {"dest_addr_ton": 5, "destination_addr": "Bob"},
            S.ESME_RINVDSTTON,
        ),
        ("empty destination", {"destination_addr": ""}, S.ESME_RINVDSTADR),
        ("letters in a number", {"destination_addr": "4477009A0123"}, S.ESME_RINVDSTADR),
        (
            "undefined source NPI",
            {"source_addr": "12345", "source_addr_ton": 1, "source_addr_npi": 2},
            S.ESME_RINVSRCNPI,
        ),
        ("no route to the destination", {"destination_addr": "15555550100"}, S.ESME_RINVDSTADR),
        ("schedule is no date", {"schedule_delivery_time": "271399120000000+"}, S.ESME_RINVSCHED),
        ("validity is no date", {"validity_period": "271399120000000+"}, S.ESME_RINVEXPIRY),
        ("validity in the past", {"validity_period": "200101000000000+"}, S.ESME_RINVEXPIRY),
        ("relative time with tenths", {"validity_period": "000001000000100R"}, S.ESME_RINVEXPIRY),
        (
            "schedule after validity",
            {"schedule_delivery_time": "000002000000000R", "validity_period": "000001000000000R"},
            S.ESME_RINVSCHED,
        ),
        ("undefined registered_delivery bits", {"registered_delivery": 0x20}, S.ESME_RINVREGDLVFLG),
        ("a receipt from an application", {"esm_class": 0x04}, S.ESME_RINVESMCLASS),
        ("canned message", {"sm_default_msg_id": 3}, S.ESME_RINVDFTMSGID),
        ("replace_if_present out of range", {"replace_if_present_flag": 2}, S.ESME_RINVREPFLAG),
        (
            "UDHI without a usable UDH",
            {"esm_class": 0x40, "short_message": b"\x09\x00\x03"},
            S.ESME_RINVMSGLEN,
        ),
        ("SAR with one TLV", {"tlvs": (Tlv.u16(0x020C, 9),)}, S.ESME_RMISSINGOPTPARAM),
        (
            "SAR segment beyond the total",
            {"tlvs": (Tlv.u16(0x020C, 9), Tlv.u8(0x020E, 2), Tlv.u8(0x020F, 3))},
            S.ESME_RINVOPTPARAMVAL,
        ),
        (
            "SAR and UDH together",
            {
                "esm_class": 0x40,
                "short_message": b"\x05\x00\x03\x01\x02\x01hi",
                "tlvs": Tlv.sar(9, 2, 1),
            },
            S.ESME_ROPTPARNOTALLWD,
        ),
        (
            "more text than 255 parts hold",
            {"short_message": b"", "tlvs": (Tlv.message_payload(b"a" * (255 * 153 + 1)),)},
            S.ESME_RINVMSGLEN,
        ),
    ],
)
def test_bad_submit_is_answered_with_its_status_and_nothing_is_stored(
    harness: Harness, case: str, fields: dict[str, Any], status: int
) -> None:
    app = bound(harness)
    resp = app.request(submit(**fields), settle=False)
    assert resp.command_status == status, case
    assert harness.scalar("SELECT count(*) FROM messages") == 0


def test_short_message_and_message_payload_together_is_invalid_length(harness: Harness) -> None:
    app = bound(harness)
    app.send_raw(_tlv_appended(submit(5), Tlv.message_payload(b"more")))
    (resp,) = app.read()
    assert resp.sequence_number == 5
    assert resp.command_status == S.ESME_RINVMSGLEN
    # The stream is still framed: the session goes on.
    assert app.request(EnquireLink(sequence_number=6), settle=False).command_status == 0


def test_truncated_submit_is_answered_and_the_session_lives_on(harness: Harness) -> None:
    app = bound(harness)
    body = b"\x00\x05\x00Shop"  # service_type, TONs, then a source_addr without its NUL
    app.send_raw(struct.pack(">IIII", 16 + len(body), 0x04, 0, 9) + body)
    (resp,) = app.read()
    assert resp.sequence_number == 9
    assert resp.command_status != 0
    assert app.request(submit(10)).command_status == 0


def test_sender_outside_the_accounts_allowed_sources_is_refused(engine: Engine) -> None:
    harness = Harness(engine)
    harness.add_account(allowed_sources=("Shop",))
    try:
        app = bound(harness)
        assert app.request(submit(1, source_addr="Other"), settle=False).command_status == (
            S.ESME_RINVSRCADR
        )
        assert app.request(submit(2)).command_status == 0
    finally:
        harness.close()


def test_over_the_accounts_rate_is_answered_throttled(engine: Engine) -> None:
    harness = Harness(engine)
    harness.add_account(max_mps=2)
    try:
        app = bound(harness)
        assert app.request(submit(1)).command_status == 0
        assert app.request(submit(2)).command_status == 0
        assert app.request(submit(3), settle=False).command_status == S.ESME_RTHROTTLED
        harness.clock.advance(1.0)
        assert app.request(submit(4)).command_status == 0
    finally:
        harness.close()


def test_a_full_writer_is_answered_throttled(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = bound(harness)
    monkeypatch.setattr(
        harness.server,
        "_writer",
        type("Full", (), {"submit": lambda self, op: fail(WriterOverloaded())})(),
    )
    assert app.request(submit(), settle=False).command_status == S.ESME_RTHROTTLED


def test_schedule_and_validity_are_stored_as_absolute_times(harness: Harness) -> None:
    app = bound(harness)
    resp = app.request(
        submit(schedule_delivery_time="000000010000000R", validity_period="270116080000000+")
    )
    mid = resp.message_id
    assert stored(harness, mid, "schedule_at") == int((NOW + 3600) * 1000)
    # 2027-01-16 08:00:00 at UTC+0 is one day after NOW.
    assert stored(harness, mid, "validity_at") == int((NOW + 86400) * 1000)
    (batch,) = harness.dispatch.handed
    assert batch[0].not_before == NOW + 3600
    assert batch[0].expires_at == NOW + 86400


def test_long_text_is_split_at_acceptance_and_the_parts_are_stored(harness: Harness) -> None:
    app = bound(harness)
    text = ("0123456789" * 30).encode()
    resp = app.request(submit(short_message=b"", tlvs=(Tlv.message_payload(text),)))
    mid = resp.message_id
    assert stored(harness, mid, "part_count") == 2
    assert stored(harness, mid, "esm_class") & 0x40
    parts = harness.scalar(
        "SELECT group_concat(hex(substr(payload, 1, 6)), ',') FROM message_parts"
        " WHERE message_id = :id",
        id=mid,
    ).split(",")
    ref = parts[0][6:8]
    assert parts == [f"050003{ref}0201", f"050003{ref}0202"]
    assert stored(harness, mid, "text") == text.decode()


def test_parts_split_by_the_application_with_udh_are_kept_and_handed_over_together(
    harness: Harness,
) -> None:
    app = bound(harness)
    ids = {}
    for seq in (1, 3, 2):
        udh = bytes((5, 0, 3, 0x2A, 3, seq))
        resp = app.request(submit(seq, esm_class=0x40, short_message=udh + b"part %d" % seq))
        ids[seq] = resp.message_id
        if seq != 2:
            assert harness.dispatch.handed == []
    # Every part is its own stored message, exactly as the application sent it.
    for seq, mid in ids.items():
        assert stored(harness, mid, "part_count") == 1
        assert stored(harness, mid, "esm_class") == 0x40
        assert stored(harness, mid, "text") == f"part {seq}"
    (batch,) = harness.dispatch.handed
    assert [a.message_id for a in batch] == [ids[1], ids[2], ids[3]]


def test_parts_split_by_the_application_with_sar_are_stored_with_a_udh(harness: Harness) -> None:
    app = bound(harness)
    ids = []
    for seq in (1, 2):
        resp = app.request(
            submit(seq, short_message=b"half %d" % seq, tlvs=Tlv.sar(0x1234, 2, seq))
        )
        ids.append(resp.message_id)
    payload = harness.scalar(
        "SELECT hex(payload) FROM message_parts WHERE message_id = :id", id=ids[1]
    )
    assert payload.startswith("0500033402" + "02")
    assert stored(harness, ids[1], "esm_class") == 0x40
    assert [[a.message_id for a in b] for b in harness.dispatch.handed] == [ids]


def test_an_incomplete_group_is_handed_over_after_the_timeout(harness: Harness) -> None:
    app = bound(harness)
    resp = app.request(submit(esm_class=0x40, short_message=bytes((5, 0, 3, 1, 2, 1)) + b"a"))
    assert harness.dispatch.handed == []
    harness.clock.advance(60.0)
    assert harness.dispatch.ids == [resp.message_id]


def test_data_sm_is_accepted_like_submit_sm(harness: Harness) -> None:
    app = bound(harness)
    resp = app.request(
        DataSm(
            sequence_number=1,
            source_addr="Shop",
            source_addr_ton=5,
            destination_addr=DEST,
            dest_addr_ton=1,
            dest_addr_npi=1,
            tlvs=(Tlv.message_payload(b"by data-sm"), Tlv.u32(0x0017, 600)),
        )
    )
    assert isinstance(resp, DataSmResp) and resp.command_status == 0
    assert stored(harness, resp.message_id, "text") == "by data-sm"
    assert stored(harness, resp.message_id, "validity_at") == int((NOW + 600) * 1000)


def test_data_sm_without_a_payload_is_missing_a_tlv(harness: Harness) -> None:
    app = bound(harness)
    resp = app.request(
        DataSm(sequence_number=1, destination_addr=DEST, dest_addr_ton=1), settle=False
    )
    assert resp.command_status == S.ESME_RMISSINGOPTPARAM


def test_submit_multi_stores_good_destinations_and_lists_the_bad_ones(harness: Harness) -> None:
    app = bound(harness)
    resp = app.request(
        SubmitMulti(
            sequence_number=1,
            source_addr="Shop",
            source_addr_ton=5,
            destinations=(
                SmeAddress(ton=1, npi=1, address="447700900001"),
                SmeAddress(ton=1, npi=1, address="15555550100"),
                SmeAddress(ton=1, npi=1, address="447700900002"),
                DistributionList(name="friends"),
            ),
            short_message=b"to many",
        )
    )
    assert isinstance(resp, SubmitMultiResp) and resp.command_status == 0
    assert [(u.address, u.error_status_code) for u in resp.unsuccess_smes] == [
        ("15555550100", S.ESME_RINVDSTADR),
        ("", S.ESME_RINVDLNAME),
    ]
    assert harness.scalar("SELECT count(*) FROM messages") == 2
    assert stored(harness, resp.message_id, "dest_addr") == "447700900001"


def test_submit_multi_with_no_good_destination_is_refused(harness: Harness) -> None:
    app = bound(harness)
    resp = app.request(
        SubmitMulti(
            sequence_number=1,
            destinations=(SmeAddress(ton=1, npi=1, address="15555550100"),),
            short_message=b"x",
        ),
        settle=False,
    )
    assert resp.command_status == S.ESME_RINVDSTADR


def _checked(verdict: Verdict, seen: list[OutboundMessage]) -> Any:
    def check(message: OutboundMessage) -> Deferred[Verdict]:
        seen.append(message)
        return succeed(verdict)

    return check


def test_outbound_check_refusal_is_the_applications_status(engine: Engine) -> None:
    seen: list[OutboundMessage] = []
    harness = Harness(engine, outbound_check=_checked(Refuse(S.ESME_RX_R_APPN, "opted out"), seen))
    harness.add_account()
    try:
        app = bound(harness)
        assert app.request(submit(), settle=False).command_status == S.ESME_RX_R_APPN
        assert harness.scalar("SELECT count(*) FROM messages") == 0
        assert seen[0].destination == DEST and seen[0].text == "hello"
    finally:
        harness.close()


def test_outbound_check_defer_holds_the_message_until_then(engine: Engine) -> None:
    from datetime import UTC, datetime

    until = datetime.fromtimestamp(NOW + 7200, UTC)
    harness = Harness(engine, outbound_check=_checked(Defer(until, "quiet hours"), []))
    harness.add_account()
    try:
        app = bound(harness)
        resp = app.request(submit())
        assert stored(harness, resp.message_id, "schedule_at") == int((NOW + 7200) * 1000)
    finally:
        harness.close()


def test_outbound_check_accept_stores_the_message(engine: Engine) -> None:
    harness = Harness(engine, outbound_check=_checked(Accept(), []))
    harness.add_account()
    try:
        assert bound(harness).request(submit()).command_status == 0
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("data_coding", "sent", "kept_coding", "kept"),
    [
        # Latin-1 text is re-encoded as GSM-7 (é is in the default alphabet).
        (0x03, "café".encode("latin-1"), 0x00, b"caf\x05"),
        # UCS-2 that fits one SMS is kept as sent.
        (0x08, "Привет".encode("utf-16-be"), 0x08, "Привет".encode("utf-16-be")),
        # 8-bit data that fits is kept as sent.
        (0x04, bytes(range(140)), 0x04, bytes(range(140))),
    ],
)
def test_text_is_stored_in_the_gateways_own_form(
    harness: Harness, data_coding: int, sent: bytes, kept_coding: int, kept: bytes
) -> None:
    app = bound(harness)
    mid = app.request(submit(data_coding=data_coding, short_message=sent)).message_id
    assert stored(harness, mid, "data_coding") == kept_coding
    assert stored(harness, mid, "payload") == kept


def test_long_binary_data_is_split_into_octet_parts(harness: Harness) -> None:
    app = bound(harness)
    data = bytes(range(256)) * 2
    mid = app.request(
        submit(data_coding=0x04, short_message=b"", tlvs=(Tlv.message_payload(data),))
    ).message_id
    assert stored(harness, mid, "part_count") == 4
    assert stored(harness, mid, "payload") == data
