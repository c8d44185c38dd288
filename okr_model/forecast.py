"""End-of-cycle forecast of a KR's score: a robust trend with an interval. Pure functions, stdlib only.

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
- Score, low and high are clamped to [0, 1], and low <= score <= high always holds.

Above ``MAX_PAIR_POINTS`` points (a quarter of 15-minute runs holds ~8,800) the slopes are taken over that many points
spread evenly through time (first and last included), so the cost stays bounded and the result deterministic; the
intercept and residuals still use every point.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, median

from okr_model.pacing import Status

__all__ = ["MAX_PAIR_POINTS", "Forecast", "TrendFit", "forecast", "forecast_status", "theil_sen"]

MAX_PAIR_POINTS = 400
"""Most points whose pairwise slopes are computed (400 points: ~80,000 pairs, a few tens of milliseconds)."""
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Forecast:
    """The projected end-of-cycle score and its interval, each in [0, 1], ``low <= score <= high``."""

    score: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        """The ``forecast`` object of ``status --format json``."""
        return {"score": self.score, "low": self.low, "high": self.high}


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


def _spread(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most MAX_PAIR_POINTS points spread evenly through the (time-sorted) series, first and last included."""
    n = len(points)
    if n <= MAX_PAIR_POINTS:
        return list(points)
    step = (n - 1) / (MAX_PAIR_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_PAIR_POINTS)]


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


def theil_sen(points: Sequence[tuple[float, float | None]], level: float = 0.8) -> TrendFit | None:
    """The Theil-Sen trend of (t, y) points, or None without two distinct times. Non-finite points are ignored."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (got {level})")
    data = sorted(_finite_points(points))
    sample = _spread(data)
    slopes = sorted(
        (yj - yi) / (tj - ti) for i, (ti, yi) in enumerate(sample) for tj, yj in sample[i + 1 :] if tj != ti
    )
    if not slopes:
        return None
    slope = median(slopes)
    intercept = median(y - slope * t for t, y in data)
    n, count = len(sample), len(slopes)
    variance = (n * (n - 1) * (2 * n + 5) - _tie_term([t for t, _ in sample]) - _tie_term([y for _, y in sample])) / 18
    reach = NormalDist().inv_cdf((1 + level) / 2) * math.sqrt(max(variance, 0.0))
    upper = min(round((count + reach) / 2), count - 1)
    lower = max(round((count - reach) / 2) - 1, 0)
    pivot = median(t for t, _ in data)
    return TrendFit(slope, intercept, min(slopes[lower], slope), max(slopes[upper], slope), pivot)


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def forecast(points: Sequence[tuple[float, float | None]], end: float = 1.0, level: float = 0.8) -> Forecast | None:
    """Project the score at ``end`` from the cycle's (t, score) history; None with fewer than 3 scores or no time span.

    Runs without a score (None or NaN) are skipped.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (got {level})")
    data = _finite_points(points)
    if len(data) < 3:
        return None
    fit = theil_sen(data, level)
    if fit is None:
        return None
    projected = fit.at(end)
    pivot_y = fit.at(fit.pivot)
    trend_ends = (pivot_y + fit.slope_low * (end - fit.pivot), pivot_y + fit.slope_high * (end - fit.pivot))
    residuals = sorted(y - fit.at(t) for t, y in data)
    below = min(0.0, _quantile(residuals, (1 - level) / 2))
    above = max(0.0, _quantile(residuals, (1 + level) / 2))
    low = min(min(trend_ends) + below, projected)
    high = max(max(trend_ends) + above, projected)
    return Forecast(_clamp(projected), _clamp(low), _clamp(high))


def forecast_status(pace_status: str, fc: Forecast | None, success: float) -> Status:
    """A KR whose whole forecast interval lies below its success score is off track, whatever today's pace says."""
    if pace_status not in ("on_track", "at_risk", "off_track", "no_data"):
        raise ValueError(f"unknown pace status {pace_status!r}")
    if pace_status != "no_data" and fc is not None and fc.high < success - _TOLERANCE:
        return "off_track"
    return pace_status  # type: ignore[return-value]
