"""Keyword tables: normalised keyword -> value, matched in the four modes.

How this works: a keyword is stored as its normalised words
(:func:`rules.keywords.keyword_form`). Three questions are asked of a
:class:`~rules.normalise.NormalisedText`:

* :meth:`KeywordTable.exact` — is the whole message the keyword? One dict
  probe on the word tuple.
* :meth:`KeywordTable.leading` — does the message start with a keyword?
  Candidates are found by the first word and tried longest first, so
  ``STOP ALL`` beats ``STOP`` and ``LÖS IN`` beats ``LÖS``; what follows is
  handed back as the argument.
* :meth:`KeywordTable.inside` — does a keyword appear anywhere, as whole
  words (``please stop texting me``)?

Keywords in scripts written without spaces (``退订``, ``积分``) cannot be
found by words: they match as the start of the message (``退订谢谢``) and,
for :meth:`inside`, as a substring. Those are few, so they are tried in a
short list, longest first, and only when the message holds such characters.

Pure; built once per rule set and then only read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from rules.normalise import NormalisedText, has_word, is_unspaced, normalise

__all__ = ["Found", "KeywordTable", "rest_after"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Found(Generic[V]):
    """A keyword found in a message: its value, its words, and what follows it."""

    value: V
    keyword: tuple[str, ...]
    rest: NormalisedText


_EMPTY_REST = NormalisedText("", "", ())


def rest_after(text: NormalisedText, count: int) -> NormalisedText:
    """What follows the first ``count`` words of ``text``, as a text of its own.

    Tokens trimmed away entirely (a lone emoji) are not words, so the tokens
    are walked until ``count`` words have gone by; the remainder keeps its
    inner punctuation (``+46 70-123 45 67``).
    """
    if count >= len(text.words):
        return _EMPTY_REST
    tokens = text.normalised.split(" ")
    seen = 0
    index = 0
    while index < len(tokens) and seen < count:
        if has_word(tokens[index]):
            seen += 1
        index += 1
    remainder = " ".join(tokens[index:])
    return normalise(remainder)


def _rest_of_unspaced(text: NormalisedText, prefix: str) -> NormalisedText:
    remainder = text.normalised[len(prefix) :]
    return normalise(remainder) if remainder.strip() else _EMPTY_REST


class KeywordTable(Generic[V]):
    """Keywords (as normalised word tuples) and their values."""

    __slots__ = ("_by_first", "_exact", "_firsts", "_unspaced")

    def __init__(self, items: Iterable[tuple[tuple[str, ...], V]]) -> None:
        exact: dict[tuple[str, ...], V] = {}
        for words, value in items:
            if words:
                exact.setdefault(words, value)
        by_first: dict[str, list[tuple[str, ...]]] = {}
        unspaced: list[tuple[str, tuple[str, ...]]] = []
        for words in exact:
            if is_unspaced(words[0]):
                unspaced.append((" ".join(words), words))
            else:
                by_first.setdefault(words[0], []).append(words)
        self._exact = exact
        self._by_first = {
            first: tuple(sorted(group, key=len, reverse=True)) for first, group in by_first.items()
        }
        self._firsts = frozenset(self._by_first)
        self._unspaced = tuple(sorted(unspaced, key=lambda item: len(item[0]), reverse=True))

    def __len__(self) -> int:
        return len(self._exact)

    def __contains__(self, words: object) -> bool:
        return words in self._exact

    def get(self, words: tuple[str, ...]) -> V | None:
        return self._exact.get(words)

    def items(self) -> tuple[tuple[tuple[str, ...], V], ...]:
        return tuple(self._exact.items())

    def exact(self, text: NormalisedText) -> Found[V] | None:
        """The keyword that is the whole of ``text``."""
        value = self._exact.get(text.words)
        if value is None:
            return None
        return Found(value, text.words, _EMPTY_REST)

    def leading(self, text: NormalisedText) -> Found[V] | None:
        """The longest keyword ``text`` starts with, and what follows it."""
        words = text.words
        if not words:
            return None
        candidates = self._by_first.get(words[0])
        if candidates is not None:
            for keyword in candidates:
                size = len(keyword)
                if words[:size] == keyword:
                    return Found(self._exact[keyword], keyword, rest_after(text, size))
        if self._unspaced and not text.normalised.isascii():
            for joined, keyword in self._unspaced:
                if text.normalised.startswith(joined):
                    return Found(self._exact[keyword], keyword, _rest_of_unspaced(text, joined))
        return None

    def inside(self, text: NormalisedText) -> Found[V] | None:
        """The first keyword found anywhere in ``text`` as whole words."""
        words = text.words
        # The common case, a message without keywords, is answered in C.
        if not self._firsts.isdisjoint(words):
            by_first = self._by_first
            for index, word in enumerate(words):
                candidates = by_first.get(word)
                if candidates is None:
                    continue
                for keyword in candidates:
                    if words[index : index + len(keyword)] == keyword:
                        return Found(self._exact[keyword], keyword, _EMPTY_REST)
        if self._unspaced and not text.normalised.isascii():
            for joined, keyword in self._unspaced:
                if joined in text.normalised:
                    return Found(self._exact[keyword], keyword, _EMPTY_REST)
        return None
