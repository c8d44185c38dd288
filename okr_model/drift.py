"""Metric drift: did the latest run move a KR's raw metric the bad way? Pure functions, stdlib only.

Drift is judged on the raw metric series, not the score: the (time, value) points of runs whose measurement was
ok. A run without data is simply absent (a gap is not a drop), and non-finite values are ignored. "Bad" follows the
KR's ``direction``: a decrease when larger is better (``up``: accuracy, F1), an increase for ``down`` KRs
(``decrease`` / ``maintain_below``: latency, cost). Two rules of ``DriftRule`` judge the LATEST point, in order:

1. ``max_drop`` fires at once. Its reference is the mean (``reference: mean``) or the best value
   (``reference: best``) of the points within ``window`` before the latest point, the latest excluded. It fires
   when the latest value is worse than the reference by more than ``max_drop`` metric units (written as a number:
   "flag any F1 drop greater than 3 points" is max_drop 0.03 on a [0, 1] metric; an exact 0.03 drop does not
   fire), or, written as a percent (``3%``, or ``relative: true``), by more than that share of |reference|. Once
   fired it holds, whatever the window's mean does, until the value is back within max_drop of the reference it
   dropped from (the caller passes that level back as ``dropped_from``): a lasting drop is not a recovery.
2. ``detector`` catches slow slides whose every step stays under max_drop, so the window's reference follows
   them down. It runs over the whole series on the badness ``b = -value`` (``up``) or ``value`` (``down``), one-sided,
   and may fire only after ``min_samples`` warm-up runs:

   - ``page_hinkley``: ``m_t = sum_{i<=t} (b_i - mean(b_1..b_i) - delta)``; alarm while ``m_t - min(0, m_1..m_t)``
     exceeds ``threshold``. The running mean absorbs a lasting new level, so the alarm clears by itself some runs
     after the metric settles.
   - ``cusum``: baseline ``mu`` = mean of the first ``min_samples`` values; ``S_t = max(0, S_(t-1) + b_t - mu -
     delta)``; alarm while ``S_t`` exceeds ``threshold``. It compares with that fixed baseline, so it keeps firing
     while the metric stays worse than the baseline by more than ``delta``.

   Neither resets after an alarm: the condition holds run after run while the change lasts, which is what the
   alert state machine (``for_runs``) needs. Left unset, ``delta = max_drop / 4`` (or ``threshold / 8``) and
   ``threshold = 2 x max_drop``; with ``relative: true`` both are fractions of the warm-up's mean level.

Detection bounds with the defaults (max_drop 0.03: delta 0.0075, threshold 0.06), asserted by the tests:

- a lasting step drop of ``d > delta`` is flagged by CUSUM within ``ceil(threshold / (d - delta)) + 1`` runs (a
  0.02 step, too small for max_drop: 5 runs without noise);
- a slow slide of 0.004 per run from a steady 0.90 (each step 0.004, and the 7-day mean of daily runs never more than
  0.016 above the latest value, so max_drop never fires): CUSUM fires on the 7th run of the slide and Page-Hinkley
  on the 8th without noise; with noise of sd 0.002 both fire within ``SLIDE_BOUND_RUNS`` (10) runs;
- noise alone (gaussian, sd 0.005 around a constant) does not fire in 1,000 runs: each run's expected
  contribution is -delta = -1.5 sd, and reaching threshold = 12 sd against that drift has a probability of order
  exp(-2 x 1.5 x 12) per run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from okrflow.okr_model.config import DriftRule
from okrflow.okr_model.formatting import number

__all__ = ["SLIDE_BOUND_RUNS", "Alarm", "DriftResult", "check_drift", "cusum", "detector_scale", "page_hinkley"]

Direction = Literal["up", "down"]
RuleName = Literal["max_drop", "page_hinkley", "cusum"]

SLIDE_BOUND_RUNS = 10
"""With the default scale, a slide of 0.004 per run (max_drop 0.03) is caught within this many runs."""
_TOLERANCE = 1e-9
"""Float slack: 0.87 - 0.84 is 0.030000000000000027, yet a drop of exactly max_drop does not fire."""
_NAMES = {"page_hinkley": "Page-Hinkley", "cusum": "CUSUM"}


@dataclass(frozen=True)
class DriftResult:
    """Which rule fired on the latest point, against what reference, and a one-line description for people."""

    rule: RuleName
    at: datetime
    latest: float
    reference: float
    change: float
    """``latest - reference``: negative when an ``up`` metric dropped."""
    description: str
    runs: int | None = None
    """Detector only: runs since the change it detected began (latest included)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "at": self.at.isoformat(),
            "latest": self.latest,
            "reference": self.reference,
            "change": self.change,
            "description": self.description,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class Alarm:
    """Where a sequential detector stands after the last value of a series."""

    statistic: float
    fired: bool
    start: int
    """Index of the first run of the change the detector sees (after the statistic's last minimum or zero)."""


def page_hinkley(badness: Sequence[float], delta: float, threshold: float, min_samples: int) -> Alarm | None:
    """One-sided Page-Hinkley test for an increase of ``badness``; None until there are more than ``min_samples``."""
    if len(badness) <= min_samples:
        return None
    mean = cumulative = lowest = 0.0
    lowest_at = -1
    for i, b in enumerate(badness):
        mean += (b - mean) / (i + 1)
        cumulative += b - mean - delta
        if cumulative <= lowest:
            lowest, lowest_at = cumulative, i
    statistic = cumulative - lowest
    return Alarm(statistic, statistic > threshold, lowest_at + 1)


def cusum(badness: Sequence[float], delta: float, threshold: float, min_samples: int) -> Alarm | None:
    """One-sided tabular CUSUM for an increase of ``badness`` over the mean of the first ``min_samples`` values."""
    if len(badness) <= min_samples:
        return None
    baseline = math.fsum(badness[:min_samples]) / min_samples
    statistic = 0.0
    start = min_samples
    for i in range(min_samples, len(badness)):
        statistic = max(0.0, statistic + badness[i] - baseline - delta)
        if statistic == 0.0:
            start = i + 1
    return Alarm(statistic, statistic > threshold, start)


def detector_scale(rule: DriftRule) -> tuple[float, float] | None:
    """The detector's (delta, threshold) as configured or derived from max_drop; None without any scale."""
    if rule.threshold is not None:
        threshold = rule.threshold
    elif rule.max_drop is not None:
        threshold = 2 * rule.max_drop
    else:
        return None
    if rule.delta is not None:
        return rule.delta, threshold
    return (rule.max_drop / 4 if rule.max_drop is not None else threshold / 8), threshold


def _number(value: Any) -> float | None:
    """A finite float, or None for what is no measurement (None, NaN, inf, a bool, a non-number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _window_label(window: timedelta) -> str:
    seconds = window.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}-{unit}"
    return f"{seconds:g}-second"


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _beyond(rule: DriftRule, reference: float, latest: float, up: bool) -> float | None:
    """How much worse than ``reference`` the latest value is, when that exceeds max_drop; else None."""
    assert rule.max_drop is not None
    bad = reference - latest if up else latest - reference
    if rule.relative:
        if reference == 0:
            return None  # a share of nothing: the relative rule cannot judge
        size, slack = bad / abs(reference), _TOLERANCE
    else:
        size, slack = bad, _TOLERANCE * max(1.0, abs(reference))
    return bad if size - rule.max_drop > slack else None


def _size(bad: float, reference: float) -> str:
    share = f" ({100 * bad / abs(reference):.1f}%)" if reference != 0 else ""
    return f"{number(bad)}{share}"


def _max_drop(points: list[tuple[datetime, float]], rule: DriftRule, up: bool, name: str) -> DriftResult | None:
    if rule.max_drop is None:
        return None
    at, latest = points[-1]
    window = [value for t, value in points[:-1] if t >= at - rule.window]
    if not window:
        return None
    best = max(window) if up else min(window)
    reference = _mean(window) if rule.reference == "mean" else best
    bad = _beyond(rule, reference, latest, up)
    if bad is None:
        return None
    verb, side = ("dropped", "below") if up else ("rose", "above")
    description = (
        f"{name} {verb} {_size(bad, reference)} {side} its {_window_label(rule.window)} {rule.reference} "
        f"{number(reference)}"
    )
    return DriftResult("max_drop", at, latest, reference, latest - reference, description)


def _still_dropped(
    at: datetime, latest: float, rule: DriftRule, up: bool, name: str, level: float
) -> DriftResult | None:
    """A max_drop drift lasts until the value is back within max_drop of the level it dropped from (the window's
    mean absorbing the new level is not a recovery)."""
    if rule.max_drop is None:
        return None
    bad = _beyond(rule, level, latest, up)
    if bad is None:
        return None
    side = "below" if up else "above"
    description = (
        f"{name} {number(latest)} is still {_size(bad, level)} {side} the level {number(level)} it {'dropped' if up else 'rose'} from "
        f"(resolves within max_drop {rule.limit_text} of it)"
    )
    return DriftResult("max_drop", at, latest, level, latest - level, description)


def _detector(points: list[tuple[datetime, float]], rule: DriftRule, up: bool, name: str) -> DriftResult | None:
    scale = detector_scale(rule)
    if rule.detector is None or scale is None or len(points) <= rule.min_samples:
        return None
    delta, threshold = scale
    values = [value for _, value in points]
    if rule.relative:
        level = abs(_mean(values[: rule.min_samples]))
        if level == 0:
            return None
        delta, threshold = delta * level, threshold * level
    badness = [-v for v in values] if up else values
    detect = page_hinkley if rule.detector == "page_hinkley" else cusum
    alarm = detect(badness, delta, threshold, rule.min_samples)
    if alarm is None or not alarm.fired:
        return None
    before = rule.min_samples if rule.detector == "cusum" else max(alarm.start, 1)
    reference = _mean(values[:before])
    at, latest = points[-1]
    runs = len(values) - alarm.start
    description = (
        f"{name}: slow slide detected by {_NAMES[rule.detector]} after {runs} run{'s' if runs != 1 else ''} "
        f"({number(latest)}, {'down' if up else 'up'} from {number(reference)})"
    )
    return DriftResult(rule.detector, at, latest, reference, latest - reference, description, runs)


def check_drift(
    series: Sequence[tuple[datetime, float]],
    rule: DriftRule,
    direction: Direction,
    *,
    name: str = "value",
    dropped_from: float | None = None,
) -> DriftResult | None:
    """Judge the latest point of a raw metric series (ok runs only); None when no rule fires or data is short.

    ``dropped_from``: the reference of a ``max_drop`` drift still open from earlier runs (the alert's memory); the
    drift then holds while the latest value is worse than that level by more than max_drop. Otherwise ``max_drop``
    is checked first, then the detector; ``name`` (the metric or KR) starts the description.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down' (got {direction!r})")
    numbers = ((at, _number(value)) for at, value in series)
    points = sorted(((at, value) for at, value in numbers if value is not None), key=lambda p: p[0])
    up = direction == "up"
    level = _number(dropped_from)
    if points and level is not None and (held := _still_dropped(*points[-1], rule, up, name, level)):
        return held
    if len(points) < 2:
        return None
    return _max_drop(points, rule, up, name) or _detector(points, rule, up, name)
