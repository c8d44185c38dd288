"""Maintain KRs measure time, not run counts: how long each measurement stands for, and how it reads. Pure.

Each valid measurement stands from its slot until the next measurement of the KR (whatever its status), for at
most a cap: the metric's ``max_age`` when set, else the schedule's interval (an observation is not assumed to
hold longer than the next scheduled run). The newest one stands until the next scheduled run (at most its cap),
never past the cycle's end. So a schedule change or two ad-hoc runs 14 s apart weigh by the time they stood for;
with a regular schedule the share equals the share of runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from okrflow.okr_model.config import Config, KeyResult
from okrflow.okr_model.scoring import holds_threshold

__all__ = [
    "detail_now",
    "format_span",
    "held_detail",
    "standing_cap",
    "weight_now",
]


def standing_cap(config: Config, kr: KeyResult) -> timedelta:
    """The longest one measurement of ``kr`` may stand for: ``max_age``, else the schedule's interval."""
    if kr.metric is not None and kr.metric.max_age is not None:
        return kr.metric.max_age
    start, _ = config.cycle_bounds()
    return config.parsed_schedule.longest_gap(start)


def weight_now(config: Config, kr: KeyResult, at: datetime) -> float:
    """Seconds the measurement taken at ``at`` stands for: until the next scheduled run (at most its cap, never
    past the cycle's end). Not ``max_age`` alone: with 15-minute runs and ``max_age: 2h`` the newest value would
    weigh as much as eight of the runs before it."""
    start, end = config.cycle_bounds()
    interval = config.parsed_schedule.longest_gap(start)
    return max(0.0, min(interval, standing_cap(config, kr), end - at).total_seconds())


def format_span(seconds: float) -> str:
    """``14 s``, ``2 h 10 min``, ``3 d 4 h``: the two largest units, for people."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if whole >= size:
            parts.append(f"{whole // size} {unit}")
            whole %= size
    return " ".join(parts[:2])


def held_detail(held_seconds: float, valid_seconds: float) -> str:
    """``held 97.3% of the time so far (breached 2 h 10 min)``."""
    if valid_seconds <= 0:
        return ""
    breached = valid_seconds - held_seconds
    share = f"{100 * held_seconds / valid_seconds:.1f}%"
    return f"held {share} of the time so far" + (f" (breached {format_span(breached)})" if breached >= 0.5 else "")


def detail_now(config: Config, kr: KeyResult, earlier: tuple[float, float], value: float | None, at: datetime) -> str:
    """The detail of a run at ``at``: earlier (held, valid) seconds plus the current value until the next run."""
    held, valid = earlier
    if value is not None:
        weight = weight_now(config, kr, at)
        valid += weight
        held += weight if holds_threshold(kr, value) else 0.0
    return held_detail(held, valid)
