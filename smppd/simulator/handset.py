"""What each simulated phone received: the carrier's MT messages per destination, as text.

How this works
--------------
:class:`Handsets` is fed every submit the simulated carrier accepts
(:meth:`Handsets.add`, one call per part and destination) and answers "what
did this number receive?" (:meth:`Handsets.messages`). It reuses the text
layer and writes no decoder of its own:

* each part becomes a :class:`~smppd.text.reassembly.Part` through
  :func:`~smppd.text.reassembly.part_from_smpp`, so a UDH concatenation IE
  (8- or 16-bit reference), the three SAR TLVs or one long
  ``message_payload`` are all understood as a handset would (a part with
  neither a UDH nor SAR TLVs is what the reassembler would hand out at
  once: it is kept as it came and decoded when read);
* a :class:`~smppd.text.reassembly.Reassembler` joins the parts and decodes
  each with :func:`smppd.text.charset.decode` under the carrier's ``dcs0``
  (GSM-7 with the extension table and any national language tables the
  UDH names, Latin-1 or ASCII for ``data_coding`` 0; UCS-2 with surrogate
  pairs; every other coding the text layer knows). A message whose parts
  stop arriving shows after :data:`REASSEMBLY_TIMEOUT` with ``…`` for the
  gaps, as the gateway's own inbound reassembly would show it.

An assembled message gets the next number of one counter (``seq``), so a
reader can ask for what arrived ``since`` the last seq it saw. Numbers are
compared in a canonical form (:func:`canonical_number`): ``+46701234567``,
``46701234567`` and ``0046701234567`` are one phone.

Receipts: each part's carrier id is remembered with its message, and
:meth:`Handsets.receipt` records the final state once the carrier sends the
receipt for it. A message's ``receipt`` is known once every part's is (the
first state other than delivered if they differ); it stays ``None`` when no
receipt was asked for.

Memory is bounded: at most ``max_messages`` per number (the oldest go first)
and ``max_numbers`` numbers (the number least recently written to or read is
forgotten first); the maps from carrier ids to messages are bounded too
(:data:`MAX_RECEIPT_LINKS`). ``max_numbers = 0`` turns the view off, for load
tests that need none of it.

Pure and sans-IO: time is passed in.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple, TypeVar

from smppd.smpp.constants import MessageState
from smppd.text import charset
from smppd.text.policy import Dcs0
from smppd.text.reassembly import (
    Assembled,
    GroupKey,
    Reason,
    Reassembler,
    concat_problem,
    normalise_address,
    part_from_smpp,
)

__all__ = [
    "DEFAULT_HANDSET_MESSAGES",
    "DEFAULT_HANDSET_NUMBERS",
    "MAX_RECEIPT_LINKS",
    "REASSEMBLY_TIMEOUT",
    "HandsetMessage",
    "Handsets",
    "canonical_number",
    "display_address",
]

#: Messages kept per number.
DEFAULT_HANDSET_MESSAGES: Final = 50
#: Numbers kept; the least recently used one is forgotten first.
DEFAULT_HANDSET_NUMBERS: Final = 10_000
#: Seconds a message waits for its missing parts before it shows with gaps.
REASSEMBLY_TIMEOUT: Final = 60.0
#: Carrier ids remembered, per map, to mark a message with its receipts
#: (parts waiting for the rest of their message; receipts owed; receipts
#: that came before their message was whole).
MAX_RECEIPT_LINKS: Final = 100_000
#: Longest number a reader may ask for (an SMPP address has 20 characters;
#: room for spaces and a ``+``).
MAX_NUMBER_LENGTH: Final = 32

_PHONE_NUMBER: Final = re.compile(r"\+?[0-9][0-9 ().\-]*")
_NOT_DIGIT: Final = re.compile(r"[^0-9]")
_TON_INTERNATIONAL: Final = 1
_ESM_UDHI: Final = 0x40
_DELIVERED: Final = MessageState.DELIVERED
#: Reasons for which the current part is inside the message handed out.
_HOLDS_CURRENT_PART: Final = frozenset({Reason.COMPLETE, Reason.REMAINDER})

_K = TypeVar("_K")
_V = TypeVar("_V")

#: (ton, npi, address), as the carrier core writes addresses.
Address = tuple[int, int, str]
#: Where a part sits until its message is whole: (group, part number).
_Slot = tuple[GroupKey, int]
#: A receipt's link to a message: (carrier id, canonical number).
_Link = tuple[str, str]


@functools.lru_cache(maxsize=4096)
def canonical_number(address: str) -> str:
    """The form two addresses of one phone share.

    A phone number keeps its digits without an international prefix
    (``+46 70-123 45 67``, ``46701234567`` and ``0046701234567`` are all
    ``46701234567``); a national number (one leading ``0``) or a short code
    stays as it is written, digits only; a text sender is case-folded.
    """
    stripped = address.strip().strip("\x00")
    if not _PHONE_NUMBER.fullmatch(stripped):
        return stripped.casefold()
    digits = _NOT_DIGIT.sub("", stripped)
    if not stripped.startswith("+") and digits.startswith("00"):
        return digits[2:]
    return digits


def display_address(address: Address) -> str:
    """An address as a person writes it: ``+46701234567`` for an international number."""
    ton, _, addr = address
    if ton == _TON_INTERNATIONAL and addr.isdigit():
        return f"+{addr}"
    return addr


@dataclass(frozen=True, slots=True)
class HandsetMessage:
    """One message as the phone shows it."""

    seq: int
    source: str  # as the phone shows the sender: "72000", "+46...", "Shop"
    destination: str
    text: str
    at: float  # when its last part was accepted
    data_coding: int  # of its first part
    complete: bool
    missing: tuple[int, ...]  # part numbers that never came
    carrier_ids: tuple[str, ...]  # per part received, in part order
    receipts: tuple[MessageState | None, ...]  # per part: the state once receipted

    @property
    def receipt(self) -> MessageState | None:
        """The message's receipt state once every part has one (the worst of them)."""
        if not self.receipts or any(state is None for state in self.receipts):
            return None
        for state in self.receipts:
            if state is not _DELIVERED:
                return state
        return _DELIVERED

    def to_json(self) -> dict[str, object]:
        receipt = self.receipt
        return {
            "seq": self.seq,
            "from": self.source,
            "to": self.destination,
            "text": self.text,
            "time": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds"),
            "parts": len(self.carrier_ids),
            "complete": self.complete,
            "missing": list(self.missing),
            "data_coding": self.data_coding,
            "carrier_ids": list(self.carrier_ids),
            "receipt": None if receipt is None else receipt.name.lower(),
            "receipts": [None if s is None else s.name.lower() for s in self.receipts],
        }


class _PartInfo(NamedTuple):
    carrier_id: str
    receipt: bool  # a receipt is owed for it
    source: Address
    destination: Address
    content: tuple[bytes, int]  # payload and data_coding: tells a copy from a new part


class _Entry(NamedTuple):
    """A message on a phone, as kept: cheap to build for every submit.

    A message that was never split keeps its octets (``text`` None) and is
    decoded when read; a reassembled one keeps the reassembler's text.
    """

    seq: int
    source: Address
    destination: Address
    at: float
    data_coding: int
    text: str | None
    data: bytes
    complete: bool
    missing: tuple[int, ...]
    carrier_ids: tuple[str, ...]
    receipts: tuple[MessageState | None, ...]


class Handsets:
    """The phones behind one simulated carrier; see the module docstring."""

    def __init__(
        self,
        *,
        dcs0: Dcs0 = Dcs0.GSM7,
        max_messages: int = DEFAULT_HANDSET_MESSAGES,
        max_numbers: int = DEFAULT_HANDSET_NUMBERS,
        reassembly_timeout: float = REASSEMBLY_TIMEOUT,
        max_links: int = MAX_RECEIPT_LINKS,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if max_numbers < 0:
            raise ValueError("max_numbers cannot be negative")
        if max_links < 1:
            raise ValueError("max_links must be at least 1")
        self.dcs0 = Dcs0(dcs0)
        self.max_messages = max_messages
        self.max_numbers = max_numbers
        self.max_links = max_links
        self._decode = functools.partial(charset.decode, dcs0=self.dcs0)
        self._reassembler = Reassembler(self._decode, timeout=reassembly_timeout)
        self._phones: OrderedDict[str, deque[_Entry]] = OrderedDict()
        self._seq = 0
        # Parts held by the reassembler, by slot: which carrier id each one had.
        self._held: OrderedDict[_Slot, _PartInfo] = OrderedDict()
        # Receipts owed: (carrier id, number) -> seq of the message on that phone.
        self._owed: OrderedDict[_Link, int] = OrderedDict()
        # Receipts that came before their message was whole.
        self._early: OrderedDict[_Link, MessageState] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_numbers > 0

    @property
    def last_seq(self) -> int:
        """The seq of the latest message on any phone (0 before the first)."""
        return self._seq

    @property
    def numbers(self) -> int:
        return len(self._phones)

    # -- input ---------------------------------------------------------------------

    def add(
        self,
        *,
        carrier_id: str,
        source: Address,
        destination: Address,
        esm_class: int,
        data_coding: int,
        data: bytes,
        sar: tuple[int, int, int] | None = None,
        receipt: bool = False,
        now: float,
    ) -> None:
        """Record one accepted part for ``destination``.

        ``data`` is short_message, or message_payload when short_message is
        empty (with UDHI, either starts with a UDH); ``sar`` is
        ``(sar_msg_ref_num, sar_total_segments, sar_segment_seqnum)``;
        ``receipt`` says whether the carrier will send a receipt for it.
        """
        if not self.max_numbers:
            return
        reassembler = self._reassembler
        if reassembler.open_groups:
            self._hand_out(reassembler.expire(now))
        if sar is None and not esm_class & _ESM_UDHI:
            # Never split and no header: what the reassembler would hand out
            # at once; it is decoded when read.
            self._keep(
                _PartInfo(carrier_id, receipt, source, destination, (data, data_coding)),
                now=now,
                data_coding=data_coding,
                text=None,
                data=data,
                complete=True,
                missing=(),
            )
            return
        ref, total, seq = sar if sar is not None else (None, None, None)
        part = part_from_smpp(
            route="",
            source=source[2],
            destination=destination[2],
            esm_class=esm_class,
            short_message=data,
            data_coding=data_coding,
            sar_msg_ref_num=ref,
            sar_total_segments=total,
            sar_segment_seqnum=seq,
        )
        info = _PartInfo(carrier_id, receipt, source, destination, (part.payload, data_coding))
        slot: _Slot | None = None
        concat = part.concat
        if (
            part.problem is None
            and concat is not None
            and concat.total > 1
            and concat_problem(concat) is None
        ):
            key = GroupKey(
                "",
                normalise_address(part.source),
                normalise_address(part.destination),
                concat.ref_bits,
                concat.reference,
                concat.total,
            )
            slot = (key, concat.seq)
        placed = False
        for message in reassembler.add(part, now):
            if message.key is None:
                # Only the part just added is ever handed out on its own.
                self._record(message, [info])
                placed = True
                continue
            if slot is not None and message.reason in _HOLDS_CURRENT_PART:
                self._held[slot] = info
                placed = True
            self._record(message, self._take_held(message))
        if slot is not None and not placed:
            # Held by the reassembler until the rest arrives, unless it was
            # an identical copy of the part held in that slot (dropped).
            held = self._held.get(slot)
            if held is None or held.content != info.content:
                _bounded_set(self._held, slot, info, self.max_links)

    def receipt(self, carrier_id: str, destination: str, state: MessageState) -> None:
        """The carrier sent the receipt for the part ``carrier_id`` sent to ``destination``."""
        if not self.max_numbers:
            return
        number = canonical_number(destination)
        link = (carrier_id, number)
        seq = self._owed.pop(link, None)
        if seq is None:
            _bounded_set(self._early, link, state, self.max_links)
            return
        self._mark(number, seq, carrier_id, state)

    def expire(self, now: float) -> None:
        """Show messages whose missing parts did not come in time."""
        if self.max_numbers and self._reassembler.open_groups:
            self._hand_out(self._reassembler.expire(now))

    # -- reading --------------------------------------------------------------------

    def messages(self, number: str, *, since: int = 0, now: float) -> list[HandsetMessage]:
        """What ``number`` received, oldest first: the messages with a seq above ``since``."""
        self.expire(now)
        key = canonical_number(number)
        phone = self._phones.get(key)
        if phone is None:
            return []
        self._phones.move_to_end(key)
        return [self._message(entry) for entry in phone if entry.seq > since]

    def _message(self, entry: _Entry) -> HandsetMessage:
        text = entry.text
        if text is None:
            text = self._decode(entry.data, entry.data_coding)
        return HandsetMessage(
            seq=entry.seq,
            source=display_address(entry.source),
            destination=display_address(entry.destination),
            text=text,
            at=entry.at,
            data_coding=entry.data_coding,
            complete=entry.complete,
            missing=entry.missing,
            carrier_ids=entry.carrier_ids,
            receipts=entry.receipts,
        )

    # -- inside ----------------------------------------------------------------------

    def _hand_out(self, messages: Iterable[Assembled]) -> None:
        # Groups closed by their deadline: every one has a key.
        for message in messages:
            self._record(message, self._take_held(message))

    def _take_held(self, message: Assembled) -> list[_PartInfo | None]:
        key = message.key
        assert key is not None
        return [self._held.pop((key, seq), None) for seq in message.seqs]

    def _record(self, message: Assembled, parts: list[_PartInfo | None]) -> None:
        known = [info for info in parts if info is not None]
        if not known:
            return  # its parts were forgotten (the link bound): nothing to show
        self._keep(
            *known,
            now=message.last_arrival,
            data_coding=message.data_codings[0],
            text=message.text,
            data=b"",
            complete=message.complete,
            missing=message.missing,
        )

    def _keep(
        self,
        *parts: _PartInfo,
        now: float,
        data_coding: int,
        text: str | None,
        data: bytes,
        complete: bool,
        missing: tuple[int, ...],
    ) -> None:
        lead = parts[0]
        number = canonical_number(lead.destination[2])
        self._seq += 1
        seq = self._seq
        receipts: list[MessageState | None] = []
        for info in parts:
            link = (info.carrier_id, number)
            early = self._early.pop(link, None) if self._early else None
            if early is None and info.receipt:
                _bounded_set(self._owed, link, seq, self.max_links)
            receipts.append(early)
        phones = self._phones
        phone = phones.get(number)
        if phone is None:
            phone = phones[number] = deque(maxlen=self.max_messages)
            if len(phones) > self.max_numbers:
                phones.popitem(last=False)
        else:
            phones.move_to_end(number)
        phone.append(
            _Entry(
                seq,
                lead.source,
                lead.destination,
                now,
                data_coding,
                text,
                data,
                complete,
                missing,
                tuple(info.carrier_id for info in parts),
                tuple(receipts),
            )
        )

    def _mark(self, number: str, seq: int, carrier_id: str, state: MessageState) -> None:
        phone = self._phones.get(number)
        if phone is None:
            return  # the number was forgotten
        for index, entry in enumerate(phone):
            if entry.seq == seq:
                receipts = tuple(
                    state if cid == carrier_id else old
                    for cid, old in zip(entry.carrier_ids, entry.receipts, strict=True)
                )
                phone[index] = entry._replace(receipts=receipts)
                return


def _bounded_set(mapping: OrderedDict[_K, _V], key: _K, value: _V, limit: int) -> None:
    """Set ``key``; past ``limit`` entries, forget the oldest."""
    mapping[key] = value
    if len(mapping) > limit:
        mapping.popitem(last=False)
