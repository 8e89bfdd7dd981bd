"""PROTOCOL.md §1.10: every kind of bad input gets its defined answer.

One test per row of the table; each checks the status, the PDU that answers
it (the command's own _resp without a body, generic_nack, or nothing) and
whether the session may go on (``framed``).
"""

from __future__ import annotations

import pytest

from smppd.smpp import (
    AddressError,
    CommandLengthError,
    CommandStatus,
    DecodeError,
    Framer,
    GenericNack,
    InvalidFieldError,
    MessageLengthError,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    TlvLengthError,
    TlvStreamError,
    UnbindResp,
    UnknownCommandError,
    decode,
)
from smppd.smpp.pdu import CancelSmResp, DataSmResp, QuerySmResp

from .wire import frame, submit_sm_body, tlv

S = CommandStatus
SUBMIT_SM = 0x00000004


def _decode_error(data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(data)
    return info.value


def _framing_error(data: bytes) -> DecodeError:
    framer = Framer()
    with pytest.raises(CommandLengthError) as info:
        framer.feed(data)
        framer.next_frame()
    return info.value


# -- framing -------------------------------------------------------------


def test_command_length_below_16_is_nacked_with_the_header_sequence_and_closes() -> None:
    error = _framing_error(bytes.fromhex("0000000f 00000015 00000000 0000002a".replace(" ", "")))
    assert error.command_status == S.ESME_RINVCMDLEN
    assert error.framed is False
    assert error.response() == GenericNack(sequence_number=0x2A, command_status=S.ESME_RINVCMDLEN)


def test_command_length_below_16_before_a_full_header_is_nacked_with_sequence_0() -> None:
    error = _framing_error(bytes.fromhex("00000008 00000015"))
    assert error.framed is False
    assert error.sequence_number is None
    assert error.response() == GenericNack(sequence_number=0, command_status=S.ESME_RINVCMDLEN)


def test_command_length_above_max_is_nacked_and_closes_without_buffering() -> None:
    framer = Framer()
    framer.feed(bytes.fromhex("f0000009 00000004 00000000 00000005"))
    with pytest.raises(CommandLengthError) as info:
        framer.next_frame()
    assert info.value.framed is False
    assert info.value.response() == GenericNack(sequence_number=5, command_status=S.ESME_RINVCMDLEN)
    assert framer.buffered == 0
    with pytest.raises(CommandLengthError):
        framer.feed(b"\x00" * 16)


def test_command_length_is_checked_before_the_body_arrives() -> None:
    framer = Framer(max_length=4096)
    with pytest.raises(CommandLengthError):
        framer.feed((4097).to_bytes(4, "big"))
        framer.next_frame()


def test_decode_rejects_a_frame_whose_length_disagrees_with_the_octets() -> None:
    wire = frame(0x15) + b"\x00"
    error = _decode_error(wire)
    assert isinstance(error, CommandLengthError)
    assert error.framed is False


# -- command ids ---------------------------------------------------------------


def test_unknown_request_id_gets_generic_nack_invcmdid_with_same_sequence() -> None:
    error = _decode_error(frame(0x00000077, b"abc", seq=99))
    assert isinstance(error, UnknownCommandError)
    assert error.framed is True
    assert error.response() == GenericNack(sequence_number=99, command_status=S.ESME_RINVCMDID)


def test_unknown_response_id_is_never_answered() -> None:
    error = _decode_error(frame(0x80000077, seq=99))
    assert isinstance(error, UnknownCommandError)
    assert error.framed is True
    assert error.response() is None


@pytest.mark.parametrize("command_id", [0x111, 0x112, 0x113])
def test_smpp50_broadcast_pdus_get_generic_nack_invcmdid(command_id: int) -> None:
    error = _decode_error(frame(command_id, b"\x00" * 10, seq=3))
    assert error.response() == GenericNack(sequence_number=3, command_status=S.ESME_RINVCMDID)


# -- truncated / overlong C-strings ----------------------------------------------

TRUNCATED = [
    ("service_type", b"CMT", S.ESME_RINVSERTYP),
    ("source_addr", b"\x00\x01\x01" + b"1234", S.ESME_RINVSRCADR),
    ("destination_addr", b"\x00\x01\x0112345\x00\x01\x01" + b"4477", S.ESME_RINVDSTADR),
]


@pytest.mark.parametrize(("field", "body", "status"), TRUNCATED, ids=[t[0] for t in TRUNCATED])
def test_truncated_c_string_answers_the_fields_code(
    field: str, body: bytes, status: CommandStatus
) -> None:
    error = _decode_error(frame(SUBMIT_SM, body, seq=11))
    assert isinstance(error, InvalidFieldError)
    assert error.command_status == status
    assert error.framed is True
    assert error.response() == SubmitSmResp(sequence_number=11, command_status=status)
    assert error.response().encode() == frame(0x80000004, status=status, seq=11)  # type: ignore[union-attr]


def test_truncated_c_string_without_a_specific_code_answers_invcmdlen() -> None:
    # query_sm: message_id runs to the end of the PDU.
    error = _decode_error(frame(0x00000003, b"abc", seq=4))
    assert error.command_status == S.ESME_RINVCMDLEN
    assert error.response() == QuerySmResp(sequence_number=4, command_status=S.ESME_RINVCMDLEN)


OVERLONG = [
    ("service_type", {"service_type": b"ABCDEF\x00"}, S.ESME_RINVSERTYP),
    ("source_addr", {"source": b"1" * 21 + b"\x00"}, S.ESME_RINVSRCADR),
    ("destination_addr", {"destination": b"4" * 21 + b"\x00"}, S.ESME_RINVDSTADR),
]


@pytest.mark.parametrize(("field", "fields", "status"), OVERLONG, ids=[o[0] for o in OVERLONG])
def test_c_string_over_its_maximum_answers_the_fields_code(
    field: str, fields: dict[str, bytes], status: CommandStatus
) -> None:
    error = _decode_error(frame(SUBMIT_SM, submit_sm_body(**fields), seq=12))  # type: ignore[arg-type]
    assert error.command_status == status, field
    assert error.response() == SubmitSmResp(sequence_number=12, command_status=status)


def test_c_string_at_its_maximum_is_accepted() -> None:
    body = submit_sm_body(source=b"1" * 20 + b"\x00", destination=b"4" * 20 + b"\x00")
    pdu = decode(frame(SUBMIT_SM, body))
    assert isinstance(pdu, SubmitSm)
    assert pdu.source_addr == "1" * 20


def test_overlong_c_string_without_a_specific_code_answers_invcmdlen() -> None:
    error = _decode_error(frame(0x00000002, b"s" * 16 + b"\x00" + b"pw\x00\x00\x34\x00\x00\x00"))
    assert error.command_status == S.ESME_RINVCMDLEN


# -- short_message -------------------------------------------------------------


def test_sm_length_over_254_answers_invmsglen() -> None:
    body = submit_sm_body(short_message=b"x" * 255)
    error = _decode_error(frame(SUBMIT_SM, body, seq=5))
    assert isinstance(error, MessageLengthError)
    assert error.command_status == S.ESME_RINVMSGLEN
    assert error.response() == SubmitSmResp(sequence_number=5, command_status=S.ESME_RINVMSGLEN)


def test_sm_length_past_the_end_of_the_pdu_answers_invmsglen() -> None:
    body = submit_sm_body(short_message=b"hello", sm_length=6)
    error = _decode_error(frame(SUBMIT_SM, body, seq=5))
    assert error.command_status == S.ESME_RINVMSGLEN
    assert error.framed is True


def test_short_message_and_message_payload_together_answer_invmsglen() -> None:
    body = submit_sm_body(short_message=b"hello") + tlv(0x0424, b"world")
    error = _decode_error(frame(SUBMIT_SM, body, seq=5))
    assert error.command_status == S.ESME_RINVMSGLEN
    with pytest.raises(ValueError):
        SubmitSm(sequence_number=1, short_message=b"a", tlvs=(Tlv.message_payload(b"b"),))


def test_message_payload_with_empty_short_message_is_accepted() -> None:
    body = submit_sm_body(short_message=b"") + tlv(0x0424, b"a long text")
    pdu = decode(frame(SUBMIT_SM, body))
    assert isinstance(pdu, SubmitSm)
    assert pdu.message_payload == b"a long text"


# -- TLVs -----------------------------------------------------------------------


def test_tlv_header_running_past_the_end_answers_invoptparstream() -> None:
    body = submit_sm_body() + b"\x04\x27\x00"
    error = _decode_error(frame(SUBMIT_SM, body, seq=8))
    assert isinstance(error, TlvStreamError)
    assert error.command_status == S.ESME_RINVOPTPARSTREAM
    assert error.response() == SubmitSmResp(
        sequence_number=8, command_status=S.ESME_RINVOPTPARSTREAM
    )


def test_tlv_value_running_past_the_end_answers_invoptparstream() -> None:
    body = submit_sm_body() + tlv(0x1402, b"abc", length=10)
    error = _decode_error(frame(SUBMIT_SM, body, seq=8))
    assert error.command_status == S.ESME_RINVOPTPARSTREAM


@pytest.mark.parametrize(
    ("tag", "value"),
    [(0x0427, b"\x02\x00"), (0x0423, b"\x03\x00"), (0x020C, b"\x01"), (0x001E, b"x" * 66)],
    ids=["message_state", "network_error_code", "sar_msg_ref_num", "receipted_message_id"],
)
def test_known_tlv_with_wrong_length_answers_invparlen(tag: int, value: bytes) -> None:
    error = _decode_error(frame(SUBMIT_SM, submit_sm_body() + tlv(tag, value), seq=8))
    assert isinstance(error, TlvLengthError)
    assert error.command_status == S.ESME_RINVPARLEN
    assert error.response() == SubmitSmResp(sequence_number=8, command_status=S.ESME_RINVPARLEN)


def test_unknown_tlvs_are_kept_in_order() -> None:
    extra = tlv(0x1402, b"\x01\x02") + tlv(0x0427, b"\x02") + tlv(0x7777, b"")
    wire = frame(SUBMIT_SM, submit_sm_body() + extra)
    pdu = decode(wire)
    assert isinstance(pdu, SubmitSm)
    assert [t.tag for t in pdu.tlvs] == [0x1402, 0x0427, 0x7777]
    assert pdu.encode() == wire


# -- header-only PDUs, command_status, addresses, priority -----------------------


@pytest.mark.parametrize(
    ("command_id", "response"),
    [(0x00000006, UnbindResp), (0x00000015, None), (0x80000008, None)],
    ids=["unbind", "enquire_link", "cancel_sm_resp"],
)
def test_extra_octets_after_a_header_only_pdu_answer_invcmdlen(
    command_id: int, response: type | None
) -> None:
    error = _decode_error(frame(command_id, b"\x00", seq=21))
    assert error.command_status == S.ESME_RINVCMDLEN
    assert error.framed is True
    answer = error.response()
    if command_id & 0x80000000:
        assert answer is None
    elif response is not None:
        assert answer == response(sequence_number=21, command_status=S.ESME_RINVCMDLEN)
    else:
        assert answer is not None
        assert answer.command_id == 0x80000015


def test_non_zero_command_status_in_a_request_is_ignored() -> None:
    pdu = decode(frame(SUBMIT_SM, submit_sm_body(), status=0x45))
    assert isinstance(pdu, SubmitSm)
    assert pdu.short_message == b"hello"


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"source": b"12\xe934\x00"}, S.ESME_RINVSRCADR),
        ({"source": b"12\x0134\x00"}, S.ESME_RINVSRCADR),
        ({"destination": b"4477\xff\x00"}, S.ESME_RINVDSTADR),
        ({"destination": b"44\x1b77\x00"}, S.ESME_RINVDSTADR),
    ],
    ids=["source non-ascii", "source binary", "destination non-ascii", "destination binary"],
)
def test_non_ascii_or_binary_address_answers_the_address_code(
    fields: dict[str, bytes], status: CommandStatus
) -> None:
    error = _decode_error(frame(SUBMIT_SM, submit_sm_body(**fields)))  # type: ignore[arg-type]
    assert isinstance(error, AddressError)
    assert error.command_status == status


@pytest.mark.parametrize("priority", [4, 0x80, 0xFF])
def test_priority_flag_above_3_answers_invprtflg(priority: int) -> None:
    error = _decode_error(frame(SUBMIT_SM, submit_sm_body(priority_flag=priority), seq=2))
    assert error.command_status == S.ESME_RINVPRTFLG
    assert error.response() == SubmitSmResp(sequence_number=2, command_status=S.ESME_RINVPRTFLG)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"schedule": b"2401151430\x00"}, S.ESME_RINVSCHED),
        ({"validity": b"1\x00"}, S.ESME_RINVEXPIRY),
    ],
    ids=["schedule_delivery_time", "validity_period"],
)
def test_time_field_of_wrong_length_answers_its_code(
    fields: dict[str, bytes], status: CommandStatus
) -> None:
    error = _decode_error(frame(SUBMIT_SM, submit_sm_body(**fields)))  # type: ignore[arg-type]
    assert error.command_status == status


# -- responses --------------------------------------------------------------------


def test_body_less_error_response_decodes() -> None:
    pdu = decode(frame(0x80000004, status=S.ESME_RTHROTTLED, seq=77))
    assert pdu == SubmitSmResp(sequence_number=77, command_status=S.ESME_RTHROTTLED)


def test_error_response_with_a_stray_body_still_decodes() -> None:
    pdu = decode(frame(0x80000004, b"\x00", status=S.ESME_RSYSERR, seq=77))
    assert pdu == SubmitSmResp(sequence_number=77, command_status=S.ESME_RSYSERR)
    garbage = decode(frame(0x80000008, b"\x01\x02", status=S.ESME_RSYSERR, seq=78))
    assert garbage == CancelSmResp(sequence_number=78, command_status=S.ESME_RSYSERR)


def test_error_response_keeps_a_body_that_carries_information() -> None:
    body = b"\x00" + tlv(0x0425, b"\x01")
    pdu = decode(frame(0x80000103, body, status=S.ESME_RDELIVERYFAILURE, seq=5))
    assert isinstance(pdu, DataSmResp)
    assert pdu.delivery_failure_reason == 1
    assert pdu.encode() == frame(0x80000103, body, status=S.ESME_RDELIVERYFAILURE, seq=5)


def test_malformed_successful_response_is_reported_but_never_answered() -> None:
    error = _decode_error(frame(0x80000004, b"abc", seq=6))
    assert error.sequence_number == 6
    assert error.response() is None


@pytest.mark.parametrize(
    ("command_id", "body"),
    [(0x0000000B, b"sys"), (0x00000102, b"\x01\x01" + b"1" * 70)],
    ids=["outbind", "alert_notification"],
)
def test_bad_request_without_a_response_pdu_gets_generic_nack(command_id: int, body: bytes) -> None:
    error = _decode_error(frame(command_id, body, seq=31))
    assert error.response() == GenericNack(sequence_number=31, command_status=error.command_status)


def test_a_request_builds_its_own_response() -> None:
    request = SubmitSm(sequence_number=41, short_message=b"x")
    assert request.response(message_id="m-1") == SubmitSmResp(sequence_number=41, message_id="m-1")
    with pytest.raises(ValueError):
        SubmitSmResp(sequence_number=1).response()


SUBMIT_MULTI_TAIL = b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02hi"


@pytest.mark.parametrize(
    ("destinations", "status"),
    [
        (b"\x00", S.ESME_RINVNUMDESTS),
        (b"\x01\x03\x01\x01447700900123\x00", S.ESME_RINVDESTFLAG),
        (b"\x01\x01\x01\x01" + b"4" * 21 + b"\x00", S.ESME_RINVDSTADR),
        (b"\x01\x02" + b"d" * 21 + b"\x00", S.ESME_RINVDLNAME),
    ],
    ids=["no destinations", "bad dest_flag", "overlong address", "overlong dl_name"],
)
def test_bad_submit_multi_destinations_answer_their_codes(
    destinations: bytes, status: CommandStatus
) -> None:
    body = b"\x00\x05\x00ACME\x00" + destinations + SUBMIT_MULTI_TAIL
    error = _decode_error(frame(0x00000021, body, seq=13))
    assert error.command_status == status
    answer = error.response()
    assert answer is not None
    assert (answer.command_id, answer.command_status, answer.sequence_number) == (
        0x80000021,
        status,
        13,
    )
