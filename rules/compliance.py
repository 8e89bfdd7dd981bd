"""Compliance keywords as compiled for a number: the defaults with a rule set's changes.

How this works: the default entries of :mod:`rules.keywords` are taken, the
rule set's ``[compliance]`` changes applied (words removed, words added,
ambiguous letters promoted to commands), then one per-number override on top
where the rule set has one. Entries with the same normalised words merge
into one :class:`ComplianceWord` that lists every language the word belongs
to (STOP is English, Dutch, German...), which the engine uses to pick the
reply language. Built once when a rule set loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rules._sections import KeywordChanges, SentencePolicy
from rules.keywords import DEFAULT_KEYWORDS, KeywordAction, KeywordEntry, keyword_form
from rules.matcher import KeywordTable

__all__ = ["ComplianceTable", "ComplianceWord", "apply_changes", "compile_table", "default_entries"]


@dataclass(frozen=True, slots=True)
class ComplianceWord:
    """A compliance keyword as compiled for one number: every language merged."""

    action: KeywordAction
    languages: tuple[str, ...]
    strong: bool = False
    in_sentence: bool = False
    resume: bool = False
    answer_only: bool = False


@dataclass(frozen=True, slots=True)
class ComplianceTable:
    """The compliance keywords in force on one number."""

    words: KeywordTable[ComplianceWord]
    # The opt-out words that count inside a sentence.
    sentence: KeywordTable[ComplianceWord]
    sentence_opt_out: SentencePolicy


def _merge(entries: Iterable[KeywordEntry]) -> dict[tuple[str, ...], ComplianceWord]:
    merged: dict[tuple[str, ...], ComplianceWord] = {}
    for entry in entries:
        words = keyword_form(entry.word)
        known = merged.get(words)
        if known is None:
            merged[words] = ComplianceWord(
                entry.action,
                (entry.language,),
                strong=entry.strong,
                in_sentence=entry.in_sentence,
                resume=entry.resume,
                answer_only=entry.answer_only,
            )
        elif known.action is entry.action:
            languages = known.languages
            if entry.language not in languages:
                languages = (*languages, entry.language)
            merged[words] = ComplianceWord(
                known.action,
                languages,
                strong=known.strong or entry.strong,
                in_sentence=known.in_sentence or entry.in_sentence,
                resume=known.resume or entry.resume,
                answer_only=known.answer_only and entry.answer_only,
            )
    return merged


def _added(changes: KeywordChanges) -> list[KeywordEntry]:
    added: list[KeywordEntry] = []
    for action, table in (
        (KeywordAction.OPT_OUT, changes.opt_out),
        (KeywordAction.OPT_IN, changes.opt_in),
        (KeywordAction.HELP, changes.help),
    ):
        for language, words in table.items():
            # An added opt-out word is a command wherever it opens a message.
            added.extend(
                KeywordEntry(word, action, language, strong=action is KeywordAction.OPT_OUT)
                for word in words
            )
    return added


def apply_changes(entries: list[KeywordEntry], changes: KeywordChanges) -> list[KeywordEntry]:
    removed = {keyword_form(word) for word in changes.remove}
    promoted = {keyword_form(word) for word in changes.commands}
    result: list[KeywordEntry] = []
    for entry in entries:
        words = keyword_form(entry.word)
        if words in removed:
            continue
        if words in promoted and entry.action is KeywordAction.AMBIGUOUS_OPT_OUT:
            result.append(KeywordEntry(entry.word, KeywordAction.OPT_OUT, entry.language))
        else:
            result.append(entry)
    result.extend(_added(changes))
    return result


def compile_table(entries: list[KeywordEntry], policy: SentencePolicy) -> ComplianceTable:
    merged = _merge(entries)
    sentence = [(words, word) for words, word in merged.items() if word.in_sentence]
    return ComplianceTable(KeywordTable(merged.items()), KeywordTable(sentence), policy)


def default_entries() -> list[KeywordEntry]:
    return list(DEFAULT_KEYWORDS)
