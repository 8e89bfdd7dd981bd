"""SMPP ``data_coding``: decode any of them, encode ours, choose the cheapest.

How this works
--------------
**Decoding** (:func:`decode`) is for what arrives from carriers, modems and
applications, so it never raises: a malformed octet becomes U+FFFD, an
unknown ``data_coding`` is read as the Latin-1 of the octets (every octet
stays visible, one character each). The values, per SMPP 3.4 §5.2.19 and
TS 23.038 §4 (PROTOCOL.md §1.6):

============  ==============================================================
0x00          the carrier's default alphabet: unpacked GSM-7, Latin-1 or ASCII
0x01          IA5 (ASCII); octets above 0x7F become U+FFFD
0x02, 0x04    8-bit binary: Latin-1 of the octets
0x03          Latin-1
0x06 / 0x07   ISO-8859-5 (Cyrillic) / ISO-8859-8 (Hebrew)
0x08          UCS-2, read as UTF-16BE: pairs combine, a lone surrogate is U+FFFD
0x0A / 0x0E   ISO-2022-JP / KS C 5601 (EUC-KR)
0x10-0x7F     TP-DCS general coding groups: bits 3-2 pick GSM-7, 8-bit, UCS-2
0xC0-0xDF     message waiting groups, GSM-7
0xE0-0xEF     message waiting group, UCS-2
0xF0-0xFF     message class group: bit 2 clear GSM-7, set 8-bit
============  ==============================================================

GSM-7 here is always *unpacked*; national language shift tables apply when
the caller passes the language ids found in the UDH.

**Choosing** (:func:`choose_encoding`) looks at the whole text, in this order:
the GSM 03.38 default alphabet; the national language table pair that needs
the fewest parts (when the route enables some); the same two after
transliteration (when enabled); UCS-2. It reports the first character that
forced UCS-2.

Latin-1 (``data_coding`` 3) and IA5 are never *chosen*: no handset receives
them over the air, so an SMSC turns them into GSM-7 or UCS-2 on its own terms
and the part count we promise would be a guess. They matter only as what a
carrier reads ``data_coding`` 0 to be (``dcs0``): a text sent with
``data_coding`` 0 to such a carrier must be in both that character set and
GSM-7, and the reason names whichever one lacked the character.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Final

import regex

from smppd.text import gsm7, layout, natlang
from smppd.text.policy import DEFAULT_POLICY, Dcs0, LongMessageMode, TextPolicy
from smppd.text.translit import transliterate

DC_DEFAULT: Final = 0x00
DC_IA5: Final = 0x01
DC_BINARY: Final = 0x02
DC_LATIN1: Final = 0x03
DC_BINARY_4: Final = 0x04
DC_CYRILLIC: Final = 0x06
DC_HEBREW: Final = 0x07
DC_UCS2: Final = 0x08
DC_ISO2022_JP: Final = 0x0A
DC_KSC5601: Final = 0x0E

_LONE_SURROGATE: Final = regex.compile(r"[\ud800-\udfff]")
_ASTRAL: Final = regex.compile(r"[\U00010000-\U0010FFFF]")
_ALL_DEFAULT: Final = "every character is in the GSM 03.38 default alphabet"


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"
    BINARY = "binary"


class TextEncodeError(ValueError):
    """The text cannot be carried in the requested (or any allowed) coding."""

    def __init__(self, message: str, index: int, char: str) -> None:
        super().__init__(message)
        self.index = index
        self.char = char


# --- decoding --------------------------------------------------------------


def decode_ucs2(data: bytes) -> str:
    """UTF-16BE; surrogate pairs combine, a lone surrogate or odd octet is U+FFFD."""
    return data.decode("utf-16-be", "replace")


def decode_gsm7(septets: bytes, *, locking_shift: int = 0, single_shift: int = 0) -> str:
    """Unpacked GSM-7 in the alphabet a UDH's national language IEs name (0 = default)."""
    return natlang.alphabet(locking_shift, single_shift).decode(septets)


def _decode_dcs0(data: bytes, dcs0: str) -> str:
    if dcs0 == Dcs0.LATIN1:
        return data.decode("latin-1")
    if dcs0 == Dcs0.ASCII:
        return data.decode("ascii", "replace")
    return gsm7.DEFAULT.decode(data)


_CODECS: Final = {
    DC_IA5: "ascii",
    DC_LATIN1: "latin-1",
    DC_CYRILLIC: "iso8859-5",
    DC_HEBREW: "iso8859-8",
    DC_UCS2: "utf-16-be",
    DC_ISO2022_JP: "iso2022-jp",
    DC_KSC5601: "euc-kr",
}


def decode(
    data: bytes,
    data_coding: int,
    *,
    dcs0: str = "gsm7",
    locking_shift: int = 0,
    single_shift: int = 0,
) -> str:
    """The text of ``short_message`` / ``message_payload`` octets; never raises.

    ``dcs0`` is what ``data_coding`` 0 means at the carrier (``"gsm7"``,
    ``"latin1"`` or ``"ascii"``). ``locking_shift`` / ``single_shift`` are
    the national language ids of the part's UDH, for GSM-7 codings.
    The UDH itself must already be removed.
    """
    data = bytes(data)
    if data_coding == DC_DEFAULT:
        if (locking_shift or single_shift) and dcs0 == Dcs0.GSM7:
            return decode_gsm7(data, locking_shift=locking_shift, single_shift=single_shift)
        return _decode_dcs0(data, dcs0)
    name = _CODECS.get(data_coding)
    if name is not None:
        try:
            return data.decode(name, "replace")
        except (UnicodeError, LookupError):  # stateful codecs can still fail on garbage
            return data.decode("latin-1")
    alphabet = _gsm_group_alphabet(data_coding)
    if alphabet == Encoding.GSM7:
        return decode_gsm7(data, locking_shift=locking_shift, single_shift=single_shift)
    if alphabet == Encoding.UCS2:
        return decode_ucs2(data)
    # 8-bit binary and codings we do not know: one character per octet.
    return data.decode("latin-1")


def _gsm_group_alphabet(data_coding: int) -> Encoding | None:
    """The alphabet a TP-DCS-style value (0x10 and up) names, None when unknown."""
    if 0x10 <= data_coding <= 0x7F:
        if data_coding & 0x20:  # compressed: we cannot read it as text
            return Encoding.BINARY
        return (Encoding.GSM7, Encoding.BINARY, Encoding.UCS2, None)[(data_coding >> 2) & 0x03]
    if 0xC0 <= data_coding <= 0xDF:
        return Encoding.GSM7
    if 0xE0 <= data_coding <= 0xEF:
        return Encoding.UCS2
    if 0xF0 <= data_coding <= 0xFF:
        return Encoding.BINARY if data_coding & 0x04 else Encoding.GSM7
    return None


# --- encoding --------------------------------------------------------------


def encode_ucs2(text: str) -> bytes:
    """UTF-16BE (characters above U+FFFF as surrogate pairs); a lone surrogate is U+FFFD."""
    return _clean_surrogates(text).encode("utf-16-be")


def utf16_units(text: str) -> int:
    """UTF-16 code units: what UCS-2 parts are counted in (an emoji is 2)."""
    return len(text) + len(_ASTRAL.findall(text))


def encode(text: str, data_coding: int, *, dcs0: str = "gsm7") -> bytes:
    """``text`` in the given ``data_coding``; raises :class:`TextEncodeError`.

    GSM-7 codings give unpacked septets in the default alphabet.
    """
    if (data_coding == DC_DEFAULT and dcs0 == Dcs0.GSM7) or (
        _gsm_group_alphabet(data_coding) == Encoding.GSM7
    ):
        try:
            return gsm7.DEFAULT.encode(text)
        except gsm7.Gsm7EncodeError as exc:
            raise TextEncodeError(str(exc), exc.index, exc.char) from None
    if data_coding == DC_UCS2 or _gsm_group_alphabet(data_coding) == Encoding.UCS2:
        return encode_ucs2(text)
    if data_coding == DC_DEFAULT:
        name = "latin-1" if dcs0 == Dcs0.LATIN1 else "ascii"
    else:
        codec = _CODECS.get(data_coding)
        if codec is None:
            raise ValueError(f"no text encoding for data_coding 0x{data_coding:02X}")
        name = codec
    try:
        return text.encode(name)
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise TextEncodeError(
            f"{char!r} (U+{ord(char):04X}) at index {exc.start} is not in {name}",
            exc.start,
            char,
        ) from None


def _clean_surrogates(text: str) -> str:
    # A Python str may hold lone surrogates (from surrogateescape or a broken
    # source); they have no UTF-16 form, so they are sent as U+FFFD.
    if _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


# --- choosing ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForcedBy:
    """The first character that kept a text out of GSM-7, and where it is."""

    index: int
    char: str

    def describe(self) -> str:
        return f"{self.char!r} (U+{ord(self.char):04X}) at index {self.index}"


@dataclass(frozen=True, slots=True)
class EncodingChoice:
    """The encoding chosen for a whole text and what follows from it.

    ``text`` is what is sent (transliterated when ``transliterated``);
    ``locking_shift`` / ``single_shift`` are national language ids (0 = none)
    that the UDH must announce.
    """

    encoding: Encoding
    data_coding: int
    text: str
    reason: str
    dcs0: Dcs0 = Dcs0.GSM7
    locking_shift: int = 0
    single_shift: int = 0
    transliterated: bool = False
    forced_by: ForcedBy | None = None
    # The whole text already encoded in units, when the chooser has it.
    data: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def unit(self) -> layout.Unit:
        if self.encoding is Encoding.GSM7:
            return layout.Unit.SEPTETS
        if self.encoding is Encoding.UCS2:
            return layout.Unit.UTF16
        return layout.Unit.OCTETS

    @property
    def national_ies(self) -> int:
        return (self.locking_shift != 0) + (self.single_shift != 0)

    @property
    def alphabet(self) -> gsm7.Gsm7Alphabet:
        return natlang.alphabet(self.locking_shift, self.single_shift)

    def encoded(self) -> layout.EncodedText:
        """:attr:`text` in units: unpacked septets, UTF-16BE or octets."""
        data = self.data
        if self.encoding is Encoding.GSM7:
            alphabet = self.alphabet
            if data is None:
                data = alphabet.encode(self.text)
            return layout.SeptetText(self.text, data, alphabet.septet_len)
        if self.encoding is Encoding.UCS2:
            return layout.Utf16Text(self.text, data or self.text.encode("utf-16-be"))
        return layout.EncodedText(self.text, data or self.text.encode("latin-1"), 1)

    def payload(self, text: str) -> bytes:
        """``text`` (a slice of :attr:`text`) as SMPP carries it for this choice."""
        if self.encoding is Encoding.GSM7:
            if self.dcs0 is Dcs0.LATIN1:
                return text.encode("latin-1")
            if self.dcs0 is Dcs0.ASCII:
                return text.encode("ascii")
            return self.alphabet.encode(text)
        if self.encoding is Encoding.UCS2:
            return text.encode("utf-16-be")
        return text.encode("latin-1")


def grapheme_boundaries(text: str) -> list[int]:
    """Code point offsets that end an extended grapheme cluster (``len(text)`` included)."""
    return layout.ClusterIndex(text).boundaries()


def count_parts(choice: EncodingChoice, policy: TextPolicy = DEFAULT_POLICY) -> int:
    """Parts the text of ``choice`` takes on the air under ``policy``."""
    encoded = choice.encoded()
    single, multi = part_capacities(choice, policy)
    if encoded.units <= single:
        return 1
    return len(layout.plan(encoded, multi, layout.ClusterIndex(choice.text)))


def part_capacities(choice: EncodingChoice, policy: TextPolicy) -> tuple[int, int]:
    """Units in a lone SMS and in each part of a concatenated one.

    SAR and payload modes assume the SMSC adds the larger, 7-octet
    concatenation UDH (16-bit reference): 152 septets / 66 units per part.
    """
    ref_bits = 8 if policy.long_message is LongMessageMode.UDH8 else 16
    return _capacities(choice.unit, ref_bits, choice.national_ies)


@cache
def _capacities(unit: layout.Unit, ref_bits: int, national_ies: int) -> tuple[int, int]:
    single = layout.capacity(
        unit, layout.udh_octets(concat_ref_bits=None, national_ies=national_ies)
    )
    multi = layout.capacity(
        unit, layout.udh_octets(concat_ref_bits=ref_bits, national_ies=national_ies)
    )
    return single, multi


def _dcs0_accepts(text: str, dcs0: Dcs0) -> bool:
    if dcs0 is Dcs0.GSM7:
        return True
    try:
        text.encode("latin-1" if dcs0 is Dcs0.LATIN1 else "ascii")
    except UnicodeEncodeError:
        return False
    return True


def _table_pairs(policy: TextPolicy) -> list[tuple[int, int]]:
    """(locking, single) language pairs the policy allows, the default (0, 0) first."""
    ids = policy.language_ids
    lockings = [0, *(i for i in ids if natlang.has_locking_shift(i))]
    singles = [0, *(i for i in ids if natlang.has_single_shift(i))]
    return list(itertools.product(lockings, singles))


def _best_national(text: str, policy: TextPolicy, transliterated: bool) -> EncodingChoice | None:
    """The allowed national table pair that carries ``text`` in the fewest parts.

    Ties go to fewer IEs (3 octets each), then fewer septets.
    """
    best: tuple[tuple[int, int, int, int, int], EncodingChoice] | None = None
    for locking, single in _table_pairs(policy)[1:]:
        septets = natlang.alphabet(locking, single).try_encode(text)
        if septets is None:
            continue
        choice = EncodingChoice(
            Encoding.GSM7,
            DC_DEFAULT,
            text,
            reason="",
            locking_shift=locking,
            single_shift=single,
            transliterated=transliterated,
            data=septets,
        )
        key = (count_parts(choice, policy), choice.national_ies, len(septets), locking, single)
        if best is None or key < best[0]:
            best = (key, choice)
    if best is None:
        return None
    choice = best[1]
    tables = []
    if choice.locking_shift:
        tables.append(f"{natlang.LANGUAGE_NAMES[choice.locking_shift]} locking shift")
    if choice.single_shift:
        tables.append(f"{natlang.LANGUAGE_NAMES[choice.single_shift]} single shift")
    forced = _first_unencodable(text, Dcs0.GSM7)
    what = f"{forced.describe()} is not in the GSM 03.38 default alphabet; " if forced else ""
    return EncodingChoice(
        Encoding.GSM7,
        DC_DEFAULT,
        text,
        reason=f"{what}the {' + '.join(tables)}"
        f" table{'s carry' if len(tables) > 1 else ' carries'} every character in the fewest parts"
        + (" after transliteration" if transliterated else ""),
        locking_shift=choice.locking_shift,
        single_shift=choice.single_shift,
        transliterated=transliterated,
        forced_by=forced,
        data=choice.data,
    )


def _first_unencodable(
    text: str,
    dcs0: Dcs0,
    *,
    alphabets: tuple[gsm7.Gsm7Alphabet, ...] = (gsm7.DEFAULT,),
    transliterate_too: bool = False,
) -> ForcedBy | None:
    """The first character none of ``alphabets`` takes (after transliteration, if asked)."""
    if len(alphabets) == 1 and not transliterate_too and dcs0 is Dcs0.GSM7:
        index = alphabets[0].first_unencodable(text)
        return None if index is None else ForcedBy(index, text[index])
    for index, char in enumerate(text):
        options = [char]
        if transliterate_too:
            options.append(transliterate(char))
        if any(
            alphabet.try_encode(option) is not None and _dcs0_accepts(option, dcs0)
            for option in options
            for alphabet in alphabets
        ):
            continue
        return ForcedBy(index, char)
    return None


def _national_alphabets(policy: TextPolicy) -> tuple[gsm7.Gsm7Alphabet, ...]:
    return tuple(natlang.alphabet(lock, single) for lock, single in _table_pairs(policy))


def choose_encoding(text: str, policy: TextPolicy = DEFAULT_POLICY) -> EncodingChoice:
    """The cheapest encoding that carries all of ``text`` under ``policy``.

    Raises :class:`TextEncodeError` when only UCS-2 would do and the policy
    has no UCS-2 fallback.
    """
    dcs0 = policy.dcs0
    if dcs0 is Dcs0.GSM7:
        # The common case, kept free of anything but one translate().
        septets = gsm7.DEFAULT.try_encode(text)
        if septets is not None:
            return EncodingChoice(Encoding.GSM7, DC_DEFAULT, text, _ALL_DEFAULT, data=septets)
    attempts = [(text, False)]
    if policy.transliterate:
        converted = transliterate(text)
        if converted != text:
            attempts.append((converted, True))
    for candidate, transliterated in attempts:
        septets = gsm7.DEFAULT.try_encode(candidate)
        if septets is not None and _dcs0_accepts(candidate, dcs0):
            forced = None
            if transliterated:
                forced = _first_unencodable(text, dcs0)
                assert forced is not None
                reason = (
                    f"{forced.describe()} is not in the GSM 03.38 default alphabet;"
                    " after transliteration every character is in it"
                )
            else:
                reason = _ALL_DEFAULT
            if dcs0 is not Dcs0.GSM7:
                reason += f" and in {dcs0.value}, which data_coding 0 means at this carrier"
            return EncodingChoice(
                Encoding.GSM7,
                DC_DEFAULT,
                candidate,
                reason,
                dcs0,
                transliterated=transliterated,
                forced_by=forced,
                data=septets,
            )
        if policy.uses_national_tables:
            national = _best_national(candidate, policy, transliterated)
            if national is not None:
                return national

    alphabets = _national_alphabets(policy) if policy.uses_national_tables else (gsm7.DEFAULT,)
    forced = _first_unencodable(
        text, dcs0, alphabets=alphabets, transliterate_too=policy.transliterate
    ) or _first_unencodable(text, dcs0)
    assert forced is not None  # otherwise an attempt above succeeded
    where = "the GSM 03.38 default alphabet"
    if dcs0 is not Dcs0.GSM7 and _first_unencodable(forced.char, Dcs0.GSM7) is None:
        # GSM-7 has it; the carrier's reading of data_coding 0 does not.
        where = f"{dcs0.value}, which this carrier takes data_coding 0 to be"
    if policy.uses_national_tables:
        where += f" or the {'/'.join(policy.national_languages)} tables"
    reason = f"{forced.describe()} is not in {where}"
    if policy.transliterate:
        reason += ", even after transliteration"
    if not policy.ucs2_fallback:
        raise TextEncodeError(
            f"{reason}, and this route does not fall back to UCS-2", forced.index, forced.char
        )
    text = _clean_surrogates(text)
    return EncodingChoice(
        Encoding.UCS2,
        DC_UCS2,
        text,
        f"{reason}: UCS-2",
        forced_by=forced,
        data=text.encode("utf-16-be"),
    )
