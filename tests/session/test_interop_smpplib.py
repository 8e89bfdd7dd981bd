"""A real third-party client (smpplib) against a server built from SmppProtocol.

The server runs in a subprocess with the real reactor on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.session.interop_server"],
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


def test_smpplib_client_binds_submits_enquires_and_unbinds_cleanly(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = server
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    sent_ids: list[str] = []
    client.set_message_sent_handler(lambda pdu: sent_ids.append(pdu.message_id.decode()))
    client.connect()
    try:
        bind_resp = client.bind_transceiver(system_id="app", password="secret")
        assert bind_resp.status == 0
        assert bind_resp.system_id == b"smppd"

        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_INTL,
            source_addr="12345",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            destination_addr="447700900123",
            short_message=b"hello",
        )
        client.read_once()
        assert sent_ids == ["msg-1"]

        client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
        resp = client.read_pdu()
        assert resp.command == "enquire_link_resp"
        assert resp.status == 0

        unbind_resp = client.unbind()
        assert unbind_resp.command == "unbind_resp"
        assert unbind_resp.status == 0
    finally:
        client.disconnect()

    assert process.stdout is not None
    out, _ = process.communicate(timeout=15)
    lines = out.splitlines()
    assert lines == [
        "bind BindTransceiver app",
        "bound transceiver",
        "submit 447700900123 hello",
        "unbound peer_unbind",
        "closed peer_unbind",
    ]
    assert process.returncode == 0


def test_smpplib_bind_with_a_wrong_password_is_refused(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    _, port = server
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    client.connect()
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as info:
            client.bind_transmitter(system_id="app", password="wrong")
        assert info.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD
    finally:
        client.disconnect()
