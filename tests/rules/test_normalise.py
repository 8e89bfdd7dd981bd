"""Normalisation: what a keyword message looks like once it is compared."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import MAX_MATCH_CHARS, fold, is_unspaced, keyword_form, normalise
from rules.matcher import rest_after


@pytest.mark.parametrize(
    ("text", "normalised", "words"),
    [
        ("STOP", "stop", ("stop",)),
        ("ＳＴＯＰ", "stop", ("stop",)),  # full-width, from CJK keyboards
        ("ｓｔｏｐ", "stop", ("stop",)),
        ("ＴＤ", "td", ("td",)),
        ("stop!!", "stop", ("stop",)),
        ("Stop 🙏", "stop", ("stop",)),
        ("🙏🏽 Stop ❤️", "stop", ("stop",)),  # skin tone modifier, variation selector
        ("  Stop,   please!  ", "stop, please", ("stop", "please")),
        ("ARRÊT", "arret", ("arret",)),
        ("Arrête", "arrete", ("arrete",)),
        ("HJÄLP", "hjalp", ("hjalp",)),
        ("GÅ MED", "ga med", ("ga", "med")),
        ("STRASSE", "strasse", ("strasse",)),
        ("straße", "strasse", ("strasse",)),
        ("HJÆLP", "hjaelp", ("hjaelp",)),
        ("退订", "退订", ("退订",)),
        ("退订。", "退订", ("退订",)),
        ("回TD退订", "回td退订", ("回td退订",)),
        ("STOP\u3000ALL", "stop all", ("stop", "all")),  # ideographic space
        ("\u200bstop\u200b", "stop", ("stop",)),  # zero-width spaces around
        ("opt-out", "opt-out", ("opt-out",)),
        ("REFER +46 70-123 45 67", "refer +46 70-123 45 67", ("refer", "46", "70-123", "45", "67")),
        ("", "", ()),
        ("!!! 🙏", "", ()),
    ],
)
def test_text_is_normalised_for_matching(
    text: str, normalised: str, words: tuple[str, ...]
) -> None:
    result = normalise(text)
    assert result.normalised == normalised
    assert result.words == words
    assert result.original == text


def test_the_original_text_is_kept_whole_even_beyond_the_matched_part() -> None:
    text = "x" * (MAX_MATCH_CHARS + 10) + " STOP"
    result = normalise(text)
    assert result.original == text
    assert "stop" not in result.words


def test_accents_are_folded_only_for_european_scripts() -> None:
    # Thai vowel signs are combining marks that belong to the word.
    assert fold("ยกเลิก") == "ยกเลิก"
    assert fold("Ñandú") == "nandu"


@pytest.mark.parametrize(
    ("word", "unspaced"),
    [("退订", True), ("積分", True), ("ストップ", True), ("stop", False), ("hjälp", False)],
)
def test_scripts_without_spaces_are_recognised(word: str, unspaced: bool) -> None:
    assert is_unspaced(word) is unspaced


def test_keywords_and_messages_share_one_form() -> None:
    assert keyword_form("LÖS IN") == normalise("lös   in!").words


@given(st.text(max_size=300))
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise(text)
    twice = normalise(once.normalised)
    assert twice.normalised == once.normalised
    assert twice.words == once.words


@given(st.text(max_size=200), st.integers(min_value=0, max_value=8))
def test_what_follows_a_keyword_has_the_remaining_words(text: str, count: int) -> None:
    normalised = normalise(text)
    assert rest_after(normalised, count).words == normalised.words[count:]
