"""Reassembly of incoming multipart SMS (PROTOCOL.md §3)."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.text.reassembly import (
    DEFAULT_GAP_MARKER,
    DEFAULT_TIMEOUT,
    Assembled,
    GroupKey,
    Part,
    Reason,
    Reassembler,
    normalise_address,
    part_from_header,
    part_from_smpp,
    part_from_user_data,
)
from smppd.text.udh import Concat, UserDataHeader, split_udh

LATIN1 = 0x03
UCS2 = 0x08
BINARY = 0x04
# IE 0x05: 16-bit application ports, destination 0x0B84 (WAP push), source 0x23F0.
PORTS_IE = split_udh(b"\x06\x05\x04\x0b\x84\x23\xf0")[0].elements


def decode(data: bytes, data_coding: int, *, locking_shift: int = 0, single_shift: int = 0) -> str:
    """A stand-in for smppd.text.charset.decode: UCS-2 or Latin-1.

    A national language shift shows as a ``<L..S..>`` prefix so tests see
    which shifts each part was decoded with.
    """
    text = (
        data.decode("utf-16-be", errors="replace")
        if data_coding == UCS2
        else data.decode("latin-1")
    )
    if locking_shift or single_shift:
        return f"<L{locking_shift}S{single_shift}>{text}"
    return text


def encode(text: str, data_coding: int = LATIN1) -> bytes:
    return text.encode("utf-16-be" if data_coding == UCS2 else "latin-1")


def part(
    text: str,
    seq: int,
    total: int,
    *,
    ref: int = 7,
    ref_bits: int = 8,
    source: str = "447700900001",
    destination: str = "5555",
    route: str = "carrier-a",
    data_coding: int = LATIN1,
) -> Part:
    return Part(
        route=route,
        source=source,
        destination=destination,
        payload=encode(text, data_coding),
        data_coding=data_coding,
        concat=Concat(ref, total, seq, ref_bits),
    )


def one(results: list[Assembled]) -> Assembled:
    assert len(results) == 1, results
    return results[0]


def udh_concat(ref: int, total: int, seq: int, ref_bits: int = 8) -> bytes:
    return UserDataHeader((Concat(ref, total, seq, ref_bits).to_ie(),)).encode()


# ---------------------------------------------------------------- complete messages

PIECES = ("Hello from ", "the other ", "side.")


@pytest.mark.parametrize("order", list(itertools.permutations((1, 2, 3))))
def test_three_parts_in_any_order_make_one_message(order: tuple[int, int, int]) -> None:
    r = Reassembler(decode)
    results: list[Assembled] = []
    for i, seq in enumerate(order):
        results += r.add(part(PIECES[seq - 1], seq, 3), now=100.0 + i)
    message = one(results)
    assert message.text == "Hello from the other side."
    assert (message.complete, message.missing, message.reason) == (True, (), Reason.COMPLETE)
    assert message.seqs == (1, 2, 3)
    assert message.payloads == tuple(encode(p) for p in PIECES)
    assert (message.first_arrival, message.last_arrival) == (100.0, 102.0)
    assert message.key == GroupKey("carrier-a", "447700900001", "5555", 8, 7, 3)
    assert r.open_groups == 0
    assert r.buffered_octets == 0
    assert r.next_deadline() is None


def test_nothing_is_delivered_until_the_last_part() -> None:
    r = Reassembler(decode)
    assert r.add(part("a", 1, 3), 0.0) == []
    assert r.add(part("c", 3, 3), 1.0) == []
    assert r.open_groups == 1
    assert one(r.add(part("b", 2, 3), 2.0)).text == "abc"


def test_eight_and_sixteen_bit_references_with_the_same_number_stay_apart() -> None:
    r = Reassembler(decode)
    assert r.add(part("A1", 1, 2, ref=23, ref_bits=8), 0.0) == []
    assert r.add(part("B1", 1, 2, ref=23, ref_bits=16), 0.0) == []
    assert r.open_groups == 2
    assert one(r.add(part("B2", 2, 2, ref=23, ref_bits=16), 1.0)).text == "B1B2"
    assert one(r.add(part("A2", 2, 2, ref=23, ref_bits=8), 1.0)).text == "A1A2"


@pytest.mark.parametrize(
    "other",
    [
        {"source": "447700900002"},
        {"destination": "5556"},
        {"route": "carrier-b"},
        {"ref": 8},
    ],
)
def test_parts_that_differ_in_a_key_field_stay_apart(other: dict[str, str | int]) -> None:
    r = Reassembler(decode)
    r.add(part("x", 1, 2), 0.0)
    assert r.add(part("y", 2, 2, **other), 0.0) == []  # type: ignore[arg-type]
    assert r.open_groups == 2


def test_part_total_is_part_of_the_key() -> None:
    r = Reassembler(decode)
    r.add(part("x", 1, 2), 0.0)
    assert r.add(part("y", 2, 3), 0.0) == []
    assert r.open_groups == 2


def test_sender_written_differently_is_the_same_sender() -> None:
    r = Reassembler(decode)
    r.add(part("x", 1, 2, source="+44 7700-900001"), 0.0)
    message = one(r.add(part("y", 2, 2, source="447700900001"), 1.0))
    assert message.text == "xy"
    assert message.source == "+44 7700-900001"


@pytest.mark.parametrize(
    ("address", "normalised"),
    [
        ("+447700900001", "447700900001"),
        (" 44 (0) 7700 900001\x00", "4407700900001"),
        ("MyBank", "mybank"),
        ("", ""),
    ],
)
def test_address_normalisation(address: str, normalised: str) -> None:
    assert normalise_address(address) == normalised


def test_each_part_is_decoded_with_its_own_national_language_shifts() -> None:
    r = Reassembler(decode)
    results: list[Assembled] = []
    for seq, shifts in ((1, b"\x25\x01\x01"), (2, b"\x24\x01\x02")):
        header = UserDataHeader(
            (Concat(4, 2, seq, 8).to_ie(), *split_udh(b"\x03" + shifts)[0].elements)
        )
        results += r.add(
            part_from_header(
                route="c", source="1", destination="2", header=header, body=b"x", data_coding=0
            ),
            0.0,
        )
    assert one(results).text == "<L1S0>x<L0S2>x"


def test_parts_in_different_encodings_are_decoded_one_by_one() -> None:
    r = Reassembler(decode)
    r.add(part("Price: 5 ", 1, 2, data_coding=LATIN1), 0.0)
    message = one(r.add(part("€ — ok", 2, 2, data_coding=UCS2), 1.0))
    assert message.text == "Price: 5 € — ok"
    assert message.data_codings == (LATIN1, UCS2)


# ---------------------------------------------------------------- single and invalid parts


def test_message_without_concatenation_is_delivered_at_once() -> None:
    r = Reassembler(decode)
    single = Part("carrier-a", "447700900001", "5555", b"hi", LATIN1)
    message = one(r.add(single, 5.0))
    assert (message.text, message.complete, message.reason, message.key) == (
        "hi",
        True,
        Reason.SINGLE,
        None,
    )
    assert r.open_groups == 0


def test_part_one_of_one_is_delivered_at_once() -> None:
    r = Reassembler(decode)
    message = one(r.add(part("whole", 1, 1), 5.0))
    assert (message.text, message.complete, message.reason) == ("whole", True, Reason.SINGLE)
    assert r.open_groups == 0


@pytest.mark.parametrize(
    ("seq", "total", "problem"),
    [(0, 3, "part number 0"), (4, 3, "part 4 of 3"), (1, 0, "total of 0 parts"), (0, 0, "total")],
)
def test_impossible_seq_or_total_delivers_the_part_on_its_own(
    seq: int, total: int, problem: str
) -> None:
    r = Reassembler(decode)
    message = one(r.add(part("lost?", seq, total), 5.0))
    assert (message.text, message.complete, message.reason) == ("lost?", False, Reason.INVALID)
    assert message.problem is not None
    assert problem in message.problem
    assert r.open_groups == 0


# ---------------------------------------------------------------- duplicates


def test_identical_duplicate_of_an_open_part_is_dropped() -> None:
    r = Reassembler(decode)
    r.add(part("a", 1, 2), 0.0)
    assert r.add(part("a", 1, 2), 1.0) == []
    assert r.buffered_octets == 1
    assert one(r.add(part("b", 2, 2), 2.0)).text == "ab"


def test_identical_duplicate_after_completion_is_dropped() -> None:
    # The SMSC resends a part because our deliver_sm_resp was late.
    r = Reassembler(decode)
    r.add(part("a", 1, 2), 0.0)
    one(r.add(part("b", 2, 2), 1.0))
    assert r.add(part("b", 2, 2), 2.0) == []
    assert r.open_groups == 0


def test_duplicate_long_after_completion_is_a_new_message() -> None:
    r = Reassembler(decode, timeout=60.0)
    r.add(part("a", 1, 2), 0.0)
    one(r.add(part("b", 2, 2), 1.0))
    assert r.add(part("b", 2, 2), 1000.0) == []
    assert r.open_groups == 1


def test_differing_duplicate_is_a_reference_collision() -> None:
    r = Reassembler(decode)
    r.add(part("old 1 ", 1, 3), 0.0)
    r.add(part("old 2 ", 2, 3), 1.0)
    flushed = one(r.add(part("new 1 ", 1, 3), 2.0))
    assert flushed.reason is Reason.COLLISION
    assert (flushed.complete, flushed.missing) == (False, (3,))
    assert flushed.text == "old 1 old 2 " + DEFAULT_GAP_MARKER
    assert r.open_groups == 1
    r.add(part("new 2 ", 2, 3), 3.0)
    message = one(r.add(part("new 3", 3, 3), 4.0))
    assert (message.text, message.complete, message.first_arrival) == (
        "new 1 new 2 new 3",
        True,
        2.0,
    )


def test_collision_forgets_what_the_old_message_delivered_earlier() -> None:
    r = Reassembler(decode, max_open_groups=1)
    r.add(part("a1", 1, 3, ref=1), 0.0)
    one(r.add(part("x", 1, 2, ref=2), 1.0))  # forces ref 1 out: part 1 went out early
    one(r.add(part("a2", 2, 3, ref=1), 2.0))  # ref 1 continues, forcing ref 2 out
    assert one(r.add(part("b2", 2, 3, ref=1), 3.0)).reason is Reason.COLLISION
    assert r.add(part("b3", 3, 3, ref=1), 4.0) == []  # b's part 1 is still to come
    message = one(r.add(part("b1", 1, 3, ref=1), 5.0))
    assert (message.text, message.reason) == ("b1b2b3", Reason.COMPLETE)


def test_same_reference_reused_after_completion_with_new_content_starts_a_new_message() -> None:
    r = Reassembler(decode)
    r.add(part("a", 1, 2), 0.0)
    one(r.add(part("b", 2, 2), 1.0))
    assert r.add(part("c", 1, 2), 2.0) == []
    assert one(r.add(part("d", 2, 2), 3.0)).text == "cd"


# ---------------------------------------------------------------- timeout


def test_timeout_delivers_what_arrived_with_the_gap_marked() -> None:
    r = Reassembler(decode, timeout=600.0)
    r.add(part("one ", 1, 4), 1000.0)
    r.add(part("four", 4, 4), 1100.0)
    assert r.next_deadline() == 1600.0
    assert r.expire(1599.9) == []
    message = one(r.expire(1600.0))
    assert message.text == "one " + DEFAULT_GAP_MARKER + "four"
    assert (message.complete, message.missing, message.seqs) == (False, (2, 3), (1, 4))
    assert message.reason is Reason.TIMEOUT
    assert (message.first_arrival, message.last_arrival) == (1000.0, 1100.0)
    assert r.next_deadline() is None


def test_gap_marker_is_configurable_and_marks_each_run_of_missing_parts() -> None:
    r = Reassembler(decode, gap_marker="[...]")
    r.add(part("b", 2, 5), 0.0)
    r.add(part("d", 4, 5), 0.0)
    message = one(r.expire(DEFAULT_TIMEOUT))
    assert message.text == "[...]b[...]d[...]"
    assert message.missing == (1, 3, 5)


def test_ports_come_from_the_lowest_part_received_when_part_one_is_missing() -> None:
    r = Reassembler(decode)
    r.add(
        part_from_user_data(
            route="m",
            source="1",
            destination="2",
            user_data=UserDataHeader((Concat(1, 3, 2, 8).to_ie(), *PORTS_IE)).encode() + b"x",
            udhi=True,
            data_coding=BINARY,
        ),
        0.0,
    )
    message = one(r.expire(DEFAULT_TIMEOUT))
    assert message.ports == (0x0B84, 0x23F0)


def test_next_deadline_follows_the_earliest_open_group() -> None:
    r = Reassembler(decode, timeout=10.0)
    r.add(part("a", 1, 2, ref=1), 0.0)
    r.add(part("a", 1, 2, ref=2), 5.0)
    assert r.next_deadline() == 10.0
    one(r.add(part("b", 2, 2, ref=1), 6.0))
    assert r.next_deadline() == 15.0
    assert [m.key.reference for m in r.expire(100.0) if m.key] == [2]


def test_deadlines_hold_when_time_is_given_out_of_order() -> None:
    r = Reassembler(decode, timeout=10.0)
    r.add(part("a", 1, 2, ref=1), 50.0)
    r.add(part("a", 1, 2, ref=2), 20.0)
    assert r.next_deadline() == 30.0
    assert [m.key.reference for m in r.expire(30.0) if m.key] == [2]
    assert r.next_deadline() == 60.0


def test_many_completed_groups_leave_no_pile_of_timers() -> None:
    r = Reassembler(decode)
    for ref in range(5000):
        r.add(part("a", 1, 2, ref=ref, ref_bits=16), float(ref))
        one(r.add(part("b", 2, 2, ref=ref, ref_bits=16), float(ref)))
    assert len(r._deadlines) < 200
    assert r.next_deadline() is None


# ---------------------------------------------------------------- limits


def test_too_many_open_groups_flushes_the_oldest_as_incomplete() -> None:
    r = Reassembler(decode, max_open_groups=2)
    r.add(part("first", 1, 2, ref=1), 0.0)
    r.add(part("second", 1, 2, ref=2), 1.0)
    flushed = one(r.add(part("third", 1, 2, ref=3), 2.0))
    assert (flushed.text, flushed.reason, flushed.complete, flushed.missing) == (
        "first" + DEFAULT_GAP_MARKER,
        Reason.LIMIT,
        False,
        (2,),
    )
    assert r.open_groups == 2


def test_a_part_for_an_open_group_does_not_count_against_the_group_limit() -> None:
    r = Reassembler(decode, max_open_groups=2)
    r.add(part("a", 1, 3, ref=1), 0.0)
    r.add(part("b", 1, 2, ref=2), 1.0)
    assert r.add(part("a", 2, 3, ref=1), 2.0) == []


def test_too_many_buffered_octets_flushes_the_oldest_as_incomplete() -> None:
    r = Reassembler(decode, max_buffered_octets=10)
    r.add(part("aaaa", 1, 2, ref=1), 0.0)
    r.add(part("bbbb", 1, 2, ref=2), 1.0)
    flushed = one(r.add(part("cccc", 1, 2, ref=3), 2.0))
    assert (flushed.text, flushed.reason) == ("aaaa" + DEFAULT_GAP_MARKER, Reason.LIMIT)
    assert r.buffered_octets == 8


def test_octet_limit_prefers_other_groups_to_the_one_receiving_the_part() -> None:
    r = Reassembler(decode, max_buffered_octets=10)
    r.add(part("aaaa", 1, 3, ref=1), 0.0)
    r.add(part("bbbb", 1, 2, ref=2), 1.0)
    flushed = one(r.add(part("aaaa", 2, 3, ref=1), 2.0))
    assert flushed.key is not None
    assert flushed.key.reference == 2


def test_a_group_alone_over_the_octet_limit_is_flushed_and_continues() -> None:
    r = Reassembler(decode, max_buffered_octets=10)
    r.add(part("aaaaaa", 1, 3), 0.0)
    flushed = one(r.add(part("bbbbbb", 2, 3), 1.0))
    assert (flushed.seqs, flushed.reason) == ((1,), Reason.LIMIT)
    rest = one(r.add(part("c", 3, 3), 2.0))
    assert (rest.seqs, rest.text, rest.missing) == ((2, 3), DEFAULT_GAP_MARKER + "bbbbbbc", (1,))
    assert (rest.reason, rest.complete) == (Reason.REMAINDER, False)
    assert r.open_groups == 0


def test_late_part_after_a_timeout_is_delivered_at_once_as_the_remainder() -> None:
    r = Reassembler(decode, timeout=60.0)
    r.add(part("a", 1, 3), 0.0)
    r.add(part("c", 3, 3), 1.0)
    assert one(r.expire(60.0)).missing == (2,)
    rest = one(r.add(part("b", 2, 3), 60.5))  # within timeout of the last arrival
    assert (rest.text, rest.seqs, rest.reason) == (
        DEFAULT_GAP_MARKER + "b" + DEFAULT_GAP_MARKER,
        (2,),
        Reason.REMAINDER,
    )


def test_part_larger_than_the_whole_buffer_is_delivered_on_its_own() -> None:
    r = Reassembler(decode, max_buffered_octets=4)
    message = one(r.add(part("too long", 1, 2), 0.0))
    assert (message.text, message.reason, message.complete) == ("too long", Reason.LIMIT, False)
    assert r.open_groups == 0


def test_duplicate_of_a_part_forced_out_by_a_limit_is_still_dropped() -> None:
    r = Reassembler(decode, max_open_groups=1)
    r.add(part("a", 1, 3, ref=1), 0.0)
    one(r.add(part("x", 1, 2, ref=2), 1.0))  # forces ref 1 out
    one(r.add(part("b", 2, 3, ref=1), 2.0))  # ref 1 continues, forcing ref 2 out
    assert r.add(part("a", 1, 3, ref=1), 3.0) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"max_open_groups": 0},
        {"max_buffered_octets": 0},
        {"max_closed_remembered": -1},
    ],
)
def test_nonsense_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Reassembler(decode, **kwargs)  # type: ignore[arg-type]


def test_drain_delivers_every_open_group() -> None:
    r = Reassembler(decode)
    r.add(part("a", 1, 2, ref=1), 0.0)
    r.add(part("b", 2, 2, ref=2), 0.0)
    drained = r.drain()
    assert [m.reason for m in drained] == [Reason.DRAINED, Reason.DRAINED]
    assert [m.text for m in drained] == ["a" + DEFAULT_GAP_MARKER, DEFAULT_GAP_MARKER + "b"]
    assert (r.open_groups, r.buffered_octets, r.next_deadline()) == (0, 0, None)


# ---------------------------------------------------------------- SMPP and modem parts


def test_udh_parts_from_deliver_sm_reassemble() -> None:
    r = Reassembler(decode)
    results: list[Assembled] = []
    for seq, text in ((2, "world"), (1, "hello ")):
        results += r.add(
            part_from_smpp(
                route="c",
                source="447700900001",
                destination="5555",
                esm_class=0x40,
                short_message=udh_concat(0x1234, 2, seq, 16) + encode(text),
                data_coding=LATIN1,
            ),
            0.0,
        )
    message = one(results)
    assert message.text == "hello world"
    assert message.key is not None
    assert (message.key.ref_bits, message.key.reference) == (16, 0x1234)


def test_sar_parts_from_data_sm_reassemble() -> None:
    r = Reassembler(decode)
    results: list[Assembled] = []
    for seq, text in ((1, "hello "), (2, "world")):
        results += r.add(
            part_from_smpp(
                route="c",
                source="447700900001",
                destination="5555",
                esm_class=0,
                short_message=b"",
                message_payload=encode(text, UCS2),
                data_coding=UCS2,
                sar_msg_ref_num=0x1234,
                sar_total_segments=2,
                sar_segment_seqnum=seq,
            ),
            0.0,
        )
    message = one(results)
    assert message.text == "hello world"
    assert message.key is not None
    assert (message.key.ref_bits, message.key.reference, message.key.total) == (16, 0x1234, 2)


def test_message_payload_with_full_text_is_a_single_message() -> None:
    p = part_from_smpp(
        route="c",
        source="1",
        destination="2",
        esm_class=0,
        short_message=b"",
        message_payload=b"x" * 500,
        data_coding=LATIN1,
    )
    message = one(Reassembler(decode).add(p, 0.0))
    assert (message.text, message.reason) == ("x" * 500, Reason.SINGLE)


def test_partial_set_of_sar_tlvs_delivers_the_part_on_its_own() -> None:
    p = part_from_smpp(
        route="c",
        source="1",
        destination="2",
        esm_class=0,
        short_message=b"orphan",
        data_coding=LATIN1,
        sar_msg_ref_num=5,
        sar_segment_seqnum=1,
    )
    message = one(Reassembler(decode).add(p, 0.0))
    assert (message.text, message.reason, message.problem) == (
        "orphan",
        Reason.INVALID,
        "incomplete set of SAR TLVs",
    )


def test_udh_concatenation_wins_over_sar_tlvs() -> None:
    p = part_from_smpp(
        route="c",
        source="1",
        destination="2",
        esm_class=0x40,
        short_message=udh_concat(9, 2, 1) + b"x",
        data_coding=LATIN1,
        sar_msg_ref_num=5,
        sar_total_segments=3,
        sar_segment_seqnum=3,
    )
    assert p.concat == Concat(9, 2, 1, 8)


@pytest.mark.parametrize(
    ("user_data", "payload"),
    [
        (b"\x05\x00\x04\x01\x02\x01hello", b"hello"),  # concat IE with IEDL 4: header skipped
        (b"\x03\x00\x03\x01hello", b"hello"),  # IE runs past the UDH: header skipped
        (b"\x30hello", b"\x30hello"),  # UDHL past the data: UDHI was set by mistake
    ],
)
def test_malformed_udh_gives_a_standalone_part_not_an_error(
    user_data: bytes, payload: bytes
) -> None:
    p = part_from_smpp(
        route="c",
        source="1",
        destination="2",
        esm_class=0x40,
        short_message=user_data,
        data_coding=LATIN1,
    )
    assert (p.payload, p.concat) == (payload, None)
    assert p.problem is not None
    message = one(Reassembler(decode).add(p, 0.0))
    assert (message.reason, message.complete, message.problem) == (
        Reason.INVALID,
        False,
        p.problem,
    )


def test_ports_come_from_udh_of_part_one_else_from_port_tlvs() -> None:
    header = UserDataHeader((Concat(1, 2, 1, 8).to_ie(), *PORTS_IE))
    p = part_from_smpp(
        route="c",
        source="1",
        destination="2",
        esm_class=0x40,
        short_message=header.encode() + b"wap",
        data_coding=BINARY,
        source_port=1,
        destination_port=2,
    )
    assert p.ports == (0x0B84, 0x23F0)
    assert p.elements == PORTS_IE
    tlv_ports = part_from_smpp(
        route="c",
        source="1",
        destination="2",
        esm_class=0,
        short_message=b"wap",
        data_coding=BINARY,
        source_port=0x23F0,
        destination_port=0x0B84,
    )
    assert tlv_ports.ports == (0x0B84, 0x23F0)


def test_modem_parts_from_a_split_header_reassemble() -> None:
    r = Reassembler(decode)
    results: list[Assembled] = []
    for seq, text in ((1, "mo "), (2, "text")):
        header = UserDataHeader((Concat(200, 2, seq, 8).to_ie(),))
        results += r.add(
            part_from_header(
                route="modem-1",
                source="+447700900001",
                destination="",
                header=header,
                body=encode(text),
                data_coding=LATIN1,
            ),
            0.0,
        )
    assert one(results).text == "mo text"


# ---------------------------------------------------------------- persistence


def test_snapshot_restores_open_groups_after_a_restart() -> None:
    before = Reassembler(decode, timeout=100.0)
    header = UserDataHeader(
        (Concat(3, 3, 1, 8).to_ie(), *split_udh(b"\x04\x04\x02\x10\x20")[0].elements)
    )
    before.add(
        part_from_header(
            route="carrier-a",
            source="+44 7700",
            destination="5555",
            header=header,
            body=b"one ",
            data_coding=LATIN1,
        ),
        10.0,
    )
    before.add(part("two ", 2, 3, ref=3, source="+44 7700"), 20.0)
    before.add(part("lonely", 1, 2, ref=4), 30.0)
    state = json.loads(json.dumps(before.snapshot()))

    after = Reassembler(decode, timeout=100.0)
    assert after.restore(state) == []
    assert (after.open_groups, after.buffered_octets) == (2, 14)
    assert after.next_deadline() == 110.0
    message = one(after.add(part("three", 3, 3, ref=3, source="447700"), 40.0))
    assert message.text == "one two three"
    assert message.source == "+44 7700"
    assert message.ports == (0x10, 0x20)
    assert (message.first_arrival, message.last_arrival) == (10.0, 40.0)
    expired = one(after.expire(130.0))
    assert (expired.text, expired.missing) == ("lonely" + DEFAULT_GAP_MARKER, (2,))


def test_snapshot_keeps_duplicate_protection_for_closed_groups() -> None:
    before = Reassembler(decode)
    before.add(part("a", 1, 2), 0.0)
    one(before.add(part("b", 2, 2), 1.0))
    after = Reassembler(decode)
    after.restore(json.loads(json.dumps(before.snapshot())))
    assert after.add(part("b", 2, 2), 2.0) == []


def test_restore_under_tighter_limits_flushes_the_oldest() -> None:
    before = Reassembler(decode)
    for ref in range(3):
        before.add(part("p", 1, 2, ref=ref), float(ref))
    after = Reassembler(decode, max_open_groups=2)
    flushed = one(after.restore(before.snapshot()))
    assert flushed.key is not None
    assert (flushed.key.reference, flushed.reason) == (0, Reason.LIMIT)


def test_restore_refuses_a_busy_reassembler_and_unknown_versions() -> None:
    busy = Reassembler(decode)
    busy.add(part("a", 1, 2), 0.0)
    with pytest.raises(ValueError, match="empty"):
        busy.restore(Reassembler(decode).snapshot())
    state = Reassembler(decode).snapshot()
    state["version"] = 99
    with pytest.raises(ValueError, match="version"):
        Reassembler(decode).restore(state)


# ---------------------------------------------------------------- properties

_texts = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30)


@st.composite
def _messages(draw: st.DrawFn) -> list[list[Part]]:
    """Several multipart messages with distinct keys, each part a random encoding."""
    count = draw(st.integers(min_value=1, max_value=6))
    refs = draw(st.lists(st.integers(0, 255), min_size=count, max_size=count, unique=True))
    messages: list[list[Part]] = []
    for ref in refs:
        pieces = draw(st.lists(_texts, min_size=1, max_size=5))
        bits = draw(st.sampled_from((8, 16)))
        codings = draw(st.lists(st.sampled_from((UCS2, LATIN1)), min_size=len(pieces)))
        messages.append(
            [
                part(
                    piece if coding == UCS2 else piece.encode("utf-8").decode("latin-1"),
                    seq,
                    len(pieces),
                    ref=ref,
                    ref_bits=bits,
                    data_coding=coding,
                )
                for seq, (piece, coding) in enumerate(zip(pieces, codings, strict=False), 1)
            ]
        )
    return messages


def _expected_text(parts: list[Part]) -> str:
    return "".join(decode(p.payload, p.data_coding) for p in parts)


@given(messages=_messages(), data=st.data())
def test_any_interleaving_reassembles_each_message_exactly_once(
    messages: list[list[Part]], data: st.DataObject
) -> None:
    arrivals = [p for parts in messages for p in parts]
    # Carriers resend: repeat some parts. (A message of one part is delivered
    # as it comes; catching its resends is the MO de-duplication's job.)
    resendable = [p for p in arrivals if p.concat is not None and p.concat.total > 1]
    if resendable:
        arrivals += data.draw(st.lists(st.sampled_from(resendable), max_size=5))
    arrivals = data.draw(st.permutations(arrivals))
    r = Reassembler(decode)
    delivered: list[Assembled] = []
    for i, p in enumerate(arrivals):
        delivered += r.add(p, float(i))
    assert r.open_groups == 0
    texts = Counter(m.text for m in delivered)
    assert texts == Counter(_expected_text(parts) for parts in messages)
    assert all(m.complete for m in delivered)


@given(
    messages=_messages(),
    data=st.data(),
    max_open_groups=st.integers(1, 4),
    max_buffered_octets=st.integers(60, 300),
    timeout=st.sampled_from((1.5, 3.0, 1000.0)),
)
def test_no_part_is_lost_or_delivered_twice_under_pressure(
    messages: list[list[Part]],
    data: st.DataObject,
    max_open_groups: int,
    max_buffered_octets: int,
    timeout: float,
) -> None:
    arrivals = data.draw(st.permutations([p for parts in messages for p in parts]))
    r = Reassembler(
        decode,
        timeout=timeout,
        max_open_groups=max_open_groups,
        max_buffered_octets=max_buffered_octets,
    )
    delivered: list[Assembled] = []
    for i, p in enumerate(arrivals):
        delivered += r.expire(float(i))
        delivered += r.add(p, float(i))
        assert r.buffered_octets <= max_buffered_octets
        assert r.open_groups <= max_open_groups
    delivered += r.drain()
    seen = Counter(
        (seq, payload) for m in delivered for seq, payload in zip(m.seqs, m.payloads, strict=True)
    )
    expected = Counter(
        (p.concat.seq, p.payload) for parts in messages for p in parts if p.concat is not None
    )
    assert seen == expected
