"""A process that accepts messages through the group-commit writer as fast as
it can and prints each message id only after its commit: the stand-in for
``submit_sm_resp`` in the SIGKILL test.

    python tests/store/harness.py DATABASE_URL [RATE]
    python tests/store/harness.py --fork-server [RATE]

On start it runs crash recovery, as the daemon does, and reports it on
stderr. Like an SMPP session window, at most WINDOW messages await their
commit at any time. With RATE, messages are offered at that many per second
(commits are still always in flight, but each crash leaves less for the next
start to recover); without, as fast as the writer takes them.

``--fork-server`` imports everything once, then for each database URL read
from stdin forks a child that does the above: each child is a real process
with its own connections and writer thread, killed for real, but started in
milliseconds instead of the second an interpreter spends importing
SQLAlchemy, so the test can afford many kills. On stdout the child first
says ``pid N``, then prints ids; once the child is gone the server prints
``exit N STATUS`` on a line of its own (STATUS as subprocess reports it:
-9 for SIGKILL).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from smppd.store.engine import create_store_engine
from smppd.store.ids import MessageIdGenerator
from smppd.store.ops import AcceptMessage, NewMessage
from smppd.store.recovery import recover
from smppd.store.writer import GroupCommitWriter

WINDOW = 256
FORK_SERVER_FLAG = "--fork-server"
# Drivers a child would otherwise import after the fork, on the clock.
_PRELOAD = ("sqlalchemy.dialects.sqlite.pysqlite", "sqlalchemy.dialects.postgresql.psycopg")


def main(url: str, rate: float | None = None) -> None:
    engine = create_store_engine(url)
    report = recover(engine, time.time())
    print(f"recovered {report}", file=sys.stderr, flush=True)

    window = threading.BoundedSemaphore(WINDOW)
    confirmed: list[str] = []

    def confirm(message_id: str | None, error: BaseException | None) -> None:
        window.release()
        if error is None and message_id is not None:
            confirmed.append(message_id)
        elif error is not None:
            print(f"refused: {error}", file=sys.stderr, flush=True)

    def dispatch(thunk: Callable[[], None]) -> None:
        # All callbacks of one commit, then one write: "acknowledged" means
        # these bytes reached the pipe.
        thunk()
        if confirmed:
            out = "".join(f"{mid}\n" for mid in confirmed).encode()
            confirmed.clear()
            os.write(1, out)

    writer = GroupCommitWriter(engine, dispatch=dispatch)
    writer.start()
    ids = MessageIdGenerator()
    n = 0
    begin = time.monotonic()
    while True:
        window.acquire()
        if rate is not None:
            ahead = begin + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        now = time.time()
        mid = ids.new(now)
        text = f"harness message {n}"
        n += 1
        msg = NewMessage(
            id=mid,
            account="harness",
            source_addr="HARNESS",
            dest_addr=f"4477009{n % 100000:05d}",
            payload=text.encode(),
            parts=(text.encode(),),
            text=text,
            registered_delivery=1,
        )
        writer.submit(AcceptMessage(msg, now), confirm)


def fork_server(rate: float | None) -> None:
    import importlib

    for module in _PRELOAD:
        importlib.import_module(module)
    for line in sys.stdin:
        url = line.strip()
        if not url:
            continue
        pid = os.fork()
        if pid == 0:
            _child(url, rate)
        _, status = os.waitpid(pid, 0)
        # The leading newline ends a line the kill may have cut short.
        os.write(1, f"\nexit {pid} {os.waitstatus_to_exitcode(status)}\n".encode())


def _child(url: str, rate: float | None) -> None:
    code = 1
    try:
        os.close(0)
        os.write(1, f"pid {os.getpid()}\n".encode())
        main(url, rate)
    except BaseException as exc:
        print(f"harness child failed: {exc!r}", file=sys.stderr, flush=True)
    finally:
        # Never return into the server's loop.
        os._exit(code)


if __name__ == "__main__":
    offered = float(sys.argv[2]) if len(sys.argv) > 2 else None
    if sys.argv[1] == FORK_SERVER_FLAG:
        fork_server(offered)
    else:
        main(sys.argv[1], offered)
