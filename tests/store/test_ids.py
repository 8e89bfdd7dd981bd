"""Message ids: UUIDv7 hex, time-ordered, unique, short enough for submit_sm_resp."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from smppd.store.ids import MESSAGE_ID_LENGTH, MessageIdGenerator, is_message_id, timestamp_of


def test_an_id_is_a_version_7_rfc_9562_uuid_in_lower_case_hex() -> None:
    value = MessageIdGenerator().new(1_700_000_000.123)
    parsed = uuid.UUID(hex=value)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert len(value) == MESSAGE_ID_LENGTH <= 64
    assert value.isascii() and value == value.lower()
    assert is_message_id(value)


def test_an_id_carries_its_acceptance_millisecond() -> None:
    assert timestamp_of(MessageIdGenerator().new(1_700_000_000.123)) == 1_700_000_000.123


@given(st.lists(st.floats(min_value=1e9, max_value=4e9), min_size=2, max_size=200))
def test_ids_from_one_generator_strictly_increase_even_if_the_clock_steps_back(
    times: list[float],
) -> None:
    gen = MessageIdGenerator()
    ids = [gen.new(t) for t in times]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_busy_millisecond_overflowing_the_counter_still_gives_increasing_ids() -> None:
    gen = MessageIdGenerator()
    ids = [gen.new(1_700_000_000.0) for _ in range(10_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_ids_from_separate_generators_do_not_collide() -> None:
    a, b = MessageIdGenerator(), MessageIdGenerator()
    assert not {a.new(1e9) for _ in range(2000)} & {b.new(1e9) for _ in range(2000)}


def test_foreign_strings_are_not_taken_for_our_ids() -> None:
    assert not is_message_id("12345")
    assert not is_message_id("g" * 32)
    assert not is_message_id(uuid.uuid4().hex)


@given(st.floats(min_value=0, max_value=2**48 / 1000 - 1, allow_nan=False))
def test_the_acceptance_millisecond_round_trips_through_the_id(now: float) -> None:
    assert timestamp_of(MessageIdGenerator().new(now)) == int(now * 1000) / 1000
