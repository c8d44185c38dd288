"""The report's display thinning (okrflow.report.downsample): a bounded number of points that keeps the line's
first and last point and its extremes, and every point when they fit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okrflow.report.downsample import MIN_POINTS, keep_indices

values = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(st.lists(values, max_size=600), st.integers(min_value=MIN_POINTS, max_value=150))
def test_kept_points_are_bounded_ordered_and_keep_the_ends_and_extremes(ys, max_points):
    kept = keep_indices(ys, max_points)
    if len(ys) <= max_points:
        assert kept == list(range(len(ys)))
        return
    assert len(kept) <= max_points
    assert kept == sorted(set(kept)) and all(0 <= i < len(ys) for i in kept)
    assert kept[0] == 0 and kept[-1] == len(ys) - 1
    drawn = [ys[i] for i in kept]
    assert min(drawn) == min(ys) and max(drawn) == max(ys)


@given(st.lists(values, min_size=1, max_size=400), st.integers(min_value=MIN_POINTS, max_value=60), st.data())
def test_every_span_keeps_its_extremes(ys, max_points, data):
    """Not only the series' own extremes: a spike anywhere survives, at its own index."""
    spike = data.draw(st.integers(min_value=0, max_value=len(ys) - 1))
    ys = [*ys[:spike], 2e9, *ys[spike + 1 :]]
    assert spike in keep_indices(ys, max_points)


def test_a_long_flat_line_with_one_dip_draws_the_dip():
    ys = [5.0] * 8800
    ys[4321] = -1.0
    kept = keep_indices(ys, 100)
    assert 4321 in kept and len(kept) <= 100 and kept[0] == 0 and kept[-1] == 8799


def test_too_small_a_budget_is_refused():
    with pytest.raises(ValueError, match="at least 4"):
        keep_indices([1.0] * 10, 3)


def _reference(ys: list[float], max_points: int) -> list[int]:
    """The definition, one index at a time: each span's earliest lowest and earliest highest point."""
    n, spans = len(ys), (max_points - 2) // 2
    if n <= max_points:
        return list(range(n))
    kept = [0]
    for span in range(spans):
        lo, hi = 1 + span * (n - 2) // spans, 1 + (span + 1) * (n - 2) // spans
        if lo < hi:
            indices = range(lo, hi)
            kept.extend(sorted({min(indices, key=ys.__getitem__), max(indices, key=ys.__getitem__)}))
    return [*kept, n - 1]


@given(
    st.lists(st.one_of(st.sampled_from([0.0, -0.0, 1.0, 1, float("nan"), float("inf")]), values), max_size=500),
    st.integers(min_value=MIN_POINTS, max_value=120),
)
def test_the_same_points_as_the_definition_with_ties_nan_and_mixed_numbers(ys, max_points):
    """keep_indices finds each span's extremes in C (min/max of a slice, then its first position): the same
    indices as the definition, ties (0.0 and -0.0, 1 and 1.0) to the earliest, NaN as Python's min/max see it."""
    assert keep_indices(ys, max_points) == _reference(ys, max_points)
