"""Inbound text as keywords are compared: normalised once, the original kept.

How this works, in order (COMPLIANCE.md, "Normalise before matching"):

1. Only the first :data:`MAX_MATCH_CHARS` characters are read: a keyword
   message is short, and a very long text must not cost more than a short one.
2. Unicode NFKC turns compatibility forms into plain ones: full-width
   ``ＳＴＯＰ`` and ``ＴＤ`` typed on CJK keyboards, the ideographic space,
   ligatures, circled and super-script letters.
3. Case folding (``str.casefold``: ``STRASSE`` = ``straße``).
4. Accents are folded: canonical decomposition, the combining marks of the
   Latin/Greek/Cyrillic accent blocks dropped, recomposed; a few letters that
   do not decompose (``ø``, ``æ``, ``ł``...) are spelt out. ``ARRÊT`` =
   ``arret``, ``HJÄLP`` = ``hjalp``. Marks of other scripts (Thai vowels,
   Devanagari signs) are left alone: they are letters there, not accents.
5. Whitespace is collapsed to single spaces, and anything that is neither a
   letter, a digit nor a mark is trimmed from both ends: punctuation
   (``stop!!``), symbols and emoji with their modifiers and joiners
   (``Stop 🙏🏽``), control and format characters.

``words`` are the space-separated tokens, each trimmed the same way, empty
ones left out: ``"Stop, please!"`` -> ``("stop", "please")``. Writing systems
without spaces (Chinese, Japanese, Thai) give one long token; the matcher
compares keywords in those scripts by prefix and substring instead (see
:func:`is_unspaced`).

Keywords in rule sets and in :mod:`rules.keywords` go through the same
function, so both sides of every comparison are in the same form.

Pure and allocation-light: a plain ASCII text skips the Unicode steps.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

import regex

__all__ = [
    "MAX_MATCH_CHARS",
    "NormalisedText",
    "fold",
    "has_word",
    "is_unspaced",
    "normalise",
]

# Characters of an inbound text read for keywords: ten concatenated GSM-7
# parts. Keyword commands are a few words; a sentence opt-out fits easily.
MAX_MATCH_CHARS: Final = 1_530

# Combining Diacritical Marks (+ Extended, Supplement), Combining Marks for
# Symbols, Combining Half Marks: the accents of European scripts.
_ACCENT_RANGES: Final = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_ACCENTS: Final = re.compile(f"[{_ACCENT_RANGES}]+")
_NEITHER_ASCII_NOR_ACCENT: Final = re.compile(f"[^\x00-\x7f{_ACCENT_RANGES}]")
# Letters with no canonical decomposition that people type without the stroke.
_SPELT_OUT: Final = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)

# Scripts written without spaces between words, as code point ranges.
_UNSPACED_RANGES: Final = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3FFFF),  # CJK Extensions B and later
)


@dataclass(frozen=True, slots=True)
class NormalisedText:
    """An inbound text and the forms it is matched in.

    ``original`` is the text exactly as received (what consent evidence
    records); ``normalised`` the matching form (see the module docstring);
    ``words`` its tokens, each trimmed of surrounding punctuation and emoji.
    """

    original: str
    normalised: str
    words: tuple[str, ...]


# Every ASCII character that is neither a letter nor a digit: str.strip()
# with it trims ASCII punctuation at C speed.
_ASCII_NOT_ALNUM: Final = "".join(c for c in map(chr, range(128)) if not c.isalnum())
# A word: from the first letter or digit of a token to its last one, with
# the marks that belong to that last letter. Within one token ([^ ] never
# crosses a space), so findall() yields each token trimmed, and nothing for
# a token without letters or digits.
_ASCII_WORD: Final = re.compile(r"[a-z0-9](?:[^ ]*[a-z0-9])?")
_WORD: Final = regex.compile(r"[\p{L}\p{N}](?:[^ ]*[\p{L}\p{N}])?\p{M}*")


# The same, over a whole text: from its first letter or digit to its last.
_TRIMMED: Final = regex.compile(r"[\p{L}\p{N}](?:.*[\p{L}\p{N}])?\p{M}*", regex.DOTALL)


def _trim_word(token: str) -> str:
    word = token.strip(_ASCII_NOT_ALNUM)
    if word and not (word.isascii() or (word[0].isalnum() and word[-1].isalnum())):
        # Emoji, CJK punctuation, marks: the careful way, with the same
        # letters and digits as the word patterns (one Unicode version).
        found = _TRIMMED.search(word)
        word = found.group() if found is not None else ""
    return word


def fold(text: str) -> str:
    """``text`` in the matching form, before trimming: NFKC, case-folded, accents folded."""
    if text.isascii():
        return text.lower()
    # NFKD does NFKC's compatibility mapping and the decomposition that
    # exposes accents in one pass.
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    if _NEITHER_ASCII_NOR_ACCENT.search(decomposed) is None:
        # Latin text with accents (the common case): dropping what is not
        # ASCII drops exactly the accents.
        return decomposed.encode("ascii", "ignore").decode("ascii")
    folded = _ACCENTS.sub("", decomposed).translate(_SPELT_OUT)
    # Recompose what is left (Hangul syllables, kana with voicing marks).
    return unicodedata.normalize("NFC", folded)


def normalise(text: str) -> NormalisedText:
    """``text`` with its matching form and words (see the module docstring)."""
    # Whitespace as str.split() sees it (which includes the ASCII separator
    # controls) becomes single spaces, so the word patterns need only " ".
    spaced = " ".join(fold(text[:MAX_MATCH_CHARS]).split())
    pattern = _ASCII_WORD if spaced.isascii() else _WORD
    words: tuple[str, ...] = tuple(pattern.findall(spaced))
    if not words:
        return NormalisedText(text, "", ())
    if len(words) == 1:
        return NormalisedText(text, words[0], words)
    return NormalisedText(text, _trim_word(spaced), words)


def has_word(token: str) -> bool:
    """Whether a space-separated token of a normalised text holds a word."""
    return bool(_trim_word(token))


def is_unspaced(word: str) -> bool:
    """Whether ``word`` is written in a script without spaces between words.

    Keywords in those scripts (``退订``) are matched as the start of the
    message or anywhere inside it, since nothing separates them from the
    words around them.
    """
    if word.isascii():
        return False
    for char in word:
        code = ord(char)
        if any(low <= code <= high for low, high in _UNSPACED_RANGES):
            return True
    return False
