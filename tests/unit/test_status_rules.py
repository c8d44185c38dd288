"""Statuses that tell the truth (issue 12): the forecast never overrules the evidence, objectives agree with
their key results, every status carries its reason. Whole runs are scored with ``okrflow.okr_model.evaluation.score_run`` (pure:
measurements and history in, results out); the rules themselves with ``okrflow.okr_model.status``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from okrflow.connectors.base import Measurement
from okrflow.okr_model.config import KeyResult, Objective
from okrflow.okr_model.evaluation import ScoringInputs, score_run
from okrflow.okr_model.forecast import forecast
from okrflow.okr_model.loader import parse_config
from okrflow.okr_model.status import ChildResult, judge_key_result, judge_objectives

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
START = datetime(2026, 10, 1, tzinfo=UTC)
CYCLE = timedelta(days=92)  # 2026-10-01 .. 2026-12-31, the last day in full

HEADER = """
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
sources:
  warehouse: {type: sql, url: "sqlite:///warehouse.db"}
objectives:
"""


def config_of(objectives: str) -> Any:
    return parse_config(HEADER + objectives)


def kr_yaml(kr_id: str, **fields: Any) -> str:
    data = {"kind": "increase", "baseline": 0, "target": 100, **fields}
    body = ", ".join(f"{k}: {v}" for k, v in data.items())
    return f"      - {{id: {kr_id}, {body}, metric: {{source: warehouse, sql: 'SELECT 1'}}}}\n"


def objective_yaml(objective_id: str, *krs: str, parent: str | None = None) -> str:
    head = f"  - id: {objective_id}\n    title: {objective_id}\n"
    if parent:
        head += f"    parent: {parent}\n"
    return head + ("    key_results:\n" + "".join(krs) if krs else "")


def at(share: float) -> datetime:
    return START + CYCLE * share


def run(
    config: Any,
    when: datetime,
    values: dict[str, float | None],
    history: dict[str, list[tuple[datetime, float]]] | None = None,
    held: dict[str, tuple[int, int]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    measurements = {
        kr_id: Measurement.ok(v, when) if v is not None else Measurement.no_data("nothing in the warehouse")
        for kr_id, v in values.items()
    }
    runs = timedelta(minutes=15).total_seconds()  # the default schedule: each earlier run stood 15 minutes
    held_time = {k: (h * runs, n * runs) for k, (h, n) in (held or {}).items()}
    inputs = ScoringInputs(held_time=held_time, score_history=history or {})
    krs, objectives = score_run(config, when, measurements, {}, inputs)
    return {r.kr_id: r for r in krs}, {o.objective_id: o for o in objectives}


# -- forecast must never overrule the evidence ---------------------------------------------------------------------


def test_a_kr_at_score_one_is_not_off_track_and_its_forecast_is_not_zero() -> None:
    """The demo's data-valid: 66.7% of expectations passed for weeks (score 0), then 100% against 99.5%."""
    config = config_of(objective_yaml("quality", kr_yaml("data-valid", baseline=90, target=99.5, unit="'%'")))
    slots = [START + timedelta(days=7, hours=206.9 * i) for i in range(7)]
    now = datetime(2026, 12, 7, 8, 28, tzinfo=UTC)
    krs, _ = run(config, now, {"data-valid": 100.0}, history={"data-valid": [(s, 0.0) for s in slots]})
    r = krs["data-valid"]
    assert r.score == 1.0
    assert r.status == "on_track", r
    assert r.forecast is not None and r.forecast["score"] == pytest.approx(1.0), "a KR at 1.0 is not forecast at 0.0"


def test_a_kr_on_its_plan_line_read_12_hours_late_is_on_track() -> None:
    """score = elapsed - 12 h: the trend projects 0.99456 with a near-zero interval; pace says on track."""
    config = config_of(objective_yaml("o", kr_yaml("plan")))
    late = timedelta(hours=12) / CYCLE
    slots = [at(0.01 + i * 0.49 / 63) for i in range(64)]
    history = [(s, (s - START) / CYCLE - late) for s in slots]
    now = at(0.5)
    krs, objectives = run(config, now, {"plan": (0.5 - late) * 100}, history={"plan": history})
    r = krs["plan"]
    assert r.forecast is not None and r.forecast["score"] == pytest.approx(1 - late, abs=1e-6)
    assert r.forecast["high"] >= 1.0, "the interval never falls below the noise floor"
    assert r.status == "on_track", r
    assert objectives["o"].status == "on_track"


def test_krs_at_baseline_on_the_third_run_of_day_one_are_on_track() -> None:
    """00:30 on day 1, three runs at baseline: expected ~0, and three runs over 30 minutes prove nothing."""
    config = config_of(objective_yaml("o", kr_yaml("a"), kr_yaml("b", kind="decrease", baseline=40, target=20)))
    now = START + timedelta(minutes=30)
    history = [(START, 0.0), (START + timedelta(minutes=15), 0.0)]
    krs, objectives = run(config, now, {"a": 0.0, "b": 40.0}, history={"a": history, "b": history})
    assert {k: r.status for k, r in krs.items()} == {"a": "on_track", "b": "on_track"}
    assert objectives["o"].status == "on_track"


@pytest.mark.parametrize("day", [40, 41, 44, 48, 52, 56])
def test_a_kr_that_jumped_to_085_on_day_40_is_not_off_track(day: int) -> None:
    """Daily runs at 0 until day 40, then 0.85: the median slope over the old regime flattened the step to 0.0."""
    config = config_of(objective_yaml("o", kr_yaml("k")))
    history = [(START + timedelta(days=d), 0.0 if d < 40 else 0.85) for d in range(day)]
    now = START + timedelta(days=day, hours=1)
    krs, _ = run(config, now, {"k": 85.0}, history={"k": history})
    r = krs["k"]
    assert r.status == "on_track", r  # expected at most 0.62: 0.85 is ahead of the pace
    assert r.forecast is not None and r.forecast["score"] >= 0.8, r.forecast


def test_a_slow_trend_with_enough_evidence_lowers_an_on_pace_kr_one_step() -> None:
    """Half-way, on pace (0.5 vs expected 0.5), but 30 runs over half the cycle project 0.7 (0.65-0.75)."""
    config = config_of(objective_yaml("o", kr_yaml("slow")))
    history = [(at(i / 60), 0.3 + 0.4 * i / 60) for i in range(30)]
    krs, objectives = run(config, at(0.5), {"slow": 50.0}, history={"slow": history})
    r = krs["slow"]
    assert r.status == "at_risk", r
    assert "forecast 0.70 (0.65-0.75) from 31 runs stays below success 1.00" in r.reason
    assert objectives["o"].status == "at_risk", "the forecast reaches the objective through its KR"


def test_a_forecast_without_enough_evidence_changes_nothing_and_says_so() -> None:
    config = config_of(objective_yaml("o", kr_yaml("k")))
    history = [(at(0.02 + i * 0.01), 0.0) for i in range(5)]
    krs, _ = run(config, at(0.08), {"k": 0.0}, history={"k": history})
    r = krs["k"]
    assert r.status == "on_track"
    assert "not used yet: 6 runs over 5.5 days (6% of the cycle), it needs 8" in r.reason, r.reason


def test_a_committed_kr_at_the_low_end_of_its_band_succeeds() -> None:
    """F1 from 0.79 to 0.87-0.92, committed: reaching 0.87 (score 0.7) is the committed outcome."""
    config = config_of(objective_yaml("o", kr_yaml("f1", baseline=0.79, target="[0.87, 0.92]")))
    krs, objectives = run(config, datetime(2026, 12, 31, 23, tzinfo=UTC), {"f1": 0.87})
    r = krs["f1"]
    assert r.score == pytest.approx(0.7)
    assert r.status == "on_track", r
    assert r.expected == pytest.approx(0.7, abs=0.001)
    assert objectives["o"].status == "on_track"


# -- every status carries its reason -------------------------------------------------------------------------------


def test_every_status_carries_its_reason() -> None:
    config = config_of(
        objective_yaml(
            "o",
            kr_yaml("behind"),
            kr_yaml("slipping"),
            kr_yaml("ahead"),
            kr_yaml("uptime", kind="maintain_above", target=99.5, baseline="null"),
            kr_yaml("latency", kind="maintain_below", target=0.2, baseline="null", unit="s"),
            kr_yaml("silent"),
        )
    )
    krs, objectives = run(
        config,
        at(0.62),
        {"behind": 31.0, "slipping": 45.0, "ahead": 70.0, "uptime": 99.8, "latency": 0.25, "silent": None},
        held={"uptime": (2, 3), "latency": (3, 3)},
    )
    reasons = {k: (r.status, r.reason) for k, r in krs.items()}
    assert reasons["behind"] == ("off_track", "score 0.31 is below expected 0.62 by more than 0.25")
    assert reasons["slipping"] == ("at_risk", "score 0.45 is 0.17 below expected 0.62")
    assert reasons["ahead"] == ("on_track", "score 0.70 is at or above expected 0.62")
    assert reasons["uptime"] == (
        "at_risk",
        "share held 0.75 is below the 0.90 on track needs; latest value 99.8 holds the threshold 99.5",
    )
    assert reasons["latency"] == ("off_track", "latest value 0.25 is above the threshold 0.2 s")
    assert reasons["silent"][0] == "no_data" and reasons["silent"][1]
    assert objectives["o"].reason, "objectives carry theirs too"


# -- objectives must agree with their key results ------------------------------------------------------------------


def test_an_objective_whose_only_kr_is_off_track_is_off_track() -> None:
    """ops: one maintain KR that held 9 of 11 runs and breaks its threshold now. The objective paced its 0.82 by
    elapsed time (expected 0.5) where the KR expects 1.0."""
    config = config_of(objective_yaml("ops", kr_yaml("uptime", kind="maintain_above", target=99.5, baseline="null")))
    krs, objectives = run(config, at(0.5), {"uptime": 99.0}, held={"uptime": (9, 10)})
    assert krs["uptime"].status == "off_track"
    ops = objectives["ops"]
    assert ops.status == "off_track", ops
    assert ops.reason.startswith("no child does better than off_track (pace alone: score 0.82 is 0.18 below")


def test_an_objective_with_one_of_six_krs_scored_has_no_data() -> None:
    config = config_of(objective_yaml("model", *(kr_yaml(f"k{i}") for i in range(6))))
    values: dict[str, float | None] = {f"k{i}": None for i in range(6)}
    values["k0"] = 100.0
    _, objectives = run(config, at(0.5), values)
    model = objectives["model"]
    assert model.score == pytest.approx(1.0), "the score it has is kept and shown"
    assert model.status == "no_data", model
    assert (model.scored, model.of) == (1, 6)
    assert model.reason.startswith("scored 1 of 6 key results (17% of its weight)")


def test_an_objectives_expected_score_leaves_out_krs_without_data() -> None:
    """At the end: an aspirational KR at 0.5 (expected 0.7) and a committed KR without data. The objective's
    expected score averaged in the silent KR's 1.0: 0.85, so 0.5 was off track."""
    config = config_of(objective_yaml("o", kr_yaml("asp", track="aspirational"), kr_yaml("silent")))
    krs, objectives = run(config, at(1.0), {"asp": 50.0, "silent": None})
    assert krs["asp"].status == "at_risk"
    o = objectives["o"]
    assert o.status == "at_risk", o
    assert (o.scored, o.of) == (1, 2)


def test_child_objectives_count_their_krs_and_pass_their_caps_up() -> None:
    config = config_of(
        objective_yaml("company")
        + objective_yaml("team", kr_yaml("t1"), kr_yaml("t2"), parent="company")
        + objective_yaml(
            "ops", kr_yaml("uptime", kind="maintain_above", target=99.5, baseline="null"), parent="company"
        )
    )
    krs, objectives = run(config, at(0.5), {"t1": 10.0, "t2": None, "uptime": 99.0}, held={"uptime": (9, 10)})
    assert (objectives["company"].scored, objectives["company"].of) == (2, 3)
    assert objectives["ops"].status == "off_track"
    assert krs["t1"].status == "off_track"
    assert objectives["company"].status == "off_track", "every scored KR under it is off track"


# -- properties ----------------------------------------------------------------------------------------------------

unit = st.floats(0, 1, allow_nan=False)


@st.composite
def progress_krs(draw: st.DrawFn) -> KeyResult:
    kind = draw(st.sampled_from(["increase", "decrease", "milestone"]))
    band = draw(st.booleans())
    track = draw(st.sampled_from(["committed", "aspirational"]))
    if kind == "decrease":
        baseline, target = 10.0, ([5.0, 2.0] if band else 2.0)
    else:
        baseline, target = 0.0, ([5.0, 8.0] if band else 8.0)
    return KeyResult.model_validate(
        {"id": "k", "kind": kind, "baseline": baseline, "target": target, "track": track, "metric": {"source": "s"}}
    )


@PROPERTY
@given(
    kr=progress_krs(),
    above=unit,
    elapsed=unit,
    history=st.lists(st.tuples(unit, unit), max_size=40),
    cycle_days=st.sampled_from([42.0, 92.0, 182.0]),
)
def test_a_kr_at_or_above_success_is_never_off_track(
    kr: KeyResult, above: float, elapsed: float, history: list[tuple[float, float]], cycle_days: float
) -> None:
    score = kr.success_score + above * (1 - kr.success_score)
    points = [(t * elapsed, y) for t, y in history] + [(elapsed, score)]
    judged = judge_key_result(kr, score, None, elapsed, forecast(points), cycle_days=cycle_days)
    assert judged.status in ("on_track", "at_risk") and judged.reason
    assert judged.status == "on_track" or elapsed * kr.success_score - score > 0.1


@PROPERTY
@given(
    elapsed=unit,
    values=st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=4, max_size=4),
    histories=st.lists(st.lists(st.tuples(unit, unit), max_size=12), min_size=4, max_size=4),
)
def test_an_objective_whose_scored_krs_are_all_off_track_is_never_on_track(
    elapsed: float, values: list[float | None], histories: list[list[tuple[float, float]]]
) -> None:
    """Whole runs: random values and score histories for a small tree (one maintain KR among them)."""
    config = PROPERTY_CONFIG
    when = at(elapsed)
    ids = ["a", "b", "c", "uptime"]
    history = {k: [(at(t * elapsed), y) for t, y in h] for k, h in zip(ids, histories, strict=True)}
    if values[3] is not None:
        values[3] = 99 + values[3] / 100
    krs, objectives = run(config, when, dict(zip(ids, values, strict=True)), history, held={"uptime": (3, 5)})
    for kr_id in ("a", "b", "c"):  # progress KRs: at or above success is never off track, whatever the history
        r = krs[kr_id]
        if r.score is not None and r.score >= CONFIG_SUCCESS[kr_id]:
            assert r.status != "off_track", r
    under = {"team": ["a", "b"], "ops": ["uptime"], "company": ["a", "b", "c", "uptime"]}
    for objective_id, kr_ids in under.items():
        scored = [krs[k] for k in kr_ids if krs[k].score is not None]
        o = objectives[objective_id]
        assert o.reason
        assert (o.scored, o.of) == (len(scored), len(kr_ids))
        if scored and all(r.status == "off_track" for r in scored):
            assert o.status != "on_track", (objective_id, o, scored)


PROPERTY_CONFIG = config_of(
    objective_yaml("company", kr_yaml("c", track="aspirational"))
    + objective_yaml("team", kr_yaml("a"), kr_yaml("b", baseline=0.79, target="[0.87, 0.92]"), parent="company")
    + objective_yaml("ops", kr_yaml("uptime", kind="maintain_above", target=99.5, baseline="null"), parent="company")
)

CONFIG_SUCCESS = {kr.id: kr.success_score for _, kr in PROPERTY_CONFIG.key_results()}

statuses = st.sampled_from(["on_track", "at_risk", "off_track"])


@st.composite
def judged_trees(draw: st.DrawFn) -> tuple[list[Objective], dict[str, ChildResult]]:
    """A random forest of objectives with KRs whose score, expected score and status are drawn independently."""
    count = draw(st.integers(1, 6))
    objectives, results = [], {}
    for i in range(count):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None
        krs = []
        for j in range(draw(st.integers(0, 3))):
            kr = KeyResult.model_validate(
                {"id": f"k{i}-{j}", "kind": "increase", "baseline": 0, "target": 1, "metric": {"source": "s"}}
            )
            kr = kr.model_copy(update={"weight": draw(st.floats(0.1, 5))})
            krs.append(kr)
            if draw(st.booleans()):
                results[kr.id] = ChildResult(draw(unit), draw(unit), draw(statuses))
        objectives.append(
            Objective(
                id=f"o{i}",
                title=f"o{i}",
                parent=None if parent is None else f"o{parent}",
                weight=draw(st.floats(0.1, 5)),
                key_results=krs,
            )
        )
    return objectives, results


RANK = {"off_track": 0, "at_risk": 1, "on_track": 2}


@PROPERTY
@given(judged_trees())
def test_objectives_are_never_better_than_their_best_scored_kr(
    tree: tuple[list[Objective], dict[str, ChildResult]],
) -> None:
    objectives, results = tree
    judged = judge_objectives(objectives, results)
    by_parent: dict[str | None, list[Objective]] = {}
    for o in objectives:
        by_parent.setdefault(o.parent, []).append(o)

    def kr_ids(o: Objective) -> list[str]:
        return [kr.id for kr in o.key_results] + [k for c in by_parent.get(o.id, []) for k in kr_ids(c)]

    for o in objectives:
        j = judged[o.id]
        scored = [results[k] for k in kr_ids(o) if k in results]
        assert (j.scored, j.of) == (len(scored), len(kr_ids(o)))
        assert j.reason
        if j.status == "no_data":
            continue
        assert scored, "a status needs data"
        assert RANK[j.status] <= max(RANK[r.status] for r in scored), (o.id, j)
        if all(r.status == "off_track" for r in scored):
            assert j.status == "off_track"
