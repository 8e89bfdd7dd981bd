"""``smppd sim`` as a subprocess on 127.0.0.1, driven by a real smpplib client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.exceptions

from smppd.receipt import parse_receipt
from smppd.simulator.core import content_key
from smppd.smpp.constants import CommandStatus, MessageState
from smppd.text.udh import split_udh

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

#: Seconds to wait for the simulator to start, answer or stop.
WAIT = 15.0


@dataclass
class Sim:
    process: subprocess.Popen[str]
    smpp_port: int
    control: str
    banner: list[str]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.control}{path}", timeout=WAIT) as response:
            return json.loads(response.read())

    def post(self, path: str, body: object) -> Any:
        request = urllib.request.Request(
            f"{self.control}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return json.loads(response.read())

    def client(self) -> smpplib.client.Client:
        client = smpplib.client.Client(
            "127.0.0.1", self.smpp_port, timeout=WAIT, allow_unknown_opt_params=True
        )
        client.connect()
        return client


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "smppd", "sim", *args]


def _start(*args: str) -> Sim:
    process = subprocess.Popen(
        _cli(
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--control",
            "tcp:0:interface=127.0.0.1",
            "--seed",
            "1",
            *args,
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = [process.stdout.readline() for _ in range(3)]
    smpp = banner[1].split()
    control = banner[2].split()
    assert smpp[:3] == ["SMPP", "listening", "on"], banner
    assert control[:3] == ["control", "listening", "on"], banner
    return Sim(process, int(smpp[3].rsplit(":", 1)[1]), control[3], banner)


@pytest.fixture
def start() -> Iterator[Callable[..., Sim]]:
    started: list[Sim] = []

    def run(*args: str) -> Sim:
        sim = _start(*args)
        started.append(sim)
        return sim

    yield run
    for sim in started:
        if sim.process.poll() is None:
            sim.process.kill()
        sim.process.communicate(timeout=WAIT)


def _eventually(check: Callable[[], bool]) -> None:
    # Acknowledgements travel on the SMPP connection, the question on HTTP:
    # give the simulator a moment to read both.
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_transceiver_gets_its_receipt_and_an_injected_mo_and_stats_count_them(
    start: Callable[..., Sim],
) -> None:
    sim = start("--receipt-delay", "0.05", "--mix", "delivered=1")
    client = sim.client()
    received: list[Any] = []
    sent: list[Any] = []

    # smpplib passes the PDU by keyword.
    def on_received(pdu: Any) -> None:
        received.append(pdu)

    def on_sent(pdu: Any) -> None:
        sent.append(pdu)

    client.set_message_received_handler(on_received)
    client.set_message_sent_handler(on_sent)
    try:
        assert client.bind_transceiver(system_id="dev", password="any").status == 0
        client.send_message(
            source_addr_ton=1,
            source_addr="447700900001",
            dest_addr_ton=1,
            destination_addr="447700900123",
            short_message=b"Hello ref:e2e-1",
            registered_delivery=1,
        )
        client.read_once()
        (resp,) = sent
        assert resp.status == 0
        carrier_id = resp.message_id.decode()

        client.read_once()
        (receipt_pdu,) = received
        assert receipt_pdu.command == "deliver_sm"
        assert receipt_pdu.esm_class == 0x04
        assert receipt_pdu.receipted_message_id.rstrip(b"\x00").decode() == carrier_id
        assert receipt_pdu.message_state == MessageState.DELIVERED
        receipt = parse_receipt(receipt_pdu.short_message)
        assert receipt.message_id == carrier_id
        assert receipt.stat == "DELIVRD"
        assert receipt.text == "Hello ref:e2e-1"

        text = "Long news from a handset. " * 7
        assert sim.post("/mo", {"from": "447700900555", "to": "12345", "text": text}) == {
            "parts": 2,
            "seq": 1,
            "committed": False,
        }
        client.read_once()
        client.read_once()
        parts = received[1:]
        assert [p.source_addr for p in parts] == [b"447700900555"] * 2
        pieces = {}
        for pdu in parts:
            header, body = split_udh(pdu.short_message)
            assert header.concat is not None
            pieces[header.concat.seq] = body.decode("ascii")
        assert pieces[1] + pieces[2] == text

        _eventually(lambda: sim.get("/stats")["mo"]["acked"] == 2)
        stats = sim.get("/stats")
        assert stats["binds"] == {"total": 1, "active": 1, "refused": 0}
        assert stats["submits"]["accepted"] == 1
        assert stats["receipts"]["sent"] == stats["receipts"]["acked"] == 1
        assert stats["duplicates"]["keys"] == 0
        key = content_key("447700900001", "447700900123", b"Hello ref:e2e-1")
        counts = sim.post("/stats/count", {"keys": [key], "tags": ["e2e-1", "e2e-2"]})
        assert counts["keys"] == {key: 1}
        assert counts["tags"] == {"e2e-1": 1, "e2e-2": 0}
        assert client.unbind().status == 0
    finally:
        client.disconnect()


def test_drop_after_n_closes_the_connection_at_the_nth_submit(start: Callable[..., Sim]) -> None:
    sim = start("--drop-after", "3")
    client = sim.client()
    try:
        client.bind_transmitter(system_id="dev", password="any")
        for n in range(2):
            client.send_message(destination_addr="447700900123", short_message=b"%d" % n)
            assert client.read_pdu().status == 0
        client.send_message(destination_addr="447700900123", short_message=b"3")
        with pytest.raises(smpplib.exceptions.ConnectionError):
            client.read_pdu()
    finally:
        client.disconnect()
    stats = sim.get("/stats")
    assert stats["submits"]["accepted"] == 2
    assert stats["submits"]["dropped"] == 1
    assert stats["connections_dropped"] == 1


def test_throttling_answers_esme_rthrottled(start: Callable[..., Sim]) -> None:
    sim = start("--max-tps", "1")
    client = sim.client()
    try:
        client.bind_transmitter(system_id="dev", password="any")
        client.send_message(destination_addr="447700900123", short_message=b"first")
        assert client.read_pdu().status == 0
        client.send_message(destination_addr="447700900123", short_message=b"second")
        assert client.read_pdu().status == CommandStatus.ESME_RTHROTTLED
    finally:
        client.disconnect()
    refused = sim.get("/stats")["submits"]["refused"]
    assert refused == {"0x00000058": 1}


def test_cli_companions_talk_to_the_control_endpoint_and_sigterm_stops_cleanly(
    start: Callable[..., Sim],
) -> None:
    sim = start()
    assert sim.banner[0].startswith("smppd sim:")
    assert sim.smpp_port > 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    stats = subprocess.run(
        _cli("stats", "--control", sim.control), cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    assert "submits     received 0, accepted 0" in stats.stdout
    as_json = subprocess.run(
        _cli("--control", sim.control, "stats", "--json"), cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["binds"]["total"] == 0
    inject = subprocess.run(
        _cli("inject", "--control", sim.control, "--from", "447700900555", "--to", "12345", "STOP"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert inject.returncode == 0, inject.stderr
    assert inject.stdout.strip() == "queued 1 part"
    assert sim.get("/stats")["mo"]["parts"] == 1

    sim.process.send_signal(signal.SIGTERM)
    _, err = sim.process.communicate(timeout=WAIT)
    assert sim.process.returncode == 0, err


def test_stats_command_says_when_no_simulator_answers() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = subprocess.run(
        _cli("stats", "--control", f"tcp:{port}:interface=127.0.0.1"),
        cwd=ROOT, capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no simulator control endpoint at 127.0.0.1:" in result.stderr


def test_a_port_in_use_is_reported_and_the_simulator_exits_with_an_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            _cli("--listen", f"tcp:{port}:interface=127.0.0.1",
                 "--control", "tcp:0:interface=127.0.0.1"),
            cwd=ROOT, capture_output=True, text=True, timeout=WAIT, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert "cannot listen" in result.stderr
