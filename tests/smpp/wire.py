"""Hand assembly of PDU octets, independent of the codec under test."""

from __future__ import annotations

import struct


def frame(command_id: int, body: bytes = b"", *, status: int = 0, seq: int = 7) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


def tlv(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack(">HH", tag, len(value) if length is None else length) + value


def submit_sm_body(
    *,
    service_type: bytes = b"\x00",
    source: bytes = b"12345\x00",
    destination: bytes = b"447700900123\x00",
    esm_class: int = 0,
    priority_flag: int = 0,
    schedule: bytes = b"\x00",
    validity: bytes = b"\x00",
    registered_delivery: int = 1,
    data_coding: int = 0,
    short_message: bytes = b"hello",
    sm_length: int | None = None,
) -> bytes:
    return (
        service_type
        + b"\x01\x01"
        + source
        + b"\x01\x01"
        + destination
        + bytes((esm_class, 0, priority_flag))
        + schedule
        + validity
        + bytes((registered_delivery, 0, data_coding, 0))
        + bytes((len(short_message) if sm_length is None else sm_length,))
        + short_message
    )
