"""``[[modems]]``: the GSM modems a modem pool sends through, one table per modem.

A modem is a serial port with a SIM behind it. The port is a device path
(``/dev/ttyUSB0``; better ``/dev/serial/by-id/...``, which survives
re-plugging) or a pyserial URL: ``socket://host:port`` (a raw TCP serial
server), ``rfc2217://host:port`` (a telnet COM port server), ``loop://``
(pyserial's loopback, for tests) or ``spy://DEVICE`` (a device with every
byte written to a trace). The port is checked by reading it, as pyserial
would, without opening anything: a configuration is checked on machines
that have no modem plugged in.

Modems are grouped into pools by ``[[connectors]]`` tables of ``type =
"modem_pool"`` (:class:`~smppd.config.ModemPoolConnector`); which modem
belongs to which pool, and that each exists, is checked across the file in
:mod:`smppd.config._references`.

The SIM PIN is a secret: it is never printed, not in errors, not in
``smppd config check``, not in a ``repr``. Write it as
``pin = "${credential:sim-pin-1}"`` so that it is not in the file either.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Annotated, Final, Literal, Self

import phonenumbers
from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from smppd.config._base import MAX_TIMER_SECONDS, Name, Section
from smppd.config._schema import Expect, Sensitive

# -- limits and defaults -----------------------------------------------------

# Rates a serial port and a modem's AT+IPR both offer (ITU-T V.250 §6.2.10
# leaves the list to the maker; these are the ones GSM modules document).
# USB modems (CDC-ACM) ignore the rate, any of these will do for them.
STANDARD_BAUDRATES: Final = (
    1_200,
    2_400,
    4_800,
    9_600,
    19_200,
    38_400,
    57_600,
    115_200,
    230_400,
    460_800,
    921_600,
)
DEFAULT_BAUDRATE: Final = 115_200
# Cheap adapters overrun without flow control; a pause between written
# chunks fixes that. More than a second per chunk would stall a PDU for
# longer than the modem's own prompt timeout.
MAX_WRITE_DELAY: Final = 1.0
DEFAULT_WRITE_DELAY: Final = 0.0
# Some modems need 50-100 ms between the "> " prompt and the PDU
# (PROTOCOL.md §4.2); the prompt itself times out after 5-10 s.
MAX_PROMPT_DELAY: Final = 5.0
DEFAULT_PROMPT_DELAY: Final = 0.0
# About 6-10 SMS a minute over circuit-switched signalling, about 30 over
# GPRS (PROTOCOL.md §4.2); operators' anti-spam limits per SIM bind sooner.
# Two a second is more than any modem sends.
DEFAULT_MESSAGES_PER_MINUTE: Final = 10
MAX_MESSAGES_PER_MINUTE: Final = 120
# 0 = no daily limit. Prepaid SIMs often allow a few hundred a day.
DEFAULT_DAILY_LIMIT: Final = 0
MAX_DAILY_LIMIT: Final = 1_000_000
# Storage is swept with AT+CMGL=4 at start and then at this interval (0:
# at start only), so a message whose +CMTI was lost is still read
# (PROTOCOL.md §4.3).
DEFAULT_SWEEP_INTERVAL: Final = 300.0
STORAGES: Final = ("SM", "ME", "MT")
DEFAULT_STORAGE: Final = "SM"
# ITU-T V.250 §5.2.4 asks a modem to take command lines of at least 40
# characters; GSM modules take a few hundred. Init commands are short.
MAX_AT_COMMAND_LENGTH: Final = 256
MAX_INIT_COMMANDS: Final = 32
# 3GPP TS 31.101 / GSM 02.17: a PIN has 4 to 8 digits.
PIN_PATTERN: Final = r"^[0-9]{4,8}$"
MAX_PORT: Final = 65_535
MAX_PORT_LENGTH: Final = 1_024

# Commands that would undo what the driver sets from a key of this table.
_OWNED_COMMANDS: Final = (
    ("+CMGF", "the driver speaks PDU mode (AT+CMGF=0) and sets it itself"),
    ("+CPIN=", 'give the PIN as pin = "${credential:NAME}": it is never printed then'),
    ("+CSCA=", "give the SMSC number as smsc"),
    ("+CPMS=", 'choose the message storage with storage ("SM", "ME" or "MT")'),
)
_URL_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TTY_NAME: Final = re.compile(r"^(tty[A-Za-z]+[0-9]*|serial/.+)$")
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")
# What pyserial accepts after "?" for each URL scheme (serial.urlhandler):
# option -> whether it takes a value.
_URL_OPTIONS: Final[dict[str, dict[str, bool]]] = {
    "socket": {"logging": True},
    "rfc2217": {"logging": True, "ign_set_control": False, "poll_modem": False, "timeout": True},
    "loop": {"logging": True},
    "spy": {"file": True, "color": False, "raw": False, "all": False},
}
PORT_SCHEMES: Final = tuple(_URL_OPTIONS)


# -- ports -------------------------------------------------------------------


_DEVICE_EXAMPLE: Final = (
    'a device is named from the root, e.g. "/dev/ttyUSB0" or "/dev/serial/by-id/..."'
)


def _check_absolute(path: str, what: str, example: str = _DEVICE_EXAMPLE) -> None:
    # Relative to what? The daemon's working directory is the service
    # manager's choice, and a device has one name from the root anyway.
    if not os.path.isabs(path):
        hint = f' (did you mean "/dev/{path}"?)' if _TTY_NAME.fullmatch(path) else ""
        raise ValueError(f'{what} "{path}" is not an absolute path{hint}; {example}')


def _check_options(scheme: str, query: str) -> None:
    allowed = _URL_OPTIONS[scheme]
    # Read as pyserial reads it: "a=1&b" is a = "1" and b (a flag).
    for option, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        takes_value = allowed.get(option)
        if takes_value is None:
            known = ", ".join(allowed)
            raise ValueError(f'{scheme}:// has no option "{option}" (its options: {known})')
        if takes_value and not value:
            raise ValueError(f'{scheme}:// option "{option}" needs a value ({option}=...)')
        if option == "logging" and value not in _LOG_LEVELS:
            raise ValueError(f"{scheme}:// logging is one of {', '.join(_LOG_LEVELS)}")
        if option == "timeout" and not _positive_number(value):
            raise ValueError(f"{scheme}:// timeout is a number of seconds greater than 0")
        if option == "file":
            _check_absolute(
                value,
                "the spy:// trace file",
                'write it from the root, e.g. "/var/log/smppd/usb1.trace"',
            )


def _positive_number(text: str) -> bool:
    try:
        return 0 < float(text) < float("inf")
    except ValueError:
        return False


def _check_host_port(scheme: str, parts: urllib.parse.SplitResult) -> None:
    example = f'"{scheme}://192.0.2.10:4001"'
    if not parts.hostname:
        raise ValueError(f"a {scheme}:// port needs a host and a port number, e.g. {example}")
    if parts.path not in ("", "/"):
        raise ValueError(f"a {scheme}:// port is host:port only, e.g. {example}")
    try:
        number = parts.port
    except ValueError:
        number = None
    if number is None or not 1 <= number <= MAX_PORT:
        raise ValueError(
            f"a {scheme}:// port needs a TCP port number from 1 to {MAX_PORT}, e.g. {example}"
        )


def check_port(value: str) -> str:
    """A modem's ``port`` as pyserial will read it; raise ValueError saying what is wrong."""
    if not value or len(value) > MAX_PORT_LENGTH or not value.isprintable():
        raise ValueError(
            f"expected a device path or a URL of at most {MAX_PORT_LENGTH} printable characters"
        )
    if "://" not in value:
        _check_absolute(value, "the device")
        return value
    match = _URL_SCHEME.match(value)
    scheme = match.group(1).lower() if match else ""
    if scheme not in _URL_OPTIONS:
        shown = f'"{scheme}://"' if scheme else "this URL"
        raise ValueError(
            f"{shown} is not a port smppd opens (expected a device path or one of"
            f" {', '.join(s + '://' for s in PORT_SCHEMES)})"
        )
    parts = urllib.parse.urlsplit(value)
    if parts.fragment:
        raise ValueError(f'a {scheme}:// port has no "#" part')
    if scheme in ("socket", "rfc2217"):
        _check_host_port(scheme, parts)
    elif scheme == "loop":
        if parts.netloc or parts.path:
            raise ValueError('loop:// takes no host or path: write "loop://"')
    else:
        # pyserial's spy opens netloc + path as a device (spy:///dev/ttyUSB0).
        _check_absolute(parts.netloc + parts.path, "the spy:// device")
    _check_options(scheme, parts.query)
    return value


def is_spy(port: str) -> bool:
    """A ``spy://`` port: every byte written and read goes to a trace."""
    return port[:6].lower() == "spy://"


# -- values --------------------------------------------------------------------


def _check_baudrate(value: int) -> int:
    if value not in STANDARD_BAUDRATES:
        raise ValueError(
            f"{value} is not a standard rate (one of"
            f" {', '.join(str(rate) for rate in STANDARD_BAUDRATES)})"
        )
    return value


def check_e164(value: str) -> str:
    """``+`` and country code and number, of a length that country uses."""
    if not re.fullmatch(r"\+[1-9][0-9]{1,14}", value):
        raise ValueError(
            f'"{value}" is not an E.164 number ("+", the country code and the number,'
            ' at most 15 digits, e.g. "+46701234567")'
        )
    try:
        number = phonenumbers.parse(value)
    except phonenumbers.NumberParseException:
        raise ValueError(f'"{value}" does not start with a country code in use') from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        length = _LENGTH_WORDS.get(reason, "of a length not in use")
        raise ValueError(f'"{value}" is not a possible number: {length} for +{number.country_code}')
    return value


_LENGTH_WORDS: Final = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
}


def _check_at_command(value: str) -> str:
    if not value.isascii() or not value.isprintable():
        # CR ends a command line and Ctrl-Z sends a PDU: neither belongs here.
        raise ValueError("an AT command is printable ASCII on one line (no CR, LF or Ctrl-Z)")
    if value[:2].upper() != "AT" or len(value) > MAX_AT_COMMAND_LENGTH:
        raise ValueError(
            f'expected an AT command such as "AT+CGSMS=3" (starting with "AT", at most'
            f" {MAX_AT_COMMAND_LENGTH} characters)"
        )
    upper = value.upper()
    for command, reason in _OWNED_COMMANDS:
        if command in upper:
            raise ValueError(f"AT{command.rstrip('=')} is not for init_extra: {reason}")
    return value


def _cross_field(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("cross_field", message, {"key": key})


Port = Annotated[
    str,
    Expect(
        'a device path such as "/dev/ttyUSB0" or a URL such as "socket://192.0.2.10:4001"'
        ' or "rfc2217://192.0.2.10:4001"'
    ),
    AfterValidator(check_port),
]
Pin = Annotated[
    str,
    Sensitive.SECRET,
    Field(pattern=PIN_PATTERN),
    Expect('a SIM PIN of 4 to 8 digits in quotes, best "${credential:NAME}"'),
]
E164 = Annotated[
    str,
    Expect('an E.164 number such as "+46701234567"'),
    AfterValidator(check_e164),
]
AtCommand = Annotated[
    str,
    Expect('an AT command such as "AT+CGSMS=3"'),
    AfterValidator(_check_at_command),
]


class ModemConfig(Section):
    """One ``[[modems]]`` table: a serial port, its line settings and the SIM behind it."""

    name: Name
    port: Port
    baudrate: Annotated[
        int,
        Expect("a standard rate (" + ", ".join(str(rate) for rate in STANDARD_BAUDRATES) + ")"),
        AfterValidator(_check_baudrate),
    ] = DEFAULT_BAUDRATE
    rtscts: bool = False
    xonxoff: bool = False
    write_delay: Annotated[float, Field(ge=0, le=MAX_WRITE_DELAY)] = DEFAULT_WRITE_DELAY
    prompt_delay: Annotated[float, Field(ge=0, le=MAX_PROMPT_DELAY)] = DEFAULT_PROMPT_DELAY
    # Kept out of repr() so that logging a loaded configuration cannot leak it.
    pin: Pin | None = Field(default=None, repr=False)
    own_number: E164 | None = None
    smsc: E164 | None = None
    messages_per_minute: Annotated[int, Field(ge=1, le=MAX_MESSAGES_PER_MINUTE)] = (
        DEFAULT_MESSAGES_PER_MINUTE
    )
    daily_limit: Annotated[int, Field(ge=0, le=MAX_DAILY_LIMIT)] = DEFAULT_DAILY_LIMIT
    init_extra: Annotated[
        tuple[AtCommand, ...],
        Field(max_length=MAX_INIT_COMMANDS),
        Expect(f'a list of at most {MAX_INIT_COMMANDS} AT commands, e.g. ["AT+CGSMS=3"]'),
    ] = ()
    storage: Literal["SM", "ME", "MT"] = DEFAULT_STORAGE
    sweep_interval: Annotated[
        float,
        Field(ge=0, le=MAX_TIMER_SECONDS),
        Expect(f"a number of seconds from 0 (at start only) to {MAX_TIMER_SECONDS:g}"),
    ] = DEFAULT_SWEEP_INTERVAL

    @model_validator(mode="after")
    def _no_pin_in_a_trace(self) -> Self:
        if self.pin is not None and is_spy(self.port):
            raise _cross_field(
                "port",
                "spy:// writes every byte sent to the modem to a trace, the PIN in AT+CPIN"
                " included: unlock the SIM (AT+CLCK) or remove pin while tracing",
            )
        return self

    @property
    def uses_url(self) -> bool:
        """True for a pyserial URL, False for a device path."""
        return "://" in self.port
