"""Requests we send: sequence numbers, windows, correlation of responses, binds."""

from __future__ import annotations

import pytest

from smppd.session import (
    BindFailed,
    BindMode,
    Bound,
    CloseReason,
    Failure,
    LocalProtocolError,
    OutbindReceived,
    ProtocolViolation,
    RequestFailed,
    ResponseReceived,
    Role,
    Session,
    SessionClosed,
    SessionConfig,
    State,
    UnknownRequest,
    Violation,
    WindowFull,
    WindowOpen,
)
from smppd.smpp import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiverResp,
    CommandStatus,
    DeliverSmResp,
    GenericNack,
    Outbind,
    SubmitSmResp,
    Tag,
)

from .helpers import SAMPLE_REQUESTS, C, esme, frame, of_type, read, smsc, wire

S = CommandStatus
SUBMIT = SAMPLE_REQUESTS[C.SUBMIT_SM]


def test_sequence_numbers_are_assigned_in_order_and_written_on_the_wire() -> None:
    session = esme(State.BOUND_TX)
    seqs = [session.send_request(SUBMIT, 1.0) for _ in range(3)]
    assert seqs == [2, 3, 4]  # 1 went to the bind
    assert [p.sequence_number for p in read(session)] == seqs


def test_responses_out_of_order_are_matched_by_sequence_number() -> None:
    session = esme(State.BOUND_TX)
    a = session.send_request(SUBMIT, 1.0)
    b = session.send_request(SUBMIT, 1.0)
    events = session.receive_data(
        wire(SubmitSmResp(sequence_number=0, message_id="B"), b)
        + wire(SubmitSmResp(sequence_number=0, message_id="A"), a),
        2.0,
    )
    responses = of_type(events, ResponseReceived)
    assert len(responses) == len(events)
    assert [r.response for r in responses] == [
        SubmitSmResp(sequence_number=b, message_id="B"),
        SubmitSmResp(sequence_number=a, message_id="A"),
    ]
    assert session.outstanding == 0


def test_error_status_is_a_response_for_the_owner_to_judge() -> None:
    session = esme(State.BOUND_TX)
    seq = session.send_request(SUBMIT, 1.0)
    (event,) = session.receive_data(frame(0x80000004, status=S.ESME_RTHROTTLED, seq=seq), 2.0)
    assert isinstance(event, ResponseReceived)
    assert event.response.command_status == S.ESME_RTHROTTLED


def test_generic_nack_with_a_pending_sequence_number_fails_that_request() -> None:
    session = esme(State.BOUND_TX)
    seq = session.send_request(SUBMIT, 1.0)
    nack = GenericNack(sequence_number=seq, command_status=S.ESME_RINVCMDLEN)
    assert session.receive_data(nack.encode(), 2.0) == [
        RequestFailed(SUBMIT, seq, Failure.NACKED, nack)
    ]


def test_response_with_the_wrong_command_id_leaves_the_request_pending() -> None:
    session = esme(State.BOUND_TX)
    seq = session.send_request(SUBMIT, 1.0)
    (event,) = session.receive_data(wire(DeliverSmResp(sequence_number=0), seq), 2.0)
    assert isinstance(event, ProtocolViolation)
    assert event.violation is Violation.UNEXPECTED_RESPONSE
    assert session.outstanding == 1


def test_unreadable_response_fails_its_request() -> None:
    session = esme(State.BOUND_TX)
    seq = session.send_request(SUBMIT, 1.0)
    read(session)
    events = session.receive_data(frame(0x80000004, b"no-nul", seq=seq), 2.0)
    assert events[0] == RequestFailed(SUBMIT, seq, Failure.MALFORMED_RESPONSE)
    assert read(session) == []  # a response is never answered


def test_full_window_refuses_then_reopens_when_a_response_arrives() -> None:
    session = esme(State.BOUND_TX, config=SessionConfig(send_window=2))
    first = session.send_request(SUBMIT, 1.0)
    session.send_request(SUBMIT, 1.0)
    with pytest.raises(WindowFull):
        session.send_request(SUBMIT, 1.0)
    events = session.receive_data(wire(SubmitSmResp(sequence_number=0), first), 2.0)
    assert isinstance(events[-1], WindowOpen)
    assert events[-1].available == 1
    session.send_request(SUBMIT, 2.0)


def test_server_window_bounds_deliver_sm_to_an_application() -> None:
    session = smsc(State.BOUND_RX, config=SessionConfig(send_window=1))
    session.send_request(SAMPLE_REQUESTS[C.DELIVER_SM], 1.0)
    with pytest.raises(WindowFull):
        session.send_request(SAMPLE_REQUESTS[C.DELIVER_SM], 1.0)


def test_answer_to_a_request_the_peer_never_sent_is_refused() -> None:
    session = smsc(State.BOUND_TX)
    with pytest.raises(UnknownRequest):
        session.send_response(5, SubmitSmResp(sequence_number=5))


def test_answer_of_the_wrong_type_is_refused() -> None:
    session = smsc(State.BOUND_TX)
    session.receive_data(wire(SUBMIT, 5), 1.0)
    with pytest.raises(LocalProtocolError):
        session.send_response(5, DeliverSmResp(sequence_number=5))


def test_answers_may_go_out_later_and_in_any_order() -> None:
    session = smsc(State.BOUND_TX)
    session.receive_data(wire(SUBMIT, 5) + wire(SUBMIT, 6), 1.0)
    session.send_response(6, SubmitSmResp(sequence_number=0, message_id="six"))
    session.send_response(5, SubmitSmResp(sequence_number=0, message_id="five"))
    assert read(session) == [
        SubmitSmResp(sequence_number=6, message_id="six"),
        SubmitSmResp(sequence_number=5, message_id="five"),
    ]


def test_accepted_bind_answers_with_our_system_id_and_interface_version() -> None:
    session = smsc(State.BINDING)
    assert session.accept_bind(1.0, "smppd") == [Bound(BindMode.TRANSCEIVER, "app", 0x34)]
    (resp,) = read(session)
    assert isinstance(resp, BindTransceiverResp)
    assert (resp.sequence_number, resp.command_status, resp.system_id) == (1, 0, "smppd")
    assert resp.sc_interface_version == 0x34


def test_esme_bind_success_and_failure() -> None:
    session = Session(Role.ESME, 0.0)
    seq = session.bind(BindMode.RECEIVER, "app", "pw", 0.0, system_type="vma")
    (sent,) = read(session)
    assert sent == BindReceiver(
        sequence_number=seq, system_id="app", password="pw", system_type="vma"
    )
    events = session.receive_data(frame(0x80000001, b"carrier\x00", seq=seq), 1.0)
    assert events == [Bound(BindMode.RECEIVER, "carrier", 0x33)]
    assert session.state is State.BOUND_RX

    refused = Session(Role.ESME, 0.0)
    seq = refused.bind(BindMode.TRANSMITTER, "app", "bad", 0.0)
    events = refused.receive_data(frame(0x80000002, status=S.ESME_RINVPASWD, seq=seq), 1.0)
    assert events == [
        BindFailed(S.ESME_RINVPASWD, None),
        SessionClosed(CloseReason.BIND_REJECTED),
    ]


def test_outbind_asks_the_owner_to_bind() -> None:
    session = Session(Role.ESME, 0.0)
    outbind = Outbind(sequence_number=3, system_id="smsc", password="pw")
    assert session.receive_data(outbind.encode(), 1.0) == [OutbindReceived(outbind)]
    assert read(session) == []  # outbind has no response
    session.bind(BindMode.RECEIVER, "app", "pw", 1.0)
    assert session.state is State.BINDING


def test_connection_loss_fails_every_pending_request() -> None:
    session = esme(State.BOUND_TX)
    a = session.send_request(SUBMIT, 1.0)
    b = session.send_request(SUBMIT, 1.0)
    events = session.close()
    assert events[:2] == [
        RequestFailed(SUBMIT, a, Failure.CLOSED),
        RequestFailed(SUBMIT, b, Failure.CLOSED),
    ]
    assert events[-1] == SessionClosed(CloseReason.CONNECTION_LOST)


def test_sc_interface_version_tlv_only_for_34_binds() -> None:
    session = Session(Role.SMSC, 0.0)
    session.receive_data(
        wire(BindReceiver(sequence_number=0, system_id="old", interface_version=0x33), 1), 0.0
    )
    session.accept_bind(0.0, "smppd")
    (resp,) = read(session)
    assert isinstance(resp, BindReceiverResp)
    assert resp.tlv(Tag.SC_INTERFACE_VERSION) is None


def test_a_bind_is_answered_only_through_accept_or_reject() -> None:
    session = smsc(State.BINDING)
    with pytest.raises(UnknownRequest):
        session.send_error_response(1, S.ESME_RBINDFAIL)
    with pytest.raises(UnknownRequest):
        session.send_response(1, GenericNack(sequence_number=1, command_status=8))
    assert session.accept_bind(1.0, "smppd")
    assert session.state is State.BOUND_TRX
