"""Optional transliteration into the GSM 03.38 default alphabet.

How this works
--------------
Word processors and phone keyboards put typographic punctuation into texts
that are otherwise plain GSM-7: curly quotes, en and em dashes, an ellipsis,
non-breaking or thin spaces, zero-width characters. One of them is enough to
send the whole message as UCS-2, which halves the characters per part. A
route can enable this table to replace such characters with their GSM-7
look-alikes before the encoding is chosen.

The table only touches punctuation, spaces and a few symbols; it never
changes a letter, so no word is misspelt (letters are the national language
tables' business). Every replacement is in the default alphabet, which the
tests check. It is applied with one ``str.translate``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

_REPLACEMENTS: Final[dict[str, str]] = {
    # quotation marks and apostrophes
    "\u2018": "'",  # ‘ left single quotation mark
    "\u2019": "'",  # ’ right single quotation mark (the typographic apostrophe)
    "\u201a": "'",  # ‚ single low-9 quotation mark
    "\u201b": "'",  # ‛ single high-reversed-9 quotation mark
    "\u2032": "'",  # ′ prime
    "\u00b4": "'",  # ´ acute accent used as an apostrophe
    "`": "'",  # grave accent: not in GSM-7 (0x5F is §)
    "\u02bc": "'",  # ʼ modifier letter apostrophe
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u201f": '"',  # ‟
    "\u2033": '"',  # ″ double prime
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2039": "'",  # ‹
    "\u203a": "'",  # ›
    # dashes and hyphens
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    # spaces
    "\u00a0": " ",  # no-break space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",  # figure space
    "\u2008": " ",  # punctuation space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow no-break space (French punctuation)
    "\u205f": " ",  # medium mathematical space
    "\u3000": " ",  # ideographic space
    "\t": " ",
    # invisible characters that carry nothing on a handset
    "\u00ad": "",  # soft hyphen
    "\u200b": "",  # zero width space
    "\u2060": "",  # word joiner
    "\ufeff": "",  # zero width no-break space / stray byte order mark
    # other punctuation and symbols
    "\u2026": "...",  # … horizontal ellipsis
    "\u2022": "-",  # • bullet
    "\u00b7": ".",  # · middle dot
    "\u2024": ".",  # one dot leader
    "\u2044": "/",  # fraction slash
    "\u00d7": "x",  # × multiplication sign
    "\u02c6": "^",  # ˆ modifier circumflex
    "\u02dc": "~",  # ˜ small tilde
    "\u00a6": "|",  # ¦ broken bar
    "\u00a9": "(c)",  # ©
    "\u00ae": "(R)",  # ®
    "\u2122": "TM",  # ™
    "\u00bc": "1/4",
    "\u00bd": "1/2",
    "\u00be": "3/4",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2260": "!=",
    "\u2192": "->",
    "\u2190": "<-",
}

TRANSLITERATIONS: Final[Mapping[str, str]] = MappingProxyType(_REPLACEMENTS)
_TRANSLATE: Final[Mapping[int, str]] = {ord(k): v for k, v in _REPLACEMENTS.items()}


def transliterate(text: str) -> str:
    """``text`` with typographic punctuation and spaces replaced by GSM-7 look-alikes."""
    return text.translate(_TRANSLATE)
