"""An application as a customer writes one: smpplib, blocking sockets, on 127.0.0.1.

Only smpplib's PDU codec and socket are used; the loop below reads PDUs
itself so a test sees every one (and answers deliver_sm and enquire_link as
any application must).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from smppd.receipt import ReceiptError, parse_receipt

HOST: Final = "127.0.0.1"
#: Socket timeout of one read; the loops below have their own deadlines.
READ_TIMEOUT: Final = 0.5
#: esm_class message type bits of an SMSC delivery receipt.
ESM_RECEIPT: Final = 0x04
ESM_TYPE_MASK: Final = 0x3C
TON_INTL: Final = 1
NPI_ISDN: Final = 1
TON_ALNUM: Final = 5
DC_UCS2: Final = 0x08


@dataclass
class Received:
    """What an application has been sent: receipts by our message id, other MO."""

    receipts: dict[str, list[bytes]] = field(default_factory=dict)
    messages: list[Any] = field(default_factory=list)

    def receipt_count(self) -> int:
        return sum(len(texts) for texts in self.receipts.values())


class App:
    """One application bind (transmitter, receiver or transceiver)."""

    def __init__(self, port: int, system_id: str, password: str, mode: str = "trx") -> None:
        self.client = smpplib.client.Client(
            HOST, port, timeout=READ_TIMEOUT, allow_unknown_opt_params=True
        )
        self.client.connect()
        bind: Callable[..., Any] = {
            "tx": self.client.bind_transmitter,
            "rx": self.client.bind_receiver,
            "trx": self.client.bind_transceiver,
        }[mode]
        # A bind answer waits for the password check: allow it time.
        self.client._socket.settimeout(10.0)
        resp = bind(system_id=system_id, password=password)
        self.client._socket.settimeout(READ_TIMEOUT)
        assert resp.status == 0, f"bind refused: 0x{resp.status:08X}"
        self.received = Received()
        self.responses: dict[int, Any] = {}

    # -- sending ----------------------------------------------------------------------

    def submit_pdu(self, **fields: Any) -> int:
        """Send one submit_sm; its sequence number (the response arrives via read)."""
        values: dict[str, Any] = {
            "source_addr_ton": TON_ALNUM,
            "source_addr": "E2E",
            "dest_addr_ton": TON_INTL,
            "dest_addr_npi": NPI_ISDN,
            "destination_addr": "447700900123",
            "registered_delivery": 1,
        }
        values.update(fields)
        pdu = self.client.send_message(**values)
        return int(pdu.sequence)

    def submit(self, text: str, **fields: Any) -> Any:
        """Submit one text and wait for its submit_sm_resp."""
        seq = self.submit_pdu(short_message=text.encode("ascii"), **fields)
        return self.response(seq)

    def submit_many(self, texts: list[str], window: int = 10, timeout: float = 60.0) -> list[Any]:
        """Submit with up to ``window`` outstanding; every response, in order."""
        seqs: list[int] = []
        deadline = time.monotonic() + timeout
        for text in texts:
            while len([s for s in seqs if s not in self.responses]) >= window:
                self._read_one(deadline)
            seqs.append(self.submit_pdu(short_message=text.encode("ascii")))
        return [self.response(seq, deadline - time.monotonic()) for seq in seqs]

    def send_raw(self, data: bytes) -> None:
        self.client._socket.sendall(data)

    def next_sequence(self) -> int:
        return int(self.client.next_sequence())

    # -- reading ----------------------------------------------------------------------

    def response(self, seq: int, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while seq not in self.responses:
            self._read_one(deadline)
        return self.responses[seq]

    def wait(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self._read_one(deadline)

    def idle(self, seconds: float) -> None:
        """Keep reading (and answering) for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self._read_one(end)
            except TimeoutError:
                return

    def read_pdu(self, timeout: float = 20.0) -> Any:
        """The next PDU as it is, whatever it is (bad-input tests)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.client.read_pdu()
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise

    def _read_one(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError("nothing more arrived in time")
        try:
            pdu = self.client.read_pdu()
        except TimeoutError:
            return
        command = pdu.command
        if command == "deliver_sm":
            self._delivered(pdu)
        elif command == "enquire_link":
            self._answer("enquire_link_resp", pdu.sequence)
        elif command == "unbind":
            self._answer("unbind_resp", pdu.sequence)
            raise ConnectionError("the gateway unbound")
        elif command.endswith("_resp") or command == "generic_nack":
            self.responses[int(pdu.sequence)] = pdu

    def _delivered(self, pdu: Any) -> None:
        data = pdu.message_payload or pdu.short_message or b""
        if pdu.esm_class & ESM_TYPE_MASK == ESM_RECEIPT:
            try:
                receipt = parse_receipt(data)
            except ReceiptError:
                receipt = None
            message_id = receipt.message_id if receipt is not None else "?"
            self.received.receipts.setdefault(message_id, []).append(data)
        else:
            self.received.messages.append(pdu)
        self._answer("deliver_sm_resp", pdu.sequence)

    def _answer(self, command: str, sequence: int) -> None:
        resp = smpplib.smpp.make_pdu(command, client=self.client)
        resp.sequence = sequence
        self.client.send_pdu(resp)

    # -- end ----------------------------------------------------------------------------

    def close(self) -> None:
        """Unbind politely (answering what arrives meanwhile), then disconnect."""
        try:
            unbind = smpplib.smpp.make_pdu("unbind", client=self.client)
            self.client.send_pdu(unbind)
            self.wait(lambda: int(unbind.sequence) in self.responses, timeout=10.0)
        except (smpplib.exceptions.ConnectionError, ConnectionError, OSError, TimeoutError):
            pass
        finally:
            self.client.disconnect()


def raw_pdu(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    """One PDU exactly as given (the header's length counts the body as given)."""
    return struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body


def cstr(value: str) -> bytes:
    return value.encode("ascii") + b"\x00"


def submit_body(
    *,
    source: bytes = cstr("E2E"),
    destination: bytes = cstr("447700900123"),
    short_message: bytes = b"hello",
    sm_length: int | None = None,
    tlvs: bytes = b"",
) -> bytes:
    """A submit_sm body whose fields a test may break one at a time."""
    length = len(short_message) if sm_length is None else sm_length
    return (
        cstr("")  # service_type
        + bytes([TON_ALNUM, 0])
        + source
        + bytes([TON_INTL, NPI_ISDN])
        + destination
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + cstr("")  # schedule_delivery_time
        + cstr("")  # validity_period
        + bytes([1, 0, 0, 0])  # registered_delivery, replace_if_present, data_coding, default id
        + bytes([length])
        + short_message
        + tlvs
    )
