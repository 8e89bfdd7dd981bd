"""National language shift tables (3GPP TS 23.038 Annex A).

How this works
--------------
Release 8 added per-language replacements for the two halves of a GSM-7
alphabet, announced in the UDH:

* a **locking shift** table (IE 0x25, ``25 01 <lang>``) replaces the whole
  base table (Annex A.3);
* a **single shift** table (IE 0x24, ``24 01 <lang>``) replaces the extension
  table reached by ESC (Annex A.2).

Language 0 means "the default table" for either half, so every
(locking, single) pair names one alphabet. Turkish and Portuguese have both
tables; Spanish has only a single shift table. The tables below are the
Annex A data; :func:`alphabet` builds (and caches) the codec for a pair.

Sending with them is a per-route opt-in: the SMSC must pass the UDH through
and must not transcode ``data_coding`` 0, and older handsets ignore the IEs.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Final

from smppd.text.gsm7 import DEFAULT, DEFAULT_BASE, DEFAULT_EXTENSION, Gsm7Alphabet, base_table

TURKISH: Final = 1
SPANISH: Final = 2
PORTUGUESE: Final = 3

# Configuration names -> language id (TS 23.038 §6.2.1.2.4).
LANGUAGES: Final[Mapping[str, int]] = MappingProxyType(
    {"turkish": TURKISH, "spanish": SPANISH, "portuguese": PORTUGUESE}
)
LANGUAGE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {ident: name for name, ident in LANGUAGES.items()}
)

# Annex A.3: locking shift tables, row by row; 0x1B stays ESC.
LOCKING_SHIFT: Final[Mapping[int, str]] = MappingProxyType(
    {
        TURKISH: base_table(
            "@£$¥€éùıòÇ\nĞğ\rÅå",
            "Δ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ",
            " !\"#¤%&'()*+,-./",
            "0123456789:;<=>?",
            "İABCDEFGHIJKLMNO",
            "PQRSTUVWXYZÄÖÑÜ§",
            "çabcdefghijklmno",
            "pqrstuvwxyzäöñüà",
        ),
        PORTUGUESE: base_table(
            "@£$¥êéúíóç\nÔô\rÁá",
            "Δ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ",
            " !\"#º%&'()*+,-./",
            "0123456789:;<=>?",
            "ÍABCDEFGHIJKLMNO",
            "PQRSTUVWXYZÃÕÚÜ§",
            "~abcdefghijklmno",
            "pqrstuvwxyzãõ`üà",
        ),
    }
)

# Annex A.2: single shift tables, code after ESC -> character.
SINGLE_SHIFT: Final[Mapping[int, Mapping[int, str]]] = MappingProxyType(
    {
        TURKISH: MappingProxyType(
            {
                **DEFAULT_EXTENSION,
                0x47: "Ğ",
                0x49: "İ",
                0x53: "Ş",
                0x63: "ç",
                0x67: "ğ",
                0x69: "ı",
                0x73: "ş",
            }
        ),
        SPANISH: MappingProxyType(
            {
                **DEFAULT_EXTENSION,
                0x09: "ç",
                0x41: "Á",
                0x49: "Í",
                0x4F: "Ó",
                0x55: "Ú",
                0x61: "á",
                0x69: "í",
                0x6F: "ó",
                0x75: "ú",
            }
        ),
        PORTUGUESE: MappingProxyType(
            {
                0x05: "ê",
                0x09: "ç",
                0x0A: "\f",
                0x0B: "Ô",
                0x0C: "ô",
                0x0E: "Á",
                0x0F: "á",
                0x12: "Φ",
                0x13: "Γ",
                0x14: "^",
                0x15: "Ω",
                0x16: "Π",
                0x17: "Ψ",
                0x18: "Σ",
                0x19: "Θ",
                0x1F: "Ê",
                0x28: "{",
                0x29: "}",
                0x2F: "\\",
                0x3C: "[",
                0x3D: "~",
                0x3E: "]",
                0x40: "|",
                0x41: "À",
                0x49: "Í",
                0x4F: "Ó",
                0x55: "Ú",
                0x5B: "Ã",
                0x5C: "Õ",
                0x61: "Â",
                0x65: "€",
                0x69: "í",
                0x6F: "ó",
                0x75: "ú",
                0x7B: "ã",
                0x7C: "õ",
                0x7F: "â",
            }
        ),
    }
)


class UnknownLanguage(ValueError):
    """A language name or id we have no table for."""


def language_id(name: str) -> int:
    """``"turkish"`` -> 1; raises :class:`UnknownLanguage`."""
    try:
        return LANGUAGES[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(LANGUAGES))
        raise UnknownLanguage(f"no national language table {name!r} (known: {known})") from None


def has_locking_shift(language: int) -> bool:
    return language in LOCKING_SHIFT


def has_single_shift(language: int) -> bool:
    return language in SINGLE_SHIFT


@cache
def alphabet(locking: int = 0, single: int = 0) -> Gsm7Alphabet:
    """The alphabet of a (locking shift, single shift) pair; 0 = the default half.

    A language id we have no table for falls back to the default half, which
    is what 23.038 asks of a receiver that does not know the language.
    """
    base = LOCKING_SHIFT.get(locking, DEFAULT_BASE)
    extension = SINGLE_SHIFT.get(single, DEFAULT_EXTENSION)
    locking = locking if base is not DEFAULT_BASE else 0
    single = single if extension is not DEFAULT_EXTENSION else 0
    name = (
        f"GSM 03.38 {LANGUAGE_NAMES.get(locking, 'default')} locking shift"
        f" + {LANGUAGE_NAMES.get(single, 'default')} single shift"
    )
    if locking == 0 and single == 0:
        return DEFAULT
    return Gsm7Alphabet(name, base, extension)
