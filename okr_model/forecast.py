"""End-of-cycle forecast of a KR's score: a robust trend with an interval. Pure functions: the standard library,
plus numpy for long series when it is installed (the same numbers, see ``_VECTOR_FROM``).

Time is the elapsed share of the cycle (``pacing.elapsed_share``: 0 at the start, 1.0 at the end), so ``end`` is
1.0; any unit works as long as the points and ``end`` share it.

Method, chosen so one wild run cannot bend the forecast:

- **Trend**: Theil-Sen. The slope is the median of the slopes of every pair of points with different times; the
  intercept is the median of ``score - slope * t``. The projection is the trend at ``end``.
- **Interval** at ``level`` (0.8 by default), the sum of two parts:
  1. the trend's uncertainty: Sen's (1968) distribution-free confidence interval of the slope, i.e. the pairwise
     slopes of rank ``(N -+ z * sigma) / 2`` where ``sigma**2 = [n(n-1)(2n+5) - ties] / 18`` (as
     ``scipy.stats.theilslopes``), the extreme lines pivoting on the trend at the median time of the data;
  2. the run-to-run scatter: the ``(1 -+ level) / 2`` quantiles of the residuals around the trend (their median is
     0), since the end-of-cycle score is one more noisy run, not the trend itself.
- **Noise floor**: the interval reaches at least ``NOISE_FLOOR`` and at least ``z * 1.4826 * MAD`` of the
  residuals on each side of the projection: a series read on a perfectly regular schedule has almost no scatter,
  yet the measurement is not that exact (a plan-line KR read 12 h late once projected 0.99456 +- 0.00003).
- **Step changes**: a level shift (a jump between consecutive runs of at least ``JUMP_MIN``, far outside the
  run-to-run noise, that the later runs keep) starts a new regime. The projection is fitted on the current regime
  only (with fewer than 3 runs in it: its median level, held flat), so a KR that jumped from 0 to 0.85 is not
  projected at 0.0 by the median slope of the old regime. The interval spans both fits (the current regime's and
  the whole history's), since a step may also be one stair of a rising staircase.
- ``points`` and ``span`` say how much history the projection rests on (the current regime): the status rules
  (``okrflow.okr_model.status``) let a forecast change a status only with enough of it.
- Score, low and high are clamped to [0, 1], and low <= score <= high always holds.

Every pair of points gives a slope (n points: n(n-1)/2 slopes), so callers pass a bounded series: a run's
forecast reads at most ``FORECAST_POINTS`` of the cycle's runs (``okrflow.okr_model.evaluation``; the store thins a
long cycle to the last run of each of that many equal spans).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist, median
from typing import Any

__all__ = [
    "JUMP_MIN",
    "NOISE_FLOOR",
    "Forecast",
    "TrendFit",
    "forecast",
    "regime_start",
    "theil_sen",
]

NOISE_FLOOR = 0.05
"""Least half-width of a forecast's interval, in score points: no score series is known to better than that."""
JUMP_MIN = 0.1
"""Least jump between consecutive runs (in score points) that can start a new regime."""
_JUMP_SIGMAS = 5.0
"""A jump must also exceed this many robust standard deviations of the run-to-run changes."""
_MAD_SIGMA = 1.4826
"""A normal distribution's standard deviation per median absolute deviation."""
_MEAN_ABS_SIGMA = math.sqrt(math.pi / 2)
"""A normal distribution's standard deviation per mean absolute deviation."""


@dataclass(frozen=True)
class Forecast:
    """The projected end-of-cycle score and its interval, each in [0, 1], ``low <= score <= high``."""

    score: float
    low: float
    high: float
    points: int = 0
    """How many runs the projection rests on (those of the current regime)."""
    span: float = 0.0
    """The time those runs span, in the unit of the points (the elapsed share of the cycle)."""

    def as_dict(self) -> dict[str, float]:
        """The ``forecast`` object of ``status --format json``."""
        return {"score": self.score, "low": self.low, "high": self.high, "points": self.points, "span": self.span}


@dataclass(frozen=True)
class TrendFit:
    """A Theil-Sen fit: ``y = intercept + slope * t``, the slope's confidence bounds, and the pivot they turn on."""

    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    pivot: float
    """The median time of the points: the extreme slopes are drawn through the trend at this time."""

    def at(self, t: float) -> float:
        return self.intercept + self.slope * t


def _quantile(ordered: Sequence[float], p: float) -> float:
    """Linear-interpolation quantile of sorted data (p = 0.5 gives the median)."""
    h = (len(ordered) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def _tie_term(values: Sequence[float]) -> int:
    """Sen's correction for tied values: the sum of k(k-1)(2k+5) over groups of k equal values."""
    return sum(k * (k - 1) * (2 * k + 5) for k in Counter(values).values() if k > 1)


def _finite_points(points: Sequence[tuple[float, float | None]]) -> list[tuple[float, float]]:
    """The points with a finite time and score: a run without a score (None, NaN) is no point of the trend."""
    kept = []
    for t, y in points:
        if y is None or isinstance(y, bool):
            continue
        t, y = float(t), float(y)
        if math.isfinite(t) and math.isfinite(y):
            kept.append((t, y))
    return kept


_VECTOR_FROM = 64
"""From this many points the slopes, intercept and residuals are computed with numpy when it is installed (the
same IEEE operations, so the same numbers): 65 points are ~2,000 slopes, a few ms in Python, far less vectorised,
and every run forecasts every progress KR."""


def _np() -> Any:
    import numpy

    return numpy


def _has_numpy() -> bool:
    try:
        _np()
    except ImportError:  # okr_model needs only the standard library
        return False
    return True


def _arrays(points: Sequence[tuple[float, float]]) -> tuple[Any, Any] | None:
    """(times, values) as numpy arrays for a long series (None for a short one, or without numpy)."""
    if len(points) < _VECTOR_FROM or not _has_numpy():
        return None
    np = _np()
    t = np.fromiter((p[0] for p in points), dtype=float, count=len(points))
    y = np.fromiter((p[1] for p in points), dtype=float, count=len(points))
    return t, y


@cache
def _pairs(n: int) -> tuple[Any, Any]:
    """Indices (i, j), i < j, of every pair of n points."""
    return _np().triu_indices(n, k=1)


def _pairwise_slopes(sample: Sequence[tuple[float, float]], arrays: tuple[Any, Any] | None) -> Sequence[float]:
    """The sorted slopes ``(yj - yi) / (tj - ti)`` of every pair ``i < j`` with different times (a list, or,
    given the sample as numpy ``arrays``, an array: only three of its ~80,000 values are read)."""
    if arrays is None:
        return sorted(
            (yj - yi) / (tj - ti) for i, (ti, yi) in enumerate(sample) for tj, yj in sample[i + 1 :] if tj != ti
        )
    t, y = arrays
    i, j = _pairs(len(sample))
    dt = t[j] - t[i]
    keep = dt != 0
    slopes = (y[j][keep] - y[i][keep]) / dt[keep]
    slopes.sort()
    return slopes


def _sorted_median(ordered: Sequence[float]) -> float:
    """``statistics.median`` of data that is already sorted (without sorting it again)."""
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def theil_sen(points: Sequence[tuple[float, float | None]], level: float = 0.8) -> TrendFit | None:
    """The Theil-Sen trend of (t, y) points, or None without two distinct times. Non-finite points are ignored."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (got {level})")
    return _fit(sorted(_finite_points(points)), level)


def _fit(data: list[tuple[float, float]], level: float, arrays: tuple[Any, Any] | None = None) -> TrendFit | None:
    """``theil_sen`` of finite points already sorted by time (``arrays``: the same as ``_arrays(data)``)."""
    arrays = arrays if arrays is not None else _arrays(data)
    slopes = _pairwise_slopes(data, arrays)
    if not len(slopes):
        return None
    slope = float(_sorted_median(slopes))
    if arrays is not None:
        t, y = arrays
        intercept, pivot = float(_np().median(y - slope * t)), float(_np().median(t))
    else:
        intercept, pivot = median(y - slope * t for t, y in data), median(t for t, _ in data)
    n, count = len(data), len(slopes)
    variance = (n * (n - 1) * (2 * n + 5) - _tie_term([t for t, _ in data]) - _tie_term([y for _, y in data])) / 18
    reach = NormalDist().inv_cdf((1 + level) / 2) * math.sqrt(max(variance, 0.0))
    upper = min(round((count + reach) / 2), count - 1)
    lower = max(round((count - reach) / 2) - 1, 0)
    return TrendFit(slope, intercept, min(float(slopes[lower]), slope), max(float(slopes[upper]), slope), pivot)


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _median_abs_deviation(values: Sequence[float]) -> float:
    center = median(values)
    return median(abs(v - center) for v in values)


def regime_start(points: Sequence[tuple[float, float | None]]) -> float | None:
    """The time of the first run after the latest level shift of a score series, or None without one.

    Runs at the same time count as one (their median). A jump between consecutive runs is a level shift when,
    after removing the series' typical run-to-run trend (the median of the consecutive slopes), it is at least
    ``JUMP_MIN`` and ``_JUMP_SIGMAS`` standard deviations of the other run-to-run changes (the largest left out,
    so one step does not hide itself), lands that far from the median of the runs before it, and most runs from
    it on stay nearer the new level than the old one: one wild run in the middle of a series moves nothing.
    """
    by_time: dict[float, list[float]] = {}
    for t, y in _finite_points(points):
        by_time.setdefault(t, []).append(y)
    times = sorted(by_time)
    if len(times) < 3:
        return None
    levels = [median(by_time[t]) for t in times]
    slope = median((levels[k + 1] - levels[k]) / (times[k + 1] - times[k]) for k in range(len(times) - 1))
    detrended = [y - slope * t for t, y in zip(times, levels, strict=True)]
    jumps = [detrended[k + 1] - detrended[k] for k in range(len(times) - 1)]
    center = median(jumps)
    deviations = sorted(abs(j - center) for j in jumps)[:-1]
    sigma = _MEAN_ABS_SIGMA * sum(deviations) / len(deviations)
    threshold = max(JUMP_MIN, _JUMP_SIGMAS * sigma)
    for k in range(len(jumps) - 1, -1, -1):
        if abs(jumps[k]) < threshold:
            continue
        old, new = median(detrended[: k + 1]), detrended[k + 1]
        if abs(new - old) < threshold:  # back from a wild run to the old level
            continue
        after = detrended[k + 1 :]
        if 2 * sum(abs(r - new) < abs(r - old) for r in after) > len(after):
            return times[k + 1]
    return None


def _project(data: list[tuple[float, float]], end: float, level: float) -> tuple[float, float, float] | None:
    """(projection, low, high), unclamped, of points sorted by time; None without two distinct times."""
    arrays = _arrays(data)
    fit = _fit(data, level, arrays)
    if fit is None:
        return None
    projected = fit.at(end)
    pivot_y = fit.at(fit.pivot)
    trend_ends = (pivot_y + fit.slope_low * (end - fit.pivot), pivot_y + fit.slope_high * (end - fit.pivot))
    if arrays is not None:
        t, y = arrays
        residuals = _np().sort(y - (fit.intercept + fit.slope * t)).tolist()  # what fit.at(t) computes
    else:
        residuals = sorted(y - fit.at(t) for t, y in data)
    below = min(0.0, _quantile(residuals, (1 - level) / 2))
    above = max(0.0, _quantile(residuals, (1 + level) / 2))
    floor = _noise_floor(residuals, level)
    low = min(min(trend_ends) + below, projected - floor)
    high = max(max(trend_ends) + above, projected + floor)
    return projected, low, high


def _noise_floor(residuals: Sequence[float], level: float) -> float:
    """Least half-width of the interval: ``NOISE_FLOOR``, or the residuals' robust spread at ``level``."""
    z = NormalDist().inv_cdf((1 + level) / 2)
    return max(NOISE_FLOOR, z * _MAD_SIGMA * _median_abs_deviation(residuals)) if residuals else NOISE_FLOOR


def forecast(points: Sequence[tuple[float, float | None]], end: float = 1.0, level: float = 0.8) -> Forecast | None:
    """Project the score at ``end`` from the cycle's (t, score) history; None with fewer than 3 scores or no time span.

    Runs without a score (None or NaN) are skipped. After a level shift the projection comes from the runs since.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (got {level})")
    data = sorted(_finite_points(points))
    if len(data) < 3:
        return None
    whole = _project(data, end, level)
    if whole is None:
        return None
    since = regime_start(data)
    regime = data if since is None else [p for p in data if p[0] >= since]
    if regime is data:
        projected, low, high = whole
    else:
        current = _project(regime, end, level) if len({t for t, _ in regime}) >= 3 else None
        if current is None:  # too few runs since the step for a slope: the new level, held flat
            level_now = median(y for _, y in regime)
            current = (level_now, level_now - NOISE_FLOOR, level_now + NOISE_FLOOR)
        projected = current[0]
        low, high = min(current[1], whole[1]), max(current[2], whole[2])
    score = _clamp(projected)
    span = regime[-1][0] - regime[0][0]
    return Forecast(score, min(_clamp(low), score), max(_clamp(high), score), len(regime), span)
