"""Per-part capacities (PROTOCOL.md §2.3) and the cutter."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.text.gsm7 import DEFAULT
from smppd.text.layout import (
    ClusterIndex,
    EncodedText,
    SeptetText,
    Unit,
    Utf16Text,
    capacity,
    plan,
    udh_octets,
)


@pytest.mark.parametrize(
    ("unit", "ref_bits", "national_ies", "expected"),
    [
        (Unit.SEPTETS, None, 0, 160),
        (Unit.SEPTETS, 8, 0, 153),
        (Unit.SEPTETS, 16, 0, 152),
        (Unit.OCTETS, None, 0, 140),
        (Unit.OCTETS, 8, 0, 134),
        (Unit.OCTETS, 16, 0, 133),
        (Unit.UTF16, None, 0, 70),
        (Unit.UTF16, 8, 0, 67),
        (Unit.UTF16, 16, 0, 66),
        (Unit.SEPTETS, None, 1, 155),
        (Unit.SEPTETS, None, 2, 152),
        (Unit.SEPTETS, 8, 1, 149),
        (Unit.SEPTETS, 8, 2, 146),
    ],
)
def test_capacity_table(unit: Unit, ref_bits: int | None, national_ies: int, expected: int) -> None:
    octets = udh_octets(concat_ref_bits=ref_bits, national_ies=national_ies)
    assert capacity(unit, octets) == expected


def test_udh_with_16_bit_ports_and_8_bit_concat_leaves_146_septets() -> None:
    assert capacity(Unit.SEPTETS, 12) == 146
    assert capacity(Unit.OCTETS, 12) == 128
    assert capacity(Unit.UTF16, 12) == 64


def _gsm(text: str) -> SeptetText:
    return SeptetText(text, DEFAULT.encode(text), DEFAULT.septet_len)


def _utf16(text: str) -> Utf16Text:
    return Utf16Text(text, text.encode("utf-16-be"))


def _texts(encoded: EncodedText, parts: list[tuple[int, int]]) -> list[str]:
    return [
        encoded.data[start * encoded.width : end * encoded.width].decode(
            "utf-16-be" if encoded.width == 2 else "latin-1"
        )
        for start, end in parts
    ]


def test_no_text_is_one_empty_part() -> None:
    assert plan(_gsm(""), 10) == [(0, 0)]


def test_cut_steps_back_before_an_escape_sequence() -> None:
    encoded = _gsm("aaa€b")
    assert plan(encoded, 4) == [(0, 3), (3, 6)]
    assert encoded.char_index(3) == 3
    assert encoded.char_index(5) == 4


def test_cut_steps_back_before_a_surrogate_pair() -> None:
    encoded = _utf16("aaa😀b")
    assert plan(encoded, 4) == [(0, 3), (3, 6)]
    assert _texts(encoded, plan(encoded, 4)) == ["aaa", "😀b"]


def test_cut_steps_back_to_the_last_grapheme_cluster_boundary() -> None:
    text = "ab🇸🇪cd"
    encoded = _utf16(text)
    parts = plan(encoded, 5, ClusterIndex(text))
    assert _texts(encoded, parts) == ["ab", "🇸🇪c", "d"]


def test_cluster_longer_than_a_part_is_cut_at_a_code_point() -> None:
    text = "x" + "e" + "\u0301" * 6
    encoded = _utf16(text)
    parts = plan(encoded, 4, ClusterIndex(text))
    assert _texts(encoded, parts) == ["x", "e\u0301\u0301\u0301", "\u0301\u0301\u0301"]


def test_a_part_too_small_for_a_character_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        plan(_gsm("€€"), 1)


@given(st.text(max_size=300))
def test_quick_boundary_test_agrees_with_full_segmentation(text: str) -> None:
    full = set(ClusterIndex(text).boundaries()) | {0}
    quick = ClusterIndex(text)
    for index in range(len(text) + 1):
        assert quick.is_boundary(index) == (index in full), index


@given(
    st.text(
        alphabet=st.sampled_from(["a", "€", "😀", "🇸", "🇪", "\u200d", "👍", "🏽", "\u0301", "ж"]),
        max_size=300,
    ),
    st.integers(2, 80),
)
def test_parts_cover_everything_in_order_within_capacity(text: str, cap: int) -> None:
    encoded = _utf16(text)
    parts = plan(encoded, cap, ClusterIndex(text))
    assert parts[0][0] == 0
    assert parts[-1][1] == encoded.units
    for (_, end), (start, _) in itertools.pairwise(parts):
        assert end == start
    for start, end in parts:
        assert 0 < end - start <= cap or encoded.units == 0
    assert "".join(_texts(encoded, parts)) == text
