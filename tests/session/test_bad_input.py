"""PROTOCOL.md §1.3 (wrong state) and §1.10 (bad input) as seen through a session.

Each row: what the session answers (status, PDU type, sequence number) and
whether the session is still alive afterwards.
"""

from __future__ import annotations

import struct

import pytest

from smppd.session import (
    CloseReason,
    Event,
    ProtocolViolation,
    RequestReceived,
    SessionClosed,
    SessionConfig,
    State,
    Violation,
)
from smppd.smpp import (
    BindReceiverResp,
    BindTransceiverResp,
    BindTransmitterResp,
    CommandStatus,
    GenericNack,
    InvalidFieldError,
    QuerySmResp,
    SubmitSmResp,
    UnbindResp,
)
from smppd.smpp.framer import DEFAULT_MAX_PDU_LENGTH

from .helpers import SAMPLE_REQUESTS, C, frame, of_type, read, smsc, wire

S = CommandStatus
SUBMIT_SM = 0x00000004


def submit_body(
    *,
    source: bytes = b"12345\x00",
    destination: bytes = b"447700900123\x00",
    short_message: bytes = b"hello",
    sm_length: int | None = None,
    tail: bytes = b"",
) -> bytes:
    return (
        b"\x00\x01\x01"
        + source
        + b"\x01\x01"
        + destination
        + b"\x00\x00\x00\x00\x00\x01\x00\x00\x00"
        + bytes((len(short_message) if sm_length is None else sm_length,))
        + short_message
        + tail
    )


def tlv(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack(">HH", tag, len(value) if length is None else length) + value


# -- §1.3 wrong-state handling ------------------------------------------------


@pytest.mark.parametrize(
    ("cid", "resp_type"),
    [(C.SUBMIT_SM, SubmitSmResp), (C.QUERY_SM, QuerySmResp)],
    ids=["submit_sm", "query_sm"],
)
@pytest.mark.parametrize("state", [State.OPEN, State.BOUND_RX], ids=["before_bind", "rx_only"])
def test_transmit_request_before_bind_or_on_receiver_bind_gets_rinvbndsts(
    cid: C, resp_type: type, state: State
) -> None:
    session = smsc(state)
    events = session.receive_data(wire(SAMPLE_REQUESTS[cid], 31), 1.0)
    (answer,) = read(session)
    assert isinstance(answer, resp_type)
    assert (answer.command_status, answer.sequence_number) == (S.ESME_RINVBNDSTS, 31)
    assert session.state is state
    assert [e.violation for e in of_type(events, ProtocolViolation)] == [Violation.WRONG_STATE]


@pytest.mark.parametrize(
    ("cid", "resp_type"),
    [
        (C.BIND_TRANSMITTER, BindTransmitterResp),
        (C.BIND_RECEIVER, BindReceiverResp),
        (C.BIND_TRANSCEIVER, BindTransceiverResp),
    ],
    ids=["tx", "rx", "trx"],
)
def test_bind_while_already_bound_gets_ralybnd(cid: C, resp_type: type) -> None:
    session = smsc(State.BOUND_TRX)
    session.receive_data(wire(SAMPLE_REQUESTS[cid], 8), 1.0)
    (answer,) = read(session)
    assert isinstance(answer, resp_type)
    assert answer.command_status == S.ESME_RALYBND
    assert session.state is State.BOUND_TRX


def test_refused_bind_answers_the_status_and_closes_after_the_delay() -> None:
    session = smsc(State.BINDING)
    session.reject_bind(S.ESME_RINVPASWD, now=1.0, close_delay=2.0)
    (answer,) = read(session)
    assert isinstance(answer, BindTransceiverResp)
    assert (answer.command_status, answer.sequence_number) == (S.ESME_RINVPASWD, 1)
    assert answer.encode() == bytes.fromhex("00000010800000090000000e00000001")
    assert session.next_deadline() == 3.0
    assert session.handle_timer(2.9) == []
    assert session.handle_timer(3.0) == [SessionClosed(CloseReason.BIND_REJECTED)]


def test_second_bind_after_a_refused_one_is_refused_without_asking_the_owner() -> None:
    session = smsc(State.BINDING)
    session.reject_bind(S.ESME_RINVPASWD, now=1.0)
    read(session)
    events = session.receive_data(wire(SAMPLE_REQUESTS[C.BIND_TRANSCEIVER], 2), 1.1)
    (answer,) = read(session)
    assert answer.command_status == S.ESME_RBINDFAIL
    assert of_type(events, ProtocolViolation)


def test_no_bind_within_session_init_timer_closes() -> None:
    session = smsc(now=0.0, config=SessionConfig(session_init_timeout=45))
    assert session.next_deadline() == 45
    assert session.handle_timer(45) == [SessionClosed(CloseReason.SESSION_INIT_TIMEOUT)]
    assert read(session) == []


# -- §1.10 bad input -------------------------------------------------------------


def test_command_length_below_16_is_nacked_and_closes() -> None:
    session = smsc(State.BOUND_TRX)
    events = session.receive_data(bytes.fromhex("0000000f000000150000000000000029"), 1.0)
    (answer,) = read(session)
    assert answer == GenericNack(sequence_number=0x29, command_status=S.ESME_RINVCMDLEN)
    assert session.state is State.CLOSED
    assert events[0] == ProtocolViolation(
        Violation.UNFRAMED,
        0x15,
        0x29,
        S.ESME_RINVCMDLEN,
        of_type(events, ProtocolViolation)[0].detail,
    )
    assert events[-1] == SessionClosed(CloseReason.FRAMING_ERROR)


def test_command_length_below_16_before_a_full_header_is_nacked_with_sequence_0() -> None:
    session = smsc(State.BOUND_TRX)
    session.receive_data(bytes.fromhex("00000008"), 1.0)
    assert read(session) == [GenericNack(sequence_number=0, command_status=S.ESME_RINVCMDLEN)]
    assert session.state is State.CLOSED


def test_huge_command_length_is_nacked_and_closes_without_waiting_for_the_body() -> None:
    session = smsc(State.BOUND_TRX)
    session.receive_data(bytes.fromhex("f0000009000000040000000000000003"), 1.0)
    assert read(session) == [GenericNack(sequence_number=3, command_status=S.ESME_RINVCMDLEN)]
    assert session.state is State.CLOSED


def test_max_pdu_length_is_a_session_parameter() -> None:
    session = smsc(State.BOUND_TRX, config=SessionConfig(max_pdu_length=2048))
    body = submit_body(sm_length=0, short_message=b"", tail=tlv(0x0424, b"x" * 2100))
    session.receive_data(frame(SUBMIT_SM, body, seq=5), 1.0)
    assert read(session) == [GenericNack(sequence_number=5, command_status=S.ESME_RINVCMDLEN)]
    assert session.state is State.CLOSED
    roomy = smsc(State.BOUND_TRX)
    assert roomy.config.max_pdu_length == DEFAULT_MAX_PDU_LENGTH
    events = roomy.receive_data(frame(SUBMIT_SM, body, seq=5), 1.0)
    assert [type(e) for e in events] == [RequestReceived]


def test_unknown_command_id_is_nacked_rinvcmdid_and_the_session_goes_on() -> None:
    session = smsc(State.BOUND_TRX)
    events = session.receive_data(frame(0x00000111, seq=12), 1.0)
    assert read(session) == [GenericNack(sequence_number=12, command_status=S.ESME_RINVCMDID)]
    assert session.state is State.BOUND_TRX
    assert of_type(events, ProtocolViolation)[0].violation is Violation.UNKNOWN_COMMAND


@pytest.mark.parametrize("data", [frame(0x80000222, seq=4), frame(0x80000004, b"id\x00", seq=99)])
def test_unknown_response_or_response_to_nothing_pending_is_never_answered(data: bytes) -> None:
    session = smsc(State.BOUND_TRX)
    events = session.receive_data(data, 1.0)
    assert read(session) == []
    assert session.state is State.BOUND_TRX
    (violation,) = of_type(events, ProtocolViolation)
    assert violation.answered_status is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\x00\x01", S.ESME_RINVCMDLEN),
        (b"\x00\x01\x01" + b"12345", S.ESME_RINVSRCADR),
        (submit_body(source=b"1" * 21 + b"\x00"), S.ESME_RINVSRCADR),
        (submit_body(destination=b"4" * 25 + b"\x00"), S.ESME_RINVDSTADR),
        (submit_body(destination=b"44\xe97\x00"), S.ESME_RINVDSTADR),
        (submit_body(sm_length=255, short_message=b"x" * 255), S.ESME_RINVMSGLEN),
        (submit_body(sm_length=20, short_message=b"short"), S.ESME_RINVMSGLEN),
        (submit_body(tail=b"\x04\x24\x00"), S.ESME_RINVOPTPARSTREAM),
        (submit_body(tail=tlv(0x0204, b"\x00\x01\x02")), S.ESME_RINVPARLEN),
    ],
    ids=[
        "body_ends_before_mandatory_fields",
        "source_c_string_without_nul",
        "source_too_long",
        "destination_too_long",
        "destination_not_ascii",
        "sm_length_over_254",
        "sm_length_past_end",
        "tlv_header_past_end",
        "known_tlv_wrong_length",
    ],
)
def test_malformed_submit_gets_its_own_resp_with_the_field_status_and_session_goes_on(
    body: bytes, status: S
) -> None:
    session = smsc(State.BOUND_TRX)
    events = session.receive_data(frame(SUBMIT_SM, body, seq=77), 1.0)
    (answer,) = read(session)
    assert isinstance(answer, SubmitSmResp)
    assert (answer.command_status, answer.sequence_number) == (status, 77)
    assert session.state is State.BOUND_TRX
    (violation,) = of_type(events, ProtocolViolation)
    assert violation.violation is Violation.MALFORMED_PDU
    assert isinstance(violation.error, InvalidFieldError)
    assert violation.error.command_status == status


def test_unknown_tlv_is_ignored_and_the_request_reaches_the_owner() -> None:
    session = smsc(State.BOUND_TRX)
    events = session.receive_data(frame(SUBMIT_SM, submit_body(tail=tlv(0x1402, b"v")), seq=3), 1.0)
    assert [type(e) for e in events] == [RequestReceived]
    assert read(session) == []


def test_unbind_with_extra_octets_is_answered_rinvcmdlen_and_session_stays() -> None:
    session = smsc(State.BOUND_TRX)
    session.receive_data(frame(0x00000006, b"\x00", seq=6), 1.0)
    assert read(session) == [UnbindResp(sequence_number=6, command_status=S.ESME_RINVCMDLEN)]
    assert session.state is State.BOUND_TRX


def test_non_zero_command_status_in_a_request_is_ignored() -> None:
    session = smsc(State.BOUND_TRX)
    events = session.receive_data(frame(SUBMIT_SM, submit_body(), status=0x45, seq=3), 1.0)
    assert [type(e) for e in events] == [RequestReceived]


def test_requests_over_the_receive_window_are_throttled() -> None:
    session = smsc(State.BOUND_TRX, config=SessionConfig(receive_window=2))
    for seq in (10, 11):
        assert [
            type(e) for e in session.receive_data(frame(SUBMIT_SM, submit_body(), seq=seq), 1)
        ] == [RequestReceived]
    events = session.receive_data(frame(SUBMIT_SM, submit_body(), seq=12), 1.0)
    assert read(session) == [SubmitSmResp(sequence_number=12, command_status=S.ESME_RTHROTTLED)]
    assert of_type(events, ProtocolViolation)[0].violation is Violation.WINDOW_EXCEEDED
    # Answering one makes room again.
    session.send_response(10, SubmitSmResp(sequence_number=10, message_id="a"))
    events = session.receive_data(frame(SUBMIT_SM, submit_body(), seq=13), 1.0)
    assert [type(e) for e in events] == [RequestReceived]


def test_duplicate_sequence_number_of_an_unanswered_request_is_refused() -> None:
    session = smsc(State.BOUND_TRX)
    session.receive_data(frame(SUBMIT_SM, submit_body(), seq=10), 1.0)
    events = session.receive_data(frame(SUBMIT_SM, submit_body(), seq=10), 1.0)
    assert read(session) == [SubmitSmResp(sequence_number=10, command_status=S.ESME_RSYSERR)]
    assert of_type(events, ProtocolViolation)[0].violation is Violation.DUPLICATE_SEQUENCE


def test_pdus_split_at_every_octet_boundary_decode_the_same() -> None:
    data = b"".join(frame(SUBMIT_SM, submit_body(), seq=s) for s in (1, 2, 3))
    session = smsc(State.BOUND_TRX)
    events: list[Event] = []
    for i in range(len(data)):
        events += session.receive_data(data[i : i + 1], 1.0)
    received = of_type(events, RequestReceived)
    assert [e.request.sequence_number for e in received] == [1, 2, 3]
    assert len(received) == len(events)


def test_enquire_link_is_answered_before_bind() -> None:
    session = smsc(State.OPEN)
    assert session.receive_data(frame(0x00000015, seq=5), 1.0) == []
    (answer,) = read(session)
    assert answer.encode() == bytes.fromhex("00000010800000150000000000000005")
