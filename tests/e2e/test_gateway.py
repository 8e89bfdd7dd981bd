"""The gateway end to end: smpplib application -> ``smppd run`` -> ``smppd sim``, and back.

Every test runs real processes on 127.0.0.1 (see conftest.py). Texts carry a
``ref:<tag>`` the simulator counts, so "every acknowledged message reached
the carrier" is checked at the carrier, not inferred from the gateway.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import smpplib.exceptions

from smppd.receipt import parse_receipt
from tests.e2e.conftest import (
    APP_PASSWORD,
    APP_SYSTEM_ID,
    ROOT,
    SHIPPED_CONTROL,
    Gateway,
    Processes,
    Sim,
    add_account,
    create_store,
    free_port,
    smppd_command,
    wait_until,
)
from tests.e2e.smpp_app import DC_UCS2, App, cstr, raw_pdu, submit_body

pytestmark = pytest.mark.slow

#: Seconds to wait for receipts after the last submit.
RECEIPT_WAIT = 30.0


def connect(gateway: Gateway, mode: str = "trx") -> App:
    return App(gateway.port, APP_SYSTEM_ID, APP_PASSWORD, mode)


@pytest.fixture(scope="module")
def shared(module_processes: Processes) -> tuple[Gateway, Sim]:
    """One carrier and one gateway for the tests that need nothing of their own.

    They bind as the same account in turn, so each looks only at the receipts
    of its own message ids (a test waits for its receipts before it ends).
    """
    sim = module_processes.sim()
    return module_processes.gateway(sim), sim


def tagged(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:04d}" for n in range(count)]


def test_smpplib_application_gets_the_receipt_of_its_message_from_the_carrier(
    shared: tuple[Gateway, Sim],
) -> None:
    gateway, sim = shared
    app = connect(gateway)
    resp = app.submit("hello from e2e ref:one")
    assert resp.status == 0
    message_id = resp.message_id.decode()
    assert len(message_id) == 32

    app.wait(lambda: message_id in app.received.receipts, RECEIPT_WAIT)
    (text,) = app.received.receipts[message_id]
    receipt = parse_receipt(text)
    assert receipt.message_id == message_id
    assert receipt.state.name == "DELIVERED"
    app.close()
    assert sim.tag_counts(["one"]) == {"one": 1}


def test_long_ucs2_text_with_emoji_is_split_by_the_gateway_and_gets_one_receipt(
    shared: tuple[Gateway, Sim],
) -> None:
    gateway, sim = shared
    # A tag in the first part and one in the last: the carrier counts each part.
    text = "ref:longa Привет 👋 from smppd " + "🎉 ünïcödé " * 8 + "ref:longz"
    payload = text.encode("utf-16-be")
    assert len(payload) > 140  # more than one SMS
    app = connect(gateway)
    seq = app.submit_pdu(data_coding=DC_UCS2, message_payload=payload)
    resp = app.response(seq)
    assert resp.status == 0
    message_id = resp.message_id.decode()

    app.wait(lambda: message_id in app.received.receipts, RECEIPT_WAIT)
    app.idle(1.0)  # a second receipt would come now
    assert len(app.received.receipts[message_id]) == 1
    assert parse_receipt(app.received.receipts[message_id][0]).state.name == "DELIVERED"
    app.close()
    # Split in (at least) two parts, each sent once.
    assert sim.tag_counts(["longa", "longz"]) == {"longa": 1, "longz": 1}


def test_a_throttling_carrier_gets_every_message_once_and_every_receipt_returns(
    processes: Processes,
) -> None:
    sim = processes.sim("--max-tps", "25")
    gateway = processes.gateway(sim, mps=500.0)
    tags = tagged("thr", 40)
    app = connect(gateway)
    resps = app.submit_many([f"throttled ref:{tag}" for tag in tags])
    ids = [r.message_id.decode() for r in resps if r.status == 0]
    assert len(ids) == len(tags)

    app.wait(lambda: all(i in app.received.receipts for i in ids), RECEIPT_WAIT)
    app.close()
    refused = sim.stats()["submits"]["refused"]
    assert refused.get("0x00000058", 0) > 0, "the carrier never throttled"
    assert sim.tag_counts(tags) == dict.fromkeys(tags, 1)


def test_a_carrier_dropping_the_connection_mid_load_loses_nothing(
    processes: Processes,
) -> None:
    window = 5
    sim = processes.sim("--drop-after", "15")
    gateway = processes.gateway(sim, window=window)
    tags = tagged("drop", 40)
    app = connect(gateway)
    resps = app.submit_many([f"dropped ref:{tag}" for tag in tags])
    ids = [r.message_id.decode() for r in resps]
    assert all(r.status == 0 for r in resps)

    app.wait(lambda: all(i in app.received.receipts for i in ids), RECEIPT_WAIT)
    app.close()
    counts = sim.tag_counts(tags)
    drops = sim.stats()["connections_dropped"]
    assert drops >= 2
    assert all(n >= 1 for n in counts.values()), counts
    # A drop can cost at most the submits in flight on that connection.
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= window * drops


def test_gateway_killed_mid_load_and_restarted_delivers_every_acknowledged_message(
    processes: Processes,
) -> None:
    # A slow carrier, so that most acknowledged messages are still queued
    # in the gateway when it is killed.
    sim = processes.sim("--max-tps", "15")
    gateway = processes.gateway(sim, mps=15.0)
    tags = tagged("kill", 60)
    app = connect(gateway, "tx")
    resps = app.submit_many([f"kill -9 ref:{tag}" for tag in tags])
    assert all(r.status == 0 for r in resps)
    before = sum(sim.tag_counts(tags).values())
    gateway.process.kill()
    app.client.disconnect()
    assert before < len(tags), "everything was sent before the kill: nothing tested"

    gateway.start()
    wait_until(
        lambda: all(n >= 1 for n in sim.tag_counts(tags).values()),
        RECEIPT_WAIT,
        "every acknowledged message at the carrier",
        interval=0.25,
    )


def test_receipts_wait_for_an_application_that_binds_only_later(gateway: Gateway, sim: Sim) -> None:
    sender = connect(gateway, "tx")
    ids = [sender.submit(f"later ref:{tag}").message_id.decode() for tag in tagged("late", 3)]
    sender.close()
    wait_until(lambda: sim.stats()["receipts"]["acked"] >= 3, RECEIPT_WAIT, "carrier receipts")
    time.sleep(0.5)  # the receipts are committed; nobody is bound to take them

    receiver = connect(gateway, "rx")
    receiver.wait(lambda: all(i in receiver.received.receipts for i in ids), RECEIPT_WAIT)
    receiver.idle(0.5)
    assert sorted(receiver.received.receipts) == sorted(ids)
    assert receiver.received.receipt_count() == 3
    receiver.close()


def test_three_part_inbound_message_out_of_order_reaches_the_application_once(
    shared: tuple[Gateway, Sim],
) -> None:
    gateway, sim = shared
    text = " ".join(f"word{n:03d}" for n in range(50))  # 399 characters: three parts
    app = connect(gateway, "rx")
    # The carrier bind must be up before the handset writes.
    wait_until(lambda: sim.stats()["binds"]["active"] >= 1, RECEIPT_WAIT, "the carrier bind")
    assert sim.inject("46700000001", "46700000002", text, out_of_order=True) == 3

    app.wait(lambda: bool(app.received.messages), RECEIPT_WAIT)
    app.idle(1.0)
    (pdu,) = app.received.messages
    data = pdu.message_payload or pdu.short_message
    assert data.decode("ascii") == text
    app.close()


# -- bad input ----------------------------------------------------------------------------

SUBMIT_SM = 0x00000004
ENQUIRE_LINK = 0x00000015
UNBIND_RESP = 0x80000006


@pytest.mark.parametrize(
    ("command_id", "body", "answer", "status"),
    [
        pytest.param(0x00000077, b"", "generic_nack", 0x03, id="unknown command"),
        pytest.param(
            SUBMIT_SM,
            submit_body(sm_length=200),
            "submit_sm_resp",
            0x01,
            id="sm_length beyond the PDU",
        ),
        pytest.param(
            SUBMIT_SM,
            submit_body(source=b"A" * 30 + b"\x00"),
            "submit_sm_resp",
            0x0A,
            id="source_addr longer than its maximum",
        ),
        pytest.param(
            SUBMIT_SM,
            submit_body(tlvs=b"\x04\x24\x00\x40abc"),
            "submit_sm_resp",
            0xC0,
            id="TLV running past the end",
        ),
        pytest.param(
            SUBMIT_SM,
            submit_body(destination=cstr("not a number")),
            "submit_sm_resp",
            0x0B,
            id="destination not a number",
        ),
    ],
)
def test_malformed_pdus_get_their_status_and_the_session_lives_on(
    shared: tuple[Gateway, Sim], command_id: int, body: bytes, answer: str, status: int
) -> None:
    app = connect(shared[0])
    seq = app.next_sequence()
    app.send_raw(raw_pdu(command_id, seq, body))
    resp = app.read_pdu()
    assert (resp.command, int(resp.sequence), int(resp.status)) == (answer, seq, status)

    # Still bound and framed: a good submit is accepted and enquire_link answered.
    assert app.submit("after bad input", registered_delivery=0).status == 0
    seq = app.next_sequence()
    app.send_raw(raw_pdu(ENQUIRE_LINK, seq))
    assert app.response(seq).command == "enquire_link_resp"
    app.close()


def test_a_pdu_shorter_than_its_header_is_nacked_and_the_connection_closed(
    shared: tuple[Gateway, Sim],
) -> None:
    gateway = shared[0]
    app = connect(gateway)
    app.send_raw(b"\x00\x00\x00\x08\x00\x00\x00\x15")  # command_length 8 < 16
    resp = app.read_pdu()
    assert (resp.command, int(resp.status)) == ("generic_nack", 0x02)
    with pytest.raises(smpplib.exceptions.ConnectionError):
        app.read_pdu(timeout=10.0)
    app.client.disconnect()
    # The gateway itself is fine: a new bind works.
    again = connect(gateway)
    assert again.submit("after a broken stream", registered_delivery=0).status == 0
    again.close()


# -- running it ---------------------------------------------------------------------------


def test_sigterm_unbinds_the_application_and_the_gateway_exits_cleanly(
    gateway: Gateway, sim: Sim
) -> None:
    app = connect(gateway)
    assert app.submit("before the stop ref:term").status == 0
    gateway.process.popen.send_signal(signal.SIGTERM)
    unbind = app.read_pdu()
    assert unbind.command == "unbind"
    app.send_raw(raw_pdu(UNBIND_RESP, int(unbind.sequence)))
    assert gateway.process.popen.wait(timeout=30) == 0, gateway.log()
    app.client.disconnect()
    assert "stopped" in gateway.log()
    # Sent before the stop, or kept queued and sent after a restart: once either way.
    gateway.start()
    wait_until(lambda: sim.tag_counts(["term"]) == {"term": 1}, RECEIPT_WAIT, "the message")
    time.sleep(0.5)
    assert sim.tag_counts(["term"]) == {"term": 1}


def test_run_reports_every_configuration_problem_like_config_check(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[server]\nwindow = 0\nlisten = ["tcp:1:interface=127.0.0.1"]\n[log]\nlevel = "loud"\n'
    )
    done = subprocess.run(
        smppd_command("run", "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"{config}:2: server.window:" in done.stderr
    assert f"{config}:5: log.level:" in done.stderr
    assert f"{config}: 2 problems" in done.stderr


def test_the_default_configuration_runs_and_smppd_send_gets_its_receipt(tmp_path: Path) -> None:
    """The README's promise: the shipped smppd.toml, its demo carrier, and smppd send."""
    default_listen = "tcp:2775:interface=127.0.0.1"
    shipped = (ROOT / "smppd.toml").read_text()
    assert default_listen in shipped
    port = free_port()
    config = tmp_path / "smppd.toml"  # state_dir "var" and config/rules are relative to it
    config.write_text(
        shipped.replace(default_listen, f"tcp:{port}:interface=127.0.0.1").replace(
            SHIPPED_CONTROL, f"tcp:{free_port()}:interface=127.0.0.1"
        )
    )
    shutil.copytree(ROOT / "config" / "rules", tmp_path / "config" / "rules")
    create_store(config)
    add_account(config, "demo", "demo-pw1")
    gateway = Gateway(tmp_path, config, port)
    gateway.start()
    try:
        done = subprocess.run(
            smppd_command(
                "send",
                "--port",
                str(port),
                "--system-id",
                "demo",
                "--to",
                "+447700900123",
                "--text",
                "Hello from smppd 👋",
            ),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SMPPD_PASSWORD": "demo-pw1"},
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr + gateway.log()
        assert "receipt" in done.stdout
        assert "DELIVRD" in done.stdout
    finally:
        assert gateway.process.terminate() == 0, gateway.log()
    assert (tmp_path / "var").is_dir()


def test_a_port_already_in_use_ends_the_start_with_exit_code_1_and_the_reason(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "smppd.toml"
        config.write_text(f'[server]\nlisten = ["tcp:{port}:interface=127.0.0.1"]\n')
        done = subprocess.run(
            smppd_command("run", "--config", str(config)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not start" in done.stdout
    assert "Address already in use" in done.stdout
    assert "stopped" in done.stdout  # what had started was stopped again
