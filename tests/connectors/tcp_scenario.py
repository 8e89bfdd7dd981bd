"""The connector over real TCP on 127.0.0.1, with the real reactor.

Run as ``python -m tests.connectors.tcp_scenario``: starts a small carrier
(SmppProtocol in the SMSC role) on a free loopback port, points a tx+rx
connector at it through a ``tcp:`` endpoint string, then submits, receives a
receipt and an MO, has the carrier drop the transmitter, submits again after
the reconnect, stops, and prints one JSON line with what it saw. Exits on
its own after SAFETY_TIMEOUT seconds whatever happens.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import deferLater

from smppd.connectors.base import CarrierReceipt, InboundPart
from smppd.connectors.smpp import SmppConnector, SmppConnectorSettings
from smppd.protocol import SessionHandler, SmppFactory, SmppProtocol
from smppd.session import BindRequest, Bound, CloseReason, Role
from smppd.shared.memory import MemorySharedState
from smppd.smpp import BindReceiver, CommandStatus, DeliverSm, Pdu, SubmitSm, SubmitSmResp

from .carrier import part

SAFETY_TIMEOUT = 20.0

# The real reactor: this module is a process entry point.
reactor: Any = _reactor


class Carrier(SessionHandler):
    def __init__(self) -> None:
        self.protocols: dict[str, SmppProtocol] = {}
        self.events: list[str] = []
        self.next_id = 0x70BA8A60

    def bind_requested(self, protocol: SmppProtocol, request: BindRequest) -> int:
        kind = "rx" if isinstance(request, BindReceiver) else "tx"
        self.events.append(f"bind {kind}")
        if (request.system_id, request.password) != ("esme", "secret"):
            return CommandStatus.ESME_RINVPASWD
        self.protocols[kind] = protocol
        return 0

    def bound(self, protocol: SmppProtocol, bound: Bound) -> None:
        self.events.append(f"bound {bound.mode.value}")

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu:
        if isinstance(request, SubmitSm):
            self.next_id += 1
            return SubmitSmResp(
                sequence_number=request.sequence_number, message_id=f"{self.next_id:X}"
            )
        return request.response(command_status=CommandStatus.ESME_RINVCMDID)

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.events.append(f"closed {reason.value}")


class Sink:
    def __init__(self) -> None:
        self.receipts: list[CarrierReceipt] = []
        self.inbound_parts: list[InboundPart] = []
        self.states: list[bool] = []

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        self.receipts.append(receipt)
        return deferLater(reactor, 0.01, lambda: None)

    def inbound(self, part: InboundPart) -> Deferred[None]:
        self.inbound_parts.append(part)
        return deferLater(reactor, 0.01, lambda: None)

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        self.states.append(up)


@inlineCallbacks
def scenario(result: dict[str, Any]) -> Any:
    carrier = Carrier()
    factory = SmppFactory(Role.SMSC, lambda: carrier, reactor, system_id="carrier")
    port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    sink = Sink()
    shared = MemorySharedState(reactor)
    settings = SmppConnectorSettings(
        name="telco",
        endpoint=f"tcp:host=127.0.0.1:port={port.getHost().port}",
        system_id="esme",
        password="secret",
        bind="tx+rx",
        reconnect_delay_min=0.2,
        reconnect_delay_max=1.0,
    )
    connector = SmppConnector(settings, reactor, reactor, sink, shared, "node-a")
    connector.start()
    yield connector.when_capacity()
    first = yield connector.submit(part())
    result["first"] = [first.kind.value, first.carrier_id]
    mo = yield carrier.protocols["rx"].send_request(
        DeliverSm(sequence_number=1, source_addr="46701234567", short_message=b"STOP")
    )
    result["mo_resp_status"] = mo.command_status
    text = f"id:{int(first.carrier_id, 16)} stat:DELIVRD err:000".encode()
    receipt = yield carrier.protocols["rx"].send_request(
        DeliverSm(sequence_number=1, esm_class=0x04, short_message=text)
    )
    result["receipt_resp_status"] = receipt.command_status
    # The carrier drops the transmitter: the connector reconnects by itself.
    carrier.protocols["tx"].abort()
    yield deferLater(reactor, 0.05, lambda: None)
    result["up_after_drop"] = connector.up
    yield connector.when_capacity()
    second = yield connector.submit(part())
    result["second"] = second.kind.value
    yield connector.stop()
    holders = yield shared.lease_holders(connector.lease_name)
    result["holders"] = sorted(holders)
    result["receipt_ids"] = [r.receipt.message_id for r in sink.receipts]
    result["mo"] = [[p.source.addr, p.short_message.decode()] for p in sink.inbound_parts]
    result["states"] = sink.states
    result["carrier_events"] = carrier.events
    result["reconnects"] = connector.stats().reconnects
    yield port.stopListening()
    yield shared.close()


def main() -> None:
    result: dict[str, Any] = {}

    def done(outcome: object) -> None:
        if not isinstance(outcome, dict):
            result["error"] = str(outcome)
        if reactor.running:
            reactor.stop()

    reactor.callLater(SAFETY_TIMEOUT, done, "safety timeout")
    reactor.callWhenRunning(lambda: scenario(result).addBoth(lambda o: done(o or result)))
    reactor.run()
    json.dump(result, sys.stdout, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
