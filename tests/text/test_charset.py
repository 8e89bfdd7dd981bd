"""data_coding decode/encode, and the choice of an encoding for a whole text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.text import charset
from smppd.text.charset import (
    Encoding,
    TextEncodeError,
    choose_encoding,
    decode,
    encode,
    encode_ucs2,
    utf16_units,
)
from smppd.text.gsm7 import DEFAULT
from smppd.text.policy import Dcs0, LongMessageMode, TextPolicy
from smppd.text.translit import TRANSLITERATIONS, transliterate

# --- decode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "data_coding", "dcs0", "text"),
    [
        (b"\x00\x02\x5f", 0x00, "gsm7", "@$§"),
        (b"\x1b\x65", 0x00, "gsm7", "€"),
        (b"\xe9t\xe9", 0x00, "latin1", "été"),
        (b"abc\xff", 0x00, "ascii", "abc\ufffd"),
        (b"Hi!", 0x01, "gsm7", "Hi!"),
        (b"\x80", 0x01, "gsm7", "\ufffd"),
        (b"\x00\xff", 0x02, "gsm7", "\x00\xff"),
        (b"caf\xe9", 0x03, "gsm7", "café"),
        (b"\x00\xff", 0x04, "gsm7", "\x00\xff"),
        (b"\xbf\xe0\xd8\xd2\xd5\xe2", 0x06, "gsm7", "Привет"),
        (b"\xf9\xec\xe5\xed", 0x07, "gsm7", "שלום"),
        (b"\x00h\x00i", 0x08, "gsm7", "hi"),
        (b"\xd8\x3d\xde\x00", 0x08, "gsm7", "😀"),
        (b"\x00\x02", 0xF0, "gsm7", "@$"),
        (b"\x1b\x65", 0xF1, "gsm7", "€"),
        (b"A", 0xF2, "gsm7", "A"),
        (b"A", 0xF3, "gsm7", "A"),
        (b"\x00\xff", 0xF4, "gsm7", "\x00\xff"),
        (b"\x00h", 0x18, "gsm7", "h"),  # TP-DCS flash UCS-2 passed through
        (b"\x00", 0x10, "gsm7", "@"),  # TP-DCS flash GSM-7 passed through
        (b"\x00", 0xD0, "gsm7", "@"),  # message waiting, store, GSM-7
        (b"\x00h", 0xE0, "gsm7", "h"),  # message waiting, store, UCS-2
        (b"\x41\xe9", 0x05, "gsm7", "A\xe9"),  # unsupported: one character per octet
    ],
)
def test_decode_by_data_coding(data: bytes, data_coding: int, dcs0: str, text: str) -> None:
    assert decode(data, data_coding, dcs0=dcs0) == text


def test_ucs2_lone_surrogate_becomes_replacement_character_and_pairs_combine() -> None:
    assert decode(bytes.fromhex("d83d0061"), 8) == "\ufffda"
    assert decode(bytes.fromhex("0061de00"), 8) == "a\ufffd"
    assert decode(bytes.fromhex("d83dde00d83d"), 8) == "😀\ufffd"
    assert decode(bytes.fromhex("006100"), 8) == "a\ufffd"


def test_gsm7_decode_uses_the_national_tables_the_udh_names() -> None:
    assert decode(b"\x60", 0, locking_shift=1) == "ç"
    assert decode(b"\x1b\x63", 0, single_shift=1) == "ç"
    assert decode(b"\x1b\x63", 0) == "c"  # undefined in the default extension table


@given(st.binary(max_size=200), st.integers(0, 255), st.sampled_from(["gsm7", "latin1", "ascii"]))
def test_decode_never_raises(data: bytes, data_coding: int, dcs0: str) -> None:
    assert isinstance(decode(data, data_coding, dcs0=dcs0), str)


@given(st.text(max_size=100).filter(lambda t: all(not 0xD800 <= ord(c) <= 0xDFFF for c in t)))
def test_ucs2_encode_then_decode_returns_the_text(text: str) -> None:
    data = encode(text, 8)
    assert len(data) == 2 * utf16_units(text)
    assert decode(data, 8) == text


def test_non_bmp_character_is_a_surrogate_pair_of_two_units() -> None:
    assert encode_ucs2("hi 😀").hex() == "0068006900 20d83dde00".replace(" ", "")
    assert utf16_units("😀") == 2
    assert encode_ucs2("a\ud800b") == "a\ufffdb".encode("utf-16-be")


@pytest.mark.parametrize(
    ("text", "data_coding", "dcs0", "octets"),
    [
        ("@§€", 0x00, "gsm7", b"\x00\x5f\x1b\x65"),
        ("café", 0x00, "latin1", b"caf\xe9"),
        ("Hi", 0x00, "ascii", b"Hi"),
        ("Hi", 0x01, "gsm7", b"Hi"),
        ("café", 0x03, "gsm7", b"caf\xe9"),
        ("Привет", 0x06, "gsm7", b"\xbf\xe0\xd8\xd2\xd5\xe2"),
        ("@", 0xF0, "gsm7", b"\x00"),
    ],
)
def test_encode_by_data_coding(text: str, data_coding: int, dcs0: str, octets: bytes) -> None:
    assert encode(text, data_coding, dcs0=dcs0) == octets
    assert decode(octets, data_coding, dcs0=dcs0) == text


@pytest.mark.parametrize(
    ("text", "data_coding", "index"), [("ab`", 0, 2), ("a€", 3, 1), ("é", 1, 0)]
)
def test_encode_refuses_a_character_the_coding_lacks(
    text: str, data_coding: int, index: int
) -> None:
    with pytest.raises(TextEncodeError) as raised:
        encode(text, data_coding)
    assert raised.value.index == index


def test_encode_without_a_text_coding_is_an_error() -> None:
    with pytest.raises(ValueError, match="0x02"):
        encode("x", 0x02)


# --- choosing -------------------------------------------------------------


def test_gsm7_text_is_sent_as_gsm7() -> None:
    choice = choose_encoding("Hello {world} €5 §1")
    assert choice.encoding is Encoding.GSM7
    assert choice.data_coding == 0
    assert choice.forced_by is None


def test_backtick_forces_ucs2_and_is_reported() -> None:
    choice = choose_encoding("use `ls` now")
    assert choice.encoding is Encoding.UCS2
    assert choice.data_coding == 8
    assert choice.forced_by is not None
    assert (choice.forced_by.index, choice.forced_by.char) == (4, "`")
    assert "'`' (U+0060) at index 4" in choice.reason


def test_first_character_that_forces_ucs2_is_reported_not_a_later_one() -> None:
    choice = choose_encoding("ok 😀 Жук")
    assert choice.forced_by is not None
    assert choice.forced_by.char == "😀"


def test_national_tables_are_used_only_where_the_route_enables_them() -> None:
    text = "Çalışma saatleri değişti"
    assert choose_encoding(text).encoding is Encoding.UCS2
    choice = choose_encoding(text, TextPolicy(national_languages=("turkish",)))
    assert choice.encoding is Encoding.GSM7
    assert choice.locking_shift or choice.single_shift
    assert choice.forced_by is not None and choice.forced_by.char == "ı"
    septets = choice.alphabet.encode(text)
    assert choice.alphabet.decode(septets) == text


def test_default_alphabet_wins_over_national_tables_when_it_suffices() -> None:
    choice = choose_encoding("plain text", TextPolicy(national_languages=("turkish",)))
    assert (choice.locking_shift, choice.single_shift) == (0, 0)


def test_one_turkish_letter_announces_one_table_not_two() -> None:
    # Each IE costs 3 octets of UDH; one table carries the whole text.
    choice = choose_encoding("Merhaba ş", TextPolicy(national_languages=("turkish",)))
    assert choice.national_ies == 1


def test_mostly_turkish_letters_choose_the_locking_shift_when_it_saves_a_part() -> None:
    text = "ış" * 60  # 120 characters: 240 septets by single shift, 120 by locking
    choice = choose_encoding(text, TextPolicy(national_languages=("turkish",)))
    assert choice.locking_shift == 1
    assert charset.count_parts(choice, TextPolicy(national_languages=("turkish",))) == 1


def test_spanish_single_shift_carries_accented_vowels() -> None:
    choice = choose_encoding("Información útil", TextPolicy(national_languages=("spanish",)))
    assert (choice.locking_shift, choice.single_shift) == (0, 2)


def test_national_tables_are_ignored_in_sar_and_payload_modes() -> None:
    for mode in (LongMessageMode.SAR, LongMessageMode.PAYLOAD):
        policy = TextPolicy(long_message=mode, national_languages=("turkish",))
        assert choose_encoding("ş", policy).encoding is Encoding.UCS2


def test_transliteration_keeps_a_typographic_text_in_gsm7_only_when_enabled() -> None:
    text = "“Sale” – 50% off… don’t miss it"
    assert choose_encoding(text).encoding is Encoding.UCS2
    choice = choose_encoding(text, TextPolicy(transliterate=True))
    assert choice.encoding is Encoding.GSM7
    assert choice.transliterated
    assert choice.text == '"Sale" - 50% off... don\'t miss it'


def test_transliteration_does_not_hide_the_character_that_still_forces_ucs2() -> None:
    choice = choose_encoding("“Hi” 😀", TextPolicy(transliterate=True))
    assert choice.encoding is Encoding.UCS2
    assert choice.text == "“Hi” 😀"  # UCS-2 sends the original
    assert choice.forced_by is not None and choice.forced_by.char == "😀"


def test_every_transliteration_is_in_the_default_alphabet() -> None:
    for source, target in TRANSLITERATIONS.items():
        assert DEFAULT.try_encode(target) is not None, repr(source)
        assert transliterate(source) == target


def test_transliteration_never_changes_letters() -> None:
    assert transliterate("Ça va, señor? Ünïcödé") == "Ça va, señor? Ünïcödé"


def test_without_ucs2_fallback_an_unencodable_text_is_refused() -> None:
    with pytest.raises(TextEncodeError, match="does not fall back") as raised:
        choose_encoding("ok 😀", TextPolicy(ucs2_fallback=False))
    assert raised.value.index == 3


def test_carrier_reading_dcs0_as_latin1_cannot_take_gsm7_characters_outside_latin1() -> None:
    policy = TextPolicy(dcs0=Dcs0.LATIN1)
    assert choose_encoding("café? no: cafe", policy).encoding is Encoding.GSM7
    choice = choose_encoding("Price: 5€", policy)
    assert choice.encoding is Encoding.UCS2
    assert choice.forced_by is not None and choice.forced_by.char == "€"


def test_carrier_reading_dcs0_as_latin1_gets_latin1_octets() -> None:
    choice = choose_encoding("Ünïted? no: Üb", TextPolicy(dcs0=Dcs0.LATIN1))
    assert choice.encoding is Encoding.UCS2  # ï is not GSM-7
    choice = choose_encoding("Über", TextPolicy(dcs0=Dcs0.LATIN1))
    assert choice.payload("Über") == "Über".encode("latin-1")


def test_lone_surrogate_in_the_input_is_sent_as_replacement_character() -> None:
    choice = choose_encoding("a\udc80b")
    assert choice.encoding is Encoding.UCS2
    assert choice.text == "a\ufffdb"


@given(
    st.text(max_size=200),
    st.sampled_from(
        [
            TextPolicy(),
            TextPolicy(transliterate=True),
            TextPolicy(national_languages=("turkish", "spanish", "portuguese")),
            TextPolicy(dcs0=Dcs0.LATIN1),
        ]
    ),
)
def test_chosen_encoding_carries_the_whole_text(text: str, policy: TextPolicy) -> None:
    choice = choose_encoding(text, policy)
    if choice.encoding is Encoding.GSM7:
        septets = choice.alphabet.encode(choice.text)
        assert choice.alphabet.decode(septets) == choice.text
        payload = choice.payload(choice.text)
        shifts = {"locking_shift": choice.locking_shift, "single_shift": choice.single_shift}
        assert decode(payload, 0, dcs0=policy.dcs0, **shifts) == choice.text
    else:
        assert decode(choice.payload(choice.text), 8) == choice.text
        assert choice.forced_by is not None
        assert text[choice.forced_by.index] == choice.forced_by.char
    if not policy.transliterate:
        assert choice.text == text
    gsm_default = DEFAULT.try_encode(text) is not None and policy.dcs0 is Dcs0.GSM7
    if gsm_default:
        assert choice.encoding is Encoding.GSM7
        assert (choice.locking_shift, choice.single_shift) == (0, 0)
