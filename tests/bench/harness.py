"""The load generator against the real simulated carrier over iosim, on a Clock.

Nothing sleeps: :func:`run_bench` advances the Clock in small steps and
pumps every connection after each step until the generator reports.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.test import iosim as _iosim

from smppd.bench.loadgen import BenchConfig, BenchResult, LoadGenerator, MessageFactory, TextKind
from smppd.bench.verify import SubmitLedger
from smppd.protocol import SmppProtocol
from smppd.simulator.core import Faults, SimCarrier, SimSettings
from smppd.simulator.server import SimSmsc

# twisted.test.iosim is not annotated.
iosim: Any = _iosim

#: Clock step between pumps, in seconds.
STEP = 0.001
#: Simulated seconds after which a run is a test failure.
LIMIT = 600.0


class Network:
    """A simulated carrier and the iosim pumps of the connections made to it."""

    def __init__(
        self,
        clock: Clock,
        *,
        settings: SimSettings | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.clock = clock
        self.carrier = SimCarrier(
            settings or SimSettings(receipt_delay=0.5, seed=7), faults, now=clock.seconds()
        )
        self.smsc = SimSmsc(self.carrier, clock)
        self.pumps: list[Any] = []

    def connect(self, client: SmppProtocol) -> Deferred[Any]:
        server = self.smsc.factory().buildProtocol(iosim.FakeAddress())
        pump = iosim.connect(
            server,
            iosim.FakeTransport(server, isServer=True),
            client,
            iosim.FakeTransport(client, isServer=False),
            greet=False,
        )
        self.pumps.append(pump)
        return defer.succeed(None)

    def flush(self) -> None:
        for pump in self.pumps:
            pump.flush()


def make_generator(
    clock: Clock,
    *,
    text: TextKind = TextKind.SHORT,
    literal: str = "",
    registered_delivery: bool = True,
    run_id: str = "t1",
    **config: Any,
) -> LoadGenerator:
    settings: dict[str, Any] = {"system_id": "bench", "password": "pw", **config}
    if "messages" not in settings and "duration" not in settings:
        settings["messages"] = 50
    ledger = SubmitLedger(run_id)
    factory = MessageFactory(text, ledger, literal=literal, registered_delivery=registered_delivery)
    return LoadGenerator(BenchConfig(**settings), factory, clock)


def run_bench(network: Network, generator: LoadGenerator) -> BenchResult:
    results: list[BenchResult] = []
    generator.run(network.connect).addCallback(results.append)
    clock = network.clock
    start = clock.seconds()
    while not results:
        network.flush()
        if results:
            break
        assert clock.seconds() - start < LIMIT, "the run never ended"
        clock.advance(STEP)
    network.flush()
    # Let the unbinds and the simulator's own timers play out.
    for _ in range(20):
        clock.advance(0.1)
        network.flush()
    return results[0]
