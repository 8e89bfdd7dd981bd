"""GSM 03.38 default alphabet, extension table, packing and robust decoding."""

from __future__ import annotations

import gsmcodecs  # type: ignore[import-untyped]  # noqa: F401  (registers the oracle codecs)
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.text import gsm7
from smppd.text.gsm7 import DEFAULT, ESC, Gsm7EncodeError

# PROTOCOL.md §2.1, spot checks across every column of the table.
BASE_VECTORS = [
    ("@", 0x00),
    ("£", 0x01),
    ("$", 0x02),
    ("¥", 0x03),
    ("è", 0x04),
    ("Ç", 0x09),
    ("\n", 0x0A),
    ("\r", 0x0D),
    ("Å", 0x0E),
    ("Δ", 0x10),
    ("_", 0x11),
    ("Φ", 0x12),
    ("Ξ", 0x1A),
    ("Æ", 0x1C),
    ("ß", 0x1E),
    ("É", 0x1F),
    (" ", 0x20),
    ("¤", 0x24),
    ("'", 0x27),
    ("0", 0x30),
    ("?", 0x3F),
    ("¡", 0x40),
    ("A", 0x41),
    ("Z", 0x5A),
    ("Ä", 0x5B),
    ("Ö", 0x5C),
    ("Ñ", 0x5D),
    ("Ü", 0x5E),
    ("§", 0x5F),
    ("¿", 0x60),
    ("a", 0x61),
    ("z", 0x7A),
    ("ä", 0x7B),
    ("ö", 0x7C),
    ("ñ", 0x7D),
    ("ü", 0x7E),
    ("à", 0x7F),
]

EXTENSION_VECTORS = [
    ("\f", 0x0A),
    ("^", 0x14),
    ("{", 0x28),
    ("}", 0x29),
    ("\\", 0x2F),
    ("[", 0x3C),
    ("~", 0x3D),
    ("]", 0x3E),
    ("|", 0x40),
    ("€", 0x65),
]

NOT_GSM7 = [
    "`",
    "ç",
    "á",
    "í",
    "ó",
    "ú",
    "â",
    "ê",
    "ã",
    "õ",
    "š",
    "ž",
    "ı",
    "ş",
    "ğ",
    "Ж",
    "中",
    "😀",
]

gsm_text = st.text(
    alphabet=st.sampled_from([c for c in DEFAULT.base if c != "\x1b"] + list("€{}[]~|^\\\f"))
)


@pytest.mark.parametrize(("char", "code"), BASE_VECTORS)
def test_base_table_character_is_one_septet(char: str, code: int) -> None:
    assert DEFAULT.encode(char) == bytes((code,))
    assert DEFAULT.decode(bytes((code,))) == char


@pytest.mark.parametrize(("char", "code"), EXTENSION_VECTORS)
def test_extension_character_is_escape_plus_code_and_costs_two_septets(
    char: str, code: int
) -> None:
    assert DEFAULT.encode(char) == bytes((ESC, code))
    assert DEFAULT.septet_len(char) == 2
    assert DEFAULT.decode(bytes((ESC, code))) == char


@pytest.mark.parametrize("char", NOT_GSM7)
def test_character_outside_the_alphabet_is_refused_with_its_position(char: str) -> None:
    assert DEFAULT.try_encode("ab" + char) is None
    with pytest.raises(Gsm7EncodeError) as raised:
        DEFAULT.encode("ab" + char + "c")
    assert raised.value.index == 2
    assert raised.value.char == char


def test_0x5f_is_section_sign_and_backtick_is_not_gsm7() -> None:
    # smpplib and python-gsmmodem map 0x5F to a backtick (PROTOCOL.md §2.7).
    assert DEFAULT.encode("§") == b"\x5f"
    assert DEFAULT.decode(b"\x5f") == "§"
    assert DEFAULT.try_encode("`") is None


def test_at_sign_is_septet_zero_and_dollar_is_0x02() -> None:
    assert DEFAULT.encode("@$¤") == b"\x00\x02\x24"


def test_whole_default_table_agrees_with_gsmcodecs() -> None:
    for code in range(128):
        if code == ESC:
            continue
        char = DEFAULT.base[code]
        assert char.encode("gsm23.038") == bytes((code,)), hex(code)
    for char, code in EXTENSION_VECTORS:
        assert char.encode("gsm23.038") == bytes((ESC, code))


def test_every_ascii_character_is_encoded_or_refused_never_passed_through() -> None:
    for code_point in range(128):
        char = chr(code_point)
        oracle: bytes | None
        try:
            oracle = char.encode("gsm23.038")
        except UnicodeEncodeError:
            oracle = None
        if char == " ":
            oracle = b"\x20"
        assert DEFAULT.try_encode(char) == oracle, repr(char)


def test_escape_followed_by_undefined_code_decodes_to_the_base_character() -> None:
    # 23.038 §6.2.1.1; python-gsmmodem decodes this to '' (PROTOCOL.md §2.7).
    assert DEFAULT.decode(b"\x1b\x41") == "A"
    assert DEFAULT.decode(b"x\x1b\x00y") == "x@y"


def test_reserved_escape_escape_decodes_to_a_space_and_continues_in_the_base_table() -> None:
    assert DEFAULT.decode(b"a\x1b\x1bAb") == "a Ab"
    assert DEFAULT.decode(b"\x1b\x1b\x1b\x65") == " €"


def test_dangling_final_escape_decodes_to_a_space() -> None:
    assert DEFAULT.decode(b"ab\x1b") == "ab "


def test_octet_above_0x7f_in_unpacked_data_decodes_to_replacement_character() -> None:
    assert DEFAULT.decode(b"a\x80b\xff") == "a\ufffdb\ufffd"
    assert DEFAULT.decode(b"\x1b\x80") == "\ufffd"


@given(gsm_text)
def test_encode_then_decode_returns_the_text(text: str) -> None:
    septets = DEFAULT.encode(text)
    assert DEFAULT.decode(septets) == text
    escapes = sum(c in "€{}[]~|^\\\f" for c in text)
    assert len(septets) == DEFAULT.septet_len(text) == len(text) + escapes


@given(st.binary(max_size=300))
def test_decoding_any_octets_never_raises(data: bytes) -> None:
    assert isinstance(DEFAULT.decode(data), str)


@given(st.text(max_size=200))
def test_try_encode_agrees_with_per_character_encodability(text: str) -> None:
    septets = DEFAULT.try_encode(text)
    assert (septets is not None) == all(DEFAULT.can_encode(c) for c in text)
    assert (septets is None) == (DEFAULT.first_unencodable(text) is not None)


# --- packing ------------------------------------------------------------


def test_hello_world_packs_to_the_published_vector() -> None:
    septets = DEFAULT.encode("Hello World!")
    assert septets.hex() == "48656c6c6f20576f726c6421"
    assert gsm7.pack(septets).hex() == "c8329bfd065ddf72363904"
    assert gsm7.unpack(bytes.fromhex("c8329bfd065ddf72363904"), 12) == septets


@pytest.mark.parametrize(
    ("udh_octets", "fill", "header_septets"),
    [(0, 0, 0), (6, 1, 7), (7, 0, 8), (9, 5, 11), (12, 2, 14), (4, 3, 5), (1, 6, 2)],
)
def test_fill_bits_pad_the_udh_to_a_septet_boundary(
    udh_octets: int, fill: int, header_septets: int
) -> None:
    assert gsm7.fill_bits(udh_octets) == fill
    assert gsm7.header_septets(udh_octets) == header_septets
    assert udh_octets * 8 + fill == header_septets * 7


@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_pack_then_unpack_returns_the_septets_for_every_fill_count(
    septets: bytes, fill: int
) -> None:
    packed = gsm7.pack(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert gsm7.unpack(packed, len(septets), fill) == septets


@pytest.mark.parametrize("fill", range(7))
def test_fill_bits_are_zero_and_come_first(fill: int) -> None:
    packed = gsm7.pack(b"\x7f", fill)
    assert int.from_bytes(packed, "little") == 0x7F << fill


def test_packed_user_data_after_a_concat_udh_has_one_fill_bit_and_counts_septets() -> None:
    udh = bytes.fromhex("050003010201")
    septets = DEFAULT.encode("Hi")
    user_data, udl = gsm7.pack_user_data(udh, septets)
    assert udl == 7 + 2
    assert user_data[:6] == udh
    # 'H' (0x48) shifted left by one fill bit, then 'i' (0x69) from bit 8.
    assert int.from_bytes(user_data[6:], "little") == (0x48 << 1) | (0x69 << 8)
    assert gsm7.unpack_user_data(user_data, udl, len(udh)) == septets


def test_unpacking_more_septets_than_the_octets_hold_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        gsm7.unpack(b"\x00", 2)
    with pytest.raises(ValueError, match="shorter than"):
        gsm7.unpack_user_data(b"\x05\x00\x03\x01\x02\x01", 3, 6)


def test_packing_a_value_above_0x7f_is_an_error() -> None:
    with pytest.raises(ValueError, match="septets"):
        gsm7.pack(b"\x80")
    with pytest.raises(ValueError, match="fill"):
        gsm7.pack(b"a", 7)


def test_160_septets_fill_140_octets() -> None:
    assert len(gsm7.pack(b"a" * 160)) == 140
    assert len(gsm7.pack(b"a" * 153, gsm7.fill_bits(6))) == 140 - 6
