"""Known PDUs, written out octet by octet, decode to what they mean."""

from __future__ import annotations

from smppd.smpp import (
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    CommandStatus,
    DeliverSm,
    EnquireLink,
    GenericNack,
    MessageState,
    NetworkErrorCode,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSmResp,
    decode,
    is_delivery_receipt,
)
from smppd.smpp.pdu import DistributionList, SmeAddress, UnsuccessfulSme, decode_as


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def test_body_less_bind_receiver_resp_with_invpaswd() -> None:
    wire = _hex("00000010 80000001 0000000e 00000d80")
    pdu = decode(wire)
    assert pdu == BindReceiverResp(
        sequence_number=0xD80, command_status=CommandStatus.ESME_RINVPASWD
    )
    assert pdu.encode() == wire


def test_enquire_link() -> None:
    wire = _hex("00000010 00000015 00000000 00000001")
    assert decode(wire) == EnquireLink(sequence_number=1)


def test_generic_nack_invcmdid() -> None:
    wire = _hex("00000010 80000000 00000003 0000002a")
    assert decode(wire) == GenericNack(sequence_number=42, command_status=3)


def test_bind_transceiver_and_resp_with_sc_interface_version() -> None:
    wire = _hex(
        "0000001f 00000009 00000000 00000001"
        "7573657200"  # system_id "user"
        "7077647300"  # password "pwds"
        "00"  # system_type
        "34 01 01"  # interface_version 3.4, ton, npi
        "00"  # address_range
    )
    pdu = decode_as(BindTransceiver, wire)
    assert (pdu.system_id, pdu.password, pdu.interface_version) == ("user", "pwds", 0x34)
    assert pdu.encode() == wire
    resp_wire = _hex("0000001a 80000009 00000000 00000001 736d736300 0210 0001 34")
    resp = decode_as(BindTransceiverResp, resp_wire)
    assert resp.system_id == "smsc"
    assert resp.sc_interface_version == 0x34
    assert resp.encode() == resp_wire


def test_submit_sm_resp_message_id() -> None:
    wire = _hex("00000019 80000004 00000000 00000005 373042413841363900")
    assert decode(wire) == SubmitSmResp(sequence_number=5, message_id="70BA8A69")


# A delivery receipt as a carrier sends it: Appendix B text, the standard
# receipt TLVs and two vendor TLVs (0x1402, 0x1403) that must pass through.
RECEIPT_TEXT = (
    b"id:1891273321 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431 "
    b"stat:DELIVRD err:000 text:Hello"
)
RECEIPT = (
    _hex("00000000 00000005 00000000 0000a1b2")
    + b"\x00"  # service_type
    + b"\x01\x01447700900123\x00"  # source (the handset)
    + b"\x05\x00ACME\x00"  # destination (the sender id)
    + b"\x04\x00\x00"  # esm_class: SMSC delivery receipt
    + b"\x00\x00"  # schedule_delivery_time, validity_period
    + b"\x00\x00\x00\x00"
    + bytes((len(RECEIPT_TEXT),))
    + RECEIPT_TEXT
    + _hex("001e 0009 3730424138413639 00")  # receipted_message_id "70BA8A69"
    + _hex("0427 0001 02")  # message_state DELIVERED
    + _hex("0423 0003 03 0000")  # network_error_code GSM 0
    + _hex("1402 0004 00000001")  # vendor
    + _hex("1403 0006 323334303135")  # vendor (an MCC/MNC string)
)
RECEIPT = len(RECEIPT).to_bytes(4, "big") + RECEIPT[4:]


def test_real_receipt_with_vendor_tlvs_decodes_and_round_trips() -> None:
    pdu = decode_as(DeliverSm, RECEIPT)
    assert pdu.sequence_number == 0xA1B2
    assert is_delivery_receipt(pdu.esm_class)
    assert pdu.source_addr == "447700900123"
    assert pdu.destination_addr == "ACME"
    assert pdu.short_message == RECEIPT_TEXT
    assert pdu.receipted_message_id == "70BA8A69"
    assert pdu.message_state is MessageState.DELIVERED
    assert pdu.network_error_code == NetworkErrorCode(3, 0)
    assert pdu.tlv(0x1402) == b"\x00\x00\x00\x01"
    assert pdu.tlv(0x1403) == b"234015"
    assert [t.tag for t in pdu.tlvs] == [0x001E, 0x0427, 0x0423, 0x1402, 0x1403]
    assert pdu.encode() == RECEIPT


def test_network_error_code_keeps_all_three_octets() -> None:
    wire = RECEIPT.replace(_hex("0423 0003 03 0000"), _hex("0423 0003 03 0422"))
    assert decode_as(DeliverSm, wire).network_error_code == NetworkErrorCode(3, 0x0422)


def test_submit_multi_with_sme_and_distribution_list_destinations() -> None:
    body = (
        b"\x00"
        + b"\x05\x00ACME\x00"
        + b"\x02"  # number_of_dests
        + b"\x01\x01\x01447700900123\x00"
        + b"\x02friends\x00"
        + b"\x00\x00\x00\x00\x00\x01\x00\x00\x00"
        + b"\x02hi"
    )
    wire = (16 + len(body)).to_bytes(4, "big") + _hex("00000021 00000000 00000003") + body
    pdu = decode_as(SubmitMulti, wire)
    assert pdu.destinations == (
        SmeAddress(ton=1, npi=1, address="447700900123"),
        DistributionList(name="friends"),
    )
    assert pdu.short_message == b"hi"
    assert pdu.encode() == wire


def test_submit_multi_resp_with_unsuccess_entries() -> None:
    body = b"m1\x00" + b"\x01" + b"\x01\x01447700900123\x00" + _hex("0000000b")
    wire = (16 + len(body)).to_bytes(4, "big") + _hex("80000021 00000000 00000003") + body
    pdu = decode_as(SubmitMultiResp, wire)
    assert pdu.unsuccess_smes == (
        UnsuccessfulSme(ton=1, npi=1, address="447700900123", error_status_code=0x0B),
    )
    assert pdu.encode() == wire


def test_a_password_never_shows_in_the_repr_of_a_pdu() -> None:
    from smppd.smpp.pdu import BindTransceiver, BindTransmitter, Outbind

    for pdu in (
        BindTransmitter(sequence_number=1, system_id="shop", password="hunter2"),
        BindTransceiver(sequence_number=2, system_id="shop", password="hunter2"),
        Outbind(sequence_number=3, system_id="shop", password="hunter2"),
    ):
        assert "hunter2" not in repr(pdu)
        assert "shop" in repr(pdu)
        assert b"hunter2\x00" in pdu.encode()
