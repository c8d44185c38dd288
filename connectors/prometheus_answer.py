"""What a Prometheus answer means for a key result: ``data.result`` of an instant or range query -> measurements.

Pure functions over the decoded JSON (no HTTP here, see ``prometheus_http``). The rules:
- a scalar or exactly one series is a number; several series are an ``error`` (the user must aggregate);
- no series, or NaN/Inf (Prometheus sends them as the strings ``"NaN"``, ``"+Inf"``) are ``no_data``;
- a range vector (``x[5m]``) answered to an instant query is an ``error`` that says how to reduce it;
- a range query is limited to ``MAX_POINTS`` points per series, so its step is widened (``range_step``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from okrflow.connectors.base import Measurement, apply_max_age

__all__ = [
    "DEFAULT_STEP",
    "MAX_POINTS",
    "instant_measurement",
    "iso",
    "measurements_at_slots",
    "range_points",
    "range_step",
    "seconds_text",
    "several_series",
    "whole_second",
]

MAX_POINTS = 11_000
"""Prometheus refuses a range query with more points than this per series."""

DEFAULT_STEP = timedelta(minutes=1)


def range_step(start: datetime, end: datetime, step: timedelta | None = None) -> timedelta:
    """The requested step (default 1 min), widened so that one series holds at most ``MAX_POINTS`` points."""
    requested = (step or DEFAULT_STEP).total_seconds()
    if requested <= 0:
        raise ValueError(f"step must be positive (got {step})")
    needed = math.ceil((end - start).total_seconds() / (MAX_POINTS - 1))
    return timedelta(seconds=max(requested, needed))


def instant_measurement(
    result: list[Any], *, when: datetime, age_from: datetime, max_age: timedelta | None, lineage: dict[str, Any]
) -> Measurement:
    """The measurement for ``data.result`` of an instant query evaluated at ``when``.

    Prometheus stamps the sample with the evaluation time, so ``observed_at`` is ``when``; ``max_age`` is
    judged from ``age_from`` (see ``PrometheusConnector``). ``lineage`` gains the series' labels.
    """
    if not result:
        return Measurement.no_data(f"query returned no series at {iso(when)}", **lineage)
    if isinstance(result[0], dict):
        if len(result) > 1:
            return Measurement.error(several_series(result), **lineage)
        series = result[0]
        if "value" not in series:
            return Measurement.error(
                "query returned a range vector; reduce it with a function such as avg_over_time(...)", **lineage
            )
        labels = dict(series.get("metric") or {})
        ts, raw = series["value"]
    else:  # a scalar (or string) result is [timestamp, "value"]
        labels = {}
        ts, raw = result
    lineage["series"] = labels
    value = _number(raw)
    if value is None:
        return Measurement.error(f"query returned {str(raw)[:80]!r}, not a number", **lineage)
    if not math.isfinite(value):
        return Measurement.no_data(f"query returned {raw} at {iso(when)} (no valid value)", **lineage)
    return apply_max_age(Measurement.ok(value, datetime.fromtimestamp(float(ts), UTC), **lineage), max_age, age_from)


def range_points(result: list[dict[str, Any]], shift: timedelta) -> list[tuple[datetime, float]]:
    """The finite points ``(t + shift, v)`` of a range answer's only series (callers check ``several_series``)."""
    points = []
    for ts, raw in result[0].get("values", []) if result else []:
        value = _number(raw)
        if value is not None and math.isfinite(value):
            points.append((datetime.fromtimestamp(float(ts), UTC) + shift, value))
    return points


def measurements_at_slots(
    points: list[tuple[datetime, float]],
    slots: Sequence[datetime],
    *,
    width: timedelta,
    shift: timedelta,
    max_age: timedelta | None,
    base: dict[str, Any],
) -> dict[datetime, Measurement]:
    """Each slot's measurement from one range query's points: the latest point at or before the slot, within one
    step ``width``; none is ``no_data``. ``max_age`` is judged from the slot, as ``fetch`` judges it from ``at``."""
    times = [t for t, _ in points]
    out: dict[datetime, Measurement] = {}
    for slot in slots:
        i = bisect.bisect_right(times, slot)
        if i == 0 or slot - times[i - 1] >= width:
            out[slot] = Measurement.no_data(
                f"query returned no finite value at {iso(slot - shift)} (no series then, or NaN)", **base
            )
            continue
        observed_at = times[i - 1] - shift
        found = Measurement.ok(points[i - 1][1], observed_at, **base, evaluated_at=iso(observed_at))
        out[slot] = apply_max_age(found, max_age, slot)
    return out


def several_series(result: list[dict[str, Any]]) -> str:
    """The error for an answer of several series, naming the first three by their labels."""
    shown = ", ".join(_labels(s.get("metric") or {}) for s in result[:3])
    more = ", ..." if len(result) > 3 else ""
    return f"query returned {len(result)} series; aggregate it to one (e.g. sum(...) or avg(...)); got {shown}{more}"


def _labels(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"


def _number(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def whole_second(moment: datetime, rounding: Callable[[float], int]) -> datetime:
    """``moment`` rounded to a whole second (the client sends range bounds as whole seconds)."""
    return datetime.fromtimestamp(rounding(moment.timestamp()), UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def seconds_text(value: timedelta) -> str:
    """A duration in lineage and messages: ``60 s``."""
    return f"{value.total_seconds():g} s"
