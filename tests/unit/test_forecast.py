"""End-of-cycle forecast: Theil-Sen trend, its interval, and the forecast's say in a KR's status."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.evaluation import FORECAST_POINTS
from okrflow.okr_model.forecast import (
    JUMP_MIN,
    NOISE_FLOOR,
    Forecast,
    forecast,
    regime_start,
    theil_sen,
)
from okrflow.okr_model.pacing import pace_status
from okrflow.okr_model.status import judge_key_result
from scipy.stats import theilslopes

PROPERTY = settings(max_examples=150, deadline=None)


def line(slope: float, intercept: float, times: list[float]) -> list[tuple[float, float]]:
    return [(t, intercept + slope * t) for t in times]


def least_squares_slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    return sum((t - mt) * (y - my) for t, y in points) / sum((t - mt) ** 2 for t, _ in points)


# -- the trend ----------------------------------------------------------------------------------------------------


def test_a_linear_trend_is_recovered_exactly() -> None:
    points = line(0.6, 0.1, [0.0, 0.1, 0.2, 0.35, 0.5])
    fit = theil_sen(points)
    assert fit is not None
    assert fit.slope == pytest.approx(0.6) and fit.intercept == pytest.approx(0.1)
    fc = forecast(points, end=1.0)
    assert fc is not None
    assert (fc.score, fc.low, fc.high) == pytest.approx((0.7, 0.7 - NOISE_FLOOR, 0.7 + NOISE_FLOOR)), (
        "no scatter, no slope doubt: the interval is the noise floor, never zero wide"
    )
    assert (fc.points, fc.span) == (5, 0.5)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("plateaus", [False, True])
def test_slope_intercept_and_interval_match_scipy(seed: int, plateaus: bool) -> None:
    rng = random.Random(seed)
    n = rng.randint(3, 40)
    digits = rng.choice([1, 2, 6])  # few digits: tied times and tied scores, which Sen's interval corrects for
    points = [(round(rng.random(), digits), round(rng.random(), digits)) for _ in range(n)]
    if plateaus:  # scores stuck at 0, 0.5 or 1 for runs at a time: many ties
        points = [(i / n, rng.choice([0.0, 0.5, 1.0])) for i in range(n)]
    if len({t for t, _ in points}) < 2:
        points.append((1.0, 0.5))
    ours = theil_sen(points, level=0.8)
    ref = theilslopes([y for _, y in points], [t for t, _ in points], alpha=0.8, method="joint")
    assert ours is not None
    assert ours.slope == pytest.approx(ref.slope, abs=1e-12)
    assert ours.intercept == pytest.approx(ref.intercept, abs=1e-12)
    assert (ours.slope_low, ours.slope_high) == pytest.approx((ref.low_slope, ref.high_slope), abs=1e-12)


def test_interval_is_the_slope_band_plus_the_residual_scatter() -> None:
    """The documented method, recomputed with scipy and numpy."""
    rng = random.Random(11)
    points = [(i / 30, 0.05 + 0.5 * i / 30 + rng.gauss(0, 0.04)) for i in range(12)]
    ts, ys = np.array([t for t, _ in points]), np.array([y for _, y in points])
    ref = theilslopes(ys, ts, alpha=0.8, method="joint")
    pivot = float(np.median(ts))
    pivot_y = ref.intercept + ref.slope * pivot
    residuals = ys - (ref.intercept + ref.slope * ts)
    low = pivot_y + ref.low_slope * (1 - pivot) + np.quantile(residuals, 0.1)
    high = pivot_y + ref.high_slope * (1 - pivot) + np.quantile(residuals, 0.9)
    fc = forecast(points, end=1.0, level=0.8)
    assert fc is not None
    assert (fc.score, fc.low, fc.high) == pytest.approx((ref.intercept + ref.slope, low, high), abs=1e-12)
    assert 0 < fc.low < fc.score < fc.high < 1, "the example stays clear of the clamps"


def test_one_wild_point_does_not_move_the_slope_unlike_least_squares() -> None:
    points = line(0.5, 0.2, [i / 20 for i in range(11)])
    points[9] = (points[9][0], 1.0)  # one broken run reporting a perfect score
    fit = theil_sen(points)
    assert fit is not None
    assert fit.slope == pytest.approx(0.5, abs=1e-12), "45 of 55 pairwise slopes are still 0.5"
    assert abs(least_squares_slope(points) - 0.5) > 0.3, "least squares is dragged by the same point"
    fc = forecast(points)
    assert fc is not None and fc.score == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("slope", "intercept", "expected"),
    [(2.0, 0.1, 1.0), (-1.5, 0.6, 0.0), (0.5, 0.3, 0.8)],
    ids=["rising past 1", "falling past 0", "inside"],
)
def test_projection_is_clamped_to_the_score_scale(slope: float, intercept: float, expected: float) -> None:
    fc = forecast(line(slope, intercept, [0.0, 0.1, 0.2, 0.3]))
    assert fc is not None
    assert fc.score == pytest.approx(expected)
    assert 0.0 <= fc.low <= fc.score <= fc.high <= 1.0


def test_interval_contains_the_projection_and_widens_with_the_level() -> None:
    rng = random.Random(7)
    points = [(i / 40, 0.1 + 0.5 * i / 40 + rng.gauss(0, 0.03)) for i in range(20)]  # half the cycle, noisy
    narrow, wide = forecast(points, level=0.5), forecast(points, level=0.95)
    assert narrow is not None and wide is not None
    assert narrow.score == pytest.approx(wide.score), "the level changes the interval, not the projection"
    assert narrow.low < narrow.score < narrow.high, "noise must show as a real interval"
    assert wide.low < narrow.low and narrow.high < wide.high
    assert 0.45 < narrow.score < 0.75, "the trend 0.1 + 0.5 t projects to about 0.6"


def test_the_longest_series_a_run_forecasts_is_fitted_on_every_point() -> None:
    """A run forecasts from at most ``FORECAST_POINTS`` stored scores plus its own (the store thins longer cycles:
    tests/integration/test_store.py); every pair of them gives a slope, as scipy's Theil-Sen takes them."""
    rng = random.Random(3)
    n = FORECAST_POINTS + 1
    points = [(i / n, 0.2 + 0.4 * i / n + rng.gauss(0, 0.01)) for i in range(n)]
    fc = forecast(points)
    assert fc is not None
    assert fc.score == pytest.approx(0.6, abs=0.02)
    assert fc.low <= 0.6 <= fc.high
    assert forecast(list(reversed(points))) == fc, "same input set, same answer"
    fit = theil_sen(points)
    assert fit is not None
    assert fit.slope == pytest.approx(theilslopes([y for _, y in points], [t for t, _ in points]).slope, abs=1e-12)


@pytest.mark.parametrize(
    "points",
    [
        [],
        [(0.1, 0.2), (0.2, 0.3)],
        [(0.3, 0.1), (0.3, 0.2), (0.3, 0.4)],  # no time span
        [(0.1, 0.2), (0.2, math.nan), (0.3, 0.3)],  # a NaN is not a point
        [(0.1, 0.2), (0.2, None), (0.3, 0.3)],  # nor is a run without a score
    ],
    ids=["empty", "two points", "zero time span", "nan leaves two", "none leaves two"],
)
def test_too_little_history_gives_no_forecast(points: list[tuple[float, float | None]]) -> None:
    assert forecast(points) is None


@pytest.mark.parametrize("level", [0.0, 1.0, -0.2, 1.5])
def test_level_must_be_a_proper_probability(level: float) -> None:
    with pytest.raises(ValueError, match="level"):
        forecast([(0.0, 0.1), (0.5, 0.3), (1.0, 0.5)], level=level)
    with pytest.raises(ValueError, match="level"):
        forecast([], level=level)


def test_as_dict_is_the_status_json_shape() -> None:
    assert Forecast(0.6, 0.5, 0.7, 12, 0.25).as_dict() == {
        "score": 0.6,
        "low": 0.5,
        "high": 0.7,
        "points": 12,
        "span": 0.25,
    }


# -- noise floor and step changes ---------------------------------------------------------------------------------


def test_the_interval_never_falls_below_the_noise_floor() -> None:
    """A KR read on its plan line 12 h late: a perfect line projecting 0.99456, once with an interval of 0.00005."""
    late = 0.5 / 92
    points = [(t, t - late) for t in (0.01 + i * 0.49 / 63 for i in range(64))]
    fc = forecast(points)
    assert fc is not None
    assert fc.score == pytest.approx(1 - late)
    assert fc.low == pytest.approx(1 - late - NOISE_FLOOR) and fc.high == 1.0


def test_the_noise_floor_follows_the_scatter_of_a_noisy_series() -> None:
    rng = random.Random(5)
    points = [(i / 100, 0.2 + rng.choice([-0.1, 0.1])) for i in range(40)]  # flat, +-0.1 every run
    fc = forecast(points)
    assert fc is not None
    assert fc.high - fc.score >= 0.1, "z(0.8) x 1.4826 x MAD 0.1 = 0.19 at least, above NOISE_FLOOR"


def step(at: int, before: float, after: float, n: int = 30) -> list[tuple[float, float]]:
    return [(i / 92, before if i < at else after) for i in range(n)]


@pytest.mark.parametrize(
    ("points", "start"),
    [
        (step(20, 0.0, 0.85), 20 / 92),
        (step(29, 0.0, 0.85), 29 / 92),  # the latest run alone is the new level
        (step(10, 0.9, 0.3), 10 / 92),  # down as well as up
        ([(i / 92, 0.01 * i + (0.3 if i >= 15 else 0.0)) for i in range(30)], 15 / 92),  # a step on a trend
        (line(0.6, 0.1, [i / 92 for i in range(30)]), None),  # a steady trend is no step
        ([(i / 92, 0.4 + (0.5 if i == 12 else 0.0)) for i in range(30)], None),  # one wild run is no step
        ([(i / 92, 0.4 + (JUMP_MIN / 2 if i >= 12 else 0.0)) for i in range(30)], None),  # below JUMP_MIN
        (step(1, 0.0, 0.85, n=2), None),  # too short to tell
    ],
    ids=["up", "latest run", "down", "step on a trend", "trend", "one wild run", "small", "two runs"],
)
def test_regime_start(points: list[tuple[float, float]], start: float | None) -> None:
    assert regime_start(points) == (None if start is None else pytest.approx(start))


def test_a_step_is_not_flattened_by_the_old_regime() -> None:
    """0 for 39 days, then 0.85: the median slope of the old regime (0) projected 0.0."""
    fc = forecast(step(39, 0.0, 0.85, n=41))
    assert fc is not None
    assert fc.score == pytest.approx(0.85), "two runs since the step: the new level, held flat"
    assert fc.points == 2 and fc.span == pytest.approx(1 / 92)
    assert fc.low == 0.0, "the interval still spans the whole history's fit"
    longer = forecast(step(39, 0.0, 0.85, n=60))
    assert longer is not None and longer.score == pytest.approx(0.85) and longer.points == 21


def test_a_score_of_one_after_a_step_is_forecast_at_one() -> None:
    fc = forecast(
        [(0.07, 0.0), (0.16, 0.0), (0.25, 0.0), (0.35, 0.0), (0.44, 0.0), (0.54, 0.0), (0.63, 0.0), (0.73, 1.0)]
    )
    assert fc is not None and fc.score == 1.0


# -- properties ---------------------------------------------------------------------------------------------------

unit = st.floats(0, 1, allow_nan=False)
histories = st.lists(st.tuples(unit, unit), min_size=3, max_size=40).filter(lambda ps: len({t for t, _ in ps}) > 1)


@PROPERTY
@given(points=histories, level=st.floats(0.05, 0.99))
def test_forecast_stays_on_the_scale_and_ordered(points: list[tuple[float, float]], level: float) -> None:
    fc = forecast(points, level=level)
    assert fc is not None
    assert 0.0 <= fc.low <= fc.score <= fc.high <= 1.0


@PROPERTY
@given(points=histories, seed=st.integers(0, 1000))
def test_forecast_ignores_the_order_of_the_points(points: list[tuple[float, float]], seed: int) -> None:
    shuffled = list(points)
    random.Random(seed).shuffle(shuffled)
    assert forecast(shuffled) == forecast(points)


@PROPERTY
@given(points=histories)
def test_every_point_counted_twice_keeps_the_projection(points: list[tuple[float, float]]) -> None:
    once, twice = forecast(points), forecast(points + points)
    assert once is not None and twice is not None
    assert twice.score == pytest.approx(once.score, abs=1e-9)


@PROPERTY
@given(
    slope=st.floats(-2, 2),
    intercept=st.floats(-0.5, 1.5),
    times=st.lists(st.integers(0, 100), min_size=3, max_size=30, unique=True).map(lambda ts: [t / 100 for t in ts]),
    extra=unit,
)
def test_a_collinear_point_does_not_change_the_projection(
    slope: float, intercept: float, times: list[float], extra: float
) -> None:
    before = forecast(line(slope, intercept, times))
    after = forecast([*line(slope, intercept, times), (extra, intercept + slope * extra)])
    assert before is not None and after is not None
    assert after.score == pytest.approx(before.score, abs=1e-9)
    assert before.score == pytest.approx(min(1.0, max(0.0, intercept + slope)), abs=1e-9)


# -- the forecast's say in the status (the rules themselves: okr_model.status, tests/unit/test_status_rules.py) ----


def kr(track: str = "committed") -> KeyResult:
    return KeyResult.model_validate(
        {"id": "k", "kind": "increase", "baseline": 0, "target": 1, "track": track, "metric": {"source": "s"}}
    )


ENOUGH = {"points": 20, "span": 0.5}


@pytest.mark.parametrize(
    ("track", "score", "elapsed", "fc", "expected"),
    [
        ("committed", 0.5, 0.5, Forecast(0.8, 0.7, 0.9, **ENOUGH), "at_risk"),  # on pace; best case misses 1.0
        ("committed", 0.5, 0.5, Forecast(0.9, 0.8, 1.0, **ENOUGH), "on_track"),  # 1.0 is still within reach
        ("committed", 0.3, 0.5, Forecast(0.9, 0.8, 1.0, **ENOUGH), "at_risk"),  # never improves a status
        ("aspirational", 0.35, 0.5, Forecast(0.6, 0.5, 0.68, **ENOUGH), "at_risk"),  # below 0.7 whatever happens
        ("aspirational", 0.35, 0.5, Forecast(0.65, 0.55, 0.75, **ENOUGH), "on_track"),  # 0.7 within the interval
        ("aspirational", 0.35, 0.5, Forecast(0.6, 0.5, 0.7, **ENOUGH), "on_track"),  # exactly success counts
        ("aspirational", 0.15, 0.5, Forecast(0.3, 0.2, 0.4, **ENOUGH), "off_track"),  # at risk, one step down
        ("committed", 0.3, 0.3, Forecast(0.1, 0.0, 0.2, **ENOUGH), "at_risk"),  # one step at most per run
        ("committed", 0.1, 0.5, Forecast(0.9, 0.8, 1.0, **ENOUGH), "off_track"),
        ("committed", 1.0, 0.9, Forecast(0.0, 0.0, 0.3, **ENOUGH), "on_track"),  # at success: never lowered
        ("committed", 0.5, 0.5, Forecast(0.8, 0.7, 0.9, points=7, span=0.5), "on_track"),  # too few runs
        ("committed", 0.5, 0.5, Forecast(0.8, 0.7, 0.9, points=20, span=0.19), "on_track"),  # too short a span
        ("committed", 0.5, 0.5, None, "on_track"),  # no forecast yet: the pace stands
        ("committed", None, 0.5, Forecast(0.1, 0.0, 0.2, **ENOUGH), "no_data"),  # no data this run stays no data
    ],
)
def test_forecast_status(track: str, score: float | None, elapsed: float, fc: Forecast | None, expected: str) -> None:
    assert judge_key_result(kr(track), score, None, elapsed, fc, cycle_days=92).status == expected


def test_a_forecast_needs_three_days_even_in_a_short_cycle() -> None:
    fc = Forecast(0.5, 0.4, 0.6, points=40, span=0.5)
    assert judge_key_result(kr(), 0.5, None, 0.5, fc, cycle_days=7).status == "at_risk", "3.5 days: enough"
    assert judge_key_result(kr(), 0.5, None, 0.5, fc, cycle_days=5.9).status == "on_track", "2.95 days: not enough"


def test_a_slow_committed_kr_on_pace_today_is_at_risk() -> None:
    """Half-way through, 0.45 is on pace (expected 0.5, on track from 0.4), but a head start hid a slow trend."""
    history = [(0.1, 0.21), (0.2, 0.26), (0.25, 0.31), (0.3, 0.33), (0.4, 0.39), (0.45, 0.42), (0.5, 0.45)]
    history += [(0.05 + i / 100, 0.18 + 0.6 * i / 100) for i in range(3)]
    pace = pace_status(0.45, expected=0.5 * 1.0)
    fc = forecast(history)
    assert pace == "on_track"
    assert fc is not None and fc.points == 10
    assert 0.7 < fc.score < 0.8, "the trend 0.15 + 0.6 t ends near 0.75"
    assert fc.high < 1.0
    judged = judge_key_result(kr(), 0.45, None, 0.5, fc, cycle_days=92)
    assert judged.status == "at_risk", "committed: 1.0 is out of reach; one step down from on pace"
    assert fc.high >= 0.7
    assert judge_key_result(kr("aspirational"), 0.45, None, 0.5, fc, cycle_days=92).status == "on_track"
