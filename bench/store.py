"""Messages durably accepted per second through the group-commit writer.

    python bench/store.py [--messages N] [--window W] [--rate R] [--postgres URL]
                          [--skip-sqlite] [--skip-postgres]

For SQLite (synchronous=FULL, the default, and NORMAL) and PostgreSQL, one
producer thread (standing in for the reactor) submits N single-part
messages and records for each the time from submit to its completion
callback: the "commit wait" an application sees before its submit_sm_resp.
Two runs per engine:

* throughput: as fast as possible, at most W messages awaiting their commit
  (many SMPP sessions with their windows);
* latency: messages offered at a steady R per second, as traffic arrives.

"writer CPU" is the writer thread's CPU time per message (applying and
committing, fsync waits excluded): the figure least disturbed by other load
on the machine; one free core commits about 1e6 / that many messages per
second.

PostgreSQL is the server at --postgres (default $SMPPD_TEST_DATABASE_URL);
without one, a throwaway server is started with fsync on, like a production
server (the test suite's runs with fsync off). Each run uses a fresh
database, and the server's ``fsync`` and ``synchronous_commit`` settings are
printed with its figures: with either off, a commit is not durable and the
figures are not those of durable acceptance.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from smppd.store.engine import SqliteSynchronous
from smppd.store.ids import MessageIdGenerator
from smppd.store.ops import AcceptMessage, NewMessage
from smppd.store.schema import masked_url, open_store
from smppd.store.writer import (
    DEFAULT_COMMIT_INTERVAL,
    DEFAULT_MAX_BATCH,
    GroupCommitWriter,
)

PACING_SLEEP = 0.0005
# Server settings that decide whether a PostgreSQL commit is durable.
DURABILITY_SETTINGS = ("fsync", "synchronous_commit")
TEXT = "Your verification code is 482913. It expires in 10 minutes."


@dataclass(frozen=True, slots=True)
class Figures:
    label: str
    messages: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    batches: int
    writer_cpu_us: float

    def line(self) -> str:
        return (
            f"{self.label:<30} {self.messages / self.seconds:>9,.0f} msg/s   "
            f"commit wait p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"max {self.max_ms:6.2f} ms   {self.messages / self.batches:6.1f} msg/commit  "
            f"writer CPU {self.writer_cpu_us:5.1f} us/msg"
        )


def run(
    label: str,
    url: str,
    *,
    messages: int,
    window: int,
    sqlite_synchronous: SqliteSynchronous = "full",
    rate: float | None = None,
) -> Figures:
    engine = open_store(url, sqlite_synchronous=sqlite_synchronous)
    writer = GroupCommitWriter(
        engine, commit_interval=DEFAULT_COMMIT_INTERVAL, max_batch=DEFAULT_MAX_BATCH
    )
    writer.start()
    ids = MessageIdGenerator()
    slots = threading.Semaphore(window)
    waits: list[float] = []
    done = threading.Event()
    payload = TEXT.encode()
    clock = time.perf_counter

    def make_callback(started: float) -> object:
        def _done(_result: object, error: BaseException | None) -> None:
            if error is not None:
                raise error
            waits.append(clock() - started)
            slots.release()
            if len(waits) == messages:
                done.set()

        return _done

    begin = clock()
    for n in range(messages):
        slots.acquire()
        if rate is not None:
            due = begin + n / rate
            while clock() < due:
                time.sleep(PACING_SLEEP)
        now = time.time()
        msg = NewMessage(
            id=ids.new(now),
            account="bench",
            source_addr="BENCH",
            dest_addr=f"44770{n % 1_000_000:06d}",
            payload=payload,
            parts=(payload,),
            text=TEXT,
            registered_delivery=1,
        )
        writer.submit(AcceptMessage(msg, now), make_callback(clock()))  # type: ignore[arg-type]
    done.wait()
    elapsed = clock() - begin
    stats = writer.stats
    writer.stop()
    engine.dispose()
    waits.sort()
    return Figures(
        label=label,
        messages=messages,
        seconds=elapsed,
        p50_ms=statistics.median(waits) * 1000,
        p99_ms=waits[int(len(waits) * 0.99) - 1] * 1000,
        max_ms=waits[-1] * 1000,
        batches=stats.batches,
        writer_cpu_us=stats.cpu_seconds / messages * 1e6,
    )


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """The server at ``url``, or a throwaway one that fsyncs like a production server."""
    from tests.store.pg import postgres_server

    with postgres_server(url, durable=True) as server:
        yield server


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    from tests.store.pg import session_database

    with session_database(server) as fresh:
        yield fresh


def durability(url: str) -> dict[str, str]:
    """The server's own word on what a commit waits for (SHOW, not what was asked)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                name: str(conn.execute(text(f"SHOW {name}")).scalar_one())
                for name in DURABILITY_SETTINGS
            }
    finally:
        engine.dispose()


def durability_line(url: str, settings: dict[str, str]) -> str:
    shown = "  ".join(f"{name} {value}" for name, value in settings.items())
    line = f"postgresql server {masked_url(url)}: {shown}"
    if settings.get("fsync") != "on" or settings.get("synchronous_commit") == "off":
        line += "  (NOT durable: these are not durable-acceptance figures)"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--postgres", default=os.environ.get("SMPPD_TEST_DATABASE_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    print(
        f"{args.messages} single-part messages per run; throughput runs keep "
        f"{args.window} in flight, latency runs offer {args.rate:,.0f} msg/s"
    )
    runs: list[tuple[str, float | None, int]] = [
        ("throughput", None, args.window),
        (f"latency @{args.rate:,.0f}/s", args.rate, args.messages),
    ]
    if not args.skip_sqlite:
        run_sqlite(args.messages, runs)
    if not args.skip_postgres:
        with postgres(args.postgres) as server:
            print(durability_line(server, durability(server)), flush=True)
            for name, rate, window in runs:
                with fresh_database(server) as url:
                    label = f"postgresql  {name}"
                    print(
                        run(label, url, messages=args.messages, window=window, rate=rate).line(),
                        flush=True,
                    )


def run_sqlite(messages: int, runs: list[tuple[str, float | None, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("full", "normal"):
            for name, rate, window in runs:
                url = f"sqlite:///{Path(tmp) / f'bench-{sync}-{rate}.db'}"
                label = f"sqlite {sync:<6} {name}"
                print(
                    run(
                        label,
                        url,
                        messages=messages,
                        window=window,
                        sqlite_synchronous=sync,
                        rate=rate,
                    ).line(),
                    flush=True,
                )


if __name__ == "__main__":
    main()
