"""The Twisted face of the writer: Deferreds fire on the reactor thread, after the commit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select
from twisted.internet.defer import Deferred

from smppd.store import models as m
from smppd.store.errors import WriterClosed
from smppd.store.ids import MessageIdGenerator
from smppd.store.lifecycle import InvalidTransition, State
from smppd.store.ops import AcceptMessage, Transition
from smppd.store.txwriter import DeferredWriter
from tests.store.conftest import NOW, new_message

WAIT = 30.0


class RecordingReactor:
    """Stands in for the reactor: keeps what callFromThread was given, runs it on demand."""

    def __init__(self) -> None:
        self.calls: list[Callable[[], None]] = []
        self.threads: list[str] = []
        self._cond = threading.Condition()

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        with self._cond:
            self.threads.append(threading.current_thread().name)
            self.calls.append(lambda: f(*args, **kwargs))
            self._cond.notify_all()

    def wait_for_calls(self, n: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= n, WAIT)

    def run_pending(self) -> None:
        calls, self.calls = self.calls, []
        for call in calls:
            call()


def _fired(d: Deferred[Any]) -> list[Any]:
    box: list[Any] = []
    d.addBoth(box.append)
    return box


def test_deferreds_fire_only_when_the_reactor_runs_the_post_commit_call(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    reactor = RecordingReactor()
    writer = DeferredWriter(reactor, engine, commit_interval=0.2, max_batch=50)  # type: ignore[arg-type]
    keys = [ids.new(NOW) for _ in range(20)]
    fired = [_fired(writer.submit(AcceptMessage(new_message(k), NOW))) for k in keys]
    writer.start()
    try:
        reactor.wait_for_calls(1)
        # Committed, but nothing fired outside the reactor thread.
        assert all(box == [] for box in fired)
        with engine.connect() as conn:
            stored = set(conn.execute(select(m.messages.c.id)).scalars())
        assert stored == set(keys)
        reactor.run_pending()
    finally:
        writer.stop()
    assert fired == [[k] for k in keys]
    # One wake-up of the reactor for the whole commit, sent from the writer thread.
    assert reactor.threads == ["smppd-store-writer"]


def test_a_refused_write_errbacks_its_deferred(engine: Engine, ids: MessageIdGenerator) -> None:
    reactor = RecordingReactor()
    writer = DeferredWriter(reactor, engine)  # type: ignore[arg-type]
    writer.start()
    key = ids.new(NOW)
    try:
        ok = _fired(writer.submit(AcceptMessage(new_message(key), NOW)))
        bad = _fired(writer.submit(Transition(key, State.SUBMITTED, NOW)))
        while not (ok and bad):
            reactor.wait_for_calls(1)
            reactor.run_pending()
    finally:
        writer.stop()
        reactor.run_pending()
    assert ok == [key]
    assert bad[0].check(InvalidTransition)
    bad[0].trap(InvalidTransition)


def test_submitting_to_a_stopped_writer_fails_at_once(
    engine: Engine, ids: MessageIdGenerator
) -> None:
    writer = DeferredWriter(RecordingReactor(), engine)  # type: ignore[arg-type]
    writer.start()
    writer.stop()
    box = _fired(writer.submit(AcceptMessage(new_message(ids.new(NOW)), NOW)))
    assert box[0].check(WriterClosed)
    box[0].trap(WriterClosed)


@pytest.mark.slow
def test_with_a_real_reactor_the_deferred_fires_on_the_reactor_thread(tmp_path: Any) -> None:
    import subprocess
    import sys

    script = f"""
import threading
from twisted.internet import reactor
from smppd.store.schema import open_store
from smppd.store.ids import MessageIdGenerator
from smppd.store.ops import AcceptMessage, NewMessage
from smppd.store.txwriter import DeferredWriter

engine = open_store("sqlite:///{tmp_path / "r.db"}")
writer = DeferredWriter(reactor, engine)
main = threading.current_thread()
result = []

def go():
    mid = MessageIdGenerator().new(reactor.seconds())
    msg = NewMessage(id=mid, account="a", source_addr="S", dest_addr="1", payload=b"x",
                     parts=(b"x",))
    d = writer.submit(AcceptMessage(msg, reactor.seconds()))
    d.addCallback(lambda r: result.append((r == mid, threading.current_thread() is main)))
    d.addBoth(lambda _: reactor.stop())

writer.start()
reactor.callWhenRunning(go)
reactor.run()
writer.stop()
print(result)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[(True, True)]"
