"""Every PDU type survives encode/decode in both directions, octet for octet."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppd.smpp import Pdu, decode, encode

from .strategies import PDU_CLASSES, pdus


@pytest.mark.parametrize("cls", PDU_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=60)
@given(data=st.data())
def test_pdu_to_bytes_to_pdu_gives_the_same_pdu(cls: type[Pdu], data: st.DataObject) -> None:
    pdu = data.draw(pdus(cls))
    decoded = decode(pdu.encode())
    assert decoded == pdu
    assert type(decoded) is cls


@pytest.mark.parametrize("cls", PDU_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=60)
@given(data=st.data())
def test_bytes_to_pdu_to_bytes_gives_the_same_bytes(cls: type[Pdu], data: st.DataObject) -> None:
    wire = data.draw(pdus(cls)).encode()
    assert encode(decode(wire)) == wire
    assert decode(wire).encode() == wire


@pytest.mark.parametrize("cls", PDU_CLASSES, ids=lambda cls: cls.__name__)
def test_command_length_is_the_whole_pdu(cls: type[Pdu]) -> None:
    wire = cls(sequence_number=1).encode()
    assert int.from_bytes(wire[:4], "big") == len(wire)
    assert int.from_bytes(wire[4:8], "big") == cls.command_id


@pytest.mark.parametrize("cls", [c for c in PDU_CLASSES if c.command_id & 0x80000000])
def test_error_response_without_content_is_header_only(cls: type[Pdu]) -> None:
    wire = cls(sequence_number=9, command_status=0x45).encode()
    assert len(wire) == 16
    assert decode(wire) == cls(sequence_number=9, command_status=0x45)
