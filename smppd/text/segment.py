"""Outgoing text -> SMS parts, and per-destination concatenation references.

How this works
--------------
:func:`segment` takes a text and a route's :class:`TextPolicy`:

1. :func:`~smppd.text.charset.choose_encoding` picks the encoding for the
   whole text (GSM-7, a national language pair, or UCS-2) and possibly
   transliterates it.
2. Each code point gets a cost in units (septets: 1, or 2 for an escape;
   UTF-16 units: 1, or 2 for a surrogate pair). If the total fits a lone SMS
   there is one part; otherwise :func:`smppd.text.layout.plan` cuts it into
   parts of the concatenated capacity, at extended grapheme cluster
   boundaries (``regex``'s ``\\X``: flags, ZWJ sequences, skin tones and
   combining marks stay whole) and at code point boundaries only when one
   cluster alone is longer than a part. Code points are never cut, so
   neither are escape sequences or surrogate pairs.
3. The route's long-message mode ties the parts together: a UDH with IE 0x00
   (8-bit reference) or 0x08 (16-bit), SAR TLV values (no UDH), or a single
   part for ``message_payload`` (the SMSC splits; the part count it will
   need is still checked against the route's maximum).

Each :class:`Part` carries what the SMPP layer puts in ``short_message``
(UDH + unpacked septets / octets / UTF-16BE); the modem layer asks
:meth:`SegmentedMessage.tp_user_data` for packed septets with fill bits.

The reference of a concatenated message comes from a
:class:`ReferenceAllocator`: a counter per destination (bounded LRU), so
consecutive long messages to one handset never share a reference until the
counter wraps.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from smppd.text import gsm7, layout
from smppd.text.charset import (
    Encoding,
    EncodingChoice,
    choose_encoding,
    part_capacities,
)
from smppd.text.policy import DEFAULT_POLICY, Dcs0, LongMessageMode, TextPolicy
from smppd.text.udh import (
    IEI_NL_LOCKING_SHIFT,
    IEI_NL_SINGLE_SHIFT,
    Concat,
    InformationElement,
    build_udh,
)

ESM_CLASS_UDHI: Final = 0x40
DEFAULT_MAX_DESTINATIONS: Final = 100_000  # destinations whose counters are remembered
# New destinations start their counters this far apart, so a destination
# evicted and seen again is unlikely to restart at a reference it just used.
_SEED_STRIDE: Final = 0x9E37


class TooManyParts(ValueError):
    """The text needs more parts than the route allows."""

    def __init__(
        self, parts: int, max_parts: int, unit: layout.Unit, units: int, *, at_least: bool = False
    ) -> None:
        super().__init__(
            f"the text needs {'at least ' if at_least else ''}{parts} parts"
            f" ({units} {unit.value}) but this route allows at most {max_parts}"
        )
        self.parts = parts
        self.max_parts = max_parts


@dataclass(frozen=True, slots=True)
class Sar:
    """SAR TLV values of one part: sar_msg_ref_num, sar_total_segments, sar_segment_seqnum."""

    reference: int
    total: int
    seq: int


@dataclass(frozen=True, slots=True)
class Part:
    """One SMS of a message.

    ``payload`` is the text as SMPP carries it (unpacked septets, octets or
    UTF-16BE), ``units`` its size in septets / octets / UTF-16 units,
    ``udh`` the user data header (UDHL included, ``b""`` for none).
    """

    text: str
    payload: bytes
    units: int
    udh: bytes = b""
    sar: Sar | None = None

    @property
    def short_message(self) -> bytes:
        return self.udh + self.payload


@dataclass(frozen=True, slots=True)
class SegmentedMessage:
    """The parts of one text and the encoding they share."""

    choice: EncodingChoice
    mode: LongMessageMode
    parts: tuple[Part, ...]
    part_capacity: int  # units per part that the split used
    network_parts: int  # SMS on the air (differs from len(parts) only in payload mode)
    reference: int | None = None  # concatenation reference, when there is one

    @property
    def encoding(self) -> Encoding:
        return self.choice.encoding

    @property
    def data_coding(self) -> int:
        return self.choice.data_coding

    @property
    def unit(self) -> layout.Unit:
        return self.choice.unit

    @property
    def text(self) -> str:
        """What is sent: the original text, or its transliteration."""
        return self.choice.text

    @property
    def part_units(self) -> tuple[int, ...]:
        return tuple(part.units for part in self.parts)

    @property
    def esm_class_udhi(self) -> int:
        """0x40 to OR into esm_class when the parts carry a UDH, else 0."""
        return ESM_CLASS_UDHI if any(part.udh for part in self.parts) else 0

    def tp_user_data(self, index: int) -> tuple[bytes, int]:
        """TP-UD and TP-UDL of part ``index`` for an SMS-SUBMIT (modems).

        GSM-7 is packed after the UDH with fill bits and TP-UDL counts
        septets; other encodings are octets and TP-UDL counts octets.
        """
        part = self.parts[index]
        if self.encoding is Encoding.GSM7:
            return gsm7.pack_user_data(part.udh, self.choice.alphabet.encode(part.text))
        user_data = part.udh + part.payload
        return user_data, len(user_data)


def segment(
    text: str,
    policy: TextPolicy = DEFAULT_POLICY,
    *,
    next_reference: Callable[[], int] | None = None,
    choice: EncodingChoice | None = None,
) -> SegmentedMessage:
    """Encode and split ``text`` under ``policy``.

    ``next_reference`` is called once, only when the message has several
    parts (typically ``allocator.for_policy(destination, policy)``); a
    multipart message without it is a ``ValueError``. ``choice`` reuses an
    encoding already chosen for this text and policy.
    Raises :class:`TooManyParts` past ``policy.max_parts`` and
    :class:`~smppd.text.charset.TextEncodeError` when the policy forbids UCS-2
    and GSM-7 cannot carry the text.
    """
    if choice is None:
        choice = choose_encoding(text, policy)
    encoded = choice.encoded()
    clusters = layout.ClusterIndex(choice.text)
    return _assemble(choice, policy, encoded, clusters, next_reference)


def segment_octets(
    data: bytes,
    data_coding: int,
    policy: TextPolicy = DEFAULT_POLICY,
    *,
    next_reference: Callable[[], int] | None = None,
) -> SegmentedMessage:
    """Split 8-bit data (``data_coding`` 2, 4, 0xF4-0xF7...) into parts of octets."""
    data = bytes(data)
    body = data.decode("latin-1")  # one character per octet, losslessly
    choice = EncodingChoice(Encoding.BINARY, data_coding, body, "8-bit data", data=data)
    return _assemble(choice, policy, choice.encoded(), None, next_reference)


def _assemble(
    choice: EncodingChoice,
    policy: TextPolicy,
    encoded: layout.EncodedText,
    clusters: layout.ClusterIndex | None,
    next_reference: Callable[[], int] | None,
) -> SegmentedMessage:
    single, multi = part_capacities(choice, policy)
    total = encoded.units
    if total > policy.max_parts * multi:
        # Hopeless whatever the cuts: refuse before planning a huge text.
        raise TooManyParts(-(-total // multi), policy.max_parts, choice.unit, total, at_least=True)
    ranges = [(0, total)] if total <= single else layout.plan(encoded, multi, clusters)
    count = len(ranges)
    if count > policy.max_parts:
        raise TooManyParts(count, policy.max_parts, choice.unit, total)
    mode = policy.long_message
    body = choice.text
    if mode is LongMessageMode.PAYLOAD or count == 1:
        udh = build_udh(_national_ies(choice))
        part = Part(body, _payload(choice, encoded, body, 0, total), total, udh)
        return SegmentedMessage(choice, mode, (part,), single if count == 1 else multi, count)
    if next_reference is None:
        raise ValueError("a message of several parts needs a concatenation reference")
    reference = next_reference() & (0xFF if mode is LongMessageMode.UDH8 else 0xFFFF)
    national = _national_ies(choice)
    parts = []
    start_char = 0
    for seq, (start, end) in enumerate(ranges, start=1):
        end_char = encoded.char_index(end) if end < total else len(body)
        piece = body[start_char:end_char]
        payload = _payload(choice, encoded, piece, start, end)
        start_char = end_char
        if mode is LongMessageMode.SAR:
            parts.append(Part(piece, payload, end - start, sar=Sar(reference, count, seq)))
            continue
        bits = 8 if mode is LongMessageMode.UDH8 else 16
        udh = build_udh((Concat(reference, count, seq, bits).to_ie(), *national))
        parts.append(Part(piece, payload, end - start, udh))
    return SegmentedMessage(choice, mode, tuple(parts), multi, count, reference)


def _payload(
    choice: EncodingChoice, encoded: layout.EncodedText, piece: str, start: int, end: int
) -> bytes:
    if choice.encoding is Encoding.GSM7 and choice.dcs0 is not Dcs0.GSM7:
        return choice.payload(piece)  # the carrier wants Latin-1 / ASCII octets
    return encoded.data[start * encoded.width : end * encoded.width]


def _national_ies(choice: EncodingChoice) -> tuple[InformationElement, ...]:
    ies = []
    if choice.single_shift:
        ies.append(InformationElement(IEI_NL_SINGLE_SHIFT, bytes((choice.single_shift,))))
    if choice.locking_shift:
        ies.append(InformationElement(IEI_NL_LOCKING_SHIFT, bytes((choice.locking_shift,))))
    return tuple(ies)


class ReferenceAllocator:
    """Concatenation references per destination: a counter each, LRU-bounded.

    ``next(destination, bits)`` returns the destination's next reference,
    wrapped to 8 or 16 bits. The counters of at most ``max_destinations``
    destinations are kept; the least recently used is forgotten first. Not
    thread-safe: one allocator per reactor thread.
    """

    __slots__ = ("_counters", "_max", "_seed")

    def __init__(self, max_destinations: int = DEFAULT_MAX_DESTINATIONS) -> None:
        if max_destinations < 1:
            raise ValueError("max_destinations must be at least 1")
        self._max = max_destinations
        self._counters: OrderedDict[str, int] = OrderedDict()
        self._seed = 0

    def __len__(self) -> int:
        return len(self._counters)

    def next(self, destination: str, bits: int = 8) -> int:
        if bits not in (8, 16):
            raise ValueError(f"a concatenation reference has 8 or 16 bits, not {bits}")
        counter = self._counters.pop(destination, None)
        if counter is None:
            counter = self._seed
            self._seed = (self._seed + _SEED_STRIDE) & 0xFFFF
            if len(self._counters) >= self._max:
                self._counters.popitem(last=False)
        self._counters[destination] = (counter + 1) & 0xFFFF
        return counter & ((1 << bits) - 1)

    def for_policy(self, destination: str, policy: TextPolicy) -> Callable[[], int]:
        """A ``next_reference`` for :func:`segment` under ``policy``."""
        bits = 8 if policy.long_message is LongMessageMode.UDH8 else 16
        return lambda: self.next(destination, bits)
