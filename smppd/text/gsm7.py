"""GSM 03.38 / 3GPP TS 23.038 7-bit alphabets: septets in, septets out.

How this works
--------------
A GSM-7 alphabet is a *base* table (128 code points, one septet each; 0x1B is
ESC) and an *extension* table reached by ESC + code (two septets). The default
alphabet is §6.2.1 with the §6.2.1.1 extension table; the national language
tables of Annex A (``natlang``) build other :class:`Gsm7Alphabet` values the
same way.

Septets travel in two forms:

* **unpacked**: one septet per octet, what SMPP ``data_coding`` 0 carries;
* **packed**: LSB-first bit stream, what TP-UD carries on a modem; when a UDH
  precedes the text, fill bits pad it to a septet boundary.

Encoding goes through ``str.translate`` with a precomputed map (each code point
to one or two septet characters), so a 160-character text is encoded by C code
in one pass. Characters the alphabet lacks come out of the map as a character
above 0x7F, which makes ``str.isascii`` the encodability test.

Decoding never raises: ESC followed by a code the extension table leaves
undefined gives the base-table character of that code (23.038 §6.2.1.1), the
reserved ESC ESC (0x1B1B) and a dangling final ESC give a space, and octets
above 0x7F in unpacked data (not septets at all) give U+FFFD.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

ESC: Final = 0x1B
SEPTET_MAX: Final = 0x7F
# TP-UD holds at most 140 octets, i.e. 160 septets.
TP_UD_OCTETS: Final = 140
TP_UD_SEPTETS: Final = TP_UD_OCTETS * 8 // 7

# What ESC ESC and an ESC with nothing after it are shown as (23.038 §6.2.1.1:
# "a receiving entity shall display a space").
_ESC_DISPLAY: Final = " "
# Marks a character the alphabet cannot encode after ``str.translate``; any
# code point above 0x7F would do.
_UNENCODABLE: Final = "\x80"
_INVALID_SEPTET: Final = "\ufffd"


def base_table(*rows: str) -> str:
    """A 128-position base table from its eight rows of sixteen."""
    table = "".join(rows)
    if len(table) != 128:
        raise ValueError(f"a GSM-7 base table has 128 positions, not {len(table)}")
    if table[ESC] != "\x1b":
        raise ValueError("position 0x1B of a GSM-7 base table is ESC")
    return table


# 23.038 §6.2.1, row by row (0x00-0x0F, 0x10-0x1F, ...). Position 0x1B is ESC.
DEFAULT_BASE: Final = base_table(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
)

# 23.038 §6.2.1.1: code after ESC -> character.
DEFAULT_EXTENSION: Final[Mapping[int, str]] = MappingProxyType(
    {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x65: "€",
    }
)


class Gsm7EncodeError(ValueError):
    """A character of the text is in neither table of the alphabet."""

    def __init__(self, alphabet: str, index: int, char: str) -> None:
        super().__init__(
            f"{char!r} (U+{ord(char):04X}) at index {index} is not in the {alphabet} alphabet"
        )
        self.index = index
        self.char = char


class Gsm7Alphabet:
    """One base table + one extension table, with precomputed codec maps.

    Instances are immutable after construction and safe to share; build them
    once (``DEFAULT`` here, ``natlang.alphabet()`` for the national ones).
    """

    __slots__ = (
        "_decode_base",
        "_decode_escaped",
        "_encodable",
        "_encode_map",
        "_unencodable",
        "base",
        "extension",
        "name",
    )

    def __init__(self, name: str, base: str, extension: Mapping[int, str]) -> None:
        if len(base) != 128 or base[ESC] != "\x1b":
            raise ValueError("a GSM-7 base table has 128 positions with ESC at 0x1B")
        if any(not 0 <= code <= SEPTET_MAX or code == ESC for code in extension):
            raise ValueError("extension codes are septets other than ESC")
        self.name = name
        self.base = base
        self.extension: Mapping[int, str] = MappingProxyType(dict(extension))

        # Every ASCII code point is in the map, the ones the alphabet lacks
        # mapped to the marker, so none passes through unchanged.
        encode: dict[int, str] = dict.fromkeys(range(128), _UNENCODABLE)
        encodable: set[int] = set()
        for code, char in enumerate(base):
            if code != ESC:
                encode[ord(char)] = chr(code)
                encodable.add(ord(char))
        for code, char in extension.items():
            # A character in both tables is sent from the base table: one septet.
            if ord(char) not in encodable:
                encode[ord(char)] = f"\x1b{chr(code)}"
                encodable.add(ord(char))
        self._encode_map: Mapping[int, str] = encode
        self._encodable = frozenset(encodable)
        self._unencodable = re.compile(
            "[^" + "".join(re.escape(chr(cp)) for cp in sorted(encodable)) + "]"
        )

        base_decoding = list(base) + [_INVALID_SEPTET] * 128
        base_decoding[ESC] = _ESC_DISPLAY
        self._decode_base = "".join(base_decoding)
        escaped = [base[code] for code in range(128)] + [_INVALID_SEPTET] * 128
        escaped[ESC] = _ESC_DISPLAY
        for code, char in extension.items():
            escaped[code] = char
        self._decode_escaped: tuple[str, ...] = tuple(escaped)

    def __repr__(self) -> str:
        return f"Gsm7Alphabet({self.name!r})"

    def can_encode(self, char: str) -> bool:
        return ord(char) in self._encodable

    def try_encode(self, text: str) -> bytes | None:
        """Unpacked septets, or ``None`` when some character is not in the alphabet."""
        septets = text.translate(self._encode_map)
        if septets.isascii():
            return septets.encode("ascii")
        return None

    def encode(self, text: str) -> bytes:
        """Unpacked septets (one per octet); raises :class:`Gsm7EncodeError`."""
        septets = self.try_encode(text)
        if septets is None:
            index = self.first_unencodable(text)
            assert index is not None
            raise Gsm7EncodeError(self.name, index, text[index])
        return septets

    def first_unencodable(self, text: str) -> int | None:
        """Index of the first character the alphabet cannot encode, if any."""
        match = self._unencodable.search(text)
        return None if match is None else match.start()

    def septet_len(self, text: str) -> int:
        """Septets of a text this alphabet encodes; raises :class:`Gsm7EncodeError`."""
        return len(self.encode(text))

    def decode(self, septets: bytes) -> str:
        """Text from unpacked septets; never raises (see the module notes)."""
        if ESC not in septets:
            return codecs.charmap_decode(septets, "strict", self._decode_base)[0]
        table = self._decode_base
        escaped = self._decode_escaped
        chunks = septets.split(b"\x1b")
        out = [codecs.charmap_decode(chunks[0], "strict", table)[0]]
        code_byte_was_esc = False
        for chunk in chunks[1:]:
            if code_byte_was_esc:
                # This ESC was the code of the ESC before it (0x1B1B).
                code_byte_was_esc = False
                out.append(codecs.charmap_decode(chunk, "strict", table)[0])
            elif not chunk:
                out.append(_ESC_DISPLAY)
                code_byte_was_esc = True
            else:
                out.append(escaped[chunk[0]])
                out.append(codecs.charmap_decode(chunk[1:], "strict", table)[0])
        return "".join(out)


DEFAULT: Final = Gsm7Alphabet("GSM 03.38 default", DEFAULT_BASE, DEFAULT_EXTENSION)


# --- packing (TP-UD on a modem) -------------------------------------------

# Septet value -> its 7 bits, most significant first.
_BITS7: Final = tuple(format(value, "07b") for value in range(128))


def fill_bits(udh_octets: int) -> int:
    """Fill bits after a UDH of ``udh_octets`` (UDHL included) so text starts on a septet."""
    return (7 - (udh_octets * 8) % 7) % 7


def header_septets(udh_octets: int) -> int:
    """Septets a UDH and its fill bits occupy in TP-UD: ceil(8L/7)."""
    return (udh_octets * 8 + 6) // 7


def pack(septets: bytes, fill: int = 0) -> bytes:
    """Pack septets LSB-first after ``fill`` zero bits (0..6).

    ``len(result) == ceil((fill + 7 * len(septets)) / 8)``.
    """
    if not 0 <= fill <= 6:
        raise ValueError(f"fill bits are 0..6, not {fill}")
    if not septets.isascii():
        raise ValueError("septets are values 0..0x7F")
    total_bits = fill + 7 * len(septets)
    if total_bits == 0:
        return b""
    # The packed stream is one little-endian integer: septet i sits at bit
    # fill + 7*i. Building it from a bit string keeps the loop in C.
    bits = "".join(map(_BITS7.__getitem__, reversed(septets)))
    value = int(bits, 2) << fill if bits else 0
    return value.to_bytes((total_bits + 7) // 8, "little")


def unpack(data: bytes, count: int, fill: int = 0) -> bytes:
    """The ``count`` septets packed in ``data`` after ``fill`` bits (0..6).

    Raises ``ValueError`` when ``data`` is too short to hold them.
    """
    if not 0 <= fill <= 6:
        raise ValueError(f"fill bits are 0..6, not {fill}")
    if count < 0 or fill + 7 * count > 8 * len(data):
        raise ValueError(f"{len(data)} octets cannot hold {count} septets after {fill} fill bits")
    if count == 0:
        return b""
    value = int.from_bytes(data, "little") >> fill
    return bytes([(value >> shift) & SEPTET_MAX for shift in range(0, 7 * count, 7)])


def pack_user_data(udh: bytes, septets: bytes) -> tuple[bytes, int]:
    """TP-UD for GSM-7 (UDH octets + fill bits + packed text) and its TP-UDL in septets."""
    return udh + pack(septets, fill_bits(len(udh))), header_septets(len(udh)) + len(septets)


def unpack_user_data(user_data: bytes, udl: int, udh_octets: int = 0) -> bytes:
    """The text septets of a GSM-7 TP-UD whose TP-UDL is ``udl`` septets.

    ``udh_octets`` is the UDH length, UDHL included (0 without TP-UDHI).
    Raises ``ValueError`` when the octets cannot hold ``udl`` septets.
    """
    skip = header_septets(udh_octets)
    if udl < skip:
        raise ValueError(f"TP-UDL {udl} is shorter than the {skip}-septet header")
    return unpack(user_data[udh_octets:], udl - skip, fill_bits(udh_octets))
