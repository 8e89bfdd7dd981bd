"""The stream framer: partial reads, coalesced reads, bounded buffering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.smpp import (
    DEFAULT_MAX_PDU_LENGTH,
    CommandLengthError,
    EnquireLink,
    Framer,
    InvalidFieldError,
    Pdu,
    SubmitSm,
    Tlv,
    decode,
)

from .strategies import any_pdu
from .wire import frame


@given(st.lists(any_pdu, min_size=1, max_size=8), st.data())
def test_any_split_of_a_stream_yields_the_same_pdus(pdus: list[Pdu], data: st.DataObject) -> None:
    stream = b"".join(p.encode() for p in pdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    framer = Framer()
    out: list[Pdu] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        framer.feed(stream[start:cut])
        start = cut
        out.extend(framer.pdus())
    assert out == pdus
    assert framer.buffered == 0


def test_partial_header_waits_for_more() -> None:
    framer = Framer()
    wire = EnquireLink(sequence_number=3).encode()
    framer.feed(wire[:3])
    assert framer.next_frame() is None
    framer.feed(wire[3:10])
    assert framer.next_frame() is None
    framer.feed(wire[10:])
    assert framer.next_frame() == wire
    assert framer.next_frame() is None


def test_coalesced_pdus_come_out_one_by_one() -> None:
    wires = [EnquireLink(sequence_number=n).encode() for n in range(1, 4)]
    framer = Framer()
    framer.feed(b"".join(wires) + wires[0][:5])
    assert list(framer.frames()) == wires
    assert framer.buffered == 5


def test_pdu_of_exactly_max_length_is_accepted_and_one_more_is_not() -> None:
    base = len(SubmitSm(sequence_number=1, tlvs=(Tlv(0x1402, b""),)).encode())
    at_limit = SubmitSm(sequence_number=1, tlvs=(Tlv(0x1402, b"v" * (1024 - base)),)).encode()
    assert len(at_limit) == 1024
    framer = Framer(max_length=1024)
    framer.feed(at_limit)
    assert framer.next_frame() == at_limit
    over = SubmitSm(sequence_number=1, tlvs=(Tlv(0x1402, b"v" * (1025 - base)),)).encode()
    framer.feed(over[:4])
    with pytest.raises(CommandLengthError):
        framer.next_frame()


def test_a_bad_pdu_does_not_lose_the_stream() -> None:
    framer = Framer()
    bad = frame(0x00000004, b"\x00\x01\x01" + b"1" * 30 + b"\x00", seq=1)
    good = SubmitSm(sequence_number=2, short_message=b"ok").encode()
    framer.feed(bad + good)
    with pytest.raises(InvalidFieldError):
        next(framer.pdus())
    assert list(framer.pdus()) == [decode(good)]


def test_framer_refuses_a_limit_too_small_for_smpp() -> None:
    with pytest.raises(ValueError):
        Framer(max_length=100)


def test_default_limit_admits_a_full_message_payload() -> None:
    assert DEFAULT_MAX_PDU_LENGTH > 0xFFFF + 200


def test_length_error_is_raised_again_on_later_use() -> None:
    framer = Framer()
    framer.feed(b"\x00\x00\x00\x01")
    with pytest.raises(CommandLengthError):
        framer.next_frame()
    with pytest.raises(CommandLengthError):
        framer.next_frame()


def test_a_bad_length_drops_the_buffered_octets_as_soon_as_it_is_fed() -> None:
    framer = Framer(max_length=4096)
    framer.feed(bytes.fromhex("f0000009 00000004 00000000 00000005") + b"x" * 3000)
    assert framer.buffered == 0
    with pytest.raises(CommandLengthError) as info:
        framer.next_frame()
    assert info.value.sequence_number == 5
