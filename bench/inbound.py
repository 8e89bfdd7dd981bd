"""Inbound messages (MO) end to end, with and without the consent and loyalty plugins.

    python bench/inbound.py [--messages N] [--members M] [--mix kaffe=40,balance=25,...]
                            [--window W | --rate R] [--sync full|normal]
                            [--carrier-rate R] [--profile]

What runs, in one process on the real reactor: the daemon's own
:class:`~smppd.daemon.Gateway` built from the shipped ``smppd.toml`` with
three changes only (the SQLite store in a temporary directory, the
application server on an ephemeral loopback port, no simulator control
endpoint), so the store is durable as by default (``synchronous`` FULL unless
``--sync normal``) and the consent and loyalty plugins run with
``config/rules/coffee.toml`` and ``coffee-loyalty.toml``. Messages enter
through the in-process demo carrier's :meth:`~smppd.simulator.connector.
SimConnector.inject_mo`, which hands the gateway each part exactly as a
carrier's ``deliver_sm`` would arrive.

Each MO is followed to the end of its path: its part row committed (the
moment a carrier gets ``deliver_sm_resp``), the plugins' writes and every
reply committed, and the message resolved in the store (forwarded to its
application or kept from it). The bench sees those commits through the
gateway's own writer, shared with a thin tap (:class:`TappedWriter`) that
notices the part row of each injected MO and the resolution that takes it.

Four phases, on two fresh stores:

1. **baseline**: the gateway without plugins, the measured mix;
2. **join** and 3. **confirm**: the gateway with the plugins; every member
   texts ``GÅ MED KAFFE`` and, once every one is done, ``JA`` (double opt-in);
4. **plugins**: the same gateway, the measured mix from those members.

The mix (``--mix``, weights) draws from: ``kaffe`` (earn 10 points; the
programme caps earning at 3 a day and one per 10 minutes, so each kind walks
the members in its own order: with as many members as KAFFE messages, every
one earns), ``balance`` (``POÄNG``), ``chatter`` (text no rule takes, kept
for applications), ``stop`` (``STOPP``) and ``start`` (``START`` from a
member who said STOPP earlier in the run). Keep ``--messages`` below about
eight times ``--members``: the programme's fraud limit (10 messages per
number and minute) answers the rest with "slow down".

Replies leave through the demo carrier at its ``max_messages_per_second``
of ``smppd.toml`` (``--carrier-rate`` changes it): the dispatcher sends them
alongside the measured path, which ends when they are committed.

Printed per phase: messages per second over the time from the first
injection to the last completion; latency from injection to completion
p50/p99/max, and to the part's commit (the carrier's acknowledgement); CPU
per message (process, reactor thread, writer thread) and writes per commit;
then what the store holds (ledger rows by kind, replies) and the ratio of
the plugins' rate to the baseline's, measured in the same run (the machine is
shared: the ratio means more than the rates).

``--window W`` keeps W messages on their way at once (a closed loop);
``--rate R`` offers R messages per second instead, whatever the gateway
does with them. ``--profile`` prints the pid and thread ids and waits
``PROFILE_ATTACH_DELAY`` seconds before the measured plugins phase, for
``py-spy record --threads --idle --pid PID``. Figures, never assertions.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, create_engine, func, select
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogBeginner
from twisted.python.failure import Failure

from plugins.host import LoadedPlugin, PluginHost, load_plugins
from smppd.config import Config, SimConnector, load_config
from smppd.daemon import Gateway
from smppd.shared import MemorySharedState
from smppd.simulator.connector import SimConnector as SimCarrierConnector
from smppd.store.dispatchops import PART_ACCOUNT, UNROUTABLE_ACCOUNT, ResolveInbound
from smppd.store.models import consent_ledger, inbound_messages, messages, points_ledger
from smppd.store.ops import StoreInbound, WriteOp
from smppd.store.txwriter import DeferredWriter

# This module is a process entry point: it may use the global reactor.
reactor: Any = _reactor

T = TypeVar("T")

ROOT: Final = Path(__file__).resolve().parent.parent
CONFIG: Final = ROOT / "smppd.toml"
#: The number the members write to: the coffee shop's short code.
SHORT_CODE: Final = "72000"
#: Members are +46 70 1xx xx xx, one after the other.
FIRST_MEMBER: Final = 46_701_000_000
TEXTS: Final = {
    "kaffe": ("KAFFE",),
    "balance": ("POÄNG",),
    "chatter": (
        "Hej! Har ni öppet på söndag?",
        "Tack för kaffet, det var gott",
        "Finns det havremjölk i morgon?",
        "Vilken tid stänger ni ikväll?",
    ),
    "stop": ("STOPP",),
    "start": ("START",),
}
JOIN: Final = "GÅ MED KAFFE"
CONFIRM: Final = "JA"
DEFAULT_MIX: Final = "kaffe=40,balance=25,chatter=25,stop=5,start=5"
RATE_TICK: Final = 0.002
DEFAULT_TIMEOUT: Final = 300.0
PROFILE_ATTACH_DELAY: Final = 5.0
# Log events at warn and above printed as they come, at most this many.
MAX_PRINTED_WARNINGS: Final = 10


# -- following each MO through the writer --------------------------------------------


@dataclass(slots=True, eq=False)
class Mo:
    """One injected MO and the moments of its path (perf_counter seconds)."""

    kind: str
    source: str
    text: str
    injected: float = 0.0
    acked: float = 0.0
    done: float = 0.0
    failed: str | None = None


class TappedWriter(DeferredWriter):
    """The gateway's writer with the bench listening in.

    It shares the gateway writer's :class:`~smppd.store.writer.GroupCommitWriter`
    (one thread, one queue: nothing is written twice or out of order) and
    only adds callbacks to two kinds of operation: the part row of the MO
    being injected (:attr:`current`, set around ``inject_mo``, which submits
    it before it returns) and the :class:`ResolveInbound` that takes part
    rows, whose commit ends an MO's path.
    """

    def __init__(self, inner: DeferredWriter) -> None:
        # Not DeferredWriter.__init__: that would start a second writer.
        self.writer = inner.writer
        self.current: Mo | None = None
        self.finished: Callable[[Mo], None] = lambda mo: None
        self._parts: dict[int, Mo] = {}

    def submit(self, op: WriteOp[T]) -> Deferred[T]:
        d = super().submit(op)
        if isinstance(op, StoreInbound) and op.message.account == PART_ACCOUNT:
            mo, self.current = self.current, None
            if mo is not None:
                d.addBoth(self._part_stored, mo)
        elif isinstance(op, ResolveInbound):
            d.addBoth(self._resolved, op.part_ids)
        return d

    def _part_stored(self, result: Any, mo: Mo) -> Any:
        if isinstance(result, Failure):
            self._fail(mo, f"part not stored: {result.getErrorMessage()}")
        elif result is None:
            self._fail(mo, "taken for a duplicate")
        else:
            self._parts[int(result)] = mo
        return result

    def _resolved(self, result: Any, part_ids: Sequence[int]) -> Any:
        now = time.perf_counter()
        for part_id in part_ids:
            mo = self._parts.pop(part_id, None)
            if mo is None:
                continue
            if isinstance(result, Failure):
                self._fail(mo, f"not resolved: {result.getErrorMessage()}")
            else:
                mo.done = now
                self.finished(mo)
        return result

    def _fail(self, mo: Mo, reason: str) -> None:
        mo.failed = reason
        mo.done = time.perf_counter()
        self.finished(mo)


class BenchGateway(Gateway):
    """The daemon's gateway whose inbound path writes through a :class:`TappedWriter`."""

    def __init__(self, cfg: Config, reactor: Any, *, plugins: Sequence[LoadedPlugin]) -> None:
        super().__init__(cfg, reactor, plugins=plugins, connector_seed=1)
        self.tap: TappedWriter | None = None

    def _wire(
        self,
        engine: Engine,
        writer: DeferredWriter,
        shared: MemorySharedState,
        host: PluginHost,
    ) -> None:
        self.tap = TappedWriter(writer)
        super()._wire(engine, self.tap, shared, host)


# -- configuration -------------------------------------------------------------------


def bench_config(state_dir: Path, sync: str, carrier_rate: float | None) -> Config:
    """The shipped ``smppd.toml`` with a store under ``state_dir``, an ephemeral
    port and no control endpoint (several runs must not fight over ports);
    ``carrier_rate`` replaces the demo carrier's messages per second."""
    cfg = load_config(CONFIG)
    carrier: dict[str, Any] = {"control": None}
    if carrier_rate is not None:
        carrier["max_messages_per_second"] = carrier_rate
    connectors = tuple(
        c.model_copy(update=carrier) if isinstance(c, SimConnector) else c for c in cfg.connectors
    )
    return cfg.model_copy(
        update={
            "gateway": cfg.gateway.model_copy(update={"state_dir": state_dir}),
            "store": cfg.store.model_copy(
                update={
                    "url": f"sqlite:///{state_dir / 'smppd.sqlite3'}",
                    "sqlite_synchronous": sync,
                }
            ),
            "server": cfg.server.model_copy(update={"listen": ("tcp:0:interface=127.0.0.1",)}),
            "connectors": connectors,
        }
    )


def parse_mix(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in TEXTS:
            raise argparse.ArgumentTypeError(
                f"--mix: {item!r} is not KIND=WEIGHT with KIND one of {', '.join(TEXTS)}"
            )
        try:
            weights[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--mix: {value!r} is not a number") from None
        if weights[name] < 0:
            raise argparse.ArgumentTypeError(f"--mix: {name} has a negative weight")
    if sum(weights.values()) <= 0:
        raise argparse.ArgumentTypeError("--mix: the weights add up to nothing")
    return weights


def member_numbers(count: int) -> list[str]:
    return [f"+{FIRST_MEMBER + i}" for i in range(count)]


def measured_mix(
    members: Sequence[str], count: int, weights: dict[str, float], seed: int
) -> list[Mo]:
    """``count`` MOs drawn from ``weights``; each kind walks the members in its own
    order (from its own offset), and START goes to a member who said STOPP."""
    rng = random.Random(seed)
    kinds = list(weights)
    shares = [weights[k] for k in kinds]
    cursors = {kind: index * len(members) // len(kinds) for index, kind in enumerate(kinds)}
    stopped: deque[str] = deque()
    chatter = 0
    out: list[Mo] = []
    for kind in rng.choices(kinds, shares, k=count):
        if kind == "start" and stopped:
            source = stopped.popleft()
        else:
            source = members[cursors[kind] % len(members)]
            cursors[kind] += 1
        if kind == "stop":
            stopped.append(source)
        texts = TEXTS[kind]
        text = texts[chatter % len(texts)] if kind == "chatter" else texts[0]
        chatter += kind == "chatter"
        out.append(Mo(kind, source, text))
    return out


# -- one phase: inject, follow, measure ------------------------------------------------


@dataclass(slots=True)
class Figures:
    name: str
    mos: list[Mo]
    start: float = 0.0
    end: float = 0.0
    cpu: float = 0.0
    reactor_cpu: float = 0.0
    writer_cpu: float = 0.0
    commits: int = 0
    writes: int = 0
    timed_out: bool = False
    store: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def done(self) -> list[Mo]:
        return [mo for mo in self.mos if mo.done and mo.failed is None]

    @property
    def rate(self) -> float:
        wall = self.end - self.start
        return len(self.done) / wall if wall > 0 else 0.0


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def drive(
    connector: SimCarrierConnector,
    tap: TappedWriter,
    figures: Figures,
    *,
    window: int,
    rate: float,
    timeout: float,
) -> Deferred[Figures]:
    """Inject ``figures.mos`` (``window`` at a time, or ``rate`` per second) and
    fire once every one of them finished or failed."""
    finished: Deferred[Figures] = Deferred()
    mos = figures.mos
    pending = iter(mos)
    state = {"in_flight": 0, "left": len(mos), "sent": 0}
    stats0 = tap.writer.stats
    cpu0, reactor_cpu0 = time.process_time(), time.thread_time()

    def close(timed_out: bool = False) -> None:
        if finished.called:
            return
        figures.end = max((mo.done for mo in mos if mo.done), default=time.perf_counter())
        figures.timed_out = timed_out
        figures.cpu = time.process_time() - cpu0
        figures.reactor_cpu = time.thread_time() - reactor_cpu0
        stats = tap.writer.stats
        figures.writer_cpu = stats.cpu_seconds - stats0.cpu_seconds
        figures.commits = stats.batches - stats0.batches
        figures.writes = stats.operations - stats0.operations
        tap.finished = lambda mo: None
        if guard.active():
            guard.cancel()
        finished.callback(figures)

    def acked(_: object, mo: Mo) -> None:
        mo.acked = time.perf_counter()

    def refused(failure: Failure, mo: Mo) -> None:
        if not mo.done:
            mo.failed = f"not acknowledged: {failure.getErrorMessage()}"
            mo.done = time.perf_counter()
            on_finished(mo)

    def inject(mo: Mo) -> None:
        state["in_flight"] += 1
        state["sent"] += 1
        tap.current = mo
        mo.injected = time.perf_counter()
        try:
            d = connector.inject_mo(mo.source, SHORT_CODE, mo.text)
        except Exception as exc:
            tap.current = None
            mo.failed = f"not injected: {exc}"
            mo.done = time.perf_counter()
            on_finished(mo)
            return
        if tap.current is mo:
            # The part row was not written while injecting: it cannot be followed.
            tap.current = None
            mo.failed = "its part row was not submitted at once"
            mo.done = time.perf_counter()
            on_finished(mo)
            return
        d.addCallbacks(acked, refused, callbackArgs=(mo,), errbackArgs=(mo,))

    def on_finished(mo: Mo) -> None:
        state["in_flight"] -= 1
        state["left"] -= 1
        if state["left"] == 0:
            close()
        elif not rate:
            fill()

    def fill() -> None:
        while state["in_flight"] < window:
            mo = next(pending, None)
            if mo is None:
                return
            inject(mo)

    def paced() -> None:
        due = min(len(mos), int((time.perf_counter() - figures.start) * rate) + 1)
        while state["sent"] < due:
            mo = next(pending, None)
            if mo is None:
                return
            inject(mo)
        if state["sent"] < len(mos):
            reactor.callLater(RATE_TICK, paced)

    tap.finished = on_finished
    guard = reactor.callLater(timeout, close, True)
    figures.start = time.perf_counter()
    if not mos:
        close()
    elif rate:
        paced()
    else:
        fill()
    return finished


def store_summary(url: str) -> dict[str, Counter[str]]:
    """What the phase left in the store (read after the gateway stopped)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ledger = Counter(
                {
                    str(kind): int(n)
                    for kind, n in conn.execute(
                        select(points_ledger.c.kind, func.count()).group_by(points_ledger.c.kind)
                    )
                }
            )
            consent = Counter(
                {
                    str(event): int(n)
                    for event, n in conn.execute(
                        select(consent_ledger.c.event, func.count()).group_by(
                            consent_ledger.c.event
                        )
                    )
                }
            )
            replies = Counter(
                {
                    str(account): int(n)
                    for account, n in conn.execute(
                        select(messages.c.account, func.count()).group_by(messages.c.account)
                    )
                }
            )
            inbound = Counter(
                {
                    str(account): int(n)
                    for account, n in conn.execute(
                        select(inbound_messages.c.account, func.count())
                        .where(inbound_messages.c.account != PART_ACCOUNT)
                        .group_by(inbound_messages.c.account)
                    )
                }
            )
    finally:
        engine.dispose()
    return {"points": ledger, "consent": consent, "replies": replies, "forwarded": inbound}


# -- the run ---------------------------------------------------------------------------


class LogTally:
    """Counts the gateway's log events by level; prints the first warnings."""

    def __init__(self) -> None:
        self.levels: Counter[str] = Counter()
        self.printed = 0

    def observe(self, event: LogEvent) -> None:
        level = event.get("log_level")
        name = level.name if level is not None else "info"
        self.levels[name] += 1
        loud = level in (LogLevel.warn, LogLevel.error, LogLevel.critical)
        if loud and self.printed < MAX_PRINTED_WARNINGS:
            self.printed += 1
            failure = event.get("log_failure")
            extra = f": {failure.getErrorMessage()}" if failure is not None else ""
            sys.stderr.write(f"[{name}] {formatEvent(event)}{extra}\n")


async def run_gateway(
    name: str,
    plugins: Sequence[LoadedPlugin],
    phases: Sequence[tuple[str, list[Mo]]],
    args: argparse.Namespace,
) -> list[Figures]:
    state = Path(tempfile.mkdtemp(prefix=f"smppd-bench-inbound-{name}-"))
    cfg = bench_config(state, args.sync, args.carrier_rate)
    gateway = BenchGateway(cfg, reactor, plugins=plugins)
    await gateway.start()
    results: list[Figures] = []
    try:
        tap = gateway.tap
        connector = next(iter(gateway.connectors.values()))
        assert tap is not None and isinstance(connector, SimCarrierConnector)
        for phase, mos in phases:
            if args.profile and phase == "plugins":
                sys.stderr.write(
                    f"pid {os.getpid()}; reactor thread {threading.get_native_id()}, "
                    f"writer thread {_native_id('smppd-store-writer')}; load starts in "
                    f"{PROFILE_ATTACH_DELAY:.0f} s: "
                    f"py-spy record --threads --idle --pid {os.getpid()}\n"
                )
                pause: Deferred[None] = Deferred()
                reactor.callLater(PROFILE_ATTACH_DELAY, pause.callback, None)
                await pause
            figures = await drive(
                connector,
                tap,
                Figures(phase, mos),
                window=args.window,
                rate=args.rate,
                timeout=args.timeout,
            )
            results.append(figures)
    finally:
        await gateway.stop()
    summary = store_summary(cfg.store.url)
    shutil.rmtree(state, ignore_errors=True)
    for figures in results:
        figures.store = summary
    return results


def _native_id(thread_name: str) -> int | None:
    for thread in threading.enumerate():
        if thread.name == thread_name:
            return thread.native_id
    return None


def report(figures: Figures) -> None:
    mos = figures.mos
    done = figures.done
    failed = [mo for mo in mos if mo.failed is not None]
    wall = figures.end - figures.start
    whole = [mo.done - mo.injected for mo in done]
    acks = [mo.acked - mo.injected for mo in done if mo.acked]
    kinds = Counter(mo.kind for mo in mos)
    print(
        f"  {figures.name:<9}{figures.rate:9,.0f} msg/s   ({len(done)} of {len(mos)} MO"
        f" done in {wall:.2f} s; {', '.join(f'{k} {n}' for k, n in kinds.items())})"
    )
    print(
        f"    whole path   p50 {_pct(whole, 0.5) * 1e3:7.2f} ms  p99 {_pct(whole, 0.99) * 1e3:7.2f}"
        f" ms  max {max(whole, default=0) * 1e3:7.2f} ms"
    )
    print(
        f"    part commit  p50 {_pct(acks, 0.5) * 1e3:7.2f} ms  p99 {_pct(acks, 0.99) * 1e3:7.2f}"
        f" ms   (deliver_sm_resp)"
    )
    per = max(1, len(done))
    print(
        f"    CPU/msg      process {figures.cpu / per * 1e6:7.1f} us  "
        f"reactor {figures.reactor_cpu / per * 1e6:7.1f} us  "
        f"writer {figures.writer_cpu / per * 1e6:7.1f} us   "
        f"({figures.writes / per:.1f} writes/msg, {figures.writes / max(1, figures.commits):.1f}"
        " writes/commit)"
    )
    if figures.timed_out:
        print("    TIMED OUT: not every MO finished")
    if failed:
        reasons = Counter(mo.failed for mo in failed)
        print(f"    FAILED {len(failed)}: " + "; ".join(f"{r} ({n})" for r, n in reasons.items()))


def report_store(name: str, store: dict[str, Counter[str]]) -> None:
    def show(counter: Counter[str]) -> str:
        return ", ".join(f"{key or '-'} {n}" for key, n in sorted(counter.items())) or "none"

    forwarded = store["forwarded"]
    print(f"  store after {name}:")
    print(f"    points ledger   {show(store['points'])}")
    print(f"    consent ledger  {show(store['consent'])}")
    print(f"    replies         {show(store['replies'])}")
    print(
        f"    MO kept for applications: {sum(forwarded.values())}"
        f" ({forwarded.get(UNROUTABLE_ACCOUNT, 0)} unroutable: no inbound route in smppd.toml)"
    )


async def main_async(args: argparse.Namespace) -> int:
    members = member_numbers(args.members)
    mix = measured_mix(members, args.messages, args.mix, args.seed)
    loaded = load_plugins(load_config(CONFIG).plugins, base_dir=ROOT)
    names = ", ".join(p.name for p in loaded) or "none"
    mode = f"rate {args.rate:g}/s" if args.rate else f"window {args.window}"
    shipped = next(c for c in load_config(CONFIG).connectors if isinstance(c, SimConnector))
    carrier_rate = args.carrier_rate or shipped.max_messages_per_second
    print(
        f"inbound  {args.messages} MO from {args.members} members  {mode}  sqlite {args.sync}"
        f"  plugins: {names}  replies leave at {carrier_rate:g}/s"
    )
    baseline = (await run_gateway("baseline", (), [("baseline", copy_mos(mix))], args))[0]
    report(baseline)
    report_store("baseline", baseline.store)
    opt_in = [Mo("join", m, JOIN) for m in members]
    confirm = [Mo("confirm", m, CONFIRM) for m in members]
    with_plugins = await run_gateway(
        "plugins",
        loaded,
        [("join", opt_in), ("confirm", confirm), ("plugins", mix)],
        args,
    )
    for figures in with_plugins:
        report(figures)
    measured = with_plugins[-1]
    report_store("join, confirm and plugins", measured.store)
    ratio = measured.rate / baseline.rate if baseline.rate else float("nan")
    base_p50 = _pct([mo.done - mo.injected for mo in baseline.done], 0.5)
    p50 = _pct([mo.done - mo.injected for mo in measured.done], 0.5)
    print(
        f"  plugins/baseline  rate x{ratio:.2f}  ({measured.rate:,.0f} against"
        f" {baseline.rate:,.0f} msg/s), whole-path p50 x{p50 / base_p50:.1f}"
    )
    return 0 if all(not f.timed_out for f in (baseline, *with_plugins)) else 1


def copy_mos(mos: Sequence[Mo]) -> list[Mo]:
    return [Mo(mo.kind, mo.source, mo.text) for mo in mos]


def run(args: argparse.Namespace) -> int:
    tally = LogTally()
    globalLogBeginner.beginLoggingTo([cast(ILogObserver, tally.observe)], redirectStandardIO=False)
    threading.current_thread().name = "reactor"
    outcome: dict[str, int] = {}

    def finished(code: int) -> None:
        outcome["code"] = code

    def failed(failure: Failure) -> None:
        sys.stderr.write(f"the bench failed: {failure.getTraceback()}\n")
        outcome["code"] = 1

    def begin() -> None:
        d = Deferred.fromCoroutine(main_async(args))
        d.addCallbacks(finished, failed)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(begin)
    reactor.run()
    if tally.levels:
        counts = ", ".join(f"{level} {n}" for level, n in sorted(tally.levels.items()))
        print(f"  log events: {counts}")
    return outcome.get("code", 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2_000, help="measured MO (default 2000)")
    parser.add_argument(
        "--members", type=int, default=800, help="members, opted in first (default 800)"
    )
    parser.add_argument(
        "--mix", type=parse_mix, default=parse_mix(DEFAULT_MIX), help=f"default {DEFAULT_MIX}"
    )
    parser.add_argument("--window", type=int, default=100, help="MO on their way at once")
    parser.add_argument("--rate", type=float, default=0.0, help="offered MO/s (0: windowed)")
    parser.add_argument("--sync", choices=("full", "normal"), default="full")
    parser.add_argument(
        "--carrier-rate",
        type=float,
        default=None,
        help="messages per second the demo carrier takes (default: smppd.toml's)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per phase")
    parser.add_argument(
        "--profile", action="store_true", help="print the pid and wait before the plugins phase"
    )
    args = parser.parse_args()
    if args.messages < 1 or args.members < 1 or args.window < 1:
        parser.error("--messages, --members and --window must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
