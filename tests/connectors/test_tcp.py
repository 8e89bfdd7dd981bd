"""The connector over a real TCP connection on 127.0.0.1 (one run of tcp_scenario)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.connectors.tcp_scenario"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    return result


def test_tx_rx_binds_and_submits_over_tcp(seen: dict[str, Any]) -> None:
    assert seen["first"] == ["accepted", "70BA8A61"]
    assert seen["carrier_events"][:4] == [
        "bind tx",
        "bound transmitter",
        "bind rx",
        "bound receiver",
    ]


def test_receipt_and_mo_are_acknowledged_over_tcp(seen: dict[str, Any]) -> None:
    assert (seen["mo_resp_status"], seen["receipt_resp_status"]) == (0, 0)
    # The hex submit id 70BA8A61 comes back in decimal in the receipt text.
    assert seen["receipt_ids"] == [str(0x70BA8A61)]
    assert seen["mo"] == [["46701234567", "STOP"]]


def test_dropped_transmitter_reconnects_over_tcp(seen: dict[str, Any]) -> None:
    assert seen["up_after_drop"] is False
    assert seen["second"] == "accepted"
    assert seen["reconnects"] == 1


def test_stop_unbinds_both_and_releases_the_lease_over_tcp(seen: dict[str, Any]) -> None:
    assert seen["carrier_events"][-2:] == ["closed peer_unbind", "closed peer_unbind"]
    assert seen["holders"] == []
    assert seen["states"] == [True, False, True, False]
