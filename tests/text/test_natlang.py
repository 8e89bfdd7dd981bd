"""National language shift tables (23.038 Annex A), checked against gsmcodecs."""

from __future__ import annotations

import gsmcodecs  # type: ignore[import-untyped]  # noqa: F401  (registers the oracle codecs)
import pytest
from gsmcodecs.charmaps import GSMCHARMAPS  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from smppd.text import natlang
from smppd.text.gsm7 import DEFAULT, DEFAULT_BASE, DEFAULT_EXTENSION, ESC

LANGS = [natlang.TURKISH, natlang.SPANISH, natlang.PORTUGUESE]


@pytest.mark.parametrize("language", [natlang.TURKISH, natlang.PORTUGUESE])
def test_locking_shift_table_matches_gsmcodecs(language: int) -> None:
    oracle = GSMCHARMAPS[language]["locking"]["decode"]
    table = natlang.LOCKING_SHIFT[language]
    for code in range(128):
        if code != ESC:
            assert table[code] == chr(oracle[code]), hex(code)


@pytest.mark.parametrize("language", LANGS)
def test_single_shift_table_matches_gsmcodecs(language: int) -> None:
    oracle = {
        code: chr(cp)
        for code, cp in GSMCHARMAPS[language]["singleShift"]["decode"].items()
        if code != ESC  # 0x1B1B is the reserved further extension, not a character
    }
    assert dict(natlang.SINGLE_SHIFT[language]) == oracle


def test_default_tables_match_gsmcodecs() -> None:
    oracle = GSMCHARMAPS[0]["locking"]["decode"]
    assert all(DEFAULT_BASE[c] == chr(oracle[c]) for c in range(128) if c != ESC)
    single = {c: chr(v) for c, v in GSMCHARMAPS[0]["singleShift"]["decode"].items() if c != ESC}
    assert dict(DEFAULT_EXTENSION) == single


def test_spanish_has_no_locking_shift_table() -> None:
    assert not natlang.has_locking_shift(natlang.SPANISH)
    assert natlang.alphabet(natlang.SPANISH, 0) is DEFAULT


# PROTOCOL.md §2.5, measured with gsmcodecs.
@pytest.mark.parametrize(
    ("locking", "single", "char", "septets"),
    [
        (0, natlang.TURKISH, "ç", "1b63"),
        (0, natlang.SPANISH, "ç", "1b09"),
        (natlang.TURKISH, 0, "ç", "60"),
        (0, natlang.TURKISH, "ş", "1b73"),
        (0, natlang.TURKISH, "ğ", "1b67"),
        (0, natlang.TURKISH, "ı", "1b69"),
        (0, natlang.SPANISH, "á", "1b61"),
        (natlang.PORTUGUESE, 0, "ç", "09"),
        (natlang.PORTUGUESE, natlang.PORTUGUESE, "â", "1d"),
        (0, natlang.PORTUGUESE, "â", "1b7f"),
        (natlang.TURKISH, natlang.TURKISH, "€", "04"),
    ],
)
def test_national_table_vector(locking: int, single: int, char: str, septets: str) -> None:
    alphabet = natlang.alphabet(locking, single)
    assert alphabet.encode(char).hex() == septets
    assert alphabet.decode(bytes.fromhex(septets)) == char
    assert char.encode(f"gsm23.038-{locking}-{single}").hex() == septets


def test_a_character_in_both_tables_is_sent_from_the_base_table() -> None:
    # Portuguese single shift repeats Greek capitals that the default base has.
    assert natlang.alphabet(0, natlang.PORTUGUESE).encode("Φ") == b"\x12"


@pytest.mark.parametrize("locking", [0, natlang.TURKISH, natlang.PORTUGUESE])
@pytest.mark.parametrize("single", [0, *LANGS])
def test_every_pair_round_trips_its_own_repertoire(locking: int, single: int) -> None:
    alphabet = natlang.alphabet(locking, single)
    repertoire = [c for i, c in enumerate(alphabet.base) if i != ESC]
    repertoire += list(alphabet.extension.values())
    text = "".join(repertoire)
    septets = alphabet.encode(text)
    assert alphabet.decode(septets) == text
    assert septets == text.encode(f"gsm23.038-{locking}-{single}")


@given(st.text(alphabet=st.sampled_from("çşğıİĞŞ€ÇéabcÖÜ {}"), max_size=80))
def test_turkish_text_round_trips_through_turkish_tables(text: str) -> None:
    alphabet = natlang.alphabet(natlang.TURKISH, natlang.TURKISH)
    assert alphabet.decode(alphabet.encode(text)) == text


def test_unknown_language_id_falls_back_to_the_default_half() -> None:
    assert natlang.alphabet(99, 0) is DEFAULT
    assert natlang.alphabet(0, 13).extension == DEFAULT.extension


def test_language_names_resolve_case_insensitively_and_unknown_names_fail() -> None:
    assert natlang.language_id("Turkish") == 1
    with pytest.raises(natlang.UnknownLanguage, match="klingon"):
        natlang.language_id("klingon")
