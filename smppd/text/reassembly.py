"""Reassembly of incoming multipart SMS (PROTOCOL.md §3).

How this works
--------------
Every incoming SMS becomes a :class:`Part`, whatever carried it: an SMPP
``deliver_sm``/``data_sm`` (:func:`part_from_smpp`) with a UDH concatenation
IE (8- or 16-bit reference) or the three SAR TLVs (16-bit reference), or a
modem's SMS-DELIVER (:func:`part_from_header`, :func:`part_from_user_data`).
A part keeps its own octets and ``data_coding``: parts of one message may use
different alphabets, so each is decoded on its own and only the texts are
joined.

:class:`Reassembler` groups parts under a :class:`GroupKey` (route, normalised
source, destination, ref_bits, reference, total) and hands out an
:class:`Assembled` message:

* at once, for a part that carries no concatenation information, that says
  ``total == 1``, or whose seq/total are impossible (seq 0, seq > total,
  total 0; the part is delivered on its own, flagged ``Reason.INVALID``);
* when the last missing part of a group arrives, in any order;
* at the group's deadline (first arrival + ``timeout``): what arrived, with
  ``gap_marker`` where parts are missing and their numbers in ``missing``;
* when a different part arrives under an existing key and seq (a reference
  collision): the old group is closed with what it has and a new one opened;
* when a memory limit would be exceeded: the oldest groups are closed with
  what they have;
* when the parts that arrive after such an early closing (a limit, or the
  timeout) complete what it lacked: the remainder, at once.

Nothing is dropped except an identical copy of a part already held, or of a
part of a group closed within the last ``timeout`` (an SMSC resending after a
late ``deliver_sm_resp``). Parts are acknowledged by the caller before they
reach this module; this module never loses one.

Pure and sans-IO: time is passed in as ``now``. A Twisted adapter calls
:meth:`Reassembler.add` per part, arms one timer at
:meth:`Reassembler.next_deadline` and calls :meth:`Reassembler.expire` when it
fires. :meth:`Reassembler.snapshot` / :meth:`Reassembler.restore` carry the
open groups across a restart as JSON-ready plain data.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Protocol, TypedDict

from smppd.text.udh import (
    IEI_CONCAT_8,
    IEI_CONCAT_16,
    IEI_NL_LOCKING_SHIFT,
    IEI_NL_SINGLE_SHIFT,
    Concat,
    InformationElement,
    UDHError,
    UserDataHeader,
    split_udh,
)

# A group waits this long (seconds from its first part) for missing parts.
# Kannel's default is 1800 s; 8-bit references wrap after 256 long messages
# from one sender, so a shorter window lowers the risk of a false merge.
DEFAULT_TIMEOUT: Final = 600.0
# Open groups held at once; beyond this the oldest is delivered incomplete.
DEFAULT_MAX_OPEN_GROUPS: Final = 10_000
# Payload octets held across all open groups (a 255-part message of
# 64 KiB message_payload parts would otherwise pin 16 MiB).
DEFAULT_MAX_BUFFERED_OCTETS: Final = 8 * 1024 * 1024
# Closed groups remembered (for ``timeout`` seconds) to drop late duplicates.
DEFAULT_MAX_CLOSED_REMEMBERED: Final = 10_000
# Stands in for each run of missing parts in the text of an incomplete message.
DEFAULT_GAP_MARKER: Final = "…"

SNAPSHOT_VERSION: Final = 1
ESM_CLASS_UDHI: Final = 0x40


class Decoder(Protocol):
    """Turns one part's payload into text; must not raise.

    ``smppd.text.charset.decode`` with the carrier's ``dcs0`` bound
    (``functools.partial(decode, dcs0=...)``) fits. ``locking_shift`` and
    ``single_shift`` are the national language ids of the part's own UDH.
    """

    def __call__(
        self, data: bytes, data_coding: int, *, locking_shift: int = 0, single_shift: int = 0
    ) -> str: ...


_PHONE_NUMBER = re.compile(r"\+?[0-9][0-9 ().\-]*")
_NOT_DIGIT = re.compile(r"[^0-9]")
_DIGEST_SIZE = 16
_CONCAT_IEIS = (IEI_CONCAT_8, IEI_CONCAT_16)


class Reason(StrEnum):
    """Why a message was delivered."""

    COMPLETE = "complete"  # every part of a concatenated message arrived
    SINGLE = "single"  # the message was never split (no concatenation info, or total 1)
    INVALID = "invalid"  # unusable concatenation info or UDH: the part on its own
    TIMEOUT = "timeout"  # the group's deadline passed with parts missing
    COLLISION = "collision"  # a different part arrived under the same key and seq
    LIMIT = "limit"  # a memory limit forced the group out early
    REMAINDER = "remainder"  # the rest of a message whose other parts went out earlier
    DRAINED = "drained"  # flushed on request (shutdown without persistence)


@dataclass(frozen=True, slots=True)
class GroupKey:
    """What identifies one concatenated message (PROTOCOL.md §3).

    ``total`` and ``destination`` are part of it to lower the odds of two
    messages sharing a reference; ``ref_bits`` keeps an 8-bit reference 23
    apart from a 16-bit reference 23.
    """

    route: str
    source: str
    destination: str
    ref_bits: int
    reference: int
    total: int


@dataclass(frozen=True, slots=True)
class Part:
    """One received SMS, before reassembly.

    ``payload`` is the user data without its UDH, as the decoder expects it
    (for GSM-7: one septet per octet). ``concat`` is ``None`` for a message
    that was never split. ``problem`` says why concatenation information
    could not be used (the part is then delivered on its own).
    """

    route: str
    source: str
    destination: str
    payload: bytes
    data_coding: int
    concat: Concat | None = None
    ports: tuple[int, int] | None = None  # (destination, source)
    elements: tuple[InformationElement, ...] = ()  # UDH IEs other than concatenation
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Assembled:
    """A message ready for the application, complete or not.

    ``payloads``, ``data_codings`` and ``seqs`` list the parts received, in
    part order. ``ports`` and ``elements`` come from part 1 (or the lowest
    part received when part 1 is missing). ``missing`` lists the part numbers
    that never arrived; ``complete`` is true only when the text is the whole
    message as far as the network told us.
    """

    route: str
    source: str
    destination: str
    text: str
    payloads: tuple[bytes, ...]
    data_codings: tuple[int, ...]
    seqs: tuple[int, ...]
    ports: tuple[int, int] | None
    elements: tuple[InformationElement, ...]
    complete: bool
    missing: tuple[int, ...]
    key: GroupKey | None
    first_arrival: float
    last_arrival: float
    reason: Reason
    problem: str | None = None


# ---------------------------------------------------------------- parts


def normalise_address(address: str) -> str:
    """The form of an address used in a :class:`GroupKey`.

    A phone number keeps its digits only (``+44 7911-123456`` and
    ``447911123456`` are one sender); an alphanumeric sender is case-folded.
    """
    stripped = address.strip().strip("\x00")
    if _PHONE_NUMBER.fullmatch(stripped):
        return _NOT_DIGIT.sub("", stripped)
    return stripped.casefold()


def part_from_header(
    *,
    route: str,
    source: str,
    destination: str,
    header: UserDataHeader | None,
    body: bytes,
    data_coding: int,
) -> Part:
    """A part from an already split user data header and body.

    This is the entry point for a modem SMS-DELIVER: the TPDU codec knows
    where the septet fill bits after the UDH end, so it splits and unpacks,
    and passes the body one septet per octet for GSM-7.
    """
    if header is None:
        return Part(route, source, destination, body, data_coding)
    return Part(
        route,
        source,
        destination,
        body,
        data_coding,
        concat=header.concat,
        ports=header.ports,
        elements=header.without(*_CONCAT_IEIS).elements,
    )


def part_from_user_data(
    *,
    route: str,
    source: str,
    destination: str,
    user_data: bytes,
    udhi: bool,
    data_coding: int,
) -> Part:
    """A part from octet-aligned user data (UDH first when ``udhi``).

    A malformed UDH does not raise: a message must never be lost for a bad
    header. The part is returned standalone with ``problem`` set; its payload
    is what follows the header when the header length octet fits the data,
    else the whole user data (UDHI was most likely set by mistake).
    """
    if not udhi:
        return Part(route, source, destination, user_data, data_coding)
    try:
        header, body = split_udh(user_data)
    except UDHError as exc:
        end = 1 + user_data[0] if user_data else 0
        payload = user_data[end:] if 0 < end <= len(user_data) else user_data
        return Part(route, source, destination, payload, data_coding, problem=str(exc))
    return part_from_header(
        route=route,
        source=source,
        destination=destination,
        header=header,
        body=body,
        data_coding=data_coding,
    )


def part_from_smpp(
    *,
    route: str,
    source: str,
    destination: str,
    esm_class: int,
    short_message: bytes,
    data_coding: int,
    message_payload: bytes | None = None,
    sar_msg_ref_num: int | None = None,
    sar_total_segments: int | None = None,
    sar_segment_seqnum: int | None = None,
    source_port: int | None = None,
    destination_port: int | None = None,
) -> Part:
    """A part from the fields of a ``deliver_sm`` or ``data_sm``.

    The user data is ``message_payload`` when it is present and not empty,
    else ``short_message``; with UDHI (esm_class 0x40) it starts with a UDH.
    SAR TLVs count only as a complete set of three; a partial set makes the
    part standalone with ``problem`` set. A UDH concatenation IE wins over
    SAR TLVs when a (non-conforming) PDU carries both. Ports come from the
    UDH, else from the ``source_port``/``destination_port`` TLVs.
    """
    user_data = message_payload if message_payload else short_message
    part = part_from_user_data(
        route=route,
        source=source,
        destination=destination,
        user_data=user_data,
        udhi=bool(esm_class & ESM_CLASS_UDHI),
        data_coding=data_coding,
    )
    if part.problem is not None:
        return part
    if part.ports is None and destination_port is not None:
        part = replace(part, ports=(destination_port, source_port or 0))
    sar = (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum)
    if part.concat is not None or sar == (None, None, None):
        return part
    if sar_msg_ref_num is None or sar_total_segments is None or sar_segment_seqnum is None:
        return replace(part, problem="incomplete set of SAR TLVs")
    concat = Concat(sar_msg_ref_num & 0xFFFF, sar_total_segments, sar_segment_seqnum, 16)
    return replace(part, concat=concat)


def concat_problem(concat: Concat) -> str | None:
    """Why ``concat`` cannot place a part in a message, or ``None``."""
    if concat.ref_bits not in (8, 16):
        return f"reference of {concat.ref_bits} bits"
    if concat.total == 0:
        return "total of 0 parts"
    if concat.seq == 0:
        return "part number 0"
    if concat.seq > concat.total:
        return f"part {concat.seq} of {concat.total}"
    return None


# ---------------------------------------------------------------- snapshot types


class PartState(TypedDict):
    seq: int
    data_coding: int
    payload: str  # hex
    ports: list[int] | None
    elements: str  # hex of the encoded IEs
    source: str
    destination: str


class GroupState(TypedDict):
    route: str
    source: str
    destination: str
    ref_bits: int
    reference: int
    total: int
    first_arrival: float
    last_arrival: float
    parts: list[PartState]


class ClosedState(TypedDict):
    route: str
    source: str
    destination: str
    ref_bits: int
    reference: int
    total: int
    until: float
    digests: dict[str, str]  # seq -> hex digest


class ReassemblerState(TypedDict):
    version: int
    groups: list[GroupState]
    closed: list[ClosedState]


# ---------------------------------------------------------------- reassembler


@dataclass(slots=True)
class _Group:
    key: GroupKey
    serial: int
    first_arrival: float
    last_arrival: float
    parts: dict[int, Part] = field(default_factory=dict)
    octets: int = 0


@dataclass(slots=True)
class _Closed:
    until: float
    digests: dict[int, bytes]


def _digest(part: Part) -> bytes:
    h = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    h.update(part.data_coding.to_bytes(2, "big"))
    h.update(part.payload)
    return h.digest()


class Reassembler:
    """Groups parts into messages; see the module docstring.

    Not thread-safe: one instance per reactor (or per connector).
    """

    def __init__(
        self,
        decode: Decoder,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_open_groups: int = DEFAULT_MAX_OPEN_GROUPS,
        max_buffered_octets: int = DEFAULT_MAX_BUFFERED_OCTETS,
        max_closed_remembered: int = DEFAULT_MAX_CLOSED_REMEMBERED,
        gap_marker: str = DEFAULT_GAP_MARKER,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        if max_open_groups < 1:
            raise ValueError(f"max_open_groups must be at least 1, not {max_open_groups}")
        if max_buffered_octets < 1:
            raise ValueError(f"max_buffered_octets must be at least 1, not {max_buffered_octets}")
        if max_closed_remembered < 0:
            raise ValueError(f"max_closed_remembered must be >= 0, not {max_closed_remembered}")
        self._decode = decode
        self.timeout = timeout
        self.max_open_groups = max_open_groups
        self.max_buffered_octets = max_buffered_octets
        self.max_closed_remembered = max_closed_remembered
        self.gap_marker = gap_marker
        # Insertion order is creation order: the first group is the oldest.
        self._groups: dict[GroupKey, _Group] = {}
        self._octets = 0
        # (deadline, serial, key); entries of closed groups are skipped lazily.
        self._deadlines: list[tuple[float, int, GroupKey]] = []
        self._serial = 0
        self._closed: dict[GroupKey, _Closed] = {}

    # -- inspection

    @property
    def open_groups(self) -> int:
        return len(self._groups)

    @property
    def buffered_octets(self) -> int:
        return self._octets

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has work, or ``None`` with no group open."""
        self._drop_stale_deadlines()
        return self._deadlines[0][0] if self._deadlines else None

    # -- input

    def add(self, part: Part, now: float) -> list[Assembled]:
        """Take one part; return the messages it completes or forces out."""
        concat = part.concat
        if part.problem is not None:
            return [self._standalone(part, now, Reason.INVALID, part.problem)]
        if concat is None:
            return [self._standalone(part, now, Reason.SINGLE, None)]
        problem = concat_problem(concat)
        if problem is not None:
            return [self._standalone(part, now, Reason.INVALID, problem)]
        if concat.total == 1:
            return [self._standalone(part, now, Reason.SINGLE, None)]

        key = GroupKey(
            part.route,
            normalise_address(part.source),
            normalise_address(part.destination),
            concat.ref_bits,
            concat.reference,
            concat.total,
        )
        out: list[Assembled] = []
        group = self._groups.get(key)
        held = group.parts.get(concat.seq) if group is not None else None
        if group is not None and held is not None:
            if held.payload == part.payload and held.data_coding == part.data_coding:
                return []
            out.append(self._close(group, Reason.COLLISION, remember=False))
            # The reference now belongs to a new message: what was closed
            # under it earlier says nothing about this one.
            self._closed.pop(key, None)
            group = None
        elif self._is_late_duplicate(key, concat.seq, part, now):
            return []

        size = len(part.payload)
        if size > self.max_buffered_octets:
            # Could never be held: deliver it now rather than empty the buffer for it.
            out.append(self._standalone(part, now, Reason.LIMIT, "part larger than the buffer"))
            return out
        while self._groups and (
            (group is None and len(self._groups) >= self.max_open_groups)
            or self._octets + size > self.max_buffered_octets
        ):
            victim = self._oldest_other_than(group)
            out.append(self._close(victim, Reason.LIMIT, remember=True))
            if victim is group:
                group = None

        if group is None:
            group = self._open(key, now)
        group.parts[concat.seq] = part
        group.octets += size
        group.last_arrival = max(group.last_arrival, now)
        self._octets += size
        if len(group.parts) == concat.total:
            out.append(self._close(group, Reason.COMPLETE, remember=True))
        elif self._rest_delivered_earlier(group, now):
            out.append(self._close(group, Reason.REMAINDER, remember=True))
        return out

    def expire(self, now: float) -> list[Assembled]:
        """Deliver every group whose deadline is ``<= now``, gaps marked."""
        out: list[Assembled] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, serial, key = heapq.heappop(self._deadlines)
            group = self._groups.get(key)
            if group is not None and group.serial == serial:
                out.append(self._close(group, Reason.TIMEOUT, remember=True))
        self._forget_closed(now)
        return out

    def drain(self) -> list[Assembled]:
        """Deliver every open group as it is (for a shutdown that persists nothing)."""
        out = [self._close(g, Reason.DRAINED, remember=False) for g in list(self._groups.values())]
        self._deadlines.clear()
        return out

    # -- persistence

    def snapshot(self) -> ReassemblerState:
        """Open groups and remembered closed groups as JSON-ready plain data."""
        groups: list[GroupState] = []
        for group in self._groups.values():
            key = group.key
            groups.append(
                {
                    "route": key.route,
                    "source": key.source,
                    "destination": key.destination,
                    "ref_bits": key.ref_bits,
                    "reference": key.reference,
                    "total": key.total,
                    "first_arrival": group.first_arrival,
                    "last_arrival": group.last_arrival,
                    "parts": [_part_state(seq, p) for seq, p in sorted(group.parts.items())],
                }
            )
        closed: list[ClosedState] = [
            {
                "route": key.route,
                "source": key.source,
                "destination": key.destination,
                "ref_bits": key.ref_bits,
                "reference": key.reference,
                "total": key.total,
                "until": entry.until,
                "digests": {str(seq): d.hex() for seq, d in entry.digests.items()},
            }
            for key, entry in self._closed.items()
        ]
        return {"version": SNAPSHOT_VERSION, "groups": groups, "closed": closed}

    def restore(self, state: ReassemblerState) -> list[Assembled]:
        """Load a :meth:`snapshot` into this (empty) reassembler.

        Deadlines are recomputed from each group's first arrival with this
        instance's ``timeout``; call :meth:`expire` afterwards to deliver
        what expired while the process was down. Returns the groups the
        limits of this instance force out (if they are tighter than before).
        """
        if self._groups or self._closed:
            raise ValueError("restore() needs an empty reassembler")
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {state.get('version')!r}")
        out: list[Assembled] = []
        for g in sorted(state["groups"], key=lambda g: g["first_arrival"]):
            key = GroupKey(
                g["route"], g["source"], g["destination"], g["ref_bits"], g["reference"], g["total"]
            )
            for ps in g["parts"]:
                out.extend(self.add(_part_from_state(ps, key), g["first_arrival"]))
            group = self._groups.get(key)
            if group is not None:
                group.last_arrival = max(group.last_arrival, g["last_arrival"])
        for c in sorted(state["closed"], key=lambda c: c["until"]):
            key = GroupKey(
                c["route"], c["source"], c["destination"], c["ref_bits"], c["reference"], c["total"]
            )
            if key not in self._groups:
                digests = {int(seq): bytes.fromhex(d) for seq, d in c["digests"].items()}
                self._closed[key] = _Closed(c["until"], digests)
        self._trim_closed()
        return out

    # -- internals

    def _open(self, key: GroupKey, now: float) -> _Group:
        self._serial += 1
        group = _Group(key, self._serial, now, now)
        self._groups[key] = group
        heapq.heappush(self._deadlines, (now + self.timeout, self._serial, key))
        # Closed groups leave their heap entries behind; rebuild before they pile up.
        if len(self._deadlines) > 2 * len(self._groups) + 64:
            self._deadlines = [
                (g.first_arrival + self.timeout, g.serial, g.key) for g in self._groups.values()
            ]
            heapq.heapify(self._deadlines)
        return group

    def _oldest_other_than(self, group: _Group | None) -> _Group:
        for candidate in self._groups.values():
            if candidate is not group:
                return candidate
        # Only ``group`` itself is left open (the caller loops while any is).
        return group if group is not None else next(iter(self._groups.values()))

    def _drop_stale_deadlines(self) -> None:
        while self._deadlines:
            _, serial, key = self._deadlines[0]
            group = self._groups.get(key)
            if group is not None and group.serial == serial:
                return
            heapq.heappop(self._deadlines)

    def _close(self, group: _Group, reason: Reason, *, remember: bool) -> Assembled:
        del self._groups[group.key]
        self._octets -= group.octets
        if remember and self.max_closed_remembered:
            # Parts of an earlier closing of the same message (forced out by a
            # limit, then continued) stay known as well.
            earlier = self._closed.pop(group.key, None)
            digests = earlier.digests if earlier is not None else {}
            digests.update((seq, _digest(p)) for seq, p in group.parts.items())
            self._closed[group.key] = _Closed(group.last_arrival + self.timeout, digests)
            self._trim_closed()
        return self._assemble(group, reason)

    def _is_late_duplicate(self, key: GroupKey, seq: int, part: Part, now: float) -> bool:
        """Whether ``part`` repeats a part of a recently closed group."""
        closed = self._closed.get(key)
        if closed is None:
            return False
        if closed.until <= now:
            del self._closed[key]
            return False
        digest = closed.digests.get(seq)
        if digest is None:
            return False  # a part not seen before: the same message, continued
        if digest == _digest(part):
            return True
        # Same seq, other content: a new message reusing the reference.
        del self._closed[key]
        return False

    def _rest_delivered_earlier(self, group: _Group, now: float) -> bool:
        """Whether the parts ``group`` lacks went out with an earlier closing of its key."""
        closed = self._closed.get(group.key)
        if closed is None or closed.until <= now:
            return False
        return all(
            seq in group.parts or seq in closed.digests for seq in range(1, group.key.total + 1)
        )

    def _forget_closed(self, now: float) -> None:
        # Entries are kept in closing order, so expired ones gather at the
        # front; one that is out of order is ignored at lookup until it gets there.
        while self._closed:
            key, entry = next(iter(self._closed.items()))
            if entry.until > now:
                return
            del self._closed[key]

    def _trim_closed(self) -> None:
        while len(self._closed) > self.max_closed_remembered:
            del self._closed[next(iter(self._closed))]

    def _decode_part(self, part: Part) -> str:
        locking = single = 0
        for ie in part.elements:
            if ie.iei == IEI_NL_LOCKING_SHIFT:
                locking = ie.data[0]
            elif ie.iei == IEI_NL_SINGLE_SHIFT:
                single = ie.data[0]
        return self._decode(
            part.payload, part.data_coding, locking_shift=locking, single_shift=single
        )

    def _assemble(self, group: _Group, reason: Reason) -> Assembled:
        key = group.key
        seqs = tuple(sorted(group.parts))
        parts = [group.parts[s] for s in seqs]
        pieces: list[str] = []
        missing: list[int] = []
        for seq in range(1, key.total + 1):
            part = group.parts.get(seq)
            if part is None:
                # One marker per run of missing parts.
                if not missing or missing[-1] != seq - 1:
                    pieces.append(self.gap_marker)
                missing.append(seq)
            else:
                pieces.append(self._decode_part(part))
        lead = parts[0]
        return Assembled(
            route=lead.route,
            source=lead.source,
            destination=lead.destination,
            text="".join(pieces),
            payloads=tuple(p.payload for p in parts),
            data_codings=tuple(p.data_coding for p in parts),
            seqs=seqs,
            ports=lead.ports,
            elements=lead.elements,
            complete=not missing,
            missing=tuple(missing),
            key=key,
            first_arrival=group.first_arrival,
            last_arrival=group.last_arrival,
            reason=reason,
        )

    def _standalone(self, part: Part, now: float, reason: Reason, problem: str | None) -> Assembled:
        seq = part.concat.seq if part.concat is not None else 1
        return Assembled(
            route=part.route,
            source=part.source,
            destination=part.destination,
            text=self._decode_part(part),
            payloads=(part.payload,),
            data_codings=(part.data_coding,),
            seqs=(seq,),
            ports=part.ports,
            elements=part.elements,
            complete=reason is Reason.SINGLE,
            missing=(),
            key=None,
            first_arrival=now,
            last_arrival=now,
            reason=reason,
            problem=problem,
        )


def _part_state(seq: int, part: Part) -> PartState:
    return {
        "seq": seq,
        "data_coding": part.data_coding,
        "payload": part.payload.hex(),
        "ports": list(part.ports) if part.ports is not None else None,
        "elements": b"".join(ie.encode() for ie in part.elements).hex(),
        "source": part.source,
        "destination": part.destination,
    }


def _part_from_state(state: PartState, key: GroupKey) -> Part:
    raw = bytes.fromhex(state["elements"])
    elements = split_udh(bytes((len(raw),)) + raw)[0].elements if raw else ()
    ports = state["ports"]
    return Part(
        route=key.route,
        source=state["source"],
        destination=state["destination"],
        payload=bytes.fromhex(state["payload"]),
        data_coding=state["data_coding"],
        concat=Concat(key.reference, key.total, state["seq"], key.ref_bits),
        ports=(ports[0], ports[1]) if ports is not None else None,
        elements=elements,
    )


__all__ = [
    "DEFAULT_GAP_MARKER",
    "DEFAULT_MAX_BUFFERED_OCTETS",
    "DEFAULT_MAX_CLOSED_REMEMBERED",
    "DEFAULT_MAX_OPEN_GROUPS",
    "DEFAULT_TIMEOUT",
    "ESM_CLASS_UDHI",
    "SNAPSHOT_VERSION",
    "Assembled",
    "ClosedState",
    "Decoder",
    "GroupKey",
    "GroupState",
    "Part",
    "PartState",
    "Reason",
    "Reassembler",
    "ReassemblerState",
    "concat_problem",
    "normalise_address",
    "part_from_header",
    "part_from_smpp",
    "part_from_user_data",
]
