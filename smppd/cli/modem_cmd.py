"""``smppd modem``: probe a GSM modem, list the configured ones.

``smppd modem probe PORT`` opens the port itself (a device path or a pyserial
URL) and runs a short dialogue with the AT engine, blocking, since nothing
else runs in the command: wake the modem, echo off, then the identity, SIM,
network, signal, service centre and storage questions. Each answer is
printed as it was understood; a question the modem refuses shows as
``-``. Nothing that answers at all is an error (exit status 2).

``smppd modem list`` prints the modems of the configuration's ``[[modems]]``
tables. A running daemon writes its modems' live state to
``<state_dir>/modems.json`` every few seconds (:mod:`modem.pool`); when that
file is fresh, its state, signal and counters are shown too.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import click
import serial

from modem.at import CTRL_Z, ESC, ATEngine, CommandCompleted, Ok, Result, Write
from modem.at_responses import (
    ATParseError,
    parse_cops,
    parse_cpin,
    parse_cpms,
    parse_csca,
    parse_csq,
    parse_identity,
    parse_registration,
)
from modem.pool import STATE_FILE_NAME, STATE_INTERVAL, read_state

__all__ = ["ProbeReport", "modem", "probe_port"]

CONFIG_ENV_VAR: Final = "SMPPD_CONFIG"
DEFAULT_CONFIG_FILE: Final = "smppd.toml"
DEFAULT_BAUDRATE: Final = 115200
#: Seconds one probe question may take.
PROBE_TIMEOUT: Final = 5.0
#: Tries of a bare "AT", each this long, before the port counts as silent.
WAKE_ATTEMPTS: Final = 3
WAKE_TIMEOUT: Final = 1.0
READ_SLICE: Final = 0.05
#: Quiet time after an unanswered command (the default engine waits a second).
RECOVERY_DELAY: Final = 0.2
#: A state file older than this is from a daemon that is gone.
STALE_AFTER: Final = 3 * STATE_INTERVAL
_REGISTRATION_NAMES: Final = {
    0: "not registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
}


class ProbeError(Exception):
    """The port cannot be opened or nothing answers on it."""


@dataclass(frozen=True, slots=True)
class ProbeReport:
    port: str
    manufacturer: str | None
    model: str | None
    imei: str | None
    sim: str | None
    operator: str | None
    registration: str | None
    signal_dbm: int | None
    smsc: str | None
    storage: str | None
    storage_used: int | None
    storage_total: int | None


class _Dialogue:
    """The AT engine over a blocking pyserial port."""

    def __init__(self, port: serial.SerialBase) -> None:
        self._port = port
        self._engine = ATEngine(recovery_delay=RECOVERY_DELAY)

    def ask(
        self, command: str, *, expects: str | None = None, timeout: float = PROBE_TIMEOUT
    ) -> Result:
        now = time.monotonic()
        self._port.write(self._engine.send(command, now, timeout=timeout, expects=expects))
        while True:
            data = self._port.read(4096)
            now = time.monotonic()
            events = self._engine.receive(data, now) if data else []
            deadline = self._engine.next_deadline()
            if deadline is not None and now >= deadline:
                events += self._engine.handle_timer(now)
            for event in events:
                if isinstance(event, Write):
                    self._port.write(event.data)
                elif isinstance(event, CommandCompleted) and event.command == command:
                    return event.result

    def value(self, command: str, prefix: str | None) -> Ok | None:
        result = self.ask(command, expects=prefix)
        return result if isinstance(result, Ok) else None


def _line(result: Ok | None, prefix: str | None) -> str | None:
    if result is None:
        return None
    if prefix is None:
        return result.info[0].text if result.info else None
    item = result.first(prefix)
    return item.text if item is not None else None


def probe_port(
    port: str, *, baudrate: int = DEFAULT_BAUDRATE, pin: str | None = None
) -> ProbeReport:
    """Ask the modem on ``port`` what it is and how it is doing."""
    try:
        link = serial.serial_for_url(port, baudrate=baudrate, timeout=READ_SLICE)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ProbeError(f"cannot open {port}: {exc}") from None
    try:
        return _probe(_Dialogue(link), port, pin)
    except (serial.SerialException, OSError) as exc:
        raise ProbeError(f"{port}: {exc}") from None
    finally:
        link.close()


def _probe(talk: _Dialogue, port: str, pin: str | None) -> ProbeReport:
    talk._port.write(ESC + CTRL_Z)
    for _ in range(WAKE_ATTEMPTS):
        if isinstance(talk.ask("AT", timeout=WAKE_TIMEOUT), Ok):
            break
    else:
        raise ProbeError(f"no answer from a modem on {port}")
    talk.ask("ATE0")
    talk.ask("AT+CMEE=1")

    def ident(command: str, prefix: str) -> str | None:
        text = _line(talk.value(command, None), None)
        if text is None:
            return None
        try:
            return parse_identity(text, prefix)
        except ATParseError:
            return text

    manufacturer = ident("AT+CGMI", "+CGMI")
    model = ident("AT+CGMM", "+CGMM")
    imei = ident("AT+CGSN", "+CGSN")
    sim = None
    if (text := _line(talk.value("AT+CPIN?", "+CPIN:"), "+CPIN:")) is not None:
        sim = parse_cpin(text)
        if sim == "SIM PIN" and pin is not None:
            if isinstance(talk.ask(f'AT+CPIN="{pin}"', timeout=PROBE_TIMEOUT), Ok):
                sim = "READY (PIN entered)"
            else:
                sim = "SIM PIN (the PIN was refused)"
    operator = registration = smsc = storage = None
    signal = used = total = None
    if (text := _line(talk.value("AT+COPS?", "+COPS:"), "+COPS:")) is not None:
        with contextlib.suppress(ATParseError):
            operator = parse_cops(text).name
    if (text := _line(talk.value("AT+CREG?", "+CREG:"), "+CREG:")) is not None:
        try:
            stat = parse_registration(text).stat
            registration = _REGISTRATION_NAMES.get(stat, f"stat {stat}")
        except ATParseError:
            pass
    if (text := _line(talk.value("AT+CSQ", "+CSQ:"), "+CSQ:")) is not None:
        with contextlib.suppress(ATParseError):
            signal = parse_csq(text).dbm
    if (text := _line(talk.value("AT+CSCA?", "+CSCA:"), "+CSCA:")) is not None:
        with contextlib.suppress(ATParseError):
            smsc = parse_csca(text).address or None
    if (text := _line(talk.value("AT+CPMS?", "+CPMS:"), "+CPMS:")) is not None:
        try:
            usage = parse_cpms(text)
        except ATParseError:
            usage = ()
        if usage:
            storage, used, total = usage[0].memory, usage[0].used, usage[0].total
    return ProbeReport(
        port,
        manufacturer,
        model,
        imei,
        sim,
        operator,
        registration,
        signal,
        smsc,
        storage,
        used,
        total,
    )


def _show(value: object) -> str:
    return "-" if value is None else str(value)


def _print_report(report: ProbeReport) -> None:
    storage = "-"
    if report.storage_used is not None:
        storage = f"{report.storage_used}/{report.storage_total} ({_show(report.storage)})"
    rows = [
        ("port", report.port),
        ("manufacturer", _show(report.manufacturer)),
        ("model", _show(report.model)),
        ("IMEI", _show(report.imei)),
        ("SIM", _show(report.sim)),
        ("operator", _show(report.operator)),
        ("registration", _show(report.registration)),
        ("signal", "-" if report.signal_dbm is None else f"{report.signal_dbm} dBm"),
        ("SMSC", _show(report.smsc)),
        ("storage", storage),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<14}{value}")


@click.group()
def modem() -> None:
    """Probe and list GSM modems."""


@modem.command("probe")
@click.argument("port")
@click.option("--baud", default=DEFAULT_BAUDRATE, show_default=True, help="Serial speed.")
@click.option("--pin-env", metavar="VAR", help="Environment variable holding the SIM PIN.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def probe_cmd(port: str, baud: int, pin_env: str | None, as_json: bool) -> None:
    """Ask the modem on PORT (a device path or a pyserial URL) what it is."""
    pin = None
    if pin_env is not None:
        pin = os.environ.get(pin_env)
        if not pin:
            raise click.ClickException(f"the environment variable {pin_env} is not set")
    try:
        report = probe_port(port, baudrate=baud, pin=pin)
    except ProbeError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
    else:
        _print_report(report)


# -- list ------------------------------------------------------------------------


def _configured(config_file: Path) -> tuple[list[Mapping[str, Any]], Path]:
    try:
        document = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot read {config_file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.ClickException(f"{config_file}: {exc}") from None
    gateway = document.get("gateway", {})
    state_dir = (
        Path(str(gateway.get("state_dir", "var"))) if isinstance(gateway, dict) else Path("var")
    )
    if not state_dir.is_absolute():
        state_dir = config_file.parent / state_dir
    modems = document.get("modems", [])
    if not isinstance(modems, list):
        raise click.ClickException(f"{config_file}: [[modems]] must be an array of tables")
    return [m for m in modems if isinstance(m, dict)], state_dir


@modem.command("list")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG_FILE,
    envvar=CONFIG_ENV_VAR,
    show_default=True,
    help="The configuration file ([[modems]] tables).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(config_file: Path, as_json: bool) -> None:
    """Show each configured modem, with its live state while the daemon runs."""
    modems, state_dir = _configured(config_file)
    state = read_state(state_dir / STATE_FILE_NAME)
    live: dict[str, Mapping[str, Any]] = {}
    if state is not None:
        written = state.get("written_at")
        if isinstance(written, int | float) and time.time() - written <= STALE_AFTER:
            for entry in state.get("modems", ()):
                if isinstance(entry, dict):
                    live[str(entry.get("name"))] = entry
    rows = []
    for table in modems:
        name = str(table.get("name", "?"))
        entry = live.get(name)
        rows.append(
            {
                "name": name,
                "port": str(table.get("port", "-")),
                "own_number": table.get("own_number"),
                "live": entry is not None,
                "state": entry.get("state") if entry else "not running",
                "detail": entry.get("detail") if entry else None,
                "signal_dbm": entry.get("signal_dbm") if entry else None,
                "sent": entry.get("sent") if entry else None,
                "failed": entry.get("failed") if entry else None,
                "received": entry.get("received") if entry else None,
                "sent_today": entry.get("sent_today") if entry else None,
                "daily_limit": table.get("daily_limit", 0),
                "messages_per_minute": table.get("messages_per_minute", 0),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no [[modems]] in {config_file}")
        return
    header = (
        f"{'NAME':<12}{'PORT':<28}{'STATE':<14}{'SIGNAL':>8}"
        f"{'SENT':>7}{'FAILED':>7}{'RECV':>6}{'TODAY':>10}"
    )
    click.echo(header)
    for row in rows:
        signal = "-" if row["signal_dbm"] is None else f"{row['signal_dbm']}dBm"
        limit = row["daily_limit"] or "-"
        today = "-" if row["sent_today"] is None else f"{row['sent_today']}/{limit}"
        click.echo(
            f"{row['name']:<12}{row['port']:<28}{row['state']:<14}{signal:>8}"
            f"{_show(row['sent']):>7}{_show(row['failed']):>7}{_show(row['received']):>6}{today:>10}"
        )
