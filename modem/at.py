"""Sans-IO AT command engine for GSM modems (3GPP TS 27.005 / 27.007, V.250).

How this works
--------------
The engine owns no port and reads no clock. The driver calls:

* :meth:`ATEngine.send` to issue a command; it returns the bytes to write now
  (``b""`` when the command had to wait in the queue: only one command is
  ever on the wire).
* :meth:`ATEngine.receive` with whatever the serial port read, in any
  chunking, and the current time; it returns :class:`Event` values.
* :meth:`ATEngine.next_deadline` / :meth:`ATEngine.handle_timer` for the
  timeouts, as in aioquic: the adapter keeps one timer armed at
  ``next_deadline()`` and calls ``handle_timer(now)`` when it fires.

Bytes the engine wants written outside :meth:`send` (the +CMGS payload after
the ``> `` prompt, ESC after a prompt timeout, the next queued command) come
back as :class:`Write` events, in order with the other events.

Lines end at CR or LF, in any mix; empty lines are skipped, and a line longer
than ``max_line_length`` is dropped with a :class:`LineOverflow` event. The
``> `` prompt has no line ending, so while a +CMGS waits for it the engine
looks at the raw bytes of the unfinished line instead.

Every finished line is classified, in this order:

1. the PDU line of a two-line response (+CMGR, +CMGL, +CMT, +CDS) when a
   header is waiting for one and the line is hexadecimal;
2. the echo of the command on the wire, or of its +CMGS payload (dropped,
   whatever ATE says, since ATZ turns echo back on);
3. a reset banner (RDY, +PBREADY, SMS Ready, ^SYSSTART): the command on the
   wire and every queued one fail with :class:`ModemReset`, since the modem
   forgot its settings and the driver must initialise it again;
4. a final result code (OK, ERROR, +CME ERROR, +CMS ERROR, NO CARRIER,
   BUSY, NO ANSWER, NO DIALTONE), which completes the command;
5. an unsolicited result code that can never be an answer (+CMTI, +CDSI,
   +CMT, +CDS, RING, +CRING);
6. an information line of the command on the wire: one that starts with the
   prefix the command ``expects``; with ``expects=None``, any line that is not
   a known unsolicited code (answers to +CGMI, +CGSN, +CIMI carry no prefix);
7. otherwise an unsolicited code (+CREG and friends, +CUSD, vendor ``^``
   codes, anything else as :class:`Unsolicited`).

After a timeout the engine waits ``recovery_delay`` seconds before writing
the next command, so a late answer to the abandoned one is not taken for the
next one's; such lines come back as :class:`LateResponse`.
"""

from __future__ import annotations

import enum
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

from modem.at_responses import (
    ATParseError,
    DeliverHeader,
    Registration,
    StorageIndication,
    Ussd,
    parse_cds_header,
    parse_cmt_header,
    parse_cusd,
    parse_registration,
    parse_storage_indication,
    registration_prefix,
)
from modem.errors import (
    ErrorPolicy,
    cme_code_from_text,
    cme_policy,
    cms_code_from_text,
    cms_policy,
)

__all__ = [
    "CTRL_Z",
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_MAX_INFO_LINES",
    "DEFAULT_MAX_LINE_LENGTH",
    "DEFAULT_MAX_QUEUED",
    "DEFAULT_PROMPT_TIMEOUT",
    "DEFAULT_RECOVERY_DELAY",
    "DEFAULT_SEND_TIMEOUT",
    "ESC",
    "ATEngine",
    "ATUsageError",
    "CallFailed",
    "Cancelled",
    "CmeError",
    "CmsError",
    "CommandCompleted",
    "DirectMessage",
    "DirectStatusReport",
    "Error",
    "Event",
    "InfoLine",
    "LateResponse",
    "LineOverflow",
    "MalformedLine",
    "ModemReset",
    "NewMessage",
    "NewStatusReport",
    "Ok",
    "QueueFull",
    "RegistrationChanged",
    "ResetBanner",
    "Result",
    "Ring",
    "Stage",
    "StrayResult",
    "Timeout",
    "TooManyLines",
    "Unsolicited",
    "UssdReceived",
    "VendorEvent",
    "Write",
]

#: Ctrl-Z: ends the +CMGS payload.
CTRL_Z: Final = b"\x1a"
#: ESC: abandons a +CMGS waiting at the prompt.
ESC: Final = b"\x1b"

#: Longest line kept. A PDU line is at most 2 x (12 SMSC + 164 TPDU) = 352
#: hex digits and a hex-encoded +CUSD a few hundred; the rest is margin.
DEFAULT_MAX_LINE_LENGTH: Final = 2048
#: Information lines per command: AT+CMGL on a 255-slot storage gives 510.
DEFAULT_MAX_INFO_LINES: Final = 1024
#: Commands waiting behind the one on the wire.
DEFAULT_MAX_QUEUED: Final = 64
#: Ordinary commands answer within a second; SIM and network ones take longer.
DEFAULT_COMMAND_TIMEOUT: Final = 10.0
#: The ``> `` prompt comes within a few seconds (5-10 s, PROTOCOL.md §4.2).
DEFAULT_PROMPT_TIMEOUT: Final = 10.0
#: +CMGS waits for the network after the payload: 60 s and more.
DEFAULT_SEND_TIMEOUT: Final = 90.0
#: Quiet time after a timeout before the next command goes out.
DEFAULT_RECOVERY_DELAY: Final = 1.0

# Bytes that surround a line without being part of it: NUL noise when a port
# opens, and the Ctrl-Z / ESC a PDU-echoing modem sends back.
_STRIP: Final = " \t\x00\x1a\x1b"
_EOL: Final = re.compile(rb"[\r\n]")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_CR: Final = 0x0D
_LF: Final = 0x0A


class ATUsageError(ValueError):
    """The caller misused the engine (a bad command, timeout or payload)."""


class QueueFull(ATUsageError):
    """More than ``max_queued`` commands are waiting."""


# -- results -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InfoLine:
    """One information line; for a two-line response, the header and its PDU.

    ``pdu`` is None for one-line answers, and for a two-line header whose PDU
    line never came (a modem that answers an empty slot with a bare header).
    """

    text: str
    pdu: str | None = None


@dataclass(frozen=True, slots=True)
class Ok:
    """``OK``, with the information lines that preceded it."""

    info: tuple[InfoLine, ...] = ()

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(item.text for item in self.info)

    def first(self, prefix: str) -> InfoLine | None:
        """The first information line that starts with ``prefix``."""
        wanted = prefix.upper()
        for item in self.info:
            if item.text.upper().startswith(wanted):
                return item
        return None


@dataclass(frozen=True, slots=True)
class Error:
    """Plain ``ERROR`` (or a vendor equivalent such as COMMAND NOT SUPPORT)."""

    text: str = "ERROR"


@dataclass(frozen=True, slots=True)
class CmeError:
    """``+CME ERROR: <err>``; ``code`` is None for a text we do not know."""

    code: int | None
    text: str

    @property
    def policy(self) -> ErrorPolicy | None:
        return None if self.code is None else cme_policy(self.code)


@dataclass(frozen=True, slots=True)
class CmsError:
    """``+CMS ERROR: <err>``; ``code`` is None for a text we do not know."""

    code: int | None
    text: str

    @property
    def policy(self) -> ErrorPolicy | None:
        return None if self.code is None else cms_policy(self.code)


@dataclass(frozen=True, slots=True)
class CallFailed:
    """NO CARRIER, BUSY, NO ANSWER or NO DIALTONE."""

    text: str


class Stage(enum.Enum):
    """Which wait timed out."""

    PROMPT = "prompt"
    RESPONSE = "response"


@dataclass(frozen=True, slots=True)
class Timeout:
    """No final result (or no ``> `` prompt) in time."""

    stage: Stage


@dataclass(frozen=True, slots=True)
class ModemReset:
    """The modem announced a restart while the command was pending."""

    banner: str


@dataclass(frozen=True, slots=True)
class Cancelled:
    """The engine was closed (the port went away) before the command finished."""

    reason: str


@dataclass(frozen=True, slots=True)
class TooManyLines:
    """The command produced more than ``max_info_lines`` information lines."""

    limit: int


Result: TypeAlias = (
    Ok | Error | CmeError | CmsError | CallFailed | Timeout | ModemReset | Cancelled | TooManyLines
)


# -- events ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Write:
    """Bytes to write to the modem now."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CommandCompleted:
    """A command finished; results come in the order of the :meth:`~ATEngine.send` calls."""

    command: str
    result: Result
    #: When its bytes went out; None when it failed while still queued.
    written_at: float | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """``+CMTI``: a message was stored at ``memory``/``index``."""

    location: StorageIndication


@dataclass(frozen=True, slots=True)
class NewStatusReport:
    """``+CDSI``: a status report was stored at ``memory``/``index``."""

    location: StorageIndication


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """``+CMT``: an SMS-DELIVER handed over directly (acknowledge with +CNMA)."""

    header: DeliverHeader
    pdu: str


@dataclass(frozen=True, slots=True)
class DirectStatusReport:
    """``+CDS``: an SMS-STATUS-REPORT handed over directly."""

    length: int
    pdu: str


@dataclass(frozen=True, slots=True)
class Ring:
    """``RING`` or ``+CRING: <type>``: an incoming call."""

    line: str


@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    """Unsolicited ``+CREG``/``+CGREG``/``+CEREG``/``+C5GREG``."""

    registration: Registration


@dataclass(frozen=True, slots=True)
class UssdReceived:
    """Unsolicited ``+CUSD``."""

    ussd: Ussd


@dataclass(frozen=True, slots=True)
class VendorEvent:
    """A vendor code such as ``^RSSI: 17``, ``^MODE: 5,4`` or ``^BOOT: ...``.

    Huawei modems repeat ^BOOT every few seconds, so it is not a reset banner.
    """

    name: str
    body: str
    line: str


@dataclass(frozen=True, slots=True)
class ResetBanner:
    """The modem restarted (RDY, +PBREADY, SMS Ready, ^SYSSTART): initialise again."""

    line: str


@dataclass(frozen=True, slots=True)
class Unsolicited:
    """An unsolicited line the engine has no type for."""

    line: str


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A known unsolicited code that does not parse, or a header without its PDU line."""

    line: str
    reason: str


@dataclass(frozen=True, slots=True)
class LateResponse:
    """A line that answers a command which already timed out."""

    command: str
    line: str


@dataclass(frozen=True, slots=True)
class StrayResult:
    """A final result code while no command was pending."""

    line: str


@dataclass(frozen=True, slots=True)
class LineOverflow:
    """A line longer than ``limit`` was discarded."""

    limit: int


Event: TypeAlias = (
    Write
    | CommandCompleted
    | NewMessage
    | NewStatusReport
    | DirectMessage
    | DirectStatusReport
    | Ring
    | RegistrationChanged
    | UssdReceived
    | VendorEvent
    | ResetBanner
    | Unsolicited
    | MalformedLine
    | LateResponse
    | StrayResult
    | LineOverflow
)


# -- line classification -----------------------------------------------------

_RESET_BANNERS: Final = frozenset({"RDY", "+PBREADY", "SMS READY"})
_CALL_FAILURES: Final = frozenset(
    {"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "NO DIAL TONE"}
)
# Answers some firmwares give instead of ERROR to a command they do not know.
_ERROR_WORDS: Final = frozenset({"ERROR", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS"})
# Unsolicited codes that are never the answer to a command.
_URC_ONLY: Final = ("+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CRING:")
# Unsolicited codes that may also answer a command that expects them.
_URC_SHARED: Final = ("+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:", "+CUSD:", "^")


def _is_banner(upper: str) -> bool:
    return upper in _RESET_BANNERS or upper.startswith("^SYSSTART")


def _error_code(text: str, lookup: Callable[[str], int | None]) -> int | None:
    body = text.split(":", 1)[1].strip() if ":" in text else ""
    if body.isascii() and body.isdigit():
        return int(body)
    return lookup(body) if body else None


def _final_result(line: str, upper: str) -> Result | None:
    """The final result a line stands for (an empty :class:`Ok` for OK), or None."""
    if upper == "OK":
        return Ok()
    if upper in _ERROR_WORDS:
        return Error(line)
    if upper.startswith("+CMS ERROR"):
        return CmsError(_error_code(line, cms_code_from_text), line)
    if upper.startswith("+CME ERROR"):
        return CmeError(_error_code(line, cme_code_from_text), line)
    if upper in _CALL_FAILURES:
        return CallFailed(line)
    return None


def _is_pdu(line: str) -> bool:
    return len(line) >= 2 and all(ch in _HEX for ch in line)


def _is_shared_urc(upper: str) -> bool:
    return upper.startswith(_URC_SHARED)


def _is_registration_urc(line: str) -> bool:
    if registration_prefix(line) is None:
        return False
    try:
        return parse_registration(line).unsolicited
    except ATParseError:
        return False


# -- commands ----------------------------------------------------------------


class _Phase(enum.Enum):
    QUEUED = "queued"
    PROMPT = "prompt"  # +CMGS written, waiting for "> "
    DELAY = "delay"  # prompt seen, waiting out the per-modem write delay
    RESPONSE = "response"  # waiting for the final result


class _Command:
    __slots__ = (
        "deadline",
        "expects",
        "info",
        "overflowed",
        "payload",
        "payload_delay",
        "phase",
        "prompt_timeout",
        "text",
        "timeout",
        "two_line",
        "upper",
        "written_at",
    )

    def __init__(
        self,
        *,
        text: str,
        timeout: float,
        expects: str | None,
        two_line: bool,
        payload: str | None,
        prompt_timeout: float,
        payload_delay: float,
    ) -> None:
        self.text = text
        self.upper = text.upper()
        self.timeout = timeout
        self.expects = expects.upper() if expects is not None else None
        self.two_line = two_line
        self.payload = payload
        self.prompt_timeout = prompt_timeout
        self.payload_delay = payload_delay
        self.info: list[InfoLine] = []
        self.overflowed = False
        self.phase = _Phase.QUEUED
        self.deadline = math.inf
        self.written_at: float | None = None

    def is_echo(self, upper: str) -> bool:
        if upper == self.upper:
            return True
        return (
            self.payload is not None
            and self.phase is _Phase.RESPONSE
            and upper == self.payload.upper()
        )

    def claims(self, line: str, upper: str) -> bool:
        """Whether an information line belongs to this command."""
        if self.expects is None:
            return not _is_shared_urc(upper)
        if not upper.startswith(self.expects):
            return False
        # AT+CREG? answers "+CREG: <n>,<stat>"; a "+CREG: <stat>" in between is a URC.
        return not _is_registration_urc(line)


class _HeaderKind(enum.Enum):
    INFO = "info"
    CMT = "cmt"
    CDS = "cds"


def _positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ATUsageError(f"{name} must be a positive number of seconds, not {value!r}")
    return value


def _check_text(text: str, what: str) -> None:
    if not text or not text.isascii() or not text.isprintable():
        raise ATUsageError(f"{what} must be printable ASCII without line endings: {text!r}")


# -- the engine --------------------------------------------------------------


class ATEngine:
    """One modem's AT command stream; see the module docstring.

    ``payload_delay`` is the pause between the ``> `` prompt and the +CMGS
    payload, for modems that drop data written too soon (0.05-0.1 s);
    ``recovery_delay`` the quiet time after a timeout before the next command.
    """

    __slots__ = (
        "_current",
        "_discarding",
        "_header",
        "_line",
        "_queue",
        "_recover_until",
        "_stale",
        "max_info_lines",
        "max_line_length",
        "max_queued",
        "payload_delay",
        "recovery_delay",
    )

    def __init__(
        self,
        *,
        payload_delay: float = 0.0,
        recovery_delay: float = DEFAULT_RECOVERY_DELAY,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_info_lines: int = DEFAULT_MAX_INFO_LINES,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        self.payload_delay = _positive(payload_delay, "payload_delay", allow_zero=True)
        self.recovery_delay = _positive(recovery_delay, "recovery_delay", allow_zero=True)
        if max_line_length < 16 or max_info_lines < 1 or max_queued < 0:
            raise ATUsageError("limits must be positive (max_line_length at least 16)")
        self.max_line_length = max_line_length
        self.max_info_lines = max_info_lines
        self.max_queued = max_queued
        self._line = bytearray()
        self._discarding = False
        self._current: _Command | None = None
        self._queue: deque[_Command] = deque()
        self._header: tuple[_HeaderKind, str] | None = None
        self._stale: _Command | None = None
        self._recover_until = -math.inf

    # -- inspection --

    @property
    def busy(self) -> bool:
        """A command is on the wire."""
        return self._current is not None

    @property
    def queued(self) -> int:
        """Commands waiting behind the one on the wire."""
        return len(self._queue)

    @property
    def awaiting_prompt(self) -> bool:
        """The command on the wire is a +CMGS waiting for ``> ``."""
        return self._current is not None and self._current.phase is _Phase.PROMPT

    # -- commands --

    def send(
        self,
        command: str,
        now: float,
        *,
        timeout: float,
        expects: str | None = None,
        two_line: bool = False,
        prompt_payload: str | None = None,
        prompt_timeout: float = DEFAULT_PROMPT_TIMEOUT,
        payload_delay: float | None = None,
    ) -> bytes:
        """Issue ``command`` (without the CR); return the bytes to write now.

        ``expects`` is the prefix of its information lines (``"+CSQ:"``); None
        takes every line that is not a known unsolicited code. ``two_line``
        pairs each such line with the PDU line that follows (+CMGR, +CMGL).
        With ``prompt_payload`` (the hex PDU of AT+CMGS), the engine waits up
        to ``prompt_timeout`` for ``> ``, writes the payload and Ctrl-Z after
        ``payload_delay`` (default: the engine's), then waits ``timeout`` for
        the final result. Returns ``b""`` when the command has to queue.
        """
        _check_text(command, "command")
        if not command[:2].upper() == "AT":
            raise ATUsageError(f"an AT command starts with AT: {command!r}")
        if prompt_payload is not None:
            _check_text(prompt_payload, "prompt_payload")
        delay = self.payload_delay if payload_delay is None else payload_delay
        cmd = _Command(
            text=command,
            timeout=_positive(timeout, "timeout"),
            expects=expects.strip() if expects is not None else None,
            two_line=two_line,
            payload=prompt_payload,
            prompt_timeout=_positive(prompt_timeout, "prompt_timeout"),
            payload_delay=_positive(delay, "payload_delay", allow_zero=True),
        )
        idle = self._current is None and not self._queue and now >= self._recover_until
        if not idle and len(self._queue) >= self.max_queued:
            raise QueueFull(f"{len(self._queue)} commands are already waiting")
        self._queue.append(cmd)
        return self._start_next(now)

    def close(self, reason: str = "connection closed") -> list[Event]:
        """Fail the command on the wire and every queued one; forget partial input."""
        events: list[Event] = []
        self._fail_all(Cancelled(reason), events)
        self._line.clear()
        self._discarding = False
        self._header = None
        self._stale = None
        self._recover_until = -math.inf
        return events

    # -- timers --

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        if self._current is not None:
            return self._current.deadline
        if self._queue and math.isfinite(self._recover_until):
            return self._recover_until
        return None

    def handle_timer(self, now: float) -> list[Event]:
        """Act on every deadline that has passed by ``now``."""
        events: list[Event] = []
        while True:
            cmd = self._current
            if cmd is not None:
                if now < cmd.deadline:
                    break
                if cmd.phase is _Phase.DELAY:
                    self._write_payload(cmd, now, events)
                    continue
                stage = Stage.PROMPT if cmd.phase is _Phase.PROMPT else Stage.RESPONSE
                if stage is Stage.PROMPT:
                    events.append(Write(ESC))
                if self._header is not None and self._header[0] is _HeaderKind.INFO:
                    self._header = None
                self._finish(Timeout(stage), events)
                self._stale = cmd
                self._recover_until = now + self.recovery_delay
            data = self._start_next(now)
            if data:
                events.append(Write(data))
                continue
            break
        return events

    # -- input --

    def receive(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes read from the modem; return what they mean."""
        events: list[Event] = []
        i = 0
        n = len(data)
        while i < n:
            cmd = self._current
            if cmd is not None and cmd.phase is _Phase.PROMPT:
                # The prompt has no line ending: look at each byte as it comes.
                byte = data[i]
                i += 1
                if byte in (_CR, _LF):
                    self._end_line(now, events)
                    continue
                self._append(data[i - 1 : i], events)
                if not self._discarding and self._line.strip(b" \t\x00") == b">":
                    self._line.clear()
                    self._on_prompt(cmd, now, events)
                continue
            match = _EOL.search(data, i)
            if match is None:
                self._append(data[i:], events)
                break
            end = match.start()
            if end > i:
                self._append(data[i:end], events)
            i = end + 1
            self._end_line(now, events)
        return events

    def _append(self, chunk: bytes, events: list[Event]) -> None:
        if self._discarding:
            return
        if len(self._line) + len(chunk) > self.max_line_length:
            self._line.clear()
            self._discarding = True
            events.append(LineOverflow(self.max_line_length))
            return
        self._line += chunk

    def _end_line(self, now: float, events: list[Event]) -> None:
        if self._discarding:
            self._discarding = False
            return
        if not self._line:
            return
        line = self._line.decode("latin-1").strip(_STRIP)
        self._line.clear()
        if line:
            self._on_line(line, now, events)

    # -- classification --

    def _on_line(self, line: str, now: float, events: list[Event]) -> None:
        if self._header is not None:
            header = self._header
            self._header = None
            if _is_pdu(line):
                self._pair(header, line, events)
                return
            self._pair(header, None, events)

        cmd = self._current
        upper = line.upper()
        if cmd is not None and cmd.is_echo(upper):
            return
        if self._stale is not None and upper == self._stale.upper:
            return

        if _is_banner(upper):
            events.append(ResetBanner(line))
            self._fail_all(ModemReset(line), events)
            self._stale = None
            self._recover_until = -math.inf
            return

        final = _final_result(line, upper)
        if final is not None:
            if cmd is not None:
                self._complete(cmd, final, now, events)
            elif self._stale is not None:
                events.append(LateResponse(self._stale.text, line))
                self._stale = None
            else:
                events.append(StrayResult(line))
            return

        if upper.startswith(_URC_ONLY) or upper == "RING":
            self._urc(line, upper, events)
            return

        if cmd is not None and cmd.phase is not _Phase.QUEUED and cmd.claims(line, upper):
            if cmd.two_line:
                self._header = (_HeaderKind.INFO, line)
            else:
                self._add_info(cmd, InfoLine(line))
            return
        if self._stale is not None and self._stale.claims(line, upper):
            events.append(LateResponse(self._stale.text, line))
            return
        self._urc(line, upper, events)

    def _urc(self, line: str, upper: str, events: list[Event]) -> None:
        try:
            if upper.startswith("+CMT:"):
                self._header = (_HeaderKind.CMT, line)
            elif upper.startswith("+CDS:"):
                self._header = (_HeaderKind.CDS, line)
            elif upper.startswith("+CMTI:"):
                events.append(NewMessage(parse_storage_indication(line)))
            elif upper.startswith("+CDSI:"):
                events.append(NewStatusReport(parse_storage_indication(line)))
            elif upper == "RING" or upper.startswith("+CRING:"):
                events.append(Ring(line))
            elif registration_prefix(line) is not None:
                events.append(RegistrationChanged(parse_registration(line)))
            elif upper.startswith("+CUSD:"):
                events.append(UssdReceived(parse_cusd(line)))
            elif upper.startswith("^"):
                name, _, body = line[1:].partition(":")
                events.append(VendorEvent(name.strip().upper(), body.strip(), line))
            else:
                events.append(Unsolicited(line))
        except ATParseError as exc:
            events.append(MalformedLine(line, str(exc)))

    def _pair(self, header: tuple[_HeaderKind, str], pdu: str | None, events: list[Event]) -> None:
        kind, line = header
        if kind is _HeaderKind.INFO:
            if self._current is not None:
                self._add_info(self._current, InfoLine(line, pdu))
            return
        if pdu is None:
            events.append(MalformedLine(line, "no PDU line after the header"))
            return
        try:
            if kind is _HeaderKind.CMT:
                events.append(DirectMessage(parse_cmt_header(line), pdu))
            else:
                events.append(DirectStatusReport(parse_cds_header(line), pdu))
        except ATParseError as exc:
            events.append(MalformedLine(line, str(exc)))

    def _add_info(self, cmd: _Command, item: InfoLine) -> None:
        if len(cmd.info) >= self.max_info_lines:
            cmd.overflowed = True
            return
        cmd.info.append(item)

    # -- command life cycle --

    def _start_next(self, now: float) -> bytes:
        if self._current is not None or not self._queue or now < self._recover_until:
            return b""
        cmd = self._queue.popleft()
        self._current = cmd
        self._stale = None
        cmd.written_at = now
        if cmd.payload is not None:
            cmd.phase = _Phase.PROMPT
            cmd.deadline = now + cmd.prompt_timeout
        else:
            cmd.phase = _Phase.RESPONSE
            cmd.deadline = now + cmd.timeout
        return cmd.text.encode("ascii") + b"\r"

    def _on_prompt(self, cmd: _Command, now: float, events: list[Event]) -> None:
        if cmd.payload_delay > 0:
            cmd.phase = _Phase.DELAY
            cmd.deadline = now + cmd.payload_delay
        else:
            self._write_payload(cmd, now, events)

    def _write_payload(self, cmd: _Command, now: float, events: list[Event]) -> None:
        assert cmd.payload is not None
        cmd.phase = _Phase.RESPONSE
        cmd.deadline = now + cmd.timeout
        events.append(Write(cmd.payload.encode("ascii") + CTRL_Z))

    def _complete(self, cmd: _Command, final: Result, now: float, events: list[Event]) -> None:
        if isinstance(final, Ok):
            final = TooManyLines(self.max_info_lines) if cmd.overflowed else Ok(tuple(cmd.info))
        self._finish(final, events)
        data = self._start_next(now)
        if data:
            events.append(Write(data))

    def _finish(self, result: Result, events: list[Event]) -> None:
        cmd = self._current
        assert cmd is not None
        self._current = None
        events.append(CommandCompleted(cmd.text, result, cmd.written_at))

    def _fail_all(self, result: Result, events: list[Event]) -> None:
        if self._current is not None:
            self._finish(result, events)
        while self._queue:
            cmd = self._queue.popleft()
            events.append(CommandCompleted(cmd.text, result, None))
