"""A real third-party client (smpplib) against the server on real TCP (127.0.0.1)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.server.tcp_server", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("port "), line
    try:
        yield process, int(line.split()[1])
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stdout.close()


def test_smpplib_binds_submits_gets_its_receipt_and_the_server_stops_cleanly(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = server
    refused = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    refused.connect()
    with pytest.raises(smpplib.exceptions.PDUError) as excinfo:
        refused.bind_transceiver(system_id="shop", password="wrong")
    assert excinfo.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD
    refused.disconnect()

    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    sent: list[str] = []
    receipts: list[Any] = []
    client.set_message_sent_handler(lambda pdu: sent.append(pdu.message_id.decode()))

    def on_message(pdu: Any) -> None:
        # smpplib passes the PDU as a keyword argument.
        receipts.append(pdu)

    client.set_message_received_handler(on_message)
    client.connect()
    try:
        assert client.bind_transceiver(system_id="shop", password="secret").status == 0
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr="Shop",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr="447700900123",
            short_message=b"hello over tcp",
            registered_delivery=1,
        )
        while not (sent and receipts):
            client.read_once()
        (message_id,) = sent
        assert len(message_id) == 32
        (receipt,) = receipts
        assert receipt.esm_class & 0x3C == 0x04  # SMSC delivery receipt
        assert receipt.short_message.startswith(f"id:{message_id} ".encode())
        assert b"stat:DELIVRD" in receipt.short_message
        # The server leaves gracefully: it sends unbind, smpplib answers it.
        process.send_signal(signal.SIGTERM)
        unbind = client.read_pdu()
        assert unbind.command == "unbind"
        client.send_pdu(
            smpplib.smpp.make_pdu("unbind_resp", client=client, sequence=unbind.sequence)
        )
    finally:
        client.disconnect()
    assert process.stdout is not None
    rest = process.stdout.read()
    assert process.wait(timeout=15) == 0
    assert "stopped" in rest.splitlines()


@pytest.mark.parametrize(("marketing", "expected"), [(True, "marketing"), (False, "transactional")])
def test_smppd_send_sets_the_message_class_with_its_tlv(
    server: tuple[subprocess.Popen[str], int], tmp_path: Path, marketing: bool, expected: str
) -> None:
    from sqlalchemy import create_engine, text

    from smppd.cli.send_cmd import EXIT_DELIVERED, SendRequest, parse_address, run_send
    from smppd.smpp.constants import SmppdMessageClass

    _, port = server
    message_class = SmppdMessageClass.MARKETING if marketing else SmppdMessageClass.TRANSACTIONAL
    request = SendRequest(
        host="127.0.0.1",
        port=port,
        system_id="shop",
        destination=parse_address("+447700900123"),
        text="hello",
        timeout=20.0,
        message_class=message_class,
    )
    outcome = run_send(request, "secret", report=lambda _: None)
    assert outcome.exit_code == EXIT_DELIVERED, outcome.detail
    (submitted,) = outcome.submitted
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT traffic_class FROM messages WHERE id = :id"),
                {"id": submitted.message_id},
            ).scalar_one()
    finally:
        engine.dispose()
    # The account is transactional: marketing comes from the TLV alone.
    assert stored == expected
