"""Fixtures of the simulator tests: a migrated SQLite store per test (the gateway harness),
and a gateway harness behind an in-process sim connector and its control endpoint."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from twisted.internet.defer import Deferred, succeed
from twisted.web.test.requesthelper import DummyRequest

from smppd.dispatch import GatewaySink
from smppd.dispatch.inbound import InboundEvent
from smppd.routing import InboundRoute
from smppd.simulator.connector import SimConnector
from smppd.simulator.control import ControlResource
from smppd.simulator.core import SimCarrier, SimSettings
from tests.dispatch.harness import FakeConnector, Gateway, _template, engine, route

__all__ = ["SimGateway", "_template", "engine", "sim_gateway"]

PHONE = "+46701234567"


class _Forward:
    forward = True


@dataclass
class SimGateway:
    """A gateway harness fed by the sim connector ``demo-carrier``, MO to 72000 for acme."""

    gw: Gateway
    connector: SimConnector
    resource: ControlResource
    seen: list[InboundEvent]

    def post_mo(self, text: str, **extra: str) -> tuple[int, Any]:
        """POST /mo from PHONE to 72000; waits for the answer given after the commit."""
        request: Any = DummyRequest([b"mo"])
        request.method = b"POST"
        request.path = b"/mo"
        body = {"from": PHONE, "to": "72000", "text": text, **extra}
        request.content = io.BytesIO(json.dumps(body).encode())
        rendered = self.resource.render(request)
        assert not isinstance(rendered, bytes), "answered before the commit"
        if not request.finished:  # a carrier's repeat is answered at once
            self.gw.wait(request.notifyFinish())
        return request.responseCode, json.loads(b"".join(request.written))


@contextmanager
def sim_gateway(engine: Engine) -> Iterator[SimGateway]:
    seen: list[InboundEvent] = []

    def hook(event: InboundEvent) -> Deferred[_Forward]:
        seen.append(event)
        return succeed(_Forward())

    gw = Gateway(
        engine,
        [FakeConnector("carrier")],
        [route("main", [("carrier", 1)])],
        inbound_hook=hook,
        inbound_routes=[InboundRoute("loyalty", "acme", ("72000",))],
    )
    try:
        carrier = SimCarrier(SimSettings(seed=1), now=gw.clock.seconds())
        sink = GatewaySink(gw.dispatcher, gw.receipts, gw.inbound)
        connector = SimConnector("demo-carrier", carrier, gw.clock, sink)
        connector.start()
        yield SimGateway(gw, connector, ControlResource(connector), seen)
    finally:
        gw.close()
