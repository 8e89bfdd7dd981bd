"""A process that accepts messages through the group-commit writer as fast as
it can and prints each message id only after its commit: the stand-in for
``submit_sm_resp`` in the SIGKILL test.

    python tests/store/harness.py DATABASE_URL

On start it runs crash recovery, as the daemon does, and reports it on
stderr. Like an SMPP session window, at most WINDOW messages await their
commit at any time.
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


def main(url: str) -> None:
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
    while True:
        window.acquire()
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


if __name__ == "__main__":
    main(sys.argv[1])
