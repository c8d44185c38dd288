"""Thin a long series for display while keeping its shape: the report draws a bounded number of points per line.

A quarter of 15-minute runs is 8,800 points per KR; a chart is about 1,250 pixels wide, so drawing every point
costs page size and browser time and shows nothing more. The series is cut into equal spans of consecutive
points and each span keeps its lowest and its highest point (in order), plus the series' first and last point:
the outline of the line (spikes, dips, the latest value) survives, only the points hidden between a span's
extremes go. Pure and deterministic; the full history stays in the store (``okrflow history KR --format csv``).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MIN_POINTS", "keep_indices"]

MIN_POINTS = 4
"""The smallest budget: the first and last points and one span's extremes."""


def keep_indices(ys: Sequence[float], max_points: int) -> list[int]:
    """Indices of ``ys`` to draw, ascending, at most ``max_points`` of them (all of them when they fit).

    Always the first and last index, and in each of ``(max_points - 2) // 2`` equal spans of the points between,
    the index of its minimum and of its maximum (the earliest on ties), so the series' own minimum and maximum
    are always kept.
    """
    if max_points < MIN_POINTS:
        raise ValueError(f"max_points must be at least {MIN_POINTS}, got {max_points}")
    n = len(ys)
    if n <= max_points:
        return list(range(n))
    spans = (max_points - 2) // 2
    inner = n - 2  # the points between the first and the last
    kept = [0]
    for span in range(spans):
        lo, hi = 1 + span * inner // spans, 1 + (span + 1) * inner // spans
        if lo >= hi:
            continue
        span = ys[lo:hi]  # min and max in C, then the first position of each (the earliest on ties)
        low, high = lo + span.index(min(span)), lo + span.index(max(span))
        kept.extend(sorted({low, high}))
    kept.append(n - 1)
    return kept
