"""A GSM modem on a pseudo-terminal, for the driver's tests and benchmarks.

How this works
--------------
:class:`ModemEmulator` opens a pty pair. The slave side is what a driver opens
with pyserial (:attr:`ModemEmulator.device`, e.g. ``/dev/pts/7``); the
emulator keeps its own slave descriptor open too, so a driver closing and
reopening the port never hangs the line up. The master side is served by one
background thread: ``select()`` over the master, a wake-up pipe and a heap of
timers (prompt delay, send time, status reports, SIM busy, reboot). All state
lives behind one lock; the public methods (injection, reset, counters) take
it, change state and wake the thread, which owns every byte that goes out.

The modem is the TA side of 3GPP TS 27.007 / 27.005 in PDU mode, written
independently of the driver's AT engine so that the two check each other.
Its input is handled by mode::

    COMMAND       bytes build a line (echoed when ATE1); CR runs it
    AWAIT_PROMPT  AT+CMGS was accepted, "> " is not out yet: input is held
    PDU           hex digits until Ctrl-Z (send) or ESC (abort, OK)
    SENDING       the PDU is "on the air": input is held until +CMGS / +CMS ERROR
    REBOOTING     after a reset: input is lost until the banner

A command line is ``AT`` followed by basic commands (``Z``, ``E0``, ``&F``...)
and extended ones (``+CMGS=23``) separated by ``;``, each answered by a
handler from one table. Unsolicited result codes (+CMTI, +CMT, +CDSI, +CDS)
follow AT+CNMI: buffered while the modem is inside a command and sent once
its final result is out, kept in the TA while ``<mode>`` is 0.

Stored messages live in numbered slots of the "SM" memory (and "SR" for
status reports when configured). A full memory makes the next inbound
messages wait on the network side until a slot is deleted, as a real SIM
does. SMS-SUBMITs are decoded with ``modem.pdu``; the SMS-DELIVER and
SMS-STATUS-REPORT this side must *produce* are built here by
:func:`encode_deliver` / :func:`encode_status_report`, from ``modem.pdu``'s
user data and timestamp helpers.

Quirks of real modems (:class:`Quirks`) are switched on one by one: echo back
on after ATZ, a URC between a command's response and its final result,
+CMS ERROR 42 on every Nth +CMGS, a full memory at power-on, a reboot with a
banner every Nth command line, one SMS reported both directly and stored, a
prompt without its space, and the PDU echoed even with ATE0. A slow prompt is
:attr:`ModemConfig.prompt_delay`.

Time is real (``time.monotonic``): this is a test tool at the edge, driven
through a real serial port; tests keep the delays small.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import heapq
import itertools
import os
import select
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Self

from modem.address import MAX_SMSC_FIELD_OCTETS, Address, AddressError, decode_smsc
from modem.pdu import (
    Direction,
    MessageClass,
    PduError,
    SmsSubmit,
    UserData,
    decode_pdu,
    encode_timestamp,
    user_data_for_part,
)
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.segment import segment, segment_octets

__all__ = [
    "DEFAULT_CONFIG",
    "EmulatorStats",
    "ModemConfig",
    "ModemEmulator",
    "Quirks",
    "SentMessage",
    "StoredMessage",
    "encode_deliver",
    "encode_status_report",
]

# --- limits -------------------------------------------------------------------

# A command line longer than this is refused with ERROR (27.007 §5.1 asks for
# at least 80 characters; real modems take a few hundred).
MAX_COMMAND_LINE: Final = 1024
# The largest SMS-SUBMIT: first octet, MR, 12-octet DA, PID, DCS, 7-octet VP,
# UDL and 140 octets of user data.
MAX_SUBMIT_TPDU_OCTETS: Final = 164
# The SMSC field in front of it: its length octet, then TOA and address.
MAX_PDU_HEX_DIGITS: Final = 2 * (1 + MAX_SMSC_FIELD_OCTETS + MAX_SUBMIT_TPDU_OCTETS)
# Input held while a command runs, and output not yet taken by the host; past
# these the bytes are lost, as on a UART that overruns.
MAX_HELD_INPUT: Final = 64 * 1024
MAX_PENDING_OUTPUT: Final = 1024 * 1024
# Unsolicited result codes kept while the modem is busy or <mode> is 0.
MAX_BUFFERED_URCS: Final = 256
# Inbound messages the "network" keeps while the SIM memory is full.
MAX_WAITING_INBOUND: Final = 4096
MAX_STORAGE_SLOTS: Final = 255
MAX_PIN_ATTEMPTS: Final = 3
READ_CHUNK: Final = 4096

DEFAULT_SEND_SECONDS: Final = 0.5
DEFAULT_STORAGE_SLOTS: Final = 30
DEFAULT_STATUS_REPORT_DELAY: Final = 0.05
DEFAULT_REBOOT_SECONDS: Final = 0.05
DEFAULT_SMSC: Final = "+15555550100"
DEFAULT_BANNER: Final = ("RDY", "+CFUN: 1", "+CPIN: READY", "SMS Ready")

CTRL_Z: Final = 0x1A
ESC: Final = 0x1B
CR: Final = 0x0D
LF: Final = 0x0A
BACKSPACE: Final = 0x08

_TOA_INTERNATIONAL: Final = 145
_TOA_UNKNOWN: Final = 129
_MEMORY_SIM: Final = "SM"
_MEMORY_STATUS: Final = "SR"
_STAT_REC_UNREAD: Final = 0
_STAT_REC_READ: Final = 1
_STAT_ALL: Final = 4
# Registration status (27.007 §7.2): 0 not registered, 1 home, 5 roaming.
_REG_NOT_REGISTERED: Final = 0
_REG_HOME: Final = 1
_REG_ROAMING: Final = 5
# Cell identity shown by +CREG=2 style answers; any fixed value does.
_LAC: Final = "00C3"
_CELL_ID: Final = "0000A13F"

# +CMS ERROR codes (27.005 §3.2.5) and +CME ERROR codes (27.007 §9.2) this
# modem gives, with the text AT+CMEE=2 shows.
CMS_CONGESTION: Final = 42
CMS_NOT_ALLOWED: Final = 302
CMS_NOT_SUPPORTED: Final = 303
CMS_INVALID_PDU_PARAMETER: Final = 304
CMS_SIM_PIN_REQUIRED: Final = 311
CMS_SIM_PUK_REQUIRED: Final = 316
CMS_SIM_BUSY: Final = 314
CMS_INVALID_INDEX: Final = 321
CMS_MEMORY_FULL: Final = 322
CMS_NO_NETWORK: Final = 331
CMS_NO_CNMA_EXPECTED: Final = 340
CME_NOT_ALLOWED: Final = 3
CME_SIM_PIN_REQUIRED: Final = 11
CME_SIM_PUK_REQUIRED: Final = 12
CME_INCORRECT_PASSWORD: Final = 16
CME_INCORRECT_PARAMETERS: Final = 50

_CMS_TEXT: Final = {
    CMS_CONGESTION: "Congestion",
    CMS_NOT_ALLOWED: "operation not allowed",
    CMS_NOT_SUPPORTED: "operation not supported",
    CMS_INVALID_PDU_PARAMETER: "invalid PDU mode parameter",
    CMS_SIM_PIN_REQUIRED: "SIM PIN required",
    CMS_SIM_BUSY: "SIM busy",
    CMS_SIM_PUK_REQUIRED: "SIM PUK required",
    CMS_INVALID_INDEX: "invalid memory index",
    CMS_MEMORY_FULL: "memory full",
    CMS_NO_NETWORK: "no network service",
    CMS_NO_CNMA_EXPECTED: "no +CNMA acknowledgement expected",
}
_CME_TEXT: Final = {
    CME_NOT_ALLOWED: "operation not allowed",
    CME_SIM_PIN_REQUIRED: "SIM PIN required",
    CME_SIM_PUK_REQUIRED: "SIM PUK required",
    CME_INCORRECT_PASSWORD: "incorrect password",
    CME_INCORRECT_PARAMETERS: "incorrect parameters",
}


# --- configuration ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quirks:
    """Behaviours of real modems, each off unless switched on (``echo_on_after_atz``
    is on: nearly every modem does it)."""

    echo_on_after_atz: bool = True
    # Sent between the information response and the final result of every
    # command that has one (e.g. "^RSSI: 17", "+CREG: 1").
    interleaved_urc: str | None = None
    # Every Nth +CMGS fails with +CMS ERROR <cms_error_code> after the send time.
    cms_error_every: int = 0
    cms_error_code: int = CMS_CONGESTION
    # The SIM memory is full of old read messages at power-on.
    memory_full: bool = False
    # Every Nth command line reboots the modem: no answer, then the banner.
    reset_every: int = 0
    # An inbound SMS is reported twice: +CMT directly and stored with +CMTI.
    double_report: bool = False
    prompt_without_space: bool = False
    # The hex PDU after the prompt is echoed even with ATE0.
    echo_pdu: bool = False

    def __post_init__(self) -> None:
        if self.cms_error_every < 0 or self.reset_every < 0:
            raise ValueError("cms_error_every and reset_every are counts, 0 = never")
        if not 0 <= self.cms_error_code <= 0xFFFF:
            raise ValueError(f"+CMS ERROR code {self.cms_error_code} is out of range")


@dataclass(frozen=True, slots=True)
class ModemConfig:
    """What the emulated modem is and how fast it answers (seconds)."""

    # A PIN the host must give with AT+CPIN="..." (None: +CPIN: READY).
    pin: str | None = None
    # After the PIN, SMS commands answer +CMS ERROR 314 (SIM busy) this long.
    sim_busy_seconds: float = 0.0
    storage_slots: int = DEFAULT_STORAGE_SLOTS
    # Where status reports are stored for +CDSI: "SM" (with the messages)
    # or a separate "SR" memory of status_report_slots.
    status_report_memory: str = _MEMORY_SIM
    status_report_slots: int = DEFAULT_STORAGE_SLOTS
    first_index: int = 1
    prompt_delay: float = 0.0
    send_seconds: float = DEFAULT_SEND_SECONDS
    status_report_delay: float = DEFAULT_STATUS_REPORT_DELAY
    status_report_status: int = 0x00  # TP-ST of automatic status reports
    reboot_seconds: float = DEFAULT_REBOOT_SECONDS
    reset_banner: tuple[str, ...] = DEFAULT_BANNER
    # AT+CMGF=1 answers OK (SMS commands then refuse) instead of ERROR.
    text_mode_accepted: bool = False
    # A PDU after the prompt must decode as an SMS-SUBMIT, else +CMS ERROR
    # 304. Off: only its length is checked, as by modems that pass it on
    # untouched; what does not decode is sent with no destination recorded.
    check_pdu: bool = True
    echo_at_power_on: bool = True
    registration: int = _REG_HOME
    signal: int = 20  # +CSQ rssi 0..31, 99 unknown
    initial_reference: int = 0  # the first TP-MR given out
    manufacturer: str = "SMPPD"
    model: str = "PTY-GSM"
    revision: str = "1.0"
    imei: str = "490154203237518"
    imsi: str = "001010123456789"
    operator: str = "Test Network"
    smsc: str = DEFAULT_SMSC
    quirks: Quirks = field(default_factory=Quirks)

    def __post_init__(self) -> None:
        if not 1 <= self.storage_slots <= MAX_STORAGE_SLOTS:
            raise ValueError(f"storage_slots must be 1..{MAX_STORAGE_SLOTS}")
        if not 1 <= self.status_report_slots <= MAX_STORAGE_SLOTS:
            raise ValueError(f"status_report_slots must be 1..{MAX_STORAGE_SLOTS}")
        if self.status_report_memory not in (_MEMORY_SIM, _MEMORY_STATUS):
            raise ValueError('status_report_memory is "SM" or "SR"')
        if self.first_index not in (0, 1):
            raise ValueError("first_index is 0 or 1")
        for name in (
            "sim_busy_seconds",
            "prompt_delay",
            "send_seconds",
            "status_report_delay",
            "reboot_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        if not 0 <= self.registration <= _REG_ROAMING:
            raise ValueError("registration is a +CREG <stat>, 0..5")
        if not (0 <= self.signal <= 31 or self.signal == 99):
            raise ValueError("signal is a +CSQ <rssi>: 0..31 or 99")
        if not 0 <= self.status_report_status <= 0xFF:
            raise ValueError("status_report_status is one octet")
        if not 0 <= self.initial_reference <= 0xFF:
            raise ValueError("initial_reference is one octet")
        if self.pin is not None and not self.pin.isdigit():
            raise ValueError("a PIN is digits")
        if Address.parse(self.smsc).is_alphanumeric:
            raise ValueError(f"service centre address {self.smsc!r} is not a number")


DEFAULT_CONFIG: Final = ModemConfig()


# --- values for tests ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One SMS-SUBMIT the modem accepted (``+CMGS: <reference>``)."""

    reference: int  # the TP-MR given back in +CMGS
    pdu: bytes  # SMSC field + TPDU as the host sent it
    submit: SmsSubmit | None  # None: not decodable (accepted with check_pdu off)
    send_seconds: float

    @property
    def destination(self) -> str | None:
        return str(self.submit.destination) if self.submit is not None else None

    @property
    def text(self) -> str | None:
        return self.submit.text if self.submit is not None else None

    @property
    def status_report_requested(self) -> bool:
        return self.submit is not None and self.submit.status_report_request


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message in a memory slot: ``<stat>`` and SMSC field + TPDU."""

    stat: int
    pdu: bytes
    tpdu_length: int


@dataclass(frozen=True, slots=True)
class EmulatorStats:
    """Counters since :meth:`ModemEmulator.start`; ``busy_seconds`` is the time
    spent inside +CMGS between Ctrl-Z and the result."""

    sent: int
    send_failures: int
    busy_seconds: float
    uptime_seconds: float
    commands: int
    resets: int
    inbound_injected: int
    inbound_waiting: int
    status_reports: int
    acknowledgements: int
    urcs_dropped: int

    @property
    def utilisation(self) -> float:
        """Share of the uptime spent sending, 0..1."""
        return self.busy_seconds / self.uptime_seconds if self.uptime_seconds > 0 else 0.0

    def utilisation_since(self, earlier: EmulatorStats) -> float:
        """Share of the time between ``earlier`` and this snapshot spent sending:
        a benchmark's window, without the init dialogue before it."""
        elapsed = self.uptime_seconds - earlier.uptime_seconds
        return (self.busy_seconds - earlier.busy_seconds) / elapsed if elapsed > 0 else 0.0


# --- PDUs this side produces --------------------------------------------------

_MTI_DELIVER: Final = 0x00
_MTI_STATUS_REPORT: Final = 0x02
_NO_MORE_MESSAGES: Final = 0x04  # TP-MMS: 1 = no more messages waiting
_UDHI: Final = 0x40


def encode_deliver(
    originator: Address,
    user_data: UserData,
    timestamp: datetime,
    *,
    pid: int = 0,
    more_messages: bool = False,
) -> bytes:
    """An SMS-DELIVER TPDU (23.040 §9.2.2.1), without the SMSC field."""
    first = _MTI_DELIVER | (0 if more_messages else _NO_MORE_MESSAGES)
    if user_data.udhi:
        first |= _UDHI
    return b"".join(
        (
            bytes((first,)),
            originator.encode_tp(),
            bytes((pid, user_data.dcs.value)),
            encode_timestamp(timestamp),
            bytes((user_data.length,)),
            user_data.raw,
        )
    )


def encode_status_report(
    reference: int,
    recipient: Address,
    timestamp: datetime,
    discharge_time: datetime,
    status: int,
) -> bytes:
    """An SMS-STATUS-REPORT TPDU (23.040 §9.2.2.3) without TP-PI, without the SMSC field."""
    if not 0 <= reference <= 0xFF or not 0 <= status <= 0xFF:
        raise ValueError("TP-MR and TP-ST are one octet each")
    return b"".join(
        (
            bytes((_MTI_STATUS_REPORT | _NO_MORE_MESSAGES, reference)),
            recipient.encode_tp(),
            encode_timestamp(timestamp),
            encode_timestamp(discharge_time),
            bytes((status,)),
        )
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- internal state -----------------------------------------------------------


class _Mode(enum.Enum):
    COMMAND = "command"
    AWAIT_PROMPT = "await-prompt"
    PDU = "pdu"
    SENDING = "sending"
    REBOOTING = "rebooting"


class _InputPolicy(enum.Enum):
    PROCESS = "process"
    HOLD = "hold"
    DISCARD = "discard"


# What happens to bytes from the host in each mode: the whole input rule.
_INPUT_POLICY: Final = {
    _Mode.COMMAND: _InputPolicy.PROCESS,
    _Mode.PDU: _InputPolicy.PROCESS,
    _Mode.AWAIT_PROMPT: _InputPolicy.HOLD,
    _Mode.SENDING: _InputPolicy.HOLD,
    _Mode.REBOOTING: _InputPolicy.DISCARD,
}


@dataclass(frozen=True, slots=True)
class _Cnmi:
    mode: int = 0
    mt: int = 0
    bm: int = 0
    ds: int = 0
    bfr: int = 0


@dataclass(slots=True)
class _Settings:
    """What a reset (power cycle, AT+CFUN=1,1, banner) puts back."""

    echo: bool
    cmee: int = 0
    text_mode: bool = False
    cnmi: _Cnmi = field(default_factory=_Cnmi)
    service: int = 0  # AT+CSMS
    reg_urc: dict[str, int] = field(default_factory=dict)  # +CREG/+CGREG/+CEREG <n>
    memories: tuple[str, str, str] = (_MEMORY_SIM, _MEMORY_SIM, _MEMORY_SIM)


class _Storage:
    """Numbered slots of one memory."""

    __slots__ = ("capacity", "first", "slots")

    def __init__(self, capacity: int, first: int) -> None:
        self.capacity = capacity
        self.first = first
        self.slots: dict[int, StoredMessage] = {}

    @property
    def used(self) -> int:
        return len(self.slots)

    def valid(self, index: int) -> bool:
        return self.first <= index < self.first + self.capacity

    def store(self, message: StoredMessage) -> int | None:
        for index in range(self.first, self.first + self.capacity):
            if index not in self.slots:
                self.slots[index] = message
                return index
        return None


@dataclass(frozen=True, slots=True)
class _Inbound:
    """A message from the network: an SMS (stored / +CMT) or a status report."""

    tpdu: bytes
    report: bool


@dataclass(order=True, slots=True)
class _Timer:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    generation: int | None = field(compare=False, default=None)


class _CommandError(Exception):
    """Ends a command line with this final result."""

    def __init__(self, result: str) -> None:
        super().__init__(result)
        self.result = result


class _StartPdu(Exception):
    """AT+CMGS was accepted: the line ends in the prompt, not in a result."""

    def __init__(self, tpdu_length: int) -> None:
        super().__init__(tpdu_length)
        self.tpdu_length = tpdu_length


@dataclass(frozen=True, slots=True)
class _Command:
    """One command of a line: ``+CMGS`` with kind ``=`` and args ``23``."""

    name: str  # upper case: "+CMGS", "Z", "E", "&F", "S0"
    kind: str  # "" action, "?" read, "=?" test, "=" set
    args: str


def _split_line(body: str) -> list[_Command] | None:
    """The commands after "AT", or None when the line is malformed."""
    commands: list[_Command] = []
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char in " ;":
            i += 1
            continue
        if char in "+^%$#*":
            j, quoted = i, False
            while j < n and (quoted or body[j] != ";"):
                if body[j] == '"':
                    quoted = not quoted
                j += 1
            commands.append(_parse_extended(body[i:j]))
            i = j
            continue
        if char == "&":
            if i + 1 >= n or not body[i + 1].isalpha():
                return None
            j = i + 2
            while j < n and body[j].isdigit():
                j += 1
            commands.append(_Command("&" + body[i + 1].upper(), "", body[i + 2 : j]))
            i = j
            continue
        if char.upper() == "S" and i + 1 < n and body[i + 1].isdigit():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            name = "S" + body[i + 1 : j]
            if body.startswith("?", j):
                commands.append(_Command(name, "?", ""))
                i = j + 1
                continue
            if body.startswith("=", j):
                k = j + 1
                while k < n and body[k].isdigit():
                    k += 1
                commands.append(_Command(name, "=", body[j + 1 : k]))
                i = k
                continue
            return None
        if char.isalpha():
            j = i + 1
            while j < n and body[j].isdigit():
                j += 1
            commands.append(_Command(char.upper(), "", body[i + 1 : j]))
            i = j
            continue
        return None
    return commands


def _parse_extended(text: str) -> _Command:
    stripped = text.strip()
    for marker, kind in (("=?", "=?"), ("?", "?"), ("=", "=")):
        position = stripped.find(marker)
        if position > 0 and (kind != "?" or "=" not in stripped[:position]):
            return _Command(stripped[:position].upper(), kind, stripped[position + len(marker) :])
    return _Command(stripped.upper(), "", "")


def _split_args(args: str) -> list[str]:
    """Parameters separated by commas outside double quotes, stripped."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in args:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    out.append("".join(current).strip())
    return out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _int_arg(value: str, allowed: range | tuple[int, ...]) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _CommandError("ERROR") from None
    if number not in allowed:
        raise _CommandError("ERROR")
    return number


# --- the emulator -------------------------------------------------------------

_Handler = Callable[["ModemEmulator", _Command], list[str]]


class ModemEmulator:
    """A GSM modem on a pty, served from a background thread.

    ``with ModemEmulator(config) as modem: serial.Serial(modem.device)``.
    Every public method is thread-safe.
    """

    def __init__(self, config: ModemConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failure: BaseException | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._device: str | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._timers: list[_Timer] = []
        self._timer_seq = itertools.count()
        self._generation = 0
        self._out = bytearray()
        self._input = bytearray()
        self._line = bytearray()
        self._line_overflow = False
        self._pdu = bytearray()
        self._pdu_overflow = False
        self._pdu_length = 0
        self._send_started = 0.0
        self._mode = _Mode.COMMAND
        self._executing = False  # inside _execute_line: URCs wait for the result
        self._settings = _Settings(echo=config.echo_at_power_on)
        self._fun = 1
        self._sim_locked = config.pin is not None
        self._pin_attempts = 0
        self._sim_busy_until = 0.0
        self._registration = config.registration
        self._signal = config.signal
        self._smsc = Address.parse(config.smsc)
        self._memories: dict[str, _Storage] = {
            _MEMORY_SIM: _Storage(config.storage_slots, config.first_index)
        }
        if config.status_report_memory == _MEMORY_STATUS:
            self._memories[_MEMORY_STATUS] = _Storage(
                config.status_report_slots, config.first_index
            )
        self._waiting: deque[_Inbound] = deque()
        self._urcs: deque[tuple[str, bool]] = deque()  # (text, is an SMS indication)
        self._unacknowledged = 0
        self._next_reference = config.initial_reference
        self._concat_reference = 0
        self._cmgs_attempts = 0
        self._sent: list[SentMessage] = []
        self._send_failures = 0
        self._busy = 0.0
        self._started_at = 0.0
        self._stopped_at: float | None = None
        self._command_lines = 0
        self._resets = 0
        self._injected = 0
        self._status_reports = 0
        self._acknowledgements = 0
        self._urcs_dropped = 0
        if config.quirks.memory_full:
            self._fill_memory()

    # --- lifecycle ------------------------------------------------------------

    @property
    def device(self) -> str:
        """The slave side's path, what the driver opens (``/dev/pts/N``)."""
        with self._lock:
            if self._device is None:
                raise RuntimeError("the emulator is not started")
            return self._device

    @property
    def failure(self) -> BaseException | None:
        """What killed the serving thread, if anything did."""
        with self._lock:
            return self._failure

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and not self._stopping

    def start(self) -> Self:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the emulator is already started")
            self._open_port()
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
            self._started_at = time.monotonic()
            self._thread = threading.Thread(
                target=self._run, name=f"modem-emulator {self._device}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close every descriptor; safe to call twice.

        Raises ``RuntimeError`` (from the original) when the serving thread
        died of an exception, so a bug in the emulator fails the test that met it.
        """
        with self._lock:
            thread = self._thread
            if thread is None or self._stopping:
                return
            self._stopping = True
            self._stopped_at = time.monotonic()
            self._wake()
        thread.join()
        with self._lock:
            self._close_port()
            for fd in (self._wake_r, self._wake_w):
                if fd is not None:
                    os.close(fd)
            self._wake_r = self._wake_w = None
            self._changed.notify_all()
            failure = self._failure
        if failure is not None:
            raise RuntimeError("the modem emulator thread failed") from failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def close_port(self) -> None:
        """Unplug the modem: the master closes, the device node vanishes and the
        driver's reads fail (hang-up). The thread stays until :meth:`stop`."""
        with self._lock:
            self._close_port()
            self._abort_command()
            self._wake()

    def reopen_port(self) -> str:
        """Plug the modem back in: a new pty (a new :attr:`device`), a modem
        fresh from power-on that announces itself with the banner."""
        with self._lock:
            if self._thread is None or self._stopping:
                raise RuntimeError("the emulator is not running")
            self._close_port()
            self._open_port()
            self._reboot(banner=True, delay=self.config.reboot_seconds)
            self._wake()
            assert self._device is not None
            return self._device

    # --- test controls --------------------------------------------------------

    def reset(self, banner: Sequence[str] | None = None, *, delay: float = 0.0) -> None:
        """Reboot mid-session: the command in progress is lost, echo, CMEE and
        CNMI go back to power-on values, and the banner (``RDY``...) follows."""
        with self._lock:
            self._reboot(banner=True, delay=delay, lines=banner)
            self._wake()

    def inject_sms(
        self,
        sender: str,
        message: str | bytes,
        *,
        concat: LongMessageMode | str = LongMessageMode.UDH8,
        reference: int | None = None,
        timestamp: datetime | None = None,
        message_class: MessageClass | None = None,
    ) -> tuple[bytes, ...]:
        """An SMS from ``sender`` arrives: text (GSM-7 or UCS-2, split with a
        concatenation UDH of ``concat`` "udh8"/"udh16" when long) or 8-bit
        data (``bytes``). Returns the SMS-DELIVER TPDUs, one per part."""
        mode = LongMessageMode(concat)
        if mode not in (LongMessageMode.UDH8, LongMessageMode.UDH16):
            raise ValueError("a modem receives long messages with a udh8 or udh16 header")
        originator = Address.parse(sender)
        moment = timestamp if timestamp is not None else _now()
        policy = TextPolicy(long_message=mode)
        with self._lock:
            ref = self._concat_reference if reference is None else reference
            if reference is None:
                self._concat_reference = (self._concat_reference + 1) & 0xFFFF

        def next_reference() -> int:
            return ref

        if isinstance(message, str):
            segmented = segment(message, policy, next_reference=next_reference)
        else:
            segmented = segment_octets(message, 0x04, policy, next_reference=next_reference)
        tpdus = tuple(
            encode_deliver(
                originator,
                user_data_for_part(segmented, index, message_class=message_class),
                moment,
            )
            for index in range(len(segmented.parts))
        )
        for tpdu in tpdus:
            self.inject_pdu(tpdu)
        return tpdus

    def inject_pdu(self, tpdu: bytes) -> None:
        """A ready SMS-DELIVER TPDU (no SMSC field) arrives, as it is."""
        with self._lock:
            self._injected += 1
            self._arrive(_Inbound(bytes(tpdu), report=False))
            self._wake()

    def inject_status_report(
        self,
        reference: int,
        recipient: str,
        status: int = 0x00,
        *,
        submitted: datetime | None = None,
    ) -> bytes:
        """A status report for TP-MR ``reference`` arrives; returns its TPDU."""
        now = _now()
        tpdu = encode_status_report(
            reference, Address.parse(recipient), submitted or now, now, status
        )
        with self._lock:
            self._arrive(_Inbound(tpdu, report=True))
            self._wake()
        return tpdu

    def set_registration(self, stat: int) -> None:
        """Change +CREG stat; hosts that asked (AT+CREG=1/2) get the URC."""
        with self._lock:
            self._registration = stat
            for name, n in self._settings.reg_urc.items():
                if n:
                    fields = self._registration_fields(n, unsolicited=True)
                    self._urc(f"{name}: {fields}", sms=False)
            self._wake()

    def set_signal(self, rssi: int) -> None:
        with self._lock:
            self._signal = rssi

    # --- counters -------------------------------------------------------------

    def stats(self) -> EmulatorStats:
        with self._lock:
            now = self._stopped_at if self._stopped_at is not None else time.monotonic()
            busy = self._busy
            if self._mode is _Mode.SENDING:
                busy += now - self._send_started
            return EmulatorStats(
                sent=len(self._sent),
                send_failures=self._send_failures,
                busy_seconds=busy,
                uptime_seconds=now - self._started_at if self._started_at else 0.0,
                commands=self._command_lines,
                resets=self._resets,
                inbound_injected=self._injected,
                inbound_waiting=len(self._waiting),
                status_reports=self._status_reports,
                acknowledgements=self._acknowledgements,
                urcs_dropped=self._urcs_dropped,
            )

    def sent_messages(self) -> tuple[SentMessage, ...]:
        with self._lock:
            return tuple(self._sent)

    def stored_messages(self, memory: str = _MEMORY_SIM) -> dict[int, StoredMessage]:
        with self._lock:
            return dict(self._memories[memory].slots)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` (called with the state locked) holds."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def wait_sent(self, count: int, timeout: float) -> bool:
        return self.wait_for(lambda: len(self._sent) >= count, timeout)

    # --- the thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:
            with self._lock:
                self._failure = exc
                self._changed.notify_all()
            raise

    def _serve(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                assert self._wake_r is not None
                readers = [self._wake_r]
                writers = []
                master = self._master
                if master is not None:
                    readers.append(master)
                    if self._out:
                        writers.append(master)
                timeout = self._next_timeout()
            try:
                readable, writable, _ = select.select(readers, writers, [], timeout)
            except OSError as exc:
                # close_port() may close the master between the snapshot
                # above and select(); the next round sees it gone.
                if exc.errno != errno.EBADF:
                    raise
                continue
            with self._lock:
                if self._stopping:
                    return
                if self._wake_r in readable:
                    self._drain_wake()
                if master is not None and master == self._master:
                    if master in readable:
                        self._read(master)
                    if master in writable and self._master is not None:
                        self._write(master)
                self._run_timers()
                self._changed.notify_all()

    def _read(self, master: int) -> None:
        try:
            data = os.read(master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # no slave open: nothing to read
                return
            raise
        room = MAX_HELD_INPUT - len(self._input)
        self._input += data[: max(room, 0)]
        self._process_input()

    def _write(self, master: int) -> None:
        try:
            written = os.write(master, self._out)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        del self._out[:written]

    def _wake(self) -> None:
        if self._wake_w is not None:
            # A full pipe means a wake-up is already pending.
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"\0")

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        try:
            while os.read(self._wake_r, READ_CHUNK):
                pass
        except BlockingIOError:
            pass

    def _open_port(self) -> None:
        master, slave = os.openpty()
        # Raw from the start: a line discipline would echo our own output
        # back to us before the driver opens the port and sets it raw.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._device = os.ttyname(slave)

    def _close_port(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        self._out.clear()
        self._input = bytearray()

    # --- timers ---------------------------------------------------------------

    def _schedule(self, delay: float, action: Callable[[], None], *, command: bool) -> None:
        """``command`` timers belong to the command in progress and die with a reset."""
        generation = self._generation if command else None
        heapq.heappush(
            self._timers,
            _Timer(time.monotonic() + delay, next(self._timer_seq), action, generation),
        )
        self._wake()

    def _next_timeout(self) -> float | None:
        if not self._timers:
            return None
        return max(0.0, self._timers[0].due - time.monotonic())

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            if timer.generation is None or timer.generation == self._generation:
                timer.action()

    # --- output ---------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        if self._master is None:
            return
        room = MAX_PENDING_OUTPUT - len(self._out)
        self._out += data[: max(room, 0)]

    def _emit_text(self, text: str) -> None:
        self._emit(text.encode("latin-1", "replace"))

    def _respond(self, lines: Sequence[str], final: str) -> None:
        out = [f"\r\n{line}\r\n" for line in lines]
        urc = self.config.quirks.interleaved_urc
        if urc and lines:
            out.append(f"\r\n{urc}\r\n")
        out.append(f"\r\n{final}\r\n")
        self._emit_text("".join(out))

    def _urc(self, text: str, *, sms: bool = True) -> None:
        """An unsolicited result code: out now when the modem is idle, else kept
        until the current command's final result. SMS indications (``sms``)
        also stay in the TA while AT+CNMI <mode> is 0."""
        if self._urc_may_go(sms) and self._idle():
            self._emit_text(f"\r\n{text}\r\n")
            return
        if len(self._urcs) >= MAX_BUFFERED_URCS:
            self._urcs.popleft()
            self._urcs_dropped += 1
        self._urcs.append((text, sms))

    def _idle(self) -> bool:
        """Between commands: no line being typed or run, no prompt, no send."""
        return self._mode is _Mode.COMMAND and not self._line and not self._executing

    def _urc_may_go(self, sms: bool) -> bool:
        return not sms or self._settings.cnmi.mode > 0

    def _flush_urcs(self) -> None:
        if self._mode is not _Mode.COMMAND or self._executing:
            return
        kept: deque[tuple[str, bool]] = deque()
        while self._urcs:
            text, sms = self._urcs.popleft()
            if self._urc_may_go(sms):
                self._emit_text(f"\r\n{text}\r\n")
            else:
                kept.append((text, sms))
        self._urcs = kept

    # --- input ----------------------------------------------------------------

    def _process_input(self) -> None:
        buffer = self._input
        consumed = 0
        try:
            # A reset while a byte is handled replaces self._input: stop there.
            while consumed < len(buffer) and buffer is self._input:
                policy = _INPUT_POLICY[self._mode]
                if policy is _InputPolicy.HOLD:
                    return
                if policy is _InputPolicy.DISCARD:
                    consumed = len(buffer)
                    return
                byte = buffer[consumed]
                consumed += 1
                if self._mode is _Mode.COMMAND:
                    self._command_byte(byte)
                else:
                    self._pdu_byte(byte)
        finally:
            del buffer[:consumed]

    def _command_byte(self, byte: int) -> None:
        if byte in (CTRL_Z, ESC):
            return  # drivers send these to cancel a prompt that is not there
        if byte == LF and not self._line:
            return
        if self._settings.echo:
            self._emit(bytes((byte,)))
        if byte == CR:
            line = self._line.decode("latin-1")
            overflow = self._line_overflow
            self._line.clear()
            self._line_overflow = False
            self._execute_line(line, overflow)
            return
        if byte == BACKSPACE:
            if self._line:
                self._line.pop()
            return
        if len(self._line) >= MAX_COMMAND_LINE:
            self._line_overflow = True
            return
        self._line.append(byte)

    def _pdu_byte(self, byte: int) -> None:
        if byte == CTRL_Z:
            self._submit_pdu()
            return
        if byte == ESC:
            self._mode = _Mode.COMMAND
            self._pdu.clear()
            self._respond((), "OK")
            self._flush_urcs()
            return
        if self._settings.echo or self.config.quirks.echo_pdu:
            self._emit(bytes((byte,)))
        if byte in (CR, LF):
            return
        if len(self._pdu) >= MAX_PDU_HEX_DIGITS:
            self._pdu_overflow = True
            return
        self._pdu.append(byte)

    # --- command lines --------------------------------------------------------

    def _execute_line(self, line: str, overflow: bool) -> None:
        self._executing = True
        try:
            self._run_line(line, overflow)
        finally:
            self._executing = False
        self._flush_urcs()

    def _run_line(self, line: str, overflow: bool) -> None:
        text = line.strip()
        if not text:
            return
        if text[:2].upper() != "AT":
            return  # not for us: real modems wait for the next "AT"
        self._command_lines += 1
        every = self.config.quirks.reset_every
        if every and self._command_lines % every == 0:
            self._reboot(banner=True, delay=self.config.reboot_seconds)
            return
        if overflow:
            self._respond((), "ERROR")
            return
        commands = _split_line(text[2:])
        if commands is None:
            self._respond((), "ERROR")
            return
        lines: list[str] = []
        for command in commands:
            handler = _handler_for(command.name)
            try:
                if handler is None:
                    raise _CommandError("ERROR")
                lines.extend(handler(self, command))
            except _CommandError as error:
                self._respond(lines, error.result)
                return
            except _StartPdu as start:
                if lines:
                    self._emit_text("".join(f"\r\n{line}\r\n" for line in lines))
                self._begin_pdu(start.tpdu_length)
                return
            if self._mode is _Mode.REBOOTING:
                return  # AT+CFUN=1,1 (its OK is already out)
        self._respond(lines, "OK")

    def _cms(self, code: int) -> _CommandError:
        if self._settings.cmee == 2 and code in _CMS_TEXT:
            return _CommandError(f"+CMS ERROR: {_CMS_TEXT[code]}")
        return _CommandError(f"+CMS ERROR: {code}")

    def _cme(self, code: int) -> _CommandError:
        if self._settings.cmee == 0:
            return _CommandError("ERROR")
        if self._settings.cmee == 2 and code in _CME_TEXT:
            return _CommandError(f"+CME ERROR: {_CME_TEXT[code]}")
        return _CommandError(f"+CME ERROR: {code}")

    def _check_sms_ready(self) -> None:
        """SMS commands need the SIM unlocked, out of its busy time, and PDU mode."""
        if self._sim_locked:
            blocked = self._pin_attempts >= MAX_PIN_ATTEMPTS
            raise self._cms(CMS_SIM_PUK_REQUIRED if blocked else CMS_SIM_PIN_REQUIRED)
        if time.monotonic() < self._sim_busy_until:
            raise self._cms(CMS_SIM_BUSY)
        if self._settings.text_mode:
            raise self._cms(CMS_NOT_ALLOWED)

    # --- handlers: basic ------------------------------------------------------

    def _cmd_z(self, command: _Command) -> list[str]:
        if self.config.quirks.echo_on_after_atz:
            self._settings.echo = True
        self._settings.cmee = 0
        return []

    def _cmd_e(self, command: _Command) -> list[str]:
        self._settings.echo = _int_arg(command.args or "0", (0, 1)) == 1
        return []

    def _cmd_accept(self, command: _Command) -> list[str]:
        """ATV1, ATQ0, AT&W, AT&C1, AT&D2, ATS registers: accepted, nothing to do."""
        if command.name == "V" and command.args not in ("", "1"):
            raise _CommandError("ERROR")  # numeric result codes are not emulated
        if command.name == "Q" and command.args not in ("", "0"):
            raise _CommandError("ERROR")
        if command.kind == "?":
            return ["000"]
        return []

    def _cmd_factory(self, command: _Command) -> list[str]:
        self._settings = _Settings(echo=True)
        return []

    def _cmd_identify(self, command: _Command) -> list[str]:
        cfg = self.config
        return [cfg.manufacturer, cfg.model, f"Revision: {cfg.revision}"]

    # --- handlers: 27.007 -----------------------------------------------------

    def _cmd_cmee(self, command: _Command) -> list[str]:
        if command.kind == "?":
            return [f"+CMEE: {self._settings.cmee}"]
        if command.kind == "=?":
            return ["+CMEE: (0-2)"]
        if command.kind == "=":
            self._settings.cmee = _int_arg(command.args or "0", range(3))
            return []
        raise _CommandError("ERROR")

    def _cmd_cfun(self, command: _Command) -> list[str]:
        if command.kind == "?":
            return [f"+CFUN: {self._fun}"]
        if command.kind == "=?":
            return ["+CFUN: (0,1,4),(0,1)"]
        if command.kind != "=":
            raise _CommandError("ERROR")
        args = _split_args(command.args)
        fun = _int_arg(args[0], (0, 1, 4))
        restart = _int_arg(args[1], (0, 1)) if len(args) > 1 else 0
        self._fun = fun
        if restart:
            self._respond((), "OK")
            self._reboot(banner=True, delay=self.config.reboot_seconds)
        return []

    def _cmd_cpin(self, command: _Command) -> list[str]:
        if command.kind == "?":
            if not self._sim_locked:
                return ["+CPIN: READY"]
            if self._pin_attempts >= MAX_PIN_ATTEMPTS:
                return ["+CPIN: SIM PUK"]
            return ["+CPIN: SIM PIN"]
        if command.kind == "=?":
            return []
        if command.kind != "=":
            raise _CommandError("ERROR")
        if not self._sim_locked:
            raise self._cme(CME_NOT_ALLOWED)
        if self._pin_attempts >= MAX_PIN_ATTEMPTS:
            raise self._cme(CME_SIM_PUK_REQUIRED)
        given = _unquote(_split_args(command.args)[0])
        if given != self.config.pin:
            self._pin_attempts += 1
            raise self._cme(CME_INCORRECT_PASSWORD)
        self._sim_locked = False
        self._pin_attempts = 0
        self._sim_busy_until = time.monotonic() + self.config.sim_busy_seconds
        return []

    def _registration_stat(self) -> int:
        if self._fun != 1 or self._sim_locked:
            return _REG_NOT_REGISTERED
        return self._registration

    def _registration_fields(self, n: int, *, unsolicited: bool) -> str:
        stat = self._registration_stat()
        fields = [str(stat)] if unsolicited else [str(n), str(stat)]
        if n == 2 and stat in (_REG_HOME, _REG_ROAMING):
            fields += [f'"{_LAC}"', f'"{_CELL_ID}"']
        return ",".join(fields)

    def _cmd_registration(self, command: _Command) -> list[str]:
        name = command.name
        if command.kind == "?":
            n = self._settings.reg_urc.get(name, 0)
            return [f"{name}: {self._registration_fields(n, unsolicited=False)}"]
        if command.kind == "=?":
            return [f"{name}: (0-2)"]
        if command.kind == "=":
            self._settings.reg_urc[name] = _int_arg(command.args or "0", range(3))
            return []
        raise _CommandError("ERROR")

    def _cmd_csq(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        if command.kind:
            raise _CommandError("ERROR")
        return [f"+CSQ: {self._signal},99"]

    def _cmd_cops(self, command: _Command) -> list[str]:
        if command.kind == "?":
            if self._registration_stat() in (_REG_HOME, _REG_ROAMING):
                return [f'+COPS: 0,0,"{self.config.operator}",0']
            return ["+COPS: 0"]
        if command.kind == "=?":
            return [f'+COPS: (2,"{self.config.operator}","TEST","00101",0),,(0-4),(0-2)']
        if command.kind == "=":
            return []
        raise _CommandError("ERROR")

    def _cmd_identity(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            return []
        if command.kind:
            raise _CommandError("ERROR")
        cfg = self.config
        name = command.name.replace("+C", "+")
        if name == "+GMI":
            return [cfg.manufacturer]
        if name == "+GMM":
            return [cfg.model]
        if name == "+GMR":
            return [cfg.revision]
        return [cfg.imei]

    def _cmd_cimi(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            return []
        if command.kind:
            raise _CommandError("ERROR")
        if self._sim_locked:
            raise self._cme(CME_SIM_PIN_REQUIRED)
        return [self.config.imsi]

    # --- handlers: 27.005 -----------------------------------------------------

    def _cmd_cmgf(self, command: _Command) -> list[str]:
        if command.kind == "?":
            return [f"+CMGF: {int(self._settings.text_mode)}"]
        if command.kind == "=?":
            return ["+CMGF: (0,1)" if self.config.text_mode_accepted else "+CMGF: (0)"]
        if command.kind != "=":
            raise _CommandError("ERROR")
        mode = _int_arg(command.args or "0", (0, 1))
        if mode == 1 and not self.config.text_mode_accepted:
            raise _CommandError("ERROR")
        self._settings.text_mode = mode == 1
        return []

    def _cmd_csca(self, command: _Command) -> list[str]:
        if command.kind == "?":
            toa = _TOA_INTERNATIONAL if str(self._smsc).startswith("+") else _TOA_UNKNOWN
            return [f'+CSCA: "{self._smsc}",{toa}']
        if command.kind == "=?":
            return []
        if command.kind != "=":
            raise _CommandError("ERROR")
        args = _split_args(command.args)
        try:
            smsc = Address.parse(_unquote(args[0]))
        except AddressError:
            raise self._cms(CMS_NOT_ALLOWED) from None
        if smsc.is_alphanumeric or not smsc.value:
            raise self._cms(CMS_NOT_ALLOWED)
        self._smsc = smsc
        return []

    def _cmd_csms(self, command: _Command) -> list[str]:
        if command.kind == "?":
            return [f"+CSMS: {self._settings.service},1,1,1"]
        if command.kind == "=?":
            return ["+CSMS: (0,1)"]
        if command.kind != "=":
            raise _CommandError("ERROR")
        self._settings.service = _int_arg(command.args or "0", (0, 1))
        return ["+CSMS: 1,1,1"]

    def _cmd_cpms(self, command: _Command) -> list[str]:
        names = ",".join(f'"{name}"' for name in self._memories)
        if command.kind == "=?":
            return [f'+CPMS: ({names}),("SM"),("SM")']
        if command.kind == "?":
            parts = []
            for name in self._settings.memories:
                memory = self._memories[name]
                parts.append(f'"{name}",{memory.used},{memory.capacity}')
            return ["+CPMS: " + ",".join(parts)]
        if command.kind != "=":
            raise _CommandError("ERROR")
        self._check_sms_ready()
        args = [_unquote(arg).upper() for arg in _split_args(command.args)]
        if not 1 <= len(args) <= 3:
            raise self._cms(CMS_NOT_ALLOWED)
        current = list(self._settings.memories)
        for position, name in enumerate(args):
            allowed = self._memories if position == 0 else (_MEMORY_SIM,)
            if name not in allowed:
                raise self._cms(CMS_NOT_SUPPORTED)
            current[position] = name
        self._settings.memories = (current[0], current[1], current[2])
        used = []
        for name in self._settings.memories:
            memory = self._memories[name]
            used += [str(memory.used), str(memory.capacity)]
        return ["+CPMS: " + ",".join(used)]

    def _cmd_cnmi(self, command: _Command) -> list[str]:
        cnmi = self._settings.cnmi
        if command.kind == "?":
            return [f"+CNMI: {cnmi.mode},{cnmi.mt},{cnmi.bm},{cnmi.ds},{cnmi.bfr}"]
        if command.kind == "=?":
            return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"]
        if command.kind != "=":
            raise _CommandError("ERROR")
        args = _split_args(command.args)
        if len(args) > 5:
            raise self._cms(CMS_NOT_SUPPORTED)
        allowed = (range(3), range(4), (0, 2), range(3), range(2))
        values = [cnmi.mode, cnmi.mt, cnmi.bm, cnmi.ds, cnmi.bfr]
        for position, arg in enumerate(args):
            if arg:
                try:
                    values[position] = _int_arg(arg, allowed[position])
                except _CommandError:
                    raise self._cms(CMS_NOT_SUPPORTED) from None
        new = _Cnmi(*values)
        self._settings.cnmi = new
        # Kept codes go out after this command's OK (_flush_urcs) unless bfr=1 drops them.
        if new.mode > 0 and new.bfr == 1:
            self._urcs = deque(urc for urc in self._urcs if not urc[1])
        return []

    def _cmd_cmgs(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            return []
        if command.kind != "=":
            raise _CommandError("ERROR")
        self._check_sms_ready()
        if self._registration_stat() not in (_REG_HOME, _REG_ROAMING):
            raise self._cms(CMS_NO_NETWORK)
        try:
            length = int(command.args.strip())
        except ValueError:
            raise self._cms(CMS_INVALID_PDU_PARAMETER) from None
        if not 1 <= length <= MAX_SUBMIT_TPDU_OCTETS:
            raise self._cms(CMS_INVALID_PDU_PARAMETER)
        raise _StartPdu(length)

    def _memory(self) -> _Storage:
        return self._memories[self._settings.memories[0]]

    def _index_arg(self, value: str, memory: _Storage) -> int:
        try:
            index = int(value)
        except ValueError:
            raise self._cms(CMS_INVALID_INDEX) from None
        if not memory.valid(index):
            raise self._cms(CMS_INVALID_INDEX)
        return index

    def _cmd_cmgr(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            return []
        if command.kind != "=":
            raise _CommandError("ERROR")
        self._check_sms_ready()
        memory = self._memory()
        index = self._index_arg(_split_args(command.args)[0], memory)
        stored = memory.slots.get(index)
        if stored is None:
            raise self._cms(CMS_INVALID_INDEX)
        if stored.stat == _STAT_REC_UNREAD:
            memory.slots[index] = replace(stored, stat=_STAT_REC_READ)
        # 27.005 §3.4.3: the PDU line follows its header with no blank line between.
        return [f"+CMGR: {stored.stat},,{stored.tpdu_length}\r\n{stored.pdu.hex().upper()}"]

    def _cmd_cmgl(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            return ["+CMGL: (0-4)"]
        if command.kind not in ("", "="):
            raise _CommandError("ERROR")
        self._check_sms_ready()
        try:
            wanted = _int_arg(command.args or "0", range(5))
        except _CommandError:
            raise self._cms(CMS_INVALID_PDU_PARAMETER) from None
        memory = self._memory()
        lines = []
        for index in sorted(memory.slots):
            stored = memory.slots[index]
            if wanted not in (_STAT_ALL, stored.stat):
                continue
            lines += [
                f"+CMGL: {index},{stored.stat},,{stored.tpdu_length}",
                stored.pdu.hex().upper(),
            ]
            if stored.stat == _STAT_REC_UNREAD:
                memory.slots[index] = replace(stored, stat=_STAT_REC_READ)
        # 27.005 §3.4.2: one information text, entries separated by CR LF only.
        return ["\r\n".join(lines)] if lines else []

    def _cmd_cmgd(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            memory = self._memory()
            indices = ",".join(str(index) for index in sorted(memory.slots))
            return [f"+CMGD: ({indices}),(0-4)"]
        if command.kind != "=":
            raise _CommandError("ERROR")
        self._check_sms_ready()
        memory = self._memory()
        args = _split_args(command.args)
        flag = 0
        if len(args) > 1 and args[1]:
            try:
                flag = _int_arg(args[1], range(5))
            except _CommandError:
                raise self._cms(CMS_INVALID_PDU_PARAMETER) from None
        if flag == 0:
            memory.slots.pop(self._index_arg(args[0], memory), None)
        else:
            # 1: read; 2: read and sent; 3: read, sent and unsent; 4: all.
            doomed = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}[flag]
            for index in [i for i, stored in memory.slots.items() if stored.stat in doomed]:
                del memory.slots[index]
        self._admit_waiting()
        return []

    def _cmd_cnma(self, command: _Command) -> list[str]:
        if command.kind == "=?":
            return []
        if self._settings.service != 1 or self._unacknowledged == 0:
            raise self._cms(CMS_NO_CNMA_EXPECTED)
        self._unacknowledged -= 1
        self._acknowledgements += 1
        return []

    def _cmd_setting(self, command: _Command) -> list[str]:
        """AT+CMMS / AT+CGSMS and the like: accepted, no effect on an emulator."""
        if command.kind == "?":
            return [f"{command.name}: 0"]
        return []

    # --- sending --------------------------------------------------------------

    def _begin_pdu(self, tpdu_length: int) -> None:
        self._mode = _Mode.AWAIT_PROMPT
        self._pdu_length = tpdu_length
        self._pdu.clear()
        self._pdu_overflow = False
        self._schedule(self.config.prompt_delay, self._prompt, command=True)

    def _prompt(self) -> None:
        self._emit(b"\r\n>" if self.config.quirks.prompt_without_space else b"\r\n> ")
        self._mode = _Mode.PDU
        self._process_input()

    def _submit_pdu(self) -> None:
        hex_digits = self._pdu.decode("latin-1")
        overflow = self._pdu_overflow
        self._pdu.clear()
        self._pdu_overflow = False
        submit = None if overflow else self._decode_submit(hex_digits)
        if submit is None:
            self._mode = _Mode.COMMAND
            self._respond((), self._cms(CMS_INVALID_PDU_PARAMETER).result)
            self._flush_urcs()
            return
        pdu, parsed = submit
        self._mode = _Mode.SENDING
        self._send_started = time.monotonic()
        self._cmgs_attempts += 1
        every = self.config.quirks.cms_error_every
        fails = bool(every) and self._cmgs_attempts % every == 0

        def finish() -> None:
            elapsed = time.monotonic() - self._send_started
            self._busy += elapsed
            self._mode = _Mode.COMMAND
            if fails:
                self._send_failures += 1
                self._respond((), self._cms(self.config.quirks.cms_error_code).result)
            else:
                reference = self._next_reference
                self._next_reference = (reference + 1) & 0xFF
                self._sent.append(SentMessage(reference, pdu, parsed, elapsed))
                self._respond((f"+CMGS: {reference}",), "OK")
                if parsed is not None and parsed.status_report_request:
                    submitted = _now()
                    self._schedule(
                        self.config.status_report_delay,
                        lambda: self._automatic_report(reference, parsed, submitted),
                        command=False,
                    )
            self._flush_urcs()
            self._process_input()

        self._schedule(self.config.send_seconds, finish, command=True)

    def _decode_submit(self, hex_digits: str) -> tuple[bytes, SmsSubmit | None] | None:
        """The PDU and its SMS-SUBMIT; None when the modem refuses it (304)."""
        digits = "".join(hex_digits.split())
        if len(digits) % 2:
            return None
        try:
            pdu = bytes.fromhex(digits)
            _, start = decode_smsc(pdu)
        except (ValueError, AddressError):
            return None
        if len(pdu) - start != self._pdu_length:
            return None
        try:
            message = decode_pdu(pdu, direction=Direction.MS_TO_SC)
        except PduError:
            message = None
        if isinstance(message, SmsSubmit):
            return pdu, message
        return None if self.config.check_pdu else (pdu, None)

    def _automatic_report(self, reference: int, submit: SmsSubmit, submitted: datetime) -> None:
        tpdu = encode_status_report(
            reference,
            submit.destination,
            submitted,
            _now(),
            self.config.status_report_status,
        )
        self._arrive(_Inbound(tpdu, report=True))

    # --- receiving ------------------------------------------------------------

    def _with_smsc(self, tpdu: bytes) -> bytes:
        return self._smsc.encode_smsc() + tpdu

    def _arrive(self, inbound: _Inbound) -> None:
        """A message from the network, routed per AT+CNMI."""
        cnmi = self._settings.cnmi
        pdu = self._with_smsc(inbound.tpdu)
        length = len(inbound.tpdu)
        if inbound.report:
            self._status_reports += 1
            if cnmi.ds == 1:
                self._direct(f"+CDS: {length}", pdu)
            elif cnmi.ds == 2:
                self._store_or_wait(inbound)
            return
        double = self.config.quirks.double_report and cnmi.mt in (1, 2, 3)
        if cnmi.mt == 2 or double:
            self._direct(f"+CMT: ,{length}", pdu)
        if cnmi.mt != 2 or double:
            self._store_or_wait(inbound)

    def _direct(self, header: str, pdu: bytes) -> None:
        if self._settings.service == 1:
            self._unacknowledged += 1
        self._urc(f"{header}\r\n{pdu.hex().upper()}")

    def _store_or_wait(self, inbound: _Inbound) -> None:
        if self._waiting or not self._store(inbound):
            if len(self._waiting) >= MAX_WAITING_INBOUND:
                self._waiting.popleft()
            self._waiting.append(inbound)

    def _store(self, inbound: _Inbound) -> bool:
        name = self.config.status_report_memory if inbound.report else self._settings.memories[2]
        memory = self._memories[name]
        stored = StoredMessage(_STAT_REC_UNREAD, self._with_smsc(inbound.tpdu), len(inbound.tpdu))
        index = memory.store(stored)
        if index is None:
            return False
        cnmi = self._settings.cnmi
        if inbound.report:
            self._urc(f'+CDSI: "{name}",{index}')
        elif cnmi.mt in (1, 2, 3):
            # mt 2 stores only with the double-report quirk, and then says so.
            self._urc(f'+CMTI: "{name}",{index}')
        return True

    def _admit_waiting(self) -> None:
        while self._waiting and self._store(self._waiting[0]):
            self._waiting.popleft()

    def _fill_memory(self) -> None:
        memory = self._memories[_MEMORY_SIM]
        moment = datetime(2020, 1, 1, tzinfo=UTC)
        originator = Address.parse("+15555550199")
        for number in range(memory.capacity):
            segmented = segment(f"old message {number + 1}")
            tpdu = encode_deliver(originator, user_data_for_part(segmented, 0), moment)
            memory.store(StoredMessage(_STAT_REC_READ, self._with_smsc(tpdu), len(tpdu)))

    # --- resets ---------------------------------------------------------------

    def _abort_command(self) -> None:
        """The command in progress ends without a result (reset, unplug)."""
        self._generation += 1
        if self._mode is _Mode.SENDING:
            self._busy += time.monotonic() - self._send_started
        self._mode = _Mode.COMMAND
        self._line.clear()
        self._line_overflow = False
        self._pdu.clear()
        self._pdu_overflow = False
        self._input = bytearray()

    def _reboot(self, *, banner: bool, delay: float, lines: Sequence[str] | None = None) -> None:
        self._abort_command()
        self._resets += 1
        self._settings = _Settings(echo=self.config.echo_at_power_on)
        self._fun = 1
        self._sim_locked = self.config.pin is not None
        self._pin_attempts = 0
        self._urcs.clear()
        self._unacknowledged = 0
        banner_lines = tuple(self.config.reset_banner if lines is None else lines)
        if self.config.pin is not None:
            banner_lines = tuple(
                "+CPIN: SIM PIN" if line == "+CPIN: READY" else line for line in banner_lines
            )
        self._mode = _Mode.REBOOTING
        generation = self._generation

        def boot() -> None:
            if generation != self._generation:
                return
            self._mode = _Mode.COMMAND
            if banner:
                self._emit_text("".join(f"\r\n{line}\r\n" for line in banner_lines))

        if delay <= 0:
            boot()
        else:
            self._schedule(delay, boot, command=False)


_HANDLERS: Final[dict[str, _Handler]] = {
    "Z": ModemEmulator._cmd_z,
    "E": ModemEmulator._cmd_e,
    "V": ModemEmulator._cmd_accept,
    "Q": ModemEmulator._cmd_accept,
    "X": ModemEmulator._cmd_accept,
    "&C": ModemEmulator._cmd_accept,
    "&D": ModemEmulator._cmd_accept,
    "&K": ModemEmulator._cmd_accept,
    "&W": ModemEmulator._cmd_accept,
    "&F": ModemEmulator._cmd_factory,
    "I": ModemEmulator._cmd_identify,
    "+CMEE": ModemEmulator._cmd_cmee,
    "+CFUN": ModemEmulator._cmd_cfun,
    "+CPIN": ModemEmulator._cmd_cpin,
    "+CREG": ModemEmulator._cmd_registration,
    "+CGREG": ModemEmulator._cmd_registration,
    "+CEREG": ModemEmulator._cmd_registration,
    "+CSQ": ModemEmulator._cmd_csq,
    "+COPS": ModemEmulator._cmd_cops,
    "+CGMI": ModemEmulator._cmd_identity,
    "+CGMM": ModemEmulator._cmd_identity,
    "+CGMR": ModemEmulator._cmd_identity,
    "+CGSN": ModemEmulator._cmd_identity,
    "+GMI": ModemEmulator._cmd_identity,
    "+GMM": ModemEmulator._cmd_identity,
    "+GMR": ModemEmulator._cmd_identity,
    "+GSN": ModemEmulator._cmd_identity,
    "+CIMI": ModemEmulator._cmd_cimi,
    "+CMGF": ModemEmulator._cmd_cmgf,
    "+CSCA": ModemEmulator._cmd_csca,
    "+CSMS": ModemEmulator._cmd_csms,
    "+CPMS": ModemEmulator._cmd_cpms,
    "+CNMI": ModemEmulator._cmd_cnmi,
    "+CMGS": ModemEmulator._cmd_cmgs,
    "+CMGR": ModemEmulator._cmd_cmgr,
    "+CMGL": ModemEmulator._cmd_cmgl,
    "+CMGD": ModemEmulator._cmd_cmgd,
    "+CNMA": ModemEmulator._cmd_cnma,
    "+CMMS": ModemEmulator._cmd_setting,
    "+CGSMS": ModemEmulator._cmd_setting,
}


def _handler_for(name: str) -> _Handler | None:
    if name[:1] == "S" and name[1:].isdigit():
        return ModemEmulator._cmd_accept  # S-registers (ATS0=0): kept by no one
    return _HANDLERS.get(name)
