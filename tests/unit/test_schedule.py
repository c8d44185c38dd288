"""The one schedule module (issue 14): validation, slots across DST, intervals, and what Prefect is given.

Config validation, catch-up, maintain time, the Alertmanager lease and ``okrflow serve`` all read the schedule
through ``okr_model.schedule``, so a schedule that validates is one every reader can walk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from okrflow.flows.catchup import scheduled_slots
from okrflow.okr_model.config import Config
from okrflow.okr_model.schedule import Schedule
from pydantic import ValidationError

PARIS = ZoneInfo("Europe/Paris")


def config(schedule: str, timezone: str = "UTC") -> Config:
    return Config.model_validate(
        {
            "cycle": {"name": "Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "schedule": schedule,
            "timezone": timezone,
            "objectives": [{"id": "o", "title": "t"}],
        }
    )


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "expected a 5-field cron"),
        ("61 * * * *", "'61 * * * *': minute '61' is not in 0-59"),
        ("0 0 * 13 *", "month '13' is not in 1-12 or jan..dec"),
        ("0 0 * * sun-funday", "day of week 'funday' is not in 0-7 or sun..sat"),
        ("*/0 * * * *", "expected *, N, N-M or */STEP"),
        ("0 0 31 2 *", "day of month field '31' never matches"),  # validated before, then crashed every reader
        ("5-1 * * * *", "minute field '5-1' never matches"),
        ("@every 1.5s", "whole number of seconds"),
        ("@every 0s", "at least 1s"),
        ("@every soon", "expected @every DURATION"),
        ("@fortnightly", "expected a 5-field cron"),
    ],
)
def test_a_bad_schedule_is_a_config_error_that_says_what_is_expected(schedule: str, message: str) -> None:
    with pytest.raises(ValidationError, match="schedule") as info:
        config(schedule)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("written", "kept", "cron", "interval"),
    [
        ("*/15 * * * *", "*/15 * * * *", "*/15 * * * *", None),
        ("  0  9 * *   mon-fri ", "0 9 * * mon-fri", "0 9 * * mon-fri", None),
        ("@daily", "@daily", "0 0 * * *", None),
        ("@HOURLY", "@HOURLY", "0 * * * *", None),
        ("0 0 L * *", "0 0 L * *", "0 0 L * *", None),  # cronsim (and Prefect's croniter) read L
        ("@every 30s", "@every 30s", None, timedelta(seconds=30)),
        ("@every 2h", "@every 2h", None, timedelta(hours=2)),
    ],
)
def test_a_valid_schedule_gives_its_cron_or_its_interval(written, kept, cron, interval) -> None:
    parsed = config(written).parsed_schedule
    assert (parsed.text, parsed.cron, parsed.interval) == (kept, cron, interval)


def test_cron_slots_follow_the_zone_across_dst() -> None:
    """Daily 02:30 in Paris: the spring-forward night has no 02:30 (cron runs it at 03:00), and the slots keep
    their local hour on both sides of the change."""
    schedule = Schedule.parse("30 2 * * *", "Europe/Paris")
    slots = schedule.slots(datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert [slot.astimezone(PARIS).strftime("%d %H:%M %z") for slot in slots] == [
        "27 02:30 +0100",
        "28 02:30 +0100",
        "29 03:00 +0200",
        "30 02:30 +0200",
    ]


def test_every_day_keeps_its_wall_clock_hour_across_dst_and_every_hour_counts_real_time() -> None:
    """As Prefect's Interval lays out slots in a zone: whole days on the wall clock, hours in real time."""
    daily = Schedule.parse("@every 1d", "Europe/Paris")
    days = daily.slots(datetime(2026, 10, 23, 12, tzinfo=UTC), datetime(2026, 10, 27, 12, tzinfo=UTC))
    assert [slot.astimezone(PARIS).strftime("%d %H:%M") for slot in days] == [
        "24 00:00",
        "25 00:00",
        "26 00:00",
        "27 00:00",
    ]
    assert days[2] - days[1] == timedelta(hours=25)  # the fall-back night is 25 real hours
    hourly = Schedule.parse("@every 1h", "Europe/Paris")
    hours = hourly.slots(datetime(2026, 10, 24, 23, 30, tzinfo=UTC), datetime(2026, 10, 25, 2, 30, tzinfo=UTC))
    assert [slot.astimezone(UTC).hour for slot in hours] == [0, 1, 2]  # 02:00 local twice, an hour apart
    assert [slot.astimezone(PARIS).strftime("%H:%M %z") for slot in hours] == [
        "02:00 +0200",
        "02:00 +0100",
        "03:00 +0100",
    ]


def test_every_slots_sit_on_the_anchor_whatever_the_catch_up_starts_from() -> None:
    """Catch-up asks for the slots after (last run - 1 µs); before, ``@every`` slots were counted from there,
    so each fell 1 µs before the slot ``okrflow serve`` ran and no run was ever found for it."""
    slot = datetime(2026, 11, 2, 10, 20, tzinfo=UTC)
    slots = scheduled_slots(config("@every 20m"), slot - timedelta(microseconds=1), slot + timedelta(hours=1))
    assert slots == [slot + timedelta(minutes=m) for m in (0, 20, 40)]


@given(
    seconds=st.integers(min_value=1, max_value=3 * 86400),
    after=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)),
)
def test_every_slots_are_whole_intervals_from_the_anchor(seconds: int, after: datetime) -> None:
    """Below a day each slot is a whole number of intervals (real time) from the anchor, the first after ``after``."""
    if seconds % 86400 == 0:
        seconds += 1  # whole days count on the wall clock; UTC has no DST but keep this property about real time
    schedule = Schedule.parse(f"@every {seconds}s")
    first, second = schedule.slots(after, after + timedelta(seconds=2 * seconds + 1), limit=2)
    assert first > after >= first - timedelta(seconds=seconds)
    assert (first - schedule.anchor).total_seconds() % seconds == 0
    assert second - first == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("schedule", "timezone", "gap"),
    [
        ("*/15 * * * *", "UTC", timedelta(minutes=15)),
        ("@every 10m", "UTC", timedelta(minutes=10)),
        ("0 9 * * 1-5", "UTC", timedelta(days=3)),
        ("30 1 * * *", "America/Los_Angeles", timedelta(hours=25)),  # the fall-back night, in real time
    ],
)
def test_the_longest_gap_is_the_interval_or_the_widest_cron_gap(schedule, timezone, gap) -> None:
    assert Schedule.parse(schedule, timezone).longest_gap(datetime(2026, 10, 1, tzinfo=UTC)) == gap


def test_prefect_gets_the_cron_the_module_reads_and_the_anchored_interval() -> None:
    from okrflow.flows.deploy import schedule_kwargs

    cron = schedule_kwargs(config("@weekly", "Europe/Paris"))["schedule"]
    assert (cron.cron, cron.timezone) == ("0 0 * * 0", "Europe/Paris")
    every = schedule_kwargs(config("@every 20m", "Europe/Paris"))["schedule"]
    assert every.interval == timedelta(minutes=20)
    assert every.anchor_date == config("@every 20m", "Europe/Paris").parsed_schedule.anchor
