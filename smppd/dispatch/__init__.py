"""The dispatcher (queue -> connectors), carrier receipts and the inbound (MO) pipeline.

* :mod:`~smppd.dispatch.dispatcher`: :class:`Dispatcher`, the
  :class:`~smppd.pipeline.Dispatch` the application server hands messages to;
* :mod:`~smppd.dispatch.receipts`: :class:`ReceiptHandler`, ``ConnectorSink.receipt``;
* :mod:`~smppd.dispatch.inbound`: :class:`InboundPipeline`, ``ConnectorSink.inbound``;
* :class:`GatewaySink`: the three together as the sink every connector gets.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from smppd.connectors.base import CarrierReceipt, InboundPart
from smppd.dispatch.dispatcher import Dispatcher, DispatchSettings
from smppd.dispatch.inbound import InboundEvent, InboundPipeline, InboundSettings, forward_all
from smppd.dispatch.receipts import ReceiptHandler, ReceiptNotice


class GatewaySink:
    """The :class:`~smppd.connectors.base.ConnectorSink` given to every connector."""

    def __init__(
        self, dispatcher: Dispatcher, receipts: ReceiptHandler, inbound: InboundPipeline
    ) -> None:
        self.dispatcher = dispatcher
        self.receipts = receipts
        self.inbound_pipeline = inbound

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        return self.receipts.receipt(receipt)

    def inbound(self, part: InboundPart) -> Deferred[None]:
        return self.inbound_pipeline.inbound(part)

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        self.dispatcher.state_changed(connector, up, detail)


__all__ = [
    "DispatchSettings",
    "Dispatcher",
    "GatewaySink",
    "InboundEvent",
    "InboundPipeline",
    "InboundSettings",
    "ReceiptHandler",
    "ReceiptNotice",
    "forward_all",
]
