"""Throughput of the session core and of the Twisted adapter, one core.

Run: python bench/session.py [--seconds 1]

* ``smsc receive``: an application's submit_sm arrive in reads of 32 PDUs; the
  owner answers each with submit_sm_resp (sans-IO session only).
* ``esme send``: we send submit_sm to a carrier, 10 in flight, responses
  arrive in one read per window (sans-IO session only).
* ``adapter``: the same as ``smsc receive`` through SmppProtocol over a
  StringTransport with a Clock, handler answering at once.

Not collected by pytest (the name does not start with ``test_``); the
figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from smppd.protocol import SessionHandler, SmppProtocol
from smppd.session import (
    BindMode,
    BindRequest,
    RequestReceived,
    Role,
    Session,
    SessionConfig,
)
from smppd.smpp import BindTransceiver, Pdu, SubmitSm, SubmitSmResp

BATCH = 32
TEXT = b"Your verification code is 482913. It expires in 10 minutes. Do not share it!"
SUBMIT = SubmitSm(
    sequence_number=0,
    source_addr_ton=5,
    source_addr="ACME",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="447700900123",
    registered_delivery=1,
    short_message=TEXT,
)


def _with_seq(pdu: Pdu, seq: int) -> bytes:
    data = bytearray(pdu.encode())
    struct.pack_into(">I", data, 12, seq)
    return bytes(data)


def _submits(first: int) -> bytes:
    return b"".join(_with_seq(SUBMIT, first + i) for i in range(BATCH))


def bench_smsc_receive() -> Callable[[], int]:
    session = Session(Role.SMSC, 0.0, SessionConfig(receive_window=BATCH))
    session.receive_data(_with_seq(BindTransceiver(sequence_number=0, system_id="a"), 1), 0.0)
    session.accept_bind(0.0, "smppd")
    session.bytes_to_send()
    data = _submits(2)
    answer = SubmitSmResp(sequence_number=0, message_id="0123456789abcdef")

    def run() -> int:
        for event in session.receive_data(data, 1.0):
            if type(event) is RequestReceived:
                session.send_response(event.request.sequence_number, answer)
        session.bytes_to_send()
        return BATCH

    return run


def bench_esme_send() -> Callable[[], int]:
    window = 10
    session = Session(Role.ESME, 0.0, SessionConfig(send_window=window))
    seq = session.bind(BindMode.TRANSCEIVER, "a", "b", 0.0)
    session.receive_data(struct.pack(">IIII", 18, 0x80000009, 0, seq) + b"c\x00", 0.0)
    session.bytes_to_send()
    answer = SubmitSmResp(sequence_number=0, message_id="0123456789abcdef")

    def run() -> int:
        seqs = [session.send_request(SUBMIT, 1.0) for _ in range(window)]
        session.bytes_to_send()
        session.receive_data(b"".join(_with_seq(answer, s) for s in seqs), 1.0)
        return window

    return run


class _Answer(SessionHandler):
    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int:
        return 0

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu:
        return request.response(message_id="0123456789abcdef")


def bench_adapter() -> Callable[[], int]:
    clock = Clock()
    protocol = SmppProtocol(Role.SMSC, _Answer(), clock, config=SessionConfig(receive_window=BATCH))
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(_with_seq(BindTransceiver(sequence_number=0, system_id="a"), 1))
    transport.clear()
    data = _submits(2)

    def run() -> int:
        protocol.dataReceived(data)
        transport.clear()
        return BATCH

    return run


def measure(make: Callable[[], Callable[[], int]], seconds: float) -> float:
    run = make()
    done = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += run()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    for name, make in (
        ("smsc receive (submit_sm in, submit_sm_resp out)", bench_smsc_receive),
        ("esme send (submit_sm out, submit_sm_resp in)", bench_esme_send),
        ("adapter (SmppProtocol, StringTransport)", bench_adapter),
    ):
        print(f"{name:52} {measure(make, args.seconds):>10,.0f} PDUs/s")


if __name__ == "__main__":
    main()
