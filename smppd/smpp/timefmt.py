"""SMPP fixed-format times (SMPP 3.4 §7.1.1): ``YYMMDDhhmmsstnnp``.

How this works: a time field is either empty (meaning "immediately" for
schedule_delivery_time and "the SMSC default" for validity_period, returned
as None) or exactly 16 characters. ``p`` is ``+`` / ``-`` for an absolute
local time ``nn`` quarter hours ahead of / behind UTC, or ``R`` for a time
relative to the moment the SMSC received the PDU. Parsing is strict (digits
only, calendar-valid dates, offsets 0..48, ``tnn`` = ``000`` in relative form)
and always yields an aware UTC ``datetime``. The current time is an argument:
this module never reads a clock.

Errors are :class:`TimeFormatError`, carrying the ``command_status`` to
answer with: ESME_RINVSCHED (0x61) for schedule_delivery_time and
ESME_RINVEXPIRY (0x62) for validity_period.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from smppd.smpp.constants import CommandStatus
from smppd.smpp.errors import EncodeError, SmppError

__all__ = [
    "MAX_OFFSET_QUARTERS",
    "TimeFormatError",
    "format_absolute",
    "format_relative",
    "parse_schedule_delivery_time",
    "parse_time",
    "parse_validity_period",
]

#: nn is the UTC offset in quarter hours, 00..48 (±12 h).
MAX_OFFSET_QUARTERS: Final = 48
#: Two-digit years are 2000..2099 (SMPP dates cannot express any other century).
BASE_YEAR: Final = 2000
#: Largest day count one relative field can hold.
MAX_RELATIVE_DAYS: Final = 99

_TIME: Final = re.compile(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d)(\d\d)([-+R])", re.ASCII)


class TimeFormatError(SmppError, ValueError):
    """A malformed time field; ``command_status`` is the answer to send."""

    def __init__(self, message: str, command_status: CommandStatus) -> None:
        super().__init__(message)
        self.command_status = command_status


def parse_time(
    value: str, now: datetime, *, status: CommandStatus = CommandStatus.ESME_RINVSCHED
) -> datetime | None:
    """Absolute UTC time of an SMPP time string, None when empty.

    ``now`` (aware) anchors relative times; ``status`` is put on any error.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if value == "":
        return None
    m = _TIME.fullmatch(value)
    if m is None:
        raise TimeFormatError(f"{value!r} is not YYMMDDhhmmsstnnp", status)
    yy, mo, dd, hh, mi, ss, tenths, nn, sign = m.groups()
    if sign == "R":
        if tenths != "0" or nn != "00":
            raise TimeFormatError(f"relative time {value!r} must end in 000R", status)
        return _add_relative(
            now.astimezone(UTC), (int(yy), int(mo), int(dd), int(hh), int(mi), int(ss))
        )
    quarters = int(nn)
    if quarters > MAX_OFFSET_QUARTERS:
        raise TimeFormatError(f"UTC offset {nn} in {value!r} is over 48 quarter hours", status)
    offset = timedelta(minutes=15 * quarters)
    try:
        local = datetime(
            BASE_YEAR + int(yy),
            int(mo),
            int(dd),
            int(hh),
            int(mi),
            int(ss),
            int(tenths) * 100_000,
            tzinfo=timezone(offset if sign == "+" else -offset),
        )
    except ValueError:
        raise TimeFormatError(f"{value!r} is not a calendar date and time", status) from None
    return local.astimezone(UTC)


def _add_relative(now: datetime, fields: tuple[int, int, int, int, int, int]) -> datetime:
    # Years and months are calendar steps (the day is clamped to the month's
    # end); the remaining fields are exact durations.
    years, months, days, hours, minutes, seconds = fields
    month_index = now.month - 1 + months
    year = now.year + years + month_index // 12
    month = month_index % 12 + 1
    day = min(now.day, calendar.monthrange(year, month)[1])
    shifted = now.replace(year=year, month=month, day=day)
    return shifted + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_schedule_delivery_time(value: str, now: datetime) -> datetime | None:
    """schedule_delivery_time; errors carry ESME_RINVSCHED (0x61)."""
    return parse_time(value, now, status=CommandStatus.ESME_RINVSCHED)


def parse_validity_period(value: str, now: datetime) -> datetime | None:
    """validity_period; errors carry ESME_RINVEXPIRY (0x62)."""
    return parse_time(value, now, status=CommandStatus.ESME_RINVEXPIRY)


def format_absolute(moment: datetime | None, offset_quarters: int = 0) -> str:
    """Absolute time string for ``moment`` shown at UTC + offset_quarters * 15 min."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        raise EncodeError("moment must be an aware datetime")
    if not -MAX_OFFSET_QUARTERS <= offset_quarters <= MAX_OFFSET_QUARTERS:
        raise EncodeError(f"offset {offset_quarters} is outside ±{MAX_OFFSET_QUARTERS}")
    local = moment.astimezone(timezone(timedelta(minutes=15 * offset_quarters)))
    if not BASE_YEAR <= local.year < BASE_YEAR + 100:
        raise EncodeError(f"year {local.year} cannot be written with two digits")
    sign = "-" if offset_quarters < 0 else "+"
    return (
        f"{local.year % 100:02d}{local.month:02d}{local.day:02d}"
        f"{local.hour:02d}{local.minute:02d}{local.second:02d}"
        f"{local.microsecond // 100_000}{abs(offset_quarters):02d}{sign}"
    )


def format_relative(delta: timedelta | None) -> str:
    """Relative time string (days, hours, minutes, seconds) for ``delta``."""
    if delta is None:
        return ""
    if delta < timedelta(0) or delta.microseconds:
        raise EncodeError(f"{delta} is not a whole, non-negative number of seconds")
    if delta.days > MAX_RELATIVE_DAYS:
        raise EncodeError(f"{delta} is over {MAX_RELATIVE_DAYS} days")
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"0000{delta.days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"
