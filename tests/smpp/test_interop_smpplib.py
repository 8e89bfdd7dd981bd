"""What we encode, smpplib parses; what smpplib generates, we decode."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import smpplib.smpp

from smppd.smpp import (
    BindTransceiver,
    BindTransceiverResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Tlv,
    Unbind,
    UnbindResp,
    decode,
)


class _SequenceSource:
    """The part of smpplib's Client its PDU objects call."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


CLIENT = _SequenceSource()

ADDRESSES: dict[str, Any] = {
    "source_addr_ton": 5,
    "source_addr_npi": 0,
    "source_addr": "ACME",
    "dest_addr_ton": 1,
    "dest_addr_npi": 1,
    "destination_addr": "447700900123",
}

# (our PDU, smpplib command name, smpplib keyword arguments for the same PDU)
COMMON: list[tuple[Pdu, str, dict[str, Any]]] = [
    (
        BindTransceiver(
            sequence_number=1, system_id="app", password="secret", system_type="SMPP"
        ),
        "bind_transceiver",
        {"system_id": "app", "password": "secret", "system_type": "SMPP",
         "interface_version": 0x34, "addr_ton": 0, "addr_npi": 0, "address_range": ""},
    ),
    (
        BindTransceiverResp(
            sequence_number=1, system_id="smppd", tlvs=(Tlv.u8(Tag.SC_INTERFACE_VERSION, 0x34),)
        ),
        "bind_transceiver_resp",
        {"system_id": "smppd", "sc_interface_version": 0x34},
    ),
    (
        SubmitSm(sequence_number=2, registered_delivery=1, data_coding=8,
                 short_message="héllo".encode("utf-16-be"), **ADDRESSES),
        "submit_sm",
        {"registered_delivery": 1, "data_coding": 8,
         "short_message": "héllo".encode("utf-16-be"), **ADDRESSES},
    ),
    (
        SubmitSm(sequence_number=3, esm_class=0x40, short_message=b"\x05\x00\x03\x2a\x02\x01hi",
                 tlvs=(Tlv.u16(Tag.USER_MESSAGE_REFERENCE, 99),), **ADDRESSES),
        "submit_sm",
        {"esm_class": 0x40, "short_message": b"\x05\x00\x03\x2a\x02\x01hi",
         "user_message_reference": 99, **ADDRESSES},
    ),
    (
        SubmitSmResp(sequence_number=2, message_id="70BA8A69"),
        "submit_sm_resp",
        {"message_id": "70BA8A69"},
    ),
    (
        DeliverSm(sequence_number=4, esm_class=4, short_message=b"id:70BA8A69 stat:DELIVRD",
                  tlvs=(Tlv.message_state(2), Tlv.receipted_message_id("70BA8A69")),
                  **ADDRESSES),
        "deliver_sm",
        {"esm_class": 4, "short_message": b"id:70BA8A69 stat:DELIVRD",
         "message_state": 2, "receipted_message_id": "70BA8A69", **ADDRESSES},
    ),
    (DeliverSmResp(sequence_number=4), "deliver_sm_resp", {}),
    (
        DataSm(sequence_number=5, tlvs=(Tlv.message_payload(b"payload"),), **ADDRESSES),
        "data_sm",
        {"message_payload": b"payload", "esm_class": 0, "registered_delivery": 0,
         "data_coding": 0, **ADDRESSES},
    ),
    (EnquireLink(sequence_number=6), "enquire_link", {}),
    (EnquireLinkResp(sequence_number=6), "enquire_link_resp", {}),
    (Unbind(sequence_number=7), "unbind", {}),
    (UnbindResp(sequence_number=7), "unbind_resp", {}),
    (GenericNack(sequence_number=8, command_status=3), "generic_nack", {}),
]  # fmt: skip

IDS = [f"{name}-{i}" for i, (_, name, _) in enumerate(COMMON)]


def _as_bytes(value: object) -> object:
    return value.encode("latin-1") if isinstance(value, str) else value


@pytest.mark.parametrize(("ours", "name", "fields"), COMMON, ids=IDS)
def test_smpplib_parses_what_we_encode(ours: Pdu, name: str, fields: dict[str, Any]) -> None:
    theirs = smpplib.smpp.parse_pdu(ours.encode(), client=CLIENT)
    assert theirs.command == name
    assert theirs.sequence == ours.sequence_number
    assert theirs.status == ours.command_status
    for key, value in fields.items():
        assert _as_bytes(getattr(theirs, key)) == _as_bytes(value), key


@pytest.mark.parametrize(("ours", "name", "fields"), COMMON, ids=IDS)
def test_we_decode_what_smpplib_generates(ours: Pdu, name: str, fields: dict[str, Any]) -> None:
    theirs = smpplib.smpp.make_pdu(name, client=CLIENT, **fields)
    theirs.sequence = ours.sequence_number
    theirs.status = ours.command_status
    decoded = decode(theirs.generate())
    # smpplib writes TLVs in its own order; compare them as a set.
    if hasattr(ours, "tlvs"):
        ours_tlvs: tuple[Tlv, ...] = ours.tlvs
        decoded_tlvs: tuple[Tlv, ...] = getattr(decoded, "tlvs")  # noqa: B009
        assert sorted(decoded_tlvs, key=lambda t: t.tag) == sorted(ours_tlvs, key=lambda t: t.tag)
        decoded = dataclasses.replace(decoded, tlvs=ours_tlvs)  # type: ignore[call-arg]
    assert decoded == ours
