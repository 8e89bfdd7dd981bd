"""The simulated carrier, sans-IO: what an SMSC decides, without sockets or clocks.

How this works
--------------
:class:`SimCarrier` is shared by the standalone SMSC (:mod:`.server`) and the
in-process connector (:mod:`.connector`); both feed it the current time.

For every submit the edge first asks :meth:`SimCarrier.admit`, which applies,
in this order: the drop fault (the Nth submit on a connection is never
answered: the edge closes the connection, :data:`DROP`), throttling (a token
bucket of ``max_tps``; ESME_RTHROTTLED), the receipt queue bound
(ESME_RMSGQFUL) and the error fault (a seeded draw against ``error_rate``;
``error_status``). A submit that passes is recorded with
:meth:`SimCarrier.accept`, which

* allocates the carrier id: a counter written as 10 decimal digits or 8 hex
  digits, or a random UUID (``id_format``); the receipt text may spell the
  same number in the other base (``receipt_id_format``) to exercise the
  gateway's id rules, while the ``receipted_message_id`` TLV always carries
  the id as ``submit_sm_resp`` gave it;
* counts the submit for the exactly-once check (below);
* draws the final state from the state mix with the seeded RNG and, if the
  submit's ``registered_delivery`` asks for a receipt in that state, puts a
  :class:`PendingReceipt` on a heap due ``receipt_delay`` seconds later.

The edge drains :meth:`SimCarrier.due_receipts` from one timer armed at
:meth:`SimCarrier.next_receipt_at`, so a thousand receipts cost one timer, not
a thousand.

Statistics (the exactly-once check)
-----------------------------------
Every accepted submit is counted under its content key,
:func:`content_key` (source address, destination address and the
short_message / message_payload octets including any UDH: 16 hex digits of a
BLAKE2b digest that a load generator computes the same way), and under its
tags: ``umr:<n>`` for a ``user_message_reference`` TLV, and the first
``ref:<tag>`` written in the text (see :data:`TEXT_TAG`). A key or tag seen a
second time is a duplicate; the first :data:`DEFAULT_MAX_REPORTED_DUPLICATES`
duplicated keys are listed.

Memory is bounded by ``max_tracked_keys`` / ``max_tracked_tags``: once that
many distinct keys (tags) are held, submits with new keys (tags) are still
accepted but no longer tracked: ``untracked_submits`` counts them and
``tracking_overflow`` is reported, and a count asked for such a key reads 0,
so a checker must treat an overflowed run as unverifiable (raise the limit or
shorten the run). Keys already held keep counting.

What the phones received
------------------------
Every accepted submit is also handed, per destination, to
:class:`~smppd.simulator.handset.Handsets` (``carrier.handsets``), which
reassembles and decodes it under the carrier's ``dcs0`` and keeps the last
messages of each number for the control endpoint's ``/handset``. The edge
calls :meth:`SimCarrier.receipt_sent` when it sends a receipt, which counts
it and marks the message on the phone with its state.
"""

from __future__ import annotations

import heapq
import math
import random
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import blake2b
from itertools import count
from typing import Final, NamedTuple

from smppd.receipt import RECEIPT_TEXT_CHARS, OutgoingReceipt, format_receipt
from smppd.simulator.handset import DEFAULT_HANDSET_MESSAGES, DEFAULT_HANDSET_NUMBERS, Handsets
from smppd.smpp.constants import CommandStatus, MessageState
from smppd.text import charset
from smppd.text.policy import DEFAULT_POLICY, Dcs0, LongMessageMode, TextPolicy
from smppd.text.segment import ReferenceAllocator, segment

__all__ = [
    "DEFAULT_MAX_PENDING_RECEIPTS",
    "DEFAULT_MAX_REPORTED_DUPLICATES",
    "DEFAULT_MAX_TRACKED_KEYS",
    "DEFAULT_MAX_TRACKED_TAGS",
    "DEFAULT_RECEIPT_DELAY",
    "DEFAULT_STATE_MIX",
    "DROP",
    "FINAL_STATES",
    "MAX_DELIVERY_ATTEMPTS",
    "REDELIVERY_DELAY",
    "TEXT_TAG",
    "Address",
    "Faults",
    "IdFormat",
    "MoPart",
    "PendingReceipt",
    "SimCarrier",
    "SimSettings",
    "SimUnavailable",
    "TokenBucket",
    "content_key",
    "parse_state_mix",
    "text_tag",
]

# -- limits and defaults -------------------------------------------------------

DEFAULT_RECEIPT_DELAY: Final = 1.0
DEFAULT_STATE_MIX: Final[tuple[tuple[MessageState, float], ...]] = (
    (MessageState.DELIVERED, 0.95),
    (MessageState.UNDELIVERABLE, 0.04),
    (MessageState.EXPIRED, 0.01),
)
#: Distinct content keys (and tags) counted; about 100 octets of memory each.
DEFAULT_MAX_TRACKED_KEYS: Final = 1_000_000
DEFAULT_MAX_TRACKED_TAGS: Final = 1_000_000
#: Duplicated keys listed in the statistics (all are counted).
DEFAULT_MAX_REPORTED_DUPLICATES: Final = 1_000
#: Receipts waiting for their time; past this, submits get ESME_RMSGQFUL.
DEFAULT_MAX_PENDING_RECEIPTS: Final = 1_000_000
#: A token bucket holds this many seconds of its rate (at least one token).
THROTTLE_BURST_SECONDS: Final = 1.0
#: Shares of a state mix may be decimals that do not add up exactly in binary.
STATE_MIX_TOLERANCE: Final = 1e-6
#: Seconds before a receipt or MO the application did not take is offered
#: again, and how many times it is offered in all.
REDELIVERY_DELAY: Final = 5.0
MAX_DELIVERY_ATTEMPTS: Final = 5
#: Longest MO address: deliver_sm's source_addr / destination_addr hold 20
#: characters and the NUL (SMPP 3.4 §5.2.8).
MAX_MO_ADDRESS_LENGTH: Final = 20
#: Longest text tag, in characters.
MAX_TAG_LENGTH: Final = 40

#: Returned by :meth:`SimCarrier.admit`: close the connection, answer nothing.
DROP: Final = -1

#: States a receipt can report as final (SMPP 3.4 §5.2.28).
FINAL_STATES: Final = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.UNKNOWN,
        MessageState.REJECTED,
    }
)
#: The ``err:`` a receipt in each state carries, and the GSM network error
#: (TS 29.002 MAP error: 1 unknown subscriber, 27 absent subscriber, 11
#: teleservice not provisioned) for the ``network_error_code`` TLV.
STATE_ERRORS: Final[dict[MessageState, int]] = {
    MessageState.DELIVERED: 0,
    MessageState.UNDELIVERABLE: 1,
    MessageState.EXPIRED: 27,
    MessageState.REJECTED: 11,
    MessageState.DELETED: 0,
    MessageState.UNKNOWN: 0,
}

#: A tag a load generator writes in its text to be counted by: ``ref:`` and
#: then letters, digits, ``.`` or ``-`` (characters GSM-7, ASCII and
#: Latin-1 all write as the same octet).
TEXT_TAG: Final = re.compile(rb"ref:([0-9A-Za-z.\-]{1,%d})" % MAX_TAG_LENGTH)
_TEXT_TAG_UCS2: Final = re.compile(
    rb"\x00r\x00e\x00f\x00:((?:\x00[0-9A-Za-z.\-]){1,%d})" % MAX_TAG_LENGTH
)

_RECEIPT_BITS: Final = 0x03  # registered_delivery bits 1-0
_ESM_UDHI: Final = 0x40
_DC_UCS2: Final = 0x08
_DEC_ID_MODULUS: Final = 10**10  # ten digits, as in Appendix B's example
_HEX_ID_MODULUS: Final = 1 << 32  # eight hex digits

#: (ton, npi, address)
Address = tuple[int, int, str]


# -- values ----------------------------------------------------------------------


class SimUnavailable(Exception):
    """The simulator cannot take an injected message now (try again later)."""


class IdFormat(StrEnum):
    DEC = "dec"
    HEX = "hex"
    UUID = "uuid"


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Faults injected into submits; changeable while running."""

    #: Close the connection, unanswered, at the Nth submit on it.
    drop_after: int | None = None
    #: Share of submits refused with ``error_status``.
    error_rate: float = 0.0
    error_status: int = CommandStatus.ESME_RSYSERR

    def __post_init__(self) -> None:
        if self.drop_after is not None and self.drop_after < 1:
            raise ValueError("drop_after must be at least 1")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if not 0 < self.error_status <= 0xFFFFFFFF:
            raise ValueError("error_status must be a non-zero command_status")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimSettings:
    receipt_delay: float = DEFAULT_RECEIPT_DELAY
    state_mix: tuple[tuple[MessageState, float], ...] = DEFAULT_STATE_MIX
    #: Submits accepted per second; ``None`` for no limit.
    max_tps: float | None = None
    id_format: IdFormat = IdFormat.DEC
    #: How the receipt text spells the id; ``None``: as ``id_format``.
    receipt_id_format: IdFormat | None = None
    seed: int | None = None
    max_tracked_keys: int = DEFAULT_MAX_TRACKED_KEYS
    max_tracked_tags: int = DEFAULT_MAX_TRACKED_TAGS
    max_reported_duplicates: int = DEFAULT_MAX_REPORTED_DUPLICATES
    max_pending_receipts: int = DEFAULT_MAX_PENDING_RECEIPTS
    #: What data_coding 0 means at this carrier, for what the phones show.
    dcs0: Dcs0 = Dcs0.GSM7
    #: Messages kept per phone, and phones kept (0: no handset view).
    handset_messages: int = DEFAULT_HANDSET_MESSAGES
    handset_numbers: int = DEFAULT_HANDSET_NUMBERS

    def __post_init__(self) -> None:
        if not 0 <= self.receipt_delay < math.inf:
            raise ValueError("receipt_delay must be a non-negative number of seconds")
        _check_mix(self.state_mix)
        if self.max_tps is not None and not 0 < self.max_tps < math.inf:
            raise ValueError("max_tps must be positive")
        formats = {self.id_format, self.receipt_id_format or self.id_format}
        if IdFormat.UUID in formats and len(formats) > 1:
            raise ValueError("a UUID id has no decimal or hexadecimal spelling")
        for name in (
            "max_tracked_keys",
            "max_tracked_tags",
            "max_reported_duplicates",
            "max_pending_receipts",
            "handset_numbers",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        if self.handset_messages < 1:
            raise ValueError("handset_messages must be at least 1")
        object.__setattr__(self, "dcs0", Dcs0(self.dcs0))


def _check_mix(mix: tuple[tuple[MessageState, float], ...]) -> None:
    if not mix:
        raise ValueError("the state mix is empty")
    for state, share in mix:
        if state not in FINAL_STATES:
            raise ValueError(f"{state.name.lower()} is not a final state")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share of {state.name.lower()} must be between 0 and 1")
    total = math.fsum(share for _, share in mix)
    if abs(total - 1.0) > STATE_MIX_TOLERANCE:
        raise ValueError(f"the shares add up to {total:g}, not 1")


def parse_state_mix(text: str) -> tuple[tuple[MessageState, float], ...]:
    """``delivered=0.95,undeliverable=0.04,expired=0.01`` as ``(state, share)`` pairs."""
    mix: list[tuple[MessageState, float]] = []
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item.strip()!r} is not state=share")
        try:
            state = MessageState[name.strip().upper()]
        except KeyError:
            names = ", ".join(sorted(s.name.lower() for s in FINAL_STATES))
            raise ValueError(f"unknown state {name.strip()!r} (one of {names})") from None
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"share {value.strip()!r} is not a number") from None
        mix.append((state, share))
    result = tuple(mix)
    _check_mix(result)
    return result


class PendingReceipt(NamedTuple):
    """A receipt the carrier owes for one accepted submit (one destination).

    A named tuple rather than a frozen dataclass: one is built for every
    submit, and a tuple is built several times faster.
    """

    system_id: str
    carrier_id: str  # as submit_sm_resp gave it: the receipted_message_id TLV
    text_id: str  # as the receipt text spells it
    source: Address  # the receipt's source: the submit's destination
    destination: Address  # the submit's source
    state: MessageState
    err: int
    submitted_at: float
    data: bytes  # the submit's text octets without UDH, for the receipt's text:
    data_coding: int
    attempt: int = 1

    def outgoing(self, now: float) -> OutgoingReceipt:
        """The Appendix B text and TLV values, done at ``now``."""
        opening = charset.decode(self.data[: 2 * RECEIPT_TEXT_CHARS], self.data_coding)
        return format_receipt(
            message_id=self.text_id,
            state=self.state,
            submit_date=datetime.fromtimestamp(self.submitted_at, UTC),
            done_date=datetime.fromtimestamp(now, UTC),
            text=opening,
            err=self.err,
        )


@dataclass(frozen=True, slots=True)
class MoPart:
    """One SMS of an injected mobile-originated message."""

    source: Address
    destination: Address
    esm_class: int
    data_coding: int
    short_message: bytes


# -- helpers -----------------------------------------------------------------------


def content_key(source: str, destination: str, data: bytes) -> str:
    """The key a submit is counted under: 16 hex digits.

    ``data`` is short_message (UDH included) or, when that is empty,
    message_payload: exactly the octets sent.
    """
    return f"{_key(source, destination, data):016x}"


def _key(source: str, destination: str, data: bytes) -> int:
    digest = blake2b(
        source.encode("latin-1") + b"\x00" + destination.encode("latin-1") + b"\x00" + data,
        digest_size=8,
    ).digest()
    return int.from_bytes(digest, "big")


def text_tag(data: bytes, data_coding: int) -> str | None:
    """The first ``ref:<tag>`` in the octets of a text, or None."""
    match = TEXT_TAG.search(data)
    if match is not None:
        return match.group(1).decode("ascii")
    if data_coding == _DC_UCS2:
        match = _TEXT_TAG_UCS2.search(data)
        if match is not None:
            return match.group(1)[1::2].decode("ascii")
    return None


def _address(addr: str) -> Address:
    """TON/NPI for an address typed by a developer."""
    if addr.startswith("+") and addr[1:].isdigit():
        return (1, 1, addr[1:])
    if addr.isdigit():
        # Long numbers are international; short codes have no TON of their own.
        return (1, 1, addr) if len(addr) > 8 else (0, 1, addr)
    return (5, 0, addr)  # alphanumeric


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up. Time is passed in."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def available(self, now: float) -> int:
        self._refill(now)
        return int(self.tokens)

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0 when there is one now)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)


@dataclass(slots=True)
class Stats:
    """Counters; :meth:`SimCarrier.snapshot` turns them into JSON."""

    binds_total: int = 0
    binds_active: int = 0
    binds_refused: int = 0
    connections_dropped: int = 0
    submits_received: int = 0
    submits_accepted: int = 0
    submits_dropped: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    receipts_scheduled: int = 0
    receipts_sent: int = 0
    receipts_acked: int = 0
    receipts_failed: int = 0
    receipts_dropped: int = 0
    mo_messages: int = 0
    mo_parts: int = 0
    mo_sent: int = 0
    mo_acked: int = 0
    mo_failed: int = 0
    mo_dropped: int = 0
    duplicate_keys: int = 0
    duplicate_tags: int = 0
    untracked_submits: int = 0
    untracked_tags: int = 0


# -- the carrier -----------------------------------------------------------------------


class SimCarrier:
    """One simulated carrier; see the module docstring."""

    def __init__(
        self, settings: SimSettings | None = None, faults: Faults | None = None, *, now: float = 0.0
    ) -> None:
        self.settings = settings = settings or SimSettings()
        self.faults = faults or Faults()
        self.stats = Stats()
        self._rng = random.Random(settings.seed)
        self._bucket: TokenBucket | None = None
        self.set_max_tps(settings.max_tps, now)
        self._set_mix(settings.state_mix)
        self._receipt_format = settings.receipt_id_format or settings.id_format
        self._next_id = self._rng.randrange(1, 1 << 31)
        self._receipts: list[tuple[float, int, PendingReceipt]] = []
        self._order = count()
        self._keys: dict[int, int] = {}
        self._tags: dict[str, int] = {}
        self._duplicates: list[str] = []
        self._references = ReferenceAllocator()
        self.handsets = Handsets(
            dcs0=settings.dcs0,
            max_messages=settings.handset_messages,
            max_numbers=settings.handset_numbers,
        )

    # -- changing behaviour while running ------------------------------------------

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults

    def set_max_tps(self, max_tps: float | None, now: float) -> None:
        if max_tps is None:
            self._bucket = None
        else:
            burst = max(1.0, max_tps * THROTTLE_BURST_SECONDS)
            self._bucket = TokenBucket(max_tps, burst, now)
        self.settings = replace(self.settings, max_tps=max_tps)

    def set_receipt_delay(self, delay: float) -> None:
        self.settings = replace(self.settings, receipt_delay=delay)

    def set_state_mix(self, mix: tuple[tuple[MessageState, float], ...]) -> None:
        self.settings = replace(self.settings, state_mix=mix)
        self._set_mix(mix)

    def _set_mix(self, mix: tuple[tuple[MessageState, float], ...]) -> None:
        states = []
        bounds = []
        running = 0.0
        for state, share in mix:
            if share > 0:
                running += share
                states.append(state)
                bounds.append(running)
        self._mix_states = tuple(states)
        self._mix_bounds = tuple(bounds)

    # -- submits ------------------------------------------------------------------------

    def admit(self, now: float, connection_submits: int = 0) -> int:
        """0 to accept a submit, an SMPP status to refuse it, or :data:`DROP`.

        ``connection_submits`` counts the submits on this connection, this
        one included.
        """
        stats = self.stats
        stats.submits_received += 1
        faults = self.faults
        if faults.drop_after is not None and connection_submits >= faults.drop_after:
            stats.submits_dropped += 1
            return DROP
        bucket = self._bucket
        if bucket is not None and not bucket.take(now):
            return self.refuse(CommandStatus.ESME_RTHROTTLED)
        if len(self._receipts) >= self.settings.max_pending_receipts:
            return self.refuse(CommandStatus.ESME_RMSGQFUL)
        if faults.error_rate and self._rng.random() < faults.error_rate:
            return self.refuse(faults.error_status)
        return 0

    def refuse(self, status: int) -> int:
        refused = self.stats.refused
        refused[status] = refused.get(status, 0) + 1
        return status

    def retry_after(self, now: float) -> float | None:
        """Seconds until a throttled sender has a token again, if throttling."""
        bucket = self._bucket
        return None if bucket is None else bucket.wait(now)

    def capacity(self, now: float, limit: int) -> int:
        """Submits that would pass throttling now, at most ``limit``."""
        bucket = self._bucket
        return limit if bucket is None else min(limit, bucket.available(now))

    def new_carrier_id(self) -> str:
        return self._allocate()[0]

    def _allocate(self) -> tuple[str, str]:
        fmt = self.settings.id_format
        if fmt is IdFormat.UUID:
            spelled = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            return spelled, spelled
        number = self._next_id
        modulus = _DEC_ID_MODULUS if fmt is IdFormat.DEC else _HEX_ID_MODULUS
        self._next_id = number % (modulus - 1) + 1
        return _spell(number, fmt), _spell(number, self._receipt_format)

    def accept(
        self,
        *,
        system_id: str,
        source: Address,
        destination: Address,
        data: bytes,
        data_coding: int = 0,
        esm_class: int = 0,
        registered_delivery: int = 0,
        user_message_reference: int | None = None,
        sar: tuple[int, int, int] | None = None,
        now: float,
        carrier_id: tuple[str, str] | None = None,
    ) -> tuple[str, str]:
        """Record an admitted submit; returns its carrier id (submit and receipt spellings).

        ``data`` is short_message, or message_payload when that is empty;
        ``sar`` the SAR TLVs ``(ref, total, seq)`` when present. Several
        destinations of one submit_multi share one id: pass the first
        call's result as ``carrier_id`` to the others.
        """
        stats = self.stats
        stats.submits_accepted += 1
        ids = carrier_id or self._allocate()
        self._count_key(_key(source[2], destination[2], data))
        tag = text_tag(data, data_coding) if data else None
        if tag is not None:
            self._count_tag(tag)
        if user_message_reference is not None:
            self._count_tag(f"umr:{user_message_reference}")
        state: MessageState | None = None
        wanted = registered_delivery & _RECEIPT_BITS
        if wanted:
            drawn = self._draw_state()
            delivered = drawn is MessageState.DELIVERED
            if wanted == 1 or (wanted == 2 and not delivered) or (wanted == 3 and delivered):
                state = drawn
        handsets = self.handsets
        if handsets.enabled:
            handsets.add(
                carrier_id=ids[0],
                source=source,
                destination=destination,
                esm_class=esm_class,
                data_coding=data_coding,
                data=data,
                sar=sar,
                receipt=state is not None,
                now=now,
            )
        if state is not None:
            if esm_class & _ESM_UDHI and data:
                data = data[1 + data[0] :]
            pending = PendingReceipt(
                system_id,
                ids[0],
                ids[1],
                destination,
                source,
                state,
                STATE_ERRORS[state],
                now,
                data,
                data_coding,
            )
            self.schedule_receipt(pending, now + self.settings.receipt_delay)
        return ids

    def _draw_state(self) -> MessageState:
        states = self._mix_states
        if len(states) == 1:
            return states[0]
        draw = self._rng.random() * self._mix_bounds[-1]
        bounds = self._mix_bounds
        for index, bound in enumerate(bounds):
            if draw < bound:
                return states[index]
        return states[-1]

    def _count_key(self, key: int) -> None:
        keys = self._keys
        seen = keys.get(key)
        if seen is None:
            if len(keys) >= self.settings.max_tracked_keys:
                self.stats.untracked_submits += 1
                return
            keys[key] = 1
            return
        keys[key] = seen + 1
        if seen == 1:
            self.stats.duplicate_keys += 1
            if len(self._duplicates) < self.settings.max_reported_duplicates:
                self._duplicates.append(f"{key:016x}")

    def _count_tag(self, tag: str) -> None:
        tags = self._tags
        seen = tags.get(tag)
        if seen is None:
            if len(tags) >= self.settings.max_tracked_tags:
                self.stats.untracked_tags += 1
                return
            tags[tag] = 1
            return
        tags[tag] = seen + 1
        if seen == 1:
            self.stats.duplicate_tags += 1

    # -- receipts -----------------------------------------------------------------------

    def schedule_receipt(self, pending: PendingReceipt, due: float) -> None:
        if pending.attempt == 1:
            self.stats.receipts_scheduled += 1
        heapq.heappush(self._receipts, (due, next(self._order), pending))

    def receipt_sent(self, pending: PendingReceipt) -> None:
        """The edge sent ``pending`` (again, when its attempt is above 1)."""
        self.stats.receipts_sent += 1
        if pending.attempt == 1:
            self.handsets.receipt(pending.carrier_id, pending.source[2], pending.state)

    def retry_receipt(self, pending: PendingReceipt, due: float) -> None:
        """Send a receipt again later (the application refused or did not answer)."""
        self.schedule_receipt(pending._replace(attempt=pending.attempt + 1), due)

    def next_receipt_at(self) -> float | None:
        receipts = self._receipts
        return receipts[0][0] if receipts else None

    def due_receipts(self, now: float) -> list[PendingReceipt]:
        receipts = self._receipts
        due: list[PendingReceipt] = []
        while receipts and receipts[0][0] <= now:
            due.append(heapq.heappop(receipts)[2])
        return due

    @property
    def pending_receipts(self) -> int:
        return len(self._receipts)

    # -- mobile-originated messages -------------------------------------------------------

    def build_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        out_of_order: bool = False,
        policy: TextPolicy = DEFAULT_POLICY,
    ) -> tuple[MoPart, ...]:
        """The SMS a handset would send for ``text`` (UDH-concatenated when long).

        ``out_of_order`` hands the parts over last first, as networks
        sometimes do. Raises ``ValueError`` for an empty address or a text
        the policy cannot carry.
        """
        for name, address in (("source", source), ("destination", destination)):
            if not 0 < len(address.removeprefix("+")) <= MAX_MO_ADDRESS_LENGTH:
                raise ValueError(f"the {name} must have 1..{MAX_MO_ADDRESS_LENGTH} characters")
            if not address.isascii() or not address.isprintable():
                raise ValueError(f"the {name} must be printable ASCII")
        if policy.long_message not in (LongMessageMode.UDH8, LongMessageMode.UDH16):
            raise ValueError("injected MO messages are concatenated with a UDH")
        message = segment(text, policy, next_reference=self._references.for_policy(source, policy))
        src = _address(source)
        dst = _address(destination)
        esm_class = message.esm_class_udhi
        parts = tuple(
            MoPart(src, dst, esm_class, message.data_coding, part.short_message)
            for part in message.parts
        )
        self.stats.mo_messages += 1
        self.stats.mo_parts += len(parts)
        return parts[::-1] if out_of_order else parts

    # -- reading the statistics -------------------------------------------------------------

    def key_count(self, key: str) -> int:
        """How many times the content key (16 hex digits) was accepted."""
        try:
            return self._keys.get(int(key, 16), 0)
        except ValueError:
            return 0

    def tag_count(self, tag: str) -> int:
        return self._tags.get(tag, 0)

    def snapshot(self) -> dict[str, object]:
        """The statistics as JSON-ready values."""
        s = self.stats
        settings = self.settings
        faults = self.faults
        return {
            "binds": {"total": s.binds_total, "active": s.binds_active, "refused": s.binds_refused},
            "connections_dropped": s.connections_dropped,
            "submits": {
                "received": s.submits_received,
                "accepted": s.submits_accepted,
                "dropped": s.submits_dropped,
                "refused": {f"0x{status:08X}": n for status, n in sorted(s.refused.items())},
            },
            "receipts": {
                "scheduled": s.receipts_scheduled,
                "pending": len(self._receipts),
                "sent": s.receipts_sent,
                "acked": s.receipts_acked,
                "failed": s.receipts_failed,
                "dropped": s.receipts_dropped,
            },
            "mo": {
                "messages": s.mo_messages,
                "parts": s.mo_parts,
                "sent": s.mo_sent,
                "acked": s.mo_acked,
                "failed": s.mo_failed,
                "dropped": s.mo_dropped,
            },
            "duplicates": {
                "keys": s.duplicate_keys,
                "tags": s.duplicate_tags,
                "listed": list(self._duplicates),
                "list_truncated": s.duplicate_keys > len(self._duplicates),
            },
            "tracking": {
                "keys": len(self._keys),
                "key_limit": settings.max_tracked_keys,
                "tags": len(self._tags),
                "tag_limit": settings.max_tracked_tags,
                "untracked_submits": s.untracked_submits,
                "untracked_tags": s.untracked_tags,
                "overflow": bool(s.untracked_submits or s.untracked_tags),
            },
            "settings": {
                "receipt_delay": settings.receipt_delay,
                "state_mix": {state.name.lower(): share for state, share in settings.state_mix},
                "max_tps": settings.max_tps,
                "id_format": settings.id_format.value,
                "receipt_id_format": self._receipt_format.value,
            },
            "handsets": {
                "numbers": self.handsets.numbers,
                "number_limit": settings.handset_numbers,
                "messages_per_number": settings.handset_messages,
                "last_seq": self.handsets.last_seq,
            },
            "faults": {
                "drop_after": faults.drop_after,
                "error_rate": faults.error_rate,
                "error_status": f"0x{faults.error_status:08X}",
            },
        }


def _spell(number: int, fmt: IdFormat) -> str:
    return f"{number:010d}" if fmt is IdFormat.DEC else f"{number:08X}"
