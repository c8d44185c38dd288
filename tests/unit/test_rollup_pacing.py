"""Objective rollup (weighted mean up the tree) and pacing (elapsed share, on track / at risk / off track)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from okrflow.okr_model.config import Cycle, KeyResult, Objective
from okrflow.okr_model.pacing import elapsed_share, kr_status, pace_status
from okrflow.okr_model.rollup import rollup, weighted_mean

PROPERTY = settings(max_examples=150, deadline=None)


def make_kr(kr_id: str, weight: float = 1.0, **fields: Any) -> KeyResult:
    data: dict[str, Any] = {"id": kr_id, "kind": "increase", "baseline": 0, "target": 1, "weight": weight}
    data.update(fields)
    data.setdefault("metric", {"source": "src"})
    return KeyResult.model_validate(data)


def make_objective(obj_id: str, parent: str | None = None, weight: float = 1.0, krs: list[KeyResult] = ()) -> Objective:
    return Objective(id=obj_id, title=obj_id, parent=parent, weight=weight, key_results=list(krs))


# -- weighted mean and rollup ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([(0.0, 1), (1.0, 3)], 0.75),
        ([(0.5, 2), (1.0, 1)], 2 / 3),
        ([(0.0, 1), (None, 5)], 0.0),  # a zero is data, a None is not
        ([(None, 1), (0.6, 1)], 0.6),
        ([(None, 1)], None),
        ([], None),
    ],
)
def test_weighted_mean(items: list[tuple[float | None, float]], expected: float | None) -> None:
    assert weighted_mean(items) == pytest.approx(expected)


def test_rollup_of_a_cascade_by_hand() -> None:
    objectives = [
        make_objective("company", krs=[make_kr("revenue", weight=2)]),
        make_objective("product", "company", weight=3, krs=[make_kr("specs", 2), make_kr("ux", 1)]),
        make_objective("data", "company", krs=[make_kr("pipelines")]),
        make_objective("pm", "product", krs=[make_kr("interviews")]),
        make_objective("empty", "data"),
    ]
    scores = rollup(objectives, {"revenue": 0.2, "specs": 0.5, "ux": 1.0, "pipelines": None, "interviews": 0.9})
    assert scores["pm"] == pytest.approx(0.9)
    assert scores["product"] == pytest.approx((0.5 * 2 + 1.0 * 1 + 0.9 * 1) / 4)
    assert scores["empty"] is None, "an objective with no data has no score (not 0)"
    assert scores["data"] is None
    assert scores["company"] == pytest.approx((0.2 * 2 + scores["product"] * 3) / 5)


def test_rollup_treats_missing_kr_ids_as_no_data() -> None:
    objectives = [make_objective("o", krs=[make_kr("a"), make_kr("b")])]
    assert rollup(objectives, {"a": 0.4}) == {"o": pytest.approx(0.4)}
    assert rollup(objectives, {}) == {"o": None}


@st.composite
def objective_trees(draw: st.DrawFn) -> tuple[list[Objective], dict[str, float | None]]:
    """A random forest: objective i's parent is one of 0..i-1 or none; KRs with random weights and scores."""
    count = draw(st.integers(1, 7))
    weights = st.floats(min_value=0.05, max_value=20, allow_nan=False)
    values = st.one_of(st.none(), st.floats(min_value=0, max_value=1, allow_nan=False))
    objectives, kr_values = [], {}
    for i in range(count):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None
        krs = []
        for j in range(draw(st.integers(0, 3))):
            kr_id = f"k{i}-{j}"
            krs.append(make_kr(kr_id, draw(weights)))
            kr_values[kr_id] = draw(values)
        parent_id = None if parent is None else f"o{parent}"
        objectives.append(make_objective(f"o{i}", parent_id, draw(weights), krs))
    order = draw(st.permutations(range(count)))
    return [objectives[i] for i in order], kr_values


def recompute(objectives: list[Objective], kr_values: dict[str, float | None]) -> dict[str, float | None]:
    """An independent bottom-up recomputation: sum(value*weight)/sum(weight) over items that have a value."""
    by_id = {o.id: o for o in objectives}
    memo: dict[str, float | None] = {}

    def score(obj_id: str) -> float | None:
        if obj_id in memo:
            return memo[obj_id]
        num = den = 0.0
        for kr in by_id[obj_id].key_results:
            if kr_values.get(kr.id) is not None:
                num += kr_values[kr.id] * kr.weight
                den += kr.weight
        for child in objectives:
            if child.parent == obj_id and score(child.id) is not None:
                num += score(child.id) * child.weight
                den += child.weight
        memo[obj_id] = num / den if den else None
        return memo[obj_id]

    return {o.id: score(o.id) for o in objectives}


@PROPERTY
@given(objective_trees())
def test_rollup_equals_an_independent_weighted_mean(tree: tuple[list[Objective], dict[str, float | None]]) -> None:
    objectives, kr_values = tree
    result = rollup(objectives, kr_values)
    expected = recompute(objectives, kr_values)
    assert set(result) == {o.id for o in objectives}
    for obj_id, value in expected.items():
        if value is None:
            assert result[obj_id] is None, obj_id
        else:
            assert result[obj_id] == pytest.approx(value, rel=1e-9, abs=1e-12), obj_id
            assert 0.0 <= result[obj_id] <= 1.0 + 1e-12


def test_rollup_does_not_depend_on_file_order() -> None:
    objectives = [
        make_objective("c", krs=[make_kr("k1")]),
        make_objective("t1", "c", weight=2, krs=[make_kr("k2")]),
        make_objective("i1", "t1", krs=[make_kr("k3", 4)]),
    ]
    values = {"k1": 0.1, "k2": 0.5, "k3": 0.9}
    expected = rollup(objectives, values)
    shuffled = objectives[:]
    random.Random(7).shuffle(shuffled)
    assert rollup(list(reversed(objectives)), values) == expected
    assert rollup(shuffled, values) == expected


# -- elapsed share ---------------------------------------------------------------------------------------------

Q4 = Cycle(name="2026-Q4", start=date(2026, 10, 1), end=date(2026, 12, 31))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 9, 1, tzinfo=UTC), 0.0),
        (datetime(2026, 10, 1, tzinfo=UTC), 0.0),
        (datetime(2026, 11, 16, tzinfo=UTC), 0.5),  # 46 of 92 days (the last day counts in full)
        (datetime(2027, 1, 1, tzinfo=UTC), 1.0),
        (datetime(2027, 3, 1, tzinfo=UTC), 1.0),
    ],
)
def test_elapsed_share_of_the_quarter(at: datetime, expected: float) -> None:
    start, end = Q4.bounds()
    assert elapsed_share(start, end, at) == pytest.approx(expected)


def test_elapsed_share_respects_the_cycle_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    start, end = Q4.bounds(paris)
    assert start == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert elapsed_share(start, end, datetime(2026, 9, 30, 22, tzinfo=UTC)) == 0.0
    quarter_hours = (end - start) / timedelta(hours=1)
    assert elapsed_share(start, end, start + timedelta(hours=quarter_hours / 4)) == pytest.approx(0.25)


@PROPERTY
@given(st.integers(0, 200 * 86400), st.integers(0, 200 * 86400))
def test_elapsed_share_is_monotonic_and_bounded(a: int, b: int) -> None:
    start, end = Q4.bounds()
    origin = start - timedelta(days=50)
    early, late = sorted([origin + timedelta(seconds=a), origin + timedelta(seconds=b)])
    assert 0.0 <= elapsed_share(start, end, early) <= elapsed_share(start, end, late) <= 1.0


# -- pace status -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "score", "status"),
    [
        (0.5, 0.4, "on_track"),  # exactly expected - 0.1
        (0.5, 0.399999, "at_risk"),
        (0.5, 0.25, "at_risk"),  # exactly expected - 0.25
        (0.5, 0.249999, "off_track"),
        (0.8, 0.7, "on_track"),  # 0.8 - 0.1 is 0.7000000000000001 in floats: still on track
        (0.8, 0.55, "at_risk"),
        (0.8, 0.549999, "off_track"),
        (1.0, 0.9, "on_track"),
        (1.0, 0.75, "at_risk"),
        (1.0, 0.7, "off_track"),
        (0.7, 0.6, "on_track"),
        (0.7, 0.45, "at_risk"),
        (0.7, 0.44, "off_track"),
        (0.3, 0.2, "on_track"),  # 0.3 - 0.1 is 0.19999999999999998 in floats
        (0.35, 0.1, "at_risk"),  # 0.35 - 0.25 is 0.09999999999999998
        (0.0, 0.0, "on_track"),
        (1.0, 1.0, "on_track"),
        (0.5, None, "no_data"),
    ],
)
def test_pace_status_boundaries(expected: float, score: float | None, status: str) -> None:
    assert pace_status(score, expected) == status


def test_pace_status_at_the_computed_boundaries() -> None:
    for expected in (0.0, 0.13, 0.5, 0.7, 0.93, 1.0):
        assert pace_status(expected - 0.1, expected) == "on_track"
        assert pace_status(expected - 0.1 - 1e-6, expected) == "at_risk"
        assert pace_status(expected - 0.25, expected) == "at_risk"
        assert pace_status(expected - 0.25 - 1e-6, expected) == "off_track"


RANK = {"off_track": 0, "at_risk": 1, "on_track": 2}


@PROPERTY
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_pace_status_never_gets_worse_as_the_score_rises(expected: float, a: float, b: float) -> None:
    low, high = sorted([a, b])
    assert RANK[pace_status(low, expected)] <= RANK[pace_status(high, expected)]


# -- KR status -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "threshold", "score", "latest", "status"),
    [
        ("maintain_above", 4.2, 1.0, 4.1, "off_track"),  # all held so far, but the latest breaks it
        ("maintain_above", 4.2, 1.0, 4.2, "on_track"),  # the threshold itself holds
        ("maintain_above", 4.2, 0.95, 4.5, "on_track"),
        ("maintain_above", 4.2, 0.8, 4.5, "at_risk"),  # judged on the held share against 1.0
        ("maintain_above", 4.2, 0.5, 4.5, "at_risk"),  # held again: never off track, at risk on a low share
        ("maintain_below", 0.2, 1.0, 0.25, "off_track"),
        ("maintain_below", 0.2, 1.0, 0.2, "on_track"),
        ("maintain_below", 0.2, 0.9, 0.1, "on_track"),
        ("maintain_below", 0.2, None, 0.1, "no_data"),
        ("maintain_below", 0.2, 0.9, None, "on_track"),  # no latest value: the share decides
    ],
)
def test_kr_status_for_maintain_kinds(
    kind: str, threshold: float, score: float | None, latest: float | None, status: str
) -> None:
    kr = make_kr("uptime", kind=kind, target=threshold, baseline=None)
    for elapsed in (0.0, 0.5, 1.0):  # maintain kinds are not paced by the calendar
        assert kr_status(kr, score, latest, elapsed) == status


@pytest.mark.parametrize(
    ("track", "elapsed", "score", "status"),
    [
        ("aspirational", 1.0, 0.7, "on_track"),  # 70% of an ambitious goal is a win
        ("aspirational", 1.0, 0.6, "on_track"),
        ("aspirational", 1.0, 0.45, "at_risk"),
        ("aspirational", 1.0, 0.44, "off_track"),
        ("committed", 1.0, 0.7, "off_track"),
        ("committed", 1.0, 0.9, "on_track"),
        ("aspirational", 0.5, 0.25, "on_track"),  # expected 0.35
        ("committed", 0.5, 0.25, "at_risk"),  # expected 0.5
        ("committed", 0.0, 0.0, "on_track"),
        ("aspirational", 0.5, None, "no_data"),
    ],
)
def test_kr_status_paces_against_the_track(track: str, elapsed: float, score: float | None, status: str) -> None:
    kr = make_kr("f1", baseline=0.79, target=0.92, track=track)
    assert kr.success_score == (0.7 if track == "aspirational" else 1.0)
    assert kr_status(kr, score, 0.9, elapsed) == status


@pytest.mark.parametrize("track", ["committed", "aspirational"])
@pytest.mark.parametrize(
    ("elapsed", "score", "status"),
    [
        (1.0, 0.7, "on_track"),  # F1 0.87, exactly the band's low end: the committed outcome
        (1.0, 0.6, "on_track"),
        (1.0, 0.44, "off_track"),
        (0.5, 0.25, "on_track"),  # expected 0.35
    ],
)
def test_a_band_succeeds_at_its_low_end_whatever_the_track(
    track: str, elapsed: float, score: float, status: str
) -> None:
    kr = make_kr("f1", baseline=0.79, target=[0.87, 0.92], track=track)
    assert kr.success_score == 0.7
    assert kr_status(kr, score, 0.87, elapsed) == status
