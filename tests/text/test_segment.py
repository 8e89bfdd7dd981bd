"""Splitting outgoing text into parts, and concatenation references."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.text import gsm7
from smppd.text.charset import Encoding, decode, grapheme_boundaries
from smppd.text.policy import LongMessageMode, TextPolicy
from smppd.text.segment import (
    ESM_CLASS_UDHI,
    ReferenceAllocator,
    SegmentedMessage,
    TooManyParts,
    segment,
    segment_octets,
)
from smppd.text.udh import split_udh

UDH8 = TextPolicy()
UDH16 = TextPolicy(long_message=LongMessageMode.UDH16)
SAR = TextPolicy(long_message=LongMessageMode.SAR)
PAYLOAD = TextPolicy(long_message=LongMessageMode.PAYLOAD)
TURKISH = TextPolicy(national_languages=("turkish",))


def _counter(start: int = 7) -> Callable[[], int]:
    values = itertools.count(start)
    return lambda: next(values)


def _split(text: str, policy: TextPolicy = UDH8) -> SegmentedMessage:
    return segment(text, policy, next_reference=_counter())


def _decoded_parts(message: SegmentedMessage) -> list[str]:
    texts = []
    for part in message.parts:
        if part.udh:
            header, payload = split_udh(part.short_message)
            assert payload == part.payload
            locking = header.language(0x25) or 0
            single = header.language(0x24) or 0
        else:
            payload, locking, single = part.short_message, 0, 0
        texts.append(
            decode(payload, message.data_coding, locking_shift=locking, single_shift=single)
        )
    return texts


# --- smpplib regressions (PROTOCOL.md §2.7) ---------------------------------


def test_escape_sequence_is_never_split_across_parts() -> None:
    message = _split("a" * 152 + "€" + "b" * 10)
    assert message.encoding is Encoding.GSM7
    assert message.part_units == (152, 12)
    first, second = message.parts
    assert first.payload == b"a" * 152
    assert not first.payload.endswith(b"\x1b")
    assert second.payload.startswith(b"\x1b\x65")
    assert _decoded_parts(message) == ["a" * 152, "€" + "b" * 10]


def test_surrogate_pair_is_never_split_across_parts() -> None:
    message = _split("a" * 66 + "😀" + "b" * 10)
    assert message.encoding is Encoding.UCS2
    assert message.part_units == (66, 12)
    first, second = message.parts
    assert first.payload == "a".encode("utf-16-be") * 66
    assert second.payload.startswith(bytes.fromhex("d83dde00"))
    assert _decoded_parts(message) == ["a" * 66, "😀" + "b" * 10]


def test_section_sign_stays_gsm7_and_backtick_does_not() -> None:
    assert _split("§ 12").encoding is Encoding.GSM7
    assert _split("§ 12").parts[0].payload == b"\x5f 12"
    assert _split("` 12").encoding is Encoding.UCS2


def test_concatenation_reference_comes_from_the_caller_not_at_random() -> None:
    message = segment("x" * 200, UDH8, next_reference=lambda: 0x1234)
    assert message.reference == 0x34
    assert [p.udh.hex() for p in message.parts] == ["050003340201", "050003340202"]


# --- exact boundaries ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "policy", "units"),
    [
        ("a" * 160, UDH8, (160,)),
        ("a" * 161, UDH8, (153, 8)),
        ("a" * 306, UDH8, (153, 153)),
        ("a" * 307, UDH8, (153, 153, 1)),
        ("a" * 161, UDH16, (152, 9)),
        ("a" * 158 + "€", UDH8, (160,)),
        ("a" * 159 + "€", UDH8, (153, 8)),
        ("a" * 153 + "€" + "b" * 6, UDH8, (153, 8)),
        ("a" * 152 + "€" + "b" * 7, UDH8, (152, 9)),
        ("a" * 151 + "€" + "b" * 8, UDH16, (151, 10)),
        ("€" * 80, UDH8, (160,)),
        ("€" * 81, UDH8, (152, 10)),
        ("é" * 70, UDH8, (70,)),  # é is GSM-7: 70 septets
        ("ж" * 70, UDH8, (70,)),
        ("ж" * 71, UDH8, (67, 4)),
        ("ж" * 71, UDH16, (66, 5)),
        ("ж" * 68 + "😀", UDH8, (70,)),
        ("ж" * 69 + "😀", UDH8, (67, 4)),
        ("ж" * 65 + "😀" + "ж" * 5, UDH16, (65, 7)),
        ("ж" * 66 + "😀" + "ж" * 3, UDH8, (66, 5)),
        ("ж" * 65 + "😀" + "ж" * 4, UDH8, (67, 4)),
        # One part or two at 70/71 units with a cluster on the edge.
        ("ж" * 66 + "🇸🇪", UDH8, (70,)),
        ("ж" * 67 + "🇸🇪", UDH8, (67, 4)),
        ("ж" * 59 + "👩‍👩‍👧‍👦", UDH8, (70,)),
        ("ж" * 60 + "👩‍👩‍👧‍👦", UDH8, (60, 11)),
        ("ж" * 56 + "👩‍👩‍👧‍👦" + "ж" * 10, UDH16, (56, 21)),
        # An escape on the 152-septet edge of a 16-bit-reference part.
        ("a" * 150 + "€" + "b" * 9, UDH16, (152, 9)),
        ("a" * 152 + "€" + "b" * 7, UDH16, (152, 9)),
    ],
)
def test_split_at_the_capacity_edge(text: str, policy: TextPolicy, units: tuple[int, ...]) -> None:
    message = _split(text, policy)
    assert message.part_units == units
    assert "".join(_decoded_parts(message)) == text


@pytest.mark.parametrize(
    "cluster",
    [
        "🇸🇪",  # flag: two regional indicators
        "👩‍👩‍👧‍👦",  # ZWJ family
        "👍🏽",  # skin tone modifier
        "e\u0301",  # e + combining acute
        "❤️",  # variation selector
        "🏳️‍🌈",  # flag ZWJ sequence
    ],
)
@pytest.mark.parametrize("ref_bits_policy", [UDH8, UDH16])
@pytest.mark.parametrize("offset", range(-8, 2))
def test_grapheme_cluster_on_the_edge_is_never_split(
    cluster: str, ref_bits_policy: TextPolicy, offset: int
) -> None:
    capacity = 67 if ref_bits_policy is UDH8 else 66
    text = "ж" * (capacity + offset) + cluster + "ж" * 30
    message = _split(text, ref_bits_policy)
    assert message.encoding is Encoding.UCS2
    pieces = [part.text for part in message.parts]
    assert "".join(pieces) == text
    assert any(cluster in piece for piece in pieces)
    for piece in pieces:
        assert len(piece) == 0 or grapheme_boundaries(piece)[-1] == len(piece)
    assert all(units <= capacity for units in message.part_units)


def test_crlf_is_one_cluster_and_stays_whole_at_the_gsm7_edge() -> None:
    # GSM-7 has no combining marks; CR LF is its one multi-character cluster.
    text = "a" * 152 + "\r\n" + "b" * 10
    message = _split(text)
    assert message.parts[0].text == "a" * 152
    assert message.parts[1].text.startswith("\r\n")


def test_cluster_longer_than_a_part_is_cut_at_code_points() -> None:
    zalgo = "e" + "\u0301" * 100  # one grapheme cluster of 101 code points
    message = _split(zalgo)
    assert message.part_units == (67, 34)
    assert "".join(p.text for p in message.parts) == zalgo


def test_national_single_shift_escape_on_the_edge_is_never_split() -> None:
    text = "a" * 148 + "á" + "b" * 10  # one IE: 149 septets per part
    message = _split(text, TextPolicy(national_languages=("spanish",)))
    assert (message.choice.locking_shift, message.choice.single_shift) == (0, 2)
    assert message.part_units == (148, 12)
    assert message.parts[1].payload.startswith(b"\x1b\x61")
    assert "".join(_decoded_parts(message)) == text


def test_national_ies_go_in_every_part_and_reduce_capacity() -> None:
    text = "ş" + "a" * 200
    message = _split(text, TextPolicy(national_languages=("turkish",)))
    assert message.encoding is Encoding.GSM7
    assert len(message.parts) == 2
    for part in message.parts:
        header, _ = split_udh(part.short_message)
        assert header.concat is not None
        languages = (header.language(0x25), header.language(0x24))
        assert languages in {(1, None), (None, 1)}
        assert part.units <= 149
    assert "".join(_decoded_parts(message)) == text


def test_single_part_with_national_table_has_a_udh_with_only_the_language_ie() -> None:
    message = _split("Günaydın", TURKISH)
    assert len(message.parts) == 1
    header, _ = split_udh(message.parts[0].short_message)
    assert header.concat is None
    assert message.esm_class_udhi == ESM_CLASS_UDHI


# --- long message modes ----------------------------------------------------


def test_udh16_parts_carry_ie_0x08_with_the_16_bit_reference() -> None:
    message = segment("x" * 200, UDH16, next_reference=lambda: 0x1234)
    assert [p.udh.hex() for p in message.parts] == ["06080412340201", "06080412340202"]
    assert message.part_units == (152, 48)


def test_sar_parts_have_no_udh_and_carry_ref_total_seq() -> None:
    message = segment("x" * 400, SAR, next_reference=lambda: 0x1_2345)
    assert all(part.udh == b"" for part in message.parts)
    assert [(p.sar.reference, p.sar.total, p.sar.seq) for p in message.parts if p.sar] == [
        (0x2345, 3, 1),
        (0x2345, 3, 2),
        (0x2345, 3, 3),
    ]
    assert message.esm_class_udhi == 0


def test_payload_mode_is_one_part_with_the_whole_text_and_counts_network_parts() -> None:
    message = segment("x" * 400, PAYLOAD)
    assert len(message.parts) == 1
    assert message.parts[0].payload == b"x" * 400
    assert message.parts[0].udh == b""
    assert message.network_parts == 3


def test_single_part_message_needs_no_reference() -> None:
    message = segment("short", UDH8)
    assert message.reference is None
    assert message.parts[0].udh == b""
    assert message.esm_class_udhi == 0


def test_multipart_message_without_a_reference_source_is_an_error() -> None:
    with pytest.raises(ValueError, match="reference"):
        segment("x" * 161, UDH8)


# --- limits -------------------------------------------------------------


def test_255_parts_is_the_ceiling() -> None:
    message = _split("a" * 153 * 255)
    assert len(message.parts) == 255
    with pytest.raises(TooManyParts, match="256 parts"):
        _split("a" * (153 * 255 + 1))


def test_route_maximum_gives_a_clear_error() -> None:
    policy = TextPolicy(max_parts=3)
    assert len(_split("a" * 153 * 3, policy).parts) == 3
    with pytest.raises(TooManyParts) as raised:
        _split("a" * (153 * 3 + 1), policy)
    assert raised.value.parts == 4
    assert "at most 3" in str(raised.value)


def test_a_huge_text_is_refused_without_planning_every_part() -> None:
    with pytest.raises(TooManyParts, match="at least 654 parts"):
        _split("a" * 100_000)


def test_route_maximum_applies_to_what_the_smsc_will_send_in_payload_mode() -> None:
    with pytest.raises(TooManyParts):
        segment("a" * 1000, TextPolicy(long_message=LongMessageMode.PAYLOAD, max_parts=2))


def test_policy_rejects_more_than_255_parts_and_unknown_languages() -> None:
    with pytest.raises(ValueError, match="max_parts"):
        TextPolicy(max_parts=256)
    with pytest.raises(ValueError, match="klingon"):
        TextPolicy(national_languages=("klingon",))


# --- modem form -------------------------------------------------------------


def test_tp_user_data_packs_septets_after_the_udh_with_fill_bits() -> None:
    message = _split("Hello World!" * 20)
    user_data, udl = message.tp_user_data(0)
    assert udl == 160  # 7 header septets + 153
    assert len(user_data) == 140
    assert gsm7.unpack_user_data(user_data, udl, 6) == message.parts[0].payload


def test_tp_user_data_for_ucs2_counts_octets() -> None:
    message = _split("ж" * 100)
    user_data, udl = message.tp_user_data(0)
    assert udl == len(user_data) == 6 + 134


# --- binary ---------------------------------------------------------------


def test_binary_data_is_split_into_octet_parts() -> None:
    data = bytes(range(256)) * 2
    message = segment_octets(data, 0x04, UDH8, next_reference=_counter())
    assert message.part_units == (134, 134, 134, 110)
    assert b"".join(part.payload for part in message.parts) == data
    assert message.data_coding == 0x04


# --- properties ---------------------------------------------------------------

printable = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]),
    max_size=600,
)
gsm_heavy = st.text(alphabet=st.sampled_from("ab €{}[]~^|\\\r\n§@"), max_size=700)
mixed = st.text(
    alphabet=st.sampled_from(["a", "€", "😀", "🇸", "🇪", "\u200d", "👍", "🏽", "e", "\u0301", " "]),
    max_size=400,
)


@given(st.one_of(printable, gsm_heavy, mixed), st.sampled_from([UDH8, UDH16, SAR, TURKISH]))
def test_split_then_join_reproduces_the_text_and_parts_fit_and_decode(
    text: str, policy: TextPolicy
) -> None:
    message = _split(text, policy)
    assert "".join(part.text for part in message.parts) == message.text
    assert "".join(_decoded_parts(message)) == message.text
    assert all(units <= message.part_capacity for units in message.part_units)
    # The SMSC adds a concatenation UDH of its own to SAR parts.
    added = 7 if policy is SAR and len(message.parts) > 1 else 0
    for index in range(len(message.parts)):
        user_data, _ = message.tp_user_data(index)
        assert len(user_data) + added <= 140


# --- references -------------------------------------------------------------


def test_references_are_consecutive_per_destination() -> None:
    allocator = ReferenceAllocator()
    first = [allocator.next("+46700000001") for _ in range(3)]
    assert first == [first[0], (first[0] + 1) % 256, (first[0] + 2) % 256]


def test_destinations_have_their_own_counters_starting_apart() -> None:
    allocator = ReferenceAllocator()
    a = allocator.next("+46700000001", 16)
    b = allocator.next("+46700000002", 16)
    assert a != b
    assert allocator.next("+46700000001", 16) == (a + 1) & 0xFFFF


def test_8_bit_references_wrap_after_256_messages() -> None:
    allocator = ReferenceAllocator()
    refs = [allocator.next("x") for _ in range(257)]
    assert len(set(refs[:256])) == 256
    assert refs[256] == refs[0]


def test_allocator_memory_is_bounded_and_forgets_the_least_recently_used() -> None:
    allocator = ReferenceAllocator(max_destinations=2)
    allocator.next("a")
    allocator.next("b")
    allocator.next("a")
    allocator.next("c")  # evicts b
    assert len(allocator) == 2
    second_a = allocator.next("a")
    assert second_a == (allocator.next("a") - 1) % 256


def test_allocator_feeds_segment_with_the_policy_width() -> None:
    allocator = ReferenceAllocator()
    first = segment("x" * 200, UDH16, next_reference=allocator.for_policy("d", UDH16))
    second = segment("x" * 200, UDH16, next_reference=allocator.for_policy("d", UDH16))
    assert first.reference is not None and second.reference is not None
    assert second.reference == (first.reference + 1) & 0xFFFF
