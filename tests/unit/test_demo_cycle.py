"""`okrflow demo` works on any date: it evaluates the example with its cycle set around now, not the example's
fixed 2026-Q4 (a run outside the config's cycle is refused). The clock is injected: no Prometheus, no real now."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from okrflow.connectors.registry import default_registry
from okrflow.okr_model.cycles import check_in_cycle
from okrflow.okr_model.loader import load_config

from okrflow.demo import DEMO_CONFIG_NAME, EXAMPLE_CONFIG, demo_config_text, demo_cycle, demo_slots, write_demo_config

DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2199, 12, 31))


@given(today=DATES)
def test_the_demo_cycle_holds_today_with_two_weeks_of_history_behind_it(today: date) -> None:
    name, start, end = demo_cycle(today)
    assert start <= today <= end and name
    assert (today - start).days >= 14  # the demo's first slot lies a week into the cycle, before now
    assert (end - start).days + 1 >= 13 * 7 - 1  # a quarter (90 days at least) or 13 weeks


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 12, 7), ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))),
        (date(2027, 2, 15), ("2027-Q1", date(2027, 1, 1), date(2027, 3, 31))),
        (date(2027, 1, 15), ("2027-Q1", date(2027, 1, 1), date(2027, 3, 31))),  # 14 days in: the quarter
        (date(2027, 1, 2), ("2027-Q1-demo-13w", date(2026, 11, 1), date(2027, 1, 30))),  # 13 weeks, 4 after today
        (date(2027, 1, 1), ("2027-Q1-demo-13w", date(2026, 10, 31), date(2027, 1, 29))),
    ],
)
def test_the_current_quarter_unless_it_has_just_begun(today: date, expected: tuple[str, date, date]) -> None:
    assert demo_cycle(today) == expected


NOWS = [
    datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
    datetime(2027, 1, 1, 0, 0, tzinfo=UTC),  # the first instant of a quarter
    datetime(2027, 1, 2, 10, 0, tzinfo=UTC),  # two days into a quarter
    datetime(2027, 2, 15, 10, 0, tzinfo=UTC),
    datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC),  # the last second of a quarter
]


@pytest.mark.parametrize("now", NOWS, ids=lambda n: n.isoformat())
def test_the_demo_config_holds_now_and_every_demo_slot(tmp_path: Path, now: datetime) -> None:
    path = write_demo_config(tmp_path, now)
    assert path == tmp_path / DEMO_CONFIG_NAME
    config = load_config(path, default_registry())
    start, end = config.cycle_bounds()
    slots = demo_slots(start, end, now, runs=8)
    assert slots == sorted(set(slots)) and len(slots) == 8
    assert slots[0] == start + timedelta(days=7) and now - timedelta(seconds=1) <= slots[-1] <= now
    for slot in [*slots, now]:
        check_in_cycle(config, slot)  # raises OutsideCycle on the example's fixed 2026-Q4 from 2027 on
    # the store and the sources' defaults are the demo world's files, next to the copy (any work folder's name)
    assert config.store == f"sqlite:///{tmp_path / 'okrflow.db'}"
    assert config.cycle.start <= now.date() <= config.cycle.end


def test_the_example_config_is_outside_2027_so_the_demo_must_not_evaluate_it_as_is() -> None:
    """Why the copy exists: the packaged example's cycle is fixed (the shipped file keeps its dates)."""
    from okrflow.okr_model.cycles import OutsideCycle

    with pytest.raises(OutsideCycle, match="ended on 2026-12-31"):
        check_in_cycle(load_config(EXAMPLE_CONFIG, default_registry()), datetime(2027, 2, 15, 10, tzinfo=UTC))


def test_only_the_cycle_and_the_demo_world_paths_change() -> None:
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = demo_config_text(example, date(2027, 2, 15))
    before, after = yaml.safe_load(example), yaml.safe_load(text)
    assert after["cycle"] == {
        "name": "2027-Q1",
        "start": date(2027, 1, 1),
        "end": date(2027, 3, 31),
        "review": date(2027, 2, 14),
    }
    assert after["store"] == "sqlite:///okrflow.db"
    assert after["sources"]["warehouse"]["url"] == "${WAREHOUSE_URL:-sqlite:///warehouse.db}"
    assert after["sources"]["tracking"]["tracking_uri"] == "${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}"
    for key in set(before) | set(after):
        if key not in ("cycle", "store", "sources"):
            assert after.get(key) == before.get(key), key
    assert after["sources"]["quality"] == before["sources"]["quality"]
    assert after["sources"]["prom"] == before["sources"]["prom"]
    assert example.count("\n") + 2 == text.count("\n")  # comments kept: two header lines added, nothing dropped


def test_a_config_without_a_one_line_cycle_is_refused_not_silently_left_at_its_dates() -> None:
    with pytest.raises(ValueError, match="exactly one one-line 'cycle"):
        demo_config_text("version: 1\ncycle:\n  name: q\n", date(2027, 2, 15))


def test_today_is_read_in_the_configs_time_zone() -> None:
    """23:30 UTC on 31 March is already 1 April in Auckland: the example is UTC, so the quarter is Q1."""
    late = datetime.combine(date(2027, 3, 31), time(23, 30), UTC)
    assert "name: 2027-Q1," in write_text_of(late)


def write_text_of(now: datetime) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return write_demo_config(Path(folder), now).read_text(encoding="utf-8")
