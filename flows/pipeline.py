"""One evaluation run as plain steps: load, fetch, score, write. No Prefect here.

``okrflow.flows.evaluate`` wraps these steps as Prefect tasks; ``okrflow run`` without a Prefect API calls
``evaluate`` directly. Both go through the same functions, so both write identical rows.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from okrflow.connectors.base import (
    Connector,
    ConnectorContext,
    GateOutcome,
    Measurement,
    QualityGateProvider,
    apply_max_age,
)
from okrflow.connectors.registry import Registry, default_registry
from okrflow.okr_model.config import Config, KeyResult, Objective
from okrflow.okr_model.cycles import check_in_cycle
from okrflow.okr_model.forecast import Forecast, forecast
from okrflow.okr_model.maintain import detail_now, standing_cap, weight_now
from okrflow.okr_model.pacing import elapsed_share, expected_score
from okrflow.okr_model.paths import store_url
from okrflow.okr_model.scoring import GateInputs, maintain_threshold, score_key_result
from okrflow.okr_model.status import ChildResult, judge_key_result, judge_objectives
from okrflow.okr_model.types import MAINTAIN_KINDS

from okrflow.store import AnnotationRecord, KRResult, ObjectiveResult, RunRecord, Store
from okrflow.store.alias_history import StoredAliasHistory

__all__ = [
    "ScoringInputs",
    "config_hash",
    "evaluate",
    "fetch_all",
    "fetch_source",
    "load_scoring_inputs",
    "normalize_slot",
    "open_connectors",
    "run_record",
    "score_run",
    "start_fetch",
]

log = logging.getLogger("okrflow.pipeline")
FORECAST_POINTS = 64
"""Most history points a forecast reads: the last run of each of this many equal spans of the cycle so far.
Theil-Sen's slope is as robust on 64 spread points as on thousands, and the run's cost stays flat."""
MANUAL = "__manual__"
"""Pseudo source name grouping manual KRs (their values come from check-ins in the store)."""


def normalize_slot(at: datetime | None) -> datetime:
    """The run's slot time as an aware UTC datetime (now, to the second, when not given)."""
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(microsecond=0)


def config_hash(config: Config) -> str:
    """Which config produced a run (secrets are hashed, never stored)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def sources_in_use(config: Config) -> dict[str, list[KeyResult]]:
    """Source name -> KRs measured by it (manual KRs under ``MANUAL``)."""
    groups: dict[str, list[KeyResult]] = {}
    for _, kr in config.key_results():
        groups.setdefault(kr.metric.source if kr.metric else MANUAL, []).append(kr)
    return groups


def open_connectors(
    config: Config, names: Sequence[str], registry: Registry | None = None
) -> dict[str, Connector[Any, Any]]:
    """One connector per source for this run (clients and connections are reused across its KRs)."""
    registry = registry or default_registry()
    context = ConnectorContext(config, alias_history=StoredAliasHistory(store_url(config)))
    return {
        name: registry.get(config.sources[name].type)(name, config.sources[name], context)
        for name in names
        if name in config.sources
    }


def close_connectors(connectors: Mapping[str, Connector[Any, Any]]) -> None:
    """Close every connector of a run; a failing close is logged, never raised over the run's result."""
    for connector in connectors.values():
        try:
            connector.close()
        except Exception:
            log.exception("closing source %s failed", connector.name)


def _stale(measurement: Measurement, kr: KeyResult, at: datetime) -> Measurement:
    """Apply ``max_age`` (``okrflow.connectors.base.apply_max_age``) as of the time the KR is read: ``at`` minus ``offset``."""
    metric = kr.metric
    if metric is None:
        return measurement
    return apply_max_age(measurement, metric.max_age, at - (metric.offset or (at - at)))


def fetch_source(
    connector: Connector[Any, Any], krs: Sequence[KeyResult], at: datetime, max_workers: int = 4
) -> dict[str, Measurement]:
    """Fetch every KR bound to one source; a failure of one KR never affects another."""

    def one(kr: KeyResult) -> Measurement:
        try:
            return _stale(connector.fetch(kr.metric, at), kr, at)
        except Exception as exc:  # a connector bug must not stop the run
            log.exception("connector %s raised on KR %s", connector.name, kr.id)
            return Measurement.error(f"connector {connector.name!r} failed: {type(exc).__name__}: {exc}")

    if len(krs) == 1 or max_workers <= 1:
        return {kr.id: one(kr) for kr in krs}
    with ThreadPoolExecutor(
        max_workers=min(max_workers, len(krs)), thread_name_prefix=f"fetch-{connector.name}"
    ) as pool:
        return dict(zip([kr.id for kr in krs], pool.map(one, krs), strict=True))


def check_gates(config: Config, connectors: Mapping[str, Connector[Any, Any]], at: datetime) -> dict[str, GateOutcome]:
    """Run the quality-gate suites that KRs name on these connectors; KR id -> outcome. A suite runs once."""
    outcomes: dict[str, GateOutcome] = {}
    for _, kr in config.key_results():
        gate = kr.quality_gate
        if gate is None or gate.source not in connectors:
            continue
        connector = connectors.get(gate.source)
        if not isinstance(connector, QualityGateProvider):
            outcomes[kr.id] = GateOutcome("error", f"source {gate.source!r} cannot run quality suites")
            continue
        try:
            outcomes[kr.id] = connector.check_suite(gate.suite, at)
        except Exception as exc:
            outcomes[kr.id] = GateOutcome("error", f"quality suite {gate.suite!r} failed to run: {exc}")
    return outcomes


def manual_measurements(
    krs: Sequence[KeyResult], annotations: Sequence[AnnotationRecord], start: datetime
) -> dict[str, Measurement]:
    """Manual KRs take the latest check-in of this cycle (annotations are oldest first)."""
    latest: dict[str, AnnotationRecord] = {}
    for a in annotations:
        if a.kind == "checkin" and a.effective_at >= start and a.value is not None:
            latest[a.kr_id] = a
    out = {}
    for kr in krs:
        checkin = latest.get(kr.id)
        if checkin is None:
            out[kr.id] = Measurement.no_data(f"no check-in this cycle; record one with: okrflow checkin {kr.id} VALUE")
        else:
            out[kr.id] = Measurement.ok(
                checkin.value, checkin.effective_at, source="checkin", author=checkin.author, note=checkin.reason
            )
    return out


SourceJob = tuple[Connector[Any, Any], list[KeyResult], datetime, int]
"""One source's share of a run: its connector, its KRs, the slot time and the worker count."""


def map_in_threads(jobs: Sequence[SourceJob]) -> list[dict[str, Measurement]]:
    """Run every source's fetches concurrently (the default without Prefect)."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="source") as pool:
        return list(pool.map(lambda job: fetch_source(*job), jobs))


Fetched = tuple[dict[str, Measurement], dict[str, GateOutcome]]


def fetch_all(
    config: Config,
    at: datetime,
    annotations: Sequence[AnnotationRecord] = (),
    registry: Registry | None = None,
    map_sources: Callable[[Sequence[SourceJob]], list[dict[str, Measurement]]] = map_in_threads,
) -> Fetched:
    """Fetch every KR (sources concurrently) and run quality gates. Prefect passes its own ``map_sources``.

    With ``fetch: {processes: N}`` (and the built-in registry and mapping) sources go to worker processes.
    """
    return start_fetch(config, at, registry, map_sources)(annotations)


def start_fetch(
    config: Config,
    at: datetime,
    registry: Registry | None = None,
    map_sources: Callable[[Sequence[SourceJob]], list[dict[str, Measurement]]] = map_in_threads,
) -> Callable[[Sequence[AnnotationRecord]], Fetched]:
    """Start fetching; the returned call (given the check-ins that manual KRs read) waits for the result.

    Worker processes start at once, so the run reads its history while they fetch; threads start on the call.
    """
    groups = sources_in_use(config)
    gate_sources = {kr.quality_gate.source for _, kr in config.key_results() if kr.quality_gate}
    names = sorted({*groups, *gate_sources} - {MANUAL})
    if config.fetch.processes and registry is None and map_sources is map_in_threads:
        return _start_in_processes(config, at, groups, names)

    def fetch_in_threads(annotations: Sequence[AnnotationRecord]) -> Fetched:
        connectors = open_connectors(config, names, registry)
        try:
            measurements = _manual(config, groups, annotations)
            per_source = config.fetch.threads_per_source
            jobs = [(connectors[name], krs, at, per_source) for name, krs in groups.items() if name != MANUAL]
            for result in map_sources(jobs):
                measurements.update(result)
            return measurements, check_gates(config, connectors, at)
        finally:
            close_connectors(connectors)

    return fetch_in_threads


def _manual(
    config: Config, groups: Mapping[str, list[KeyResult]], annotations: Sequence[AnnotationRecord]
) -> dict[str, Measurement]:
    if MANUAL not in groups:
        return {}
    return manual_measurements(groups[MANUAL], annotations, config.cycle_bounds()[0])


def _start_in_processes(
    config: Config, at: datetime, groups: Mapping[str, list[KeyResult]], names: Sequence[str]
) -> Callable[[Sequence[AnnotationRecord]], Fetched]:
    from okrflow.flows import workers

    blob = pickle.dumps(config)
    key = hashlib.sha256(blob).hexdigest()
    gated: dict[str, list[str]] = {}
    for _, kr in config.key_results():
        if kr.quality_gate is not None:
            gated.setdefault(kr.quality_gate.source, []).append(kr.id)
    threads = config.fetch.threads_per_source
    jobs = [
        workers.FetchJob(
            key, blob, name, tuple(kr.id for kr in groups.get(name, ())), at, threads, tuple(gated.get(name, ()))
        )
        for name in names
        if name in config.sources
    ]
    submitted = workers.submit_jobs(jobs, config.fetch.processes)

    def wait(annotations: Sequence[AnnotationRecord]) -> Fetched:
        measurements = _manual(config, groups, annotations)
        gates: dict[str, GateOutcome] = {}
        for fetched, gate_outcomes in workers.collect(submitted):
            measurements.update(fetched)
            gates.update(gate_outcomes)
        return measurements, gates

    return wait


@dataclass(frozen=True)
class ScoringInputs:
    """What scoring needs from history: held time (maintain KRs: seconds held, seconds valid), previous scores
    (held gates), annotations, and each progress KR's score series (thinned to ``FORECAST_POINTS``)."""

    held_time: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    previous_scores: Mapping[str, float] = field(default_factory=dict)
    annotations: Sequence[AnnotationRecord] = ()
    score_history: Mapping[str, list[tuple[datetime, float]]] = field(default_factory=dict)


def load_scoring_inputs(store: Store, config: Config, at: datetime) -> ScoringInputs:
    """Read what scoring needs from history; bounded reads, so a run's cost does not grow with the cycle's runs."""
    start, _ = config.cycle_bounds()
    krs = [kr for _, kr in config.key_results()]
    maintain = {
        kr.id: (maintain_threshold(kr), kr.kind == "maintain_below", standing_cap(config, kr).total_seconds())
        for kr in krs
        if kr.kind in MAINTAIN_KINDS
    }
    held = [kr.id for kr in krs if kr.quality_gate and kr.quality_gate.on_fail == "hold"]
    progress = [kr.id for kr in krs if kr.kind not in MAINTAIN_KINDS]
    return ScoringInputs(
        held_time=store.held_durations(maintain, start, at),
        previous_scores=store.previous_scores(held, at, since=start),
        annotations=store.annotations([kr.id for kr in krs], until=at),
        score_history=store.score_series(progress, start, at, max_points=FORECAST_POINTS),
    )


def _people_inputs(annotations: Sequence[AnnotationRecord], start: datetime) -> tuple[dict[str, float], set[str]]:
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
    measurements: Mapping[str, Measurement],
    gates: Mapping[str, GateOutcome],
    inputs: ScoringInputs,
) -> tuple[list[KRResult], list[ObjectiveResult]]:
    """Score every KR, roll up objectives and judge pacing. Pure: no I/O."""
    start, end = config.cycle_bounds()
    elapsed = elapsed_share(start, end, at)
    overrides, abandoned = _people_inputs(inputs.annotations, start)
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
    measurement: Measurement,
    gate: GateOutcome | None,
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


def run_record(
    config: Config,
    slot: datetime,
    started: datetime,
    key_results: list[KRResult],
    objectives: list[ObjectiveResult],
    *,
    deployment: str = "default",
    backfilled: bool = False,
    hashed: str | None = None,
) -> RunRecord:
    """A scored run as it is stored, finished now; its status says how many KRs errored."""
    status, detail = run_status(key_results)
    return RunRecord(
        slot=slot,
        started_at=started,
        finished_at=datetime.now(UTC),
        status=status,
        config_hash=hashed or config_hash(config),
        cycle=config.cycle.name,
        key_results=key_results,
        objectives=objectives,
        deployment=deployment,
        backfilled=backfilled,
        detail=detail,
    )


def evaluate(
    config: Config,
    store: Store | None,
    at: datetime | None = None,
    *,
    dry_run: bool = False,
    alerts: bool = True,
    registry: Registry | None = None,
    deployment: str = "default",
    backfilled: bool = False,
    map_sources: Callable[[Sequence[SourceJob]], list[dict[str, Measurement]]] = map_in_threads,
) -> RunRecord:
    """Evaluate every KR as of one slot and write the run (not with ``dry_run`` or without a store).

    A slot outside the config's cycle raises ``OutsideCycle``: a cycle's result freezes when it ends.
    """
    slot = normalize_slot(at)
    check_in_cycle(config, slot)
    started = datetime.now(UTC)
    finish_fetch = start_fetch(config, slot, registry, map_sources=map_sources)
    inputs = load_scoring_inputs(store, config, slot) if store is not None else ScoringInputs()
    measurements, gates = finish_fetch(inputs.annotations)
    key_results, objectives = score_run(config, slot, measurements, gates, inputs)
    record = run_record(config, slot, started, key_results, objectives, deployment=deployment, backfilled=backfilled)
    if store is not None and not dry_run:
        if alerts and not backfilled:  # written and judged in one transaction (a failing alert step is logged)
            from okrflow.alerts.notify import notify

            outcome = notify(config, store, record)
            record = replace(record, run_id=outcome.run_id, alert_note=outcome.note)
        else:
            record = replace(record, run_id=store.write_run(record))
    return record
