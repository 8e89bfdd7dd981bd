"""SMPP time strings (SMPP 3.4 §7.1.1), parsed strictly and without a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smppd.smpp import CommandStatus
from smppd.smpp.timefmt import (
    TimeFormatError,
    format_absolute,
    format_relative,
    parse_schedule_delivery_time,
    parse_time,
    parse_validity_period,
)

NOW = datetime(2024, 1, 31, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("240115143000004+", datetime(2024, 1, 15, 13, 30, tzinfo=UTC)),
        ("240115143000000+", datetime(2024, 1, 15, 14, 30, tzinfo=UTC)),
        ("240115143000520-", datetime(2024, 1, 15, 19, 30, 0, 500_000, tzinfo=UTC)),
        ("991231235959948+", datetime(2099, 12, 31, 11, 59, 59, 900_000, tzinfo=UTC)),
        ("240229000000001+", datetime(2024, 2, 28, 23, 45, tzinfo=UTC)),
    ],
)
def test_absolute_times_convert_to_utc(value: str, expected: datetime) -> None:
    assert parse_time(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("000002030000000R", NOW + timedelta(days=2, hours=3)),
        ("000000000130000R", NOW + timedelta(minutes=1, seconds=30)),
        ("000000480000000R", NOW + timedelta(hours=48)),
        ("000100000000000R", datetime(2024, 2, 29, 10, tzinfo=UTC)),  # Jan 31 + 1 month
        ("010000000000000R", datetime(2025, 1, 31, 10, tzinfo=UTC)),
    ],
)
def test_relative_times_are_added_to_now(value: str, expected: datetime) -> None:
    assert parse_time(value, NOW) == expected


def test_empty_means_none() -> None:
    assert parse_time("", NOW) is None


@pytest.mark.parametrize(
    "value",
    [
        "24011514300000+",  # 15 characters
        "2401151430000004+",  # 17 characters
        "240115143000004X",  # bad sign
        "241315143000004+",  # month 13
        "240230143000004+",  # 30 February
        "240115243000004+",  # hour 24
        "240115146000004+",  # minute 60
        "240115143060004+",  # second 60
        "240115143000049+",  # offset over 48 quarters
        "24011514300000 +",  # space
        "２40115143000004+",  # non-ASCII digit
        "000002030000100R",  # relative with tenths
        "000002030000004R",  # relative with an offset
    ],
)
def test_malformed_times_are_rejected(value: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time(value, NOW)


def test_schedule_and_validity_errors_carry_their_own_status() -> None:
    with pytest.raises(TimeFormatError) as schedule:
        parse_schedule_delivery_time("bad", NOW)
    assert schedule.value.command_status == CommandStatus.ESME_RINVSCHED
    with pytest.raises(TimeFormatError) as validity:
        parse_validity_period("bad", NOW)
    assert validity.value.command_status == CommandStatus.ESME_RINVEXPIRY


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse_time("", datetime(2024, 1, 1))


@given(
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)),
    st.integers(-48, 48),
)
def test_absolute_format_round_trips_to_the_tenth(moment: datetime, quarters: int) -> None:
    moment = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 100_000 * 100_000)
    text = format_absolute(moment, quarters)
    assert len(text) == 16
    assert parse_time(text, NOW) == moment


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=99, hours=23)))
def test_relative_format_round_trips(delta: timedelta) -> None:
    delta = timedelta(seconds=int(delta.total_seconds()))
    assert parse_time(format_relative(delta), NOW) == NOW + delta


def test_formatting_shows_the_requested_offset() -> None:
    moment = datetime(2024, 1, 15, 13, 30, tzinfo=UTC)
    assert format_absolute(moment, 4) == "240115143000004+"
    assert format_absolute(moment.astimezone(timezone(timedelta(hours=5))), -20) == (
        "240115083000020-"
    )
    assert format_absolute(None) == ""
    assert format_relative(None) == ""
