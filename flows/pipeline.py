"""One evaluation run as plain steps: load, fetch, score, write. No Prefect here.

``okrflow.flows.evaluate`` wraps these steps as Prefect tasks; ``okrflow run`` without a Prefect API calls
``evaluate`` directly. Both go through the same functions, so both write identical rows.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from okrflow.connectors.base import GateOutcome, Measurement
from okrflow.connectors.registry import Registry
from okrflow.flows.fetching import (
    MANUAL,
    Fetched,
    SourceJob,
    _stale,  # noqa: F401 (backfill imports it from here)
    check_gates,
    close_connectors,
    fetch_source,
    manual_measurements,
    map_in_threads,
    open_connectors,
    sources_in_use,
)
from okrflow.okr_model.annotations import AnnotationRecord
from okrflow.okr_model.config import Config, KeyResult
from okrflow.okr_model.cycles import check_in_cycle
from okrflow.okr_model.evaluation import FORECAST_POINTS, ScoringInputs, run_status, score_run
from okrflow.okr_model.maintain import standing_cap
from okrflow.okr_model.results import KRResult, ObjectiveResult, RunRecord
from okrflow.okr_model.scoring import maintain_threshold
from okrflow.okr_model.types import MAINTAIN_KINDS

from okrflow.store import Store

__all__ = [
    "ScoringInputs",
    "config_hash",
    "evaluate",
    "fetch_source",
    "load_scoring_inputs",
    "normalize_slot",
    "open_connectors",
    "run_record",
    "score_run",
    "start_fetch",
]

log = logging.getLogger("okrflow.pipeline")


def normalize_slot(at: datetime | None) -> datetime:
    """The run's slot time as an aware UTC datetime (now, to the second, when not given)."""
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(microsecond=0)


def config_hash(config: Config) -> str:
    """Which config produced a run (secrets are hashed, never stored)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


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
    from okrflow.flows import workers  # multiprocessing only for a config with fetch: {processes: N}

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
        if alerts and not backfilled:  # written and judged in one transaction (a failed alert step: alert_error)
            from okrflow.alerts.notify import notify

            outcome = notify(config, store, record)
            record = replace(
                record,
                run_id=outcome.run_id,
                alert_note=outcome.note,
                alert_error=outcome.error,
                detail=outcome.detail,
                alert_changes=outcome.changes,
            )
        else:
            record = replace(record, run_id=store.write_run(record))
    return record
