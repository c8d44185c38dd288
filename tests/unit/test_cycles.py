"""A cycle's edges (issue 12, "Cycles have edges"): refused slots, naive times in the config's zone, DST lengths."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from okrflow.okr_model.config import Config, Cycle
from okrflow.okr_model.cycles import OutsideCycle, check_in_cycle, describe_instant, read_instant
from okrflow.okr_model.pacing import elapsed_share

LA = ZoneInfo("America/Los_Angeles")


def config(timezone: str = "America/Los_Angeles") -> Config:
    return Config.model_validate(
        {
            "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "timezone": timezone,
            "objectives": [{"id": "o", "title": "t"}],
        }
    )


def test_a_quarter_across_the_dst_change_counts_real_time() -> None:
    """Q4 in Los Angeles is 92 days and one hour long (PDT -> PST on 2026-11-01)."""
    start, end = Cycle(name="q", start=date(2026, 10, 1), end=date(2026, 12, 31)).bounds(LA)
    assert end - start == timedelta(days=92, hours=1)
    assert start == datetime(2026, 10, 1, 7, tzinfo=UTC) and end == datetime(2027, 1, 1, 8, tzinfo=UTC)
    assert elapsed_share(start, end, end - timedelta(minutes=30)) < 1.0, "half an hour before the end is not the end"


def test_a_naive_time_is_read_in_the_config_time_zone() -> None:
    at = read_instant(datetime(2026, 10, 1), LA)
    assert at == datetime(2026, 10, 1, 7, tzinfo=UTC)
    assert describe_instant(at, LA) == "2026-10-01T00:00:00-07:00 (2026-10-01T07:00:00Z)"
    assert read_instant(datetime(2026, 10, 1, tzinfo=UTC), LA) == datetime(2026, 10, 1, tzinfo=UTC), "aware stays"


@pytest.mark.parametrize(
    "slot",
    [
        datetime(2026, 9, 20, 7, tzinfo=UTC),
        datetime(2026, 10, 1, 6, 59, 59, tzinfo=UTC),  # 23:59:59 on Sep 30 in Los Angeles
    ],
)
def test_a_slot_before_the_cycle_is_refused(slot: datetime) -> None:
    with pytest.raises(OutsideCycle, match="is before cycle 2026-Q4, which starts on 2026-10-01"):
        check_in_cycle(config(), slot)


@pytest.mark.parametrize("slot", [datetime(2027, 1, 1, 8, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC)])
def test_a_slot_after_the_end_is_refused_and_the_result_is_frozen(slot: datetime) -> None:
    with pytest.raises(OutsideCycle, match=r"cycle 2026-Q4 ended on 2026-12-31 .*its result is frozen"):
        check_in_cycle(config(), slot)


@pytest.mark.parametrize(
    "slot",
    [
        datetime(2026, 10, 1, 7, tzinfo=UTC),  # the first second, local midnight
        datetime(2027, 1, 1, 7, 59, 59, tzinfo=UTC),  # the last second: 23:59:59 PST on Dec 31
    ],
)
def test_the_cycle_edges_themselves_are_inside(slot: datetime) -> None:
    check_in_cycle(config(), slot)
