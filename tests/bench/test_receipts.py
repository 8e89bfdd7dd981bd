"""Receipts from a small in-test SMSC that sends each one twice and one for nobody."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from smppd.bench.loadgen import BenchResult
from smppd.protocol import SessionHandler, SmppFactory, SmppProtocol
from smppd.session import BindRequest, Role, SessionConfig
from smppd.smpp import DeliverSm, Pdu, SubmitSm, SubmitSmResp, Tlv
from smppd.smpp.constants import EsmClass, MessageState

from .harness import STEP, iosim, make_generator

#: Seconds from a submit to its receipts (both copies at once).
RECEIPT_DELAY = 0.01


class EchoingSmsc(SessionHandler):
    """Accepts every submit; sends its receipt twice, and one receipt nobody asked for."""

    def __init__(self) -> None:
        self.next_id = 500

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int:
        return 0

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu:
        if isinstance(request, SubmitSm):
            self.next_id += 1
            message_id = str(self.next_id)
            ids = [message_id, message_id]
            if self.next_id == 501:
                ids.append("nobody")
            clock = protocol.clock
            for receipt_id in ids:
                clock.callLater(RECEIPT_DELAY, self._receipt, protocol, receipt_id)
            return SubmitSmResp(sequence_number=request.sequence_number, message_id=message_id)
        return request.response()

    def _receipt(self, protocol: SmppProtocol, message_id: str) -> None:
        receipt = DeliverSm(
            sequence_number=1,
            esm_class=int(EsmClass.TYPE_DELIVERY_RECEIPT),
            tlvs=(
                Tlv.receipted_message_id(message_id),
                Tlv.message_state(int(MessageState.DELIVERED)),
            ),
        )
        protocol.send_request(receipt).addErrback(lambda _: None)


def test_a_receipt_sent_twice_counts_once_and_one_for_nobody_is_unmatched() -> None:
    clock = Clock()
    clock.advance(1_000)
    smsc = EchoingSmsc()
    # A window wide enough for every receipt at once: none is refused here.
    factory = SmppFactory(Role.SMSC, lambda: smsc, clock, config=SessionConfig(send_window=200))
    pumps: list[Any] = []

    def connect(client: SmppProtocol) -> Deferred[Any]:
        server = factory.buildProtocol(iosim.FakeAddress())
        pumps.append(
            iosim.connect(
                server,
                iosim.FakeTransport(server, isServer=True),
                client,
                iosim.FakeTransport(client, isServer=False),
                greet=False,
            )
        )
        return defer.succeed(None)

    generator = make_generator(clock, messages=20, window=4, receipt_timeout=1.0)
    results: list[BenchResult] = []
    generator.run(connect).addCallback(results.append)
    for _ in range(3000):
        for pump in pumps:
            pump.flush()
        if results:
            break
        clock.advance(STEP)
    result = results[0]
    assert (result.submits_accepted, result.receipts_expected, result.receipts_received) == (
        20,
        20,
        20,
    )
    assert result.receipts_by_state == {"delivered": 20}
    assert result.receipts_duplicate == 20
    assert result.receipts_unmatched == 1
    assert RECEIPT_DELAY <= result.receipt_latency.p50 <= RECEIPT_DELAY + 2 * STEP
