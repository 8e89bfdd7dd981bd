"""Random and mutated octets: only typed errors come out, memory stays bounded."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smppd.smpp import DecodeError, Framer, Pdu, decode

from .strategies import any_pdu

MAX_LENGTH = 4096
CHUNK = 512


def _drain(stream: bytes, chunk_sizes: list[int]) -> None:
    """Feed ``stream`` in chunks, decoding every frame; only DecodeError may escape."""
    framer = Framer(max_length=MAX_LENGTH)
    start = 0
    sizes = iter(chunk_sizes)
    while start < len(stream):
        size = next(sizes, CHUNK)
        try:
            framer.feed(stream[start : start + size])
        except DecodeError as error:
            assert not error.framed
            return
        start += size
        while True:
            try:
                frame = framer.next_frame()
            except DecodeError as error:
                assert not error.framed
                assert error.response() is not None
                return
            if frame is None:
                break
            try:
                pdu = decode(frame)
            except DecodeError as error:
                error.response()  # must not raise either
            else:
                assert pdu.encode()  # whatever decodes also encodes
        assert framer.buffered < MAX_LENGTH + CHUNK


@settings(max_examples=300)
@given(st.binary(max_size=3000), st.lists(st.integers(1, CHUNK), max_size=20))
def test_random_octets_raise_only_decode_errors(stream: bytes, chunks: list[int]) -> None:
    _drain(stream, chunks)


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    pdus: list[Pdu] = draw(st.lists(any_pdu, min_size=1, max_size=4))
    data = bytearray(b"".join(p.encode() for p in pdus))
    for _ in range(draw(st.integers(1, 8))):
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if operation == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete" and data:
            del data[position : position + draw(st.integers(1, 8))]
        else:
            del data[position:]
    return bytes(data)


@settings(max_examples=300)
@given(mutated_streams(), st.lists(st.integers(1, CHUNK), max_size=20))
def test_mutated_pdus_raise_only_decode_errors(stream: bytes, chunks: list[int]) -> None:
    _drain(stream, chunks)


@settings(max_examples=300)
@given(any_pdu, st.integers(16, 2000), st.binary(min_size=1, max_size=4))
def test_mutated_bodies_decode_or_raise_decode_error(pdu: Pdu, position: int, noise: bytes) -> None:
    wire = bytearray(pdu.encode())
    if position < len(wire):
        wire[position : position + len(noise)] = noise
        wire[:4] = len(wire).to_bytes(4, "big")
    try:
        decoded = decode(bytes(wire))
    except DecodeError:
        return
    assert decode(decoded.encode()) == decoded
