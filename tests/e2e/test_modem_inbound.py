"""An inbound long SMS through a GSM modem: out of order, reported twice, delivered once.

``smppd run`` drives a modem emulated on a pty (modem.emulator, in the test
process) with the recording plugin (tests/e2e/recording_plugin.py) enabled.
The emulator has the double-report quirk on: every SMS it receives is given
to the host twice, directly (+CMT) and stored (+CMTI), as some modems do.
The three parts of one UCS-2 message arrive in the order 3, 1, 2; the
application must get the text once, the plugin must see it once, and every
stored copy must be deleted once the gateway has taken it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest

from modem.address import Address
from modem.emulator import ModemConfig, ModemEmulator, Quirks, encode_deliver
from modem.pdu import user_data_for_part
from plugins.host import ENTRY_POINT_GROUP
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.segment import segment
from tests.e2e.conftest import (
    APP_PASSWORD,
    APP_SYSTEM_ID,
    ROOT,
    Gateway,
    add_account,
    create_store,
    free_port,
    wait_until,
)
from tests.e2e.recording_plugin import ENTRY_POINT, PLUGIN_NAME, recorded
from tests.e2e.smpp_app import DC_UCS2, App

pytestmark = pytest.mark.slow

#: Seconds for the message to cross the gateway, and for the modem's memory to empty.
DELIVERY_WAIT: Final = 15.0
#: Seconds of silence that show a copy was not delivered a second time.
QUIET_WAIT: Final = 1.5
OWN_NUMBER: Final = "+15550001000"
SENDER: Final = "+15557654321"
CONCAT_REFERENCE: Final = 0xA7
#: The parts, by index, in the order the network hands them to the modem.
ARRIVAL_ORDER: Final = (2, 0, 1)
#: UTF-16 units in a UCS-2 part after an 8-bit concatenation UDH: (140 - 6) / 2.
UCS2_CONCAT_PART_UNITS: Final = 67
#: The emoji (a surrogate pair) takes units 67 and 68: across the first part's edge.
TEXT: Final = (
    "Your order 4711 has shipped and will arrive on Thursday, thank you"
    + "\N{PARTY POPPER}"
    + " Reply POINTS to see your balance, or STOP to opt out of these messages. "
    + "Grüße from the shop \N{SHOPPING BAGS} and see you soon!"
)

CONFIG: Final = """\
[gateway]
name = "e2e-modem-inbound"
state_dir = "state"

[server]
listen = ["tcp:{port}:interface=127.0.0.1"]

[store]
commit_interval_ms = 2.0

[[modems]]
name = "m1"
port = "{device}"
own_number = "{own_number}"

[[connectors]]
name = "pool"
type = "modem_pool"
modems = ["m1"]

[[routes]]
name = "through-modems"
accounts = "*"
destinations = "*"
connectors = ["modem_pool:pool"]

[[inbound_routes]]
name = "to-the-app"
account = "{app}"
destinations = ["{own_number}"]

[plugins]
enabled = ["{plugin}"]

[plugins.{plugin}]
path = "{record}"
"""


@pytest.fixture
def modem() -> Iterator[ModemEmulator]:
    emulator = ModemEmulator(
        replace(
            ModemConfig(send_seconds=0.05, reboot_seconds=0.1),
            quirks=Quirks(double_report=True),
        )
    ).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def register_plugin(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recording plugin as an installed distribution would offer it, on the
    ``PYTHONPATH`` of every smppd process the test starts (with the repository,
    where its module lives)."""
    info = root / "smppd_e2e_recording-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: smppd-e2e-recording\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n{PLUGIN_NAME} = {ENTRY_POINT}\n", encoding="utf-8"
    )
    paths = [str(root), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def deliver_tpdus(text: str) -> list[bytes]:
    """The SMS-DELIVER TPDUs of ``text`` from :data:`SENDER`, one per part, in order."""
    segmented = segment(
        text,
        TextPolicy(long_message=LongMessageMode.UDH8),
        next_reference=lambda: CONCAT_REFERENCE,
    )
    # One service-centre time stamp for all parts, as a network gives them.
    moment = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    originator = Address.parse(SENDER)
    return [
        encode_deliver(originator, user_data_for_part(segmented, index), moment)
        for index in range(len(segmented.parts))
    ]


def delivered_text(pdu: Any) -> str:
    payload: bytes = pdu.message_payload or pdu.short_message
    assert pdu.data_coding == DC_UCS2
    return payload.decode("utf-16-be")


def test_three_part_inbound_out_of_order_reaches_the_application_and_plugins_once(
    tmp_path: Path, modem: ModemEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert TEXT.index("\N{PARTY POPPER}") == UCS2_CONCAT_PART_UNITS - 1
    tpdus = deliver_tpdus(TEXT)
    assert len(tpdus) == 3
    register_plugin(tmp_path / "site", monkeypatch)
    record = tmp_path / "inbound.jsonl"
    port = free_port()
    config = tmp_path / "smppd.toml"
    config.write_text(
        CONFIG.format(
            port=port,
            device=modem.device,
            own_number=OWN_NUMBER,
            app=APP_SYSTEM_ID,
            plugin=PLUGIN_NAME,
            record=record,
        )
    )
    create_store(config)
    add_account(config, APP_SYSTEM_ID, APP_PASSWORD)
    gateway = Gateway(tmp_path, config, port)
    gateway.start()
    try:
        app = App(port, APP_SYSTEM_ID, APP_PASSWORD, mode="rx")
        for index in ARRIVAL_ORDER:
            modem.inject_pdu(tpdus[index])

        app.wait(lambda: bool(app.received.messages), DELIVERY_WAIT)
        wait_until(
            lambda: not modem.stored_messages(), DELIVERY_WAIT, "the modem's memory to empty"
        )
        app.idle(QUIET_WAIT)
        (pdu,) = app.received.messages
        assert delivered_text(pdu) == TEXT
        assert pdu.source_addr.decode() == SENDER.lstrip("+")
        assert pdu.destination_addr.decode() == OWN_NUMBER.lstrip("+")
        (line,) = recorded(record)
        assert line["text"] == TEXT
        assert line["channel"] == "modem"
        assert line["connector"] == "pool"

        # The network hands part 1 to the modem again (reported twice again).
        modem.inject_pdu(tpdus[ARRIVAL_ORDER[1]])
        wait_until(
            lambda: modem.stats().inbound_injected == 4 and not modem.stored_messages(),
            DELIVERY_WAIT,
            "the repeated part to be taken and deleted",
        )
        app.idle(QUIET_WAIT)
        assert len(app.received.messages) == 1
        assert len(recorded(record)) == 1
        assert not app.received.receipts
        app.close()
    finally:
        assert gateway.process.terminate() == 0, gateway.log()
