"""A small SMSC built from SmppProtocol, for the ``smppd send`` tests.

Run as ``python -m tests.ops.smsc_server [options]``: listens on 127.0.0.1
(a free port), prints ``port N``, accepts one application (system_id
``app``, password ``Xq7#pw9z``), answers each submit_sm with a message id
and, unless told otherwise, sends a delivery receipt for it. One line per
event goes to stdout; the process exits when the connection closes (or after
a safety timeout).

Options: ``--receipt WORD`` (``DELIVRD``, ``UNDELIV``... or ``none``),
``--intermediate`` (an ENROUTE receipt first), ``--foreign-first`` (someone
else's receipt and an MO before ours), ``--shared-id`` (one id for every
part), ``--refuse-submit STATUS`` (answer submit_sm with that status).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.python.failure import Failure

from smppd.protocol import CommandStatusError, SessionHandler, SmppFactory, SmppProtocol
from smppd.receipt import STAT_WORDS, format_receipt
from smppd.session import BindRequest, Bound, CloseReason, Role
from smppd.smpp import CommandStatus, DeliverSm, Pdu, SubmitSm
from smppd.smpp.constants import EsmClass, MessageState
from smppd.smpp.tlv import Tag, Tlv

SYSTEM_ID = "app"
PASSWORD = "Xq7#pw9z"
SAFETY_TIMEOUT = 30.0
RECEIPT_DELAY = 0.05
STATES = {word: state for state, word in STAT_WORDS.items()}
WHEN = datetime(2026, 11, 23, 13, 45)

# The real reactor: this module is a process entry point.
reactor: Any = _reactor


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _sar(request: SubmitSm) -> str:
    values = [
        request.tlv(tag)
        for tag in (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)
    ]
    if any(value is None for value in values):
        return "-"
    return "/".join(str(int.from_bytes(value or b"", "big")) for value in values)


class Handler(SessionHandler):
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.count = 0

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int:
        say(f"bind {type(request).__name__} {request.system_id}")
        if (request.system_id, request.password) != (SYSTEM_ID, PASSWORD):
            return CommandStatus.ESME_RINVPASWD
        return CommandStatus.ESME_ROK

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        say(f"bound {bound.mode.value}")

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        if not isinstance(request, SubmitSm):
            return super().request_received(protocol, request)
        say(
            f"submit dc={request.data_coding} esm=0x{request.esm_class:02x}"
            f" rd={request.registered_delivery}"
            f" src={request.source_addr_ton}/{request.source_addr_npi}/{request.source_addr}"
            f" dst={request.dest_addr_ton}/{request.dest_addr_npi}/{request.destination_addr}"
            f" sar={_sar(request)} sm={request.short_message.hex()}"
        )
        if self.options.refuse_submit:
            return request.response(command_status=int(self.options.refuse_submit, 0))
        self.count += 1
        message_id = "m1" if self.options.shared_id else f"m{self.count}"
        wants_receipt = self.options.receipt != "none" or self.options.intermediate
        if wants_receipt and (not self.options.shared_id or self.count == 1):
            reactor.callLater(RECEIPT_DELAY, self.send_receipts, protocol, message_id)
        return request.response(message_id=message_id)

    def send_receipts(self, protocol: SmppProtocol, message_id: str) -> None:
        if self.options.foreign_first:
            self.deliver(protocol, "other-1", self.receipt("other-1", MessageState.DELIVERED))
            mo = DeliverSm(
                sequence_number=1,
                source_addr="447700900999",
                destination_addr="12345",
                short_message=b"STOP",
            )
            self.deliver(protocol, "mo", mo)
        if self.options.intermediate:
            self.deliver(protocol, message_id, self.receipt(message_id, MessageState.ENROUTE))
        if self.options.receipt != "none":
            state = STATES[self.options.receipt]
            self.deliver(protocol, message_id, self.receipt(message_id, state))

    @staticmethod
    def receipt(message_id: str, state: MessageState) -> DeliverSm:
        text = format_receipt(
            message_id=message_id,
            state=state,
            submit_date=WHEN,
            done_date=WHEN,
            text="hello",
            err=0 if state in (MessageState.DELIVERED, MessageState.ENROUTE) else 1,
        )
        return DeliverSm(
            sequence_number=1,
            source_addr="447700900123",
            destination_addr="12345",
            esm_class=EsmClass.TYPE_DELIVERY_RECEIPT,
            short_message=text.short_message,
            tlvs=(
                Tlv.receipted_message_id(message_id),
                Tlv.message_state(state),
            ),
        )

    @staticmethod
    def deliver(protocol: SmppProtocol, label: str, pdu: DeliverSm) -> None:
        def answered(response: Pdu) -> None:
            say(f"deliver_sm_resp {label} 0x{response.command_status:08x}")

        def refused(failure: Failure) -> None:
            error = failure.value
            status = error.status if isinstance(error, CommandStatusError) else -1
            say(f"deliver_sm_resp {label} 0x{status:08x}")

        protocol.send_request(pdu).addCallbacks(answered, refused)

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        say(f"unbound {reason.value}")

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        say(f"closed {reason.value}")
        reactor.callLater(0, reactor.stop)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipt", default="DELIVRD", choices=[*STATES, "none"])
    parser.add_argument("--intermediate", action="store_true")
    parser.add_argument("--foreign-first", action="store_true")
    parser.add_argument("--shared-id", action="store_true")
    parser.add_argument("--refuse-submit", default="")
    options = parser.parse_args()
    factory = SmppFactory(Role.SMSC, lambda: Handler(options), reactor, system_id="smsc")
    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")  # type: ignore[no-untyped-call]

    def listening(port: Any) -> None:
        say(f"port {port.getHost().port}")

    endpoint.listen(factory).addCallback(listening)  # type: ignore[no-untyped-call]
    reactor.callLater(SAFETY_TIMEOUT, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main()
