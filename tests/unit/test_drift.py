"""Drift on synthetic metric series: max_drop against a window, Page-Hinkley and CUSUM for slow slides."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from okrflow.okr_model.config import DEFAULT_DRIFT, Config, DriftRule
from okrflow.okr_model.drift import SLIDE_BOUND_RUNS, DriftResult, check_drift, cusum, detector_scale, page_hinkley
from pydantic import ValidationError

PROPERTY = settings(max_examples=150, deadline=None)
T0 = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)
DETECTORS = ["page_hinkley", "cusum"]


def series(values: Sequence[float], step: timedelta = DAY, start: datetime = T0) -> list[tuple[datetime, float]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


def rule(**fields: Any) -> DriftRule:
    return DriftRule.model_validate(fields)


def first_firing(values: Sequence[float], drift: DriftRule, direction: str = "up") -> tuple[int, DriftResult] | None:
    """Evaluate run after run as the pipeline does; the first run (1-based) that drifts, and its result."""
    points = series(values)
    for n in range(1, len(points) + 1):
        result = check_drift(points[:n], drift, direction)  # type: ignore[arg-type]
        if result is not None:
            return n, result
    return None


# -- max_drop ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("latest", "fires"), [(0.86, True), (0.88, False), (0.87, False), (0.8699, True)])
def test_an_accuracy_drop_of_more_than_3_points_fires_at_once(latest: float, fires: bool) -> None:
    """max_drop 0.03: 4 points fire, 2 do not, exactly 3 do not ("greater than 3 points")."""
    result = check_drift(series([0.9] * 7 + [latest]), rule(max_drop=0.03), "up", name="accuracy")
    assert (result is not None) == fires
    if fires:
        assert result is not None and result.rule == "max_drop"
        assert result.reference == pytest.approx(0.9) and result.latest == latest
        assert result.change == pytest.approx(latest - 0.9) and result.at == T0 + 7 * DAY


def test_description_reads_like_a_sentence() -> None:
    result = check_drift(series([0.84, 0.85, 0.804]), rule(max_drop=0.03), "up", name="f1")
    assert result is not None
    assert result.description == "f1 dropped 0.041 (4.9%) below its 7-day mean 0.845"
    assert result.as_dict() == {
        "rule": "max_drop",
        "at": (T0 + 2 * DAY).isoformat(),
        "latest": 0.804,
        "reference": pytest.approx(0.845),
        "change": pytest.approx(-0.041),
        "description": result.description,
        "runs": None,
    }


def test_an_improvement_never_fires() -> None:
    assert check_drift(series([0.8] * 5 + [0.95]), rule(max_drop=0.03), "up") is None


@pytest.mark.parametrize(("latest", "fires"), [(188.0, True), (192.0, False)])
def test_relative_drop_is_a_share_of_the_reference(latest: float, fires: bool) -> None:
    """Requests per second around 200; relative max_drop 5%: -6% fires, -4% does not."""
    result = check_drift(series([200.0] * 6 + [latest]), rule(max_drop=0.05, relative=True), "up", name="rps")
    assert (result is not None) == fires
    if result is not None:
        assert result.description == "rps dropped 12 (6.0%) below its 7-day mean 200"


def test_relative_drop_cannot_judge_a_zero_reference() -> None:
    assert check_drift(series([0.0] * 5 + [-3.0]), rule(max_drop=0.05, relative=True), "up") is None
    assert check_drift(series([0.0] * 5 + [-3.0]), rule(max_drop=0.05), "up") is not None, "absolute still judges"


def test_reference_best_compares_with_the_best_run_of_the_window() -> None:
    values = [0.85, 0.92, 0.88, 0.885]  # mean of the window 0.883: no drop; best 0.92: a 0.035 drop
    assert check_drift(series(values), rule(max_drop=0.03), "up") is None
    result = check_drift(series(values), rule(max_drop=0.03, reference="best"), "up", name="f1")
    assert result is not None and result.reference == 0.92
    assert result.description == "f1 dropped 0.035 (3.8%) below its 7-day best 0.92"


@pytest.mark.parametrize(
    ("latest", "reference", "fires"),
    [(0.22, "mean", True), (0.14, "mean", False), (0.195, "best", True), (0.185, "best", False)],
)
def test_for_a_down_kr_a_rise_is_the_drop(latest: float, reference: str, fires: bool) -> None:
    """P95 latency in seconds (maintain_below): rising by more than 30 ms fires, falling never does."""
    history = [0.18, 0.16, 0.19, 0.17]  # mean 0.175, best (lowest) 0.16
    result = check_drift(series([*history, latest]), rule(max_drop=0.03, reference=reference), "down", name="p95")
    assert (result is not None) == fires
    if result is not None and reference == "mean":
        assert result.description == "p95 rose 0.045 (25.7%) above its 7-day mean 0.175"
        assert result.change == pytest.approx(0.045)


def test_the_window_excludes_old_points() -> None:
    old = series([0.97] * 5, start=T0)  # a better model, retired weeks ago
    recent = series([0.90] * 6 + [0.89], start=T0 + 20 * DAY)
    assert check_drift(old + recent, rule(max_drop=0.03), "up") is None, "0.89 vs the 7-day mean 0.90"
    fired = check_drift(old + recent, rule(max_drop=0.03, window="30d"), "up")
    assert fired is not None and fired.reference == pytest.approx((0.97 * 5 + 0.90 * 6) / 11)
    assert "30-day mean" in fired.description


def test_window_label_in_hours() -> None:
    points = series([0.9] * 4 + [0.8], step=timedelta(minutes=15))
    result = check_drift(points, rule(max_drop=0.03, window="6h"), "up", name="f1")
    assert result is not None and "its 6-hour mean 0.9" in result.description


def test_no_reference_in_the_window_means_no_judgement() -> None:
    points = [(T0, 0.95), (T0 + 30 * DAY, 0.5)]
    assert check_drift(points, rule(max_drop=0.03), "up") is None


@pytest.mark.parametrize("points", [[], [(T0, 0.9)], [(T0, math.nan), (T0 + DAY, 0.5)]])
def test_empty_or_short_series_never_drift(points: list[tuple[datetime, float]]) -> None:
    assert check_drift(points, rule(max_drop=0.03, detector="cusum"), "up") is None


def test_gaps_are_not_drops() -> None:
    """Runs without data are absent from the series (or NaN); the days around a 5-day outage are steady."""
    days = [0, 1, 2, 3, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    points = [(T0 + d * DAY, 0.9) for d in days]
    drift = rule(max_drop=0.03, detector="cusum", min_samples=3)
    assert all(check_drift(points[:n], drift, "up") is None for n in range(1, len(points) + 1))
    with_nan = [*points[:4], (T0 + 5 * DAY, math.nan), (T0 + 6 * DAY, math.inf), *points[4:]]
    assert all(check_drift(with_nan[:n], drift, "up") is None for n in range(1, len(with_nan) + 1))
    dropped = [*with_nan, (T0 + 20 * DAY, 0.85)]
    assert check_drift(dropped, drift, "up") == check_drift([*points, (T0 + 20 * DAY, 0.85)], drift, "up")


def test_any_real_number_counts_and_non_numbers_do_not() -> None:
    """Values straight from a store: Decimal and int are numbers; None, a bool or text are no measurement."""
    plain = series([0.9, 0.9, 0.9, 0.85])
    mixed: list[tuple[datetime, Any]] = [
        (plain[0][0], Decimal("0.9")),
        (T0 + DAY / 2, None),
        (plain[1][0], 0.9),
        (T0 + DAY * 1.5, True),
        (plain[2][0], Decimal("0.90")),
        (T0 + DAY * 2.5, "n/a"),
        (plain[3][0], Decimal("0.85")),
    ]
    expected = check_drift(plain, rule(max_drop=0.03), "up")
    assert expected is not None
    assert check_drift(mixed, rule(max_drop=0.03), "up") == expected
    assert check_drift([(T0, 1), (T0 + DAY, 0)], rule(max_drop=0.5), "up") is not None


def test_the_series_is_read_in_time_order() -> None:
    points = series([0.9, 0.91, 0.89, 0.9, 0.85])
    shuffled = [points[3], points[4], points[0], points[2], points[1]]
    assert check_drift(shuffled, rule(max_drop=0.03), "up") == check_drift(points, rule(max_drop=0.03), "up")
    assert check_drift(shuffled, rule(max_drop=0.03), "up") is not None


# -- sequential detectors ------------------------------------------------------------------------------------------


def test_page_hinkley_by_hand() -> None:
    # means 0, 0, 1/3; cumulative 0, 0, 2/3 (delta 0): the minimum 0 was last seen at index 1
    alarm = page_hinkley([0.0, 0.0, 1.0], delta=0.0, threshold=0.5, min_samples=2)
    assert alarm is not None
    assert (alarm.statistic, alarm.fired, alarm.start) == (pytest.approx(2 / 3), True, 2)
    assert page_hinkley([0.0, 0.0, 1.0], delta=0.0, threshold=0.7, min_samples=2).fired is False  # type: ignore[union-attr]
    assert page_hinkley([0.0, 0.0, 1.0], delta=0.0, threshold=0.5, min_samples=3) is None, "still warming up"


def test_cusum_by_hand() -> None:
    # baseline 0 (first two); S = 0.75, 1.5
    alarm = cusum([0.0, 0.0, 1.0, 1.0], delta=0.25, threshold=1.0, min_samples=2)
    assert alarm is not None and (alarm.statistic, alarm.fired, alarm.start) == (1.5, True, 2)
    back = cusum([0.0, 0.0, 1.0, 1.0, -2.0, 0.5], delta=0.25, threshold=1.0, min_samples=2)
    assert back is not None and (back.statistic, back.fired, back.start) == (0.25, False, 5)
    at_threshold = cusum([0.0, 0.0, 1.0], delta=0.25, threshold=0.75, min_samples=2)
    assert at_threshold is not None and at_threshold.fired is False, "fires above the threshold, not at it"


def test_detector_scale_follows_max_drop_unless_set() -> None:
    assert detector_scale(rule(max_drop=0.03, detector="cusum")) == pytest.approx((0.0075, 0.06))
    assert detector_scale(rule(max_drop=0.03, detector="cusum", delta=0.01, threshold=0.1)) == (0.01, 0.1)
    assert detector_scale(rule(detector="page_hinkley", threshold=0.08)) == pytest.approx((0.01, 0.08))
    assert detector_scale(rule()) is None


def test_a_detector_without_a_scale_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="detector page_hinkley needs a scale: set max_drop"):
        rule(detector="page_hinkley", max_drop=None)
    assert rule(detector="page_hinkley").max_drop is None, "unset: the defaults' (or the built-in 3%) applies"
    with pytest.raises(ValidationError, match="min_samples"):
        rule(max_drop=0.03, detector="cusum", min_samples=1)
    assert rule().min_samples == 10 and rule().delta is None and rule().threshold is None


def slide(noise_sd: float, seed: int = 0) -> list[float]:
    """30 steady daily runs at 0.90, then -0.004 per run."""
    rng = random.Random(seed)
    steady = [0.90 + rng.gauss(0, noise_sd) for _ in range(30)]
    return steady + [0.90 - 0.004 * j + rng.gauss(0, noise_sd) for j in range(1, 41)]


@pytest.mark.parametrize(("detector", "noise_free_run"), [("page_hinkley", 8), ("cusum", 7)])
def test_a_slow_slide_is_caught_by_the_detector_within_the_documented_bound(detector: str, noise_free_run: int) -> None:
    values = slide(noise_sd=0.0)
    assert max(abs(b - a) for a, b in itertools.pairwise(values)) < 0.03 / 7, "each step far under max_drop"
    assert first_firing(values, rule(max_drop=0.03)) is None, "max_drop alone never sees it: the window follows"
    found = first_firing(values, rule(max_drop=0.03, detector=detector))
    assert found is not None
    run, result = found
    assert (run - 30, result.rule) == (noise_free_run, detector), "the numbers in okr_model.drift's docstring"
    assert result.description.startswith(
        f"value: slow slide detected by {'Page-Hinkley' if detector == 'page_hinkley' else 'CUSUM'} after"
    )
    assert result.runs is not None and 1 <= result.runs <= noise_free_run
    assert result.reference == pytest.approx(0.9, abs=0.001) and result.change < -0.02


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("seed", range(5))
def test_a_noisy_slow_slide_is_caught_within_bound(detector: str, seed: int) -> None:
    found = first_firing(slide(noise_sd=0.002, seed=seed), rule(max_drop=0.03, detector=detector))
    assert found is not None
    run, result = found
    assert result.rule == detector, "the detector, not max_drop, catches the slide"
    assert 30 < run <= 30 + SLIDE_BOUND_RUNS, f"fired on run {run - 30} of the slide"


def noise(n: int, sd: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [0.9 + rng.gauss(0, sd) for _ in range(n)]


@pytest.mark.parametrize("detector", DETECTORS)
def test_noise_alone_does_not_fire_in_1000_runs(detector: str) -> None:
    values = noise(1000, sd=0.005, seed=2026)
    points = series(values, step=timedelta(hours=1))
    drift = rule(max_drop=0.03, detector=detector)
    fired = [n for n in range(1, len(points) + 1) if check_drift(points[:n], drift, "up") is not None]
    assert fired == []
    touchy = rule(max_drop=0.03, detector=detector, delta=0.0, threshold=0.01)  # the test has teeth
    assert first_firing(values[:200], touchy) is not None


def test_a_lasting_step_under_max_drop_cusum_keeps_firing_page_hinkley_settles() -> None:
    values = [0.90] * 30 + [0.88] * 300  # a 0.02 step: under max_drop 0.03
    bound = math.ceil(0.06 / (0.02 - 0.0075)) + 1
    found = first_firing(values, rule(max_drop=0.03, detector="cusum"))
    assert found is not None and found[0] - 30 <= bound and found[0] - 30 == 5
    points = series(values)
    assert check_drift(points, rule(max_drop=0.03, detector="cusum"), "up") is not None, "fixed baseline: still firing"
    ph = rule(max_drop=0.03, detector="page_hinkley")
    assert check_drift(points[:40], ph, "up") is not None
    assert check_drift(points, ph, "up") is None, "its running mean absorbed the new level"


@pytest.mark.parametrize("detector", DETECTORS)
def test_latency_creeping_up_fires_creeping_down_does_not(detector: str) -> None:
    up = [0.150] * 20 + [0.150 + 0.002 * j for j in range(1, 31)]  # P95 in seconds, +2 ms a run
    down = [0.150] * 20 + [0.150 - 0.002 * j for j in range(1, 31)]
    drift = rule(max_drop=0.015, detector=detector)
    found = first_firing(up, drift, "down")
    assert found is not None and found[1].rule == detector and found[1].change > 0
    assert "up from 0.15" in found[1].description
    assert first_firing(down, drift, "down") is None


@pytest.mark.parametrize("detector", DETECTORS)
def test_relative_detector_is_blind_to_units(detector: str) -> None:
    """The same slide in [0, 1] and in percent fires on the same run with relative: true."""
    values = slide(noise_sd=0.002, seed=4)
    drift = rule(max_drop=0.03 / 0.9, relative=True, detector=detector)
    as_share = first_firing(values, drift)
    as_percent = first_firing([100 * v for v in values], drift)
    assert as_share is not None and as_percent is not None
    assert as_share[0] == as_percent[0] and as_share[1].rule == as_percent[1].rule == detector
    zero_level = [0.0] * 10 + [-0.5 * j for j in range(1, 10)]
    assert first_firing(zero_level, rule(threshold=0.1, relative=True, detector=detector)) is None


def test_max_drop_is_reported_before_the_detector() -> None:
    values = [0.9] * 20 + [0.8] * 5
    result = check_drift(series(values), rule(max_drop=0.03, detector="cusum", window="2d"), "up")
    assert result is not None and result.rule == "cusum", "the 2-day window already holds the new level"
    first = check_drift(series(values[:21]), rule(max_drop=0.03, detector="cusum"), "up")
    assert first is not None and first.rule == "max_drop"


def test_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="direction"):
        check_drift(series([0.9, 0.8]), rule(max_drop=0.03), "sideways")  # type: ignore[arg-type]


# -- properties ----------------------------------------------------------------------------------------------------


metric = st.floats(-1000, 1000, allow_nan=False)
rules = st.builds(
    DriftRule,
    max_drop=st.floats(0.001, 50),
    relative=st.booleans(),
    reference=st.sampled_from(["mean", "best"]),
    window=st.sampled_from([timedelta(days=3), timedelta(days=7)]),
    detector=st.sampled_from([None, "page_hinkley", "cusum"]),
    min_samples=st.integers(2, 8),
)


@PROPERTY
@given(values=st.lists(metric, max_size=30), drift=rules)
def test_up_and_down_are_mirror_images(values: list[float], drift: DriftRule) -> None:
    up = check_drift(series(values), drift, "up")
    down = check_drift(series([-v for v in values]), drift, "down")
    assert (up is None) == (down is None)
    if up is not None and down is not None:
        assert (up.rule, up.runs) == (down.rule, down.runs)
        assert up.change == pytest.approx(-down.change)


@PROPERTY
@given(values=st.lists(metric, min_size=2, max_size=30), drift=rules, gain=st.floats(0, 100))
def test_a_better_latest_value_never_fires_max_drop_that_a_worse_one_did_not(
    values: list[float], drift: DriftRule, gain: float
) -> None:
    worse = check_drift(series(values), drift, "up")
    better = check_drift(series([*values[:-1], values[-1] + gain]), drift, "up")
    if better is not None and better.rule == "max_drop":
        assert worse is not None and worse.rule == "max_drop"


# -- issue 13: relative limits, field-by-field merge, resolving against the level the metric dropped from ----------


def test_max_drop_as_a_percent_is_relative_and_a_plain_number_stays_absolute() -> None:
    assert (rule(max_drop="3%").max_drop, rule(max_drop="3%").relative) == (pytest.approx(0.03), True)
    assert (rule(max_drop=0.03).max_drop, rule(max_drop=0.03).relative) == (0.03, False)
    assert rule(max_drop="2.5 %").max_drop == pytest.approx(0.025)
    with pytest.raises(ValidationError, match="expected a percent"):
        rule(max_drop="3 percent%")
    with pytest.raises(ValidationError, match="is relative"):
        rule(max_drop="3%", relative=False)


def test_the_default_limit_is_relative_so_hours_do_not_drift_on_a_few_minutes() -> None:
    """Issue 13: resolution time 3.00 h -> 3.05 h fired with the absolute default 0.03; 3% of 3 h is 0.09 h."""
    hours = series([3.00] * 7 + [3.05])
    assert check_drift(hours, DEFAULT_DRIFT, "down") is None
    assert check_drift(series([3.00] * 7 + [3.10]), DEFAULT_DRIFT, "down") is not None
    assert check_drift(hours, rule(max_drop=0.03), "down") is not None, "absolute stays available as a number"


def test_a_kr_drift_block_overrides_the_defaults_field_by_field() -> None:
    """Issue 13: `drift: {window: 14d}` on a KR silently dropped the defaults' max_drop."""
    config = drift_config(defaults={"max_drop": 0.03, "reference": "best"}, own={"window": "14d"})
    merged = config.drift_rule(config.key_result("f1")[1])
    assert merged is not None
    assert (merged.max_drop, merged.relative, merged.reference, merged.window) == (0.03, False, "best", 14 * DAY)
    assert config.drift_rule(config.key_result("hours")[1]) == rule(max_drop=0.03, reference="best")


def test_a_kr_number_over_a_relative_default_is_absolute_and_a_percent_over_a_number_is_relative() -> None:
    config = drift_config(defaults={"max_drop": "5%"}, own={"max_drop": 0.02})
    assert config.drift_rule(config.key_result("f1")[1]) == rule(max_drop=0.02)
    config = drift_config(defaults={"max_drop": 0.5}, own={"max_drop": "4%"})
    assert config.drift_rule(config.key_result("f1")[1]) == rule(max_drop="4%")
    config = drift_config(defaults={"max_drop": 0.5}, own={"relative": True})
    assert config.drift_rule(config.key_result("f1")[1]) == rule(max_drop=0.5, relative=True)


def test_drift_is_judged_where_a_block_is_written_with_the_default_limit() -> None:
    config = drift_config(defaults=None, own={"detector": "cusum"})
    assert config.drift_rule(config.key_result("f1")[1]) == DEFAULT_DRIFT.model_copy(update={"detector": "cusum"})
    assert config.drift_rule(config.key_result("hours")[1]) is None, "no block anywhere: not judged"
    config = drift_config(defaults={}, own=None)
    assert config.drift_rule(config.key_result("hours")[1]) == DEFAULT_DRIFT
    config = drift_config(defaults={}, own={"max_drop": None})
    assert config.drift_rule(config.key_result("f1")[1]) is None, "max_drop: null switches the KR's drift off"
    with pytest.raises(ValidationError, match=r"f1: its drift block over defaults\.drift: .*needs a scale"):
        drift_config(defaults={"max_drop": None}, own={"detector": "cusum"})


def drift_config(defaults: dict[str, Any] | None, own: dict[str, Any] | None) -> Config:
    f1: dict[str, Any] = {"id": "f1", "kind": "increase", "baseline": 0.8, "target": 0.9, "metric": {"source": "s"}}
    if own is not None:
        f1["drift"] = own
    hours = {"id": "hours", "kind": "decrease", "baseline": 4, "target": 2, "metric": {"source": "s"}}
    data: dict[str, Any] = {
        "cycle": {"name": "Q4", "start": "2026-10-01", "end": "2026-12-31"},
        "objectives": [{"id": "o", "title": "O", "key_results": [f1, hours]}],
    }
    if defaults is not None:
        data["defaults"] = {"drift": defaults}
    return Config.model_validate(data)


def test_a_drop_holds_until_the_value_is_back_within_max_drop_of_the_level_it_dropped_from() -> None:
    """Issue 13: the 7-day mean absorbed the drop and the alert resolved though F1 had not recovered."""
    limit = rule(max_drop=0.03)
    values = [0.90] * 7 + [0.85] * 10  # a lasting drop: after 7 days the window holds only 0.85s
    points = series(values)
    fired = check_drift(points[:8], limit, "up", name="f1")
    assert fired is not None and fired.reference == pytest.approx(0.90)
    assert check_drift(points, limit, "up") is None, "the window alone forgets the drop (what went wrong)"
    held = check_drift(points, limit, "up", name="f1", dropped_from=fired.reference)
    assert held is not None and held.reference == pytest.approx(0.90) and held.latest == pytest.approx(0.85)
    assert "0.9" in held.description and "0.85" in held.description
    partly = series([*values, 0.88])
    assert check_drift(partly, limit, "up", dropped_from=0.90) is None, "0.88 is within 0.03 of 0.90"
    assert check_drift(series([*values, 0.869]), limit, "up", dropped_from=0.90) is not None
    assert check_drift(series([*values, 0.869]), rule(max_drop="4%"), "up", dropped_from=0.90) is None


def test_a_held_drop_of_a_down_metric_mirrors_an_up_one() -> None:
    values = [200.0] * 7 + [240.0] * 10  # latency rose 20% and stayed
    assert check_drift(series(values), rule(max_drop="3%"), "down", dropped_from=200.0) is not None
    assert check_drift(series([*values, 205.0]), rule(max_drop="3%"), "down", dropped_from=200.0) is None
