"""The gateway's hot path end to end, in one process, on the real reactor.

    python bench/pipeline.py [--messages N] [--window W] [--binds B]
                             [--rate R] [--sync full|normal] [--profile]

What runs: a SQLite store (``synchronous`` FULL unless told otherwise) with
the real group-commit writer thread; the :class:`ApplicationServer` listening
on 127.0.0.1; the :class:`Dispatcher` and :class:`ReceiptHandler`; and an
in-process carrier connector that accepts every part on the next reactor
turn and sends a DELIVRD receipt for it a turn later. ``B`` transceiver binds
of our own ESME client (:class:`SmppProtocol`, ``Role.ESME``) connect over
TCP, each keeping ``W`` submit_sm outstanding (or, with ``--rate``, offering
``R`` messages per second in total), and acknowledge every deliver_sm.

Printed figures:

* accepted msg/s: submit_sm_resp (status 0) received per second;
* end-to-end msg/s: messages whose receipt came back, per second, over the
  time from the first submit to the last receipt;
* submit_sm_resp latency p50/p99/max, from writing submit_sm to reading its
  resp (the application's view of the commit wait);
* CPU per message: the whole process, the reactor thread, the writer thread;
* resident memory before and after the load.

A run fails (exit status 1) unless every message is accepted and every
receipt returns. ``--profile`` prints the pid and the thread ids and waits
``PROFILE_ATTACH_DELAY`` seconds before the load, for
``py-spy record --threads --idle --pid PID``; running the whole script under
``py-spy record --threads -- python bench/pipeline.py`` works as well.
Figures, never assertions: tests do not import this module.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from smppd.connectors.base import (
    CarrierReceipt,
    ConnectorSink,
    OutboundPart,
    OutcomeKind,
    SubmitOutcome,
)
from smppd.dispatch import Dispatcher, ReceiptHandler
from smppd.protocol import SessionHandler, SmppProtocol
from smppd.receipt import Receipt, ReceiptError, parse_receipt
from smppd.routing import (
    AddressNormaliser,
    OutboundRoute,
    OutboundRouter,
    Target,
    TargetGroup,
)
from smppd.server.service import ApplicationServer, ServerSettings
from smppd.server.submit import SubmitChecker
from smppd.session import BindMode, Role, SessionConfig
from smppd.shared.memory import MemorySharedState
from smppd.smpp import DeliverSm, Pdu, SubmitSm
from smppd.smpp.constants import MessageState
from smppd.store import accounts
from smppd.store.accounts import AccountSettings
from smppd.store.engine import SqliteSynchronous
from smppd.store.ids import MessageIdGenerator
from smppd.store.schema import open_store
from smppd.store.txwriter import DeferredWriter
from smppd.text.policy import DEFAULT_POLICY

# This module is a process entry point: it may use the global reactor.
reactor: Any = _reactor

R = TypeVar("R")

ACCOUNT: Final = "bench"
PASSWORD: Final = "secret"
CONNECTOR: Final = "sim"
SOURCE: Final = "ACME"
DESTINATION: Final = "447700900123"
TEXT: Final = b"Your verification code is 482913. It expires in 10 minutes."
SUBMIT: Final = SubmitSm(
    sequence_number=0,
    source_addr_ton=5,
    source_addr=SOURCE,
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr=DESTINATION,
    registered_delivery=1,
    short_message=TEXT,
)
# Parts the carrier takes before it makes the dispatcher wait (its window).
CARRIER_WINDOW: Final = 2000
# Requests an application may have waiting; the server's default is smaller.
MIN_SERVER_RECEIVE_WINDOW: Final = 100
RATE_TICK: Final = 0.001
DEFAULT_TIMEOUT: Final = 300.0
PROFILE_ATTACH_DELAY: Final = 5.0
POOL_THREADS: Final = 4


class SimCarrier:
    """A carrier that accepts everything and reports every part delivered.

    Answers and receipts are batched per reactor turn, as a carrier bind's
    reads would deliver them, and never synchronously inside ``submit``.
    """

    name = CONNECTOR
    text_policy = DEFAULT_POLICY

    def __init__(self, clock: Any, window: int = CARRIER_WINDOW) -> None:
        self.clock = clock
        self.window = window
        self.sink: ConnectorSink | None = None
        self.in_flight = 0
        self.receipts_out = 0
        self._next_id = 0
        self._answers: list[tuple[Deferred[SubmitOutcome], str, OutboundPart]] = []
        self._receipts: list[tuple[str, OutboundPart]] = []
        self._waiters: list[Deferred[None]] = []
        self._answer_call: Any = None
        self._receipt_call: Any = None

    @property
    def up(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self) -> Deferred[None]:
        return succeed(None)

    def capacity(self) -> int:
        return max(0, self.window - self.in_flight)

    def when_capacity(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self._waiters.append(d)
        return d

    def submit(self, part: OutboundPart) -> Deferred[SubmitOutcome]:
        self._next_id += 1
        self.in_flight += 1
        d: Deferred[SubmitOutcome] = Deferred()
        self._answers.append((d, str(self._next_id), part))
        if self._answer_call is None:
            self._answer_call = self.clock.callLater(0, self._answer)
        return d

    def _answer(self) -> None:
        self._answer_call = None
        answers, self._answers = self._answers, []
        self.in_flight -= len(answers)
        for d, carrier_id, part in answers:
            self._receipts.append((carrier_id, part))
            d.callback(SubmitOutcome(OutcomeKind.ACCEPTED, carrier_id=carrier_id))
        if self._receipts and self._receipt_call is None:
            self._receipt_call = self.clock.callLater(0, self._send_receipts)
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w.callback(None)

    def _send_receipts(self) -> None:
        self._receipt_call = None
        receipts, self._receipts = self._receipts, []
        assert self.sink is not None
        now = self.clock.seconds()
        for carrier_id, part in receipts:
            receipt = Receipt(
                message_id=carrier_id,
                state=MessageState.DELIVERED,
                stat="DELIVRD",
                err="000",
                err_code=0,
            )
            self.receipts_out += 1
            self.sink.receipt(
                CarrierReceipt(CONNECTOR, receipt, part.destination.addr, part.source.addr, now)
            )


class _ReceiptSink:
    """The ConnectorSink of the bench: receipts only."""

    def __init__(self, receipts: ReceiptHandler) -> None:
        self.receipts = receipts

    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        return self.receipts.receipt(receipt)

    def inbound(self, part: Any) -> Deferred[None]:
        raise AssertionError("the bench carrier sends no MO")

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        pass


class _Wake:
    """Dispatcher and receipt handler wake the server, built after them."""

    def __init__(self) -> None:
        self.server: ApplicationServer | None = None

    def wake(self, account: str) -> None:
        assert self.server is not None
        self.server.wake(account)


@dataclass(slots=True)
class Tally:
    total: int
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    receipts: int = 0
    unknown_receipts: int = 0
    first_send: float = 0.0
    last_accept: float = 0.0
    last_receipt: float = 0.0


class Application(SessionHandler):
    """One transceiver bind of the load generator."""

    def __init__(
        self, tally: Tally, latencies: list[float], ids: set[str], done: Callable[[], None]
    ) -> None:
        self.tally = tally
        self.latencies = latencies
        self.ids = ids
        self.done = done
        self.protocol: SmppProtocol | None = None
        self.outstanding = 0
        self.on_room: Callable[[Application], None] | None = None

    def submit(self) -> None:
        assert self.protocol is not None
        tally = self.tally
        tally.sent += 1
        self.outstanding += 1
        started = time.perf_counter()
        if not tally.first_send:
            tally.first_send = started
        self.protocol.send_request(SUBMIT).addCallbacks(
            self._answered, self._refused, callbackArgs=(started,)
        )

    def _answered(self, resp: Pdu, started: float) -> None:
        now = time.perf_counter()
        self.outstanding -= 1
        self.latencies.append(now - started)
        tally = self.tally
        tally.accepted += 1
        tally.last_accept = now
        message_id: str = resp.message_id  # type: ignore[attr-defined]
        if message_id in self.ids:
            # Its receipt overtook the response; count it once, now.
            self.ids.discard(message_id)
            self._receipt_back(now)
        else:
            self.ids.add(message_id)
        if self.on_room is not None:
            self.on_room(self)

    def _refused(self, failure: Any) -> None:
        self.outstanding -= 1
        self.tally.refused += 1
        sys.stderr.write(f"submit_sm refused: {failure.getErrorMessage()}\n")
        if self.on_room is not None:
            self.on_room(self)

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu | Deferred[Pdu]:
        if isinstance(request, DeliverSm):
            try:
                receipt = parse_receipt(request.short_message)
            except ReceiptError:
                return request.response()
            if receipt.message_id in self.ids:
                self.ids.discard(receipt.message_id)
                self._receipt_back(time.perf_counter())
            else:
                self.ids.add(receipt.message_id)
                self.tally.unknown_receipts += 1
        return request.response()

    def _receipt_back(self, now: float) -> None:
        tally = self.tally
        tally.receipts += 1
        tally.last_receipt = now
        if tally.receipts >= tally.total:
            self.done()


def _native_id(thread_name: str) -> int | None:
    for thread in threading.enumerate():
        if thread.name == thread_name:
            return thread.native_id
    return None


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> int:
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    state = Path(tempfile.mkdtemp(prefix="smppd-bench-pipeline-"))
    sync: SqliteSynchronous = args.sync
    engine = open_store(f"sqlite:///{state / 'store.db'}", sqlite_synchronous=sync)
    with engine.begin() as conn:
        accounts.add_account(
            conn, ACCOUNT, PASSWORD, AccountSettings(max_binds=max(4, args.binds)), 0.0
        )
    pool = ThreadPool(minthreads=1, maxthreads=POOL_THREADS, name="smppd-bench-pool")
    pool.start()

    def run_blocking(fn: Callable[..., R], /, *a: Any, **kw: Any) -> Deferred[R]:
        return deferToThreadPool(reactor, pool, fn, *a, **kw)

    writer = DeferredWriter(reactor, engine)
    writer.start()
    shared = MemorySharedState(reactor)
    carrier = SimCarrier(reactor)
    routes = (OutboundRoute(name="main", groups=(TargetGroup((Target(CONNECTOR),)),)),)
    router = OutboundRouter(routes)
    wake = _Wake()
    dispatcher = Dispatcher(
        clock=reactor,
        writer=writer,
        connectors={CONNECTOR: carrier},
        router=router,
        outbox=wake,
        correlations=shared,
        seed=1,
    )
    receipts = ReceiptHandler(clock=reactor, writer=writer, outbox=wake, correlations=shared)
    carrier.sink = _ReceiptSink(receipts)
    server = ApplicationServer(
        ServerSettings(
            listen=("tcp:0:interface=127.0.0.1",),
            receive_window=max(MIN_SERVER_RECEIVE_WINDOW, args.window),
            window=args.server_window,
        ),
        clock=reactor,
        engine=engine,
        writer=writer,
        run_blocking=run_blocking,
        checker=SubmitChecker(AddressNormaliser(), router, MessageIdGenerator()),
        dispatch=dispatcher,
        shared=shared,
    )
    wake.server = server

    tally = Tally(total=args.messages)
    latencies: list[float] = []
    ids: set[str] = set()
    apps: list[Application] = []
    outcome: dict[str, Any] = {}
    finished: list[bool] = []

    def done() -> None:
        if finished:
            return
        finished.append(True)
        outcome["end"] = time.perf_counter()
        outcome["cpu_end"] = time.process_time()
        outcome["reactor_cpu_end"] = time.thread_time()
        outcome["rss_end"] = _rss_mib()
        reactor.callLater(0, shutdown)

    def shutdown() -> None:
        d = server.stop()

        def _stopped(_: object) -> None:
            dispatcher.stop()
            writer.stop()
            pool.stop()
            reactor.stop()

        d.addBoth(_stopped)

    def window_room(app: Application) -> None:
        while app.outstanding < args.window and tally.sent < tally.total:
            app.submit()

    def start_load() -> None:
        outcome["rss_start"] = _rss_mib()
        outcome["writer_cpu_start"] = writer.writer.stats.cpu_seconds
        outcome["cpu_start"] = time.process_time()
        outcome["reactor_cpu_start"] = time.thread_time()
        outcome["start"] = time.perf_counter()
        if args.rate:
            paced(outcome["start"])
        else:
            for app in apps:
                app.on_room = window_room
                window_room(app)

    def paced(t0: float) -> None:
        due = min(tally.total, int((time.perf_counter() - t0) * args.rate) + 1)
        turn = 0
        while tally.sent < due:
            app = apps[turn % len(apps)]
            turn += 1
            if app.outstanding < args.window:
                app.submit()
            elif all(a.outstanding >= args.window for a in apps):
                break
        if tally.sent < tally.total:
            reactor.callLater(RATE_TICK, paced, t0)

    def _bind(proto: SmppProtocol) -> Deferred[Any]:
        return proto.bind(BindMode.TRANSCEIVER, ACCOUNT, PASSWORD)

    def connect(ports: list[Any]) -> Deferred[Any]:
        port = ports[0].getHost().port
        esme_config = SessionConfig(
            send_window=args.window,
            receive_window=max(MIN_SERVER_RECEIVE_WINDOW, args.server_window),
            enquire_link_interval=None,
            inactivity_timeout=None,
        )
        binds: list[Deferred[Any]] = []
        for _ in range(args.binds):
            app = Application(tally, latencies, ids, done)
            apps.append(app)
            proto = SmppProtocol(Role.ESME, app, reactor, config=esme_config)
            app.protocol = proto
            endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
            connected: Deferred[SmppProtocol] = connectProtocol(endpoint, proto)  # type: ignore[no-untyped-call]
            binds.append(connected.addCallback(_bind))
        return gatherResults(binds, consumeErrors=True)

    def bound(_: object) -> None:
        if args.profile:
            sys.stderr.write(
                f"pid {os.getpid()}; reactor thread {threading.get_native_id()}, "
                f"writer thread {_native_id('smppd-store-writer')}; load starts in "
                f"{PROFILE_ATTACH_DELAY:.0f} s: "
                f"py-spy record --threads --idle --pid {os.getpid()}\n"
            )
            reactor.callLater(PROFILE_ATTACH_DELAY, start_load)
        else:
            start_load()

    def failed(failure: Any) -> None:
        sys.stderr.write(f"setup failed: {failure.getTraceback()}\n")
        outcome["error"] = True
        reactor.stop()

    def timed_out() -> None:
        if not finished:
            sys.stderr.write(
                f"timed out: sent {tally.sent}, accepted {tally.accepted}, "
                f"receipts {tally.receipts}, carrier receipts {carrier.receipts_out}\n"
            )
            outcome["timeout"] = True
            done()

    dispatcher.start()
    setup: Deferred[Any] = server.start().addCallback(lambda _: server.listen(reactor))
    setup.addCallback(connect)
    setup.addCallbacks(bound, failed)
    reactor.callLater(args.timeout, timed_out)
    threading.current_thread().name = "reactor"
    try:
        reactor.run()
    finally:
        if pool.started:
            pool.stop()
        writer.stop()

    if "start" not in outcome or "end" not in outcome:
        return 1
    n = tally.accepted
    wall = outcome["end"] - outcome["start"]
    accept_wall = (tally.last_accept or outcome["end"]) - outcome["start"]
    cpu = outcome["cpu_end"] - outcome["cpu_start"]
    reactor_cpu = outcome["reactor_cpu_end"] - outcome["reactor_cpu_start"]
    writer_stats = writer.writer.stats
    writer_cpu = writer_stats.cpu_seconds - outcome["writer_cpu_start"]
    mode = f"rate {args.rate}/s" if args.rate else f"window {args.window}"
    print(f"pipeline  {args.messages} msgs  {args.binds} binds  {mode}  sqlite {args.sync}")
    print(f"  accepted     {n / accept_wall:9,.0f} msg/s   ({n} accepted, {tally.refused} refused)")
    print(
        f"  end to end   {tally.receipts / wall:9,.0f} msg/s   "
        f"({tally.receipts} receipts back in {wall:.2f} s)"
    )
    print(
        f"  submit_sm_resp  p50 {_pct(latencies, 0.50) * 1e3:6.2f} ms  "
        f"p99 {_pct(latencies, 0.99) * 1e3:6.2f} ms  max {max(latencies, default=0) * 1e3:6.2f} ms"
    )
    per = max(1, n)
    print(
        f"  CPU/msg      process {cpu / per * 1e6:6.1f} us  "
        f"reactor {reactor_cpu / per * 1e6:6.1f} us  "
        f"writer {writer_cpu / per * 1e6:6.1f} us   "
        f"({writer_stats.operations / max(1, writer_stats.batches):.1f} ops/commit)"
    )
    print(f"  RSS          {outcome['rss_start']:.1f} MiB -> {outcome['rss_end']:.1f} MiB")
    ok = (
        not outcome.get("timeout")
        and tally.accepted == args.messages
        and tally.receipts == args.messages
    )
    if not ok:
        print("  INCOMPLETE: not every message was accepted and receipted")
    engine.dispose()
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=100, help="submit_sm outstanding per bind")
    parser.add_argument("--binds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.0, help="offered msg/s (0: windowed)")
    parser.add_argument(
        "--server-window",
        type=int,
        default=ServerSettings().window,
        help="deliver_sm outstanding per bind",
    )
    parser.add_argument("--sync", choices=("full", "normal"), default="full")
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="sys.setswitchinterval (0: leave the default)",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument(
        "--profile", action="store_true", help="print the pid and wait before the load, for py-spy"
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
