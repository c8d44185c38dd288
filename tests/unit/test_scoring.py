"""Key-result scoring (ARCHITECTURE.md "KR kinds and scoring"): hand-checked tables and hypothesis properties."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from okrflow.okr_model.config import Caps, KeyResult
from okrflow.okr_model.scoring import GateInputs, KRScore, score_key_result

PROPERTY = settings(max_examples=150, deadline=None)

INVALID_VALUES = [None, math.nan, math.inf, -math.inf, True]
finite = st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False)
anchor = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
step = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


def make_kr(**fields: Any) -> KeyResult:
    """A KR bound to a metric (manual KRs take none)."""
    data: dict[str, Any] = {"id": "kr", **fields}
    if data.get("kind") != "manual":
        data.setdefault("metric", {"source": "src"})
    return KeyResult.model_validate(data)


def score(kr: KeyResult, value: float | None, **gates: Any) -> float | None:
    return score_key_result(kr, value, [value], GateInputs(**gates)).score


# -- increase / decrease / milestone: hand-checked against the scenario numbers -----------------------------

PROGRESS_TABLE = [
    # (case, KR fields, value, expected score)
    ("first-contact 60->80 halfway", {"kind": "increase", "baseline": 60, "target": 80}, 70, 0.5),
    ("first-contact at baseline", {"kind": "increase", "baseline": 60, "target": 80}, 60, 0.0),
    ("first-contact below baseline", {"kind": "increase", "baseline": 60, "target": 80}, 50, 0.0),
    ("first-contact at target", {"kind": "increase", "baseline": 60, "target": 80}, 80, 1.0),
    ("first-contact beyond target", {"kind": "increase", "baseline": 60, "target": 80}, 95, 1.0),
    ("click-through 10->25", {"kind": "increase", "baseline": 10, "target": 25}, 13, 0.2),
    ("resolution hours 4->2 halfway", {"kind": "decrease", "baseline": 4, "target": 2}, 3, 0.5),
    ("resolution hours worse than baseline", {"kind": "decrease", "baseline": 4, "target": 2}, 5, 0.0),
    ("resolution hours at target", {"kind": "decrease", "baseline": 4, "target": 2}, 2, 1.0),
    ("resolution hours beyond target", {"kind": "decrease", "baseline": 4, "target": 2}, 1.5, 1.0),
    ("cost per ticket 12->8", {"kind": "decrease", "baseline": 12, "target": 8}, 11, 0.25),
    ("false positives 10->2", {"kind": "decrease", "baseline": 10, "target": 2}, 4, 0.75),
    ("3 production models, 2 shipped", {"kind": "milestone", "target": 3}, 2, 2 / 3),
    ("3 production models, none", {"kind": "milestone", "target": 3}, 0, 0.0),
    ("3 production models, 4 shipped", {"kind": "milestone", "target": 3}, 4, 1.0),
    ("boolean milestone reached", {"kind": "milestone", "target": 1}, 1, 1.0),
    ("manual check-in upwards", {"kind": "manual", "target": 80}, 20, 0.25),
    ("manual check-in downwards", {"kind": "manual", "baseline": 10, "target": 5}, 6, 0.8),
    # F1 from 0.79 to 0.87-0.92: baseline -> low = 0.0 -> 0.7, low -> high = 0.7 -> 1.0
    ("F1 band at baseline", {"kind": "increase", "baseline": 0.79, "target": [0.87, 0.92]}, 0.79, 0.0),
    ("F1 band halfway to commit", {"kind": "increase", "baseline": 0.79, "target": [0.87, 0.92]}, 0.83, 0.35),
    ("F1 band at commit", {"kind": "increase", "baseline": 0.79, "target": [0.87, 0.92]}, 0.87, 0.7),
    ("F1 band halfway to stretch", {"kind": "increase", "baseline": 0.79, "target": [0.87, 0.92]}, 0.895, 0.85),
    ("F1 band at stretch", {"kind": "increase", "baseline": 0.79, "target": [0.87, 0.92]}, 0.92, 1.0),
    ("F1 band beyond stretch", {"kind": "increase", "baseline": 0.79, "target": [0.87, 0.92]}, 0.97, 1.0),
    ("F1 band written high-first", {"kind": "increase", "baseline": 0.79, "target": [0.92, 0.87]}, 0.87, 0.7),
    # a decrease band: 4 h -> 2-3 h; the committed end is the one nearer the baseline (3 h)
    ("hours band at commit", {"kind": "decrease", "baseline": 4, "target": [2, 3]}, 3, 0.7),
    ("hours band halfway to commit", {"kind": "decrease", "baseline": 4, "target": [2, 3]}, 3.5, 0.35),
    ("hours band halfway to stretch", {"kind": "decrease", "baseline": 4, "target": [2, 3]}, 2.5, 0.85),
    ("hours band at stretch", {"kind": "decrease", "baseline": 4, "target": [2, 3]}, 2, 1.0),
    ("hours band worse than baseline", {"kind": "decrease", "baseline": 4, "target": [2, 3]}, 6, 0.0),
]


@pytest.mark.parametrize(
    ("fields", "value", "expected"), [row[1:] for row in PROGRESS_TABLE], ids=[row[0] for row in PROGRESS_TABLE]
)
def test_progress_table(fields: dict[str, Any], value: float, expected: float) -> None:
    result = score_key_result(make_kr(**fields), value)
    assert result.score == pytest.approx(expected, abs=1e-12)
    assert result.computed == result.score == result.progress
    assert result.gates == () and result.trusted and not result.held and not result.overridden


def test_band_ends_are_exact() -> None:
    """The committed end is exactly 0.7 and the stretch exactly 1.0, not 0.69999... or 0.99999..."""
    kr = make_kr(kind="increase", baseline=0.79, target=[0.87, 0.92])
    assert score(kr, 0.87) == 0.7
    assert score(kr, 0.92) == 1.0
    assert score(kr, 0.8699999) < 0.7


# -- properties ------------------------------------------------------------------------------------------------


@st.composite
def directed_krs(draw: st.DrawFn) -> KeyResult:
    """An increase, decrease or milestone KR with a point target or a band on the right side of its start."""
    kind = draw(st.sampled_from(["increase", "decrease", "milestone"]))
    start = 0.0 if kind == "milestone" else draw(anchor)
    sign = -1 if kind == "decrease" else 1
    near = start + sign * draw(step)
    if draw(st.booleans()):
        far = near + sign * draw(step)
        target: Any = [near, far] if draw(st.booleans()) else [far, near]
    else:
        target = near
    fields: dict[str, Any] = {"kind": kind, "target": target}
    if kind != "milestone":
        fields["baseline"] = start
    return make_kr(**fields)


@PROPERTY
@given(directed_krs(), finite, finite)
def test_score_is_monotonic_in_the_value(kr: KeyResult, a: float, b: float) -> None:
    low, high = sorted([a, b])
    s_low, s_high = score(kr, low), score(kr, high)
    if kr.kind == "decrease":
        assert s_low >= s_high, f"decrease: {low}->{s_low} but {high}->{s_high}"
    else:
        assert s_low <= s_high, f"{kr.kind}: {low}->{s_low} but {high}->{s_high}"


@PROPERTY
@given(directed_krs(), finite)
def test_score_stays_within_unit_interval(kr: KeyResult, value: float) -> None:
    result = score_key_result(kr, value)
    assert 0.0 <= result.score <= 1.0
    assert result.score == result.progress


@PROPERTY
@given(directed_krs(), step)
def test_baseline_scores_zero_and_target_clamps_to_one(kr: KeyResult, beyond: float) -> None:
    start = kr.start_value
    ends = list(kr.target) if isinstance(kr.target, tuple) else [kr.target]
    stretch = max(ends, key=lambda end: abs(end - start))
    sign = 1 if stretch > start else -1
    assert score(kr, start) == 0.0
    assert score(kr, start - sign * beyond) == 0.0, "worse than the baseline still scores 0, never negative"
    assert score(kr, stretch) == 1.0
    assert score(kr, stretch + sign * beyond) == 1.0, "beyond the target clamps to 1"


@PROPERTY
@given(st.sampled_from(["increase", "decrease"]), anchor, step, step)
def test_band_maps_commit_to_07_and_stretch_to_1(kind: str, start: float, to_commit: float, to_stretch: float) -> None:
    sign = -1 if kind == "decrease" else 1
    commit = start + sign * to_commit
    stretch = commit + sign * to_stretch
    kr = make_kr(kind=kind, baseline=start, target=sorted([commit, stretch]))
    assert score(kr, commit) == 0.7
    assert score(kr, stretch) == 1.0
    assert score(kr, start) == 0.0
    assert score(kr, start + (commit - start) / 2) == pytest.approx(0.35, abs=1e-6)
    assert score(kr, commit + (stretch - commit) / 2) == pytest.approx(0.85, abs=1e-6)


@pytest.mark.parametrize("value", INVALID_VALUES, ids=repr)
@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "increase", "baseline": 0.79, "target": 0.9},
        {"kind": "decrease", "baseline": 4, "target": [2, 3]},
        {"kind": "milestone", "target": 3},
        {"kind": "manual", "target": 80},
        {"kind": "maintain_above", "target": 4.2},
        {"kind": "maintain_below", "target": 0.2},
    ],
    ids=lambda f: f["kind"],
)
def test_missing_or_non_finite_values_are_never_scored(fields: dict[str, Any], value: Any) -> None:
    kr = make_kr(**fields, requires_production=True, quality_gate={"source": "gx", "suite": "s"})
    result = score_key_result(kr, value, [4.5, 0.1, value], GateInputs(quality="failed", in_production=False))
    assert result == KRScore(score=None, computed=None, progress=None, gates=(), trusted=True)


# -- maintain_above / maintain_below ---------------------------------------------------------------------------

MAINTAIN_TABLE = [
    ("CSAT above 4.2", "maintain_above", 4.2, [4.5, 4.1, 4.2, math.nan, None, 4.3], 3 / 4),
    ("CSAT all held", "maintain_above", 4.2, [4.3, 4.4, 4.2], 1.0),
    ("CSAT none held", "maintain_above", 4.2, [4.0, 4.19], 0.0),
    ("uptime at least 99.5", "maintain_above", 99.5, [99.9, 99.4, 99.5, 98.0, math.inf], 2 / 4),
    ("P95 under 200 ms", "maintain_below", 0.2, [0.15, 0.25, 0.2, -math.inf], 2 / 3),
    ("P95 one sample", "maintain_below", 0.2, [0.19], 1.0),
]


@pytest.mark.parametrize(
    ("kind", "threshold", "values", "expected"), [r[1:] for r in MAINTAIN_TABLE], ids=[r[0] for r in MAINTAIN_TABLE]
)
def test_maintain_scores_the_share_of_valid_values_that_held(
    kind: str, threshold: float, values: list[float | None], expected: float
) -> None:
    kr = make_kr(kind=kind, target=threshold)
    latest = next(v for v in reversed(values) if v is not None and math.isfinite(v))
    result = score_key_result(kr, latest, values)
    assert result.score == pytest.approx(expected, abs=1e-12)
    assert result.computed == result.progress == result.score


def test_maintain_without_valid_cycle_values_has_no_score() -> None:
    kr = make_kr(kind="maintain_above", target=4.2)
    assert score_key_result(kr, 4.5, [None, math.nan]).score is None


cycle_samples = st.lists(
    st.one_of(finite, st.none(), st.sampled_from([math.nan, math.inf, -math.inf])), min_size=1, max_size=30
)


@PROPERTY
@given(st.sampled_from(["maintain_above", "maintain_below"]), finite, cycle_samples, finite)
def test_maintain_share_matches_a_recount(kind: str, threshold: float, values: list[Any], latest: float) -> None:
    values = [*values, latest]
    kr = make_kr(kind=kind, target=threshold)
    held = total = 0
    for v in values:
        if v is None or v != v or v in (math.inf, -math.inf):
            continue
        total += 1
        held += (v >= threshold) if kind == "maintain_above" else (v <= threshold)
    result = score_key_result(kr, latest, values)
    assert result.score == pytest.approx(held / total, abs=1e-12)
    assert 0.0 <= result.score <= 1.0


# -- gates -----------------------------------------------------------------------------------------------------

F1 = {"kind": "increase", "baseline": 0.79, "target": 0.92}


def test_failed_quality_gate_caps_at_02_and_marks_untrusted() -> None:
    kr = make_kr(**F1, quality_gate={"source": "gx", "suite": "tickets"})
    result = score_key_result(kr, 0.92, gates=GateInputs(quality="failed"))
    assert (result.score, result.computed, result.progress) == (0.2, 0.2, 1.0)
    assert result.gates == ("quality_gate",) and result.trusted is False and result.held is False
    low = score_key_result(kr, 0.80, gates=GateInputs(quality="failed"))
    assert low.score == pytest.approx(0.01 / 0.13), "a cap never raises a score"


def test_passed_quality_gate_leaves_the_score() -> None:
    kr = make_kr(**F1, quality_gate={"source": "gx", "suite": "tickets"})
    result = score_key_result(kr, 0.92, gates=GateInputs(quality="passed"))
    assert (result.score, result.gates, result.trusted) == (1.0, (), True)


def test_quality_failure_is_ignored_for_a_kr_without_a_gate() -> None:
    result = score_key_result(make_kr(**F1), 0.92, gates=GateInputs(quality="failed"))
    assert (result.score, result.gates, result.trusted) == (1.0, (), True)


def test_quality_gate_hold_keeps_the_previous_score() -> None:
    kr = make_kr(**F1, quality_gate={"source": "gx", "suite": "tickets", "on_fail": "hold"})
    result = score_key_result(kr, 0.92, gates=GateInputs(quality="failed", previous_score=0.55))
    assert (result.score, result.computed) == (0.55, 0.55)
    assert result.held is True and result.trusted is False and result.gates == ("quality_gate",)
    assert result.progress == 1.0, "the new value's progress is still recorded"
    passed = score_key_result(kr, 0.92, gates=GateInputs(quality="passed", previous_score=0.55))
    assert (passed.score, passed.held) == (1.0, False)


@pytest.mark.parametrize(
    ("in_production", "expected", "gates"),
    [(False, 0.5, ("requires_production",)), (True, 1.0, ()), (None, 1.0, ())],
    ids=["not in production", "in production", "unknown"],
)
def test_requires_production_caps_at_05_outside_production(
    in_production: bool | None, expected: float, gates: tuple[str, ...]
) -> None:
    kr = make_kr(**F1, requires_production=True)
    result = score_key_result(kr, 0.92, gates=GateInputs(in_production=in_production))
    assert (result.score, result.computed, result.gates) == (expected, expected, gates)
    assert result.trusted is True


def test_requires_production_cap_never_raises_a_score_and_needs_the_flag() -> None:
    kr = make_kr(**F1, requires_production=True)
    assert score(kr, 0.83, in_production=False) == pytest.approx(0.04 / 0.13)
    assert score(make_kr(**F1), 0.92, in_production=False) == 1.0, "a KR without requires_production is not capped"


@pytest.mark.parametrize("value", [0.92, 0.79, 0.5, None, math.nan], ids=repr)
def test_abandoned_scores_04_whatever_the_value(value: float | None) -> None:
    result = score_key_result(make_kr(**F1), value, gates=GateInputs(abandoned=True))
    assert (result.score, result.computed, result.gates) == (0.4, 0.4, ("abandoned",))


def test_override_replaces_score_but_computed_keeps_the_rule() -> None:
    kr = make_kr(**F1, quality_gate={"source": "gx", "suite": "tickets"})
    result = score_key_result(kr, 0.92, gates=GateInputs(quality="failed", override=0.9))
    assert (result.score, result.computed, result.progress) == (0.9, 0.2, 1.0)
    assert result.overridden is True and result.gates == ("quality_gate",)
    plain = score_key_result(kr, 0.92)
    assert plain.overridden is False and plain.score == plain.computed == 1.0


def test_override_applies_without_data() -> None:
    result = score_key_result(make_kr(**F1), None, gates=GateInputs(override=0.3))
    assert (result.score, result.computed, result.overridden) == (0.3, None, True)


def test_custom_caps_are_honoured() -> None:
    caps = Caps(quality_gate=0.1, requires_production=0.6, abandoned=0.3)
    kr = make_kr(**F1, requires_production=True, quality_gate={"source": "gx", "suite": "tickets"})
    assert score_key_result(kr, 0.92, gates=GateInputs(quality="failed"), caps=caps).score == 0.1
    assert score_key_result(kr, 0.92, gates=GateInputs(in_production=False), caps=caps).score == 0.6
    assert score_key_result(kr, 0.92, gates=GateInputs(abandoned=True), caps=caps).score == 0.3
    both = score_key_result(kr, 0.92, gates=GateInputs(quality="failed", in_production=False), caps=caps)
    assert both.score == 0.1 and set(both.gates) == {"quality_gate", "requires_production"}


# -- the scoring table of the AI-OKR guide (SCENARIOS.md), where it maps onto the rules ------------------------

ACCURACY = {"kind": "increase", "baseline": 0.85, "target": 0.92, "requires_production": True}
GATED = {**ACCURACY, "quality_gate": {"source": "gx", "suite": "tickets"}}
SCENARIO_TABLE = [
    # (situation, KR fields, value, gate inputs, score, computed by the rules, gates)
    (
        "hit the target but the model is not in production",
        ACCURACY,
        0.92,
        GateInputs(in_production=False),
        0.5,
        0.5,
        ("requires_production",),
    ),
    (
        "hit the target but data quality invalidates the result",
        GATED,
        0.92,
        GateInputs(quality="failed", in_production=True),
        0.2,
        0.2,
        ("quality_gate",),
    ),
    (
        "abandoned mid-quarter for a data limitation",
        ACCURACY,
        0.88,
        GateInputs(abandoned=True, in_production=True),
        0.4,
        0.4,
        ("abandoned",),
    ),
    # the next two are a person's judgement: an override with a reason, stored beside the rule's value
    (
        "hit the accuracy target and shipped to production",
        ACCURACY,
        0.92,
        GateInputs(in_production=True, override=0.8),
        0.8,
        1.0,
        (),
    ),
    (
        "missed the target but found a better approach and shipped",
        ACCURACY,
        0.885,
        GateInputs(in_production=True, override=0.7),
        0.7,
        0.5,
        (),
    ),
]


@pytest.mark.parametrize(
    ("fields", "value", "gates", "expected", "computed", "applied"),
    [row[1:] for row in SCENARIO_TABLE],
    ids=[row[0] for row in SCENARIO_TABLE],
)
def test_scoring_table_of_the_guide(
    fields: dict[str, Any],
    value: float,
    gates: GateInputs,
    expected: float,
    computed: float,
    applied: tuple[str, ...],
) -> None:
    result = score_key_result(make_kr(**fields), value, [value], gates)
    assert result.score == pytest.approx(expected, abs=1e-12)
    assert result.computed == pytest.approx(computed, abs=1e-12)
    assert result.gates == applied
    assert result.overridden is (gates.override is not None)
