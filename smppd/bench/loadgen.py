"""The load generator: N binds, a window each, a fixed rate or as fast as possible.

How this works
--------------
:class:`LoadGenerator` drives :class:`~smppd.protocol.SmppProtocol` sessions
in the ESME role (bind_transceiver), so the codec and the window are
smppd's own, and every wait goes through the injected clock:

1. ``run(connect)`` builds one protocol per bind, has ``connect`` attach each
   to a transport, and binds them all.
2. Sending. :meth:`LoadGenerator._pump` sends submit_sm while the
   :class:`RateSchedule` allows (submit *k* is due at ``start + k / rate``;
   with no rate, always) and some bind has room in its window, taking the
   binds in turn. The parts of one long message go over one bind in order.
   The pump runs again when its timer falls due (the next submit's due time)
   and when a full window opens (``resume_sending``). A submit sent late
   (every window full) is sent as soon as there is room, and the largest
   lag behind the schedule is reported: the schedule is never silently
   stretched.
3. Each submit_sm_resp records its latency (from the moment the submit was
   written) in a :class:`LatencyRecorder`; the carrier's id waits in a
   bounded map for its receipt. A receipt is matched by its
   receipted_message_id and message_state TLVs (the Appendix B text only
   without them); one that comes before its submit_sm_resp waits in a
   second bounded map, and one for an id already matched is counted as a
   duplicate, not as a receipt.
4. Draining and receipts: once everything is sent and answered, the
   generator waits up to ``receipt_timeout`` for the receipts still due,
   answering every deliver_sm, then unbinds and reports a
   :class:`BenchResult`.

The texts come from a :class:`MessageFactory`: each text is split once, as
a template, by :func:`smppd.text.segment.segment`; a message is the template
with its tags and concatenation reference written into the octets, which
keeps the cost per submit to a few microseconds.

Nothing here touches the global reactor.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from typing import Any, Final

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from smppd.bench.verify import TAG_PREFIX, SubmitLedger
from smppd.clock import DelayedCall, ReactorClock
from smppd.protocol import (
    CommandStatusError,
    GenericNackError,
    PauseCause,
    RequestError,
    RequestTimeout,
    SessionHandler,
    SmppProtocol,
)
from smppd.receipt import ReceiptError, parse_receipt
from smppd.session import BindMode, CloseReason, Role, SessionConfig
from smppd.smpp._build import fast_constructor
from smppd.smpp.constants import CommandStatus, EsmClass, MessageState
from smppd.smpp.pdu import DeliverSm, DeliverSmResp, Pdu, SubmitSm
from smppd.text.policy import DEFAULT_POLICY, TextPolicy
from smppd.text.segment import ReferenceAllocator, segment
from smppd.text.udh import IEI_CONCAT_8, IEI_CONCAT_16

__all__ = [
    "DEFAULT_BINDS",
    "DEFAULT_DESTINATION_PREFIX",
    "DEFAULT_LONG_PARTS",
    "DEFAULT_MAX_AWAITED_RECEIPTS",
    "DEFAULT_MAX_DISTINCT_LATENCIES",
    "DEFAULT_MAX_EARLY_RECEIPTS",
    "DEFAULT_PROGRESS_INTERVAL",
    "DEFAULT_RECEIPT_TIMEOUT",
    "DEFAULT_SOURCE",
    "DEFAULT_WINDOW",
    "BenchConfig",
    "BenchResult",
    "Connect",
    "LatencyRecorder",
    "LatencySummary",
    "LoadGenerator",
    "MessageFactory",
    "Progress",
    "RateSchedule",
    "TextKind",
]

# ---------------------------------------------------------------------------
# Limits and defaults

DEFAULT_BINDS: Final = 1
DEFAULT_WINDOW: Final = 10
#: Seconds to wait for the last receipts once everything is sent and answered.
DEFAULT_RECEIPT_TIMEOUT: Final = 30.0
#: Seconds between progress reports.
DEFAULT_PROGRESS_INTERVAL: Final = 1.0
#: Parts of the built-in long (UCS-2) text.
DEFAULT_LONG_PARTS: Final = 3
DEFAULT_SOURCE: Final = "46700000000"
DEFAULT_DESTINATION_PREFIX: Final = "46701"
#: Digits after the prefix: messages go to this many different handsets.
DESTINATION_DIGITS: Final = 6
#: Carrier ids kept while their receipt is awaited (about 150 octets each);
#: past this, receipts are counted but not timed.
DEFAULT_MAX_AWAITED_RECEIPTS: Final = 1_000_000
#: Receipts kept that arrived before their submit_sm_resp.
DEFAULT_MAX_EARLY_RECEIPTS: Final = 100_000
#: Distinct microsecond values a latency recorder keeps exactly; past this it
#: keeps log-linear buckets (relative error below 2/SUB_BUCKETS, 0.1%).
DEFAULT_MAX_DISTINCT_LATENCIES: Final = 1_000_000
SUB_BUCKET_BITS: Final = 11
SUB_BUCKETS: Final = 1 << SUB_BUCKET_BITS
#: Longest latency recorded, in seconds; longer ones are clamped to it.
MAX_LATENCY: Final = 3600.0
#: Session timers of a bench bind; the peer's silence is never a reason to leave.
RESPONSE_TIMEOUT: Final = 30.0
#: Percentiles reported.
PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9)

_MICROS: Final = 1_000_000
_REGISTERED_DELIVERY_ANY: Final = 0x01
#: esm_class message types (bits 5-2) of a receipt, SMPP 3.4 §5.2.12.
_RECEIPT_TYPES: Final = frozenset(
    {int(EsmClass.TYPE_DELIVERY_RECEIPT), int(EsmClass.TYPE_INTERMEDIATE_NOTIFICATION)}
)
_MESSAGE_TYPE_MASK: Final = 0x3C
_build_submit: Callable[..., SubmitSm] = fast_constructor(SubmitSm)
_build_deliver_sm_resp: Callable[..., DeliverSmResp] = fast_constructor(DeliverSmResp)
_STATE_NAMES: Final = {int(state): state.name.lower() for state in MessageState}


# ---------------------------------------------------------------------------
# Latency


def _rank(p: float, n: int) -> int:
    """Nearest rank (1-based) of percentile ``p`` among ``n`` sorted samples."""
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"a percentile is between 0 and 100, not {p}")
    # As the decimal it was written as: 99.9 % of 1000 is rank 999, which
    # binary floating point would make 1000.
    return max(1, math.ceil(Fraction(repr(p)) * n / 100))


def _bucket(value: int) -> int:
    """Log-linear bucket of a microsecond value (exact below SUB_BUCKETS)."""
    shift = value.bit_length() - SUB_BUCKET_BITS
    if shift <= 0:
        return value
    return ((value >> shift) << shift) | ((1 << shift) - 1)


class LatencyRecorder:
    """Latencies in whole microseconds; exact percentiles within a memory bound.

    Counts are kept per distinct microsecond value, so memory grows with the
    spread of the values, not with the number of samples: millions of
    samples between 100 µs and 10 s fit. Past ``max_distinct`` distinct
    values the recorder folds into log-linear buckets (each value stands for
    the top of its bucket, less than 1/1024 above the truth) and says so in
    :attr:`exact`.
    """

    __slots__ = ("_counts", "_max_distinct", "count", "exact", "maximum", "minimum", "total")

    def __init__(self, max_distinct: int = DEFAULT_MAX_DISTINCT_LATENCIES) -> None:
        if max_distinct < SUB_BUCKETS:
            raise ValueError(f"max_distinct must be at least {SUB_BUCKETS}")
        self._max_distinct = max_distinct
        self._counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.minimum = 0
        self.maximum = 0
        self.exact = True

    def record(self, seconds: float) -> None:
        micros = round(min(max(seconds, 0.0), MAX_LATENCY) * _MICROS)
        self.record_micros(micros)

    def record_micros(self, micros: int) -> None:
        if self.count == 0 or micros < self.minimum:
            self.minimum = micros
        self.maximum = max(self.maximum, micros)
        self.count += 1
        self.total += micros
        counts = self._counts
        key = micros if self.exact else _bucket(micros)
        seen = counts.get(key)
        if seen is None:
            counts[key] = 1
            if len(counts) > self._max_distinct and self.exact:
                self._fold()
        else:
            counts[key] = seen + 1

    def _fold(self) -> None:
        folded: dict[int, int] = {}
        for value, n in self._counts.items():
            key = _bucket(value)
            folded[key] = folded.get(key, 0) + n
        self._counts = folded
        self.exact = False

    def percentiles_micros(self, ps: tuple[float, ...]) -> tuple[int, ...]:
        """Nearest-rank percentiles in microseconds (0 for no samples)."""
        if not self.count:
            return tuple(0 for _ in ps)
        wanted = sorted((_rank(p, self.count), i) for i, p in enumerate(ps))
        out = [0] * len(ps)
        seen = 0
        position = 0
        for value in sorted(self._counts):
            seen += self._counts[value]
            while position < len(wanted) and wanted[position][0] <= seen:
                # Bucket tops may overshoot the largest sample: never report more.
                out[wanted[position][1]] = min(value, self.maximum)
                position += 1
            if position == len(wanted):
                break
        return tuple(out)

    def percentile(self, p: float) -> float:
        """Percentile ``p`` (0-100, nearest rank) in seconds."""
        return self.percentiles_micros((p,))[0] / _MICROS

    def summary(self) -> LatencySummary:
        values = self.percentiles_micros(PERCENTILES)
        return LatencySummary(
            count=self.count,
            minimum=self.minimum / _MICROS,
            mean=(self.total / self.count / _MICROS) if self.count else 0.0,
            p50=values[0] / _MICROS,
            p90=values[1] / _MICROS,
            p99=values[2] / _MICROS,
            p999=values[3] / _MICROS,
            maximum=self.maximum / _MICROS,
            exact=self.exact,
        )


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency figures in seconds."""

    count: int
    minimum: float
    mean: float
    p50: float
    p90: float
    p99: float
    p999: float
    maximum: float
    exact: bool


# ---------------------------------------------------------------------------
# Schedule


class RateSchedule:
    """Submit ``k`` (0-based) is due at ``start + k / rate``; no rate: always due."""

    __slots__ = ("rate", "start")

    def __init__(self, rate: float | None, start: float) -> None:
        if rate is not None and not 0 < rate < math.inf:
            raise ValueError("the rate must be a positive number of submits per second")
        self.rate = rate
        self.start = start

    def due(self, k: int) -> float:
        rate = self.rate
        return self.start if rate is None else self.start + k / rate

    def allowed(self, now: float) -> int | None:
        """Submits that may have been sent by ``now`` (None: no limit)."""
        rate = self.rate
        if rate is None:
            return None
        if now < self.start:
            return 0
        # Exactly the k with due(k) <= now, so a timer set for due(k) always
        # finds k allowed: the estimate is corrected against due() itself,
        # which float rounding of (now - start) * rate alone would not give.
        n = math.floor((now - self.start) * rate) + 1
        while self.due(n) <= now:
            n += 1
        while n > 0 and self.due(n - 1) > now:
            n -= 1
        return n


# ---------------------------------------------------------------------------
# Texts


class TextKind(Enum):
    SHORT = "short"
    LONG = "long"
    LITERAL = "literal"


_SHORT_BODY: Final = "smppd bench"
# Cyrillic keeps the long text in UCS-2 (data_coding 8).
_LONG_FILLER: Final = "Проверка связи: нагрузочный тест шлюза. "


@dataclass(frozen=True, slots=True)
class _TemplatePart:
    """One part of the split template: ``head + ref + middle + tag + tail``.

    ``ref`` is the concatenation reference in the UDH (``ref_octets`` wide,
    none when 0) and ``tag`` the submit's tag in ``tag_codec``; both are
    written per message, everything else is shared.
    """

    head: bytes
    middle: bytes
    tail: bytes
    ref_octets: int
    tagged: bool
    tag_codec: str


@dataclass(frozen=True, slots=True)
class _Part:
    index: int
    pdu: SubmitSm
    tagged: bool


class MessageFactory:
    """Builds the submit_sm of message ``n``; see the module docstring.

    Every part of the built-in texts carries its own tag; a literal text
    gets one tag, in front, so only its first part can be checked when it
    is long.
    """

    def __init__(
        self,
        kind: TextKind,
        ledger: SubmitLedger,
        *,
        literal: str = "",
        source: str = DEFAULT_SOURCE,
        destination_prefix: str = DEFAULT_DESTINATION_PREFIX,
        registered_delivery: bool = True,
        long_parts: int = DEFAULT_LONG_PARTS,
        policy: TextPolicy = DEFAULT_POLICY,
    ) -> None:
        self.kind = kind
        self.ledger = ledger
        self.source = source
        self.destination_prefix = destination_prefix
        self.registered_delivery = _REGISTERED_DELIVERY_ANY if registered_delivery else 0
        placeholder = "x" * ledger.tag_length
        tagged = f"{TAG_PREFIX}{placeholder}"
        if kind is TextKind.SHORT:
            text = f"{tagged} {_SHORT_BODY}"
        elif kind is TextKind.LONG:
            if not 2 <= long_parts <= 255:
                raise ValueError("a long text has 2 to 255 parts")
            text = _long_text(tagged, long_parts, policy)
        else:
            if not literal:
                raise ValueError("a literal text cannot be empty")
            text = f"{tagged} {literal}"
        message = segment(text, policy, next_reference=lambda: 0)
        self.message = message
        udh = bool(message.esm_class_udhi)
        self.parts = tuple(
            _template_part(part.short_message, placeholder, udh) for part in message.parts
        )
        if kind is not TextKind.LITERAL and not all(p.tagged for p in self.parts):
            raise RuntimeError("a part of the built-in text has no tag after the split")
        self.esm_class = message.esm_class_udhi
        self.data_coding = message.data_coding
        self._references = ReferenceAllocator()
        self._ref_octets = max(p.ref_octets for p in self.parts)
        # Validates the addresses once; every submit then reuses them.
        self._template = SubmitSm(
            sequence_number=0,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=source,
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=self.destination(0),
            esm_class=self.esm_class,
            registered_delivery=self.registered_delivery,
            data_coding=self.data_coding,
            short_message=message.parts[0].short_message,
        )
        t = self._template
        # The fields of every submit before and after destination_addr, in
        # the order of SubmitSm's fields, for its unchecked constructor.
        self._prefix = (
            0,
            0,
            (),
            t.service_type,
            t.source_addr_ton,
            t.source_addr_npi,
            t.source_addr,
            t.dest_addr_ton,
            t.dest_addr_npi,
        )
        self._suffix = (
            t.esm_class,
            t.protocol_id,
            t.priority_flag,
            t.schedule_delivery_time,
            t.validity_period,
            t.registered_delivery,
            t.replace_if_present_flag,
            t.data_coding,
            t.sm_default_msg_id,
        )

    @property
    def parts_per_message(self) -> int:
        return len(self.parts)

    def destination(self, n: int) -> str:
        suffix = n % 10**DESTINATION_DIGITS
        return f"{self.destination_prefix}{suffix:0{DESTINATION_DIGITS}d}"

    def build(self, n: int, first_index: int) -> list[_Part]:
        """The parts of message ``n``; its submits get indices from ``first_index``."""
        destination = self.destination(n)
        reference = b""
        parts = self.parts
        if self._ref_octets:
            number = self._references.next(destination, 8 * self._ref_octets)
            reference = number.to_bytes(self._ref_octets, "big")
        tag = self.ledger.tag
        prefix = self._prefix
        suffix = self._suffix
        out: list[_Part] = []
        index = first_index
        for part in parts:
            data = (
                part.head
                + (reference if part.ref_octets else b"")
                + part.middle
                + (tag(index).encode(part.tag_codec) if part.tagged else b"")
                + part.tail
            )
            out.append(
                _Part(index, _build_submit(*prefix, destination, *suffix, data), part.tagged)
            )
            index += 1
        return out


def _long_text(tagged: str, parts: int, policy: TextPolicy) -> str:
    """A UCS-2 text of ``parts`` full parts, each opening with a tag."""
    probe = segment(_LONG_FILLER * 8, policy, next_reference=lambda: 0)
    capacity = probe.part_capacity
    filler = _LONG_FILLER * (capacity // len(_LONG_FILLER) + 1)
    chunk = f"{tagged} "
    chunk += filler[: capacity - len(chunk)]
    return chunk * parts


def _template_part(short_message: bytes, placeholder: str, udh: bool) -> _TemplatePart:
    ref_offset = 0
    ref_octets = 0
    if udh and short_message:
        # Walk the UDH for the concatenation element (UDHL, then IEI IEDL data...).
        end = 1 + short_message[0]
        pos = 1
        while pos + 2 <= end:
            iei, length = short_message[pos], short_message[pos + 1]
            if iei in (IEI_CONCAT_8, IEI_CONCAT_16):
                ref_offset = pos + 2
                ref_octets = 1 if iei == IEI_CONCAT_8 else 2
                break
            pos += 2 + length
    rest = ref_offset + ref_octets
    for codec in ("ascii", "utf-16-be"):
        tag_at = short_message.find((TAG_PREFIX + placeholder).encode(codec), rest)
        if tag_at >= 0:
            start = tag_at + len(TAG_PREFIX.encode(codec))
            end = start + len(placeholder.encode(codec))
            return _TemplatePart(
                short_message[:ref_offset],
                short_message[rest:start],
                short_message[end:],
                ref_octets,
                True,
                codec,
            )
    return _TemplatePart(
        short_message[:ref_offset], short_message[rest:], b"", ref_octets, False, "ascii"
    )


def _receipt_id_and_state(request: DeliverSm) -> tuple[str | None, str]:
    """The receipted message id and the state's name; (None, "") for no receipt.

    The receipted_message_id and message_state TLVs, when both are there,
    are all a receipt needs (and what most SMSCs send); the text is parsed
    only without them.
    """
    message_id = (request.receipted_message_id or "").strip("\x00 \t")
    state = request.message_state
    if message_id and state is not None:
        return message_id, _STATE_NAMES.get(int(state), str(int(state)))
    try:
        receipt = parse_receipt(
            request.short_message,
            message_payload=request.message_payload,
            receipted_message_id=message_id or None,
            message_state=None if state is None else int(state),
        )
    except ReceiptError:
        return None, ""
    return receipt.message_id, receipt.state.name.lower()


# ---------------------------------------------------------------------------
# Configuration and results


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchConfig:
    system_id: str
    password: str
    binds: int = DEFAULT_BINDS
    window: int = DEFAULT_WINDOW
    #: Submits per second; None: as fast as the windows allow.
    rate: float | None = None
    #: Messages to send (a long message is several submits)...
    messages: int | None = None
    #: ...or seconds to keep starting new ones.
    duration: float | None = None
    receipt_timeout: float = DEFAULT_RECEIPT_TIMEOUT
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    max_awaited_receipts: int = DEFAULT_MAX_AWAITED_RECEIPTS
    max_early_receipts: int = DEFAULT_MAX_EARLY_RECEIPTS
    system_type: str = ""

    def __post_init__(self) -> None:
        if self.binds < 1:
            raise ValueError("at least one bind")
        if self.window < 1:
            raise ValueError("the window is at least 1")
        if (self.messages is None) == (self.duration is None):
            raise ValueError("give either a number of messages or a duration")
        if self.messages is not None and self.messages < 1:
            raise ValueError("at least one message")
        if self.duration is not None and not 0 < self.duration < math.inf:
            raise ValueError("the duration is a positive number of seconds")
        if self.rate is not None and not 0 < self.rate < math.inf:
            raise ValueError("the rate is a positive number of submits per second")
        if not 0 <= self.receipt_timeout < math.inf:
            raise ValueError("the receipt timeout is a number of seconds")
        if not self.progress_interval > 0:
            raise ValueError("the progress interval is positive")

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            send_window=self.window,
            inactivity_timeout=None,
            session_init_timeout=None,
            response_timeout=RESPONSE_TIMEOUT,
        )


@dataclass(frozen=True, slots=True)
class Progress:
    """A running count, for a progress line."""

    elapsed: float
    sent: int
    accepted: int
    refused: int
    failed: int
    outstanding: int
    receipts: int
    phase: str


@dataclass(frozen=True, slots=True)
class BenchResult:
    binds: int
    binds_up: int
    window: int
    rate: float | None
    text: str
    parts_per_message: int
    registered_delivery: bool
    messages_started: int
    submits_sent: int
    submits_accepted: int
    #: command_status -> submits refused with it.
    submits_refused: dict[int, int]
    submits_timed_out: int
    #: Connection lost, generic_nack or an unreadable response.
    submits_failed: int
    #: Parts of started messages never sent (their bind went away).
    submits_abandoned: int
    #: From the first submit to the last submit_sm_resp.
    send_seconds: float
    accepted_per_second: float
    sent_per_second: float
    #: Largest delay of a submit behind its due time (fixed rate only).
    max_schedule_lag: float
    submit_latency: LatencySummary
    receipts_expected: int
    receipts_received: int
    #: Receipts whose id matches no acknowledged submit (or that are unreadable).
    receipts_unmatched: int
    #: Receipts for a message whose receipt had already come.
    receipts_duplicate: int
    receipts_untimed: int
    receipts_by_state: dict[str, int]
    receipt_latency: LatencySummary
    #: deliver_sm that were not receipts.
    mo_received: int
    #: Binds that failed or were lost, and why.
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def receipts_missing(self) -> int:
        return max(0, self.receipts_expected - self.receipts_received)


# ---------------------------------------------------------------------------
# The generator

#: Attach a protocol to a new connection; fires once connected.
Connect = Callable[[SmppProtocol], Deferred[Any]]


class _Phase(Enum):
    BINDING = "binding"
    SENDING = "sending"
    DRAINING = "draining"
    RECEIPTS = "receipts"
    DONE = "done"


class _Bind(SessionHandler):
    """One bind of the generator: its protocol and the parts waiting to go on it."""

    def __init__(self, generator: LoadGenerator, number: int) -> None:
        self.generator = generator
        self.number = number
        self.protocol: SmppProtocol | None = None
        self.queue: deque[_Part] = deque()
        self.up = False

    def request_received(self, protocol: SmppProtocol, request: Pdu) -> Pdu:
        if isinstance(request, DeliverSm):
            self.generator._deliver(request)
            # An empty deliver_sm_resp cannot be invalid: skip the checks.
            return _build_deliver_sm_resp(request.sequence_number, 0, (), "")
        return request.response(command_status=CommandStatus.ESME_RINVCMDID)

    def resume_sending(self, protocol: SmppProtocol, cause: PauseCause) -> None:
        self.generator._pump()

    def unbound(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.generator._bind_down(self, reason)

    def connection_lost(self, protocol: SmppProtocol, reason: CloseReason) -> None:
        self.generator._bind_down(self, reason)


class LoadGenerator:
    """See the module docstring. One run per instance."""

    def __init__(
        self,
        config: BenchConfig,
        factory: MessageFactory,
        clock: ReactorClock,
        *,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.config = config
        self.factory = factory
        self.ledger = factory.ledger
        self.clock = clock
        self.on_progress = on_progress
        self._phase = _Phase.BINDING
        self._binds = [_Bind(self, i) for i in range(config.binds)]
        self._turn = 0
        self._schedule = RateSchedule(config.rate, clock.seconds())
        self._started_at = clock.seconds()
        self._stop_starting_at: float | None = None
        self._no_more_messages = False
        self._messages = 0
        self._next_index = 0
        self._sent = 0
        self._accepted = 0
        self._refused: dict[int, int] = {}
        self._timed_out = 0
        self._failed = 0
        self._abandoned = 0
        self._outstanding = 0
        self._first_send: float | None = None
        self._last_response: float | None = None
        self._max_lag = 0.0
        self._submit_latency = LatencyRecorder()
        self._receipt_latency = LatencyRecorder()
        self._awaited: dict[str, float] = {}
        # Receipts that came before their submit_sm_resp: id -> (time, state).
        self._early: dict[str, tuple[float, str]] = {}
        self._receipts_expected = 0
        self._receipts_matched = 0
        self._receipts_unmatched = 0
        self._receipts_duplicate = 0
        # Ids whose receipt came, insertion-ordered and bounded, to tell a
        # receipt sent twice from one that matches nothing.
        self._matched_ids: dict[str, None] = {}
        self._receipts_untimed = 0
        self._receipts_untracked_due = 0
        self._receipt_states: dict[str, int] = {}
        self._mo = 0
        self._errors: list[str] = []
        self._pump_timer: DelayedCall | None = None
        self._phase_timer: DelayedCall | None = None
        self._progress_timer: DelayedCall | None = None
        self._result: Deferred[BenchResult] = Deferred()

    # -- running ---------------------------------------------------------

    def run(self, connect: Connect) -> Deferred[BenchResult]:
        """Connect and bind every bind, send, collect receipts, unbind; fires with the result."""
        config = self.config
        binding: list[Deferred[None]] = []
        for bind in self._binds:
            protocol = SmppProtocol(Role.ESME, bind, self.clock, config=config.session_config())
            bind.protocol = protocol
            binding.append(self._connect_and_bind(bind, protocol, connect))
        gathered = defer.gatherResults(binding, consumeErrors=True)
        gathered.addCallback(lambda _: self._start_sending())
        self._arm_progress()
        return self._result

    def _connect_and_bind(
        self, bind: _Bind, protocol: SmppProtocol, connect: Connect
    ) -> Deferred[None]:
        config = self.config

        def do_bind(_: object) -> Deferred[Any]:
            return protocol.bind(
                BindMode.TRANSCEIVER,
                config.system_id,
                config.password,
                system_type=config.system_type,
            )

        def bound(_: object) -> None:
            bind.up = True

        def failed(failure: Failure) -> None:
            self._errors.append(f"bind {bind.number}: {failure.getErrorMessage()}")

        connecting = connect(protocol)
        connecting.addCallback(do_bind)
        connecting.addCallbacks(bound, failed)
        return connecting

    def _start_sending(self) -> None:
        if not any(b.up for b in self._binds):
            self._finish()
            return
        now = self.clock.seconds()
        self._phase = _Phase.SENDING
        self._schedule = RateSchedule(self.config.rate, now)
        self._started_at = now
        if self.config.duration is not None:
            self._stop_starting_at = now + self.config.duration
            self._phase_timer = self.clock.callLater(self.config.duration, self._duration_over)
        self._pump()

    def _duration_over(self) -> None:
        self._phase_timer = None
        self._no_more_messages = True
        self._pump()

    # -- sending ---------------------------------------------------------

    def _pump(self) -> None:
        if self._phase is not _Phase.SENDING:
            return
        now = self.clock.seconds()
        allowed = self._schedule.allowed(now)
        binds = self._binds
        count = len(binds)
        progress = True
        while progress and (allowed is None or self._sent < allowed):
            progress = False
            for step in range(count):
                if allowed is not None and self._sent >= allowed:
                    break
                bind = binds[(self._turn + step) % count]
                protocol = bind.protocol
                if not bind.up or protocol is None or not protocol.can_send:
                    continue
                if not bind.queue and not self._start_message(bind, now):
                    continue
                self._send(bind, protocol, now)
                progress = True
            self._turn = (self._turn + 1) % count
        if self._no_more_messages and not any(b.queue for b in binds if b.up):
            self._sending_over()
            return
        if allowed is not None and self._sent >= allowed:
            self._arm_pump(self._schedule.due(self._sent) - now)

    def _start_message(self, bind: _Bind, now: float) -> bool:
        if self._no_more_messages:
            return False
        limit = self.config.messages
        if (limit is not None and self._messages >= limit) or (
            self._stop_starting_at is not None and now >= self._stop_starting_at
        ):
            self._no_more_messages = True
            return False
        parts = self.factory.build(self._messages, self._next_index)
        self._next_index += len(parts)
        bind.queue.extend(parts)
        self._messages += 1
        return True

    def _send(self, bind: _Bind, protocol: SmppProtocol, now: float) -> None:
        part = bind.queue.popleft()
        if self._schedule.rate is not None:
            lag = now - self._schedule.due(self._sent)
            self._max_lag = max(self._max_lag, lag)
        self._sent += 1
        self._outstanding += 1
        if self._first_send is None:
            self._first_send = now
        self.ledger.sent(part.index, part.tagged)
        result = protocol.send_request(part.pdu)
        result.addCallbacks(
            self._answered, self._not_answered, callbackArgs=(part, now), errbackArgs=(now,)
        )

    def _arm_pump(self, delay: float) -> None:
        if self._pump_timer is not None and self._pump_timer.active():
            return
        self._pump_timer = self.clock.callLater(max(0.0, delay), self._pump_due)

    def _pump_due(self) -> None:
        self._pump_timer = None
        self._pump()

    # -- responses -------------------------------------------------------

    def _answered(self, response: Pdu, part: _Part, sent_at: float) -> None:
        now = self.clock.seconds()
        self._outstanding -= 1
        self._accepted += 1
        self._last_response = now
        self._submit_latency.record(now - sent_at)
        self.ledger.accepted(part.index)
        if self.factory.registered_delivery:
            self._receipts_expected += 1
            message_id: str = getattr(response, "message_id", "")
            early = self._early.pop(message_id, None)
            if early is not None:
                arrived, state = early
                self._receipt_matched(message_id, state, arrived - sent_at)
            elif len(self._awaited) < self.config.max_awaited_receipts:
                self._awaited[message_id] = sent_at
            else:
                self._receipts_untracked_due += 1
        self._after_response()

    def _not_answered(self, failure: Failure, sent_at: float) -> None:
        now = self.clock.seconds()
        self._outstanding -= 1
        error = failure.value
        if isinstance(error, CommandStatusError) and not isinstance(error, GenericNackError):
            self._last_response = now
            self._submit_latency.record(now - sent_at)
            self._refused[error.status] = self._refused.get(error.status, 0) + 1
        elif isinstance(error, RequestTimeout):
            self._timed_out += 1
        elif isinstance(error, RequestError):
            self._failed += 1
        else:
            self._failed += 1
            self._errors.append(f"submit failed: {failure.getErrorMessage()}")
        self._after_response()

    def _after_response(self) -> None:
        if self._phase is _Phase.DRAINING and not self._outstanding:
            self._drained()

    def _sending_over(self) -> None:
        self._phase = _Phase.DRAINING
        self._cancel(self._pump_timer)
        self._pump_timer = None
        if not self._outstanding:
            self._drained()

    def _drained(self) -> None:
        self._phase = _Phase.RECEIPTS
        self._cancel(self._phase_timer)
        if self._receipts_done() or not any(b.up for b in self._binds):
            # Nothing more is due, or no bind is left to bring it.
            self._finish()
            return
        self._phase_timer = self.clock.callLater(self.config.receipt_timeout, self._finish)

    # -- receipts --------------------------------------------------------

    def _deliver(self, request: DeliverSm) -> None:
        if request.esm_class & _MESSAGE_TYPE_MASK not in _RECEIPT_TYPES:
            self._mo += 1
            return
        now = self.clock.seconds()
        message_id, state = _receipt_id_and_state(request)
        if message_id is None:
            self._receipts_unmatched += 1
            return
        if message_id in self._matched_ids:
            self._receipts_duplicate += 1
            return
        sent_at = self._awaited.pop(message_id, None)
        if sent_at is not None:
            self._receipt_matched(message_id, state, now - sent_at)
        elif self._receipts_untracked_due:
            self._receipts_untracked_due -= 1
            self._receipts_untimed += 1
            self._receipt_matched(message_id, state, None)
        elif len(self._early) < self.config.max_early_receipts:
            self._early[message_id] = (now, state)
        else:
            self._receipts_unmatched += 1
        if self._phase is _Phase.RECEIPTS and self._receipts_done():
            # After this deliver_sm_resp is written: unbinding first would
            # leave the carrier's last receipt unanswered.
            self._cancel(self._phase_timer)
            self._phase_timer = self.clock.callLater(0, self._finish)

    def _receipt_matched(self, message_id: str, state: str, latency: float | None) -> None:
        self._receipts_matched += 1
        self._receipt_states[state] = self._receipt_states.get(state, 0) + 1
        if latency is not None:
            self._receipt_latency.record(latency)
        matched = self._matched_ids
        matched[message_id] = None
        if len(matched) > self.config.max_awaited_receipts:
            # The oldest first: a duplicate comes soon after the original.
            del matched[next(iter(matched))]

    def _receipts_done(self) -> bool:
        if not self.factory.registered_delivery:
            return True
        return self._receipts_matched >= self._receipts_expected

    # -- binds coming and going -----------------------------------------

    def _bind_down(self, bind: _Bind, reason: CloseReason) -> None:
        if not bind.up:
            return
        bind.up = False
        if self._phase is not _Phase.DONE:
            self._errors.append(f"bind {bind.number} lost: {reason.value}")
        self._abandoned += len(bind.queue)
        bind.queue.clear()
        if self._phase is _Phase.SENDING:
            if not any(b.up for b in self._binds):
                self._no_more_messages = True
            self._pump()
        elif self._phase is _Phase.RECEIPTS and not any(b.up for b in self._binds):
            self._cancel(self._phase_timer)
            self._phase_timer = self.clock.callLater(0, self._finish)

    # -- progress and the end -------------------------------------------

    def stop(self) -> None:
        """Stop now: start nothing more, unbind, and fire the result with what was seen."""
        self._finish()

    def snapshot(self) -> BenchResult:
        """The figures so far (the result of a run that has not ended)."""
        return self._build_result()

    def progress(self) -> Progress:
        return Progress(
            elapsed=self.clock.seconds() - self._started_at,
            sent=self._sent,
            accepted=self._accepted,
            refused=sum(self._refused.values()),
            failed=self._timed_out + self._failed,
            outstanding=self._outstanding,
            receipts=self._receipts_matched,
            phase=self._phase.value,
        )

    def _arm_progress(self) -> None:
        if self.on_progress is not None:
            self._progress_timer = self.clock.callLater(
                self.config.progress_interval, self._progress_due
            )

    def _progress_due(self) -> None:
        self._progress_timer = None
        if self._phase is _Phase.DONE or self.on_progress is None:
            return
        self.on_progress(self.progress())
        self._arm_progress()

    def _finish(self) -> None:
        if self._phase is _Phase.DONE:
            return
        self._phase = _Phase.DONE
        for timer in (self._pump_timer, self._phase_timer, self._progress_timer):
            self._cancel(timer)
        self._pump_timer = self._phase_timer = self._progress_timer = None
        result = self._build_result()
        leaving = [b.protocol.unbind() for b in self._binds if b.protocol is not None and b.up]
        for bind in self._binds:
            if bind.protocol is not None and not bind.up:
                bind.protocol.abort()
        gathered = defer.gatherResults(leaving, consumeErrors=True)
        gathered.addBoth(lambda _: self._result.callback(result))

    @staticmethod
    def _cancel(timer: DelayedCall | None) -> None:
        if timer is not None and timer.active():
            timer.cancel()

    def _build_result(self) -> BenchResult:
        first = self._first_send
        last = self._last_response
        span = (last - first) if first is not None and last is not None else 0.0
        config = self.config
        return BenchResult(
            binds=config.binds,
            binds_up=sum(1 for b in self._binds if b.up),
            window=config.window,
            rate=config.rate,
            text=self.factory.kind.value,
            parts_per_message=self.factory.parts_per_message,
            registered_delivery=bool(self.factory.registered_delivery),
            messages_started=self._messages,
            submits_sent=self._sent,
            submits_accepted=self._accepted,
            submits_refused=dict(sorted(self._refused.items())),
            submits_timed_out=self._timed_out,
            submits_failed=self._failed,
            submits_abandoned=self._abandoned,
            send_seconds=span,
            accepted_per_second=self._accepted / span if span > 0 else 0.0,
            sent_per_second=self._sent / span if span > 0 else 0.0,
            max_schedule_lag=self._max_lag,
            submit_latency=self._submit_latency.summary(),
            receipts_expected=self._receipts_expected,
            receipts_received=self._receipts_matched,
            receipts_unmatched=self._receipts_unmatched + len(self._early),
            receipts_duplicate=self._receipts_duplicate,
            receipts_untimed=self._receipts_untimed,
            receipts_by_state=dict(sorted(self._receipt_states.items())),
            receipt_latency=self._receipt_latency.summary(),
            mo_received=self._mo,
            errors=tuple(self._errors),
        )
