"""A message through a GSM modem pool: ``smppd run`` drives a modem emulated on a pty.

The emulator (modem.emulator) runs in the test process; the gateway, in its
own process, opens the pseudo-terminal as it would a USB modem's port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modem.emulator import ModemConfig, ModemEmulator
from smppd.receipt import parse_receipt
from tests.e2e.conftest import (
    APP_PASSWORD,
    APP_SYSTEM_ID,
    Gateway,
    add_account,
    create_store,
    free_port,
)
from tests.e2e.smpp_app import App

pytestmark = pytest.mark.slow

RECEIPT_WAIT = 30.0

CONFIG = """\
[gateway]
name = "e2e-modem"
state_dir = "state"

[server]
listen = ["tcp:{port}:interface=127.0.0.1"]

[[modems]]
name = "m1"
port = "{device}"

[[connectors]]
name = "pool"
type = "modem_pool"
modems = ["m1"]

[[routes]]
name = "through-modems"
accounts = "*"
destinations = "*"
connectors = ["modem_pool:pool"]
"""


@pytest.fixture
def modem() -> Iterator[ModemEmulator]:
    emulator = ModemEmulator(
        ModemConfig(send_seconds=0.05, status_report_delay=0.2, reboot_seconds=0.1)
    ).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_a_message_routed_to_a_modem_pool_is_sent_by_the_modem_and_receipted(
    tmp_path: Path, modem: ModemEmulator
) -> None:
    port = free_port()
    config = tmp_path / "smppd.toml"
    config.write_text(CONFIG.format(port=port, device=modem.device))
    create_store(config)
    add_account(config, APP_SYSTEM_ID, APP_PASSWORD)
    gateway = Gateway(tmp_path, config, port)
    gateway.start()
    try:
        app = App(port, APP_SYSTEM_ID, APP_PASSWORD)
        resp = app.submit("through the modem", source_addr_ton=1, source_addr="46701740605")
        assert resp.status == 0
        message_id = resp.message_id.decode()
        app.wait(lambda: message_id in app.received.receipts, RECEIPT_WAIT)
        (text,) = app.received.receipts[message_id]
        assert parse_receipt(text).state.name == "DELIVERED"
        app.close()
        (sent,) = modem.sent_messages()
        assert sent.destination is not None and sent.destination.endswith("447700900123")
        assert sent.text == "through the modem"
    finally:
        assert gateway.process.terminate() == 0, gateway.log()
