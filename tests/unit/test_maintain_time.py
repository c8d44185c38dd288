"""Maintain KRs measure time, not run counts (issue 12): weights, caps and the detail people read. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from okrflow.okr_model.config import Config
from okrflow.okr_model.maintain import format_span, held_detail, standing_cap, weight_now
from okrflow.okr_model.schedule import Schedule
from okrflow.okr_model.scoring import score_key_result


def config(schedule: str = "*/15 * * * *", max_age: str | None = None, timezone: str = "UTC") -> Config:
    metric = {"source": "db", **({"max_age": max_age} if max_age else {})}
    return Config.model_validate(
        {
            "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "schedule": schedule,
            "timezone": timezone,
            "sources": {"db": {"type": "sql"}},
            "objectives": [
                {
                    "id": "o",
                    "title": "t",
                    "key_results": [{"id": "uptime", "kind": "maintain_above", "target": 99.5, "metric": metric}],
                }
            ],
        }
    )


def uptime(c: Config):
    return c.key_result("uptime")[1]


@pytest.mark.parametrize(
    ("schedule", "max_age", "cap"),
    [
        ("*/15 * * * *", None, timedelta(minutes=15)),
        ("@daily", None, timedelta(days=1)),
        ("@every 10m", None, timedelta(minutes=10)),
        ("0 9 * * 1-5", None, timedelta(days=3)),  # Friday 09:00 stands until Monday 09:00
        ("*/15 * * * *", "2h", timedelta(hours=2)),  # max_age wins
    ],
)
def test_a_measurement_stands_at_most_for_max_age_or_the_schedule_interval(schedule, max_age, cap) -> None:
    c = config(schedule, max_age)
    assert standing_cap(c, uptime(c)) == cap


def test_a_cron_gap_counts_real_time_across_dst() -> None:
    """Daily at 01:30 in Los Angeles: the night of the change (2026-11-01) is 25 hours."""
    start = datetime(2026, 10, 1, 7, tzinfo=UTC)
    assert Schedule.parse("30 1 * * *", "America/Los_Angeles").longest_gap(start) == timedelta(hours=25)


def test_the_newest_measurement_never_stands_past_the_cycle_end() -> None:
    c = config("@daily")
    end = datetime(2027, 1, 1, tzinfo=UTC)
    assert weight_now(c, uptime(c), end - timedelta(hours=2)) == 7200
    assert weight_now(c, uptime(c), datetime(2026, 11, 1, tzinfo=UTC)) == 86400


def test_the_newest_measurement_stands_until_the_next_scheduled_run_not_max_age() -> None:
    """With 15-minute runs and max_age 2h an earlier value may stand 2 h (a run was missed), but the newest one
    is expected to be replaced in 15 minutes: weighing it 2 h would count one breach as eight runs."""
    c = config("*/15 * * * *", max_age="2h")
    assert standing_cap(c, uptime(c)) == timedelta(hours=2)
    assert weight_now(c, uptime(c), datetime(2026, 11, 1, tzinfo=UTC)) == 900
    assert weight_now(config("@daily", max_age="2h"), uptime(c), datetime(2026, 11, 1, tzinfo=UTC)) == 7200


def test_two_degraded_runs_14_s_apart_weigh_14_s_not_two_days() -> None:
    """Ten daily runs held (10 days), then a manual degraded run stood 14 s until the next one: the current
    degraded measurement stands for one schedule interval (a day). Runs would say 10/12; time says ~10/11."""
    c = config("@daily")
    kr = uptime(c)
    day = 86400.0
    earlier = (10 * day, 10 * day + 14)  # held 10 days; the first degraded run stood 14 s
    result = score_key_result(kr, 98.0, [98.0], earlier=earlier, weight=day)
    assert result.score == pytest.approx(10 * day / (11 * day + 14))
    assert result.score > 0.9 > 10 / 12


def test_with_a_regular_schedule_time_share_equals_run_share() -> None:
    c = config("*/15 * * * *")
    step = 900.0
    result = score_key_result(uptime(c), 99.9, [99.9], earlier=(3 * step, 4 * step), weight=step)
    assert result.score == pytest.approx(4 / 5)


def test_the_first_measurement_of_a_cycle_scores_1_or_0() -> None:
    c = config()
    assert score_key_result(uptime(c), 99.9, [99.9], weight=0.0).score == 1.0
    assert score_key_result(uptime(c), 90.0, [90.0], weight=900.0).score == 0.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(14, "14 s"), (60, "1 min"), (7800, "2 h 10 min"), (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"), (0.4, "0 s")],
)
def test_spans_read_like_people_write_them(seconds: float, text: str) -> None:
    assert format_span(seconds) == text


def test_the_detail_says_how_much_of_the_time_it_held() -> None:
    total = 80 * 3600.0
    held = total - 7800
    assert held_detail(held, total) == "held 97.3% of the time so far (breached 2 h 10 min)"
    assert held_detail(total, total) == "held 100.0% of the time so far"
    assert held_detail(0, 0) == ""


def test_catch_up_walks_a_macro_schedule_too() -> None:
    """Sibling of the cap's schedule reading: cronsim knows no @daily, so catch-up crashed on it."""
    from okrflow.flows.catchup import scheduled_slots

    slots = scheduled_slots(config("@daily"), datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC))
    assert slots == [datetime(2026, 10, d, tzinfo=UTC) for d in (2, 3)]
