"""The application server on real TCP, for the smpplib end-to-end test.

Run as ``python -m tests.server.tcp_server STATE_DIR``: creates a SQLite store
in STATE_DIR with the account ``shop``/``secret``, listens on 127.0.0.1 (a
free port) and prints ``port N``. Every accepted message is taken through a
pretend carrier at once (queued, submitted, delivered), so an application
that asked for a receipt gets one. SIGTERM stops the server gracefully
(applications are unbound) and prints ``stopped``; a safety timeout ends it
anyway.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from smppd.pipeline import Accepted
from smppd.routing import AddressNormaliser, OutboundRoute, OutboundRouter, Target, TargetGroup
from smppd.server.service import ApplicationServer, ServerSettings
from smppd.server.submit import SubmitChecker
from smppd.shared.memory import MemorySharedState
from smppd.store import accounts
from smppd.store.accounts import AccountSettings
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import State
from smppd.store.ops import PartSubmitted, Transition
from smppd.store.schema import open_store
from smppd.store.txwriter import DeferredWriter

SAFETY_TIMEOUT = 60.0
R = TypeVar("R")

# The real reactor: this module is a process entry point.
reactor: Any = _reactor


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class PretendCarrier:
    """Takes every accepted message to ``delivered`` and wakes the outbox."""

    def __init__(self, writer: DeferredWriter) -> None:
        self.writer = writer
        self.server: ApplicationServer | None = None

    def accepted(self, messages: Sequence[Accepted]) -> None:
        for accepted in messages:
            self._deliver(accepted)

    def cancelled(self, message_id: str) -> None:
        say(f"cancelled {message_id}")

    def _deliver(self, accepted: Accepted) -> None:
        mid = accepted.message_id
        now = reactor.seconds()
        say(f"accepted {mid}")
        self.writer.submit(Transition(mid, State.QUEUED, now))
        self.writer.submit(PartSubmitted(mid, 1, "sim", f"c-{mid}", now))
        d = self.writer.submit(Transition(mid, State.DELIVERED, now))

        def _woken(_: object) -> None:
            assert self.server is not None
            self.server.wake(accepted.account)

        d.addCallback(_woken)


def main(state_dir: str) -> None:
    url = f"sqlite:///{Path(state_dir) / 'store.db'}"
    engine = open_store(url)
    with engine.begin() as conn:
        accounts.add_account(conn, "shop", "secret", AccountSettings(), 0.0)
    pool = ThreadPool(minthreads=1, maxthreads=4, name="smppd-test-pool")
    pool.start()

    def run_blocking(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Deferred[R]:
        return deferToThreadPool(reactor, pool, fn, *args, **kwargs)

    writer = DeferredWriter(reactor, engine)
    writer.start()
    carrier = PretendCarrier(writer)
    routes = (
        OutboundRoute(name="uk", groups=(TargetGroup((Target("sim"),)),), destinations=("44",)),
    )
    server = ApplicationServer(
        ServerSettings(listen=("tcp:0:interface=127.0.0.1",), stop_timeout=5.0),
        clock=reactor,
        engine=engine,
        writer=writer,
        run_blocking=run_blocking,
        checker=SubmitChecker(AddressNormaliser(), OutboundRouter(routes), MessageIdGenerator()),
        dispatch=carrier,
        shared=MemorySharedState(reactor),
    )
    carrier.server = server

    def _stop() -> Deferred[None]:
        def _done(_: object) -> None:
            writer.stop()
            pool.stop()
            say("stopped")

        return server.stop().addBoth(_done)

    reactor.addSystemEventTrigger("before", "shutdown", _stop)
    server.start()

    def _listening(ports: list[Any]) -> None:
        say(f"port {ports[0].getHost().port}")

    server.listen(reactor).addCallback(_listening)
    reactor.callLater(SAFETY_TIMEOUT, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1])
