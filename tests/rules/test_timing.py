"""Quiet hours, days off and frequency caps: when the next marketing message may go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import (
    DEFAULT_POLICY,
    DEFAULT_REGIONS,
    FrequencyCap,
    MarketingPolicy,
    NoMarketingSlot,
    RegionRule,
    Window,
    next_marketing_slot,
    recipient_region,
    recipient_zones,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
BOISE = ZoneInfo("America/Boise")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")

SWEDEN = "46701234567"
FLORIDA = "13055551234"  # area code 305: Miami
OKLAHOMA = "14055551234"  # area code 405: Oklahoma City
NEW_YORK_CITY = "12125551234"
IDAHO = "12085551234"  # area code 208: Mountain and Pacific time
ALASKA = "19075551234"  # area code 907: Alaska and Hawaii-Aleutian time
FRANCE = "33612345678"
NEW_ZEALAND = "6421234567"
RUSSIA = "79161234567"

DAY = timedelta(days=1)
HOURS_24 = timedelta(hours=24)


def local(zone: ZoneInfo, *fields: int) -> datetime:
    """A wall-clock time in ``zone``: year, month, day[, hour[, minute]]."""
    year, month, day, hour, minute = (*fields, 0, 0)[:5]
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def slot(
    number: str,
    now: datetime,
    marketing: MarketingPolicy = DEFAULT_POLICY,
    sent: Sequence[datetime] = (),
) -> datetime | None:
    found = next_marketing_slot(number, now, marketing, sent)
    if found is not None:
        assert found.tzinfo is UTC
        assert found >= now
    return found


# -- the window, in the recipient's zone --------------------------------------


@pytest.mark.parametrize(
    ("number", "now", "expected"),
    [
        # Sweden: 08:00-21:00 local, end exclusive.
        (SWEDEN, local(STOCKHOLM, 2026, 3, 2, 22, 30), local(STOCKHOLM, 2026, 3, 3, 8)),
        (SWEDEN, local(STOCKHOLM, 2026, 3, 2, 12, 0), None),
        (SWEDEN, local(STOCKHOLM, 2026, 3, 2, 7, 59), local(STOCKHOLM, 2026, 3, 2, 8)),
        (SWEDEN, local(STOCKHOLM, 2026, 3, 2, 8, 0), None),
        (SWEDEN, local(STOCKHOLM, 2026, 3, 2, 20, 59), None),
        (SWEDEN, local(STOCKHOLM, 2026, 3, 2, 21, 0), local(STOCKHOLM, 2026, 3, 3, 8)),
        (SWEDEN, local(STOCKHOLM, 2026, 3, 7, 23, 0), local(STOCKHOLM, 2026, 3, 8, 8)),
        # The same moment given in another zone means the same thing.
        (SWEDEN, datetime(2026, 3, 2, 21, 30, tzinfo=UTC), local(STOCKHOLM, 2026, 3, 3, 8)),
        # Florida and Oklahoma close at 20:00, New York at 21:00.
        (FLORIDA, local(NEW_YORK, 2026, 3, 2, 20, 30), local(NEW_YORK, 2026, 3, 3, 8)),
        (FLORIDA, local(NEW_YORK, 2026, 3, 2, 19, 59), None),
        (OKLAHOMA, local(CHICAGO, 2026, 3, 2, 20, 0), local(CHICAGO, 2026, 3, 3, 8)),
        (NEW_YORK_CITY, local(NEW_YORK, 2026, 3, 2, 20, 30), None),
        (NEW_YORK_CITY, local(NEW_YORK, 2026, 3, 2, 21, 0), local(NEW_YORK, 2026, 3, 3, 8)),
        # Idaho spans Mountain and Pacific time: Pacific opens last.
        (IDAHO, local(BOISE, 2026, 3, 2, 8, 30), local(LOS_ANGELES, 2026, 3, 2, 8)),
        (IDAHO, local(BOISE, 2026, 3, 2, 9, 0), None),
        # ...and Mountain closes first.
        (IDAHO, local(LOS_ANGELES, 2026, 3, 2, 20, 0), local(LOS_ANGELES, 2026, 3, 3, 8)),
        # Alaska: Anchorage and Adak (an hour behind).
        (
            ALASKA,
            local(ZoneInfo("America/Anchorage"), 2026, 3, 2, 8, 0),
            local(ZoneInfo("America/Adak"), 2026, 3, 2, 8),
        ),
        # France: no Sundays...
        (FRANCE, local(PARIS, 2026, 3, 1, 10, 0), local(PARIS, 2026, 3, 2, 8)),
        (FRANCE, local(PARIS, 2026, 2, 28, 21, 0), local(PARIS, 2026, 3, 2, 8)),
        (FRANCE, local(PARIS, 2026, 2, 28, 20, 59), None),
        # ...and no public holidays: 14 July (a Tuesday), Christmas (a Friday).
        (FRANCE, local(PARIS, 2026, 7, 14, 10, 0), local(PARIS, 2026, 7, 15, 8)),
        (FRANCE, local(PARIS, 2026, 7, 13, 22, 0), local(PARIS, 2026, 7, 15, 8)),
        (FRANCE, local(PARIS, 2026, 12, 25, 9, 0), local(PARIS, 2026, 12, 26, 8)),
        # Saturday night before Easter: Sunday, then Easter Monday.
        (FRANCE, local(PARIS, 2026, 4, 4, 22, 0), local(PARIS, 2026, 4, 7, 8)),
        # New Zealand (southern summer) keeps the default window.
        (
            NEW_ZEALAND,
            local(ZoneInfo("Pacific/Auckland"), 2026, 1, 10, 6, 0),
            local(ZoneInfo("Pacific/Auckland"), 2026, 1, 10, 8),
        ),
    ],
)
def test_the_window_is_the_recipients_local_time(
    number: str, now: datetime, expected: datetime | None
) -> None:
    assert slot(number, now) == expected


def test_a_number_in_several_zones_waits_for_the_latest_opening() -> None:
    # 06:00 UTC: Moscow 09:00, Kamchatka 18:00, Bucharest 08:00. Every zone of a
    # Russian mobile is open only when the westernmost has opened.
    zones = recipient_zones(RUSSIA)
    assert len(zones) > 5
    now = datetime(2026, 12, 24, 5, 0, tzinfo=UTC)
    found = slot(RUSSIA, now)
    assert found is not None
    assert all(time(8) <= found.astimezone(zone).time() < time(21) for zone in zones)
    assert any(found.astimezone(zone).time() == time(8) for zone in zones)


def test_a_number_whose_zones_are_never_open_together_raises() -> None:
    narrow = MarketingPolicy(window=Window(time(10), time(11)))
    with pytest.raises(NoMarketingSlot, match=RUSSIA):
        next_marketing_slot(RUSSIA, datetime(2026, 3, 2, tzinfo=UTC), narrow)


# -- daylight saving time -------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "window", "now", "expected"),
    [
        # Europe springs forward on 29 March 2026 at 02:00 -> 03:00: a window
        # opening at 02:30 opens at the first moment after the gap.
        (
            SWEDEN,
            Window(time(2, 30), time(5)),
            local(STOCKHOLM, 2026, 3, 29, 0, 0),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        # The default window on that day: 08:00 CEST is 06:00 UTC.
        (
            SWEDEN,
            Window(time(8), time(21)),
            local(STOCKHOLM, 2026, 3, 28, 22, 0),
            datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
        ),
        # Europe falls back on 25 October 2026 at 03:00 -> 02:00: 08:00 CET is 07:00 UTC.
        (
            SWEDEN,
            Window(time(8), time(21)),
            local(STOCKHOLM, 2026, 10, 24, 22, 0),
            datetime(2026, 10, 25, 7, 0, tzinfo=UTC),
        ),
        # A window ending at 02:30: closed at 02:45 CEST, open again when the
        # clocks go back to 02:00 (01:00 UTC) until 02:30 CET.
        (
            SWEDEN,
            Window(time(0), time(2, 30)),
            datetime(2026, 10, 25, 0, 45, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        ),
        # The US springs forward on 8 March 2026 at 02:00 EST -> 03:00 EDT.
        (
            NEW_YORK_CITY,
            Window(time(2, 30), time(5)),
            local(NEW_YORK, 2026, 3, 8, 1, 0),
            datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
        ),
        (
            NEW_YORK_CITY,
            Window(time(8), time(21)),
            local(NEW_YORK, 2026, 3, 7, 22, 0),
            datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
        ),
        # The US falls back on 1 November 2026: 08:00 EST is 13:00 UTC.
        (
            NEW_YORK_CITY,
            Window(time(8), time(21)),
            local(NEW_YORK, 2026, 10, 31, 21, 30),
            datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
    ],
)
def test_daylight_saving_changes(
    number: str, window: Window, now: datetime, expected: datetime
) -> None:
    assert slot(number, now, MarketingPolicy(window=window)) == expected


# -- a window across midnight ------------------------------------------------


NIGHT_SHIFT = MarketingPolicy(
    window=Window(time(22), time(6)),
    regions={"SE": RegionRule(days_off=frozenset({7}))},
)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(STOCKHOLM, 2026, 3, 4, 12, 0), local(STOCKHOLM, 2026, 3, 4, 22)),
        (local(STOCKHOLM, 2026, 3, 4, 22, 0), None),
        (local(STOCKHOLM, 2026, 3, 4, 23, 59), None),
        (local(STOCKHOLM, 2026, 3, 5, 0, 0), None),
        (local(STOCKHOLM, 2026, 3, 5, 5, 59), None),
        (local(STOCKHOLM, 2026, 3, 5, 6, 0), local(STOCKHOLM, 2026, 3, 5, 22)),
        # Saturday night is allowed until midnight; Sunday is a day off all
        # day long, its early hours included; Monday's early hours are open.
        (local(STOCKHOLM, 2026, 3, 7, 23, 30), None),
        (local(STOCKHOLM, 2026, 3, 8, 0, 30), local(STOCKHOLM, 2026, 3, 9, 0)),
        (local(STOCKHOLM, 2026, 3, 8, 22, 0), local(STOCKHOLM, 2026, 3, 9, 0)),
    ],
)
def test_a_window_across_midnight(now: datetime, expected: datetime | None) -> None:
    assert slot(SWEDEN, now, NIGHT_SHIFT) == expected


def test_a_window_ending_at_midnight_and_a_whole_day() -> None:
    evening = MarketingPolicy(window=Window(time(18), time(0)))
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 4, 23, 59), evening) is None
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 5, 0, 0), evening) == local(
        STOCKHOLM, 2026, 3, 5, 18
    )
    always = MarketingPolicy(window=Window(time(0), time(0)), regions={})
    for hour in (0, 3, 12, 23):
        assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 4, hour, 0), always) is None


# -- frequency caps -------------------------------------------------------------


def test_florida_allows_three_marketing_messages_per_24_hours() -> None:
    sent = [local(NEW_YORK, 2026, 3, 2, hour) for hour in (9, 10, 11)]
    now = local(NEW_YORK, 2026, 3, 2, 12)
    # Two sent: the third may go.
    assert slot(FLORIDA, now, sent=sent[:2]) is None
    # Three sent: the fourth waits until the first is 24 hours old.
    assert slot(FLORIDA, now, sent=sent) == local(NEW_YORK, 2026, 3, 3, 9)
    # Not so in New York.
    assert slot(NEW_YORK_CITY, now, sent=sent) is None


def test_a_cap_that_frees_outside_the_window_waits_for_the_window() -> None:
    # The first of three went at 19:30 EST the evening before the clocks
    # changed: 24 hours later is 20:30 EDT, after Florida's window closes.
    sent = [
        local(NEW_YORK, 2026, 3, 7, 19, 30),
        local(NEW_YORK, 2026, 3, 8, 9, 0),
        local(NEW_YORK, 2026, 3, 8, 9, 30),
    ]
    now = local(NEW_YORK, 2026, 3, 8, 10, 0)
    assert slot(FLORIDA, now, sent=sent) == local(NEW_YORK, 2026, 3, 9, 8)


def test_moving_into_the_window_may_meet_the_cap_again() -> None:
    # The window moves the message to 08:00; scheduled sends make 08:00 the
    # fourth within 24 hours, so it waits until 08:00 + the cap, in the window.
    sent = [
        local(NEW_YORK, 2026, 3, 3, 7, 0),
        local(NEW_YORK, 2026, 3, 3, 8, 30),
        local(NEW_YORK, 2026, 3, 3, 9, 0),
    ]
    caps = MarketingPolicy(caps=(FrequencyCap(3, timedelta(hours=3)),), regions={})
    now = local(NEW_YORK, 2026, 3, 2, 22, 0)
    assert slot(NEW_YORK_CITY, now, caps, sent) == local(NEW_YORK, 2026, 3, 3, 10)


def test_scheduled_sends_count_for_the_cap() -> None:
    tomorrow = [local(NEW_YORK, 2026, 3, 3, 9, minute) for minute in (0, 10, 20)]
    now = local(NEW_YORK, 2026, 3, 2, 12)
    # Any 24 hours holding now and tomorrow's three would hold four: the
    # earliest moment is 24 hours after the first of them.
    assert slot(FLORIDA, now, sent=tomorrow) == local(NEW_YORK, 2026, 3, 4, 9)
    # Before 09:20 - 24 h, a 24-hour stretch can hold now without all three.
    earlier = local(NEW_YORK, 2026, 3, 2, 9, 20)
    assert slot(FLORIDA, earlier, sent=tomorrow) is None


def test_messages_exactly_one_period_apart_fall_in_different_windows() -> None:
    hourly = MarketingPolicy(caps=(FrequencyCap(1, timedelta(hours=1)),), regions={})
    sent = [local(STOCKHOLM, 2026, 3, 2, 10, 0)]
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 2, 10, 30), hourly, sent) == local(
        STOCKHOLM, 2026, 3, 2, 11
    )
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 2, 11, 0), hourly, sent) is None
    # A message an hour before one already scheduled is as far as it may be.
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 2, 9, 0), hourly, sent) is None
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 2, 9, 1), hourly, sent) == local(
        STOCKHOLM, 2026, 3, 2, 11
    )
    # Between two sends two hours apart, the moment an hour from each is free.
    around = [local(STOCKHOLM, 2026, 3, 2, 10, 0), local(STOCKHOLM, 2026, 3, 2, 12, 0)]
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 2, 10, 30), hourly, around) == local(
        STOCKHOLM, 2026, 3, 2, 11
    )
    # Two an hour apart leave room for a third between them under 2 per hour:
    # every hour-long stretch holding it holds only one of them.
    twice = MarketingPolicy(caps=(FrequencyCap(2, timedelta(hours=1)),), regions={})
    pair = [local(STOCKHOLM, 2026, 3, 2, 10, 0), local(STOCKHOLM, 2026, 3, 2, 11, 0)]
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 2, 10, 30), twice, pair) is None
    closer = [local(STOCKHOLM, 2026, 3, 2, 10, 0), local(STOCKHOLM, 2026, 3, 2, 10, 59)]
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 2, 10, 30), twice, closer) == local(
        STOCKHOLM, 2026, 3, 2, 11
    )


def test_caps_add_up_policy_country_and_subdivision() -> None:
    marketing = MarketingPolicy(
        caps=(FrequencyCap(5, timedelta(days=7)),),
        regions={
            "US": RegionRule(caps=(FrequencyCap(2, timedelta(hours=12)),)),
            "US-FL": RegionRule(window=Window(time(8), time(20))),
        },
    )
    now = local(NEW_YORK, 2026, 3, 2, 12)
    two = [local(NEW_YORK, 2026, 3, 2, 8), local(NEW_YORK, 2026, 3, 2, 8, 30)]
    # The country's cap frees at 20:00: New York is open, Florida just closed.
    assert slot(NEW_YORK_CITY, now, marketing, two) == local(NEW_YORK, 2026, 3, 2, 20)
    assert slot(FLORIDA, now, marketing, two) == local(NEW_YORK, 2026, 3, 3, 8)
    # The policy's weekly cap holds everywhere. A cap is a stretch of real
    # time: 7 days after 09:00 EST on 1 March is 10:00 EDT on 8 March.
    five = [local(NEW_YORK, 2026, 3, day, 9) for day in range(1, 6)]
    assert slot(NEW_YORK_CITY, local(NEW_YORK, 2026, 3, 6, 12), marketing, five) == local(
        NEW_YORK, 2026, 3, 8, 10
    )
    assert slot(SWEDEN, local(STOCKHOLM, 2026, 3, 6, 12), marketing, five) == local(
        STOCKHOLM, 2026, 3, 8, 15
    )


# -- who the recipient is --------------------------------------------------


@pytest.mark.parametrize(
    ("number", "region"),
    [
        (SWEDEN, ("SE", None)),
        ("+46701234567", ("SE", None)),
        ("+46 70-123 45 67", ("SE", None)),
        (FLORIDA, ("US", "US-FL")),
        (OKLAHOMA, ("US", "US-OK")),
        (NEW_YORK_CITY, ("US", "US-NY")),  # the geocoder says "New York, NY"
        (IDAHO, ("US", "US-ID")),
        ("12025551234", ("US", "US-DC")),
        ("12065551234", ("US", "US-WA")),  # "Washington State"
        ("14165551234", ("CA", "CA-ON")),
        ("13065551234", ("CA", "CA-SK")),
        ("18005551234", ("US", None)),  # toll-free: no state
        ("17875551234", ("PR", None)),
        (FRANCE, ("FR", None)),
        ("46123", ("SE", None)),  # not a valid number, but the country code tells
        ("80012345678", ("ZZ", None)),  # international freephone: no country
        ("999123", ("ZZ", None)),
        ("", ("ZZ", None)),
        ("not a number", ("ZZ", None)),
    ],
)
def test_recipient_region(number: str, region: tuple[str, str | None]) -> None:
    assert recipient_region(number) == region


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        (SWEDEN, ("Europe/Stockholm",)),
        (FLORIDA, ("America/New_York",)),
        (IDAHO, ("America/Boise", "America/Los_Angeles")),
        ("46123", ("UTC",)),
        ("999123", ("UTC",)),
        ("junk", ("UTC",)),
    ],
)
def test_recipient_zones(number: str, zones: tuple[str, ...]) -> None:
    assert tuple(zone.key for zone in recipient_zones(number)) == zones


def test_a_number_whose_zone_is_unknown_gets_the_fallback_zone() -> None:
    assert recipient_zones("junk", "Asia/Tokyo") == (ZoneInfo("Asia/Tokyo"),)
    assert len(recipient_zones("18005551234")) > 10
    tokyo = MarketingPolicy(fallback_zone="Asia/Tokyo")
    now = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # 07:00 in Tokyo
    for number in ("junk", "999123", "46123", ""):
        assert slot(number, now, tokyo) == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
        assert slot(number, now) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
        assert slot(number, now - timedelta(hours=1, minutes=1)) is None


# -- the policy -----------------------------------------------------------------


def test_the_default_policy_follows_compliance_md() -> None:
    assert DEFAULT_POLICY.window == Window(time(8), time(21))
    assert DEFAULT_POLICY.caps == ()
    assert DEFAULT_POLICY.fallback_zone == "UTC"
    assert DEFAULT_POLICY.regions == DEFAULT_REGIONS
    assert set(DEFAULT_REGIONS) == {"US-FL", "US-OK", "FR"}
    for state in ("US-FL", "US-OK"):
        rule = DEFAULT_POLICY.regions[state]
        assert rule.window == Window(time(8), time(20))
        assert rule.caps == (FrequencyCap(3, HOURS_24),)
    assert DEFAULT_POLICY.regions["FR"] == RegionRule(days_off=frozenset({7}), public_holidays=True)
    assert MarketingPolicy() == DEFAULT_POLICY
    assert hash(MarketingPolicy()) == hash(DEFAULT_POLICY)
    with pytest.raises(TypeError):
        DEFAULT_POLICY.regions["SE"] = RegionRule()  # type: ignore[index]


def test_a_subdivision_window_wins_over_its_country() -> None:
    marketing = MarketingPolicy(
        regions={
            "US": RegionRule(window=Window(time(9), time(17)), days_off=frozenset({6})),
            "US-FL": RegionRule(window=Window(time(10), time(12))),
        }
    )
    assert slot(NEW_YORK_CITY, local(NEW_YORK, 2026, 3, 2, 9, 30), marketing) is None
    assert slot(FLORIDA, local(NEW_YORK, 2026, 3, 2, 9, 30), marketing) == local(
        NEW_YORK, 2026, 3, 2, 10
    )
    # The country's day off holds in the subdivision too (7 March 2026 is a Saturday).
    assert slot(FLORIDA, local(NEW_YORK, 2026, 3, 7, 10, 30), marketing) == local(
        NEW_YORK, 2026, 3, 8, 10
    )


def test_public_holidays_of_a_subdivision() -> None:
    marketing = MarketingPolicy(regions={"US": RegionRule(public_holidays=True)})
    # Patriots' Day (20 April 2026) is a public holiday in Massachusetts only.
    boston = "16175551234"
    assert recipient_region(boston) == ("US", "US-MA")
    at = local(NEW_YORK, 2026, 4, 20, 10)
    assert slot(boston, at, marketing) == local(NEW_YORK, 2026, 4, 21, 8)
    assert slot(NEW_YORK_CITY, at, marketing) is None
    # 4 July 2026 is a Saturday, observed on Friday the 3rd: both are off.
    assert slot(NEW_YORK_CITY, local(NEW_YORK, 2026, 7, 2, 22), marketing) == local(
        NEW_YORK, 2026, 7, 5, 8
    )


def wrong(value: object) -> Any:
    """A value of the wrong type, as a configuration may hold."""
    return value


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MarketingPolicy(regions={"usa": RegionRule()}), r"regions\['usa'\]: a region is"),
        (lambda: MarketingPolicy(regions={"QQ": RegionRule()}), r"'QQ' is not a country"),
        (lambda: MarketingPolicy(regions={"US-XX": RegionRule()}), r"US has no subdivision 'XX'"),
        (lambda: MarketingPolicy(regions={"DE-BY": RegionRule()}), r"\['DE-BY'\]: a number tells"),
        (lambda: MarketingPolicy(regions={"US-PR": RegionRule()}), r"no subdivision 'PR'"),
        (
            lambda: MarketingPolicy(regions={"SE": wrong(Window(time(8), time(9)))}),
            r"must be a RegionRule",
        ),
        (
            lambda: MarketingPolicy(regions={"AC": RegionRule(public_holidays=True)}),
            r"\['AC'\]: the holidays package has no public holidays for AC",
        ),
        (
            lambda: MarketingPolicy(
                regions={
                    "US": RegionRule(days_off=frozenset({1, 2, 3})),
                    "US-FL": RegionRule(days_off=frozenset({4, 5, 6, 7})),
                }
            ),
            r"\['US-FL'\]: its days off with 'US''s cover every weekday",
        ),
        (
            lambda: MarketingPolicy(caps=(FrequencyCap(1, DAY), wrong("3/day"))),
            r"caps\[1\] must be",
        ),
        (lambda: MarketingPolicy(fallback_zone="Mars/Olympus"), r"'Mars/Olympus' is not a time"),
        (lambda: MarketingPolicy(fallback_zone="../etc"), r"'../etc' is not a time zone"),
        (lambda: MarketingPolicy(window=wrong((8, 21))), r"window must be a Window"),
        (
            lambda: MarketingPolicy(regions=wrong([("SE", RegionRule())])),
            r"regions must be a mapping",
        ),
        (lambda: FrequencyCap(0, DAY), r"count must be at least 1, not 0"),
        (lambda: FrequencyCap(-3, DAY), r"count must be at least 1, not -3"),
        (lambda: FrequencyCap(True, DAY), r"count must be an int"),
        (lambda: FrequencyCap(3, timedelta(0)), r"per must be longer than zero, not 0:00:00"),
        (lambda: FrequencyCap(3, -DAY), r"per must be longer than zero"),
        (lambda: FrequencyCap(3, wrong(86_400)), r"per must be a datetime.timedelta"),
        (lambda: RegionRule(days_off=frozenset({0, 8})), r"0, 8 is not an ISO weekday"),
        (lambda: RegionRule(days_off=frozenset(range(1, 8))), r"every weekday"),
        (lambda: RegionRule(caps=(wrong(DAY),)), r"RegionRule.caps\[0\] must be a FrequencyCap"),
        (lambda: RegionRule(window=wrong((8, 20))), r"RegionRule.window must be a Window"),
        (lambda: Window(time(8), wrong("21:00")), r"Window.end must be a datetime.time"),
        (lambda: Window(time(8, tzinfo=UTC), time(21)), r"Window.start 08:00:00\+00:00 carries"),
    ],
)
def test_policy_problems_are_errors_that_name_them(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()


def test_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        next_marketing_slot(SWEDEN, datetime(2026, 3, 2, 12), DEFAULT_POLICY)
    with pytest.raises(ValueError, match="sent must be a timezone-aware datetime"):
        next_marketing_slot(
            FLORIDA, datetime(2026, 3, 2, 12, tzinfo=UTC), DEFAULT_POLICY, [datetime(2026, 3, 2)]
        )


def test_a_rule_normalises_its_collections() -> None:
    rule = RegionRule(days_off=wrong({6, 7}), caps=wrong([FrequencyCap(1, DAY)]))
    assert rule.days_off == frozenset({6, 7})
    assert rule.caps == (FrequencyCap(1, DAY),)
    assert replace(DEFAULT_POLICY, caps=(FrequencyCap(1, DAY),)).regions == DEFAULT_POLICY.regions


# -- against a slow reference ---------------------------------------------------


def _inside(window: Window, at: time) -> bool:
    if window.start == window.end:
        return True
    if window.start < window.end:
        return window.start <= at < window.end
    return not (window.end <= at < window.start)


def reference_allowed(
    number: str, at: datetime, marketing: MarketingPolicy, sent: Sequence[datetime]
) -> bool:
    """Whether a marketing message may go at ``at``, straight from the definitions."""
    country, subdivision = recipient_region(number)
    rules = [marketing.regions.get(country)]
    if subdivision is not None:
        rules.append(marketing.regions.get(subdivision))
    window = marketing.window
    days_off: set[int] = set()
    public = False
    caps = list(marketing.caps)
    for rule in rules:
        if rule is None:
            continue
        if rule.window is not None:
            window = rule.window
        days_off |= rule.days_off
        public = public or rule.public_holidays
        caps += rule.caps
    calendar = None
    if public:
        calendar = holidays.country_holidays(
            country, subdiv=None if subdivision is None else subdivision.split("-")[1]
        )
    for zone in recipient_zones(number, marketing.fallback_zone):
        there = at.astimezone(zone)
        if not _inside(window, there.time()):
            return False
        if there.isoweekday() in days_off:
            return False
        if calendar is not None and there.date() in calendar:
            return False
    # Any stretch `per` long holding `at` holds at most `count` messages; the
    # fullest such stretches start at a message.
    moments = sorted([*sent, at])
    for cap in caps:
        for first in moments:
            if first <= at < first + cap.per:
                inside = sum(1 for moment in moments if first <= moment < first + cap.per)
                if inside > cap.count:
                    return False
    return True


PROPERTY_NUMBERS = (SWEDEN, FLORIDA, OKLAHOMA, IDAHO, ALASKA, FRANCE, NEW_ZEALAND, "999123")
# Days around the DST changes of 2026 in Europe, the US and New Zealand.
ANCHORS = tuple(
    datetime(2026, month, day, tzinfo=UTC)
    for month, day in ((3, 8), (3, 29), (4, 5), (9, 27), (10, 25), (11, 1), (12, 24), (7, 14))
)

windows = st.builds(
    lambda start, length: Window(
        time(start // 60, start % 60),
        time(((start + length) % 1440) // 60, (start + length) % 60),
    ),
    st.integers(0, 1439),
    # Idaho's and Alaska's zones are an hour apart: a window longer than
    # that always meets in both.
    st.integers(120, 1440),
)
caps = st.builds(
    FrequencyCap, st.integers(1, 3), st.integers(1, 48).map(lambda hours: timedelta(hours=hours))
)
rules = st.builds(
    RegionRule,
    window=st.none() | windows,
    days_off=st.frozensets(st.integers(1, 7), max_size=3),
    public_holidays=st.booleans(),
    caps=st.lists(caps, max_size=2).map(tuple),
)
policies = st.builds(
    MarketingPolicy,
    window=windows,
    regions=st.dictionaries(
        st.sampled_from(["SE", "US", "US-FL", "US-ID", "FR", "NZ"]), rules, max_size=3
    ),
    caps=st.lists(caps, max_size=1).map(tuple),
    fallback_zone=st.sampled_from(["UTC", "Asia/Kolkata", "America/Sao_Paulo"]),
)
moments = st.builds(
    lambda anchor, minutes: anchor + timedelta(minutes=minutes),
    st.sampled_from(ANCHORS)
    | st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31)).map(
        lambda at: at.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
    st.integers(-2 * 1440, 2 * 1440),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    number=st.sampled_from(PROPERTY_NUMBERS),
    marketing=policies,
    now=moments,
    offsets=st.lists(st.integers(-2 * 1440, 2 * 1440), max_size=5),
)
def test_the_slot_is_the_first_allowed_minute(
    number: str, marketing: MarketingPolicy, now: datetime, offsets: list[int]
) -> None:
    sent = [now + timedelta(minutes=offset) for offset in offsets]
    found = next_marketing_slot(number, now, marketing, sent)
    if found is None:
        assert reference_allowed(number, now, marketing, sent)
        return
    assert found.tzinfo is UTC
    assert found > now
    assert (found.second, found.microsecond) == (0, 0)
    assert reference_allowed(number, found, marketing, sent)
    minute = now
    while minute < found:
        assert not reference_allowed(number, minute, marketing, sent), minute
        minute += timedelta(minutes=1)
