"""``smppd modem probe`` and ``smppd modem list``."""

from __future__ import annotations

import json
import os
import pty
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from modem.emulator import ModemConfig, ModemEmulator
from modem.pool import STATE_FILE_NAME
from smppd.cli.modem_cmd import modem

CONFIG = ModemConfig(
    manufacturer="ACME",
    model="GSM-9000",
    imei="356938035643809",
    operator="Loopback Mobile",
    signal=17,
    smsc="+15555550199",
)


@pytest.fixture
def emulator() -> Iterator[ModemEmulator]:
    with ModemEmulator(CONFIG) as emu:
        yield emu


def test_probe_prints_every_field(emulator: ModemEmulator) -> None:
    result = CliRunner().invoke(modem, ["probe", emulator.device])
    assert result.exit_code == 0, result.output
    fields = {
        name.strip(): value.strip()
        for name, value in (line.split(":", 1) for line in result.output.splitlines())
    }
    assert fields == {
        "port": emulator.device,
        "manufacturer": "ACME",
        "model": "GSM-9000",
        "IMEI": "356938035643809",
        "SIM": "READY",
        "operator": "Loopback Mobile",
        "registration": "home",
        "signal": f"{-113 + 2 * 17} dBm",
        "SMSC": "+15555550199",
        "storage": "0/30 (SM)",
    }


def test_probe_json_has_every_field(emulator: ModemEmulator) -> None:
    result = CliRunner().invoke(modem, ["probe", "--json", emulator.device])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == {
        "port": emulator.device,
        "manufacturer": "ACME",
        "model": "GSM-9000",
        "imei": "356938035643809",
        "sim": "READY",
        "operator": "Loopback Mobile",
        "registration": "home",
        "signal_dbm": -79,
        "smsc": "+15555550199",
        "storage": "SM",
        "storage_used": 0,
        "storage_total": 30,
    }


def test_probe_enters_the_pin_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MODEM_PIN", "2468")
    with ModemEmulator(replace(CONFIG, pin="2468")) as emu:
        result = CliRunner().invoke(
            modem, ["probe", "--json", "--pin-env", "TEST_MODEM_PIN", emu.device]
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sim"] == "READY (PIN entered)"
    assert report["registration"] == "home"


def test_probe_of_a_silent_port_fails_clearly() -> None:
    master, slave = pty.openpty()
    try:
        started = time.monotonic()
        result = CliRunner().invoke(modem, ["probe", os.ttyname(slave)])
        assert time.monotonic() - started < 30
    finally:
        os.close(master)
        os.close(slave)
    assert result.exit_code == 2
    assert "no answer" in result.output


def test_probe_of_a_missing_port_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(modem, ["probe", str(tmp_path / "ttyUSB9")])
    assert result.exit_code == 2
    assert "cannot open" in result.output


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "smppd.toml"
    path.write_text(
        """
[gateway]
state_dir = "state"

[[modems]]
name = "sim1"
port = "/dev/ttyUSB0"
own_number = "+15550001000"
daily_limit = 200

[[modems]]
name = "sim2"
port = "socket://127.0.0.1:7001"
""",
        encoding="utf-8",
    )
    return path


def test_list_shows_configured_modems_when_the_daemon_is_not_running(tmp_path: Path) -> None:
    result = CliRunner().invoke(modem, ["list", "--config", str(_config(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["name"], r["port"], r["live"], r["state"]) for r in rows] == [
        ("sim1", "/dev/ttyUSB0", False, "not running"),
        ("sim2", "socket://127.0.0.1:7001", False, "not running"),
    ]


def test_list_shows_live_state_from_a_fresh_state_file(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "state").mkdir()
    state = {
        "pool": "modems",
        "written_at": time.time(),
        "modems": [
            {
                "name": "sim1",
                "state": "ready",
                "detail": "ready",
                "signal_dbm": -71,
                "sent": 12,
                "failed": 1,
                "received": 3,
                "sent_today": 12,
            }
        ],
    }
    (tmp_path / "state" / STATE_FILE_NAME).write_text(json.dumps(state), encoding="utf-8")
    result = CliRunner().invoke(modem, ["list", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "NAME",
        "PORT",
        "STATE",
        "SIGNAL",
        "SENT",
        "FAILED",
        "RECV",
        "TODAY",
    ]
    assert lines[1].split() == ["sim1", "/dev/ttyUSB0", "ready", "-71dBm", "12", "1", "3", "12/200"]
    assert lines[2].split()[:3] == ["sim2", "socket://127.0.0.1:7001", "not"]


def test_list_ignores_a_stale_state_file(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "state").mkdir()
    state = {"written_at": time.time() - 3600, "modems": [{"name": "sim1", "state": "ready"}]}
    (tmp_path / "state" / STATE_FILE_NAME).write_text(json.dumps(state), encoding="utf-8")
    result = CliRunner().invoke(modem, ["list", "--config", str(config), "--json"])
    assert json.loads(result.output)[0]["live"] is False
