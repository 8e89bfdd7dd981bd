"""How much text fits in one SMS, and where a long text is cut.

How this works
--------------
TP-UD holds 140 octets. A UDH of ``L`` octets (UDHL included) leaves

* GSM-7: ``160 - ceil(8L / 7)`` septets (the UDH plus fill bits take whole septets),
* 8-bit: ``140 - L`` octets,
* UCS-2/UTF-16: ``(140 - L) // 2`` code units,

which gives the familiar 160/153/152, 140/134/133 and 70/67/66 for no UDH, an
8-bit-reference and a 16-bit-reference concatenation IE, and 155/149/146 etc.
once national language IEs (3 octets each) join them (TS 23.040 §9.2.3.24,
PROTOCOL.md §2.3).

The cutter works on the encoded text, addressed in units (:class:`EncodedText`):
each part takes ``capacity`` units, steps back one unit when that would end
inside an escape sequence (ESC + code) or a surrogate pair, and then steps
back to the last extended grapheme cluster boundary (UAX #29) in the part,
so flags, ZWJ sequences, skin tones and combining marks stay whole. Only a
cluster longer than a whole part is cut, at a code point. The boundary test
looks at the two characters around the cut and segments the whole text only
when they can join, so a plain text costs a few slices per part.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from enum import Enum
from typing import Final

import regex

TP_UD_OCTETS: Final = 140
UDH_CONCAT_8_OCTETS: Final = 6  # 05 00 03 ref total seq
UDH_CONCAT_16_OCTETS: Final = 7  # 06 08 04 ref ref total seq
IE_NATIONAL_LANGUAGE_OCTETS: Final = 3  # 24|25 01 lang
MAX_PARTS: Final = 255  # the total is one octet

_ESC: Final = 0x1B
_GRAPHEME: Final = regex.compile(r"\X")
_CLEAR_BREAK: Final = regex.compile(
    r"\p{GCB=Other}[\p{GCB=Other}--\p{Extended_Pictographic}--\p{InCB=Consonant}]",
    regex.V1,
)


class Unit(Enum):
    """What a part's size is counted in."""

    SEPTETS = "septets"
    OCTETS = "octets"
    UTF16 = "units"


def capacity(unit: Unit, udh_octets: int) -> int:
    """Units of text that fit in one TP-UD after a UDH of ``udh_octets`` (0 for none)."""
    if udh_octets < 0 or udh_octets >= TP_UD_OCTETS:
        raise ValueError(f"a UDH of {udh_octets} octets leaves no room in TP-UD")
    if unit is Unit.SEPTETS:
        return (TP_UD_OCTETS * 8 - ((udh_octets * 8 + 6) // 7) * 7) // 7
    if unit is Unit.OCTETS:
        return TP_UD_OCTETS - udh_octets
    return (TP_UD_OCTETS - udh_octets) // 2


def udh_octets(*, concat_ref_bits: int | None, national_ies: int = 0) -> int:
    """Octets of a UDH with an optional concatenation IE and ``national_ies`` shift IEs."""
    body = IE_NATIONAL_LANGUAGE_OCTETS * national_ies
    if concat_ref_bits == 8:
        body += UDH_CONCAT_8_OCTETS - 1
    elif concat_ref_bits == 16:
        body += UDH_CONCAT_16_OCTETS - 1
    elif concat_ref_bits is not None:
        raise ValueError(f"a concatenation reference has 8 or 16 bits, not {concat_ref_bits}")
    return body + 1 if body else 0


class EncodedText:
    """A text and its encoded form, addressed in units.

    ``width`` is the octets per unit: 1 for unpacked septets and 8-bit data,
    2 for UTF-16BE. Subclasses say where a code point ends and how unit
    offsets and character indices convert.
    """

    __slots__ = ("data", "text", "width")

    def __init__(self, text: str, data: bytes, width: int) -> None:
        self.text = text
        self.data = data
        self.width = width

    @property
    def units(self) -> int:
        return len(self.data) // self.width

    def is_atom_boundary(self, offset: int) -> bool:
        """Whether unit ``offset`` falls between two code points."""
        return True

    def char_index(self, offset: int) -> int:
        """Characters before unit ``offset`` (an atom boundary)."""
        return offset

    def unit_offset(self, index: int) -> int:
        """Units before character ``index``."""
        return index


class SeptetText(EncodedText):
    """Unpacked GSM-7: an extension character is ESC + code, two units."""

    __slots__ = ("_measure",)

    def __init__(self, text: str, septets: bytes, measure: Callable[[str], int]) -> None:
        super().__init__(text, septets, 1)
        self._measure = measure

    def is_atom_boundary(self, offset: int) -> bool:
        # The encoder never emits ESC as the code of an escape, so an ESC
        # just before the offset always starts an escape sequence.
        return offset <= 0 or offset >= len(self.data) or self.data[offset - 1] != _ESC

    def char_index(self, offset: int) -> int:
        return offset - self.data.count(b"\x1b", 0, offset)

    def unit_offset(self, index: int) -> int:
        return self._measure(self.text[:index])


class Utf16Text(EncodedText):
    """UTF-16BE: a character above U+FFFF is a surrogate pair, two units."""

    __slots__ = ()

    def __init__(self, text: str, data: bytes) -> None:
        super().__init__(text, data, 2)

    def is_atom_boundary(self, offset: int) -> bool:
        if offset <= 0 or offset * 2 >= len(self.data):
            return True
        return not 0xD8 <= self.data[offset * 2 - 2] <= 0xDB

    def char_index(self, offset: int) -> int:
        return len(self.data[: offset * 2].decode("utf-16-be"))

    def unit_offset(self, index: int) -> int:
        return len(self.text[:index].encode("utf-16-be")) // 2


class ClusterIndex:
    """Extended grapheme cluster boundaries of a text (UAX #29), computed lazily.

    A boundary between two characters whose Grapheme_Cluster_Break is Other
    (the right one neither Extended_Pictographic nor an Indic conjunct
    consonant) is certain from those two alone; only other cases segment
    the whole text with ``regex``'s ``\\X``, once.
    """

    __slots__ = ("_boundaries", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._boundaries: list[int] | None = None

    def boundaries(self) -> list[int]:
        """Every boundary after the start, ``len(text)`` included."""
        if self._boundaries is None:
            self._boundaries = [match.end() for match in _GRAPHEME.finditer(self.text)]
        return self._boundaries

    def is_boundary(self, index: int) -> bool:
        if index <= 0 or index >= len(self.text):
            return True
        if _CLEAR_BREAK.match(self.text, index - 1) is not None:
            return True
        boundaries = self.boundaries()
        position = bisect_right(boundaries, index) - 1
        return position >= 0 and boundaries[position] == index

    def last_boundary(self, after: int, index: int) -> int | None:
        """The last boundary in ``(after, index]``, if any."""
        if self.is_boundary(index):
            return index
        boundaries = self.boundaries()
        position = bisect_right(boundaries, index) - 1
        if position >= 0 and boundaries[position] > after:
            return boundaries[position]
        return None


def plan(
    encoded: EncodedText,
    part_capacity: int,
    clusters: ClusterIndex | None = None,
) -> list[tuple[int, int]]:
    """Cut ``encoded`` into parts of at most ``part_capacity`` units.

    Returns ``(start, end)`` unit ranges covering everything, in order; one
    empty range for an empty text. A cut never falls inside a code point;
    with ``clusters`` it falls on the last grapheme cluster boundary that
    fits, and inside a cluster only when the cluster alone exceeds a part.
    """
    total = encoded.units
    if total == 0:
        return [(0, 0)]
    if part_capacity < 2:
        raise ValueError(f"a part of {part_capacity} unit cannot hold every character")
    parts: list[tuple[int, int]] = []
    start = 0
    start_char = 0
    while start < total:
        end = min(start + part_capacity, total)
        if end < total:
            if not encoded.is_atom_boundary(end):
                end -= 1  # an atom is at most 2 units
            end_char = encoded.char_index(end)
            if clusters is not None:
                boundary = clusters.last_boundary(start_char, end_char)
                if boundary is not None and boundary != end_char:
                    end_char = boundary
                    end = encoded.unit_offset(boundary)
        else:
            end_char = len(encoded.text)
        parts.append((start, end))
        start, start_char = end, end_char
    return parts
