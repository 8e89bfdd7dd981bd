"""[[modems]] and modem pool connectors: every key checked with file, line and key,
pools and routes resolved against what exists, the SIM PIN never shown."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from modem.driver import ModemSettings
from modem.pool import DEFAULT_REPORT_WINDOW, DEFAULT_WINDOW, STATE_FILE_NAME, ModemPoolSettings
from smppd.cli import main
from smppd.config import (
    Config,
    ConfigError,
    ModemConfig,
    ModemPoolConnector,
    build_normaliser,
    build_outbound_router,
    load_config,
    loads_config,
    modem_pool_settings,
    modem_settings,
)
from smppd.config._connectors import DEFAULT_POOL_WINDOW
from smppd.config._connectors import DEFAULT_REPORT_WINDOW as CONFIG_REPORT_WINDOW
from smppd.config._modems import STANDARD_BAUDRATES, check_port
from smppd.routing import AddressKind
from smppd.routing.address import Address
from smppd.routing.outbound import MessageClass, RouteDecision, Target, TargetKind
from smppd.text.policy import LongMessageMode

ROOT = Path(__file__).resolve().parent.parent
NO_ENV: Mapping[str, str] = {}
# Distinctive enough that finding it anywhere in output means it leaked.
PIN = "73914682"
OTHER_PIN = "46028"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems(text: str, env: Mapping[str, str] = NO_ENV) -> list[str]:
    Path("smppd.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config("smppd.toml", env=env)
    return [str(problem) for problem in caught.value.problems]


def load(text: str, directory: Path, env: Mapping[str, str] = NO_ENV) -> Config:
    path = directory / "smppd.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=env)


def modem(*lines: str, name: str = "usb1", port: str = "/dev/ttyUSB0") -> str:
    """A [[modems]] table with ``lines`` from line 4 on."""
    return "\n".join(["[[modems]]", f'name = "{name}"', f'port = "{port}"', *lines]) + "\n"


def pool(*lines: str, name: str = "gsm", modems: str = '["usb1"]') -> str:
    """A modem pool connector with ``lines`` from line 4 on (after its type)."""
    return (
        "\n".join(
            ["[[connectors]]", f'name = "{name}"', 'type = "modem_pool"', *lines]
            + ([] if any(line.startswith("modems") for line in lines) else [f"modems = {modems}"])
        )
        + "\n"
    )


def credentials(directory: Path, **pins: str) -> dict[str, str]:
    """A systemd credentials directory holding ``pins`` (name -> PIN)."""
    creds = directory / "creds"
    creds.mkdir(exist_ok=True)
    for name, value in pins.items():
        (creds / name.replace("_", "-")).write_text(value + "\n", encoding="utf-8")
    return {"CREDENTIALS_DIRECTORY": str(creds)}


# -- every key of a modem: the error names file, line 4 and key -----------------------

MODEM_ERRORS = [
    (
        "baudrate = 115201",
        "baudrate: 115201 is not a standard rate (one of 1200, 2400, 4800,"
        " 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)",
    ),
    (
        'baudrate = "115200"',
        "baudrate: expected a standard rate (1200, 2400, 4800, 9600, 19200,"
        ' 38400, 57600, 115200, 230400, 460800, 921600), got "115200"',
    ),
    ('rtscts = "yes"', 'rtscts: expected true or false, got "yes"'),
    ("xonxoff = 1", "xonxoff: expected true or false, got 1"),
    ("write_delay = -0.1", "write_delay: expected a number from 0 to 1, got -0.1"),
    ("write_delay = 2", "write_delay: expected a number from 0 to 1, got 2"),
    ("prompt_delay = 6.0", "prompt_delay: expected a number from 0 to 5, got 6.0"),
    (
        'pin = "123"',
        'pin: expected a SIM PIN of 4 to 8 digits in quotes, best "${credential:NAME}", got ***',
    ),
    (
        'pin = "123456789"',
        'pin: expected a SIM PIN of 4 to 8 digits in quotes, best "${credential:NAME}", got ***',
    ),
    (
        'pin = "12a4"',
        'pin: expected a SIM PIN of 4 to 8 digits in quotes, best "${credential:NAME}", got ***',
    ),
    (
        "pin = 1234",
        'pin: expected a SIM PIN of 4 to 8 digits in quotes, best "${credential:NAME}", got ***',
    ),
    (
        'own_number = "0701740605"',
        'own_number: "0701740605" is not an E.164 number ("+", the'
        ' country code and the number, at most 15 digits, e.g. "+46701234567")',
    ),
    (
        'own_number = "+4670174"',
        'own_number: "+4670174" is not a possible number: too short for +46',
    ),
    (
        'own_number = "+3545551234567"',
        'own_number: "+3545551234567" is not a possible number: too long for +354',
    ),
    ('smsc = "+999123456"', 'smsc: "+999123456" does not start with a country code in use'),
    (
        "smsc = 46701740699",
        'smsc: expected an E.164 number such as "+46701234567", got 46701740699',
    ),
    ("messages_per_minute = 0", "messages_per_minute: expected an integer from 1 to 120, got 0"),
    (
        "messages_per_minute = 121",
        "messages_per_minute: expected an integer from 1 to 120, got 121",
    ),
    (
        "messages_per_minute = 10.5",
        "messages_per_minute: expected an integer from 1 to 120, got 10.5",
    ),
    ("daily_limit = -1", "daily_limit: expected an integer from 0 to 1000000, got -1"),
    (
        'init_extra = "AT+CGSMS=3"',
        "init_extra: expected a list of at most 32 AT commands, e.g."
        ' ["AT+CGSMS=3"], got "AT+CGSMS=3"',
    ),
    (
        'init_extra = ["ATI", "+CGSMS=3"]',
        "init_extra[1]: expected an AT command such as"
        ' "AT+CGSMS=3" (starting with "AT", at most 256 characters)',
    ),
    (
        'init_extra = ["AT+CMGF=1"]',
        "init_extra[0]: AT+CMGF is not for init_extra: the driver"
        " speaks PDU mode (AT+CMGF=0) and sets it itself",
    ),
    (
        'init_extra = ["AT+CSCA=\\"+46701740699\\""]',
        "init_extra[0]: AT+CSCA is not for init_extra: give the SMSC number as smsc",
    ),
    (
        'init_extra = ["AT+CPMS=\\"ME\\""]',
        "init_extra[0]: AT+CPMS is not for init_extra:"
        ' choose the message storage with storage ("SM", "ME" or "MT")',
    ),
    (
        'init_extra = ["AT\\u001a"]',
        "init_extra[0]: an AT command is printable ASCII on one line (no CR, LF or Ctrl-Z)",
    ),
    ('storage = "SIM"', 'storage: expected one of "SM", "ME", "MT", got "SIM"'),
    ('storage = "sm"', 'storage: expected one of "SM", "ME", "MT", got "sm"'),
    (
        "sweep_interval = -1",
        "sweep_interval: expected a number of seconds from 0 (at start only) to 86400, got -1",
    ),
    ("baud = 9600", 'baud: unknown key (did you mean "baudrate"?)'),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    MODEM_ERRORS,
    ids=[f"{case[0].split(' ')[0]}-{index}" for index, case in enumerate(MODEM_ERRORS)],
)
def test_each_modem_key_is_checked_with_file_line_and_key(
    in_tmp: Path, line: str, expected: str
) -> None:
    assert problems(modem(line)) == [f"smppd.toml:4: modems[0].{expected}"]


PORT_ERRORS = [
    (
        'port = "ttyUSB0"',
        'port: the device "ttyUSB0" is not an absolute path (did you mean'
        ' "/dev/ttyUSB0"?); a device is named from the root, e.g. "/dev/ttyUSB0" or'
        ' "/dev/serial/by-id/..."',
    ),
    (
        'port = "dev/ttyACM0"',
        'port: the device "dev/ttyACM0" is not an absolute path; a device'
        ' is named from the root, e.g. "/dev/ttyUSB0" or "/dev/serial/by-id/..."',
    ),
    (
        'port = "tcp://127.0.0.1:4001"',
        'port: "tcp://" is not a port smppd opens (expected a'
        " device path or one of socket://, rfc2217://, loop://, spy://)",
    ),
    (
        'port = "socket://127.0.0.1"',
        "port: a socket:// port needs a TCP port number from 1 to"
        ' 65535, e.g. "socket://192.0.2.10:4001"',
    ),
    (
        'port = "socket://127.0.0.1:0"',
        "port: a socket:// port needs a TCP port number from 1 to"
        ' 65535, e.g. "socket://192.0.2.10:4001"',
    ),
    (
        'port = "rfc2217://127.0.0.1:70000"',
        "port: a rfc2217:// port needs a TCP port number"
        ' from 1 to 65535, e.g. "rfc2217://192.0.2.10:4001"',
    ),
    (
        'port = "socket://:4001"',
        'port: a socket:// port needs a host and a port number, e.g. "socket://192.0.2.10:4001"',
    ),
    (
        'port = "socket://127.0.0.1:4001/tty"',
        'port: a socket:// port is host:port only, e.g. "socket://192.0.2.10:4001"',
    ),
    (
        'port = "socket://127.0.0.1:4001?logging=loud"',
        "port: socket:// logging is one of debug, info, warning, error",
    ),
    (
        'port = "rfc2217://127.0.0.1:4001?poll"',
        'port: rfc2217:// has no option "poll" (its'
        " options: logging, ign_set_control, poll_modem, timeout)",
    ),
    (
        'port = "rfc2217://127.0.0.1:4001?timeout=-3"',
        "port: rfc2217:// timeout is a number of seconds greater than 0",
    ),
    ('port = "loop://x"', 'port: loop:// takes no host or path: write "loop://"'),
    (
        'port = "spy://ttyUSB0"',
        'port: the spy:// device "ttyUSB0" is not an absolute path (did'
        ' you mean "/dev/ttyUSB0"?); a device is named from the root, e.g. "/dev/ttyUSB0" or'
        ' "/dev/serial/by-id/..."',
    ),
    (
        'port = "spy:///dev/ttyUSB0?file=trace.txt"',
        'port: the spy:// trace file "trace.txt" is not an absolute path;'
        ' write it from the root, e.g. "/var/log/smppd/usb1.trace"',
    ),
    (
        "port = 0",
        'port: expected a device path such as "/dev/ttyUSB0" or a URL such as'
        ' "socket://192.0.2.10:4001" or "rfc2217://192.0.2.10:4001", got 0',
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    PORT_ERRORS,
    ids=[f"port-{index}" for index in range(len(PORT_ERRORS))],
)
def test_each_kind_of_bad_port_says_what_is_wrong(in_tmp: Path, line: str, expected: str) -> None:
    text = '[[modems]]\nname = "usb1"\n' + line + "\n"
    assert problems(text) == [f"smppd.toml:3: modems[0].{expected}"]


@pytest.mark.parametrize(
    "port",
    [
        "/dev/ttyUSB0",
        "/dev/serial/by-id/usb-HUAWEI_Technology_HUAWEI_Mobile-if00-port0",
        "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.2-port0",
        "socket://127.0.0.1:4001",
        "socket://[::1]:4001?logging=debug",
        "rfc2217://127.0.0.1:2217?ign_set_control&poll_modem&timeout=5",
        "RFC2217://127.0.0.1:2217",
        "loop://",
        "loop://?logging=info",
        "spy:///dev/ttyUSB0?file=/var/log/smppd/usb1.trace&raw",
    ],
)
def test_ports_pyserial_opens_are_accepted_as_written(tmp_path: Path, port: str) -> None:
    cfg = load(modem(port=port), tmp_path)
    assert cfg.modems[0].port == port


@pytest.mark.parametrize(
    "url",
    [
        "socket://127.0.0.1:4001",
        "rfc2217://127.0.0.1:2217?ign_set_control&poll_modem&timeout=2.5",
        "loop://",
    ],
)
def test_accepted_urls_are_read_by_pyserial_without_complaint(url: str) -> None:
    # pyserial's own URL readers (nothing is opened) agree with ours. No
    # logging= option here: pyserial would configure the root logger.
    check_port(url)
    port = serial.serial_for_url(url, do_not_open=True)
    port.from_url(url)


@given(st.integers(min_value=1, max_value=65_535), st.sampled_from(["socket", "rfc2217"]))
def test_every_tcp_port_number_is_accepted_for_serial_servers(number: int, scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{number}"
    assert check_port(url) == url


@given(st.integers(min_value=1, max_value=4_000_000))
def test_only_standard_baudrates_are_accepted(rate: int) -> None:
    text = modem(f"baudrate = {rate}")
    if rate in STANDARD_BAUDRATES:
        assert loads_config(text, env=NO_ENV).modems[0].baudrate == rate
    else:
        with pytest.raises(ConfigError, match=r"modems\[0\]\.baudrate: \d+ is not a standard"):
            loads_config(text, env=NO_ENV)


def test_a_modem_needs_a_name_and_a_port(in_tmp: Path) -> None:
    text = '[[modems]]\nbaudrate = 9600\n[[modems]]\nname = "b"\n' + modem(name="usb 1")
    assert problems(text) == [
        "smppd.toml:1: modems[0].name: required key is missing",
        "smppd.toml:1: modems[0].port: required key is missing",
        "smppd.toml:3: modems[1].port: required key is missing",
        'smppd.toml:6: modems[2].name: expected a name (letters, digits, ".", "_" and "-";'
        ' at most 63 characters), got "usb 1"',
    ]


def test_a_pin_is_refused_on_a_port_that_traces_every_byte(in_tmp: Path) -> None:
    text = modem(f'pin = "{PIN}"', port="spy:///dev/ttyUSB0")
    assert problems(text) == [
        "smppd.toml:3: modems[0].port: spy:// writes every byte sent to the modem to a trace,"
        " the PIN in AT+CPIN included: unlock the SIM (AT+CLCK) or remove pin while tracing"
    ]


def test_a_modem_loads_with_its_defaults(tmp_path: Path) -> None:
    (loaded,) = load(modem(), tmp_path).modems
    assert loaded == ModemConfig(name="usb1", port="/dev/ttyUSB0")
    assert (loaded.baudrate, loaded.messages_per_minute, loaded.daily_limit) == (115_200, 10, 0)
    assert (loaded.storage, loaded.sweep_interval, loaded.pin, loaded.init_extra) == (
        "SM",
        300.0,
        None,
        (),
    )


# -- modem pool connectors --------------------------------------------------------------

POOL_ERRORS = [
    (
        "modems = []",
        "modems: expected a non-empty list of at most 256 modem names ([[modems]]"
        " name), got an empty array",
    ),
    (
        'modems = "usb1"',
        "modems: expected a non-empty list of at most 256 modem names ([[modems]]"
        ' name), got "usb1"',
    ),
    (
        'modems = ["usb 1"]',
        'modems[0]: expected a name (letters, digits, ".", "_" and "-"; at'
        ' most 63 characters), got "usb 1"',
    ),
    (
        'long_messages = "sar"',
        'long_messages: expected "udh8" or "udh16": a modem ties parts'
        ' together with a UDH ("sar" and "payload" are SMPP TLVs), got "sar"',
    ),
    (
        'dcs0 = "latin1"',
        'dcs0: expected "gsm7": a modem sends data_coding 0 as the GSM 7-bit'
        ' alphabet, got "latin1"',
    ),
    ("status_reports = 1", "status_reports: expected true or false, got 1"),
    ("window = 0", "window: expected an integer from 1 to 16, got 0"),
    (
        "report_window = 0",
        "report_window: expected a number of seconds greater than 0 and at most 2592000, got 0",
    ),
    ("max_parts = 0", "max_parts: expected an integer from 1 to 255, got 0"),
    (
        'national_languages = ["klingon"]',
        'national_languages[0]: no national language table "klingon"',
    ),
    ("rate = 10", "rate: unknown key"),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    POOL_ERRORS,
    ids=[f"{case[0].split(' ')[0]}-{index}" for index, case in enumerate(POOL_ERRORS)],
)
def test_each_pool_key_is_checked_with_file_line_and_key(
    in_tmp: Path, line: str, expected: str
) -> None:
    found = problems(modem() + pool(line))
    assert len(found) == 1
    assert found[0].startswith(f"smppd.toml:7: connectors[0].{expected}")


def test_a_pool_without_modems_says_the_key_is_missing(in_tmp: Path) -> None:
    assert problems('[[connectors]]\nname = "gsm"\ntype = "modem_pool"\n') == [
        "smppd.toml:1: connectors[0].modems: required key is missing"
    ]


def test_a_pool_loads_with_text_settings_of_a_modem(tmp_path: Path) -> None:
    cfg = load(modem() + pool('national_languages = ["turkish"]', "max_parts = 4"), tmp_path)
    (gsm,) = cfg.connectors
    assert isinstance(gsm, ModemPoolConnector)
    assert (gsm.modems, gsm.status_reports, gsm.window) == (("usb1",), True, 2)
    policy = gsm.text_policy()
    assert (policy.max_parts, policy.national_languages) == (4, ("turkish",))
    assert policy.long_message is LongMessageMode.UDH8
    assert gsm.target_kind is TargetKind.MODEM_POOL
    assert cfg.modem_pools == (gsm,)
    assert cfg.pool_of("usb1") is gsm
    assert cfg.modem("usb1").port == "/dev/ttyUSB0"


# -- cross references: pool -> modem, route -> pool -----------------------------------------

TWO_MODEMS = modem() + modem(name="usb2", port="/dev/ttyUSB1")  # lines 1-6

REFERENCE_ERRORS = [
    pytest.param(
        TWO_MODEMS + pool('modems = ["ubs1"]'),
        [
            'smppd.toml:10: connectors[0].modems[0]: modem "ubs1" is not defined'
            ' (did you mean "usb1"?)'
        ],
        id="unknown-modem-suggested",
    ),
    pytest.param(
        TWO_MODEMS + pool('modems = ["lte-a"]'),
        [
            'smppd.toml:10: connectors[0].modems[0]: modem "lte-a" is not defined'
            ' (modems: "usb1", "usb2")'
        ],
        id="unknown-modem-listed",
    ),
    pytest.param(
        pool(),
        [
            'smppd.toml:4: connectors[0].modems[0]: modem "usb1" is not defined'
            " (no modems are configured: add a [[modems]] table for it)"
        ],
        id="no-modems-at-all",
    ),
    pytest.param(
        TWO_MODEMS + pool('modems = ["usb1", "usb2", "usb1"]'),
        ['smppd.toml:10: connectors[0].modems[2]: "usb1" is listed twice in this pool'],
        id="listed-twice",
    ),
    pytest.param(
        TWO_MODEMS + pool('modems = ["usb1", "usb2"]') + pool(name="gsm2", modems='["usb2"]'),
        [
            'smppd.toml:14: connectors[1].modems[0]: modem "usb2" is already in modem pool "gsm"'
            " (connectors[0]): a modem belongs to one pool"
        ],
        id="modem-in-two-pools",
    ),
    pytest.param(
        modem() + modem(port="/dev/ttyUSB1") + pool(),
        ['smppd.toml:5: modems[1].name: "usb1" is already the name of modems[0]'],
        id="modem-name-twice",
    ),
    pytest.param(
        modem() + modem(name="usb2") + pool(),
        [
            'smppd.toml:6: modems[1].port: "/dev/ttyUSB0" is already the port of modems[0]:'
            " one port, one modem"
        ],
        id="port-twice",
    ),
    pytest.param(
        modem() + pool() + '[[connectors]]\nname = "gsm"\ntype = "sim"\n',
        ['smppd.toml:9: connectors[1].name: "gsm" is already the name of connectors[0]'],
        id="pool-name-is-a-connector-name",
    ),
    pytest.param(
        modem() + pool() + '[[routes]]\nname = "r"\nconnectors = ["modem_pool:gms"]\n',
        [
            'smppd.toml:10: routes[0].connectors[0]: modem pool "gms" is not defined'
            ' (did you mean "gsm"?)'
        ],
        id="route-to-unknown-pool-suggested",
    ),
    pytest.param(
        modem() + pool() + '[[routes]]\nname = "r"\nconnectors = ["gsm"]\n',
        [
            'smppd.toml:10: routes[0].connectors[0]: connector "gsm" is not defined'
            ' ("gsm" is a modem pool: write "modem_pool:gsm")'
        ],
        id="route-to-pool-without-prefix",
    ),
    pytest.param(
        modem()
        + pool()
        + '[[connectors]]\nname = "demo"\ntype = "sim"\n'
        + '[[routes]]\nname = "r"\nfailover = [["modem_pool:demo"], ["modem_pool:gsm"]]\n',
        [
            'smppd.toml:13: routes[0].failover[0][0]: modem pool "demo" is not defined'
            ' ("demo" is a connector: write "demo")'
        ],
        id="route-to-connector-as-pool",
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFERENCE_ERRORS)
def test_cross_references_are_checked_with_suggestions(
    in_tmp: Path, text: str, expected: list[str]
) -> None:
    assert problems(text) == expected


def test_references_are_checked_in_the_same_pass_as_other_errors(in_tmp: Path) -> None:
    text = modem("baudrate = 1") + pool('modems = ["usb2"]') + "[server]\nwindow = 0\n"
    assert problems(text) == [
        "smppd.toml:4: modems[0].baudrate: 1 is not a standard rate (one of 1200, 2400, 4800,"
        " 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)",
        'smppd.toml:8: connectors[0].modems[0]: modem "usb2" is not defined (did you mean "usb1"?)',
        "smppd.toml:10: server.window: expected an integer from 1 to 10000, got 0",
    ]


def test_modem_names_from_the_environment_are_neither_quoted_nor_suggested(in_tmp: Path) -> None:
    text = modem(name="${MODEM}") + pool('modems = ["usb-x"]')
    assert problems(text, env={"MODEM": "usb-1"}) == [
        'smppd.toml:7: connectors[0].modems[0]: modem "usb-x" is not defined'
    ]


def test_each_loopback_port_is_a_port_of_its_own(tmp_path: Path) -> None:
    cfg = load(modem(port="loop://") + modem(name="usb2", port="loop://"), tmp_path)
    assert [m.port for m in cfg.modems] == ["loop://", "loop://"]


def test_a_modem_in_no_pool_is_allowed(tmp_path: Path) -> None:
    cfg = load(modem(), tmp_path)
    assert cfg.pool_of("usb1") is None
    assert cfg.modem_pools == ()


def test_a_route_through_a_pool_resolves_to_the_pool(tmp_path: Path) -> None:
    cfg = load(
        modem()
        + pool()
        + '[[connectors]]\nname = "carrier"\ntype = "sim"\n'
        + '[routing]\ndefault_region = "SE"\n'
        + '[[routes]]\nname = "r"\nfailover = [["carrier"], ["modem_pool:gsm"]]\n',
        tmp_path,
    )
    router = build_outbound_router(cfg)
    destination = build_normaliser(cfg).number("0701740605")
    decision = router.route_outbound("app", None, destination, None, lambda t: t.name == "gsm")
    assert isinstance(decision, RouteDecision)
    assert decision.target == Target("gsm", kind=TargetKind.MODEM_POOL)


# -- the PIN is never shown --------------------------------------------------------------


def test_a_pin_is_never_in_an_error(in_tmp: Path) -> None:
    for wrong in (f'pin = "{PIN}9"', f"pin = {PIN}", f'pin = "{PIN[:3]}"'):
        shown = "\n".join(problems(modem(wrong, "baudrate = 7")))
        assert "***" in shown
        assert PIN[:3] not in shown


def test_a_wrong_pin_from_a_credential_is_masked(in_tmp: Path) -> None:
    env = credentials(in_tmp, sim_pin_1="739")
    found = problems(modem('pin = "${credential:sim-pin-1}"'), env=env)
    assert found == [
        "smppd.toml:4: modems[0].pin: expected a SIM PIN of 4 to 8 digits in quotes, best"
        ' "${credential:NAME}", got ***'
    ]


def test_a_pin_is_read_from_a_credential_and_kept_out_of_reprs(tmp_path: Path) -> None:
    env = credentials(tmp_path, sim_pin_1=PIN)
    cfg = load(modem('pin = "${credential:sim-pin-1}"') + pool(), tmp_path, env=env)
    assert cfg.modems[0].pin == PIN
    assert cfg.redacted("modems[0].pin") == "***"
    for text in (repr(cfg), str(cfg), repr(cfg.modems[0]), repr(modem_settings(cfg))):
        assert PIN not in text


@given(st.from_regex(r"[0-9]{4,8}", fullmatch=True))
def test_any_valid_pin_is_accepted_and_shown_only_as_a_mask(pin: str) -> None:
    cfg = loads_config(modem(f'pin = "{pin}"'), env=NO_ENV)
    assert cfg.modems[0].pin == pin
    assert cfg.redacted("modems[0].pin") == "***"


def run_check(path: str, env: Mapping[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["config", "check", path], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_check_summarises_modems_and_pools_without_the_pin(in_tmp: Path) -> None:
    env = credentials(in_tmp, sim_pin_1=PIN)
    (in_tmp / "smppd.toml").write_text(
        modem(
            'pin = "${credential:sim-pin-1}"',
            'own_number = "+46701740605"',
            "messages_per_minute = 20",
            "daily_limit = 500",
            "rtscts = true",
            'storage = "ME"',
        )
        + modem(name="usb2", port="socket://127.0.0.1:4001")
        + modem("sweep_interval = 0", name="spare", port="/dev/ttyACM0")
        + pool('modems = ["usb1", "usb2"]', "status_reports = false", "max_parts = 4")
        + '[[routes]]\nname = "r"\nconnectors = ["modem_pool:gsm"]\n',
        encoding="utf-8",
    )
    code, out, err = run_check("smppd.toml", env=env)
    assert (code, err) == (0, "")
    assert PIN not in out
    rows = [row for row in out.splitlines() if row.startswith(("  connector", "  modem"))]
    assert rows == [
        "  connector gsm: modem pool of usb1, usb2 (no status reports); udh8, at most 4 parts,"
        " dcs 0 = gsm7",
        "  modem     usb1: /dev/ttyUSB0 (115200 baud, rtscts); +46701740605, SMSC of the SIM;"
        " 20 msg/min, at most 500 a day; PIN given; storage ME, swept every 300 s; in gsm",
        "  modem     usb2: socket://127.0.0.1:4001 (115200 baud); number unknown, SMSC of the"
        " SIM; 10 msg/min; no PIN; storage SM, swept every 300 s; in gsm",
        "  modem     spare: /dev/ttyACM0 (115200 baud); number unknown, SMSC of the SIM;"
        " 10 msg/min; no PIN; storage SM, swept at start; in no pool",
    ]
    assert "  route     r: any account, to any destination -> modem_pool:gsm" in out


def test_check_errors_never_print_the_pin(in_tmp: Path) -> None:
    (in_tmp / "smppd.toml").write_text(
        modem(f'pin = "{PIN}"', port="spy:///dev/ttyUSB0")
        + modem(f'pin = "{OTHER_PIN}x"', name="usb2", port="/dev/ttyUSB1"),
        encoding="utf-8",
    )
    code, out, err = run_check("smppd.toml")
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 3
    assert PIN not in err and OTHER_PIN not in err


# -- the builders: the modem driver's own settings ---------------------------------------------


def test_every_driver_setting_has_a_modem_key() -> None:
    driver = {f.name for f in dataclasses.fields(ModemSettings)}
    assert driver == set(ModemConfig.model_fields)


def test_defaults_agree_with_the_driver_where_the_driver_has_a_choice() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(ModemSettings)}
    configured = ModemConfig.model_fields
    # messages_per_minute: the driver's 0 means "no limit", which a SIM
    # never has; own_number: the driver spells "not known" as "".
    for name in fields.keys() - {"name", "port", "messages_per_minute", "own_number"}:
        assert configured[name].default == fields[name], name
    assert (DEFAULT_POOL_WINDOW, CONFIG_REPORT_WINDOW) == (DEFAULT_WINDOW, DEFAULT_REPORT_WINDOW)


def test_builder_makes_the_driver_settings_of_every_modem(tmp_path: Path) -> None:
    env = credentials(tmp_path, sim_pin_1=PIN)
    cfg = load(
        modem(
            'pin = "${credential:sim-pin-1}"',
            'own_number = "+46701740605"',
            'smsc = "+46701740699"',
            "baudrate = 9600",
            "rtscts = true",
            "write_delay = 0.05",
            "prompt_delay = 0.1",
            "messages_per_minute = 20",
            "daily_limit = 500",
            'init_extra = ["AT+CGSMS=3"]',
            'storage = "MT"',
            "sweep_interval = 120",
        )
        + modem(name="usb2", port="rfc2217://127.0.0.1:2217"),
        tmp_path,
        env=env,
    )
    assert modem_settings(cfg) == (
        ModemSettings(
            name="usb1",
            port="/dev/ttyUSB0",
            baudrate=9600,
            rtscts=True,
            xonxoff=False,
            write_delay=0.05,
            prompt_delay=0.1,
            pin=PIN,
            own_number="+46701740605",
            smsc="+46701740699",
            messages_per_minute=20,
            daily_limit=500,
            init_extra=("AT+CGSMS=3",),
            storage="MT",
            sweep_interval=120.0,
        ),
        ModemSettings(name="usb2", port="rfc2217://127.0.0.1:2217", messages_per_minute=10),
    )


def test_builder_makes_pool_settings_with_their_modems_in_pool_order(tmp_path: Path) -> None:
    cfg = load(
        TWO_MODEMS
        + modem(name="usb3", port="/dev/ttyUSB2")
        + pool('modems = ["usb2", "usb1"]', 'long_messages = "udh16"', "window = 1")
        + pool(name="lte", modems='["usb3"]'),
        tmp_path,
    )
    gsm, lte = modem_pool_settings(cfg)
    assert isinstance(gsm, ModemPoolSettings)
    assert [m.name for m in gsm.modems] == ["usb2", "usb1"]
    assert (gsm.long_message, gsm.window, gsm.report_window) == (
        LongMessageMode.UDH16,
        1,
        DEFAULT_REPORT_WINDOW,
    )
    assert [m.name for m in lte.modems] == ["usb3"]
    # Two pools, two state files in the state directory.
    assert gsm.state_path == tmp_path / "var" / "modems-gsm.json"
    assert lte.state_path == tmp_path / "var" / "modems-lte.json"


def test_a_single_pool_writes_the_state_file_smppd_modem_list_reads(tmp_path: Path) -> None:
    (only,) = modem_pool_settings(load(modem() + pool(), tmp_path))
    assert only.state_path == tmp_path / "var" / STATE_FILE_NAME


def test_loading_modems_imports_neither_twisted_nor_pyserial() -> None:
    probe = (
        "import sys, smppd.config as c\n"
        f"c.loads_config({modem() + pool()!r}, env={{}})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'twisted', 'serial', 'sqlalchemy', 'modem'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


# -- the shipped configurations ----------------------------------------------------------

SHIPPED_ENV = {
    "SMPPD_DATABASE_URL": "postgresql+psycopg://smppd:example@127.0.0.1:5432/smppd",
    "SMPPD_REDIS_PASSWORD": "example",
    "SMPPD_CARRIER_A_PASSWORD": "example",
    "SMPPD_CARRIER_B_PASSWORD": "example",
}


def test_the_default_configuration_has_no_modem(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "smppd.toml", env=NO_ENV)
    assert (cfg.modems, cfg.modem_pools) == ((), ())


def test_the_commented_modem_example_in_smppd_toml_loads(tmp_path: Path) -> None:
    text = (ROOT / "smppd.toml").read_text(encoding="utf-8")
    block = re.search(r"^# \[\[modems\]\]\n(?:#.*\n)+", text, re.MULTILINE)
    assert block is not None
    example = "".join(line[2:] + "\n" for line in block.group(0).splitlines())
    cfg = load(example, tmp_path, env=credentials(tmp_path, sim_pin_1="0000"))
    (usb1,) = cfg.modems
    (gsm,) = cfg.modem_pools
    assert gsm.modems == ("usb1",)
    # The keys it shows with their defaults really are the defaults.
    defaults = ModemConfig(name=usb1.name, port=usb1.port)
    for key in ModemConfig.model_fields.keys() - {"pin", "own_number", "smsc"}:
        assert getattr(usb1, key) == getattr(defaults, key), key


def test_the_production_example_fails_over_to_its_modems(tmp_path: Path) -> None:
    env = SHIPPED_ENV | credentials(tmp_path, sim_pin_1="1234", sim_pin_2="5678")
    cfg = load_config(ROOT / "config" / "production.toml", env=env)
    (pool_config,) = cfg.modem_pools
    assert pool_config.modems == ("usb1", "usb2")
    assert [m.pin for m in cfg.modems] == ["1234", "5678"]
    router = build_outbound_router(cfg)
    destination = build_normaliser(cfg).number("0701740605")
    decision = router.route_outbound(
        "shop",
        None,
        destination,
        MessageClass.TRANSACTIONAL,
        lambda target: target.name != "carrier-a",
    )
    assert isinstance(decision, RouteDecision)
    assert decision.route.name == "transactional-se"
    assert decision.target == Target(pool_config.name, kind=TargetKind.MODEM_POOL)
    abroad = router.match(
        "shop", None, Address(AddressKind.E164, "+4915112345678"), MessageClass.TRANSACTIONAL
    )
    assert getattr(abroad, "name", None) == "transactional"
    (settings,) = modem_pool_settings(cfg)
    assert [m.pin for m in settings.modems] == ["1234", "5678"]


def test_the_production_example_says_where_its_pins_come_from(tmp_path: Path) -> None:
    code, out, err = run_check(str(ROOT / "config" / "production.toml"), env=SHIPPED_ENV)
    assert (code, out) == (1, "")
    assert [line.split(": ", 1)[1] for line in err.splitlines()[:-1]] == [
        "modems[0].pin: credential sim-pin-1: CREDENTIALS_DIRECTORY is not set (systemd sets"
        " it for a service with LoadCredential=sim-pin-1:FILE; elsewhere use ${VARIABLE})",
        "modems[1].pin: credential sim-pin-2: CREDENTIALS_DIRECTORY is not set (systemd sets"
        " it for a service with LoadCredential=sim-pin-2:FILE; elsewhere use ${VARIABLE})",
    ]


def test_check_of_the_production_example_shows_its_modems_and_no_pin(tmp_path: Path) -> None:
    env = SHIPPED_ENV | credentials(tmp_path, sim_pin_1=PIN, sim_pin_2=OTHER_PIN)
    code, out, err = run_check(str(ROOT / "config" / "production.toml"), env=env)
    assert (code, err) == (0, "")
    assert PIN not in out and OTHER_PIN not in out
    modems = [row for row in out.splitlines() if row.startswith("  modem ")]
    assert len(modems) == 2
    assert all("PIN given" in row and row.endswith("in se-modems") for row in modems)
    assert "  connector se-modems: modem pool of usb1, usb2 (status reports requested)" in out
    assert "transactional-se: any account, to SE, transactional -> carrier-a; then" in out


def test_a_pool_gets_its_connectors_whole_text_policy_and_report_setting(
    tmp_path: Path,
) -> None:
    cfg = load(
        modem()
        + pool(
            "status_reports = false",
            "max_parts = 4",
            'national_languages = ["turkish"]',
            "transliterate = true",
        ),
        tmp_path,
    )
    (settings,) = modem_pool_settings(cfg)
    assert settings.status_reports is False
    assert settings.text_policy == cfg.connector("gsm").text_policy()
    assert settings.text_policy is not None
    assert settings.text_policy.max_parts == 4
    assert settings.text_policy.national_languages == ("turkish",)
    assert settings.text_policy.transliterate
