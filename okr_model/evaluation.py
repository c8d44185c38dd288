"""Scoring one run, pure: measurements and history in, each KR's and objective's result and the run's status out.

No I/O and no connector import: what scoring reads of a measurement and of a quality-gate outcome is written
as the two protocols below (``okrflow.connectors.base.Measurement`` and ``GateOutcome`` satisfy them), and what
it reads of history arrives as ``ScoringInputs`` (``okrflow.flows.pipeline.load_scoring_inputs`` reads it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from okrflow.okr_model.annotations import AnnotationRecord
from okrflow.okr_model.config import Config, KeyResult, Objective
from okrflow.okr_model.forecast import Forecast, forecast
from okrflow.okr_model.maintain import detail_now, weight_now
from okrflow.okr_model.pacing import elapsed_share, expected_score
from okrflow.okr_model.results import KRResult, ObjectiveResult
from okrflow.okr_model.scoring import GateInputs, score_key_result
from okrflow.okr_model.status import ChildResult, judge_key_result, judge_objectives
from okrflow.okr_model.types import MAINTAIN_KINDS

__all__ = [
    "FORECAST_POINTS",
    "GateResult",
    "MeasuredValue",
    "ScoringInputs",
    "people_inputs",
    "run_status",
    "score_run",
]

FORECAST_POINTS = 64
"""Most history points a forecast reads: the last run of each of this many equal spans of the cycle so far.
Theil-Sen's slope is as robust on 64 spread points as on thousands, and the run's cost stays flat."""


class MeasuredValue(Protocol):
    """What scoring reads of a source's answer for one KR (``okrflow.connectors.base.Measurement``)."""

    @property
    def value(self) -> float | None: ...
    @property
    def status(self) -> str: ...
    @property
    def observed_at(self) -> datetime | None: ...
    @property
    def detail(self) -> str: ...
    @property
    def lineage(self) -> Mapping[str, Any]: ...


class GateResult(Protocol):
    """What scoring reads of a quality suite's outcome (``okrflow.connectors.base.GateOutcome``)."""

    @property
    def status(self) -> str: ...
    @property
    def detail(self) -> str: ...


@dataclass(frozen=True)
class ScoringInputs:
    """What scoring needs from history: held time (maintain KRs: seconds held, seconds valid), previous scores
    (held gates), annotations, and each progress KR's score series (thinned to ``FORECAST_POINTS``)."""

    held_time: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    previous_scores: Mapping[str, float] = field(default_factory=dict)
    annotations: Sequence[AnnotationRecord] = ()
    score_history: Mapping[str, list[tuple[datetime, float]]] = field(default_factory=dict)


def people_inputs(annotations: Sequence[AnnotationRecord], start: datetime) -> tuple[dict[str, float], set[str]]:
    """Active overrides and abandons of this cycle (``clear_override`` and ``clear_abandon`` end them)."""
    overrides: dict[str, float] = {}
    abandoned: set[str] = set()
    for a in annotations:
        if a.effective_at < start:
            continue
        if a.kind == "override" and a.value is not None:
            overrides[a.kr_id] = a.value
        elif a.kind == "clear_override":
            overrides.pop(a.kr_id, None)
        elif a.kind == "abandon":
            abandoned.add(a.kr_id)
        elif a.kind == "clear_abandon":
            abandoned.discard(a.kr_id)
    return overrides, abandoned


def score_run(
    config: Config,
    at: datetime,
    measurements: Mapping[str, MeasuredValue],
    gates: Mapping[str, GateResult],
    inputs: ScoringInputs,
) -> tuple[list[KRResult], list[ObjectiveResult]]:
    """Score every KR, roll up objectives and judge pacing. Pure: no I/O."""
    start, end = config.cycle_bounds()
    elapsed = elapsed_share(start, end, at)
    overrides, abandoned = people_inputs(inputs.annotations, start)
    abandoned |= {kr.id for _, kr in config.key_results() if kr.abandoned and kr.abandoned.active(at, config.tz)}
    results: list[KRResult] = []
    for objective, kr in config.key_results():
        results.append(
            _score_one(
                config,
                objective,
                kr,
                measurements[kr.id],
                gates.get(kr.id),
                inputs,
                overrides,
                abandoned,
                elapsed,
                at=at,
            )
        )
    judged = judge_objectives(config.objectives, {r.kr_id: ChildResult(r.score, r.expected, r.status) for r in results})
    objectives = [
        ObjectiveResult(o.id, j.score, j.status, j.reason, j.scored, j.of)
        for o in config.objectives
        for j in (judged[o.id],)
    ]
    return results, objectives


def _score_one(
    config: Config,
    objective: Objective,
    kr: KeyResult,
    measurement: MeasuredValue,
    gate: GateResult | None,
    inputs: ScoringInputs,
    overrides: Mapping[str, float],
    abandoned: set[str],
    elapsed: float,
    *,
    at: datetime,
) -> KRResult:
    status, detail, value = measurement.status, measurement.detail, measurement.value
    if gate is not None and gate.status == "error" and status == "ok":
        status, detail = "error", f"quality gate could not run, so the value is not trusted: {gate.detail}"
    usable = value if status == "ok" else None
    gate_inputs = GateInputs(
        quality=gate.status if gate is not None and gate.status != "error" else None,  # type: ignore[arg-type]
        in_production=measurement.lineage.get("in_production") if kr.requires_production else None,
        previous_score=inputs.previous_scores.get(kr.id),
        abandoned=kr.id in abandoned,
        override=overrides.get(kr.id),
    )
    scored = score_key_result(
        kr,
        usable,
        [usable] if usable is not None else [],
        gate_inputs,
        config.defaults.caps,
        inputs.held_time.get(kr.id, (0, 0)),
        weight_now(config, kr, at) if kr.kind in MAINTAIN_KINDS else 1.0,
    )
    if kr.kind in MAINTAIN_KINDS and scored.progress is not None and not detail:
        detail = detail_now(config, kr, inputs.held_time.get(kr.id, (0.0, 0.0)), usable, at)
    projection = _forecast(config, kr, inputs.score_history.get(kr.id, []), scored.score, elapsed)
    start, end = config.cycle_bounds()
    judged = judge_key_result(
        kr,
        scored.score,
        usable,
        elapsed,
        projection,
        cycle_days=(end - start).total_seconds() / 86400,
        forecast_applies=not (scored.overridden or "abandoned" in scored.gates),
    )
    if gate is not None and gate.status == "failed" and not detail:
        detail = f"quality gate {kr.quality_gate.suite if kr.quality_gate else ''} failed: {gate.detail}"
    return KRResult(
        kr_id=kr.id,
        objective_id=objective.id,
        value=value,
        measurement=status,
        detail=detail,
        observed_at=measurement.observed_at,
        lineage=dict(measurement.lineage),
        score=_round(scored.score),
        computed_score=_round(scored.computed),
        progress=_round(scored.progress),
        status=judged.status,
        gates=scored.gates,
        held=scored.held,
        trusted=scored.trusted,
        overridden=scored.overridden,
        expected=_round(expected_score(kr, elapsed)),
        forecast=projection.as_dict() if projection else None,
        reason=judged.reason,
    )


def _forecast(
    config: Config, kr: KeyResult, history: Sequence[tuple[datetime, float]], score: float | None, elapsed: float
) -> Forecast | None:
    """End-of-cycle projection of a progress KR from this cycle's scores (maintain KRs have none)."""
    if kr.kind in MAINTAIN_KINDS or score is None:
        return None
    start, end = config.cycle_bounds()
    points = [(elapsed_share(start, end, slot), value) for slot, value in history]
    return forecast([*points, (elapsed, score)])


def _round(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 6)


def run_status(results: Sequence[KRResult]) -> tuple[str, str]:
    """completed; partial with the count of KRs that errored; failed when every KR errored."""
    errors = [r for r in results if r.measurement == "error"]
    if not errors:
        return "completed", ""
    names = ", ".join(r.kr_id for r in errors[:10]) + (", ..." if len(errors) > 10 else "")
    if len(errors) == len(results):
        return "failed", f"all {len(results)} key results errored: {names}"
    return "partial", f"{len(errors)} of {len(results)} key results errored: {names}"
