"""query_sm, cancel_sm and replace_sm, answered from the store."""

from __future__ import annotations

from typing import Any

import pytest

from smppd.smpp import CommandStatus
from smppd.smpp.constants import MessageState
from smppd.smpp.pdu import CancelSm, CancelSmResp, QuerySm, QuerySmResp, ReplaceSm, ReplaceSmResp
from smppd.smpp.tlv import Tlv
from smppd.store.lifecycle import State
from smppd.store.ops import PartSubmitted, Transition
from tests.server.harness import NOW, App, Harness
from tests.server.test_submit import DEST, bound, stored, submit

S = CommandStatus


def accepted(app: App, seq: int = 1, **fields: Any) -> str:
    resp = app.request(submit(seq, **fields))
    assert resp.command_status == 0
    return resp.message_id  # type: ignore[attr-defined, no-any-return]


def to_submitted(harness: Harness, message_id: str) -> None:
    harness.apply(Transition(message_id, State.QUEUED, NOW))
    harness.apply(PartSubmitted(message_id, 1, "sim", "carrier-1", NOW + 1))


def test_query_sm_answers_the_stored_state(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app)
    resp = app.request(QuerySm(sequence_number=5, message_id=mid))
    assert isinstance(resp, QuerySmResp)
    assert (resp.message_id, resp.message_state, resp.final_date) == (
        mid,
        MessageState.ACCEPTED,
        "",
    )
    to_submitted(harness, mid)
    harness.apply(Transition(mid, State.DELIVERED, NOW + 30))
    resp = app.request(QuerySm(sequence_number=6, message_id=mid))
    assert isinstance(resp, QuerySmResp)
    assert resp.message_state == MessageState.DELIVERED
    assert resp.final_date == "270115080030000+"


@pytest.mark.parametrize("message_id", ["not-ours", "0" * 32, ""])
def test_query_sm_for_an_unknown_id_is_invalid_message_id(
    harness: Harness, message_id: str
) -> None:
    app = bound(harness)
    resp = app.request(QuerySm(sequence_number=1, message_id=message_id))
    assert resp.command_status == S.ESME_RINVMSGID


def test_query_sm_does_not_show_another_accounts_message(harness: Harness) -> None:
    harness.add_account("bank", "secret")
    mid = accepted(bound(harness))
    other = harness.connect("127.0.0.2")
    other.bind(system_id="bank")
    assert other.request(QuerySm(sequence_number=3, message_id=mid)).command_status == (
        S.ESME_RINVMSGID
    )


def test_cancel_sm_cancels_a_queued_message(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app)
    harness.apply(Transition(mid, State.QUEUED, NOW))
    resp = app.request(CancelSm(sequence_number=4, message_id=mid))
    assert isinstance(resp, CancelSmResp) and resp.command_status == 0
    assert stored(harness, mid, "state") == "cancelled"
    assert harness.dispatch.forgotten == [mid]


def test_cancel_sm_of_a_message_a_carrier_has_fails(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app)
    to_submitted(harness, mid)
    resp = app.request(CancelSm(sequence_number=4, message_id=mid))
    assert resp.command_status == S.ESME_RCANCELFAIL
    assert stored(harness, mid, "state") == "submitted"
    assert harness.dispatch.forgotten == []


def test_cancel_sm_without_id_cancels_every_waiting_message_to_that_destination(
    harness: Harness,
) -> None:
    app = bound(harness)
    first, second = accepted(app, 1), accepted(app, 2)
    other = accepted(app, 3, destination_addr="447700900999")
    resp = app.request(
        CancelSm(
            sequence_number=9,
            source_addr_ton=5,
            source_addr="Shop",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=DEST,
        )
    )
    assert resp.command_status == 0
    assert sorted(harness.dispatch.forgotten) == sorted([first, second])
    assert stored(harness, other, "state") == "accepted"


def test_cancel_sm_for_an_unknown_id_is_invalid_message_id(harness: Harness) -> None:
    app = bound(harness)
    resp = app.request(CancelSm(sequence_number=1, message_id="7" * 32))
    assert resp.command_status in (S.ESME_RINVMSGID,)


def test_replace_sm_rewrites_a_waiting_message(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app)
    resp = app.request(
        ReplaceSm(
            sequence_number=7,
            message_id=mid,
            short_message=b"new text",
            registered_delivery=1,
            validity_period="000001000000000R",
        )
    )
    assert isinstance(resp, ReplaceSmResp) and resp.command_status == 0
    assert stored(harness, mid, "text") == "new text"
    assert stored(harness, mid, "registered_delivery") == 1
    assert stored(harness, mid, "validity_at") == int((NOW + 86400) * 1000)
    payload = harness.scalar("SELECT payload FROM message_parts WHERE message_id = :id", id=mid)
    assert payload == b"new text"
    assert harness.dispatch.forgotten == [mid]
    assert harness.dispatch.handed[-1][0].expires_at == NOW + 86400


def test_replace_sm_with_a_long_text_stores_the_new_parts(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app)
    resp = app.request(ReplaceSm(sequence_number=7, message_id=mid, short_message=b"x" * 200))
    assert resp.command_status == 0
    assert stored(harness, mid, "part_count") == 2


def test_replace_sm_of_a_message_a_carrier_has_fails(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app)
    to_submitted(harness, mid)
    resp = app.request(ReplaceSm(sequence_number=7, message_id=mid, short_message=b"late"))
    assert resp.command_status == S.ESME_RREPLACEFAIL
    assert stored(harness, mid, "text") == "hello"


def test_replace_sm_with_a_bad_time_is_refused(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app)
    resp = app.request(
        ReplaceSm(sequence_number=7, message_id=mid, schedule_delivery_time="271399120000000+"),
        settle=False,
    )
    assert resp.command_status == S.ESME_RINVSCHED


def test_application_parts_in_replace_keep_working_message_payload(harness: Harness) -> None:
    app = bound(harness)
    mid = accepted(app, short_message=b"", tlvs=(Tlv.message_payload(b"y" * 170),))
    assert stored(harness, mid, "part_count") == 2
    resp = app.request(ReplaceSm(sequence_number=8, message_id=mid, short_message=b"short"))
    assert resp.command_status == 0
    assert stored(harness, mid, "part_count") == 1
    assert stored(harness, mid, "esm_class") & 0x40 == 0
