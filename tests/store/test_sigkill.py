"""A real process killed with SIGKILL while it accepts messages, many times:
every message whose acceptance was acknowledged is in the store afterwards,
and recovery queues what was acknowledged but never sent.

Each process is forked from a server that has already imported everything
(see ``harness.py``), so twenty kills per engine cost seconds, not minutes.
While the test waits to kill, it keeps reading acknowledgements so the
process never stalls on a full pipe: the kill lands while commits are in
flight, not while the writer waits for the test.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import Engine
from sqlalchemy import select as sql_select

from smppd.store import models as m
from smppd.store.recovery import recover

HARNESS = Path(__file__).with_name("harness.py")
ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
# Kill between these many seconds after the first acknowledgement.
KILL_AFTER = (0.005, 0.4)
# Messages offered per second: a commit is always in flight, and each start
# has a few hundred messages to recover rather than thousands.
OFFERED_RATE = 2_000
STEP_TIMEOUT = 60.0
READ_SIZE = 65_536
ID_LENGTH = 32


class ForkServer:
    """The harness in ``--fork-server`` mode, and the lines it prints."""

    def __init__(self, stderr: IO[bytes]) -> None:
        self._stderr = stderr
        self.proc = subprocess.Popen(
            [sys.executable, str(HARNESS), "--fork-server", str(OFFERED_RATE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        self._pending = b""

    def _fail(self, why: str) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return f"{why}; harness stderr:\n{self._stderr.read().decode(errors='replace')}"

    def _read(self, deadline: float) -> bytes:
        """Whatever arrives before ``deadline`` (empty if nothing did)."""
        wait = max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([self._out], [], [], wait)
        if not ready:
            return b""
        chunk = os.read(self._out, READ_SIZE)
        assert chunk, self._fail("the fork server exited")
        return chunk

    def lines(self, deadline: float) -> Iterator[str]:
        """Complete lines until ``deadline``; the caller stops when it has what it needs."""
        while True:
            *complete, self._pending = self._pending.split(b"\n")
            yield from (line.decode() for line in complete)
            if time.monotonic() >= deadline:
                return
            self._pending += self._read(deadline)

    def run_and_kill(self, url: str, delay: float) -> list[str]:
        """One child on ``url``, SIGKILLed ``delay`` s after its first acknowledgement."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{url}\n".encode())
        self.proc.stdin.flush()
        acknowledged: list[str] = []
        pid = 0
        for line in self.lines(time.monotonic() + STEP_TIMEOUT):
            if line.startswith("pid "):
                pid = int(line.split()[1])
            elif len(line) == ID_LENGTH:
                acknowledged.append(line)
                break
            else:
                raise AssertionError(self._fail(f"unexpected line {line!r}"))
        assert acknowledged, self._fail("no acknowledgement in time")
        # Keep draining while the delay runs, so the child never waits on us.
        acknowledged.extend(self.lines(time.monotonic() + delay))
        os.kill(pid, signal.SIGKILL)
        status = None
        for line in self.lines(time.monotonic() + STEP_TIMEOUT):
            if line.startswith("exit "):
                _, exited, status = line.split()
                assert int(exited) == pid
                break
            acknowledged.append(line)
        assert status == str(-signal.SIGKILL), self._fail(f"child ended with {status}")
        # A line cut short by the kill was never a complete acknowledgement.
        return [line for line in acknowledged if len(line) == ID_LENGTH]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=STEP_TIMEOUT)


@pytest.fixture(scope="module")
def fork_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    log = tmp_path_factory.mktemp("sigkill") / "harness.err"
    with log.open("w+b") as stderr:
        server = ForkServer(stderr)
        try:
            yield server
        finally:
            server.close()


@pytest.mark.slow
def test_every_acknowledged_message_survives_sigkill(
    store_url: str, engine: Engine, fork_server: ForkServer
) -> None:
    rng = random.Random(0x5EED)
    acknowledged: list[str] = []
    for _ in range(KILLS):
        acknowledged.extend(fork_server.run_and_kill(store_url, rng.uniform(*KILL_AFTER)))
    assert len(acknowledged) > KILLS
    assert len(set(acknowledged)) == len(acknowledged)

    recover(engine, time.time())
    with engine.connect() as conn:
        states: dict[str, str] = dict(
            conn.execute(sql_select(m.messages.c.id, m.messages.c.state)).all()
        )
    missing = [mid for mid in acknowledged if mid not in states]
    assert missing == []
    # Acknowledged, never sent to a carrier: all queued again.
    assert {states[mid] for mid in acknowledged} == {"queued"}
    assert "accepted" not in states.values()
