"""Eight emulated modems behind one pool: how busy the pool keeps them.

Run: python bench/modems.py [--messages 160] [--modems 8] [--send-seconds 0.5]

Each emulator takes ``--send-seconds`` per +CMGS (the time a real modem spends
on the air). A small dispatcher loop plays the gateway's dispatcher: it
submits single-part messages while ``capacity()`` allows, waits on
``when_capacity()`` otherwise, and sends again what comes back as RETRY or
REQUEUE. Printed:

* each modem's utilisation over the sending window (share of the time it
  spent inside +CMGS, from the emulator's own counters), and the mean;
* the gateway's CPU time per sent message: CPU time of the reactor thread
  (where the pool, the drivers and the AT engines run; the emulators have
  threads of their own) over the window, divided by the messages sent.

Status reports are requested as in production, so the drivers also read and
delete one stored report per message while sending. Not collected by pytest;
the figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, succeed

from modem.driver import DriverTimings, ModemSettings
from modem.emulator import EmulatorStats, ModemConfig, ModemEmulator
from modem.pool import ModemPool, ModemPoolSettings
from smppd.connectors.base import (
    CarrierReceipt,
    InboundPart,
    OutboundPart,
    OutcomeKind,
    SmppAddress,
    SubmitOutcome,
)
from smppd.text.charset import encode

reactor: Any = _reactor
TEXT = "Your verification code is 482913. It expires in 10 minutes."
TIMEOUT = 600.0


class CountingSink:
    def __init__(self) -> None:
        self.receipts = 0
        self.inbound_parts = 0

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        self.receipts += 1
        return succeed(None)

    def inbound(self, part: InboundPart) -> Deferred[None]:
        self.inbound_parts += 1
        return succeed(None)

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        pass


def _part(number: int, report: bool) -> OutboundPart:
    return OutboundPart(
        message_id=f"bench-{number}",
        seq=1,
        total=1,
        source=SmppAddress(1, 1, "15550001000"),
        destination=SmppAddress(1, 1, f"2782{number:07d}"),
        esm_class=0,
        data_coding=0,
        short_message=encode(TEXT, 0),
        registered_delivery=1 if report else 0,
    )


class Dispatcher:
    """Keeps the pool fed the way the gateway's dispatcher does."""

    def __init__(self, pool: ModemPool, total: int, report: bool) -> None:
        self.pool = pool
        self.todo: deque[OutboundPart] = deque(_part(n, report) for n in range(total))
        self.total = total
        self.sent = 0
        self.resent = 0
        self.failed = 0
        self.done: Deferred[None] = Deferred()
        self._waiting = False

    def pump(self, _: object = None) -> None:
        self._waiting = False
        while self.todo and self.pool.capacity() > 0:
            part = self.todo.popleft()
            self.pool.submit(part).addCallback(self._outcome, part)
        if self.todo and not self._waiting:
            self._waiting = True
            self.pool.when_capacity().addCallback(self.pump)

    def _outcome(self, outcome: SubmitOutcome, part: OutboundPart) -> None:
        if outcome.kind is OutcomeKind.ACCEPTED:
            self.sent += 1
        elif outcome.kind is OutcomeKind.FAILED:
            self.failed += 1
        else:
            self.resent += 1
            self.todo.append(part)
        if self.sent + self.failed == self.total and not self.done.called:
            self.done.callback(None)
        elif not self._waiting:
            self.pump()


def run(messages: int, modems: int, send_seconds: float, report: bool) -> None:
    config = ModemConfig(send_seconds=send_seconds, status_report_delay=0.05)
    emulators = [ModemEmulator(config).start() for _ in range(modems)]
    settings = ModemPoolSettings(
        "bench",
        tuple(
            ModemSettings(name=f"m{i + 1}", port=emu.device, sweep_interval=0.0)
            for i, emu in enumerate(emulators)
        ),
        timings=DriverTimings(health_interval=0.0),
    )
    sink = CountingSink()
    pool = ModemPool(settings, reactor, sink)
    dispatcher = Dispatcher(pool, messages, report)
    marks: dict[str, Any] = {}

    def begin() -> None:
        if not all(driver.ready for driver in pool.drivers.values()):
            reactor.callLater(0.05, begin)
            return
        marks["stats"] = [emu.stats() for emu in emulators]
        marks["cpu"] = time.thread_time()
        marks["wall"] = time.monotonic()
        dispatcher.pump()

    def finish(_: object) -> None:
        marks["cpu_end"] = time.thread_time()
        marks["wall_end"] = time.monotonic()
        marks["stats_end"] = [emu.stats() for emu in emulators]
        reactor.stop()

    dispatcher.done.addCallback(finish)
    pool.start()
    reactor.callWhenRunning(begin)
    reactor.callLater(TIMEOUT, reactor.stop)
    reactor.run()
    pool.stop()
    for emu in emulators:
        emu.stop()
    if "stats_end" not in marks:
        print(f"timed out after {TIMEOUT:.0f} s: {dispatcher.sent} of {messages} sent")
        return
    start: list[EmulatorStats] = marks["stats"]
    end: list[EmulatorStats] = marks["stats_end"]
    wall = marks["wall_end"] - marks["wall"]
    cpu = marks["cpu_end"] - marks["cpu"]
    print(
        f"{modems} modems, {send_seconds} s per +CMGS, {messages} messages,"
        f" status reports {'on' if report else 'off'}"
    )
    utilisations = []
    for index, (before, after) in enumerate(zip(start, end, strict=True)):
        share = after.utilisation_since(before)
        utilisations.append(share)
        print(f"  m{index + 1}: {after.sent - before.sent:4d} sent, utilisation {share:6.1%}")
    mean = sum(utilisations) / len(utilisations)
    ideal = messages * send_seconds / modems
    print(f"  mean utilisation {mean:.1%} (wall {wall:.2f} s, ideal {ideal:.2f} s)")
    print(
        f"  gateway CPU {cpu * 1000:.1f} ms for {dispatcher.sent} messages:"
        f" {cpu / max(dispatcher.sent, 1) * 1e6:.0f} us per message"
    )
    print(
        f"  requeued/retried {dispatcher.resent}, failed {dispatcher.failed},"
        f" receipts {sink.receipts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=160)
    parser.add_argument("--modems", type=int, default=8)
    parser.add_argument("--send-seconds", type=float, default=0.5)
    parser.add_argument("--no-reports", action="store_true", help="Ask for no status reports.")
    args = parser.parse_args()
    run(args.messages, args.modems, args.send_seconds, not args.no_reports)


if __name__ == "__main__":
    main()
