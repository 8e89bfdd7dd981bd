"""Throughput of the SMPP codec against smpplib's, side by side, one core.

Run: python bench/codec.py [--seconds 0.3]

For each PDU kind, decoding (bytes -> object) and encoding (object -> bytes)
are timed on the same octets for both codecs; the table shows PDUs per second
and the ratio ours / smpplib. The PDUs are typical: a 112-octet submit_sm, a
SAR-segmented submit_sm with user_message_reference, an MO deliver_sm and a
delivery receipt deliver_sm with receipted_message_id, message_state and
network_error_code.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import smpplib.smpp

from smppd.smpp import DeliverSm, Pdu, SubmitSm, Tag, Tlv, decode

TEXT = (
    b"Your verification code is 482913. It expires in 10 minutes. Do not share it with anyone!!" * 2
)
TEXT = TEXT[:112]
RECEIPT = (
    b"id:0123456789 sub:001 dlvrd:001 submit date:2401151430 done date:2401151431 "
    b"stat:DELIVRD err:000 text:Your verification"
)


def _cases() -> list[tuple[str, Pdu, dict[str, Any]]]:
    addresses: dict[str, Any] = {
        "source_addr_ton": 5,
        "source_addr_npi": 0,
        "source_addr": "ACME",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": "447700900123",
    }
    sar = Tlv.sar(0x1234, 3, 2)
    umr = Tlv.u16(Tag.USER_MESSAGE_REFERENCE, 42)
    # In the order smpplib writes them, so both sides decode the same octets.
    receipt_tlvs = (
        Tlv.network_error_code(3, 0),
        Tlv.message_state(2),
        Tlv.receipted_message_id("0123456789"),
    )
    return [
        (
            "submit_sm",
            SubmitSm(sequence_number=7, registered_delivery=1, short_message=TEXT, **addresses),
            {"registered_delivery": 1, "short_message": TEXT, **addresses},
        ),
        (
            "submit_sm + TLVs",
            SubmitSm(
                sequence_number=7,
                registered_delivery=1,
                short_message=TEXT,
                tlvs=(umr, *sar),
                **addresses,
            ),
            {
                "registered_delivery": 1,
                "short_message": TEXT,
                "user_message_reference": 42,
                "sar_msg_ref_num": 0x1234,
                "sar_total_segments": 3,
                "sar_segment_seqnum": 2,
                **addresses,
            },
        ),
        (
            "deliver_sm",
            DeliverSm(sequence_number=9, short_message=TEXT, **addresses),
            {"short_message": TEXT, **addresses},
        ),
        (
            "deliver_sm + TLVs",
            DeliverSm(
                sequence_number=9,
                esm_class=4,
                short_message=RECEIPT,
                tlvs=receipt_tlvs,
                **addresses,
            ),
            {
                "esm_class": 4,
                "short_message": RECEIPT,
                "receipted_message_id": "0123456789",
                "message_state": 2,
                "network_error_code": b"\x03\x00\x00",
                **addresses,
            },
        ),
    ]


class _SequenceSource:
    """The part of ``smpplib.client.Client`` that its PDUs ask for."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


_CLIENT = _SequenceSource()
_RUNS = 15


def _calibrate(func: Callable[[], object], seconds: float) -> int:
    """Loop count for one run of ``func`` lasting about ``seconds``."""
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            func()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10:
            return max(1, int(batch * seconds / elapsed))
        batch *= 4


def _rates(
    ours: Callable[[], object], theirs: Callable[[], object], seconds: float
) -> tuple[float, float]:
    """Calls per second of both, from alternating short runs filling ``seconds`` each.

    Alternating puts both codecs under the same machine load; the best run of
    each is the one least disturbed by other processes.
    """
    loops = [_calibrate(f, seconds / _RUNS) for f in (ours, theirs)]
    best = [0.0, 0.0]
    for _ in range(_RUNS):
        for i, func in enumerate((ours, theirs)):
            start = time.perf_counter()
            for _ in range(loops[i]):
                func()
            best[i] = max(best[i], loops[i] / (time.perf_counter() - start))
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="per measurement run")
    args = parser.parse_args()

    print(f"{'PDU kind':<28}{'ours/s':>12}{'smpplib/s':>12}{'ratio':>8}")
    for name, ours, fields in _cases():
        kind = ours.command_id.name.lower()
        theirs = smpplib.smpp.make_pdu(
            kind, client=_CLIENT, sequence=ours.sequence_number, **fields
        )
        theirs.sequence = ours.sequence_number
        wire = ours.encode()
        their_wire = theirs.generate()
        # Both sides must be timed on equivalent PDUs.
        if decode(their_wire) != dataclasses.replace(decode(wire), sequence_number=theirs.sequence):
            raise SystemExit(f"{name}: the two codecs do not encode the same PDU")
        rows: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
            (
                f"decode {name}",
                functools.partial(decode, wire),
                functools.partial(smpplib.smpp.parse_pdu, wire, client=_CLIENT),
            ),
            (f"encode {name}", ours.encode, theirs.generate),
        ]
        for label, mine, other in rows:
            a, b = _rates(mine, other, args.seconds)
            print(f"{label:<28}{a:>12,.0f}{b:>12,.0f}{a / b:>7.1f}x")


if __name__ == "__main__":
    main()
