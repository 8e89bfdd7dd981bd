"""The default compliance keywords, per language, as data.

How this works: every word is a :class:`KeywordEntry` (the word as people
write it, what it does, its language and how far it may be trusted). The
table follows COMPLIANCE.md ("Keywords" and "Collisions"):

* **opt-out** words. ``strong`` ones (STOP, UNSUBSCRIBE, 退订) opt out
  whenever they open a message, whatever follows (``Stop please``); the
  others (CANCEL, END, 取消) collide with everyday speech (``cancel my
  order``) and are a hard opt-out only as the whole message; anywhere else
  the rule set's sentence policy decides (opt out, or flag for review).
  ``in_sentence`` words count inside a sentence at all (``please stop
  texting me``); the words the FCC names as always revoking consent (stop,
  quit, end, revoke, opt out, cancel, unsubscribe) are among them and can
  never be removed from a rule set (:data:`FCC_REVOCATION_WORDS`).
* **opt-in** words: ``resume`` ones (START, UNSTOP) lift an opt-out; the
  others join a programme (``JOIN COFFEE``) and go through its confirmation.
* **help** words.
* **answers**: yes / no words (YES, Y, JA, OUI, SI, 是; NO, NEJ, 不) and the
  Chinese opt-out letters T, N, R, which look like "no". They are
  ``answer_only``: they act only when a pending question makes them an
  answer. Without one, yes / no words are ordinary text and the ambiguous
  opt-out letters are flagged for review (a person decides whether ``N``
  meant "stop"); a rule set for a Chinese short code can promote them to
  commands (``commands = ["T", "N"]``).

A word shared by several languages (STOP, INFO, JA) has one entry per
language; the reply language is picked among them (the subscriber's
language first). Every word here is *reserved*: no rule set may claim it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from rules.normalise import normalise

__all__ = [
    "DEFAULT_KEYWORDS",
    "FCC_REVOCATION_WORDS",
    "LANGUAGES",
    "KeywordAction",
    "KeywordEntry",
    "keyword_form",
]


class KeywordAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    YES = "yes"
    NO = "no"
    # A Chinese opt-out letter that also reads as "no" (T, N, R).
    AMBIGUOUS_OPT_OUT = "ambiguous_opt_out"


@dataclass(frozen=True, slots=True)
class KeywordEntry:
    """One compliance word in one language."""

    word: str
    action: KeywordAction
    language: str
    # opt-out: a hard opt-out whenever it opens a message.
    strong: bool = False
    # opt-out: counts inside a sentence (under the sentence policy).
    in_sentence: bool = False
    # opt-in: lifts an opt-out (START) rather than joining a programme (JOIN).
    resume: bool = False
    # Acts only as the answer to a pending question.
    answer_only: bool = False


def keyword_form(word: str) -> tuple[str, ...]:
    """``word`` as the matcher compares it: its normalised words."""
    return normalise(word).words


def _opt_out(
    language: str, strong: str = "", weak: str = "", sentence: str = ""
) -> Iterator[KeywordEntry]:
    # Words separated by "|"; a word in ``sentence`` counts inside a sentence.
    in_sentence = {w for w in sentence.split("|") if w}
    for word in (w for w in strong.split("|") if w):
        yield KeywordEntry(
            word, KeywordAction.OPT_OUT, language, strong=True, in_sentence=word in in_sentence
        )
    for word in (w for w in weak.split("|") if w):
        yield KeywordEntry(word, KeywordAction.OPT_OUT, language, in_sentence=word in in_sentence)


def _plain(
    action: KeywordAction, language: str, words: str, **flags: bool
) -> Iterator[KeywordEntry]:
    for word in words.split("|"):
        yield KeywordEntry(word, action, language, **flags)


# 47 CFR 64.1200(a)(10) as amended by FCC 24-18: these words always revoke.
FCC_REVOCATION_WORDS: Final = frozenset(
    {"stop", "quit", "end", "revoke", "opt out", "cancel", "unsubscribe"}
)

_EN_STRONG = "STOP|STOPALL|STOP ALL|UNSUBSCRIBE|REVOKE|OPTOUT|OPT OUT|OPT-OUT"
_EN_SENTENCE = "STOP|STOPALL|UNSUBSCRIBE|REVOKE|OPTOUT|OPT OUT|OPT-OUT|CANCEL|END|QUIT"

_ENTRIES: tuple[KeywordEntry, ...] = (
    # -- opt-out ----------------------------------------------------------
    *_opt_out("en", strong=_EN_STRONG, weak="CANCEL|END|QUIT|REMOVE", sentence=_EN_SENTENCE),
    *_opt_out("sv", strong="STOPP|STOP", weak="AVSLUTA", sentence="STOPP|STOP|AVSLUTA"),
    *_opt_out("no", strong="STOPP|STOP", weak="AVSLUTA", sentence="STOPP|STOP"),
    *_opt_out("da", strong="STOPP|STOP", weak="AVSLUTA", sentence="STOPP|STOP"),
    *_opt_out("nl", strong="STOP|AFMELDEN", weak="UIT", sentence="STOP|AFMELDEN"),
    *_opt_out("de", strong="STOPP|STOP|ABMELDEN", sentence="STOPP|STOP|ABMELDEN"),
    *_opt_out("fr", strong="STOP|ARRET|ARRETE", sentence="STOP|ARRETE"),
    *_opt_out("es", strong="STOP", weak="BAJA|ALTO|PARAR|CANCELAR", sentence="STOP|CANCELAR"),
    *_opt_out("pt", strong="STOP", weak="SAIR|PARAR|CANCELAR", sentence="STOP|CANCELAR"),
    *_opt_out("zh", strong="TD|退订|停止", weak="取消", sentence="退订|停止|取消"),
    *_plain(KeywordAction.AMBIGUOUS_OPT_OUT, "zh", "T|N|R", answer_only=True),
    # -- opt-in -------------------------------------------------------------
    *_plain(KeywordAction.OPT_IN, "en", "START|UNSTOP", resume=True),
    *_plain(KeywordAction.OPT_IN, "en", "JOIN|SUBSCRIBE"),
    *_plain(KeywordAction.OPT_IN, "sv", "START", resume=True),
    *_plain(KeywordAction.OPT_IN, "sv", "GÅ MED"),
    *_plain(KeywordAction.OPT_IN, "no", "START", resume=True),
    *_plain(KeywordAction.OPT_IN, "da", "START", resume=True),
    *_plain(KeywordAction.OPT_IN, "nl", "START", resume=True),
    *_plain(KeywordAction.OPT_IN, "nl", "AANMELDEN"),
    *_plain(KeywordAction.OPT_IN, "de", "START", resume=True),
    *_plain(KeywordAction.OPT_IN, "de", "ANMELDEN"),
    *_plain(KeywordAction.OPT_IN, "fr", "START", resume=True),
    *_plain(KeywordAction.OPT_IN, "es", "ALTA"),
    *_plain(KeywordAction.OPT_IN, "zh", "加入|订阅"),
    # -- help -----------------------------------------------------------------
    *_plain(KeywordAction.HELP, "en", "HELP|INFO"),
    *_plain(KeywordAction.HELP, "sv", "HJÄLP|INFO"),
    *_plain(KeywordAction.HELP, "no", "HJELP|INFO"),
    *_plain(KeywordAction.HELP, "da", "HJÆLP|INFO"),
    *_plain(KeywordAction.HELP, "nl", "HULP|INFO"),
    *_plain(KeywordAction.HELP, "de", "HILFE|INFO"),
    *_plain(KeywordAction.HELP, "fr", "AIDE|INFO"),
    *_plain(KeywordAction.HELP, "es", "AYUDA|INFO"),
    *_plain(KeywordAction.HELP, "pt", "AJUDA|INFO"),
    *_plain(KeywordAction.HELP, "zh", "帮助"),
    # -- answers (only with a pending question) ------------------------------
    *_plain(KeywordAction.YES, "en", "YES|Y", answer_only=True),
    *_plain(KeywordAction.YES, "sv", "JA", answer_only=True),
    *_plain(KeywordAction.YES, "no", "JA", answer_only=True),
    *_plain(KeywordAction.YES, "da", "JA", answer_only=True),
    *_plain(KeywordAction.YES, "nl", "JA", answer_only=True),
    *_plain(KeywordAction.YES, "de", "JA", answer_only=True),
    *_plain(KeywordAction.YES, "fr", "OUI", answer_only=True),
    *_plain(KeywordAction.YES, "es", "SI", answer_only=True),
    *_plain(KeywordAction.YES, "pt", "SIM", answer_only=True),
    *_plain(KeywordAction.YES, "zh", "是|好", answer_only=True),
    *_plain(KeywordAction.NO, "en", "NO", answer_only=True),
    *_plain(KeywordAction.NO, "sv", "NEJ", answer_only=True),
    *_plain(KeywordAction.NO, "no", "NEI", answer_only=True),
    *_plain(KeywordAction.NO, "da", "NEJ", answer_only=True),
    *_plain(KeywordAction.NO, "nl", "NEE", answer_only=True),
    *_plain(KeywordAction.NO, "de", "NEIN", answer_only=True),
    *_plain(KeywordAction.NO, "fr", "NON", answer_only=True),
    *_plain(KeywordAction.NO, "es", "NO", answer_only=True),
    *_plain(KeywordAction.NO, "pt", "NAO", answer_only=True),
    *_plain(KeywordAction.NO, "zh", "不|否", answer_only=True),
)

DEFAULT_KEYWORDS: Final[tuple[KeywordEntry, ...]] = _ENTRIES

LANGUAGES: Final[frozenset[str]] = frozenset(entry.language for entry in _ENTRIES)
