"""The fast decode and encode paths agree with the generic field walk."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppd.smpp import DecodeError, DeliverSm, Pdu, SubmitSm, decode
from smppd.smpp import pdu as pdu_module

from .strategies import pdus

LAYOUTS = pdu_module._LAYOUTS


def _outcome(decoder: Callable[[bytes, int, int], Pdu], data: bytes) -> Pdu | tuple[str, int]:
    status = int.from_bytes(data[8:12], "big")
    sequence_number = int.from_bytes(data[12:16], "big")
    try:
        return decoder(data, status, sequence_number)
    except DecodeError as error:
        return (type(error).__name__, error.command_status)


FAST = sorted(pdu_module._FAST_DECODERS, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", FAST, ids=lambda cls: cls.__name__)
@settings(max_examples=150)
@given(data=st.data(), position=st.integers(16, 400), noise=st.binary(min_size=1, max_size=3))
def test_fast_and_generic_decoders_give_the_same_result(
    cls: type[Pdu], data: st.DataObject, position: int, noise: bytes
) -> None:
    pdu = data.draw(pdus(cls))
    wire = bytearray(pdu.encode())
    wire[position : position + len(noise)] = noise
    wire[:4] = len(wire).to_bytes(4, "big")
    octets = bytes(wire)
    layout = LAYOUTS[cls]
    assert _outcome(layout.decoder, octets) == _outcome(layout._decode_generic, octets)
    assert decode(pdu.encode()) == pdu


@given(st.one_of(pdus(SubmitSm), pdus(DeliverSm)))
def test_fast_and_generic_encoders_give_the_same_octets(pdu: Pdu) -> None:
    assert pdu.encode() == pdu_module._encode_generic(pdu)
