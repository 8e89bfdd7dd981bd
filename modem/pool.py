"""Several GSM modems behind one route: the modem pool as a connector.

How this works
--------------
:class:`ModemPool` implements :class:`smppd.connectors.base.Connector`. It
owns one :class:`~modem.driver.ModemDriver` per configured modem and is the
drivers' listener.

Outbound: :meth:`ModemPool.submit` turns the SMPP-style part into an
SMS-SUBMIT (:func:`submit_pdu`: the UDH from ``short_message``, or one built
from the SAR values; GSM-7 packed by ``modem.pdu``) and gives it to a modem:

* the modem that has this message's earlier parts, while it can take it,
  so the parts of one message go out in order on one SIM;
* otherwise the least busy ready modem (fewest parts queued or on the wire)
  whose per-minute limit (a sliding 60-second window) and per-SIM daily
  limit (UTC day) leave room; ties go to the modem used least recently.

Each modem takes :attr:`ModemPoolSettings.window` parts at once: one on the
wire and the next waiting, so the next +CMGS goes out the moment the last
one is answered. :meth:`capacity` is the room left over the ready modems.

The driver's answer becomes the :class:`SubmitOutcome`: ``+CMGS: <mr>`` is
ACCEPTED with a carrier id ``<modem>:<unix time>:<mr>``; a +CMS error is
RETRY or FAILED per PROTOCOL.md §4.6; a part whose modem went away, reset
or was taken offline is REQUEUE, so the dispatcher hands it back and it goes
out through another modem. Counters of parts that never reached a modem are
given back.

Status reports are matched by (modem, TP-MR, recipient) among the parts
sent in the last :attr:`ModemPoolSettings.report_window` seconds (TP-MR
wraps at 256, so the newest match wins) and become :class:`CarrierReceipt`
values for the sink. Inbound SMS-DELIVERs become :class:`InboundPart` values
(``channel="modem"``); their ``carrier_reference`` is a digest of the
sender and the service centre time stamp, the same for the two copies a
modem with the "double report" quirk hands over. The drivers delete stored
messages only after the sink's Deferred fired.

Every :data:`STATE_INTERVAL` seconds the pool writes its modems' state to a
JSON file (:data:`STATE_FILE_NAME` in the state directory), which ``smppd
modem list`` reads; the file is replaced atomically (a temporary file in the
same directory, fsync, rename, fsync of the directory). Two things in it are
read back at start:

* the daily counters, so a restart on the same day keeps counting where it
  was;
* the status report table (``"reports"``: modem, TP-MR, recipient, carrier
  id, time sent; at most :data:`MAX_SAVED_REPORTS` per modem, the newest),
  so a status report that arrives after a restart still becomes the receipt
  the application asked for. Entries older than ``report_window`` are
  dropped on reading.

The window of loss: a part accepted by a modem is in the file at most
:data:`REPORT_WRITE_DELAY` seconds after its +CMGS answer (the writes those
answers ask for are coalesced into one per interval; the periodic write and
:meth:`ModemPool.stop` write it too). Only a crash inside that interval,
or a state directory that cannot be written (logged at every attempt),
loses the entry and with it the receipt; a report that finds no match is
logged and dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol as TwistedProtocol

from modem.address import Address, AddressError, TypeOfNumber
from modem.driver import (
    DEFAULT_TIMINGS,
    DriverTimings,
    ModemDriver,
    ModemSettings,
    ModemState,
    SendKind,
    SendResult,
)
from modem.pdu import (
    EncodedPdu,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    build_user_data,
    encode_submit,
)
from modem.transport import LinkSettings, SerialLink
from smppd.clock import DelayedCall
from smppd.connectors.base import (
    CarrierReceipt,
    ConnectorSink,
    InboundPart,
    OutboundPart,
    OutcomeKind,
    SmppAddress,
    SubmitOutcome,
)
from smppd.receipt import STAT_WORDS, Receipt
from smppd.smpp.constants import CommandStatus
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.udh import Concat, UserDataHeader, split_udh

__all__ = [
    "DEFAULT_REPORT_WINDOW",
    "DEFAULT_WINDOW",
    "MAX_SAVED_REPORTS",
    "REPORT_WRITE_DELAY",
    "STATE_FILE_NAME",
    "STATE_INTERVAL",
    "ModemPool",
    "ModemPoolSettings",
    "carrier_reference",
    "read_state",
    "submit_pdu",
]

log = logging.getLogger(__name__)

#: Parts one modem holds at once: one on the wire, one ready to follow.
DEFAULT_WINDOW: Final = 2
#: How long a sent part waits for its status report (networks keep trying for days).
DEFAULT_REPORT_WINDOW: Final = 3 * 24 * 3600.0
#: Sent parts remembered per modem for status report matching.
MAX_TRACKED_REPORTS: Final = 4096
#: Messages whose next parts are pinned to a modem.
MAX_PINNED_MESSAGES: Final = 4096
#: The per-minute limit's window.
RATE_WINDOW: Final = 60.0
#: The state file ``smppd modem list`` reads, in the gateway's state directory.
STATE_FILE_NAME: Final = "modems.json"
#: Seconds between writes of the state file; it counts as stale after three.
STATE_INTERVAL: Final = 5.0
#: Longest wait from a +CMGS answer to the state write that saves its status
#: report entry (the writes are coalesced: at most one per this interval).
REPORT_WRITE_DELAY: Final = 0.25
#: Status report entries written to the state file per modem (the newest).
MAX_SAVED_REPORTS: Final = MAX_TRACKED_REPORTS
#: Shortest validity a part is sent with (23.040's relative VP starts at 5 minutes).
MIN_VALIDITY: Final = timedelta(minutes=5)
#: The longest relative validity (TP-VP 255: 63 weeks).
MAX_VALIDITY: Final = timedelta(weeks=63)

_UDHI: Final = 0x40
_SMSC_DELIVERY_RECEIPT: Final = 0x03


@dataclass(frozen=True, slots=True)
class ModemPoolSettings:
    name: str
    modems: tuple[ModemSettings, ...]
    long_message: LongMessageMode = LongMessageMode.UDH8
    window: int = DEFAULT_WINDOW
    report_window: float = DEFAULT_REPORT_WINDOW
    state_path: Path | None = None
    timings: DriverTimings = field(default=DEFAULT_TIMINGS)
    # The connector's whole text policy (national tables, transliteration,
    # maximum parts); None: the defaults with ``long_message``.
    text_policy: TextPolicy | None = None
    # Ask the network for status reports (receipts) when the application
    # asked for one; off for SIM plans that charge for them.
    status_reports: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "modems", tuple(self.modems))
        if self.text_policy is not None and self.text_policy.long_message != self.long_message:
            raise ValueError(
                f"modem pool {self.name}: the text policy's long-message mode is not"
                f" {LongMessageMode(self.long_message).value}"
            )
        if not self.modems:
            raise ValueError(f"modem pool {self.name}: no modems")
        names = [m.name for m in self.modems]
        if len(set(names)) != len(names):
            raise ValueError(f"modem pool {self.name}: modem names repeat")
        if self.window < 1:
            raise ValueError(f"modem pool {self.name}: window must be at least 1")
        if LongMessageMode(self.long_message) not in (LongMessageMode.UDH8, LongMessageMode.UDH16):
            raise ValueError(f"modem pool {self.name}: modems send long messages with a UDH")


# -- pure conversions ---------------------------------------------------------------


def _gsm_dcs(smpp_data_coding: int) -> int:
    """The TP-DCS for an SMPP ``data_coding`` (the pool's dcs0 is GSM-7)."""
    value = smpp_data_coding & 0xFF
    if value == 0x00:
        return 0x00
    if value in (0x02, 0x04):
        return 0x04
    if value == 0x08:
        return 0x08
    # General group with a class (0x10-0x1F, as smppd's inbound side writes
    # them) and the MWI / class groups 0xC0-0xFF mean the same in SMPP and GSM.
    if 0x10 <= value <= 0x1F or value >= 0xC0:
        return value
    raise ValueError(f"data_coding 0x{value:02X} has no GSM TP-DCS; a modem cannot send it")


def _destination(address: SmppAddress) -> Address:
    digits = address.addr.strip().lstrip("+")
    if address.ton == TypeOfNumber.ALPHANUMERIC:
        raise ValueError("a modem cannot send to an alphanumeric address")
    if address.ton == TypeOfNumber.INTERNATIONAL or address.addr.startswith("+"):
        return Address(digits, TypeOfNumber.INTERNATIONAL)
    if address.ton == TypeOfNumber.NATIONAL:
        return Address(digits, TypeOfNumber.NATIONAL)
    return Address(digits, TypeOfNumber.UNKNOWN)


def submit_pdu(part: OutboundPart, now: float, *, status_reports: bool = True) -> EncodedPdu:
    """The SMSC field + SMS-SUBMIT for one part; ``now`` (Unix seconds) turns the
    absolute validity into a relative one. Raises ``ValueError`` for a part a
    modem cannot send (an address or coding with no GSM form, too long)."""
    data = part.short_message if part.short_message else (part.message_payload or b"")
    dcs = _gsm_dcs(part.data_coding)
    header: UserDataHeader | None = None
    body = data
    if part.esm_class & _UDHI:
        header, body = split_udh(data)
    elif part.sar is not None and part.sar[1] > 1:
        reference, total, seq = part.sar
        header = UserDataHeader((Concat(reference & 0xFFFF, total, seq, 16).to_ie(),))
    try:
        destination = _destination(part.destination)
    except AddressError as exc:
        raise ValueError(str(exc)) from None
    validity: timedelta | None = None
    if part.validity is not None:
        left = part.validity - datetime.fromtimestamp(now, UTC)
        validity = min(max(left, MIN_VALIDITY), MAX_VALIDITY)
    submit = SmsSubmit(
        destination,
        build_user_data(body, dcs, header),
        status_report_request=status_reports
        and bool(part.registered_delivery & _SMSC_DELIVERY_RECEIPT),
        validity=validity,
        pid=part.protocol_id & 0xFF,
    )
    return encode_submit(submit)


def carrier_reference(message: SmsDeliver) -> str:
    """The same for every copy of one received SMS: sender, SC time stamp, and
    the concatenation position (the parts of one message share a time stamp)."""
    concat = message.header.concat if message.header is not None else None
    position = "" if concat is None else f"{concat.reference}/{concat.total}/{concat.seq}"
    key = f"{message.originator}|{message.timestamp.isoformat()}|{position}"
    return hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def _smpp_address(address: Address) -> SmppAddress:
    return SmppAddress(int(address.ton), int(address.npi), address.value)


def _own_address(number: str) -> SmppAddress:
    if not number:
        return SmppAddress(0, 0, "")
    try:
        return _smpp_address(Address.parse(number))
    except AddressError:
        return SmppAddress(0, 0, number)


def _digits(address: str) -> str:
    return "".join(ch for ch in address if ch.isdigit())


def _same_recipient(a: str, b: str) -> bool:
    """Recipients compared as digits; a national and an international form of
    one number share their last digits (at least seven of them)."""
    if a == b:
        return True
    shorter = min(len(a), len(b))
    return shorter >= 7 and a[-shorter:] == b[-shorter:]


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


# -- bookkeeping --------------------------------------------------------------------


@dataclass(slots=True)
class _Sent:
    recipient: str  # digits
    carrier_id: str
    sent_at: float


@dataclass(slots=True)
class _Book:
    """Per-modem counters the pool keeps across reopens."""

    settings: ModemSettings
    outstanding: int = 0
    recent: deque[float] = field(default_factory=deque)  # send times in the rate window
    day: str = ""
    today: int = 0
    last_used: float = 0.0
    reports: dict[int, deque[_Sent]] = field(default_factory=dict)
    tracked: int = 0

    def rate_room(self, now: float) -> int:
        limit = self.settings.messages_per_minute
        while self.recent and self.recent[0] <= now - RATE_WINDOW:
            self.recent.popleft()
        return limit - len(self.recent) if limit else 1 << 30

    def daily_room(self, now: float) -> int:
        limit = self.settings.daily_limit
        if self.day != _day(now):
            self.day, self.today = _day(now), 0
        return limit - self.today if limit else 1 << 30


Opener = Callable[[LinkSettings, TwistedProtocol], "Deferred[SerialLink]"]


class ModemPool:
    """A :class:`~smppd.connectors.base.Connector` over several modems."""

    def __init__(
        self,
        settings: ModemPoolSettings,
        reactor: Any,
        sink: ConnectorSink,
        *,
        opener: Opener | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.text_policy = settings.text_policy or TextPolicy(long_message=settings.long_message)
        self._reactor = reactor
        self._sink = sink
        self.drivers: dict[str, ModemDriver] = {
            m.name: ModemDriver(m, reactor, self, timings=settings.timings, opener=opener)
            for m in settings.modems
        }
        self._books = {m.name: _Book(m) for m in settings.modems}
        self._pinned: dict[str, str] = {}  # message id -> modem, until its last part
        self._waiters: list[Deferred[None]] = []
        self._wake_timer: DelayedCall | None = None
        self._state_timer: DelayedCall | None = None
        self._report_write_timer: DelayedCall | None = None
        self._was_up = False
        self._started = False

    # -- Connector ---------------------------------------------------------------------

    @property
    def up(self) -> bool:
        return any(driver.ready for driver in self.drivers.values())

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._load_state()
        for driver in self.drivers.values():
            driver.start()
        if self.settings.state_path is not None:
            self._state_timer = self._reactor.callLater(STATE_INTERVAL, self._write_state_tick)

    def stop(self) -> Deferred[None]:
        for timer in (self._wake_timer, self._state_timer, self._report_write_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._wake_timer = self._state_timer = self._report_write_timer = None
        for driver in self.drivers.values():
            driver.stop()
        self.write_state()
        self._started = False
        return succeed(None)

    def capacity(self) -> int:
        now = self._reactor.seconds()
        return sum(self._room(name, now) for name, driver in self.drivers.items() if driver.ready)

    def when_capacity(self) -> Deferred[None]:
        waiter: Deferred[None] = Deferred()
        if self.capacity() > 0:
            waiter.callback(None)
            return waiter
        self._waiters.append(waiter)
        self._schedule_wake()
        return waiter

    def submit(self, part: OutboundPart) -> Deferred[SubmitOutcome]:
        now = self._reactor.seconds()
        try:
            encoded = submit_pdu(part, now, status_reports=self.settings.status_reports)
        except ValueError as exc:
            return succeed(
                SubmitOutcome(
                    OutcomeKind.FAILED,
                    status=int(CommandStatus.ESME_RSUBMITFAIL),
                    detail=f"cannot be sent by a modem: {exc}",
                )
            )
        name = self._choose(part.message_id, now)
        if name is None:
            return succeed(SubmitOutcome(OutcomeKind.REQUEUE, detail="no modem can take it now"))
        book = self._books[name]
        book.outstanding += 1
        book.recent.append(now)
        book.today += 1
        book.last_used = now
        if part.seq < part.total:
            self._pin(part.message_id, name)
        else:
            self._pinned.pop(part.message_id, None)
        recipient = _digits(part.destination.addr)
        return (
            self.drivers[name]
            .send(encoded.hex(), encoded.tpdu_length)
            .addCallback(self._outcome, name, recipient, now)
        )

    # -- choosing a modem ----------------------------------------------------------------

    def _room(self, name: str, now: float) -> int:
        book = self._books[name]
        window = self.settings.window - book.outstanding
        return max(0, min(window, book.rate_room(now), book.daily_room(now)))

    def _choose(self, message_id: str, now: float) -> str | None:
        pinned = self._pinned.get(message_id)
        if pinned is not None and self.drivers[pinned].ready:
            book = self._books[pinned]
            # Later parts follow their first on the same SIM even past the
            # window (they queue in order); the SIM's limits still hold.
            if min(book.rate_room(now), book.daily_room(now)) > 0:
                return pinned
        best: tuple[int, float, str] | None = None
        for name, driver in self.drivers.items():
            if not driver.ready or self._room(name, now) <= 0:
                continue
            book = self._books[name]
            key = (book.outstanding, book.last_used, name)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def _pin(self, message_id: str, name: str) -> None:
        self._pinned.pop(message_id, None)
        self._pinned[message_id] = name
        while len(self._pinned) > MAX_PINNED_MESSAGES:
            del self._pinned[next(iter(self._pinned))]

    # -- outcomes ------------------------------------------------------------------------

    def _outcome(self, result: SendResult, name: str, recipient: str, now: float) -> SubmitOutcome:
        book = self._books[name]
        book.outstanding -= 1
        if not result.written:
            # It never reached the modem: it does not count against the SIM.
            if book.recent:
                book.recent.pop()
            book.today = max(0, book.today - 1)
        outcome = self._to_outcome(result, name, recipient, now)
        self._notify()
        return outcome

    def _to_outcome(
        self, result: SendResult, name: str, recipient: str, now: float
    ) -> SubmitOutcome:
        detail = f"modem {name}: {result.detail}" if result.detail else f"modem {name}"
        if result.kind is SendKind.SENT:
            reference = result.reference if result.reference is not None else 0
            carrier_id = f"{name}:{int(now)}:{reference}"
            self._track(name, reference, recipient, carrier_id, now)
            self._write_reports_soon()
            return SubmitOutcome(OutcomeKind.ACCEPTED, carrier_id=carrier_id, detail=detail)
        if result.kind is SendKind.RETRY:
            return SubmitOutcome(
                OutcomeKind.RETRY,
                status=int(CommandStatus.ESME_RSYSERR),
                retry_after=result.retry_after,
                detail=detail,
            )
        if result.kind is SendKind.FAILED:
            return SubmitOutcome(
                OutcomeKind.FAILED, status=int(CommandStatus.ESME_RSUBMITFAIL), detail=detail
            )
        return SubmitOutcome(OutcomeKind.REQUEUE, detail=detail)

    def _track(
        self, name: str, reference: int, recipient: str, carrier_id: str, now: float
    ) -> None:
        book = self._books[name]
        entries = book.reports.setdefault(reference, deque())
        entries.append(_Sent(recipient, carrier_id, now))
        book.tracked += 1
        if book.tracked > MAX_TRACKED_REPORTS:
            self._prune(book, now, force=True)

    def _prune(self, book: _Book, now: float, *, force: bool = False) -> None:
        oldest = now - self.settings.report_window
        for reference in list(book.reports):
            entries = book.reports[reference]
            while entries and (entries[0].sent_at < oldest or (force and len(entries) > 1)):
                entries.popleft()
                book.tracked -= 1
            if not entries:
                del book.reports[reference]
        while force and book.tracked > MAX_TRACKED_REPORTS and book.reports:
            first = next(iter(book.reports))
            book.tracked -= len(book.reports.pop(first))

    def _match(self, name: str, report: SmsStatusReport, now: float) -> _Sent | None:
        book = self._books[name]
        self._prune(book, now)
        entries = book.reports.get(report.reference)
        if not entries:
            return None
        recipient = _digits(report.recipient.value)
        for entry in reversed(entries):
            if _same_recipient(entry.recipient, recipient):
                if report.is_final:
                    entries.remove(entry)
                    book.tracked -= 1
                    if not entries:
                        del book.reports[report.reference]
                return entry
        return None

    # -- capacity waiters ---------------------------------------------------------------

    def _notify(self) -> None:
        if not self._waiters or self.capacity() <= 0:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _schedule_wake(self) -> None:
        """When only the per-minute limit holds parts back, wake when it lets go."""
        if self._wake_timer is not None and self._wake_timer.active():
            return
        now = self._reactor.seconds()
        soonest: float | None = None
        for name, driver in self.drivers.items():
            book = self._books[name]
            if driver.ready and book.settings.messages_per_minute and book.recent:
                at = book.recent[0] + RATE_WINDOW
                soonest = at if soonest is None else min(soonest, at)
        if soonest is not None:
            self._wake_timer = self._reactor.callLater(max(0.0, soonest - now), self._wake)

    def _wake(self) -> None:
        self._wake_timer = None
        self._notify()
        if self._waiters:
            self._schedule_wake()

    # -- DriverListener -------------------------------------------------------------------

    def modem_state_changed(self, driver: ModemDriver, state: ModemState, detail: str) -> None:
        up = self.up
        if up != self._was_up:
            self._was_up = up
            self._sink.state_changed(self.name, up, f"modem {driver.name}: {detail}")
        if state is ModemState.READY:
            self._notify()

    def modem_inbound(self, driver: ModemDriver, message: SmsDeliver) -> Deferred[None]:
        user_data = message.user_data
        udh = user_data.header.encode() if user_data.header is not None else b""
        part = InboundPart(
            connector=self.name,
            channel="modem",
            source=_smpp_address(message.originator),
            destination=_own_address(driver.settings.own_number),
            esm_class=_UDHI if udh else 0,
            data_coding=user_data.dcs.smpp_data_coding,
            short_message=udh + user_data.body,
            message_payload=None,
            sar=None,
            received_at=self._reactor.seconds(),
            carrier_reference=carrier_reference(message),
        )
        return self._sink.inbound(part)

    def modem_status_report(self, driver: ModemDriver, report: SmsStatusReport) -> Deferred[None]:
        now = self._reactor.seconds()
        sent = self._match(driver.name, report, now)
        if sent is None:
            log.info(
                "modem %s: status report for TP-MR %d to %s matches no part sent",
                driver.name,
                report.reference,
                report.recipient,
            )
            return succeed(None)
        state = report.message_state
        receipt = Receipt(
            message_id=sent.carrier_id,
            state=state,
            stat=STAT_WORDS[state],
            text_id=sent.carrier_id,
            submit_date=_naive_utc(report.timestamp),
            done_date=_naive_utc(report.discharge_time),
            err=f"{report.status:03d}",
            err_code=report.status,
        )
        return self._sink.receipt(
            CarrierReceipt(
                connector=self.name,
                receipt=receipt,
                source=str(report.recipient),
                destination=driver.settings.own_number,
                received_at=now,
            )
        )

    # -- state file -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What the state file holds (also what a control endpoint would show)."""
        now = self._reactor.seconds()
        modems = []
        for name, driver in self.drivers.items():
            book = self._books[name]
            book.daily_room(now)
            snapshot = driver.snapshot()
            modems.append(
                {
                    **asdict(snapshot),
                    "own_number": book.settings.own_number,
                    "day": book.day,
                    "sent_today": book.today,
                    "daily_limit": book.settings.daily_limit,
                    "messages_per_minute": book.settings.messages_per_minute,
                }
            )
        return {"pool": self.name, "written_at": now, "modems": modems}

    def saved_reports(self) -> list[dict[str, Any]]:
        """The status report table as the state file holds it: per modem the
        newest :data:`MAX_SAVED_REPORTS` entries still inside ``report_window``."""
        now = self._reactor.seconds()
        saved: list[dict[str, Any]] = []
        for name, book in self._books.items():
            self._prune(book, now)
            entries = sorted(
                (
                    (sent.sent_at, reference, sent)
                    for reference, sents in book.reports.items()
                    for sent in sents
                ),
                key=lambda item: item[0],
            )
            saved.extend(
                {
                    "modem": name,
                    "reference": reference,
                    "recipient": sent.recipient,
                    "carrier_id": sent.carrier_id,
                    "sent_at": sent_at,
                }
                for sent_at, reference, sent in entries[-MAX_SAVED_REPORTS:]
            )
        return saved

    def write_state(self) -> None:
        """Replace the state file (modems, daily counts, status report table)."""
        path = self.settings.state_path
        if path is None:
            return
        if self._report_write_timer is not None and self._report_write_timer.active():
            self._report_write_timer.cancel()
        self._report_write_timer = None
        state = {**self.state(), "reports": self.saved_reports()}
        try:
            _replace_file(path, json.dumps(state, indent=1).encode("utf-8"))
        except OSError as exc:
            log.warning("modem pool %s: cannot write %s: %s", self.name, path, exc)

    def _write_state_tick(self) -> None:
        self.write_state()
        self._state_timer = self._reactor.callLater(STATE_INTERVAL, self._write_state_tick)

    def _write_reports_soon(self) -> None:
        """A new status report entry: write it within REPORT_WRITE_DELAY, one
        write for every +CMGS answered meanwhile."""
        if self.settings.state_path is None or not self._started:
            return
        if self._report_write_timer is not None and self._report_write_timer.active():
            return
        self._report_write_timer = self._reactor.callLater(REPORT_WRITE_DELAY, self.write_state)

    def _load_state(self) -> None:
        path = self.settings.state_path
        if path is None:
            return
        state = read_state(path)
        if state is None:
            return
        now = self._reactor.seconds()
        today = _day(now)
        for entry in state.get("modems", ()):
            if not isinstance(entry, Mapping):
                continue
            book = self._books.get(str(entry.get("name")))
            count = entry.get("sent_today")
            if book is not None and entry.get("day") == today and isinstance(count, int):
                book.day, book.today = today, max(0, count)
        self._load_reports(state.get("reports"), now)

    def _load_reports(self, saved: object, now: float) -> None:
        """Put the saved status report entries back, oldest first (the newest
        match wins), skipping what is malformed, expired, for a modem no
        longer configured, or already in the table."""
        if not isinstance(saved, list):
            return
        oldest = now - self.settings.report_window
        loaded: list[tuple[float, str, int, str, str]] = []
        for entry in saved:
            if not isinstance(entry, Mapping):
                continue
            name = entry.get("modem")
            reference = entry.get("reference")
            recipient = entry.get("recipient")
            carrier_id = entry.get("carrier_id")
            sent_at = entry.get("sent_at")
            if (
                not isinstance(name, str)
                or name not in self._books
                or not isinstance(reference, int)
                or isinstance(reference, bool)
                or not 0 <= reference <= 0xFF
                or not isinstance(recipient, str)
                or not isinstance(carrier_id, str)
                or not isinstance(sent_at, int | float)
                or isinstance(sent_at, bool)
                or sent_at < oldest
            ):
                continue
            loaded.append((float(sent_at), name, reference, recipient, carrier_id))
        loaded.sort(key=lambda item: item[0])
        known = {
            (name, sent.carrier_id)
            for name, book in self._books.items()
            for sents in book.reports.values()
            for sent in sents
        }
        for sent_at, name, reference, recipient, carrier_id in loaded:
            if (name, carrier_id) not in known:
                known.add((name, carrier_id))
                self._track(name, reference, _digits(recipient), carrier_id, sent_at)


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` so that a crash leaves the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    # The rename itself is durable only once the directory is.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_state(path: Path) -> dict[str, Any] | None:
    """The state file a pool wrote, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
