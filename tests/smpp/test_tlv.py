"""TLV table, typed builders and typed accessors."""

from __future__ import annotations

import pytest

from smppd.smpp import (
    DeliverSm,
    EncodeError,
    MessageState,
    NetworkErrorCode,
    SubmitSm,
    Tag,
    Tlv,
    decode,
)
from smppd.smpp import pdu as pdu_module
from smppd.smpp.tlv import TLV_LENGTHS, TLV_SPECS, TlvType

# (tag, allowed lengths) straight from SMPP 3.4 §5.3.2 and SMPP 5.0 for 0x1438.
SPEC_LENGTHS = [
    (0x0005, 1, 1), (0x0006, 1, 1), (0x0007, 1, 1), (0x0008, 2, 2), (0x000D, 1, 1),
    (0x000E, 1, 1), (0x000F, 1, 1), (0x0010, 1, 1), (0x0017, 4, 4), (0x0019, 1, 1),
    (0x001D, 1, 256), (0x001E, 1, 65), (0x0030, 1, 1), (0x0201, 1, 1), (0x0202, 2, 23),
    (0x0203, 2, 23), (0x0204, 2, 2), (0x0205, 1, 1), (0x020A, 2, 2), (0x020B, 2, 2),
    (0x020C, 2, 2), (0x020D, 1, 1), (0x020E, 1, 1), (0x020F, 1, 1), (0x0210, 1, 1),
    (0x0302, 1, 1), (0x0303, 0, 65), (0x0304, 1, 1), (0x0381, 4, 19), (0x0420, 1, 1),
    (0x0421, 1, 1), (0x0422, 1, 1), (0x0423, 3, 3), (0x0424, 0, 0xFFFF), (0x0425, 1, 1),
    (0x0426, 1, 1), (0x0427, 1, 1), (0x0501, 1, 1), (0x1201, 1, 1), (0x1203, 2, 2),
    (0x1204, 1, 1), (0x130C, 0, 1), (0x1380, 1, 1), (0x1383, 2, 2), (0x1438, 1, 1),
]  # fmt: skip


@pytest.mark.parametrize(("tag", "low", "high"), SPEC_LENGTHS, ids=lambda v: f"{v:#06x}")
def test_every_standard_tlv_has_its_specified_lengths(tag: int, low: int, high: int) -> None:
    assert TLV_LENGTHS[tag] == (low, high)


def test_the_table_has_no_tag_the_specifications_lack() -> None:
    assert set(TLV_LENGTHS) == {tag for tag, _, _ in SPEC_LENGTHS}


def test_building_a_known_tlv_with_a_wrong_length_is_refused() -> None:
    with pytest.raises(EncodeError):
        Tlv(Tag.MESSAGE_STATE, b"\x01\x02")
    with pytest.raises(EncodeError):
        Tlv.u8(Tag.SAR_TOTAL_SEGMENTS, 256)


def test_sar_builder_refuses_a_segment_past_the_total() -> None:
    with pytest.raises(EncodeError):
        Tlv.sar(1, 2, 3)


def test_typed_accessors_read_what_the_builders_wrote() -> None:
    pdu = DeliverSm(
        sequence_number=1,
        esm_class=0x04,
        tlvs=(
            *Tlv.sar(0xBEEF, 3, 2),
            Tlv.u16(Tag.USER_MESSAGE_REFERENCE, 777),
            Tlv.u16(Tag.SOURCE_PORT, 9200),
            Tlv.u16(Tag.DESTINATION_PORT, 2948),
            Tlv.receipted_message_id("abc-123"),
            Tlv.message_state(MessageState.UNDELIVERABLE),
            Tlv.network_error_code(3, 0x0123),
            Tlv.u8(Tag.CONGESTION_STATE, 85),
            Tlv.u8(Tag.DELIVERY_FAILURE_REASON, 2),
            Tlv.cstring(Tag.ADDITIONAL_STATUS_INFO_TEXT, "absent"),
            Tlv.message_payload(b"long text"),
        ),
    )
    assert (pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum) == (0xBEEF, 3, 2)
    assert pdu.user_message_reference == 777
    assert (pdu.source_port, pdu.destination_port) == (9200, 2948)
    assert pdu.receipted_message_id == "abc-123"
    assert pdu.message_state is MessageState.UNDELIVERABLE
    assert pdu.network_error_code == NetworkErrorCode(3, 0x0123)
    assert pdu.congestion_state == 85
    assert pdu.delivery_failure_reason == 2
    assert pdu.additional_status_info_text == "absent"
    assert pdu.message_payload == b"long text"
    assert pdu.sc_interface_version is None


def test_accessors_return_none_when_the_tlv_is_absent() -> None:
    pdu = SubmitSm(sequence_number=1)
    assert pdu.message_payload is None
    assert pdu.receipted_message_id is None
    assert pdu.message_state is None
    assert pdu.network_error_code is None


def test_receipted_message_id_without_its_nul_is_still_read() -> None:
    pdu = DeliverSm(sequence_number=1, tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, b"1d305b4c"),))
    assert pdu.receipted_message_id == "1d305b4c"


def test_message_state_outside_the_enum_is_returned_as_int() -> None:
    pdu = DeliverSm(sequence_number=1, tlvs=(Tlv.message_state(42),))
    assert pdu.message_state == 42


def test_first_occurrence_of_a_repeated_tag_wins() -> None:
    pdu = DeliverSm(sequence_number=1, tlvs=(Tlv.message_state(2), Tlv.message_state(5)))
    assert pdu.message_state is MessageState.DELIVERED


def test_shared_small_tlvs_stay_within_their_bound() -> None:
    for value in range(pdu_module.INTERN_MAX_ENTRIES + 10):
        wire = SubmitSm(sequence_number=1, tlvs=(Tlv.u32(0x1500, value),)).encode()
        assert pdu_module.decode_as(SubmitSm, wire).tlvs == (Tlv.u32(0x1500, value),)
    assert len(pdu_module._interned_tlvs) <= pdu_module.INTERN_MAX_ENTRIES


def test_decoded_tlvs_re_encode_to_their_original_octets() -> None:
    original = Tlv(0x1403, b"\x00\x01\x02\x03\x04\x05")
    wire = SubmitSm(sequence_number=1, tlvs=(original,)).encode()
    (decoded,) = _decode_tlvs_of(wire)
    assert decoded.encode() == original.encode() == b"\x14\x03\x00\x06\x00\x01\x02\x03\x04\x05"


def _decode_tlvs_of(wire: bytes) -> tuple[Tlv, ...]:
    pdu = decode(wire)
    assert isinstance(pdu, SubmitSm)
    return pdu.tlvs


STRING_TAGS: dict[int, TlvType] = {
    Tag.ADDITIONAL_STATUS_INFO_TEXT: TlvType.C_OCTET_STRING,
    Tag.RECEIPTED_MESSAGE_ID: TlvType.C_OCTET_STRING,
    Tag.SOURCE_SUBADDRESS: TlvType.OCTET_STRING,
    Tag.DEST_SUBADDRESS: TlvType.OCTET_STRING,
    Tag.CALLBACK_NUM_ATAG: TlvType.OCTET_STRING,
    Tag.CALLBACK_NUM: TlvType.OCTET_STRING,
    Tag.NETWORK_ERROR_CODE: TlvType.OCTET_STRING,
    Tag.MESSAGE_PAYLOAD: TlvType.OCTET_STRING,
    Tag.USSD_SERVICE_OP: TlvType.OCTET_STRING,
    Tag.ITS_SESSION_INFO: TlvType.OCTET_STRING,
    Tag.ALERT_ON_MESSAGE_DELIVERY: TlvType.OCTET_STRING,
}


@pytest.mark.parametrize("tag", sorted(TLV_SPECS), ids=lambda v: f"{v:#06x}")
def test_every_standard_tlv_has_its_specified_value_type(tag: int) -> None:
    assert TLV_SPECS[tag].value_type is STRING_TAGS.get(tag, TlvType.INTEGER)


def test_tlv_value_reads_each_type() -> None:
    pdu = DeliverSm(
        sequence_number=1,
        tlvs=(
            Tlv.u16(Tag.SMS_SIGNAL, 0x0102),
            Tlv.receipted_message_id("x-1"),
            Tlv(Tag.DEST_SUBADDRESS, b"\xa0\x01"),
            Tlv(0x1402, b"\x00\x07"),
        ),
    )
    assert pdu.tlv_value(Tag.SMS_SIGNAL) == 0x0102
    assert pdu.tlv_value(Tag.RECEIPTED_MESSAGE_ID) == "x-1"
    assert pdu.tlv_value(Tag.DEST_SUBADDRESS) == b"\xa0\x01"
    assert pdu.tlv_value(0x1402) == b"\x00\x07"
    assert pdu.tlv_value(Tag.MESSAGE_STATE) is None
