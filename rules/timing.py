"""Quiet hours and frequency caps: when may the next marketing message to a number go.

    from rules.timing import DEFAULT_POLICY, next_marketing_slot

    at = next_marketing_slot("13055551234", now, DEFAULT_POLICY, sent=recent)
    # None: send now; otherwise hold the message until `at` (aware, UTC)

How this works:

* **Who the recipient is.** ``phonenumbers`` gives a number's country, its
  time zones and, for the US and Canada, the geocoder's description of the
  area code ("Florida", "New York, NY"), which names the state or province
  (COMPLIANCE.md: the area code presumes the state). A number phonenumbers
  cannot place gets the policy's fallback zone; one that spans several
  zones (a US toll-free number, a Russian mobile) gets all of them. These
  lookups cost tens of microseconds, so they are remembered per number
  (:data:`MAX_CACHED_NUMBERS` of them, least recently used dropped).
* **What applies.** The policy's window and caps, then the recipient's
  country rule (``"US"``), then the subdivision rule (``"US-FL"``): the most
  specific window wins; days off, public holidays and caps add up. What a
  (country, subdivision, zones) combination gets is worked out once per
  policy and kept with it.
* **The window is wall-clock time in each zone**, start inclusive, end
  exclusive; ``start > end`` wraps midnight, ``start == end`` is the whole
  day. A day off or public holiday is the local calendar date of the moment
  (for a night window, 01:00 on a Sunday belongs to Sunday). A window start
  that does not exist on a spring-forward day opens at the first moment
  after the gap (02:30 opens at 03:00); in the hour a fall-back day repeats,
  both passes have the wall-clock times they show (a window ending at 02:30
  opens again when the clocks go back to 02:00). The zone's offset is
  constant between its transitions (found once per zone and year), so each
  stretch between two transitions is searched with plain wall-clock
  arithmetic. A number with several zones must be inside the window in
  every one of them: the latest-opening zone wins.
* **A cap** ``count`` per ``per`` forbids a send at ``t`` when ``t`` and
  ``count`` of the sends given (past or scheduled) lie within less than
  ``per`` of each other; two messages exactly ``per`` apart are in different
  windows. A cap counts every marketing message to the number (COMPLIANCE.md's
  Florida cap counts those "on the same subject": counting all is the safe
  side), and ``per`` is elapsed time, not wall-clock time. Each run of
  ``count`` consecutive sends closer than ``per`` forbids the open interval
  (last - per, first + per), so the caps are a sorted list of disjoint
  forbidden intervals built once per call.
* **The answer is a fixed point.** From ``now``: move to the first moment
  open in every zone; move past any forbidden interval; repeat until
  neither moves. Every move goes forward to a window start, a zone
  transition or an interval end, and there are finitely many of those, so
  the search ends. A policy that allows no day at all is refused when it is
  built; a number whose zones are never open together within
  :data:`MAX_SEARCH` (a narrow window across a wide country) raises
  :class:`NoMarketingSlot`.

Pure: no clock, no I/O; ``now`` and the sends are passed in. The caches
hold what phonenumbers, holidays and tzdata say and what a policy gives a
region, never an answer about a moment.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_REGIONS",
    "MAX_CACHED_NUMBERS",
    "MAX_SEARCH",
    "UNKNOWN_COUNTRY",
    "FrequencyCap",
    "MarketingPolicy",
    "NoMarketingSlot",
    "RegionRule",
    "Window",
    "next_marketing_slot",
    "recipient_region",
    "recipient_zones",
]

#: Numbers whose country, subdivision and zones are remembered.
MAX_CACHED_NUMBERS: Final = 65_536
#: How far ahead a moment open in every zone of a number is looked for.
MAX_SEARCH: Final = timedelta(days=400)
#: The country of a number phonenumbers cannot place (its own code for it).
UNKNOWN_COUNTRY: Final = "ZZ"

_DAY: Final = timedelta(days=1)
_MIDNIGHT: Final = time(0)
_SEPARATORS: Final = str.maketrans("", "", " -.()/")
_REGION_KEY: Final = re.compile(r"([A-Z]{2})(?:-([A-Z0-9]{1,3}))?")
_WEEKDAYS: Final = frozenset(range(1, 8))

# The subdivisions a number tells (ISO 3166-2 codes), by the names the
# phonenumbers geocoder gives area codes, spelling slips included.
_US_STATES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Alabama": "AL",
        "Alaska": "AK",
        "Arizona": "AZ",
        "Arkansas": "AR",
        "California": "CA",
        "Colorado": "CO",
        "Connecticut": "CT",
        "Delaware": "DE",
        "Florida": "FL",
        "Georgia": "GA",
        "Hawaii": "HI",
        "Idaho": "ID",
        "Illinois": "IL",
        "Indiana": "IN",
        "Iowa": "IA",
        "Kansas": "KS",
        "Kentucky": "KY",
        "Louisiana": "LA",
        "Maine": "ME",
        "Maryland": "MD",
        "Massachusetts": "MA",
        "Michigan": "MI",
        "Minnesota": "MN",
        "Mississippi": "MS",
        "Missouri": "MO",
        "Montana": "MT",
        "Nebraska": "NE",
        "Nevada": "NV",
        "New Hampshire": "NH",
        "New Jersey": "NJ",
        "New Mexico": "NM",
        "New York": "NY",
        "North Carolina": "NC",
        "North Dakota": "ND",
        "Ohio": "OH",
        "Oklahoma": "OK",
        "Oregon": "OR",
        "Pennsylvania": "PA",
        "Rhode Island": "RI",
        "South Carolina": "SC",
        "South Dakota": "SD",
        "Tennessee": "TN",
        "Texas": "TX",
        "Utah": "UT",
        "Vermont": "VT",
        "Virginia": "VA",
        "Washington": "WA",
        "Washington State": "WA",
        "Washington D.C.": "DC",
        "West Virginia": "WV",
        "Wisconsin": "WI",
        "Wyoming": "WY",
    }
)
_CA_PROVINCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Alberta": "AB",
        "British Columbia": "BC",
        "British Colombia": "BC",
        "Manitoba": "MB",
        "New Brunswick": "NB",
        "Newfoundland and Labrador": "NL",
        "Northwest Territories": "NT",
        "Nova Scotia": "NS",
        "Nunavut": "NU",
        "Ontario": "ON",
        "Prince Edward Island": "PE",
        "Quebec": "QC",
        "Saskatchewan": "SK",
        "Yukon": "YT",
    }
)
_SUBDIVISION_NAMES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {"US": _US_STATES, "CA": _CA_PROVINCES}
)
_SUBDIVISIONS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {country: frozenset(names.values()) for country, names in _SUBDIVISION_NAMES.items()}
)


class NoMarketingSlot(ValueError):
    """No moment within :data:`MAX_SEARCH` is open in every time zone of a number."""


# -- calendars and zone transitions -------------------------------------------------


@lru_cache(maxsize=1)
def _holiday_countries() -> Mapping[str, frozenset[str]]:
    return MappingProxyType(
        {
            country: frozenset(subdivisions)
            for country, subdivisions in holidays.list_supported_countries().items()
        }
    )


def _holiday_subdivisions(country: str) -> frozenset[str]:
    return _holiday_countries().get(country, frozenset())


@lru_cache(maxsize=1_024)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:
        return frozenset()
    return frozenset(calendar.keys())


def _offset(zone: ZoneInfo, at: datetime) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


@lru_cache(maxsize=4_096)
def _transitions(zone: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """The moments (UTC) in ``year`` at which ``zone`` changes its offset.

    Found by comparing offsets a day apart and bisecting to the second
    (tzdata keeps whole seconds); two changes within one day would go
    unseen, which no zone's rules make today.
    """
    found = []
    probe = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = _offset(zone, probe)
    while probe < end:
        ahead = min(probe + _DAY, end)
        changed = _offset(zone, ahead)
        if changed != offset:
            low, high = probe, ahead
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) // 2
                middle = middle.replace(microsecond=0)
                if _offset(zone, middle) == offset:
                    low = middle
                else:
                    high = middle
            found.append(high)
            offset = changed
        probe = ahead
    return tuple(found)


def _next_transition(zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first offset change of ``zone`` strictly after ``after`` (this year or next)."""
    for year in (after.year, after.year + 1):
        changes = _transitions(zone, year)
        index = bisect_right(changes, after)
        if index < len(changes):
            return changes[index]
    return None


@lru_cache(maxsize=1_024)
def _zone_infos(names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    zones = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            # A zone newer than this machine's tzdata: the others still hold.
            continue
    return tuple(zones)


# -- the policy -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """Local sending hours: ``start`` inclusive, ``end`` exclusive, wall-clock time.

    ``start > end`` wraps midnight (22:00-06:00 is the night); ``start ==
    end`` is the whole day.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise ValueError(f"Window.{name} must be a datetime.time, not {value!r}")
            if value.tzinfo is not None:
                raise ValueError(
                    f"Window.{name} {value} carries a time zone: a window is in each"
                    " recipient's own local time"
                )

    def __str__(self) -> str:
        return f"{self.start.isoformat()}-{self.end.isoformat()}"

    def contains(self, at: time) -> bool:
        """Whether the wall-clock time ``at`` is inside the window."""
        if self.start < self.end:
            return self.start <= at < self.end
        # Wrapping (or the whole day when start == end).
        return at >= self.start or at < self.end

    def segments(self) -> tuple[tuple[time, time | None], ...]:
        """The window's parts within one calendar day, earliest first; ``None`` ends at midnight."""
        if self.start < self.end:
            return ((self.start, self.end),)
        if self.start == self.end:
            return ((_MIDNIGHT, None),)
        if self.end == _MIDNIGHT:
            return ((self.start, None),)
        return ((_MIDNIGHT, self.end), (self.start, None))


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``count`` marketing messages in any stretch of time ``per`` long."""

    count: int
    per: timedelta

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int):
            raise ValueError(f"FrequencyCap.count must be an int, not {self.count!r}")
        if self.count < 1:
            raise ValueError(f"FrequencyCap.count must be at least 1, not {self.count}")
        if not isinstance(self.per, timedelta):
            raise ValueError(f"FrequencyCap.per must be a datetime.timedelta, not {self.per!r}")
        if self.per <= timedelta(0):
            raise ValueError(f"FrequencyCap.per must be longer than zero, not {self.per}")


@dataclass(frozen=True, slots=True)
class RegionRule:
    """What applies to recipients in one region (a country or one of its subdivisions)."""

    # None: the policy's window (or the country's, for a subdivision).
    window: Window | None = None
    # ISO weekdays (1 = Monday, 7 = Sunday) with no marketing at all.
    days_off: frozenset[int] = frozenset()
    # No marketing on the country's (subdivision's) public holidays.
    public_holidays: bool = False
    # Added to the policy's caps for these recipients.
    caps: tuple[FrequencyCap, ...] = ()

    def __post_init__(self) -> None:
        if self.window is not None and not isinstance(self.window, Window):
            raise ValueError(f"RegionRule.window must be a Window or None, not {self.window!r}")
        days = frozenset(self.days_off)
        wrong = sorted(repr(day) for day in days if type(day) is not int or day not in _WEEKDAYS)
        if wrong:
            raise ValueError(
                f"RegionRule.days_off: {', '.join(wrong)} is not an ISO weekday"
                " (1 = Monday ... 7 = Sunday)"
            )
        if days == _WEEKDAYS:
            raise ValueError("RegionRule.days_off holds every weekday: no marketing could ever go")
        object.__setattr__(self, "days_off", days)
        caps = tuple(self.caps)
        for index, cap in enumerate(caps):
            if not isinstance(cap, FrequencyCap):
                raise ValueError(f"RegionRule.caps[{index}] must be a FrequencyCap, not {cap!r}")
        object.__setattr__(self, "caps", caps)


@dataclass(frozen=True, slots=True)
class _Target:
    """Everything a (country, subdivision, zones) combination gets under one policy."""

    zones: tuple[ZoneInfo, ...]
    window: Window
    segments: tuple[tuple[time, time | None], ...]
    days_off: frozenset[int]
    # (country, subdivision) of the public holidays kept, if any.
    calendar: tuple[str, str | None] | None
    caps: tuple[FrequencyCap, ...]

    def day_open(self, day: date) -> bool:
        if day.isoweekday() in self.days_off:
            return False
        return self.calendar is None or day not in _holiday_dates(*self.calendar, day.year)

    def open_at(self, local: datetime) -> bool:
        return self.window.contains(local.time()) and self.day_open(local.date())

    def next_open_wall(self, wall: datetime, until: datetime) -> datetime | None:
        """The earliest allowed naive wall-clock time at or after ``wall`` and before ``until``."""
        day = wall.date()
        clock = wall.time()
        first = True
        while datetime.combine(day, _MIDNIGHT) < until:
            if self.day_open(day):
                for start, end in self.segments:
                    if not first:
                        found = datetime.combine(day, start)
                    elif end is not None and clock >= end:
                        continue
                    elif clock >= start:
                        found = wall
                    else:
                        found = datetime.combine(day, start)
                    return found if found < until else None
            day += _DAY
            first = False
        return None


@dataclass(frozen=True, slots=True)
class MarketingPolicy:
    """When marketing messages may go, and how many: the default window, regions, caps.

    ``regions`` keys are ISO 3166-1 countries (``"FR"``) or, for the US and
    Canada, ISO 3166-2 subdivisions (``"US-FL"``): the only ones a number
    tells. ``fallback_zone`` is the zone of a number whose zone cannot be
    known. Every problem is a :class:`ValueError` naming the key.
    """

    window: Window = Window(time(8), time(21))
    regions: Mapping[str, RegionRule] = field(default_factory=lambda: DEFAULT_REGIONS, hash=False)
    caps: tuple[FrequencyCap, ...] = ()
    fallback_zone: str = "UTC"
    _fallback: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    # What each (country, subdivision, zones) gets: worked out on first use.
    _targets: dict[tuple[str, str | None, tuple[str, ...]], _Target] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.window, Window):
            raise ValueError(f"MarketingPolicy.window must be a Window, not {self.window!r}")
        if not isinstance(self.regions, Mapping):
            raise ValueError(
                f"MarketingPolicy.regions must be a mapping of region to RegionRule,"
                f" not {self.regions!r}"
            )
        regions = dict(self.regions)
        for key, rule in regions.items():
            _check_region(key, rule)
        for key, rule in regions.items():
            country, _, subdivision = key.partition("-")
            parent = regions.get(country) if subdivision else None
            if parent is not None and parent.days_off | rule.days_off == _WEEKDAYS:
                raise ValueError(
                    f"MarketingPolicy.regions[{key!r}]: its days off with {country!r}'s"
                    " cover every weekday: no marketing could ever go"
                )
        object.__setattr__(self, "regions", MappingProxyType(regions))
        caps = tuple(self.caps)
        for index, cap in enumerate(caps):
            if not isinstance(cap, FrequencyCap):
                raise ValueError(
                    f"MarketingPolicy.caps[{index}] must be a FrequencyCap, not {cap!r}"
                )
        object.__setattr__(self, "caps", caps)
        try:
            fallback = ZoneInfo(self.fallback_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(
                f"MarketingPolicy.fallback_zone {self.fallback_zone!r} is not a time zone"
                " (an IANA name such as 'UTC' or 'Europe/Stockholm')"
            ) from None
        object.__setattr__(self, "_fallback", fallback)
        object.__setattr__(self, "_targets", {})

    def _target(self, country: str, subdivision: str | None, zones: tuple[str, ...]) -> _Target:
        key = (country, subdivision, zones)
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = self._build_target(country, subdivision, zones)
        return target

    def _build_target(
        self, country: str, subdivision: str | None, zones: tuple[str, ...]
    ) -> _Target:
        rules = [
            rule
            for rule in (
                self.regions.get(country),
                None if subdivision is None else self.regions.get(f"{country}-{subdivision}"),
            )
            if rule is not None
        ]
        window = self.window
        days_off: frozenset[int] = frozenset()
        caps = self.caps
        public_holidays = False
        for rule in rules:
            window = rule.window or window
            days_off |= rule.days_off
            caps += rule.caps
            public_holidays = public_holidays or rule.public_holidays
        calendar = None
        if public_holidays:
            known = subdivision is not None and subdivision in _holiday_subdivisions(country)
            calendar = (country, subdivision if known else None)
        return _Target(
            zones=_zone_infos(zones) or (self._fallback,),
            window=window,
            segments=window.segments(),
            days_off=days_off,
            calendar=calendar,
            caps=caps,
        )


def _check_region(key: object, rule: object) -> None:
    where = f"MarketingPolicy.regions[{key!r}]"
    match = _REGION_KEY.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise ValueError(
            f"{where}: a region is an ISO 3166-1 country ('FR') or an ISO 3166-2"
            " subdivision ('US-FL')"
        )
    country, subdivision = match.groups()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{where}: {country!r} is not a country phonenumbers knows")
    if subdivision is not None:
        known = _SUBDIVISIONS.get(country)
        if known is None:
            raise ValueError(
                f"{where}: a number tells its subdivision only in"
                f" {' and '.join(sorted(_SUBDIVISIONS))}; use {country!r}"
            )
        if subdivision not in known:
            raise ValueError(f"{where}: {country} has no subdivision {subdivision!r}")
    if not isinstance(rule, RegionRule):
        raise ValueError(f"{where} must be a RegionRule, not {rule!r}")
    if rule.public_holidays:
        if country not in _holiday_countries():
            raise ValueError(f"{where}: the holidays package has no public holidays for {country}")
        if subdivision is not None and subdivision not in _holiday_subdivisions(country):
            raise ValueError(
                f"{where}: the holidays package has no public holidays for {country}-{subdivision}"
            )


_FLORIDA_OKLAHOMA: Final = RegionRule(
    window=Window(time(8), time(20)), caps=(FrequencyCap(3, timedelta(hours=24)),)
)

#: COMPLIANCE.md: Florida and Oklahoma 08:00-20:00 and 3 per 24 h; France no
#: marketing on Sundays and public holidays.
DEFAULT_REGIONS: Final[Mapping[str, RegionRule]] = MappingProxyType(
    {
        "US-FL": _FLORIDA_OKLAHOMA,
        "US-OK": _FLORIDA_OKLAHOMA,
        "FR": RegionRule(days_off=frozenset({7}), public_holidays=True),
    }
)

#: COMPLIANCE.md: 08:00-21:00 recipient local time everywhere, with the regions above.
DEFAULT_POLICY: Final = MarketingPolicy()


# -- who the recipient is ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Recipient:
    country: str
    subdivision: str | None
    # Empty: unknown (the policy's fallback zone).
    zones: tuple[str, ...]


_UNKNOWN: Final = _Recipient(UNKNOWN_COUNTRY, None, ())


@lru_cache(maxsize=MAX_CACHED_NUMBERS)
def _recipient(number: str) -> _Recipient:
    digits = number.strip().translate(_SEPARATORS).removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        return _UNKNOWN
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return _UNKNOWN
    region = phonenumbers.region_code_for_number(parsed)
    country = region if region and region in phonenumbers.SUPPORTED_REGIONS else UNKNOWN_COUNTRY
    kind = phonenumbers.number_type(parsed)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return _Recipient(country, None, ())
    zones = tuple(
        sorted(
            zone
            for zone in phone_timezone.time_zones_for_number(parsed)
            if zone != phone_timezone.UNKNOWN_TIMEZONE
        )
    )
    subdivision = None
    names = _SUBDIVISION_NAMES.get(country)
    code = parsed.country_code or 0
    if names is not None and phonenumbers.is_number_type_geographical(kind, code):
        subdivision = _subdivision(country, geocoder.description_for_valid_number(parsed, "en"))
    return _Recipient(country, subdivision, zones)


def _subdivision(country: str, description: str) -> str | None:
    """The subdivision in a geocoder description: "Florida", "Miami, FL"; None if several."""
    place, _, code = description.rpartition(", ")
    if place and code in _SUBDIVISIONS[country]:
        return code
    return _SUBDIVISION_NAMES[country].get(description)


def recipient_zones(number: str, fallback: str = "UTC") -> tuple[ZoneInfo, ...]:
    """The time zones of ``number`` (international digits, ``+`` optional).

    All of them when the number spans several (a US toll-free number, a
    Russian mobile); ``(ZoneInfo(fallback),)`` when none is known.
    """
    return _zone_infos(_recipient(number).zones) or (ZoneInfo(fallback),)


def recipient_region(number: str) -> tuple[str, str | None]:
    """The country of ``number`` and, where the number tells it, the subdivision.

    ``("US", "US-FL")`` for a Florida area code; ``("SE", None)``; the
    country is :data:`UNKNOWN_COUNTRY` when phonenumbers cannot place it.
    """
    found = _recipient(number)
    if found.subdivision is None:
        return found.country, None
    return found.country, f"{found.country}-{found.subdivision}"


# -- the search ---------------------------------------------------------------------


def _zone_next_open(
    target: _Target, zone: ZoneInfo, at: datetime, limit: datetime
) -> datetime | None:
    """The first moment at or after ``at`` (before ``limit``) open in ``zone``."""
    local = at.astimezone(zone)
    if target.open_at(local):
        return at
    moment = at
    while moment < limit:
        offset = _offset(zone, moment)
        change = _next_transition(zone, moment)
        stretch_end = limit if change is None else min(change, limit)
        wall = (moment + offset).replace(tzinfo=None)
        found = target.next_open_wall(wall, (stretch_end + offset).replace(tzinfo=None))
        if found is not None:
            return (found - offset).replace(tzinfo=UTC)
        moment = stretch_end
    return None


def _open_everywhere(target: _Target, at: datetime, number: str) -> datetime:
    """The first moment at or after ``at`` open in every zone of the target."""
    limit = at + MAX_SEARCH
    moment = at
    while True:
        moved = False
        for zone in target.zones:
            found = _zone_next_open(target, zone, moment, limit)
            if found is None:
                zones = ", ".join(str(zone) for zone in target.zones)
                raise NoMarketingSlot(
                    f"{number}: no moment within {MAX_SEARCH.days} days of {at.isoformat()}"
                    f" is inside {target.window} on a working day in every one of its"
                    f" time zones ({zones})"
                )
            if found > moment:
                moment = found
                moved = True
        if not moved or len(target.zones) == 1:
            return moment


def _forbidden(
    caps: tuple[FrequencyCap, ...], sent: Sequence[datetime], now: datetime
) -> tuple[list[datetime], list[datetime]]:
    """The caps' forbidden open intervals after ``now``, merged: (starts, ends)."""
    if not caps or not sent:
        return [], []
    times = sorted(_utc(at, "sent") for at in sent)
    intervals = []
    for cap in caps:
        first = bisect_right(times, now - cap.per)
        last = len(times) - cap.count
        for index in range(first, last + 1):
            oldest, newest = times[index], times[index + cap.count - 1]
            if newest - oldest < cap.per:
                intervals.append((newest - cap.per, oldest + cap.per))
    intervals.sort()
    starts: list[datetime] = []
    ends: list[datetime] = []
    for start, end in intervals:
        # Open intervals: one ending where the next starts leaves that moment free.
        if ends and start < ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _utc(at: datetime, name: str) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {at!r}")
    return at.astimezone(UTC)


def next_marketing_slot(
    number: str,
    now: datetime,
    policy: MarketingPolicy,
    sent: Sequence[datetime] = (),
) -> datetime | None:
    """When a marketing message to ``number`` may go: ``None`` for now, else the moment (UTC).

    The moment is the earliest at or after ``now`` inside the window in
    every time zone of the number, not a day off or public holiday there,
    and within every cap given ``sent`` (the marketing messages to this
    number sent or scheduled, future ones included). Raises
    :class:`NoMarketingSlot` when the number's zones are never open together.
    """
    start = _utc(now, "now")
    found = _recipient(number)
    target = policy._target(found.country, found.subdivision, found.zones)
    starts, ends = _forbidden(target.caps, sent, start)
    moment = start
    while True:
        moment = _open_everywhere(target, moment, number)
        index = bisect_left(starts, moment) - 1
        if index < 0 or moment >= ends[index]:
            break
        moment = ends[index]
    return None if moment == start else moment
