"""``smppd bench`` end to end: a real ``smppd sim`` on 127.0.0.1, both as processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Seconds a process of this test may take before the test fails.
PROCESS_TIMEOUT = 120

pytestmark = pytest.mark.slow


class Sim:
    def __init__(self, process: subprocess.Popen[str], smpp_port: int, control: str) -> None:
        self.process = process
        self.smpp_port = smpp_port
        self.control = control


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smppd",
            "sim",
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--control",
            "tcp:0:interface=127.0.0.1",
            "--receipt-delay",
            "0.05",
            "--seed",
            "3",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        smpp_port = 0
        control = ""
        for _ in range(3):
            line = process.stdout.readline()
            if line.startswith("SMPP listening on "):
                smpp_port = int(line.rsplit(":", 1)[1])
            elif line.startswith("control listening on "):
                control = line.split()[-1]
        assert smpp_port and control, "the simulator did not start"
        yield Sim(process, smpp_port, control)
    finally:
        process.terminate()
        process.wait(timeout=PROCESS_TIMEOUT)


def bench(sim: Sim, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smppd",
            "bench",
            "--port",
            str(sim.smpp_port),
            "--system-id",
            "bench",
            "--sim-control",
            sim.control,
            "--receipt-timeout",
            "20",
            "--json",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
        env={**os.environ, "SMPPD_PASSWORD": "secret"},
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_short_texts_over_tcp_are_accepted_returned_and_delivered_once(sim: Sim) -> None:
    code, report = bench(
        sim,
        "--binds",
        "2",
        "--window",
        "8",
        "--messages",
        "300",
        "--watch-pid",
        str(sim.process.pid),
    )
    assert code == 0, report
    assert (report["submits_sent"], report["submits_accepted"]) == (300, 300)
    assert (report["receipts_expected"], report["receipts_received"]) == (300, 300)
    assert report["submit_latency"]["count"] == 300
    verdict = report["verdict"]
    assert (verdict["exactly_once"], verdict["checked"], verdict["delivered_once"]) == (
        True,
        300,
        300,
    )
    assert report["rss"]["pid"] == sim.process.pid
    assert report["rss"]["start_kib"] > 0 and report["rss"]["end_kib"] > 0


def test_long_texts_at_a_fixed_rate_over_tcp_are_delivered_once_part_by_part(sim: Sim) -> None:
    code, report = bench(sim, "--text", "long", "--rate", "500", "--messages", "40")
    assert code == 0, report
    assert (report["parts_per_message"], report["submits_accepted"]) == (3, 120)
    assert report["verdict"]["exactly_once"] is True
    assert report["verdict"]["checked"] == 120


def test_an_unreachable_server_exits_2_and_names_the_error(sim: Sim) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    unreachable = Sim(sim.process, free_port, sim.control)
    code, report = bench(unreachable, "--messages", "5")
    assert code == 2
    assert report["submits_sent"] == 0 and report["binds_up"] == 0
    assert report["errors"] and "refused" in report["errors"][0].lower()
