"""A real process killed with SIGKILL while it accepts messages, many times:
every message whose acceptance was acknowledged is in the store afterwards,
and recovery queues what was acknowledged but never sent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from smppd.store import models as m
from smppd.store.recovery import recover

HARNESS = Path(__file__).with_name("harness.py")
ROOT = Path(__file__).resolve().parents[2]
KILLS = 6
FIRST_ID_TIMEOUT = 60.0
# Kill between these many seconds after the first acknowledgement.
KILL_AFTER = (0.01, 0.2)


def _run_and_kill(url: str, rng: random.Random) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(HARNESS), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + FIRST_ID_TIMEOUT
        first = proc.stdout.readline()
        assert first, proc.stderr.read().decode() if proc.stderr else "no output"
        assert time.monotonic() < deadline
        time.sleep(rng.uniform(*KILL_AFTER))
    finally:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=FIRST_ID_TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    lines = (first + out).decode().splitlines()
    # A line cut by the kill was never a complete acknowledgement.
    return [line for line in lines if len(line) == 32]


@pytest.mark.slow
def test_every_acknowledged_message_survives_sigkill(store_url: str, engine: Engine) -> None:
    rng = random.Random(0x5EED)
    acknowledged: list[str] = []
    for _ in range(KILLS):
        acknowledged.extend(_run_and_kill(store_url, rng))
    assert len(acknowledged) > KILLS

    recover(engine, time.time())
    with engine.connect() as conn:
        states: dict[str, str] = dict(
            conn.execute(select(m.messages.c.id, m.messages.c.state)).all()
        )
    missing = [mid for mid in acknowledged if mid not in states]
    assert missing == []
    # Acknowledged, never sent to a carrier: all queued again.
    assert {states[mid] for mid in acknowledged} == {"queued"}
    assert "accepted" not in states.values()
