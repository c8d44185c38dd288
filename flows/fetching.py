"""Fetching one run's sources in this process: open the connectors, read every KR, run the quality gates.

Shared by the run in threads (``okrflow.flows.pipeline``), by worker processes (``okrflow.flows.workers``), by
Prefect's tasks (``okrflow.flows.evaluate``) and by backfill. A failure of one KR never affects another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
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
from okrflow.okr_model.annotations import AnnotationRecord
from okrflow.okr_model.config import Config, KeyResult
from okrflow.okr_model.paths import store_url

from okrflow.store.alias_history import StoredAliasHistory

__all__ = [
    "MANUAL",
    "Fetched",
    "SourceJob",
    "check_gates",
    "close_connectors",
    "fetch_source",
    "manual_measurements",
    "map_in_threads",
    "open_connectors",
    "sources_in_use",
]

log = logging.getLogger("okrflow.pipeline")
MANUAL = "__manual__"
"""Pseudo source name grouping manual KRs (their values come from check-ins in the store)."""


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
